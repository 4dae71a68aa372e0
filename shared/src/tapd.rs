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

/// What a TAPD token was issued for. TAPD's documented user-authorization reply (seed
/// `002`) is `{"type":"user","workspace_id":1000142421}`, the app-install flow says
/// `type: workspace`, client credentials say `open_app_auth`: the authorized workspace is
/// `workspace_id` whatever the type, and a resource without one names no workspace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TapdResource {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<WorkspaceId>,
}

impl<'de> Deserialize<'de> for TapdResource {
    /// Lenient on purpose: a resource TAPD words differently (an id of `0`, a field we do
    /// not know) must not turn a good token reply into an error; it just names no workspace.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or_default().to_owned();
        let workspace_id = match v.get("workspace_id") {
            Some(serde_json::Value::String(s)) => WorkspaceId::parse(s).ok(),
            Some(serde_json::Value::Number(n)) => WorkspaceId::parse(&n.to_string()).ok(),
            _ => None,
        }
        .filter(|w| w.as_str().bytes().any(|b| b != b'0'));
        Ok(Self { kind, workspace_id })
    }
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
    /// The workspace the token was issued for, if TAPD named one.
    pub fn workspace(&self) -> Option<&WorkspaceId> {
        self.resource.as_ref().and_then(|r| r.workspace_id.as_ref())
    }

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

/// What the product reads of an item. TAPD sends every value as a string; the ones the
/// product shows (owner, priority, iteration) are kept as TAPD wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapdItem {
    pub id: ItemId,
    /// `name` (stories, tasks) or `title` (legacy bugs).
    pub name: String,
    /// HTML, as people wrote it in TAPD.
    pub description: String,
    pub owner: String,
    pub priority: String,
    pub iteration_id: String,
    /// `Y-m-d H:i:s`, Asia/Shanghai.
    pub created: String,
}

#[derive(Deserialize)]
struct RawItem {
    id: ItemId,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    description: String,
    #[serde(default, deserialize_with = "loose_string")]
    owner: String,
    /// Bugs name their owner `current_owner`.
    #[serde(default, deserialize_with = "loose_string")]
    current_owner: String,
    #[serde(default, deserialize_with = "loose_string")]
    priority: String,
    #[serde(default, deserialize_with = "loose_string")]
    iteration_id: String,
    #[serde(default, deserialize_with = "loose_string")]
    created: String,
}

impl From<RawItem> for TapdItem {
    fn from(raw: RawItem) -> Self {
        let name = raw.name.filter(|n| !n.is_empty()).or(raw.title).unwrap_or_default();
        TapdItem {
            id: raw.id,
            name,
            description: raw.description,
            owner: if raw.owner.is_empty() { raw.current_owner } else { raw.owner },
            priority: raw.priority,
            iteration_id: raw.iteration_id,
            created: raw.created,
        }
    }
}

/// A field TAPD may send as a string, a number or `null`: read as text, never an error.
fn loose_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// TAPD's page size limit for list calls (`limit` ≤ 200; the default is 30).
pub const MAX_PAGE: usize = 200;

/// One comment, as the product reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapdComment {
    pub id: String,
    pub description: String,
}

pub struct TapdClient {
    pub(crate) http: reqwest::Client,
    pub(crate) cfg: TapdConfig,
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

    /// One page (1-based) of an item's comments, newest first, [`MAX_PAGE`] at a time.
    pub async fn comments_page(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
        page: u32,
    ) -> Result<Vec<TapdComment>, UpstreamError> {
        let (limit, page) = (MAX_PAGE.to_string(), page.to_string());
        let req = self.http.get(format!("{}/comments", self.cfg.api_base)).bearer_auth(token.expose()).query(&[
            ("workspace_id", workspace.as_str()),
            ("entry_type", kind.comment_entry_type()),
            ("entry_id", id.as_str()),
            ("order", "created desc"),
            ("limit", limit.as_str()),
            ("page", page.as_str()),
        ]);
        let (status, body) = upstream::send(S, req).await?;
        comment_list_reply(status, &body)
    }

    /// The first of an item's comments that `matches`, looking through every page: TAPD
    /// answers 30 a page unless asked for more, and a busy item has more than that.
    pub async fn find_comment(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
        matches: impl Fn(&TapdComment) -> bool,
    ) -> Result<Option<TapdComment>, UpstreamError> {
        for page in 1.. {
            let rows = self.comments_page(token, workspace, kind, id, page).await?;
            let full = rows.len() >= MAX_PAGE;
            if let Some(found) = rows.into_iter().find(|c| matches(c)) {
                return Ok(Some(found));
            }
            if !full {
                break;
            }
        }
        Ok(None)
    }

    /// One page (1-based) of a workspace's items of `kind` created at or after `since_ms`
    /// (Unix milliseconds; TAPD's times have whole seconds), oldest first, [`MAX_PAGE`] at a time.
    pub async fn list_created_since(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        since_ms: u64,
        page: u32,
    ) -> Result<Vec<TapdItem>, UpstreamError> {
        let (limit, page, created) = (MAX_PAGE.to_string(), page.to_string(), crate::time::tapd_at_or_after(since_ms));
        let req =
            self.http.get(format!("{}/{}", self.cfg.api_base, kind.api_path())).bearer_auth(token.expose()).query(&[
                ("workspace_id", workspace.as_str()),
                ("created", created.as_str()),
                ("order", "created asc"),
                ("fields", "id,name,title,created"),
                ("limit", limit.as_str()),
                ("page", page.as_str()),
            ]);
        let (status, body) = upstream::send(S, req).await?;
        item_list_reply(status, &body, kind)
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
        update_reply(status, &body)
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

/// A read by id. TAPD answers `data: []` when it has no such item; a reply that is not a
/// list (`""`, `{}`, a greeting) says nothing about the item, so it is an error (retried,
/// then looked at again), never "the item is gone".
fn item_reply(status: u16, body: &[u8], kind: ItemKind, id: &ItemId) -> Result<Option<TapdItem>, UpstreamError> {
    let data: serde_json::Value = api(status, body)?;
    if !data.is_array() {
        return Err(UpstreamError::Malformed { service: S, detail: "a read by id answered without a list".into() });
    }
    Ok(items_of(list_rows(data)?, kind)?.into_iter().find(|item| &item.id == id))
}

fn item_list_reply(status: u16, body: &[u8], kind: ItemKind) -> Result<Vec<TapdItem>, UpstreamError> {
    items_of(list_rows(api(status, body)?)?, kind)
}

fn items_of(
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
    kind: ItemKind,
) -> Result<Vec<TapdItem>, UpstreamError> {
    let mut items = Vec::new();
    for row in rows {
        let Some(raw) = row.get(kind.wrapper()) else { continue };
        let raw: RawItem = serde_json::from_value(raw.clone())
            .map_err(|_| UpstreamError::Malformed { service: S, detail: "item without a valid id".into() })?;
        items.push(raw.into());
    }
    Ok(items)
}

/// An update answers the item (`data: {"Story":{...}}`): anything but an object (TAPD's
/// greeting of a misspelt path is a string) is not a done update.
fn update_reply(status: u16, body: &[u8]) -> Result<(), UpstreamError> {
    api::<serde_json::Map<String, serde_json::Value>>(status, body).map(|_| ())
}

fn comment_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
    let data: CommentData = api(status, body)?;
    Ok(id_string(&data.comment.id))
}

fn comment_list_reply(status: u16, body: &[u8]) -> Result<Vec<TapdComment>, UpstreamError> {
    Ok(list_rows(api(status, body)?)?
        .into_iter()
        .filter_map(|row| serde_json::from_value::<CommentData>(serde_json::Value::Object(row)).ok())
        .map(|c| TapdComment { id: id_string(&c.comment.id), description: c.comment.description.unwrap_or_default() })
        .collect())
}

/// The reply parsers, for the fuzz targets in `fuzz/`: not an API.
#[cfg(feature = "fuzzing")]
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

    pub fn comment_list_reply(status: u16, body: &[u8]) -> Result<Vec<TapdComment>, UpstreamError> {
        super::comment_list_reply(status, body)
    }

    pub fn item_list_reply(status: u16, body: &[u8], kind: ItemKind) -> Result<Vec<TapdItem>, UpstreamError> {
        super::item_list_reply(status, body, kind)
    }

    pub fn update_reply(status: u16, body: &[u8]) -> Result<(), UpstreamError> {
        super::update_reply(status, body)
    }
}

/// The rows of a list reply: an array of wrapped objects (`[{"Story":{...}}]`), or one of the
/// empty forms TAPD answers in places (`""`, `{}`). Anything else (TAPD's `"Hello world from
/// TAPD API..."` of a misspelt path among them) is malformed: reading it as "no rows" would
/// make an existing item look deleted. A read by id is stricter ([`item_reply`]).
pub(crate) fn list_rows(
    data: serde_json::Value,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, UpstreamError> {
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

/// [`envelope`] for API calls (not the token endpoints): a dead token is also TAPD's `422`
/// "The access token provided is invalid" (field reports), renewed like a `401`.
fn api<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, UpstreamError> {
    if dead_token(status, body) {
        return Err(UpstreamError::Unauthorized { service: S });
    }
    envelope(status, body)
}

/// A `422` that names the access token: in TAPD's envelope (`info`), in OAuth2's own error
/// shape (`error: invalid_token`, `error_description`), or as bare text. Any other `422` is
/// a refusal like any other.
fn dead_token(status: u16, body: &[u8]) -> bool {
    const SAYS: &str = "access token provided is invalid";
    if status != 422 {
        return false;
    }
    let says = |t: &str| t.to_ascii_lowercase().contains(SAYS);
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            ["info", "error_description", "message", "msg"]
                .iter()
                .any(|k| v.get(k).and_then(|t| t.as_str()).is_some_and(says))
                || v.get("error").and_then(|e| e.as_str()) == Some("invalid_token")
        }
        Err(_) => says(&String::from_utf8_lossy(&body[..body.len().min(1024)])),
    }
}

/// Turns a reply into `data`, or the matching error. The envelope is read loosely first:
/// error replies carry `data: ""` whatever the success shape is.
pub(crate) fn envelope<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, UpstreamError> {
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

    const HELLO: &str =
        r#"{"status":1,"data":"Hello world from TAPD API, you may have mistyped the path","info":"success"}"#;

    fn story_id() -> ItemId {
        ItemId::parse("1120003271001000028").unwrap()
    }

    #[test]
    fn a_read_by_id_is_absent_only_on_a_list_without_the_item() {
        let one = r#"{"status":1,"data":[{"Story":{"id":"1120003271001000028","name":"n"}}],"info":"success"}"#;
        assert_eq!(item_reply(200, one.as_bytes(), ItemKind::Story, &story_id()).unwrap().unwrap().name, "n");
        for absent in [r#"{"status":1,"data":[],"info":"success"}"#, &one.replace("1120003271001000028", "1")] {
            assert_eq!(item_reply(200, absent.as_bytes(), ItemKind::Story, &story_id()), Ok(None), "{absent}");
        }
        // Empty or unreadable replies say nothing about the item: an error, never "gone".
        for unknown in [
            r#"{"status":1,"data":"","info":"success"}"#,
            r#"{"status":1,"data":{},"info":"success"}"#,
            r#"{"status":1,"info":"success"}"#,
            HELLO,
        ] {
            let got = item_reply(200, unknown.as_bytes(), ItemKind::Story, &story_id());
            assert!(matches!(got, Err(UpstreamError::Malformed { .. })), "{unknown}: {got:?}");
        }
    }

    #[test]
    fn the_hello_world_of_a_misspelt_path_is_never_data() {
        assert!(matches!(item_list_reply(200, HELLO.as_bytes(), ItemKind::Bug), Err(UpstreamError::Malformed { .. })));
        assert!(matches!(comment_list_reply(200, HELLO.as_bytes()), Err(UpstreamError::Malformed { .. })));
        assert!(matches!(comment_reply(200, HELLO.as_bytes()), Err(UpstreamError::Malformed { .. })));
        assert!(matches!(update_reply(200, HELLO.as_bytes()), Err(UpstreamError::Malformed { .. })));
        assert_eq!(update_reply(200, br#"{"status":1,"data":{"Story":{"id":"1"}},"info":"success"}"#), Ok(()));
        assert!(token_reply(200, HELLO.as_bytes()).is_err());
    }

    #[test]
    fn a_422_naming_the_access_token_is_a_dead_token_on_api_calls_only() {
        let dead = [
            r#"{"status":0,"data":"","info":"The access token provided is invalid"}"#,
            r#"{"error":"invalid_token","error_description":"The access token provided is invalid"}"#,
            "The access token provided is invalid",
        ];
        for body in dead {
            let unauthorized = UpstreamError::Unauthorized { service: S };
            assert_eq!(comment_reply(422, body.as_bytes()), Err(unauthorized.clone()), "{body}");
            assert_eq!(item_reply(422, body.as_bytes(), ItemKind::Story, &story_id()), Err(unauthorized.clone()));
            assert_eq!(update_reply(422, body.as_bytes()), Err(unauthorized));
            // A token endpoint's 422 is about the request, not a token to renew.
            let token = token_reply(422, body.as_bytes());
            assert!(token.is_err() && !matches!(token, Err(UpstreamError::Unauthorized { .. })), "{body}");
        }
        let other = r#"{"status":0,"data":"","info":"description is too long"}"#;
        assert!(matches!(comment_reply(422, other.as_bytes()), Err(UpstreamError::Refused { status: 422, .. })));
        // The same words in a 200 or a 400 are not a 422.
        assert!(matches!(comment_reply(400, dead[0].as_bytes()), Err(UpstreamError::Refused { status: 400, .. })));
    }

    /// TAPD's documented replies (tests/fixtures, sources in its README) read as the
    /// product reads them.
    mod fixtures {
        use super::*;

        const TOKEN_USER: &str = include_str!("../../tests/fixtures/tapd/token_authorization_code.json");
        const TOKEN_APP: &str = include_str!("../../tests/fixtures/tapd/token_client_credentials.json");
        const COMMENT_ADD: &str = include_str!("../../tests/fixtures/tapd/comment_add_reply.json");
        const COMMENTS: &str = include_str!("../../tests/fixtures/tapd/comments_get_reply.json");
        const RATE_LIMITED: &str = include_str!("../../tests/fixtures/tapd/rate_limited_reply.json");

        #[test]
        fn the_seeds_user_token_names_its_workspace_although_its_type_is_user() {
            let token = token_reply(200, TOKEN_USER.as_bytes()).unwrap();
            assert_eq!(token.access_token.expose(), "7152e30d9c5b1310df6be03d88d714aaf687a595");
            assert_eq!(token.workspace().map(WorkspaceId::as_str), Some("1000142421"));
            assert_eq!(token.resource.as_ref().map(|r| r.kind.as_str()), Some("user"));
            assert!(token.expires_within(7200) && !token.expires_within(7000));
            // The install flow's `workspace` type, and a user resource naming no workspace.
            let workspace = TOKEN_USER.replace(r#""type": "user""#, r#""type": "workspace""#);
            assert!(token_reply(200, workspace.as_bytes()).unwrap().workspace().is_some());
            let user_only = TOKEN_USER.replace(r#""workspace_id": 1000142421"#, r#""user_id": "1000142421""#);
            assert_eq!(token_reply(200, user_only.as_bytes()).unwrap().workspace(), None);
        }

        #[test]
        fn the_app_token_names_no_workspace() {
            let token = token_reply(200, TOKEN_APP.as_bytes()).unwrap();
            assert_eq!(token.workspace(), None);
            assert_eq!(token.resource.unwrap().kind, "open_app_auth");
        }

        #[test]
        fn comments_read_as_documented() {
            assert_eq!(comment_reply(200, COMMENT_ADD.as_bytes()).unwrap(), "1020355782058781915");
            let listed = comment_list_reply(200, COMMENTS.as_bytes()).unwrap();
            assert_eq!(
                listed,
                vec![TapdComment {
                    id: "1010104801048492751".into(),
                    description: "<b><i><u>adfasd</u></i></b>".into()
                }]
            );
        }

        #[test]
        fn the_rate_limit_reply_is_a_rate_limit() {
            assert_eq!(comment_reply(429, RATE_LIMITED.as_bytes()), Err(UpstreamError::RateLimited { service: S }));
            // Should TAPD ever send it with a 200, it is still refused, not read as data.
            assert!(matches!(comment_reply(200, RATE_LIMITED.as_bytes()), Err(UpstreamError::Refused { .. })));
        }
    }
}
