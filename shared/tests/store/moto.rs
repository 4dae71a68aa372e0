//! The local DynamoDB the suites run on applies conditional writes atomically, as DynamoDB
//! does. moto's threaded server alone does not (two racing claims of one item both won,
//! and a reader could see an item half-written): `scripts/moto_serial.py` serializes its
//! requests. Every concurrency test depends on this.

use harness::dynamo;
use shared::crypto::Keyring;
use shared::ids::{ItemId, ItemKind, WorkspaceId};
use shared::store::{ClaimOutcome, ItemKey, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_claims_of_one_item_have_exactly_one_winner() {
    harness::needs_local_dynamodb!();
    let table = dynamo::fresh_table().await;
    let keys = Keyring::parse("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
    let store = Store::new(dynamo::client().await, table, keys);
    for i in 1..=25 {
        let key = ItemKey {
            workspace: WorkspaceId::parse("20003271").unwrap(),
            kind: ItemKind::Story,
            id: ItemId::parse(&i.to_string()).unwrap(),
        };
        let until = shared::time::now_millis() + 30_000;
        let claims =
            futures::future::join_all(["a", "b", "c", "d"].map(|o| store.claim_item(&key, None, o, until))).await;
        let won = claims
            .into_iter()
            .map(|c| c.unwrap_or_else(|e| panic!("item {i}: {e}")))
            .filter(|c| matches!(c, ClaimOutcome::Claimed(_)))
            .count();
        assert_eq!(won, 1, "item {i}: {won} claims won");
    }
}
