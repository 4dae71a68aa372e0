//! Where each workspace's reconciliation sweep stands, and the TAPD request budget the
//! scheduled work shares.
//!
//! | pk                  | sk         | what                                        |
//! |---------------------|------------|---------------------------------------------|
//! | `SWEEP#<workspace>` | `SWEEP`    | the sweep's window start, kind and page; in the lists index under `SWEEP` by when it is due |
//! | `BUDGET#tapd`       | `<window>` | TAPD requests spent in one 10-minute window |
//! | `BUDGET#share`      | `tapd`     | the workspace the next run's round starts at |
//! | `BUDGET#share`      | `sweeps`   | when the sweep index was last checked against the bindings |
//!
//! A run reads the sweeps that are due from the lists index (`gsi1pk = SWEEP`, `gsi1sk =
//! <due ms>#SWEEP#<workspace>`, soonest first, a bounded number), not every workspace's
//! cursor: what a run reads grows with its work, not with the number of workspaces.
//! | `BUDGET#tdoc#<acct>`| `<slot>`   | Tencent Docs calls scheduled work made as one account in 10 s |

use super::items::due_key;
use super::{Item, Store, StoreError, applied, get_n, get_s, n, s};
use crate::ids::{ItemKind, WorkspaceId};
use crate::time::{now_millis, now_secs};

/// `gsi1pk` of sweep cursors: every connected workspace's sweep, by when it is due.
pub(crate) const SWEEPS: &str = "SWEEP";
/// How far before its connection a workspace's first sweep lists (items made while it was
/// being connected).
pub const FIRST_SWEEP_LOOKBACK_MS: u64 = 10 * 60 * 1000;

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
    /// Items the pass has listed so far (its progress).
    pub listed: u64,
    /// Items the pass will list, as TAPD counted them when a kind's first page was full
    /// (0: not counted, a short pass).
    pub total: u64,
    /// Kinds whose items are in `total` (the first `counted` kinds): a kind is counted once
    /// per pass, even when its first page is listed again after a crash.
    pub counted: u32,
    /// When the last complete pass finished, ms (0: never).
    pub last_complete_ms: u64,
    /// When the pass under way started, ms: the next pass lists from there (less overlap).
    pub pass_started_ms: u64,
    /// When the record this cursor was read from was written, ms (0: none was): a run's write
    /// goes through only over that record, so a backfill started meanwhile is not undone.
    pub written_ms: u64,
}

/// A sweep or backfill under way, as people see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Items listed (and linked, or found linked) so far.
    pub done: u64,
    /// Items still to list, when TAPD counted them.
    pub left: Option<u64>,
    /// When it should be done, at the pace so far, ms from now.
    pub eta_ms: Option<u64>,
}

impl Progress {
    /// `12,345 done, 37,655 left, about 2 h 10 min`: one line for the CLI and the console.
    pub fn line(&self) -> String {
        let mut out = format!("{} done", self.done);
        if let Some(left) = self.left {
            out.push_str(&format!(", {left} left"));
        }
        if let Some(eta) = self.eta_ms {
            let mins = eta.div_ceil(60_000);
            out.push_str(&format!(", about {} h {} min", mins / 60, mins % 60));
        }
        out
    }

    /// Done over done and left (0 to 1), when TAPD counted.
    pub fn fraction(&self) -> Option<f64> {
        self.left.map(|left| if self.done + left == 0 { 1.0 } else { self.done as f64 / (self.done + left) as f64 })
    }
}

impl SweepCursor {
    /// A pass listing from `since_ms`, not begun.
    pub fn from(since_ms: u64) -> Self {
        SweepCursor {
            since_ms,
            kind_index: 0,
            page: 1,
            window_ms: 0,
            listed: 0,
            total: 0,
            counted: 0,
            last_complete_ms: 0,
            pass_started_ms: 0,
            written_ms: 0,
        }
    }

    /// How far a pass under way is, from this record: done, left and when it should end at
    /// the pace so far. `None` when no pass is under way.
    pub fn progress(&self, now_ms: u64) -> Option<Progress> {
        if self.at_pass_start() {
            return None;
        }
        let total = (self.total > 0).then_some(self.total.max(self.listed));
        let left = total.map(|t| t - self.listed);
        let elapsed = now_ms.saturating_sub(self.pass_started_ms);
        let eta_ms = match left {
            Some(left) if self.listed > 0 && self.pass_started_ms > 0 && elapsed > 0 => {
                Some((left as u128 * elapsed as u128 / self.listed as u128) as u64)
            }
            _ => None,
        };
        Some(Progress { done: self.listed, left, eta_ms })
    }

    /// Nothing of the pass is listed yet.
    pub fn at_pass_start(&self) -> bool {
        self.kind_index == 0 && self.page == 1 && self.window_ms == 0 && self.counted == 0
    }

    /// Where the current listing window starts, ms.
    pub fn window_start(&self) -> u64 {
        self.since_ms.max(self.window_ms)
    }

    /// When a run should take this sweep up, ms: a pass under way at once (0, before any
    /// waiting by the clock), else `every_ms` after the last complete pass (a sweep that never
    /// completed one is due at once too).
    pub fn due_ms(&self, every_ms: u64) -> u64 {
        if self.at_pass_start() { self.last_complete_ms.saturating_add(every_ms) } else { 0 }
    }

    /// A connected workspace's first sweep: from a little before its connection, written now.
    fn first(connected_at_secs: u64) -> Self {
        SweepCursor {
            written_ms: now_millis(),
            ..SweepCursor::from((connected_at_secs * 1000).saturating_sub(FIRST_SWEEP_LOOKBACK_MS))
        }
    }

    fn from_item(i: &Item) -> Self {
        SweepCursor {
            since_ms: get_n(i, "since").unwrap_or(0),
            kind_index: get_n(i, "kind_index").unwrap_or(0) as u32,
            page: get_n(i, "page").unwrap_or(1).max(1) as u32,
            window_ms: get_n(i, "window").unwrap_or(0),
            listed: get_n(i, "listed").unwrap_or(0),
            total: get_n(i, "total").unwrap_or(0),
            counted: get_n(i, "counted").unwrap_or(0) as u32,
            last_complete_ms: get_n(i, "last_complete").unwrap_or(0),
            pass_started_ms: get_n(i, "pass_started").unwrap_or(0),
            written_ms: get_n(i, "updated_at").unwrap_or(0),
        }
    }
}

fn sweep_pk(ws: &WorkspaceId) -> String {
    format!("SWEEP#{ws}")
}

impl Store {
    pub async fn sweep_cursor(&self, ws: &WorkspaceId) -> Result<Option<SweepCursor>, StoreError> {
        Ok(self.get_latest(&sweep_pk(ws), "SWEEP").await?.map(|i| SweepCursor::from_item(&i)))
    }

    /// The cursor's record, listed in the sweep index as due at `due_ms`, written at
    /// `c.written_ms`.
    fn cursor_item(ws: &WorkspaceId, c: &SweepCursor, due_ms: u64) -> Item {
        let pk = sweep_pk(ws);
        let mut item = Self::key(&pk, "SWEEP");
        item.insert("ws".into(), s(ws.as_str()));
        item.insert("since".into(), n(c.since_ms));
        item.insert("kind_index".into(), n(c.kind_index));
        item.insert("page".into(), n(c.page));
        item.insert("window".into(), n(c.window_ms));
        item.insert("listed".into(), n(c.listed));
        item.insert("total".into(), n(c.total));
        item.insert("counted".into(), n(c.counted));
        item.insert("last_complete".into(), n(c.last_complete_ms));
        item.insert("pass_started".into(), n(c.pass_started_ms));
        item.insert("updated_at".into(), n(c.written_ms));
        item.insert("gsi1pk".into(), s(SWEEPS));
        item.insert("gsi1sk".into(), s(due_key(due_ms, &pk)));
        item
    }

    /// Writes where the workspace's sweep stands, due again at `due_ms`, only over the record
    /// `c` was read from (`written_ms`): false when it changed meanwhile (a backfill started,
    /// another run moved on) or is gone (the workspace was disconnected), and then nothing is
    /// written. On success `c` is the record as now written.
    pub async fn put_sweep_cursor(
        &self,
        ws: &WorkspaceId,
        c: &mut SweepCursor,
        due_ms: u64,
    ) -> Result<bool, StoreError> {
        let seen = c.written_ms;
        let next = SweepCursor { written_ms: now_millis().max(seen + 1), ..c.clone() };
        let written = self.put_cursor_when(ws, &next, due_ms, "updated_at = :seen", Some(seen)).await?;
        if written {
            *c = next;
        }
        Ok(written)
    }

    /// A newly connected workspace's sweep, due at once, listing from a little before
    /// `connected_at_secs`; a reconnect keeps the sweep it had.
    pub async fn start_sweep(&self, ws: &WorkspaceId, connected_at_secs: u64) -> Result<(), StoreError> {
        let c = SweepCursor::first(connected_at_secs);
        self.put_cursor_when(ws, &c, 0, "attribute_not_exists(pk)", None).await.map(|_| ())
    }

    /// Puts the cursor's record, due at `due_ms`, when `condition` holds (`:seen` its value,
    /// if any); whether it did.
    async fn put_cursor_when(
        &self,
        ws: &WorkspaceId,
        c: &SweepCursor,
        due_ms: u64,
        condition: &str,
        seen: Option<u64>,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::cursor_item(ws, c, due_ms)))
            .condition_expression(condition)
            .set_expression_attribute_values(seen.map(|v| [(":seen".to_owned(), n(v))].into()))
            .send()
            .await;
        applied(out)
    }

    /// Backfill: the workspace's next sweeps list everything created since `since_ms` (if
    /// that is earlier than where its sweep stands), from the first page, due at once.
    pub async fn backfill_since(&self, ws: &WorkspaceId, since_ms: u64) -> Result<SweepCursor, StoreError> {
        let current = self.sweep_cursor(ws).await?;
        let cursor = SweepCursor {
            since_ms: current.as_ref().map_or(since_ms, |c| c.since_ms.min(since_ms)),
            // Over whatever a run holds: its next write finds the record changed and stops.
            written_ms: now_millis().max(current.as_ref().map_or(0, |c| c.written_ms + 1)),
            // Due at the next run, whatever the sweep interval.
            ..SweepCursor::from(0)
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::cursor_item(ws, &cursor, 0)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(cursor)
    }

    /// The sweeps due by `now_ms`, soonest first, at most `limit` (read from the index: a
    /// copy a moment old at worst, which a run that is minutes after the last one can take).
    pub async fn due_sweeps(&self, now_ms: u64, limit: usize) -> Result<Vec<(WorkspaceId, SweepCursor)>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        while out.len() < limit {
            let q = self
                .due_query(SWEEPS, now_ms)
                .limit((limit - out.len()).min(1000) as i32)
                .set_exclusive_start_key(start);
            let page = q.send().await.map_err(StoreError::sdk)?;
            out.extend(page.items.unwrap_or_default().iter().filter_map(|i| {
                let ws = WorkspaceId::parse(get_s(i, "ws")?).ok()?;
                Some((ws, SweepCursor::from_item(i)))
            }));
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Every workspace whose sweep is in the index.
    pub async fn indexed_sweeps(&self) -> Result<std::collections::BTreeSet<WorkspaceId>, StoreError> {
        let q = self.list_query(SWEEPS).projection_expression("ws");
        Ok(self.query_all(q).await?.iter().filter_map(|i| WorkspaceId::parse(get_s(i, "ws")?).ok()).collect())
    }

    /// Puts a connected workspace's sweep in the index (one kept from before the index, or a
    /// first one from its connection), unless it is there already.
    pub async fn index_sweep(&self, ws: &WorkspaceId, connected_at_secs: u64, every_ms: u64) -> Result<(), StoreError> {
        let c = match self.sweep_cursor(ws).await? {
            Some(c) => SweepCursor { written_ms: now_millis().max(c.written_ms + 1), ..c },
            None => SweepCursor::first(connected_at_secs),
        };
        self.put_cursor_when(ws, &c, c.due_ms(every_ms), "attribute_not_exists(gsi1pk)", None).await.map(|_| ())
    }

    /// Takes a sweep out of the index (its workspace is no longer connected); the function
    /// deletes nothing, a disconnect removes the record.
    pub async fn unindex_sweep(&self, ws: &WorkspaceId) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&sweep_pk(ws), "SWEEP")))
            .update_expression("REMOVE gsi1pk, gsi1sk")
            .condition_expression("attribute_exists(gsi1pk)")
            .send()
            .await;
        applied(out).map(|_| ())
    }

    /// Whether this run checks the sweep index against the bindings (true at most once per
    /// `every_ms` across instances).
    pub async fn claim_sweep_check(&self, every_ms: u64) -> Result<bool, StoreError> {
        let now = now_millis();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key("BUDGET#share", "sweeps")))
            .update_expression("SET checked_at = :now")
            .condition_expression("attribute_not_exists(checked_at) OR checked_at <= :before")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":before", n(now.saturating_sub(every_ms)))
            .send()
            .await;
        applied(out)
    }

    /// Takes `n` requests from the TAPD budget of the current window (`limit` per
    /// `window_secs`), shared by every instance; `false` when that would exceed it.
    pub async fn take_budget(&self, cost: u32, limit: u32, window_secs: u64) -> Result<bool, StoreError> {
        let window = now_secs() / window_secs.max(1);
        let out = self
            .budget_window(window)
            .update_expression("ADD used :n SET expires_at = :exp")
            .condition_expression(
                "(attribute_not_exists(used) OR used <= :room) AND (attribute_not_exists(cool_until) OR cool_until < :now)",
            )
            .expression_attribute_values(":n", n(cost))
            .expression_attribute_values(":room", n(limit.saturating_sub(cost)))
            .expression_attribute_values(":now", n(now_millis()))
            .expression_attribute_values(":exp", n((window + 2) * window_secs))
            .send()
            .await;
        applied(out)
    }

    /// An update of TAPD's budget count of `window`.
    fn budget_window(
        &self,
        window: u64,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).set_key(Some(Self::key("BUDGET#tapd", &window.to_string())))
    }

    /// Gives `unspent` requests taken from the current window and not spent back to it.
    pub async fn return_budget(&self, unspent: u32, window_secs: u64) -> Result<(), StoreError> {
        let out = self
            .budget_window(now_secs() / window_secs.max(1))
            .update_expression("ADD used :n")
            // Never below nothing, and never creating a window's item.
            .condition_expression("used >= :back")
            .expression_attribute_values(":n", n(format!("-{unspent}")))
            .expression_attribute_values(":back", n(unspent))
            .send()
            .await;
        applied(out).map(|_| ())
    }

    /// Takes `cost` calls from a Tencent Docs account's budget of the current slot (`limit`
    /// per `slot_secs`, shared by every instance); `false` when that would exceed it. One item
    /// per account per slot: in app-account mode every workspace's scheduled work writes it,
    /// a few times a second at most (far below a partition's 1,000 writes a second).
    pub async fn take_tdoc_budget(
        &self,
        account: &str,
        cost: u32,
        limit: u32,
        slot_secs: u64,
    ) -> Result<bool, StoreError> {
        let slot = now_secs() / slot_secs.max(1);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("BUDGET#tdoc#{account}"), &slot.to_string())))
            .update_expression("ADD used :n SET expires_at = :exp")
            .condition_expression("attribute_not_exists(used) OR used <= :room")
            .expression_attribute_values(":n", n(cost))
            .expression_attribute_values(":room", n(limit.saturating_sub(cost)))
            .expression_attribute_values(":exp", n((slot + 2) * slot_secs + 600))
            .send()
            .await;
        applied(out)
    }

    /// TAPD said to slow down (a `429`, or little left of its window): no instance takes from
    /// the current window's budget for `base_ms`, doubled for each earlier slow-down in the
    /// window (at most to its end); a new window starts afresh. Returns until when, ms.
    pub async fn cool_budget(&self, window_secs: u64, base_ms: u64) -> Result<u64, StoreError> {
        let window = now_secs() / window_secs.max(1);
        let key = Self::key("BUDGET#tapd", &window.to_string());
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression("ADD cools :one SET expires_at = :exp")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n((window + 2) * window_secs))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let cools = out.attributes.as_ref().and_then(|a| get_n(a, "cools")).unwrap_or(1).clamp(1, 16);
        let window_end_ms = (window + 1) * window_secs * 1000;
        let until = (now_millis() + base_ms.saturating_mul(1 << (cools - 1))).min(window_end_ms);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET cool_until = :until")
            .expression_attribute_values(":until", n(until))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(until)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_done_left_and_the_pace_from_the_cursor() {
        let mut c = SweepCursor::from(0);
        assert_eq!(c.progress(1_000), None, "no pass under way");
        c.pass_started_ms = 1_000;
        c.page = 3;
        c.listed = 400;
        c.total = 1_000;
        // 400 in 60 s: 600 more take 90 s.
        let p = c.progress(61_000).unwrap();
        assert_eq!(p, Progress { done: 400, left: Some(600), eta_ms: Some(90_000) });
        assert_eq!(p.line(), "400 done, 600 left, about 0 h 2 min");
        assert_eq!(p.fraction(), Some(0.4));
        // Not counted (a short pass): done only.
        c.total = 0;
        assert_eq!(c.progress(61_000).unwrap(), Progress { done: 400, left: None, eta_ms: None });
    }
}
