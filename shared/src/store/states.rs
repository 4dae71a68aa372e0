//! OAuth states and rebinds waiting for confirmation: single-use, by hash, with a TTL.
//!
//! | pk                       | sk        | what                                          |
//! |--------------------------|-----------|-----------------------------------------------|
//! | `STATE#<sha256(state)>`  | `STATE`   | a pending OAuth state, bound to a browser     |
//! | `STATE#<sha256(token)>`  | `CONFIRM` | a rebind awaiting confirmation (token sealed) |

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use sha2::{Digest, Sha256};

use super::bindings::{Account, Binding};
use super::{Item, Store, StoreError, get_n, get_s, n, open_token, s, seal_token};
use crate::ids::WorkspaceId;
use crate::tdoc::TdocToken;
use crate::time::now_secs;

/// Which leg of the connect flow a state was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    Tapd,
    /// Signing in to the console through TAPD's consent (the same callback as `Tapd`).
    Console,
    /// The Tencent Docs leg, bound to the workspace the TAPD leg authorized.
    Tdoc {
        workspace: WorkspaceId,
        /// The TAPD user who consented on the TAPD leg (their label), for the binding's record.
        by: Option<String>,
    },
}

/// States are stored by hash: the table never holds a usable state.
fn state_pk(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("STATE#{hex}")
}

/// A replacement of a workspace's binding waiting for the person to confirm it.
#[derive(Debug, Clone)]
pub struct PendingRebind {
    pub workspace: WorkspaceId,
    /// The binding to make.
    pub binding: Binding,
    /// The new account's token (none in app-account mode), stored encrypted meanwhile.
    pub token: Option<TdocToken>,
    /// SHA-256 (hex) of the browser nonce of the flow that asked.
    pub browser: String,
}

/// What asking for a pending rebind found.
#[derive(Debug)]
pub enum RebindTake {
    /// Taken: it is no longer stored.
    Taken(Box<PendingRebind>),
    /// It exists, for another browser (left in place).
    OtherBrowser,
    /// Never issued, used or expired.
    Unknown,
}

/// A state with the browser it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    pub flow: Flow,
    /// SHA-256 (hex) of the nonce in the browser's cookie; `None` for a state bound to none
    /// (such a state can never pass a callback).
    pub browser: Option<String>,
}

impl Store {
    pub async fn put_state(&self, state: &str, flow: &Flow, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_bound_state(state, flow, None, ttl_secs).await
    }

    /// Stores a state bound to a browser (`browser`: the hash of its cookie's nonce).
    pub async fn put_bound_state(
        &self,
        state: &str,
        flow: &Flow,
        browser: Option<&str>,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        let mut item = Self::key(&state_pk(state), "STATE");
        item.insert("expires_at".into(), n(now_secs() + ttl_secs));
        if let Some(b) = browser {
            item.insert("browser".into(), s(b));
        }
        match flow {
            Flow::Tapd => {
                item.insert("flow".into(), s("tapd"));
            }
            Flow::Console => {
                item.insert("flow".into(), s("console"));
            }
            Flow::Tdoc { workspace, by } => {
                item.insert("flow".into(), s("tdoc"));
                item.insert("workspace_id".into(), s(workspace.as_str()));
                if let Some(by) = by {
                    item.insert("by_tapd_user".into(), s(by));
                }
            }
        }
        self.put_new(item).await
    }

    /// Consumes a state: the conditional delete makes it single use even under races.
    /// `None` when it never existed, was used, or has expired (TTL deletion lags, so expiry
    /// is checked here too).
    pub async fn consume_state(&self, state: &str) -> Result<Option<Flow>, StoreError> {
        Ok(self.take_state(state).await?.map(|r| r.flow))
    }

    /// [`Store::consume_state`], with the browser the state is bound to.
    pub async fn take_state(&self, state: &str) -> Result<Option<StateRecord>, StoreError> {
        let Some(old) = self.take(&state_pk(state), "STATE").await? else { return Ok(None) };
        let flow = match get_s(&old, "flow") {
            Some("tapd") => Flow::Tapd,
            Some("console") => Flow::Console,
            Some("tdoc") => {
                let ws = get_s(&old, "workspace_id").and_then(|w| WorkspaceId::parse(w).ok());
                let Some(workspace) = ws else { return Ok(None) };
                Flow::Tdoc { workspace, by: get_s(&old, "by_tapd_user").map(String::from) }
            }
            _ => return Ok(None),
        };
        Ok(Some(StateRecord { flow, browser: get_s(&old, "browser").map(String::from) }))
    }

    /// Deletes a single-use record and returns it, unless it never existed, was taken, or
    /// has expired.
    async fn take(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match out {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                return Ok(None);
            }
            Err(e) => return Err(StoreError::sdk(e)),
        };
        if get_n(&old, "expires_at").is_none_or(|exp| exp <= now_secs()) {
            return Ok(None);
        }
        Ok(Some(old))
    }

    /// Stores a rebind waiting for confirmation under a single-use token (by hash, with a
    /// TTL, like states); the new account's token is sealed in it.
    pub async fn put_rebind(&self, confirm: &str, pending: &PendingRebind, ttl_secs: u64) -> Result<(), StoreError> {
        let pk = state_pk(confirm);
        let mut item = Self::key(&pk, "CONFIRM");
        item.insert("expires_at".into(), n(now_secs() + ttl_secs));
        item.insert("workspace_id".into(), s(pending.workspace.as_str()));
        item.insert("browser".into(), s(&pending.browser));
        pending.binding.write(&mut item);
        if let Some(t) = &pending.token {
            item.insert("ct".into(), AttributeValue::B(seal_token(&self.keys, &pk, "CONFIRM", t).into()));
        }
        self.put_new(item).await
    }

    /// Takes a pending rebind (single use), only for a browser it was made for (`browsers`:
    /// hashes of the request's nonces): a request from another browser leaves it in place
    /// for the rightful one.
    pub async fn take_rebind(&self, confirm: &str, browsers: &[String]) -> Result<RebindTake, StoreError> {
        let pk = state_pk(confirm);
        if browsers.is_empty() {
            return Ok(RebindTake::OtherBrowser);
        }
        let names: Vec<String> = (0..browsers.len()).map(|i| format!(":b{i}")).collect();
        let mut delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, "CONFIRM")))
            .condition_expression(format!("attribute_exists(pk) AND browser IN ({})", names.join(", ")))
            .return_values(ReturnValue::AllOld);
        for (name, b) in names.iter().zip(browsers) {
            delete = delete.expression_attribute_values(name, s(b));
        }
        let item = match delete.send().await {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                // Unknown, or another browser's: which one only changes the page.
                let item = self.get_latest(&pk, "CONFIRM").await?;
                let live = item.as_ref().and_then(|i| get_n(i, "expires_at")).is_some_and(|exp| exp > now_secs());
                return Ok(if live { RebindTake::OtherBrowser } else { RebindTake::Unknown });
            }
            Err(e) => return Err(StoreError::sdk(e)),
        };
        if get_n(&item, "expires_at").is_none_or(|exp| exp <= now_secs()) {
            return Ok(RebindTake::Unknown);
        }
        let corrupt = || StoreError::Corrupt("CONFIRM record incomplete".into());
        let workspace = get_s(&item, "workspace_id").and_then(|w| WorkspaceId::parse(w).ok()).ok_or_else(corrupt)?;
        let binding = Binding::read(&item).ok_or_else(corrupt)?;
        let token = match item.get("ct") {
            Some(AttributeValue::B(blob)) => Some(open_token(&self.keys, &pk, "CONFIRM", blob.as_ref())?),
            _ => None,
        };
        if matches!(binding.account, Account::User(_)) && token.is_none() {
            return Err(corrupt());
        }
        let browser = get_s(&item, "browser").ok_or_else(corrupt)?.to_owned();
        Ok(RebindTake::Taken(Box::new(PendingRebind { workspace, binding, token, browser })))
    }
}
