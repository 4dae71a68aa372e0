//! The local DynamoDB: moto's server through `scripts/dynamodb-local.sh`, the table from
//! `template.yaml`, and its items dumped to (and restored from) the data directory, since
//! moto keeps nothing on disk.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::ddbjson;
use harness::dynamo::error_text;

/// A moto server this devstack started (or found running under its name).
pub struct Moto {
    root: PathBuf,
    name: String,
    pub endpoint: String,
}

impl Moto {
    /// Makes the project venv if moto is missing, then starts moto as `DDB_LOCAL_NAME=name`
    /// on a free port (or finds it already running under that name).
    pub async fn start(root: &Path, name: &str) -> Result<Moto, String> {
        if !root.join(".venv/bin/moto_server").is_file() {
            eprintln!("devstack: moto is not installed; making the project venv (scripts/venv.sh)");
            let status = Command::new("bash")
                .arg(root.join("scripts/venv.sh"))
                .current_dir(root)
                .stdin(Stdio::null())
                .status()
                .await
                .map_err(|e| format!("cannot run scripts/venv.sh: {e}"))?;
            if !status.success() {
                return Err(format!("scripts/venv.sh failed ({status})"));
            }
        }
        let out = script(root, name, "start")
            .stdout(Stdio::piped())
            .output()
            .await
            .map_err(|e| format!("cannot run scripts/dynamodb-local.sh: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let endpoint = stdout.lines().last().unwrap_or("").trim().to_string();
        if !out.status.success() || !endpoint.starts_with("http://") {
            return Err(format!("scripts/dynamodb-local.sh start failed ({})", out.status));
        }
        Ok(Moto { root: root.to_path_buf(), name: name.to_string(), endpoint })
    }

    pub fn log_file(&self) -> PathBuf {
        self.root.join(".local").join(format!("{}.log", self.name))
    }

    pub async fn stop(&self) {
        match script(&self.root, &self.name, "stop").stdout(Stdio::null()).status().await {
            // Its log is moto's request lines: not worth keeping once it stopped cleanly.
            Ok(s) if s.success() => {
                let _ = std::fs::remove_file(self.log_file());
            }
            Ok(s) => eprintln!("devstack: scripts/dynamodb-local.sh stop: {s}"),
            Err(e) => eprintln!("devstack: cannot run scripts/dynamodb-local.sh stop: {e}"),
        }
    }
}

fn script(root: &Path, name: &str, verb: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/dynamodb-local.sh"))
        .arg(verb)
        .current_dir(root)
        .env("DDB_LOCAL_NAME", name)
        // PORT is the gateway's; moto takes a free one.
        .env_remove("PORT")
        .stdin(Stdio::null());
    cmd
}

/// Creates `table` from `template.yaml` unless it exists; true when it was created.
pub async fn ensure_table(client: &Client, table: &str) -> Result<bool, String> {
    match client.describe_table().table_name(table).send().await {
        Ok(_) => Ok(false),
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("ResourceNotFoundException") => {
            harness::dynamo::create_table_from_template(client, table).await?;
            Ok(true)
        }
        Err(e) => Err(format!("DescribeTable {table}: {}", error_text(&e))),
    }
}

/// Every item of the table, as `{"table": .., "items": [DynamoDB JSON]}`.
pub async fn dump(client: &Client, table: &str) -> Result<Value, String> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("Scan {table}: {}", error_text(&e)))?;
        for item in page.items() {
            items.push(ddbjson::item_to_json(item)?);
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    // A stable order, so an unchanged table writes an unchanged file.
    items.sort_by_cached_key(|i| i.to_string());
    Ok(json!({ "table": table, "items": items }))
}

/// Puts every item of a [`dump`] into the table; returns how many.
pub async fn restore(client: &Client, table: &str, dump: &Value) -> Result<usize, String> {
    let items = dump.get("items").and_then(Value::as_array).ok_or("the dump has no \"items\" list")?;
    for (n, item) in items.iter().enumerate() {
        let item = ddbjson::item_from_json(item).map_err(|e| format!("item {n}: {e}"))?;
        client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| format!("PutItem {table}: {}", error_text(&e)))?;
    }
    Ok(items.len())
}
