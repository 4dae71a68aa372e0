//! The real binaries against sandboxes that answer in TAPD's and Tencent Docs' documented
//! shapes (tests/fixtures): the deliveries TAPD really sends, a busy item, token errors
//! both ways, creates that must not multiply, and the items a delivery never announced.

use harness::apigw::{Request, scheduled_event};
use harness::flows::{self, WORKSPACE};
use harness::stack::WEBHOOK_SECRET;
use sandbox::{Fault, FaultKind, ItemKind, TdocTokenError};
use serde_json::Value;

const PATH: &str = "/webhooks/tapd";

/// TAPD's documented `story::create` (128 KiB: the whole item), for `WORKSPACE` and `id`.
fn full_story_delivery(id: &str) -> String {
    let raw = include_str!("../../../fixtures/tapd/webhook_story_create_full.json");
    let mut v: Value = serde_json::from_str(raw).unwrap();
    v["workspace_id"] = WORKSPACE.into();
    v["id"] = id.into();
    v["secret"] = WEBHOOK_SECRET.into();
    v.to_string()
}

fn status_word(resp: &harness::apigw::Response) -> String {
    resp.json().and_then(|v| v["status"].as_str().map(String::from)).unwrap_or_default()
}

#[tokio::test]
async fn a_whole_128_kib_story_delivery_is_linked_whatever_its_content_type_says() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    for (n, ct) in ["application/json; charset=UTF-8", "text/plain", ""].into_iter().enumerate() {
        let id = format!("112000327100107129{n}");
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, &id, &format!("按月导出成本报表 {n}"));
        let body = full_story_delivery(&id);
        assert!(body.len() > 128 * 1024);
        let resp = webhook.http(&Request::post(PATH, ct, body)).await;
        assert_eq!((resp.status, status_word(&resp).as_str()), (200, "linked"), "{ct}: {}", resp.body);
        assert_eq!(flows::docs_and_comments_of(&stack, &id), (1, 1), "{ct}");
        // Nothing but the status word: no doc URL for whoever can reach the endpoint.
        assert!(!resp.body.contains("http"), "{}", resp.body);
    }
    // Beyond what Lambda accepts: refused unread.
    let huge = format!("{{\"event\":\"story::create\",\"pad\":\"{}\"}}", "x".repeat(7 * 1024 * 1024));
    assert_eq!(webhook.http(&Request::post(PATH, "application/json", huge)).await.status, 413);
}

#[tokio::test]
async fn a_legacy_form_bug_is_linked_with_its_title_and_a_clickable_comment() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271500647717";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Bug, id, "导出报表时金额小数位错误");
    let form = include_str!("../../../fixtures/tapd/webhook_bug_create_legacy.form")
        .trim()
        .replace("workspace_id=20355782", &format!("workspace_id={WORKSPACE}"))
        .replace("id=1120355782500647717", &format!("id={id}"))
        .replace("REPLACE_WITH_WEBHOOK_SECRET", WEBHOOK_SECRET);
    let resp = webhook.http(&Request::post(PATH, "application/x-www-form-urlencoded; charset=UTF-8", form)).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let docs = stack.sandbox.docs();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].title, "导出报表时金额小数位错误");
    assert!(
        docs[0].content.starts_with(&format!("TAPD 缺陷 #{id}：导出报表时金额小数位错误｜")),
        "{}",
        docs[0].content
    );
    let comments = stack.sandbox.comments();
    assert_eq!(comments.len(), 1);
    let expected =
        format!("<a href=\"{}\" target=\"_blank\" rel=\"noopener\">导出报表时金额小数位错误</a>", docs[0].url);
    assert!(comments[0].description.starts_with("<p>已为此缺陷创建腾讯文档："), "{}", comments[0].description);
    assert!(comments[0].description.contains(&expected), "{}", comments[0].description);
}

#[tokio::test]
async fn a_busy_item_whose_comment_reply_is_lost_ends_with_exactly_one_link_comment() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000035";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Busy item");
    for n in 0..35 {
        stack.sandbox.add_comment(WORKSPACE, ItemKind::Story, id, &format!("<p>earlier comment {n}</p>"), "lin");
    }
    // The comment lands but its reply is lost: the retry must find it past the first page.
    stack
        .sandbox
        .inject(Fault { method: Some("POST".into()), ..Fault::once("/tapd/api/comments", FaultKind::DropReply) });
    let resp = webhook.http(&flows::story_delivery(id, "1")).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let ours: Vec<_> = stack
        .sandbox
        .comments()
        .into_iter()
        .filter(|c| c.entry_id == id && c.description.contains("腾讯文档"))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(stack.sandbox.comments().iter().filter(|c| c.entry_id == id).count(), 36);
}

#[tokio::test]
async fn a_dead_docs_token_reported_inside_a_200_or_as_a_401_is_refreshed_once() {
    harness::needs_local_stack!();
    for variant in [TdocTokenError::Http200, TdocTokenError::Http401] {
        let (stack, webhook) = flows::connected(&[]).await;
        stack.sandbox.set_tdoc_token_error(variant);
        let id = "1120003271001000040";
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Token died");
        // Warm the webhook's cache, then kill every access token.
        let warm = "1120003271001000041";
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, warm, "Warm");
        assert_eq!(webhook.http(&flows::story_delivery(warm, "w")).await.status, 200);
        stack.sandbox.expire_access_tokens();
        let resp = webhook.http(&flows::story_delivery(id, "1")).await;
        assert_eq!((resp.status, status_word(&resp).as_str()), (200, "linked"), "{variant:?}: {}", resp.body);
        let (docs, comments) = flows::docs_and_comments_of(&stack, id);
        assert_eq!((docs, comments), (1, 1), "{variant:?}: a doc with its intro, never an empty one");
    }
}

#[tokio::test]
async fn a_refused_refresh_keeps_the_item_pending_and_marks_the_workspace() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    stack.sandbox.expire_access_tokens();
    stack.sandbox.expire_refresh_tokens();
    let id = "1120003271001000050";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Needs reconnect");
    let resp = webhook.http(&flows::story_delivery(id, "1")).await;
    assert!(resp.status >= 500, "{} {}", resp.status, resp.body);
    assert!(stack.sandbox.docs().is_empty());
    let record = flows::link_record(&stack, id).await.unwrap();
    assert_eq!(record.stage.status(), "pending");
    assert!(record.last_error.unwrap().contains("reconnect"));
    let binding = flows::raw_binding(&stack, WORKSPACE).await;
    assert!(binding.contains_key("needs_reconnect"), "{binding:?}");
}

#[tokio::test]
async fn a_create_that_may_have_landed_is_not_repeated_within_the_attempt() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let creates = || {
        stack.sandbox.requests().iter().filter(|r| r.method == "POST" && r.path.ends_with("/drive/v2/files")).count()
    };
    // A 5xx after the fact, a reply lost, an unreadable success: each attempt sends one
    // create at most, looks for it when its outcome is unknown, and the item ends with one doc.
    for (n, fault) in [FaultKind::Status(502), FaultKind::DropReply, FaultKind::Malformed].into_iter().enumerate() {
        let id = format!("112000327100100006{n}");
        let title = format!("Ambiguous {n}");
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, &id, &title);
        stack.sandbox.inject(Fault {
            method: Some("POST".into()),
            ..Fault::once("/tdoc/openapi/drive/v2/files$", fault.clone())
        });
        let before = creates();
        let resp = webhook.http(&flows::story_delivery(&id, "1")).await;
        assert_eq!(creates(), before + 1, "{fault:?}: one create per attempt, never a blind retry");
        if fault == FaultKind::DropReply {
            // It landed: the look finds it at once.
            assert_eq!(status_word(&resp), "linked", "{}", resp.body);
        } else {
            assert!(resp.status >= 500, "{fault:?}: {}", resp.body);
            let record = flows::link_record(&stack, &id).await.unwrap();
            assert_eq!(record.stage.status(), "pending");
            assert!(record.last_error.unwrap().contains("lost"), "{fault:?}");
            let again = webhook.http(&flows::story_delivery(&id, "2")).await;
            assert_eq!(status_word(&again), "linked", "{fault:?}: {}", again.body);
        }
        let docs: Vec<_> = stack.sandbox.docs().into_iter().filter(|d| d.title == title).collect();
        assert_eq!(docs.len(), 1, "{fault:?}: {docs:?}");
    }
}

#[tokio::test]
async fn an_outage_longer_than_the_old_attempt_limit_loses_nothing() {
    harness::needs_local_stack!();
    // Retries due at once (no backoff) so a dozen scheduled runs take no time.
    let (stack, webhook) = flows::connected(&[("RETRY_PERIOD", "0s")]).await;
    let ids = ["1120003271001000071", "1120003271001000072"];
    for id in ids {
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "During the outage");
    }
    stack.sandbox.inject(Fault { times: 1_000, ..Fault::once("/tapd/api/stories", FaultKind::Status(503)) });
    for id in ids {
        assert!(webhook.http(&flows::story_delivery(id, "1")).await.status >= 500);
    }
    // The outage's runs get 4 s: no room for in-invocation backoff (3 s per item at 30 s),
    // which this test is not about; what it checks is that no count of runs gives up.
    for _ in 0..12 {
        let run = webhook.invoke_with_deadline(scheduled_event(), std::time::Duration::from_secs(4)).await;
        assert!(run.response().is_some(), "{run:?}");
    }
    for id in ids {
        assert_eq!(flows::link_record(&stack, id).await.unwrap().stage.status(), "pending", "never given up");
    }
    stack.sandbox.clear_faults();
    webhook.invoke(scheduled_event()).await;
    for id in ids {
        assert_eq!(flows::link_record(&stack, id).await.unwrap().stage.status(), "done");
        assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1));
    }
}

#[tokio::test]
async fn a_story_whose_delivery_never_came_is_found_by_the_sweep() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000080";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Never delivered");
    let bug = "1120003271001000081";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Bug, bug, "Never delivered either");
    let summary = webhook.invoke(scheduled_event()).await;
    assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1), "{summary:?}");
    assert!(flows::link_record(&stack, bug).await.is_none(), "story records are keyed by kind");
    assert_eq!(stack.sandbox.comments().iter().filter(|c| c.entry_id == bug).count(), 1);
    // The next run, within the sweep interval, lists nothing again and makes nothing twice.
    webhook.invoke(scheduled_event()).await;
    assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1));
    assert_eq!(stack.sandbox.docs().len(), 2);
}

#[tokio::test]
async fn renames_follow_the_item_once_whatever_the_order_of_events() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000090";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Renamed before created");
    let update = |change: &str| {
        let mut e = flows::create_event(WORKSPACE, "story", id, "u1");
        e["event"] = "story::update".into();
        e["change_fields"] = change.into();
        Request::post_json(PATH, &e)
    };
    // The update arrives before its create, twice: one doc, with the current name.
    for _ in 0..2 {
        let resp = webhook.http(&update("name")).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
    }
    assert_eq!(webhook.http(&flows::story_delivery(id, "c1")).await.status, 200);
    assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1));
    // A real rename, delivered twice and concurrently: renamed once.
    let patches =
        || stack.sandbox.requests().iter().filter(|r| r.method == "PATCH" && !r.path.ends_with("/permission")).count();
    let before = patches();
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "新的名字");
    let (a, b) = tokio::join!(webhook.http(&update("name,owner")), webhook.http(&update("name")));
    assert!(a.status == 200 && b.status == 200, "{} {}", a.body, b.body);
    webhook.http(&update("name")).await;
    let docs = stack.sandbox.docs();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].title, "新的名字");
    // (The doc and its folder were given their titles once when made: provisional titles.)
    assert_eq!(patches() - before, 1, "renamed once");
    // An update of other fields does nothing.
    assert_eq!(status_word(&webhook.http(&update("status")).await), "unchanged");
}

#[tokio::test]
async fn a_deleted_item_keeps_its_doc_or_trashes_it_as_configured() {
    harness::needs_local_stack!();
    for (setting, trashed) in [("keep", false), ("trash", true)] {
        let (stack, webhook) = flows::connected(&[("ON_ITEM_DELETE", setting)]).await;
        let id = "1120003271001000095";
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "To be deleted");
        assert_eq!(webhook.http(&flows::story_delivery(id, "1")).await.status, 200);
        let mut e = flows::create_event(WORKSPACE, "story", id, "d1");
        e["event"] = "story::delete".into();
        // TAPD still shows it: the delivery is refused on record, nothing changes.
        let resp = webhook.http(&Request::post_json(PATH, &e)).await;
        assert_eq!((resp.status, status_word(&resp).as_str()), (200, "delete_refused"), "{}", resp.body);
        assert!(!stack.sandbox.docs()[0].deleted, "{setting}");
        let record = flows::link_record(&stack, id).await.unwrap();
        assert!(!record.deleted && record.delete_refused.is_some_and(|why| why.contains("TAPD still shows")));
        // Gone in TAPD: the delete is believed.
        stack.sandbox.remove_item(WORKSPACE, ItemKind::Story, id);
        for _ in 0..2 {
            let resp = webhook.http(&Request::post_json(PATH, &e)).await;
            assert_eq!((resp.status, status_word(&resp).as_str()), (200, "deleted"), "{}", resp.body);
        }
        assert_eq!(stack.sandbox.docs()[0].deleted, trashed, "{setting}");
        assert!(flows::link_record(&stack, id).await.unwrap().deleted);
    }
}

#[tokio::test]
async fn the_app_account_mode_creates_docs_the_team_can_open() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected_as_app(&[]).await;
    let id = "1120003271001000099";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "As the app");
    let resp = webhook.http(&flows::story_delivery(id, "1")).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let docs = stack.sandbox.docs();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].owner_open_id, stack.sandbox.tdoc_app_open_id());
    assert_eq!(docs[0].policy.as_deref(), Some("members"));
}
