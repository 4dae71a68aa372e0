//! TAPD workflows and iterations (`upstream-apis.md`, "Beyond creating"):
//!
//! - `GET /workflows/status_map?workspace_id=&system=story|bug&workitem_type_id=` →
//!   `data: {"planning":"规划中",...}` (`workflows_status_map_reply.json`): every status key of
//!   the workspace's workflow and the name people see;
//! - `GET /workflows/last_steps` (same parameters) → `data: {"resolved":"已实现",...}`
//!   (`workflows_last_steps_reply.json`): the end statuses;
//! - `GET /iterations?workspace_id=&id=` (`id` comma separated; also `name`, `status` filters,
//!   `limit`/`page` as the item lists, oldest first) → `data: [{"Iteration":{..}}]`
//!   (`iterations_reply.json`, every value a string).
//!
//! Every workspace starts with TAPD's default workflows ([`Workflow::default_story`],
//! [`Workflow::default_bug`]); [`crate::Sandbox::set_workflow`] (or `POST /_sandbox/workflows`)
//! replaces one. A story's `workitem_type_id` is its workspace's one work item type
//! ([`workitem_type_id`]); `status_map`/`last_steps` for `system=story` with another
//! `workitem_type_id` answer `400` (bugs ignore it). `system` missing or not `story|bug`: `400`.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::model::{Iteration, Workflow, WorkflowSystem};
use crate::tapd::{authorize_api, error, ok, page_of, paging};
use crate::util;

pub(crate) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/tapd/api/workflows/status_map", get(status_map))
        .route("/tapd/api/workflows/last_steps", get(last_steps))
        .route("/tapd/api/iterations", get(list_iterations))
}

/// The one story work item type of a workspace: `11{workspace_id}001000001` (19 digits for an
/// 8-digit workspace id, like TAPD's ids).
pub fn workitem_type_id(workspace_id: &str) -> String {
    format!("11{workspace_id}001000001")
}

type Q = Query<BTreeMap<String, String>>;

fn param<'a>(q: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    q.get(key).map(|s| s.trim()).unwrap_or("")
}

/// The workflow a `/workflows/*` call names, after authorization.
fn asked_workflow(sb: &Sandbox, headers: &HeaderMap, q: &BTreeMap<String, String>) -> Result<Workflow, Response> {
    let ws = param(q, "workspace_id");
    authorize_api(sb, headers, ws)?;
    let Some(system) = WorkflowSystem::parse(param(q, "system")) else {
        return Err(error(StatusCode::BAD_REQUEST, "system must be story or bug"));
    };
    let type_id = param(q, "workitem_type_id");
    if system == WorkflowSystem::Story && !type_id.is_empty() && type_id != workitem_type_id(ws) {
        return Err(error(StatusCode::BAD_REQUEST, &format!("workitem_type_id {type_id} not found in workspace {ws}")));
    }
    Ok(sb.lock().workflow(ws, system))
}

async fn status_map(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    match asked_workflow(&sb, &headers, &q) {
        Ok(w) => ok(Value::Object(w.statuses.iter().map(|s| (s.key.clone(), json!(s.name))).collect())),
        Err(r) => r,
    }
}

async fn last_steps(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    match asked_workflow(&sb, &headers, &q) {
        Ok(w) => {
            ok(Value::Object(w.end.iter().map(|k| (k.clone(), json!(w.name_of(k).unwrap_or_default()))).collect()))
        }
        Err(r) => r,
    }
}

pub(crate) fn iteration_json(i: &Iteration) -> Value {
    json!({"Iteration": {
        "id": i.id,
        "name": i.name,
        "workspace_id": i.workspace_id,
        "startdate": i.startdate,
        "enddate": i.enddate,
        "status": i.status,
        "creator": i.creator,
        "created": i.created,
        "modified": i.modified,
        "description": i.description,
    }})
}

async fn list_iterations(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    let ws = param(&q, "workspace_id");
    if let Err(r) = authorize_api(&sb, &headers, ws) {
        return r;
    }
    let (limit, page) = match paging(&q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ids: Option<Vec<&str>> =
        Some(param(&q, "id")).filter(|s| !s.is_empty()).map(|s| s.split(',').map(str::trim).collect());
    let (name, status) = (param(&q, "name"), param(&q, "status"));
    let mut rows: Vec<Iteration> = sb
        .lock()
        .iterations
        .iter()
        .filter(|i| i.workspace_id == ws)
        .filter(|i| ids.as_ref().is_none_or(|ids| ids.contains(&i.id.as_str())))
        .filter(|i| name.is_empty() || i.name == name)
        .filter(|i| status.is_empty() || i.status == status)
        .cloned()
        .collect();
    rows.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    ok(Value::Array(page_of(rows, limit, page).iter().map(iteration_json).collect()))
}

/// A new open iteration of two weeks from today, created now by `sandbox`.
pub(crate) fn new_iteration(workspace_id: &str, id: Option<&str>, name: &str) -> Iteration {
    let now = util::now_shanghai();
    Iteration {
        id: id.map(str::to_owned).unwrap_or_else(util::random_id19),
        name: name.to_string(),
        workspace_id: workspace_id.to_string(),
        startdate: util::date_shanghai_plus(0),
        enddate: util::date_shanghai_plus(13),
        status: "open".into(),
        creator: "sandbox".into(),
        created: now.clone(),
        modified: now,
        description: String::new(),
    }
}
