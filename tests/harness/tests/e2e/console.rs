//! The console through the real `oauth` binary: signing in with TAPD, a workspace's items
//! (a linked one, a waiting one with its reason in words), retrying after the upstream
//! recovers, the title template (refused when invalid, followed by the next doc), tenants
//! apart (another workspace's pages and actions are 404), CSRF, signing out, expiry.

use std::time::Duration;

use harness::Function;
use harness::apigw::{Request, Response, browser, scheduled_event};
use harness::flows::{WEBHOOK_PATH, create_event};
use harness::stack::{Stack, callback};
use sandbox::{Fault, FaultKind, ItemKind};

const A: &str = "20003291";
const B: &str = "20003292";

/// Signs in to `ws` through TAPD's consent; the console cookie (`name=value`).
pub(crate) async fn sign_in(stack: &Stack, oauth: &Function, ws: &str, cookie: Option<&str>) -> String {
    let mut start = Request::get("/console");
    if let Some(c) = cookie {
        start = Request::get("/console/signin").header("cookie", c);
    }
    let to_tapd = oauth.http(&start).await;
    assert_eq!(to_tapd.status, 302, "{}", to_tapd.body);
    let back = stack.tapd_consent(&to_tapd.location_url().unwrap(), ws, true).await;
    let mut cb = callback(&back);
    if let Some(c) = cookie {
        // The browser sends both its cookies: the flow's and the console's.
        let flow = browser::set_cookie(&to_tapd).unwrap();
        cb = cb.header("cookie", &format!("{flow}; {c}"));
    }
    let landed = oauth.http(&cb).await;
    assert_eq!(landed.status, 302, "{}", landed.body);
    assert_eq!(landed.header("location"), Some(format!("/console/ws/{ws}").as_str()));
    match cookie {
        Some(c) => c.to_owned(),
        None => {
            let set = landed.header_all("set-cookie").join(" | ");
            assert!(set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Lax"), "{set}");
            browser::set_cookie(&landed).expect("a session cookie")
        }
    }
}

pub(crate) fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

/// As a browser set to Chinese (the console's first language).
pub(crate) async fn get(oauth: &Function, path: &str, cookie: &str) -> Response {
    oauth.http(&Request::get(path).header("cookie", cookie).header("accept-language", "zh-CN,zh;q=0.9")).await
}

pub(crate) async fn post(oauth: &Function, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Response {
    let req = Request::post_form(path, fields).header("cookie", cookie).header("accept-language", "zh-CN");
    oauth.http(&req).await
}

pub(crate) fn delivery(ws: &str, id: &str) -> Request {
    Request::post_json(WEBHOOK_PATH, &create_event(ws, "story", id, id))
}

#[tokio::test]
async fn an_admin_sees_retries_and_sets_up_their_workspace_and_nothing_of_another() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    let webhook = stack.spawn("tapd-webhook", &[("RETRY_PERIOD", "0s")]).await;
    for (ws, open_id) in [(A, "c1c1c1c1"), (B, "d2d2d2d2")] {
        assert_eq!(stack.connect(&oauth, ws, open_id).await.status, 200);
    }
    // A: one linked, one waiting (Tencent Docs down); B: one linked.
    stack.sandbox.add_item(A, ItemKind::Story, "1120003291000000001", "已经关联的需求");
    assert_eq!(webhook.http(&delivery(A, "1120003291000000001")).await.status, 200);
    stack.sandbox.add_item(B, ItemKind::Story, "1120003292000000001", "别的团队的需求");
    assert_eq!(webhook.http(&delivery(B, "1120003292000000001")).await.status, 200);
    stack.sandbox.inject(Fault {
        method: Some("POST".into()),
        path_prefix: "/tdoc/openapi/drive/v2/files$".into(),
        kind: FaultKind::Status(429),
        times: 0,
    });
    stack.sandbox.add_item(A, ItemKind::Story, "1120003291000000002", "等待中的需求");
    assert!(webhook.http(&delivery(A, "1120003291000000002")).await.status >= 500);

    let cookie = sign_in(&stack, &oauth, A, None).await;
    let page = get(&oauth, &format!("/console/ws/{A}"), &cookie).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    assert!(!page.body.contains("<script"), "no scripts in the console");
    assert!(page.body.contains(&format!("TAPD 项目 {A}")), "names its workspace, in Chinese first: {}", page.body);
    assert!(page.body.contains("data-item=\"1120003291000000001\" data-state=\"linked\""), "{}", page.body);
    assert!(page.body.contains("data-item=\"1120003291000000002\" data-state=\"waiting\""), "{}", page.body);
    assert!(page.body.contains("请求过于频繁"), "the reason in plain words: {}", page.body);
    assert!(!page.body.contains("1120003292000000001"), "another workspace's item");
    // English by Accept-Language.
    let en = oauth
        .http(&Request::get(&format!("/console/ws/{A}")).header("cookie", &cookie).header("accept-language", "en"))
        .await;
    assert!(en.body.contains(&format!("TAPD workspace {A}")), "{}", en.body);
    // Filtered by state.
    let waiting = get(&oauth, &format!("/console/ws/{A}?state=waiting"), &cookie).await;
    assert!(
        waiting.body.contains("1120003291000000002") && !waiting.body.contains("data-item=\"1120003291000000001\"")
    );

    // Another workspace: nothing, whatever the URL or the form says.
    let token = csrf(&page.body);
    assert_eq!(get(&oauth, &format!("/console/ws/{B}"), &cookie).await.status, 404);
    for action in ["retry", "retry-given-up", "settings", "rotate-secret"] {
        let resp = post(
            &oauth,
            &format!("/console/ws/{B}/{action}"),
            &cookie,
            &[("csrf", &token), ("item", "story/1120003292000000001"), ("title_template", "X {name}")],
        )
        .await;
        assert_eq!(resp.status, 404, "{action}");
    }
    // Without the CSRF token, or without a session: nothing changes.
    let no_csrf = post(&oauth, &format!("/console/ws/{A}/settings"), &cookie, &[("title_template", "X {name}")]).await;
    assert_eq!(no_csrf.status, 403);
    let no_session = oauth.http(&Request::post_form(&format!("/console/ws/{A}/settings"), &[("csrf", &token)])).await;
    assert!(no_session.status == 401 || no_session.status == 403, "{}", no_session.status);
    let store = stack.store().await;
    let ws_a = shared::ids::WorkspaceId::parse(A).unwrap();
    assert_eq!(store.workspace_settings(&ws_a).await.unwrap().title_template, None);

    // The upstream recovers; a retry, then the schedule links it.
    stack.sandbox.clear_faults();
    let retried = post(
        &oauth,
        &format!("/console/ws/{A}/retry"),
        &cookie,
        &[("csrf", &token), ("item", "story/1120003291000000002")],
    )
    .await;
    assert_eq!(retried.status, 302, "{}", retried.body);
    let run = webhook.invoke(scheduled_event()).await;
    assert!(run.response().is_some_and(|s| s["linked"] == 1), "{run:?}");
    let page = get(&oauth, &format!("/console/ws/{A}"), &cookie).await;
    assert!(page.body.contains("data-item=\"1120003291000000002\" data-state=\"linked\""), "{}", page.body);

    // The title template: an invalid one is refused with why; a valid one is followed next.
    let bad =
        post(&oauth, &format!("/console/ws/{A}/settings"), &cookie, &[("csrf", &token), ("title_template", "{nam}")])
            .await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("id=\"refused\"") && bad.body.contains("placeholder"), "{}", bad.body);
    let saved = post(
        &oauth,
        &format!("/console/ws/{A}/settings"),
        &cookie,
        &[("csrf", &token), ("title_template", "【需求】{name}")],
    )
    .await;
    assert_eq!(saved.status, 302);
    assert_eq!(store.workspace_settings(&ws_a).await.unwrap().title_template.as_deref(), Some("【需求】{name}"));
    stack.sandbox.add_item(A, ItemKind::Story, "1120003291000000003", "下一个需求");
    // A new instance: settings are remembered for minutes by a warm one.
    let fresh = stack.webhook().await;
    assert_eq!(fresh.http(&delivery(A, "1120003291000000003")).await.status, 200);
    assert!(stack.sandbox.docs().iter().any(|d| d.title == "【需求】下一个需求"), "the next doc follows the template");
    // Every action is on the audit trail.
    let page = get(&oauth, &format!("/console/ws/{A}"), &cookie).await;
    assert!(
        page.body.contains("retry story 1120003291000000002") && page.body.contains("title template"),
        "{}",
        page.body
    );

    // Rotating the secret shows the new one once.
    let rotated = post(&oauth, &format!("/console/ws/{A}/rotate-secret"), &cookie, &[("csrf", &token)]).await;
    assert!(rotated.body.contains("id=\"new-webhook-secret\""), "{}", rotated.body);

    // A second workspace in the same browser: both pages, each naming its own.
    let cookie = sign_in(&stack, &oauth, B, Some(&cookie)).await;
    let b = get(&oauth, &format!("/console/ws/{B}"), &cookie).await;
    assert!(b.status == 200 && b.body.contains(&format!("TAPD 项目 {B}")) && b.body.contains("1120003292000000001"));
    assert_eq!(get(&oauth, "/console", &cookie).await.status, 200, "a picker for two workspaces");

    // The other settings, each checked; a refused one changes nothing.
    let refused =
        post(&oauth, &format!("/console/ws/{A}/settings"), &cookie, &[("csrf", &token), ("folder_layout", "tree")])
            .await;
    assert!(refused.body.contains("id=\"refused\""), "{}", refused.body);
    let saved = post(
        &oauth,
        &format!("/console/ws/{A}/settings"),
        &cookie,
        &[("csrf", &token), ("folder_layout", "iteration"), ("permission", "members"), ("doc_type_bug", "sheet")],
    )
    .await;
    assert_eq!(saved.status, 302, "{}", saved.body);
    let settings = store.workspace_settings(&ws_a).await.unwrap();
    assert_eq!(
        (
            settings.folder_layout.map(shared::config::FolderLayout::as_str),
            settings.doc_permission.map(shared::store::PermissionSetting::as_str),
            settings.doc_type(shared::ids::ItemKind::Bug).map(shared::config::DocType::as_str)
        ),
        (Some("iteration"), Some("members"), Some("sheet"))
    );
    assert_eq!(settings.title_template.as_deref(), Some("【需求】{name}"), "fields not sent are left as they are");
    // Backfill since a date; a bad date is refused.
    assert!(
        post(&oauth, &format!("/console/ws/{A}/backfill"), &cookie, &[("csrf", &token), ("since", "next week")])
            .await
            .body
            .contains("id=\"refused\"")
    );
    let backfill =
        post(&oauth, &format!("/console/ws/{A}/backfill"), &cookie, &[("csrf", &token), ("since", "2026-11-01")]).await;
    assert_eq!(backfill.status, 302);
    assert!(store.sweep_cursor(&ws_a).await.unwrap().is_some_and(|c| c.last_complete_ms == 0), "due at the next run");
    // Disconnecting asks to confirm, then the binding and the secrets go; the docs stay.
    let unconfirmed = post(&oauth, &format!("/console/ws/{A}/disconnect"), &cookie, &[("csrf", &token)]).await;
    assert!(unconfirmed.body.contains("id=\"refused\"") && store.binding(&ws_a).await.unwrap().is_some());
    let gone =
        post(&oauth, &format!("/console/ws/{A}/disconnect"), &cookie, &[("csrf", &token), ("confirm", "yes")]).await;
    assert_eq!(gone.status, 302);
    assert!(store.binding(&ws_a).await.unwrap().is_none() && store.webhook_secrets(&ws_a).await.unwrap().is_none());
    assert!(stack.sandbox.docs().iter().filter(|d| !d.deleted).count() >= 4, "the docs stay");

    // Signing out ends the session, whatever the cookie says afterwards.
    let out = post(&oauth, "/console/signout", &cookie, &[("csrf", &token)]).await;
    assert_eq!(out.status, 302);
    let after = get(&oauth, &format!("/console/ws/{A}"), &cookie).await;
    assert_eq!(after.status, 302, "back to sign in");
    assert!(after.location_url().unwrap().as_str().contains("/tapd/oauth"), "{:?}", after.header("location"));
}

#[tokio::test]
async fn an_admin_pauses_linking_and_chooses_the_events_and_the_language() {
    harness::needs_local_stack!();
    const C: &str = "20003293";
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    assert_eq!(stack.connect(&oauth, C, "e3e3e3e3").await.status, 200);
    let cookie = sign_in(&stack, &oauth, C, None).await;
    let page = get(&oauth, &format!("/console/ws/{C}"), &cookie).await;
    let token = csrf(&page.body);
    let docs_of = |id: &str| stack.sandbox.comments().into_iter().filter(|c| c.entry_id == id).count();

    // Paused: a new item is recorded and waits, with why; nothing is made.
    assert_eq!(post(&oauth, &format!("/console/ws/{C}/pause"), &cookie, &[("csrf", &token)]).await.status, 302);
    stack.sandbox.add_item(C, ItemKind::Story, "1120003293000000001", "暂停时的需求");
    let webhook = stack.webhook().await;
    let held = webhook.http(&delivery(C, "1120003293000000001")).await;
    assert_eq!((held.status, held.json().unwrap()["status"].as_str()), (200, Some("paused")), "{}", held.body);
    assert_eq!(stack.sandbox.docs().len(), 0, "nothing made while paused");
    let page = get(&oauth, &format!("/console/ws/{C}"), &cookie).await;
    assert!(page.body.contains("id=\"paused\"") && page.body.contains("已暂停创建文档"), "{}", page.body);
    assert!(page.body.contains("data-item=\"1120003293000000001\" data-state=\"waiting\""), "{}", page.body);
    assert!(page.body.contains("等待中 1"), "counted as waiting today: {}", page.body);

    // Resumed: what waited is due at once, and the next run links it.
    assert_eq!(post(&oauth, &format!("/console/ws/{C}/resume"), &cookie, &[("csrf", &token)]).await.status, 302);
    let run = webhook.invoke(scheduled_event()).await;
    assert!(run.response().is_some_and(|s| s["linked"] == 1), "{run:?}");
    assert_eq!(docs_of("1120003293000000001"), 1);

    // Only stories (and renames), in English: a bug gets nothing, a story's comment is English.
    let saved = post(
        &oauth,
        &format!("/console/ws/{C}/settings"),
        &cookie,
        &[
            ("csrf", &token),
            ("events_shown", "1"),
            ("event_story", "1"),
            ("event_rename", "1"),
            ("language", "en"),
            ("intro_shown", "1"),
            ("intro_owner", "1"),
        ],
    )
    .await;
    assert_eq!(saved.status, 302, "{}", saved.body);
    // The same warm instance, which read the settings a moment ago: a delivery reads them again.
    stack.sandbox.add_item(C, ItemKind::Bug, "1120003293000000002", "不处理的缺陷");
    let bug = Request::post_json(WEBHOOK_PATH, &create_event(C, "bug", "1120003293000000002", "1120003293000000002"));
    let ignored = webhook.http(&bug).await;
    assert_eq!(ignored.json().unwrap()["status"], "ignored", "{}", ignored.body);
    assert_eq!(docs_of("1120003293000000002"), 0, "a kind the workspace does not link");
    let page = get(&oauth, &format!("/console/ws/{C}?state=given_up"), &cookie).await;
    assert!(page.body.contains("不为缺陷创建文档") && page.body.contains("已放弃"), "why, in words: {}", page.body);
    stack.sandbox.add_item(C, ItemKind::Story, "1120003293000000003", "English story");
    assert_eq!(webhook.http(&delivery(C, "1120003293000000003")).await.status, 200);
    let comment = stack.sandbox.comments().into_iter().find(|c| c.entry_id == "1120003293000000003").unwrap();
    assert!(comment.description.contains("Tencent Doc for this story"), "{}", comment.description);
    let page = get(&oauth, &format!("/console/ws/{C}"), &cookie).await;
    assert!(page.body.contains("已关联 2"), "two linked today: {}", page.body);
    assert!(page.body.contains("paused linking") && page.body.contains("resumed linking"), "audited");
}

#[tokio::test]
async fn a_session_expires() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.spawn("oauth", &[("CONSOLE_SESSION_TTL", "2s")]).await;
    assert_eq!(stack.connect(&oauth, A, "e3e3e3e3").await.status, 200);
    let cookie = sign_in(&stack, &oauth, A, None).await;
    assert_eq!(get(&oauth, &format!("/console/ws/{A}"), &cookie).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let expired = get(&oauth, &format!("/console/ws/{A}"), &cookie).await;
    assert_eq!(expired.status, 302, "an expired session signs in again");
    // A forged or random cookie is no session either.
    let forged = get(
        &oauth,
        &format!("/console/ws/{A}"),
        "__Host-tapd-docs-console=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .await;
    assert_eq!(forged.status, 302);
}

/// One item's history, attempt by attempt and who retried it; finding items by id and by
/// words of their doc's title, with the query in the URL.
#[tokio::test]
async fn an_item_s_history_tells_its_attempts_and_who_retried_and_search_finds_it() {
    harness::needs_local_stack!();
    const W: &str = "20003296";
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    let webhook = stack.spawn("tapd-webhook", &[("RETRY_PERIOD", "0s")]).await;
    assert_eq!(stack.connect(&oauth, W, "c6c6c6c6").await.status, 200);
    stack.sandbox.add_item(W, ItemKind::Story, "1120003296000000001", "登录页改版");
    assert_eq!(webhook.http(&delivery(W, "1120003296000000001")).await.status, 200);
    stack.sandbox.inject(Fault {
        method: Some("POST".into()),
        path_prefix: "/tdoc/openapi/drive/v2/files$".into(),
        kind: FaultKind::Status(429),
        times: 0,
    });
    stack.sandbox.add_item(W, ItemKind::Story, "1120003296000000002", "支付回调超时");
    assert!(webhook.http(&delivery(W, "1120003296000000002")).await.status >= 500);

    let cookie = sign_in(&stack, &oauth, W, None).await;
    let path = format!("/console/ws/{W}/item/story/1120003296000000002");
    let page = get(&oauth, &format!("/console/ws/{W}"), &cookie).await;
    assert!(page.body.contains(&format!("href=\"{path}\"")), "the row links its history: {}", page.body);
    let item = get(&oauth, &path, &cookie).await;
    assert_eq!(item.status, 200, "{}", item.body);
    assert!(item.body.contains("data-event=\"waiting\"") && item.body.contains("请求过于频繁"), "{}", item.body);

    // Retried by the admin, then linked by the schedule once Tencent Docs is back.
    stack.sandbox.clear_faults();
    let token = csrf(&page.body);
    let retried = post(
        &oauth,
        &format!("/console/ws/{W}/retry"),
        &cookie,
        &[("csrf", &token), ("item", "story/1120003296000000002")],
    )
    .await;
    assert_eq!(retried.status, 302, "{}", retried.body);
    assert_eq!(webhook.invoke(scheduled_event()).await.response().map(|_| ()), Some(()));
    let item = get(&oauth, &path, &cookie).await;
    let (linked, by, waiting) = (
        item.body.find("data-event=\"linked\"").expect("linked in the history"),
        item.body.find("data-event=\"retried\"").expect("the retry in the history"),
        item.body.find("data-event=\"waiting\"").expect("the failed attempt stays"),
    );
    assert!(linked < by && by < waiting, "newest first: {}", item.body);
    assert!(item.body.contains("robertyang"), "who retried: {}", item.body);
    assert!(item.body.contains("data-state=\"linked\""), "{}", item.body);

    // Found by words of the title and by id; the URL carries the query.
    let found = get(&oauth, &format!("/console/ws/{W}?q=%E7%99%BB%E5%BD%95"), &cookie).await;
    assert!(found.body.contains("data-item=\"1120003296000000001\""), "{}", found.body);
    assert!(!found.body.contains("data-item=\"1120003296000000002\""), "{}", found.body);
    assert!(found.body.contains("value=\"登录\""), "the box keeps the query: {}", found.body);
    let by_id = get(&oauth, &format!("/console/ws/{W}?q=1120003296000000002"), &cookie).await;
    assert!(by_id.body.contains("data-item=\"1120003296000000002\""), "{}", by_id.body);
    assert!(!by_id.body.contains("data-item=\"1120003296000000001\""), "{}", by_id.body);
    let none = get(&oauth, &format!("/console/ws/{W}?q=%E6%B2%A1%E6%9C%89&state=given_up"), &cookie).await;
    assert_eq!(none.status, 200);
    assert!(!none.body.contains("data-item="), "{}", none.body);
    // Another workspace's item, or one that does not exist: no page.
    assert_eq!(get(&oauth, &format!("/console/ws/{W}/item/story/1120003296000000099"), &cookie).await.status, 404);
    assert_eq!(get(&oauth, &format!("/console/ws/{A}/item/story/1120003296000000001"), &cookie).await.status, 404);
    assert_eq!(get(&oauth, &format!("/console/ws/{W}/item/epic/1"), &cookie).await.status, 404);
}
