//! What the operator CLI (`tapdocs`, tools/tapdocs) needs beyond what the functions use:
//! checking the table, a workspace's records at once, disconnecting a workspace, and
//! re-encrypting every token under the current key. None of it runs in a Lambda.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::items::LISTS_INDEX;
use super::{Binding, Item, Store, StoreError, get_n, get_s, n, s};
use crate::ids::WorkspaceId;
use crate::time::now_secs;

/// What the table holds about one workspace, for `tapdocs status`.
#[derive(Debug, Clone)]
pub struct WorkspaceView {
    pub workspace: WorkspaceId,
    pub binding: Option<Binding>,
    /// Why the workspace must be connected again (its Tencent Docs token was refused).
    pub needs_reconnect: Option<String>,
    pub has_tapd_token: bool,
    pub has_tdoc_token: bool,
    pub sweep: Option<super::SweepCursor>,
}

/// Why [`Store::check_table`] refused the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableProblem {
    /// No table of that name (in that region, at that endpoint).
    Missing,
    /// A table of that name that is not this project's.
    NotOurs(String),
    /// The credentials were refused (unknown, expired, or not allowed).
    Denied(String),
    /// DynamoDB could not be reached (endpoint, network, no credentials to sign with).
    Unreachable(String),
    Other(String),
}

/// What `disconnect_workspace` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disconnected {
    pub binding: bool,
    pub tapd_token: bool,
    pub tdoc_token: bool,
    /// Other workspaces bound to the same Tencent Docs account: its token was kept for them.
    pub tdoc_token_kept_for: Vec<WorkspaceId>,
    pub sweep_cursor: bool,
    /// Its own webhook secrets (they no longer open it).
    pub webhook_secrets: bool,
}

/// What re-encrypting the tokens did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Records holding a token (`ct`).
    pub seen: u32,
    /// Re-encrypted under the first key.
    pub resealed: u32,
    /// Already under the first key.
    pub current: u32,
    /// Changed by someone else between the read and the write (they wrote under the first key).
    pub raced: u32,
    /// `pk|sk` of records no configured key opens (written under a key no longer configured,
    /// or damaged): left as they are.
    pub unreadable: Vec<String>,
}

fn ws_pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

impl Store {
    /// Checks that the table exists and is this project's (keys `pk`/`sk`, the `pending`
    /// index); its approximate item count when it is.
    pub async fn check_table(&self) -> Result<Option<i64>, TableProblem> {
        let out = match self.client.describe_table().table_name(&self.table).send().await {
            Ok(out) => out,
            Err(e) => {
                let text = DisplayErrorContext(&e).to_string();
                return Err(match e.as_service_error() {
                    Some(se) if se.is_resource_not_found_exception() => TableProblem::Missing,
                    Some(se) => match se.code() {
                        Some(
                            "UnrecognizedClientException"
                            | "AccessDeniedException"
                            | "InvalidSignatureException"
                            | "ExpiredTokenException"
                            | "MissingAuthenticationTokenException",
                        ) => TableProblem::Denied(se.message().unwrap_or(&text).to_owned()),
                        _ => TableProblem::Other(text),
                    },
                    None => TableProblem::Unreachable(text),
                });
            }
        };
        let Some(table) = out.table else {
            return Err(TableProblem::NotOurs("DescribeTable returned no table".into()));
        };
        let keys: Vec<&str> = table.key_schema().iter().map(|k| k.attribute_name()).collect();
        if !(keys.contains(&"pk") && keys.contains(&"sk") && keys.len() == 2) {
            return Err(TableProblem::NotOurs(format!("its key is ({}), not (pk, sk)", keys.join(", "))));
        }
        if !table.global_secondary_indexes().iter().any(|i| i.index_name() == Some(LISTS_INDEX)) {
            return Err(TableProblem::NotOurs(format!("it has no `{LISTS_INDEX}` index")));
        }
        Ok(table.item_count)
    }

    /// A workspace as the table knows it.
    pub async fn workspace_view(&self, ws: &WorkspaceId) -> Result<WorkspaceView, StoreError> {
        let pk = ws_pk(ws);
        let records = self.records_of(&pk).await?;
        let binding_raw = records.get("BINDING");
        let binding = match binding_raw {
            Some(_) => self.binding(ws).await?,
            None => None,
        };
        let has_tdoc_token = match binding.as_ref().and_then(Binding::open_id) {
            Some(open_id) => self.get_latest(&format!("TDOC#{open_id}"), "TOKEN").await?.is_some(),
            None => false,
        };
        Ok(WorkspaceView {
            workspace: ws.clone(),
            needs_reconnect: binding_raw.and_then(|b| get_s(b, "needs_reconnect")).map(str::to_owned),
            binding,
            has_tapd_token: records.contains_key("TAPD_TOKEN"),
            has_tdoc_token,
            sweep: self.sweep_cursor(ws).await?,
        })
    }

    /// Disconnects a workspace, in one transaction: its binding (kept in its history, marked
    /// disconnected), its TAPD token, its sweep cursor, and its Tencent Docs account's token
    /// unless another workspace is bound to the same account. Its item records stay.
    pub async fn disconnect_workspace(&self, ws: &WorkspaceId) -> Result<Disconnected, StoreError> {
        let pk = ws_pk(ws);
        let records = self.records_of(&pk).await?;
        let binding_raw = records.get("BINDING").cloned();
        let binding = match binding_raw {
            Some(_) => self.binding(ws).await?,
            None => None,
        };
        let mut done = Disconnected::default();
        let mut tx: Vec<TransactWriteItem> = Vec::new();
        let delete = |pk: &str, sk: &str| {
            TransactWriteItem::builder()
                .delete(
                    Delete::builder().table_name(&self.table).set_key(Some(Self::key(pk, sk))).build().expect("set"),
                )
                .build()
        };
        if let Some(raw) = binding_raw {
            let bind_id = get_s(&raw, "bind_id").unwrap_or_default().to_owned();
            let connected_at = get_n(&raw, "connected_at").unwrap_or(0);
            let mut history = raw.clone();
            history.remove("gsi1pk");
            history.remove("gsi1sk");
            history.remove("needs_reconnect_at");
            history.insert("sk".into(), s(format!("HISTORY#{connected_at:012}#{bind_id}")));
            history.insert("replaced_at".into(), n(now_secs()));
            history.insert("disconnected".into(), AttributeValue::Bool(true));
            tx.push(
                TransactWriteItem::builder()
                    .put(Put::builder().table_name(&self.table).set_item(Some(history)).build().expect("set"))
                    .build(),
            );
            // Only the binding that was read: a reconnect meanwhile is not undone.
            let mut cond = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(&pk, "BINDING")))
                .expression_attribute_values(":at", n(connected_at));
            cond = match bind_id.as_str() {
                "" => cond.condition_expression("attribute_exists(pk) AND connected_at = :at"),
                id => cond
                    .condition_expression("attribute_exists(pk) AND connected_at = :at AND bind_id = :id")
                    .expression_attribute_values(":id", s(id)),
            };
            tx.push(TransactWriteItem::builder().delete(cond.build().expect("set")).build());
            done.binding = true;
        }
        if records.contains_key("TAPD_TOKEN") {
            tx.push(delete(&pk, "TAPD_TOKEN"));
            done.tapd_token = true;
        }
        // Its own webhook secrets stop opening it (a reconnect makes a new one).
        if records.contains_key("WEBHOOK_SECRETS") {
            tx.push(delete(&pk, "WEBHOOK_SECRETS"));
            done.webhook_secrets = true;
        }
        if let Some(open_id) = binding.as_ref().and_then(Binding::open_id) {
            for other in self.bound_workspaces().await? {
                if &other.workspace != ws
                    && self.binding(&other.workspace).await?.as_ref().and_then(Binding::open_id) == Some(open_id)
                {
                    done.tdoc_token_kept_for.push(other.workspace);
                }
            }
            let tdoc_pk = format!("TDOC#{open_id}");
            if done.tdoc_token_kept_for.is_empty() && self.get_latest(&tdoc_pk, "TOKEN").await?.is_some() {
                tx.push(delete(&tdoc_pk, "TOKEN"));
                done.tdoc_token = true;
            }
        }
        if self.get_latest(&format!("SWEEP#{ws}"), "SWEEP").await?.is_some() {
            tx.push(delete(&format!("SWEEP#{ws}"), "SWEEP"));
            done.sweep_cursor = true;
        }
        if tx.is_empty() {
            return Ok(done);
        }
        match self.client.transact_write_items().set_transact_items(Some(tx)).send().await {
            Ok(_) => Ok(done),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_transaction_canceled_exception()) => {
                Err(StoreError::Unavailable("the workspace was connected again meanwhile; nothing was removed".into()))
            }
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// Re-encrypts every token at rest (every record with a `ct`) under the keyring's first
    /// key; with `dry_run`, only counts. Each write replaces only the ciphertext that was read.
    /// `progress` is called with the number of records read so far.
    pub async fn reseal_all_tokens(
        &self,
        dry_run: bool,
        mut progress: impl FnMut(u64),
    ) -> Result<Rotation, StoreError> {
        let mut out = Rotation::default();
        let mut cursor: Option<Item> = None;
        let mut read = 0u64;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("attribute_exists(ct)")
                .set_exclusive_start_key(cursor.take())
                .send()
                .await
                .map_err(StoreError::sdk)?;
            read += page.scanned_count.max(0) as u64;
            for item in page.items.unwrap_or_default() {
                let (Some(pk), Some(sk), Some(AttributeValue::B(blob))) =
                    (get_s(&item, "pk"), get_s(&item, "sk"), item.get("ct"))
                else {
                    continue;
                };
                out.seen += 1;
                let aad = super::aad(pk, sk);
                let plain = match self.keys.decrypt(blob.as_ref(), aad.as_bytes()) {
                    Ok(p) => p,
                    Err(_) => {
                        out.unreadable.push(aad);
                        continue;
                    }
                };
                if !self.keys.is_stale(blob.as_ref()) {
                    out.current += 1;
                    continue;
                }
                if dry_run {
                    out.resealed += 1;
                    continue;
                }
                let sealed = self.keys.encrypt(&plain, aad.as_bytes());
                if self.replace_ciphertext(pk, sk, sealed, blob).await? {
                    out.resealed += 1;
                } else {
                    out.raced += 1;
                }
            }
            progress(read);
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => cursor = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// Every record of a partition, by sort key.
    async fn records_of(&self, pk: &str) -> Result<HashMap<String, Item>, StoreError> {
        let mut out = HashMap::new();
        let mut cursor: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(cursor.take())
                .send()
                .await
                .map_err(StoreError::sdk)?;
            for item in page.items.unwrap_or_default() {
                if let Some(sk) = get_s(&item, "sk") {
                    out.insert(sk.to_owned(), item);
                }
            }
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => cursor = Some(k),
                None => return Ok(out),
            }
        }
    }
}
