//! Each connected workspace's own webhook secrets (`WS#<ws>` / `WEBHOOK_SECRETS`): the
//! current one and any retiring after a rotation, sealed together as one ciphertext (`ct`,
//! so `tapdocs rotate-keys` re-encrypts them like the tokens), versioned (`ver`).

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, get_n, n, open_token};
use crate::ids::WorkspaceId;
use crate::secret::Secret;

const SK: &str = "WEBHOOK_SECRETS";

fn pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

/// One secret a workspace's deliveries may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecret {
    pub value: Secret,
    pub created_ms: u64,
    /// When it stops opening the workspace (set by a rotation); `None` for the current one.
    pub retires_ms: Option<u64>,
}

impl WebhookSecret {
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.retires_ms.is_none_or(|r| now_ms < r)
    }
}

/// A workspace's secrets as stored, newest last.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WebhookSecrets {
    pub secrets: Vec<WebhookSecret>,
    #[serde(skip)]
    pub version: u64,
}

impl WebhookSecrets {
    /// The secret an admin is told to use now.
    pub fn current(&self) -> Option<&WebhookSecret> {
        self.secrets.iter().rev().find(|s| s.retires_ms.is_none())
    }

    /// The secrets that still open the workspace at `now_ms`.
    pub fn live(&self, now_ms: u64) -> impl Iterator<Item = &WebhookSecret> {
        self.secrets.iter().filter(move |s| s.is_live(now_ms))
    }

    /// After a rotation at `now_ms`: the old ones retire at `now_ms + grace_ms` (one already
    /// retiring keeps its earlier end), the ones past their end are dropped, `new` is current.
    pub fn rotated(&self, new: Secret, now_ms: u64, grace_ms: u64) -> WebhookSecrets {
        let mut secrets: Vec<WebhookSecret> = self
            .live(now_ms)
            .cloned()
            .map(|mut s| {
                let end = now_ms + grace_ms;
                s.retires_ms = Some(s.retires_ms.map_or(end, |r| r.min(end)));
                s
            })
            .filter(|s| s.is_live(now_ms))
            .collect();
        secrets.push(WebhookSecret { value: new, created_ms: now_ms, retires_ms: None });
        WebhookSecrets { secrets, version: self.version }
    }
}

impl Store {
    /// The workspace's webhook secrets; `None` when it has none (never connected since they
    /// were introduced).
    pub async fn webhook_secrets(&self, ws: &WorkspaceId) -> Result<Option<WebhookSecrets>, StoreError> {
        let pk = pk(ws);
        let Some(item) = self.get_latest(&pk, SK).await? else { return Ok(None) };
        let Some(AttributeValue::B(blob)) = item.get("ct") else {
            return Err(StoreError::Corrupt(format!("{SK} record without ciphertext")));
        };
        let mut secrets: WebhookSecrets = open_token(&self.keys, &pk, SK, blob.as_ref())?;
        secrets.version = get_n(&item, "ver").unwrap_or(0);
        Ok(Some(secrets))
    }

    /// When each of the workspace's secrets was made and when it retires (`None`: current),
    /// oldest first, read without decrypting anything.
    pub async fn webhook_secret_times(&self, ws: &WorkspaceId) -> Result<Vec<(u64, Option<u64>)>, StoreError> {
        let Some(item) = self.get_latest(&pk(ws), SK).await? else { return Ok(Vec::new()) };
        let Some(AttributeValue::L(meta)) = item.get("meta") else { return Ok(Vec::new()) };
        Ok(meta
            .iter()
            .filter_map(|m| m.as_m().ok())
            .map(|m| (get_n(m, "created_ms").unwrap_or(0), get_n(m, "retires_ms")))
            .collect())
    }

    /// Writes `secrets` as the next version, unless another writer replaced version
    /// `secrets.version` meanwhile (false: read again and retry).
    pub async fn put_webhook_secrets(&self, ws: &WorkspaceId, secrets: &WebhookSecrets) -> Result<bool, StoreError> {
        let pk = pk(ws);
        let mut item = self.token_item(&pk, SK, secrets, secrets.version + 1);
        // When each was made and retires, readable without the key (`tapdocs workspace show`).
        let meta = secrets
            .secrets
            .iter()
            .map(|s| {
                let mut m = std::collections::HashMap::from([("created_ms".to_owned(), n(s.created_ms))]);
                if let Some(r) = s.retires_ms {
                    m.insert("retires_ms".to_owned(), n(r));
                }
                AttributeValue::M(m)
            })
            .collect();
        item.insert("meta".into(), AttributeValue::L(meta));
        self.put_if_version(item, secrets.version).await
    }
}
