//! `/_sandbox/...`: the same seeding, inspection and control as the Rust API,
//! over HTTP with JSON bodies, for separate processes (demo script, browser tests).
//!
//! | method | path | body / reply |
//! | --- | --- | --- |
//! | GET | `/_sandbox/info` | base URLs, client ids and secrets, app open id |
//! | GET | `/_sandbox/docs` | `[Doc]` |
//! | GET | `/_sandbox/comments` | `[Comment]` |
//! | POST | `/_sandbox/comments` | seeds comments: `{workspace_id, kind: story\|bug\|task (or entry_type: stories\|bug\|tasks), entry_id, description, author?, created?, count?}`; answers `200 [Comment]` |
//! | GET | `/_sandbox/items` | `[Item]` |
//! | POST | `/_sandbox/items` | `{workspace_id, kind: story\|bug\|task, id, name, fields?: {name: string}}` |
//! | GET | `/_sandbox/item-updates` | `[ItemUpdate]` |
//! | GET | `/_sandbox/requests` | `[RequestRecord]` |
//! | GET | `/_sandbox/tokens` | `IssuedTokens` |
//! | POST | `/_sandbox/workspaces` | `{workspace_id, name}` |
//! | POST | `/_sandbox/tdoc-users` | `{open_id, nick}` |
//! | GET | `/_sandbox/faults` | active `[Fault]` |
//! | POST | `/_sandbox/faults` | `Fault` (see [`crate::Fault`]) |
//! | DELETE | `/_sandbox/faults` | clears every fault (also `POST /_sandbox/clear-faults`) |
//! | POST | `/_sandbox/expire-tokens` | every issued access token expires |
//! | POST | `/_sandbox/expire-refresh-tokens` | every issued refresh token expires |
//! | POST | `/_sandbox/expire-codes` | every unused authorization code expires |
//! | GET | `/_sandbox/variants` | [`crate::Variants`]: `{"tapd_token_resource":"user","tdoc_token_error":"http401","tapd_dead_token":"http401","tapd_unknown_path":"http404","tdoc_batch_update_route":"colon",...}` |
//! | POST | `/_sandbox/variants` | any of `tapd_token_resource` (`user`\|`workspace`\|`user_only`), `tdoc_token_error` (`http401`\|`http200`), `tapd_dead_token` (`http401`\|`http422`), `tapd_unknown_path` (`http404`\|`hello_world`), `tdoc_batch_update_route` (`colon`\|`slash`), `tdoc_doc_read` (`flat`\|`wrapped`), `tdoc_token_reply` (`flat`\|`wrapped`), `tdoc_file_id_key` (`ID`\|`id`), `tdoc_root_folder` (`plain`\|`trailing_slash`\|`no_id`) (see the crate docs); unknown keys or values → `400`/`422` |
//! | GET | `/_sandbox/tapd-rate-limit` | `{"limit":1800,"window_ms":600000}` or `null` (unlimited) |
//! | POST | `/_sandbox/tapd-rate-limit` | the same JSON (`null`: unlimited); starts a fresh window |
//! | GET | `/_sandbox/workflows?workspace_id=W` | `{"story": Workflow, "bug": Workflow}`, each `{"statuses":[{"key","name"}],"end":[key]}` |
//! | POST | `/_sandbox/workflows` | `{workspace_id, system: story\|bug, statuses: [{key, name}], end: [key]}` replaces that workflow (`400` if empty, a key repeats, or an end status is not one of them) |
//! | GET | `/_sandbox/iterations` | `[Iteration]` |
//! | POST | `/_sandbox/iterations` | `{workspace_id, name, id?, deliver?}` creates an open iteration (two weeks from today) and, unless `deliver: false`, delivers `iteration::create`; answers `200 {iteration, deliveries}` |
//! | POST | `/_sandbox/iterations/update` | `{workspace_id, id, name, deliver?}` renames it (delivers `iteration::update` with `old_name`); `200 {iteration, deliveries}`, `404` if unknown |
//! | POST | `/_sandbox/iterations/delete` | `{workspace_id, id}` deletes it, delivers `iteration::delete`; `200 {iteration, deliveries}` |
//! | POST | `/_sandbox/items/change` | `{workspace_id, kind, id, fields: {status (key or name), owner, priority, iteration_id, ...}, deliver? (default true), current_user?}`: a person's edit in TAPD; `200 ItemChange {item, changed, events, deliveries}`; `400` on TAPD's rules, `404` unknown item |
//! | GET | `/_sandbox/deliveries` | `[Delivery]`: `{seq, event, url, body, status (0: no answer), redelivery_of}` |
//! | POST | `/_sandbox/deliveries/redeliver` | `{seq, delay_ms?}`: the same body again (same `event_id`); `200 Delivery`, or `202` at once and later with `delay_ms` |
//! | GET | `/_sandbox/file-location?file_id=` | where a file (or folder) is now: `{file_id, folders: [Folder]}`, root first (`[]`: the root); `404` unknown |
//! | GET | `/_sandbox/folder?folder_id=` | a folder's live content (empty or `/`: the root, every owner's): `{folders: [Folder], files: [Doc]}`; `404` unknown |
//! | POST | `/_sandbox/tapd-storm` | a "429 storm": `{"seconds": N}` (every TAPD API call refused for N s) or `{"calls": N}` (the next N); `{}` ends it |
//! | POST | `/_sandbox/tapd-max-reply` | `{"bytes": N}`: TAPD list replies larger than N answer `502`; `{"bytes": null}` (default) never |
//! | POST | `/_sandbox/webhook` | `{url: "..." or null, secret}`: where deliveries go from now on |
//! | GET | `/_sandbox/tdoc-limits` | `{"file_ops_per_window":300,"content_ops_per_window":150,"window_ms":60000,"version_window":10}` (`null` counts: unlimited) |
//! | POST | `/_sandbox/tdoc-limits` | the same JSON (all four keys); starts fresh windows |
//! | POST | `/_sandbox/doc-edit` | a person edits a doc: `{file_id, edits: [E]}`, `E` one of `{"insert":{"index","text"}}`, `{"replace":{"start","length","text"}}`, `{"delete":{"start","length"}}` (doc indices as the read gives them), `{"replace_paragraph":{"paragraph","text"}}`, `{"insert_paragraph":{"paragraph","text"}}` (0-based; the paragraph count appends); all or none; answers `200 DocText`; `400` outside the doc, `404` unknown doc |
//! | GET | `/_sandbox/doc-text?file_id=` | `DocText`: `{file_id, text, version, paragraphs: [{begin, end, text}]}` |
//!
//! Mutations answer `204 No Content` (seeding comments answers what it seeded).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Sandbox;
use crate::deliveries::Delivery;
use crate::model::{
    Comment, Doc, Fault, IssuedTokens, Item, ItemKind, ItemUpdate, Iteration, ReplyWrapping, RequestRecord,
    TapdDeadToken, TapdTokenResource, TapdUnknownPath, TdocBatchUpdateRoute, TdocFileIdKey, TdocFolderRename,
    TdocLimits, TdocMoveParams, TdocOffsetUnit, TdocRootFolder, TdocTokenError, Variants, Workflow, WorkflowStatus,
    WorkflowSystem,
};
use crate::tdoc_edit::DocEdit;

pub(crate) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/_sandbox/info", get(info))
        .route("/_sandbox/docs", get(docs))
        .route("/_sandbox/comments", get(comments).post(add_comments))
        .route("/_sandbox/variants", get(variants).post(set_variants))
        .route("/_sandbox/tapd-rate-limit", get(rate_limit).post(set_rate_limit))
        .route("/_sandbox/items", get(items).post(add_item))
        .route("/_sandbox/item-updates", get(item_updates))
        .route("/_sandbox/requests", get(requests))
        .route("/_sandbox/tokens", get(tokens))
        .route("/_sandbox/workspaces", post(add_workspace))
        .route("/_sandbox/tdoc-users", post(add_tdoc_user))
        .route("/_sandbox/faults", get(faults).post(inject).delete(clear_faults))
        .route("/_sandbox/clear-faults", post(clear_faults))
        .route("/_sandbox/expire-tokens", post(expire_tokens))
        .route("/_sandbox/expire-refresh-tokens", post(expire_refresh))
        .route("/_sandbox/expire-codes", post(expire_codes))
        .route("/_sandbox/workflows", get(workflows).post(set_workflow))
        .route("/_sandbox/iterations", get(iterations).post(add_iteration))
        .route("/_sandbox/iterations/update", post(update_iteration))
        .route("/_sandbox/iterations/delete", post(delete_iteration))
        .route("/_sandbox/items/change", post(change_item))
        .route("/_sandbox/deliveries", get(deliveries))
        .route("/_sandbox/deliveries/redeliver", post(redeliver))
        .route("/_sandbox/webhook", post(set_webhook))
        .route("/_sandbox/tapd-storm", post(tapd_storm))
        .route("/_sandbox/tapd-max-reply", post(tapd_max_reply))
        .route("/_sandbox/file-location", get(file_location))
        .route("/_sandbox/folder", get(folder_listing))
        .route("/_sandbox/tdoc-limits", get(tdoc_limits).post(set_tdoc_limits))
        .route("/_sandbox/doc-edit", post(doc_edit))
        .route("/_sandbox/doc-text", get(doc_text))
}

/// Tencent Docs' limits on the wire: `null` counts mean unlimited.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TdocLimitsWire {
    #[serde(default)]
    file_ops_per_window: Option<u32>,
    #[serde(default)]
    content_ops_per_window: Option<u32>,
    window_ms: u64,
    version_window: u64,
}

async fn tdoc_limits(State(sb): State<Sandbox>) -> Json<TdocLimitsWire> {
    let l = sb.tdoc_limits();
    Json(TdocLimitsWire {
        file_ops_per_window: l.file_ops_per_window,
        content_ops_per_window: l.content_ops_per_window,
        window_ms: l.window.as_millis() as u64,
        version_window: l.version_window,
    })
}

async fn set_tdoc_limits(State(sb): State<Sandbox>, Json(l): Json<TdocLimitsWire>) -> Response {
    if l.window_ms == 0 {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "window_ms must be positive"}))).into_response();
    }
    sb.set_tdoc_limits(TdocLimits {
        file_ops_per_window: l.file_ops_per_window,
        content_ops_per_window: l.content_ops_per_window,
        window: Duration::from_millis(l.window_ms),
        version_window: l.version_window,
    });
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocEdits {
    file_id: String,
    edits: Vec<DocEdit>,
}

async fn doc_edit(State(sb): State<Sandbox>, Json(e): Json<DocEdits>) -> Response {
    if sb.doc_text(&e.file_id).is_none() {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no such doc"}))).into_response();
    }
    match sb.edit_doc(&e.file_id, &e.edits) {
        Ok(t) => Json(t).into_response(),
        Err(why) => (StatusCode::BAD_REQUEST, Json(json!({"error": why}))).into_response(),
    }
}

#[derive(Deserialize)]
struct FileQuery {
    file_id: String,
}

async fn doc_text(State(sb): State<Sandbox>, Query(q): Query<FileQuery>) -> Response {
    match sb.doc_text(&q.file_id) {
        Some(t) => Json(t).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "no such doc"}))).into_response(),
    }
}

#[derive(Deserialize)]
struct WorkspaceQuery {
    workspace_id: String,
}

/// `{"story": Workflow, "bug": Workflow}` of one workspace.
async fn workflows(State(sb): State<Sandbox>, Query(q): Query<WorkspaceQuery>) -> Json<Value> {
    Json(json!({
        "story": sb.workflow(&q.workspace_id, WorkflowSystem::Story),
        "bug": sb.workflow(&q.workspace_id, WorkflowSystem::Bug),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetWorkflow {
    workspace_id: String,
    system: WorkflowSystem,
    statuses: Vec<WorkflowStatus>,
    #[serde(default)]
    end: Vec<String>,
}

async fn set_workflow(State(sb): State<Sandbox>, Json(w): Json<SetWorkflow>) -> Response {
    match sb.set_workflow(&w.workspace_id, w.system, Workflow { statuses: w.statuses, end: w.end }) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

async fn iterations(State(sb): State<Sandbox>) -> Json<Vec<Iteration>> {
    Json(sb.iterations())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewIteration {
    workspace_id: String,
    name: String,
    #[serde(default)]
    id: Option<String>,
    /// Deliver `iteration::create` (default true; nothing without a webhook URL).
    #[serde(default = "yes")]
    deliver: bool,
}

fn yes() -> bool {
    true
}

fn bad(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}

fn not_found(msg: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": msg}))).into_response()
}

async fn add_iteration(State(sb): State<Sandbox>, Json(i): Json<NewIteration>) -> Response {
    if i.name.trim().is_empty() {
        return bad("name is required");
    }
    if i.deliver {
        let (it, deliveries) = sb.create_iteration(&i.workspace_id, i.id.as_deref(), &i.name).await;
        Json(json!({"iteration": it, "deliveries": deliveries})).into_response()
    } else {
        Json(json!({"iteration": sb.add_iteration(&i.workspace_id, i.id.as_deref(), &i.name), "deliveries": []}))
            .into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IterationUpdate {
    workspace_id: String,
    id: String,
    name: String,
    #[serde(default = "yes")]
    deliver: bool,
}

async fn update_iteration(State(sb): State<Sandbox>, Json(u): Json<IterationUpdate>) -> Response {
    if u.name.trim().is_empty() {
        return bad("name is required");
    }
    let done = if u.deliver {
        sb.rename_iteration(&u.workspace_id, &u.id, &u.name).await
    } else {
        sb.rename_iteration_quietly(&u.workspace_id, &u.id, &u.name).map(|it| (it, Vec::new()))
    };
    match done {
        Some((it, deliveries)) => Json(json!({"iteration": it, "deliveries": deliveries})).into_response(),
        None => not_found("no such iteration"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IterationDelete {
    workspace_id: String,
    id: String,
}

async fn delete_iteration(State(sb): State<Sandbox>, Json(d): Json<IterationDelete>) -> Response {
    match sb.delete_iteration(&d.workspace_id, &d.id).await {
        Some((it, deliveries)) => Json(json!({"iteration": it, "deliveries": deliveries})).into_response(),
        None => not_found("no such iteration"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeItem {
    workspace_id: String,
    kind: ItemKind,
    id: String,
    fields: BTreeMap<String, String>,
    #[serde(default = "yes")]
    deliver: bool,
    #[serde(default)]
    current_user: Option<String>,
}

async fn change_item(State(sb): State<Sandbox>, Json(c): Json<ChangeItem>) -> Response {
    if sb.item(&c.workspace_id, c.kind, &c.id).is_none() {
        return not_found("no such item");
    }
    let fields: Vec<(&str, &str)> = c.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let user = c.current_user.as_deref().unwrap_or("sandbox");
    match sb.change_item(&c.workspace_id, c.kind, &c.id, &fields, user, c.deliver).await {
        Ok(change) => Json(change).into_response(),
        Err(e) => bad(&e),
    }
}

async fn deliveries(State(sb): State<Sandbox>) -> Json<Vec<Delivery>> {
    Json(sb.deliveries())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Redeliver {
    seq: u64,
    /// Wait this long first (the call answers `202` at once and delivers later).
    #[serde(default)]
    delay_ms: u64,
}

async fn redeliver(State(sb): State<Sandbox>, Json(r): Json<Redeliver>) -> Response {
    if !sb.deliveries().iter().any(|d| d.seq == r.seq) {
        return not_found("no such delivery");
    }
    if r.delay_ms > 0 {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(r.delay_ms)).await;
            sb.redeliver(r.seq).await;
        });
        return StatusCode::ACCEPTED.into_response();
    }
    match sb.redeliver(r.seq).await {
        Some(d) => Json(d).into_response(),
        None => bad("no webhook URL is set"),
    }
}

async fn file_location(State(sb): State<Sandbox>, Query(q): Query<FileQuery>) -> Response {
    match sb.file_location(&q.file_id) {
        Some(chain) => Json(json!({"file_id": q.file_id, "folders": chain})).into_response(),
        None => not_found("no such file"),
    }
}

#[derive(Deserialize)]
struct FolderQuery {
    #[serde(default)]
    folder_id: String,
}

async fn folder_listing(State(sb): State<Sandbox>, Query(q): Query<FolderQuery>) -> Response {
    let folder = match q.folder_id.as_str() {
        "" | "/" => None,
        f => Some(f),
    };
    match sb.folder_children(folder) {
        Some((folders, files)) => Json(json!({"folders": folders, "files": files})).into_response(),
        None => not_found("no such folder"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StormWire {
    #[serde(default)]
    seconds: Option<f64>,
    #[serde(default)]
    calls: Option<u32>,
}

async fn tapd_storm(State(sb): State<Sandbox>, Json(s): Json<StormWire>) -> Response {
    let time = match s.seconds {
        Some(x) if !(x.is_finite() && x > 0.0) => return bad("seconds must be positive"),
        Some(x) => Some(Duration::from_secs_f64(x)),
        None => None,
    };
    sb.tapd_storm(time, s.calls);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaxReply {
    bytes: Option<usize>,
}

async fn tapd_max_reply(State(sb): State<Sandbox>, Json(m): Json<MaxReply>) -> StatusCode {
    sb.set_tapd_max_reply_bytes(m.bytes);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Webhook {
    url: Option<String>,
    #[serde(default)]
    secret: String,
}

async fn set_webhook(State(sb): State<Sandbox>, Json(w): Json<Webhook>) -> StatusCode {
    sb.set_webhook(w.url.as_deref(), &w.secret);
    StatusCode::NO_CONTENT
}

async fn info(State(sb): State<Sandbox>) -> Json<Value> {
    let c = sb.config();
    Json(json!({
        "base_url": sb.base_url(),
        "tapd_api_base": sb.tapd_api_base(),
        "tapd_authorize_url": sb.tapd_authorize_url(),
        "tdoc_base": sb.tdoc_base(),
        "tapd_client_id": c.tapd_client_id,
        "tapd_client_secret": c.tapd_client_secret,
        "tdoc_client_id": c.tdoc_client_id,
        "tdoc_client_secret": c.tdoc_client_secret,
        "tdoc_app_open_id": sb.tdoc_app_open_id(),
        "redirect_uris": c.redirect_uris,
    }))
}

async fn docs(State(sb): State<Sandbox>) -> Json<Vec<Doc>> {
    Json(sb.docs())
}

async fn comments(State(sb): State<Sandbox>) -> Json<Vec<Comment>> {
    Json(sb.comments())
}

async fn items(State(sb): State<Sandbox>) -> Json<Vec<Item>> {
    Json(sb.items())
}

#[derive(Deserialize)]
struct NewItem {
    workspace_id: String,
    kind: ItemKind,
    id: String,
    name: String,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

async fn add_item(State(sb): State<Sandbox>, Json(i): Json<NewItem>) -> StatusCode {
    let fields: Vec<(&str, &str)> = i.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    sb.add_item_with_fields(&i.workspace_id, i.kind, &i.id, &i.name, &fields);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewComments {
    workspace_id: String,
    /// `kind` or `entry_type` (`ItemKind` accepts `story` and `stories`, ...).
    #[serde(alias = "entry_type")]
    kind: ItemKind,
    entry_id: String,
    description: String,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    count: Option<u32>,
}

/// Seeds `count` (default 1) identical comments, stored as TAPD would store them.
async fn add_comments(State(sb): State<Sandbox>, Json(c): Json<NewComments>) -> Json<Vec<Comment>> {
    let author = c.author.as_deref().unwrap_or("v_sandbox");
    let seeded = (0..c.count.unwrap_or(1))
        .map(|_| match &c.created {
            Some(at) => sb.add_comment_at(&c.workspace_id, c.kind, &c.entry_id, &c.description, author, at),
            None => sb.add_comment(&c.workspace_id, c.kind, &c.entry_id, &c.description, author),
        })
        .collect();
    Json(seeded)
}

async fn variants(State(sb): State<Sandbox>) -> Json<Variants> {
    Json(sb.variants())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantsUpdate {
    #[serde(default)]
    tapd_token_resource: Option<TapdTokenResource>,
    #[serde(default)]
    tdoc_token_error: Option<TdocTokenError>,
    #[serde(default)]
    tapd_dead_token: Option<TapdDeadToken>,
    #[serde(default)]
    tapd_unknown_path: Option<TapdUnknownPath>,
    #[serde(default)]
    tdoc_batch_update_route: Option<TdocBatchUpdateRoute>,
    #[serde(default)]
    tdoc_doc_read: Option<ReplyWrapping>,
    #[serde(default)]
    tdoc_token_reply: Option<ReplyWrapping>,
    #[serde(default)]
    tdoc_file_id_key: Option<TdocFileIdKey>,
    #[serde(default)]
    tdoc_root_folder: Option<TdocRootFolder>,
    #[serde(default)]
    tdoc_offset_unit: Option<TdocOffsetUnit>,
    #[serde(default)]
    tdoc_move_params: Option<TdocMoveParams>,
    #[serde(default)]
    tdoc_folder_rename: Option<TdocFolderRename>,
}

async fn set_variants(State(sb): State<Sandbox>, Json(u): Json<VariantsUpdate>) -> StatusCode {
    let mut v = sb.variants();
    v.tapd_token_resource = u.tapd_token_resource.unwrap_or(v.tapd_token_resource);
    v.tdoc_token_error = u.tdoc_token_error.unwrap_or(v.tdoc_token_error);
    v.tdoc_batch_update_route = u.tdoc_batch_update_route.unwrap_or(v.tdoc_batch_update_route);
    v.tdoc_doc_read = u.tdoc_doc_read.unwrap_or(v.tdoc_doc_read);
    v.tdoc_token_reply = u.tdoc_token_reply.unwrap_or(v.tdoc_token_reply);
    v.tdoc_file_id_key = u.tdoc_file_id_key.unwrap_or(v.tdoc_file_id_key);
    v.tdoc_root_folder = u.tdoc_root_folder.unwrap_or(v.tdoc_root_folder);
    v.tapd_dead_token = u.tapd_dead_token.unwrap_or(v.tapd_dead_token);
    v.tapd_unknown_path = u.tapd_unknown_path.unwrap_or(v.tapd_unknown_path);
    v.tdoc_offset_unit = u.tdoc_offset_unit.unwrap_or(v.tdoc_offset_unit);
    v.tdoc_move_params = u.tdoc_move_params.unwrap_or(v.tdoc_move_params);
    v.tdoc_folder_rename = u.tdoc_folder_rename.unwrap_or(v.tdoc_folder_rename);
    sb.set_variants(v);
    StatusCode::NO_CONTENT
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimit {
    limit: u32,
    window_ms: u64,
}

async fn rate_limit(State(sb): State<Sandbox>) -> Json<Option<RateLimit>> {
    Json(sb.tapd_rate_limit().map(|(limit, w)| RateLimit { limit, window_ms: w.as_millis() as u64 }))
}

async fn set_rate_limit(State(sb): State<Sandbox>, Json(l): Json<Option<RateLimit>>) -> StatusCode {
    sb.set_tapd_rate_limit(l.map(|l| (l.limit, Duration::from_millis(l.window_ms))));
    StatusCode::NO_CONTENT
}

async fn item_updates(State(sb): State<Sandbox>) -> Json<Vec<ItemUpdate>> {
    Json(sb.item_updates())
}

async fn requests(State(sb): State<Sandbox>) -> Json<Vec<RequestRecord>> {
    Json(sb.requests())
}

async fn tokens(State(sb): State<Sandbox>) -> Json<IssuedTokens> {
    Json(sb.issued_tokens())
}

#[derive(Deserialize)]
struct NewWorkspace {
    workspace_id: String,
    name: String,
}

async fn add_workspace(State(sb): State<Sandbox>, Json(w): Json<NewWorkspace>) -> StatusCode {
    sb.add_workspace(&w.workspace_id, &w.name);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct NewUser {
    open_id: String,
    nick: String,
}

async fn add_tdoc_user(State(sb): State<Sandbox>, Json(u): Json<NewUser>) -> StatusCode {
    sb.add_tdoc_user(&u.open_id, &u.nick);
    StatusCode::NO_CONTENT
}

async fn faults(State(sb): State<Sandbox>) -> Json<Vec<Fault>> {
    Json(sb.faults())
}

async fn inject(State(sb): State<Sandbox>, Json(f): Json<Fault>) -> StatusCode {
    sb.inject(f);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(sb): State<Sandbox>) -> StatusCode {
    sb.clear_faults();
    StatusCode::NO_CONTENT
}

async fn expire_tokens(State(sb): State<Sandbox>) -> StatusCode {
    sb.expire_access_tokens();
    StatusCode::NO_CONTENT
}

async fn expire_refresh(State(sb): State<Sandbox>) -> StatusCode {
    sb.expire_refresh_tokens();
    StatusCode::NO_CONTENT
}

async fn expire_codes(State(sb): State<Sandbox>) -> StatusCode {
    sb.expire_codes();
    StatusCode::NO_CONTENT
}
