//! The cold path: TAPD's app token is shared through the table, so a fresh instance asks
//! TAPD for none while the stored one is good; one instance at a time renews it; a token
//! TAPD retired under another instance's feet is replaced by the renewed one, not renewed
//! again; a stored token that cannot be decrypted is renewed, not fatal.

use aws_sdk_dynamodb::types::AttributeValue;
use harness::dynamo;
use harness::flows::{self, WORKSPACE};
use sandbox::ItemKind;
use serde_json::Value;

fn status(resp: &harness::apigw::Response) -> Value {
    resp.json().map(|v| v["status"].clone()).unwrap_or_default()
}

/// TAPD app tokens issued so far.
fn app_tokens(stack: &harness::stack::Stack) -> u32 {
    stack.sandbox.issued_tokens().tapd_app
}

#[tokio::test]
async fn fresh_instances_share_one_tapd_app_token() {
    harness::needs_local_stack!();
    let (stack, first) = flows::connected(&[]).await;
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271003000001", "第一个");
    let resp = first.http(&flows::story_delivery("1120003271003000001", "1")).await;
    assert_eq!(status(&resp), "linked", "{}", resp.body);
    let issued = app_tokens(&stack);
    assert_eq!(issued, 1, "the first instance asks once");
    // Three more cold instances, one delivery each: no token request to TAPD.
    for n in 2..5 {
        let id = format!("112000327100300000{n}");
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, &id, &format!("冷启动 {n}"));
        let cold = stack.webhook().await;
        let resp = cold.http(&flows::story_delivery(&id, "1")).await;
        assert_eq!(status(&resp), "linked", "{}", resp.body);
    }
    assert_eq!(app_tokens(&stack), issued, "cold starts reuse the shared token");
    // The shared token is sealed at rest: its value is nowhere in the table's text.
    let items = dynamo::scan_all(&dynamo::client().await, &stack.table).await;
    let dump = format!("{items:?}");
    for token in stack.sandbox.issued_token_values() {
        assert!(!dump.contains(&token), "a token in plain text in the table");
    }
}

#[tokio::test]
async fn a_retired_token_is_replaced_by_the_renewed_one_and_an_unreadable_one_is_renewed() {
    harness::needs_local_stack!();
    let (stack, warm) = flows::connected(&[]).await;
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271003000010", "预热");
    assert_eq!(status(&warm.http(&flows::story_delivery("1120003271003000010", "1")).await), "linked");
    assert_eq!(app_tokens(&stack), 1);
    // TAPD retires the token; a cold instance finds the stored one refused and renews it.
    stack.sandbox.expire_access_tokens();
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271003000011", "续期");
    let cold = stack.webhook().await;
    let resp = cold.http(&flows::story_delivery("1120003271003000011", "1")).await;
    assert_eq!(status(&resp), "linked", "{}", resp.body);
    assert_eq!(app_tokens(&stack), 2, "one renewal");
    // The warm instance still holds the retired token: refused once, it takes the renewed
    // one from the table rather than asking TAPD again.
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271003000012", "旧令牌");
    let resp = warm.http(&flows::story_delivery("1120003271003000012", "1")).await;
    assert_eq!(status(&resp), "linked", "{}", resp.body);
    assert_eq!(app_tokens(&stack), 2, "the renewed token was shared");

    // A stored token sealed under a key this deployment no longer has.
    dynamo::client()
        .await
        .update_item()
        .table_name(&stack.table)
        .key("pk", AttributeValue::S("APP#tapd".into()))
        .key("sk", AttributeValue::S("TOKEN".into()))
        .update_expression("SET ct = :junk")
        .expression_attribute_values(":junk", AttributeValue::B(vec![1u8; 60].into()))
        .send()
        .await
        .unwrap();
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271003000013", "无法解密");
    let cold = stack.webhook().await;
    let resp = cold.http(&flows::story_delivery("1120003271003000013", "1")).await;
    assert_eq!(status(&resp), "linked", "{}", resp.body);
    assert_eq!(app_tokens(&stack), 3, "renewed");
    flows::assert_no_panic(&cold);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_instances_racing_a_renewal_ask_tapd_once() {
    harness::needs_local_stack!();
    let (stack, first) = flows::connected(&[]).await;
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271003000020", "起点");
    assert_eq!(status(&first.http(&flows::story_delivery("1120003271003000020", "1")).await), "linked");
    stack.sandbox.expire_access_tokens();
    let before = app_tokens(&stack);
    let mut instances = Vec::new();
    for n in 0..4 {
        let id = format!("11200032710030000{}", 30 + n);
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, &id, &format!("并发 {n}"));
        instances.push((stack.webhook().await, id));
    }
    let answers = futures::future::join_all(
        instances.iter().map(|(f, id)| async move { f.http(&flows::story_delivery(id, "1")).await }),
    )
    .await;
    for a in &answers {
        assert_eq!(status(a), "linked", "{}", a.body);
    }
    // One renewal under the lease; a straggler may wait for it, never ask again.
    assert_eq!(app_tokens(&stack) - before, 1, "renewals");
}
