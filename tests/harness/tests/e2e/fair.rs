//! Fair share through the real `tapd-webhook` binary: scheduled work shares the TAPD budget
//! among the workspaces that have work, so a small workspace is not held behind a big one.

use harness::apigw::scheduled_event;
use harness::flows;
use harness::stack::Stack;
use sandbox::ItemKind;

fn docs_of(stack: &Stack, open_id: &str) -> usize {
    stack.sandbox.docs().iter().filter(|d| d.owner_open_id == open_id).count()
}

fn tapd_requests(stack: &Stack) -> usize {
    stack.sandbox.requests().iter().filter(|r| r.path.starts_with("/tapd/api/")).count()
}

/// The case: two workspaces with 150 missed items each, two with 3, first in id order
/// the big ones. After two scheduled runs the small ones are current; the big ones got their
/// share too; the budget was kept and nothing was linked twice.
#[tokio::test]
async fn small_workspaces_are_current_within_two_runs_beside_big_backlogs() {
    harness::needs_local_stack!();
    let (stack, _) = flows::connected(&[]).await;
    let oauth = stack.oauth().await;
    let plan =
        [("20003610", "big0", 150), ("20003611", "big1", 150), ("20003618", "small0", 3), ("20003619", "small1", 3)];
    for (n, (ws, acct, items)) in plan.iter().enumerate() {
        assert_eq!(stack.connect(&oauth, ws, acct).await.status, 200);
        for i in 0..*items {
            stack.sandbox.add_item(ws, ItemKind::Story, &format!("11{ws}{n}{i:07}"), &format!("Missed {acct}.{i}"));
        }
    }
    let webhook = stack.spawn("tapd-webhook", &[("TAPD_BUDGET", "90")]).await;
    let before = tapd_requests(&stack);
    for _ in 0..2 {
        let run = webhook.invoke(scheduled_event()).await;
        run.response().unwrap_or_else(|| panic!("{run:?}"));
    }
    let spent = tapd_requests(&stack) - before;
    for small in ["small0", "small1"] {
        assert_eq!(docs_of(&stack, small), 3, "{small}: every missed item linked within two runs");
    }
    let (big0, big1) = (docs_of(&stack, "big0"), docs_of(&stack, "big1"));
    assert!(big0 > 0 && big1 > 0 && big0 < 150 && big1 < 150, "big ones share the rest: {big0}, {big1}");
    assert!(big0.abs_diff(big1) <= 2, "the two big ones get alike shares: {big0}, {big1}");
    assert!(spent <= 90, "{spent} TAPD requests for a budget of 90");
    let docs = stack.sandbox.docs();
    let mut titles: Vec<_> = docs.iter().map(|d| d.title.clone()).collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), docs.len(), "nothing linked twice");
}
