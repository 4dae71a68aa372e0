//! The fake Tencent Docs: OAuth v2 (consent page, token, app account token,
//! userinfo), the drive v2 file API, doc v3 `batchUpdate` and a doc viewer, and the reads
//! (`upstream-apis.md`, "Reads"): a folder's listing (`GET /drive/v2/folders/{id}`, the root
//! `%2F`, newest first unless `asc=1`, pages of at most 20, `data.next` 0 at the end), a file's
//! metadata, a doc's content (`GET /doc/v3/{id}`, paragraphs with offsets: `tdoc_edit`), and search, which
//! lags behind creation (30 s unless `Sandbox::set_search_lag`). A folder is renamed through
//! `PATCH /drive/v2/folders/{id}` or, with its id, `PATCH /drive/v2/files/{id}` (both unconfirmed
//! upstream: the `tdoc_folder_rename` variant refuses them).
//!
//! Error statuses and codes chosen where upstream is silent:
//! - `/oauth/v2/token`, `/oauth/v2/app-account-token`: bad client id/secret → `401 {"ret":40001}`;
//!   unknown, used, expired or mismatched code, bad refresh token → `401 {"ret":40002}`;
//!   missing or unsupported grant_type → `400 {"ret":40003}`.
//! - `/oauth/v2/userinfo` and every OpenAPI call: missing `Access-Token`/`Client-Id`/`Open-Id`
//!   header → `401 {"ret":37001}`; `Client-Id` not the app → `401 {"ret":37002}`; unknown or
//!   expired token → `{"ret":37019}` with HTTP 401, or 200 in the `http200` variant
//!   ([`crate::TdocTokenError`]); `Open-Id` not the token's → `403 {"ret":37003}`.
//! - drive v2: bad parameters (title empty or over 36 characters, unknown type or policy,
//!   body not form-encoded) → `400 {"ret":400001}`; unknown or deleted file or folder →
//!   `404 {"ret":10102}`; not the owner → `403 {"ret":10103}`.
//!
//! Shapes follow `tests/fixtures/tdoc/`: token replies are flat (no `ret` envelope), a created
//! file is `create_file_reply_seed000.json` (whose keys include `create_file_reply.json`'s), and
//! a doc's `url` is `{base}/tdoc/doc/` + `D` + base64 of its key, like `https://docs.qq.com/doc/D..`.
//! - doc v3: unknown file → `404 {"code":10102,"message":"file does not exist"}`; not the owner →
//!   `403 {"code":10103}`; bad body → `400 {"code":400001}`.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::model::{
    Doc, ReplyWrapping, TdocBatchUpdateRoute, TdocFileIdKey, TdocFolderRename, TdocMoveParams, TdocRootFolder,
    TdocTokenError,
};
use crate::pages::{self, ConsentRequest};
use crate::state::{Expiry, Folder, TdocCode, TdocRefresh, TdocToken};
use crate::tapd::redirect_with;
use crate::util::{self, header_str};

/// Tencent Docs refresh tokens live about a year.
const REFRESH_TTL_SECS: u64 = 365 * 24 * 3600;
/// The longest title the drive API accepts, in characters.
pub const MAX_TITLE_CHARS: usize = 36;
const FILE_TYPES: &[&str] = &["doc", "sheet", "form", "slide", "mind", "flowchart", "smartsheet"];
pub(crate) const ID_PREFIX: &str = "300000000$";
/// `scope=all` is granted as every scope (seed `000`: the reply lists them, comma separated).
const ALL_SCOPES: &str = "scope.attachment.queryable,scope.auth.direct,scope.doc.editable,scope.doc.readonly,\
scope.drive.form,scope.drive.group,scope.drive.presentation,scope.file.creatable,scope.file.deletable,\
scope.file.modifiable,scope.file.queryable,scope.folder.creatable,scope.folder.deletable,scope.folder.modifiable,\
scope.folder.queryable,scope.sheet.editable,scope.sheet.readonly,scope.smartsheet.editable,scope.smartsheet.readonly,\
scope.user.info,scope.user.login";
/// The app account's scopes (seed `001`).
const APP_ACCOUNT_SCOPES: &str = "scope.file.editable,scope.folder.creatable";
const POLICIES: &[&str] = &["private", "members", "publicRead", "publicWrite"];

pub(crate) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/tdoc/oauth/v2/authorize", get(authorize_page))
        .route("/tdoc/oauth/v2/authorize/approve", post(approve))
        .route("/tdoc/oauth/v2/token", get(token))
        .route("/tdoc/oauth/v2/app-account-token", get(app_account_token))
        .route("/tdoc/oauth/v2/userinfo", get(userinfo))
        .route("/tdoc/openapi/drive/v2/files", post(create_file))
        .route("/tdoc/openapi/drive/v2/folders", post(create_folder).get(list_root_no_id))
        .route("/tdoc/openapi/drive/v2/folders/{folder_id}/", get(list_folder_trailing_slash))
        .route("/tdoc/openapi/drive/v2/search", get(search))
        .route(
            "/tdoc/openapi/drive/v2/folders/{folder_id}",
            get(list_folder).delete(delete_folder).patch(rename_folder),
        )
        .route("/tdoc/openapi/drive/v2/files/{file_id}", patch(rename_file).delete(delete_file))
        .route("/tdoc/openapi/drive/v2/files/{file_id}/copy", post(copy_file))
        .route("/tdoc/openapi/drive/v2/files/{file_id}/move", patch(move_file))
        .route("/tdoc/openapi/drive/v2/files/{file_id}/metadata", get(metadata))
        .route("/tdoc/openapi/drive/v2/files/{file_id}/permission", patch(permission))
        .route("/tdoc/openapi/doc/v3/{target}", post(doc_v3).get(doc_content))
        .route("/tdoc/openapi/doc/v3/{file_id}/batchUpdate", post(doc_v3_slash))
        .route("/tdoc/doc/{key}", get(doc_page))
        .route("/tdoc/folder/{key}", get(folder_page))
}

/// `{"ret":ret,"msg":msg}` with the given HTTP status.
pub(crate) fn ret_error(status: StatusCode, ret: i64, msg: &str) -> Response {
    (status, axum::Json(json!({"ret": ret, "msg": msg}))).into_response()
}

/// v3 error: `{"code":code,"message":message}`.
pub(crate) fn v3_error(status: StatusCode, code: i64, message: &str) -> Response {
    (status, axum::Json(json!({"code": code, "message": message}))).into_response()
}

pub(crate) fn succeed(data: Value) -> Response {
    axum::Json(json!({"ret": 0, "msg": "Succeed", "data": data})).into_response()
}

/// A drive v2 reply's `data` with its ids under the key the variant plays (`ID` or `id`),
/// in the object itself and in each entry of its `list`.
fn drive_data(sb: &Sandbox, mut data: Value) -> Response {
    if sb.variants().tdoc_file_id_key == TdocFileIdKey::Lower {
        let rename = |v: &mut Value| {
            if let Some(o) = v.as_object_mut()
                && let Some(id) = o.remove("ID")
            {
                o.insert("id".into(), id);
            }
        };
        rename(&mut data);
        for entry in data.get_mut("list").and_then(Value::as_array_mut).into_iter().flatten() {
            rename(entry);
        }
    }
    succeed(data)
}

/// `body` as the variant plays it: itself, or wrapped in `{"ret":0,"msg":"Succeed","data":..}`.
fn wrapped_as(how: ReplyWrapping, body: Value) -> Response {
    match how {
        ReplyWrapping::Flat => axum::Json(body).into_response(),
        ReplyWrapping::Wrapped => succeed(body),
    }
}

fn param<'a>(p: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    p.get(key).map(|s| s.as_str()).unwrap_or("")
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    response_type: String,
    scope: String,
    state: String,
}

fn check_client(sb: &Sandbox, client_id: &str, redirect_uri: &str) -> Result<(), Response> {
    if client_id != sb.config().tdoc_client_id {
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
    let users: Vec<(String, String)> =
        sb.lock().tdoc_users.iter().map(|(id, nick)| (id.clone(), nick.clone())).collect();
    let req =
        ConsentRequest { client_id: &q.client_id, redirect_uri: &q.redirect_uri, scope: &q.scope, state: &q.state };
    pages::tdoc_consent(&req, &users)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ApproveForm {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: String,
    open_id: String,
    decision: String,
}

/// The consent form's target (`POST /tdoc/oauth/v2/authorize/approve`, form-encoded
/// `client_id, redirect_uri, scope, state, open_id, decision=approve|deny`).
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
                if !st.tdoc_users.contains_key(&f.open_id) {
                    drop(st);
                    return pages::error_page(StatusCode::BAD_REQUEST, &format!("unknown user {:?}", f.open_id));
                }
                st.issued_secrets.push(code.clone());
                st.tdoc_codes.insert(
                    code.clone(),
                    TdocCode {
                        client_id: f.client_id.clone(),
                        redirect_uri: f.redirect_uri.clone(),
                        scope: f.scope.clone(),
                        open_id: f.open_id.clone(),
                        expiry: Expiry::in_secs(sb.config().code_ttl_secs),
                    },
                );
            }
            // Seed `000` step 3: the callback also carries `u` (meaning undocumented; 32 hex).
            let u = util::random_hex16();
            redirect_with(&f.redirect_uri, &[("code", &code), ("state", &f.state), ("u", &u)])
        }
        _ => pages::error_page(StatusCode::BAD_REQUEST, "decision must be approve or deny"),
    }
}

fn check_secret(sb: &Sandbox, q: &BTreeMap<String, String>) -> Result<(), Response> {
    let cfg = sb.config();
    if param(q, "client_id") == cfg.tdoc_client_id && param(q, "client_secret") == sb.tdoc_client_secret() {
        Ok(())
    } else {
        Err(ret_error(StatusCode::UNAUTHORIZED, 40001, "invalid client_id or client_secret"))
    }
}

fn invalid_grant(msg: &str) -> Response {
    ret_error(StatusCode::UNAUTHORIZED, 40002, msg)
}

/// Stores a new access token (and refresh token unless `None`) for `open_id`.
fn issue(sb: &Sandbox, open_id: &str, scope: &str, with_refresh: bool) -> (String, Option<String>) {
    let access = util::random_token();
    let refresh = with_refresh.then(util::random_token);
    let mut st = sb.lock();
    st.issued_secrets.extend([Some(access.clone()), refresh.clone()].into_iter().flatten());
    st.tdoc_tokens.insert(
        access.clone(),
        TdocToken { open_id: open_id.to_string(), expiry: Expiry::in_secs(sb.config().access_token_ttl_secs) },
    );
    if let Some(r) = &refresh {
        st.tdoc_refresh.insert(
            r.clone(),
            TdocRefresh {
                client_id: sb.config().tdoc_client_id.clone(),
                open_id: open_id.to_string(),
                scope: scope.to_string(),
                expiry: Expiry::in_secs(REFRESH_TTL_SECS),
            },
        );
    }
    (access, refresh)
}

fn flat_reply(sb: &Sandbox, access: &str, refresh: Option<&str>, scope: &str, open_id: &str) -> Response {
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": sb.config().access_token_ttl_secs,
        "scope": if scope.is_empty() || scope == "all" { ALL_SCOPES } else { scope },
        "user_id": open_id,
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    wrapped_as(sb.variants().tdoc_token_reply, body)
}

async fn token(State(sb): State<Sandbox>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    if let Err(r) = check_secret(&sb, &q) {
        return r;
    }
    match param(&q, "grant_type") {
        "authorization_code" => {
            // Burnt by any presentation, successful or not.
            let Some(code) = sb.lock().tdoc_codes.remove(param(&q, "code")) else {
                return invalid_grant("invalid code");
            };
            if !code.expiry.live() {
                return invalid_grant("code expired");
            }
            if code.client_id != sb.config().tdoc_client_id {
                return invalid_grant("code was issued to another client");
            }
            if code.redirect_uri != param(&q, "redirect_uri") {
                return invalid_grant("redirect_uri mismatch");
            }
            let (access, refresh) = issue(&sb, &code.open_id, &code.scope, true);
            sb.lock().issued.tdoc_user += 1;
            flat_reply(&sb, &access, refresh.as_deref(), &code.scope, &code.open_id)
        }
        "refresh_token" => {
            let presented = param(&q, "refresh_token");
            let rotate = sb.config().tdoc_refresh_returns_new_refresh_token;
            let old = {
                let mut st = sb.lock();
                if rotate { st.tdoc_refresh.remove(presented) } else { st.tdoc_refresh.get(presented).cloned() }
            };
            let Some(old) = old else {
                return invalid_grant("invalid refresh_token");
            };
            if !old.expiry.live() {
                return invalid_grant("refresh_token expired");
            }
            if old.client_id != sb.config().tdoc_client_id {
                return invalid_grant("refresh_token was issued to another client");
            }
            let (access, refresh) = issue(&sb, &old.open_id, &old.scope, rotate);
            sb.lock().issued.tdoc_refresh += 1;
            flat_reply(&sb, &access, refresh.as_deref(), &old.scope, &old.open_id)
        }
        "" => ret_error(StatusCode::BAD_REQUEST, 40003, "grant_type is required"),
        other => ret_error(StatusCode::BAD_REQUEST, 40003, &format!("unsupported grant_type {other}")),
    }
}

async fn app_account_token(State(sb): State<Sandbox>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    if let Err(r) = check_secret(&sb, &q) {
        return r;
    }
    let open_id = sb.tdoc_app_open_id();
    let (access, refresh) = issue(&sb, &open_id, APP_ACCOUNT_SCOPES, true);
    sb.lock().issued.tdoc_app += 1;
    flat_reply(&sb, &access, refresh.as_deref(), APP_ACCOUNT_SCOPES, &open_id)
}

/// `ret` 37019, with the HTTP status of the variant being played.
fn invalid_token(sb: &Sandbox) -> Response {
    let status = match sb.variants().tdoc_token_error {
        TdocTokenError::Http401 => StatusCode::UNAUTHORIZED,
        TdocTokenError::Http200 => StatusCode::OK,
    };
    ret_error(status, 37019, "invalid or expired access token")
}

/// The open id of a live access token.
fn token_open_id(sb: &Sandbox, token: &str) -> Option<String> {
    let st = sb.lock();
    st.tdoc_tokens.get(token).filter(|t| t.expiry.live()).map(|t| t.open_id.clone())
}

async fn userinfo(State(sb): State<Sandbox>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let Some(open_id) = token_open_id(&sb, param(&q, "access_token")) else {
        return invalid_token(&sb);
    };
    let nick = if open_id == sb.tdoc_app_open_id() {
        "App account".to_string()
    } else {
        sb.lock().tdoc_users.get(&open_id).cloned().unwrap_or_default()
    };
    succeed(json!({
        "openID": open_id,
        "nick": nick,
        "avatar": "",
        "source": "wx",
        "unionID": "",
    }))
}

/// Checks the three OpenAPI headers; returns the caller's open id.
fn authenticate(sb: &Sandbox, headers: &HeaderMap) -> Result<String, Response> {
    let mut values = [""; 3];
    for (slot, name) in values.iter_mut().zip(["Access-Token", "Client-Id", "Open-Id"]) {
        *slot = header_str(headers, name)
            .ok_or_else(|| ret_error(StatusCode::UNAUTHORIZED, 37001, &format!("missing header {name}")))?;
    }
    let [token, client_id, open_id] = values;
    if client_id != sb.config().tdoc_client_id {
        return Err(ret_error(StatusCode::UNAUTHORIZED, 37002, "Client-Id does not match any app"));
    }
    let owner = token_open_id(sb, token).ok_or_else(|| invalid_token(sb))?;
    if owner != open_id {
        return Err(ret_error(StatusCode::FORBIDDEN, 37003, "Open-Id does not match the access token"));
    }
    Ok(owner)
}

fn bad_param(msg: &str) -> Response {
    ret_error(StatusCode::BAD_REQUEST, 400001, msg)
}

/// The drive API takes form-encoded bodies only.
fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<BTreeMap<String, String>, Response> {
    if !util::is_form(headers) {
        return Err(bad_param("Content-Type must be application/x-www-form-urlencoded"));
    }
    util::parse_params(headers, body).map_err(|e| bad_param(&e))
}

fn check_title(title: &str) -> Result<(), Response> {
    if title.trim().is_empty() {
        return Err(bad_param("title is required"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(bad_param(&format!("title is too long: at most {MAX_TITLE_CHARS} characters")));
    }
    Ok(())
}

fn file_json(doc: &Doc, nick: &str) -> Value {
    json!({
        "ID": doc.id,
        "title": doc.title,
        "type": doc.doc_type,
        "url": doc.url,
        "status": "normal",
        "isCreator": true,
        "isOwner": true,
        "createTime": doc.created_at,
        "creatorName": nick,
        "ownerName": nick,
        "lastModifyTime": doc.created_at,
        "lastModifyName": nick,
        "tenant": "",
    })
}

/// `{tdoc_base}/doc/D<base64 of key>`, the way docs.qq.com links a file (`fclZsEgvOuLD` →
/// `DZmNsWnNFZ3ZPdUxE`).
fn doc_url(sb: &Sandbox, key: &str) -> String {
    format!("{}/doc/D{}", sb.tdoc_base(), base64::engine::general_purpose::STANDARD.encode(key))
}

fn nick_of(sb: &Sandbox, open_id: &str) -> String {
    if open_id == sb.tdoc_app_open_id() {
        return "App account".into();
    }
    sb.lock().tdoc_users.get(open_id).cloned().unwrap_or_default()
}

fn folder_exists(sb: &Sandbox, folder_id: &str, open_id: &str) -> bool {
    sb.lock().folders.iter().any(|f| f.id == folder_id && f.owner_open_id == open_id)
}

async fn create_file(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let p = match form_params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let title = param(&p, "title");
    if let Err(r) = check_title(title) {
        return r;
    }
    let doc_type = param(&p, "type");
    if !FILE_TYPES.contains(&doc_type) {
        return bad_param(&format!("type must be one of {}", FILE_TYPES.join(", ")));
    }
    let folder_id = match target_folder(&sb, param(&p, "folderID"), &open_id) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let doc = new_doc(&sb, title, doc_type, &open_id, folder_id, String::new());
    drive_data(&sb, file_json(&doc, &nick_of(&sb, &open_id)))
}

/// A `folderID` parameter: empty or `/` is the root; anything else must be a live folder of the caller.
fn target_folder(sb: &Sandbox, folder: &str, open_id: &str) -> Result<Option<String>, Response> {
    match folder {
        "" | "/" => Ok(None),
        f if folder_exists(sb, f, open_id) => Ok(Some(f.to_string())),
        _ => Err(ret_error(StatusCode::NOT_FOUND, 10102, "folder does not exist")),
    }
}

/// Stores and returns a new file.
fn new_doc(
    sb: &Sandbox,
    title: &str,
    doc_type: &str,
    open_id: &str,
    folder_id: Option<String>,
    content: String,
) -> Doc {
    let key = util::random_alnum(12);
    let doc = Doc {
        id: format!("{ID_PREFIX}{key}"),
        title: title.to_string(),
        doc_type: doc_type.to_string(),
        url: doc_url(sb, &key),
        owner_open_id: open_id.to_string(),
        content,
        version: 1,
        changes: Vec::new(),
        created_at: util::epoch_secs(),
        folder_id,
        policy: None,
        deleted: false,
    };
    sb.lock().docs.push(doc.clone());
    doc
}

async fn create_folder(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let p = match form_params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let title = param(&p, "title");
    if let Err(r) = check_title(title) {
        return r;
    }
    // `parentfolderID` as documented; the other spellings are accepted too.
    let parent = ["parentfolderID", "parentFolderID", "folderID"]
        .iter()
        .find_map(|k| p.get(*k))
        .map(String::as_str)
        .unwrap_or("");
    if !matches!(parent, "" | "/") && !folder_exists(&sb, parent, &open_id) {
        return ret_error(StatusCode::NOT_FOUND, 10102, "folder does not exist");
    }
    let folder = Folder {
        id: format!("{ID_PREFIX}F{}", util::random_alnum(11)),
        title: title.to_string(),
        owner_open_id: open_id,
        created_at: util::epoch_secs(),
        parent_id: (!matches!(parent, "" | "/")).then(|| parent.to_string()),
    };
    sb.lock().folders.push(folder.clone());
    drive_data(
        &sb,
        json!({
            "ID": folder.id,
            "title": folder.title,
            "type": "folder",
            "createTime": folder.created_at,
            "isCreator": true,
        }),
    )
}

/// Finds a doc the caller owns: `Err(404 | 403)` in the given error style.
fn owned_doc(
    sb: &Sandbox,
    file_id: &str,
    open_id: &str,
    err: fn(StatusCode, i64, &str) -> Response,
) -> Result<Doc, Response> {
    let st = sb.lock();
    let doc = st
        .docs
        .iter()
        .find(|d| d.id == file_id && !d.deleted)
        .ok_or_else(|| err(StatusCode::NOT_FOUND, 10102, "file does not exist"))?;
    if doc.owner_open_id != open_id {
        return Err(err(StatusCode::FORBIDDEN, 10103, "no permission to access this file"));
    }
    Ok(doc.clone())
}

async fn metadata(State(sb): State<Sandbox>, Path(file_id): Path<String>, headers: HeaderMap) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match owned_doc(&sb, &file_id, &open_id, ret_error) {
        Ok(doc) => drive_data(&sb, file_json(&doc, &nick_of(&sb, &open_id))),
        Err(r) => r,
    }
}

async fn permission(
    State(sb): State<Sandbox>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let p = match form_params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let policy = param(&p, "policy");
    if !POLICIES.contains(&policy) {
        return bad_param(&format!("policy must be one of {}", POLICIES.join(", ")));
    }
    for flag in ["copyEnabled", "readerCommentEnabled"] {
        if !matches!(param(&p, flag), "" | "true" | "false") {
            return bad_param(&format!("{flag} must be true or false"));
        }
    }
    if let Err(r) = owned_doc(&sb, &file_id, &open_id, ret_error) {
        return r;
    }
    let mut st = sb.lock();
    if let Some(doc) = st.docs.iter_mut().find(|d| d.id == file_id) {
        doc.policy = Some(policy.to_string());
    }
    succeed(json!({}))
}

/// `POST /openapi/doc/v3/{fileID}:batchUpdate` (the id arrives percent-decoded), in the
/// `colon` variant.
async fn doc_v3(State(sb): State<Sandbox>, Path(target): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(file_id) = target.strip_suffix(":batchUpdate") else {
        return v3_error(StatusCode::NOT_FOUND, 404, "not found");
    };
    if sb.variants().tdoc_batch_update_route != TdocBatchUpdateRoute::Colon {
        return v3_error(StatusCode::NOT_FOUND, 404, "not found");
    }
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    batch_update(&sb, file_id, &open_id, &body)
}

/// `POST /openapi/doc/v3/{fileID}/batchUpdate` in the `slash` variant: the SDK's form, whose
/// body names the file again (`fileID`).
async fn doc_v3_slash(
    State(sb): State<Sandbox>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if sb.variants().tdoc_batch_update_route != TdocBatchUpdateRoute::Slash {
        return v3_error(StatusCode::NOT_FOUND, 404, "not found");
    }
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let named = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.get("fileID")?.as_str().map(str::to_owned));
    if named.as_deref() != Some(file_id.as_str()) {
        return v3_error(StatusCode::BAD_REQUEST, 400001, "fileID in the body must name the file of the path");
    }
    batch_update(&sb, &file_id, &open_id, &body)
}

/// The batchUpdate itself, whichever route brought it (see the `tdoc_edit` module).
fn batch_update(sb: &Sandbox, file_id: &str, open_id: &str, body: &[u8]) -> Response {
    let doc = match owned_doc(sb, file_id, open_id, v3_error) {
        Ok(d) => d,
        Err(r) => return r,
    };
    if doc.doc_type != "doc" {
        return v3_error(StatusCode::BAD_REQUEST, 400001, "batchUpdate applies to doc files only");
    }
    crate::tdoc_edit::batch_update(sb, file_id, body)
}

/// The most entries a folder listing answers at once (the documented sample pages by 20).
const LIST_PAGE_MAX: usize = 20;

/// `GET /openapi/drive/v2/folders/{folderID}` (the root is `/`, sent as `%2F`): the caller's
/// live files and sub-folders directly in it, `sortType` `create`/`modify`/`browse` (all by
/// creation here: nothing is browsed or modified behind the API), `asc` 0/1 (default 0,
/// newest first), `start`, `limit` (≤ 20). `data.next` is the next page's `start`, 0 at the end.
async fn list_folder(
    State(sb): State<Sandbox>,
    Path(folder_id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if matches!(folder_id.as_str(), "/" | "") && sb.variants().tdoc_root_folder != TdocRootFolder::Plain {
        // The redirect loop one client reports for the root without a trailing slash.
        return (StatusCode::MOVED_PERMANENTLY, [(axum::http::header::LOCATION, uri.to_string())]).into_response();
    }
    list(sb, &folder_id, &q, &headers)
}

/// `GET /openapi/drive/v2/folders/%2F/`: the root in the `trailing_slash` variant.
async fn list_folder_trailing_slash(
    State(sb): State<Sandbox>,
    Path(folder_id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if folder_id != "/" || sb.variants().tdoc_root_folder != TdocRootFolder::TrailingSlash {
        return ret_error(StatusCode::NOT_FOUND, 404, "not found");
    }
    list(sb, "/", &q, &headers)
}

/// `GET /openapi/drive/v2/folders`: the root in the `no_id` variant.
async fn list_root_no_id(
    State(sb): State<Sandbox>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if sb.variants().tdoc_root_folder != TdocRootFolder::NoId {
        return ret_error(StatusCode::NOT_FOUND, 404, "not found");
    }
    list(sb, "/", &q, &headers)
}

fn list(sb: Sandbox, folder_id: &str, q: &BTreeMap<String, String>, headers: &HeaderMap) -> Response {
    let open_id = match authenticate(&sb, headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let parent = match folder_id {
        "/" | "" => None,
        f => {
            let owner = sb.lock().folders.iter().find(|x| x.id == f).map(|x| x.owner_open_id.clone());
            match owner {
                None => return ret_error(StatusCode::NOT_FOUND, 10102, "folder does not exist"),
                Some(o) if o != open_id => {
                    return ret_error(StatusCode::FORBIDDEN, 10103, "no permission to access this folder");
                }
                Some(_) => Some(f.to_string()),
            }
        }
    };
    let number = |k: &str, default: usize| match q.get(k).map(String::as_str) {
        None | Some("") => Ok(default),
        Some(v) => v.parse::<usize>().map_err(|_| bad_param(&format!("{k} must be a number"))),
    };
    let (start, limit, asc) = match (number("start", 0), number("limit", LIST_PAGE_MAX), number("asc", 0)) {
        (Ok(s), Ok(l), Ok(a)) if a <= 1 => (s, l.clamp(1, LIST_PAGE_MAX), a == 1),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
        _ => return bad_param("asc must be 0 or 1"),
    };
    let nick = nick_of(&sb, &open_id);
    let mut entries: Vec<(u64, usize, Value)> = {
        let st = sb.lock();
        let docs = st
            .docs
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.deleted && d.owner_open_id == open_id && d.folder_id == parent)
            .map(|(i, d)| (d.created_at, i, file_json(d, &nick)));
        let folders = st
            .folders
            .iter()
            .enumerate()
            .filter(|(_, f)| f.owner_open_id == open_id && f.parent_id == parent)
            .map(|(i, f)| (f.created_at, i, folder_json(&sb, f, &nick)));
        docs.chain(folders).collect()
    };
    // Made in the same second: the one made later counts as newer.
    entries.sort_by_key(|(at, i, _)| (*at, *i));
    if !asc {
        entries.reverse();
    }
    let total = entries.len();
    let page: Vec<Value> = entries.into_iter().skip(start).take(limit).map(|(_, _, v)| v).collect();
    let next = if start + page.len() < total { start + page.len() } else { 0 };
    drive_data(&sb, json!({ "list": page, "next": next }))
}

fn folder_json(sb: &Sandbox, f: &Folder, nick: &str) -> Value {
    let key = f.id.strip_prefix(ID_PREFIX).unwrap_or(&f.id);
    json!({
        "ID": f.id,
        "title": f.title,
        "type": "folder",
        "url": format!("{}/folder/{key}", sb.tdoc_base()),
        "status": "normal",
        "isCreator": true,
        "createTime": f.created_at,
        "lastModifyTime": f.created_at,
        "ownerName": nick,
    })
}

/// `GET /openapi/drive/v2/search`: the caller's live files whose title contains `searchKey`,
/// `offset`/`size` paging (`data.list`, `data.next` as in a listing), only those made at least
/// the search lag ago ([`Sandbox::set_search_lag`], 30 s by default): an index lags.
async fn search(State(sb): State<Sandbox>, Query(q): Query<BTreeMap<String, String>>, headers: HeaderMap) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let key = q.get("searchKey").map(String::as_str).unwrap_or("");
    if key.trim().is_empty() {
        return bad_param("searchKey is required");
    }
    let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let size: usize = q.get("size").and_then(|v| v.parse().ok()).unwrap_or(LIST_PAGE_MAX).clamp(1, LIST_PAGE_MAX);
    let indexed_before = util::epoch_secs().saturating_sub(sb.search_lag().as_secs());
    let lagging = !sb.search_lag().is_zero();
    let nick = nick_of(&sb, &open_id);
    let found: Vec<Value> = sb
        .lock()
        .docs
        .iter()
        .filter(|d| !d.deleted && d.owner_open_id == open_id && d.title.contains(key))
        .filter(|d| !lagging || d.created_at < indexed_before)
        .map(|d| file_json(d, &nick))
        .collect();
    let page: Vec<Value> = found.iter().skip(offset).take(size).cloned().collect();
    let next = if offset + page.len() < found.len() { offset + page.len() } else { 0 };
    drive_data(&sb, json!({ "list": page, "next": next }))
}

/// `GET /openapi/doc/v3/{fileID}`: the doc's text as a tree of paragraphs with `begin`/`end`
/// offsets and the doc's `version`, in the shape of `doc_content_offsets_reply.json` (no `ret`
/// envelope; the `wrapped` variant wraps it).
async fn doc_content(State(sb): State<Sandbox>, Path(file_id): Path<String>, headers: HeaderMap) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let doc = match owned_doc(&sb, &file_id, &open_id, v3_error) {
        Ok(d) => d,
        Err(r) => return r,
    };
    if doc.doc_type != "doc" {
        return v3_error(StatusCode::BAD_REQUEST, 400001, "only doc files have document content");
    }
    let body = crate::tdoc_edit::read_body(&doc, sb.variants().tdoc_offset_unit);
    wrapped_as(sb.variants().tdoc_doc_read, body)
}

/// The file key a doc page path names: `D` + base64 of the key (what `url` gives), or the raw
/// key (links from before the sandbox wrote `D` URLs, kept for saved states).
fn page_key(path: &str) -> String {
    path.strip_prefix('D')
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|k| String::from_utf8(k).ok())
        .filter(|k| k.len() == 12 && k.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| path.to_string())
}

async fn doc_page(State(sb): State<Sandbox>, Path(path): Path<String>) -> Response {
    let id = format!("{ID_PREFIX}{}", page_key(&path));
    let doc = sb.lock().docs.iter().find(|d| d.id == id && !d.deleted).cloned();
    match doc {
        Some(doc) => {
            let chain = sb.file_location(&doc.id).unwrap_or_default();
            crate::web::doc_page(&doc, &chain)
        }
        None => pages::error_page(StatusCode::NOT_FOUND, "file does not exist"),
    }
}

/// A folder's page, at the `url` its listing entry gives (`{base}/tdoc/folder/<key>`, as
/// `folder_list_reply.json`'s `https://docs.qq.com/folder/<key>`): where it is, its sub-folders
/// and its live files, as a person browses them.
async fn folder_page(State(sb): State<Sandbox>, Path(key): Path<String>) -> Response {
    let id = format!("{ID_PREFIX}{key}");
    let Some(folder) = sb.lock().folders.iter().find(|f| f.id == id || f.id == key).cloned() else {
        return pages::error_page(StatusCode::NOT_FOUND, "folder does not exist");
    };
    let chain = sb.file_location(&folder.id).unwrap_or_default();
    let (folders, files) = sb.folder_children(Some(&folder.id)).unwrap_or_default();
    crate::web::folder_page(&folder, &chain, &folders, &files)
}

/// `PATCH /openapi/drive/v2/files/{fileID}`: rename (form `title`, at most 36 characters).
async fn rename_file(
    State(sb): State<Sandbox>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let p = match form_params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let title = param(&p, "title");
    if let Err(r) = check_title(title) {
        return r;
    }
    // A folder's id renames the folder (drive v2 files and folders share ids), unless folder
    // renames are refused: then it is no file.
    if folder_exists(&sb, &file_id, &open_id) {
        if sb.variants().tdoc_folder_rename == TdocFolderRename::Refused {
            return ret_error(StatusCode::NOT_FOUND, 10102, "file does not exist");
        }
        if let Some(f) = sb.lock().folders.iter_mut().find(|f| f.id == file_id) {
            f.title = title.to_string();
        }
        return succeed(json!({}));
    }
    if let Err(r) = owned_doc(&sb, &file_id, &open_id, ret_error) {
        return r;
    }
    if let Some(doc) = sb.lock().docs.iter_mut().find(|d| d.id == file_id) {
        doc.title = title.to_string();
    }
    succeed(json!({}))
}

/// `DELETE /openapi/drive/v2/files/{fileID}` (a folder's id deletes the folder, as
/// `DELETE /folders/{id}` does).
async fn delete_file(State(sb): State<Sandbox>, Path(file_id): Path<String>, headers: HeaderMap) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if folder_exists(&sb, &file_id, &open_id) {
        return remove_folder(&sb, &file_id);
    }
    if let Err(r) = owned_doc(&sb, &file_id, &open_id, ret_error) {
        return r;
    }
    if let Some(doc) = sb.lock().docs.iter_mut().find(|d| d.id == file_id) {
        doc.deleted = true;
    }
    succeed(json!({}))
}

/// `DELETE /openapi/drive/v2/folders/{folderID}`: the folder and every file in it are deleted
/// (sub-folders included).
async fn delete_folder(State(sb): State<Sandbox>, Path(folder_id): Path<String>, headers: HeaderMap) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let owner = sb.lock().folders.iter().find(|f| f.id == folder_id).map(|f| f.owner_open_id.clone());
    match owner {
        None => ret_error(StatusCode::NOT_FOUND, 10102, "folder does not exist"),
        Some(o) if o != open_id => ret_error(StatusCode::FORBIDDEN, 10103, "no permission to access this folder"),
        Some(_) => remove_folder(&sb, &folder_id),
    }
}

fn remove_folder(sb: &Sandbox, folder_id: &str) -> Response {
    let mut st = sb.lock();
    let mut gone = vec![folder_id.to_string()];
    // Sub-folders first: collect the whole subtree.
    let mut i = 0;
    while i < gone.len() {
        let parent = gone[i].clone();
        gone.extend(
            st.folders.iter().filter(|f| f.parent_id.as_deref() == Some(parent.as_str())).map(|f| f.id.clone()),
        );
        i += 1;
    }
    st.folders.retain(|f| !gone.contains(&f.id));
    for doc in st.docs.iter_mut().filter(|d| d.folder_id.as_ref().is_some_and(|f| gone.contains(f))) {
        doc.deleted = true;
    }
    succeed(json!({}))
}

/// `POST /openapi/drive/v2/files/{fileID}/copy` (form `title`, default the source's;
/// `folderID`, default the root): a new file with the source's type and content.
async fn copy_file(
    State(sb): State<Sandbox>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let p = match form_params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let source = match owned_doc(&sb, &file_id, &open_id, ret_error) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let title = match param(&p, "title") {
        "" => source.title.as_str(),
        t => t,
    };
    if let Err(r) = check_title(title) {
        return r;
    }
    let folder_id = match target_folder(&sb, param(&p, "folderID"), &open_id) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let doc = new_doc(&sb, title, &source.doc_type, &open_id, folder_id, source.content.clone());
    drive_data(&sb, file_json(&doc, &nick_of(&sb, &open_id)))
}

/// `PATCH /openapi/drive/v2/files/{fileID}/move`: form `targetfolderID` (empty or `/`: the root)
/// and `parentfolderID` (where it is now, checked when sent), or `folderID` in the `folder_id` variant.
async fn move_file(
    State(sb): State<Sandbox>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let p = match form_params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let doc = match owned_doc(&sb, &file_id, &open_id, ret_error) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let target = match sb.variants().tdoc_move_params {
        TdocMoveParams::Documented => {
            let Some(target) = p.get("targetfolderID") else {
                return bad_param("targetfolderID is required");
            };
            if let Some(parent) = p.get("parentfolderID") {
                let now = doc.folder_id.as_deref().unwrap_or("/");
                if parent.as_str() != now && !(parent.is_empty() && now == "/") {
                    return bad_param("parentfolderID is not the folder the file is in");
                }
            }
            target.clone()
        }
        TdocMoveParams::FolderId => match p.get("folderID") {
            Some(f) => f.clone(),
            None => return bad_param("folderID is required"),
        },
    };
    let folder_id = match target_folder(&sb, &target, &open_id) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(doc) = sb.lock().docs.iter_mut().find(|d| d.id == file_id) {
        doc.folder_id = folder_id;
    }
    succeed(json!({}))
}

/// `PATCH /openapi/drive/v2/folders/{folderID}` (form `title`, at most 36 characters): renames
/// the folder, or in the `refused` variant answers as an unknown route.
async fn rename_folder(
    State(sb): State<Sandbox>,
    Path(folder_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if sb.variants().tdoc_folder_rename == TdocFolderRename::Refused {
        return ret_error(StatusCode::NOT_FOUND, 404, "not found");
    }
    let open_id = match authenticate(&sb, &headers) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let p = match form_params(&headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let title = param(&p, "title");
    if let Err(r) = check_title(title) {
        return r;
    }
    let owner = sb.lock().folders.iter().find(|f| f.id == folder_id).map(|f| f.owner_open_id.clone());
    match owner {
        None => ret_error(StatusCode::NOT_FOUND, 10102, "folder does not exist"),
        Some(o) if o != open_id => ret_error(StatusCode::FORBIDDEN, 10103, "no permission to access this folder"),
        Some(_) => {
            if let Some(f) = sb.lock().folders.iter_mut().find(|f| f.id == folder_id) {
                f.title = title.to_string();
            }
            succeed(json!({}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_page_paths_name_keys() {
        // The documented example: `fclZsEgvOuLD` is linked as `DZmNsWnNFZ3ZPdUxE`.
        assert_eq!(page_key("DZmNsWnNFZ3ZPdUxE"), "fclZsEgvOuLD");
        assert_eq!(page_key("fclZsEgvOuLD"), "fclZsEgvOuLD");
        assert_eq!(page_key("Dnot-base64"), "Dnot-base64");
    }
}
