//! The connect flow: TAPD authorization, then Tencent Docs, then the binding.
//! `functions/oauth` adapts this to HTTP.
//!
//! Every flow is bound to the browser that started it (RFC 9700 §4.7): `start` mints a
//! nonce the browser keeps in a cookie, each state records only its hash, and a callback
//! (or a confirmation) whose request does not carry the matching cookie is refused before
//! any code is exchanged. A workspace already bound to another account is only rebound
//! after the person confirms it, from the same browser.

use subtle::ConstantTimeEq;

use crate::app::Clients;
use crate::config::{DocOwner, OauthConfig};
use crate::ids::{OpenId, WorkspaceId};
use crate::random;
use crate::secret::Secret;
use crate::steer::{self, SteerError, Steerer};
use crate::store::{Account, Binding, ConnectedBy, Flow, PendingRebind, RebindTake, StoreError};
use crate::tdoc::TdocToken;
use crate::upstream::{Service, UpstreamError};

/// States, confirmations and the browser cookie live ten minutes (contract).
pub const STATE_TTL_SECS: u64 = 600;

/// The cookie binding a flow to its browser. `__Host-`: the browser keeps it only when
/// `Secure`, `Path=/` and host-only, so no sibling domain can plant or read it.
pub const COOKIE: &str = "__Host-tapd-docs-connect";

/// `Set-Cookie` holding the browser's nonce for the next ten minutes. `SameSite=Lax`: sent
/// on the top-level redirects back from TAPD and Tencent Docs, not on cross-site posts.
pub fn set_cookie(nonce: &str) -> String {
    format!("{COOKIE}={nonce}; Path=/; Max-Age={STATE_TTL_SECS}; Secure; HttpOnly; SameSite=Lax")
}

/// `Set-Cookie` removing it when the flow is over.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax")
}

/// What is stored of a browser's nonce (SHA-256, hex).
pub fn browser_hash(nonce: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(nonce.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The nonce among the request's cookies that the record was bound to, if any.
fn matching_nonce<'n>(bound_to: Option<&str>, nonces: &[&'n str]) -> Option<&'n str> {
    let bound_to = bound_to?;
    nonces
        .iter()
        .copied()
        .filter(|n| looks_like_state(n))
        .find(|n| bool::from(browser_hash(n).as_bytes().ct_eq(bound_to.as_bytes())))
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("this authorization link is invalid, already used or expired")]
    BadState,
    #[error("the flow was started in another browser (no matching cookie)")]
    OtherBrowser,
    #[error("{service} authorization was declined")]
    Denied { service: Service },
    #[error("{service} answered the authorization with an error")]
    ProviderError { service: Service },
    #[error("the callback carries no authorization code")]
    MissingCode,
    #[error("the callback has repeated or malformed parameters")]
    BadQuery,
    #[error("{service} refused the authorization code: {detail}")]
    CodeRefused { service: Service, detail: String },
    #[error("{0}")]
    ProviderFailed(UpstreamError),
    #[error(
        "TAPD's authorization names no workspace: a workspace admin must authorize the app for the workspace (TAPD open platform → the app → install in the workspace), then connect again"
    )]
    NotAWorkspace,
    #[error("TAPD user {nick} is not an admin of workspace {workspace}, nor named by the operator")]
    NotAnAdmin { nick: String, workspace: WorkspaceId },
    #[error("TAPD did not let us read who consented or their roles: {0}")]
    RolesUnreadable(UpstreamError),
    #[error("workspace {0} is not in ALLOWED_WORKSPACES")]
    WorkspaceNotAllowed(WorkspaceId),
    #[error("Tencent Docs account {0} is not in ALLOWED_OPEN_IDS")]
    AccountNotAllowed(OpenId),
    #[error("the workspace's binding changed meanwhile")]
    Conflict,
    #[error("storage is unavailable")]
    Store(#[from] StoreError),
}

impl ConnectError {
    /// Whether the request was shown to belong to the flow (its browser's flow is over):
    /// then the page clears the cookie; a request from elsewhere leaves it alone.
    pub fn ends_the_flow(&self) -> bool {
        !matches!(self, ConnectError::BadState | ConnectError::OtherBrowser | ConnectError::BadQuery)
    }
}

impl From<SteerError> for ConnectError {
    fn from(e: SteerError) -> Self {
        match e {
            SteerError::NotAnAdmin { nick, workspace } => ConnectError::NotAnAdmin { nick, workspace },
            SteerError::RolesUnreadable(e) => ConnectError::RolesUnreadable(e),
            SteerError::Upstream(e) => ConnectError::ProviderFailed(e),
            SteerError::Store(e) => ConnectError::Store(e),
        }
    }
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
    pub account: Account,
    /// The account's nickname (Tencent Docs' userinfo), when known.
    pub nick: Option<String>,
    /// The workspace's own webhook secret, for its admin to enter in TAPD.
    pub webhook_secret: crate::secret::Secret,
}

/// A workspace bound to another account: the person must confirm the replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmRebind {
    pub workspace: WorkspaceId,
    pub current: Binding,
    pub new: Binding,
    /// The single-use token the confirmation form posts back.
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Connected(Connected),
    Confirm(Box<ConfirmRebind>),
}

/// Where a callback sends the browser next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// On to a consent page.
    Redirect(String),
    /// The flow ended here (app-account mode ends after TAPD).
    Done(Outcome),
    /// A console sign-in: TAPD let this browser in to this workspace, as this person.
    SignedIn(WorkspaceId, Steerer),
}

/// A started flow: where the browser goes, and the nonce it must keep in [`COOKIE`].
pub struct Started {
    pub location: String,
    pub nonce: String,
}

/// The connect flow's one value: configuration and clients, built once at init and
/// borrowed by every request.
pub struct Connector {
    pub cfg: OauthConfig,
    pub clients: Clients,
}

impl Connector {
    pub fn new(cfg: OauthConfig, clients: Clients) -> Self {
        Self { cfg, clients }
    }

    /// Step 1: a fresh state bound to a fresh browser nonce, and where to send the browser.
    pub async fn start(&self) -> Result<Started, ConnectError> {
        let (state, nonce) = (random::token(), random::token());
        self.clients.store.put_bound_state(&state, &Flow::Tapd, Some(&browser_hash(&nonce)), STATE_TTL_SECS).await?;
        Ok(Started { location: self.clients.tapd.authorize_url(&self.cfg.tapd_redirect_uri(), &state), nonce })
    }

    /// The console's sign-in: TAPD's consent exactly as the connect flow starts it (a state
    /// bound to this browser, single use), the callback telling the two apart.
    pub async fn start_console(&self) -> Result<Started, ConnectError> {
        let (state, nonce) = (random::token(), random::token());
        self.clients.store.put_bound_state(&state, &Flow::Console, Some(&browser_hash(&nonce)), STATE_TTL_SECS).await?;
        Ok(Started { location: self.clients.tapd.authorize_url(&self.cfg.tapd_redirect_uri(), &state), nonce })
    }

    /// Step 2: TAPD's callback. Stores the workspace's token and sends the browser on to
    /// Tencent Docs with a state bound to that workspace and the same browser; in
    /// app-account mode, binds the workspace to the app's account and ends. For a console
    /// sign-in, says which workspace TAPD let this browser in to.
    pub async fn tapd_callback(&self, cb: Callback, nonces: &[&str]) -> Result<Next, ConnectError> {
        let (flow, nonce) = self.consume(&cb, nonces).await?;
        let nonce = nonce.ok_or(ConnectError::OtherBrowser)?;
        if !matches!(flow, Flow::Tapd | Flow::Console) {
            return Err(ConnectError::BadState);
        }
        let code = Self::code(cb, Service::Tapd)?;
        // A refused exchange may be a rotated client secret: TAPD burns no code refused for its
        // client credentials, so the exchange is made once more with the secret read again.
        let redirect_uri = self.cfg.tapd_redirect_uri();
        let token = crate::client_secret::with_client_secret(&self.clients.tapd.config().client_secret, || {
            self.clients.tapd.exchange_code(&code, &redirect_uri)
        })
        .await?;
        // The workspace is the one TAPD issued the token for, never the query's `resource`,
        // whatever the resource's `type` (`user` in TAPD's documented reply).
        let workspace = token.workspace().cloned().ok_or(ConnectError::NotAWorkspace)?;
        // Served at all, then steered only by its admins (or whom the operator named): for the
        // console as for connecting. Nothing is written for anyone else.
        if !self.cfg.workspace_allowed(workspace.as_str()) {
            return Err(ConnectError::WorkspaceNotAllowed(workspace));
        }
        let steerer = steer::check(&self.clients.tapd, &self.clients.store, &token.access_token, &workspace).await?;
        if flow == Flow::Console {
            tracing::info!(workspace = %workspace, tapd_user = %steerer.user.nick, standing = ?steerer.standing, "console sign-in");
            return Ok(Next::SignedIn(workspace, steerer));
        }
        self.clients.store.put_tapd_token(&workspace, &token).await?;
        tracing::info!(workspace = %workspace, tapd_user = %steerer.user.nick, standing = ?steerer.standing, "TAPD workspace authorized");
        let by = steerer.user.label();
        if self.cfg.common.tdoc_owner == DocOwner::App {
            let who = ConnectedBy { tapd_user: Some(by), open_id: None };
            let binding = Binding::new(Account::App, who, None);
            return Ok(Next::Done(self.bind_or_ask(workspace, binding, None, &browser_hash(nonce)).await?));
        }
        let state = random::token();
        let flow = Flow::Tdoc { workspace, by: Some(by) };
        self.clients.store.put_bound_state(&state, &flow, Some(&browser_hash(nonce)), STATE_TTL_SECS).await?;
        Ok(Next::Redirect(self.clients.tdoc.authorize_url(&self.cfg.tdoc_redirect_uri(), &state)))
    }

    /// Step 3: Tencent Docs' callback. Binds the workspace to the account, or asks to
    /// confirm when it would replace another account.
    pub async fn tdoc_callback(&self, cb: Callback, nonces: &[&str]) -> Result<Outcome, ConnectError> {
        let (Flow::Tdoc { workspace, by }, nonce) = self.consume(&cb, nonces).await? else {
            return Err(ConnectError::BadState);
        };
        let nonce = nonce.ok_or(ConnectError::OtherBrowser)?;
        let code = Self::code(cb, Service::Tdoc)?;
        let token = self.clients.tdoc.exchange_code(&code, &self.cfg.tdoc_redirect_uri()).await?;
        if !self.cfg.open_id_allowed(token.open_id.as_str()) {
            return Err(ConnectError::AccountNotAllowed(token.open_id));
        }
        // The nickname only names the account on pages: without it, the Open-Id does.
        let nick = match self.clients.tdoc.user_info(&token.access_token).await {
            Ok(info) if info.open_id == token.open_id && !info.nick.trim().is_empty() => Some(info.nick),
            Ok(_) => None,
            Err(e) => {
                tracing::info!(error = %e, "Tencent Docs user info unavailable; the Open-Id names the account");
                None
            }
        };
        let by = ConnectedBy { tapd_user: by, open_id: Some(token.open_id.clone()) };
        let binding = Binding::new(Account::User(token.open_id.clone()), by, nick);
        self.bind_or_ask(workspace, binding, Some(token), &browser_hash(nonce)).await
    }

    /// Step 4, only when asked: the confirmation form, posted from the same browser.
    pub async fn confirm(&self, token: Option<&str>, nonces: &[&str]) -> Result<Connected, ConnectError> {
        let token = token.filter(|t| looks_like_state(t)).ok_or(ConnectError::BadState)?;
        let browsers: Vec<String> = nonces.iter().filter(|n| looks_like_state(n)).map(|n| browser_hash(n)).collect();
        let pending = match self.clients.store.take_rebind(token, &browsers).await? {
            RebindTake::Taken(p) => *p,
            RebindTake::OtherBrowser => return Err(ConnectError::OtherBrowser),
            RebindTake::Unknown => return Err(ConnectError::BadState),
        };
        let current = self.clients.store.binding(&pending.workspace).await?;
        self.bind(&pending.workspace, &pending.binding, pending.token.as_ref(), current.as_ref()).await
    }

    /// Binds at once when the workspace is free or already this account's (a reconnect
    /// refreshes the token); otherwise parks the binding for confirmation.
    async fn bind_or_ask(
        &self,
        workspace: WorkspaceId,
        binding: Binding,
        token: Option<TdocToken>,
        browser: &str,
    ) -> Result<Outcome, ConnectError> {
        let current = self.clients.store.binding(&workspace).await?;
        match current {
            Some(current) if current.account != binding.account => {
                let confirm = random::token();
                let pending = PendingRebind {
                    workspace: workspace.clone(),
                    binding: binding.clone(),
                    token,
                    browser: browser.to_owned(),
                };
                self.clients.store.put_rebind(&confirm, &pending, STATE_TTL_SECS).await?;
                tracing::info!(workspace = %workspace, "workspace bound to another account: asking to confirm");
                Ok(Outcome::Confirm(Box::new(ConfirmRebind { workspace, current, new: binding, token: confirm })))
            }
            current => Ok(Outcome::Connected(self.bind(&workspace, &binding, token.as_ref(), current.as_ref()).await?)),
        }
    }

    async fn bind(
        &self,
        workspace: &WorkspaceId,
        binding: &Binding,
        token: Option<&TdocToken>,
        current: Option<&Binding>,
    ) -> Result<Connected, ConnectError> {
        if !self.clients.store.bind(workspace, binding, token, current).await? {
            return Err(ConnectError::Conflict);
        }
        let account_of = |b: &Binding| b.open_id().map_or("app".to_owned(), |o| o.to_string());
        match current {
            Some(old) if old.account != binding.account => {
                tracing::warn!(
                    workspace = %workspace,
                    previous = %account_of(old),
                    account = %account_of(binding),
                    "workspace rebound to another Tencent Docs account"
                );
                println!("{}", rebind_metric(&function_name(), crate::time::now_secs() * 1000));
            }
            _ => tracing::info!(workspace = %workspace, account = %account_of(binding), "workspace connected"),
        }
        // Another account (or one after none) is a takeover boundary: a new webhook secret at
        // once, the old one refused from now on (no grace); a reconnect keeps the secret.
        let takeover = current.is_none_or(|old| old.account != binding.account);
        let webhook_secret = if takeover {
            crate::tenants::rotate(&self.clients.store, workspace, std::time::Duration::ZERO).await?.0
        } else {
            crate::tenants::current_or_new(&self.clients.store, workspace).await?
        };
        Ok(Connected {
            workspace: workspace.clone(),
            account: binding.account.clone(),
            nick: binding.nick.clone(),
            webhook_secret,
        })
    }

    /// Burns the state first, whatever else the callback says: a state is good for one
    /// callback, successful or not (a victim opening a forwarded link burns it). Returns its
    /// flow, and the request's nonce it is bound to: none means another browser.
    async fn consume<'n>(&self, cb: &Callback, nonces: &[&'n str]) -> Result<(Flow, Option<&'n str>), ConnectError> {
        let state = cb.state.as_ref().ok_or(ConnectError::BadState)?;
        if !looks_like_state(state.expose()) {
            return Err(ConnectError::BadState);
        }
        let record = self.clients.store.take_state(state.expose()).await?.ok_or(ConnectError::BadState)?;
        Ok((record.flow, matching_nonce(record.browser.as_deref(), nonces)))
    }

    /// A provider's `error` is mapped to a fixed meaning, never passed on.
    fn code(cb: Callback, service: Service) -> Result<Secret, ConnectError> {
        match cb.error.as_deref() {
            Some("access_denied") => return Err(ConnectError::Denied { service }),
            Some(_) => return Err(ConnectError::ProviderError { service }),
            None => {}
        }
        cb.code.ok_or(ConnectError::MissingCode)
    }
}

fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "oauth".into())
}

/// The metric a rebind counts (`Rebinds`), as one CloudWatch Embedded Metric Format line;
/// `template.yaml` alarms on it.
pub fn rebind_metric(function: &str, now_ms: u64) -> serde_json::Value {
    // The webhook's metrics' namespace and dimension: one place for the alarms to look.
    const NAMESPACE: &str = "TapdDocLinks";
    const DIMENSION: &str = "FunctionName";
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": [{ "Name": REBINDS, "Unit": "Count" }],
            }],
        },
        DIMENSION: function,
        REBINDS: 1,
    })
}

/// The metric counting workspaces rebound to another account.
pub const REBINDS: &str = "Rebinds";

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
    fn the_cookie_is_host_only_secure_and_binds_by_hash() {
        let nonce = random::token();
        let set = set_cookie(&nonce);
        for part in ["__Host-", "; Path=/", "; Max-Age=600", "; Secure", "; HttpOnly", "; SameSite=Lax"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set.contains("Domain"));
        assert!(clear_cookie().contains("Max-Age=0"));
        let hash = browser_hash(&nonce);
        assert_ne!(hash, nonce);
        assert_eq!(matching_nonce(Some(&hash), &["junk", &nonce]), Some(nonce.as_str()));
        assert_eq!(matching_nonce(Some(&hash), &[&random::token()]), None);
        assert_eq!(matching_nonce(None, &[&nonce]), None, "a state bound to no browser passes none");
        assert_eq!(matching_nonce(Some(&hash), &[]), None);
    }

    #[test]
    fn provider_errors_map_to_fixed_meanings() {
        let cb = Callback::parse("state=s&error=access_denied").unwrap();
        assert!(matches!(Connector::code(cb, Service::Tapd), Err(ConnectError::Denied { .. })));
        let cb = Callback::parse("state=s&error=%3Cscript%3E").unwrap();
        let e = Connector::code(cb, Service::Tdoc).unwrap_err();
        assert!(matches!(e, ConnectError::ProviderError { .. }) && !e.to_string().contains("script"));
    }

    #[test]
    fn the_rebind_metric_declares_its_value() {
        let v = rebind_metric("fn", 5);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], REBINDS);
        assert_eq!(v[REBINDS], 1);
        assert_eq!(v["FunctionName"], "fn");
    }

    #[test]
    fn only_our_state_shape_reaches_the_store() {
        assert!(looks_like_state(&random::token()));
        assert!(!looks_like_state("short"));
        assert!(!looks_like_state(&"a".repeat(44)));
        assert!(!looks_like_state(&format!("{}!", "a".repeat(42))));
    }
}
