//! Runs an item through the state machine recorded by `store::links`, resuming from the
//! last completed step. Every write is conditional on holding the claim, and the claim
//! lapses at the invocation's deadline, so a dead instance never blocks an item for long.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::auth::{AuthError, TapdAuth, TdocAuth};
use super::title::render_title;
use crate::config::WebhookConfig;
use crate::ids::OpenId;
use crate::random;
use crate::secret::Secret;
use crate::store::{Claim, ClaimOutcome, LinkKey, LinkStatus, Store, StoreError, links::Progress};
use crate::tapd::{TapdClient, TapdItem};
use crate::tdoc::{DocFile, TdocClient, TdocToken};
use crate::time::now_millis;
use crate::upstream::UpstreamError;

/// Time kept in reserve before the deadline to record a failure and answer.
const RESERVE_MS: u64 = 2_000;
/// Backoff between in-invocation retries of a transient upstream failure.
const BACKOFF_MS: [u64; 3] = [200, 800, 2_000];

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the workspace's Tencent Docs token is missing: reconnect the workspace")]
    NoToken,
    #[error("TAPD has no such item in the workspace")]
    ItemNotFound,
}

impl From<AuthError> for LinkError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Upstream(e) => LinkError::Upstream(e),
            AuthError::Store(e) => LinkError::Store(e),
            AuthError::NoToken => LinkError::NoToken,
        }
    }
}

/// What happened to one delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The doc exists and the comment is posted (now or before).
    Linked { doc_url: String },
    /// The workspace is not connected: nothing created.
    NotConnected,
    /// Another live instance holds the item.
    InProgress,
    /// Retries were exhausted earlier; the record says why.
    GaveUp,
}

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetrySummary {
    pub seen: u32,
    pub linked: u32,
    pub failed: u32,
    pub gave_up: u32,
    pub skipped_busy: u32,
}

pub struct Linker<'a> {
    pub cfg: &'a WebhookConfig,
    pub store: &'a Store,
    pub tapd: &'a TapdClient,
    pub tdoc: &'a TdocClient,
    pub tapd_auth: &'a TapdAuth,
    pub tdoc_auth: &'a TdocAuth,
}

impl Linker<'_> {
    /// Handles a create event for `key`, before `deadline_ms` (the invocation's deadline).
    pub async fn link(&self, key: &LinkKey, event_id: Option<&str>, deadline_ms: u64) -> Result<Outcome, LinkError> {
        let Some(open_id) = self.tdoc_auth.binding(self.store, &key.workspace).await? else {
            return Ok(Outcome::NotConnected);
        };
        let owner = random::id();
        let claim = match self.store.claim_link(key, event_id, &owner, deadline_ms).await? {
            ClaimOutcome::Claimed(claim) => claim,
            ClaimOutcome::Busy => return Ok(Outcome::InProgress),
            ClaimOutcome::Settled(link) => {
                return Ok(match (link.status, link.doc_url) {
                    (LinkStatus::Done, Some(doc_url)) => Outcome::Linked { doc_url },
                    _ => Outcome::GaveUp,
                });
            }
        };
        self.run_claimed(claim, &open_id, deadline_ms).await
    }

    async fn run_claimed(&self, mut claim: Claim, open_id: &OpenId, deadline_ms: u64) -> Result<Outcome, LinkError> {
        if claim.link.attempts > self.cfg.max_attempts {
            let why = format!(
                "gave up after {} attempts: {}",
                self.cfg.max_attempts,
                claim.link.last_error.as_deref().unwrap_or("unknown error")
            );
            tracing::warn!(item = %claim.link.key.id, reason = %why, "giving up on item");
            self.store.release_link(&claim, &why, true).await?;
            return Ok(Outcome::GaveUp);
        }
        match self.steps(&mut claim, open_id, deadline_ms).await {
            Ok(doc_url) => Ok(Outcome::Linked { doc_url }),
            Err(LinkError::Store(StoreError::LostClaim)) => Err(LinkError::Store(StoreError::LostClaim)),
            Err(e) => {
                tracing::warn!(item = %claim.link.key.id, attempt = claim.link.attempts, error = %e, "link attempt failed; kept pending");
                // Keep the failure on record; if even that fails, the claim lapses on its own.
                if let Err(store_err) = self.store.release_link(&claim, &e.to_string(), false).await {
                    tracing::error!(error = %store_err, "could not record the failure");
                }
                Err(e)
            }
        }
    }

    /// The steps, each skipped when the record shows it done.
    async fn steps(&self, claim: &mut Claim, open_id: &OpenId, deadline_ms: u64) -> Result<String, LinkError> {
        let key_owned = claim.link.key.clone();
        let key = &key_owned;
        let link = &self.cfg.link;
        let resumed = claim.link.attempts > 1;

        if claim.link.doc_id.is_none() {
            let it = self.fetch_item(key, deadline_ms).await?;
            let title =
                render_title(&link.title_template, &it.name, key.kind, &key.id, &key.workspace, link.title_max_chars);
            let title = &title;
            let doc = self
                .with_tdoc(open_id, deadline_ms, |tok| async move {
                    self.tdoc.create_file(&tok, title, link.doc_type(key.kind)).await
                })
                .await?;
            // Recorded before anything else is tried: an attempt that dies from here on (in
            // the intro's call, say) leaves the file on record, not a second one to make.
            self.record_doc(claim, &doc, deadline_ms).await?;
            self.write_intro(open_id, &doc, key, &it, deadline_ms).await?;
            self.store.record_progress(claim, Progress { doc_written: true, ..Default::default() }).await?;
        } else if !claim.link.doc_written {
            let it = self.fetch_item(key, deadline_ms).await?;
            let doc = DocFile {
                id: claim.link.doc_id.clone().unwrap_or_default(),
                url: claim.link.doc_url.clone().unwrap_or_default(),
                title: String::new(),
            };
            self.write_intro(open_id, &doc, key, &it, deadline_ms).await?;
            self.store.record_progress(claim, Progress { doc_written: true, ..Default::default() }).await?;
        }
        let doc_url_owned = claim.link.doc_url.clone().unwrap_or_default();
        let doc_url = &doc_url_owned;

        if let Some(field) = &link.doc_url_field
            && !claim.link.field_set
        {
            self.with_tapd(deadline_ms, |tok| async move {
                self.tapd.update_field(&tok, &key.workspace, key.kind, &key.id, field, doc_url).await
            })
            .await?;
            self.store.record_progress(claim, Progress { field_set: true, ..Default::default() }).await?;
        }

        let comment_id = self.ensure_comment(key, doc_url, resumed, deadline_ms).await?;
        self.store.finish_link(claim, &comment_id).await?;
        tracing::info!(workspace = %key.workspace, kind = key.kind.as_str(), item = %key.id, doc_url = %doc_url, "item linked");
        Ok(doc_url_owned)
    }

    /// Posts the item's comment unless one naming the doc is there. TAPD takes no
    /// idempotency key, so whenever an earlier post may have landed, the comments are read
    /// first: after a previous attempt (it may have died after posting), and before any
    /// retry within this one (a timeout, a reset or a 5xx does not say whether TAPD acted
    /// on the post). A first try of a first attempt spends no extra call.
    async fn ensure_comment(
        &self,
        key: &LinkKey,
        doc_url: &str,
        resumed: bool,
        deadline_ms: u64,
    ) -> Result<String, LinkError> {
        let description = format!("Tencent Doc for this {}: {doc_url}", key.kind.as_str());
        let (description, look_first) = (&description, &AtomicBool::new(resumed));
        let author = &self.cfg.link.comment_author;
        self.with_tapd(deadline_ms, |tok| async move {
            if look_first.swap(true, Ordering::SeqCst) {
                let existing = self.tapd.comment_descriptions(&tok, &key.workspace, key.kind, &key.id).await?;
                if let Some((id, _)) = existing.into_iter().find(|(_, d)| d.contains(doc_url)) {
                    return Ok(id);
                }
            }
            self.tapd.add_comment(&tok, &key.workspace, key.kind, &key.id, description, author).await
        })
        .await
    }

    /// Records a just-created file, retrying a failed write while the deadline allows:
    /// losing this record would make the next attempt create a second file.
    async fn record_doc(&self, claim: &mut Claim, doc: &DocFile, deadline_ms: u64) -> Result<(), LinkError> {
        let mut tries = 0;
        loop {
            let progress = Progress { doc: Some((&doc.id, &doc.url)), ..Default::default() };
            match self.store.record_progress(claim, progress).await {
                Err(StoreError::Unavailable(_))
                    if tries < BACKOFF_MS.len() && now_millis() + BACKOFF_MS[tries] + RESERVE_MS < deadline_ms =>
                {
                    tokio::time::sleep(Duration::from_millis(BACKOFF_MS[tries])).await;
                    tries += 1;
                }
                Err(e) => {
                    tracing::error!(doc_url = %doc.url, error = %e, "a created doc could not be recorded; a retry may create another");
                    return Err(e.into());
                }
                Ok(()) => return Ok(()),
            }
        }
    }

    async fn fetch_item(&self, key: &LinkKey, deadline_ms: u64) -> Result<TapdItem, LinkError> {
        self.with_tapd(
            deadline_ms,
            |tok| async move { self.tapd.get_item(&tok, &key.workspace, key.kind, &key.id).await },
        )
        .await?
        .ok_or(LinkError::ItemNotFound)
    }

    /// The doc's first paragraph, linking back to the item. A refusal that retrying will
    /// not fix (a doc type without text) is logged and treated as done.
    async fn write_intro(
        &self,
        open_id: &OpenId,
        doc: &DocFile,
        key: &LinkKey,
        item: &TapdItem,
        deadline_ms: u64,
    ) -> Result<(), LinkError> {
        let url =
            format!("{}/{}/{}/view/{}", self.cfg.common.tapd.web_base, key.workspace, key.kind.web_segment(), key.id);
        let text = format!("TAPD {} {}: {}\n{url}\n", key.kind.as_str(), key.id, item.name);
        let text = &text;
        let result = self
            .with_tdoc(open_id, deadline_ms, |tok| async move { self.tdoc.insert_text(&tok, &doc.id, text).await })
            .await;
        match result {
            Err(LinkError::Upstream(e @ UpstreamError::Refused { .. })) => {
                tracing::warn!(error = %e, "could not write the link into the doc; leaving it empty");
                Ok(())
            }
            other => other,
        }
    }

    /// A TAPD call with the app token: re-issued once on 401, transient failures retried.
    async fn with_tapd<T, F, Fut>(&self, deadline_ms: u64, call: F) -> Result<T, LinkError>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let tok = retrying(deadline_ms, || self.tapd_auth.token(self.tapd)).await?;
        match retrying(deadline_ms, || call(tok.clone())).await {
            Err(UpstreamError::Unauthorized { .. }) => {
                self.tapd_auth.invalidate().await;
                let tok = retrying(deadline_ms, || self.tapd_auth.token(self.tapd)).await?;
                Ok(retrying(deadline_ms, || call(tok.clone())).await?)
            }
            other => Ok(other?),
        }
    }

    /// A Tencent Docs call as the workspace's account: refreshed once on 401.
    async fn with_tdoc<T, F, Fut>(&self, open_id: &OpenId, deadline_ms: u64, call: F) -> Result<T, LinkError>
    where
        F: Fn(TdocToken) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let mut attempt = 0;
        loop {
            // Token refreshes are retried like any call (found by the fault matrix: one
            // failed refresh failed the whole delivery).
            let tok = retrying(deadline_ms, || self.tdoc_auth.token(self.store, self.tdoc, open_id, false)).await?;
            let result = retrying(deadline_ms, || call(tok.clone())).await;
            match result {
                Err(UpstreamError::Unauthorized { .. }) if attempt == 0 => {
                    attempt += 1;
                    retrying(deadline_ms, || self.tdoc_auth.token(self.store, self.tdoc, open_id, true)).await?;
                }
                other => return other.map_err(LinkError::from),
            }
        }
    }

    /// Retries every pending item that no live instance holds, oldest first, until the
    /// deadline draws near.
    pub async fn retry_pending(&self, deadline_ms: u64) -> Result<RetrySummary, StoreError> {
        let mut summary = RetrySummary::default();
        let mut seen = HashSet::new();
        let mut cursor = None;
        loop {
            let (page, next) = self.store.pending_links(25, cursor).await?;
            for pending in page {
                if now_millis() + RESERVE_MS * 3 >= deadline_ms {
                    return Ok(summary);
                }
                if !seen.insert(pending.key.clone()) {
                    continue;
                }
                summary.seen += 1;
                if pending.claim_until_ms >= now_millis() {
                    summary.skipped_busy += 1;
                    continue;
                }
                match self.link(&pending.key, None, deadline_ms).await {
                    Ok(Outcome::Linked { .. }) => summary.linked += 1,
                    Ok(Outcome::GaveUp) => summary.gave_up += 1,
                    Ok(Outcome::InProgress) => summary.skipped_busy += 1,
                    Ok(Outcome::NotConnected) => summary.failed += 1,
                    Err(_) => summary.failed += 1,
                }
            }
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok(summary),
            }
        }
    }
}

/// Failures worth another try within the invocation.
trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for UpstreamError {
    fn is_transient(&self) -> bool {
        UpstreamError::is_transient(self)
    }
}

impl Transient for AuthError {
    fn is_transient(&self) -> bool {
        matches!(self, AuthError::Upstream(e) if e.is_transient())
    }
}

/// Retries transient failures with backoff while the deadline allows.
async fn retrying<T, E, F, Fut>(deadline_ms: u64, mut op: F) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut tries = 0;
    loop {
        match op().await {
            Err(e) if e.is_transient() && tries < BACKOFF_MS.len() => {
                let wait = BACKOFF_MS[tries];
                if now_millis() + wait + RESERVE_MS * 2 >= deadline_ms {
                    return Err(e);
                }
                tries += 1;
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            other => return other,
        }
    }
}
