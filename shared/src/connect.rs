//! The connect flow: TAPD authorization, then Tencent Docs, then the binding.
//! `functions/oauth` adapts this to HTTP.

use crate::config::OauthConfig;
use crate::ids::{OpenId, WorkspaceId};
use crate::random;
use crate::secret::Secret;
use crate::store::{Flow, Store, StoreError};
use crate::tapd::{TapdClient, TapdResource};
use crate::tdoc::TdocClient;
use crate::upstream::{Service, UpstreamError};

/// States live ten minutes (contract).
pub const STATE_TTL_SECS: u64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("this authorization link is invalid, already used or expired")]
    BadState,
    #[error("{service} authorization was declined ({error})")]
    Denied { service: Service, error: String },
    #[error("the callback carries no authorization code")]
    MissingCode,
    #[error("the callback has repeated or malformed parameters")]
    BadQuery,
    #[error("{service} refused the authorization code: {detail}")]
    CodeRefused { service: Service, detail: String },
    #[error("{0}")]
    ProviderFailed(UpstreamError),
    #[error("TAPD authorized a user, not a workspace: authorize the app for a workspace")]
    NotAWorkspace,
    #[error("storage is unavailable")]
    Store(#[from] StoreError),
}

impl From<UpstreamError> for ConnectError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Refused { service, detail, .. } => ConnectError::CodeRefused { service, detail },
            UpstreamError::Unauthorized { service } => {
                ConnectError::CodeRefused { service, detail: "unauthorized".into() }
            }
            other => ConnectError::ProviderFailed(other),
        }
    }
}

/// The parameters of an OAuth callback. Duplicate keys are refused: a second `state` or
/// `code` smuggled into a query is an attack, not a typo.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<Secret>,
    pub state: Option<Secret>,
    pub error: Option<String>,
}

impl Callback {
    pub fn parse(raw_query: &str) -> Result<Self, ConnectError> {
        let mut cb = Callback::default();
        for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
            let slot_taken = match k.as_ref() {
                "code" => cb.code.replace(Secret::new(v.into_owned())).is_some(),
                "state" => cb.state.replace(Secret::new(v.into_owned())).is_some(),
                "error" => cb.error.replace(v.chars().take(100).collect()).is_some(),
                _ => false,
            };
            if slot_taken {
                return Err(ConnectError::BadQuery);
            }
        }
        cb.code = cb.code.filter(|c| !c.is_empty());
        Ok(cb)
    }
}

/// What a finished connect flow linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    pub workspace: WorkspaceId,
    pub open_id: OpenId,
}

pub struct Connector<'a> {
    pub cfg: &'a OauthConfig,
    pub store: &'a Store,
    pub tapd: &'a TapdClient,
    pub tdoc: &'a TdocClient,
}

impl Connector<'_> {
    /// Step 1: a fresh state, and where to send the browser.
    pub async fn start(&self) -> Result<String, ConnectError> {
        let state = random::token();
        self.store.put_state(&state, &Flow::Tapd, STATE_TTL_SECS).await?;
        Ok(self.tapd.authorize_url(&self.cfg.tapd_redirect_uri(), &state))
    }

    /// Step 2: TAPD's callback. Stores the workspace's token and sends the browser on to
    /// Tencent Docs with a state bound to that workspace.
    pub async fn tapd_callback(&self, cb: Callback) -> Result<String, ConnectError> {
        let Flow::Tapd = self.consume(&cb).await? else { return Err(ConnectError::BadState) };
        let code = Self::code(cb, Service::Tapd)?;
        let token = self.tapd.exchange_code(&code, &self.cfg.tapd_redirect_uri()).await?;
        // The workspace is the one TAPD issued the token for, never the query's `resource`.
        let workspace = match &token.resource {
            Some(TapdResource::Workspace { workspace_id }) => workspace_id.clone(),
            _ => return Err(ConnectError::NotAWorkspace),
        };
        self.store.put_tapd_token(&workspace, &token).await?;
        let state = random::token();
        self.store.put_state(&state, &Flow::Tdoc { workspace: workspace.clone() }, STATE_TTL_SECS).await?;
        tracing::info!(workspace = %workspace, "TAPD workspace authorized");
        Ok(self.tdoc.authorize_url(&self.cfg.tdoc_redirect_uri(), &state))
    }

    /// Step 3: Tencent Docs' callback. Stores the account's token and binds the workspace.
    pub async fn tdoc_callback(&self, cb: Callback) -> Result<Connected, ConnectError> {
        let Flow::Tdoc { workspace } = self.consume(&cb).await? else { return Err(ConnectError::BadState) };
        let code = Self::code(cb, Service::Tdoc)?;
        let token = self.tdoc.exchange_code(&code, &self.cfg.tdoc_redirect_uri()).await?;
        self.store.connect_tdoc(&workspace, &token).await?;
        tracing::info!(workspace = %workspace, open_id = %token.open_id, "workspace connected to Tencent Docs");
        Ok(Connected { workspace, open_id: token.open_id })
    }

    /// Burns the state first, whatever else the callback says: a state is good for one
    /// callback, successful or not.
    async fn consume(&self, cb: &Callback) -> Result<Flow, ConnectError> {
        let state = cb.state.as_ref().ok_or(ConnectError::BadState)?;
        if !looks_like_state(state.expose()) {
            return Err(ConnectError::BadState);
        }
        self.store.consume_state(state.expose()).await?.ok_or(ConnectError::BadState)
    }

    fn code(cb: Callback, service: Service) -> Result<Secret, ConnectError> {
        if let Some(error) = cb.error {
            return Err(ConnectError::Denied { service, error });
        }
        cb.code.ok_or(ConnectError::MissingCode)
    }
}

/// Our states are 32 random bytes in unpadded base64url: anything else is forged, and
/// is refused without a database call.
fn looks_like_state(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_parsing_refuses_duplicates_and_keeps_codes_secret() {
        let cb = Callback::parse("code=abc&state=xyz&resource=%7B%7D").unwrap();
        assert_eq!(cb.code.as_ref().unwrap().expose(), "abc");
        assert!(!format!("{cb:?}").contains("abc"));
        assert!(matches!(Callback::parse("code=a&code=b"), Err(ConnectError::BadQuery)));
        assert!(matches!(Callback::parse("state=a&state=b"), Err(ConnectError::BadQuery)));
        assert!(Callback::parse("code=&state=s").unwrap().code.is_none());
    }

    #[test]
    fn only_our_state_shape_reaches_the_store() {
        assert!(looks_like_state(&random::token()));
        assert!(!looks_like_state("short"));
        assert!(!looks_like_state(&"a".repeat(44)));
        assert!(!looks_like_state(&format!("{}!", "a".repeat(42))));
    }
}
