//! Where each workspace's reconciliation sweep stands, and the TAPD request budget the
//! scheduled work shares.
//!
//! | pk                  | sk         | what                                        |
//! |---------------------|------------|---------------------------------------------|
//! | `SWEEP#<workspace>` | `SWEEP`    | the sweep's window start, kind and page     |
//! | `BUDGET#tapd`       | `<window>` | TAPD requests spent in one 10-minute window |
//! | `BUDGET#share`      | `tapd`     | the workspace the next run's round starts at |

use super::{Store, StoreError, applied, get_n, get_s, n, s};
use crate::ids::{ItemKind, WorkspaceId};
use crate::time::{now_millis, now_secs};

/// Where a workspace's sweep stands: items created since `since_ms` are being listed, kind
/// by kind, page by page. A sweep cut short by its deadline resumes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepCursor {
    pub since_ms: u64,
    /// The kind being listed (index into the kinds the sweep covers).
    pub kind_index: u32,
    /// The next page to list (1-based), within the window.
    pub page: u32,
    /// Where the kind's listing window starts, ms (0: at `since_ms`): past TAPD's paging cap
    /// (`page × limit` ≤ 20,000) the listing goes on in a window from the last item listed.
    pub window_ms: u64,
    /// When the last complete pass finished, ms (0: never).
    pub last_complete_ms: u64,
    /// When the pass under way started, ms: the next pass lists from there (less overlap).
    pub pass_started_ms: u64,
}

impl SweepCursor {
    /// A pass listing from `since_ms`, not begun.
    pub fn from(since_ms: u64) -> Self {
        SweepCursor { since_ms, kind_index: 0, page: 1, window_ms: 0, last_complete_ms: 0, pass_started_ms: 0 }
    }

    /// Nothing of the pass is listed yet.
    pub fn at_pass_start(&self) -> bool {
        self.kind_index == 0 && self.page == 1 && self.window_ms == 0
    }

    /// Where the current listing window starts, ms.
    pub fn window_start(&self) -> u64 {
        self.since_ms.max(self.window_ms)
    }
}

impl Store {
    pub async fn sweep_cursor(&self, ws: &WorkspaceId) -> Result<Option<SweepCursor>, StoreError> {
        let item = self.get_latest(&format!("SWEEP#{ws}"), "SWEEP").await?;
        Ok(item.map(|i| SweepCursor {
            since_ms: get_n(&i, "since").unwrap_or(0),
            kind_index: get_n(&i, "kind_index").unwrap_or(0) as u32,
            page: get_n(&i, "page").unwrap_or(1).max(1) as u32,
            window_ms: get_n(&i, "window").unwrap_or(0),
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
        item.insert("window".into(), n(c.window_ms));
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
            window_ms: 0,
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

impl Store {
    /// The workspace the next scheduled run's round robin starts at (where the last run's
    /// budget ran out), if any.
    pub async fn fair_start(&self) -> Result<Option<WorkspaceId>, StoreError> {
        let item = self.get("BUDGET#share", "tapd").await?;
        Ok(item.and_then(|i| get_s(&i, "ws").and_then(|w| WorkspaceId::parse(w).ok())))
    }

    pub async fn put_fair_start(&self, ws: &WorkspaceId) -> Result<(), StoreError> {
        let mut item = Self::key("BUDGET#share", "tapd");
        item.insert("ws".into(), s(ws.as_str()));
        item.insert("updated_at".into(), n(now_millis()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
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
