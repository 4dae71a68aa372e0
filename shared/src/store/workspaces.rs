//! What the webhook keeps per connected workspace: whether it needs reconnecting, where
//! its reconciliation sweep stands, and the TAPD request budget the scheduled work shares.
//!
//! | pk                      | sk        | what                                             |
//! |-------------------------|-----------|--------------------------------------------------|
//! | `WS#<workspace>`        | `BINDING` | `needs_reconnect` (why), set when a refresh is refused |
//! | `SWEEP#<workspace>`     | `SWEEP`   | the sweep's window start, kind and page          |
//! | `BUDGET#tapd`           | `<window>`| TAPD requests spent in one 10-minute window      |
//!
//! Bindings are found through the `pending` index (`gsi1pk = WORKSPACE`).

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Item, Store, StoreError, applied, get_n, get_s, n, s};
use crate::ids::{ItemKind, WorkspaceId};
use crate::store::items::LISTS_INDEX;
use crate::time::{now_millis, now_secs};

/// `gsi1pk` of binding records: every connected workspace, in the `pending` index.
pub const WORKSPACES: &str = "WORKSPACE";

/// A connected workspace as the sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundWorkspace {
    pub workspace: WorkspaceId,
    /// Unix seconds.
    pub connected_at: u64,
}

/// Where a workspace's sweep stands: items created since `since_ms` are being listed, kind
/// by kind, page by page. A sweep cut short by its deadline resumes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepCursor {
    pub since_ms: u64,
    /// The kind being listed (index into the kinds the sweep covers).
    pub kind_index: u32,
    /// The next page to list (1-based).
    pub page: u32,
    /// When the last complete pass finished, ms (0: never).
    pub last_complete_ms: u64,
    /// When the pass under way started, ms: the next pass lists from there (less overlap).
    pub pass_started_ms: u64,
}

impl Store {
    /// Marks a workspace whose Tencent Docs token cannot be refreshed: an operator (or
    /// `tapdocs status`) sees it, and it clears when the workspace is connected again.
    /// Whether the workspace's Tencent Docs authorization was refused and it must be
    /// connected again.
    pub async fn needs_reconnect(&self, ws: &WorkspaceId) -> Result<bool, StoreError> {
        Ok(self.get(&format!("WS#{ws}"), "BINDING").await?.is_some_and(|b| b.contains_key("needs_reconnect")))
    }

    pub async fn mark_needs_reconnect(&self, ws: &WorkspaceId, why: &str) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("WS#{ws}"), "BINDING")))
            .update_expression("SET needs_reconnect = :why, needs_reconnect_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":why", s(why.chars().take(300).collect::<String>()))
            .expression_attribute_values(":now", n(now_secs()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Every connected workspace.
    pub async fn bound_workspaces(&self) -> Result<Vec<BoundWorkspace>, StoreError> {
        let mut out = Vec::new();
        let mut cursor: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(LISTS_INDEX)
                .key_condition_expression("gsi1pk = :w")
                .expression_attribute_values(":w", s(WORKSPACES))
                .set_exclusive_start_key(cursor)
                .send()
                .await
                .map_err(StoreError::sdk)?;
            for item in page.items.unwrap_or_default() {
                if let Some(workspace) = get_s(&item, "gsi1sk").and_then(|w| WorkspaceId::parse(w).ok()) {
                    out.push(BoundWorkspace { workspace, connected_at: get_n(&item, "connected_at").unwrap_or(0) });
                }
            }
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => cursor = Some(k),
                None => return Ok(out),
            }
        }
    }

    pub async fn sweep_cursor(&self, ws: &WorkspaceId) -> Result<Option<SweepCursor>, StoreError> {
        let item = self.get_latest(&format!("SWEEP#{ws}"), "SWEEP").await?;
        Ok(item.map(|i| SweepCursor {
            since_ms: get_n(&i, "since").unwrap_or(0),
            kind_index: get_n(&i, "kind_index").unwrap_or(0) as u32,
            page: get_n(&i, "page").unwrap_or(1).max(1) as u32,
            last_complete_ms: get_n(&i, "last_complete").unwrap_or(0),
            pass_started_ms: get_n(&i, "pass_started").unwrap_or(0),
        }))
    }

    pub async fn put_sweep_cursor(&self, ws: &WorkspaceId, c: &SweepCursor) -> Result<(), StoreError> {
        let mut item = Self::key(&format!("SWEEP#{ws}"), "SWEEP");
        item.insert("ws".into(), s(ws.as_str()));
        item.insert("since".into(), n(c.since_ms));
        item.insert("kind_index".into(), n(c.kind_index));
        item.insert("page".into(), n(c.page));
        item.insert("last_complete".into(), n(c.last_complete_ms));
        item.insert("pass_started".into(), n(c.pass_started_ms));
        item.insert("updated_at".into(), n(now_millis()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Backfill: the workspace's next sweeps list everything created since `since_ms` (if
    /// that is earlier than where its sweep stands), from the first page.
    pub async fn backfill_since(&self, ws: &WorkspaceId, since_ms: u64) -> Result<SweepCursor, StoreError> {
        let current = self.sweep_cursor(ws).await?;
        let cursor = SweepCursor {
            since_ms: current.as_ref().map_or(since_ms, |c| c.since_ms.min(since_ms)),
            kind_index: 0,
            page: 1,
            // Due at the next run, whatever the sweep interval.
            last_complete_ms: 0,
            pass_started_ms: 0,
        };
        self.put_sweep_cursor(ws, &cursor).await?;
        Ok(cursor)
    }

    /// Takes `n` requests from the TAPD budget of the current window (`limit` per
    /// `window_secs`), shared by every instance; `false` when that would exceed it.
    pub async fn take_budget(&self, cost: u32, limit: u32, window_secs: u64) -> Result<bool, StoreError> {
        let window = now_secs() / window_secs.max(1);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key("BUDGET#tapd", &window.to_string())))
            .update_expression("ADD used :n SET expires_at = :exp")
            .condition_expression("attribute_not_exists(used) OR used <= :room")
            .expression_attribute_values(":n", n(cost))
            .expression_attribute_values(":room", n(limit.saturating_sub(cost)))
            .expression_attribute_values(":exp", n((window + 2) * window_secs))
            .send()
            .await;
        applied(out)
    }

    /// Requests spent in the current window (for the bench and `tapdocs status`).
    pub async fn budget_used(&self, window_secs: u64) -> Result<u32, StoreError> {
        let window = now_secs() / window_secs.max(1);
        let item = self.get("BUDGET#tapd", &window.to_string()).await?;
        Ok(item.and_then(|i| get_n(&i, "used")).unwrap_or(0) as u32)
    }
}

/// The index attributes that list a binding among the connected workspaces.
pub fn binding_index_attributes(ws: &WorkspaceId) -> [(String, AttributeValue); 2] {
    [("gsi1pk".into(), s(WORKSPACES)), ("gsi1sk".into(), s(ws.as_str()))]
}

/// The kinds a sweep lists, in order.
pub fn swept_kinds(link_tasks: bool) -> Vec<ItemKind> {
    let mut kinds = vec![ItemKind::Story, ItemKind::Bug];
    if link_tasks {
        kinds.push(ItemKind::Task);
    }
    kinds
}
