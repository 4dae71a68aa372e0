//! The scheduled run (EventBridge, every few minutes): retries the pending items that are
//! due and sweeps each connected workspace for items whose delivery never came (a backfill
//! is a sweep from an earlier start), sharing one TAPD request budget kept in DynamoDB, so
//! concurrent runs and instances stay under TAPD's limit together. The workspaces with work
//! are served round robin ([`super::fair`]): a big backlog never holds a small one back.

use std::collections::{BTreeSet, VecDeque};

use futures_util::StreamExt;

use crate::deadline::Deadline;

use super::fair::{self, Budget, ITEM_COST, Purse, Reserved, Turn};
use super::{LinkError, Linker, Outcome};
use crate::ids::{ItemKind, WorkspaceId};
use crate::store::swept_kinds;
use crate::store::{DueItem, ItemKey, StoreError, SweepCursor};
use crate::tapd::{MAX_PAGE, TapdItem};
use crate::time::now_millis;

/// Items linked at once within a run: enough to drain a backlog at TAPD's rate, few
/// enough for a 128 MB function.
const CONCURRENCY: usize = 8;
/// Due retries read from the queue per run, and kept per workspace: more than a run
/// serves, so the queue is read in a bounded number of pages.
const DUE_READ: usize = 5_000;
const DUE_PER_WORKSPACE: usize = 64;
/// The share of the scheduled TAPD budget the sweeps due by the clock are sized to (their
/// list calls): a third, so links keep the rest.
const SWEEP_SHARE: u64 = 3;
/// Sweeps due by the clock a run takes up, at least (a small budget still sweeps a few
/// dozen workspaces a run; its fair share then paces them).
const SWEEPS_FLOOR: usize = 50;
/// Pages with nothing to link one turn lists on past (a kind each, at most).
const QUIET_PAGES_PER_TURN: u32 = 3;

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
    /// Workspaces that had scheduled work (lanes of the round robin).
    pub workspaces: u32,
    /// Rounds of the round robin.
    pub rounds: u32,
    /// Linked items whose doc was made to follow them again (a card or a move that had failed).
    pub followed_up: u32,
}

/// One workspace's scheduled work in a run: its due retries, its docs' due follow-ups, then
/// its sweep.
struct Lane {
    ws: WorkspaceId,
    retries: VecDeque<DueItem>,
    follows: VecDeque<ItemKey>,
    sweep: Option<SweepLane>,
}

impl Lane {
    fn new(ws: WorkspaceId) -> Self {
        Self { ws, retries: VecDeque::new(), follows: VecDeque::new(), sweep: None }
    }

    fn has_work(&self) -> bool {
        !self.retries.is_empty() || !self.follows.is_empty() || self.sweep.is_some()
    }
}

/// What a turn does with an item.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// A due retry: linked.
    Retry,
    /// Found by the sweep without a record: linked.
    Swept,
    /// A linked item whose doc has to catch up with it.
    FollowUp,
}

/// A sweep (or backfill) under way: where it stands, and the page listed and not yet done.
struct SweepLane {
    ws: WorkspaceId,
    cursor: SweepCursor,
    /// The kinds the sweep covers, and whether the workspace links each.
    kinds: Vec<(ItemKind, bool)>,
    page: Option<Listed>,
}

/// A listed page: its items without a record not yet taken, whether it was full, its last item's
/// creation time (where a window past TAPD's paging cap starts).
struct Listed {
    items: VecDeque<ItemKey>,
    /// Items the page listed (with a record or not).
    count: u64,
    full: bool,
    last_created_ms: Option<u64>,
}

/// What a sweep lane gives its turn next.
enum Next {
    /// An item to link, with what is reserved for it.
    Item(ItemKey, Reserved),
    /// The turn's allowance or the budget is spent: the lane waits for its next turn.
    Wait,
    /// The listed page is done: its cursor moves once what was taken is linked.
    PageDone,
    /// The cursor's record changed meanwhile (a backfill, another run): the lane leaves it.
    Gone,
}

/// TAPD refuses `page × limit` beyond this: deeper lists go on in a later window.
pub const TAPD_PAGING_CAP: usize = 20_000;

impl Linker {
    /// One scheduled run, before `deadline`.
    pub async fn scheduled(&self, deadline: Deadline) -> Result<RunSummary, StoreError> {
        let purse = Purse::new();
        let summary = tokio::sync::Mutex::new(RunSummary::default());
        let lanes = self.lanes(&summary).await?;
        self.serve(lanes, deadline, &purse, &summary).await?;
        self.give_back(&purse).await?;
        // Yesterday's digests for workspaces told of more given-up items than one by one.
        if let Err(e) = crate::notify::send_digests(&self.clients.store, &self.clients.notifier).await {
            tracing::warn!(error = %e, "could not send the given-up digests");
        }
        let mut summary = summary.into_inner();
        summary.out_of_budget = purse.spent_out();
        Ok(summary)
    }

    /// The lanes of this run, in the order they are served.
    async fn lanes(&self, summary: &tokio::sync::Mutex<RunSummary>) -> Result<Vec<Lane>, StoreError> {
        let store = &self.clients.store;
        let mut due = Vec::new();
        let mut cursor = None;
        let now = now_millis();
        loop {
            let (page, next) = store.due_items(now, 500, cursor).await?;
            due.extend(page);
            match next {
                Some(n) if due.len() < DUE_READ => cursor = Some(n),
                _ => break,
            }
        }
        let mut lanes: std::collections::BTreeMap<WorkspaceId, Lane> = fair::group_due(due, DUE_PER_WORKSPACE)
            .into_iter()
            .map(|(ws, retries)| (ws.clone(), Lane { retries, ..Lane::new(ws) }))
            .collect();
        for key in store.due_follows(now, DUE_READ).await? {
            let lane = lanes.entry(key.workspace.clone()).or_insert_with(|| Lane::new(key.workspace.clone()));
            if lane.follows.len() < DUE_PER_WORKSPACE {
                lane.follows.push_back(key);
            }
        }
        for sweep in self.due_sweeps(&lanes, now).await? {
            summary.lock().await.swept += 1;
            let ws = sweep.ws.clone();
            lanes.entry(ws.clone()).or_insert_with(|| Lane::new(ws)).sweep = Some(sweep);
        }
        let names: BTreeSet<WorkspaceId> = lanes.keys().cloned().collect();
        let start = store.fair_start().await?;
        let order = fair::ring(&names, start.as_ref());
        Ok(order.into_iter().filter_map(|ws| lanes.remove(&ws)).collect())
    }

    /// The sweeps this run takes up: those due by the clock, soonest first, as many as a
    /// run's share of the budget lists ([`Self::sweeps_per_run`]); and, beyond that bound,
    /// the due sweep of every workspace with due retries (something went wrong there: what
    /// its deliveries missed is found first). Read from the sweep index, so a run reads what
    /// it serves, not every workspace's cursor; the index is checked against the bindings
    /// once per `SWEEP_EVERY` ([`Self::check_sweep_index`]).
    async fn due_sweeps(
        &self,
        lanes: &std::collections::BTreeMap<WorkspaceId, Lane>,
        now: u64,
    ) -> Result<Vec<SweepLane>, StoreError> {
        let store = &self.clients.store;
        self.check_sweep_index().await?;
        let every = self.cfg.sweep_every.as_millis() as u64;
        let mut due: std::collections::BTreeMap<WorkspaceId, SweepCursor> =
            store.due_sweeps(now, self.sweeps_per_run()).await?.into_iter().collect();
        let evidence: Vec<&WorkspaceId> =
            lanes.values().filter(|l| !l.retries.is_empty() && !due.contains_key(&l.ws)).map(|l| &l.ws).collect();
        let cursors = futures_util::stream::iter(evidence)
            .map(|ws| async move { store.sweep_cursor(ws).await.map(|c| (ws.clone(), c)) })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        for found in cursors {
            if let (ws, Some(c)) = found?
                && c.due_ms(every) <= now
            {
                due.insert(ws, c);
            }
        }
        let lanes = futures_util::stream::iter(due)
            .map(|(ws, cursor)| async move { self.sweep_lane(ws, cursor).await })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        lanes.into_iter().filter_map(Result::transpose).collect()
    }

    /// Sweeps due by the clock one run takes up: a third of the scheduled TAPD budget's list
    /// calls, spread over the runs of a budget window, one call a kind (at least
    /// [`SWEEPS_FLOOR`]). With more workspaces than that covers in `SWEEP_EVERY`, each is swept
    /// less often, in turn (soonest due first), and the budget still goes to links.
    fn sweeps_per_run(&self) -> usize {
        let kinds = swept_kinds(self.cfg.link.link_tasks).len() as u64;
        let runs_per_window = (self.cfg.budget_window_secs / self.cfg.retry_period.as_secs().max(1)).max(1);
        let per_run = u64::from(self.cfg.tapd_budget) / SWEEP_SHARE / runs_per_window / kinds;
        (per_run as usize).max(SWEEPS_FLOOR)
    }

    /// Once per `SWEEP_EVERY` (across instances): every connected workspace's sweep is in the
    /// index (a binding written around `Store::bind`, or a cursor from before the index, is
    /// put there), and none of a workspace no longer connected is.
    async fn check_sweep_index(&self) -> Result<(), StoreError> {
        let store = &self.clients.store;
        let every = self.cfg.sweep_every.as_millis() as u64;
        if !store.claim_sweep_check(every).await? {
            return Ok(());
        }
        let (bound, indexed) = tokio::try_join!(store.bound_workspaces(), store.indexed_sweeps())?;
        let connected: BTreeSet<&WorkspaceId> = bound.iter().map(|b| &b.workspace).collect();
        let missing = bound.iter().filter(|b| !indexed.contains(&b.workspace));
        let stale = indexed.iter().filter(|ws| !connected.contains(ws));
        let added = futures_util::stream::iter(missing)
            .map(|b| store.index_sweep(&b.workspace, b.connected_at, every))
            .buffer_unordered(16)
            .collect::<Vec<_>>();
        let removed =
            futures_util::stream::iter(stale).map(|ws| store.unindex_sweep(ws)).buffer_unordered(16).collect();
        let (added, removed): (Vec<_>, Vec<_>) = tokio::join!(added, removed);
        added.into_iter().chain(removed).collect()
    }

    /// The workspace's sweep from its cursor, unless it is not due after all or is paused.
    async fn sweep_lane(&self, ws: WorkspaceId, mut cursor: SweepCursor) -> Result<Option<SweepLane>, StoreError> {
        let at_pass_start = cursor.at_pass_start();
        if cursor.due_ms(self.cfg.sweep_every.as_millis() as u64) > now_millis() {
            return Ok(None);
        }
        let place = match self.fresh_placement(&ws).await {
            Ok(p) => p,
            Err(LinkError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::warn!(workspace = %ws, error = %e, "sweep not started; it is tried next run");
                return Ok(None);
            }
        };
        // Paused: its cursor stays, so resuming sweeps what came meanwhile; it is due again a
        // `SWEEP_EVERY` later, not at the head of the queue, where paused workspaces would take
        // every run's share of sweeps.
        if place.paused {
            self.postpone_sweep(&ws, &mut cursor).await?;
            return Ok(None);
        }
        if at_pass_start {
            cursor.pass_started_ms = now_millis();
        }
        let kinds = swept_kinds(self.cfg.link.link_tasks).into_iter().map(|k| (k, place.events.links(k))).collect();
        Ok(Some(SweepLane { ws, cursor, kinds, page: None }))
    }

    /// Serves the lanes round robin until the budget, the deadline or the work runs out, and
    /// keeps where the next run starts.
    async fn serve(
        &self,
        mut lanes: Vec<Lane>,
        deadline: Deadline,
        purse: &Purse,
        summary: &tokio::sync::Mutex<RunSummary>,
    ) -> Result<(), StoreError> {
        summary.lock().await.workspaces = lanes.len() as u32;
        let mut next_start = None;
        let mut idle_rounds = 0;
        // The lane after the last one served: where the next run goes on when this one ends
        // by its deadline inside a round (thousands of lanes), so the ring moves on.
        let mut after_served: Option<WorkspaceId> = None;
        loop {
            lanes.retain(Lane::has_work);
            if lanes.is_empty() || purse.spent_out() || !deadline.has_reserves(3) {
                if !lanes.is_empty() && !purse.spent_out() && next_start.is_none() {
                    next_start = after_served;
                }
                break;
            }
            let k = fair::per_turn(CONCURRENCY, lanes.len());
            summary.lock().await.rounds += 1;
            let served = futures_util::stream::iter(lanes)
                .map(|mut lane| async move {
                    let turn = Turn::new(self, purse, lane.ws.clone(), k as u32 * ITEM_COST + 2);
                    let result = self.turn(&mut lane, &turn, k, deadline, summary).await;
                    let starved = !turn.has_allowance(ITEM_COST).await && purse.spent_out();
                    drop(turn);
                    (lane, result, starved)
                })
                .buffered((CONCURRENCY / k).max(1))
                .collect::<Vec<_>>()
                .await;
            // A 429 or a low remaining during the round: everyone's scheduled work waits.
            self.heed_tapd(purse).await?;
            lanes = Vec::with_capacity(served.len());
            let mut progressed = false;
            if let Some(i) = served.iter().rposition(|(_, result, starved)| matches!(result, Ok(true)) && !starved) {
                after_served = Some(served[(i + 1) % served.len()].0.ws.clone());
            }
            for (lane, result, starved) in served {
                progressed |= result?;
                if starved && next_start.is_none() {
                    next_start = Some(lane.ws.clone());
                }
                lanes.push(lane);
            }
            if next_start.is_some() {
                break;
            }
            // Every lane waits for its account's Tencent Docs slot: the run waits for the next
            // slot while its time allows (twice at most in a row), else the next run goes on.
            if !progressed {
                idle_rounds += 1;
                let slot_ms = fair::TDOC_SLOT_SECS * 1000;
                let wait = slot_ms - now_millis() % slot_ms + 50;
                if idle_rounds > 2
                    || !deadline.has_time_for(std::time::Duration::from_millis(wait + 3 * crate::retry::RESERVE_MS))
                {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            } else {
                idle_rounds = 0;
            }
        }
        // Where the budget ran out, the next run begins (its first window may not cover a round).
        if let Some(ws) = next_start {
            self.clients.store.put_fair_start(&ws).await?;
        }
        Ok(())
    }

    /// One lane's turn: up to `k` items (due retries first, then the sweep's), linked side
    /// by side; a sweep's page is marked done once its items are.
    async fn turn(
        &self,
        lane: &mut Lane,
        turn: &Turn<'_>,
        k: usize,
        deadline: Deadline,
        summary: &tokio::sync::Mutex<RunSummary>,
    ) -> Result<bool, StoreError> {
        let mut batch: Vec<(ItemKey, Work, Reserved)> = Vec::new();
        let mut page_done = false;
        // Pages done in this turn with nothing to link (a quiet kind, a page all on record): the
        // cursor moves on at once and the turn lists on, so a quiet workspace's pass takes one
        // turn, not one per kind.
        let (mut quiet_pages, mut moved, mut finished) = (0, false, None);
        let had_sweep = lane.sweep.is_some();
        while batch.len() < k && deadline.has_reserves(3) {
            if let Some(due) = lane.retries.pop_front() {
                if due.claim_until_ms >= now_millis() {
                    summary.lock().await.skipped_busy += 1;
                    continue;
                }
                let Some(reserved) = self.may_link(turn, &lane.ws).await? else {
                    lane.retries.push_front(due);
                    break;
                };
                batch.push((due.key, Work::Retry, reserved));
                continue;
            }
            if let Some(key) = lane.follows.pop_front() {
                let Some(reserved) = self.may_link(turn, &lane.ws).await? else {
                    lane.follows.push_front(key);
                    break;
                };
                batch.push((key, Work::FollowUp, reserved));
                continue;
            }
            let Some(sweep) = lane.sweep.as_mut() else { break };
            match self.sweep_next(sweep, turn, deadline).await {
                Ok(Next::Item(key, reserved)) => batch.push((key, Work::Swept, reserved)),
                Ok(Next::Wait) => break,
                Ok(Next::Gone) => {
                    lane.sweep = None;
                    break;
                }
                Ok(Next::PageDone) => {
                    if quiet_pages >= QUIET_PAGES_PER_TURN || batch.iter().any(|(_, w, _)| *w == Work::Swept) {
                        // Its items are linked first: the cursor moves once they are.
                        page_done = true;
                        break;
                    }
                    quiet_pages += 1;
                    match self.page_done(sweep) {
                        Some(done) => {
                            finished = Some(done);
                            break;
                        }
                        None => moved = true,
                    }
                }
                Err(LinkError::Store(e)) => return Err(e),
                Err(e) => {
                    // A passing failure (TAPD busy, rate limited): due as it was, the next run
                    // goes on. Refused (the app lost access to the workspace): where it stands,
                    // due a `SWEEP_EVERY` later, so it does not hold the head of the queue.
                    use crate::retry::Transient;
                    tracing::warn!(workspace = %lane.ws, error = %e, "sweep stopped; it resumes later");
                    if !e.is_transient() {
                        self.postpone_sweep(&lane.ws, &mut sweep.cursor).await?;
                    }
                    lane.sweep = None;
                    break;
                }
            }
        }
        let outcomes = futures_util::future::join_all(batch.iter().map(|(key, work, reserved)| async move {
            let work_done = async {
                match work {
                    Work::FollowUp => self.follow_up(key, deadline).await,
                    Work::Retry => self.link(key, None, deadline).await,
                    Work::Swept => {
                        tracing::info!(workspace = %key.workspace, kind = key.kind.as_str(), item = %key.id, "sweep found an item without a delivery");
                        self.link(key, None, deadline).await
                    }
                }
            };
            let (outcome, used) = crate::upstream::metered(work_done).await;
            turn.settle(reserved, used).await.map(|()| (*work, outcome))
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, StoreError>>()?;
        {
            let mut s = summary.lock().await;
            for (work, outcome) in &outcomes {
                match work {
                    Work::Swept => s.found_by_sweep += 1,
                    Work::Retry => s.seen += 1,
                    Work::FollowUp => {
                        if outcome.is_err() {
                            s.failed += 1;
                        } else {
                            s.followed_up += 1;
                        }
                        continue;
                    }
                }
                count(&mut s, outcome);
            }
        }
        if page_done && let Some(sweep) = lane.sweep.as_mut() {
            match self.page_done(sweep) {
                Some(done) => finished = Some(done),
                None => moved = true,
            }
        }
        if let Some(mut done) = finished {
            self.keep_sweep(&lane.ws, &mut done).await?;
            lane.sweep = None;
        } else if let Some(sweep) = lane.sweep.as_mut()
            && moved
            && !self.keep_sweep(&lane.ws, &mut sweep.cursor).await?
        {
            lane.sweep = None;
        }
        Ok(!outcomes.is_empty() || page_done || moved || had_sweep != lane.sweep.is_some())
    }

    /// Reserves what one link may spend: the account's Tencent Docs calls, then TAPD's requests.
    async fn may_link(&self, turn: &Turn<'_>, ws: &WorkspaceId) -> Result<Option<Reserved>, StoreError> {
        // Not connected: the link ends at once (it reads the item, at most).
        let account = self.tokens.account(&self.clients.store, ws).await?;
        turn.reserve(account).await
    }

    /// The sweep's next item without a record, listing the next page when one is needed.
    async fn sweep_next(&self, sweep: &mut SweepLane, turn: &Turn<'_>, deadline: Deadline) -> Result<Next, LinkError> {
        let store = &self.clients.store;
        let ws = sweep.ws.clone();
        loop {
            if let Some(listed) = sweep.page.as_mut() {
                let Some(key) = listed.items.pop_front() else { return Ok(Next::PageDone) };
                let Some(reserved) = self.may_link(turn, &ws).await? else {
                    listed.items.push_front(key);
                    return Ok(Next::Wait);
                };
                return Ok(Next::Item(key, reserved));
            }
            let Some(&(kind, links)) = sweep.kinds.get(sweep.cursor.kind_index as usize) else {
                // Every kind listed: the page (none) is done and the pass completes.
                sweep.page = Some(Listed { items: VecDeque::new(), count: 0, full: false, last_created_ms: None });
                return Ok(Next::PageDone);
            };
            // A kind the workspace does not link is not listed (the cursor stays the same
            // shape whatever its settings).
            if !links {
                sweep.page = Some(Listed { items: VecDeque::new(), count: 0, full: false, last_created_ms: None });
                return Ok(Next::PageDone);
            }
            if !turn.may_spend(Budget::Tapd, 1).await? {
                return Ok(Next::Wait);
            }
            let (since, page, w) = (sweep.cursor.window_start(), sweep.cursor.page, &ws);
            let list = self.tokens.call_tapd(&self.clients, deadline, |tok| async move {
                self.clients.tapd.list_created_since(&tok, w, kind, since, page).await
            });
            let items: Vec<TapdItem> = turn.pay_tapd(1, list).await??;
            let full = items.len() >= MAX_PAGE;
            let count = items.len() as u64;
            // A kind's first page: how many its pass lists, for progress (counted by TAPD when
            // there is more than a page, which is when progress is worth a look).
            if sweep.cursor.page == 1 && sweep.cursor.window_ms == 0 && sweep.cursor.counted <= sweep.cursor.kind_index
            {
                sweep.cursor.counted = sweep.cursor.kind_index + 1;
                sweep.cursor.total +=
                    if full { self.count_since(&ws, kind, since, turn, deadline).await?.max(count) } else { count };
                // Kept at once, so the progress shows what is left while the page is linked.
                if full && !self.keep_sweep(&ws, &mut sweep.cursor).await? {
                    return Ok(Next::Gone);
                }
            }
            let last_created_ms = items.last().and_then(|i| crate::time::parse_tapd_time(&i.created));
            // What has a record (delivered, or linked by an earlier pass) is not linked again.
            let keys: Vec<ItemKey> =
                items.into_iter().map(|i| ItemKey { workspace: ws.clone(), kind, id: i.id }).collect();
            let recorded = store.recorded(&keys).await?;
            let items = keys.into_iter().filter(|k| !recorded.contains(k)).collect();
            sweep.page = Some(Listed { items, count, full, last_created_ms });
        }
    }

    /// Keeps where the sweep stands, due again when [`SweepCursor::due_ms`] says. False when
    /// its record changed meanwhile (a backfill started, another run moved on) or is gone (the
    /// workspace was disconnected): this run leaves the sweep, and what it listed is listed
    /// again by the next (what has a record is skipped).
    async fn keep_sweep(&self, ws: &WorkspaceId, cursor: &mut SweepCursor) -> Result<bool, StoreError> {
        let due = cursor.due_ms(self.cfg.sweep_every.as_millis() as u64);
        let kept = self.clients.store.put_sweep_cursor(ws, cursor, due).await?;
        if !kept {
            tracing::info!(workspace = %ws, "the workspace's sweep was changed or removed meanwhile; this run leaves it");
        }
        Ok(kept)
    }

    /// Keeps the sweep where it stands, due a `SWEEP_EVERY` from now.
    async fn postpone_sweep(&self, ws: &WorkspaceId, cursor: &mut SweepCursor) -> Result<(), StoreError> {
        let due = now_millis() + self.cfg.sweep_every.as_millis() as u64;
        self.clients.store.put_sweep_cursor(ws, cursor, due).await.map(|_| ())
    }

    /// TAPD's count of a kind's items created since `since_ms` (0 when the budget has no
    /// request for it: progress then shows no "left").
    async fn count_since(
        &self,
        ws: &WorkspaceId,
        kind: ItemKind,
        since: u64,
        turn: &Turn<'_>,
        deadline: Deadline,
    ) -> Result<u64, LinkError> {
        if !turn.may_spend(Budget::Tapd, 1).await? {
            return Ok(0);
        }
        let count = self.tokens.call_tapd(&self.clients, deadline, |tok| async move {
            self.clients.tapd.count_created_since(&tok, ws, kind, since).await
        });
        turn.pay_tapd(1, count).await?
    }

    /// Moves the sweep's cursor past its listed page: the next page, the next window (past
    /// TAPD's paging cap), the next kind; the pass's closing cursor when every kind is done.
    fn page_done(&self, sweep: &mut SweepLane) -> Option<SweepCursor> {
        let listed = sweep.page.take()?;
        let c = &mut sweep.cursor;
        c.listed += listed.count;
        if listed.full {
            let next_page = c.page as usize + 1;
            match listed.last_created_ms {
                // The next page would pass TAPD's cap: a new window from the last item's
                // second (its second is listed again; what has a record is skipped).
                Some(last) if next_page * MAX_PAGE > TAPD_PAGING_CAP && last > c.window_start() => {
                    c.window_ms = last;
                    c.page = 1;
                }
                _ => c.page += 1,
            }
            return None;
        }
        c.kind_index += 1;
        c.page = 1;
        c.window_ms = 0;
        if (c.kind_index as usize) < sweep.kinds.len() {
            return None;
        }
        let overlap = self.cfg.sweep_overlap.as_millis() as u64;
        Some(SweepCursor {
            since_ms: c.pass_started_ms.saturating_sub(overlap),
            kind_index: 0,
            page: 1,
            window_ms: 0,
            listed: 0,
            total: 0,
            counted: 0,
            last_complete_ms: now_millis(),
            pass_started_ms: 0,
            written_ms: c.written_ms,
        })
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
