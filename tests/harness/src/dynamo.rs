//! The project's DynamoDB table on the local DynamoDB-compatible endpoint (moto's
//! server, started by `make test`), created from `template.yaml`'s declaration.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    Client,
    config::{BehaviorVersion, Credentials, Region},
    types::{
        AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        LocalSecondaryIndex, PointInTimeRecoverySpecification, Projection, ProjectionType, ProvisionedThroughput,
        ScalarAttributeType, TimeToLiveSpecification,
    },
};
use serde_yaml::Value as Yaml;

/// The endpoint of the local DynamoDB (`AWS_ENDPOINT_URL_DYNAMODB`). Panics with a clear
/// message when it is not set.
pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: these tests need a local DynamoDB. \
             Run them through `make test` (it starts one), or start one with \
             `scripts/dynamodb-local.sh start` and export the endpoint it prints"
        ),
    }
}

/// A DynamoDB client for [`endpoint`]: region us-east-1, static test credentials.
pub async fn client() -> Client {
    client_at(&endpoint())
}

/// A DynamoDB client for a local endpoint (`http://127.0.0.1:PORT`): region us-east-1,
/// static test credentials.
pub fn client_at(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "harness"))
        .http_client(shared::store::sdk_http_client())
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

/// The `Properties` of the single `AWS::DynamoDB::Table` resource of a template.
pub fn table_properties(template: &str) -> Result<Yaml, String> {
    let doc: Yaml = serde_yaml::from_str(template).map_err(|e| format!("template.yaml: {e}"))?;
    let resources = doc.get("Resources").and_then(Yaml::as_mapping).ok_or("template.yaml has no Resources")?;
    let tables: Vec<(&Yaml, &Yaml)> = resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Yaml::as_str) == Some("AWS::DynamoDB::Table"))
        .collect();
    match tables.as_slice() {
        [(_, table)] => {
            table.get("Properties").cloned().ok_or_else(|| "the AWS::DynamoDB::Table has no Properties".into())
        }
        [] => Err("template.yaml declares no AWS::DynamoDB::Table".into()),
        more => Err(format!("template.yaml declares {} AWS::DynamoDB::Table resources, expected one", more.len())),
    }
}

fn string(v: &Yaml, key: &str) -> Result<String, String> {
    match v.get(key) {
        Some(Yaml::String(s)) => Ok(s.clone()),
        Some(Yaml::Number(n)) => Ok(n.to_string()),
        Some(Yaml::Bool(b)) => Ok(b.to_string()),
        Some(other) => {
            Err(format!("{key}: expected a literal value, got {other:?} (intrinsic functions are not resolved)"))
        }
        None => Err(format!("{key} is missing")),
    }
}

fn boolean(v: &Yaml, key: &str) -> Result<bool, String> {
    match v.get(key) {
        Some(Yaml::Bool(b)) => Ok(*b),
        Some(Yaml::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Yaml::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(format!("{key}: expected a boolean, got {other:?}")),
        None => Ok(false),
    }
}

fn list<'a>(v: &'a Yaml, key: &str) -> Result<&'a [Yaml], String> {
    match v.get(key) {
        Some(Yaml::Sequence(s)) => Ok(s),
        Some(other) => Err(format!("{key}: expected a list, got {other:?}")),
        None => Ok(&[]),
    }
}

fn key_schema(v: &Yaml) -> Result<Vec<KeySchemaElement>, String> {
    list(v, "KeySchema")?
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(string(k, "AttributeName")?)
                .key_type(KeyType::from(string(k, "KeyType")?.as_str()))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn projection(v: &Yaml) -> Result<Projection, String> {
    let p = v.get("Projection").ok_or("Projection is missing")?;
    let non_key: Vec<String> = list(p, "NonKeyAttributes")?
        .iter()
        .map(|a| a.as_str().map(String::from).ok_or("NonKeyAttributes: not a string"))
        .collect::<Result<_, _>>()?;
    Ok(Projection::builder()
        .projection_type(ProjectionType::from(
            string(p, "ProjectionType").unwrap_or_else(|_| "KEYS_ONLY".into()).as_str(),
        ))
        .set_non_key_attributes((!non_key.is_empty()).then_some(non_key))
        .build())
}

fn throughput(v: &Yaml) -> Result<Option<ProvisionedThroughput>, String> {
    let Some(t) = v.get("ProvisionedThroughput") else {
        return Ok(None);
    };
    let units = |k| string(t, k)?.parse::<i64>().map_err(|e| format!("ProvisionedThroughput.{k}: {e}"));
    ProvisionedThroughput::builder()
        .read_capacity_units(units("ReadCapacityUnits")?)
        .write_capacity_units(units("WriteCapacityUnits")?)
        .build()
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Creates `table_name` as `template.yaml` (at the workspace root) declares its table:
/// AttributeDefinitions, KeySchema, Global/LocalSecondaryIndexes, BillingMode,
/// ProvisionedThroughput, then TimeToLiveSpecification (UpdateTimeToLive) and, when
/// the endpoint supports it, PointInTimeRecoverySpecification. SSESpecification and
/// other properties are not applied.
pub async fn create_table_from_template(client: &Client, table_name: &str) -> Result<(), String> {
    let path = crate::workspace_root().join("template.yaml");
    let template = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    create_table_from_properties(client, table_name, &table_properties(&template)?).await
}

/// Creates `table_name` from the `Properties` of an `AWS::DynamoDB::Table`.
pub async fn create_table_from_properties(client: &Client, table_name: &str, props: &Yaml) -> Result<(), String> {
    let attributes = list(props, "AttributeDefinitions")?
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(string(a, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(string(a, "AttributeType")?.as_str()))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let gsis = list(props, "GlobalSecondaryIndexes")?
        .iter()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(string(g, "IndexName")?)
                .set_key_schema(Some(key_schema(g)?))
                .projection(projection(g)?)
                .set_provisioned_throughput(throughput(g)?)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let lsis = list(props, "LocalSecondaryIndexes")?
        .iter()
        .map(|l| {
            LocalSecondaryIndex::builder()
                .index_name(string(l, "IndexName")?)
                .set_key_schema(Some(key_schema(l)?))
                .projection(projection(l)?)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let billing = match props.get("BillingMode") {
        Some(_) => Some(BillingMode::from(string(props, "BillingMode")?.as_str())),
        None => None,
    };

    client
        .create_table()
        .table_name(table_name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(props)?))
        .set_global_secondary_indexes((!gsis.is_empty()).then_some(gsis))
        .set_local_secondary_indexes((!lsis.is_empty()).then_some(lsis))
        .set_billing_mode(billing)
        .set_provisioned_throughput(throughput(props)?)
        .send()
        .await
        .map_err(|e| format!("CreateTable {table_name}: {}", error_text(&e)))?;

    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(string(ttl, "AttributeName")?)
            .enabled(boolean(ttl, "Enabled")?)
            .build()
            .map_err(|e| e.to_string())?;
        client
            .update_time_to_live()
            .table_name(table_name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| format!("UpdateTimeToLive {table_name}: {}", error_text(&e)))?;
    }

    if let Some(pitr) = props.get("PointInTimeRecoverySpecification")
        && boolean(pitr, "PointInTimeRecoveryEnabled").unwrap_or(false)
    {
        // Best effort: local endpoints may not support it, and nothing depends on it.
        if let Ok(spec) = PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build() {
            let _ = client
                .update_continuous_backups()
                .table_name(table_name)
                .point_in_time_recovery_specification(spec)
                .send()
                .await;
        }
    }
    Ok(())
}

/// An error with its chain of sources, on one line.
pub fn error_text<E: std::error::Error + 'static>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A new table with a unique name (`t-<16 hex>`), created from `template.yaml`.
pub async fn fresh_table() -> String {
    let name = format!("t-{}", crate::random_hex(8));
    create_table_from_template(&client().await, &name)
        .await
        .unwrap_or_else(|e| panic!("cannot create table {name} at {}: {e}", endpoint()));
    name
}

/// Every item of a table (paginated Scan).
pub async fn scan_all(client: &Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("Scan {table}: {}", error_text(&e)));
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_table_among_tagged_resources() {
        let template = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Conditions:
  HasX: !Not [!Equals [!Ref X, ""]]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          TABLE_NAME: !Ref Table
          URL: !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
  Table:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    Properties:
      BillingMode: PAY_PER_REQUEST
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
"#;
        let props = table_properties(template).unwrap();
        assert_eq!(string(&props, "BillingMode").unwrap(), "PAY_PER_REQUEST");
        assert_eq!(key_schema(&props).unwrap().len(), 1);
        assert!(table_properties("Resources: {}").is_err());
    }

    #[test]
    fn the_workspace_template_declares_the_table() {
        let template = std::fs::read_to_string(crate::workspace_root().join("template.yaml")).unwrap();
        let props = table_properties(&template).unwrap();
        let keys: Vec<String> =
            key_schema(&props).unwrap().iter().map(|k| format!("{}:{}", k.attribute_name, k.key_type)).collect();
        assert_eq!(keys, ["pk:HASH", "sk:RANGE"]);
        assert_eq!(string(props.get("TimeToLiveSpecification").unwrap(), "AttributeName").unwrap(), "expires_at");
    }
}
