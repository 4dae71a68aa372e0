//! The fake TAPD: OAuth consent page and token endpoints, stories/bugs/tasks, comments.
//!
//! Error statuses chosen where upstream is silent (all bodies are the envelope
//! `{"status":0,"data":"","info":"..."}`):
//! - bad or missing Basic auth on the token endpoints: `401`;
//! - unknown, used, expired or mismatched code / refresh token, bad grant_type: `400`;
//! - API call without a live Bearer token (missing, unknown, expired): `401`;
//! - live token for another workspace (or the app token on an unseeded workspace): `403`;
//! - missing parameters, bad `entry_type`, unknown item: `400`;
//! - unknown API path: `404`.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::model::{Comment, Item, ItemKind, ItemUpdate};
use crate::pages::{self, ConsentRequest};
use crate::state::{Expiry, TapdCode, TapdGrant, TapdRefresh, TapdToken};
use crate::util::{self, basic_auth, bearer, parse_params};

/// TAPD refresh tokens live two weeks.
const REFRESH_TTL_SECS: u64 = 14 * 24 * 3600;

pub(crate) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/tapd/oauth", get(authorize_page))
        .route("/tapd/oauth/", get(authorize_page))
        .route("/tapd/oauth/approve", post(approve))
        .route("/tapd/api/tokens/request_token", post(request_token))
        .route("/tapd/api/tokens/refresh_token", post(refresh_token))
        .route("/tapd/api/stories", get(list_stories).post(post_stories))
        .route("/tapd/api/bugs", get(list_bugs).post(post_bugs))
        .route("/tapd/api/tasks", get(list_tasks).post(post_tasks))
        .route("/tapd/api/comments", get(list_comments).post(add_comment))
}

/// `{"status":1,"data":data,"info":"success"}`
pub(crate) fn ok(data: Value) -> Response {
    (StatusCode::OK, axum::Json(json!({"status": 1, "data": data, "info": "success"}))).into_response()
}

/// `{"status":0,"data":"","info":info}` with the given HTTP status.
pub(crate) fn error(status: StatusCode, info: &str) -> Response {
    (status, axum::Json(json!({"status": 0, "data": "", "info": info}))).into_response()
}

/// TAPD's rate-limit reply.
pub(crate) fn rate_limited() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({
            "status": 429,
            "data": "",
            "info": "To many requests, please try again later, max request rates is 1800req/10min"
        })),
    )
        .into_response()
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    #[allow(dead_code)]
    auth_by: String,
}

/// Checks client id and redirect URI; on failure answers an HTML 400 page and
/// never redirects (an unregistered redirect URI must not receive anything).
fn check_client(sb: &Sandbox, client_id: &str, redirect_uri: &str) -> Result<(), Response> {
    if client_id != sb.config().tapd_client_id {
        return Err(pages::error_page(StatusCode::BAD_REQUEST, &format!("unknown client_id {client_id:?}")));
    }
    if !sb.config().redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(pages::error_page(
            StatusCode::BAD_REQUEST,
            &format!("redirect_uri {redirect_uri:?} is not registered for this app"),
        ));
    }
    Ok(())
}

async fn authorize_page(State(sb): State<Sandbox>, Query(q): Query<AuthorizeQuery>) -> Response {
    if let Err(page) = check_client(&sb, &q.client_id, &q.redirect_uri) {
        return page;
    }
    if q.response_type != "code" {
        return pages::error_page(StatusCode::BAD_REQUEST, "response_type must be code");
    }
    let workspaces: Vec<(String, String)> =
        sb.lock().workspaces.iter().map(|(id, name)| (id.clone(), name.clone())).collect();
    let req =
        ConsentRequest { client_id: &q.client_id, redirect_uri: &q.redirect_uri, scope: &q.scope, state: &q.state };
    pages::tapd_consent(&req, &workspaces)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ApproveForm {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    workspace_id: String,
    decision: String,
}

/// `302` to a registered redirect URI with query pairs appended.
pub(crate) fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            (StatusCode::FOUND, [(header::LOCATION, url.as_str())]).into_response()
        }
        Err(_) => pages::error_page(StatusCode::BAD_REQUEST, "redirect_uri is not a URL"),
    }
}

/// The consent form's target (`POST /tapd/oauth/approve`, form-encoded
/// `client_id, redirect_uri, scope, state, workspace_id, decision=approve|deny`).
async fn approve(State(sb): State<Sandbox>, axum::Form(f): axum::Form<ApproveForm>) -> Response {
    if let Err(page) = check_client(&sb, &f.client_id, &f.redirect_uri) {
        return page;
    }
    match f.decision.as_str() {
        "deny" => redirect_with(&f.redirect_uri, &[("error", "access_denied"), ("state", &f.state)]),
        "approve" => {
            let code = util::random_token();
            {
                let mut st = sb.lock();
                if !st.workspaces.contains_key(&f.workspace_id) {
                    drop(st);
                    return pages::error_page(
                        StatusCode::BAD_REQUEST,
                        &format!("unknown workspace {:?}", f.workspace_id),
                    );
                }
                st.issued_secrets.push(code.clone());
                st.tapd_codes.insert(
                    code.clone(),
                    TapdCode {
                        client_id: f.client_id.clone(),
                        redirect_uri: f.redirect_uri.clone(),
                        scope: f.scope.clone(),
                        workspace_id: f.workspace_id.clone(),
                        expiry: Expiry::in_secs(sb.config().code_ttl_secs),
                    },
                );
            }
            let resource = json!({"type": "workspace", "workspace_id": f.workspace_id}).to_string();
            redirect_with(&f.redirect_uri, &[("code", &code), ("state", &f.state), ("resource", &resource)])
        }
        _ => pages::error_page(StatusCode::BAD_REQUEST, "decision must be approve or deny"),
    }
}

fn check_basic(sb: &Sandbox, headers: &HeaderMap) -> Result<(), Response> {
    match basic_auth(headers) {
        Some((id, secret)) if id == sb.config().tapd_client_id && secret == sb.config().tapd_client_secret => Ok(()),
        Some(_) => Err(error(StatusCode::UNAUTHORIZED, "invalid client: client_id or client_secret is wrong")),
        None => Err(error(StatusCode::UNAUTHORIZED, "invalid client: Basic authorization required")),
    }
}

fn params(headers: &HeaderMap, body: &[u8]) -> Result<BTreeMap<String, String>, Response> {
    parse_params(headers, body).map_err(|e| error(StatusCode::BAD_REQUEST, &e))
}

fn param<'a>(p: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    p.get(key).map(|s| s.as_str()).unwrap_or("")
}

fn token_reply(sb: &Sandbox, access_token: &str, scope: &str, resource: Value, refresh: Option<&str>) -> Response {
    let mut data = json!({
        "access_token": access_token,
        "expires_in": sb.config().access_token_ttl_secs,
        "token_type": "Bearer",
        "scope": scope,
        "resource": resource,
        "now": util::now_shanghai(),
    });
    if let Some(r) = refresh {
        data["refresh_token"] = json!(r);
    }
    ok(data)
}

/// Issues a user token (and a refresh token when enabled) for a workspace.
fn issue_user_token(sb: &Sandbox, workspace_id: &str, scope: &str) -> (String, Option<String>) {
    let access = util::random_token();
    let refresh = sb.config().tapd_refresh_tokens.then(util::random_token);
    let mut st = sb.lock();
    st.issued_secrets.extend([Some(access.clone()), refresh.clone()].into_iter().flatten());
    st.tapd_tokens.insert(
        access.clone(),
        TapdToken {
            grant: TapdGrant::Workspace(workspace_id.to_string()),
            expiry: Expiry::in_secs(sb.config().access_token_ttl_secs),
        },
    );
    if let Some(r) = &refresh {
        st.tapd_refresh.insert(
            r.clone(),
            TapdRefresh {
                client_id: sb.config().tapd_client_id.clone(),
                workspace_id: workspace_id.to_string(),
                scope: scope.to_string(),
                expiry: Expiry::in_secs(REFRESH_TTL_SECS),
            },
        );
    }
    (access, refresh)
}

async fn request_token(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check_basic(&sb, &headers) {
        return r;
    }
    let p = match params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match param(&p, "grant_type") {
        "authorization_code" => {
            // The code is burnt by any presentation, successful or not.
            let Some(code) = sb.lock().tapd_codes.remove(param(&p, "code")) else {
                return error(StatusCode::BAD_REQUEST, "invalid code");
            };
            if !code.expiry.live() {
                return error(StatusCode::BAD_REQUEST, "code expired");
            }
            if code.client_id != sb.config().tapd_client_id {
                return error(StatusCode::BAD_REQUEST, "code was issued to another client");
            }
            if code.redirect_uri != param(&p, "redirect_uri") {
                return error(StatusCode::BAD_REQUEST, "redirect_uri mismatch");
            }
            let (access, refresh) = issue_user_token(&sb, &code.workspace_id, &code.scope);
            sb.lock().issued.tapd_user += 1;
            token_reply(
                &sb,
                &access,
                &code.scope,
                json!({"type": "workspace", "workspace_id": code.workspace_id}),
                refresh.as_deref(),
            )
        }
        "client_credentials" => {
            let access = util::random_token();
            {
                let mut st = sb.lock();
                st.issued_secrets.push(access.clone());
                st.tapd_tokens.insert(
                    access.clone(),
                    TapdToken { grant: TapdGrant::App, expiry: Expiry::in_secs(sb.config().access_token_ttl_secs) },
                );
                st.issued.tapd_app += 1;
            }
            token_reply(
                &sb,
                &access,
                param(&p, "scope"),
                json!({"type": "open_app_auth", "app_id": sb.config().tapd_client_id}),
                None,
            )
        }
        "" => error(StatusCode::BAD_REQUEST, "grant_type is required"),
        other => error(StatusCode::BAD_REQUEST, &format!("unsupported grant_type {other}")),
    }
}

async fn refresh_token(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check_basic(&sb, &headers) {
        return r;
    }
    let p = match params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if param(&p, "grant_type") != "refresh_token" {
        return error(StatusCode::BAD_REQUEST, "grant_type must be refresh_token");
    }
    // Single use: the old refresh token is gone once presented.
    let Some(old) = sb.lock().tapd_refresh.remove(param(&p, "refresh_token")) else {
        return error(StatusCode::BAD_REQUEST, "invalid refresh_token");
    };
    if !old.expiry.live() {
        return error(StatusCode::BAD_REQUEST, "refresh_token expired");
    }
    if old.client_id != sb.config().tapd_client_id {
        return error(StatusCode::BAD_REQUEST, "refresh_token was issued to another client");
    }
    let (access, refresh) = issue_user_token(&sb, &old.workspace_id, &old.scope);
    sb.lock().issued.tapd_refresh += 1;
    token_reply(
        &sb,
        &access,
        &old.scope,
        json!({"type": "workspace", "workspace_id": old.workspace_id}),
        refresh.as_deref(),
    )
}

/// Checks the Bearer token (first), then the workspace being accessed.
fn authorize_api(sb: &Sandbox, headers: &HeaderMap, workspace_id: &str) -> Result<(), Response> {
    let Some(token) = bearer(headers) else {
        return Err(error(StatusCode::UNAUTHORIZED, "Unauthorized: Bearer access_token required"));
    };
    let st = sb.lock();
    let Some(t) = st.tapd_tokens.get(&token) else {
        return Err(error(StatusCode::UNAUTHORIZED, "Unauthorized: invalid access_token"));
    };
    if !t.expiry.live() {
        return Err(error(StatusCode::UNAUTHORIZED, "Unauthorized: access_token expired"));
    }
    if workspace_id.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "workspace_id is required"));
    }
    let allowed = match &t.grant {
        TapdGrant::Workspace(ws) => ws == workspace_id,
        TapdGrant::App => st.workspaces.contains_key(workspace_id),
    };
    if !allowed {
        return Err(error(StatusCode::FORBIDDEN, &format!("no permission for workspace {workspace_id}")));
    }
    Ok(())
}

fn item_json(item: &Item, fields: Option<&str>) -> Value {
    let mut map = serde_json::Map::new();
    let wanted: Option<Vec<&str>> =
        fields.filter(|f| !f.trim().is_empty()).map(|f| f.split(',').map(str::trim).collect());
    for (k, v) in &item.fields {
        if wanted.as_ref().is_none_or(|w| w.contains(&k.as_str()) || k == "id") {
            map.insert(k.clone(), json!(v));
        }
    }
    json!({ item.kind.wrapper(): Value::Object(map) })
}

async fn list_items(sb: Sandbox, kind: ItemKind, headers: HeaderMap, q: BTreeMap<String, String>) -> Response {
    let ws = param(&q, "workspace_id");
    if let Err(r) = authorize_api(&sb, &headers, ws) {
        return r;
    }
    let ids: Option<Vec<&str>> =
        q.get("id").filter(|s| !s.trim().is_empty()).map(|s| s.split(',').map(str::trim).collect());
    let fields = q.get("fields").map(|s| s.as_str());
    let st = sb.lock();
    let list: Vec<Value> = st
        .items
        .values()
        .filter(|i| i.workspace_id == ws && i.kind == kind)
        .filter(|i| ids.as_ref().is_none_or(|ids| ids.contains(&i.id.as_str())))
        .map(|i| item_json(i, fields))
        .collect();
    ok(Value::Array(list))
}

async fn list_stories(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    list_items(sb, ItemKind::Story, headers, q).await
}

async fn list_bugs(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    list_items(sb, ItemKind::Bug, headers, q).await
}

async fn list_tasks(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    list_items(sb, ItemKind::Task, headers, q).await
}

/// `POST /stories|/bugs|/tasks`: updates the item named by `id` (or creates
/// one when `id` is absent), records an [`ItemUpdate`], replies with the item.
async fn post_item(sb: Sandbox, kind: ItemKind, headers: HeaderMap, body: Bytes) -> Response {
    let p = match params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ws = param(&p, "workspace_id").to_string();
    if let Err(r) = authorize_api(&sb, &headers, &ws) {
        return r;
    }
    let changes: BTreeMap<String, String> = p
        .iter()
        .filter(|(k, _)| k.as_str() != "workspace_id" && k.as_str() != "id")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let id = param(&p, "id").to_string();
    let now = util::now_shanghai();
    let mut st = sb.lock();
    let item = if id.is_empty() {
        if param(&p, kind.name_field()).is_empty() {
            return error(StatusCode::BAD_REQUEST, &format!("{} is required", kind.name_field()));
        }
        let id = util::random_id19();
        let mut item = new_item(&ws, kind, &id, "");
        item.fields.extend(changes.clone());
        st.items.insert((ws.clone(), kind, id), item.clone());
        item
    } else {
        let Some(item) = st.items.get_mut(&(ws.clone(), kind, id.clone())) else {
            return error(StatusCode::BAD_REQUEST, &format!("{} {id} not found in workspace {ws}", kind.wrapper()));
        };
        item.fields.extend(changes.clone());
        item.fields.insert("modified".into(), now);
        item.clone()
    };
    st.updates.push(ItemUpdate { workspace_id: ws, kind, id: item.id.clone(), fields: changes });
    ok(item_json(&item, None))
}

async fn post_stories(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    post_item(sb, ItemKind::Story, headers, body).await
}

async fn post_bugs(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    post_item(sb, ItemKind::Bug, headers, body).await
}

async fn post_tasks(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    post_item(sb, ItemKind::Task, headers, body).await
}

/// A freshly seeded item with TAPD's usual fields.
pub(crate) fn new_item(workspace_id: &str, kind: ItemKind, id: &str, name: &str) -> Item {
    let now = util::now_shanghai();
    let status = match kind {
        ItemKind::Story => "planning",
        ItemKind::Bug => "new",
        ItemKind::Task => "open",
    };
    let mut fields = BTreeMap::new();
    for (k, v) in [
        ("id", id),
        ("workspace_id", workspace_id),
        (kind.name_field(), name),
        ("status", status),
        ("creator", "sandbox"),
        ("description", ""),
        ("created", &now),
        ("modified", &now),
    ] {
        fields.insert(k.to_string(), v.to_string());
    }
    Item { workspace_id: workspace_id.to_string(), kind, id: id.to_string(), fields }
}

fn comment_json(c: &Comment) -> Value {
    json!({"Comment": {
        "id": c.id,
        "description": c.description,
        "entry_type": c.entry_type,
        "entry_id": c.entry_id,
        "author": c.author,
        "workspace_id": c.workspace_id,
        "created": c.created,
        "modified": c.created,
        "root_id": c.id,
        "reply_id": "0",
    }})
}

async fn add_comment(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let p = match params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ws = param(&p, "workspace_id");
    if let Err(r) = authorize_api(&sb, &headers, ws) {
        return r;
    }
    let entry_type = param(&p, "entry_type");
    let Some(kind) = ItemKind::from_entry_type(entry_type) else {
        return error(StatusCode::BAD_REQUEST, "entry_type must be one of stories, bug, tasks");
    };
    let entry_id = param(&p, "entry_id");
    let description = param(&p, "description");
    if entry_id.is_empty() || description.is_empty() {
        return error(StatusCode::BAD_REQUEST, "entry_id and description are required");
    }
    let mut st = sb.lock();
    if st.item(ws, kind, entry_id).is_none() {
        return error(StatusCode::BAD_REQUEST, &format!("entry {entry_type} {entry_id} not found in workspace {ws}"));
    }
    let comment = Comment {
        id: util::random_id19(),
        workspace_id: ws.to_string(),
        entry_type: entry_type.to_string(),
        entry_id: entry_id.to_string(),
        description: description.to_string(),
        author: param(&p, "author").to_string(),
        created: util::now_shanghai(),
    };
    st.comments.push(comment.clone());
    ok(comment_json(&comment))
}

async fn list_comments(
    State(sb): State<Sandbox>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let ws = param(&q, "workspace_id");
    if let Err(r) = authorize_api(&sb, &headers, ws) {
        return r;
    }
    let entry_type = q.get("entry_type").filter(|s| !s.is_empty());
    let entry_id = q.get("entry_id").filter(|s| !s.is_empty());
    let st = sb.lock();
    let list: Vec<Value> = st
        .comments
        .iter()
        .filter(|c| c.workspace_id == ws)
        .filter(|c| entry_type.is_none_or(|t| &c.entry_type == t))
        .filter(|c| entry_id.is_none_or(|i| &c.entry_id == i))
        .map(comment_json)
        .collect();
    ok(Value::Array(list))
}
