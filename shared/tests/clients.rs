//! The TAPD and Tencent Docs clients against the in-memory sandbox: what a user would notice
//! (tokens that work, items found, comments and docs that land) and what the sandbox saw.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Client, StatusCode, redirect::Policy};
use sandbox::{Fault, FaultKind, ItemKind as SbKind, Sandbox, SandboxConfig};
use shared::Secret;
use shared::client_secret::ClientSecret;
use shared::config::{TapdConfig, TdocConfig};
use shared::ids::{ItemId, ItemKind, WorkspaceId};
use shared::tapd::{TapdClient, TapdComment, TapdToken};
use shared::tdoc::{TdocClient, TdocToken};
use shared::upstream::{Service, UpstreamError, http_client};

const WS: &str = "20000001";
const OTHER_WS: &str = "20000002";
const STORY: &str = "1120000001000000001";
const BUG: &str = "1120000001000000002";
const TASK: &str = "1120000001000000003";
const MISSING: &str = "1120000001000000999";
const TAPD_CB: &str = "https://glue.example/oauth/tapd/callback";
const TDOC_CB: &str = "https://glue.example/oauth/tdoc/callback";
const ALICE: &str = "ou_alice_0123456789";
const BOB: &str = "ou_bob_0123456789";

// ---------------------------------------------------------------- setup

async fn start_with(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut cfg = SandboxConfig::new(vec![TAPD_CB.into(), TDOC_CB.into()]);
    f(&mut cfg);
    let sb = Sandbox::start(cfg).await;
    sb.add_workspace(WS, "Main workspace");
    sb.add_workspace(OTHER_WS, "Other workspace");
    sb.add_item(WS, SbKind::Story, STORY, "Checkout is slow");
    sb.add_item(WS, SbKind::Bug, BUG, "Crash on login");
    sb.add_item(WS, SbKind::Task, TASK, "Write the runbook");
    sb.add_tdoc_user(ALICE, "Alice");
    sb.add_tdoc_user(BOB, "Bob");
    sb
}

async fn start() -> Sandbox {
    start_with(|_| {}).await
}

/// The configuration as `Env::url` would store it: base URLs without a trailing slash.
fn tapd_config(sb: &Sandbox) -> TapdConfig {
    TapdConfig {
        client_id: sb.config().tapd_client_id.clone(),
        client_secret: ClientSecret::fixed(Secret::new(sb.config().tapd_client_secret.clone())),
        api_base: sb.tapd_api_base(),
        authorize_url: sb.tapd_authorize_url().trim_end_matches('/').to_owned(),
        scopes: "story bug task comment".into(),
        web_base: "https://www.tapd.cn".into(),
    }
}

fn tdoc_config(sb: &Sandbox) -> TdocConfig {
    TdocConfig {
        client_id: sb.config().tdoc_client_id.clone(),
        client_secret: ClientSecret::fixed(Secret::new(sb.config().tdoc_client_secret.clone())),
        base: sb.tdoc_base(),
        scopes: "all".into(),
    }
}

fn tapd(sb: &Sandbox) -> TapdClient {
    TapdClient::new(http_client(Duration::from_secs(2)), tapd_config(sb))
}

fn tdoc(sb: &Sandbox) -> TdocClient {
    TdocClient::new(http_client(Duration::from_secs(2)), tdoc_config(sb))
}

fn browser() -> Client {
    Client::builder()
        .tls_backend_preconfigured(shared::upstream::tls_config())
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn ws() -> WorkspaceId {
    WorkspaceId::parse(WS).unwrap()
}

fn item(id: &str) -> ItemId {
    ItemId::parse(id).unwrap()
}

/// The query of a `302`'s Location.
fn location_query(resp: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(resp.status(), StatusCode::FOUND, "expected a redirect");
    let loc = resp.headers()[reqwest::header::LOCATION].to_str().unwrap();
    url::Url::parse(loc).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Clicks "approve" on the TAPD consent page for `workspace_id`; returns the code.
async fn tapd_code(sb: &Sandbox, workspace_id: &str) -> Secret {
    let resp = browser()
        .post(format!("{}/tapd/oauth/approve", sb.base_url()))
        .form(&[
            ("client_id", sb.config().tapd_client_id.as_str()),
            ("redirect_uri", TAPD_CB),
            ("scope", "story bug task comment"),
            ("state", "st-tapd"),
            ("workspace_id", workspace_id),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let q = location_query(&resp);
    assert_eq!(q["state"], "st-tapd");
    Secret::new(q["code"].clone())
}

/// Clicks "approve" on the Tencent Docs consent page as `open_id`; returns the code.
async fn tdoc_code(sb: &Sandbox, open_id: &str) -> Secret {
    let resp = browser()
        .post(format!("{}/oauth/v2/authorize/approve", sb.tdoc_base()))
        .form(&[
            ("client_id", sb.config().tdoc_client_id.as_str()),
            ("redirect_uri", TDOC_CB),
            ("scope", "all"),
            ("state", "st-tdoc"),
            ("open_id", open_id),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let q = location_query(&resp);
    assert_eq!(q["state"], "st-tdoc");
    Secret::new(q["code"].clone())
}

async fn tapd_user_token(sb: &Sandbox, client: &TapdClient) -> TapdToken {
    let code = tapd_code(sb, WS).await;
    client.exchange_code(&code, TAPD_CB).await.unwrap()
}

async fn tdoc_user_token(sb: &Sandbox, client: &TdocClient, open_id: &str) -> TdocToken {
    let code = tdoc_code(sb, open_id).await;
    client.exchange_code(&code, TDOC_CB).await.unwrap()
}

/// The last request the sandbox answered (path only, never the query).
fn last_request(sb: &Sandbox) -> sandbox::RequestRecord {
    sb.requests().pop().expect("the sandbox saw a request")
}

#[track_caller]
fn assert_refused(r: Result<impl std::fmt::Debug, UpstreamError>, service: Service) -> UpstreamError {
    match r {
        Err(e @ UpstreamError::Refused { .. }) => {
            assert_eq!(e.service(), service);
            assert!(!e.is_transient(), "{e}");
            e
        }
        other => panic!("expected Refused from {service}, got {other:?}"),
    }
}

/// A Display string must carry neither secret nor token.
#[track_caller]
fn assert_clean(e: &UpstreamError, secrets: &[&str]) {
    let shown = e.to_string();
    let debug = format!("{e:?}");
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!shown.contains(s), "error display leaks a secret: {shown}");
        assert!(!debug.contains(s), "error debug leaks a secret: {debug}");
    }
}

// ---------------------------------------------------------------- TAPD: OAuth

#[tokio::test]
async fn tapd_authorize_url_carries_the_contract_parameters_and_opens_the_consent_page() {
    let sb = start().await;
    let client = tapd(&sb);
    let url = client.authorize_url(TAPD_CB, "state-123");
    let parsed = url::Url::parse(&url).unwrap();
    // The configured URL's path is kept (with TAPD's trailing slash), not replaced.
    assert_eq!(parsed.path(), "/tapd/oauth/", "{url}");
    let q: HashMap<String, String> = parsed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], sb.config().tapd_client_id);
    assert_eq!(q["redirect_uri"], TAPD_CB);
    assert_eq!(q["scope"], "story bug task comment");
    assert_eq!(q["state"], "state-123");
    assert_eq!(q["auth_by"], "user");
    assert_eq!(q.len(), 6, "{q:?}");

    // A user following the link sees the consent page, not an error.
    let resp = browser().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{url}");

    // The configured value with its trailing slash gives the same URL.
    let mut cfg = tapd_config(&sb);
    cfg.authorize_url = sb.tapd_authorize_url();
    let with_slash = TapdClient::new(http_client(Duration::from_secs(2)), cfg).authorize_url(TAPD_CB, "state-123");
    assert_eq!(with_slash, url);

    // The public and internal hosts keep `/oauth/`.
    for base in ["https://www.tapd.cn/oauth", "https://tapd.woa.com/oauth/"] {
        let mut cfg = tapd_config(&sb);
        cfg.authorize_url = base.into();
        let u = TapdClient::new(http_client(Duration::from_secs(2)), cfg).authorize_url(TAPD_CB, "s");
        assert_eq!(url::Url::parse(&u).unwrap().path(), "/oauth/", "{u}");
    }
}

#[tokio::test]
async fn tapd_code_exchange_gives_a_workspace_token_that_works() {
    let sb = start().await;
    let client = tapd(&sb);
    let code = tapd_code(&sb, WS).await;
    let token = client.exchange_code(&code, TAPD_CB).await.unwrap();
    assert_eq!(token.workspace(), Some(&ws()));
    assert!(!token.access_token.is_empty());
    assert!(token.refresh_token.is_some(), "the sandbox app has refresh tokens enabled");
    assert!(!token.expires_within(3600), "expires_in 7200 means good for two hours");
    assert!(token.expires_within(7300));
    assert_eq!(sb.issued_tokens().tapd_user, 1);

    let story = client.get_item(&token.access_token, &ws(), ItemKind::Story, &item(STORY)).await.unwrap();
    assert_eq!(story.unwrap().name, "Checkout is slow");

    // The token is bound to its workspace: another one is refused, not "missing".
    let other = WorkspaceId::parse(OTHER_WS).unwrap();
    assert_refused(client.get_item(&token.access_token, &other, ItemKind::Story, &item(STORY)).await, Service::Tapd);

    // The token endpoint got the code in the form body, never in the recorded path.
    let token_calls: Vec<_> =
        sb.requests().into_iter().filter(|r| r.path == "/tapd/api/tokens/request_token").collect();
    assert_eq!(token_calls.len(), 1);
    assert_eq!((token_calls[0].method.as_str(), token_calls[0].status), ("POST", 200));
}

#[tokio::test]
async fn tapd_code_reuse_wrong_secret_and_wrong_redirect_are_refused() {
    let sb = start().await;
    let client = tapd(&sb);

    // Reuse: the first exchange works, the second is refused (not a panic, not transient).
    let code = tapd_code(&sb, WS).await;
    client.exchange_code(&code, TAPD_CB).await.unwrap();
    let e = assert_refused(client.exchange_code(&code, TAPD_CB).await, Service::Tapd);
    assert!(matches!(e, UpstreamError::Refused { status: 400, .. }), "{e:?}");
    assert_clean(&e, &[code.expose(), sb.config().tapd_client_secret.as_str()]);

    // Wrong client secret: refused with the 401 of the token endpoint, not "Unauthorized token".
    let mut cfg = tapd_config(&sb);
    cfg.client_secret = ClientSecret::fixed(Secret::new("not-the-secret-at-all"));
    let wrong = TapdClient::new(http_client(Duration::from_secs(2)), cfg);
    let code = tapd_code(&sb, WS).await;
    let e = assert_refused(wrong.exchange_code(&code, TAPD_CB).await, Service::Tapd);
    assert!(matches!(e, UpstreamError::Refused { status: 401, .. }), "{e:?}");
    assert_clean(&e, &[code.expose(), "not-the-secret-at-all", sb.config().tapd_client_secret.as_str()]);
    assert_refused(wrong.app_token().await, Service::Tapd);
    // A refusal for bad client credentials does not burn the code.
    client.exchange_code(&code, TAPD_CB).await.unwrap();

    // Wrong redirect URI: refused, and the code is burnt.
    let code = tapd_code(&sb, WS).await;
    let e = assert_refused(client.exchange_code(&code, "https://glue.example/elsewhere").await, Service::Tapd);
    assert_clean(&e, &[code.expose()]);
    assert_refused(client.exchange_code(&code, TAPD_CB).await, Service::Tapd);

    // An expired code is refused too.
    let code = tapd_code(&sb, WS).await;
    sb.expire_codes();
    assert_refused(client.exchange_code(&code, TAPD_CB).await, Service::Tapd);

    assert_eq!(sb.issued_tokens().tapd_user, 2);
}

#[tokio::test]
async fn tapd_refresh_rotates_the_refresh_token() {
    let sb = start().await;
    let client = tapd(&sb);
    let first = tapd_user_token(&sb, &client).await;
    let r1 = first.refresh_token.clone().unwrap();

    let second = client.refresh(&r1).await.unwrap();
    let r2 = second.refresh_token.clone().expect("a rotated refresh token");
    assert_ne!(r2, r1);
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(second.workspace(), Some(&ws()));
    assert_eq!(sb.issued_tokens().tapd_refresh, 1);
    let got = client.get_item(&second.access_token, &ws(), ItemKind::Bug, &item(BUG)).await.unwrap();
    assert_eq!(got.unwrap().name, "Crash on login");

    // The old refresh token is single use.
    let e = assert_refused(client.refresh(&r1).await, Service::Tapd);
    assert_clean(&e, &[r1.expose(), r2.expose()]);
    // The new one works.
    client.refresh(&r2).await.unwrap();
    assert_eq!(sb.issued_tokens().tapd_refresh, 2);
}

#[tokio::test]
async fn tapd_expired_access_token_is_unauthorized_and_refresh_recovers() {
    let sb = start().await;
    let client = tapd(&sb);
    let token = tapd_user_token(&sb, &client).await;
    sb.expire_access_tokens();

    let e = client.get_item(&token.access_token, &ws(), ItemKind::Story, &item(STORY)).await.unwrap_err();
    assert_eq!(e, UpstreamError::Unauthorized { service: Service::Tapd });
    assert!(!e.is_transient());
    assert_clean(&e, &[token.access_token.expose()]);
    assert_eq!(last_request(&sb).status, 401);
    let e = client.add_comment(&token.access_token, &ws(), ItemKind::Story, &item(STORY), "hi", "bot").await;
    assert_eq!(e.unwrap_err(), UpstreamError::Unauthorized { service: Service::Tapd });
    let e =
        client.update_field(&token.access_token, &ws(), ItemKind::Story, &item(STORY), "custom_field_one", "x").await;
    assert_eq!(e.unwrap_err(), UpstreamError::Unauthorized { service: Service::Tapd });
    assert!(sb.comments().is_empty());
    assert!(sb.item_updates().is_empty());

    // Refresh tokens survive the access token's expiry.
    let fresh = client.refresh(token.refresh_token.as_ref().unwrap()).await.unwrap();
    assert!(client.get_item(&fresh.access_token, &ws(), ItemKind::Story, &item(STORY)).await.unwrap().is_some());
}

// ---------------------------------------------------------------- TAPD: API

#[tokio::test]
async fn tapd_app_token_reads_items_of_every_kind() {
    let sb = start().await;
    let client = tapd(&sb);
    let app = client.app_token().await.unwrap();
    assert_eq!(app.resource.as_ref().map(|r| r.kind.as_str()), Some("open_app_auth"), "{:?}", app.resource);
    assert_eq!(app.workspace(), None);
    assert!(app.refresh_token.is_none());
    assert_eq!(sb.issued_tokens().tapd_app, 1);
    let t = &app.access_token;

    let story = client.get_item(t, &ws(), ItemKind::Story, &item(STORY)).await.unwrap().unwrap();
    assert_eq!((story.id.as_str(), story.name.as_str()), (STORY, "Checkout is slow"));
    // Bugs carry their name in `title`.
    let bug = client.get_item(t, &ws(), ItemKind::Bug, &item(BUG)).await.unwrap().unwrap();
    assert_eq!((bug.id.as_str(), bug.name.as_str()), (BUG, "Crash on login"));
    let task = client.get_item(t, &ws(), ItemKind::Task, &item(TASK)).await.unwrap().unwrap();
    assert_eq!(task.name, "Write the runbook");

    // Missing: no such id, or an id of another kind.
    assert_eq!(client.get_item(t, &ws(), ItemKind::Story, &item(MISSING)).await.unwrap(), None);
    assert_eq!(client.get_item(t, &ws(), ItemKind::Story, &item(BUG)).await.unwrap(), None);

    let paths: Vec<String> = sb.requests().into_iter().map(|r| r.path).collect();
    for p in ["/tapd/api/stories", "/tapd/api/bugs", "/tapd/api/tasks"] {
        assert!(paths.iter().any(|x| x == p), "{p} not called: {paths:?}");
    }
}

#[tokio::test]
async fn tapd_comments_land_on_the_right_entry_type_and_are_listed() {
    let sb = start().await;
    let client = tapd(&sb);
    let token = tapd_user_token(&sb, &client).await;
    let t = &token.access_token;

    let cases = [(ItemKind::Story, STORY, "stories"), (ItemKind::Bug, BUG, "bug"), (ItemKind::Task, TASK, "tasks")];
    for (kind, id, entry_type) in cases {
        let text = format!("Doc for {entry_type}: https://docs.qq.com/doc/x?a=1&b=2 — 文档");
        let comment_id = client.add_comment(t, &ws(), kind, &item(id), &text, "TAPD Docs").await.unwrap();
        assert_eq!(comment_id.len(), 19, "{comment_id}");

        let landed = sb.comments().into_iter().find(|c| c.id == comment_id).expect("comment in the sandbox");
        assert_eq!(landed.workspace_id, WS);
        assert_eq!(landed.entry_type, entry_type);
        assert_eq!(landed.entry_id, id);
        assert_eq!(landed.description, text, "form encoding must round-trip & and non-ASCII");

        let listed = client.comments_page(t, &ws(), kind, &item(id), 1).await.unwrap();
        assert_eq!(listed, vec![TapdComment { id: comment_id, description: text }]);
    }
    assert_eq!(sb.comments().len(), 3);

    // An item without comments lists nothing; a comment on a missing item is refused.
    sb.add_item(WS, SbKind::Story, MISSING, "Fresh");
    assert!(client.comments_page(t, &ws(), ItemKind::Story, &item(MISSING), 1).await.unwrap().is_empty());
    let e = client.add_comment(t, &ws(), ItemKind::Bug, &item(STORY), "nope", "bot").await;
    assert_refused(e, Service::Tapd);
    assert_eq!(sb.comments().len(), 3);
}

#[tokio::test]
async fn tapd_update_field_lands_in_the_item() {
    let sb = start().await;
    let client = tapd(&sb);
    let token = client.app_token().await.unwrap();
    let url = "https://docs.qq.com/doc/DAbc?x=1&y=2";
    client.update_field(&token.access_token, &ws(), ItemKind::Bug, &item(BUG), "custom_field_doc", url).await.unwrap();

    let updates = sb.item_updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].workspace_id, WS);
    assert_eq!(updates[0].kind, SbKind::Bug);
    assert_eq!(updates[0].id, BUG);
    assert_eq!(updates[0].fields.len(), 1, "{:?}", updates[0].fields);
    assert_eq!(updates[0].fields["custom_field_doc"], url);
    assert_eq!(sb.item(WS, SbKind::Bug, BUG).unwrap().fields["custom_field_doc"], url);
    assert_eq!(last_request(&sb).path, "/tapd/api/bugs");

    // An unknown item is refused and nothing is recorded.
    let e = client.update_field(&token.access_token, &ws(), ItemKind::Story, &item(MISSING), "cus_doc", url).await;
    assert_refused(e, Service::Tapd);
    assert_eq!(sb.item_updates().len(), 1);
}

// ---------------------------------------------------------------- TAPD: faults

#[tokio::test]
async fn tapd_faults_are_classified() {
    let sb = start().await;
    let client = tapd(&sb);
    let token = client.app_token().await.unwrap();
    let t = &token.access_token;
    let (w, id) = (ws(), item(STORY));
    let get = || client.get_item(t, &w, ItemKind::Story, &id);

    sb.inject(Fault::once("/tapd/api/stories", FaultKind::Status(503)));
    let e = get().await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable { service: Service::Tapd, .. }), "{e:?}");
    assert!(e.is_transient());

    sb.inject(Fault::once("/tapd/api/stories", FaultKind::Status(429)));
    let e = get().await.unwrap_err();
    assert_eq!(e, UpstreamError::RateLimited { service: Service::Tapd });
    assert!(e.is_transient());

    sb.inject(Fault::once("/tapd/api/stories", FaultKind::Malformed));
    let e = get().await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { service: Service::Tapd, .. }), "{e:?}");

    // `data` of the wrong type must not read as "no such item".
    sb.inject(Fault::once("/tapd/api/stories", FaultKind::WrongShape));
    let e = get().await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { service: Service::Tapd, .. }), "{e:?}");

    sb.inject(Fault::once("/tapd/api/stories", FaultKind::Reset));
    let e = get().await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable { service: Service::Tapd, .. }), "{e:?}");
    assert!(e.is_transient());
    assert_eq!(last_request(&sb).status, 0, "the sandbox dropped the connection");
    assert_clean(&e, &[t.expose(), sb.config().tapd_client_secret.as_str()]);

    // Every fault was one-shot: the next call works.
    assert_eq!(get().await.unwrap().unwrap().name, "Checkout is slow");
    assert!(sb.faults().is_empty());
}

#[tokio::test]
async fn tapd_faults_on_writes_and_token_endpoints_are_classified() {
    let sb = start().await;
    let client = tapd(&sb);
    let token = client.app_token().await.unwrap();
    let t = &token.access_token;

    sb.inject(Fault::once("/tapd/api/comments", FaultKind::WrongShape));
    let e = client.add_comment(t, &ws(), ItemKind::Story, &item(STORY), "x", "bot").await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { .. }), "{e:?}");

    sb.inject(Fault::once("/tapd/api/comments", FaultKind::WrongShape));
    let e = client.comments_page(t, &ws(), ItemKind::Story, &item(STORY), 1).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { .. }), "{e:?}");

    sb.inject(Fault::once("/tapd/api/bugs", FaultKind::Status(502)));
    let e = client.update_field(t, &ws(), ItemKind::Bug, &item(BUG), "cus_doc", "x").await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable { .. }), "{e:?}");

    sb.inject(Fault::once("/tapd/api/tokens", FaultKind::Status(503)));
    let e = client.app_token().await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable { .. }), "{e:?}");
    assert_clean(&e, &[sb.config().tapd_client_secret.as_str()]);

    sb.inject(Fault::once("/tapd/api/tokens", FaultKind::Status(429)));
    assert_eq!(client.app_token().await.unwrap_err(), UpstreamError::RateLimited { service: Service::Tapd });

    sb.inject(Fault::once("/tapd/api/tokens", FaultKind::WrongShape));
    let e = client.app_token().await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { .. }), "{e:?}");

    // A failed exchange through a fault does not reach the sandbox: the code still works.
    let code = tapd_code(&sb, WS).await;
    sb.inject(Fault::once("/tapd/api/tokens", FaultKind::Malformed));
    let e = client.exchange_code(&code, TAPD_CB).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { .. }), "{e:?}");
    assert_clean(&e, &[code.expose()]);
    client.exchange_code(&code, TAPD_CB).await.unwrap();

    assert!(sb.comments().is_empty());
    assert!(sb.item_updates().is_empty());
}

#[tokio::test]
async fn tapd_slow_reply_times_out_as_unavailable() {
    let sb = start().await;
    let client = tapd(&sb);
    let token = client.app_token().await.unwrap();
    sb.inject(Fault::once("/tapd/api/stories", FaultKind::Delay(Duration::from_millis(2500))));
    let e = client.get_item(&token.access_token, &ws(), ItemKind::Story, &item(STORY)).await.unwrap_err();
    assert_eq!(e, UpstreamError::Unavailable { service: Service::Tapd, detail: "timed out".into() });
    assert!(e.is_transient());
}

// ---------------------------------------------------------------- Tencent Docs: OAuth

#[tokio::test]
async fn tdoc_authorize_url_opens_the_consent_page() {
    let sb = start().await;
    let url = tdoc(&sb).authorize_url(TDOC_CB, "st-9");
    let parsed = url::Url::parse(&url).unwrap();
    assert_eq!(parsed.path(), "/tdoc/oauth/v2/authorize");
    let q: HashMap<String, String> = parsed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    assert_eq!(q["client_id"], sb.config().tdoc_client_id);
    assert_eq!(q["redirect_uri"], TDOC_CB);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "all");
    assert_eq!(q["state"], "st-9");
    assert!(!url.contains(&sb.config().tdoc_client_secret));
    assert_eq!(browser().get(&url).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn tdoc_code_exchange_gives_the_open_id() {
    let sb = start().await;
    let client = tdoc(&sb);
    let token = tdoc_user_token(&sb, &client, ALICE).await;
    assert_eq!(token.open_id.as_str(), ALICE);
    assert!(token.refresh_token.is_some());
    assert!(!token.expires_within(3600));
    assert_eq!(sb.issued_tokens().tdoc_user, 1);

    let bob = tdoc_user_token(&sb, &client, BOB).await;
    assert_eq!(bob.open_id.as_str(), BOB);

    let info = client.user_info(&token.access_token).await.unwrap();
    assert_eq!((info.open_id.as_str(), info.nick.as_str()), (ALICE, "Alice"));
}

#[tokio::test]
async fn tdoc_reused_expired_and_mismatched_codes_are_refused() {
    let sb = start().await;
    let client = tdoc(&sb);
    let secret = sb.config().tdoc_client_secret.clone();

    let code = tdoc_code(&sb, ALICE).await;
    client.exchange_code(&code, TDOC_CB).await.unwrap();
    let e = assert_refused(client.exchange_code(&code, TDOC_CB).await, Service::Tdoc);
    assert!(matches!(e, UpstreamError::Refused { status: 401, .. }), "{e:?}");
    assert_clean(&e, &[code.expose(), &secret]);

    let code = tdoc_code(&sb, ALICE).await;
    sb.expire_codes();
    let e = assert_refused(client.exchange_code(&code, TDOC_CB).await, Service::Tdoc);
    assert_clean(&e, &[code.expose(), &secret]);

    let code = tdoc_code(&sb, ALICE).await;
    let e = assert_refused(client.exchange_code(&code, "https://glue.example/other").await, Service::Tdoc);
    assert_clean(&e, &[code.expose(), &secret]);

    // Wrong client secret: refused, and the secret presented is not echoed.
    let mut cfg = tdoc_config(&sb);
    cfg.client_secret = ClientSecret::fixed(Secret::new("wrong-tdoc-secret-42"));
    let wrong = TdocClient::new(http_client(Duration::from_secs(2)), cfg);
    let code = tdoc_code(&sb, ALICE).await;
    let e = assert_refused(wrong.exchange_code(&code, TDOC_CB).await, Service::Tdoc);
    assert_clean(&e, &[code.expose(), "wrong-tdoc-secret-42", &secret]);
    let e = assert_refused(wrong.app_account_token().await, Service::Tdoc);
    assert_clean(&e, &["wrong-tdoc-secret-42", &secret]);

    assert_eq!(sb.issued_tokens().tdoc_user, 1);
    // No secret ever shows up in what the sandbox recorded (paths only).
    assert!(sb.requests().iter().all(|r| !r.path.contains(&secret) && !r.path.contains('?')));
}

#[tokio::test]
async fn tdoc_refresh_keeps_the_old_refresh_token_when_the_reply_has_none() {
    let sb = start().await;
    let client = tdoc(&sb);
    let token = tdoc_user_token(&sb, &client, ALICE).await;
    sb.expire_access_tokens();
    let e = client.user_info(&token.access_token).await.unwrap_err();
    assert_eq!(e, UpstreamError::Unauthorized { service: Service::Tdoc });

    let fresh = client.refresh(&token).await.unwrap();
    assert_ne!(fresh.access_token, token.access_token);
    assert_eq!(fresh.refresh_token, token.refresh_token, "kept the old refresh token");
    assert_eq!(fresh.open_id, token.open_id);
    assert_eq!(sb.issued_tokens().tdoc_refresh, 1);
    assert_eq!(client.user_info(&fresh.access_token).await.unwrap().open_id.as_str(), ALICE);
    // And the kept one still works.
    client.refresh(&fresh).await.unwrap();

    // A dead refresh token is refused.
    sb.expire_refresh_tokens();
    let e = assert_refused(client.refresh(&fresh).await, Service::Tdoc);
    assert_clean(&e, &[fresh.refresh_token.as_ref().unwrap().expose(), &sb.config().tdoc_client_secret]);
}

#[tokio::test]
async fn tdoc_refresh_takes_a_rotated_refresh_token() {
    let sb = start_with(|c| c.tdoc_refresh_returns_new_refresh_token = true).await;
    let client = tdoc(&sb);
    let token = tdoc_user_token(&sb, &client, ALICE).await;
    let fresh = client.refresh(&token).await.unwrap();
    assert!(fresh.refresh_token.is_some());
    assert_ne!(fresh.refresh_token, token.refresh_token);
    assert_refused(client.refresh(&token).await, Service::Tdoc);
    client.refresh(&fresh).await.unwrap();
}

#[tokio::test]
async fn tdoc_app_account_token_acts_as_the_app() {
    let sb = start().await;
    let client = tdoc(&sb);
    let app = client.app_account_token().await.unwrap();
    assert_eq!(app.open_id.as_str(), sb.tdoc_app_open_id());
    assert_eq!(sb.issued_tokens().tdoc_app, 1);
    let info = client.user_info(&app.access_token).await.unwrap();
    assert_eq!(info.open_id.as_str(), sb.tdoc_app_open_id());

    let doc = client.create_file(&app, "App doc", "doc", None).await.unwrap();
    let docs = sb.docs();
    assert_eq!(docs.len(), 1);
    assert_eq!((docs[0].id.as_str(), docs[0].owner_open_id.as_str()), (doc.id.as_str(), app.open_id.as_str()));
}

// ---------------------------------------------------------------- Tencent Docs: files

#[tokio::test]
async fn tdoc_create_file_and_insert_text() {
    let sb = start().await;
    let client = tdoc(&sb);
    let alice = tdoc_user_token(&sb, &client, ALICE).await;

    let file = client.create_file(&alice, "Crash on login", "doc", None).await.unwrap();
    assert!(file.id.contains('$'), "{}", file.id);
    assert!(file.url.starts_with("http"), "{}", file.url);
    assert_eq!(file.title, "Crash on login");
    let docs = sb.docs();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].id, file.id);
    assert_eq!(docs[0].url, file.url);
    assert_eq!(docs[0].owner_open_id, ALICE);
    assert_eq!(docs[0].doc_type, "doc");
    assert_eq!(docs[0].content, "");
    // The doc's URL opens.
    assert_eq!(browser().get(&file.url).send().await.unwrap().status(), StatusCode::OK);

    client.insert_text(&alice, &file.id, "TAPD: https://www.tapd.cn/x?a=1&b=2\n").await.unwrap();
    client.insert_text(&alice, &file.id, "第二段 \"quoted\" 50% + more").await.unwrap();
    let doc = sb.docs().into_iter().find(|d| d.id == file.id).unwrap();
    // Each insert goes to the doc's start (index 1), as documented.
    assert_eq!(doc.content, "第二段 \"quoted\" 50% + moreTAPD: https://www.tapd.cn/x?a=1&b=2\n");

    // The `$` travelled percent-encoded, and only it.
    let req = last_request(&sb);
    assert_eq!(req.method, "POST");
    assert_eq!(req.status, 200);
    assert_eq!(req.path, format!("/tdoc/openapi/doc/v3/{}:batchUpdate", file.id.replace('$', "%24")));

    // Another user's token cannot write into Alice's doc.
    let bob = tdoc_user_token(&sb, &client, BOB).await;
    assert_refused(client.insert_text(&bob, &file.id, "intrusion").await, Service::Tdoc);
    assert_eq!(sb.docs()[0].content, doc.content);
}

#[tokio::test]
async fn tdoc_titles_are_limited_to_36_characters_not_bytes() {
    let sb = start().await;
    let client = tdoc(&sb);
    let alice = tdoc_user_token(&sb, &client, ALICE).await;
    assert_eq!(sandbox::MAX_TITLE_CHARS, 36);

    let too_long = "a".repeat(37);
    let e = assert_refused(client.create_file(&alice, &too_long, "doc", None).await, Service::Tdoc);
    assert!(matches!(e, UpstreamError::Refused { status: 400, .. }), "{e:?}");
    assert!(sb.docs().is_empty());

    let cjk: String = "需求文档标题".chars().cycle().take(36).collect();
    assert_eq!(cjk.chars().count(), 36);
    assert!(cjk.len() > 100, "36 CJK characters are over 100 bytes");
    let file = client.create_file(&alice, &cjk, "doc", None).await.unwrap();
    assert_eq!(file.title, cjk);
    assert_eq!(sb.docs()[0].title, cjk);

    let sheet = client.create_file(&alice, &"b".repeat(36), "sheet", None).await.unwrap();
    assert_eq!(sb.docs().into_iter().find(|d| d.id == sheet.id).unwrap().doc_type, "sheet");

    // An unknown type is refused too.
    assert_refused(client.create_file(&alice, "x", "spreadsheet", None).await, Service::Tdoc);
    assert_eq!(sb.docs().len(), 2);
}

#[tokio::test]
async fn tdoc_insert_text_on_an_unknown_file_is_refused() {
    let sb = start().await;
    let client = tdoc(&sb);
    let alice = tdoc_user_token(&sb, &client, ALICE).await;
    let e = assert_refused(client.insert_text(&alice, "300000000$NoSuchFile00", "x").await, Service::Tdoc);
    assert!(matches!(e, UpstreamError::Refused { status: 404, .. }), "{e:?}");
    assert!(e.to_string().contains("10102"), "{e}");
    assert_clean(&e, &[alice.access_token.expose()]);
    // Characters that would change the path are encoded, not interpreted.
    let e = assert_refused(client.insert_text(&alice, "a/../b?c#d", "x").await, Service::Tdoc);
    assert!(matches!(e, UpstreamError::Refused { status: 404, .. }), "{e:?}");
    assert_eq!(last_request(&sb).path, "/tdoc/openapi/doc/v3/a%2F..%2Fb%3Fc%23d:batchUpdate");
}

#[tokio::test]
async fn tdoc_expired_token_is_unauthorized() {
    let sb = start().await;
    let client = tdoc(&sb);
    let alice = tdoc_user_token(&sb, &client, ALICE).await;
    let file = client.create_file(&alice, "Before expiry", "doc", None).await.unwrap();
    sb.expire_access_tokens();

    let unauthorized = UpstreamError::Unauthorized { service: Service::Tdoc };
    let e = client.create_file(&alice, "After expiry", "doc", None).await.unwrap_err();
    assert_eq!(e, unauthorized);
    assert!(!e.is_transient());
    assert_clean(&e, &[alice.access_token.expose()]);
    assert_eq!(client.insert_text(&alice, &file.id, "x").await.unwrap_err(), unauthorized);
    assert_eq!(client.user_info(&alice.access_token).await.unwrap_err(), unauthorized);
    assert_eq!(sb.docs().len(), 1);
    assert_eq!(sb.docs()[0].content, "");

    let fresh = client.refresh(&alice).await.unwrap();
    client.insert_text(&fresh, &file.id, "after refresh").await.unwrap();
    assert_eq!(sb.docs()[0].content, "after refresh");
}

#[tokio::test]
async fn tdoc_faults_are_classified() {
    let sb = start().await;
    let client = tdoc(&sb);
    let alice = tdoc_user_token(&sb, &client, ALICE).await;
    let file = client.create_file(&alice, "Target", "doc", None).await.unwrap();

    sb.inject(Fault::once("/tdoc/openapi/drive", FaultKind::Status(503)));
    let e = client.create_file(&alice, "x", "doc", None).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable { service: Service::Tdoc, .. }), "{e:?}");
    assert!(e.is_transient());

    sb.inject(Fault::once("/tdoc/openapi/doc", FaultKind::Status(503)));
    let e = client.insert_text(&alice, &file.id, "x").await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable { .. }), "{e:?}");

    sb.inject(Fault::once("/tdoc/openapi/drive", FaultKind::Status(429)));
    let e = client.create_file(&alice, "x", "doc", None).await.unwrap_err();
    assert_eq!(e, UpstreamError::RateLimited { service: Service::Tdoc });

    sb.inject(Fault::once("/tdoc/openapi/drive", FaultKind::Malformed));
    let e = client.create_file(&alice, "x", "doc", None).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { service: Service::Tdoc, .. }), "{e:?}");

    sb.inject(Fault::once("/tdoc/openapi/drive", FaultKind::WrongShape));
    let e = client.create_file(&alice, "x", "doc", None).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { .. }), "{e:?}");

    sb.inject(Fault::once("/tdoc/openapi/doc", FaultKind::Malformed));
    let e = client.insert_text(&alice, &file.id, "x").await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { .. }), "{e:?}");

    sb.inject(Fault::once("/tdoc/openapi/doc", FaultKind::Reset));
    let e = client.insert_text(&alice, &file.id, "x").await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable { .. }), "{e:?}");
    assert_clean(&e, &[alice.access_token.expose()]);

    sb.inject(Fault::once("/tdoc/oauth/v2/token", FaultKind::Status(503)));
    let e = client.refresh(&alice).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unavailable { .. }), "{e:?}");
    assert_clean(&e, &[sb.config().tdoc_client_secret.as_str(), alice.refresh_token.as_ref().unwrap().expose()]);

    sb.inject(Fault::once("/tdoc/oauth/v2/token", FaultKind::Status(429)));
    assert_eq!(client.refresh(&alice).await.unwrap_err(), UpstreamError::RateLimited { service: Service::Tdoc });

    sb.inject(Fault::once("/tdoc/oauth/v2/token", FaultKind::Malformed));
    let e = client.refresh(&alice).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { .. }), "{e:?}");

    sb.inject(Fault::once("/tdoc/oauth/v2/userinfo", FaultKind::WrongShape));
    let e = client.user_info(&alice.access_token).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed { .. }), "{e:?}");

    // Nothing landed through the faults; the next calls work.
    assert_eq!(sb.docs().len(), 1);
    assert_eq!(sb.docs()[0].content, "");
    client.insert_text(&alice, &file.id, "ok").await.unwrap();
    assert_eq!(sb.docs()[0].content, "ok");
    assert!(sb.faults().is_empty());
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn no_error_display_carries_a_secret_or_token() {
    let sb = start().await;
    let tapd_client = tapd(&sb);
    let tdoc_client = tdoc(&sb);
    let tapd_token = tapd_user_token(&sb, &tapd_client).await;
    let tdoc_token = tdoc_user_token(&sb, &tdoc_client, ALICE).await;
    let tapd_refresh = tapd_token.refresh_token.clone().unwrap();
    let tdoc_refresh = tdoc_token.refresh_token.clone().unwrap();
    let secrets = [
        sb.config().tapd_client_secret.clone(),
        sb.config().tdoc_client_secret.clone(),
        tapd_token.access_token.expose().to_owned(),
        tapd_refresh.expose().to_owned(),
        tdoc_token.access_token.expose().to_owned(),
        tdoc_refresh.expose().to_owned(),
    ];
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();

    let mut errors = Vec::new();
    // Transport failures on URLs that hold the client secret in their query.
    sb.inject(Fault::once("/tdoc/oauth/v2/token", FaultKind::Reset));
    errors.push(tdoc_client.refresh(&tdoc_token).await.unwrap_err());
    sb.inject(Fault::once("/tdoc/oauth/v2/token", FaultKind::Delay(Duration::from_millis(2500))));
    errors.push(tdoc_client.refresh(&tdoc_token).await.unwrap_err());
    sb.inject(Fault::once("/tdoc/oauth/v2/userinfo", FaultKind::Reset));
    errors.push(tdoc_client.user_info(&tdoc_token.access_token).await.unwrap_err());
    sb.inject(Fault::once("/tapd/api/tokens", FaultKind::Reset));
    errors.push(tapd_client.refresh(&tapd_refresh).await.unwrap_err());
    // Refusals quoting the provider's message.
    sb.inject(Fault::once("/tdoc/oauth/v2/token", FaultKind::Status(400)));
    errors.push(tdoc_client.refresh(&tdoc_token).await.unwrap_err());
    sb.inject(Fault::once("/tapd/api/stories", FaultKind::Status(403)));
    errors
        .push(tapd_client.get_item(&tapd_token.access_token, &ws(), ItemKind::Story, &item(STORY)).await.unwrap_err());
    sb.expire_access_tokens();
    errors.push(tdoc_client.user_info(&tdoc_token.access_token).await.unwrap_err());
    errors
        .push(tapd_client.get_item(&tapd_token.access_token, &ws(), ItemKind::Story, &item(STORY)).await.unwrap_err());
    // A dead token in the OpenAPI headers.
    errors.push(tdoc_client.create_file(&tdoc_token, "x", "doc", None).await.unwrap_err());

    assert_eq!(errors.len(), 9);
    for e in &errors {
        assert_clean(e, &secrets);
    }
    // The variety we meant to check.
    assert!(errors.iter().any(|e| matches!(e, UpstreamError::Unavailable { .. })));
    assert!(errors.iter().any(|e| matches!(e, UpstreamError::Refused { .. })));
    assert!(errors.iter().any(|e| matches!(e, UpstreamError::Unauthorized { .. })));
    assert!(
        errors.iter().any(|e| e == &UpstreamError::Unavailable { service: Service::Tdoc, detail: "timed out".into() })
    );
}

// ---------------------------------------------------------------- Tencent Docs: variants, redirects

/// A listener on another port that records the head of every request it gets (and answers 200 `{}`).
async fn recording_listener() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            log.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await;
        }
    });
    (port, seen)
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_origin() {
    let sb = start().await;
    let client = tdoc(&sb);
    let alice = tdoc_user_token(&sb, &client, ALICE).await;
    let (port, seen) = recording_listener().await;
    for path in ["/tdoc/openapi/drive/v2/files", "/tdoc/openapi/doc/v3/", "/tdoc/oauth/v2/token"] {
        sb.inject(Fault::once(path, FaultKind::Redirect(format!("http://127.0.0.1:{port}/steal"))));
    }
    let e = client.create_file(&alice, "Redirected", "doc", None).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Refused { status: 307, .. }), "{e:?}");
    let file = client.create_file(&alice, "Here", "doc", None).await.unwrap();
    assert!(client.insert_text(&alice, &file.id, "x").await.is_err());
    assert!(client.refresh(&alice).await.is_err());
    // The listener is reachable (the redirects were not followed, not unfollowable).
    let probe = browser().get(format!("http://127.0.0.1:{port}/probe")).send().await.unwrap();
    assert_eq!(probe.status(), StatusCode::OK);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "only the probe arrived: {seen:?}");
    for head in &seen {
        for header in ["access-token", "client-id", "open-id", "authorization", "client_secret"] {
            assert!(!head.to_ascii_lowercase().contains(header), "{header} went elsewhere: {head}");
        }
    }
}

/// Requests the sandbox answered with `status` on paths ending with `suffix`.
fn answered(sb: &Sandbox, status: u16, suffix: &str) -> usize {
    sb.requests().iter().filter(|r| r.status == status && r.path.ends_with(suffix)).count()
}

#[tokio::test]
async fn tdoc_routes_are_found_once_and_remembered() {
    use sandbox::{TdocBatchUpdateRoute, TdocRootFolder, Variants};
    // batchUpdate: the slash route after one miss, then only it.
    let sb = start().await;
    sb.set_variants(Variants { tdoc_batch_update_route: TdocBatchUpdateRoute::Slash, ..Variants::default() });
    let client = tdoc(&sb);
    let alice = tdoc_user_token(&sb, &client, ALICE).await;
    let file = client.create_file(&alice, "Routes", "doc", None).await.unwrap();
    assert_eq!(client.batch_route(), shared::tdoc::BatchRoute::Colon);
    for text in ["one ", "two"] {
        client.insert_text(&alice, &file.id, text).await.unwrap();
    }
    assert_eq!(client.batch_route(), shared::tdoc::BatchRoute::Slash);
    assert_eq!((answered(&sb, 404, ":batchUpdate"), answered(&sb, 200, "/batchUpdate")), (1, 2));
    // Each insert goes to the doc's start (index 1), as documented.
    assert_eq!(sb.docs()[0].content, "twoone ");
    // A missing doc is a missing doc on the remembered route, not a route to change.
    let e = client.insert_text(&alice, "300000000$NoSuchFile00", "x").await.unwrap_err();
    assert!(shared::tdoc::is_missing(&e), "{e:?}");
    assert_eq!(client.batch_route(), shared::tdoc::BatchRoute::Slash);

    // The root: each variant's route found, remembered, and a folder listed as ever.
    for (variant, route) in [
        (TdocRootFolder::Plain, shared::tdoc::RootRoute::Plain),
        (TdocRootFolder::TrailingSlash, shared::tdoc::RootRoute::TrailingSlash),
        (TdocRootFolder::NoId, shared::tdoc::RootRoute::NoId),
    ] {
        let sb = start().await;
        sb.set_variants(Variants { tdoc_root_folder: variant, ..Variants::default() });
        let client = tdoc(&sb);
        let alice = tdoc_user_token(&sb, &client, ALICE).await;
        client.create_file(&alice, "In the root", "doc", None).await.unwrap();
        let before = sb.requests().len();
        for _ in 0..2 {
            let page = client.list_folder(&alice, None, 0).await.unwrap();
            assert_eq!(page.entries.len(), 1, "{variant:?}");
        }
        assert_eq!(client.root_route(), route);
        let misses = sb.requests()[before..].iter().filter(|r| r.status != 200).count();
        let expected = match variant {
            TdocRootFolder::Plain => 0,
            TdocRootFolder::TrailingSlash => 1,
            TdocRootFolder::NoId => 2,
        };
        assert_eq!(misses, expected, "{variant:?}: one miss per route tried, once");
    }
}

/// The doc read as blocks with the offsets the sandbox numbers (as the documented read), and
/// a `batchUpdate` by them: replace one paragraph, delete another, the rest untouched.
#[tokio::test]
async fn tdoc_doc_blocks_are_rewritten_by_their_offsets() {
    use shared::tdoc::Edit;
    for wrapped in [false, true] {
        let sb = start().await;
        if wrapped {
            sb.set_variants(sandbox::Variants {
                tdoc_doc_read: sandbox::ReplyWrapping::Wrapped,
                ..sandbox::Variants::default()
            });
        }
        let client = tdoc(&sb);
        let alice = tdoc_user_token(&sb, &client, ALICE).await;
        let file = client.create_file(&alice, "Blocks", "doc", None).await.unwrap();
        client.insert_text(&alice, &file.id, "卡片 😀\n人写的\n要删的\n尾").await.unwrap();
        let tree = client.read_doc(&alice, &file.id).await.unwrap();
        let texts: Vec<&str> = tree.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["卡片 😀", "人写的", "要删的", "尾"], "wrapped: {wrapped}");
        let (card, gone, next) = (&tree.blocks[0], &tree.blocks[2], &tree.blocks[3]);
        let edits = [
            Edit::Delete { start: gone.begin, length: next.begin - gone.begin },
            Edit::Replace { start: card.begin, length: card.end - card.begin, text: "新卡片".into() },
        ];
        client.batch_update(&alice, &file.id, &edits, tree.version).await.unwrap();
        let doc = sb.docs().into_iter().find(|d| d.id == file.id).unwrap();
        assert_eq!(doc.content, "新卡片\n人写的\n尾", "wrapped: {wrapped}");
    }
}
