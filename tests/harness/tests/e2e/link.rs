//! The `tapd-webhook` release binary under the Lambda Runtime API emulator, against the
//! sandboxes and the local DynamoDB. Assertions are on what the sandboxes saw.

use std::time::Duration;

use harness::apigw::{Request, scheduled_event};
use harness::stack::{Stack, WEBHOOK_SECRET};
use harness::{Function, Invocation};
use sandbox::{Fault, FaultKind, ItemKind};
use serde_json::{Value, json};
use shared::ids::{ItemId, WorkspaceId};
use shared::store::ItemKey;

const PATH: &str = "/webhooks/tapd";
const WS: &str = "20003271";

fn event(kind: &str, id: &str, event_id: &str) -> Value {
    harness::flows::create_event(WS, kind, id, event_id)
}

/// A connected workspace and a running webhook function.
async fn connected(extra: &[(&str, &str)]) -> (Stack, Function) {
    harness::flows::connected(extra).await
}

fn link_key(kind: shared::ids::ItemKind, id: &str) -> ItemKey {
    ItemKey { workspace: WorkspaceId::parse(WS).unwrap(), kind, id: ItemId::parse(id).unwrap() }
}

fn docs_and_comments(stack: &Stack) -> (usize, usize) {
    (stack.sandbox.docs().len(), stack.sandbox.comments().len())
}

#[tokio::test]
async fn a_new_story_by_json_gets_a_doc_and_a_comment() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[]).await;
    let id = "1120003271001000028";
    stack.sandbox.add_item(WS, ItemKind::Story, id, "支付页面改版");
    let resp = webhook.http(&Request::post_json(PATH, &event("story", id, "42079"))).await;
    assert_eq!(resp.status, 200, "{}", resp.body);

    let docs = stack.sandbox.docs();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].title, "支付页面改版");
    assert_eq!(docs[0].owner_open_id, "a1b2c3d4", "created as the connected account");
    assert!(docs[0].content.contains(&format!("/{WS}/prong/stories/view/{id}")), "{}", docs[0].content);
    let comments = stack.sandbox.comments();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].entry_type, "stories");
    assert_eq!(comments[0].entry_id, id);
    assert!(comments[0].description.contains(&docs[0].url));
    // The answer is a status word: nothing for whoever can reach the endpoint to learn.
    assert_eq!(resp.json().unwrap(), json!({ "status": "linked" }));

    let link = stack.store().await.item(&link_key(shared::ids::ItemKind::Story, id)).await.unwrap().unwrap();
    assert_eq!(link.stage.status(), "done");
    assert_eq!(link.stage.doc().map(|d| d.url.as_str()), Some(docs[0].url.as_str()));
}

#[tokio::test]
async fn a_new_bug_by_form_gets_a_doc_titled_from_its_title() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[]).await;
    let id = "1120003271001000029";
    stack.sandbox.add_item(WS, ItemKind::Bug, id, "Login fails on Safari");
    let body = format!("event=bug%3A%3Acreate&workspace_id={WS}&id={id}&event_id=7&secret={WEBHOOK_SECRET}");
    let resp = webhook.http(&Request::post(PATH, "application/x-www-form-urlencoded", body)).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let docs = stack.sandbox.docs();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].title, "Login fails on Safari");
    let comments = stack.sandbox.comments();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].entry_type, "bug");
}

#[tokio::test]
async fn bad_secrets_are_refused_before_any_work() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[]).await;
    let before = stack.sandbox.requests().len();
    let mut wrong = event("story", "1", "1");
    wrong["secret"] = json!("whsec-guess");
    let mut empty = event("story", "1", "1");
    empty["secret"] = json!("");
    let mut missing = event("story", "1", "1");
    missing.as_object_mut().unwrap().remove("secret");
    for body in [wrong, empty, missing] {
        let resp = webhook.http(&Request::post_json(PATH, &body)).await;
        assert_eq!(resp.status, 401, "{}", resp.body);
    }
    let form = webhook
        .http(&Request::post(PATH, "application/x-www-form-urlencoded", "event=story%3A%3Acreate&secret=x"))
        .await;
    assert_eq!(form.status, 401);
    assert_eq!(stack.sandbox.requests().len(), before, "nothing reached TAPD or Tencent Docs");
    let logs = webhook.logs().join("\n");
    assert!(!logs.contains(WEBHOOK_SECRET) && !logs.contains("whsec-guess"));
}

#[tokio::test]
async fn malformed_ignored_and_unconnected_deliveries() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[]).await;
    let bad = webhook.http(&Request::post(PATH, "application/json", "{not json")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json().unwrap(), json!({ "status": "bad_request" }));
    let mut no_id = event("story", "1", "1");
    no_id["id"] = json!("../../etc/passwd");
    assert_eq!(webhook.http(&Request::post_json(PATH, &no_id)).await.status, 400);
    let mut update = event("story", "1", "1");
    update["event"] = json!("launchform::create");
    let ignored = webhook.http(&Request::post_json(PATH, &update)).await;
    assert_eq!(ignored.status, 200);
    assert_eq!(ignored.json().unwrap()["status"], "ignored");
    // task::create is not linked unless configured.
    let task = webhook.http(&Request::post_json(PATH, &event("task", "5", "5"))).await;
    assert_eq!(task.status, 200);

    let mut elsewhere = event("story", "1120009999001000001", "9");
    elsewhere["workspace_id"] = json!("20009999");
    let resp = webhook.http(&Request::post_json(PATH, &elsewhere)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json().unwrap()["status"], "not_connected");
    assert_eq!(webhook.http(&Request::get(PATH)).await.status, 405);
    assert_eq!(webhook.http(&Request::post_json("/webhooks/other", &update)).await.status, 404);
    let huge = "a".repeat(7 * 1024 * 1024);
    assert_eq!(webhook.http(&Request::post(PATH, "application/x-www-form-urlencoded", huge)).await.status, 413);
    assert_eq!(docs_and_comments(&stack), (0, 0));
}

#[tokio::test]
async fn tasks_are_linked_when_configured() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[("LINK_TASKS", "true"), ("DOC_TYPE_TASK", "sheet")]).await;
    stack.sandbox.add_item(WS, ItemKind::Task, "1120003271001000077", "Prepare release notes");
    let resp = webhook.http(&Request::post_json(PATH, &event("task", "1120003271001000077", "77"))).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let docs = stack.sandbox.docs();
    assert_eq!(docs[0].doc_type, "sheet");
    assert_eq!(stack.sandbox.comments()[0].entry_type, "tasks");
}

#[tokio::test]
async fn redeliveries_and_new_event_ids_make_no_second_doc() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[]).await;
    let id = "1120003271001000030";
    stack.sandbox.add_item(WS, ItemKind::Story, id, "Quarterly report");
    for event_id in ["100", "100", "101"] {
        let resp = webhook.http(&Request::post_json(PATH, &event("story", id, event_id))).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
    }
    assert_eq!(docs_and_comments(&stack), (1, 1));
}

#[tokio::test]
async fn eight_processes_on_one_event_make_one_doc_and_one_comment() {
    harness::needs_local_stack!();
    let (stack, first) = connected(&[]).await;
    let id = "1120003271001000031";
    stack.sandbox.add_item(WS, ItemKind::Story, id, "Concurrency");
    // Slow Tencent Docs down so the deliveries overlap for real.
    stack.sandbox.inject(Fault {
        method: None,
        path_prefix: "/tdoc/openapi/drive".into(),
        kind: FaultKind::Delay(Duration::from_millis(300)),
        times: 0,
    });
    let mut fns = vec![first];
    for _ in 0..7 {
        fns.push(stack.webhook().await);
    }
    let body = event("story", id, "555");
    let answers = futures::future::join_all(fns.iter().map(|f| f.http(&Request::post_json(PATH, &body)))).await;
    for a in &answers {
        assert!(a.status < 500, "{}", a.body);
    }
    assert_eq!(docs_and_comments(&stack), (1, 1));
}

#[tokio::test]
async fn a_kill_between_doc_and_comment_resumes_without_a_second_doc() {
    harness::needs_local_stack!();
    let (stack, mut victim) = connected(&[]).await;
    let id = "1120003271001000032";
    stack.sandbox.add_item(WS, ItemKind::Story, id, "Crash test");
    stack.sandbox.inject(Fault {
        method: Some("POST".into()),
        path_prefix: "/tapd/api/comments".into(),
        kind: FaultKind::Delay(Duration::from_secs(20)),
        times: 1,
    });
    let body = event("story", id, "900");
    let store = stack.store().await;
    let key = link_key(shared::ids::ItemKind::Story, id);
    let deadline = Duration::from_secs(6);
    let invocation = victim.invoke_with_deadline(Request::post_json(PATH, &body).to_event(), deadline);
    let watcher = async {
        // Kill once the doc is recorded, while the comment is in flight.
        for _ in 0..200 {
            if store.item(&key).await.unwrap().is_some_and(|l| l.stage.doc().is_some()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    };
    let (doc_recorded, ()) = tokio::join!(watcher, async {
        tokio::select! {
            _ = invocation => {}
            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
        }
    });
    assert!(doc_recorded, "the doc step was recorded before the kill");
    victim.kill().await;
    assert_eq!(stack.sandbox.docs().len(), 1);

    // The claim lapses at the killed invocation's deadline; then the retry resumes.
    tokio::time::sleep(deadline).await;
    let next = stack.webhook().await;
    let resp = next.http(&Request::post_json(PATH, &body)).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(docs_and_comments(&stack), (1, 1));
    assert_eq!(store.item(&key).await.unwrap().unwrap().stage.status(), "done");
}

#[tokio::test]
async fn an_upstream_503_keeps_the_event_pending_until_the_scheduled_retry() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[("RETRY_PERIOD", "0s")]).await;
    let id = "1120003271001000033";
    stack.sandbox.add_item(WS, ItemKind::Story, id, "Outage");
    stack.sandbox.inject(Fault {
        method: None,
        path_prefix: "/tdoc/openapi/drive".into(),
        kind: FaultKind::Status(503),
        times: 0,
    });
    let resp = webhook.http(&Request::post_json(PATH, &event("story", id, "1"))).await;
    assert!(resp.status >= 500, "{} {}", resp.status, resp.body);
    assert_eq!(docs_and_comments(&stack), (0, 0));
    let store = stack.store().await;
    let link = store.item(&link_key(shared::ids::ItemKind::Story, id)).await.unwrap().unwrap();
    assert_eq!(link.stage.status(), "pending");
    assert!(link.last_error.unwrap().contains("unavailable"));

    stack.sandbox.clear_faults();
    let summary = webhook.invoke(scheduled_event()).await;
    let Invocation::Response(summary) = summary else { panic!("{summary:?}") };
    assert_eq!(summary["linked"], 1, "{summary}");
    assert_eq!(docs_and_comments(&stack), (1, 1));
    // Nothing left: a second run does nothing.
    let again = webhook.invoke(scheduled_event()).await;
    assert_eq!(again.response().unwrap()["seen"], 0);
    assert_eq!(docs_and_comments(&stack), (1, 1));
}

#[tokio::test]
async fn an_item_older_than_give_up_after_is_given_up_with_why_and_a_new_delivery_tries_again() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[("GIVE_UP_AFTER", "0s"), ("RETRY_PERIOD", "0s")]).await;
    let id = "1120003271001000034";
    stack.sandbox.add_item(WS, ItemKind::Story, id, "Late");
    // Tencent Docs is down: the attempt fails, and the item is past its age.
    stack.sandbox.inject(Fault {
        method: None,
        path_prefix: "/tdoc/openapi/drive".into(),
        kind: FaultKind::Status(503),
        times: 0,
    });
    let resp = webhook.http(&Request::post_json(PATH, &event("story", id, "1"))).await;
    assert_eq!((resp.status, resp.json().unwrap()["status"].clone()), (200, json!("given_up")), "{}", resp.body);
    webhook.invoke(scheduled_event()).await;
    let link = stack.store().await.item(&link_key(shared::ids::ItemKind::Story, id)).await.unwrap().unwrap();
    assert_eq!(link.stage.status(), "given_up");
    let why = link.last_error.unwrap();
    assert!(why.contains("given up") && why.contains("unavailable"), "{why}");
    assert_eq!(docs_and_comments(&stack), (0, 0));
    // Tencent Docs is back; a new delivery starts it again at once.
    stack.sandbox.clear_faults();
    let resp = webhook.http(&Request::post_json(PATH, &event("story", id, "2"))).await;
    assert_eq!(resp.json().unwrap()["status"], "linked", "{}", resp.body);
    assert_eq!(docs_and_comments(&stack), (1, 1));
}

#[tokio::test]
async fn expired_tokens_are_refreshed_without_help() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[]).await;
    stack.sandbox.add_item(WS, ItemKind::Story, "1120003271001000035", "Before expiry");
    let resp = webhook.http(&Request::post_json(PATH, &event("story", "1120003271001000035", "1"))).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let before = stack.sandbox.issued_tokens();

    stack.sandbox.expire_access_tokens();
    stack.sandbox.add_item(WS, ItemKind::Story, "1120003271001000036", "After expiry");
    let resp = webhook.http(&Request::post_json(PATH, &event("story", "1120003271001000036", "2"))).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(docs_and_comments(&stack), (2, 2));
    let after = stack.sandbox.issued_tokens();
    assert!(after.tdoc_refresh > before.tdoc_refresh, "the Tencent Docs token was refreshed");
    assert!(after.tapd_app > before.tapd_app, "the TAPD app token was re-issued");

    // A fresh process reads the refreshed token from the table.
    let fresh = stack.webhook().await;
    stack.sandbox.add_item(WS, ItemKind::Story, "1120003271001000037", "New process");
    let resp = fresh.http(&Request::post_json(PATH, &event("story", "1120003271001000037", "3"))).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(stack.sandbox.issued_tokens().tdoc_refresh, after.tdoc_refresh, "no needless refresh");
}

#[tokio::test]
async fn long_cjk_titles_are_cut_on_characters() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[]).await;
    let name = "需求：支持在腾讯文档中自动创建与TAPD需求关联的文档并回写链接到评论区以便团队协作与追踪以及后续的验收";
    stack.sandbox.add_item(WS, ItemKind::Story, "1120003271001000038", name);
    let resp = webhook.http(&Request::post_json(PATH, &event("story", "1120003271001000038", "1"))).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let title = stack.sandbox.docs()[0].title.clone();
    assert_eq!(title.chars().count(), 36);
    assert!(name.starts_with(&title));
}

#[tokio::test]
async fn a_configured_custom_field_also_receives_the_doc_url() {
    harness::needs_local_stack!();
    let (stack, webhook) = connected(&[("TAPD_DOC_URL_FIELD", "custom_field_one")]).await;
    let id = "1120003271001000039";
    stack.sandbox.add_item(WS, ItemKind::Story, id, "With a field");
    let resp = webhook.http(&Request::post_json(PATH, &event("story", id, "1"))).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let url = stack.sandbox.docs()[0].url.clone();
    let updates = stack.sandbox.item_updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].id, id);
    assert_eq!(updates[0].fields.get("custom_field_one"), Some(&url));
    assert_eq!(docs_and_comments(&stack), (1, 1));
}
