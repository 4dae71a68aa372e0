//! Who may steer a workspace: connect it, rebind it, sign in to its console.
//!
//! TAPD says who consented (`GET /users/info`, answered for user tokens only), who the
//! workspace's members are and which roles each holds (`GET /workspaces/users`), and what each
//! role is called (`GET /roles`): the workspace's admins are the members holding a role named
//! [`ADMIN_ROLE`]. Role ids differ between workspaces and companies, so the name decides, never
//! an id. The operator may name more people per workspace (`tapdocs workspace admins`), by TAPD
//! nick or user id. Anything TAPD answers that is not the documented shape refuses: a person is
//! let in only on a reply that proves it (fail closed).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ids::WorkspaceId;
use crate::secret::Secret;
use crate::store::{Store, StoreError};
use crate::tapd::{TapdClient, envelope, list_rows};
use crate::upstream::{self, Service, UpstreamError};

/// The role TAPD gives a workspace's administrators (`/roles`, TAPD's own name for it).
pub const ADMIN_ROLE: &str = "管理员";

/// The TAPD user who consented, as `/users/info` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapdUser {
    pub id: String,
    /// The login name: what `/workspaces/users` calls `user`, and what people know each other by.
    pub nick: String,
    /// The display name (often Chinese), when TAPD gives one.
    pub name: String,
}

impl TapdUser {
    /// How the audit and pages name the person: nick, and the display name beside it.
    pub fn label(&self) -> String {
        if self.name.is_empty() || self.name == self.nick {
            format!("{} (TAPD {})", self.nick, self.id)
        } else {
            format!("{} {} (TAPD {})", self.nick, self.name, self.id)
        }
    }
}

/// One member of a workspace and the roles they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub nick: String,
    pub role_ids: Vec<String>,
}

/// Why a person may steer the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// TAPD says they hold the admin role there.
    Admin,
    /// The operator named them (`tapdocs workspace admins add`).
    NamedByOperator,
}

/// A person TAPD and the operator let steer a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steerer {
    pub user: TapdUser,
    pub standing: Standing,
}

/// Why a person may not.
#[derive(Debug, thiserror::Error)]
pub enum SteerError {
    #[error("TAPD user {nick} is not an admin of workspace {workspace}")]
    NotAnAdmin { nick: String, workspace: WorkspaceId },
    /// TAPD refused to say who the person is or what roles they hold (a scope the app lacks,
    /// an app token where a user token is needed): nobody is let in on that.
    #[error("TAPD did not let us read the consenting user's roles: {0}")]
    RolesUnreadable(UpstreamError),
    #[error("{0}")]
    Upstream(UpstreamError),
    #[error("storage is unavailable")]
    Store(#[from] StoreError),
}

impl From<UpstreamError> for SteerError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Refused { .. } | UpstreamError::Unauthorized { .. } => SteerError::RolesUnreadable(e),
            other => SteerError::Upstream(other),
        }
    }
}

/// The decision, on what TAPD and the operator said: an admin by TAPD's roles first (that is
/// what people expect to be the rule), then the operator's names (nick or id).
pub fn standing(
    user: &TapdUser,
    members: &[Member],
    roles: &BTreeMap<String, String>,
    named: &[String],
) -> Option<Standing> {
    let is_admin_role = |id: &String| roles.get(id).is_some_and(|name| name.trim() == ADMIN_ROLE);
    let admin =
        !user.nick.is_empty() && members.iter().any(|m| m.nick == user.nick && m.role_ids.iter().any(is_admin_role));
    if admin {
        return Some(Standing::Admin);
    }
    let named = named.iter().any(|n| !n.is_empty() && (*n == user.nick || *n == user.id));
    named.then_some(Standing::NamedByOperator)
}

/// Asks TAPD (the three reads side by side, with the consenting user's own token) and the
/// store (the operator's names) whether this person may steer `ws`.
pub async fn check(tapd: &TapdClient, store: &Store, token: &Secret, ws: &WorkspaceId) -> Result<Steerer, SteerError> {
    let (user, members, roles, named) =
        tokio::join!(tapd.user_info(token), tapd.members(token, ws), tapd.roles(token, ws), store.named_admins(ws));
    let (user, named) = (user?, named?);
    let standing = match (members, roles) {
        (Ok(members), Ok(roles)) => standing(&user, &members, &roles, &named),
        // The roles could not be read: only the operator's names can let the person in.
        (Err(e), _) | (_, Err(e)) => match standing(&user, &[], &BTreeMap::new(), &named) {
            Some(s) => Some(s),
            None => return Err(e.into()),
        },
    };
    match standing {
        Some(standing) => Ok(Steerer { user, standing }),
        None => Err(SteerError::NotAnAdmin { nick: user.nick, workspace: ws.clone() }),
    }
}

const S: Service = Service::Tapd;

impl TapdClient {
    /// `GET /users/info`: who the token's user is (user tokens only).
    pub async fn user_info(&self, token: &Secret) -> Result<TapdUser, UpstreamError> {
        let req = self.http.get(format!("{}/users/info", self.cfg.api_base)).bearer_auth(token.expose());
        let (status, body) = upstream::send(S, req).await?;
        user_info_reply(status, &body)
    }

    /// `GET /workspaces/users`: the workspace's members with their role ids (TAPD does not page it).
    pub async fn members(&self, token: &Secret, ws: &WorkspaceId) -> Result<Vec<Member>, UpstreamError> {
        let req = self
            .http
            .get(format!("{}/workspaces/users", self.cfg.api_base))
            .bearer_auth(token.expose())
            .query(&[("workspace_id", ws.as_str()), ("fields", "user,role_id")]);
        let (status, body) = upstream::send(S, req).await?;
        members_reply(status, &body)
    }

    /// `GET /roles`: the workspace's role ids and their names.
    pub async fn roles(&self, token: &Secret, ws: &WorkspaceId) -> Result<BTreeMap<String, String>, UpstreamError> {
        let req = self
            .http
            .get(format!("{}/roles", self.cfg.api_base))
            .bearer_auth(token.expose())
            .query(&[("workspace_id", ws.as_str())]);
        let (status, body) = upstream::send(S, req).await?;
        roles_reply(status, &body)
    }
}

fn malformed(detail: &str) -> UpstreamError {
    UpstreamError::Malformed { service: S, detail: detail.into() }
}

/// A value TAPD may send as a string or a number.
fn text(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn user_info_reply(status: u16, body: &[u8]) -> Result<TapdUser, UpstreamError> {
    let data: serde_json::Map<String, serde_json::Value> = envelope(status, body)?;
    let user = TapdUser { id: text(data.get("id")), nick: text(data.get("nick")), name: text(data.get("name")) };
    // A user without a nick cannot be matched to a member: that is not a reply about a user.
    if user.nick.trim().is_empty() {
        return Err(malformed("user info without a nick"));
    }
    Ok(user)
}

fn members_reply(status: u16, body: &[u8]) -> Result<Vec<Member>, UpstreamError> {
    #[derive(Deserialize)]
    struct Row {
        #[serde(rename = "UserWorkspace")]
        member: serde_json::Map<String, serde_json::Value>,
    }
    let mut members = Vec::new();
    for row in list_rows(envelope(status, body)?)? {
        let Ok(Row { member }) = serde_json::from_value(serde_json::Value::Object(row)) else {
            return Err(malformed("member row of an unexpected shape"));
        };
        // Documented as a list of ids; a single id or a `|`/`,` joined string is read too.
        let role_ids = match member.get("role_id") {
            Some(serde_json::Value::Array(ids)) => ids.iter().map(|v| text(Some(v))).collect(),
            Some(v @ (serde_json::Value::String(_) | serde_json::Value::Number(_))) => {
                text(Some(v)).split(['|', ',']).map(|s| s.trim().to_owned()).collect()
            }
            _ => Vec::new(),
        };
        members.push(Member { nick: text(member.get("user")), role_ids });
    }
    Ok(members)
}

fn roles_reply(status: u16, body: &[u8]) -> Result<BTreeMap<String, String>, UpstreamError> {
    // An object of id → name; anything else (TAPD's "Hello world" string on a wrong path) is no
    // answer at all.
    let data: serde_json::Value = envelope(status, body)?;
    let serde_json::Value::Object(map) = data else { return Err(malformed("roles of an unexpected shape")) };
    Ok(map.into_iter().map(|(id, name)| (id, text(Some(&name)))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = include_str!("../../tests/fixtures/tapd/users_info_reply.json");
    const MEMBERS: &str = include_str!("../../tests/fixtures/tapd/workspace_users_reply.json");
    const ROLES: &str = include_str!("../../tests/fixtures/tapd/roles_reply.json");

    fn documented() -> (TapdUser, Vec<Member>, BTreeMap<String, String>) {
        (
            user_info_reply(200, USER.as_bytes()).unwrap(),
            members_reply(200, MEMBERS.as_bytes()).unwrap(),
            roles_reply(200, ROLES.as_bytes()).unwrap(),
        )
    }

    #[test]
    fn the_documented_replies_make_robertyang_an_admin_and_anyechen_not() {
        let (user, members, roles) = documented();
        assert_eq!(user, TapdUser { id: "6081".into(), nick: "robertyang".into(), name: "杨晓俊".into() });
        assert_eq!(members.len(), 2);
        assert_eq!(roles.get("1000000000000000002").map(String::as_str), Some(ADMIN_ROLE));
        assert_eq!(standing(&user, &members, &roles, &[]), Some(Standing::Admin));
        let member = TapdUser { id: "6082".into(), nick: "anyechen".into(), name: "陈安业".into() };
        assert_eq!(standing(&member, &members, &roles, &[]), None);
        // Named by the operator, by nick or by id.
        assert_eq!(standing(&member, &members, &roles, &["anyechen".into()]), Some(Standing::NamedByOperator));
        assert_eq!(standing(&member, &members, &roles, &["6082".into()]), Some(Standing::NamedByOperator));
        assert_eq!(standing(&member, &members, &roles, &["".into()]), None);
    }

    #[test]
    fn the_role_name_decides_not_its_id() {
        let (user, members, mut roles) = documented();
        // Another company's TAPD may number its roles differently: an admin role under
        // another id counts, a renamed role at the usual id does not.
        roles.insert("1000000000000000002".into(), "开发人员".into());
        assert_eq!(standing(&user, &members, &roles, &[]), None);
        roles.insert("1000000000000000009".into(), ADMIN_ROLE.into());
        assert_eq!(standing(&user, &members, &roles, &[]), Some(Standing::Admin));
    }

    #[test]
    fn shapes_that_prove_nothing_refuse() {
        let hello = br#"{"status":1,"data":"Hello world from TAPD API","info":"success"}"#;
        assert!(roles_reply(200, hello).is_err());
        assert!(members_reply(200, hello).is_err());
        assert!(user_info_reply(200, hello).is_err());
        assert!(user_info_reply(200, br#"{"status":1,"data":{"id":"1","nick":""},"info":"success"}"#).is_err());
        assert!(members_reply(200, br#"{"status":1,"data":[{"Other":{}}],"info":"success"}"#).is_err());
        let refused = br#"{"status":0,"data":"","info":"no permission"}"#;
        assert!(matches!(roles_reply(403, refused), Err(UpstreamError::Refused { .. })));
        // No members: nobody is an admin by roles.
        let (user, _, roles) = documented();
        let none = members_reply(200, br#"{"status":1,"data":[],"info":"success"}"#).unwrap();
        assert_eq!(standing(&user, &none, &roles, &[]), None);
    }

    #[test]
    fn role_ids_are_read_in_every_form_tapd_might_send() {
        let body = br#"{"status":1,"data":[
            {"UserWorkspace":{"user":"a","role_id":"1000000000000000002|1000000000000000009"}},
            {"UserWorkspace":{"user":"b","role_id":[1000000000000000002]}},
            {"UserWorkspace":{"user":"c"}}],"info":"success"}"#;
        let members = members_reply(200, body).unwrap();
        assert_eq!(members[0].role_ids, ["1000000000000000002", "1000000000000000009"]);
        assert_eq!(members[1].role_ids, ["1000000000000000002"]);
        assert!(members[2].role_ids.is_empty());
    }

    #[test]
    fn labels_name_the_person() {
        let (user, _, _) = documented();
        assert_eq!(user.label(), "robertyang 杨晓俊 (TAPD 6081)");
        let plain = TapdUser { id: "1".into(), nick: "x".into(), name: String::new() };
        assert_eq!(plain.label(), "x (TAPD 1)");
    }
}
