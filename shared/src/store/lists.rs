//! Items as lists, read through indexes and never by a scan of the table:
//!
//! - a workspace's items, newest first (the `workspace_items` index: `gsi2pk = ITEMS#<ws>`,
//!   `gsi2sk = <first seen ms>#<pk>`);
//! - the due queue (`gsi1pk = PENDING`, `gsi1sk = <due ms>#<pk>`), the given-up items
//!   (`GIVEN_UP`) and the items deleted in TAPD (`DELETED`), these two keyed
//!   `<ws>#<first seen ms>#<pk>` so one workspace's are a key range, and the items a workspace
//!   linked each day (`LINKED#<ws>#<yyyy-mm-dd>`), which the console counts (the lists index,
//!   [`LISTS_INDEX`]).
//!
//! The console and `tapdocs` page through the same calls.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;

use super::items::{
    DELETED_LIST, GIVEN_UP, GIVEN_UP_LIST, LEGACY_GIVEN_UP, LISTS_INDEX, PENDING, SK, WORKSPACE_ITEMS_INDEX, due_key,
    list_key, parse_item, workspace_items_pk,
};
use super::{Item, ItemKey, ItemRecord, Store, StoreError, applied, get_n, get_s, n, s};
use crate::ids::WorkspaceId;
use crate::time::now_millis;

/// An item record as an operator sees it: its lifecycle as the linker reads it, and where it
/// is in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemView {
    pub record: ItemRecord,
    /// When a pending item is next due, ms (from the queue's key).
    pub due_ms: Option<u64>,
    /// A live claim's deadline, ms (an instance is working on it until then).
    pub claim_until_ms: Option<u64>,
}

impl ItemView {
    /// The view of a stored item; the reason when the linker could not read it either.
    fn read(item: &Item) -> Result<Self, StoreError> {
        let record = parse_item(item)?;
        let queued = record.stage.is_pending() && get_s(item, "gsi1pk") == Some(PENDING);
        Ok(Self {
            due_ms: get_s(item, "gsi1sk")
                .filter(|_| queued)
                .and_then(|k| k.split('#').next())
                .and_then(|d| d.parse().ok()),
            claim_until_ms: get_n(item, "claim_until").filter(|&until| until > now_millis()),
            record,
        })
    }

    pub fn key(&self) -> &ItemKey {
        &self.record.key
    }
}

/// Items listed, and the rows that could not be read (reported, never dropped unseen).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub items: Vec<ItemView>,
    /// `pk: why` of each unreadable row.
    pub unreadable: Vec<String>,
}

/// Which items `tapdocs` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    Pending,
    GivenUp,
}

/// Pending and given-up counts of one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemCounts {
    pub pending: u32,
    pub given_up: u32,
    /// Since when the oldest pending item has been pending, ms.
    pub oldest_pending_ms: Option<u64>,
}

/// A listed row: the item, or the row's `pk` and why it could not be read.
pub type Row = Result<ItemRecord, (String, String)>;

/// A page of a workspace's items, newest first: each read into the lifecycle type, or the
/// reason it could not be (reported, never dropped).
#[derive(Debug, Default)]
pub struct ItemsPage {
    pub items: Vec<Row>,
    /// Where the next page starts (opaque, URL-safe), if there is one.
    pub next: Option<String>,
}

/// The states a workspace's items are listed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemFilter {
    Linked,
    Waiting,
    GivenUp,
    Deleted,
}

fn encode_cursor(key: &HashMap<String, AttributeValue>) -> String {
    let map: BTreeMap<&str, &str> =
        key.iter().filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str()))).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&map).unwrap_or_default())
}

/// A cursor read back, if it is one of this listing's (`index_pk`'s attribute holding
/// `list`, and the sort key, when `prefix` is given, in the workspace's range): a cursor
/// from another workspace's listing is no cursor here.
fn decode_cursor(raw: &str, pk_attr: &str, list: &str, prefix: Option<&str>) -> Option<Item> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
    let map: HashMap<String, String> = serde_json::from_slice(&bytes).ok()?;
    let sk_attr = pk_attr.replace("pk", "sk");
    let in_range = prefix.is_none_or(|p| map.get(&sk_attr).is_some_and(|k| k.starts_with(p)));
    if map.get(pk_attr).map(String::as_str) != Some(list) || !in_range || map.len() != 4 {
        return None;
    }
    Some(map.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

fn read_page(items: &[Item]) -> Vec<Row> {
    items.iter().map(|i| parse_item(i).map_err(|e| (get_s(i, "pk").unwrap_or("?").to_owned(), e.to_string()))).collect()
}

fn ws_range(ws: &WorkspaceId) -> (String, String) {
    (format!("{ws}#"), format!("{ws}#~"))
}

impl Store {
    /// A page of the workspace's items, newest first, from `cursor` (`None`: the first), all
    /// or of one state: each through an index holding just those (the linked ones, nearly all
    /// of them, through the workspace's own with a filter).
    pub async fn workspace_items(
        &self,
        ws: &WorkspaceId,
        limit: i32,
        cursor: Option<&str>,
        filter: Option<ItemFilter>,
    ) -> Result<ItemsPage, StoreError> {
        match filter {
            None | Some(ItemFilter::Linked) => {
                let mut req = self.workspace_index_page(ws, limit, cursor);
                if filter.is_some() {
                    req = req
                        .filter_expression("#st = :done AND attribute_not_exists(deleted_at)")
                        .expression_attribute_names("#st", "status")
                        .expression_attribute_values(":done", s("done"));
                }
                let out = req.send().await.map_err(StoreError::sdk)?;
                let next = out.last_evaluated_key.as_ref().filter(|k| !k.is_empty()).map(encode_cursor);
                Ok(ItemsPage { items: read_page(out.items()), next })
            }
            Some(ItemFilter::GivenUp) => self.list_page(GIVEN_UP_LIST, ws, limit, cursor).await,
            Some(ItemFilter::Deleted) => self.list_page(DELETED_LIST, ws, limit, cursor).await,
            Some(ItemFilter::Waiting) => self.waiting_page(ws, limit, cursor).await,
        }
    }

    /// A query of the workspace's own index, newest first, `limit` read, from `cursor`.
    fn workspace_index_page(
        &self,
        ws: &WorkspaceId,
        limit: i32,
        cursor: Option<&str>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let pk = workspace_items_pk(ws);
        self.client
            .query()
            .table_name(&self.table)
            .index_name(WORKSPACE_ITEMS_INDEX)
            .key_condition_expression("gsi2pk = :p")
            .expression_attribute_values(":p", s(&pk))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(cursor.and_then(|c| decode_cursor(c, "gsi2pk", &pk, None)))
    }

    /// A page of the workspace's items whose doc title holds every one of `words` (as
    /// written: DynamoDB's `contains` is case-sensitive), newest first, of one state or all,
    /// from `cursor`: through the workspace's own index with a filter, never a scan. A page
    /// may hold fewer than `limit` (the filter runs after the read); `next` goes on.
    pub async fn search_titles(
        &self,
        ws: &WorkspaceId,
        words: &[String],
        state: Option<ItemFilter>,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<ItemsPage, StoreError> {
        let mut filter: Vec<String> = (0..words.len()).map(|i| format!("contains(doc_title, :w{i})")).collect();
        // The filter runs after the read: read more than a page's worth per request.
        let mut req = self.workspace_index_page(ws, limit.saturating_mul(4).min(400), cursor);
        for (i, w) in words.iter().enumerate() {
            req = req.expression_attribute_values(format!(":w{i}"), s(w));
        }
        let live = "#st = :st AND attribute_not_exists(deleted_at)";
        let (by_state, st) = match state {
            None => (None, None),
            Some(ItemFilter::Linked) => (Some(live), Some("done")),
            Some(ItemFilter::Waiting) => (Some(live), Some("pending")),
            Some(ItemFilter::GivenUp) => (Some(live), Some(GIVEN_UP)),
            Some(ItemFilter::Deleted) => (Some("attribute_exists(deleted_at)"), None),
        };
        filter.extend(by_state.map(str::to_owned));
        if let Some(st) = st {
            req = req.expression_attribute_names("#st", "status").expression_attribute_values(":st", s(st));
        }
        if !filter.is_empty() {
            req = req.filter_expression(filter.join(" AND "));
        }
        let out = req.send().await.map_err(StoreError::sdk)?;
        let next = out.last_evaluated_key.as_ref().filter(|k| !k.is_empty()).map(encode_cursor);
        Ok(ItemsPage { items: read_page(out.items()), next })
    }

    /// A page of one of the workspace-keyed lists (given up, deleted), newest first.
    async fn list_page(
        &self,
        list: &str,
        ws: &WorkspaceId,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<ItemsPage, StoreError> {
        let (from, to) = ws_range(ws);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LISTS_INDEX)
            .key_condition_expression("gsi1pk = :l AND gsi1sk BETWEEN :from AND :to")
            .expression_attribute_values(":l", s(list))
            .expression_attribute_values(":from", s(&from))
            .expression_attribute_values(":to", s(to))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(cursor.and_then(|c| decode_cursor(c, "gsi1pk", list, Some(&from))))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let next = out.last_evaluated_key.as_ref().filter(|k| !k.is_empty()).map(encode_cursor);
        Ok(ItemsPage { items: read_page(out.items()), next })
    }

    /// The workspace's waiting items, newest first, a page after `cursor`: the queue holds
    /// every workspace's by due time, so the workspace's are read whole (a backlog, not its
    /// history) and paged here.
    async fn waiting_page(&self, ws: &WorkspaceId, limit: i32, cursor: Option<&str>) -> Result<ItemsPage, StoreError> {
        let before = cursor.and_then(|c| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok()?;
            let key = String::from_utf8(bytes).ok()?;
            key.starts_with(&format!("{ws}#")).then_some(key)
        });
        let mut rows: Vec<(String, Row)> = self
            .queued_of(Some(ws))
            .await?
            .iter()
            .map(|i| {
                let read = read_page(std::slice::from_ref(i)).remove(0);
                let order = match &read {
                    Ok(r) => r.list_key(),
                    Err(_) => format!("{ws}#~{}", get_s(i, "pk").unwrap_or("?")),
                };
                (order, read)
            })
            .filter(|(order, _)| before.as_ref().is_none_or(|b| order < b))
            .collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0));
        let limit = usize::try_from(limit.max(1)).unwrap_or(1);
        let next = (rows.len() > limit)
            .then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rows[limit - 1].0.as_bytes()));
        rows.truncate(limit);
        Ok(ItemsPage { items: rows.into_iter().map(|(_, r)| r).collect(), next })
    }

    /// Every queued (pending) record, of one workspace or all.
    async fn queued_of(&self, ws: Option<&WorkspaceId>) -> Result<Vec<Item>, StoreError> {
        let mut q = self.list_query(PENDING);
        if let Some(ws) = ws {
            q = q.filter_expression("ws = :ws").expression_attribute_values(":ws", s(ws.as_str()));
        }
        self.query_all(q).await
    }

    /// How many of the workspace's items first seen since `since_ms` are given up (not
    /// deleted): a count over the given-up list's key range, nothing else read.
    pub async fn given_up_since(&self, ws: &WorkspaceId, since_ms: u64) -> Result<u64, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LISTS_INDEX)
            .key_condition_expression("gsi1pk = :l AND gsi1sk BETWEEN :from AND :to")
            .expression_attribute_values(":l", s(GIVEN_UP_LIST))
            .expression_attribute_values(":from", s(format!("{ws}#{since_ms:015}")))
            .expression_attribute_values(":to", s(ws_range(ws).1));
        self.count_all(q).await
    }

    /// How many of the workspace's items were linked on `day` (`yyyy-mm-dd`, Asia/Shanghai) and
    /// are linked still: a count of that day's list.
    pub async fn linked_on(&self, ws: &WorkspaceId, day_ms: u64) -> Result<u64, StoreError> {
        self.count_all(self.list_query(&super::items::linked_list(ws, day_ms))).await
    }

    /// The workspace's waiting items (its part of the queue).
    pub async fn waiting_of(&self, ws: &WorkspaceId) -> Result<Vec<ItemRecord>, StoreError> {
        Ok(self.queued_of(Some(ws)).await?.iter().filter_map(|i| parse_item(i).ok()).collect())
    }

    /// Every item of a status (optionally of one workspace), oldest pending first for
    /// pending items, from the queue or the given-up list. `progress` is called with the
    /// number of records read so far.
    pub async fn items_with_status(
        &self,
        status: ItemStatus,
        ws: Option<&WorkspaceId>,
        mut progress: impl FnMut(u64),
    ) -> Result<Listing, StoreError> {
        let mut out = Listing::default();
        let rows = match status {
            ItemStatus::Pending => self.queued_of(ws).await?,
            ItemStatus::GivenUp => {
                let q = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(LISTS_INDEX)
                    .expression_attribute_values(":l", s(GIVEN_UP_LIST));
                let q = match ws {
                    Some(ws) => {
                        let (from, to) = ws_range(ws);
                        q.key_condition_expression("gsi1pk = :l AND gsi1sk BETWEEN :from AND :to")
                            .expression_attribute_values(":from", s(from))
                            .expression_attribute_values(":to", s(to))
                    }
                    None => q.key_condition_expression("gsi1pk = :l"),
                };
                self.query_all(q).await?
            }
        };
        progress(rows.len() as u64);
        for item in &rows {
            match ItemView::read(item) {
                Ok(view) => out.items.push(view),
                Err(e) => out.unreadable.push(format!("{}: {e}", get_s(item, "pk").unwrap_or("?"))),
            }
        }
        out.items.sort_by_key(|v| (v.record.pending_since_ms, v.key().pk()));
        Ok(out)
    }

    /// Pending and given-up counts per workspace (the queue and the given-up list).
    pub async fn item_counts(&self) -> Result<BTreeMap<WorkspaceId, ItemCounts>, StoreError> {
        let mut counts: BTreeMap<WorkspaceId, ItemCounts> = BTreeMap::new();
        for item in self.items_with_status(ItemStatus::Pending, None, |_| {}).await?.items {
            let since = item.record.pending_since_ms;
            let c = counts.entry(item.key().workspace.clone()).or_default();
            c.pending += 1;
            c.oldest_pending_ms = Some(c.oldest_pending_ms.map_or(since, |o| o.min(since)));
        }
        for item in self.items_with_status(ItemStatus::GivenUp, None, |_| {}).await?.items {
            counts.entry(item.key().workspace.clone()).or_default().given_up += 1;
        }
        Ok(counts)
    }

    /// One item's record, whatever its stage; `None` when the table has none.
    pub async fn item_view(&self, key: &ItemKey) -> Result<Option<ItemView>, StoreError> {
        let item = self.get_latest(&key.pk(), SK).await?;
        item.as_ref().map(ItemView::read).transpose()
    }

    /// Makes a waiting item due now (the next scheduled run or delivery takes it first), unless
    /// an instance holds it. False when it is not waiting or is held.
    /// `by`: the person who asked, in the item's history (`None`: a resume, told by the audit).
    pub async fn make_due_now(&self, key: &ItemKey, by: Option<&str>) -> Result<bool, StoreError> {
        let pk = key.pk();
        let now = now_millis();
        let mut req = self.client.update_item().table_name(&self.table).set_key(Some(Self::key(&pk, SK)));
        req = match by {
            Some(by) => {
                let [(nil, nv), (ev, evv)] =
                    super::items::history_values(&super::items::EventKind::Retried { by: by.to_owned() }, now);
                req.update_expression(format!("SET gsi1sk = :gsk, updated_at = :now, {}", super::items::HISTORY))
                    .expression_attribute_values(nil, nv)
                    .expression_attribute_values(ev, evv)
            }
            None => req.update_expression("SET gsi1sk = :gsk, updated_at = :now"),
        };
        let out = req
            .condition_expression(
                "#st = :pending AND gsi1pk = :p AND (attribute_not_exists(claim_until) OR claim_until < :now)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":p", s(PENDING))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":gsk", s(due_key(now, &pk)))
            .send()
            .await;
        applied(out)
    }

    /// Puts items written by earlier versions into today's indexes: a workspace's items
    /// into `workspace_items` (keyed by when each was first seen), given-up and deleted ones
    /// into their lists. Once after an upgrade (`tapdocs migrate`); idempotent. How many
    /// records were changed.
    pub async fn index_older_items(&self) -> Result<u64, StoreError> {
        let (mut changed, mut cursor) = (0, None::<Item>);
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(
                    "begins_with(pk, :item) AND (attribute_not_exists(gsi2pk) OR \
                     (attribute_not_exists(gsi1pk) AND (#st IN (:g, :legacy) OR attribute_exists(deleted_at))))",
                )
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":item", s("ITEM#"))
                .expression_attribute_values(":g", s(GIVEN_UP))
                .expression_attribute_values(":legacy", s(LEGACY_GIVEN_UP))
                .set_exclusive_start_key(cursor.take())
                .send()
                .await
                .map_err(StoreError::sdk)?;
            for item in page.items.unwrap_or_default() {
                changed += u64::from(self.index_one(&item).await?);
            }
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => cursor = Some(k),
                None => return Ok(changed),
            }
        }
    }

    /// One older record into the indexes, from its raw attributes: a row this version cannot
    /// read is listed too (and reported where it is listed), never left out of sight.
    async fn index_one(&self, item: &Item) -> Result<bool, StoreError> {
        let (Some(pk), Some(ws)) = (get_s(item, "pk"), get_s(item, "ws")) else { return Ok(false) };
        let first_seen_ms = get_n(item, "created_at").unwrap_or(0);
        let status = get_s(item, "status").unwrap_or_default();
        let list = match status {
            _ if item.contains_key("deleted_at") => Some(DELETED_LIST),
            GIVEN_UP | LEGACY_GIVEN_UP => Some(GIVEN_UP_LIST),
            _ => None,
        };
        let list_key = list_key(&ws, first_seen_ms, pk);
        let mut sets = vec!["gsi2pk = :p", "gsi2sk = if_not_exists(gsi2sk, :k)"];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, get_s(item, "sk").unwrap_or(SK))))
            .expression_attribute_values(":p", s(workspace_items_pk(&ws)))
            .expression_attribute_values(":k", s(due_key(first_seen_ms, pk)));
        let condition = match list.filter(|_| get_s(item, "gsi1pk").is_none()) {
            Some(list) => {
                sets.extend(["gsi1pk = :l", "gsi1sk = :lk"]);
                req = req
                    .expression_attribute_values(":l", s(list))
                    .expression_attribute_values(":lk", s(list_key))
                    .expression_attribute_values(":status", s(status));
                // Only while it is still in the state it was read in.
                "attribute_exists(pk) AND attribute_not_exists(gsi1pk) AND #st = :status"
            }
            None if get_s(item, "gsi2pk").is_none() => "attribute_exists(pk) AND attribute_not_exists(gsi2pk)",
            None => return Ok(false),
        };
        if condition.contains("#st") {
            req = req.expression_attribute_names("#st", "status");
        }
        let out =
            req.update_expression(format!("SET {}", sets.join(", "))).condition_expression(condition).send().await;
        applied(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_in_its_own_listing() {
        let key: HashMap<String, AttributeValue> = [
            ("pk", "ITEM#20000001#story#1"),
            ("sk", "LINK"),
            ("gsi1pk", GIVEN_UP_LIST),
            ("gsi1sk", "20000001#000001796346000000#ITEM#20000001#story#1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())))
        .collect();
        let cursor = encode_cursor(&key);
        assert_eq!(decode_cursor(&cursor, "gsi1pk", GIVEN_UP_LIST, Some("20000001#")), Some(key));
        assert_eq!(decode_cursor(&cursor, "gsi1pk", GIVEN_UP_LIST, Some("20000002#")), None, "another workspace's");
        assert_eq!(decode_cursor(&cursor, "gsi1pk", DELETED_LIST, Some("20000001#")), None, "another list's");
        assert_eq!(decode_cursor("not a cursor", "gsi1pk", GIVEN_UP_LIST, None), None);
    }
}
