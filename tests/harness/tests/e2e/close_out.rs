//! Close-out through the real binaries: an item entering an end status of its workflow has its
//! doc moved into the `已完成` sub-folder of its folder, and back when it leaves it; one
//! sub-folder whatever reply is lost and however many items close at once; a lost move reply
//! settled by the next look; a workspace that turned it off sees nothing move.

use harness::apigw::Request;
use harness::flows::{self, WEBHOOK_PATH, WORKSPACE};
use harness::stack::{Stack, WEBHOOK_SECRET};
use sandbox::{Fault, FaultKind, ItemKind};
use serde_json::Value;
use shared::ids::WorkspaceId;
use shared::store::{Spot, WorkspaceSettings};

fn status_word(resp: &harness::apigw::Response) -> String {
    resp.json().and_then(|v| v["status"].as_str().map(String::from)).unwrap_or_default()
}

fn ws() -> WorkspaceId {
    WorkspaceId::parse(WORKSPACE).unwrap()
}

/// Links story `id` (named `name`), and the folder its doc was made in.
async fn link(stack: &Stack, webhook: &harness::Function, id: &str) -> String {
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, &format!("Story {id}"));
    let resp = webhook.http(&flows::story_delivery(id, id)).await;
    assert_eq!((resp.status, status_word(&resp).as_str()), (200, "linked"), "{id}: {}", resp.body);
    doc_folder(stack, id).expect("the doc is in the workspace's folder")
}

/// The sandbox's doc of story `id`.
fn doc_of(stack: &Stack, id: &str) -> sandbox::Doc {
    let docs: Vec<_> =
        stack.sandbox.docs().into_iter().filter(|d| d.content.contains(&format!("/view/{id}")) && !d.deleted).collect();
    assert_eq!(docs.len(), 1, "{id}: {docs:?}");
    docs[0].clone()
}

fn doc_folder(stack: &Stack, id: &str) -> Option<String> {
    doc_of(stack, id).folder_id
}

/// The folders titled `title` whose parent is `parent`.
fn folders_titled(stack: &Stack, parent: &str, title: &str) -> Vec<String> {
    stack
        .sandbox
        .folders()
        .into_iter()
        .filter(|f| f.parent_id.as_deref() == Some(parent) && f.title == title)
        .map(|f| f.id)
        .collect()
}

/// A person changes story `id`'s status in TAPD; the deliveries TAPD makes for it (the update,
/// then the status change), as the sandbox shapes them.
async fn change_status(stack: &Stack, id: &str, status: &str) -> Vec<Request> {
    let change = stack
        .sandbox
        .change_item(WORKSPACE, ItemKind::Story, id, &[("status", status)], "lin", false)
        .await
        .expect("a status of the workflow");
    assert!(!change.events.is_empty(), "{id}: no change to {status}");
    change
        .events
        .into_iter()
        .map(|mut e: Value| {
            e["secret"] = Value::from(WEBHOOK_SECRET);
            Request::post_json(WEBHOOK_PATH, &e)
        })
        .collect()
}

/// Delivers them one after the other; every answer a 2xx.
async fn deliver(webhook: &harness::Function, deliveries: &[Request]) {
    for d in deliveries {
        let resp = webhook.http(d).await;
        assert!((200..300).contains(&resp.status), "{}: {}", resp.status, resp.body);
    }
}

#[tokio::test]
async fn a_closed_item_s_doc_moves_into_done_and_back_when_it_reopens() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000301";
    let home = link(&stack, &webhook, id).await;
    let other = "1120003271001000302";
    link(&stack, &webhook, other).await;

    // 已实现 ends the default story workflow.
    deliver(&webhook, &change_status(&stack, id, "resolved").await).await;
    let done = folders_titled(&stack, &home, "已完成");
    assert_eq!(done.len(), 1, "one 已完成 in the workspace's folder: {:?}", stack.sandbox.folders());
    assert_eq!(doc_folder(&stack, id).as_deref(), Some(done[0].as_str()));
    assert_eq!(doc_folder(&stack, other).as_deref(), Some(home.as_str()), "the open item's doc stays");
    let record = flows::link_record(&stack, id).await.unwrap();
    assert_eq!((record.place.at, record.place.moving_to), (Spot::Sub(done[0].clone()), None));

    // A redelivery changes nothing; a second item closing finds the same sub-folder.
    deliver(&webhook, &change_status(&stack, other, "rejected").await).await;
    assert_eq!(doc_folder(&stack, other).as_deref(), Some(done[0].as_str()));
    assert_eq!(folders_titled(&stack, &home, "已完成"), done);

    // Reopened: back where it was made.
    deliver(&webhook, &change_status(&stack, id, "developing").await).await;
    assert_eq!(doc_folder(&stack, id).as_deref(), Some(home.as_str()));
    assert_eq!(folders_titled(&stack, &home, "已完成"), done, "the sub-folder stays, made once");
    // A status in the middle of the workflow moves nothing.
    let moves = stack.sandbox.requests().iter().filter(|r| r.path.ends_with("/move")).count();
    deliver(&webhook, &change_status(&stack, id, "for_test").await).await;
    assert_eq!(stack.sandbox.requests().iter().filter(|r| r.path.ends_with("/move")).count(), moves);
    assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1));
    flows::assert_no_panic(&webhook);
}

#[tokio::test]
async fn a_workspace_that_turned_close_out_off_sees_nothing_move() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000311";
    let home = link(&stack, &webhook, id).await;
    let off = WorkspaceSettings { close_out: Some(false), ..Default::default() };
    stack.store().await.put_workspace_settings(&ws(), &off).await.unwrap();
    // A fresh instance (a warm one follows a change within the settings' 5 minutes, as for
    // every setting).
    let webhook = stack.spawn("tapd-webhook", &[]).await;
    deliver(&webhook, &change_status(&stack, id, "resolved").await).await;
    assert_eq!(doc_folder(&stack, id).as_deref(), Some(home.as_str()));
    assert!(folders_titled(&stack, &home, "已完成").is_empty(), "no sub-folder made");
    assert!(!stack.sandbox.requests().iter().any(|r| r.path.ends_with("/move")));
}

#[tokio::test]
async fn one_done_folder_with_its_create_reply_lost_and_two_items_closing_at_once() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let other = stack.spawn("tapd-webhook", &[]).await;
    let (a, b) = ("1120003271001000321", "1120003271001000322");
    let home = link(&stack, &webhook, a).await;
    link(&stack, &webhook, b).await;
    let (to_a, to_b) = (change_status(&stack, a, "resolved").await, change_status(&stack, b, "resolved").await);
    // The sub-folder's create lands, its reply is lost.
    stack.sandbox.inject(Fault {
        method: Some("POST".into()),
        path_prefix: "/tdoc/openapi/drive/v2/folders$".into(),
        kind: FaultKind::DropReply,
        times: 1,
    });
    // Two instances, at once.
    tokio::join!(deliver(&webhook, &to_a), deliver(&other, &to_b));
    let done = folders_titled(&stack, &home, "已完成");
    assert_eq!(done.len(), 1, "{:?}", stack.sandbox.folders());
    assert!(stack.sandbox.faults().is_empty(), "the create was made");
    for id in [a, b] {
        assert_eq!(doc_folder(&stack, id).as_deref(), Some(done[0].as_str()), "{id}");
    }
    let remembered = stack.store().await.folder(&ws(), &format!("done#{home}")).await.unwrap();
    assert_eq!(remembered.as_deref(), Some(done[0].as_str()));
}

#[tokio::test]
async fn a_lost_move_reply_and_failing_reads_still_leave_the_doc_where_the_status_says() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000331";
    let home = link(&stack, &webhook, id).await;
    // The move lands, its reply is lost: the listing that follows finds it there.
    stack.sandbox.inject(Fault::once("/tdoc/openapi/drive/v2/files/*/move", FaultKind::DropReply));
    deliver(&webhook, &change_status(&stack, id, "resolved").await).await;
    let done = folders_titled(&stack, &home, "已完成");
    assert_eq!(done.len(), 1);
    assert_eq!(doc_folder(&stack, id).as_deref(), Some(done[0].as_str()));
    let record = flows::link_record(&stack, id).await.unwrap();
    assert_eq!((record.place.at, record.place.moving_to), (Spot::Sub(done[0].clone()), None));

    // Every read failing once (the end statuses, the folder listings, the item): the doc
    // still goes back.
    for path in ["/tapd/api/workflows/last_steps", "/tdoc/openapi/drive/v2/folders/", "/tapd/api/stories"] {
        stack.sandbox.inject(Fault::once(path, FaultKind::Status(503)));
    }
    deliver(&webhook, &change_status(&stack, id, "developing").await).await;
    assert_eq!(doc_folder(&stack, id).as_deref(), Some(home.as_str()));
    assert_eq!(folders_titled(&stack, &home, "已完成"), done);
}

#[tokio::test]
async fn a_move_that_failed_is_settled_by_the_next_change() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000341";
    let home = link(&stack, &webhook, id).await;
    // The move is refused outright (not in doubt): the doc stays, the card is still written.
    stack.sandbox.inject(Fault {
        method: None,
        path_prefix: "/tdoc/openapi/drive/v2/files/*/move".into(),
        kind: FaultKind::Status(500),
        times: 10,
    });
    deliver(&webhook, &change_status(&stack, id, "resolved").await).await;
    assert_eq!(doc_folder(&stack, id).as_deref(), Some(home.as_str()));
    let record = flows::link_record(&stack, id).await.unwrap();
    assert!(record.place.moving_to.is_some(), "the record says where the doc was going: {:?}", record.place);
    stack.sandbox.clear_faults();
    // The next change (the owner) reads the item afresh: still closed, the doc goes.
    let change =
        stack.sandbox.change_item(WORKSPACE, ItemKind::Story, id, &[("owner", "wu")], "lin", false).await.unwrap();
    let deliveries: Vec<Request> = change
        .events
        .into_iter()
        .map(|mut e: Value| {
            e["secret"] = Value::from(WEBHOOK_SECRET);
            Request::post_json(WEBHOOK_PATH, &e)
        })
        .collect();
    deliver(&webhook, &deliveries).await;
    let done = folders_titled(&stack, &home, "已完成");
    assert_eq!(done.len(), 1);
    assert_eq!(doc_folder(&stack, id).as_deref(), Some(done[0].as_str()));
    assert_eq!(flows::link_record(&stack, id).await.unwrap().place.moving_to, None);
}

/// A move Tencent Docs would not make, and no further delivery: the scheduled run moves the
/// doc once it can.
#[tokio::test]
async fn a_move_that_failed_is_made_by_the_next_scheduled_run() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("HTTP_TIMEOUT_MS", "400"), ("RETRY_PERIOD", "1")]).await;
    let id = "1120003271001000311";
    let home = link(&stack, &webhook, id).await;
    stack.sandbox.inject(Fault {
        method: Some("PATCH".into()),
        path_prefix: "/tdoc/openapi/drive/v2/files/".into(),
        kind: FaultKind::Status(503),
        times: 0,
    });
    for d in change_status(&stack, id, "resolved").await {
        let _ = webhook.invoke_with_deadline(d.to_event(), std::time::Duration::from_millis(4_600)).await;
    }
    assert_eq!(doc_folder(&stack, id).as_deref(), Some(home.as_str()), "not moved yet");
    stack.sandbox.clear_faults();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let run = webhook.invoke(harness::apigw::scheduled_event()).await;
    let summary = run.response().unwrap_or_else(|| panic!("{run:?}")).clone();
    assert_eq!(summary["followed_up"], 1, "{summary}");
    let done = folders_titled(&stack, &home, "已完成");
    assert_eq!(done.len(), 1, "{:?}", stack.sandbox.folders());
    assert_eq!(doc_folder(&stack, id).as_deref(), Some(done[0].as_str()));
    assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1));
    flows::assert_no_panic(&webhook);
}
