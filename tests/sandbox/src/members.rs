//! TAPD's people: who a user token belongs to, a workspace's members and its roles, as the
//! TAPD API reference documents them (`fixtures/tapd/users_info_reply.json`,
//! `workspace_users_reply.json`, `roles_reply.json`).
//!
//! - `GET /users/info` (user tokens only; the app token answers `403`): `data: {id, nick, name,
//!   avatar, enabled}` of the user who consented.
//! - `GET /workspaces/users?workspace_id=[&fields=]`: `data: [{"UserWorkspace":{user, role_id:[..],
//!   name, join_project_time, real_join_time, status, allocation}}]`, no paging; `fields` (comma
//!   separated) keeps only those keys.
//! - `GET /roles?workspace_id=`: `data: {"<role id>": "<name>", ..}`: TAPD's standard roles
//!   ([`ROLES`]), admins holding `管理员` ([`ADMIN_ROLE_ID`]).
//!
//! Seeded users ([`seed_users`]): [`TAPD_USER_ID`] `robertyang` (杨晓俊), the default consenting
//! user, and [`MEMBER_USER_ID`] `anyechen` (陈安业). A workspace whose membership was never set has
//! the default membership: `robertyang` an admin (and developer), `anyechen` a developer only.
//! Control: `POST /_sandbox/tapd-users {id, nick, name}` adds a user; `POST /_sandbox/members
//! {workspace_id, nick, role_ids}` sets one member's roles (`[]` removes the member).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Sandbox;
use crate::state::TapdGrant;
use crate::tapd::{TAPD_USER_ID, authorize_api, error, ok};
use crate::util::bearer;

/// The second seeded user: a plain member of every workspace with default membership.
pub const MEMBER_USER_ID: &str = "1000142422";
/// TAPD's admin role id in the documented reply.
pub const ADMIN_ROLE_ID: &str = "1000000000000000002";
const DEVELOPER_ROLE_ID: &str = "1000000000000000009";

/// TAPD's standard roles (`roles_reply.json`).
pub const ROLES: [(&str, &str); 5] = [
    (ADMIN_ROLE_ID, "管理员"),
    (DEVELOPER_ROLE_ID, "开发人员"),
    ("1000000000000000010", "测试人员"),
    ("1000000000000000015", "产品人员"),
    ("1000000000000000018", "访客"),
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TapdUser {
    pub id: String,
    pub nick: String,
    pub name: String,
}

/// The users every sandbox starts with.
pub fn seed_users() -> BTreeMap<String, TapdUser> {
    [(TAPD_USER_ID, "robertyang", "杨晓俊"), (MEMBER_USER_ID, "anyechen", "陈安业")]
        .into_iter()
        .map(|(id, nick, name)| (id.to_owned(), TapdUser { id: id.into(), nick: nick.into(), name: name.into() }))
        .collect()
}

/// The membership of a workspace nobody set: the seeded admin and the seeded developer.
fn default_members() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([
        ("robertyang".to_owned(), vec![ADMIN_ROLE_ID.to_owned(), DEVELOPER_ROLE_ID.to_owned()]),
        ("anyechen".to_owned(), vec![DEVELOPER_ROLE_ID.to_owned()]),
    ])
}

pub(crate) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/tapd/api/users/info", get(users_info))
        .route("/tapd/api/workspaces/users", get(workspace_users))
        .route("/tapd/api/roles", get(roles))
        .route("/_sandbox/tapd-users", post(add_user))
        .route("/_sandbox/members", post(set_member))
}

type Q = Query<BTreeMap<String, String>>;

async fn users_info(State(sb): State<Sandbox>, headers: HeaderMap) -> Response {
    // Any workspace the token may read: `/users/info` names none, so check the token alone.
    let Some(token) = bearer(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized: Bearer access_token required");
    };
    let (grant, user_id) = {
        let st = sb.lock();
        match st.tapd_tokens.get(&token) {
            Some(t) if t.expiry.live() => (t.grant.clone(), t.user_id.clone()),
            Some(_) => return error(StatusCode::UNAUTHORIZED, "Unauthorized: access_token expired"),
            None => return error(StatusCode::UNAUTHORIZED, "Unauthorized: invalid access_token"),
        }
    };
    let workspace = match &grant {
        TapdGrant::Workspace(ws) => ws.clone(),
        TapdGrant::App => return error(StatusCode::FORBIDDEN, "a user access_token is required"),
    };
    if let Err(r) = authorize_api(&sb, &headers, &workspace) {
        return r;
    }
    let id = user_id.unwrap_or_else(|| TAPD_USER_ID.to_owned());
    let user = sb.lock().tapd_users.get(&id).cloned();
    // A consent by an id nobody seeded: a user named after the id.
    let user = user.unwrap_or_else(|| TapdUser { nick: format!("user{id}"), name: String::new(), id: id.clone() });
    ok(json!({
        "id": user.id,
        "nick": user.nick,
        "name": user.name,
        "avatar": format!("https://www.tapd.cn/users/avatar/{}", user.id),
        "enabled": "1",
    }))
}

async fn workspace_users(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    let ws = q.get("workspace_id").cloned().unwrap_or_default();
    if let Err(r) = authorize_api(&sb, &headers, &ws) {
        return r;
    }
    let wanted: Option<Vec<&str>> =
        q.get("fields").filter(|f| !f.trim().is_empty()).map(|f| f.split(',').map(str::trim).collect());
    let (members, users) = {
        let st = sb.lock();
        (st.members.get(&ws).cloned().unwrap_or_else(default_members), st.tapd_users.clone())
    };
    let rows: Vec<Value> = members
        .iter()
        .map(|(nick, role_ids)| {
            let name = users.values().find(|u| &u.nick == nick).map(|u| u.name.clone()).unwrap_or_default();
            let full = json!({
                "user": nick,
                "role_id": role_ids,
                "name": name,
                "join_project_time": "2024-09-10",
                "real_join_time": "2024-09-10",
                "status": "1",
                "allocation": "100",
            });
            let member = match &wanted {
                Some(keys) => {
                    let Value::Object(map) = full else { unreachable!("built as an object") };
                    Value::Object(map.into_iter().filter(|(k, _)| keys.contains(&k.as_str())).collect())
                }
                None => full,
            };
            json!({ "UserWorkspace": member })
        })
        .collect();
    ok(Value::Array(rows))
}

async fn roles(State(sb): State<Sandbox>, headers: HeaderMap, Query(q): Q) -> Response {
    let ws = q.get("workspace_id").cloned().unwrap_or_default();
    if let Err(r) = authorize_api(&sb, &headers, &ws) {
        return r;
    }
    ok(Value::Object(ROLES.iter().map(|(id, name)| ((*id).to_owned(), json!(name))).collect()))
}

async fn add_user(State(sb): State<Sandbox>, Json(u): Json<TapdUser>) -> StatusCode {
    sb.add_tapd_user(&u.id, &u.nick, &u.name);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct SetMember {
    workspace_id: String,
    nick: String,
    role_ids: Vec<String>,
}

async fn set_member(State(sb): State<Sandbox>, Json(m): Json<SetMember>) -> StatusCode {
    sb.set_member(&m.workspace_id, &m.nick, &m.role_ids);
    StatusCode::NO_CONTENT
}

impl Sandbox {
    /// Adds (or renames) a TAPD user.
    pub fn add_tapd_user(&self, id: &str, nick: &str, name: &str) {
        self.lock().tapd_users.insert(id.into(), TapdUser { id: id.into(), nick: nick.into(), name: name.into() });
    }

    /// Sets one member's roles in a workspace (`[]` removes them); the workspace's other
    /// members keep theirs (the default membership, if it had none set).
    pub fn set_member(&self, workspace_id: &str, nick: &str, role_ids: &[String]) {
        let mut st = self.lock();
        let members = st.members.entry(workspace_id.to_owned()).or_insert_with(default_members);
        if role_ids.is_empty() {
            members.remove(nick);
        } else {
            members.insert(nick.to_owned(), role_ids.to_vec());
        }
    }
}
