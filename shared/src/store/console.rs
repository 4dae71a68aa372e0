//! What the console keeps and reads: sessions (`SESSION#<sha256(token)>` / `SESSION`, with a
//! TTL), the workspaces' audit trails (`WS#<ws>` / `AUDIT#<ms>#<id>`), and a workspace's
//! items, newest first, through the `workspace_items` index (never a scan).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::items::{
    GIVEN_UP, LEGACY_GIVEN_UP, PENDING, WORKSPACE_ITEMS_INDEX, due_key, parse_item, workspace_items_pk,
};
use super::{Item, ItemKey, ItemRecord, Stage, Store, StoreError, applied, get_n, get_s, n, s};
use crate::ids::WorkspaceId;
use crate::time::{now_millis, now_secs};

fn session_pk(token: &str) -> String {
    let hex: String = Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("SESSION#{hex}")
}

/// A console session: the workspaces TAPD let this browser sign in to, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub workspaces: Vec<WorkspaceId>,
    /// ms.
    pub expires_ms: u64,
}

/// One line of a workspace's audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// ms.
    pub at_ms: u64,
    /// Who: the console session (by a short fingerprint) or `tapdocs`.
    pub who: String,
    pub what: String,
}

/// A page of a workspace's items, newest first: each read into the lifecycle type, or the
/// reason it could not be (reported, never dropped).
#[derive(Debug, Default)]
pub struct ItemsPage {
    pub items: Vec<Result<ItemRecord, (String, String)>>,
    /// Where the next page starts (opaque, URL-safe), if there is one.
    pub next: Option<String>,
}

fn encode_cursor(key: &Item) -> String {
    let map: HashMap<&str, &str> =
        key.iter().filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str()))).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&map).unwrap_or_default())
}

fn decode_cursor(raw: &str, ws: &WorkspaceId) -> Option<Item> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).ok()?;
    let map: HashMap<String, String> = serde_json::from_slice(&bytes).ok()?;
    // A cursor from another workspace's listing is no cursor here.
    if map.get("gsi2pk").map(String::as_str) != Some(workspace_items_pk(ws).as_str()) || map.len() != 4 {
        return None;
    }
    Some(map.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

impl Store {
    /// Starts a session for `workspace` under `token` (kept by the browser only; stored by hash).
    pub async fn put_session(&self, token: &str, workspace: &WorkspaceId, ttl_secs: u64) -> Result<(), StoreError> {
        let mut item = Self::key(&session_pk(token), "SESSION");
        item.insert("workspaces".into(), AttributeValue::Ss(vec![workspace.to_string()]));
        // `expires_at` for DynamoDB's TTL (seconds, late), `expires_ms` for the check.
        item.insert("expires_at".into(), n(now_secs() + ttl_secs + 1));
        item.insert("expires_ms".into(), n(now_millis() + ttl_secs * 1000));
        self.put_new(item).await
    }

    /// Adds a workspace to a live session (a second sign-in from the same browser).
    pub async fn add_session_workspace(&self, token: &str, workspace: &WorkspaceId) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&session_pk(token), "SESSION")))
            .update_expression("ADD workspaces :ws")
            .condition_expression("attribute_exists(pk) AND expires_ms > :now")
            .expression_attribute_values(":ws", AttributeValue::Ss(vec![workspace.to_string()]))
            .expression_attribute_values(":now", n(now_millis()))
            .return_values(ReturnValue::None)
            .send()
            .await;
        applied(out)
    }

    /// The session `token` names, if it is live (TTL deletion is late: expiry is checked here).
    pub async fn session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let Some(item) = self.get_latest(&session_pk(token), "SESSION").await? else { return Ok(None) };
        let expires_ms = get_n(&item, "expires_ms").unwrap_or(0);
        if expires_ms <= now_millis() {
            return Ok(None);
        }
        let workspaces = match item.get("workspaces") {
            Some(AttributeValue::Ss(list)) => list.iter().filter_map(|w| WorkspaceId::parse(w).ok()).collect(),
            _ => Vec::new(),
        };
        Ok(Some(Session { workspaces, expires_ms }))
    }

    /// Signs out: the session is gone, whatever the cookie says afterwards.
    pub async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&session_pk(token), "SESSION")))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Appends to the workspace's audit trail.
    pub async fn audit(&self, ws: &WorkspaceId, who: &str, what: &str) -> Result<(), StoreError> {
        let now = now_millis();
        let mut item = Self::key(&format!("WS#{ws}"), &format!("AUDIT#{now:015}#{}", crate::random::id()));
        item.insert("who".into(), s(who));
        item.insert("what".into(), s(what.chars().take(500).collect::<String>()));
        item.insert("at".into(), n(now));
        self.put_new(item).await
    }

    /// The workspace's audit trail, newest first.
    pub async fn audit_trail(&self, ws: &WorkspaceId, limit: i32) -> Result<Vec<AuditEntry>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :a)")
            .expression_attribute_values(":pk", s(format!("WS#{ws}")))
            .expression_attribute_values(":a", s("AUDIT#"))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .map(|i| AuditEntry {
                at_ms: get_n(i, "at").unwrap_or(0),
                who: get_s(i, "who").unwrap_or_default().to_owned(),
                what: get_s(i, "what").unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// A page of the workspace's items, newest first, from `cursor` (`None`: the first).
    /// `filter`, when given, is a DynamoDB filter on the page's items (the page may then hold
    /// fewer than `limit`).
    pub async fn workspace_items(
        &self,
        ws: &WorkspaceId,
        limit: i32,
        cursor: Option<&str>,
        filter: Option<ItemFilter>,
    ) -> Result<ItemsPage, StoreError> {
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(WORKSPACE_ITEMS_INDEX)
            .key_condition_expression("gsi2pk = :p")
            .expression_attribute_values(":p", s(workspace_items_pk(ws)))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(cursor.and_then(|c| decode_cursor(c, ws)));
        if let Some(f) = filter {
            let (expr, values) = f.expression();
            req = req.filter_expression(expr);
            if expr.contains("#st") {
                req = req.expression_attribute_names("#st", "status");
            }
            for (k, v) in values {
                req = req.expression_attribute_values(k, v);
            }
        }
        let out = req.send().await.map_err(StoreError::sdk)?;
        let items = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|i| parse_item(i).map_err(|e| (get_s(i, "pk").unwrap_or("?").to_owned(), e.to_string())))
            .collect();
        let next = out.last_evaluated_key.filter(|k| !k.is_empty()).map(|k| encode_cursor(&k));
        Ok(ItemsPage { items, next })
    }

    /// The workspace's items first seen since `since_ms` (every page), for counts.
    pub async fn workspace_items_since(&self, ws: &WorkspaceId, since_ms: u64) -> Result<Vec<ItemRecord>, StoreError> {
        let mut out = Vec::new();
        let mut cursor: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(WORKSPACE_ITEMS_INDEX)
                .key_condition_expression("gsi2pk = :p AND gsi2sk >= :since")
                .expression_attribute_values(":p", s(workspace_items_pk(ws)))
                .expression_attribute_values(":since", s(format!("{since_ms:015}")))
                .set_exclusive_start_key(cursor.take())
                .send()
                .await
                .map_err(StoreError::sdk)?;
            out.extend(page.items.unwrap_or_default().iter().filter_map(|i| parse_item(i).ok()));
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => cursor = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// Puts the items written before the `workspace_items` index existed into it (their
    /// workspace, keyed by when each was first seen): once after an upgrade; idempotent. How
    /// many were added.
    pub async fn index_older_items(&self) -> Result<u64, StoreError> {
        let (mut added, mut cursor) = (0, None::<Item>);
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :item) AND attribute_not_exists(gsi2pk)")
                .expression_attribute_values(":item", s("ITEM#"))
                .set_exclusive_start_key(cursor.take())
                .send()
                .await
                .map_err(StoreError::sdk)?;
            for item in page.items.unwrap_or_default() {
                let Ok(record) = parse_item(&item) else { continue };
                let pk = record.key.pk();
                let out = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(&pk, super::items::SK)))
                    .update_expression("SET gsi2pk = :p, gsi2sk = :k")
                    .condition_expression("attribute_exists(pk) AND attribute_not_exists(gsi2pk)")
                    .expression_attribute_values(":p", s(workspace_items_pk(&record.key.workspace)))
                    .expression_attribute_values(":k", s(due_key(record.first_seen_ms, &pk)))
                    .send()
                    .await;
                added += u64::from(applied(out)?);
            }
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => cursor = Some(k),
                None => return Ok(added),
            }
        }
    }

    /// Makes a waiting item due now (the next scheduled run or delivery takes it); a given-up
    /// one is started again. False when it is linked, deleted, or not this workspace's.
    pub async fn retry_now(&self, key: &ItemKey) -> Result<bool, StoreError> {
        match self.item(key).await?.map(|r| r.stage) {
            Some(Stage::GivenUp { .. }) => self.rearm(key).await,
            Some(stage) if stage.is_pending() => {
                let pk = key.pk();
                let out = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(&pk, super::items::SK)))
                    .update_expression("SET gsi1sk = :due")
                    .condition_expression("gsi1pk = :p")
                    .expression_attribute_values(":due", s(due_key(now_millis(), &pk)))
                    .expression_attribute_values(":p", s(PENDING))
                    .send()
                    .await;
                applied(out)
            }
            _ => Ok(false),
        }
    }
}

/// The states the console filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemFilter {
    Linked,
    Waiting,
    GivenUp,
    Deleted,
}

impl ItemFilter {
    fn expression(self) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
        match self {
            ItemFilter::Linked => ("#st = :v AND attribute_not_exists(deleted_at)", vec![(":v", s("done"))]),
            ItemFilter::Waiting => ("#st = :v", vec![(":v", s("pending"))]),
            ItemFilter::GivenUp => (
                "#st IN (:v, :legacy) AND attribute_not_exists(deleted_at)",
                vec![(":v", s(GIVEN_UP)), (":legacy", s(LEGACY_GIVEN_UP))],
            ),
            ItemFilter::Deleted => ("attribute_exists(deleted_at)", vec![]),
        }
    }
}
