//! docs/operations.md's point-in-time restore, walked: the table restored into a new one
//! (the local DynamoDB copies the source whole, as a restore to "now"), TTL and PITR turned on
//! again as the runbook says, and both functions run on the copy (what `ExistingTableName`
//! does in the template). What the runbook promises must then hold: linked items stay linked
//! once, the workspace's tokens and webhook secret work with the same key, and not without it.

use harness::apigw::Request;
use harness::dynamo;
use harness::flows::{WEBHOOK_PATH, WORKSPACE, create_event, docs_and_comments_of, story_delivery, webhook_secret_on};
use harness::stack::Stack;
use sandbox::ItemKind;
use shared::store::Store;

fn status_word(resp: &harness::apigw::Response) -> String {
    resp.json().and_then(|v| v["status"].as_str().map(str::to_owned)).unwrap_or_default()
}

#[tokio::test]
async fn the_stack_runs_on_a_table_restored_to_a_point_in_time() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    let page = stack.connect(&oauth, WORKSPACE, harness::flows::OPEN_ID).await;
    assert_eq!(page.status, 200, "connect: {}", page.body);
    let workspace_secret = webhook_secret_on(&page.body);
    let webhook = stack.webhook().await;
    let before = "1120003271001000401";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, before, "恢复之前的需求");
    let resp = webhook.http(&story_delivery(before, "1")).await;
    assert_eq!(status_word(&resp), "linked", "{}", resp.body);

    // Step 1 of the runbook: restore into a new table, then TTL and PITR on again.
    let client = dynamo::client().await;
    let restored = format!("{}-restored", stack.table);
    client
        .restore_table_to_point_in_time()
        .source_table_name(&stack.table)
        .target_table_name(&restored)
        .use_latest_restorable_time(true)
        .send()
        .await
        .map_err(|e| dynamo::error_text(&e))
        .expect("restore the table");
    client
        .update_time_to_live()
        .table_name(&restored)
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map_err(|e| dynamo::error_text(&e))
        .expect("TTL on the restored table");
    client
        .update_continuous_backups()
        .table_name(&restored)
        .point_in_time_recovery_specification(
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map_err(|e| dynamo::error_text(&e))
        .expect("PITR on the restored table");

    // Step 2: the stack on the restored table, with the same key.
    let on_copy = [("TABLE_NAME", restored.as_str())];
    let webhook = stack.spawn("tapd-webhook", &on_copy).await;
    let oauth = stack.spawn("oauth", &on_copy).await;
    let again = webhook.http(&story_delivery(before, "2")).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(docs_and_comments_of(&stack, before), (1, 1), "an item linked before the restore is not linked again");

    let after = "1120003271001000402";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, after, "恢复之后的需求");
    let mut event = create_event(WORKSPACE, "story", after, "3");
    event["secret"] = workspace_secret.clone().into();
    let resp = webhook.http(&Request::post_json(WEBHOOK_PATH, &event)).await;
    assert_eq!(status_word(&resp), "linked", "the workspace's own secret and its tokens survive: {}", resp.body);
    assert_eq!(docs_and_comments_of(&stack, after), (1, 1));
    let doc = stack.sandbox.docs().into_iter().find(|d| d.content.contains(&format!("/view/{after}"))).unwrap();
    assert_eq!(doc.owner_open_id, harness::flows::OPEN_ID, "made as the connected account");
    // Step 3's check, as `tapdocs status` reads it: the restored table has both items, done.
    let keys = shared::crypto::Keyring::parse(&stack.encryption_key).unwrap();
    let store = Store::new(client.clone(), restored.clone(), keys);
    for id in [before, after] {
        let record = store.item(&harness::flows::story_key(id)).await.unwrap().expect("on record");
        assert_eq!(record.stage.status(), "done", "{id}");
    }
    // The connect flow starts on the copy too.
    assert_eq!(oauth.http(&Request::get("/oauth/tapd/start")).await.status, 302);

    // Tokens are sealed with the key: another key reads none of them, and links nothing.
    let mut other = [0u8; 32];
    getrandom::fill(&mut other).unwrap();
    use base64::Engine;
    let other = base64::engine::general_purpose::STANDARD.encode(other);
    let keyless =
        stack.spawn("tapd-webhook", &[("TABLE_NAME", restored.as_str()), ("TOKEN_ENCRYPTION_KEY", &other)]).await;
    let lost = "1120003271001000403";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, lost, "换了密钥");
    let mut event = create_event(WORKSPACE, "story", lost, "4");
    event["secret"] = workspace_secret.into();
    let resp = keyless.http(&Request::post_json(WEBHOOK_PATH, &event)).await;
    // Not a bad delivery but the deployment's own fault: answered 503, so TAPD tries again
    // once the right key is back.
    assert_eq!(resp.status, 503, "the workspace's secret is unreadable without its key: {}", resp.body);
    let resp = keyless.http(&story_delivery(lost, "5")).await;
    assert_eq!((resp.status, status_word(&resp).as_str()), (503, "pending"), "{}", resp.body);
    assert_eq!(docs_and_comments_of(&stack, lost), (0, 0), "nothing made without the key");
    let logs = keyless.logs().join("\n");
    assert!(logs.contains("written under a key that is not configured"), "the logs say why: {logs}");
    harness::flows::assert_no_panic(&keyless);
    // Nothing lost: with the key back, the item waiting on the copy is linked once.
    let resp = webhook.http(&story_delivery(lost, "6")).await;
    assert_eq!(status_word(&resp), "linked", "{}", resp.body);
    assert_eq!(docs_and_comments_of(&stack, lost), (1, 1));
}
