//! `/_sandbox/...`: the same seeding, inspection and control as the Rust API,
//! over HTTP with JSON bodies, for separate processes (demo script, browser tests).
//!
//! | method | path | body / reply |
//! | --- | --- | --- |
//! | GET | `/_sandbox/info` | base URLs, client ids and secrets, app open id |
//! | GET | `/_sandbox/docs` | `[Doc]` |
//! | GET | `/_sandbox/comments` | `[Comment]` |
//! | GET | `/_sandbox/items` | `[Item]` |
//! | POST | `/_sandbox/items` | `{workspace_id, kind: story\|bug\|task, id, name}` |
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
//!
//! Mutations answer `204 No Content`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Sandbox;
use crate::model::{Comment, Doc, Fault, IssuedTokens, Item, ItemKind, ItemUpdate, RequestRecord};

pub(crate) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/_sandbox/info", get(info))
        .route("/_sandbox/docs", get(docs))
        .route("/_sandbox/comments", get(comments))
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
}

async fn add_item(State(sb): State<Sandbox>, Json(i): Json<NewItem>) -> StatusCode {
    sb.add_item(&i.workspace_id, i.kind, &i.id, &i.name);
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
