//! Every token policy, in one place: which token a call acts with, kept across warm
//! invocations, renewed ahead of expiry, refreshed (or re-issued) once when the provider
//! says it is dead, and written back with a version check. The clients only make HTTP calls.
//!
//! - TAPD: the app's client-credentials token (items and comments of every workspace the
//!   app is installed in), shared by every instance through the table (sealed like the
//!   others): a cold instance reads it rather than asking TAPD for another, and one instance
//!   at a time renews it shortly before it expires, under a lease, while the others keep
//!   using the old one. A dead one is looked up again (another instance may have renewed
//!   it) and used once more, else renewed; one that cannot be decrypted is renewed.
//! - Tencent Docs, `TDOC_OWNER=user`: the token of the account a workspace is bound to,
//!   stored encrypted; refreshed ahead of expiry or when dead, the refresh written back
//!   conditionally on the version read (a lost race adopts the winner's token). A refresh
//!   the provider refuses marks the workspace as needing reconnection.
//! - Tencent Docs, `TDOC_OWNER=app`: the app account's token, re-issued when it expires.

use crate::deadline::Deadline;
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::app::Clients;
use crate::error::LinkError;
use crate::ids::{OpenId, WorkspaceId};
use crate::retry::retrying;
use crate::secret::Secret;
use crate::store::{Account, Store, StoreError};
use crate::tapd::TapdToken;
use crate::tdoc::TdocToken;
use crate::time::now_millis;
use crate::upstream::UpstreamError;

/// Renew tokens this long before they expire.
const AHEAD_SECS: u64 = 300;
/// How long one instance may take to renew the shared TAPD app token before another may.
const RENEWAL_LEASE_MS: u64 = 10_000;
/// Waits for another instance's renewal when the old token has run out, each this long.
const RENEWAL_WAITS: usize = 12;
const RENEWAL_WAIT_MS: u64 = 250;
/// How long a workspace's binding is trusted from memory (a reconnect shows up after this).
const BINDING_TTL: Duration = Duration::from_secs(60);

/// Whether a cached token may be used as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Use it unless it is about to expire.
    Usable,
    /// The provider refused it: get another.
    Dead,
}

#[derive(Default)]
pub struct Tokens {
    tapd_app: Mutex<Option<TapdToken>>,
    tdoc_users: Mutex<HashMap<OpenId, (TdocToken, u64)>>,
    tdoc_app: Mutex<Option<TdocToken>>,
    bindings: Mutex<HashMap<WorkspaceId, (Account, Instant)>>,
}

impl Tokens {
    /// The account a workspace's docs are created as; `None` when it is not connected.
    pub async fn account(&self, store: &Store, ws: &WorkspaceId) -> Result<Option<Account>, StoreError> {
        if let Some((account, at)) = self.bindings.lock().await.get(ws)
            && at.elapsed() < BINDING_TTL
        {
            return Ok(Some(account.clone()));
        }
        let found = store.binding(ws).await?.map(|b| b.account);
        if let Some(account) = &found {
            crate::bounded::insert(&mut *self.bindings.lock().await, ws.clone(), (account.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// A TAPD call with the app token: transient failures retried while the deadline
    /// allows; a refused token replaced once (by the one another instance renewed, or by
    /// a renewal).
    pub async fn call_tapd<T, F, Fut>(&self, clients: &Clients, deadline: Deadline, call: F) -> Result<T, LinkError>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let tok = retrying(deadline, || self.tapd_token(clients, None, deadline)).await?;
        match retrying(deadline, || call(tok.clone())).await {
            Err(UpstreamError::Unauthorized { .. }) => {
                let tok = retrying(deadline, || self.tapd_token(clients, Some(&tok), deadline)).await?;
                Ok(retrying(deadline, || call(tok.clone())).await?)
            }
            other => Ok(other?),
        }
    }

    /// Reads the shared TAPD app token into memory ahead of its first use (a cold start
    /// reads it beside the workspace's records); a failure is left to that use.
    pub async fn warm_tapd(&self, clients: &Clients, deadline: Deadline) {
        if let Err(e) = self.tapd_token(clients, None, deadline).await {
            tracing::debug!(error = %e, "the TAPD app token is not ready yet");
        }
    }

    /// Reads (or renews) the account's Tencent Docs token into memory ahead of its first
    /// use; a failure is left to that use.
    pub async fn warm_tdoc(&self, clients: &Clients, ws: &WorkspaceId, account: &Account, deadline: Deadline) {
        if let Err(e) = self.tdoc_token(clients, ws, account, Freshness::Usable, deadline).await {
            tracing::debug!(error = %e, "the Tencent Docs token is not ready yet");
        }
    }

    /// A Tencent Docs call as `account` of workspace `ws`: a dead token refreshed once, and
    /// failures repeated as `repeat` allows (a call that creates something is never repeated
    /// after a failure that may have acted: the caller decides what that means).
    pub async fn call_tdoc<T, F, Fut>(
        &self,
        clients: &Clients,
        ws: &WorkspaceId,
        account: &Account,
        deadline: Deadline,
        repeat: Repeat,
        call: F,
    ) -> Result<T, LinkError>
    where
        F: Fn(TdocToken) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let mut freshness = Freshness::Usable;
        loop {
            let tok = self.tdoc_token(clients, ws, account, freshness, deadline).await?;
            let result = match repeat {
                Repeat::WhileTransient => retrying(deadline, || call(tok.clone())).await,
                Repeat::UnlessMayHaveActed => {
                    retrying(deadline, || async {
                        match call(tok.clone()).await {
                            // Ambiguous: surfaced as it is, never retried here.
                            Err(e) if e.may_have_acted() => Err(Ambiguous(e)),
                            other => other.map_err(Clear),
                        }
                    })
                    .await
                    .map_err(|e: AmbiguityOr| e.into_inner())
                }
            };
            match result {
                Err(UpstreamError::Unauthorized { .. }) if freshness == Freshness::Usable => {
                    freshness = Freshness::Dead;
                }
                other => return other.map_err(LinkError::from),
            }
        }
    }

    /// The app token to call TAPD with: from memory, else the shared one, else renewed.
    /// `dead` is a token TAPD just refused: it is not used again.
    async fn tapd_token(
        &self,
        clients: &Clients,
        dead: Option<&Secret>,
        deadline: Deadline,
    ) -> Result<Secret, LinkError> {
        let mut cached = self.tapd_app.lock().await;
        let usable = |t: &TapdToken, margin: u64| !t.expires_within(margin) && Some(&t.access_token) != dead;
        if let Some(t) = cached.as_ref().filter(|t| usable(t, AHEAD_SECS)) {
            return Ok(t.access_token.clone());
        }
        let store = &clients.store;
        for _ in 0..RENEWAL_WAITS {
            let shared = store.tapd_app_token().await?;
            let (stored, version) = match shared {
                Some(s) => (s.token, s.version),
                None => (None, 0),
            };
            if let Some(t) = stored.as_ref().filter(|t| usable(t, AHEAD_SECS)) {
                *cached = Some(t.clone());
                return Ok(t.access_token.clone());
            }
            if store.lease_tapd_app_renewal(version, now_millis() + RENEWAL_LEASE_MS).await? {
                let fresh = match crate::client_secret::with_client_secret(&clients.tapd.config().client_secret, || {
                    clients.tapd.app_token()
                })
                .await
                {
                    Ok(t) => t,
                    Err(e) => {
                        // Let go at once: the next try (ours or another instance's) renews.
                        if let Err(store_err) = store.end_tapd_app_lease(version).await {
                            tracing::debug!(error = %store_err, "the renewal lease lapses on its own");
                        }
                        return Err(e.into());
                    }
                };
                if !store.put_tapd_app_token(&fresh, version).await? {
                    tracing::debug!("another instance stored a TAPD app token meanwhile; using ours this time");
                }
                let token = fresh.access_token.clone();
                *cached = Some(fresh);
                return Ok(token);
            }
            // Another instance renews: the old token serves until it actually expires.
            if let Some(t) = stored.filter(|t| usable(t, 0)) {
                return Ok(t.access_token);
            }
            // Never past the time this invocation has.
            if !deadline.has_time_for(std::time::Duration::from_millis(RENEWAL_WAIT_MS + crate::retry::RESERVE_MS)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(RENEWAL_WAIT_MS)).await;
        }
        // The renewing instance is slow or gone: a token of our own, not shared.
        let fresh =
            crate::client_secret::with_client_secret(&clients.tapd.config().client_secret, || clients.tapd.app_token())
                .await?;
        let token = fresh.access_token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    async fn tdoc_token(
        &self,
        clients: &Clients,
        ws: &WorkspaceId,
        account: &Account,
        freshness: Freshness,
        deadline: Deadline,
    ) -> Result<TdocToken, LinkError> {
        match account {
            Account::App => Ok(retrying(deadline, || self.tdoc_app_token(clients, freshness)).await?),
            Account::User(open_id) => {
                match retrying(deadline, || self.tdoc_user_token(clients, open_id, freshness)).await {
                    // The account an earlier doc was made as, no longer the workspace's: its
                    // doc is left as it is (the caller treats the refusal so); the workspace
                    // itself is fine.
                    Err(LinkError::Upstream(e @ UpstreamError::Refused { .. }))
                        if self.account(&clients.store, ws).await?.as_ref() != Some(account) =>
                    {
                        tracing::warn!(workspace = %ws, open_id = %open_id, error = %e, "the account an earlier doc was made as can no longer be used; its doc is left as it is");
                        Err(LinkError::Upstream(e))
                    }
                    Err(LinkError::Upstream(e @ UpstreamError::Refused { .. })) => {
                        // The refresh token is dead (revoked, expired after a year): only a
                        // person can mend this, by connecting the workspace again.
                        let why = format!("the Tencent Docs refresh was refused ({e}): reconnect the workspace");
                        tracing::warn!(workspace = %ws, open_id = %open_id, error = %e, "workspace needs reconnection");
                        match clients.store.mark_needs_reconnect(ws, &why).await {
                            Ok(true) => crate::notify::authorization_died(&clients.store, &clients.notifier, ws).await,
                            Ok(false) => {}
                            Err(store_err) => tracing::error!(error = %store_err, "could not mark the workspace"),
                        }
                        Err(LinkError::NeedsReconnect)
                    }
                    other => other,
                }
            }
        }
    }

    async fn tdoc_app_token(&self, clients: &Clients, freshness: Freshness) -> Result<TdocToken, UpstreamError> {
        let mut cached = self.tdoc_app.lock().await;
        if freshness == Freshness::Usable
            && let Some(t) = cached.as_ref().filter(|t| !t.expires_within(AHEAD_SECS))
        {
            return Ok(t.clone());
        }
        let fresh = clients.tdoc.app_account_token().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// The account's token, refreshed when about to expire or dead. Refreshes are written
    /// back conditionally: when another instance refreshed first, its token is used.
    async fn tdoc_user_token(
        &self,
        clients: &Clients,
        open_id: &OpenId,
        freshness: Freshness,
    ) -> Result<TdocToken, LinkError> {
        let store = &clients.store;
        let mut tokens = self.tdoc_users.lock().await;
        let (token, version) = match tokens.get(open_id) {
            Some((t, _)) if freshness == Freshness::Usable && !t.expires_within(AHEAD_SECS) => return Ok(t.clone()),
            Some(entry) if freshness == Freshness::Usable => entry.clone(),
            _ => store.tdoc_token(open_id).await?.ok_or(LinkError::NeedsReconnect)?,
        };
        if freshness == Freshness::Usable && !token.expires_within(AHEAD_SECS) {
            crate::bounded::insert(&mut tokens, open_id.clone(), (token.clone(), version));
            return Ok(token);
        }
        let fresh = clients.tdoc.refresh(&token).await?;
        let current = if store.replace_tdoc_token(&fresh, version).await? {
            (fresh, version + 1)
        } else {
            // Lost the race: another instance stored its refresh; use that.
            store.tdoc_token(open_id).await?.ok_or(LinkError::NeedsReconnect)?
        };
        crate::bounded::insert(&mut tokens, open_id.clone(), current.clone());
        Ok(current.0)
    }
}

/// How a Tencent Docs call may be repeated within an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Reads and idempotent writes: retried while the failure is transient.
    WhileTransient,
    /// Calls that create something: retried only when the provider surely did not act
    /// (no connection, rate limited, a dead token).
    UnlessMayHaveActed,
}

/// A failure of a create call, sorted by whether it may be retried.
enum AmbiguityOr {
    Ambiguous(UpstreamError),
    Clear(UpstreamError),
}
use AmbiguityOr::{Ambiguous, Clear};

impl AmbiguityOr {
    fn into_inner(self) -> UpstreamError {
        match self {
            Ambiguous(e) | Clear(e) => e,
        }
    }
}

impl crate::retry::Transient for AmbiguityOr {
    fn is_transient(&self) -> bool {
        matches!(self, Clear(e) if e.is_transient())
    }
}
