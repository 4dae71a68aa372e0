//! The table of template.yaml on the local DynamoDB (run through `make test`).

use aws_sdk_dynamodb::types::{AttributeValue, IndexStatus, TimeToLiveStatus};
use harness::dynamo;

#[tokio::test]
async fn creates_the_template_table_with_its_index_and_ttl() {
    harness::needs_local_dynamodb!();
    let name = dynamo::fresh_table().await;
    let client = dynamo::client().await;

    let table = client.describe_table().table_name(&name).send().await.unwrap().table.unwrap();
    let mut keys: Vec<String> =
        table.key_schema().iter().map(|k| format!("{}:{}", k.attribute_name(), k.key_type())).collect();
    keys.sort();
    assert_eq!(keys, ["pk:HASH", "sk:RANGE"]);
    let gsi =
        table.global_secondary_indexes().iter().find(|g| g.index_name() == Some("pending")).expect("the pending index");
    let mut gsi_keys: Vec<String> =
        gsi.key_schema().iter().map(|k| format!("{}:{}", k.attribute_name(), k.key_type())).collect();
    gsi_keys.sort();
    assert_eq!(gsi_keys, ["gsi1pk:HASH", "gsi1sk:RANGE"]);
    assert!(matches!(gsi.index_status(), None | Some(IndexStatus::Active)));

    let ttl = client.describe_time_to_live().table_name(&name).send().await.unwrap().time_to_live_description.unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));

    // The table works, and scan_all pages through it.
    for i in 0..3 {
        client
            .put_item()
            .table_name(&name)
            .item("pk", AttributeValue::S(format!("p{i}")))
            .item("sk", AttributeValue::S("s".into()))
            .item("gsi1pk", AttributeValue::S("pending".into()))
            .item("gsi1sk", AttributeValue::S(format!("{i}")))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(dynamo::scan_all(&client, &name).await.len(), 3);
    let pending = client
        .query()
        .table_name(&name)
        .index_name("pending")
        .key_condition_expression("gsi1pk = :p")
        .expression_attribute_values(":p", AttributeValue::S("pending".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(pending.count(), 3);

    // Each call makes a distinct table.
    assert_ne!(dynamo::fresh_table().await, name);
}
