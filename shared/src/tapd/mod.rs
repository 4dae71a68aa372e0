//! TAPD client: OAuth token endpoints and the envelope every reply shares; the calls live by
//! concept in `items`, `comments`, `workflows` and `iterations`.
//! Every reply is the envelope `{status, data, info}`; `status != 1` is an error.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::TapdConfig;
use crate::ids::WorkspaceId;
use crate::secret::Secret;
use crate::time::now_secs;
use crate::upstream::{self, Service, UpstreamError, by_status, decode, short};

mod comments;
mod items;
mod iterations;
mod workflows;

pub use comments::TapdComment;
pub use items::TapdItem;
pub use iterations::TapdIteration;
pub use workflows::{StatusNames, WorkflowCall};

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

/// TAPD's page size limit for list calls (`limit` ≤ 200; the default is 30).
pub const MAX_PAGE: usize = 200;

pub struct TapdClient {
    pub(crate) http: reqwest::Client,
    pub(crate) cfg: TapdConfig,
    /// What TAPD's replies say of the app's rate budget.
    pub gauge: upstream::RateGauge,
}

impl TapdClient {
    pub fn new(http: reqwest::Client, cfg: TapdConfig) -> Self {
        Self { http, cfg, gauge: upstream::RateGauge::default() }
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
        let (status, body) = upstream::send_gauged(S, req, &self.gauge).await?;
        token_reply(status, &body)
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

/// The reply parsers, for the fuzz targets in `fuzz/`: not an API.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::*;
    use crate::ids::{ItemId, ItemKind};

    pub fn token_reply(status: u16, body: &[u8]) -> Result<TapdToken, UpstreamError> {
        super::token_reply(status, body)
    }

    pub fn item_reply(
        status: u16,
        body: &[u8],
        kind: ItemKind,
        id: &ItemId,
    ) -> Result<Option<TapdItem>, UpstreamError> {
        super::items::item_reply(status, body, kind, id)
    }

    pub fn comment_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
        super::comments::comment_reply(status, body)
    }

    pub fn comment_list_reply(status: u16, body: &[u8]) -> Result<Vec<TapdComment>, UpstreamError> {
        super::comments::comment_list_reply(status, body)
    }

    pub fn item_list_reply(status: u16, body: &[u8], kind: ItemKind) -> Result<Vec<TapdItem>, UpstreamError> {
        super::items::item_list_reply(status, body, kind)
    }

    pub fn update_reply(status: u16, body: &[u8]) -> Result<(), UpstreamError> {
        super::items::update_reply(status, body)
    }

    pub fn status_names_reply(status: u16, body: &[u8]) -> Result<super::StatusNames, UpstreamError> {
        super::workflows::status_names_reply(status, body)
    }

    pub fn iteration_reply(
        status: u16,
        body: &[u8],
        id: &crate::ids::IterationId,
    ) -> Result<Option<super::TapdIteration>, UpstreamError> {
        super::iterations::iteration_reply(status, body, id)
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
    use super::comments::{comment_list_reply, comment_reply};
    use super::items::{count_reply, item_list_reply, item_reply, update_reply};
    use super::*;
    use crate::ids::{ItemId, ItemKind};
    use serde_json::json;

    #[test]
    fn a_count_reads_as_a_number_or_a_string_and_nothing_else() {
        let body = |data: serde_json::Value| json!({"status": 1, "data": data, "info": "success"}).to_string();
        assert_eq!(count_reply(200, body(json!({"count": 42})).as_bytes()), Ok(42));
        assert_eq!(count_reply(200, body(json!({"count": "20100"})).as_bytes()), Ok(20_100));
        assert!(count_reply(200, body(json!({})).as_bytes()).is_err());
        assert!(count_reply(200, body(json!("Hello world from TAPD API")).as_bytes()).is_err());
    }

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

        const TOKEN_USER: &str = include_str!("../../../tests/fixtures/tapd/token_authorization_code.json");
        const TOKEN_APP: &str = include_str!("../../../tests/fixtures/tapd/token_client_credentials.json");
        const COMMENT_ADD: &str = include_str!("../../../tests/fixtures/tapd/comment_add_reply.json");
        const COMMENTS: &str = include_str!("../../../tests/fixtures/tapd/comments_get_reply.json");
        const RATE_LIMITED: &str = include_str!("../../../tests/fixtures/tapd/rate_limited_reply.json");

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
