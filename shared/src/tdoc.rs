//! Tencent Docs client: OAuth v2 token endpoints and the OpenAPI calls the product makes.
//! OpenAPI calls carry three headers (`Access-Token`, `Client-Id`, `Open-Id`), not a Bearer.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::TdocConfig;
use crate::ids::OpenId;
use crate::secret::Secret;
use crate::time::now_secs;
use crate::upstream::{self, Service, UpstreamError, by_status, decode, short};

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
pub struct DocFile {
    pub id: String,
    pub url: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub open_id: OpenId,
    pub nick: String,
}

pub struct TdocClient {
    http: reqwest::Client,
    cfg: TdocConfig,
}

impl TdocClient {
    pub fn new(http: reqwest::Client, cfg: TdocConfig) -> Self {
        Self { http, cfg }
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
                    ("client_secret", self.cfg.client_secret.expose()),
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
                    ("client_secret", self.cfg.client_secret.expose()),
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
        let reply = self
            .token_get(
                "oauth/v2/app-account-token",
                &[("client_id", self.cfg.client_id.as_str()), ("client_secret", self.cfg.client_secret.expose())],
            )
            .await?;
        let open_id = reply.user_id.clone().ok_or_else(|| malformed("token reply without user_id"))?;
        Ok(into_token(reply, open_id, None))
    }

    async fn token_get(&self, path: &str, query: &[(&str, &str)]) -> Result<TokenReply, UpstreamError> {
        let req = self.http.get(format!("{}/{path}", self.cfg.base)).query(query);
        let (status, body) = upstream::send(S, req).await?;
        token_reply(status, &body)
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

    /// Creates a file (`doc`, `sheet`, ...) in `folder`, or the account's root folder.
    pub async fn create_file(
        &self,
        token: &TdocToken,
        title: &str,
        doc_type: &str,
        folder: Option<&str>,
    ) -> Result<DocFile, UpstreamError> {
        let mut form = vec![("title", title), ("type", doc_type)];
        form.extend(folder.map(|f| ("folderID", f)));
        let req = self.openapi(reqwest::Method::POST, "drive/v2/files", token).form(&form);
        let (status, body) = upstream::send(S, req).await?;
        file_reply(status, &body)
    }

    /// Creates a folder (`POST /drive/v2/folders`) in `parent`, or the account's root
    /// folder; its id.
    pub async fn create_folder(
        &self,
        token: &TdocToken,
        title: &str,
        parent: Option<&str>,
    ) -> Result<String, UpstreamError> {
        let mut form = vec![("title", title)];
        form.extend(parent.map(|f| ("parentfolderID", f)));
        let req = self.openapi(reqwest::Method::POST, "drive/v2/folders", token).form(&form);
        let (status, body) = upstream::send(S, req).await?;
        folder_reply(status, &body)
    }

    /// Copies a file (`POST /drive/v2/files/{fileID}/copy`) under `title` into `folder`
    /// (or the root); the copy, answered like a create.
    pub async fn copy_file(
        &self,
        token: &TdocToken,
        file_id: &str,
        title: &str,
        folder: Option<&str>,
    ) -> Result<DocFile, UpstreamError> {
        let path = format!("drive/v2/files/{}/copy", percent_encode_segment(file_id));
        let mut form = vec![("title", title)];
        form.extend(folder.map(|f| ("folderID", f)));
        let req = self.openapi(reqwest::Method::POST, &path, token).form(&form);
        let (status, body) = upstream::send(S, req).await?;
        file_reply(status, &body)
    }

    /// Renames a file (`PATCH /drive/v2/files/{fileID}`).
    pub async fn rename_file(&self, token: &TdocToken, file_id: &str, title: &str) -> Result<(), UpstreamError> {
        let path = format!("drive/v2/files/{}", percent_encode_segment(file_id));
        let req = self.openapi(reqwest::Method::PATCH, &path, token).form(&[("title", title)]);
        let (status, body) = upstream::send(S, req).await?;
        v2_ok(status, &body)
    }

    /// Deletes a file (it goes to the account's trash).
    pub async fn delete_file(&self, token: &TdocToken, file_id: &str) -> Result<(), UpstreamError> {
        let path = format!("drive/v2/files/{}", percent_encode_segment(file_id));
        let req = self.openapi(reqwest::Method::DELETE, &path, token);
        let (status, body) = upstream::send(S, req).await?;
        v2_ok(status, &body)
    }

    /// Sets who can open a file: `private`, `members`, `publicRead` or `publicWrite`.
    pub async fn set_permission(&self, token: &TdocToken, file_id: &str, policy: &str) -> Result<(), UpstreamError> {
        let path = format!("drive/v2/files/{}/permission", percent_encode_segment(file_id));
        let req = self.openapi(reqwest::Method::PATCH, &path, token).form(&[("policy", policy)]);
        let (status, body) = upstream::send(S, req).await?;
        v2_ok(status, &body)
    }

    /// One page of a folder's entries (`GET /drive/v2/folders/{folderID}`, the root is
    /// `/`), newest first, from `start`.
    pub async fn list_folder(
        &self,
        token: &TdocToken,
        folder: Option<&str>,
        start: u64,
    ) -> Result<FolderPage, UpstreamError> {
        let path = format!("drive/v2/folders/{}", percent_encode_segment(folder.unwrap_or("/")));
        let start = start.to_string();
        let query = [("sortType", "create"), ("asc", "0"), ("start", start.as_str()), ("limit", "20")];
        let req = self.openapi(reqwest::Method::GET, &path, token).query(&query);
        let (status, body) = upstream::send(S, req).await?;
        folder_page_reply(status, &body)
    }

    /// A doc's text (`GET /doc/v3/{fileID}`): the `text` of its nodes in document order,
    /// one line per node that has text.
    pub async fn doc_text(&self, token: &TdocToken, file_id: &str) -> Result<String, UpstreamError> {
        let path = format!("doc/v3/{}", percent_encode_segment(file_id));
        let req = self.openapi(reqwest::Method::GET, &path, token);
        let (status, body) = upstream::send(S, req).await?;
        doc_text_reply(status, &body)
    }

    /// Inserts text at the start of a doc (`batchUpdate`, v3).
    pub async fn insert_text(&self, token: &TdocToken, file_id: &str, text: &str) -> Result<(), UpstreamError> {
        let path = format!("doc/v3/{}:batchUpdate", percent_encode_segment(file_id));
        let body = serde_json::json!({
            "requests": [{ "insertText": { "text": text, "location": { "index": 1 } } }]
        });
        let req = self.openapi(reqwest::Method::POST, &path, token).json(&body);
        let (status, body) = upstream::send(S, req).await?;
        insert_reply(status, &body)
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
    // Some errors come as 200 with `{ret, msg}` or `{error, error_description}`.
    let value: serde_json::Value = decode(S, body)?;
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

fn file_reply(status: u16, body: &[u8]) -> Result<DocFile, UpstreamError> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "ID")]
        id: String,
        url: String,
        #[serde(default)]
        title: String,
    }
    let data: Data = v2(status, body)?;
    if data.id.is_empty() || !(data.url.starts_with("https://") || data.url.starts_with("http://")) {
        return Err(malformed("file without an id or URL"));
    }
    Ok(DocFile { id: data.id, url: data.url, title: data.title })
}

/// A created folder's id (`data.ID`; the reply has no URL).
fn folder_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "ID")]
        id: String,
    }
    let data: Data = v2(status, body)?;
    if data.id.is_empty() {
        return Err(malformed("folder without an id"));
    }
    Ok(data.id)
}

/// An entry of a folder listing: a file or a sub-folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveEntry {
    pub id: String,
    pub title: String,
    /// `doc`, `sheet`, ..., or `folder`.
    pub kind: String,
    pub url: String,
    /// Unix seconds (0 when the reply has none).
    pub created: u64,
}

/// One page of a folder listing; `next` is the following page's `start`, 0 at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPage {
    pub entries: Vec<DriveEntry>,
    pub next: u64,
}

fn folder_page_reply(status: u16, body: &[u8]) -> Result<FolderPage, UpstreamError> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(rename = "ID")]
        id: String,
        #[serde(default)]
        title: String,
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        url: String,
        #[serde(rename = "createTime", default)]
        created: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct Data {
        list: Option<Vec<Entry>>,
        #[serde(default)]
        next: Option<serde_json::Value>,
    }
    let data: Data = v2(status, body)?;
    // An empty folder may come without a list; a list of the wrong shape fails above.
    let entries = data
        .list
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.id.is_empty())
        .map(|e| DriveEntry {
            id: e.id,
            title: e.title,
            kind: e.kind,
            url: e.url,
            created: e.created.as_ref().and_then(number).unwrap_or(0),
        })
        .collect();
    let next = match data.next {
        None | Some(serde_json::Value::Null) => 0,
        Some(v) => number(&v).ok_or_else(|| malformed("listing whose next is not a number"))?,
    };
    Ok(FolderPage { entries, next })
}

/// A number sent as a number or as a string of digits.
fn number(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The `text` of every node of a v3 document, in order (node type names beyond the
/// documented ones are not confirmed: text is read wherever it is).
fn doc_text_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
    if let Some(err) = openapi_status(status, body) {
        return Err(err);
    }
    if !(200..300).contains(&status) {
        return Err(refused(status, body));
    }
    let v: serde_json::Value = decode(S, body)?;
    if v.get("code").or_else(|| v.get("ret")).and_then(|c| c.as_i64()).is_some_and(|c| c != 0) {
        return Err(refused(status, body));
    }
    let Some(root) = v.get("document").filter(|d| d.is_object()) else {
        return Err(malformed("content reply without a document"));
    };
    let mut lines = Vec::new();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if let Some(t) = node.get("text").and_then(|t| t.as_str())
            && !t.is_empty()
        {
            lines.push(t.to_owned());
        }
        if let Some(children) = node.get("children").and_then(|c| c.as_array()) {
            stack.extend(children.iter().rev());
        }
    }
    Ok(lines.join("\n"))
}

/// A refusal saying the file or folder named does not exist (`ret` 10102, or a 404).
pub fn is_missing(e: &UpstreamError) -> bool {
    match e {
        UpstreamError::Refused { status: 404, .. } => true,
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

fn insert_reply(status: u16, body: &[u8]) -> Result<(), UpstreamError> {
    if let Some(err) = openapi_status(status, body) {
        return Err(err);
    }
    if !(200..300).contains(&status) {
        return Err(refused(status, body));
    }
    // v3 success is `{}` or `{ret:0,...}`; an error is `{code, message}` with a non-zero code.
    let v: serde_json::Value = decode(S, body)?;
    let code = v.get("code").or_else(|| v.get("ret")).and_then(|c| c.as_i64()).unwrap_or(0);
    if code != 0 {
        return Err(refused(status, body));
    }
    Ok(())
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
        super::file_reply(status, body)
    }

    pub fn insert_reply(status: u16, body: &[u8]) -> Result<(), UpstreamError> {
        super::insert_reply(status, body)
    }

    pub fn folder_page_reply(status: u16, body: &[u8]) -> Result<FolderPage, UpstreamError> {
        super::folder_page_reply(status, body)
    }

    pub fn doc_text_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
        super::doc_text_reply(status, body)
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

fn malformed(detail: &str) -> UpstreamError {
    UpstreamError::Malformed { service: S, detail: detail.into() }
}

/// File ids contain `$`: encode everything outside the unreserved set.
fn percent_encode_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tencent Docs' documented replies (tests/fixtures, sources in its README).
    const TOKEN: &str = include_str!("../../tests/fixtures/tdoc/token_authorization_code.json");
    const APP_TOKEN: &str = include_str!("../../tests/fixtures/tdoc/app_account_token.json");
    const CREATE: &str = include_str!("../../tests/fixtures/tdoc/create_file_reply.json");
    const CREATE_SEED: &str = include_str!("../../tests/fixtures/tdoc/create_file_reply_seed000.json");

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

    const FOLDER_LIST: &str = include_str!("../../tests/fixtures/tdoc/folder_list_reply.json");
    const METADATA: &str = include_str!("../../tests/fixtures/tdoc/file_metadata_reply.json");
    const CONTENT: &str = include_str!("../../tests/fixtures/tdoc/doc_content_reply.json");

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
}
