//! A workspace's audit trail: `WS#<ws>` / `AUDIT#<ms>#<id>`, who did what and when, from the
//! console or `tapdocs`.

use super::{Store, StoreError, get_n, get_s, n, s};
use crate::ids::WorkspaceId;
use crate::time::now_millis;

/// One line of a workspace's audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// ms.
    pub at_ms: u64,
    /// Who: the console session (by a short fingerprint) or `tapdocs`.
    pub who: String,
    pub what: String,
}

impl Store {
    /// Appends to the workspace's audit trail.
    pub async fn audit(&self, ws: &WorkspaceId, who: &str, what: &str) -> Result<(), StoreError> {
        let now = now_millis();
        let mut item = Self::key(&format!("WS#{ws}"), &format!("AUDIT#{now:015}#{}", crate::random::id()));
        item.insert("who".into(), s(who));
        item.insert("what".into(), s(what.chars().take(500).collect::<String>()));
        item.insert("at".into(), n(now));
        self.put_new(item).await
    }

    /// The workspace's audit trail, newest first.
    pub async fn audit_trail(&self, ws: &WorkspaceId, limit: i32) -> Result<Vec<AuditEntry>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :a)")
            .expression_attribute_values(":pk", s(format!("WS#{ws}")))
            .expression_attribute_values(":a", s("AUDIT#"))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .map(|i| AuditEntry {
                at_ms: get_n(i, "at").unwrap_or(0),
                who: get_s(i, "who").unwrap_or_default().to_owned(),
                what: get_s(i, "what").unwrap_or_default().to_owned(),
            })
            .collect())
    }
}
