//! The scheduled run (EventBridge, every few minutes): retries the pending items that are
//! due, then sweeps each connected workspace for items whose delivery never came. Both
//! spend one TAPD request budget kept in DynamoDB, so concurrent runs and instances stay
//! under TAPD's limit (1,800 requests per 10 minutes per app) together.

use crate::deadline::Deadline;
use std::collections::HashSet;

use futures_util::StreamExt;
use tokio::sync::Mutex;

use super::{LinkError, Linker, Outcome};
use crate::store::swept_kinds;
use crate::store::{BoundWorkspace, ItemKey, StoreError, SweepCursor};
use crate::tapd::{MAX_PAGE, TapdItem};
use crate::time::now_millis;

/// TAPD requests one link costs, about (the item, the comment, a token now and then, and
/// the card's names: the workflow and the iteration, once per workspace and instance).
const ITEM_COST: u32 = 4;
/// Budget is taken from the table this many requests at a time, not one write per call.
const BUDGET_CHUNK: u32 = 30;
/// Items linked at once within a run: enough to drain a backlog at TAPD's rate, few
/// enough for a 128 MB function.
const CONCURRENCY: usize = 8;

#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunSummary {
    /// Due items looked at.
    pub seen: u32,
    pub linked: u32,
    /// Attempts that failed (the items stay pending, due again after a backoff).
    pub failed: u32,
    pub given_up: u32,
    pub skipped_busy: u32,
    /// Workspaces whose sweep ran (a whole pass or a part of one).
    pub swept: u32,
    /// Items a sweep found without a record, and linked (or tried).
    pub found_by_sweep: u32,
    /// The run stopped because the TAPD budget of the window was spent.
    pub out_of_budget: bool,
}

/// A share of the TAPD budget taken from the table, spent locally.
struct Purse {
    left: Mutex<u32>,
}

impl Linker {
    /// One scheduled run, before `deadline`.
    pub async fn scheduled(&self, deadline: Deadline) -> Result<RunSummary, StoreError> {
        let purse = Purse { left: Mutex::new(0) };
        let mut summary = RunSummary::default();
        // Retries first, but not all the time: a long backlog must not starve the sweep.
        let retry_deadline = deadline.share(2, 3);
        self.retry_due(retry_deadline, deadline, &purse, &mut summary).await?;
        if !summary.out_of_budget {
            self.sweep(deadline, &purse, &mut summary).await?;
        }
        // Yesterday's digests for workspaces told of more given-up items than one by one.
        if let Err(e) = crate::notify::send_digests(&self.clients.store, &self.clients.notifier).await {
            tracing::warn!(error = %e, "could not send the given-up digests");
        }
        Ok(summary)
    }

    /// Takes `cost` requests from the budget; `false` when the window's budget is spent.
    async fn spend(&self, purse: &Purse, cost: u32) -> Result<bool, StoreError> {
        let mut left = purse.left.lock().await;
        if *left < cost {
            let chunk = BUDGET_CHUNK.max(cost);
            if !self.clients.store.take_budget(chunk, self.cfg.tapd_budget, self.cfg.budget_window_secs).await? {
                return Ok(false);
            }
            *left += chunk;
        }
        *left -= cost;
        Ok(true)
    }

    async fn retry_due(
        &self,
        stop: Deadline,
        deadline: Deadline,
        purse: &Purse,
        summary: &mut RunSummary,
    ) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        let mut cursor = None;
        let shared = Mutex::new(std::mem::take(summary));
        let result = loop {
            let (page, next) = match self.clients.store.due_items(now_millis(), 50, cursor).await {
                Ok(page) => page,
                Err(e) => break Err(e),
            };
            let fresh: Vec<_> = page.into_iter().filter(|d| seen.insert(d.key.clone())).collect();
            let shared = &shared;
            let stopped = futures_util::stream::iter(fresh)
                .map(|due| async move {
                    if !stop.has_reserves(3) {
                        return Ok(true);
                    }
                    if due.claim_until_ms >= now_millis() {
                        shared.lock().await.skipped_busy += 1;
                        return Ok(false);
                    }
                    if !self.spend(purse, ITEM_COST).await? {
                        shared.lock().await.out_of_budget = true;
                        return Ok(true);
                    }
                    let outcome = self.link(&due.key, None, deadline).await;
                    let mut s = shared.lock().await;
                    s.seen += 1;
                    count(&mut s, &outcome);
                    Ok::<bool, StoreError>(false)
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<Vec<bool>, _>>();
            let stopped = match stopped {
                Ok(stops) => stops.into_iter().any(|stop| stop),
                Err(e) => break Err(e),
            };
            match next {
                Some(n) if !stopped => cursor = Some(n),
                _ => break Ok(()),
            }
        };
        *summary = shared.into_inner();
        result
    }

    /// Sweeps each connected workspace whose last pass is older than `SWEEP_EVERY`: lists
    /// the items created since its window start (with an overlap, for items committed late
    /// or clocks that disagree) and links every one without a record.
    async fn sweep(&self, deadline: Deadline, purse: &Purse, summary: &mut RunSummary) -> Result<(), StoreError> {
        for ws in self.clients.store.bound_workspaces().await? {
            if !deadline.has_reserves(3) || summary.out_of_budget {
                break;
            }
            match self.sweep_one(&ws, deadline, purse, summary).await {
                Ok(()) => {}
                Err(LinkError::Store(e)) => return Err(e),
                Err(e) => tracing::warn!(workspace = %ws.workspace, error = %e, "sweep stopped; it resumes next run"),
            }
        }
        Ok(())
    }

    async fn sweep_one(
        &self,
        bound: &BoundWorkspace,
        deadline: Deadline,
        purse: &Purse,
        summary: &mut RunSummary,
    ) -> Result<(), LinkError> {
        let store = &self.clients.store;
        let ws = &bound.workspace;
        let overlap = self.cfg.sweep_overlap.as_millis() as u64;
        let mut cursor = match store.sweep_cursor(ws).await? {
            Some(c) => c,
            // The first sweep starts at the connection: earlier items are a backfill's.
            None => SweepCursor {
                since_ms: (bound.connected_at * 1000).saturating_sub(overlap),
                kind_index: 0,
                page: 1,
                last_complete_ms: 0,
                pass_started_ms: 0,
            },
        };
        let at_pass_start = cursor.kind_index == 0 && cursor.page == 1;
        if at_pass_start && now_millis() < cursor.last_complete_ms + self.cfg.sweep_every.as_millis() as u64 {
            return Ok(());
        }
        if at_pass_start {
            cursor.pass_started_ms = now_millis();
        }
        summary.swept += 1;
        let kinds = swept_kinds(self.cfg.link.link_tasks);
        let since = cursor.since_ms;
        let place = self.fresh_placement(ws).await?;
        // Paused: its cursor stays, so resuming sweeps what came meanwhile.
        if place.paused {
            return Ok(());
        }
        while let Some(&kind) = kinds.get(cursor.kind_index as usize) {
            if !deadline.has_reserves(3) {
                return Ok(());
            }
            // A kind the workspace does not link is not listed (the cursor stays the same
            // shape whatever its settings).
            if !place.events.links(kind) {
                cursor.kind_index += 1;
                cursor.page = 1;
                continue;
            }
            if !self.spend(purse, 1).await? {
                summary.out_of_budget = true;
                return Ok(());
            }
            let page = cursor.page;
            let (s, w) = (since, ws);
            let items: Vec<TapdItem> = self
                .tokens
                .call_tapd(&self.clients, deadline, |tok| async move {
                    self.clients.tapd.list_created_since(&tok, w, kind, s, page).await
                })
                .await?;
            let full = items.len() >= MAX_PAGE;
            for item in items {
                let key = ItemKey { workspace: ws.clone(), kind, id: item.id };
                if store.item(&key).await?.is_some() {
                    continue;
                }
                if !deadline.has_reserves(3) {
                    return Ok(());
                }
                if !self.spend(purse, ITEM_COST).await? {
                    summary.out_of_budget = true;
                    return Ok(());
                }
                summary.found_by_sweep += 1;
                tracing::info!(workspace = %ws, kind = kind.as_str(), item = %key.id, "sweep found an item without a delivery");
                let outcome = self.link(&key, None, deadline).await;
                count(summary, &outcome);
            }
            if full {
                cursor.page += 1;
            } else {
                cursor.kind_index += 1;
                cursor.page = 1;
            }
            store.put_sweep_cursor(ws, &cursor).await?;
        }
        let done = SweepCursor {
            since_ms: cursor.pass_started_ms.saturating_sub(overlap),
            kind_index: 0,
            page: 1,
            last_complete_ms: now_millis(),
            pass_started_ms: 0,
        };
        store.put_sweep_cursor(ws, &done).await?;
        Ok(())
    }
}

fn count(s: &mut RunSummary, outcome: &Result<Outcome, LinkError>) {
    match outcome {
        Ok(Outcome::Linked { .. }) => s.linked += 1,
        Ok(Outcome::GivenUp) => s.given_up += 1,
        Ok(Outcome::InProgress) => s.skipped_busy += 1,
        // Waiting by the workspace's own choice, not failing.
        Ok(Outcome::Paused | Outcome::NotActedOn) => {}
        Ok(_) | Err(_) => s.failed += 1,
    }
}
