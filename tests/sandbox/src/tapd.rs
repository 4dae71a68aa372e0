//! The fake TAPD: OAuth consent page and token endpoints, stories/bugs/tasks, comments.
//!
//! Shapes follow `tests/fixtures/tapd/` (copies of the documented samples): token replies,
//! `POST /comments` (`comment_add_reply.json`), `GET /comments` (`comments_get_reply.json`),
//! the 429 (`rate_limited_reply.json`). Every value in item and comment replies is a string.
//!
//! Error statuses chosen where upstream is silent (all bodies are the envelope
//! `{"status":0,"data":"","info":"..."}`):
//! - bad or missing Basic auth on the token endpoints: `401`;
//! - unknown, used, expired or mismatched code / refresh token, bad grant_type: `400`;
//! - API call without a Bearer token: `401`; with a dead one (unknown, expired): `401`, or in
//!   the `http422` variant ([`crate::TapdDeadToken`]) `422` "The access token provided is invalid";
//! - live token for another workspace (or the app token on an unseeded workspace): `403`;
//! - missing parameters, bad `entry_type`, unknown item: `400`;
//! - unknown API path: `404`, or in the `hello_world` variant ([`crate::TapdUnknownPath`]) `200`
//!   with TAPD's greeting as `data`;
//! - bad `limit`, `page`, `order` or time filter, `page × limit` over 20,000, a bad `cursor`: `400`;
//! - a list reply larger than the set maximum ([`crate::Sandbox::set_tapd_max_reply_bytes`]): `502`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::model::{Comment, Item, ItemKind, ItemUpdate, TapdDeadToken, TapdTokenResource};
use crate::pages::{self, ConsentRequest};
use crate::state::{Expiry, TapdCode, TapdGrant, TapdRefresh, TapdToken};
use crate::util::{self, basic_auth, bearer, parse_params};
use crate::{Sandbox, TAPD_RATE_LIMIT};

/// TAPD refresh tokens live two weeks.
const REFRESH_TTL_SECS: u64 = 14 * 24 * 3600;

/// The TAPD user every consent is given as (the seed's callback names `1000142421`): the
/// callback's `resource.user_id` and the `user_only` token variant's.
pub const TAPD_USER_ID: &str = "1000142421";

/// List APIs: 30 a page by default, at most 200 (a larger `limit` is clamped to 200).
const DEFAULT_LIMIT: usize = 30;
const MAX_LIMIT: usize = 200;

/// How TAPD stores the `author` sent to `POST /comments`: the reference sent `xuanfang` and
/// got `v_xuanfang` back. The sandbox's deterministic rule: prefix `v_` unless the name
/// already starts with it. The stored (mapped) name is what replies and the `author` filter use.
pub fn tapd_author(sent: &str) -> String {
    if sent.starts_with("v_") { sent.to_string() } else { format!("v_{sent}") }
}

pub(crate) fn routes() -> Router<Sandbox> {
    Router::new()
        .merge(crate::members::routes())
        .route("/tapd/oauth", get(authorize_page))
        .route("/tapd/oauth/", get(authorize_page))
        .route("/tapd/oauth/approve", post(approve))
        .route("/tapd/api/tokens/request_token", post(request_token))
        .route("/tapd/api/tokens/refresh_token", post(refresh_token))
        .route("/tapd/api/stories", get(list_stories).post(post_stories))
        .route("/tapd/api/bugs", get(list_bugs).post(post_bugs))
        .route("/tapd/api/tasks", get(list_tasks).post(post_tasks))
        .route("/tapd/api/stories/count", get(count_stories))
        .route("/tapd/api/bugs/count", get(count_bugs))
        .route("/tapd/api/tasks/count", get(count_tasks))
        .route("/tapd/api/comments", get(list_comments).post(post_comment))
}

/// `{"status":1,"data":data,"info":"success"}`
pub(crate) fn ok(data: Value) -> Response {
    (StatusCode::OK, axum::Json(json!({"status": 1, "data": data, "info": "success"}))).into_response()
}

/// What TAPD answers on a path it does not have, as reported: a success in every field but
/// the shape of `data`.
pub(crate) const HELLO_WORLD: &str = "Hello world from TAPD API, the path you requested may be misspelt";

/// `200 {"status":1,"data":"Hello world from TAPD API ..","info":"success"}`.
pub(crate) fn hello_world() -> Response {
    ok(json!(HELLO_WORLD))
}

/// A dead (unknown, expired) Bearer token, answered as the variant being played says.
fn dead_token(sb: &Sandbox, why: &str) -> Response {
    match sb.variants().tapd_dead_token {
        TapdDeadToken::Http401 => error(StatusCode::UNAUTHORIZED, why),
        TapdDeadToken::Http422 => error(StatusCode::UNPROCESSABLE_ENTITY, "The access token provided is invalid"),
    }
}

/// `{"status":0,"data":"","info":info}` with the given HTTP status.
pub(crate) fn error(status: StatusCode, info: &str) -> Response {
    (status, axum::Json(json!({"status": 0, "data": "", "info": info}))).into_response()
}

/// TAPD's rate-limit reply at its documented limit (the `Status(429)` fault).
pub(crate) fn rate_limited() -> Response {
    rate_limited_reply(TAPD_RATE_LIMIT.0, TAPD_RATE_LIMIT.1)
}

/// HTTP 429 `{"status":429,"data":"","info":"To many requests, max request rates is 1800req/10min"}`
/// (TAPD's wording, typo included), naming the limit in force.
pub(crate) fn rate_limited_reply(limit: u32, window: Duration) -> Response {
    let secs = window.as_secs();
    let per = if secs > 0 && secs.is_multiple_of(60) {
        format!("{}min", secs / 60)
    } else {
        format!("{}ms", window.as_millis())
    };
    let info = format!("To many requests, max request rates is {limit}req/{per}");
    (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({"status": 429, "data": "", "info": info}))).into_response()
}

/// Counts a request against the app's rate limit (only requests with valid credentials
/// count: every token belongs to the one configured app, so the limit is per app).
fn rate_check(sb: &Sandbox) -> Result<(), Response> {
    sb.lock().tapd_rate_hit().map_err(|(limit, window)| rate_limited_reply(limit, window))
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
    type Options = Vec<(String, String)>;
    let (workspaces, users): (Options, Options) = {
        let st = sb.lock();
        (
            st.workspaces.iter().map(|(id, name)| (id.clone(), name.clone())).collect(),
            st.tapd_users.iter().map(|(id, u)| (id.clone(), format!("{} {}", u.nick, u.name))).collect(),
        )
    };
    let req =
        ConsentRequest { client_id: &q.client_id, redirect_uri: &q.redirect_uri, scope: &q.scope, state: &q.state };
    pages::tapd_consent(&req, &workspaces, &users)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ApproveForm {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    workspace_id: String,
    /// Optional: the consenting TAPD user's id (default [`TAPD_USER_ID`]).
    user_id: String,
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
/// `client_id, redirect_uri, scope, state, workspace_id, decision=approve|deny`, optional `user_id`).
/// The redirect's own `resource` is the user, as in `callback_query.txt`.
async fn approve(State(sb): State<Sandbox>, axum::Form(f): axum::Form<ApproveForm>) -> Response {
    if let Err(page) = check_client(&sb, &f.client_id, &f.redirect_uri) {
        return page;
    }
    match f.decision.as_str() {
        "deny" => redirect_with(&f.redirect_uri, &[("error", "access_denied"), ("state", &f.state)]),
        "approve" => {
            let code = util::random_token();
            let user_id = if f.user_id.is_empty() { TAPD_USER_ID.to_string() } else { f.user_id.clone() };
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
                        user_id: user_id.clone(),
                        expiry: Expiry::in_secs(sb.config().code_ttl_secs),
                    },
                );
            }
            let resource = json!({"type": "user", "user_id": user_id}).to_string();
            redirect_with(&f.redirect_uri, &[("code", &code), ("state", &f.state), ("resource", &resource)])
        }
        _ => pages::error_page(StatusCode::BAD_REQUEST, "decision must be approve or deny"),
    }
}

fn check_basic(sb: &Sandbox, headers: &HeaderMap) -> Result<(), Response> {
    match basic_auth(headers) {
        Some((id, secret)) if id == sb.config().tapd_client_id && secret == sb.config().tapd_client_secret => {
            rate_check(sb)
        }
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

/// The `resource` of a user-token reply, in the variant being played.
fn user_resource(sb: &Sandbox, workspace_id: &str, user_id: &str) -> Value {
    match sb.variants().tapd_token_resource {
        // The seed writes the id as a JSON number; a non-numeric seeded id stays a string.
        TapdTokenResource::User => match workspace_id.parse::<u64>() {
            Ok(n) => json!({"type": "user", "workspace_id": n}),
            Err(_) => json!({"type": "user", "workspace_id": workspace_id}),
        },
        TapdTokenResource::Workspace => json!({"type": "workspace", "workspace_id": workspace_id}),
        TapdTokenResource::UserOnly => json!({"type": "user", "user_id": user_id}),
    }
}

/// Issues a user token (and a refresh token when enabled) for a workspace.
fn issue_user_token(sb: &Sandbox, workspace_id: &str, user_id: &str, scope: &str) -> (String, Option<String>) {
    let access = util::random_token();
    let refresh = sb.config().tapd_refresh_tokens.then(util::random_token);
    let mut st = sb.lock();
    st.issued_secrets.extend([Some(access.clone()), refresh.clone()].into_iter().flatten());
    st.tapd_tokens.insert(
        access.clone(),
        TapdToken {
            grant: TapdGrant::Workspace(workspace_id.to_string()),
            expiry: Expiry::in_secs(sb.config().access_token_ttl_secs),
            user_id: Some(user_id.to_string()),
        },
    );
    if let Some(r) = &refresh {
        st.tapd_refresh.insert(
            r.clone(),
            TapdRefresh {
                client_id: sb.config().tapd_client_id.clone(),
                workspace_id: workspace_id.to_string(),
                user_id: Some(user_id.to_string()),
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
            let (access, refresh) = issue_user_token(&sb, &code.workspace_id, &code.user_id, &code.scope);
            sb.lock().issued.tapd_user += 1;
            let resource = user_resource(&sb, &code.workspace_id, &code.user_id);
            token_reply(&sb, &access, &code.scope, resource, refresh.as_deref())
        }
        "client_credentials" => {
            let access = util::random_token();
            {
                let mut st = sb.lock();
                st.issued_secrets.push(access.clone());
                st.tapd_tokens.insert(
                    access.clone(),
                    TapdToken {
                        grant: TapdGrant::App,
                        expiry: Expiry::in_secs(sb.config().access_token_ttl_secs),
                        user_id: None,
                    },
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
    let (access, refresh) =
        issue_user_token(&sb, &old.workspace_id, old.user_id.as_deref().unwrap_or(TAPD_USER_ID), &old.scope);
    sb.lock().issued.tapd_refresh += 1;
    let resource = user_resource(&sb, &old.workspace_id, TAPD_USER_ID);
    token_reply(&sb, &access, &old.scope, resource, refresh.as_deref())
}

/// Checks the Bearer token (first), counts the request against the rate limit, then checks
/// the workspace being accessed.
pub(crate) fn authorize_api(sb: &Sandbox, headers: &HeaderMap, workspace_id: &str) -> Result<(), Response> {
    let Some(token) = bearer(headers) else {
        return Err(error(StatusCode::UNAUTHORIZED, "Unauthorized: Bearer access_token required"));
    };
    let grant = {
        let st = sb.lock();
        let dead = match st.tapd_tokens.get(&token) {
            None => Some("Unauthorized: invalid access_token"),
            Some(t) if !t.expiry.live() => Some("Unauthorized: access_token expired"),
            Some(_) => None,
        };
        match (dead, st.tapd_tokens.get(&token)) {
            (None, Some(t)) => t.grant.clone(),
            (why, _) => {
                drop(st);
                return Err(dead_token(sb, why.unwrap_or_default()));
            }
        }
    };
    rate_check(sb)?;
    if workspace_id.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "workspace_id is required"));
    }
    let allowed = match &grant {
        TapdGrant::Workspace(ws) => ws == workspace_id,
        TapdGrant::App => sb.lock().workspaces.contains_key(workspace_id),
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

/// `limit` and `page` of a list call: `(limit, page)`, 1-based; `limit` above 200 is clamped
/// to 200, as TAPD documents ("最大取 200"); zero or non-numbers answer `400`.
pub(crate) fn paging(q: &BTreeMap<String, String>) -> Result<(usize, usize), Response> {
    let num = |key: &str, default: usize| -> Result<usize, Response> {
        match q.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(default),
            Some(s) => match s.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(error(StatusCode::BAD_REQUEST, &format!("{key} must be a positive integer"))),
            },
        }
    };
    let (limit, page) = (num("limit", DEFAULT_LIMIT)?.min(MAX_LIMIT), num("page", 1)?);
    if limit.saturating_mul(page) > MAX_DEPTH {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &format!(
                "page * limit may not exceed {MAX_DEPTH}: page by cursor=<last id>, or by narrower created windows"
            ),
        ));
    }
    Ok((limit, page))
}

/// TAPD's paging depth: `page × limit` may not exceed 20,000 ("More of TAPD's envelope").
pub const MAX_DEPTH: usize = 20_000;

/// The `X-RateLimit-Limit` / `X-RateLimit-Remaining` headers on every `/tapd/api/` reply (of the
/// window in force; none when unlimited).
pub(crate) async fn rate_headers(
    axum::extract::State(sb): axum::extract::State<Sandbox>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = req.uri().path().starts_with("/tapd/api/");
    let mut resp = next.run(req).await;
    if api && let Some((limit, left)) = sb.lock().tapd_rate_remaining() {
        let h = resp.headers_mut();
        h.insert("X-RateLimit-Limit", limit.into());
        h.insert("X-RateLimit-Remaining", left.into());
    }
    resp
}

/// `order=<field> asc|desc` (the direction defaults to `asc`): `(field, descending)`.
fn ordering(q: &BTreeMap<String, String>, allowed: impl Fn(&str) -> bool) -> Result<Option<(String, bool)>, Response> {
    let Some(order) = q.get("order").map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let mut parts = order.split_whitespace();
    let field = parts.next().unwrap_or("").to_string();
    let desc = match parts.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(error(StatusCode::BAD_REQUEST, &format!("order direction {other:?} is not asc or desc")));
        }
    };
    if parts.next().is_some() || !allowed(&field) {
        return Err(error(StatusCode::BAD_REQUEST, &format!("unsupported order {order:?}")));
    }
    Ok(Some((field, desc)))
}

pub(crate) fn page_of<T>(rows: Vec<T>, limit: usize, page: usize) -> Vec<T> {
    rows.into_iter().skip(limit.saturating_mul(page - 1)).take(limit).collect()
}

/// A TAPD time filter on a `Y-m-d H:i:s` field, in the forms TAPD documents: `>T`, `<T`,
/// `A~B` (both ends included), or `T` (equal; a bare date: that day). `T` is `Y-m-d H:i:s` or
/// `Y-m-d`; a bare date means its midnight, except as the upper bound of `~`, where it means
/// the whole day. `>=` and `<=` are not documented: they are refused (`400`, TAPD's envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeFilter {
    min: Option<(String, bool)>,
    max: Option<(String, bool)>,
}

impl TimeFilter {
    pub(crate) fn parse(raw: &str) -> Option<TimeFilter> {
        let raw = raw.trim();
        let at = |s: &str, end_of_day: bool| -> Option<String> {
            let s = s.trim();
            if is_datetime(s) {
                Some(s.to_string())
            } else if is_date(s) {
                Some(format!("{s} {}", if end_of_day { "23:59:59" } else { "00:00:00" }))
            } else {
                None
            }
        };
        if raw.starts_with(">=") || raw.starts_with("<=") {
            return None;
        }
        let f = if let Some(v) = raw.strip_prefix('>') {
            TimeFilter { min: Some((at(v, false)?, false)), max: None }
        } else if let Some(v) = raw.strip_prefix('<') {
            TimeFilter { min: None, max: Some((at(v, false)?, false)) }
        } else if let Some((a, b)) = raw.split_once('~') {
            TimeFilter { min: Some((at(a, false)?, true)), max: Some((at(b, true)?, true)) }
        } else {
            TimeFilter { min: Some((at(raw, false)?, true)), max: Some((at(raw, true)?, true)) }
        };
        Some(f)
    }

    pub(crate) fn matches(&self, value: &str) -> bool {
        // Fixed-width `Y-m-d H:i:s` strings order like the times they name.
        let above =
            self.min.as_ref().is_none_or(|(m, incl)| if *incl { value >= m.as_str() } else { value > m.as_str() });
        let below =
            self.max.as_ref().is_none_or(|(m, incl)| if *incl { value <= m.as_str() } else { value < m.as_str() });
        above && below
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && is_date(&s[..10])
        && b[10] == b' '
        && b[11..].iter().enumerate().all(|(i, c)| if i == 2 || i == 5 { *c == b':' } else { c.is_ascii_digit() })
}

/// Item fields a list call may filter on by equality (besides `id` and the time fields).
fn equality_filter(key: &str) -> bool {
    matches!(
        key,
        "name"
            | "title"
            | "status"
            | "owner"
            | "current_owner"
            | "creator"
            | "reporter"
            | "priority"
            | "iteration_id"
            | "story_id"
    ) || key.starts_with("custom_field_")
}

/// The items of one kind matching a list call's filters, in the requested order.
fn select_items(sb: &Sandbox, kind: ItemKind, q: &BTreeMap<String, String>) -> Result<Vec<Item>, Response> {
    let ws = param(q, "workspace_id");
    let ids: Option<Vec<&str>> =
        q.get("id").filter(|s| !s.trim().is_empty()).map(|s| s.split(',').map(str::trim).collect());
    let mut times = Vec::new();
    for field in ["created", "modified"] {
        if let Some(raw) = q.get(field).filter(|s| !s.trim().is_empty()) {
            let f = TimeFilter::parse(raw)
                .ok_or_else(|| error(StatusCode::BAD_REQUEST, &format!("invalid time filter {field}={raw}")))?;
            times.push((field, f));
        }
    }
    let equal: Vec<(&String, &String)> = q.iter().filter(|(k, v)| equality_filter(k) && !v.is_empty()).collect();
    let order = ordering(q, |f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))?;
    // `cursor=<last id>`: the items after it in id order (upstream: the way past the 20,000 cap).
    let cursor = q.get("cursor").map(|s| s.trim()).filter(|s| !s.is_empty());
    if let Some(c) = cursor {
        if !c.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error(StatusCode::BAD_REQUEST, "cursor must be an item id"));
        }
        if order.as_ref().is_some_and(|(f, desc)| f != "id" || *desc) {
            return Err(error(StatusCode::BAD_REQUEST, "cursor pages in id order only (order=id asc)"));
        }
        if q.get("page").is_some_and(|p| !matches!(p.trim(), "" | "1")) {
            return Err(error(StatusCode::BAD_REQUEST, "cursor and page do not go together"));
        }
    }
    let id_key = |id: &str| (id.len(), id.to_string());
    let st = sb.lock();
    let mut items: Vec<Item> = st
        .items
        .values()
        .filter(|i| i.workspace_id == ws && i.kind == kind)
        .filter(|i| ids.as_ref().is_none_or(|ids| ids.contains(&i.id.as_str())))
        .filter(|i| times.iter().all(|(field, f)| i.fields.get(*field).is_some_and(|v| f.matches(v))))
        .filter(|i| equal.iter().all(|(k, v)| i.fields.get(*k) == Some(*v)))
        .cloned()
        .collect();
    drop(st);
    if let Some(c) = cursor {
        items.retain(|i| id_key(&i.id) > id_key(c));
        items.sort_by_key(|i| id_key(&i.id));
        return Ok(items);
    }
    // Default (TAPD does not document one): oldest first, by `created` then id.
    let (field, desc) = order.unwrap_or(("created".into(), false));
    let get = |i: &Item| i.fields.get(&field).cloned().unwrap_or_default();
    items.sort_by(|a, b| get(a).cmp(&get(b)).then_with(|| a.id.cmp(&b.id)));
    if desc {
        items.reverse();
    }
    Ok(items)
}

/// `GET /stories|/bugs|/tasks`: `workspace_id` (required), `id` (comma separated), `created`
/// / `modified` time filters, equality filters (`status`, `owner`, ...), `order`, `limit`
/// (default 30, at most 200), `page` (1-based), `fields`. Reply `data: [{"Story":{..}}]`.
async fn list_items(sb: Sandbox, kind: ItemKind, headers: HeaderMap, q: BTreeMap<String, String>) -> Response {
    if let Err(r) = authorize_api(&sb, &headers, param(&q, "workspace_id")) {
        return r;
    }
    let result = paging(&q).and_then(|(limit, page)| Ok(page_of(select_items(&sb, kind, &q)?, limit, page)));
    match result {
        Ok(items) => {
            let fields = q.get("fields").map(|s| s.as_str());
            let data = Value::Array(items.iter().map(|i| item_json(i, fields)).collect());
            // Oversized replies answer 502 (upstream: ask for `fields=` and smaller pages).
            if let Some(max) = sb.lock().tapd_max_reply_bytes
                && data.to_string().len() > max
            {
                return error(StatusCode::BAD_GATEWAY, "502 Bad Gateway: the reply is too large");
            }
            ok(data)
        }
        Err(r) => r,
    }
}

/// `GET /stories/count` (and bugs, tasks): the same filters, `data: {"count": N}`.
async fn count_items(sb: Sandbox, kind: ItemKind, headers: HeaderMap, q: BTreeMap<String, String>) -> Response {
    if let Err(r) = authorize_api(&sb, &headers, param(&q, "workspace_id")) {
        return r;
    }
    match select_items(&sb, kind, &q) {
        Ok(items) => ok(json!({"count": items.len()})),
        Err(r) => r,
    }
}

type Q = Query<BTreeMap<String, String>>;

async fn list_stories(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    list_items(sb, ItemKind::Story, headers, q).await
}

async fn list_bugs(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    list_items(sb, ItemKind::Bug, headers, q).await
}

async fn list_tasks(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    list_items(sb, ItemKind::Task, headers, q).await
}

async fn count_stories(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    count_items(sb, ItemKind::Story, headers, q).await
}

async fn count_bugs(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    count_items(sb, ItemKind::Bug, headers, q).await
}

async fn count_tasks(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    count_items(sb, ItemKind::Task, headers, q).await
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
    if let Err(why) = check_fields(&st, &ws, kind, &changes) {
        return error(StatusCode::BAD_REQUEST, &why);
    }
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

/// TAPD's rules for the fields of a write: a `status` must be one of the workspace's workflow
/// (tasks: `open`, `progressing`, `done`), an `iteration_id` `0` (none) or one of its iterations.
pub(crate) fn check_fields(
    st: &crate::state::State,
    ws: &str,
    kind: ItemKind,
    fields: &BTreeMap<String, String>,
) -> Result<(), String> {
    if let Some(status) = fields.get("status")
        && !st.status_allowed(ws, kind, status)
    {
        return Err(format!("status {status} is not a status of this workspace's {} workflow", kind.path()));
    }
    if let Some(iteration) = fields.get("iteration_id")
        && !matches!(iteration.as_str(), "" | "0")
        && st.iteration(ws, iteration).is_none()
    {
        return Err(format!("iteration {iteration} not found in workspace {ws}"));
    }
    Ok(())
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

/// A freshly seeded item with TAPD's usual fields (names as in TAPD's API reference:
/// bugs have `title`, `current_owner`, `reporter`; stories and tasks `name`, `owner`, `creator`).
pub(crate) fn new_item(workspace_id: &str, kind: ItemKind, id: &str, name: &str) -> Item {
    let now = util::now_shanghai();
    let (status, owner, creator) = match kind {
        ItemKind::Story => ("planning", "owner", "creator"),
        ItemKind::Bug => ("new", "current_owner", "reporter"),
        ItemKind::Task => ("open", "owner", "creator"),
    };
    let mut fields = BTreeMap::new();
    for (k, v) in [
        ("id", id),
        ("workspace_id", workspace_id),
        (kind.name_field(), name),
        ("status", status),
        (creator, "sandbox"),
        (owner, ""),
        ("priority", ""),
        ("iteration_id", "0"),
        ("description", ""),
        ("created", &now),
        ("modified", &now),
    ] {
        fields.insert(k.to_string(), v.to_string());
    }
    match kind {
        ItemKind::Task => {
            fields.insert("story_id".into(), "0".into());
        }
        ItemKind::Story => {
            fields.insert("workitem_type_id".into(), crate::workflow::workitem_type_id(workspace_id));
        }
        ItemKind::Bug => {}
    }
    Item { workspace_id: workspace_id.to_string(), kind, id: id.to_string(), fields }
}

/// A comment as TAPD stores it; `status` is the item's (for TAPD's generated title).
pub(crate) fn new_comment(
    workspace_id: &str,
    kind: ItemKind,
    entry_id: &str,
    description: &str,
    author: &str,
    created: &str,
    status: Option<&str>,
) -> Comment {
    Comment {
        id: util::random_id19(),
        workspace_id: workspace_id.to_string(),
        entry_type: kind.entry_type().to_string(),
        entry_id: entry_id.to_string(),
        description: description.to_string(),
        author: author.to_string(),
        created: created.to_string(),
        modified: created.to_string(),
        title: format!("在状态 [{}] 添加", status.unwrap_or("")),
    }
}

/// The fields both comment replies carry (`comments_get_reply.json`), all strings.
fn comment_fields(c: &Comment) -> serde_json::Map<String, Value> {
    let modified = if c.modified.is_empty() { &c.created } else { &c.modified };
    [
        ("id", &c.id),
        ("title", &c.title),
        ("description", &c.description),
        ("author", &c.author),
        ("entry_type", &c.entry_type),
        ("entry_id", &c.entry_id),
        ("created", &c.created),
        ("modified", modified),
        ("workspace_id", &c.workspace_id),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), json!(v)))
    .collect()
}

/// `POST /comments` reply (`comment_add_reply.json`): the list fields plus `reply_id` and
/// `root_id`, both `"0"` for a top-level comment.
fn comment_add_json(c: &Comment) -> Value {
    let mut map = comment_fields(c);
    map.insert("reply_id".into(), json!("0"));
    map.insert("root_id".into(), json!("0"));
    json!({"Comment": map})
}

/// `GET /comments` row (`comments_get_reply.json`: no `reply_id`/`root_id`).
fn comment_list_json(c: &Comment) -> Value {
    json!({"Comment": comment_fields(c)})
}

/// `POST /comments`: adds a comment (`workspace_id`, `entry_type`, `entry_id`, `description`,
/// `author`), or with `id` and no `entry_*`, edits that comment's `description`.
async fn post_comment(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let p = match params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ws = param(&p, "workspace_id");
    if let Err(r) = authorize_api(&sb, &headers, ws) {
        return r;
    }
    let description = param(&p, "description");
    let id = param(&p, "id");
    if !id.is_empty() && param(&p, "entry_type").is_empty() && param(&p, "entry_id").is_empty() {
        if description.is_empty() {
            return error(StatusCode::BAD_REQUEST, "description is required");
        }
        let mut st = sb.lock();
        let Some(c) = st.comments.iter_mut().find(|c| c.id == id && c.workspace_id == ws) else {
            return error(StatusCode::BAD_REQUEST, &format!("comment {id} not found in workspace {ws}"));
        };
        c.description = description.to_string();
        c.modified = util::now_shanghai();
        return ok(comment_add_json(c));
    }
    let entry_type = param(&p, "entry_type");
    let Some(kind) = ItemKind::from_entry_type(entry_type) else {
        return error(StatusCode::BAD_REQUEST, "entry_type must be one of stories, bug, tasks");
    };
    let entry_id = param(&p, "entry_id");
    let author = param(&p, "author");
    if entry_id.is_empty() || description.is_empty() || author.is_empty() {
        return error(StatusCode::BAD_REQUEST, "entry_id, description and author are required");
    }
    let mut st = sb.lock();
    let Some(item) = st.item(ws, kind, entry_id) else {
        return error(StatusCode::BAD_REQUEST, &format!("entry {entry_type} {entry_id} not found in workspace {ws}"));
    };
    let status = item.fields.get("status").cloned();
    let comment =
        new_comment(ws, kind, entry_id, description, &tapd_author(author), &util::now_shanghai(), status.as_deref());
    st.comments.push(comment.clone());
    ok(comment_add_json(&comment))
}

/// `GET /comments`: `workspace_id` (required); filters `entry_type`, `entry_id`, `author`
/// (the stored, mapped name), `id`; `order` `created|modified|id asc|desc` (default: oldest
/// first); `limit` (default 30, at most 200), `page`.
async fn list_comments(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    let ws = param(&q, "workspace_id");
    if let Err(r) = authorize_api(&sb, &headers, ws) {
        return r;
    }
    let (limit, page) = match paging(&q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let order = match ordering(&q, |f| matches!(f, "created" | "modified" | "id")) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let filter = |key: &str| q.get(key).filter(|s| !s.is_empty());
    let (entry_type, entry_id, author, id) = (filter("entry_type"), filter("entry_id"), filter("author"), filter("id"));
    let mut rows: Vec<Comment> = sb
        .lock()
        .comments
        .iter()
        .filter(|c| c.workspace_id == ws)
        .filter(|c| entry_type.is_none_or(|t| &c.entry_type == t))
        .filter(|c| entry_id.is_none_or(|i| &c.entry_id == i))
        .filter(|c| author.is_none_or(|a| &c.author == a))
        .filter(|c| id.is_none_or(|i| &c.id == i))
        .cloned()
        .collect();
    let (field, desc) = order.unwrap_or(("created".into(), false));
    let key = |c: &Comment| match field.as_str() {
        "modified" if !c.modified.is_empty() => c.modified.clone(),
        "id" => c.id.clone(),
        _ => c.created.clone(),
    };
    // Stable: comments created in the same second keep the order they were added in.
    rows.sort_by_key(|c| key(c));
    if desc {
        rows.reverse();
    }
    ok(Value::Array(page_of(rows, limit, page).iter().map(comment_list_json).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_filters() {
        let f = TimeFilter::parse(">2026-11-01 00:00:00").unwrap();
        assert!(f.matches("2026-11-01 00:00:01") && !f.matches("2026-11-01 00:00:00"));
        let f = TimeFilter::parse(">2026-11-01").unwrap();
        assert!(f.matches("2026-11-01 00:00:01") && !f.matches("2026-11-01 00:00:00"));
        let f = TimeFilter::parse("<2026-11-01 12:00:00").unwrap();
        assert!(f.matches("2026-11-01 11:59:59") && !f.matches("2026-11-01 12:00:00"));
        let f = TimeFilter::parse("2026-11-01~2026-11-02").unwrap();
        assert!(f.matches("2026-11-01 00:00:00") && f.matches("2026-11-02 23:59:59"));
        assert!(!f.matches("2026-10-31 23:59:59") && !f.matches("2026-11-03 00:00:00"));
        let f = TimeFilter::parse("2026-11-01").unwrap();
        assert!(f.matches("2026-11-01 08:00:00") && !f.matches("2026-11-02 08:00:00"));
        // Not documented by TAPD: refused, not guessed at.
        for bad in ["yesterday", ">2026-11-1", "2026-11-01 9:00:00", "~", ">=2026-11-01", "<=2026-11-01 12:00:00"] {
            assert!(TimeFilter::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn authors_are_mapped_once() {
        assert_eq!(tapd_author("xuanfang"), "v_xuanfang");
        assert_eq!(tapd_author("v_xuanfang"), "v_xuanfang");
        assert_eq!(tapd_author("TAPD Docs"), "v_TAPD Docs");
    }
}
