//! Console sessions: `SESSION#<sha256(token)>` / `SESSION`, the workspaces TAPD let a browser
//! sign in to, until when (a TTL, and checked on read: TTL deletion is late).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use sha2::{Digest, Sha256};

use super::{Store, StoreError, applied, get_n, n};
use crate::ids::WorkspaceId;
use crate::time::{now_millis, now_secs};

fn session_pk(token: &str) -> String {
    let hex: String = Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    format!("SESSION#{hex}")
}

/// A console session: the workspaces TAPD let this browser sign in to, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub workspaces: Vec<WorkspaceId>,
    /// ms.
    pub expires_ms: u64,
}

impl Store {
    /// Starts a session for `workspace` under `token` (kept by the browser only; stored by hash).
    pub async fn put_session(&self, token: &str, workspace: &WorkspaceId, ttl_secs: u64) -> Result<(), StoreError> {
        let mut item = Self::key(&session_pk(token), "SESSION");
        item.insert("workspaces".into(), AttributeValue::Ss(vec![workspace.to_string()]));
        // `expires_at` for DynamoDB's TTL (seconds, late), `expires_ms` for the check.
        item.insert("expires_at".into(), n(now_secs() + ttl_secs + 1));
        item.insert("expires_ms".into(), n(now_millis() + ttl_secs * 1000));
        self.put_new(item).await
    }

    /// Adds a workspace to a live session (a second sign-in from the same browser).
    pub async fn add_session_workspace(&self, token: &str, workspace: &WorkspaceId) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&session_pk(token), "SESSION")))
            .update_expression("ADD workspaces :ws")
            .condition_expression("attribute_exists(pk) AND expires_ms > :now")
            .expression_attribute_values(":ws", AttributeValue::Ss(vec![workspace.to_string()]))
            .expression_attribute_values(":now", n(now_millis()))
            .return_values(ReturnValue::None)
            .send()
            .await;
        applied(out)
    }

    /// The session `token` names, if it is live (TTL deletion is late: expiry is checked here).
    pub async fn session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let Some(item) = self.get_latest(&session_pk(token), "SESSION").await? else { return Ok(None) };
        let expires_ms = get_n(&item, "expires_ms").unwrap_or(0);
        if expires_ms <= now_millis() {
            return Ok(None);
        }
        let workspaces = match item.get("workspaces") {
            Some(AttributeValue::Ss(list)) => list.iter().filter_map(|w| WorkspaceId::parse(w).ok()).collect(),
            _ => Vec::new(),
        };
        Ok(Some(Session { workspaces, expires_ms }))
    }

    /// Signs out: the session is gone, whatever the cookie says afterwards.
    pub async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&session_pk(token), "SESSION")))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }
}
