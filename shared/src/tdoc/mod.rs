//! Tencent Docs client: OAuth v2 token endpoints and what every OpenAPI reply shares; the calls
//! live by concept in `files`, `folders` and `content`.
//! OpenAPI calls carry three headers (`Access-Token`, `Client-Id`, `Open-Id`), not a Bearer.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use std::sync::atomic::{AtomicU8, Ordering};

use crate::client_secret::with_client_secret;
use crate::config::TdocConfig;
use crate::ids::OpenId;
use crate::secret::Secret;
use crate::time::now_secs;
use crate::upstream::{self, Service, UpstreamError, by_status, decode, short};

mod content;
mod files;
mod folders;

pub use content::{Block, DocTree, Edit};
pub use files::DocFile;
pub use folders::{DriveEntry, FolderPage};

const S: Service = Service::Tdoc;

/// Tencent Docs limits titles to 36 characters (unconfirmed, so titles are cut to it: a
/// shorter title is always accepted).
pub const TITLE_MAX_CHARS: usize = 36;

/// A Tencent Docs token of one account (the Open-Id).
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct TdocToken {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// Unix seconds.
    pub expires_at: u64,
    pub open_id: OpenId,
}

impl TdocToken {
    pub fn expires_within(&self, margin_secs: u64) -> bool {
        now_secs().saturating_add(margin_secs) >= self.expires_at
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Secret,
    expires_in: u64,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default)]
    user_id: Option<OpenId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub open_id: OpenId,
    pub nick: String,
}

pub struct TdocClient {
    http: reqwest::Client,
    cfg: TdocConfig,
    /// The `batchUpdate` route that last worked ([`BatchRoute`]), for this process.
    batch_route: AtomicU8,
    /// The root folder's listing route that last worked ([`RootRoute`]), for this process.
    root_route: AtomicU8,
}

/// Where `batchUpdate` lives: public sources disagree, only a live call settles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchRoute {
    /// `POST /openapi/doc/v3/{fileID}:batchUpdate` (the docs page; tried first).
    Colon,
    /// `POST /openapi/doc/v3/{fileID}/batchUpdate`, the body also carrying `fileID` (the SDK spec).
    Slash,
}

impl BatchRoute {
    const ALL: [BatchRoute; 2] = [BatchRoute::Colon, BatchRoute::Slash];
}

/// How the root folder is listed: `/folders/%2F` may answer a redirect loop; clients use
/// `/folders/%2F/` or `/folders`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootRoute {
    /// `/openapi/drive/v2/folders/%2F` (the docs page; tried first).
    Plain,
    /// `/openapi/drive/v2/folders/%2F/`.
    TrailingSlash,
    /// `/openapi/drive/v2/folders`.
    NoId,
}

impl RootRoute {
    const ALL: [RootRoute; 3] = [RootRoute::Plain, RootRoute::TrailingSlash, RootRoute::NoId];

    fn path(self) -> &'static str {
        match self {
            RootRoute::Plain => "drive/v2/folders/%2F",
            RootRoute::TrailingSlash => "drive/v2/folders/%2F/",
            RootRoute::NoId => "drive/v2/folders",
        }
    }
}

/// The remembered route first, then the others in their order.
fn routes_from<T: Copy + PartialEq>(all: &[T], remembered: u8) -> Vec<T> {
    let first = all.get(usize::from(remembered)).copied().unwrap_or(all[0]);
    std::iter::once(first).chain(all.iter().copied().filter(|r| *r != first)).collect()
}

/// A reply saying the route itself is unknown (not that the file is): a `3xx` (a redirect
/// loop, or one to another origin, is not followed), `404` or `405` without Tencent Docs'
/// "does not exist" code.
fn unknown_route(status: u16, body: &[u8]) -> bool {
    (300..400).contains(&status) || (matches!(status, 404 | 405) && reply_code(body) != Some(MISSING_CODE))
}

/// Tencent Docs' "file or folder does not exist".
const MISSING_CODE: i64 = 10102;

impl TdocClient {
    pub fn new(http: reqwest::Client, cfg: TdocConfig) -> Self {
        Self { http, cfg, batch_route: AtomicU8::new(0), root_route: AtomicU8::new(0) }
    }

    /// The `batchUpdate` route this process uses now (the one that last worked).
    pub fn batch_route(&self) -> BatchRoute {
        routes_from(&BatchRoute::ALL, self.batch_route.load(Ordering::Relaxed))[0]
    }

    /// The root listing route this process uses now (the one that last worked).
    pub fn root_route(&self) -> RootRoute {
        routes_from(&RootRoute::ALL, self.root_route.load(Ordering::Relaxed))[0]
    }

    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        let mut url = url::Url::parse(&format!("{}/oauth/v2/authorize", self.cfg.base)).expect("validated at init");
        url.query_pairs_mut()
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", &self.cfg.scopes)
            .append_pair("state", state);
        url.into()
    }

    pub async fn exchange_code(&self, code: &Secret, redirect_uri: &str) -> Result<TdocToken, UpstreamError> {
        let token = self
            .token_get(
                "oauth/v2/token",
                &[
                    ("client_id", self.cfg.client_id.as_str()),
                    ("redirect_uri", redirect_uri),
                    ("grant_type", "authorization_code"),
                    ("code", code.expose()),
                ],
            )
            .await?;
        let open_id = token.user_id.clone().ok_or_else(|| malformed("token reply without user_id"))?;
        Ok(into_token(token, open_id, None))
    }

    /// Refreshes `old`; keeps its refresh token when the reply carries none.
    pub async fn refresh(&self, old: &TdocToken) -> Result<TdocToken, UpstreamError> {
        let refresh = old.refresh_token.as_ref().ok_or(UpstreamError::Unauthorized { service: S })?;
        let reply = self
            .token_get(
                "oauth/v2/token",
                &[
                    ("client_id", self.cfg.client_id.as_str()),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose()),
                ],
            )
            .await?;
        let open_id = reply.user_id.clone().unwrap_or_else(|| old.open_id.clone());
        Ok(into_token(reply, open_id, old.refresh_token.clone()))
    }

    /// The app's own account (`scope.auth.account`): no user involved.
    pub async fn app_account_token(&self) -> Result<TdocToken, UpstreamError> {
        let reply = self.token_get("oauth/v2/app-account-token", &[("client_id", self.cfg.client_id.as_str())]).await?;
        let open_id = reply.user_id.clone().ok_or_else(|| malformed("token reply without user_id"))?;
        Ok(into_token(reply, open_id, None))
    }

    /// A token endpoint's GET, with the client secret in force (read again and retried
    /// once when refused: a rotation, [`with_client_secret`]).
    async fn token_get(&self, path: &str, query: &[(&str, &str)]) -> Result<TokenReply, UpstreamError> {
        with_client_secret(&self.cfg.client_secret, || async {
            let secret = self.cfg.client_secret.expose();
            let req = self
                .http
                .get(format!("{}/{path}", self.cfg.base))
                .query(query)
                .query(&[("client_secret", secret.as_str())]);
            let (status, body) = upstream::send(S, req).await?;
            token_reply(status, &body)
        })
        .await
    }

    pub async fn user_info(&self, token: &Secret) -> Result<UserInfo, UpstreamError> {
        let req =
            self.http.get(format!("{}/oauth/v2/userinfo", self.cfg.base)).query(&[("access_token", token.expose())]);
        let (status, body) = upstream::send(S, req).await?;
        user_info_reply(status, &body)
    }

    fn openapi(&self, method: reqwest::Method, path: &str, token: &TdocToken) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/openapi/{path}", self.cfg.base))
            .header("Access-Token", token.access_token.expose())
            .header("Client-Id", &self.cfg.client_id)
            .header("Open-Id", token.open_id.as_str())
    }
}

// Replies are read by pure functions of (HTTP status, body), so they can be fuzzed
// (`fuzz/`) without a server.

fn token_reply(status: u16, body: &[u8]) -> Result<TokenReply, UpstreamError> {
    if (400..500).contains(&status) && status != 429 {
        // A refused code or refresh token: 401 here is about the grant, not a bearer token.
        return Err(refused(status, body));
    }
    if let Some(err) = by_status(S, status) {
        return Err(err);
    }
    // Flat (every client) or wrapped in `{ret, msg, data}` (the SDK spec). Some errors come
    // as 200 with `{ret, msg}` or `{error, error_description}`.
    let mut value: serde_json::Value = decode(S, body)?;
    if value.get("access_token").is_none()
        && value.get("ret").and_then(serde_json::Value::as_i64) == Some(0)
        && let Some(data) = value.get_mut("data").map(serde_json::Value::take)
    {
        value = data;
    }
    if value.get("access_token").is_none() {
        return Err(refused(status, body));
    }
    serde_json::from_value(value).map_err(|_| malformed("token reply of an unexpected shape"))
}

fn user_info_reply(status: u16, body: &[u8]) -> Result<UserInfo, UpstreamError> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "openID")]
        open_id: OpenId,
        #[serde(default)]
        nick: String,
    }
    let data: Data = v2(status, body)?;
    Ok(UserInfo { open_id: data.open_id, nick: data.nick })
}

/// A file's or folder's id: `ID` (every client) or `id` (the SDK spec); `ID` wins if both.
#[derive(Deserialize)]
struct AnyId {
    #[serde(rename = "ID", default)]
    upper: Option<String>,
    #[serde(rename = "id", default)]
    lower: Option<String>,
}

impl AnyId {
    fn get(self) -> String {
        self.upper.filter(|i| !i.is_empty()).or(self.lower).unwrap_or_default()
    }
}

/// A refusal saying the file or folder named does not exist (`ret` 10102, or a 404 that
/// is not an unknown route).
pub fn is_missing(e: &UpstreamError) -> bool {
    match e {
        UpstreamError::Refused { status: 404, detail, .. } => !detail.starts_with(NO_ROUTE),
        UpstreamError::Refused { detail, .. } => detail.ends_with("(code 10102)"),
        _ => false,
    }
}

/// A v2 reply whose `data` the caller does not need (it may be absent or empty).
fn v2_ok(status: u16, body: &[u8]) -> Result<(), UpstreamError> {
    v2::<serde_json::Value>(status, body).map(|_| ()).or_else(|e| match e {
        UpstreamError::Malformed { detail, .. } if detail == "reply without data" => Ok(()),
        e => Err(e),
    })
}

/// The reply parsers, for the fuzz targets in `fuzz/`: not an API.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::*;

    /// A token reply as `exchange_code` reads it (the reply must name the account).
    pub fn token_reply(status: u16, body: &[u8]) -> Result<TdocToken, UpstreamError> {
        let reply = super::token_reply(status, body)?;
        let open_id = reply.user_id.clone().ok_or_else(|| malformed("token reply without user_id"))?;
        Ok(into_token(reply, open_id, None))
    }

    pub fn user_info_reply(status: u16, body: &[u8]) -> Result<UserInfo, UpstreamError> {
        super::user_info_reply(status, body)
    }

    pub fn file_reply(status: u16, body: &[u8]) -> Result<DocFile, UpstreamError> {
        super::files::file_reply(status, body)
    }

    pub fn insert_reply(status: u16, body: &[u8]) -> Result<(), UpstreamError> {
        super::content::insert_reply(status, body)
    }

    pub fn folder_page_reply(status: u16, body: &[u8]) -> Result<FolderPage, UpstreamError> {
        super::folders::folder_page_reply(status, body)
    }

    pub fn doc_text_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
        super::content::doc_text_reply(status, body)
    }

    pub fn doc_tree_reply(status: u16, body: &[u8]) -> Result<super::DocTree, UpstreamError> {
        super::content::doc_tree_reply(status, body)
    }
}

fn into_token(reply: TokenReply, open_id: OpenId, keep_refresh: Option<Secret>) -> TdocToken {
    TdocToken {
        access_token: reply.access_token,
        refresh_token: reply.refresh_token.filter(|r| !r.is_empty()).or(keep_refresh),
        expires_at: now_secs().saturating_add(reply.expires_in),
        open_id,
    }
}

/// Codes Tencent Docs uses for a dead, expired or unknown access token. Whether they come
/// with HTTP 401 or inside an HTTP 200 is not confirmed (public clients refresh on `ret`
/// 37019 in a 200): both read as [`UpstreamError::Unauthorized`], so the token is refreshed.
pub const TOKEN_ERROR_CODES: [i64; 1] = [37019];

/// The `ret` (v2) or `code` (v3) of a reply body, if it has one.
fn reply_code(body: &[u8]) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("ret").or_else(|| v.get("code")).and_then(serde_json::Value::as_i64)
}

/// The classification every OpenAPI reply gets first: a token error whatever the HTTP
/// status, then the status alone.
fn openapi_status(status: u16, body: &[u8]) -> Option<UpstreamError> {
    if reply_code(body).is_some_and(|c| TOKEN_ERROR_CODES.contains(&c)) {
        return Some(UpstreamError::Unauthorized { service: S });
    }
    by_status(S, status)
}

/// A v2 reply `{ret, msg, data}` into `data`.
fn v2<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, UpstreamError> {
    #[derive(Deserialize)]
    struct V2<T> {
        ret: i64,
        #[serde(default = "Option::default")]
        data: Option<T>,
    }
    if let Some(err) = openapi_status(status, body) {
        return Err(err);
    }
    if !(200..300).contains(&status) {
        return Err(refused(status, body));
    }
    let probe: serde_json::Value = decode(S, body)?;
    if probe.get("ret").and_then(|r| r.as_i64()) != Some(0) {
        return Err(refused(status, body));
    }
    let reply: V2<T> = serde_json::from_value(probe).map_err(|_| malformed("reply of an unexpected shape"))?;
    debug_assert_eq!(reply.ret, 0);
    reply.data.ok_or_else(|| malformed("reply without data"))
}

fn refused(status: u16, body: &[u8]) -> UpstreamError {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let msg = ["msg", "message", "error_description", "error"]
        .iter()
        .find_map(|k| v.get(k).and_then(|m| m.as_str()))
        .map(short);
    let code = v.get("ret").or_else(|| v.get("code")).and_then(|c| c.as_i64());
    let detail = match (code, msg) {
        (Some(c), Some(m)) => format!("{m} (code {c})"),
        (None, Some(m)) => m,
        (Some(c), None) => format!("code {c}"),
        (None, None) => format!("HTTP {status}"),
    };
    UpstreamError::Refused { service: S, status, detail }
}

/// Every route was answered as unknown: a refusal (retrying will not find a route), never
/// read as "the file does not exist".
fn no_route(status: u16, body: &[u8], what: &str) -> UpstreamError {
    let detail = match refused(status, body) {
        UpstreamError::Refused { detail, .. } => format!("{what} ({detail})"),
        _ => what.to_owned(),
    };
    UpstreamError::Refused { service: S, status, detail: format!("{NO_ROUTE}{detail}") }
}

/// How [`no_route`]'s refusals begin (a `404` that is not about the file: see [`is_missing`]).
const NO_ROUTE: &str = "route unknown: ";

fn malformed(detail: &str) -> UpstreamError {
    UpstreamError::Malformed { service: S, detail: detail.into() }
}

/// File ids contain `$`: encode everything outside the unreserved set.
fn percent_encode_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::content::{doc_text_reply, insert_reply};
    use super::files::file_reply;
    use super::folders::{folder_page_reply, folder_reply};
    use super::*;

    /// Tencent Docs' documented replies (tests/fixtures, sources in its README).
    const TOKEN: &str = include_str!("../../../tests/fixtures/tdoc/token_authorization_code.json");
    const APP_TOKEN: &str = include_str!("../../../tests/fixtures/tdoc/app_account_token.json");
    const CREATE: &str = include_str!("../../../tests/fixtures/tdoc/create_file_reply.json");
    const CREATE_SEED: &str = include_str!("../../../tests/fixtures/tdoc/create_file_reply_seed000.json");

    #[test]
    fn token_replies_are_flat_and_name_the_account() {
        for (body, open_id) in
            [(TOKEN, "74dc0e3512a24df198474b6d89776649"), (APP_TOKEN, "bcb50c8a4b724d86bbcf6fc64c5e2b22")]
        {
            let reply = token_reply(200, body.as_bytes()).unwrap();
            let token = into_token(reply, OpenId::parse(open_id).unwrap(), None);
            assert!(token.refresh_token.is_some());
            assert!(!token.expires_within(3600));
        }
        let reply = token_reply(200, TOKEN.as_bytes()).unwrap();
        assert_eq!(reply.user_id.unwrap().as_str(), "74dc0e3512a24df198474b6d89776649");
    }

    const FOLDER_LIST: &str = include_str!("../../../tests/fixtures/tdoc/folder_list_reply.json");
    const METADATA: &str = include_str!("../../../tests/fixtures/tdoc/file_metadata_reply.json");
    const CONTENT: &str = include_str!("../../../tests/fixtures/tdoc/doc_content_reply.json");

    #[test]
    fn a_folder_listing_gives_files_and_folders_and_the_next_page() {
        let page = folder_page_reply(200, FOLDER_LIST.as_bytes()).unwrap();
        assert_eq!(page.next, 20);
        assert_eq!(page.entries.len(), 2);
        assert_eq!(page.entries[0].id, "300000000$fclZsEgvOuLD");
        assert_eq!(page.entries[0].title, "按月导出所有项目的成本报表");
        assert_eq!((page.entries[0].kind.as_str(), page.entries[0].created), ("doc", 1795885142));
        assert_eq!(page.entries[1].kind, "folder");
        // The last page; an empty folder; garbage.
        let last = folder_page_reply(200, br#"{"ret":0,"msg":"Succeed","data":{"list":[],"next":0}}"#).unwrap();
        assert_eq!((last.entries.len(), last.next), (0, 0));
        assert_eq!(folder_page_reply(200, br#"{"ret":0,"msg":"Succeed","data":{}}"#).unwrap().next, 0);
        assert!(folder_page_reply(200, br#"{"ret":0,"msg":"Succeed","data":{"list":{},"next":0}}"#).is_err());
        assert!(folder_page_reply(200, br#"{"ret":0,"msg":"Succeed","data":{"list":[],"next":"x"}}"#).is_err());
        assert!(is_missing(&folder_page_reply(404, br#"{"ret":10102,"msg":"folder does not exist"}"#).unwrap_err()));
    }

    #[test]
    fn a_file_s_metadata_reads_like_a_created_file() {
        let file = file_reply(200, METADATA.as_bytes()).unwrap();
        assert_eq!(file.id, "300000000$fclZsEgvOuLD");
        assert!(file.url.starts_with("https://docs.qq.com/doc/D"));
    }

    #[test]
    fn a_doc_s_text_is_every_node_s_text_in_order() {
        let text = doc_text_reply(200, CONTENT.as_bytes()).unwrap();
        assert!(text.starts_with("TAPD 需求：按月导出所有项目的成本报表 https://www.tapd.cn/20375001/"), "{text}");
        assert!(text.contains("/stories/view/1120375001001000101"));
        assert!(matches!(
            doc_text_reply(404, br#"{"code":10102,"message":"file does not exist"}"#),
            Err(UpstreamError::Refused { .. })
        ));
        assert!(matches!(doc_text_reply(200, br#"{"ret":0}"#), Err(UpstreamError::Malformed { .. })));
        assert_eq!(
            doc_text_reply(200, br#"{"code":37019,"message":"token expired"}"#),
            Err(UpstreamError::Unauthorized { service: S })
        );
        // Hostile nesting is refused, never a stack overflow.
        let deep = format!(r#"{{"document":{}{{"text":"x"}}{}}}"#, r#"{"children":["#.repeat(5000), "]}".repeat(5000));
        assert!(matches!(doc_text_reply(200, deep.as_bytes()), Err(UpstreamError::Malformed { .. })));
    }

    #[test]
    fn created_files_give_their_url_as_sent() {
        for body in [CREATE, CREATE_SEED] {
            let file = file_reply(200, body.as_bytes()).unwrap();
            assert!(file.id.starts_with("300000000$"), "{file:?}");
            assert!(file.url.starts_with("https://docs.qq.com/doc/D"), "{file:?}");
        }
    }

    #[test]
    fn a_token_error_is_unauthorized_with_http_401_or_inside_a_200() {
        let dead = br#"{"ret":37019,"msg":"access token invalid"}"#;
        for status in [200, 401] {
            assert_eq!(file_reply(status, dead), Err(UpstreamError::Unauthorized { service: S }), "{status}");
            assert_eq!(insert_reply(status, dead), Err(UpstreamError::Unauthorized { service: S }), "{status}");
            assert_eq!(v2_ok(status, dead), Err(UpstreamError::Unauthorized { service: S }), "{status}");
        }
        let v3 = br#"{"code":37019,"message":"token expired"}"#;
        assert_eq!(insert_reply(200, v3), Err(UpstreamError::Unauthorized { service: S }));
        // Other errors stay refusals.
        assert!(matches!(
            file_reply(200, br#"{"ret":10102,"msg":"no such file"}"#),
            Err(UpstreamError::Refused { .. })
        ));
        assert!(is_missing(&file_reply(200, br#"{"ret":10102,"msg":"no such file"}"#).unwrap_err()));
        assert!(is_missing(&file_reply(404, br#"{"ret":10102,"msg":"folder does not exist"}"#).unwrap_err()));
        assert!(!is_missing(&file_reply(403, br#"{"ret":10103,"msg":"no permission"}"#).unwrap_err()));
        assert_eq!(
            folder_reply(
                200,
                br#"{"ret":0,"msg":"Succeed","data":{"ID":"300000000$Fabc","title":"t","type":"folder"}}"#
            ),
            Ok("300000000$Fabc".into())
        );
        assert_eq!(v2_ok(200, br#"{"ret":0,"msg":"Succeed","data":{}}"#), Ok(()));
        assert_eq!(v2_ok(200, br#"{"ret":0,"msg":"Succeed"}"#), Ok(()));
    }

    /// Wraps a fixture's object in `{ret, msg, data}`, as the SDK spec shows replies.
    fn wrapped(flat: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(flat).unwrap();
        serde_json::json!({ "ret": 0, "msg": "Succeed", "data": v }).to_string()
    }

    /// Renames every `ID` key of a fixture to `id`, as the SDK spec names it.
    fn lower_ids(body: &str) -> String {
        body.replace("\"ID\"", "\"id\"")
    }

    #[test]
    fn token_replies_read_flat_or_wrapped() {
        for body in [TOKEN, APP_TOKEN] {
            let flat = token_reply(200, body.as_bytes()).unwrap();
            let wrapped = token_reply(200, wrapped(body).as_bytes()).unwrap();
            assert_eq!(flat.access_token.expose(), wrapped.access_token.expose());
            assert_eq!(flat.expires_in, wrapped.expires_in);
            assert_eq!(flat.user_id, wrapped.user_id);
            assert!(wrapped.refresh_token.is_some());
        }
        // A wrapped error stays an error; a wrapper without a token too.
        assert!(matches!(
            token_reply(200, br#"{"ret":40002,"msg":"invalid code","data":{}}"#),
            Err(UpstreamError::Refused { .. })
        ));
        assert!(matches!(
            token_reply(200, br#"{"ret":0,"msg":"Succeed","data":{}}"#),
            Err(UpstreamError::Refused { .. })
        ));
    }

    #[test]
    fn ids_read_as_id_or_lowercase_id() {
        for body in [CREATE, CREATE_SEED, METADATA] {
            let upper = file_reply(200, body.as_bytes()).unwrap();
            let lower = file_reply(200, lower_ids(body).as_bytes()).unwrap();
            assert_eq!(upper, lower);
            assert!(lower.id.starts_with("300000000$"));
        }
        let folder = br#"{"ret":0,"msg":"Succeed","data":{"id":"300000000$Fabc","title":"t","type":"folder"}}"#;
        assert_eq!(folder_reply(200, folder), Ok("300000000$Fabc".into()));
        let page = folder_page_reply(200, lower_ids(FOLDER_LIST).as_bytes()).unwrap();
        assert_eq!(page, folder_page_reply(200, FOLDER_LIST.as_bytes()).unwrap());
        // Neither: no id.
        assert!(matches!(
            file_reply(200, br#"{"ret":0,"msg":"Succeed","data":{"url":"https://docs.qq.com/doc/DX"}}"#),
            Err(UpstreamError::Malformed { .. })
        ));
    }

    const CONTENT_OFFSETS: &str = include_str!("../../../tests/fixtures/tdoc/doc_content_offsets_reply.json");

    #[test]
    fn a_doc_read_reads_flat_or_wrapped() {
        for body in [CONTENT, CONTENT_OFFSETS] {
            let flat = doc_text_reply(200, body.as_bytes()).unwrap();
            assert!(!flat.is_empty());
            assert_eq!(doc_text_reply(200, wrapped(body).as_bytes()).unwrap(), flat);
        }
        assert!(matches!(
            doc_text_reply(200, br#"{"ret":0,"msg":"Succeed","data":{}}"#),
            Err(UpstreamError::Malformed { .. })
        ));
        assert!(matches!(
            doc_text_reply(200, br#"{"ret":10102,"msg":"no such file","data":{}}"#),
            Err(UpstreamError::Refused { .. })
        ));
    }

    #[test]
    fn an_unknown_route_is_told_from_a_missing_file() {
        // A redirect (loop or elsewhere), a bare 404 or 405: the route.
        assert!(unknown_route(301, b""));
        assert!(unknown_route(307, b""));
        assert!(unknown_route(404, br#"{"code":404,"message":"not found"}"#));
        assert!(unknown_route(404, b"<html>not found</html>"));
        assert!(unknown_route(405, b""));
        // The file: not the route.
        assert!(!unknown_route(404, br#"{"code":10102,"message":"file does not exist"}"#));
        assert!(!unknown_route(404, br#"{"ret":10102,"msg":"folder does not exist"}"#));
        assert!(!unknown_route(200, b"{}"));
        assert!(!unknown_route(403, br#"{"code":10103}"#));
        // When no route answers, the refusal is not read as a missing file.
        let e = no_route(404, br#"{"code":404,"message":"not found"}"#, "no batchUpdate route answered");
        assert!(matches!(e, UpstreamError::Refused { status: 404, .. }));
        assert!(!is_missing(&e));
        assert!(is_missing(&UpstreamError::Refused { service: S, status: 404, detail: "HTTP 404".into() }));
    }

    #[test]
    fn routes_are_tried_remembered_first() {
        assert_eq!(routes_from(&BatchRoute::ALL, 0), [BatchRoute::Colon, BatchRoute::Slash]);
        assert_eq!(routes_from(&BatchRoute::ALL, 1), [BatchRoute::Slash, BatchRoute::Colon]);
        assert_eq!(routes_from(&RootRoute::ALL, 2), [RootRoute::NoId, RootRoute::Plain, RootRoute::TrailingSlash]);
        assert_eq!(routes_from(&RootRoute::ALL, 9)[0], RootRoute::Plain);
    }
}
