//! Where a delivery becomes a doc: an item's life, from its first delivery to its linked
//! doc, and after (renamed, deleted). Each step takes the [`Stage`] it needs from the
//! item's record and records the next one, conditionally on holding the item's claim; a
//! claim lapses at its invocation's deadline, so a dead instance never blocks an item long.
//!
//! ```text
//! New ──create doc──▶ DocCreated ──card, permission, title, [field,] comment──▶ Done
//!  │  ▲                   ▲      │   (side by side; the title once the doc is on record)  ▲
//!  │  │ certainly absent  │      └─the comment failed─▶ DocWritten ──comment──────────────┘
//!  │  │                   │ found (adopted)
//!  ▼  │                   │
//! CreateUnknown ──look in the folder for the item's marker──┘
//!  (the create's reply was lost, or the attempt died around it)
//! any pending stage ──failure──▶ same stage, due again after a backoff
//!                   ──older than GIVE_UP_AFTER──▶ GivenUp
//!                   ──TAPD has no such item, at a second look──▶ GivenUp
//! GivenUp ──a new delivery / redrive──▶ pending again
//! ```

pub mod card;
pub mod close_out;
pub mod fair;
mod intro;
pub mod made;
pub mod metrics;
pub mod names;
pub mod placement;
mod schedule;
mod status;
mod title;

use crate::app::Clients;
use crate::config::{DocOwner, OnItemDelete, WebhookConfig};
use crate::deadline::Deadline;
use crate::delivery::{Change, ItemChanges, IterationChange};
use crate::notify;
use crate::random;
use crate::reason::Reason;
use crate::retry::BACKOFF_MS;
use crate::store::{Account, Claim, ClaimOutcome, Doc, ItemKey, SentTo, Stage, StoreError};
use crate::tapd::TapdItem;
use crate::tdoc::DocFile;
use crate::time::now_millis;
use crate::tokens::{Repeat, Tokens};
use crate::upstream::UpstreamError;
use futures_util::StreamExt;
use made::Found;
use std::time::Duration;

pub use crate::error::LinkError;

/// One attempt at an item, as one value: whose account its docs are made as, whether an
/// earlier attempt may have written (then what it wrote is read before writing again), and
/// the invocation's deadline every call asks for time.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    account: &'a Account,
    resumed: bool,
    deadline: Deadline,
}

/// The file one create makes: its title, type, the template it copies (if any), where it goes.
#[derive(Clone, Copy)]
struct NewFile<'a> {
    title: &'a str,
    doc_type: &'a str,
    template: Option<&'a str>,
    folder: Option<&'a str>,
}

/// Why an item waits, or was given up, when TAPD has no such item (the console's reason
/// reads it: `ops::reason`).
pub const ITEM_GONE: &str = "TAPD has no such item in the workspace";

pub use intro::{comment_html, html_to_text, intro_text};
pub use schedule::RunSummary;
pub use title::{cut_chars, render_title};

/// A create's own failure that may have acted (the provider may have made the file) as
/// `Ok(Err(_))`: it is resolved by a look, never by repeating the call.
pub(crate) fn in_doubt<T>(result: Result<T, UpstreamError>) -> Result<Result<T, UpstreamError>, UpstreamError> {
    match result {
        Err(e) if e.may_have_acted() => Ok(Err(e)),
        other => other.map(Ok),
    }
}

/// A refusal that retrying will not fix (a doc type without text, a permission the account
/// may not set) is logged and left; anything else is the attempt's failure.
fn leave_refused(what: &str, result: Result<(), LinkError>) -> Result<(), LinkError> {
    match result {
        Err(LinkError::Upstream(e @ UpstreamError::Refused { .. })) => {
            tracing::warn!(error = %e, "could not write {what}; leaving it");
            Ok(())
        }
        other => other,
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
    GivenUp,
    /// The doc now carries the item's new name.
    Renamed,
    /// The doc's card now shows the item as TAPD does (and its title follows its name).
    CardWritten,
    /// Nothing to change.
    Unchanged,
    /// The deletion is recorded (and the doc trashed, with `ON_ITEM_DELETE=trash`).
    Deleted,
    /// TAPD still shows the item: the delete was recorded as refused, nothing changed.
    DeleteRefused,
    /// The workspace's settings leave this event alone (a kind it does not link, renames or
    /// deletes it does not follow).
    NotActedOn,
    /// Linking is paused in the workspace: the item waits, recorded, until it is resumed.
    Paused,
}

/// Pages of an iteration's items (of each kind) followed up after it is renamed: 2,000 items.
const ITERATION_PAGES: u32 = 10;

/// How often a paused workspace's waiting items are looked at again (resuming makes them
/// due at once).
const PAUSED_RECHECK_MS: u64 = 3_600_000;

/// The webhook's flows, built once at init and borrowed by every event.
pub struct Linker {
    pub cfg: WebhookConfig,
    pub clients: Clients,
    pub tokens: Tokens,
    /// Which deliveries may act for which workspace.
    pub gate: crate::tenants::Gate,
    /// Workspaces' settings and folders, kept across warm invocations.
    places: placement::Cache,
    /// Status names, end statuses and iteration names per workspace ([`names`]).
    pub names: names::Names,
}

impl Linker {
    pub fn new(cfg: WebhookConfig, clients: Clients) -> Self {
        Self {
            cfg,
            clients,
            tokens: Tokens::default(),
            gate: crate::tenants::Gate,
            places: placement::Cache::default(),
            names: names::Names::default(),
        }
    }

    /// Links a new item (a create delivery, a sweep, a retry), before `deadline`.
    pub async fn link(&self, key: &ItemKey, event_id: Option<&str>, deadline: Deadline) -> Result<Outcome, LinkError> {
        // What the item will need that does not depend on it, side by side: on a cold
        // instance the binding, the settings, the folder and the shared TAPD token come in
        // one round trip rather than one after another (warm, all are in memory).
        let (account, (), ()) = tokio::join!(
            self.tokens.account(&self.clients.store, &key.workspace),
            self.warm_placement(&key.workspace),
            self.tokens.warm_tapd(&self.clients, deadline),
        );
        let Some(account) = account? else {
            return Ok(Outcome::NotConnected);
        };
        // Settings as remembered (a delivery reloads them beside its claim, for the next). A
        // kind they leave alone is checked against them read again (as `reload_settings`
        // does: by a delivery always, by the scheduled run at most once a second): the kind
        // ticked again and the item retried, as its reason says, or delivered, is not left
        // alone until the remembered ones lapse (`SETTINGS_TTL`).
        let links = |p: &placement::Placement| p.events.links(key.kind);
        if !links(&self.placement(&key.workspace).await?) {
            let how = if event_id.is_some() { placement::Reload::Always } else { placement::Reload::Debounced };
            self.reload_settings(&key.workspace, how).await;
            if !links(&self.placement(&key.workspace).await?) {
                return Ok(Outcome::NotActedOn);
            }
        }
        let owner = random::id();
        // A delivery's item is fetched while the claim is taken (and the account's Tencent
        // Docs token and the workspace's settings read): a new item needs them all, and they
        // do not depend on each other.
        // Retries and sweeps claim first: most of what they look at needs no fetch.
        let claim = self.clients.store.claim_item(key, event_id, &owner, deadline.at_ms());
        let (claimed, prefetched) = if event_id.is_some() {
            let warm_tdoc = self.tokens.warm_tdoc(&self.clients, &key.workspace, &account, deadline);
            let settings = self.reload_settings(&key.workspace, placement::Reload::Always);
            let (c, item, (), ()) = tokio::join!(claim, self.fetch_item(key, deadline), warm_tdoc, settings);
            (c?, item.ok())
        } else {
            // Settings as they are now (a pause, a resume), unless read a moment ago.
            let (c, ()) = tokio::join!(claim, self.reload_settings(&key.workspace, placement::Reload::Debounced));
            (c?, None)
        };
        match claimed {
            // Boxed: an item's whole life is a large future (kept off the caller's stack).
            ClaimOutcome::Claimed(claim) => Box::pin(self.attempt(claim, &account, prefetched, deadline)).await,
            ClaimOutcome::Busy => Ok(Outcome::InProgress),
            ClaimOutcome::Settled(record) => Ok(match record.stage {
                Stage::Done { doc, .. } => Outcome::Linked { doc_url: doc.url },
                _ => Outcome::GivenUp,
            }),
        }
    }

    /// An update delivery: the doc's title follows the item's name and its card the fields it
    /// shows, whatever order events come in (TAPD's item is read afresh, never taken from the
    /// event). Only what `change_fields` names is looked at (everything, without it).
    pub async fn update(&self, key: &ItemKey, changes: &ItemChanges, deadline: Deadline) -> Result<Outcome, LinkError> {
        let rename_on = self.placement(&key.workspace).await?.events.rename;
        let what = card::Follow {
            rename: changes.name != Change::Unchanged && rename_on,
            card: changes.card != Change::Unchanged,
        };
        if !what.rename && !what.card {
            return Ok(if changes.name == Change::Unchanged { Outcome::Unchanged } else { Outcome::NotActedOn });
        }
        self.follow_item(key, what, deadline).await
    }

    /// A status change delivery (`story|bug::status_change`): the card shows the status a fresh
    /// read gives (and close-out follows it, `link/status.rs`).
    pub async fn status_changed(&self, key: &ItemKey, deadline: Deadline) -> Result<Outcome, LinkError> {
        self.follow_item(key, card::Follow { rename: false, card: true }, deadline).await
    }

    /// An iteration was made, changed or deleted: the name the instance keeps of it is read
    /// again when next needed (cards show it).
    pub async fn iteration_changed(
        &self,
        ws: &crate::ids::WorkspaceId,
        id: &crate::ids::IterationId,
        change: IterationChange,
        deadline: Deadline,
    ) -> Result<Outcome, LinkError> {
        self.names.forget_iteration(ws, id).await;
        tracing::info!(workspace = %ws, iteration = %id, change = ?change, "iteration changed; its name is read again when needed");
        // Its folder (where the iteration layout made one) follows its name.
        if !matches!(change, IterationChange::Updated { renamed: Change::Changed | Change::Unknown }) {
            return Ok(Outcome::Unchanged);
        }
        let Some(account) = self.tokens.account(&self.clients.store, ws).await? else {
            return Ok(Outcome::NotConnected);
        };
        let title = self.iteration_folder_title(ws, id.as_str(), deadline).await?;
        let retitled = self.follow_iteration_title(ws, &account, id.as_str(), &title, deadline).await?;
        // Its items' cards show its name: each is redrawn by a follow-up.
        self.follow_iteration_items(ws, id, deadline).await?;
        Ok(match retitled {
            placement::Retitle::Renamed => Outcome::Renamed,
            _ => Outcome::Unchanged,
        })
    }

    /// Queues a follow-up of every linked item in iteration `id`, so its card shows the
    /// iteration's new name. Due once every instance's cached name of it has lapsed
    /// ([`names::NAMES_TTL`]): a scheduled run on another warm instance could still hold the
    /// old one. At most [`ITERATION_PAGES`] pages of each kind; more is left to the items'
    /// next changes (and said in the log).
    async fn follow_iteration_items(
        &self,
        ws: &crate::ids::WorkspaceId,
        id: &crate::ids::IterationId,
        deadline: Deadline,
    ) -> Result<(), LinkError> {
        let due = now_millis() + names::NAMES_TTL.as_millis() as u64;
        let mut queued = 0usize;
        for kind in crate::store::swept_kinds(self.cfg.link.link_tasks) {
            for page in 1..=ITERATION_PAGES {
                let items = self
                    .tokens
                    .call_tapd(&self.clients, deadline, |tok| async move {
                        self.clients.tapd.list_in_iteration(&tok, ws, kind, id, page).await
                    })
                    .await?;
                let full = items.len() >= crate::tapd::MAX_PAGE;
                let keys: Vec<ItemKey> =
                    items.into_iter().map(|i| ItemKey { workspace: ws.clone(), kind, id: i.id }).collect();
                let recorded = self.clients.store.recorded(&keys).await?;
                let store = &self.clients.store;
                let queuing = futures_util::stream::iter(&recorded).map(|k| store.follow_later(k, due));
                queuing.buffer_unordered(8).collect::<Vec<_>>().await.into_iter().collect::<Result<Vec<()>, _>>()?;
                queued += recorded.len();
                if !full {
                    break;
                }
                if page == ITERATION_PAGES {
                    tracing::warn!(workspace = %ws, iteration = %id, kind = kind.as_str(), "more items in the iteration than are followed up; the rest show its name at their next change");
                }
            }
        }
        tracing::info!(workspace = %ws, iteration = %id, items = queued, "the iteration's items' cards are redrawn by the scheduled run");
        Ok(())
    }

    /// Claims a linked item and has its doc follow it ([`card::Follow`]). An item being linked
    /// is finished with what TAPD shows now; one that is busy is told its card is stale (its
    /// holder writes it again before letting go); one never seen is linked.
    async fn follow_item(&self, key: &ItemKey, what: card::Follow, deadline: Deadline) -> Result<Outcome, LinkError> {
        let Some(account) = self.tokens.account(&self.clients.store, &key.workspace).await? else {
            return Ok(Outcome::NotConnected);
        };
        let owner = random::id();
        let mut claim = match self.clients.store.claim_existing(key, &owner, deadline.at_ms()).await? {
            // An update before its create (or whose create never came): link it now, with
            // what it is now.
            None => return self.link(key, None, deadline).await,
            Some(ClaimOutcome::Claimed(claim)) => claim,
            Some(_) => {
                if what.card {
                    self.clients.store.mark_card_stale(key).await?;
                    // Its holder shows it before letting go; should the holder die first, the
                    // scheduled run does.
                    self.follow_later(key).await?;
                }
                return Ok(Outcome::InProgress);
            }
        };
        match &claim.record.stage {
            Stage::Done { .. } if !claim.record.deleted => {}
            // Still being linked: finishing it uses what the item is now.
            stage if stage.is_pending() => return Box::pin(self.attempt(claim, &account, None, deadline)).await,
            _ => {
                self.clients.store.release(&claim).await?;
                return Ok(Outcome::Unchanged);
            }
        }
        let started_ms = now_millis();
        let queued = claim.record.card.follow_at_ms.is_some();
        let account = self.doc_account(&claim.record, &account).await?;
        let result = self.follow(&mut claim, &account, what, deadline).await;
        match &result {
            // A follow-up queued before this read is shown by it.
            Ok(_) if queued => self.clients.store.follow_done(key, started_ms).await?,
            Ok(_) => {}
            Err(LinkError::Store(StoreError::LostClaim)) => {}
            Err(e) => {
                // The history says why the doc did not follow; the scheduled run tries again
                // (a redelivery, or the item's next change, may come first).
                if what.card
                    && let Err(store_err) = self.clients.store.record_card_failed(&claim, Reason::from(e)).await
                {
                    tracing::warn!(error = %store_err, "could not record the card's failure");
                }
                // Let go at once rather than at the deadline: a redelivery may try again.
                let _ = self.clients.store.release(&claim).await;
                if let Err(store_err) = self.follow_later(key).await {
                    tracing::warn!(error = %store_err, "could not queue the doc's follow-up");
                }
            }
        }
        result
    }

    /// The account the item's doc is written as: the one it was made as, while the table keeps
    /// that account's token (a workspace reconnected to another Tencent Docs account still
    /// updates, moves and trashes the docs made before, which the new account cannot open);
    /// else the workspace's account now.
    async fn doc_account(&self, record: &crate::store::ItemRecord, current: &Account) -> Result<Account, StoreError> {
        match &record.doc_open_id {
            Some(made_as) if current.open_id() != Some(made_as) && record.stage.doc().is_some() => {
                Ok(match self.clients.store.tdoc_token(made_as).await? {
                    Some(_) => Account::User(made_as.clone()),
                    None => current.clone(),
                })
            }
            _ => Ok(current.clone()),
        }
    }

    /// Queues a follow-up of the item's doc for the scheduled run, after the retry period.
    async fn follow_later(&self, key: &ItemKey) -> Result<(), StoreError> {
        let due = now_millis() + self.cfg.retry_period.as_millis() as u64;
        self.clients.store.follow_later(key, due).await
    }

    /// A follow-up the scheduled run found due: the doc follows the item as TAPD shows it
    /// now (its card, its title when the workspace follows renames, its place).
    pub(super) async fn follow_up(&self, key: &ItemKey, deadline: Deadline) -> Result<Outcome, LinkError> {
        let started_ms = now_millis();
        let rename = self.placement(&key.workspace).await?.events.rename;
        let outcome = self.follow_item(key, card::Follow { rename, card: true }, deadline).await?;
        if outcome != Outcome::InProgress {
            self.clients.store.follow_done(key, started_ms).await?;
        }
        Ok(outcome)
    }

    /// A delete delivery, once TAPD confirms the item is gone: recorded, and the doc trashed
    /// when `ON_ITEM_DELETE=trash`.
    pub async fn delete(&self, key: &ItemKey, deadline: Deadline) -> Result<Outcome, LinkError> {
        if !self.placement(&key.workspace).await?.events.delete {
            return Ok(Outcome::NotActedOn);
        }
        let Some(account) = self.tokens.account(&self.clients.store, &key.workspace).await? else {
            return Ok(Outcome::NotConnected);
        };
        let owner = random::id();
        let mut claim = match self.clients.store.claim_existing(key, &owner, deadline.at_ms()).await? {
            None => return Ok(Outcome::Unchanged),
            Some(ClaimOutcome::Claimed(claim)) => claim,
            Some(_) => return Ok(Outcome::InProgress),
        };
        if claim.record.deleted {
            self.clients.store.release(&claim).await?;
            return Ok(Outcome::Deleted);
        }
        // Believed only when TAPD confirms it: whoever can send a delivery cannot make the
        // product act on an item TAPD still shows.
        match self.fetch_item(key, deadline).await {
            Err(LinkError::ItemNotFound) => {}
            Ok(_) => {
                let why = "TAPD still shows the item: the delete delivery was not acted on";
                tracing::warn!(workspace = %key.workspace, item = %key.id, "delete refused: {why}");
                self.clients.store.record_delete_refused(&mut claim, why).await?;
                return Ok(Outcome::DeleteRefused);
            }
            Err(e) => {
                let _ = self.clients.store.release(&claim).await;
                return Err(e);
            }
        }
        let trash = self.cfg.on_item_delete == OnItemDelete::Trash;
        if let (true, Some(doc)) = (trash, claim.record.stage.doc().cloned()) {
            let id = &doc.id;
            let account = self.doc_account(&claim.record, &account).await?;
            let deleted = self
                .tokens
                .call_tdoc(
                    &self.clients,
                    &key.workspace,
                    &account,
                    deadline,
                    Repeat::WhileTransient,
                    |tok| async move {
                        match self.clients.tdoc.delete_file(&tok, id).await {
                            // Already gone (a person deleted it, or our earlier try did).
                            Err(UpstreamError::Refused { status: 404, .. }) => Ok(()),
                            other => other,
                        }
                    },
                )
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

    /// One attempt at a claimed item: [`Self::advance`] it to `Done`, or record why not
    /// (pending with a retry time, or given up) and let go.
    async fn attempt(
        &self,
        mut claim: Claim,
        account: &Account,
        prefetched: Option<TapdItem>,
        deadline: Deadline,
    ) -> Result<Outcome, LinkError> {
        // Settings as read beside the claim: a kind the workspace stopped linking since the
        // remembered ones were read ends here, given up with why (a retry links it if the
        // kind is linked again).
        let ws = &claim.record.key.workspace;
        let kind = claim.record.key.kind;
        let place = self.placement(ws).await?;
        if claim.record.stage.doc().is_none() && !place.events.links(kind) {
            let why = format!("not linked: the workspace's settings leave {}s alone", kind.as_str());
            self.clients.store.give_up(&mut claim, Reason::KindNotLinked(kind), &why).await?;
            return Ok(Outcome::NotActedOn);
        }
        // Paused as remembered is checked afresh (a resume a moment ago counts).
        if place.paused && self.fresh_placement(ws).await?.paused {
            let next = now_millis() + PAUSED_RECHECK_MS;
            let why = "linking is paused in this workspace";
            self.clients.store.release_for_retry(&claim, Reason::Paused, why, next).await?;
            return Ok(Outcome::Paused);
        }
        let account = &self.doc_account(&claim.record, account).await?;
        match self.advance(&mut claim, account, prefetched, deadline).await {
            Ok(doc_url) => {
                // A change TAPD reported while the doc was being made found the item busy: the
                // card was written from an earlier read, so it is shown again now.
                if claim.record.card.stale_since_ms.is_some() && deadline.has_reserves(3) {
                    let rename = self.placement(&claim.record.key.workspace).await.is_ok_and(|p| p.events.rename);
                    let what = card::Follow { rename, card: true };
                    if let Err(e) = Box::pin(self.follow_item(&claim.record.key, what, deadline)).await {
                        let key = &claim.record.key;
                        tracing::warn!(workspace = %key.workspace, item = %key.id, error = %e, "a change during linking is shown at the next one");
                    }
                }
                Ok(Outcome::Linked { doc_url })
            }
            Err(LinkError::Store(StoreError::LostClaim)) => Err(LinkError::Store(StoreError::LostClaim)),
            Err(LinkError::ItemNotFound) => self.absent(claim).await,
            Err(e) => {
                let record = &claim.record;
                let age_ms = now_millis().saturating_sub(record.pending_since_ms);
                let store = &self.clients.store;
                // An unsettled create is not given up on: whatever was made must be found.
                // Nor is one that waits on a rate limit: throttling is not the item's fault.
                let throttled = matches!(e, LinkError::Upstream(UpstreamError::RateLimited { .. }));
                let kept = if age_ms > self.cfg.give_up_after.as_millis() as u64
                    && !matches!(record.stage, Stage::CreateUnknown { .. })
                    && !throttled
                {
                    let reason = format!("given up after {} h of retries: {e}", age_ms / 3_600_000);
                    tracing::warn!(workspace = %record.key.workspace, item = %record.key.id, reason = %reason, "giving up on item");
                    let given_up = store.give_up(&mut claim, Reason::from(&e), &reason).await;
                    if given_up.is_ok() {
                        notify::item_given_up(store, &self.clients.notifier, &claim.record.key, Reason::from(&e)).await;
                    }
                    given_up
                } else {
                    let next = match e {
                        LinkError::CreateUnsettled { settles_at_ms } => settles_at_ms,
                        _ => now_millis() + self.cfg.backoff_ms(record.attempts),
                    };
                    tracing::warn!(workspace = %record.key.workspace, item = %record.key.id, attempt = record.attempts, error = %e, "link attempt failed; kept pending");
                    store.release_for_retry(&claim, Reason::from(&e), &e.to_string(), next).await
                };
                // If even that fails, the claim lapses on its own and the item stays pending.
                if let Err(store_err) = kept {
                    tracing::error!(error = %store_err, "could not record the failure");
                }
                if matches!(claim.record.stage, Stage::GivenUp { .. }) { Ok(Outcome::GivenUp) } else { Err(e) }
            }
        }
    }

    /// TAPD has no such item (a read by id answered a list without it): a forged delivery, or
    /// an item deleted since. Looked at once more after the first retry's wait (a new item
    /// may take a moment to be readable), then given up with why, not retried for days.
    async fn absent(&self, mut claim: Claim) -> Result<Outcome, LinkError> {
        let (wait, now) = (self.cfg.backoff_ms(1), now_millis());
        let store = &self.clients.store;
        let (ws, item) = (claim.record.key.workspace.clone(), claim.record.key.id.clone());
        let kept = match claim.record.absent_since_ms {
            Some(since) if now >= since.saturating_add(wait) => {
                let reason = format!("{ITEM_GONE} (looked twice, {} s apart): given up", (now - since) / 1000);
                tracing::warn!(workspace = %ws, item = %item, reason = %reason, "giving up on item");
                let given_up = store.give_up(&mut claim, Reason::ItemVanished, &reason).await;
                if given_up.is_ok() {
                    notify::item_given_up(store, &self.clients.notifier, &claim.record.key, Reason::ItemVanished).await;
                }
                given_up
            }
            since => {
                let since = since.unwrap_or(now);
                tracing::warn!(workspace = %ws, item = %item, "TAPD has no such item; looking once more before giving up");
                store.release_absent(&mut claim, ITEM_GONE, since, since.saturating_add(wait)).await
            }
        };
        if let Err(store_err) = kept {
            tracing::error!(error = %store_err, "could not record the failure");
        }
        if matches!(claim.record.stage, Stage::GivenUp { .. }) {
            Ok(Outcome::GivenUp)
        } else {
            Err(LinkError::ItemNotFound)
        }
    }

    /// Takes the item from its recorded stage to `Done`, step by step, each step recorded.
    async fn advance(
        &self,
        claim: &mut Claim,
        account: &Account,
        prefetched: Option<TapdItem>,
        deadline: Deadline,
    ) -> Result<String, LinkError> {
        let key = claim.record.key.clone();
        // Whenever an earlier attempt may have written, what it wrote is read before writing.
        let at = Attempt { account, resumed: claim.record.attempts > 1, deadline };
        let mut item = prefetched;
        loop {
            match claim.record.stage.clone() {
                Stage::New | Stage::CreateUnknown { .. } => {
                    let it = match item.take() {
                        Some(it) => it,
                        None => self.fetch_item(&key, deadline).await?,
                    };
                    let (made, read) =
                        tokio::join!(Box::pin(self.create_doc(claim, &it, at)), self.card_names(&key, &it, deadline));
                    let (doc, sent_to) = made?;
                    let names = read.ok().map(|(n, _)| n);
                    Box::pin(self.finish(claim, doc, Some(sent_to), &it, names, at)).await?;
                }
                Stage::DocCreated { doc } => {
                    let it = match item.take() {
                        Some(it) => it,
                        None => self.fetch_item(&key, deadline).await?,
                    };
                    Box::pin(self.finish(claim, doc, None, &it, None, at)).await?;
                }
                Stage::DocWritten { doc } => self.after_written(claim, doc, at).await?,
                Stage::FieldSet { doc } => self.comment(claim, doc, at).await?,
                Stage::Done { doc, .. } => {
                    // The doc's URL opens a tenant's doc: debug only (docs/security.md).
                    tracing::info!(workspace = %key.workspace, kind = key.kind.as_str(), item = %key.id, "item linked");
                    tracing::debug!(item = %key.id, doc_url = %doc.url, "the linked doc");
                    return Ok(doc.url);
                }
                Stage::GivenUp { reason, .. } => {
                    // Claims re-arm given-up items first; reaching this means another
                    // instance gave up meanwhile.
                    let why = format!("given up while claimed: {}", reason.code());
                    return Err(LinkError::Store(StoreError::Corrupt(why)));
                }
            }
        }
    }

    /// After the intro: the custom field (recorded, with `TAPD_DOC_URL_FIELD`), then the comment.
    async fn after_written(&self, claim: &mut Claim, doc: Doc, at: Attempt<'_>) -> Result<(), LinkError> {
        let Some(field) = &self.cfg.link.doc_url_field else {
            return self.comment(claim, doc, at).await;
        };
        let key = claim.record.key.clone();
        let (url, f, k) = (&doc.url, field.as_str(), &key);
        self.tokens
            .call_tapd(&self.clients, at.deadline, |tok| async move {
                self.clients.tapd.update_field(&tok, &k.workspace, k.kind, &k.id, f, url).await
            })
            .await?;
        self.clients.store.record_field_set(claim, doc).await?;
        Ok(())
    }

    /// The doc's title: the workspace's title template, else the deployment's.
    async fn title(&self, key: &ItemKey, item: &TapdItem) -> Result<String, LinkError> {
        let place = self.placement(&key.workspace).await?;
        Ok(render_title(&place.title_template, &item.name, key.kind, &key.id, &key.workspace))
    }

    /// The item's doc: found where an earlier create whose outcome is unknown put it, else
    /// made, in the workspace's folder (made, or made again, as needed), as a copy of the
    /// workspace's template for the kind when it names one, under the provisional title
    /// that carries the item's marker ([`made`]). A create whose reply is lost is looked
    /// for at once; not found, the item waits until Tencent Docs can no longer make it
    /// (`CREATE_SETTLE`) and is looked for again: a doc is made only when it is certainly
    /// not there. A create refused because its folder is gone was not acted on: the folder
    /// is made again and the create retried once. A create in doubt is looked for in the
    /// folder it was sent to, and in the item's folder now when that is another. Returns
    /// the doc and the folder it is in.
    async fn create_doc(
        &self,
        claim: &mut Claim,
        item: &TapdItem,
        at: Attempt<'_>,
    ) -> Result<(Doc, SentTo), LinkError> {
        let key = claim.record.key.clone();
        let marker = claim.record.marker.clone();
        if marker.is_empty() {
            return Err(LinkError::Store(StoreError::Corrupt("a claimed item without its create marker".into())));
        }
        let place = self.placement(&key.workspace).await?;
        let title = self.title(&key, item).await?;
        let provisional = made::provisional_title(&title, &marker);
        let doc_type = place.doc_type(&self.cfg, key.kind);
        let template = place.template(key.kind);
        let mut folder = self.folder_for(&key, at.account, item, place.layout, at.deadline).await?;
        let (mut remade, mut sent_in_doubt) = (false, false);
        loop {
            let f = folder.as_ref().map(|f| f.id.as_str());
            if let Stage::CreateUnknown { since_ms, sent_to } = claim.record.stage.clone() {
                // The folder the create went to first: the item's may have changed since.
                let earlier = sent_to.folder().filter(|&sent| sent != f);
                for place in earlier.into_iter().chain([f]) {
                    let since = (since_ms / 1000).saturating_sub(made::LOOK_BACK_SECS);
                    let look = self.look(&key.workspace, at.account, place, since, at.deadline, |e| {
                        e.kind != "folder" && made::carries(&e.title, &marker)
                    });
                    if let Found::Made(files) = look.await? {
                        let doc = self.adopt(&key, at.account, files, title, at.deadline).await;
                        return Ok((doc, SentTo::at(place)));
                    }
                }
                let settles_at_ms = since_ms + self.cfg.create_settle.as_millis() as u64;
                if sent_in_doubt || now_millis() < settles_at_ms {
                    return Err(LinkError::CreateUnsettled { settles_at_ms });
                }
                tracing::info!(workspace = %key.workspace, item = %key.id, "an earlier create made nothing; creating");
                claim.record.stage = Stage::New;
            }
            let file = NewFile { title: &provisional, doc_type, template, folder: f };
            match self.make_file(&key, at.account, file, at.deadline).await {
                Err(LinkError::Upstream(e)) if crate::tdoc::is_missing(&e) && !remade && folder.is_some() => {
                    if let Some(gone) = folder.take() {
                        self.forget_folder(&key.workspace, &gone).await?;
                    }
                    folder = self.folder_for(&key, at.account, item, place.layout, at.deadline).await?;
                    remade = true;
                }
                Err(e) => return Err(e),
                Ok(Err(e)) => {
                    // Looked for at once: a reply lost after the create landed is found now.
                    tracing::warn!(workspace = %key.workspace, item = %key.id, error = %e, "the create's outcome is unknown; looking for it");
                    claim.record.stage = Stage::CreateUnknown { since_ms: now_millis(), sent_to: SentTo::at(f) };
                    sent_in_doubt = true;
                }
                Ok(Ok(DocFile { id, url, .. })) => return Ok((Doc { id, url, title }, SentTo::at(f))),
            }
        }
    }

    /// Takes the oldest of the files carrying the item's marker as its doc. More than one
    /// means a create landed after a look had found none: all are this item's, and the
    /// others, empty, go to the trash.
    async fn adopt(
        &self,
        key: &ItemKey,
        account: &Account,
        mut files: Vec<crate::tdoc::DriveEntry>,
        title: String,
        deadline: Deadline,
    ) -> Doc {
        let extra = files.split_off(1);
        let file = files.remove(0);
        tracing::info!(workspace = %key.workspace, item = %key.id, "found the doc an earlier create made; adopting it");
        tracing::debug!(item = %key.id, doc_url = %file.url, "the adopted doc");
        for dup in extra {
            let id = &dup.id;
            let trashed = self
                .tokens
                .call_tdoc(&self.clients, &key.workspace, account, deadline, Repeat::WhileTransient, |tok| async move {
                    self.clients.tdoc.delete_file(&tok, id).await
                })
                .await;
            match trashed {
                Ok(()) => {
                    tracing::warn!(workspace = %key.workspace, item = %key.id, doc_id = %dup.id, "a second doc of the item was made; trashed it")
                }
                Err(e) => {
                    tracing::error!(workspace = %key.workspace, item = %key.id, doc_id = %dup.id, error = %e, "a second doc of the item could not be trashed")
                }
            }
        }
        Doc { id: file.id, url: file.url, title }
    }

    /// One create (a copy of `template`, else a blank doc) into `folder`, never repeated
    /// after a failure that may have acted: that failure is `Ok(Err(_))`, told apart from
    /// the token's (a refresh that failed sent no create). A template that cannot be copied
    /// (gone, not the account's) gives a blank doc, logged.
    async fn make_file(
        &self,
        key: &ItemKey,
        account: &Account,
        file: NewFile<'_>,
        deadline: Deadline,
    ) -> Result<Result<DocFile, UpstreamError>, LinkError> {
        let NewFile { title, doc_type, template, folder } = file;
        // Time for the reply and for recording it; without it, a doc would be made and
        // left for the next attempt to find.
        let time_left = || deadline.has_time_for(self.cfg.common.http_timeout);
        if !time_left() {
            return Err(LinkError::NoTimeToCreate);
        }
        let template = match template {
            Some(source) if self.cfg.common.tdoc_owner == DocOwner::App => {
                match self.template_is_own(&key.workspace, account, source, deadline).await? {
                    Ok(()) => Some(source),
                    Err(why) => {
                        // A blank doc, not a refused item: the item still gets its doc, and
                        // the workspace's trail says why it is not the template (docs/security.md).
                        tracing::warn!(workspace = %key.workspace, item = %key.id, reason = %why, "the template is not the workspace's own; creating a blank doc");
                        let what =
                            format!("template {source} not used for item {}: {why}; a blank doc was made", key.id);
                        if let Err(e) = self.clients.store.audit(&key.workspace, "tapd-webhook", &what).await {
                            tracing::warn!(workspace = %key.workspace, error = %e, "the refused template could not be recorded");
                        }
                        None
                    }
                }
            }
            other => other,
        };
        if let Some(source) = template {
            let copied = self
                .tokens
                .call_tdoc(
                    &self.clients,
                    &key.workspace,
                    account,
                    deadline,
                    Repeat::UnlessMayHaveActed,
                    |tok| async move { in_doubt(self.clients.tdoc.copy_file(&tok, source, title, folder).await) },
                )
                .await;
            match copied {
                Err(LinkError::Upstream(e @ UpstreamError::Refused { .. })) => {
                    tracing::warn!(workspace = %key.workspace, template = source, error = %e, "the template cannot be copied; creating a blank doc");
                    if !time_left() {
                        return Err(LinkError::NoTimeToCreate);
                    }
                }
                other => return other,
            }
        }
        self.tokens
            .call_tdoc(&self.clients, &key.workspace, account, deadline, Repeat::UnlessMayHaveActed, |tok| async move {
                in_doubt(self.clients.tdoc.create_file(&tok, title, doc_type, folder).await)
            })
            .await
    }

    /// Records a just-created doc, retrying a failed write while the deadline allows (a
    /// record lost anyway leaves the doc for the next attempt's look to find).
    async fn record_doc(&self, claim: &mut Claim, doc: Doc, sent_to: SentTo, at: Attempt<'_>) -> Result<(), LinkError> {
        let (mut tries, deadline) = (0, at.deadline);
        loop {
            match self.clients.store.record_doc(claim, doc.clone(), &sent_to, at.account).await {
                Err(StoreError::Unavailable(_))
                    if tries < BACKOFF_MS.len() && deadline.has_time_for(Duration::from_millis(BACKOFF_MS[tries])) =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(BACKOFF_MS[tries])).await;
                    tries += 1;
                }
                Err(e) => {
                    let key = &claim.record.key;
                    tracing::error!(workspace = %key.workspace, item = %key.id, error = %e, "a created doc could not be recorded; the next attempt looks for it");
                    tracing::debug!(item = %key.id, doc_url = %doc.url, "the unrecorded doc");
                    // The doc may exist under the marker: the next attempt must look.
                    claim.record.stage = Stage::CreateUnknown { since_ms: now_millis(), sent_to };
                    return Err(e.into());
                }
                Ok(()) => return Ok(()),
            }
        }
    }

    /// The doc's card (its first block, linking back to the item: [`card`]) and its
    /// permission, side by side. After a lost reply or in a resumed attempt, the doc is read
    /// first and the card written only where the read says ([`card::plan`]). A refusal that
    /// retrying will not fix (a doc type without text) is logged and treated as done; a dead
    /// token is not a refusal (it was refreshed, or the workspace needs reconnecting).
    async fn write_doc(
        &self,
        key: &ItemKey,
        doc: &Doc,
        item: &TapdItem,
        names: Option<card::CardNames>,
        at: Attempt<'_>,
    ) -> Result<(), LinkError> {
        let place = self.placement(&key.workspace).await?;
        let id = &doc.id;
        let write = async {
            // The names a card shows; should TAPD not answer them now, the card shows the
            // status key and no iteration, and the next change shows the names.
            let read = match names {
                Some(names) => Ok(names),
                None => self.card_names(key, item, at.deadline).await.map(|(n, _)| n),
            };
            let names = match read {
                Ok(names) => names,
                Err(e) => {
                    tracing::warn!(workspace = %key.workspace, item = %key.id, error = %e, "the card's names could not be read; showing the keys");
                    card::CardNames { status: item.status.clone(), iteration: None }
                }
            };
            let shown = card::card_fields(&place.intro_fields);
            let text = card::card_text(place.language, key, item, &self.item_url(key), &names, shown);
            let description = html_to_text(&item.description, intro::DESCRIPTION_MAX_CHARS);
            let fresh = card::creation_text(place.language, &text, &description, &place.intro_fields);
            let write = card::CardWrite { card: &text, fresh: &fresh, description: &description };
            let first = if at.resumed { card::FirstTry::Read } else { card::FirstTry::Blind };
            self.write_card(key, at.account, doc, &write, first, at.deadline).await.map(|_| ())
        };
        let share = async {
            let Some(policy) = self.placement(&key.workspace).await?.permission else { return Ok(()) };
            self.tokens
                .call_tdoc(
                    &self.clients,
                    &key.workspace,
                    at.account,
                    at.deadline,
                    Repeat::WhileTransient,
                    |tok| async move { self.clients.tdoc.set_permission(&tok, id, policy.as_str()).await },
                )
                .await
        };
        let (written, shared) = tokio::join!(write, share);
        for (what, result) in [("the doc's card", written), ("the doc's permission", shared)] {
            leave_refused(what, result)?;
        }
        Ok(())
    }

    /// The doc's real title, in place of the provisional one that carries the item's marker.
    /// Only once the doc is on record: from then on no look needs the marker to find it.
    async fn retitle(&self, key: &ItemKey, doc: &Doc, at: Attempt<'_>) -> Result<(), LinkError> {
        let (id, title) = (&doc.id, &doc.title);
        let renamed = self
            .tokens
            .call_tdoc(
                &self.clients,
                &key.workspace,
                at.account,
                at.deadline,
                Repeat::WhileTransient,
                |tok| async move { self.clients.tdoc.rename_file(&tok, id, title).await },
            )
            .await;
        leave_refused("the doc's title", renamed)
    }

    /// From a doc made (or found) to `Done`: whatever can go side by side does.
    ///
    /// - The card and the permission start at once ([`Self::write_doc`]): a resumed attempt
    ///   reads the doc before writing a card, and until the doc is on record its provisional
    ///   title carries the marker, so an attempt that dies here leaves a doc the next one adopts.
    /// - Beside them, the doc is put on record (when just made: a DynamoDB write, a few ms), and
    ///   only then renamed and linked in the comment (after the custom field, when one is set).
    ///   Renamed before it, a doc whose record was lost could not be found by its marker and a
    ///   second would be made; commented before it, the comment could name a doc a later look
    ///   finds to be a second one (and trashes). The comment is found again, not posted twice,
    ///   by any later attempt ([`Self::post_comment`]).
    /// - `Done`, with the comment's id, once all of that landed. The rename is not beside it: a
    ///   `Done` recorded with the rename lost would keep the provisional title, with nothing
    ///   left to retry it.
    ///
    /// Whatever fails, what landed is what the next attempt finds: the doc on record (or in
    /// doubt, looked for), the card and the title written (`DocWritten`, recorded as it lets
    /// go) or read back, the comment looked for.
    async fn finish(
        &self,
        claim: &mut Claim,
        doc: Doc,
        recorded: Option<SentTo>,
        item: &TapdItem,
        names: Option<card::CardNames>,
        at: Attempt<'_>,
    ) -> Result<(), LinkError> {
        let key = claim.record.key.clone();
        let commented = async {
            if let Some(field) = &self.cfg.link.doc_url_field {
                let (url, f, k) = (&doc.url, field.as_str(), &key);
                self.tokens
                    .call_tapd(&self.clients, at.deadline, |tok| async move {
                        self.clients.tapd.update_field(&tok, &k.workspace, k.kind, &k.id, f, url).await
                    })
                    .await?;
            }
            self.post_comment(&key, &doc, at).await
        };
        let on_record = async {
            if let Some(sent_to) = recorded {
                self.record_doc(claim, doc.clone(), sent_to, at).await?;
            }
            let (titled, commented) = tokio::join!(self.retitle(&key, &doc, at), commented);
            titled.map(|()| commented)
        };
        let (on_record, written) = tokio::join!(on_record, Box::pin(self.write_doc(&key, &doc, item, names, at)));
        // The record first: without it (`CreateUnknown`, or the claim lost) nothing else counts.
        let commented = on_record?;
        written?;
        // Not recorded on its own: an attempt that fails from here says so as it lets go, and
        // the next one goes straight to the comment (found, if it landed).
        claim.record.stage = Stage::DocWritten { doc: doc.clone() };
        let comment_id = commented?;
        self.clients.store.record_done(claim, doc, &comment_id).await?;
        Ok(())
    }

    /// Posts the item's comment unless one naming the doc is there, then records `Done`.
    /// TAPD takes no idempotency key, so whenever an earlier post may have landed, the
    /// comments are read first (every page): after a previous attempt (it may have died
    /// after posting), and before any retry within this one (a timeout, a reset or a `5xx`
    /// does not say whether TAPD acted on the post). A first try of a first attempt spends
    /// no extra call.
    async fn comment(&self, claim: &mut Claim, doc: Doc, at: Attempt<'_>) -> Result<(), LinkError> {
        let key = claim.record.key.clone();
        let comment_id = self.post_comment(&key, &doc, at).await?;
        self.clients.store.record_done(claim, doc, &comment_id).await?;
        Ok(())
    }

    /// Posts the comment (or finds the one an earlier try posted); its id.
    async fn post_comment(&self, key: &ItemKey, doc: &Doc, at: Attempt<'_>) -> Result<String, LinkError> {
        let html = comment_html(self.placement(&key.workspace).await?.language, key.kind, &doc.url, &doc.title);
        let look_first = std::sync::atomic::AtomicBool::new(at.resumed);
        let (html, look_first, author, url) = (&html, &look_first, &self.cfg.link.comment_author, &doc.url);
        let k = key;
        self.tokens
            .call_tapd(&self.clients, at.deadline, |tok| async move {
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

    async fn fetch_item(&self, key: &ItemKey, deadline: Deadline) -> Result<TapdItem, LinkError> {
        self.tokens
            .call_tapd(&self.clients, deadline, |tok| async move {
                self.clients.tapd.get_item(&tok, &key.workspace, key.kind, &key.id).await
            })
            .await?
            .ok_or(LinkError::ItemNotFound)
    }
}
