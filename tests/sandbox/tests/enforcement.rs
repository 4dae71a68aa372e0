//! The sandbox enforces what the real services enforce.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode, redirect::Policy};
use sandbox::{Fault, FaultKind, ItemKind, Sandbox, SandboxConfig};
use serde_json::Value;

const WS: &str = "20000001";
const STORY: &str = "1120000001000000001";
const TAPD_CB: &str = "http://127.0.0.1:3000/oauth/tapd/callback";
const TDOC_CB: &str = "http://127.0.0.1:3000/oauth/tdoc/callback";
const USER: &str = "0123456789abcdef0123456789abcdef";

fn client() -> Client {
    sandbox::http_client().redirect(Policy::none()).build().unwrap()
}

async fn start_with(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut cfg = SandboxConfig::new(vec![TAPD_CB.into(), TDOC_CB.into()]);
    f(&mut cfg);
    let sb = Sandbox::start(cfg).await;
    sb.add_workspace(WS, "Workspace");
    sb.add_workspace("20000002", "Other workspace");
    sb.add_item(WS, ItemKind::Story, STORY, "A story");
    sb.add_tdoc_user(USER, "Alice");
    sb
}

async fn start() -> Sandbox {
    start_with(|_| {}).await
}

fn location_query(resp: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(resp.status(), StatusCode::FOUND, "expected a redirect");
    let loc = resp.headers()["location"].to_str().unwrap();
    url::Url::parse(loc).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

async fn tapd_code(sb: &Sandbox, c: &Client) -> String {
    let resp = c
        .post(format!("{}/tapd/oauth/approve", sb.base_url()))
        .form(&[
            ("client_id", "tapd-app"),
            ("redirect_uri", TAPD_CB),
            ("scope", "story bug"),
            ("state", "st1"),
            ("workspace_id", WS),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let q = location_query(&resp);
    assert_eq!(q["state"], "st1");
    // As in `fixtures/tapd/callback_query.txt`: the callback names the user, not the workspace.
    let resource: Value = serde_json::from_str(&q["resource"]).unwrap();
    assert_eq!(resource, serde_json::json!({"type": "user", "user_id": sandbox::TAPD_USER_ID}));
    q["code"].clone()
}

async fn tapd_exchange(sb: &Sandbox, c: &Client, secret: &str, code: &str, redirect_uri: &str) -> (StatusCode, Value) {
    let resp = c
        .post(format!("{}/tokens/request_token", sb.tapd_api_base()))
        .basic_auth("tapd-app", Some(secret))
        .form(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri)])
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

async fn tapd_get(sb: &Sandbox, c: &Client, token: &str, path_query: &str) -> (StatusCode, Value) {
    let resp = c.get(format!("{}{path_query}", sb.tapd_api_base())).bearer_auth(token).send().await.unwrap();
    (resp.status(), resp.json().await.unwrap())
}

#[tokio::test]
async fn tapd_consent_page_and_bad_clients() {
    let sb = start().await;
    let c = client();
    let url = sb.tapd_authorize_url();
    let ok = c
        .get(&url)
        .query(&[
            ("response_type", "code"),
            ("client_id", "tapd-app"),
            ("redirect_uri", TAPD_CB),
            ("scope", "story"),
            ("state", "xyz"),
            ("auth_by", "user"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let html = ok.text().await.unwrap();
    assert!(html.contains("name=\"workspace_id\"") && html.contains(WS));
    assert!(html.contains("action=\"/tapd/oauth/approve\""));

    let bad = c
        .get(&url)
        .query(&[("response_type", "code"), ("client_id", "tapd-app"), ("redirect_uri", "http://evil.example/cb")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.headers().get("location").is_none());

    let deny = c
        .post(format!("{}/tapd/oauth/approve", sb.base_url()))
        .form(&[
            ("client_id", "tapd-app"),
            ("redirect_uri", TAPD_CB),
            ("state", "s"),
            ("workspace_id", WS),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    let q = location_query(&deny);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "s");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn tapd_code_is_single_use_bound_and_authenticated() {
    let sb = start().await;
    let c = client();
    let secret = sb.config().tapd_client_secret.clone();

    // Wrong Basic auth: 401 envelope, and the code survives (auth comes first).
    let code = tapd_code(&sb, &c).await;
    let (status, body) = tapd_exchange(&sb, &c, "wrong", &code, TAPD_CB).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["status"], 0);
    assert_eq!(body["data"], "");

    // Wrong redirect_uri: refused (and the code is burnt).
    let (status, body) = tapd_exchange(&sb, &c, &secret, &code, TDOC_CB).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_ne!(body["status"], 1);

    let code = tapd_code(&sb, &c).await;
    let (status, body) = tapd_exchange(&sb, &c, &secret, &code, TAPD_CB).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], 1);
    assert_eq!(body["info"], "success");
    let data = &body["data"];
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["expires_in"], 7200);
    // The seed's reply: `type` user, the workspace id a JSON number.
    assert_eq!(data["resource"], serde_json::json!({"type": "user", "workspace_id": WS.parse::<u64>().unwrap()}));
    assert_eq!(data["now"].as_str().unwrap().len(), 19);
    let token = data["access_token"].as_str().unwrap().to_string();
    let refresh = data["refresh_token"].as_str().unwrap().to_string();

    // Single use.
    let (status, body) = tapd_exchange(&sb, &c, &secret, &code, TAPD_CB).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], 0);

    // The token reads its workspace, not another one.
    let (status, body) = tapd_get(&sb, &c, &token, &format!("/stories?workspace_id={WS}&id={STORY}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["Story"]["id"], STORY);
    assert_eq!(body["data"][0]["Story"]["name"], "A story");
    let (status, _) = tapd_get(&sb, &c, &token, "/stories?workspace_id=20000002").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = tapd_get(&sb, &c, "nope", &format!("/stories?workspace_id={WS}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["status"], 0);

    // Comments need an existing item.
    let post = |entry_id: &'static str| {
        c.post(format!("{}/comments", sb.tapd_api_base()))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "workspace_id": WS, "entry_type": "stories", "entry_id": entry_id,
                "description": "doc: http://x", "author": "bot"
            }))
            .send()
    };
    let resp = post(STORY).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["Comment"]["entry_id"], STORY);
    assert_eq!(body["data"]["Comment"]["id"].as_str().unwrap().len(), 19);
    let resp = post("1120000001999999999").await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sb.comments().len(), 1);

    // Expired tokens are refused; refresh gives a working one, once.
    sb.expire_access_tokens();
    let (status, body) = tapd_get(&sb, &c, &token, &format!("/stories?workspace_id={WS}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["status"], 0);
    let refresh_call = || {
        c.post(format!("{}/tokens/refresh_token", sb.tapd_api_base()))
            .basic_auth("tapd-app", Some(&secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .send()
    };
    let body: Value = refresh_call().await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], 1);
    assert_ne!(body["data"]["refresh_token"], refresh.as_str());
    let new_token = body["data"]["access_token"].as_str().unwrap();
    let (status, _) = tapd_get(&sb, &c, new_token, &format!("/stories?workspace_id={WS}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(refresh_call().await.unwrap().status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tapd_app_token_and_updates() {
    let sb = start().await;
    let c = client();
    let resp = c
        .post(format!("{}/tokens/request_token", sb.tapd_api_base()))
        .basic_auth("tapd-app", Some(&sb.config().tapd_client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["resource"]["type"], "open_app_auth");
    assert!(body["data"].get("refresh_token").is_none());
    let token = body["data"]["access_token"].as_str().unwrap();
    let resp = c
        .post(format!("{}/stories", sb.tapd_api_base()))
        .bearer_auth(token)
        .form(&[("workspace_id", WS), ("id", STORY), ("custom_field_one", "http://doc")])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["Story"]["custom_field_one"], "http://doc");
    let updates = sb.item_updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].fields["custom_field_one"], "http://doc");
    assert!(!updates[0].fields.contains_key("workspace_id"));
    // Unseeded workspace: refused even for the app.
    let (status, _) = tapd_get(&sb, &c, token, "/bugs?workspace_id=999").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn codes_expire() {
    let sb = start_with(|c| c.code_ttl_secs = 0).await;
    let c = client();
    let code = tapd_code(&sb, &c).await;
    let (status, body) = tapd_exchange(&sb, &c, &sb.config().tapd_client_secret, &code, TAPD_CB).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["info"], "code expired");

    let code = tdoc_code(&sb, &c).await;
    let resp = tdoc_exchange(&sb, &c, &sb.config().tdoc_client_secret, &code, TDOC_CB).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

async fn tdoc_code(sb: &Sandbox, c: &Client) -> String {
    let resp = c
        .post(format!("{}/oauth/v2/authorize/approve", sb.tdoc_base()))
        .form(&[
            ("client_id", "tdoc-app"),
            ("redirect_uri", TDOC_CB),
            ("scope", "all"),
            ("state", "t1"),
            ("open_id", USER),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let q = location_query(&resp);
    assert_eq!(q["state"], "t1");
    q["code"].clone()
}

async fn tdoc_exchange(sb: &Sandbox, c: &Client, secret: &str, code: &str, redirect_uri: &str) -> reqwest::Response {
    c.get(format!("{}/oauth/v2/token", sb.tdoc_base()))
        .query(&[
            ("client_id", "tdoc-app"),
            ("client_secret", secret),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
            ("code", code),
        ])
        .send()
        .await
        .unwrap()
}

async fn tdoc_token(sb: &Sandbox, c: &Client) -> Value {
    let code = tdoc_code(sb, c).await;
    let resp = tdoc_exchange(sb, c, &sb.config().tdoc_client_secret, &code, TDOC_CB).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

fn create_file(sb: &Sandbox, c: &Client, token: &str, open_id: Option<&str>, title: &str) -> reqwest::RequestBuilder {
    let mut req = c
        .post(format!("{}/openapi/drive/v2/files", sb.tdoc_base()))
        .header("Access-Token", token)
        .header("Client-Id", "tdoc-app")
        .form(&[("title", title), ("type", "doc")]);
    if let Some(o) = open_id {
        req = req.header("Open-Id", o);
    }
    req
}

#[tokio::test]
async fn tdoc_oauth_and_openapi_enforcement() {
    let sb = start().await;
    let c = client();
    let secret = sb.config().tdoc_client_secret.clone();

    let code = tdoc_code(&sb, &c).await;
    assert_eq!(tdoc_exchange(&sb, &c, "wrong", &code, TDOC_CB).await.status(), StatusCode::UNAUTHORIZED);
    let code = tdoc_code(&sb, &c).await;
    let resp = tdoc_exchange(&sb, &c, &secret, &code, TAPD_CB).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_ne!(body["ret"], 0);

    let tok = tdoc_token(&sb, &c).await;
    assert_eq!(tok["user_id"], USER);
    assert_eq!(tok["token_type"], "Bearer");
    let token = tok["access_token"].as_str().unwrap().to_string();

    let info: Value = c
        .get(format!("{}/oauth/v2/userinfo", sb.tdoc_base()))
        .query(&[("access_token", &token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["data"]["openID"], USER);
    assert_eq!(info["data"]["nick"], "Alice");

    // Missing Open-Id: 401; wrong Open-Id: 403.
    let resp = create_file(&sb, &c, &token, None, "t").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_ne!(body["ret"], 0);
    let other = "ffffffffffffffffffffffffffffffff";
    let resp = create_file(&sb, &c, &token, Some(other), "t").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // 36 characters (not bytes) is the limit.
    let long = "文".repeat(37);
    let resp = create_file(&sb, &c, &token, Some(USER), &long).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_ne!(body["ret"], 0);
    let title = "文".repeat(36);
    let resp = create_file(&sb, &c, &token, Some(USER), &title).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["ret"], 0);
    assert_eq!(body["msg"], "Succeed");
    let id = body["data"]["ID"].as_str().unwrap().to_string();
    assert!(id.starts_with("300000000$"));
    let url = body["data"]["url"].as_str().unwrap().to_string();

    // batchUpdate with the `$` percent-encoded.
    let encoded = id.replace('$', "%24");
    let update = |file: String| {
        c.post(format!("{}/openapi/doc/v3/{file}:batchUpdate", sb.tdoc_base()))
            .header("Access-Token", &token)
            .header("Client-Id", "tdoc-app")
            .header("Open-Id", USER)
            .json(&serde_json::json!({"requests":[{"insertText":{"text":"hello <world>","location":{"index":1}}}]}))
            .send()
    };
    let resp = update(encoded).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = update("300000000%24doesnotexist".into()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 10102);
    let docs = sb.docs();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].content, "hello <world>");
    assert_eq!(docs[0].owner_open_id, USER);
    let page = c.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&title) && page.contains("hello &lt;world&gt;"));

    // Expired tokens: 401; refresh (default variant) gives a token and no new refresh token.
    sb.expire_access_tokens();
    let resp = create_file(&sb, &c, &token, Some(USER), "t").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let refresh = tok["refresh_token"].as_str().unwrap();
    let refresh_call = || {
        c.get(format!("{}/oauth/v2/token", sb.tdoc_base()))
            .query(&[
                ("client_id", "tdoc-app"),
                ("client_secret", secret.as_str()),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
            ])
            .send()
    };
    let body: Value = refresh_call().await.unwrap().json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    let new_token = body["access_token"].as_str().unwrap();
    let resp = create_file(&sb, &c, new_token, Some(USER), "t").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The old refresh token still works in this variant.
    assert_eq!(refresh_call().await.unwrap().status(), StatusCode::OK);
    assert_eq!(sb.issued_tokens().tdoc_refresh, 2);
}

#[tokio::test]
async fn tdoc_app_account_and_rotating_refresh() {
    let sb = start_with(|c| c.tdoc_refresh_returns_new_refresh_token = true).await;
    let c = client();
    let secret = sb.config().tdoc_client_secret.clone();
    let body: Value = c
        .get(format!("{}/oauth/v2/app-account-token", sb.tdoc_base()))
        .query(&[("client_id", "tdoc-app"), ("client_secret", secret.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["user_id"], sb.tdoc_app_open_id().as_str());
    let token = body["access_token"].as_str().unwrap();
    let resp = create_file(&sb, &c, token, Some(&sb.tdoc_app_open_id()), "app doc").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let tok = tdoc_token(&sb, &c).await;
    let refresh = |r: String| {
        c.get(format!("{}/oauth/v2/token", sb.tdoc_base()))
            .query(&[
                ("client_id", "tdoc-app".to_string()),
                ("client_secret", secret.clone()),
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", r),
            ])
            .send()
    };
    let old = tok["refresh_token"].as_str().unwrap().to_string();
    let body: Value = refresh(old.clone()).await.unwrap().json().await.unwrap();
    assert!(body["refresh_token"].as_str().is_some_and(|r| r != old));
    assert_eq!(refresh(old).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn faults_fire_then_recover() {
    let sb = start().await;
    let c = client();
    let token_req = || {
        c.post(format!("{}/tokens/request_token", sb.tapd_api_base()))
            .basic_auth("tapd-app", Some(&sb.config().tapd_client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };

    sb.inject(Fault {
        method: Some("post".into()),
        path_prefix: "/tapd/api/tokens".into(),
        kind: FaultKind::Status(429),
        times: 2,
    });
    for _ in 0..2 {
        let resp = token_req().await.unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], 429);
        assert!(body["info"].as_str().unwrap().contains("1800req/10min"));
    }
    assert_eq!(token_req().await.unwrap().status(), StatusCode::OK);

    sb.inject(Fault::once("/tapd/api/", FaultKind::Malformed));
    let resp = token_req().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.json::<Value>().await.is_err());

    sb.inject(Fault::once("/tapd/api/", FaultKind::Reset));
    assert!(token_req().await.is_err(), "connection must be dropped");
    assert_eq!(token_req().await.unwrap().status(), StatusCode::OK);

    sb.inject(Fault::once("/tapd/", FaultKind::Delay(Duration::from_millis(300))));
    let t0 = Instant::now();
    assert_eq!(token_req().await.unwrap().status(), StatusCode::OK);
    assert!(t0.elapsed() >= Duration::from_millis(300));

    // Same through the HTTP control API; times = 0 lasts until cleared.
    let resp = c
        .post(format!("{}/_sandbox/faults", sb.base_url()))
        .json(&serde_json::json!({"path_prefix": "/tdoc/openapi/doc/v3", "kind": {"status": 503}, "times": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for _ in 0..3 {
        let resp = c.post(format!("{}/openapi/doc/v3/x:batchUpdate", sb.tdoc_base())).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], 503);
    }
    c.delete(format!("{}/_sandbox/faults", sb.base_url())).send().await.unwrap();
    let resp = c.post(format!("{}/openapi/doc/v3/x:batchUpdate", sb.tdoc_base())).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let reqs = sb.requests();
    assert!(reqs.iter().any(|r| r.status == 0));
    assert!(reqs.iter().all(|r| !r.path.starts_with("/_sandbox")));
}

#[tokio::test]
async fn http_control_api() {
    let sb = start().await;
    let c = client();
    let base = sb.base_url();
    let resp = c
        .post(format!("{base}/_sandbox/items"))
        .json(&serde_json::json!({"workspace_id": WS, "kind": "bug", "id": "1120000001000000009", "name": "B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let item = sb.item(WS, ItemKind::Bug, "1120000001000000009").unwrap();
    assert_eq!(item.fields["title"], "B");
    let docs: Value = c.get(format!("{base}/_sandbox/docs")).send().await.unwrap().json().await.unwrap();
    assert_eq!(docs, serde_json::json!([]));
    let info: Value = c.get(format!("{base}/_sandbox/info")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["tapd_api_base"], sb.tapd_api_base().as_str());
    let resp = c.post(format!("{base}/_sandbox/expire-tokens")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // Unknown paths answer 404 in the service's shape.
    let body: Value = c.get(format!("{}/nope", sb.tapd_api_base())).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], 0);
}

#[tokio::test]
async fn reset_through_a_foreign_server() {
    let sb = start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, sb.router()).into_future());
    sb.inject(Fault::once("/tapd/api/", FaultKind::Reset));
    let c = client();
    let result =
        async { c.get(format!("http://{addr}/tapd/api/stories?workspace_id={WS}")).send().await?.bytes().await }.await;
    assert!(result.is_err());
    let resp = c.get(format!("http://{addr}/tapd/api/stories?workspace_id={WS}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reset_sends_no_bytes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sb = start().await;
    sb.inject(Fault::once("/tdoc/", FaultKind::Reset));
    let addr = sb.base_url().trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /tdoc/doc/x HTTP/1.1\r\nHost: sandbox\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    // Either a clean EOF or ECONNRESET, but never a byte of an answer.
    let _ = stream.read_to_end(&mut buf).await;
    assert!(buf.is_empty(), "got {:?}", String::from_utf8_lossy(&buf));
}

/// TAPD's workflow rules: an item's status is one of its workspace's workflow (custom ones
/// included), an iteration is one of its workspace's; a refused write changes nothing.
#[tokio::test]
async fn item_writes_keep_to_the_workflow_and_iterations() {
    let sb = start().await;
    let c = client();
    let token = app_token(&sb, &c).await;
    let post = |form: Vec<(&'static str, String)>| {
        let c = c.clone();
        let url = format!("{}/stories", sb.tapd_api_base());
        let token = token.clone();
        async move {
            let resp = c.post(url).bearer_auth(token).form(&form).send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    };
    let story = |sb: &Sandbox| sb.item(WS, ItemKind::Story, STORY).unwrap();
    let (status, body) = post(vec![("workspace_id", WS.into()), ("id", STORY.into()), ("status", "done".into())]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["status"], 0);
    assert_eq!(story(&sb).fields["status"], "planning", "a refused write changes nothing");
    let (status, _) =
        post(vec![("workspace_id", WS.into()), ("id", STORY.into()), ("status", "developing".into())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(story(&sb).fields["status"], "developing");

    // A custom workflow: its own keys only, the default's are refused.
    let custom = sandbox::Workflow::new(&[("status_5", "待排期"), ("status_6", "已发布")], &["status_6"]);
    sb.set_workflow(WS, sandbox::WorkflowSystem::Story, custom).unwrap();
    let (status, _) =
        post(vec![("workspace_id", WS.into()), ("id", STORY.into()), ("status", "planning".into())]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        post(vec![("workspace_id", WS.into()), ("id", STORY.into()), ("status", "status_6".into())]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(sb.set_workflow(WS, sandbox::WorkflowSystem::Bug, sandbox::Workflow::new(&[("a", "A")], &["b"])).is_err());

    // Iterations: only the workspace's own (or 0, none).
    let other = sb.add_iteration("20000002", None, "别的项目的迭代");
    let (status, _) = post(vec![("workspace_id", WS.into()), ("id", STORY.into()), ("iteration_id", other.id)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mine = sb.add_iteration(WS, None, "冲刺 1");
    let (status, _) =
        post(vec![("workspace_id", WS.into()), ("id", STORY.into()), ("iteration_id", mine.id.clone())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(story(&sb).fields["iteration_id"], mine.id);
    let (status, _) = post(vec![("workspace_id", WS.into()), ("id", STORY.into()), ("iteration_id", "0".into())]).await;
    assert_eq!(status, StatusCode::OK);

    // The workflow calls want a system, and a story type of the workspace.
    for bad in [
        format!("/workflows/status_map?workspace_id={WS}"),
        format!("/workflows/status_map?workspace_id={WS}&system=task"),
        format!("/workflows/last_steps?workspace_id={WS}&system=story&workitem_type_id=1"),
    ] {
        let (status, body) = tapd_get(&sb, &c, &token, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["status"], 0);
    }
}

async fn app_token(sb: &Sandbox, c: &Client) -> String {
    let resp = c
        .post(format!("{}/tokens/request_token", sb.tapd_api_base()))
        .basic_auth("tapd-app", Some(&sb.config().tapd_client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    body["data"]["access_token"].as_str().unwrap().to_string()
}

/// Tencent Docs' frequency control: content operations per file and file operations per
/// Open-Id, in sliding windows; over either, `429` in the path's error shape; refused calls
/// do not count; a control call resets and changes the limits.
#[tokio::test]
async fn tdoc_frequency_control_per_file_and_per_open_id() {
    let sb = start().await;
    let c = client();
    assert_eq!(sb.tdoc_limits(), sandbox::TdocLimits::default());
    assert_eq!(sb.tdoc_limits().file_ops_per_window, Some(300));
    assert_eq!(sb.tdoc_limits().content_ops_per_window, Some(150));
    let resp = c
        .post(format!("{}/_sandbox/tdoc-limits", sb.base_url()))
        .json(&serde_json::json!({"file_ops_per_window": 8, "content_ops_per_window": 3, "window_ms": 60000, "version_window": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let tok = tdoc_token(&sb, &c).await;
    let (token, open_id) =
        (tok["access_token"].as_str().unwrap().to_string(), tok["user_id"].as_str().unwrap().to_string());
    let call = |method: reqwest::Method, url: String| {
        c.request(method, url)
            .header("Access-Token", &token)
            .header("Client-Id", "tdoc-app")
            .header("Open-Id", &open_id)
    };
    let base = sb.tdoc_base();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r: Value = call(reqwest::Method::POST, format!("{base}/openapi/drive/v2/files"))
            .form(&[("title", "T"), ("type", "doc")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["data"]["ID"].as_str().unwrap().replace('$', "%24"));
    }
    // File a: three content operations (reads and writes), then the fourth is refused.
    for i in 0..3 {
        let r = if i == 1 {
            call(reqwest::Method::POST, format!("{base}/openapi/doc/v3/{}:batchUpdate", ids[0]))
                .json(&serde_json::json!({"requests": [{"insertText": {"text": "x", "location": {"index": 1}}}]}))
                .send()
                .await
                .unwrap()
        } else {
            call(reqwest::Method::GET, format!("{base}/openapi/doc/v3/{}", ids[0])).send().await.unwrap()
        };
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = call(reqwest::Method::GET, format!("{base}/openapi/doc/v3/{}", ids[0])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], 429, "{body}");
    assert!(body["message"].as_str().unwrap().contains("content operations"), "{body}");
    // File b is another file: fine. That is the Open-Id's 2 + 3 + 1 = 6th and 7th counted call.
    let r = call(reqwest::Method::GET, format!("{base}/openapi/doc/v3/{}", ids[1])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r =
        call(reqwest::Method::GET, format!("{base}/openapi/drive/v2/files/{}/metadata", ids[1])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The 8th, then the Open-Id is over: drive v2 answers in its `{ret, msg}` shape.
    let r =
        call(reqwest::Method::GET, format!("{base}/openapi/drive/v2/files/{}/metadata", ids[1])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r =
        call(reqwest::Method::GET, format!("{base}/openapi/drive/v2/files/{}/metadata", ids[1])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ret"], 429, "{body}");
    assert!(body["msg"].as_str().unwrap().contains("file operations"), "{body}");
    // Another Open-Id (a user's token) has its own budget; calls without valid credentials are
    // not counted (they are refused as before).
    let bad = c
        .get(format!("{base}/openapi/doc/v3/{}", ids[1]))
        .header("Access-Token", "nope")
        .header("Client-Id", "tdoc-app")
        .header("Open-Id", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    // A short window frees itself.
    sb.set_tdoc_limits(sandbox::TdocLimits { window: Duration::from_millis(300), ..sb.tdoc_limits() });
    for _ in 0..3 {
        assert_eq!(
            call(reqwest::Method::GET, format!("{base}/openapi/doc/v3/{}", ids[0])).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        call(reqwest::Method::GET, format!("{base}/openapi/doc/v3/{}", ids[0])).send().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        call(reqwest::Method::GET, format!("{base}/openapi/doc/v3/{}", ids[0])).send().await.unwrap().status(),
        StatusCode::OK
    );
    // Unlimited.
    sb.set_tdoc_limits(sandbox::TdocLimits {
        file_ops_per_window: None,
        content_ops_per_window: None,
        ..sb.tdoc_limits()
    });
    for _ in 0..20 {
        assert_eq!(
            call(reqwest::Method::GET, format!("{base}/openapi/doc/v3/{}", ids[0])).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
}
