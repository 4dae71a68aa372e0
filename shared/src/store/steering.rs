//! Who steers a workspace, beyond what TAPD says: `WS#<ws>` / `STEERING`.
//!
//! - `admins` (string set): TAPD nicks or user ids the operator named (`tapdocs workspace
//!   admins add`); they may connect the workspace and sign in to its console like its admins.
//! - `sessions_after` (ms): console sign-ins to the workspace before this moment are over. A
//!   rebind to another Tencent Docs account sets it in the rebind's own transaction, so no
//!   session of the old account's people outlives the takeover.

use aws_sdk_dynamodb::types::{AttributeValue, Update};

use super::{Store, StoreError, get_n, n};
use crate::ids::WorkspaceId;

pub(super) const SK: &str = "STEERING";

fn pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

/// What the console reads before serving a workspace's page or form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Steering {
    /// Named by the operator, sorted.
    pub admins: Vec<String>,
    /// ms; 0 when no takeover ever happened.
    pub sessions_after_ms: u64,
}

impl Store {
    /// The workspace's steering record (empty when none was ever written).
    pub async fn steering(&self, ws: &WorkspaceId) -> Result<Steering, StoreError> {
        let Some(item) = self.get_latest(&pk(ws), SK).await? else { return Ok(Steering::default()) };
        let mut admins = match item.get("admins") {
            Some(AttributeValue::Ss(names)) => names.clone(),
            _ => Vec::new(),
        };
        admins.sort();
        Ok(Steering { admins, sessions_after_ms: get_n(&item, "sessions_after").unwrap_or(0) })
    }

    /// The people the operator named for the workspace.
    pub async fn named_admins(&self, ws: &WorkspaceId) -> Result<Vec<String>, StoreError> {
        Ok(self.steering(ws).await?.admins)
    }

    /// Names (`add`) or un-names a person; true when that changed anything.
    pub async fn set_named_admin(&self, ws: &WorkspaceId, name: &str, add: bool) -> Result<bool, StoreError> {
        let (expr, cond) = if add {
            ("ADD admins :n", "attribute_not_exists(admins) OR NOT contains(admins, :v)")
        } else {
            ("DELETE admins :n", "contains(admins, :v)")
        };
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk(ws), SK)))
            .update_expression(expr)
            .condition_expression(cond)
            .expression_attribute_values(":n", AttributeValue::Ss(vec![name.to_owned()]))
            .expression_attribute_values(":v", AttributeValue::S(name.to_owned()))
            .send()
            .await;
        super::applied(out)
    }

    /// The write that ends every console session of the workspace, as one item of a transaction.
    pub(super) fn end_sessions_update(&self, ws: &WorkspaceId, at_ms: u64) -> Update {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk(ws), SK)))
            .update_expression("SET sessions_after = :at")
            .expression_attribute_values(":at", n(at_ms))
            .build()
            .expect("table, key and expression set")
    }
}
