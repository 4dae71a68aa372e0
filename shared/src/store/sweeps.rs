//! Where each workspace's reconciliation sweep stands, and the TAPD request budget the
//! scheduled work shares.
//!
//! | pk                  | sk         | what                                        |
//! |---------------------|------------|---------------------------------------------|
//! | `SWEEP#<workspace>` | `SWEEP`    | the sweep's window start, kind and page     |
//! | `BUDGET#tapd`       | `<window>` | TAPD requests spent in one 10-minute window |

use super::{Store, StoreError, applied, get_n, n, s};
use crate::ids::{ItemKind, WorkspaceId};
use crate::time::{now_millis, now_secs};

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

/// The kinds a sweep lists, in order.
pub fn swept_kinds(link_tasks: bool) -> Vec<ItemKind> {
    let mut kinds = vec![ItemKind::Story, ItemKind::Bug];
    if link_tasks {
        kinds.push(ItemKind::Task);
    }
    kinds
}
