//! Console sessions: `SESSION#<sha256(token)>` / `SESSION`, the workspaces TAPD let a browser
//! sign in to, until when (a TTL, and checked on read: TTL deletion is late).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use sha2::{Digest, Sha256};

use std::collections::HashMap;

use super::{Store, StoreError, applied, get_n, get_s, n, s};
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
    /// Who signed in to each workspace, and when.
    pub signed_in: HashMap<WorkspaceId, SignIn>,
    /// ms.
    pub expires_ms: u64,
}

/// One workspace's sign-in within a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// ms.
    pub at_ms: u64,
    /// The TAPD user, as [`crate::steer::TapdUser::label`] names them.
    pub who: String,
}

impl Session {
    /// The sign-in to `ws`, unless the workspace's sessions were ended after it (a takeover
    /// sets `sessions_after_ms`). Sessions written before sign-ins were recorded have none.
    pub fn sign_in(&self, ws: &WorkspaceId, sessions_after_ms: u64) -> Option<&SignIn> {
        self.signed_in.get(ws).filter(|s| s.at_ms > sessions_after_ms)
    }
}

fn sign_in_value(who: &str) -> AttributeValue {
    AttributeValue::M(HashMap::from([("at".to_owned(), n(now_millis())), ("who".to_owned(), s(who))]))
}

impl Store {
    /// Starts a session for `workspace` under `token` (kept by the browser only; stored by hash),
    /// signed in by `who`.
    pub async fn put_session(
        &self,
        token: &str,
        workspace: &WorkspaceId,
        who: &str,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        let mut item = Self::key(&session_pk(token), "SESSION");
        item.insert("workspaces".into(), AttributeValue::Ss(vec![workspace.to_string()]));
        item.insert(
            "signed_in".into(),
            AttributeValue::M(HashMap::from([(workspace.to_string(), sign_in_value(who))])),
        );
        // `expires_at` for DynamoDB's TTL (seconds, late), `expires_ms` for the check.
        item.insert("expires_at".into(), n(now_secs() + ttl_secs + 1));
        item.insert("expires_ms".into(), n(now_millis() + ttl_secs * 1000));
        self.put_new(item).await
    }

    /// Adds a workspace to a live session (a second sign-in from the same browser); false when
    /// the session is gone or predates recorded sign-ins (the caller starts a new one).
    pub async fn add_session_workspace(
        &self,
        token: &str,
        workspace: &WorkspaceId,
        who: &str,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&session_pk(token), "SESSION")))
            .update_expression("ADD workspaces :ws SET signed_in.#w = :in")
            .condition_expression("attribute_exists(pk) AND attribute_exists(signed_in) AND expires_ms > :now")
            .expression_attribute_names("#w", workspace.to_string())
            .expression_attribute_values(":ws", AttributeValue::Ss(vec![workspace.to_string()]))
            .expression_attribute_values(":in", sign_in_value(who))
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
        let signed_in = match item.get("signed_in") {
            Some(AttributeValue::M(map)) => map
                .iter()
                .filter_map(|(ws, v)| {
                    let v = v.as_m().ok()?;
                    let at_ms = get_n(v, "at")?;
                    let who = get_s(v, "who").unwrap_or_default().to_owned();
                    Some((WorkspaceId::parse(ws).ok()?, SignIn { at_ms, who }))
                })
                .collect(),
            _ => HashMap::new(),
        };
        Ok(Some(Session { workspaces, signed_in, expires_ms }))
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
