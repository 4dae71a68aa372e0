//! Where a delivery becomes a doc: an item's life, from its first delivery to its linked
//! doc, and after (renamed, deleted). Each step takes the [`Stage`] it needs from the
//! item's record and records the next one, conditionally on holding the item's claim; a
//! claim lapses at its invocation's deadline, so a dead instance never blocks an item long.
//!
//! ```text
//! New ──create doc──▶ DocCreated ──intro, permission──▶ DocWritten ──[field]──▶ FieldSet
//!                                                            │                   │
//!                                                            └──────comment──────┴──▶ Done
//! any pending stage ──failure──▶ same stage, due again after a backoff
//!                   ──older than GIVE_UP_AFTER, or an unreadable create──▶ GivenUp
//! GivenUp ──a new delivery / redrive──▶ pending again
//! ```

mod intro;
pub mod metrics;
pub mod placement;
mod schedule;
mod title;

use crate::app::Clients;
use crate::config::{OnItemDelete, WebhookConfig};
use crate::delivery::NameChange;
use crate::random;
use crate::retry::{BACKOFF_MS, RESERVE_MS};
use crate::store::{Account, Claim, ClaimOutcome, Doc, ItemKey, Stage, StoreError};
use crate::tapd::TapdItem;
use crate::tdoc::DocFile;
use crate::time::now_millis;
use crate::tokens::{Repeat, Tokens};
use crate::upstream::UpstreamError;

pub use intro::{comment_html, html_to_text, intro_text};
pub use schedule::RunSummary;
pub use title::{cut_chars, render_title};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the workspace's Tencent Docs authorization is gone: reconnect the workspace")]
    NeedsReconnect,
    #[error("TAPD has no such item in the workspace")]
    ItemNotFound,
    /// Tencent Docs answered the create with a success we cannot read: the doc may exist.
    /// Retrying would likely make a second one, so an operator looks first.
    #[error("Tencent Docs' reply to creating the doc was unreadable ({0}); the doc may exist: check before redriving")]
    CreateUnreadable(String),
    #[error("too little time left in this invocation to create the doc safely")]
    NoTimeToCreate,
}

impl LinkError {
    /// Failures that retrying cannot mend.
    fn is_terminal(&self) -> bool {
        matches!(self, LinkError::CreateUnreadable(_))
    }
}

/// What happened to one delivery (the answer says only the status word).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The doc exists and the comment is posted (now or before).
    Linked { doc_url: String },
    /// The workspace is not connected: nothing created.
    NotConnected,
    /// Another live instance holds the item.
    InProgress,
    /// The item is given up on; the record says why.
    GaveUp,
    /// The doc now carries the item's new name.
    Renamed,
    /// Nothing to change.
    Unchanged,
    /// The deletion is recorded (and the doc trashed, with `ON_ITEM_DELETE=trash`).
    Deleted,
}

/// The webhook's flows, built once at init and borrowed by every event.
pub struct Linker {
    pub cfg: WebhookConfig,
    pub clients: Clients,
    pub tokens: Tokens,
    /// Workspaces' settings and folders, kept across warm invocations.
    places: placement::Cache,
}

impl Linker {
    pub fn new(cfg: WebhookConfig, clients: Clients) -> Self {
        Self { cfg, clients, tokens: Tokens::default(), places: placement::Cache::default() }
    }

    /// Links a new item (a create delivery, a sweep, a retry), before `deadline_ms`.
    pub async fn link(&self, key: &ItemKey, event_id: Option<&str>, deadline_ms: u64) -> Result<Outcome, LinkError> {
        let Some(account) = self.tokens.account(&self.clients.store, &key.workspace).await? else {
            return Ok(Outcome::NotConnected);
        };
        let owner = random::id();
        // A delivery's item is fetched while the claim is taken: a new item needs both, and
        // they do not depend on each other (one round trip saved on the path users wait on).
        // Retries and sweeps claim first: most of what they look at needs no fetch.
        let claim = self.clients.store.claim_item(key, event_id, &owner, deadline_ms);
        let (claimed, prefetched) = if event_id.is_some() {
            let (c, item) = tokio::join!(claim, self.fetch_item(key, deadline_ms));
            (c?, item.ok())
        } else {
            (claim.await?, None)
        };
        match claimed {
            ClaimOutcome::Claimed(claim) => self.run(claim, &account, prefetched, deadline_ms).await,
            ClaimOutcome::Busy => Ok(Outcome::InProgress),
            ClaimOutcome::Settled(record) => Ok(match record.stage {
                Stage::Done { doc, .. } => Outcome::Linked { doc_url: doc.url },
                _ => Outcome::GaveUp,
            }),
        }
    }

    /// An update delivery: the doc follows the item's name, whatever order events come in
    /// (TAPD's current name is fetched, never taken from the event).
    pub async fn update(&self, key: &ItemKey, change: NameChange, deadline_ms: u64) -> Result<Outcome, LinkError> {
        if change == NameChange::Unchanged {
            return Ok(Outcome::Unchanged);
        }
        let Some(account) = self.tokens.account(&self.clients.store, &key.workspace).await? else {
            return Ok(Outcome::NotConnected);
        };
        let owner = random::id();
        let mut claim = match self.clients.store.claim_existing(key, &owner, deadline_ms).await? {
            // An update before its create (or whose create never came): link it now, with
            // the name it has now.
            None => return self.link(key, None, deadline_ms).await,
            Some(ClaimOutcome::Claimed(claim)) => claim,
            Some(_) => return Ok(Outcome::InProgress),
        };
        let doc = match &claim.record.stage {
            Stage::Done { doc, .. } if !claim.record.deleted => doc.clone(),
            // Still being linked: finishing it uses the current name.
            stage if stage.is_pending() => return self.run(claim, &account, None, deadline_ms).await,
            _ => {
                self.clients.store.release(&claim).await?;
                return Ok(Outcome::Unchanged);
            }
        };
        let result = self.rename(&mut claim, &account, &doc, deadline_ms).await;
        if result.is_err() {
            // Let go at once rather than at the deadline: a redelivery may try again.
            let _ = self.clients.store.release(&claim).await;
        }
        result
    }

    async fn rename(
        &self,
        claim: &mut Claim,
        account: &Account,
        doc: &Doc,
        deadline_ms: u64,
    ) -> Result<Outcome, LinkError> {
        let key = claim.record.key.clone();
        let item = self.fetch_item(&key, deadline_ms).await?;
        let title = self.title(&key, &item).await?;
        if title == doc.title {
            self.clients.store.release(claim).await?;
            return Ok(Outcome::Unchanged);
        }
        let (id, t) = (&doc.id, &title);
        self.tokens
            .tdoc(&self.clients, &key.workspace, account, deadline_ms, Repeat::WhileTransient, |tok| async move {
                self.clients.tdoc.rename_file(&tok, id, t).await
            })
            .await?;
        self.clients.store.record_title(claim, &title).await?;
        tracing::info!(workspace = %key.workspace, item = %key.id, "doc renamed after the item");
        Ok(Outcome::Renamed)
    }

    /// A delete delivery: recorded, and the doc trashed when `ON_ITEM_DELETE=trash`.
    pub async fn delete(&self, key: &ItemKey, deadline_ms: u64) -> Result<Outcome, LinkError> {
        let Some(account) = self.tokens.account(&self.clients.store, &key.workspace).await? else {
            return Ok(Outcome::NotConnected);
        };
        let owner = random::id();
        let mut claim = match self.clients.store.claim_existing(key, &owner, deadline_ms).await? {
            None => return Ok(Outcome::Unchanged),
            Some(ClaimOutcome::Claimed(claim)) => claim,
            Some(_) => return Ok(Outcome::InProgress),
        };
        if claim.record.deleted {
            self.clients.store.release(&claim).await?;
            return Ok(Outcome::Deleted);
        }
        let trash = self.cfg.on_item_delete == OnItemDelete::Trash;
        if let (true, Some(doc)) = (trash, claim.record.stage.doc().cloned()) {
            let id = &doc.id;
            let deleted = self
                .tokens
                .tdoc(&self.clients, &key.workspace, &account, deadline_ms, Repeat::WhileTransient, |tok| async move {
                    match self.clients.tdoc.delete_file(&tok, id).await {
                        // Already gone (a person deleted it, or our earlier try did).
                        Err(UpstreamError::Refused { status: 404, .. }) => Ok(()),
                        other => other,
                    }
                })
                .await;
            if let Err(e) = deleted {
                let _ = self.clients.store.release(&claim).await;
                return Err(e);
            }
        }
        self.clients.store.record_deleted(&mut claim, trash).await?;
        tracing::info!(workspace = %key.workspace, item = %key.id, trashed = trash, "item deletion recorded");
        Ok(Outcome::Deleted)
    }

    /// Runs a claimed item to `Done`, or records why not.
    async fn run(
        &self,
        mut claim: Claim,
        account: &Account,
        prefetched: Option<TapdItem>,
        deadline_ms: u64,
    ) -> Result<Outcome, LinkError> {
        match self.steps(&mut claim, account, prefetched, deadline_ms).await {
            Ok(doc_url) => Ok(Outcome::Linked { doc_url }),
            Err(LinkError::Store(StoreError::LostClaim)) => Err(LinkError::Store(StoreError::LostClaim)),
            Err(e) => {
                let record = &claim.record;
                let age_ms = now_millis().saturating_sub(record.pending_since_ms);
                let store = &self.clients.store;
                let kept = if e.is_terminal() || age_ms > self.cfg.give_up_after.as_millis() as u64 {
                    let reason = if e.is_terminal() {
                        e.to_string()
                    } else {
                        format!("gave up after {} h of retries: {e}", age_ms / 3_600_000)
                    };
                    tracing::warn!(workspace = %record.key.workspace, item = %record.key.id, reason = %reason, "giving up on item");
                    store.give_up(&mut claim, &reason).await
                } else {
                    let next = now_millis() + self.cfg.backoff_ms(record.attempts);
                    tracing::warn!(workspace = %record.key.workspace, item = %record.key.id, attempt = record.attempts, error = %e, "link attempt failed; kept pending");
                    store.release_for_retry(&claim, &e.to_string(), next).await
                };
                // If even that fails, the claim lapses on its own and the item stays pending.
                if let Err(store_err) = kept {
                    tracing::error!(error = %store_err, "could not record the failure");
                }
                if matches!(claim.record.stage, Stage::GivenUp { .. }) { Ok(Outcome::GaveUp) } else { Err(e) }
            }
        }
    }

    /// The steps from the record's stage to `Done`.
    async fn steps(
        &self,
        claim: &mut Claim,
        account: &Account,
        prefetched: Option<TapdItem>,
        deadline_ms: u64,
    ) -> Result<String, LinkError> {
        let key = claim.record.key.clone();
        // Looked at before posting whenever an earlier attempt may have posted.
        let resumed = claim.record.attempts > 1;
        let mut item = prefetched;
        loop {
            match claim.record.stage.clone() {
                Stage::New => {
                    let it = match item.take() {
                        Some(it) => it,
                        None => self.fetch_item(&key, deadline_ms).await?,
                    };
                    let doc = self.create_doc(&key, account, &it, deadline_ms).await?;
                    item = Some(it);
                    self.record_doc(claim, doc, deadline_ms).await?;
                }
                Stage::DocCreated { doc } => {
                    let it = match item.take() {
                        Some(it) => it,
                        None => self.fetch_item(&key, deadline_ms).await?,
                    };
                    self.write_doc(&key, account, &doc, &it, deadline_ms).await?;
                    // Recorded before the comment is sent, not beside it: the intro cannot be
                    // read back (no documented read of a doc's text), so the only guard against
                    // writing it twice is this record, and a crash while the comment is on its
                    // way (a kill as the comment reaches TAPD, found by the state-machine suite
                    // under load) must find it. Costs one sequential DynamoDB write (~5 ms).
                    self.clients.store.record_written(claim, doc).await?;
                }
                Stage::DocWritten { doc } => match &self.cfg.link.doc_url_field {
                    Some(field) => {
                        let (url, f, key) = (&doc.url, field.as_str(), &key);
                        self.tokens
                            .tapd(&self.clients, deadline_ms, |tok| async move {
                                self.clients.tapd.update_field(&tok, &key.workspace, key.kind, &key.id, f, url).await
                            })
                            .await?;
                        self.clients.store.record_field_set(claim, doc).await?;
                    }
                    None => self.comment(claim, doc, resumed, deadline_ms).await?,
                },
                Stage::FieldSet { doc } => self.comment(claim, doc, resumed, deadline_ms).await?,
                Stage::Done { doc, .. } => {
                    tracing::info!(workspace = %key.workspace, kind = key.kind.as_str(), item = %key.id, doc_url = %doc.url, "item linked");
                    return Ok(doc.url);
                }
                Stage::GivenUp { reason, .. } => {
                    // Claims re-arm given-up items first; reaching this means another
                    // instance gave up meanwhile.
                    return Err(LinkError::Store(StoreError::Corrupt(format!("given up while claimed: {reason}"))));
                }
            }
        }
    }

    /// The doc's title: the workspace's title template, else the deployment's.
    async fn title(&self, key: &ItemKey, item: &TapdItem) -> Result<String, LinkError> {
        let place = self.placement(&key.workspace).await?;
        Ok(render_title(&place.title_template, &item.name, key.kind, &key.id, &key.workspace))
    }

    /// Creates the doc, in the workspace's folder (made, or made again, as needed), as a
    /// copy of the workspace's template for the kind when it names one. Never repeated
    /// after a failure that may have created it (a timeout after sending, a reset, a `5xx`):
    /// the next attempt creates again, the one window where a doc can be made twice
    /// (Tencent Docs takes no idempotency key and documents no way to list a folder or
    /// search for a marker). A create refused because its folder is gone was not acted on:
    /// the folder is made again and the create retried once.
    async fn create_doc(
        &self,
        key: &ItemKey,
        account: &Account,
        item: &TapdItem,
        deadline_ms: u64,
    ) -> Result<Doc, LinkError> {
        let place = self.placement(&key.workspace).await?;
        let title = self.title(key, item).await?;
        let doc_type = place.doc_type(&self.cfg, key.kind);
        let template = place.template(key.kind);
        let mut folder = self.folder_for(key, account, item, place.layout, deadline_ms).await?;
        let mut remade = false;
        loop {
            let f = folder.as_ref().map(|f| f.id.as_str());
            match self.make_file(key, account, &title, doc_type, template, f, deadline_ms).await {
                Err(LinkError::Upstream(e)) if crate::tdoc::is_missing(&e) && !remade && folder.is_some() => {
                    if let Some(gone) = folder.take() {
                        self.forget_folder(&key.workspace, &gone).await?;
                    }
                    folder = self.folder_for(key, account, item, place.layout, deadline_ms).await?;
                    remade = true;
                }
                Err(e) => return Err(e),
                Ok(Ok(DocFile { id, url, .. })) => return Ok(Doc { id, url, title }),
                Ok(Err(detail)) => return Err(LinkError::CreateUnreadable(detail)),
            }
        }
    }

    /// One create (a copy of `template`, else a blank doc) into `folder`; `Ok(Err(_))` is a
    /// success we cannot read. A template that cannot be copied (gone, not the account's)
    /// gives a blank doc, logged; a blank create refused for its folder says so.
    #[allow(clippy::too_many_arguments)]
    async fn make_file(
        &self,
        key: &ItemKey,
        account: &Account,
        title: &str,
        doc_type: &str,
        template: Option<&str>,
        folder: Option<&str>,
        deadline_ms: u64,
    ) -> Result<Result<DocFile, String>, LinkError> {
        // Time for the reply and for recording it; without it, a doc would be made and
        // forgotten when the invocation ends.
        if now_millis() + self.cfg.common.http_timeout.as_millis() as u64 + RESERVE_MS > deadline_ms {
            return Err(LinkError::NoTimeToCreate);
        }
        // The create's own unreadable reply, told apart from a token refresh's.
        let readable = |r: Result<DocFile, UpstreamError>| match r {
            Err(UpstreamError::Malformed { detail, .. }) => Ok(Err(detail)),
            other => other.map(Ok),
        };
        if let Some(source) = template {
            let copied = self
                .tokens
                .tdoc(
                    &self.clients,
                    &key.workspace,
                    account,
                    deadline_ms,
                    Repeat::UnlessMayHaveActed,
                    |tok| async move { readable(self.clients.tdoc.copy_file(&tok, source, title, folder).await) },
                )
                .await;
            match copied {
                Err(LinkError::Upstream(e @ UpstreamError::Refused { .. })) => {
                    tracing::warn!(workspace = %key.workspace, template = source, error = %e, "the template cannot be copied; creating a blank doc");
                    if now_millis() + self.cfg.common.http_timeout.as_millis() as u64 + RESERVE_MS > deadline_ms {
                        return Err(LinkError::NoTimeToCreate);
                    }
                }
                other => return other,
            }
        }
        self.tokens
            .tdoc(&self.clients, &key.workspace, account, deadline_ms, Repeat::UnlessMayHaveActed, |tok| async move {
                readable(self.clients.tdoc.create_file(&tok, title, doc_type, folder).await)
            })
            .await
    }

    /// Records a just-created doc, retrying a failed write while the deadline allows:
    /// losing this record would make the next attempt create a second doc.
    async fn record_doc(&self, claim: &mut Claim, doc: Doc, deadline_ms: u64) -> Result<(), LinkError> {
        let mut tries = 0;
        loop {
            match self.clients.store.record_doc(claim, doc.clone()).await {
                Err(StoreError::Unavailable(_))
                    if tries < BACKOFF_MS.len() && now_millis() + BACKOFF_MS[tries] + RESERVE_MS < deadline_ms =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(BACKOFF_MS[tries])).await;
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

    /// The doc's first paragraph (linking back to the item) and its permission. A refusal
    /// that retrying will not fix (a doc type without text) is logged and treated as done;
    /// a dead token is not a refusal (it was refreshed, or the workspace needs reconnecting).
    async fn write_doc(
        &self,
        key: &ItemKey,
        account: &Account,
        doc: &Doc,
        item: &TapdItem,
        deadline_ms: u64,
    ) -> Result<(), LinkError> {
        let item_url =
            format!("{}/{}/{}/view/{}", self.cfg.common.tapd.web_base, key.workspace, key.kind.web_segment(), key.id);
        let text = intro_text(self.cfg.language, key.kind, item, &item_url, &self.cfg.link.intro_fields);
        let (t, id) = (&text, &doc.id);
        let write = self.tokens.tdoc(
            &self.clients,
            &key.workspace,
            account,
            deadline_ms,
            Repeat::WhileTransient,
            |tok| async move { self.clients.tdoc.insert_text(&tok, id, t).await },
        );
        // The permission is set at the same time: both are idempotent writes to the new doc.
        let share = async {
            let Some(policy) = self.placement(&key.workspace).await?.permission else { return Ok(()) };
            self.tokens
                .tdoc(&self.clients, &key.workspace, account, deadline_ms, Repeat::WhileTransient, |tok| async move {
                    self.clients.tdoc.set_permission(&tok, id, policy.as_str()).await
                })
                .await
        };
        let (written, shared) = tokio::join!(write, share);
        for (what, result) in [("the link into the doc", written), ("the doc's permission", shared)] {
            match result {
                Err(LinkError::Upstream(e @ UpstreamError::Refused { .. })) => {
                    tracing::warn!(error = %e, "could not write {what}; leaving it");
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Posts the item's comment unless one naming the doc is there, then records `Done`.
    /// TAPD takes no idempotency key, so whenever an earlier post may have landed, the
    /// comments are read first (every page): after a previous attempt (it may have died
    /// after posting), and before any retry within this one (a timeout, a reset or a `5xx`
    /// does not say whether TAPD acted on the post). A first try of a first attempt spends
    /// no extra call.
    async fn comment(&self, claim: &mut Claim, doc: Doc, resumed: bool, deadline_ms: u64) -> Result<(), LinkError> {
        let key = claim.record.key.clone();
        let comment_id = self.post_comment(&key, &doc, resumed, deadline_ms).await?;
        self.clients.store.record_done(claim, doc, &comment_id).await?;
        Ok(())
    }

    /// Posts the comment (or finds the one an earlier try posted); its id.
    async fn post_comment(
        &self,
        key: &ItemKey,
        doc: &Doc,
        resumed: bool,
        deadline_ms: u64,
    ) -> Result<String, LinkError> {
        let html = comment_html(self.cfg.language, key.kind, &doc.url, &doc.title);
        let look_first = std::sync::atomic::AtomicBool::new(resumed);
        let (html, look_first, author, url) = (&html, &look_first, &self.cfg.link.comment_author, &doc.url);
        let k = key;
        self.tokens
            .tapd(&self.clients, deadline_ms, |tok| async move {
                if look_first.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    let escaped = crate::text::escape_html(url);
                    let found = self
                        .clients
                        .tapd
                        .find_comment(&tok, &k.workspace, k.kind, &k.id, |c| {
                            c.description.contains(url.as_str()) || c.description.contains(&escaped)
                        })
                        .await?;
                    if let Some(c) = found {
                        return Ok(c.id);
                    }
                }
                self.clients.tapd.add_comment(&tok, &k.workspace, k.kind, &k.id, html, author).await
            })
            .await
    }

    async fn fetch_item(&self, key: &ItemKey, deadline_ms: u64) -> Result<TapdItem, LinkError> {
        self.tokens
            .tapd(&self.clients, deadline_ms, |tok| async move {
                self.clients.tapd.get_item(&tok, &key.workspace, key.kind, &key.id).await
            })
            .await?
            .ok_or(LinkError::ItemNotFound)
    }
}
