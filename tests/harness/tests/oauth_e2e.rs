//! The `oauth` release binary under the Lambda Runtime API emulator, against the sandboxes
//! and the local DynamoDB: the connect flow and every way it must refuse.

use std::time::Duration;

use harness::apigw::Request;
use harness::stack::{PUBLIC_BASE_URL, Stack, callback};
use sandbox::{Fault, FaultKind};
use shared::ids::WorkspaceId;
use shared::store::Flow;

fn token_exchanges(stack: &Stack) -> usize {
    stack
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/tokens/request_token") || r.path.ends_with("/oauth/v2/token"))
        .count()
}

fn assert_secure_page(resp: &harness::apigw::Response) {
    assert_eq!(resp.header("referrer-policy"), Some("no-referrer"), "{resp:?}");
    assert_eq!(resp.header("cache-control"), Some("no-store"), "{resp:?}");
}

#[tokio::test]
async fn the_connect_flow_binds_the_workspace_the_token_was_issued_for() {
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    stack.sandbox.add_workspace("20003271", "Payments");
    stack.sandbox.add_tdoc_user("a1b2c3d4", "Lin");

    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    assert_eq!(start.status, 302);
    let to_tapd = start.location_url().unwrap();
    assert!(to_tapd.as_str().starts_with(&stack.sandbox.tapd_authorize_url()), "{to_tapd}");
    let q = |name: &str| to_tapd.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(q("response_type").as_deref(), Some("code"));
    assert_eq!(q("client_id"), Some(stack.sandbox.config().tapd_client_id.clone()));
    assert_eq!(q("redirect_uri"), Some(format!("{PUBLIC_BASE_URL}/oauth/tapd/callback")));
    assert_eq!(q("auth_by").as_deref(), Some("user"));
    assert!(q("scope").is_some_and(|s| !s.is_empty()));
    assert!(q("state").unwrap().len() >= 22, "at least 128 random bits");

    let back = stack.tapd_consent(&to_tapd, "20003271", true).await;
    // The query's `resource` is untrusted: point it at another workspace.
    let mut forged = back.clone();
    let pairs: Vec<(String, String)> = back
        .query_pairs()
        .map(|(k, v)| {
            if k == "resource" {
                (k.into(), r#"{"type":"workspace","workspace_id":"999"}"#.into())
            } else {
                (k.into(), v.into())
            }
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let to_tdoc = oauth.http(&callback(&forged)).await;
    assert_eq!(to_tdoc.status, 302, "{}", to_tdoc.body);
    let to_tdoc = to_tdoc.location_url().unwrap();
    assert!(to_tdoc.as_str().starts_with(&format!("{}/oauth/v2/authorize", stack.sandbox.tdoc_base())));
    let tq = |name: &str| to_tdoc.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(tq("redirect_uri"), Some(format!("{PUBLIC_BASE_URL}/oauth/tdoc/callback")));
    assert_eq!(tq("response_type").as_deref(), Some("code"));
    assert_ne!(tq("state"), q("state"), "a new state for the second leg");

    let back = stack.tdoc_consent(&to_tdoc, "a1b2c3d4", true).await;
    let done = oauth.http(&callback(&back)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("20003271") && done.body.contains("connected"), "{}", done.body);
    assert_secure_page(&done);

    let store = stack.store().await;
    let bound = store.binding(&WorkspaceId::parse("20003271").unwrap()).await.unwrap();
    assert_eq!(bound.map(|o| o.to_string()).as_deref(), Some("a1b2c3d4"));
    assert_eq!(store.binding(&WorkspaceId::parse("999").unwrap()).await.unwrap(), None);
    assert!(store.tapd_token(&WorkspaceId::parse("20003271").unwrap()).await.unwrap().is_some());

    // Nothing secret in any log line of the whole flow.
    let logs = oauth.logs().join("\n");
    let c = stack.sandbox.config();
    for secret in
        [c.tapd_client_secret.as_str(), c.tdoc_client_secret.as_str(), &q("state").unwrap(), &tq("state").unwrap()]
    {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    for (k, v) in back.query_pairs() {
        if k == "code" {
            assert!(!logs.contains(v.as_ref()), "a code reached the logs");
        }
    }
    // One JSON object per line, each carrying the invocation's request id.
    for line in logs.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(v["span"]["requestId"].is_string(), "no request id: {line}");
    }
    assert!(!logs.is_empty());
}

#[tokio::test]
async fn replayed_forged_and_expired_states_are_refused_without_an_exchange() {
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    stack.sandbox.add_workspace("20003272", "Ops");

    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&start.location_url().unwrap(), "20003272", true).await;
    assert_eq!(oauth.http(&callback(&back)).await.status, 302);
    let exchanges = token_exchanges(&stack);

    let replay = oauth.http(&callback(&back)).await;
    assert_eq!(replay.status, 400, "replayed state");
    assert!(replay.body.contains("expired") || replay.body.contains("already used"));
    assert_secure_page(&replay);

    let forged = oauth
        .http(&Request::get("/oauth/tapd/callback?code=abc&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .await;
    assert_eq!(forged.status, 400);
    let junk = oauth.http(&Request::get("/oauth/tapd/callback?code=abc&state=%3Cscript%3E")).await;
    assert_eq!(junk.status, 400);
    assert!(!junk.body.contains("<script>"));
    let no_state = oauth.http(&Request::get("/oauth/tapd/callback?code=abc")).await;
    assert_eq!(no_state.status, 400);

    let store = stack.store().await;
    let expired = shared::random::token();
    store.put_state(&expired, &Flow::Tapd, 0).await.unwrap();
    let resp = oauth.http(&Request::get(&format!("/oauth/tapd/callback?code=abc&state={expired}"))).await;
    assert_eq!(resp.status, 400, "expired state");

    // A TAPD-leg state is no good at the Tencent Docs callback.
    let tapd_state = shared::random::token();
    store.put_state(&tapd_state, &Flow::Tapd, 600).await.unwrap();
    let resp = oauth.http(&Request::get(&format!("/oauth/tdoc/callback?code=abc&state={tapd_state}"))).await;
    assert_eq!(resp.status, 400);

    assert_eq!(token_exchanges(&stack), exchanges, "no code was exchanged for a bad state");
}

#[tokio::test]
async fn denial_missing_and_refused_codes_answer_4xx_and_provider_failures_502() {
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    stack.sandbox.add_workspace("20003273", "QA");

    // The person clicks "Deny" at TAPD.
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&start.location_url().unwrap(), "20003273", false).await;
    assert!(back.query().unwrap().contains("error=access_denied"));
    let denied = oauth.http(&callback(&back)).await;
    assert_eq!(denied.status, 403);
    assert!(denied.body.contains("not granted"));
    assert_secure_page(&denied);

    let store = stack.store().await;
    let state = shared::random::token();
    store.put_state(&state, &Flow::Tapd, 600).await.unwrap();
    let missing = oauth.http(&Request::get(&format!("/oauth/tapd/callback?state={state}"))).await;
    assert_eq!(missing.status, 400, "missing code");
    assert_eq!(token_exchanges(&stack), 0);

    let state = shared::random::token();
    store.put_state(&state, &Flow::Tapd, 600).await.unwrap();
    let refused = oauth.http(&Request::get(&format!("/oauth/tapd/callback?code=not-a-real-code&state={state}"))).await;
    assert_eq!(refused.status, 400, "refused code: {}", refused.body);

    stack.sandbox.inject(Fault::once("/tapd/api/tokens", FaultKind::Status(503)));
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&start.location_url().unwrap(), "20003273", true).await;
    let failed = oauth.http(&callback(&back)).await;
    assert_eq!(failed.status, 502, "{}", failed.body);

    // Tencent Docs refuses an expired code.
    stack.sandbox.add_tdoc_user("ffee01", "QA lead");
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&start.location_url().unwrap(), "20003273", true).await;
    let to_tdoc = oauth.http(&callback(&back)).await;
    let back = stack.tdoc_consent(&to_tdoc.location_url().unwrap(), "ffee01", true).await;
    stack.sandbox.expire_codes();
    let refused = oauth.http(&callback(&back)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(store.binding(&WorkspaceId::parse("20003273").unwrap()).await.unwrap(), None);
}

#[tokio::test]
async fn other_paths_and_methods_are_refused_and_duplicate_parameters_too() {
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    assert_eq!(oauth.http(&Request::get("/oauth/elsewhere")).await.status, 404);
    assert_eq!(oauth.http(&Request::get("/")).await.status, 404);
    let post = oauth.http(&Request::post("/oauth/tapd/start", "text/plain", "x")).await;
    assert_eq!(post.status, 405);
    let dup = oauth.http(&Request::get("/oauth/tapd/callback?code=a&code=b&state=c")).await;
    assert_eq!(dup.status, 400);
    let bad_b64 = oauth.http(&Request::post("/oauth/tapd/start", "text/plain", "%%%").base64(true)).await;
    assert!((400..500).contains(&bad_b64.status));
}

#[tokio::test]
async fn a_misconfigured_function_names_every_bad_variable_at_init() {
    let stack = Stack::new().await;
    let mut oauth =
        stack.spawn("oauth", &[("TABLE_NAME", ""), ("TOKEN_ENCRYPTION_KEY", "not-a-key"), ("TDOC_BASE", "nope")]).await;
    let err = oauth.init_error(Duration::from_secs(10)).await.expect("an init error is reported");
    let msg = err.to_string();
    for name in ["TABLE_NAME", "TOKEN_ENCRYPTION_KEY", "TDOC_BASE"] {
        assert!(msg.contains(name), "{msg}");
    }
    assert!(oauth.exit_status(Duration::from_secs(5)).await.is_some_and(|s| !s.success()));
    let logs = oauth.logs().join("\n");
    assert!(!logs.contains("panicked") && !logs.contains("RUST_BACKTRACE"), "{logs}");
}
