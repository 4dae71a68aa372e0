//! OAuth states, tokens and the workspace ↔ Tencent Docs binding.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use sha2::{Digest, Sha256};

use super::{Item, Store, StoreError, get_n, get_s, n, open_token, s, seal_token};
use crate::ids::{OpenId, WorkspaceId};
use crate::tapd::TapdToken;
use crate::tdoc::TdocToken;
use crate::time::now_secs;

/// Which leg of the connect flow a state was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    Tapd,
    /// The Tencent Docs leg, bound to the workspace the TAPD leg authorized.
    Tdoc {
        workspace: WorkspaceId,
    },
}

/// States are stored by hash: the table never holds a usable state.
fn state_pk(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("STATE#{hex}")
}

fn ws_pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

fn tdoc_pk(open_id: &OpenId) -> String {
    format!("TDOC#{open_id}")
}

impl Store {
    pub async fn put_state(&self, state: &str, flow: &Flow, ttl_secs: u64) -> Result<(), StoreError> {
        let mut item = Self::key(&state_pk(state), "STATE");
        item.insert("expires_at".into(), n(now_secs() + ttl_secs));
        match flow {
            Flow::Tapd => {
                item.insert("flow".into(), s("tapd"));
            }
            Flow::Tdoc { workspace } => {
                item.insert("flow".into(), s("tdoc"));
                item.insert("workspace_id".into(), s(workspace.as_str()));
            }
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Consumes a state: the conditional delete makes it single use even under races.
    /// `None` when it never existed, was used, or has expired (TTL deletion lags, so expiry
    /// is checked here too).
    pub async fn consume_state(&self, state: &str) -> Result<Option<Flow>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&state_pk(state), "STATE")))
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
        match get_s(&old, "flow") {
            Some("tapd") => Ok(Some(Flow::Tapd)),
            Some("tdoc") => {
                let ws = get_s(&old, "workspace_id").and_then(|w| WorkspaceId::parse(w).ok());
                Ok(ws.map(|workspace| Flow::Tdoc { workspace }))
            }
            _ => Ok(None),
        }
    }

    pub async fn put_tapd_token(&self, ws: &WorkspaceId, token: &TapdToken) -> Result<(), StoreError> {
        let pk = ws_pk(ws);
        let item = self.token_item(&pk, "TAPD_TOKEN", token, 0);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    pub async fn tapd_token(&self, ws: &WorkspaceId) -> Result<Option<TapdToken>, StoreError> {
        Ok(self.read_token(&ws_pk(ws), "TAPD_TOKEN").await?.map(|(t, _)| t))
    }

    /// Stores a Tencent Docs token and binds the workspace to its account in one
    /// transaction: a reader never sees a binding without its token.
    pub async fn connect_tdoc(&self, ws: &WorkspaceId, token: &TdocToken) -> Result<(), StoreError> {
        let token_item = self.token_item(&tdoc_pk(&token.open_id), "TOKEN", token, 0);
        let mut binding = Self::key(&ws_pk(ws), "BINDING");
        binding.insert("open_id".into(), s(token.open_id.as_str()));
        binding.insert("connected_at".into(), n(now_secs()));
        let put = |item: Item| {
            TransactWriteItem::builder()
                .put(Put::builder().table_name(&self.table).set_item(Some(item)).build().expect("table and item set"))
                .build()
        };
        self.client
            .transact_write_items()
            .transact_items(put(token_item))
            .transact_items(put(binding))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// The Tencent Docs account a workspace is connected to.
    pub async fn binding(&self, ws: &WorkspaceId) -> Result<Option<OpenId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&ws_pk(ws), "BINDING")))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.item.as_ref().and_then(|i| get_s(i, "open_id")).and_then(|o| OpenId::parse(o).ok()))
    }

    /// A Tencent Docs token with its version, for a conditional update after refresh.
    pub async fn tdoc_token(&self, open_id: &OpenId) -> Result<Option<(TdocToken, u64)>, StoreError> {
        self.read_token(&tdoc_pk(open_id), "TOKEN").await
    }

    /// Writes a refreshed token unless another instance already replaced version `seen`.
    /// Returns false when it lost that race (the caller should re-read).
    pub async fn replace_tdoc_token(&self, token: &TdocToken, seen: u64) -> Result<bool, StoreError> {
        let item = self.token_item(&tdoc_pk(&token.open_id), "TOKEN", token, seen + 1);
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR ver = :seen")
            .expression_attribute_values(":seen", n(seen))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    fn token_item<T: serde::Serialize>(&self, pk: &str, sk: &str, token: &T, version: u64) -> Item {
        let mut item = Self::key(pk, sk);
        item.insert("ct".into(), AttributeValue::B(seal_token(&self.keys, pk, sk, token).into()));
        item.insert("ver".into(), n(version));
        item.insert("updated_at".into(), n(now_secs()));
        item
    }

    async fn read_token<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<(T, u64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let Some(item) = out.item else { return Ok(None) };
        let Some(AttributeValue::B(blob)) = item.get("ct") else {
            return Err(StoreError::Corrupt(format!("{sk} record without ciphertext")));
        };
        let token: T = open_token(&self.keys, pk, sk, blob.as_ref())?;
        if self.keys.is_stale(blob.as_ref()) {
            self.reseal(pk, sk, &token, blob).await;
        }
        Ok(Some((token, get_n(&item, "ver").unwrap_or(0))))
    }

    /// Key rotation: a token read under an old key is written back under the current one
    /// at once, rather than at its next refresh (weeks away, or never for a token that is
    /// never refreshed), so the old key can be retired. Only the exact ciphertext that was
    /// read is replaced, and the version is kept: a concurrent refresh wins and is not
    /// disturbed. Best effort: a failure leaves the old ciphertext, still readable.
    async fn reseal<T: serde::Serialize>(&self, pk: &str, sk: &str, token: &T, old: &Blob) {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .update_expression("SET ct = :new")
            .condition_expression("ct = :old")
            .expression_attribute_values(":new", AttributeValue::B(seal_token(&self.keys, pk, sk, token).into()))
            .expression_attribute_values(":old", AttributeValue::B(old.clone()))
            .send()
            .await;
        match out {
            Ok(_) => tracing::info!(record = sk, "token re-encrypted under the current key"),
            Err(e) => tracing::debug!(record = sk, error = %StoreError::sdk(e), "token not re-encrypted"),
        }
    }
}
