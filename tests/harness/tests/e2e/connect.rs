//! The `oauth` release binary under the Lambda Runtime API emulator, against the sandboxes
//! and the local DynamoDB: the connect flow, its binding to the browser that started it,
//! rebinds that need a confirmation, allowlists, app-account mode, and every way it must
//! refuse.

use std::time::Duration;

use harness::apigw::Request;
use harness::flows::{self, confirm_post, connect_cookie, up_to_tdoc_callback};
use harness::stack::{PUBLIC_BASE_URL, Stack, callback};
use sandbox::{Fault, FaultKind};
use shared::connect::{COOKIE, browser_hash};
use shared::ids::WorkspaceId;
use shared::store::{Account, Flow};

fn ws(id: &str) -> WorkspaceId {
    WorkspaceId::parse(id).unwrap()
}

/// The Open-Id a workspace is bound to (`app` for the app account).
async fn bound_to(stack: &Stack, workspace: &str) -> Option<String> {
    let b = stack.store().await.binding(&ws(workspace)).await.unwrap()?;
    Some(match b.account {
        Account::User(o) => o.to_string(),
        Account::App => "app".into(),
    })
}

/// A state bound to a browser holding `nonce`, as `start` stores it.
async fn bound_state(stack: &Stack, flow: &Flow, nonce: &str) -> String {
    let state = shared::random::token();
    stack.store().await.put_bound_state(&state, flow, Some(&browser_hash(nonce)), 600).await.unwrap();
    state
}

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
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    stack.sandbox.add_workspace("20003271", "Payments");
    stack.sandbox.add_tdoc_user("a1b2c3d4", "Lin");

    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    assert_eq!(start.status, 302);
    // The browser binding: a host-only, Secure, HttpOnly, Lax cookie of ten minutes, set
    // through the API Gateway 2.0 response's `cookies`.
    let set = start.header("set-cookie").expect("start sets the browser cookie");
    assert!(set.starts_with(&format!("{COOKIE}=")), "{set}");
    for attr in ["; Path=/", "; Max-Age=600", "; Secure", "; HttpOnly", "; SameSite=Lax"] {
        assert!(set.contains(attr), "{set}");
    }
    let nonce = connect_cookie(&start).unwrap().split_once('=').unwrap().1.to_owned();
    assert!(nonce.len() >= 22, "at least 128 random bits");
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
    assert_eq!(connect_cookie(&to_tdoc).as_deref(), Some(format!("{COOKIE}={nonce}").as_str()), "same browser");
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
    // Named by its nickname, with the next step ready to copy, and no form.
    assert!(done.body.contains("Lin"), "{}", done.body);
    assert!(done.body.contains(&format!("{PUBLIC_BASE_URL}/webhooks/tapd")), "{}", done.body);
    for event in ["story::create", "bug::create", "story::update", "bug::update", "story::delete", "bug::delete"] {
        assert!(done.body.contains(event), "{event}");
    }
    // The workspace's own secret, never the deployment's.
    assert!(done.body.contains("id=\"webhook-secret\">"), "{}", done.body);
    assert!(!done.body.contains("TapdWebhookSecret") && !done.body.contains(harness::stack::WEBHOOK_SECRET));
    assert!(!done.body.contains("<form"));
    assert!(done.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")), "the flow's cookie is cleared");

    let store = stack.store().await;
    let bound = store.binding(&ws("20003271")).await.unwrap().unwrap();
    assert_eq!(bound.account, Account::User(shared::ids::OpenId::parse("a1b2c3d4").unwrap()));
    assert_eq!(bound.connected_by.open_id.as_ref().map(|o| o.as_str()), Some("a1b2c3d4"), "who bound it");
    assert!(bound.connected_at > 0 && bound.nick.as_deref() == Some("Lin"));
    assert_eq!(store.binding(&ws("999")).await.unwrap(), None);
    assert!(store.tapd_token(&ws("20003271")).await.unwrap().is_some());

    // Nothing secret in any log line of the whole flow.
    let logs = oauth.logs().join("\n");
    let c = stack.sandbox.config();
    for secret in [
        c.tapd_client_secret.as_str(),
        c.tdoc_client_secret.as_str(),
        &q("state").unwrap(),
        &tq("state").unwrap(),
        &nonce,
    ] {
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
    harness::needs_local_stack!();
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
    harness::needs_local_stack!();
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
    let nonce = shared::random::token();
    let cookie = format!("{COOKIE}={nonce}");
    let state = bound_state(&stack, &Flow::Tapd, &nonce).await;
    let missing =
        oauth.http(&Request::get(&format!("/oauth/tapd/callback?state={state}")).header("cookie", &cookie)).await;
    assert_eq!(missing.status, 400, "missing code");
    assert_eq!(token_exchanges(&stack), 0);

    let state = bound_state(&stack, &Flow::Tapd, &nonce).await;
    let refused = oauth
        .http(
            &Request::get(&format!("/oauth/tapd/callback?code=not-a-real-code&state={state}"))
                .header("cookie", &cookie),
        )
        .await;
    assert_eq!(refused.status, 400, "refused code: {}", refused.body);

    // A provider error other than a denial: a fixed message, nothing of it echoed.
    let state = bound_state(&stack, &Flow::Tapd, &nonce).await;
    let odd = oauth
        .http(
            &Request::get(&format!("/oauth/tapd/callback?error=%3Cb%3Epwned%3C%2Fb%3E&state={state}"))
                .header("cookie", &cookie),
        )
        .await;
    assert!((400..500).contains(&odd.status));
    assert!(!odd.body.contains("pwned"), "{}", odd.body);
    assert_eq!(token_exchanges(&stack), 1, "only the refused code was exchanged");

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
    assert_eq!(store.binding(&ws("20003273")).await.unwrap(), None);
}

#[tokio::test]
async fn other_paths_and_methods_are_refused_and_duplicate_parameters_too() {
    harness::needs_local_stack!();
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
    harness::needs_local_stack!();
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

/// The forwarded consent link and login CSRF: a callback from a browser that did not start
/// the flow (no cookie, or its own) is refused at both legs, before any exchange.
#[tokio::test]
async fn a_callback_from_another_browser_is_refused_at_both_legs() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    stack.sandbox.add_workspace("20003274", "Attacker's");
    stack.sandbox.add_tdoc_user("feed01", "Victim");
    let store = stack.store().await;

    // TAPD leg: the attacker's consent, its callback opened elsewhere.
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&start.location_url().unwrap(), "20003274", true).await;
    let exchanges = token_exchanges(&stack);
    let no_cookie = oauth.http(&callback(&back).from_another_browser()).await;
    assert_eq!(no_cookie.status, 403, "{}", no_cookie.body);
    assert!(no_cookie.body.contains("browser"), "{}", no_cookie.body);
    assert_secure_page(&no_cookie);
    assert!(no_cookie.header("set-cookie").is_none(), "another browser's cookie is left alone");
    assert_eq!(token_exchanges(&stack), exchanges, "nothing exchanged");
    assert!(store.tapd_token(&ws("20003274")).await.unwrap().is_none(), "no token stored");
    // The state is spent: not even the rightful browser can use that link now.
    assert_eq!(oauth.http(&callback(&back)).await.status, 400);

    // Login CSRF: the victim's browser has a flow of its own; the attacker's callback
    // carries the victim's cookie, which is not the one the attacker's state is bound to.
    let victims = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let victim_cookie = connect_cookie(&victims).unwrap();
    let attackers = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&attackers.location_url().unwrap(), "20003274", true).await;
    let csrf = oauth.http(&callback(&back).header("cookie", &victim_cookie)).await;
    assert_eq!(csrf.status, 403, "{}", csrf.body);
    assert_eq!(token_exchanges(&stack), exchanges);

    // Tencent Docs leg: the TAPD leg done by the attacker, the consent link forwarded to
    // the victim, whose callback carries no (or another) cookie.
    let to_tdoc_cb = up_to_tdoc_callback(&stack, &oauth, "20003274", "feed01").await;
    let exchanges = token_exchanges(&stack);
    let forwarded = oauth.http(&to_tdoc_cb.clone().header("cookie", &victim_cookie)).await;
    assert_eq!(forwarded.status, 403, "{}", forwarded.body);
    assert_eq!(token_exchanges(&stack), exchanges, "the victim's code was not exchanged");
    assert_eq!(store.binding(&ws("20003274")).await.unwrap(), None, "nothing bound");
    assert!(store.tdoc_token(&shared::ids::OpenId::parse("feed01").unwrap()).await.unwrap().is_none());
    let no_cookie = up_to_tdoc_callback(&stack, &oauth, "20003274", "feed01").await;
    assert_eq!(oauth.http(&no_cookie.from_another_browser()).await.status, 403);
    assert_eq!(store.binding(&ws("20003274")).await.unwrap(), None);

    // The rightful flow, in one browser, still connects.
    let own = up_to_tdoc_callback(&stack, &oauth, "20003274", "feed01").await;
    let done = oauth.http(&own).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(bound_to(&stack, "20003274").await.as_deref(), Some("feed01"));
}

/// A workspace bound to one account is rebound to another only through the confirmation
/// form, from the same browser; the old binding is kept as history, the rebind logged and
/// counted.
#[tokio::test]
async fn a_rebind_needs_a_confirmation_from_the_same_browser_and_leaves_history() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    assert_eq!(stack.connect(&oauth, "20003275", "0a0a01").await.status, 200);
    stack.sandbox.add_tdoc_user("0b0b02", "Newcomer");

    // The same account again: no question, the token is refreshed.
    let same = oauth.http(&up_to_tdoc_callback(&stack, &oauth, "20003275", "0a0a01").await).await;
    assert_eq!(same.status, 200, "{}", same.body);
    assert!(!same.body.contains("<form"));
    assert!(stack.store().await.binding_history(&ws("20003275")).await.unwrap().is_empty());

    // Another account: a page naming both, with one post form; nothing replaced yet.
    let ask = oauth.http(&up_to_tdoc_callback(&stack, &oauth, "20003275", "0b0b02").await).await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    assert_eq!(ask.body.matches("<form").count(), 1, "{}", ask.body);
    assert!(ask.body.contains("<form method=\"post\""));
    assert!(ask.body.contains("Docs owner") && ask.body.contains("Newcomer"), "{}", ask.body);
    assert_secure_page(&ask);
    assert_eq!(bound_to(&stack, "20003275").await.as_deref(), Some("0a0a01"));

    // Posted from another browser: refused, and the rightful one can still confirm.
    let other = oauth.http(&confirm_post(&ask).from_another_browser()).await;
    assert_eq!(other.status, 403, "{}", other.body);
    let foreign = format!("{COOKIE}={}", shared::random::token());
    assert_eq!(oauth.http(&confirm_post(&ask).header("cookie", &foreign)).await.status, 403);
    assert_eq!(bound_to(&stack, "20003275").await.as_deref(), Some("0a0a01"));

    let done = oauth.http(&confirm_post(&ask)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Newcomer") && !done.body.contains("<form"), "{}", done.body);
    assert!(done.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    let store = stack.store().await;
    let now = store.binding(&ws("20003275")).await.unwrap().unwrap();
    assert_eq!(now.open_id().map(|o| o.as_str()), Some("0b0b02"));
    assert_eq!(now.connected_by.open_id.as_ref().map(|o| o.as_str()), Some("0b0b02"));
    let history = store.binding_history(&ws("20003275")).await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].open_id().map(|o| o.as_str()), Some("0a0a01"));
    assert!(store.tdoc_token(&shared::ids::OpenId::parse("0b0b02").unwrap()).await.unwrap().is_some());

    // Single use.
    assert!((400..500).contains(&oauth.http(&confirm_post(&ask)).await.status));
    assert_eq!(store.binding_history(&ws("20003275")).await.unwrap().len(), 1);

    // Logged at WARN and counted (EMF) for the alarm.
    let logs = oauth.logs();
    assert!(logs.iter().any(|l| l.contains("rebound") && l.contains("WARN")), "no WARN line for the rebind");
    assert!(logs.iter().any(|l| l.contains("\"Rebinds\":1") && l.contains("CloudWatchMetrics")), "no EMF line");
}

#[tokio::test]
async fn allowlists_refuse_other_workspaces_and_accounts() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    stack.sandbox.add_workspace("20003276", "Listed");
    stack.sandbox.add_workspace("20003277", "Not listed");
    stack.sandbox.add_tdoc_user("0c0c03", "Listed");
    stack.sandbox.add_tdoc_user("0d0d04", "Not listed");
    let oauth = stack.spawn("oauth", &[("ALLOWED_WORKSPACES", "1, 20003276"), ("ALLOWED_OPEN_IDS", "0c0c03,zz")]).await;
    let store = stack.store().await;

    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&start.location_url().unwrap(), "20003277", true).await;
    let refused = oauth.http(&callback(&back)).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("not listed"), "{}", refused.body);
    assert!(store.tapd_token(&ws("20003277")).await.unwrap().is_none());

    let refused = oauth.http(&up_to_tdoc_callback(&stack, &oauth, "20003276", "0d0d04").await).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(store.binding(&ws("20003276")).await.unwrap(), None);

    let done = oauth.http(&up_to_tdoc_callback(&stack, &oauth, "20003276", "0c0c03").await).await;
    assert_eq!(done.status, 200, "{}", done.body);
}

/// `TDOC_OWNER=app`: docs are the app account's, so connecting ends after TAPD.
#[tokio::test]
async fn app_account_mode_connects_after_tapd() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    stack.sandbox.add_workspace("20003278", "Apps");
    let oauth = stack.spawn("oauth", &[("TDOC_OWNER", "app")]).await;
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&start.location_url().unwrap(), "20003278", true).await;
    let done = oauth.http(&callback(&back)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("20003278") && done.body.contains("app account"), "{}", done.body);
    assert!(!done.body.contains("<form"));
    assert_eq!(bound_to(&stack, "20003278").await.as_deref(), Some("app"));
    let tdoc_calls = stack.sandbox.requests().iter().filter(|r| r.path.contains("/oauth/v2/")).count();
    assert_eq!(tdoc_calls, 0, "no Tencent Docs consent in app-account mode");

    // A workspace bound to a user account asks before moving to the app account.
    assert_eq!(stack.connect(&stack.oauth().await, "20003279", "0e0e05").await.status, 200);
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&start.location_url().unwrap(), "20003279", true).await;
    let ask = oauth.http(&callback(&back)).await;
    assert_eq!(ask.status, 200);
    assert_eq!(ask.body.matches("<form").count(), 1, "{}", ask.body);
    assert_eq!(bound_to(&stack, "20003279").await.as_deref(), Some("0e0e05"));
    assert_eq!(oauth.http(&confirm_post(&ask)).await.status, 200);
    assert_eq!(bound_to(&stack, "20003279").await.as_deref(), Some("app"));
}

/// Pages in Simplified Chinese unless the browser prefers English; a TAPD reply naming no
/// workspace ends on a page telling the admin what to do.
#[tokio::test]
async fn pages_speak_chinese_by_default_and_name_a_missing_workspace() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    stack.sandbox.add_workspace("20003280", "Docs");
    stack.sandbox.set_tapd_token_resource(sandbox::TapdTokenResource::UserOnly);
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&start.location_url().unwrap(), "20003280", true).await;
    let page = oauth.http(&callback(&back).header("accept-language", "zh-CN,zh;q=0.9,en;q=0.5")).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("lang=\"zh-CN\"") && page.body.contains("项目管理员"), "{}", page.body);
    assert!(stack.store().await.tapd_token(&ws("20003280")).await.unwrap().is_none());

    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let back = stack.tapd_consent(&start.location_url().unwrap(), "20003280", true).await;
    let page = oauth.http(&callback(&back)).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("workspace admin"), "{}", page.body);

    let no_header = oauth.http(&Request::get("/oauth/nowhere").header("accept-language", "")).await;
    assert!(no_header.body.contains("lang=\"zh-CN\""), "{}", no_header.body);
}

/// Secrets given by ARN (`*_SECRET_ARN`) are read once at init through the extension, and
/// the function works with them; one that cannot be read is an init error naming it.
#[tokio::test]
async fn secrets_given_by_arn_come_from_the_secrets_extension() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let c = stack.sandbox.config();
    let tapd_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tapd-client-AbCdEf";
    let tdoc_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tdoc-client-AbCdEf";
    let key_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/tapd-docs/token-key";
    let (port, seen) = flows::fake_secrets_extension(vec![
        (tapd_arn.into(), c.tapd_client_secret.clone()),
        (tdoc_arn.into(), c.tdoc_client_secret.clone()),
        (key_arn.into(), stack.encryption_key.clone()),
    ])
    .await;
    let port = port.to_string();
    let by_arn = [
        ("TAPD_CLIENT_SECRET", ""),
        ("TDOC_CLIENT_SECRET", ""),
        ("TOKEN_ENCRYPTION_KEY", ""),
        ("TAPD_CLIENT_SECRET_ARN", tapd_arn),
        ("TDOC_CLIENT_SECRET_ARN", tdoc_arn),
        ("TOKEN_ENCRYPTION_KEY_ARN", key_arn),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port.as_str()),
        ("AWS_SESSION_TOKEN", "session-token"),
    ];
    let oauth = stack.spawn("oauth", &by_arn).await;
    let page = stack.connect(&oauth, "20003281", "0f0f06").await;
    assert_eq!(page.status, 200, "{}", page.body);
    // The token was sealed with the key read from Parameter Store: the harness's own store
    // (the same key, given plainly) reads it.
    assert!(stack.store().await.tdoc_token(&shared::ids::OpenId::parse("0f0f06").unwrap()).await.unwrap().is_some());
    let asked = seen.lock().unwrap().clone();
    assert_eq!(asked.len(), 3, "each secret read once, at init: {asked:?}");
    assert!(
        asked
            .iter()
            .any(|r| r.starts_with("GET /systemsmanager/parameters/get?name=") && r.contains("withDecryption=true"))
    );
    let logs = oauth.logs().join("\n");
    assert!(!logs.contains(&c.tapd_client_secret) && !logs.contains(&stack.encryption_key));
    if let Some(init) = oauth.init_duration() {
        let plain = stack.oauth().await;
        let _ = plain.http(&Request::get("/oauth/nowhere")).await;
        println!("init with three secrets by ARN: {init:?}; with plain variables: {:?}", plain.init_duration());
    }

    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf";
    let broken = stack.spawn("oauth", &[by_arn.as_slice(), &[("TDOC_CLIENT_SECRET_ARN", missing)]].concat()).await;
    let err = broken.init_error(Duration::from_secs(10)).await.expect("an init error").to_string();
    assert!(err.contains("TDOC_CLIENT_SECRET_ARN") && err.contains("400"), "{err}");
}
