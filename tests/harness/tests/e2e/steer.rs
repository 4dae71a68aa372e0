//! Who may steer a workspace, through the real `oauth` and `tapd-webhook` binaries: only the
//! workspace's admins as TAPD says (`/users/info`, `/workspaces/users`, `/roles`), or people
//! the operator named, connect it and sign in to its console, and only where the deployment
//! serves it; anyone else gets a `403` page in Chinese first and nothing is written. A rebind
//! to another Tencent Docs account is a takeover boundary: a new webhook secret at once (the
//! old one refused on a warm instance that just admitted it) and every console session ended.

use harness::Function;
use harness::apigw::{Request, Response, browser};
use harness::flows::{WEBHOOK_PATH, confirm_post, create_event, up_to_tdoc_callback, webhook_secret_on};
use harness::stack::{Stack, callback};
use sandbox::{MEMBER_USER_ID, TAPD_USER_ID};
use shared::ids::WorkspaceId;

fn ws(id: &str) -> WorkspaceId {
    WorkspaceId::parse(id).unwrap()
}

/// TAPD's consent for `workspace` as `user`, from the start of the connect flow (or the
/// console's sign-in); our callback's answer.
async fn consent_as(stack: &Stack, oauth: &Function, start: &str, workspace: &str, user: &str) -> Response {
    let to_tapd = oauth.http(&Request::get(start).header("accept-language", "zh-CN,zh;q=0.9")).await;
    assert_eq!(to_tapd.status, 302, "{}", to_tapd.body);
    let back = stack.tapd_consent_as(&to_tapd.location_url().unwrap(), workspace, user, true).await;
    oauth.http(&callback(&back).header("accept-language", "zh-CN,zh;q=0.9")).await
}

/// The refusal page: `403`, Chinese first, saying who may and what to ask.
fn assert_refused_as_not_an_admin(page: &Response) {
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("只有项目管理员可以连接或管理此项目"), "{}", page.body);
    assert!(page.body.contains("tapdocs workspace admins add"), "says what to ask: {}", page.body);
    assert!(page.header("set-cookie").is_none_or(|c| !c.contains("tapd-docs-console=") || c.contains("Max-Age=0")));
}

/// A delivery for `workspace` signed with `secret` (an event the product acknowledges).
fn signed(workspace: &str, secret: &str, n: u32) -> Request {
    let mut e = create_event(workspace, "iteration", "1120003301000000001", &format!("steer-{n}"));
    e["event"] = "iteration::create".into();
    e["secret"] = secret.into();
    Request::post_json(WEBHOOK_PATH, &e)
}

#[tokio::test]
async fn only_a_workspace_s_admins_connect_it_and_nothing_is_written_for_anyone_else() {
    harness::needs_local_stack!();
    const W: &str = "20003301";
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    stack.sandbox.add_workspace(W, "Team workspace");
    stack.sandbox.add_tdoc_user("e1e1e1e1", "Docs owner");

    // anyechen is a developer of the workspace, not an admin.
    let refused = consent_as(&stack, &oauth, "/oauth/tapd/start", W, MEMBER_USER_ID).await;
    assert_refused_as_not_an_admin(&refused);
    // TAPD was asked who consented and what roles they hold.
    let asked: Vec<String> = stack.sandbox.requests().into_iter().map(|r| r.path).collect();
    for path in ["/tapd/api/users/info", "/tapd/api/workspaces/users", "/tapd/api/roles"] {
        assert!(asked.iter().any(|p| p == path), "{path} not asked: {asked:?}");
    }
    let store = stack.store().await;
    assert!(store.tapd_token(&ws(W)).await.unwrap().is_none(), "no TAPD token stored");
    assert!(store.binding(&ws(W)).await.unwrap().is_none());
    assert!(store.webhook_secrets(&ws(W)).await.unwrap().is_none());

    // Someone who is not even a member: the same.
    stack.sandbox.add_tapd_user("1000142499", "visitor", "访客甲");
    assert_refused_as_not_an_admin(&consent_as(&stack, &oauth, "/oauth/tapd/start", W, "1000142499").await);

    // An admin demoted in TAPD is refused from then on; the decision is TAPD's, read each time.
    stack.sandbox.set_member(W, "robertyang", &["1000000000000000009".to_owned()]);
    assert_refused_as_not_an_admin(&consent_as(&stack, &oauth, "/oauth/tapd/start", W, TAPD_USER_ID).await);
    stack.sandbox.set_member(W, "robertyang", &[sandbox::ADMIN_ROLE_ID.to_owned()]);

    // Named by the operator (as `tapdocs workspace admins add` does), anyechen may connect,
    // and the binding records who did.
    assert!(store.set_named_admin(&ws(W), "anyechen", true).await.unwrap());
    let to_tdoc = consent_as(&stack, &oauth, "/oauth/tapd/start", W, MEMBER_USER_ID).await;
    assert_eq!(to_tdoc.status, 302, "{}", to_tdoc.body);
    let flow = browser::set_cookie(&to_tdoc).expect("the flow's cookie");
    let back = stack.tdoc_consent(&to_tdoc.location_url().unwrap(), "e1e1e1e1", true).await;
    let done = oauth.http(&callback(&back).header("cookie", &flow)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let by = store.binding(&ws(W)).await.unwrap().unwrap().connected_by.tapd_user.unwrap_or_default();
    assert!(by.contains("anyechen") && by.contains(MEMBER_USER_ID), "{by}");
    harness::flows::assert_no_panic(&oauth);
}

#[tokio::test]
async fn the_console_lets_in_admins_of_served_workspaces_only_and_the_audit_names_them() {
    harness::needs_local_stack!();
    const W: &str = "20003302";
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    assert_eq!(stack.connect(&oauth, W, "e2e2e2e2").await.status, 200);

    let refused = consent_as(&stack, &oauth, "/console", W, MEMBER_USER_ID).await;
    assert_refused_as_not_an_admin(&refused);

    // A deployment that no longer serves the workspace lets nobody in to its console.
    let narrowed = stack.spawn("oauth", &[("ALLOWED_WORKSPACES", "20009999")]).await;
    let page = consent_as(&stack, &narrowed, "/console", W, TAPD_USER_ID).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("此项目不允许连接"), "{}", page.body);

    // The admin signs in; what they do is audited under their TAPD name.
    let landed = consent_as(&stack, &oauth, "/console", W, TAPD_USER_ID).await;
    assert_eq!(landed.status, 302, "{}", landed.body);
    let cookie = browser::set_cookie(&landed).expect("a console session");
    let page = oauth.http(&Request::get(&format!("/console/ws/{W}")).header("cookie", &cookie)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let at = page.body.find("name=\"csrf\" value=\"").expect("a form") + 19;
    let csrf = &page.body[at..at + page.body[at..].find('"').unwrap()];
    let paused = oauth
        .http(&Request::post_form(&format!("/console/ws/{W}/pause"), &[("csrf", csrf)]).header("cookie", &cookie))
        .await;
    assert_eq!(paused.status, 302, "{}", paused.body);
    let trail = stack.store().await.audit_trail(&ws(W), 10).await.unwrap();
    assert!(trail.iter().any(|a| a.who.contains("robertyang") && a.who.contains(TAPD_USER_ID)), "{trail:?}");
    assert!(trail.iter().all(|a| !a.who.contains("session")), "{trail:?}");

    // The same session is over once the deployment stops serving the workspace.
    let gone = narrowed.http(&Request::get(&format!("/console/ws/{W}")).header("cookie", &cookie)).await;
    assert_eq!(gone.status, 302, "sent to sign in again: {}", gone.body);
    assert_ne!(gone.header("location"), Some(format!("/console/ws/{W}").as_str()));
}

#[tokio::test]
async fn a_rebind_to_another_account_changes_the_secret_at_once_and_ends_console_sessions() {
    harness::needs_local_stack!();
    const W: &str = "20003303";
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    let webhook = stack.webhook().await;
    let first = stack.connect(&oauth, W, "f1f1f1f1").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let old = webhook_secret_on(&first.body);
    // Warm: this instance has just admitted the old secret.
    assert_eq!(webhook.http(&signed(W, &old, 1)).await.status, 200);

    let landed = consent_as(&stack, &oauth, "/console", W, TAPD_USER_ID).await;
    let cookie = browser::set_cookie(&landed).expect("a console session");
    let console = |path: String| Request::get(&path).header("cookie", &cookie);
    assert_eq!(oauth.http(&console(format!("/console/ws/{W}"))).await.status, 200);

    // Rebound to another account, confirmed from the same browser.
    stack.sandbox.add_tdoc_user("f2f2f2f2", "Newcomer");
    let ask = oauth.http(&up_to_tdoc_callback(&stack, &oauth, W, "f2f2f2f2").await).await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    let done = oauth.http(&confirm_post(&ask)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let new = webhook_secret_on(&done.body);
    assert_ne!(new, old, "a takeover gets a new secret");

    // The old secret is refused at once, by the instance that admitted it a moment ago.
    assert_eq!(webhook.http(&signed(W, &old, 2)).await.status, 401);
    assert_eq!(webhook.http(&signed(W, &new, 3)).await.status, 200);

    // The console session from before the takeover is over: pages send it to sign in, forms refuse.
    let page = oauth.http(&console(format!("/console/ws/{W}"))).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let form = Request::post_form(&format!("/console/ws/{W}/pause"), &[("csrf", "x")]).header("cookie", &cookie);
    assert_eq!(oauth.http(&form).await.status, 401);
    assert!(stack.store().await.workspace_settings(&ws(W)).await.unwrap().paused_since_ms.is_none(), "nothing changed");

    // Signing in again works.
    let again = consent_as(&stack, &oauth, "/console", W, TAPD_USER_ID).await;
    let fresh = browser::set_cookie(&again).expect("a new session");
    let page = oauth.http(&Request::get(&format!("/console/ws/{W}")).header("cookie", &fresh)).await;
    assert_eq!(page.status, 200, "{}", page.body);

    // Reconnecting the same account is no takeover: the secret stays.
    let same = oauth.http(&up_to_tdoc_callback(&stack, &oauth, W, "f2f2f2f2").await).await;
    assert_eq!(webhook_secret_on(&same.body), new);
    // An operator's rotation keeps its grace (the old secret works through it).
    let (rotated, _) =
        shared::tenants::rotate(&stack.store().await, &ws(W), std::time::Duration::from_secs(3600)).await.unwrap();
    assert_eq!(webhook.http(&signed(W, &new, 4)).await.status, 200);
    assert_eq!(webhook.http(&signed(W, rotated.expose(), 5)).await.status, 200);
}
