//! TAPD client: OAuth token endpoints and the few API calls the product makes.
//! Every reply is the envelope `{status, data, info}`; `status != 1` is an error.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::TapdConfig;
use crate::ids::{ItemId, ItemKind, WorkspaceId};
use crate::secret::Secret;
use crate::time::now_secs;
use crate::upstream::{self, Service, UpstreamError, by_status, decode, short};

const S: Service = Service::Tapd;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TapdResource {
    Workspace {
        workspace_id: WorkspaceId,
    },
    User {
        user_id: serde_json::Value,
    },
    OpenAppAuth {
        app_id: serde_json::Value,
    },
    #[serde(other)]
    Other,
}

/// A TAPD access token with what it was issued for.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct TapdToken {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// Unix seconds.
    pub expires_at: u64,
    pub resource: Option<TapdResource>,
}

impl TapdToken {
    /// True when the token is gone or will be within `margin_secs`.
    pub fn expires_within(&self, margin_secs: u64) -> bool {
        now_secs().saturating_add(margin_secs) >= self.expires_at
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: i64,
    #[serde(default = "Option::default")]
    data: Option<T>,
    #[serde(default)]
    info: serde_json::Value,
}

#[derive(Deserialize)]
struct TokenData {
    access_token: Secret,
    expires_in: u64,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default)]
    resource: Option<TapdResource>,
}

/// What the product reads of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapdItem {
    pub id: ItemId,
    pub name: String,
}

#[derive(Deserialize)]
struct RawItem {
    id: ItemId,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

pub struct TapdClient {
    http: reqwest::Client,
    cfg: TapdConfig,
}

impl TapdClient {
    pub fn new(http: reqwest::Client, cfg: TapdConfig) -> Self {
        Self { http, cfg }
    }

    pub fn config(&self) -> &TapdConfig {
        &self.cfg
    }

    /// The authorization page for a user to grant a workspace (`auth_by=user`).
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        let mut url = url::Url::parse(&self.cfg.authorize_url).expect("validated at init");
        // Configured URLs are stored without a trailing slash, but it matters to TAPD: put it
        // back, keeping whatever prefix the configured path has.
        if url.path().ends_with("/oauth") {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.cfg.scopes)
            .append_pair("state", state)
            .append_pair("auth_by", "user");
        url.into()
    }

    pub async fn exchange_code(&self, code: &Secret, redirect_uri: &str) -> Result<TapdToken, UpstreamError> {
        self.token_request(
            "tokens/request_token",
            &[("grant_type", "authorization_code"), ("redirect_uri", redirect_uri), ("code", code.expose())],
        )
        .await
    }

    /// The app's own token (`client_credentials`), for API calls on any workspace the app is in.
    pub async fn app_token(&self) -> Result<TapdToken, UpstreamError> {
        self.token_request("tokens/request_token", &[("grant_type", "client_credentials")]).await
    }

    pub async fn refresh(&self, refresh_token: &Secret) -> Result<TapdToken, UpstreamError> {
        self.token_request(
            "tokens/refresh_token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose())],
        )
        .await
    }

    async fn token_request(&self, path: &str, form: &[(&str, &str)]) -> Result<TapdToken, UpstreamError> {
        let req = self
            .http
            .post(format!("{}/{path}", self.cfg.api_base))
            .basic_auth(&self.cfg.client_id, Some(self.cfg.client_secret.expose()))
            .form(form);
        let (status, body) = upstream::send(S, req).await?;
        token_reply(status, &body)
    }

    /// Fetches one item; `Ok(None)` when TAPD has no such item in the workspace.
    pub async fn get_item(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
    ) -> Result<Option<TapdItem>, UpstreamError> {
        let req = self
            .http
            .get(format!("{}/{}", self.cfg.api_base, kind.api_path()))
            .bearer_auth(token.expose())
            .query(&[("workspace_id", workspace.as_str()), ("id", id.as_str())]);
        let (status, body) = upstream::send(S, req).await?;
        item_reply(status, &body, kind, id)
    }

    /// Adds a comment on an item; returns the comment id.
    pub async fn add_comment(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
        description: &str,
        author: &str,
    ) -> Result<String, UpstreamError> {
        let req = self.http.post(format!("{}/comments", self.cfg.api_base)).bearer_auth(token.expose()).form(&[
            ("workspace_id", workspace.as_str()),
            ("entry_type", kind.comment_entry_type()),
            ("entry_id", id.as_str()),
            ("description", description),
            ("author", author),
        ]);
        let (status, body) = upstream::send(S, req).await?;
        comment_reply(status, &body)
    }

    /// The descriptions of an item's comments, to find one posted by an attempt that died
    /// before recording it.
    pub async fn comment_descriptions(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
    ) -> Result<Vec<(String, String)>, UpstreamError> {
        let req = self.http.get(format!("{}/comments", self.cfg.api_base)).bearer_auth(token.expose()).query(&[
            ("workspace_id", workspace.as_str()),
            ("entry_type", kind.comment_entry_type()),
            ("entry_id", id.as_str()),
        ]);
        let (status, body) = upstream::send(S, req).await?;
        comment_list_reply(status, &body)
    }

    /// Sets one field (a custom field) of an item.
    pub async fn update_field(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
        field: &str,
        value: &str,
    ) -> Result<(), UpstreamError> {
        let req = self
            .http
            .post(format!("{}/{}", self.cfg.api_base, kind.api_path()))
            .bearer_auth(token.expose())
            .form(&[("workspace_id", workspace.as_str()), ("id", id.as_str()), (field, value)]);
        let (status, body) = upstream::send(S, req).await?;
        envelope::<serde_json::Value>(status, &body).map(|_| ())
    }
}

// Replies are read by pure functions of (HTTP status, body), so they can be fuzzed
// (`fuzz/`) without a server.

fn token_reply(status: u16, body: &[u8]) -> Result<TapdToken, UpstreamError> {
    // On token endpoints a 401 is about the app's credentials or the code, not a token.
    if status == 401 {
        return Err(refused(status, body));
    }
    let data: TokenData = envelope(status, body)?;
    Ok(TapdToken {
        access_token: data.access_token,
        refresh_token: data.refresh_token,
        expires_at: now_secs().saturating_add(data.expires_in),
        resource: data.resource,
    })
}

fn item_reply(status: u16, body: &[u8], kind: ItemKind, id: &ItemId) -> Result<Option<TapdItem>, UpstreamError> {
    for row in list_rows(envelope(status, body)?)? {
        let Some(raw) = row.get(kind.wrapper()) else { continue };
        let raw: RawItem = serde_json::from_value(raw.clone())
            .map_err(|_| UpstreamError::Malformed { service: S, detail: "item without a valid id".into() })?;
        if &raw.id == id {
            let name = raw.name.or(raw.title).unwrap_or_default();
            return Ok(Some(TapdItem { id: raw.id, name }));
        }
    }
    Ok(None)
}

fn comment_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
    let data: CommentData = envelope(status, body)?;
    Ok(id_string(&data.comment.id))
}

fn comment_list_reply(status: u16, body: &[u8]) -> Result<Vec<(String, String)>, UpstreamError> {
    Ok(list_rows(envelope(status, body)?)?
        .into_iter()
        .filter_map(|row| serde_json::from_value::<CommentData>(serde_json::Value::Object(row)).ok())
        .map(|c| (id_string(&c.comment.id), c.comment.description.unwrap_or_default()))
        .collect())
}

/// The reply parsers, for the fuzz targets in `fuzz/`: not an API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    pub fn token_reply(status: u16, body: &[u8]) -> Result<TapdToken, UpstreamError> {
        super::token_reply(status, body)
    }

    pub fn item_reply(
        status: u16,
        body: &[u8],
        kind: ItemKind,
        id: &ItemId,
    ) -> Result<Option<TapdItem>, UpstreamError> {
        super::item_reply(status, body, kind, id)
    }

    pub fn comment_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
        super::comment_reply(status, body)
    }

    pub fn comment_list_reply(status: u16, body: &[u8]) -> Result<Vec<(String, String)>, UpstreamError> {
        super::comment_list_reply(status, body)
    }

    pub fn update_reply(status: u16, body: &[u8]) -> Result<(), UpstreamError> {
        envelope::<serde_json::Value>(status, body).map(|_| ())
    }
}

/// The rows of a list reply: an array of wrapped objects (`[{"Story":{...}}]`), or one of the
/// empty forms TAPD answers in places (`""`, `{}`). Anything else is malformed: reading it as
/// "no rows" would make an existing item look deleted.
fn list_rows(data: serde_json::Value) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, UpstreamError> {
    let malformed = || UpstreamError::Malformed { service: S, detail: "list of an unexpected shape".into() };
    match data {
        serde_json::Value::Array(rows) => rows
            .into_iter()
            .map(|row| match row {
                serde_json::Value::Object(map) => Ok(map),
                _ => Err(malformed()),
            })
            .collect(),
        serde_json::Value::String(s) if s.is_empty() => Ok(Vec::new()),
        serde_json::Value::Object(map) if map.is_empty() => Ok(Vec::new()),
        _ => Err(malformed()),
    }
}

#[derive(Deserialize)]
struct CommentData {
    #[serde(rename = "Comment")]
    comment: RawComment,
}

#[derive(Deserialize)]
struct RawComment {
    id: serde_json::Value,
    #[serde(default)]
    description: Option<String>,
}

fn id_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Turns a reply into `data`, or the matching error. The envelope is read loosely first:
/// error replies carry `data: ""` whatever the success shape is.
fn envelope<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, UpstreamError> {
    if let Some(err) = by_status(S, status) {
        return Err(err);
    }
    let env: Envelope<serde_json::Value> = decode(S, body)?;
    if env.status != 1 || !(200..300).contains(&status) {
        return Err(refused(status, body));
    }
    let data = env.data.ok_or_else(|| UpstreamError::Malformed { service: S, detail: "reply without data".into() })?;
    serde_json::from_value(data)
        .map_err(|_| UpstreamError::Malformed { service: S, detail: "data of an unexpected shape".into() })
}

fn refused(status: u16, body: &[u8]) -> UpstreamError {
    let info = serde_json::from_slice::<Envelope<serde_json::Value>>(body)
        .ok()
        .and_then(|e| e.info.as_str().map(short))
        .unwrap_or_else(|| format!("HTTP {status}"));
    UpstreamError::Refused { service: S, status, detail: info }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_rows_accepts_lists_and_the_empty_forms_only() {
        assert_eq!(list_rows(json!([{"Story": {"id": "1"}}])).unwrap().len(), 1);
        for empty in [json!([]), json!(""), json!({})] {
            assert!(list_rows(empty.clone()).unwrap().is_empty(), "{empty}");
        }
        for bad in [json!({"unexpected": true}), json!(5), json!("x"), json!([1]), json!(true)] {
            assert!(matches!(list_rows(bad.clone()), Err(UpstreamError::Malformed { .. })), "{bad}");
        }
    }
}
