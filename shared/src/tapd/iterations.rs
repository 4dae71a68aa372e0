//! Iterations (`GET /iterations`): what the card shows of an item's iteration is its name.

use serde::Deserialize;

use super::{S, TapdClient, api, list_rows};
use crate::ids::{IterationId, WorkspaceId};
use crate::secret::Secret;
use crate::upstream::{self, UpstreamError};

/// What the product reads of an iteration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapdIteration {
    pub id: IterationId,
    pub name: String,
    /// `open` or `done`.
    pub status: String,
}

#[derive(Deserialize)]
struct RawIteration {
    id: IterationId,
    #[serde(default, deserialize_with = "super::items::loose_string")]
    name: String,
    #[serde(default, deserialize_with = "super::items::loose_string")]
    status: String,
}

impl TapdClient {
    /// One iteration by id; `Ok(None)` when the workspace has no such iteration (deleted).
    pub async fn iteration(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        id: &IterationId,
    ) -> Result<Option<TapdIteration>, UpstreamError> {
        let req = self
            .http
            .get(format!("{}/iterations", self.cfg.api_base))
            .bearer_auth(token.expose())
            .query(&[("workspace_id", workspace.as_str()), ("id", id.as_str())]);
        let (status, body) = upstream::send_gauged(S, req, &self.gauge).await?;
        iteration_reply(status, &body, id)
    }
}

/// As a read of an item by id: a list without it means none; a reply that is not a list
/// says nothing.
pub(super) fn iteration_reply(
    status: u16,
    body: &[u8],
    id: &IterationId,
) -> Result<Option<TapdIteration>, UpstreamError> {
    let data: serde_json::Value = api(status, body)?;
    if !data.is_array() {
        return Err(UpstreamError::Malformed {
            service: S,
            detail: "an iteration read answered without a list".into(),
        });
    }
    for row in list_rows(data)? {
        let Some(raw) = row.get("Iteration") else { continue };
        let raw: RawIteration = serde_json::from_value(raw.clone())
            .map_err(|_| UpstreamError::Malformed { service: S, detail: "iteration without a valid id".into() })?;
        if &raw.id == id {
            return Ok(Some(TapdIteration { id: raw.id, name: raw.name, status: raw.status }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITERATIONS: &str = include_str!("../../../tests/fixtures/tapd/iterations_reply.json");

    #[test]
    fn the_documented_reply_reads_as_the_iteration_by_id() {
        let id = IterationId::parse("1120375001001000031").unwrap();
        let it = iteration_reply(200, ITERATIONS.as_bytes(), &id).unwrap().unwrap();
        assert_eq!((it.name.as_str(), it.status.as_str()), ("2026 第四季度 · 冲刺 3", "open"));
        let other = IterationId::parse("1").unwrap();
        assert_eq!(iteration_reply(200, ITERATIONS.as_bytes(), &other).unwrap(), None);
        assert_eq!(iteration_reply(200, br#"{"status":1,"data":[],"info":"success"}"#, &id).unwrap(), None);
        for bad in [r#"{"status":1,"data":"","info":"success"}"#, r#"{"status":1,"data":"Hello world","info":"x"}"#] {
            assert!(matches!(iteration_reply(200, bad.as_bytes(), &id), Err(UpstreamError::Malformed { .. })), "{bad}");
        }
    }
}
