//! Fair share of the upstream budgets among the workspaces that have scheduled work.
//!
//! A scheduled run gathers a *lane* per workspace with work (its due retries, its sweep or
//! backfill) and serves the lanes round robin: each lane in turn gets one *turn* (up to
//! `k` items, `k` = the run's concurrency over the lanes still active, at least 1), and the
//! rounds go on until the budget, the deadline or the work runs out. A workspace with 50,000
//! items waiting gets one turn per round like one with 3, so the small one is current after
//! a few rounds whatever the big one holds. The ring starts where the last run's budget ran
//! out ([`ring`], the start kept in the table), so when a window's budget covers less than
//! a round, the next run goes on from there rather than from the first workspace again.
//!
//! Deliveries are not scheduled work: they are served on arrival and spend none of this
//! budget. `TAPD_BUDGET` (1,500 by default) is the scheduled work's share of TAPD's 1,800
//! requests per 10 minutes; the rest (300, a sixth) is kept for deliveries.
//!
//! ## Spending from a turn (the API for other scheduled work)
//! Scheduled work other than retries and sweeps (card updates, #34) spends through the turn
//! it is given: [`Turn::may_spend`]`(budget, n)` asks "may I spend `n` calls of `budget`
//! for this turn's workspace?" and answers `Ok(true)` once they are taken, within the turn's
//! allowance (its fair share of this round) and the budget's window; `Ok(false)` means stop
//! for now: the work waits for the next turn or run, and is never given up because of it.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Mutex;

use super::Linker;
use crate::ids::WorkspaceId;
use crate::store::{Account, DueItem, StoreError};
use crate::upstream::{RateSeen, Used};

/// An upstream budget scheduled work spends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Budget {
    /// TAPD's requests per app per 10 minutes.
    Tapd,
    /// Tencent Docs' file operations per Open-Id per minute: the account's docs are made as
    /// (in app-account mode one for every workspace).
    TdocFiles(Account),
}

/// Tencent Docs calls reserved for one link (create, write, permission, a look now and then);
/// settled with what it actually sent, like [`ITEM_COST`].
pub(super) const TDOC_ITEM_COST: u32 = 4;
/// Tencent Docs counts in a sliding minute; the table counts in slots of this many seconds,
/// each allowed a seventh of the scheduled share (five sixths of `TDOC_CALLS_PER_MINUTE`,
/// 300 as documented), so that any minute (which overlaps at most seven slots) stays within it.
pub const TDOC_SLOT_SECS: u64 = 10;

/// Tencent Docs calls scheduled work may make as one account per slot.
pub fn tdoc_per_slot(per_minute: u32) -> u32 {
    ((per_minute - per_minute / LIVE_SHARE_DEN) / 7).max(1)
}

/// The table's name for the account's Tencent Docs budget.
fn tdoc_budget_key(account: &Account) -> String {
    match account {
        Account::User(open_id) => format!("user#{}", open_id.as_str()),
        Account::App => "app".to_owned(),
    }
}

/// The share of TAPD's budget kept for deliveries: a sixth (300 of 1,800 per 10 minutes).
pub const LIVE_SHARE_DEN: u32 = 6;
/// How long scheduled work stops after TAPD says to slow down (doubled for each further
/// slow-down in the same window).
pub const COOL_MS: u64 = 30_000;

/// TAPD requests reserved for one link before it starts (the item, the comment, a token now
/// and then, and the card's names: the workflow, its end statuses and the iteration, once per
/// workspace and instance): on the safe side, so links in flight never overspend the window.
/// Once the link is done, it pays what it actually sent ([`Turn::settle`]): most links send
/// two, so the rest goes back to the run's purse.
pub(super) const ITEM_COST: u32 = 5;
/// Budget is taken from the table this many requests at a time, not one write per call.
const BUDGET_CHUNK: u32 = 30;

/// The run's share of the budget window taken from the table, spent locally; and whether a
/// request for more was refused (the window is spent).
pub(super) struct Purse {
    left: Mutex<u32>,
    /// The budget window `left` was last taken from: what is left at the run's end goes back
    /// to it, if it is still the current one.
    window: std::sync::atomic::AtomicU64,
    /// Tencent Docs calls taken from the table and not yet spent, per account, with the slot
    /// they were taken from: they are spent only within it (a later slot has its own share).
    tdoc_left: Mutex<std::collections::HashMap<String, (u64, u32)>>,
    spent_out: AtomicBool,
    /// When the run began, ms: a `429` since then slows the schedule down.
    began_ms: u64,
    cooled: AtomicBool,
}

impl Purse {
    pub(super) fn new() -> Self {
        Self {
            left: Mutex::new(0),
            window: Default::default(),
            tdoc_left: Mutex::new(Default::default()),
            spent_out: AtomicBool::new(false),
            began_ms: crate::time::now_millis(),
            cooled: AtomicBool::new(false),
        }
    }

    pub(super) fn spent_out(&self) -> bool {
        self.spent_out.load(Ordering::Relaxed)
    }
}

/// One lane's turn in a round: what it may spend, for which workspace.
pub struct Turn<'a> {
    linker: &'a Linker,
    purse: &'a Purse,
    pub workspace: WorkspaceId,
    /// What is left of this turn's allowance, in TAPD requests.
    allowance: Mutex<u32>,
}

impl<'a> Turn<'a> {
    pub(super) fn new(linker: &'a Linker, purse: &'a Purse, workspace: WorkspaceId, allowance: u32) -> Self {
        Self { linker, purse, workspace, allowance: Mutex::new(allowance) }
    }

    /// Takes `n` calls of `budget` for this turn's workspace: `Ok(false)` when the turn's
    /// allowance or the budget's window is spent (stop; the work waits, it is not failed).
    pub async fn may_spend(&self, budget: Budget, n: u32) -> Result<bool, StoreError> {
        if let Budget::TdocFiles(account) = budget {
            return self.linker.spend_tdoc(self.purse, &account, n).await;
        }
        let mut allowance = self.allowance.lock().await;
        if *allowance < n {
            return Ok(false);
        }
        if !self.linker.spend(self.purse, n).await? {
            return Ok(false);
        }
        *allowance -= n;
        Ok(true)
    }

    /// Reserves what one link may spend: the account's Tencent Docs calls (when connected),
    /// then TAPD's requests. `None`: the budget is spent for now (nothing is taken).
    pub(super) async fn reserve(&self, account: Option<Account>) -> Result<Option<Reserved>, StoreError> {
        if let Some(account) = &account
            && !self.may_spend(Budget::TdocFiles(account.clone()), TDOC_ITEM_COST).await?
        {
            return Ok(None);
        }
        if !self.may_spend(Budget::Tapd, ITEM_COST).await? {
            // The Tencent Docs calls taken are not lost: they go back to the purse.
            if let Some(account) = &account {
                self.linker.settle_tdoc(self.purse, account, TDOC_ITEM_COST, 0).await?;
            }
            return Ok(None);
        }
        Ok(Some(Reserved { account }))
    }

    /// Pays for a link with what it sent (`used`, from [`crate::upstream::metered`]) rather
    /// than its reservation: what it did not use goes back to the purse for the next links;
    /// what it used beyond (a token, a retry, a look) is taken too, so the table counts every
    /// request that was sent.
    pub(super) async fn settle(&self, reserved: &Reserved, used: Used) -> Result<(), StoreError> {
        self.linker.settle_tapd(self.purse, ITEM_COST, used.tapd).await?;
        if let Some(account) = &reserved.account {
            self.linker.settle_tdoc(self.purse, account, TDOC_ITEM_COST, used.tdoc).await?;
        }
        Ok(())
    }

    /// Runs `work`, for which `reserved` TAPD requests were taken, and pays what it sent
    /// (a list call's token refresh included).
    pub(super) async fn pay_tapd<T>(&self, reserved: u32, work: impl Future<Output = T>) -> Result<T, StoreError> {
        let (out, used) = crate::upstream::metered(work).await;
        self.linker.settle_tapd(self.purse, reserved, used.tapd).await?;
        Ok(out)
    }

    /// Whether the turn could still pay for `n` more calls (without taking them).
    pub(super) async fn has_allowance(&self, n: u32) -> bool {
        *self.allowance.lock().await >= n && !self.purse.spent_out()
    }
}

/// What a link was given before it started: [`ITEM_COST`] TAPD requests and, when the
/// workspace is connected, [`TDOC_ITEM_COST`] of its account's Tencent Docs calls.
pub(super) struct Reserved {
    account: Option<Account>,
}

/// The scheduled work's budget per window: `TAPD_BUDGET`, or less when TAPD says its app's
/// limit is less than that plus the deliveries' share.
pub fn scheduled_limit(configured: u32, seen: &RateSeen) -> u32 {
    match seen.limit {
        Some(limit) => configured.min(limit - limit / LIVE_SHARE_DEN),
        None => configured,
    }
}

/// Whether TAPD said to slow down since `since_ms`: a `429`, or its window's remaining
/// requests down to the deliveries' share.
pub fn told_to_slow(seen: &RateSeen, since_ms: u64) -> bool {
    let limited = seen.limited_ms.is_some_and(|at| at >= since_ms);
    let low = match (seen.limit, seen.remaining) {
        (Some(limit), Some((remaining, at))) => at >= since_ms && remaining <= limit / LIVE_SHARE_DEN,
        _ => false,
    };
    limited || low
}

impl Linker {
    /// When TAPD said to slow down during this run: every instance's scheduled work stops
    /// for a while (once per run; the stop doubles while it goes on), and this run ends.
    pub(super) async fn heed_tapd(&self, purse: &Purse) -> Result<(), StoreError> {
        if !told_to_slow(&self.clients.tapd.gauge.seen(), purse.began_ms) {
            return Ok(());
        }
        purse.spent_out.store(true, Ordering::Relaxed);
        if !purse.cooled.swap(true, Ordering::Relaxed) {
            let until = self.clients.store.cool_budget(self.cfg.budget_window_secs, COOL_MS).await?;
            tracing::warn!(until_ms = until, "TAPD asked us to slow down: scheduled work waits");
        }
        Ok(())
    }

    /// Takes `cost` Tencent Docs calls from the account's budget of the minute; `false` when
    /// it is spent (that account's work waits; other accounts' goes on).
    pub(super) async fn spend_tdoc(&self, purse: &Purse, account: &Account, cost: u32) -> Result<bool, StoreError> {
        let key = tdoc_budget_key(account);
        let slot = crate::time::now_secs() / TDOC_SLOT_SECS;
        let mut all = purse.tdoc_left.lock().await;
        let (taken_in, left) = all.entry(key.clone()).or_insert((slot, 0));
        if *taken_in != slot {
            (*taken_in, *left) = (slot, 0);
        }
        if *left < cost {
            // One link's worth at a time: a slot holds few, and what one run took and did not
            // spend would be lost to the others.
            if !self
                .clients
                .store
                .take_tdoc_budget(&key, cost, tdoc_per_slot(self.cfg.tdoc_calls_per_minute), TDOC_SLOT_SECS)
                .await?
            {
                return Ok(false);
            }
            *left += cost;
        }
        *left -= cost;
        Ok(true)
    }

    /// Settles a link's Tencent Docs calls: `reserved` taken, `used` sent.
    pub(super) async fn settle_tdoc(
        &self,
        purse: &Purse,
        account: &Account,
        reserved: u32,
        used: u32,
    ) -> Result<(), StoreError> {
        let key = tdoc_budget_key(account);
        let slot = crate::time::now_secs() / TDOC_SLOT_SECS;
        let mut all = purse.tdoc_left.lock().await;
        let (taken_in, left) = all.entry(key.clone()).or_insert((slot, 0));
        if used <= reserved {
            // Unused calls count only in the slot they were taken from.
            if *taken_in == slot {
                *left += reserved - used;
            }
            return Ok(());
        }
        let mut over = used - reserved;
        if *taken_in == slot {
            let from_left = over.min(*left);
            (*left, over) = (*left - from_left, over - from_left);
        }
        if over > 0 {
            // Sent already: counted whatever the slot holds, so others see it.
            self.clients.store.take_tdoc_budget(&key, over, u32::MAX, TDOC_SLOT_SECS).await?;
        }
        Ok(())
    }

    /// Settles a link's TAPD requests: `reserved` taken, `used` sent.
    pub(super) async fn settle_tapd(&self, purse: &Purse, reserved: u32, used: u32) -> Result<(), StoreError> {
        let mut left = purse.left.lock().await;
        if used <= reserved {
            *left += reserved - used;
            return Ok(());
        }
        let over = used - reserved;
        let from_left = over.min(*left);
        *left -= from_left;
        if over > from_left {
            // Sent already: counted in the window (unless every instance is cooling down,
            // when nobody takes from it anyway).
            self.clients.store.take_budget(over - from_left, u32::MAX, self.cfg.budget_window_secs).await?;
        }
        Ok(())
    }

    /// Gives what the run took from the TAPD window and did not spend back to it, so the next
    /// run (or another instance) can spend it: the window's budget is used, not stranded.
    pub(super) async fn give_back(&self, purse: &Purse) -> Result<(), StoreError> {
        let left = std::mem::take(&mut *purse.left.lock().await);
        let window = self.cfg.budget_window_secs;
        if left > 0 && purse.window.load(Ordering::Relaxed) == crate::time::now_secs() / window.max(1) {
            self.clients.store.return_budget(left, window).await?;
        }
        Ok(())
    }

    /// Takes `cost` requests from the TAPD budget; `false` when the window's budget is spent.
    pub(super) async fn spend(&self, purse: &Purse, cost: u32) -> Result<bool, StoreError> {
        let mut left = purse.left.lock().await;
        if purse.window.load(Ordering::Relaxed) != crate::time::now_secs() / self.cfg.budget_window_secs.max(1) {
            // Taken from a window that has ended: the new one is counted afresh.
            *left = 0;
        }
        if *left < cost {
            if purse.spent_out() {
                return Ok(false);
            }
            self.heed_tapd(purse).await?;
            if purse.spent_out() {
                return Ok(false);
            }
            let chunk = BUDGET_CHUNK.max(cost);
            let limit = scheduled_limit(self.cfg.tapd_budget, &self.clients.tapd.gauge.seen());
            let window = self.cfg.budget_window_secs;
            purse.window.store(crate::time::now_secs() / window.max(1), Ordering::Relaxed);
            if !self.clients.store.take_budget(chunk, limit, window).await? {
                // What is left of the window, if less than a chunk.
                let rest = limit.saturating_sub(self.clients.store.budget_used(window).await?);
                if rest < cost || !self.clients.store.take_budget(rest, limit, window).await? {
                    purse.spent_out.store(true, Ordering::Relaxed);
                    return Ok(false);
                }
                *left += rest;
            } else {
                *left += chunk;
            }
        }
        *left -= cost;
        Ok(true)
    }
}

/// The due retries of one run, grouped by workspace: at most `per_workspace` each (more
/// than a run serves one workspace), the rest read again next run.
pub(super) fn group_due(due: Vec<DueItem>, per_workspace: usize) -> Vec<(WorkspaceId, VecDeque<DueItem>)> {
    let mut grouped: std::collections::BTreeMap<WorkspaceId, VecDeque<DueItem>> = Default::default();
    for d in due {
        let q = grouped.entry(d.key.workspace.clone()).or_default();
        if q.len() < per_workspace {
            q.push_back(d);
        }
    }
    grouped.into_iter().collect()
}

/// The order the lanes are served in: by workspace id, starting at `start` (or the first
/// after it, if it has no work now), wrapping around.
pub(super) fn ring(workspaces: &BTreeSet<WorkspaceId>, start: Option<&WorkspaceId>) -> Vec<WorkspaceId> {
    let all: Vec<WorkspaceId> = workspaces.iter().cloned().collect();
    let at = start.map_or(0, |s| all.iter().position(|w| w >= s).unwrap_or(0));
    all[at..].iter().chain(all[..at].iter()).cloned().collect()
}

/// Items a lane's turn takes in a round: the run's concurrency spread over the active lanes.
pub(super) fn per_turn(concurrency: usize, active: usize) -> usize {
    (concurrency / active.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ItemKey;

    fn ws(s: &str) -> WorkspaceId {
        WorkspaceId::parse(s).unwrap()
    }

    #[test]
    fn the_ring_starts_where_the_last_run_stopped_and_wraps() {
        let set: BTreeSet<_> = ["20000001", "20000002", "20000003", "20000004"].into_iter().map(ws).collect();
        let ids = |v: Vec<WorkspaceId>| v.iter().map(|w| w.as_str().to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(ring(&set, None)), ["20000001", "20000002", "20000003", "20000004"]);
        assert_eq!(ids(ring(&set, Some(&ws("20000003")))), ["20000003", "20000004", "20000001", "20000002"]);
        // The start has no work any more: the next one after it begins.
        let fewer: BTreeSet<_> = ["20000001", "20000004"].into_iter().map(ws).collect();
        assert_eq!(ids(ring(&fewer, Some(&ws("20000002")))), ["20000004", "20000001"]);
        assert_eq!(ids(ring(&fewer, Some(&ws("20000009")))), ["20000001", "20000004"]);
    }

    #[test]
    fn due_retries_are_grouped_by_workspace_and_capped() {
        let due = |w: &str, id: u32| DueItem {
            key: format!("{w}/story/{}", 1_000_000 + id).parse::<ItemKey>().unwrap(),
            claim_until_ms: 0,
            pending_since_ms: 0,
        };
        let mut list: Vec<_> = (0..100).map(|i| due("20000001", i)).collect();
        list.push(due("20000002", 1));
        let grouped = group_due(list, 10);
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped[0].1.len(), 10);
        assert_eq!(grouped[1].1.len(), 1);
    }

    #[test]
    fn the_budget_is_sized_from_what_tapd_says_and_slows_when_told() {
        let seen = |limit: Option<u32>, remaining: Option<u32>, limited_ms: Option<u64>| RateSeen {
            limit,
            remaining: remaining.map(|r| (r, 1_000)),
            limited_ms,
        };
        assert_eq!(scheduled_limit(1500, &seen(None, None, None)), 1500);
        assert_eq!(scheduled_limit(1500, &seen(Some(1800), None, None)), 1500);
        assert_eq!(scheduled_limit(1500, &seen(Some(600), None, None)), 500);
        assert_eq!(scheduled_limit(9000, &seen(Some(6000), None, None)), 5000);
        assert!(!told_to_slow(&seen(Some(1800), Some(1000), None), 500));
        assert!(told_to_slow(&seen(Some(1800), Some(300), None), 500), "down to the deliveries' share");
        assert!(!told_to_slow(&seen(Some(1800), Some(300), None), 2_000), "said before the run");
        assert!(told_to_slow(&seen(None, None, Some(900)), 500));
        assert!(!told_to_slow(&seen(None, None, Some(400)), 500));
        // Seven slots of 35: 245 of the 250 a sliding minute may hold (300 less a sixth).
        assert_eq!(tdoc_per_slot(300), 35);
        assert_eq!(tdoc_per_slot(1), 1);
    }

    #[test]
    fn a_turn_takes_the_concurrency_spread_over_the_lanes() {
        assert_eq!(per_turn(8, 1), 8);
        assert_eq!(per_turn(8, 3), 2);
        assert_eq!(per_turn(8, 1000), 1);
        assert_eq!(per_turn(8, 0), 8);
    }
}
