//! One record per TAPD item: its doc's lifecycle ([`Stage`]), worked on under claims
//! (conditional writes, an in-progress claim that lapses at the claimant's deadline).
//!
//! Pending records carry `gsi1pk = PENDING` and `gsi1sk = <next attempt ms>#<pk>`, so the
//! scheduled run finds the items that are due, soonest first, through the sparse `pending`
//! index, and an item backing off after a failure costs no read until it is due.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{Item, Store, StoreError, applied, get_n, get_s, n, s};
use crate::ids::{ItemId, ItemKind, WorkspaceId};
use crate::reason::Reason;
use crate::time::now_millis;

pub(crate) const SK: &str = "LINK";
pub(crate) const PENDING: &str = "PENDING";
/// A given-up item's `status`. Versions before 2026-12-04 wrote `failed`: read as the same.
pub(crate) const GIVEN_UP: &str = "given_up";
pub(crate) const LEGACY_GIVEN_UP: &str = "failed";
/// `gsi1pk` of given-up items (the sparse given-up list; `gsi1sk` is [`list_key`]).
pub(crate) const GIVEN_UP_LIST: &str = "GIVEN_UP";
/// `gsi1pk` of the items of a workspace linked on a day (Asia/Shanghai), `gsi1sk` when:
/// the console's counts are counts of these lists, a key each, whatever the workspace holds.
pub(crate) fn linked_list(ws: &impl std::fmt::Display, linked_ms: u64) -> String {
    format!("LINKED#{ws}#{}", &crate::time::tapd_time(linked_ms)[..10])
}

/// `gsi1pk` of items deleted in TAPD (`gsi1sk` is [`list_key`]).
pub(crate) const DELETED_LIST: &str = "DELETED";
/// The index of the table's lists, keyed by `gsi1pk` (which list) and `gsi1sk` (the order in
/// it): the due queue ([`PENDING`]), the given-up and deleted items, the connected workspaces.
/// Its name on the table is `pending`, from when the queue was its only list: renaming an
/// index on a live table is a delete and a rebuild, for a word.
pub const LISTS_INDEX: &str = "pending";

/// A TAPD item: workspace, kind and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemKey {
    pub workspace: WorkspaceId,
    pub kind: ItemKind,
    pub id: ItemId,
}

impl ItemKey {
    pub(crate) fn pk(&self) -> String {
        format!("ITEM#{}#{}#{}", self.workspace, self.kind.as_str(), self.id)
    }
}

/// `WORKSPACE/KIND/ID`, as people (the CLI, the console, logs) name an item.
impl std::fmt::Display for ItemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.workspace, self.kind.as_str(), self.id)
    }
}

/// Why a name is not an item's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemKeyError {
    #[error("not WORKSPACE/KIND/ID")]
    Shape,
    #[error("the kind is story, bug or task")]
    Kind,
    #[error("{0}")]
    Part(String),
}

/// `WORKSPACE/KIND/ID`; also `WORKSPACE#KIND#ID`, the stored `ITEM#…` key, or with `:`; the
/// kind in any case.
impl std::str::FromStr for ItemKey {
    type Err = ItemKeyError;
    fn from_str(raw: &str) -> Result<Self, ItemKeyError> {
        let body = raw.trim().strip_prefix("ITEM#").unwrap_or(raw.trim());
        let parts: Vec<&str> = body.split(['/', '#', ':']).collect();
        let [ws, kind, id] = parts.as_slice() else { return Err(ItemKeyError::Shape) };
        Ok(ItemKey {
            workspace: WorkspaceId::parse(ws).map_err(|e| ItemKeyError::Part(e.to_string()))?,
            kind: ItemKind::parse(&kind.to_ascii_lowercase()).ok_or(ItemKeyError::Kind)?,
            id: ItemId::parse(id).map_err(|e| ItemKeyError::Part(e.to_string()))?,
        })
    }
}

/// A Tencent Doc as the record knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub id: String,
    pub url: String,
    pub title: String,
}

/// Where an item's doc is in its life. Each step takes the stage it needs and records the
/// next one conditionally on the claim; what a stage has, it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Claimed; nothing upstream is on record yet, and no create is in doubt.
    New,
    /// A create (or template copy) was sent and its outcome is unknown (its reply was lost,
    /// or the attempt died around it), since `since_ms`: the doc may exist under the item's
    /// [`ItemRecord::marker`], and is looked for before anything is made: where the create
    /// was sent, and where the item belongs now if that has changed since.
    CreateUnknown { since_ms: u64, sent_to: SentTo },
    /// The doc exists and is on record; its first paragraph is not written yet.
    DocCreated { doc: Doc },
    /// The first paragraph (and the permission) are written.
    DocWritten { doc: Doc },
    /// The item's custom field holds the doc's URL (only with `TAPD_DOC_URL_FIELD`).
    FieldSet { doc: Doc },
    /// The comment is on the item: the item is linked.
    Done { doc: Doc, comment_id: String },
    /// Retried until `GIVE_UP_AFTER`, or failed in a way retrying cannot mend; a new
    /// delivery (or `tapdocs redrive`) starts it again.
    GivenUp { reason: Reason, doc: Option<Doc> },
}

/// Where a create in doubt was sent: the folder a look must read even if the item's
/// folder has changed since (another layout, another iteration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentTo {
    /// Not on record: the attempt died before it could say (looked for where the item
    /// belongs now).
    Unrecorded,
    /// The account's root.
    Root,
    Folder(String),
}

impl SentTo {
    /// `folder` as the clients take it (`None` is the root).
    pub fn at(folder: Option<&str>) -> Self {
        folder.map_or(SentTo::Root, |f| SentTo::Folder(f.to_owned()))
    }

    /// The folder as the clients take it, when on record.
    pub fn folder(&self) -> Option<Option<&str>> {
        match self {
            SentTo::Unrecorded => None,
            SentTo::Root => Some(None),
            SentTo::Folder(f) => Some(Some(f)),
        }
    }

    pub(super) fn to_attr(&self) -> Option<String> {
        match self {
            SentTo::Unrecorded => None,
            SentTo::Root => Some(SENT_TO_ROOT.to_owned()),
            SentTo::Folder(f) => Some(format!("{SENT_TO_FOLDER}{f}")),
        }
    }

    pub(super) fn from_attr(attr: Option<&str>) -> Self {
        match attr {
            Some(SENT_TO_ROOT) => SentTo::Root,
            Some(a) => a.strip_prefix(SENT_TO_FOLDER).map_or(SentTo::Unrecorded, |f| SentTo::Folder(f.to_owned())),
            None => SentTo::Unrecorded,
        }
    }
}

const SENT_TO_ROOT: &str = "root";
const SENT_TO_FOLDER: &str = "folder:";

impl ItemRecord {
    /// Its place in the given-up and deleted lists.
    pub(crate) fn list_key(&self) -> String {
        list_key(&self.key.workspace, self.first_seen_ms, &self.key.pk())
    }
}

impl Stage {
    pub fn doc(&self) -> Option<&Doc> {
        match self {
            Stage::New | Stage::CreateUnknown { .. } => None,
            Stage::DocCreated { doc }
            | Stage::DocWritten { doc }
            | Stage::FieldSet { doc }
            | Stage::Done { doc, .. } => Some(doc),
            Stage::GivenUp { doc, .. } => doc.as_ref(),
        }
    }

    pub fn is_pending(&self) -> bool {
        !matches!(self, Stage::Done { .. } | Stage::GivenUp { .. })
    }

    /// The `status` attribute: what the operator CLI and the index see.
    pub fn status(&self) -> &'static str {
        match self {
            Stage::Done { .. } => "done",
            Stage::GivenUp { .. } => GIVEN_UP,
            _ => "pending",
        }
    }
}

/// One line of an item's history: what an attempt ended in, or what a person did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// ms.
    pub at_ms: u64,
    pub what: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// An attempt linked the item.
    Linked,
    /// An attempt failed; the item waits.
    Waiting(Reason),
    /// An attempt failed and the item was given up.
    GivenUp(Reason),
    /// TAPD deleted the item (and the delivery was believed).
    Deleted,
    /// A person retried it (their name as the audit gives it).
    Retried { by: String },
    /// The doc's card was written to show the item as TAPD showed it (`link::card`).
    CardWritten,
    /// A change was reported but the card could not be written (the next change tries again).
    CardFailed(Reason),
}

impl EventKind {
    fn write(&self, at_ms: u64) -> AttributeValue {
        let mut m = HashMap::from([("at".to_owned(), n(at_ms))]);
        let (ev, why, by) = match self {
            EventKind::Linked => ("linked", None, None),
            EventKind::Waiting(r) => ("waiting", Some(r.code()), None),
            EventKind::GivenUp(r) => ("given_up", Some(r.code()), None),
            EventKind::Deleted => ("deleted", None, None),
            EventKind::Retried { by } => ("retried", None, Some(by.chars().take(200).collect::<String>())),
            EventKind::CardWritten => ("card", None, None),
            EventKind::CardFailed(r) => ("card_failed", Some(r.code()), None),
        };
        m.insert("ev".into(), s(ev));
        if let Some(why) = why {
            m.insert("why".into(), s(why));
        }
        if let Some(by) = by {
            m.insert("by".into(), s(by));
        }
        AttributeValue::L(vec![AttributeValue::M(m)])
    }

    fn read(m: &Item) -> Option<Event> {
        let why = || get_s(m, "why").and_then(Reason::parse).unwrap_or(Reason::Other);
        let what = match get_s(m, "ev")? {
            "linked" => EventKind::Linked,
            "waiting" => EventKind::Waiting(why()),
            "given_up" => EventKind::GivenUp(why()),
            "deleted" => EventKind::Deleted,
            "retried" => EventKind::Retried { by: get_s(m, "by").unwrap_or_default().to_owned() },
            "card" => EventKind::CardWritten,
            "card_failed" => EventKind::CardFailed(why()),
            _ => return None,
        };
        Some(Event { at_ms: get_n(m, "at")?, what })
    }
}

/// The history an item keeps on its own record (appended in the same write as the change it
/// tells of, so the two never disagree), newest last; pages show the latest [`HISTORY_SHOWN`].
pub(super) const HISTORY: &str = "hist = list_append(if_not_exists(hist, :nil), :ev)";
pub const HISTORY_SHOWN: usize = 50;

pub(super) fn history_values(kind: &EventKind, at_ms: u64) -> [(&'static str, AttributeValue); 2] {
    [(":nil", AttributeValue::L(Vec::new())), (":ev", kind.write(at_ms))]
}

/// What the table knows about one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    pub key: ItemKey,
    pub stage: Stage,
    /// Attempts so far (information only: retries are bounded by age).
    pub attempts: u32,
    /// When the item was first seen, ms.
    pub first_seen_ms: u64,
    /// Since when it has been pending without a break (reset when a given-up item is
    /// started again), ms: `GIVE_UP_AFTER` counts from here.
    pub pending_since_ms: u64,
    /// Why the last attempt failed, if it did: the error as logged (for logs and the CLI).
    pub last_error: Option<String>,
    /// Why the item waits or was given up, typed (stored as its code; records written before
    /// reasons were typed are read from their `last_error` once, [`Reason::legacy`]).
    pub reason: Option<Reason>,
    /// When a waiting item is due next (ms), as the due queue holds it.
    pub next_try_ms: Option<u64>,
    /// Its attempts' outcomes and what people did, oldest first (none on older records).
    pub history: Vec<Event>,
    /// The item was deleted in TAPD (`*::delete`).
    pub deleted: bool,
    /// A delete delivery TAPD did not confirm (the item was still there), and why: nothing
    /// was changed for it.
    pub delete_refused: Option<String>,
    /// The item's own mark, random, made at its first claim and kept: every create for the
    /// item carries it in the provisional title, so a look in the folder finds the doc this
    /// item's create made and no other (empty only on rows never claimed).
    pub marker: String,
    /// Since when TAPD has had no such item, from the first read that found none (records
    /// written before 2026-12-07 have none): a second read after a short wait that still finds
    /// none gives the item up.
    pub absent_since_ms: Option<u64>,
    /// Where its doc is (close-out).
    pub place: super::doc_place::DocPlace,
    /// The doc's card: when it was last written, and whether a change waits for it.
    pub card: CardState,
    /// The Tencent Docs user its doc was made as (none: the app account, or a record from
    /// before 2026-12-08). After a reconnect to another account the doc is still that one's.
    pub doc_open_id: Option<crate::ids::OpenId>,
}

/// What the record keeps of an item's card (`link::card`). The card itself is recognised in
/// the doc, never from here: this only paces rewrites (one per window) and says that one is owed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CardState {
    /// When the card was last written (ms); `None` before the first (docs made before the card).
    pub written_at_ms: Option<u64>,
    /// When a change was reported that no write has shown yet (ms): a delivery that found the
    /// item busy sets it, and the claim's holder writes again before letting go.
    pub stale_since_ms: Option<u64>,
    /// When a follow-up of the doc is due for the scheduled run (`store::follows`), if one
    /// is queued.
    pub follow_at_ms: Option<u64>,
}

/// Proof of holding an item until `until_ms`: every write is conditional on it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub owner: String,
    pub until_ms: u64,
    pub record: ItemRecord,
}

#[derive(Debug)]
pub enum ClaimOutcome {
    Claimed(Claim),
    /// Linked already: nothing to create.
    Settled(ItemRecord),
    /// A live instance holds it; it will finish or its claim will lapse.
    Busy,
}

/// A pending item that is due, as the scheduled run sees it.
#[derive(Debug, Clone)]
pub struct DueItem {
    pub key: ItemKey,
    pub claim_until_ms: u64,
    pub pending_since_ms: u64,
}

pub(crate) fn parse_item(item: &Item) -> Result<ItemRecord, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("item record: {what}"));
    let key = ItemKey {
        workspace: get_s(item, "ws").and_then(|w| WorkspaceId::parse(w).ok()).ok_or_else(|| corrupt("ws"))?,
        kind: get_s(item, "kind").and_then(ItemKind::parse).ok_or_else(|| corrupt("kind"))?,
        id: get_s(item, "item_id").and_then(|i| ItemId::parse(i).ok()).ok_or_else(|| corrupt("item_id"))?,
    };
    let flag = |name: &str| item.get(name).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
    let doc = match (get_s(item, "doc_id"), get_s(item, "doc_url")) {
        (Some(id), Some(url)) => Some(Doc {
            id: id.to_owned(),
            url: url.to_owned(),
            title: get_s(item, "doc_title").unwrap_or_default().to_owned(),
        }),
        (None, None) => None,
        _ => return Err(corrupt("a doc id without its URL")),
    };
    let last_error = get_s(item, "last_error").map(str::to_owned);
    let reason =
        get_s(item, "reason_code").and_then(Reason::parse).or_else(|| last_error.as_deref().map(Reason::legacy));
    let next_try_ms = (get_s(item, "gsi1pk") == Some(PENDING))
        .then(|| get_s(item, "gsi1sk").and_then(|k| k.split('#').next()).and_then(|ms| ms.parse().ok()))
        .flatten();
    // An attempt that ended without letting go (killed, or its last write failed) may
    // have sent a create: its claim's deadline is kept by the next claim.
    let interrupted = get_n(item, "prev_claim_until").filter(|&t| t > 0);
    // The later of the two: a create sent after an earlier doubt began settles from then.
    let unknown_since = get_n(item, "create_unknown_since").max(interrupted);
    let stage = match (get_s(item, "status"), doc) {
        (Some("done"), Some(doc)) => {
            let comment_id = get_s(item, "comment_id").ok_or_else(|| corrupt("done without a comment"))?.to_owned();
            Stage::Done { doc, comment_id }
        }
        (Some("done"), None) => return Err(corrupt("done without a doc")),
        (Some(GIVEN_UP | LEGACY_GIVEN_UP), doc) => Stage::GivenUp { reason: reason.unwrap_or(Reason::Other), doc },
        (Some("pending"), None) => match unknown_since {
            Some(since_ms) => {
                Stage::CreateUnknown { since_ms, sent_to: SentTo::from_attr(get_s(item, "create_sent_to")) }
            }
            None => Stage::New,
        },
        (Some("pending"), Some(doc)) if flag("field_set") => Stage::FieldSet { doc },
        (Some("pending"), Some(doc)) if flag("doc_written") => Stage::DocWritten { doc },
        (Some("pending"), Some(doc)) => Stage::DocCreated { doc },
        _ => return Err(corrupt("status")),
    };
    let first_seen_ms = get_n(item, "created_at").unwrap_or(0);
    Ok(ItemRecord {
        key,
        stage,
        attempts: get_n(item, "attempts").unwrap_or(0) as u32,
        first_seen_ms,
        pending_since_ms: get_n(item, "pending_since").unwrap_or(first_seen_ms),
        last_error,
        reason,
        next_try_ms,
        history: match item.get("hist") {
            Some(AttributeValue::L(list)) => list.iter().filter_map(|e| EventKind::read(e.as_m().ok()?)).collect(),
            _ => Vec::new(),
        },
        deleted: item.contains_key("deleted_at"),
        marker: get_s(item, "create_marker").unwrap_or_default().to_owned(),
        delete_refused: get_s(item, "delete_refused").map(str::to_owned),
        absent_since_ms: get_n(item, "item_absent_since"),
        place: super::doc_place::parse_place(item),
        card: CardState {
            written_at_ms: get_n(item, "card_at"),
            stale_since_ms: get_n(item, "card_stale"),
            follow_at_ms: get_n(item, "follow_at"),
        },
        doc_open_id: get_s(item, "doc_open_id").and_then(|o| crate::ids::OpenId::parse(o).ok()),
    })
}

/// The `workspace_items` index: a workspace's items, keyed by when each was first seen.
pub const WORKSPACE_ITEMS_INDEX: &str = "workspace_items";

pub(crate) fn workspace_items_pk(ws: &impl std::fmt::Display) -> String {
    format!("ITEMS#{ws}")
}

/// An item's place in the given-up and deleted lists: by workspace, then newest first seen
/// last (a query per workspace is a key range, read backwards for newest first).
pub(crate) fn list_key(ws: &impl std::fmt::Display, first_seen_ms: u64, pk: &str) -> String {
    format!("{ws}#{first_seen_ms:015}#{pk}")
}

/// The pending index's sort key: due time first, so a range query finds what is due.
pub(crate) fn due_key(next_ms: u64, pk: &str) -> String {
    format!("{next_ms:015}#{pk}")
}

fn is_condition_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

impl Store {
    /// Claims an item to link it, until `until_ms` (the invocation's deadline), creating
    /// its record on first sight. A given-up item is started again (its age counts anew).
    pub async fn claim_item(
        &self,
        key: &ItemKey,
        event_id: Option<&str>,
        owner: &str,
        until_ms: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        match self.try_claim(key, event_id, owner, until_ms).await? {
            ClaimOutcome::Settled(record) if matches!(record.stage, Stage::GivenUp { .. }) => {
                self.rearm(key, None).await?;
                match self.try_claim(key, event_id, owner, until_ms).await? {
                    // Someone else finished it meanwhile, or re-armed and holds it.
                    ClaimOutcome::Settled(r) if !matches!(r.stage, Stage::Done { .. }) => Ok(ClaimOutcome::Busy),
                    other => Ok(other),
                }
            }
            other => Ok(other),
        }
    }

    async fn try_claim(
        &self,
        key: &ItemKey,
        event_id: Option<&str>,
        owner: &str,
        until_ms: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        let now = now_millis();
        let pk = key.pk();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, SK)))
            .update_expression(
                "SET claim_owner = :owner, claim_until = :until, attempts = if_not_exists(attempts, :zero) + :one, \
                 created_at = if_not_exists(created_at, :now), pending_since = if_not_exists(pending_since, :now), \
                 #st = if_not_exists(#st, :pending), ws = :ws, kind = :kind, item_id = :id, \
                 event_id = if_not_exists(event_id, :event), gsi1pk = if_not_exists(gsi1pk, :gpk), \
                 gsi1sk = if_not_exists(gsi1sk, :gsk), updated_at = :now, \
                 create_marker = if_not_exists(create_marker, :marker), \
                 prev_claim_until = if_not_exists(claim_until, :zero), \
                 gsi2pk = :wpk, gsi2sk = if_not_exists(gsi2sk, :wsk)",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR (#st = :pending AND (attribute_not_exists(claim_until) OR claim_until < :now))",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":ws", s(key.workspace.as_str()))
            .expression_attribute_values(":kind", s(key.kind.as_str()))
            .expression_attribute_values(":id", s(key.id.as_str()))
            .expression_attribute_values(":event", s(event_id.unwrap_or("")))
            .expression_attribute_values(":gpk", s(PENDING))
            .expression_attribute_values(":gsk", s(due_key(now, &pk)))
            .expression_attribute_values(":marker", s(crate::random::marker()))
            .expression_attribute_values(":wpk", s(workspace_items_pk(&key.workspace)))
            .expression_attribute_values(":wsk", s(due_key(now, &pk)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => {
                let record = parse_item(&out.attributes.unwrap_or_default())?;
                Ok(ClaimOutcome::Claimed(Claim { owner: owner.to_owned(), until_ms, record }))
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let old = match e.into_service_error() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => {
                        c.item
                    }
                    _ => None,
                };
                let old = match old {
                    Some(item) => Some(item),
                    None => self.get_latest(&pk, SK).await?,
                };
                // Our own claim: the SDK retried a write whose first try landed (its reply
                // was lost). Without this, the item would sit claimed by nobody working on it
                // until the deadline.
                if let Some(item) = &old
                    && get_s(item, "claim_owner") == Some(owner)
                    && get_n(item, "claim_until") == Some(until_ms)
                {
                    let record = parse_item(item)?;
                    return Ok(ClaimOutcome::Claimed(Claim { owner: owner.to_owned(), until_ms, record }));
                }
                match old.map(|i| parse_item(&i)).transpose()? {
                    Some(record) if !record.stage.is_pending() => Ok(ClaimOutcome::Settled(record)),
                    _ => Ok(ClaimOutcome::Busy),
                }
            }
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Claims an item that has a record, whatever its stage (a rename or a delete of a
    /// linked item); `Ok(None)` when there is no record yet.
    pub async fn claim_existing(
        &self,
        key: &ItemKey,
        owner: &str,
        until_ms: u64,
    ) -> Result<Option<ClaimOutcome>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&key.pk(), SK)))
            .update_expression("SET claim_owner = :owner, claim_until = :until, updated_at = :now")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(claim_until) OR claim_until < :now)")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_millis()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => {
                let record = parse_item(&out.attributes.unwrap_or_default())?;
                Ok(Some(ClaimOutcome::Claimed(Claim { owner: owner.to_owned(), until_ms, record })))
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let old = match e.into_service_error() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => {
                        c.item
                    }
                    _ => None,
                };
                match old {
                    Some(item) if get_s(&item, "claim_owner") == Some(owner) => {
                        let record = parse_item(&item)?;
                        Ok(Some(ClaimOutcome::Claimed(Claim { owner: owner.to_owned(), until_ms, record })))
                    }
                    Some(_) => Ok(Some(ClaimOutcome::Busy)),
                    None if self.get_latest(&key.pk(), SK).await?.is_some() => Ok(Some(ClaimOutcome::Busy)),
                    None => Ok(None),
                }
            }
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Starts a given-up item again: pending, due now, its age counted from now; `by` is the
    /// person who asked (in the item's history), `None` for a new delivery.
    pub async fn rearm(&self, key: &ItemKey, by: Option<&str>) -> Result<bool, StoreError> {
        let now = now_millis();
        let pk = key.pk();
        let mut req = self.client.update_item().table_name(&self.table).set_key(Some(Self::key(&pk, SK)));
        let set = "SET #st = :pending, pending_since = :now, gsi1pk = :gpk, gsi1sk = :gsk, claim_until = :zero, \
                   updated_at = :now";
        req = match by {
            Some(by) => {
                let [(nil, nv), (ev, evv)] = history_values(&EventKind::Retried { by: by.to_owned() }, now);
                req.update_expression(format!("{set}, {HISTORY} REMOVE claim_owner, item_absent_since"))
                    .expression_attribute_values(nil, nv)
                    .expression_attribute_values(ev, evv)
            }
            None => req.update_expression(format!("{set} REMOVE claim_owner, item_absent_since")),
        };
        let out = req
            .condition_expression("#st IN (:given_up, :legacy)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":given_up", s(GIVEN_UP))
            .expression_attribute_values(":legacy", s(LEGACY_GIVEN_UP))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":gpk", s(PENDING))
            .expression_attribute_values(":gsk", s(due_key(now, &pk)))
            .send()
            .await;
        applied(out)
    }

    pub async fn item(&self, key: &ItemKey) -> Result<Option<ItemRecord>, StoreError> {
        self.get_latest(&key.pk(), SK).await?.map(|i| parse_item(&i)).transpose()
    }

    /// Which of `keys` have a record: a sweep's page in one read per 100 keys (its keys
    /// only), not one per item. Eventually consistent: an item recorded a moment ago may
    /// look unrecorded, and its claim then finds it settled.
    pub async fn recorded(&self, keys: &[ItemKey]) -> Result<std::collections::HashSet<ItemKey>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = std::collections::HashSet::new();
        for chunk in keys.chunks(100) {
            let mut wanted: Vec<HashMap<String, AttributeValue>> =
                chunk.iter().map(|k| Self::key(&k.pk(), SK)).collect();
            // Unprocessed keys (throttling) are asked again, a few times, then it is an error.
            for _ in 0..5 {
                if wanted.is_empty() {
                    break;
                }
                let ask = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut wanted)))
                    .projection_expression("pk")
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ask)
                    .send()
                    .await
                    .map_err(StoreError::sdk)?;
                for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    if let Some(key) = get_s(&item, "pk").and_then(|pk| pk.parse::<ItemKey>().ok()) {
                        found.insert(key);
                    }
                }
                wanted =
                    out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
            }
            if !wanted.is_empty() {
                return Err(StoreError::Unavailable("the table kept some keys of a batch read unprocessed".into()));
            }
        }
        Ok(found)
    }

    /// Records a just-created doc, and the folder it was made in: `New` → `DocCreated`.
    pub async fn record_doc(
        &self,
        claim: &mut Claim,
        doc: Doc,
        home: &SentTo,
        made_as: &super::Account,
    ) -> Result<(), StoreError> {
        let mut values =
            vec![(":id", s(&doc.id)), (":url", s(&doc.url)), (":title", s(&doc.title)), (":now", n(now_millis()))];
        let mut set = String::new();
        if let Some(h) = super::doc_place::home_attr(home) {
            values.push((":home", s(h)));
            set.push_str(", doc_home = :home");
        }
        let mut remove = "";
        match made_as {
            super::Account::User(o) => {
                values.push((":owner", s(o.as_str())));
                set.push_str(", doc_open_id = :owner");
            }
            super::Account::App => remove = ", doc_open_id",
        }
        self.claimed_update(
            claim,
            &format!(
                "SET doc_id = :id, doc_url = :url, doc_title = :title, updated_at = :now{set} \
                 REMOVE create_unknown_since, create_sent_to, item_absent_since, doc_at, doc_moving_to{remove}"
            ),
            values,
        )
        .await?;
        claim.record.doc_open_id = made_as.open_id().cloned();
        claim.record.stage = Stage::DocCreated { doc };
        claim.record.place = super::doc_place::DocPlace { home: home.clone(), ..super::doc_place::DocPlace::default() };
        Ok(())
    }

    /// `DocCreated` (intro written) → `FieldSet`.
    pub async fn record_field_set(&self, claim: &mut Claim, doc: Doc) -> Result<(), StoreError> {
        self.record_step(claim, "field_set", Stage::FieldSet { doc }).await
    }

    /// Sets the step's flag attribute under the claim and moves the claim's stage on.
    async fn record_step(&self, claim: &mut Claim, flag: &str, next: Stage) -> Result<(), StoreError> {
        let expr = format!("SET {flag} = :t, updated_at = :now");
        self.claimed_update(claim, &expr, vec![(":t", AttributeValue::Bool(true)), (":now", n(now_millis()))]).await?;
        claim.record.stage = next;
        Ok(())
    }

    /// Marks the item `Done`, moves it from the queue to the day's list of linked items (the
    /// console counts them there) and lets go of it.
    pub async fn record_done(&self, claim: &mut Claim, doc: Doc, comment_id: &str) -> Result<(), StoreError> {
        let now = now_millis();
        let finished = self
            .claimed_update_old(
                claim,
                &format!(
                    "SET #st = :done, comment_id = :cid, updated_at = :now, gsi1pk = :list, gsi1sk = :lk, {HISTORY} \
                     REMOVE claim_owner, claim_until, last_error, reason_code, item_absent_since"
                ),
                vec![
                    history_values(&EventKind::Linked, now)[0].clone(),
                    history_values(&EventKind::Linked, now)[1].clone(),
                    (":done", s("done")),
                    (":cid", s(comment_id)),
                    (":now", n(now)),
                    (":list", s(linked_list(&claim.record.key.workspace, now))),
                    (":lk", s(due_key(now, &claim.record.key.pk()))),
                ],
            )
            .await;
        match finished {
            // A change was reported while the item was being linked (it was busy): its card
            // may show the item as it was read before; the caller shows it again.
            Ok(old) => claim.record.card.stale_since_ms = old.as_ref().and_then(|o| get_n(o, "card_stale")),
            // The SDK retried a write whose first try landed (its reply was lost): the claim
            // is gone because this very write released it.
            Err(StoreError::LostClaim)
                if self
                    .item(&claim.record.key)
                    .await?
                    .is_some_and(|r| matches!(&r.stage, Stage::Done { comment_id: c, .. } if c == comment_id)) => {}
            Err(e) => return Err(e),
        }
        claim.record.stage = Stage::Done { doc, comment_id: comment_id.to_owned() };
        Ok(())
    }

    /// Lets go of a pending item after a failure, recording why; it is due again at
    /// `next_ms` (a delivery may take it earlier).
    pub async fn release_for_retry(
        &self,
        claim: &Claim,
        reason: Reason,
        error: &str,
        next_ms: u64,
    ) -> Result<(), StoreError> {
        self.release_failed(claim, reason, error, next_ms, None).await
    }

    /// [`Store::release_for_retry`] after a read that found no such item in TAPD, the first
    /// since `since_ms`: the next attempt's read is the second look.
    pub async fn release_absent(
        &self,
        claim: &mut Claim,
        error: &str,
        since_ms: u64,
        next_ms: u64,
    ) -> Result<(), StoreError> {
        self.release_failed(claim, Reason::ItemNotFound, error, next_ms, Some(since_ms)).await?;
        claim.record.absent_since_ms = Some(since_ms);
        Ok(())
    }

    async fn release_failed(
        &self,
        claim: &Claim,
        reason: Reason,
        error: &str,
        next_ms: u64,
        absent_since: Option<u64>,
    ) -> Result<(), StoreError> {
        let error: String = error.chars().take(500).collect();
        let mut values = vec![
            (":err", s(error)),
            (":why", s(reason.code())),
            (":nil", AttributeValue::L(Vec::new())),
            (":ev", EventKind::Waiting(reason).write(now_millis())),
            (":zero", n(0)),
            (":gsk", s(due_key(next_ms, &claim.record.key.pk()))),
            (":now", n(now_millis())),
        ];
        let mut set = format!(
            "SET last_error = :err, reason_code = :why, {HISTORY}, claim_until = :zero, gsi1sk = :gsk, updated_at = :now"
        );
        match &claim.record.stage {
            // A create in doubt stays in doubt until a look settles it.
            Stage::CreateUnknown { since_ms, sent_to } => {
                values.push((":since", n(*since_ms)));
                set.push_str(", create_unknown_since = :since");
                // Not on record: an earlier doubt's folder, kept as it was, is still worth a look.
                if let Some(to) = sent_to.to_attr() {
                    values.push((":to", s(to)));
                    set.push_str(", create_sent_to = :to");
                }
            }
            // Written by this attempt and not yet on record (the happy path records it
            // with the comment): the next attempt does not write it again.
            Stage::DocWritten { .. } => {
                values.push((":t", AttributeValue::Bool(true)));
                set.push_str(", doc_written = :t");
            }
            _ => {}
        }
        if let Some(since) = absent_since {
            values.push((":absent", n(since)));
            set.push_str(", item_absent_since = :absent");
        }
        set.push_str(" REMOVE claim_owner");
        self.claimed_update(claim, &set, values).await
    }

    /// Ends an item's retries with the reason; the doc, if any, stays on record.
    pub async fn give_up(&self, claim: &mut Claim, reason: Reason, detail: &str) -> Result<(), StoreError> {
        let detail: String = detail.chars().take(500).collect();
        self.claimed_update(
            claim,
            "SET last_error = :err, reason_code = :why, hist = list_append(if_not_exists(hist, :nil), :ev), #st = :given_up, claim_until = :zero, updated_at = :now, \
             gsi1pk = :list, gsi1sk = :lk REMOVE claim_owner",
            vec![
                (":err", s(&detail)),
                (":why", s(reason.code())),
                (":nil", AttributeValue::L(Vec::new())),
                (":ev", EventKind::GivenUp(reason).write(now_millis())),
                (":given_up", s(GIVEN_UP)),
                (":zero", n(0)),
                (":now", n(now_millis())),
                (":list", s(GIVEN_UP_LIST)),
                (":lk", s(claim.record.list_key())),
            ],
        )
        .await?;
        let doc = claim.record.stage.doc().cloned();
        claim.record.stage = Stage::GivenUp { reason, doc };
        Ok(())
    }

    /// Lets go of an item without changing its stage (a lifecycle step finished).
    pub async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        self.claimed_update(claim, "SET claim_until = :zero REMOVE claim_owner", vec![(":zero", n(0))]).await
    }

    /// Records the doc's new title (after a rename) and lets go.
    pub async fn record_title(&self, claim: &mut Claim, title: &str) -> Result<(), StoreError> {
        self.claimed_update(
            claim,
            "SET doc_title = :t, claim_until = :zero, updated_at = :now REMOVE claim_owner",
            vec![(":t", s(title)), (":zero", n(0)), (":now", n(now_millis()))],
        )
        .await?;
        if let Stage::Done { doc, .. } = &mut claim.record.stage {
            doc.title = title.to_owned();
        }
        Ok(())
    }

    /// Says a change waits for the item's card (a delivery found the item busy): whoever holds
    /// it writes the card again before letting go ([`Store::record_card`]). Only an existing record.
    pub async fn mark_card_stale(&self, key: &ItemKey) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&key.pk(), SK)))
            .update_expression("SET card_stale = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now_millis()))
            .send()
            .await;
        applied(out).map(|_| ())
    }

    /// Tells the item's history that its card could not be written, and why (under the claim).
    pub async fn record_card_failed(&self, claim: &Claim, reason: Reason) -> Result<(), StoreError> {
        let mut values = history_values(&EventKind::CardFailed(reason), now_millis()).to_vec();
        values.push((":now", n(now_millis())));
        self.claimed_update(claim, &format!("SET {HISTORY}, updated_at = :now"), values).await
    }

    /// After a card rewrite read the item at `read_at_ms`: records what was written (the card,
    /// when `written`; the doc's new title) and lets go, unless a change was reported since
    /// that read (`card_stale` newer): then what was written is recorded, the claim kept, and
    /// `Ok(false)` says to read and write again.
    pub async fn record_card(
        &self,
        claim: &mut Claim,
        written: bool,
        title: Option<&str>,
        read_at_ms: u64,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let mut set = vec!["updated_at = :now"];
        let mut values = vec![(":now", n(now))];
        if written {
            set.push("card_at = :now");
            set.push(HISTORY);
            values.extend(history_values(&EventKind::CardWritten, now));
        }
        if let Some(t) = title {
            set.push("doc_title = :t");
            values.push((":t", s(t)));
        }
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&claim.record.key.pk(), SK)))
            .update_expression(format!("SET {}, claim_until = :zero REMOVE claim_owner, card_stale", set.join(", ")))
            .condition_expression("claim_owner = :me AND (attribute_not_exists(card_stale) OR card_stale < :read)")
            .expression_attribute_values(":me", s(&claim.owner))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":read", n(read_at_ms));
        for (k, v) in &values {
            req = req.expression_attribute_values(*k, v.clone());
        }
        let released = match req.send().await {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => {
                // Still ours (else the claim was lost): a change came after the read.
                self.claimed_update(claim, &format!("SET {}", set.join(", ")), values).await?;
                false
            }
            Err(e) => return Err(StoreError::sdk(e)),
        };
        if written {
            claim.record.card.written_at_ms = Some(now);
        }
        if let (Some(t), Stage::Done { doc, .. }) = (title, &mut claim.record.stage) {
            doc.title = t.to_owned();
        }
        Ok(released)
    }

    /// Records a delete delivery that TAPD did not confirm, with why, and lets go: nothing
    /// else changes.
    pub async fn record_delete_refused(&self, claim: &mut Claim, why: &str) -> Result<(), StoreError> {
        let why: String = why.chars().take(500).collect();
        self.claimed_update(
            claim,
            "SET delete_refused = :why, delete_refused_at = :now, claim_until = :zero REMOVE claim_owner",
            vec![(":why", s(&why)), (":now", n(now_millis())), (":zero", n(0))],
        )
        .await?;
        claim.record.delete_refused = Some(why);
        Ok(())
    }

    /// Records that the item was deleted in TAPD (and whether its doc went to the trash),
    /// ends its retries, and lets go.
    pub async fn record_deleted(&self, claim: &mut Claim, doc_trashed: bool) -> Result<(), StoreError> {
        let now = now_millis();
        let mut expr = format!(
            "SET deleted_at = :now, claim_until = :zero, updated_at = :now, gsi1pk = :list, gsi1sk = :lk, {HISTORY}"
        );
        let [nil, ev] = history_values(&EventKind::Deleted, now);
        let mut values = vec![
            nil,
            ev,
            (":now", n(now)),
            (":zero", n(0)),
            (":list", s(DELETED_LIST)),
            (":lk", s(claim.record.list_key())),
        ];
        if doc_trashed {
            expr.push_str(", doc_trashed = :t");
            values.push((":t", AttributeValue::Bool(true)));
        }
        if claim.record.stage.is_pending() {
            expr.push_str(", #st = :given_up, last_error = :err, reason_code = :why");
            values.push((":given_up", s(GIVEN_UP)));
            values.push((":err", s("the item was deleted in TAPD")));
            values.push((":why", s(Reason::Deleted.code())));
        }
        expr.push_str(" REMOVE claim_owner");
        self.claimed_update(claim, &expr, values).await?;
        claim.record.deleted = true;
        Ok(())
    }

    /// [`Self::claimed_update`], answering the record as it was before the write.
    async fn claimed_update_old(
        &self,
        claim: &Claim,
        expr: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<Item>, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&claim.record.key.pk(), SK)))
            .update_expression(expr)
            .condition_expression("claim_owner = :me")
            .expression_attribute_values(":me", s(&claim.owner))
            .return_values(ReturnValue::AllOld);
        if expr.contains("#st") {
            req = req.expression_attribute_names("#st", "status");
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(out) => Ok(out.attributes),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Err(StoreError::LostClaim),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    pub(super) async fn claimed_update(
        &self,
        claim: &Claim,
        expr: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&claim.record.key.pk(), SK)))
            .update_expression(expr)
            .condition_expression("claim_owner = :me")
            .expression_attribute_values(":me", s(&claim.owner));
        if expr.contains("#st") {
            req = req.expression_attribute_names("#st", "status");
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Err(StoreError::LostClaim),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// How many items are pending, and since when the oldest of them has been (for the
    /// scheduled run's metrics and `tapdocs status`).
    pub async fn pending_stats(&self) -> Result<(u32, Option<u64>), StoreError> {
        self.pending_stats_of(false).await
    }

    /// As [`Store::pending_stats`], without the items of workspaces whose linking is paused:
    /// they wait on purpose, and the alarm on the oldest pending age (`template.yaml`,
    /// `PendingEventsAgeAlarm`) is for items that should be moving. One settings read per
    /// workspace with pending items.
    pub async fn pending_stats_unpaused(&self) -> Result<(u32, Option<u64>), StoreError> {
        self.pending_stats_of(true).await
    }

    async fn pending_stats_of(&self, skip_paused: bool) -> Result<(u32, Option<u64>), StoreError> {
        let (mut count, mut oldest, mut cursor) = (0u32, None::<u64>, None);
        let mut paused: std::collections::HashMap<WorkspaceId, bool> = std::collections::HashMap::new();
        loop {
            let (page, next) = self.pending_page(None, 1000, cursor).await?;
            for p in page {
                if skip_paused {
                    let ws = &p.key.workspace;
                    let is_paused = match paused.get(ws) {
                        Some(known) => *known,
                        None => {
                            let now = self.workspace_settings(ws).await?.paused_since_ms.is_some();
                            paused.insert(ws.clone(), now);
                            now
                        }
                    };
                    if is_paused {
                        continue;
                    }
                }
                count += 1;
                oldest = Some(oldest.map_or(p.pending_since_ms, |o| o.min(p.pending_since_ms)));
            }
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok((count, oldest)),
            }
        }
    }

    /// Pending items due at `now_ms` or before, soonest due first, one page of up to
    /// `limit` after `cursor`; the second value is the cursor of the next page.
    pub async fn due_items(
        &self,
        now_ms: u64,
        limit: i32,
        cursor: Option<Item>,
    ) -> Result<(Vec<DueItem>, Option<Item>), StoreError> {
        self.pending_page(Some(now_ms), limit, cursor).await
    }

    async fn pending_page(
        &self,
        due_by: Option<u64>,
        limit: i32,
        cursor: Option<Item>,
    ) -> Result<(Vec<DueItem>, Option<Item>), StoreError> {
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LISTS_INDEX)
            .expression_attribute_values(":p", s(PENDING))
            .scan_index_forward(true)
            .limit(limit)
            .set_exclusive_start_key(cursor);
        req = match due_by {
            // `~` sorts after every pk, so everything due at `now` is in range.
            Some(now) => req
                .key_condition_expression("gsi1pk = :p AND gsi1sk <= :due")
                .expression_attribute_values(":due", s(format!("{now:015}#~"))),
            None => req.key_condition_expression("gsi1pk = :p"),
        };
        let out = req.send().await.map_err(StoreError::sdk)?;
        let next = out.last_evaluated_key.filter(|k| !k.is_empty());
        let page = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let record = parse_item(item)?;
                Ok(DueItem {
                    key: record.key,
                    claim_until_ms: get_n(item, "claim_until").unwrap_or(0),
                    pending_since_ms: record.pending_since_ms,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((page, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_key_reads_back_its_own_name_and_the_stored_key() {
        let key: ItemKey = "20000001/story/1000123".parse().unwrap();
        assert_eq!(key.to_string(), "20000001/story/1000123");
        assert_eq!(key.pk().parse::<ItemKey>(), Ok(key.clone()));
        assert_eq!("20000001#Story#1000123".parse::<ItemKey>(), Ok(key.clone()));
        assert_eq!("20000001:story:1000123".parse::<ItemKey>(), Ok(key));
        assert_eq!("20000001/epic/1".parse::<ItemKey>(), Err(ItemKeyError::Kind));
        assert_eq!("20000001/story".parse::<ItemKey>(), Err(ItemKeyError::Shape));
        assert!(matches!("abc/story/1".parse::<ItemKey>(), Err(ItemKeyError::Part(_))));
    }
}
