//! The scheduled run's sweeps through the real `tapd-webhook` binary: many workspaces under
//! one TAPD budget, and a backfill that resumes where a killed run stopped.

use std::time::Duration;

use harness::apigw::scheduled_event;
use harness::flows::{self, WORKSPACE};
use harness::stack::Stack;
use sandbox::ItemKind;
use shared::ids::WorkspaceId;
use shared::time::parse_tapd_date;

fn tapd_requests(stack: &Stack) -> usize {
    stack.sandbox.requests().iter().filter(|r| r.path.starts_with("/tapd/api/")).count()
}

#[tokio::test]
async fn sweeps_of_many_workspaces_keep_to_the_tapd_budget() {
    harness::needs_local_stack!();
    // Ten connected workspaces, three undelivered stories each; scheduled work may spend 40
    // requests per window.
    let (stack, _) = flows::connected(&[]).await;
    let oauth = stack.oauth().await;
    let workspaces: Vec<String> = (0..10).map(|n| format!("2000327{n}")).collect();
    for (n, ws) in workspaces.iter().enumerate() {
        assert_eq!(stack.connect(&oauth, ws, &format!("acct{n}")).await.status, 200);
        for i in 0..3 {
            stack.sandbox.add_item(ws, ItemKind::Story, &format!("11{ws}0010000{n}{i}"), &format!("Sweep {n}.{i}"));
        }
    }
    let webhook = stack.spawn("tapd-webhook", &[("TAPD_BUDGET", "40")]).await;
    let before = tapd_requests(&stack);
    let run = webhook.invoke(scheduled_event()).await;
    let summary = run.response().unwrap_or_else(|| panic!("{run:?}")).clone();
    let spent = tapd_requests(&stack) - before;
    assert_eq!(summary["out_of_budget"], true, "{summary}");
    assert!(spent <= 40, "{spent} TAPD requests for a budget of 40: {summary}");
    let linked = summary["linked"].as_u64().unwrap();
    assert!(linked > 0 && linked < 30, "{summary}");
    // Nothing linked twice, and the table says what was spent: what the run took and did not
    // send (links in flight when it ran out) went back to the window.
    assert_eq!(stack.sandbox.docs().len() as u64, linked);
    let used = stack.store().await.budget_used(600).await.unwrap();
    assert_eq!(used as usize, spent, "{summary}");
    // Links pay what they send, not an estimate: a next run in the window spends what was given
    // back, so the window's budget is used but for less than one link's reservation (5).
    let again = webhook.invoke(scheduled_event()).await;
    let summary = again.response().unwrap_or_else(|| panic!("{again:?}")).clone();
    let spent = tapd_requests(&stack) - before;
    assert!((36..=40).contains(&spent), "{spent} TAPD requests of a budget of 40 while work waits: {summary}");
    assert_eq!(stack.store().await.budget_used(600).await.unwrap() as usize, spent);
}

#[tokio::test]
async fn a_backfill_resumes_where_a_killed_run_stopped() {
    harness::needs_local_stack!();
    let (stack, _) = flows::connected(&[]).await;
    // About resuming, not Tencent Docs' 300 calls a minute per Open-Id (230 links make minutes'
    // worth; fair.rs keeps to that limit): both the sandbox and the product are let go faster.
    stack.sandbox.set_tdoc_limits(sandbox::TdocLimits { file_ops_per_window: None, ..Default::default() });
    // 230 stories created long before the connection: more than one page of TAPD's list.
    let ids: Vec<String> = (0..230).map(|n| format!("1120003271{:09}", 5000 + n)).collect();
    for (n, id) in ids.iter().enumerate() {
        let created = format!("2026-01-{:02} 10:00:00", 1 + n % 28);
        stack.sandbox.add_item_with_fields(
            WORKSPACE,
            ItemKind::Story,
            id,
            &format!("Old {n}"),
            &[("created", &created)],
        );
    }
    let store = stack.store().await;
    let ws = WorkspaceId::parse(WORKSPACE).unwrap();
    store.backfill_since(&ws, parse_tapd_date("2026-01-01").unwrap()).await.unwrap();

    // A run killed part of the way through.
    let mut victim = stack.spawn("tapd-webhook", &[("TDOC_CALLS_PER_MINUTE", "100000")]).await;
    // Its claims lapse at its deadline, 8 s after it started.
    let run = victim.invoke_with_deadline(scheduled_event(), Duration::from_secs(8));
    let _ = tokio::time::timeout(Duration::from_secs(4), run).await;
    victim.kill().await;
    let after_kill = stack.sandbox.docs().len();
    assert!(after_kill > 0 && after_kill < ids.len(), "{after_kill} docs when killed");
    let cursor = store.sweep_cursor(&ws).await.unwrap().unwrap();
    assert!(cursor.page > 1 || cursor.kind_index > 0 || after_kill > 0, "{cursor:?}");
    // Its progress, from the record: TAPD counted the 230 when the first page came back full.
    let progress = cursor.progress(shared::time::now_millis()).expect("a pass under way");
    assert_eq!(progress.done + progress.left.unwrap(), 230, "{progress:?}");

    // The next runs resume where the cursor stands and finish; the items the killed run held
    // are retried once its claims lapse at its deadline.
    let webhook = stack.spawn("tapd-webhook", &[("RETRY_PERIOD", "0s"), ("TDOC_CALLS_PER_MINUTE", "100000")]).await;
    let until = std::time::Instant::now() + Duration::from_secs(90);
    while stack.sandbox.docs().len() < ids.len() && std::time::Instant::now() < until {
        webhook.invoke(scheduled_event()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let docs = stack.sandbox.docs();
    assert_eq!(docs.len(), ids.len(), "every old story linked once");
    let mut titles: Vec<_> = docs.iter().map(|d| d.title.clone()).collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), ids.len(), "no story linked twice");
    let cursor = store.sweep_cursor(&ws).await.unwrap().unwrap();
    assert!(cursor.last_complete_ms > 0, "the pass completed: {cursor:?}");
}

/// Sixty connected workspaces, more than a run takes up by the clock (50 here: a third of the
/// budget's list calls, at least 50): each is swept once over two runs, in turn; a workspace
/// with a due retry is swept in the first, beyond that bound, and what its deliveries missed
/// is linked at once.
#[tokio::test]
async fn workspaces_are_swept_in_turn_and_one_with_a_due_retry_at_once() {
    harness::needs_local_stack!();
    use shared::store::{ClaimOutcome, ItemKey};
    let (stack, _) = flows::connected(&[]).await;
    let oauth = stack.oauth().await;
    let workspaces: Vec<String> = (0..59).map(|n| format!("200034{n:02}")).collect();
    for (n, ws) in workspaces.iter().enumerate() {
        assert_eq!(stack.connect(&oauth, ws, &format!("turn{n}")).await.status, 200);
    }
    // The last in the sweeps' order: a delivery that failed (its record due now) and one that
    // never came.
    let late = &workspaces[58];
    let (retried, missed) = (format!("11{late}000000001"), format!("11{late}000000002"));
    stack.sandbox.add_item(late, ItemKind::Story, &retried, "重试的需求");
    stack.sandbox.add_item(late, ItemKind::Story, &missed, "漏掉的需求");
    let store = stack.store().await;
    let key: ItemKey = format!("{late}/story/{retried}").parse().unwrap();
    let now = shared::time::now_millis();
    let ClaimOutcome::Claimed(claim) = store.claim_item(&key, Some("ev-1"), "test", now + 60_000).await.unwrap() else {
        panic!("claimed")
    };
    let why = "TAPD unavailable";
    store.release_for_retry(&claim, shared::reason::Reason::legacy(why), why, now - 1000).await.unwrap();

    // A run every minute: a third of 1,500 requests over ten runs, two kinds, is 25 sweeps a run.
    let webhook = stack.spawn("tapd-webhook", &[("RETRY_PERIOD", "60s")]).await;
    let completed = |ws: &str| {
        let store = &store;
        let ws = WorkspaceId::parse(ws).unwrap();
        async move { store.sweep_cursor(&ws).await.unwrap().map_or(0, |c| c.last_complete_ms) }
    };
    let all: Vec<String> = std::iter::once(WORKSPACE.to_owned()).chain(workspaces.iter().cloned()).collect();
    let run = webhook.invoke(scheduled_event()).await;
    let summary = run.response().unwrap_or_else(|| panic!("{run:?}")).clone();
    assert_eq!(summary["swept"], 51, "{summary}");
    let mut first = std::collections::BTreeMap::new();
    for ws in &all {
        first.insert(ws.clone(), completed(ws).await);
    }
    assert_eq!(first.values().filter(|&&t| t > 0).count(), 51, "{first:?}");
    assert!(first[late] > 0, "the workspace with a due retry was swept in the first run");
    let titles: Vec<String> = stack.sandbox.docs().iter().map(|d| d.title.clone()).collect();
    assert!(
        titles.iter().any(|t| t.contains("重试的需求")) && titles.iter().any(|t| t.contains("漏掉的需求")),
        "{titles:?}"
    );

    let run = webhook.invoke(scheduled_event()).await;
    let summary = run.response().unwrap_or_else(|| panic!("{run:?}")).clone();
    assert_eq!(summary["swept"], 9, "the rest, and none again: {summary}");
    for ws in &all {
        let now = completed(ws).await;
        assert!(now > 0, "{ws} swept by the second run");
        if first[ws] > 0 {
            assert_eq!(now, first[ws], "{ws} swept once, not again within SWEEP_EVERY");
        }
    }
}

/// A deployment upgraded with a sweep under way: its cursor, written before the sweep index,
/// is taken up where it stood (here a backfill from January), not started afresh.
#[tokio::test]
async fn a_sweep_kept_from_before_the_index_goes_on_where_it_stood() {
    harness::needs_local_stack!();
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let (stack, _) = flows::connected(&[]).await;
    let old = format!("11{WORKSPACE}000000077");
    stack.sandbox.add_item_with_fields(
        WORKSPACE,
        ItemKind::Story,
        &old,
        "一月的需求",
        &[("created", "2026-01-15 10:00:00")],
    );
    // The cursor as the previous version wrote it: no index attributes.
    harness::dynamo::client()
        .await
        .put_item()
        .table_name(&stack.table)
        .item("pk", S(format!("SWEEP#{WORKSPACE}")))
        .item("sk", S("SWEEP".into()))
        .item("ws", S(WORKSPACE.into()))
        .item("since", N(parse_tapd_date("2026-01-01").unwrap().to_string()))
        .item("kind_index", N("0".into()))
        .item("page", N("1".into()))
        .item("last_complete", N("0".into()))
        .send()
        .await
        .unwrap();
    let webhook = stack.spawn("tapd-webhook", &[]).await;
    let run = webhook.invoke(scheduled_event()).await;
    let summary = run.response().unwrap_or_else(|| panic!("{run:?}")).clone();
    assert_eq!(summary["found_by_sweep"], 1, "{summary}");
    assert!(stack.sandbox.docs().iter().any(|d| d.title.contains("一月的需求")));
    let cursor = stack.store().await.sweep_cursor(&WorkspaceId::parse(WORKSPACE).unwrap()).await.unwrap().unwrap();
    assert!(cursor.last_complete_ms > 0 && cursor.since_ms > parse_tapd_date("2026-01-02").unwrap(), "{cursor:?}");
}

/// A paused workspace keeps its sweep where it stands but out of the way: due again a
/// `SWEEP_EVERY` later, so paused workspaces never take a run's share of sweeps.
#[tokio::test]
async fn a_paused_workspace_s_sweep_waits_without_holding_the_queue() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let store = stack.store().await;
    let ws = WorkspaceId::parse(WORKSPACE).unwrap();
    let before = store.sweep_cursor(&ws).await.unwrap().unwrap();
    shared::ops::pause(&store, &ws, "团队暂停").await.unwrap();
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, &format!("11{WORKSPACE}000000088"), "暂停时的需求");
    let run = webhook.invoke(scheduled_event()).await;
    let summary = run.response().unwrap_or_else(|| panic!("{run:?}")).clone();
    assert_eq!((summary["swept"].as_u64(), summary["found_by_sweep"].as_u64()), (Some(0), Some(0)), "{summary}");
    let due = store.due_sweeps(shared::time::now_millis(), 100).await.unwrap();
    assert!(due.iter().all(|(w, _)| *w != ws), "not due again before SWEEP_EVERY: {due:?}");
    let after = store.sweep_cursor(&ws).await.unwrap().unwrap();
    assert_eq!((after.since_ms, after.kind_index, after.page), (before.since_ms, before.kind_index, before.page));
    assert!(stack.sandbox.docs().is_empty());
}
