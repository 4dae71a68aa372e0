//! Tokens the webhook acts with, cached across warm invocations and renewed ahead of
//! expiry (Nango-style), so a warm delivery spends no round trip on them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::ids::{OpenId, WorkspaceId};
use crate::secret::Secret;
use crate::store::{Store, StoreError};
use crate::tapd::{TapdClient, TapdToken};
use crate::tdoc::{TdocClient, TdocToken};
use crate::upstream::UpstreamError;

/// Renew tokens this long before they expire.
const AHEAD_SECS: u64 = 300;
/// How long a workspace's binding is trusted from memory (a reconnect shows up after this).
const BINDING_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the workspace's Tencent Docs token is missing: reconnect the workspace")]
    NoToken,
}

/// The app's TAPD client-credentials token.
#[derive(Default)]
pub struct TapdAuth {
    cached: Mutex<Option<TapdToken>>,
}

impl TapdAuth {
    pub async fn token(&self, tapd: &TapdClient) -> Result<Secret, UpstreamError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| !t.expires_within(AHEAD_SECS)) {
            return Ok(t.access_token.clone());
        }
        let fresh = tapd.app_token().await?;
        let token = fresh.access_token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forget a token TAPD refused, so the next call re-issues one.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

/// Workspace → Tencent Docs account, and that account's token.
#[derive(Default)]
pub struct TdocAuth {
    bindings: Mutex<HashMap<WorkspaceId, (OpenId, Instant)>>,
    tokens: Mutex<HashMap<OpenId, (TdocToken, u64)>>,
}

impl TdocAuth {
    /// The account a workspace is connected to; `None` when it is not connected.
    pub async fn binding(&self, store: &Store, ws: &WorkspaceId) -> Result<Option<OpenId>, StoreError> {
        if let Some((open_id, at)) = self.bindings.lock().await.get(ws)
            && at.elapsed() < BINDING_TTL
        {
            return Ok(Some(open_id.clone()));
        }
        let found = store.binding(ws).await?;
        if let Some(open_id) = &found {
            self.bindings.lock().await.insert(ws.clone(), (open_id.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// A usable token for the account, refreshed when it is about to expire or when
    /// `force_refresh` (after a 401). Refreshes are written back conditionally: when
    /// another instance refreshed first, its token is used instead.
    pub async fn token(
        &self,
        store: &Store,
        tdoc: &TdocClient,
        open_id: &OpenId,
        force_refresh: bool,
    ) -> Result<TdocToken, AuthError> {
        let mut tokens = self.tokens.lock().await;
        let (token, version) = match tokens.get(open_id) {
            Some((t, v)) if !force_refresh && !t.expires_within(AHEAD_SECS) => return Ok(t.clone()),
            Some(entry) if !force_refresh => entry.clone(),
            _ => store.tdoc_token(open_id).await?.ok_or(AuthError::NoToken)?,
        };
        if !force_refresh && !token.expires_within(AHEAD_SECS) {
            tokens.insert(open_id.clone(), (token.clone(), version));
            return Ok(token);
        }
        let fresh = tdoc.refresh(&token).await?;
        let current = if store.replace_tdoc_token(&fresh, version).await? {
            (fresh, version + 1)
        } else {
            // Lost the race: another instance stored its refresh; use that.
            store.tdoc_token(open_id).await?.ok_or(AuthError::NoToken)?
        };
        tokens.insert(open_id.clone(), current.clone());
        Ok(current.0)
    }
}
