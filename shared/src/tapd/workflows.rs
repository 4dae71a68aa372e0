//! A workspace's workflows: the names of its status keys (`/workflows/status_map`) and the
//! statuses that end an item's workflow (`/workflows/last_steps`). Both are per workspace,
//! per system (story, bug) and, for stories, per type: never hard-coded.

use std::collections::BTreeMap;

use super::{S, TapdClient, api};
use crate::ids::{ItemKind, WorkspaceId};
use crate::secret::Secret;
use crate::upstream::{self, UpstreamError};

/// Status key → the name people see (`{"planning":"规划中","status_3":"方案评审中"}`).
pub type StatusNames = BTreeMap<String, String>;

/// Which of the two workflow calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowCall {
    StatusMap,
    LastSteps,
}

impl WorkflowCall {
    fn path(self) -> &'static str {
        match self {
            WorkflowCall::StatusMap => "workflows/status_map",
            WorkflowCall::LastSteps => "workflows/last_steps",
        }
    }
}

impl TapdClient {
    /// `status_map` or `last_steps` of the workflow of `kind` items of type `workitem_type_id`
    /// (a story's own type; empty for the workspace's default workflow).
    pub async fn workflow(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        call: WorkflowCall,
        kind: ItemKind,
        workitem_type_id: &str,
    ) -> Result<StatusNames, UpstreamError> {
        let mut query = vec![("workspace_id", workspace.as_str()), ("system", kind.as_str())];
        if !workitem_type_id.is_empty() {
            query.push(("workitem_type_id", workitem_type_id));
        }
        let req =
            self.http.get(format!("{}/{}", self.cfg.api_base, call.path())).bearer_auth(token.expose()).query(&query);
        let (status, body) = upstream::send_gauged(S, req, &self.gauge).await?;
        status_names_reply(status, &body)
    }
}

/// `data` is an object of key → name; a workflow without statuses may come as `[]` or `""`
/// (PHP's empty array). Anything else (TAPD's greeting of a misspelt path) is malformed, never
/// "no statuses": an empty last-steps map would read as "no item is ever finished".
pub(super) fn status_names_reply(status: u16, body: &[u8]) -> Result<StatusNames, UpstreamError> {
    let malformed = || UpstreamError::Malformed { service: S, detail: "a status map of an unexpected shape".into() };
    match api::<serde_json::Value>(status, body)? {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(name) => Ok((k, name)),
                _ => Err(malformed()),
            })
            .collect(),
        serde_json::Value::Array(a) if a.is_empty() => Ok(StatusNames::new()),
        serde_json::Value::String(s) if s.is_empty() => Ok(StatusNames::new()),
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS_MAP: &str = include_str!("../../../tests/fixtures/tapd/workflows_status_map_reply.json");
    const LAST_STEPS: &str = include_str!("../../../tests/fixtures/tapd/workflows_last_steps_reply.json");

    #[test]
    fn the_documented_replies_read_as_names_by_key() {
        let names = status_names_reply(200, STATUS_MAP.as_bytes()).unwrap();
        assert_eq!(names.len(), 7);
        assert_eq!(names["status_3"], "方案评审中");
        assert_eq!(names["planning"], "规划中");
        let ends = status_names_reply(200, LAST_STEPS.as_bytes()).unwrap();
        assert_eq!(ends.keys().map(String::as_str).collect::<Vec<_>>(), ["rejected", "status_9"]);
    }

    #[test]
    fn empty_forms_are_empty_and_other_shapes_are_errors() {
        for empty in [r#"{"status":1,"data":[],"info":"success"}"#, r#"{"status":1,"data":"","info":"success"}"#] {
            assert!(status_names_reply(200, empty.as_bytes()).unwrap().is_empty(), "{empty}");
        }
        for bad in [
            r#"{"status":1,"data":"Hello world from TAPD API","info":"success"}"#,
            r#"{"status":1,"data":[1],"info":"success"}"#,
            r#"{"status":1,"data":{"a":1},"info":"success"}"#,
        ] {
            assert!(matches!(status_names_reply(200, bad.as_bytes()), Err(UpstreamError::Malformed { .. })), "{bad}");
        }
        assert!(matches!(
            status_names_reply(200, br#"{"status":0,"data":"","info":"no such workspace"}"#),
            Err(UpstreamError::Refused { .. })
        ));
    }
}
