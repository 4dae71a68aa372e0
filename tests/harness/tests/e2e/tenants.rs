//! Tenants apart: each connected workspace has its own webhook secret, shown once on the
//! connected page; a delivery opens only the workspace its secret belongs to (or any, with
//! the deployment's app-level secret, TAPD's app event subscription); a rotated secret works
//! through its grace period and not after. A refused delivery reaches nothing upstream and
//! writes nothing.

use std::time::Duration;

use harness::apigw::Request;
use harness::dynamo;
use harness::flows::{WEBHOOK_PATH, assert_no_panic, create_event, webhook_secret_on};
use harness::stack::{Stack, WEBHOOK_SECRET};
use sandbox::ItemKind;
use serde_json::Value;
use shared::ids::WorkspaceId;

const A: &str = "20003281";
const A_OPEN_ID: &str = "a1a1a1a1";
const B: &str = "20003282";
const B_OPEN_ID: &str = "b2b2b2b2";

fn delivery(ws: &str, id: &str, secret: &str, event: &str) -> Request {
    let mut e = create_event(ws, "story", id, &format!("{id}-{secret:.4}"));
    e["secret"] = secret.into();
    e["event"] = event.into();
    Request::post_json(WEBHOOK_PATH, &e)
}

fn word(resp: &harness::apigw::Response) -> Value {
    resp.json().map(|v| v["status"].clone()).unwrap_or_default()
}

async fn two_workspaces() -> (Stack, String, String) {
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    let a = stack.connect(&oauth, A, A_OPEN_ID).await;
    let b = stack.connect(&oauth, B, B_OPEN_ID).await;
    assert_eq!((a.status, b.status), (200, 200), "{} {}", a.body, b.body);
    for page in [&a.body, &b.body] {
        assert!(!page.contains(WEBHOOK_SECRET), "the deployment's secret is never shown");
    }
    let (sa, sb) = (webhook_secret_on(&a.body), webhook_secret_on(&b.body));
    assert_ne!(sa, sb);
    assert!(sa.len() >= 22, "at least 128 bits: {sa}");
    // Connecting again shows the same secret (it is the workspace's, until rotated).
    assert_eq!(webhook_secret_on(&stack.connect(&oauth, A, A_OPEN_ID).await.body), sa);
    (stack, sa, sb)
}

#[tokio::test]
async fn one_workspace_s_secret_never_opens_another() {
    harness::needs_local_stack!();
    let (stack, sa, sb) = two_workspaces().await;
    let webhook = stack.webhook().await;
    for (ws, id) in [(A, "1120003281000000001"), (B, "1120003282000000001")] {
        stack.sandbox.add_item(ws, ItemKind::Story, id, &format!("{ws} 的需求"));
    }
    // B's item, A's secret: refused before anything, for a create and for a delete.
    let seen = stack.sandbox.requests().len();
    for event in ["story::create", "story::update", "story::delete"] {
        let resp = webhook.http(&delivery(B, "1120003282000000001", &sa, event)).await;
        assert_eq!(resp.status, 401, "{event}: {}", resp.body);
    }
    assert_eq!(stack.sandbox.requests().len(), seen, "a refused delivery reached an upstream");
    let items = dynamo::scan_all(&dynamo::client().await, &stack.table).await;
    assert!(
        !items.iter().any(|i| i.get("pk").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.starts_with("ITEM#"))),
        "a refused delivery wrote a record"
    );
    // Each with its own secret: linked, as its own Tencent Docs account.
    for (ws, id, secret, owner) in
        [(A, "1120003281000000001", &sa, A_OPEN_ID), (B, "1120003282000000001", &sb, B_OPEN_ID)]
    {
        let resp = webhook.http(&delivery(ws, id, secret, "story::create")).await;
        assert_eq!(word(&resp), "linked", "{ws}: {}", resp.body);
        let doc = stack.sandbox.docs().into_iter().find(|d| d.content.contains(&format!("/view/{id}"))).unwrap();
        assert_eq!(doc.owner_open_id, owner, "{ws}'s doc is made as {ws}'s account");
    }
    // The app-level secret (TAPD's app event subscription) opens both.
    for (ws, id) in [(A, "1120003281000000002"), (B, "1120003282000000002")] {
        stack.sandbox.add_item(ws, ItemKind::Story, id, "应用订阅");
        let resp = webhook.http(&delivery(ws, id, WEBHOOK_SECRET, "story::create")).await;
        assert_eq!(word(&resp), "linked", "{ws}: {}", resp.body);
    }
    // A workspace secret opens no workspace that is not connected.
    let resp = webhook.http(&delivery("20003289", "1120003289000000001", &sa, "story::create")).await;
    assert_eq!(resp.status, 401, "{}", resp.body);
    // Stored sealed: the secrets' values are nowhere in the table's text.
    let dump = format!("{:?}", dynamo::scan_all(&dynamo::client().await, &stack.table).await);
    assert!(!dump.contains(&sa) && !dump.contains(&sb), "a webhook secret in plain text");
    assert_no_panic(&webhook);
}

#[tokio::test]
async fn a_rotated_secret_works_through_its_grace_and_not_after() {
    harness::needs_local_stack!();
    let (stack, old, _) = two_workspaces().await;
    let webhook = stack.webhook().await;
    // Warm: the old secret is in the instance's memory.
    stack.sandbox.add_item(A, ItemKind::Story, "1120003281000000010", "轮换前");
    assert_eq!(word(&webhook.http(&delivery(A, "1120003281000000010", &old, "story::create")).await), "linked");

    let store = stack.store().await;
    let ws = WorkspaceId::parse(A).unwrap();
    let (new, _) = shared::tenants::rotate(&store, &ws, Duration::from_secs(2)).await.unwrap();
    let new = new.expose().to_owned();
    assert_ne!(new, old);
    // Both work during the grace: deliveries TAPD queued with the old one still land.
    for (n, secret) in [(11, &old), (12, &new)] {
        let id = format!("11200032810000000{n}");
        stack.sandbox.add_item(A, ItemKind::Story, &id, &format!("宽限期内 {n}"));
        let resp = webhook.http(&delivery(A, &id, secret, "story::create")).await;
        assert_eq!(word(&resp), "linked", "{n}: {}", resp.body);
    }
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    stack.sandbox.add_item(A, ItemKind::Story, "1120003281000000013", "宽限期后");
    let resp = webhook.http(&delivery(A, "1120003281000000013", &old, "story::create")).await;
    assert_eq!(resp.status, 401, "the old secret after its grace: {}", resp.body);
    let cold = stack.webhook().await;
    assert_eq!(cold.http(&delivery(A, "1120003281000000013", &old, "story::create")).await.status, 401);
    let resp = webhook.http(&delivery(A, "1120003281000000013", &new, "story::create")).await;
    assert_eq!(word(&resp), "linked", "{}", resp.body);
    // A later rotation without grace drops what has retired, and the replaced secret stops
    // at once for an instance that has not seen it (a warm one learns within a minute).
    let (_, stored) = shared::tenants::rotate(&store, &ws, Duration::ZERO).await.unwrap();
    assert_eq!(stored.secrets.len(), 1);
    let cold = stack.webhook().await;
    assert_eq!(cold.http(&delivery(A, "1120003281000000013", &new, "story::create")).await.status, 401);
}
