//! Fail closed (issue 33): TAPD's other dead-token answer renews the token, a reply that is
//! not the shape asked for never makes an item look gone, and an item TAPD really has not is
//! given up after a second look, with why, rather than retried for days.

use std::time::Duration;

use harness::apigw::{Request, scheduled_event};
use harness::flows::{self, WEBHOOK_PATH, WORKSPACE};
use sandbox::{Fault, FaultKind, ItemKind, TapdDeadToken};
use shared::store::Stage;
use shared::text::Lang;

fn status_word(resp: &harness::apigw::Response) -> String {
    resp.json().and_then(|j| j["status"].as_str().map(str::to_owned)).unwrap_or_default()
}

#[tokio::test]
async fn a_tapd_token_answered_422_is_renewed_once_and_the_item_linked_in_either_docs_mode() {
    harness::needs_local_stack!();
    for app_mode in [false, true] {
        let (stack, webhook) = if app_mode { flows::connected_as_app(&[]).await } else { flows::connected(&[]).await };
        stack.sandbox.set_tapd_dead_token(TapdDeadToken::Http422);
        let warm = "1120003271001000140";
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, warm, "Warm");
        assert_eq!(status_word(&webhook.http(&flows::story_delivery(warm, "w")).await), "linked");
        let before = stack.sandbox.issued_tokens().tapd_app;
        stack.sandbox.expire_access_tokens();
        let id = "1120003271001000141";
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Token expired");
        let seen = stack.sandbox.requests().len();
        let resp = webhook.http(&flows::story_delivery(id, "1")).await;
        assert_eq!((resp.status, status_word(&resp).as_str()), (200, "linked"), "app mode {app_mode}: {}", resp.body);
        assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1), "app mode {app_mode}");
        let answered: Vec<u16> = stack.sandbox.requests()[seen..].iter().map(|r| r.status).collect();
        assert!(answered.contains(&422), "TAPD said 422 to the expired token: {answered:?}");
        assert_eq!(stack.sandbox.issued_tokens().tapd_app, before + 1, "one new app token, app mode {app_mode}");
    }
}

#[tokio::test]
async fn tapds_hello_world_never_gives_an_item_up_nor_makes_it_look_deleted() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("RETRY_PERIOD", "0s"), ("ON_ITEM_DELETE", "trash")]).await;
    let hello = |times| Fault {
        method: Some("GET".into()),
        path_prefix: "/tapd/api/stories".into(),
        kind: FaultKind::HelloWorld,
        times,
    };
    // A new item whose reads answer the greeting: pending, never absent, never given up.
    let id = "1120003271001000142";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Greeted");
    stack.sandbox.inject(hello(0));
    let resp = webhook.http(&flows::story_delivery(id, "1")).await;
    assert!(resp.status >= 500, "{} {}", resp.status, resp.body);
    for _ in 0..2 {
        webhook.invoke(scheduled_event()).await;
    }
    let record = flows::link_record(&stack, id).await.unwrap();
    assert_eq!(record.stage, Stage::New, "{record:?}");
    assert_eq!(record.absent_since_ms, None, "a greeting is not TAPD saying the item is gone");
    assert!(record.last_error.as_deref().is_some_and(|e| e.contains("malformed")), "{record:?}");
    assert_eq!(flows::docs_and_comments_of(&stack, id), (0, 0));
    stack.sandbox.clear_faults();
    webhook.invoke(scheduled_event()).await;
    assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1));

    // A delete delivery whose confirming read answers the greeting changes nothing.
    let mut delete = flows::create_event(WORKSPACE, "story", id, "d1");
    delete["event"] = "story::delete".into();
    stack.sandbox.inject(hello(0));
    let resp = webhook.http(&Request::post_json(WEBHOOK_PATH, &delete)).await;
    assert!(resp.status >= 500, "{} {}", resp.status, resp.body);
    stack.sandbox.clear_faults();
    assert!(!flows::link_record(&stack, id).await.unwrap().deleted);
    assert!(stack.sandbox.docs().iter().all(|d| !d.deleted), "the doc is not trashed on a greeting");
}

#[tokio::test]
async fn an_item_tapd_does_not_have_is_given_up_at_the_second_look_with_why() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("RETRY_PERIOD", "2s")]).await;
    let id = "1120003271001000143";
    // First look: pending, due again after the short wait.
    let resp = webhook.http(&flows::story_delivery(id, "1")).await;
    assert!(resp.status >= 500, "{} {}", resp.status, resp.body);
    let first = flows::link_record(&stack, id).await.unwrap();
    assert!(first.stage.is_pending() && first.absent_since_ms.is_some(), "{first:?}");
    assert_eq!(first.reason, Some(shared::reason::Reason::ItemNotFound));
    let waiting = shared::ops::reason(Lang::En, &first).unwrap();
    assert!(waiting.contains("TAPD has no such item") && waiting.contains("Next try"), "{waiting}");
    // A redelivery within the wait is not the second look.
    let resp = webhook.http(&flows::story_delivery(id, "2")).await;
    assert!(resp.status >= 500, "{} {}", resp.status, resp.body);
    assert!(flows::link_record(&stack, id).await.unwrap().stage.is_pending());
    // After it, the scheduled run's look finds none either: given up, with why.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let summary = webhook.invoke(scheduled_event()).await;
    assert!(summary.response().is_some(), "{summary:?}");
    let record = flows::link_record(&stack, id).await.unwrap();
    let Stage::GivenUp { reason, doc: None } = &record.stage else { panic!("{record:?}") };
    assert_eq!(*reason, shared::reason::Reason::ItemVanished);
    let detail = record.last_error.clone().unwrap_or_default();
    assert!(detail.contains("no such item") && detail.contains("looked twice"), "{detail}");
    assert!(shared::ops::reason(Lang::ZhCn, &record).unwrap().contains("两次确认没有这个条目"));
    assert!(shared::ops::reason(Lang::En, &record).unwrap().contains("said twice"));
    // Nothing more is tried: the next run sees nothing due; nothing was made.
    assert_eq!(webhook.invoke(scheduled_event()).await.response().unwrap()["seen"], 0);
    assert_eq!(flows::docs_and_comments_of(&stack, id), (0, 0));
    // Should it exist after all, a new delivery starts it again and links it.
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Late after all");
    let resp = webhook.http(&flows::story_delivery(id, "3")).await;
    assert_eq!(status_word(&resp), "linked", "{}", resp.body);
    assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1));
}
