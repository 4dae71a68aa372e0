//! The table as a whole, for the operator CLI (`tapdocs`): checking it is this project's,
//! what it holds about one workspace, and re-encrypting every token at rest under the
//! current key. None of it runs in a Lambda.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::LISTS_INDEX;
use super::{Binding, Item, Store, StoreError, get_s, s};
use crate::ids::WorkspaceId;

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
    pub(super) async fn records_of(&self, pk: &str) -> Result<HashMap<String, Item>, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true);
        Ok(self
            .query_all(q)
            .await?
            .into_iter()
            .filter_map(|item| Some((get_s(&item, "sk")?.to_owned(), item)))
            .collect())
    }
}
