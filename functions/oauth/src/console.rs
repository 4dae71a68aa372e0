//! The console for workspace admins: sign in with TAPD, see a workspace's items and why any
//! waits, retry, set the title template, rotate the webhook secret. Pages and forms only:
//! every operation is `shared::ops`, the same ones `tapdocs` runs.
//!
//! - `GET /console`: the signed-in workspaces, or TAPD's consent (as `/oauth/tapd/start`).
//! - `GET /console/signin`: TAPD's consent again, to add a workspace to this browser's session.
//! - `GET /console/ws/{ws}[?q=&state=&after=]`: one workspace (404 unless this session may see it),
//!   its items found by id or title words and filtered by state, the query in the URL.
//! - `GET /console/ws/{ws}/item/{kind}/{id}`: one item, and its history attempt by attempt.
//! - `POST /console/ws/{ws}/{retry|retry-given-up|settings|rotate-secret}`, `POST /console/signout`:
//!   each with the session's CSRF token.
//!
//! The session cookie holds a random token (256 bits); the table holds its SHA-256 and an
//! expiry (`CONSOLE_SESSION_TTL`); the CSRF token is derived from it. Signing out deletes it.

use shared::config::{DocOwner, IntroField};
use shared::connect::{self, Connector};
use shared::delivery::secret_matches;
use shared::gateway::{HttpRequest, HttpResponse};
use shared::ids::{ItemId, ItemKind, WorkspaceId};
use shared::link::{placement, render_title};
use shared::ops::{self, ItemState, Overview};
use shared::steer::Steerer;
use shared::store::sessions::Session;
use shared::store::{Account, AuditEntry, Events, ItemRecord, ItemsPage, LastNotice, NotifyShown, Stage};
use shared::text::{Lang, Problem};
use shared::time::tapd_time;

use maud::{Markup, html};

use crate::html::{self, FormAs, layout};
use crate::pages;

pub const COOKIE: &str = "__Host-tapd-docs-console";
const PAGE_SIZE: i32 = 25;

fn session_cookie(token: &str, ttl_secs: u64) -> String {
    format!("{COOKIE}={token}; Path=/; Max-Age={ttl_secs}; Secure; HttpOnly; SameSite=Lax")
}

fn clear_session_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax")
}

use shared::ops::csrf_of;

/// The live session this request's cookie names, with its token.
async fn session(connector: &Connector, req: &HttpRequest) -> Option<(String, Session)> {
    for token in req.cookie(COOKIE) {
        if token.len() < 40 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            continue;
        }
        if let Ok(Some(s)) = connector.clients.store.session(token).await {
            return Some((token.to_owned(), s));
        }
    }
    None
}

/// After TAPD's callback for a console sign-in (an admin of `ws`, or named by the operator):
/// the workspace joins this browser's session (or a new one starts), and the browser goes to it.
pub async fn signed_in(connector: &Connector, req: &HttpRequest, ws: WorkspaceId, by: Steerer) -> HttpResponse {
    let store = &connector.clients.store;
    let ttl = connector.cfg.console_session_ttl.as_secs();
    let who = by.user.label();
    if let Some((token, _)) = session(connector, req).await
        && matches!(store.add_session_workspace(&token, &ws, &who).await, Ok(true))
    {
        return pages::redirect(format!("/console/ws/{ws}")).with_cookie(connect::clear_cookie());
    }
    let token = shared::random::token();
    match store.put_session(&token, &ws, &who, ttl).await {
        Ok(()) => pages::redirect(format!("/console/ws/{ws}"))
            .with_cookie(connect::clear_cookie())
            .with_cookie(session_cookie(&token, ttl)),
        Err(e) => {
            tracing::error!(error = %e, "could not start a console session");
            pages::error(Lang::default(), 503, Problem::Unavailable)
        }
    }
}

/// The person this session signed in to `ws` as, unless that sign-in is over: the workspace is
/// no longer served, or a takeover (a rebind to another account) ended its sessions.
async fn signed_in_to(connector: &Connector, s: &Session, ws: &WorkspaceId) -> Result<Option<String>, HttpResponse> {
    if !s.workspaces.contains(ws) || !connector.cfg.workspace_allowed(ws.as_str()) {
        return Ok(None);
    }
    match connector.clients.store.steering(ws).await {
        Ok(steering) => Ok(s.sign_in(ws, steering.sessions_after_ms).map(|i| i.who.clone())),
        Err(e) => {
            tracing::error!(error = %e, "could not read the workspace's steering record");
            Err(pages::error(Lang::default(), 503, Problem::Unavailable))
        }
    }
}

pub async fn handle(connector: &Connector, req: &HttpRequest, lang: Lang) -> HttpResponse {
    let parts: Vec<&str> = req.path.trim_end_matches('/').split('/').skip(2).collect();
    let found = session(connector, req).await;
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", []) => match found {
            Some((_, s)) if s.workspaces.len() == 1 => pages::redirect(format!("/console/ws/{}", s.workspaces[0])),
            Some((_, s)) if !s.workspaces.is_empty() => picker(lang, &s),
            _ => sign_in(connector, lang).await,
        },
        ("GET", ["signin"]) => sign_in(connector, lang).await,
        ("POST", ["signout"]) => {
            if let Some((token, _)) = &found
                && form_ok(req, token, &connector.cfg.public_base_url).is_some()
            {
                let _ = connector.clients.store.end_session(token).await;
            }
            pages::redirect("/console/signed-out".into()).with_cookie(clear_session_cookie())
        }
        ("GET", ["signed-out"]) => signed_out(lang),
        (method, ["ws", ws, rest @ ..]) => {
            // Another workspace's pages do not exist for this session, whatever the URL says.
            let Some((token, s)) = found else {
                return if method == "GET" {
                    sign_in(connector, lang).await
                } else {
                    pages::error(lang, 401, Problem::BadState)
                };
            };
            let Some(ws) = WorkspaceId::parse(ws).ok().filter(|w| s.workspaces.contains(w)) else {
                return pages::error(lang, 404, Problem::NotFound);
            };
            // Signed in to it once is not enough: the sign-in must still stand.
            let who = match signed_in_to(connector, &s, &ws).await {
                Ok(Some(who)) => who,
                Ok(None) if method == "GET" => return sign_in(connector, lang).await,
                Ok(None) => return pages::error(lang, 401, Problem::BadState),
                Err(page) => return page,
            };
            let ctx = PageCtx { connector, req, lang, token: &token, session: &s, ws: &ws };
            match (method, rest) {
                ("GET", []) => workspace_page(&ctx, None).await,
                ("GET", ["item", kind, id]) => item_page(&ctx, kind, id).await,
                ("POST", [action]) => match form_ok(req, &token, &connector.cfg.public_base_url) {
                    Some(form) => act(&ctx, &who, action, &form).await,
                    None => pages::error(lang, 403, Problem::OtherBrowser),
                },
                _ => pages::error(lang, 404, Problem::NotFound),
            }
        }
        _ => pages::error(lang, 404, Problem::NotFound),
    }
}

async fn sign_in(connector: &Connector, lang: Lang) -> HttpResponse {
    match connector.start_console().await {
        Ok(s) => pages::redirect(s.location).with_cookie(connect::set_cookie(&s.nonce)),
        Err(e) => {
            tracing::error!(error = %e, "could not start a console sign-in");
            pages::error(lang, 503, Problem::Unavailable)
        }
    }
}

/// The form's fields when it carries this session's CSRF token and comes from our origin.
fn form_ok(req: &HttpRequest, token: &str, public_base_url: &str) -> Option<Vec<(String, String)>> {
    let ours = url::Url::parse(public_base_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    if let Some(origin) = req.header("origin")
        && origin != ours
        && origin != "null"
    {
        return None;
    }
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(&req.body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let sent: Vec<&str> = form.iter().filter(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).collect();
    (sent.len() == 1 && secret_matches(Some(sent[0]), &csrf_of(token))).then_some(form)
}

fn field<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `<prefix>_<kind>` fields, per kind.
fn per_kind(form: &[(String, String)], prefix: &str) -> Vec<(ItemKind, String)> {
    [ItemKind::Story, ItemKind::Bug, ItemKind::Task]
        .into_iter()
        .filter_map(|k| field(form, &format!("{prefix}_{}", k.as_str())).map(|v| (k, v.to_owned())))
        .collect()
}

/// The names whose `<prefix>_<name>` checkbox was ticked, as a list (`none` when none was).
fn checked(form: &[(String, String)], prefix: &str, names: &[&str]) -> String {
    let on: Vec<&str> = names.iter().copied().filter(|n| field(form, &format!("{prefix}_{n}")).is_some()).collect();
    if on.is_empty() { "none".into() } else { on.join(",") }
}

/// In app-account mode (one Tencent Docs account for every workspace) a template must be the
/// workspace's own (`docs/security.md`): why the first one the change sets is not, or that it
/// could not be checked now (nothing is saved then either). `None`: nothing to refuse.
async fn foreign_template(
    connector: &Connector,
    ws: &WorkspaceId,
    change: &ops::SettingsChange,
    lang: Lang,
) -> Option<String> {
    if connector.cfg.common.tdoc_owner != DocOwner::App {
        return None;
    }
    let tokens = shared::tokens::Tokens::default();
    let deadline = shared::deadline::Deadline::after(std::time::Duration::from_millis(TEMPLATE_CHECK_MS));
    for (kind, id) in change.templates.iter().filter(|(_, id)| !id.trim().is_empty()) {
        let own = placement::template_is_own(&connector.clients, &tokens, ws, &Account::App, id.trim(), deadline);
        match own.await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Some(shared::text::foreign_template(lang, *kind, why)),
            Err(e) => {
                tracing::warn!(workspace = %ws, error = %e, "a template could not be checked; the settings are not saved");
                return Some(shared::text::template_unchecked(lang).to_owned());
            }
        }
    }
    None
}

/// How long the console waits for Tencent Docs to list the workspace's folder.
const TEMPLATE_CHECK_MS: u64 = 10_000;

/// What every console page and action works with: the deployment, the request, the reader's
/// language, the session (its token, for the CSRF token) and the workspace it is about.
struct PageCtx<'a> {
    connector: &'a Connector,
    req: &'a HttpRequest,
    lang: Lang,
    token: &'a str,
    session: &'a Session,
    ws: &'a WorkspaceId,
}

async fn act(ctx: &PageCtx<'_>, who: &str, action: &str, form: &[(String, String)]) -> HttpResponse {
    let (connector, lang, ws) = (ctx.connector, ctx.lang, ctx.ws);
    let store = &connector.clients.store;
    let who = format!("console: {who}");
    let back = |note: &str| pages::redirect(format!("/console/ws/{ws}?done={note}"));
    let refused = |why: String| workspace_page(ctx, Some(Notice::Refused(why)));
    let result = match action {
        "retry" => {
            // `kind/id` of one of this workspace's items: the workspace is the session's.
            let item = field(form, "item")
                .and_then(|v| v.split_once('/'))
                .and_then(|(k, i)| Some((ItemKind::parse(k)?, ItemId::parse(i).ok()?)));
            let Some((kind, id)) = item else { return pages::error(lang, 400, Problem::BadRequest) };
            ops::retry(store, ws, kind, &id, &who)
                .await
                .map(|r| back(if r.scheduled() { "retried" } else { "nothing" }))
        }
        "retry-given-up" => ops::retry_given_up(store, ws, &who).await.map(|_| back("retried")),
        "pause" => ops::pause(store, ws, &who).await.map(|()| back("paused")),
        "resume" => ops::resume(store, ws, &who).await.map(|_| back("resumed")),
        "settings" => {
            let change = ops::SettingsChange {
                title_template: field(form, "title_template").map(str::to_owned),
                folder_layout: field(form, "folder_layout").map(str::to_owned),
                permission: field(form, "permission").map(str::to_owned),
                doc_types: per_kind(form, "doc_type"),
                templates: per_kind(form, "template"),
                language: field(form, "language").map(str::to_owned),
                intro_fields: field(form, "intro_shown")
                    .map(|_| checked(form, "intro", &IntroField::ALL.map(IntroField::as_str))),
                events: field(form, "events_shown").map(|_| checked(form, "event", &Events::NAMES)),
                close_out: field(form, "close_out_shown")
                    .map(|_| if field(form, "close_out").is_some() { "on" } else { "off" }.to_owned()),
            };
            if let Some(why) = foreign_template(connector, ws, &change, lang).await {
                return refused(why).await;
            }
            match ops::save_settings(store, ws, &change, &who).await {
                Ok(Ok(())) => Ok(back("saved")),
                Ok(Err(e)) => return refused(e.to_string()).await,
                Err(e) => Err(e),
            }
        }
        "backfill" => match field(form, "since").and_then(shared::time::parse_tapd_date) {
            Some(since) if since <= shared::time::now_millis() => {
                ops::backfill(store, ws, since, &who).await.map(|_| back("backfill"))
            }
            _ => {
                let why = lang
                    .pick("日期无效（格式 YYYY-MM-DD，不能晚于今天）", "not a date (YYYY-MM-DD, not in the future)");
                return refused(why.to_owned()).await;
            }
        },
        "notify" => {
            let to = match field(form, "notify").map(str::trim).filter(|u| !u.is_empty()) {
                Some(raw) => match shared::notify::Destination::parse(raw, &connector.cfg.common.notify) {
                    Ok(to) => Some(to),
                    // Bad input: the page again with why, as a 422.
                    Err(e) => return HttpResponse { status: 422, ..refused(e.words(lang)).await },
                },
                None => None,
            };
            ops::set_notify(store, ws, to.as_ref(), &who).await.map(|()| back("saved"))
        }
        "disconnect" => {
            if field(form, "confirm") != Some("yes") {
                let why = lang.pick("请勾选确认后再断开连接", "Tick the confirmation to disconnect");
                return refused(why.to_owned()).await;
            }
            ops::disconnect(store, ws, &who).await.map(|_| back("disconnected"))
        }
        "rotate-secret" => match ops::rotate_secret(store, ws, connector.cfg.webhook_secret_grace, &who).await {
            Ok((new, _)) => return workspace_page(ctx, Some(Notice::NewSecret(new.expose().to_owned()))).await,
            Err(e) => Err(e),
        },
        _ => return pages::error(lang, 404, Problem::NotFound),
    };
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, workspace = %ws, action, "console action failed");
        pages::error(lang, 503, Problem::Unavailable)
    })
}

/// What the page says above everything else after an action.
enum Notice {
    /// A form was refused, and why.
    Refused(String),
    /// The new webhook secret, shown this once.
    NewSecret(String),
    /// An action was done (`?done=` after its redirect).
    Done(Done),
}

#[derive(Clone, Copy)]
enum Done {
    Saved,
    Backfill,
    Disconnected,
    Paused,
    Resumed,
    Retried,
    Nothing,
}

impl Done {
    fn parse(raw: &str) -> Done {
        match raw {
            "saved" => Done::Saved,
            "backfill" => Done::Backfill,
            "disconnected" => Done::Disconnected,
            "paused" => Done::Paused,
            "resumed" => Done::Resumed,
            "retried" => Done::Retried,
            _ => Done::Nothing,
        }
    }

    fn words(self, lang: Lang) -> &'static str {
        match self {
            Done::Saved => {
                lang.pick("已保存：下一个条目即按新设置创建文档。", "Saved: the next item follows the new settings.")
            }
            Done::Backfill => lang.pick(
                "已安排补全：接下来的定时任务会为这段时间内没有文档的条目创建文档。",
                "Backfill scheduled: the next scheduled runs link the items of that period that have no doc.",
            ),
            Done::Disconnected => lang.pick(
                "已断开连接：不再为新条目创建文档；已有的文档和评论都保留。",
                "Disconnected: new items get no doc; existing docs and comments stay.",
            ),
            Done::Paused => lang.pick(
                "已暂停：新条目会被记录并等待，恢复后再创建文档。",
                "Paused: new items are recorded and wait; their docs are made once resumed.",
            ),
            Done::Resumed => {
                lang.pick("已恢复：暂停期间等待的条目马上处理。", "Resumed: the items that waited are taken at once.")
            }
            Done::Retried => lang.pick(
                "已安排重试：下一次定时任务或推送会处理它。",
                "Retry scheduled: the next scheduled run or delivery takes it.",
            ),
            Done::Nothing => lang.pick("没有需要重试的。", "Nothing to retry."),
        }
    }
}

/// A notice, as the page shows it.
fn notice(lang: Lang, n: &Notice) -> Markup {
    match n {
        Notice::Refused(why) => html! {
            p class="refused" id="refused" { (lang.pick("未保存", "Not saved")) "：" (why) }
        },
        Notice::NewSecret(secret) => html! {
            p class="notice" {
                (lang.pick("新的 Webhook 密钥（只显示这一次）：", "The new webhook secret (shown this once):")) " "
                code id="new-webhook-secret" { (secret) }
                br;
                (lang.pick(
                    "请在 TAPD 项目的 Webhook 设置中换成它；旧密钥在宽限期内仍然有效。",
                    "Replace the old one in the workspace's webhook settings in TAPD; the old one keeps working for the grace period."
                ))
            }
        },
        Notice::Done(done) => html! { p class="notice" id="done" { (done.words(lang)) } },
    }
}

/// A console page as the response: the layout, the console's headers.
fn shell(lang: Lang, title: &str, body: Markup) -> HttpResponse {
    html::respond(200, layout(lang, title, body), html::CSP)
}

fn picker(lang: Lang, s: &Session) -> HttpResponse {
    let body = html! {
        h1 { (lang.pick("选择项目", "Choose a workspace")) }
        ul id="workspaces" {
            @for w in &s.workspaces {
                li { a href={ "/console/ws/" (w) } { (lang.pick("项目 ", "Workspace ")) (w) } }
            }
        }
        p { a href="/console/signin" { (lang.pick("登录另一个项目", "Sign in to another workspace")) } }
    };
    shell(lang, lang.pick("控制台", "Console"), body)
}

fn signed_out(lang: Lang) -> HttpResponse {
    let body = html! {
        h1 id="signed-out" { (lang.pick("已退出登录", "Signed out")) }
        p { a href="/console" { (lang.pick("重新登录", "Sign in again")) } }
    };
    shell(lang, lang.pick("已退出登录", "Signed out"), body)
}

/// Why an item waits or was given up (or why a delete was refused), under its title.
fn reason_line(lang: Lang, r: &ItemRecord) -> Markup {
    html! {
        @if let Some(why) = ops::reason(lang, r) {
            br;
            small class="why" { (why) }
        }
    }
}

/// One item's row: its title (to TAPD), its history, why it waits, its state, its doc, and
/// a retry where one helps.
fn item_row(lang: Lang, r: &ItemRecord, tapd_web: &str, csrf: &str, ws: &WorkspaceId) -> Markup {
    let state = ItemState::of(r);
    let key = &r.key;
    let kind = shared::text::kind_name(lang, key.kind);
    let item_url = format!("{tapd_web}/{ws}/{}/view/{}", key.kind.web_segment(), key.id);
    let doc = r.stage.doc();
    let at = match &r.stage {
        Stage::Done { .. } | Stage::GivenUp { .. } => tapd_time(r.first_seen_ms),
        _ => tapd_time(r.pending_since_ms),
    };
    html! {
        tr data-item=(key.id) data-state=(state.as_str()) {
            td {
                a href=(item_url) {
                    @match doc { Some(d) => (d.title), None => { (kind) " " (key.id) } }
                }
                " "
                a class="history" href={ "/console/ws/" (ws) "/item/" (key.kind.as_str()) "/" (key.id) } {
                    (lang.pick("历史", "history"))
                }
                (reason_line(lang, r))
            }
            td { (kind) }
            td { (state.label(lang)) }
            td {
                @match doc {
                    Some(d) => a href=(d.url) { (lang.pick("文档", "doc")) },
                    None => "–",
                }
            }
            td { (r.attempts) }
            td { (at) }
            td {
                @if matches!(state, ItemState::Waiting | ItemState::GivenUp) {
                    (html::csrf_form_as(FormAs::Inline, &format!("/console/ws/{ws}/retry"), csrf, html! {
                        input type="hidden" name="item" value={ (key.kind.as_str()) "/" (key.id) };
                        button type="submit" { (lang.pick("重试", "Retry")) }
                    }))
                }
            }
        }
    }
}

/// A record that could not be read, in the place of its row.
fn unreadable_row(lang: Lang, pk: &str, why: &str) -> Markup {
    html! {
        tr class="unreadable" { td colspan="7" { (lang.pick("无法读取的记录", "An unreadable record")) " " (pk) " (" (why) ")" } }
    }
}

/// One item's page: where it stands and why, and its history, attempt by attempt, with who
/// retried it (`GET /console/ws/{ws}/item/{kind}/{id}`).
async fn item_page(ctx: &PageCtx<'_>, kind: &str, id: &str) -> HttpResponse {
    let (lang, ws) = (ctx.lang, ctx.ws);
    let (Some(kind), Ok(id)) = (ItemKind::parse(kind), ItemId::parse(id)) else {
        return pages::error(lang, 404, Problem::NotFound);
    };
    let key = shared::store::ItemKey { workspace: ws.clone(), kind, id };
    let record = match ctx.connector.clients.store.item(&key).await {
        Ok(Some(r)) => r,
        Ok(None) => return pages::error(lang, 404, Problem::NotFound),
        Err(e) => {
            tracing::error!(error = %e, workspace = %ws, "console item page failed");
            return pages::error(lang, 503, Problem::Unavailable);
        }
    };
    let (title, body) = item_body(lang, &record, &ctx.connector.cfg.common.tapd.web_base, &csrf_of(ctx.token));
    shell(lang, &title, body)
}

/// The item page's title and body.
fn item_body(lang: Lang, record: &ItemRecord, tapd_web: &str, csrf: &str) -> (String, Markup) {
    let key = &record.key;
    let ws = &key.workspace;
    let title = format!("{} {}", shared::text::kind_name(lang, key.kind), key.id);
    let events: Vec<_> = record.history.iter().rev().take(shared::store::HISTORY_SHOWN).collect();
    let body = html! {
        nav { a href={ "/console/ws/" (ws) } { (lang.pick("返回项目", "Back to the workspace")) } }
        h1 id="item" { (title) }
        table id="items" { tbody { (item_row(lang, record, tapd_web, csrf, ws)) } }
        h2 { (lang.pick("历史（最新在前）", "History (newest first)")) }
        @if events.is_empty() {
            p { (lang.pick("还没有记录的尝试。", "No attempts recorded yet.")) }
        } @else {
            table id="history" {
                thead { tr {
                    th { (lang.pick("时间", "When")) }
                    th { (lang.pick("结果", "Outcome")) }
                    th { (lang.pick("原因", "Why")) }
                    th { (lang.pick("操作人", "By")) }
                } }
                tbody {
                    @for e in events {
                        @let (what, why, by) = event_words(lang, &e.what);
                        tr data-event=(event_code(&e.what)) {
                            td { (tapd_time(e.at_ms)) }
                            td { (what) }
                            td { (why) }
                            td { (by) }
                        }
                    }
                }
            }
        }
    };
    (title, body)
}

fn event_code(e: &shared::store::EventKind) -> &'static str {
    use shared::store::EventKind as E;
    match e {
        E::Linked => "linked",
        E::Waiting(_) => "waiting",
        E::GivenUp(_) => "given_up",
        E::Deleted => "deleted",
        E::Retried { .. } => "retried",
        E::CardWritten => "card",
        E::CardFailed(_) => "card_failed",
    }
}

/// An event as the history shows it: what happened, why, by whom.
fn event_words(lang: Lang, e: &shared::store::EventKind) -> (&'static str, String, String) {
    use shared::store::EventKind as E;
    match e {
        E::Linked => (
            lang.pick("已关联：文档已创建，评论已添加", "linked: doc made, comment added"),
            String::new(),
            String::new(),
        ),
        E::Waiting(r) => (lang.pick("失败，等待重试", "failed, waiting to retry"), r.words(lang), String::new()),
        E::GivenUp(r) => (lang.pick("失败，已放弃", "failed, given up"), r.words(lang), String::new()),
        E::Deleted => (lang.pick("条目已在 TAPD 删除", "deleted in TAPD"), String::new(), String::new()),
        E::Retried { by } => (lang.pick("手动重试", "retried by hand"), String::new(), by.clone()),
        E::CardWritten => (
            lang.pick("文档卡片已更新为 TAPD 中的最新状态", "the doc's card now shows the item as TAPD does"),
            String::new(),
            String::new(),
        ),
        E::CardFailed(r) => {
            (lang.pick("文档卡片未能更新", "the doc's card could not be updated"), r.words(lang), String::new())
        }
    }
}

/// What the workspace's page shows, read: everything it renders from.
struct WorkspaceView<'a> {
    lang: Lang,
    ws: &'a WorkspaceId,
    csrf: &'a str,
    /// The session may see other workspaces (the page offers to switch).
    others: bool,
    overview: &'a Overview,
    page: &'a ItemsPage,
    audit: &'a [AuditEntry],
    /// Where the workspace is told (a robot's kind, an address masked: a robot's URL is a
    /// secret, never shown back), and how the last message went.
    notify: Option<&'a NotifyShown>,
    /// This deployment sends e-mail (`NOTIFY_EMAIL_FROM` is set).
    email_on: bool,
    notice: Option<Notice>,
    /// The search box's words, as typed, and the state filter.
    searched: &'a str,
    state: Option<ItemState>,
    tapd_web: &'a str,
    webhook_url: &'a str,
    /// A backfill or sweep under way: done, left, when it should end (from its record).
    progress: Option<shared::store::Progress>,
}

async fn workspace_page(ctx: &PageCtx<'_>, notice: Option<Notice>) -> HttpResponse {
    let (connector, lang, ws) = (ctx.connector, ctx.lang, ctx.ws);
    let store = &connector.clients.store;
    let query: Vec<(String, String)> = url::form_urlencoded::parse(ctx.req.raw_query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let q = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let state = q("state").and_then(ItemState::parse);
    let find = q("q").and_then(ops::Find::parse);
    let listed = async {
        match &find {
            Some(f) => ops::find(store, ws, f, state, q("after"), PAGE_SIZE).await,
            None => ops::items(store, ws, state, q("after"), PAGE_SIZE).await,
        }
    };
    let (overview, page, audit, notify, sweep) = match tokio::try_join!(
        Overview::read(store, ws),
        listed,
        store.audit_trail(ws, 10),
        store.notify_shown(ws),
        store.sweep_cursor(ws)
    ) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, workspace = %ws, "console page failed");
            return pages::error(lang, 503, Problem::Unavailable);
        }
    };
    let csrf = csrf_of(ctx.token);
    let webhook_url = connector.cfg.webhook_url();
    let view = WorkspaceView {
        lang,
        ws,
        csrf: &csrf,
        others: ctx.session.workspaces.len() > 1,
        overview: &overview,
        page: &page,
        audit: &audit,
        notify: notify.as_ref(),
        email_on: connector.cfg.common.notify.email_from.is_some(),
        notice: notice.or_else(|| q("done").map(|d| Notice::Done(Done::parse(d)))),
        searched: q("q").unwrap_or_default(),
        state,
        tapd_web: &connector.cfg.common.tapd.web_base,
        webhook_url: &webhook_url,
        progress: sweep.and_then(|s| s.progress(shared::time::now_millis())),
    };
    shell(lang, &format!("{} {ws}", lang.pick("控制台", "Console")), workspace_body(&view))
}

/// The states the items are filtered by.
const STATES: [ItemState; 4] = [ItemState::Linked, ItemState::Waiting, ItemState::GivenUp, ItemState::Deleted];

/// The search: a GET form, so the URL carries the query and can be shared.
fn search_form(lang: Lang, ws: &WorkspaceId, searched: &str, state: Option<ItemState>) -> Markup {
    let current = state.map(ItemState::as_str).unwrap_or("");
    html! {
        form method="get" action={ "/console/ws/" (ws) } id="search" role="search" {
            input type="search" name="q" id="q" value=(searched)
                placeholder=(lang.pick("条目 ID 或文档标题中的词", "item id or words of its doc's title"));
            " "
            select name="state" id="search-state" {
                option value="" selected[current.is_empty()] { (lang.pick("全部状态", "any state")) }
                @for st in STATES {
                    option value=(st.as_str()) selected[current == st.as_str()] { (st.label(lang)) }
                }
            }
            " "
            button type="submit" { (lang.pick("查找", "Find")) }
        }
    }
}

/// The link to the next page of items, keeping the filter and the query.
fn next_page_href(ws: &WorkspaceId, state: Option<ItemState>, searched: &str, after: &str) -> String {
    let path = format!("/console/ws/{ws}?");
    let start = path.len();
    let mut href = url::form_urlencoded::Serializer::for_suffix(path, start);
    if let Some(st) = state {
        href.append_pair("state", st.as_str());
    }
    if !searched.trim().is_empty() {
        href.append_pair("q", searched);
    }
    href.append_pair("after", after);
    href.finish()
}

/// Day counts: linked, waiting, given up.
fn counts(lang: Lang, n: [u64; 3]) -> Markup {
    html! {
        span { (ItemState::Linked.label(lang)) " " (n[0]) }
        span { (ItemState::Waiting.label(lang)) " " (n[1]) }
        span { (ItemState::GivenUp.label(lang)) " " (n[2]) }
    }
}

/// `<option>`s with a first one meaning "the deployment's", the current value selected.
fn options(lang: Lang, current: Option<&str>, values: &[(&str, &str)]) -> Markup {
    html! {
        option value="" selected[current.is_none()] { (lang.pick("（部署默认）", "(the deployment's)")) }
        @for (value, label) in values {
            option value=(value) selected[current == Some(*value)] { (label) }
        }
    }
}

/// Where the workspace is told of given-up items: the robot's URL is a secret, never shown
/// back, an address only masked (the field is always empty; saved empty, notifications are
/// off). A refused message is said here, with what happens to it.
fn notify_form(lang: Lang, ws: &WorkspaceId, csrf: &str, notify: Option<&NotifyShown>, email_on: bool) -> Markup {
    let off = lang.pick("留空保存即关闭通知。", "Save empty to turn notifications off.");
    let state = match notify.map(|n| (n.kind.as_str(), n.shown.as_deref())) {
        Some(("wecom", _)) => format!(
            "{}{}{off}",
            lang.pick("已设置：", "Set: "),
            lang.pick("企业微信群机器人。", "a WeCom group robot. ")
        ),
        Some(("email", shown)) => format!(
            "{}{} {}{}{off}",
            lang.pick("已设置：", "Set: "),
            lang.pick("电子邮件", "e-mail to"),
            shown.unwrap_or("***"),
            if email_on {
                lang.pick("。", ". ")
            } else {
                lang.pick("（本部署已关闭邮件通知，不会发送）。", " (e-mail is off in this deployment: nothing is sent). ")
            },
        ),
        Some(_) => format!(
            "{}{}{off}",
            lang.pick("已设置：", "Set: "),
            lang.pick("钉钉群机器人。", "a DingTalk group robot. ")
        ),
        None => lang
            .pick(
                "未设置。设置后，条目被放弃或腾讯文档授权失效时会通知（每个条目最多一次，每天超过一定数量后改为次日汇总）。",
                "Not set. Once set, it is told when an item is given up or the Tencent Docs authorization dies (once per item; beyond a daily number, a digest the next day).",
            )
            .to_owned(),
    };
    let last = match notify.map(|n| &n.last) {
        Some(LastNotice::Refused { at, why }) => Some(format!(
            "{}{}：{}{}",
            lang.pick("最近一次通知未能送达（", "The last message could not be delivered ("),
            shared::time::tapd_time(*at),
            why.words(lang),
            lang.pick(
                "。未送达的放弃通知会计入次日的汇总，汇总在送达前每次定时任务都会重试。",
                ". Given-up notices not delivered are counted into the next day's digest, retried at every scheduled run until delivered.",
            ),
        )),
        Some(LastNotice::Delivered { at }) => Some(format!(
            "{}{}",
            lang.pick("最近一次通知已送达：", "The last message was delivered: "),
            shared::time::tapd_time(*at)
        )),
        _ => None,
    };
    let (label, placeholder) = if email_on {
        (
            lang.pick(
                "通知（企业微信或钉钉群机器人 Webhook 地址，或电子邮件地址）",
                "Notify (a WeCom or DingTalk group robot's webhook URL, or an e-mail address)",
            ),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=… / name@example.com",
        )
    } else {
        (
            lang.pick(
                "通知（企业微信或钉钉群机器人 Webhook 地址；本部署未开启邮件通知）",
                "Notify (a WeCom or DingTalk group robot's webhook URL; e-mail is off in this deployment)",
            ),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…",
        )
    };
    html::csrf_form_as(
        FormAs::Id("notify-form"),
        &format!("/console/ws/{ws}/notify"),
        csrf,
        html! {
            label for="notify" { (label) }
            br;
            input type="text" id="notify" name="notify" value="" placeholder=(placeholder);
            br;
            small id="notify-state" { (state) }
            @if let Some(last) = last {
                br;
                small id="notify-last" class=[notify.is_some_and(|n| matches!(n.last, LastNotice::Refused { .. })).then_some("refused")] { (last) }
            }
            br;
            button type="submit" { (lang.pick("保存通知设置", "Save notifications")) }
        },
    )
}

/// Checkboxes named `<prefix>_<name>`, each with its label, ticked where on.
fn boxes(prefix: &str, items: &[(&str, &str, bool)]) -> Markup {
    html! {
        @for (name, label, on) in items {
            label { input type="checkbox" name={ (prefix) "_" (name) } value="1" checked[*on]; " " (label) } " "
        }
    }
}

fn workspace_body(v: &WorkspaceView<'_>) -> Markup {
    let (lang, ws, csrf, overview) = (v.lang, v.ws, v.csrf, v.overview);
    let settings = &overview.settings;
    let to = |action: &str| format!("/console/ws/{ws}/{action}");
    let account = match overview.binding.as_ref().map(|b| (&b.account, b.nick.as_deref())) {
        Some((Account::User(o), nick)) => shared::text::account_name(lang, nick, Some(o.as_str())),
        Some((Account::App, _)) => shared::text::account_name(lang, None, None),
        None => lang.pick("（未连接）", "(not connected)").to_owned(),
    };
    let since = overview.binding.as_ref().map(|b| tapd_time(b.connected_at * 1000)).unwrap_or_else(|| "–".into());
    let last = overview.last_item_ms.map(tapd_time).unwrap_or_else(|| lang.pick("尚未收到", "none yet").to_owned());
    let webhook_seen = if overview.last_item_ms.is_some() {
        lang.pick("已收到推送", "deliveries seen")
    } else {
        lang.pick("尚未收到推送：请按下面的步骤配置 Webhook", "no delivery yet: set up the webhook as below")
    };
    let current_template = settings.title_template.as_deref();
    let preview = {
        let template = current_template.unwrap_or("{name}");
        let sample = v.page.items.iter().flatten().next();
        let (name, kind, id) = match sample {
            Some(r) => (
                r.stage.doc().map(|d| d.title.clone()).unwrap_or_else(|| r.key.id.to_string()),
                r.key.kind,
                r.key.id.clone(),
            ),
            None => (
                lang.pick("示例需求", "A sample story").to_owned(),
                ItemKind::Story,
                ItemId::parse("1000000001").expect("a valid id"),
            ),
        };
        render_title(template, &name, kind, &id, ws)
    };
    let events = settings.events.unwrap_or(Events::ALL);
    let intro = settings.intro_fields.as_ref();
    let intro_on = |f: IntroField| intro.is_none_or(|v| v.contains(&f));
    let kind_name = |k: ItemKind| shared::text::kind_name(lang, k);
    html! {
        nav {
            @if v.others { a href="/console" { (lang.pick("切换项目", "Switch workspace")) } }
            a href="/console/signin" { (lang.pick("登录另一个项目", "Another workspace")) }
            (html::csrf_form_as(FormAs::Inline, "/console/signout", csrf, html! {
                button type="submit" id="signout" { (lang.pick("退出登录", "Sign out")) }
            }))
        }
        h1 id="workspace" { (lang.pick("TAPD 项目 ", "TAPD workspace ")) (ws) }
        @if let Some(n) = &v.notice { (notice(lang, n)) }
        @if let Some(since) = settings.paused_since_ms {
            div class="refused" id="paused" {
                (lang.pick("已暂停创建文档，自", "Linking is paused since")) " " (tapd_time(since))
                (html::csrf_form_as(FormAs::Inline, &to("resume"), csrf, html! {
                    " " button type="submit" id="resume" { (lang.pick("恢复", "Resume")) }
                }))
            }
        }
        @if overview.needs_reconnect {
            p class="refused" id="needs-reconnect" {
                (lang.pick("腾讯文档授权已失效。", "The Tencent Docs authorization is gone.")) " "
                a href="/oauth/tapd/start" { (lang.pick("重新连接（文档都会保留）", "Reconnect (the docs stay)")) }
            }
        }
        @for (iteration, wanted) in &overview.folders_kept {
            p class="refused" id={ "folder-kept-" (iteration) } {
                (lang.pick("迭代 ", "Iteration ")) (iteration)
                (lang.pick(" 的文件夹未能改名为“", "'s folder could not be renamed to “")) (wanted)
                (lang.pick(
                    "”：腾讯文档拒绝了改名，文件夹保留原名，文档仍在其中。",
                    "”: Tencent Docs refused the rename; the folder keeps its title and the docs stay in it."
                ))
            }
        }
        p id="account" {
            (lang.pick("腾讯文档账号：", "Tencent Docs account: ")) (account)
            " · " (lang.pick("连接于 ", "since ")) (since)
            " · " (lang.pick("文件夹 ", "folder ")) code { (overview.folder_id.as_deref().unwrap_or("–")) }
        }
        p class="counts" id="today" { (lang.pick("今天：", "Today:")) " " (counts(lang, overview.today)) }
        p class="counts" id="week" { (lang.pick("最近 7 天：", "Last 7 days:")) " " (counts(lang, overview.week)) }
        p id="last-delivery" { (lang.pick("最近一次收到条目：", "Last item received: ")) (last) " · " (webhook_seen) }

        h2 { (lang.pick("条目", "Items")) }
        nav id="filters" {
            a href={ "/console/ws/" (ws) } { (lang.pick("全部", "all")) }
            @for st in STATES { a href={ "/console/ws/" (ws) "?state=" (st.as_str()) } { (st.label(lang)) } }
        }
        (search_form(lang, ws, v.searched, v.state))
        (html::csrf_form(&to("retry-given-up"), csrf, html! {
            button type="submit" { (lang.pick("重试所有已放弃的", "Retry every given-up item")) }
        }))
        table id="items" {
            thead { tr {
                th { (lang.pick("标题", "Title")) }
                th { (lang.pick("类型", "Kind")) }
                th { (lang.pick("状态", "State")) }
                th { (lang.pick("文档", "Doc")) }
                th { (lang.pick("尝试次数", "Attempts")) }
                th { (lang.pick("时间", "When")) }
                th {}
            } }
            tbody {
                @for r in &v.page.items {
                    @match r {
                        Ok(r) => (item_row(lang, r, v.tapd_web, csrf, ws)),
                        Err((pk, why)) => (unreadable_row(lang, pk, why)),
                    }
                }
            }
        }
        @if let Some(after) = &v.page.next {
            p { a id="next-page" href=(next_page_href(ws, v.state, v.searched, after)) { (lang.pick("下一页", "Next page")) } }
        }

        h2 { (lang.pick("设置", "Settings")) }
        (html::csrf_form_as(FormAs::Id("settings"), &to("settings"), csrf, html! {
            label for="title_template" { (lang.pick("文档标题模板", "Doc title template")) }
            br;
            input type="text" id="title_template" name="title_template" value=(current_template.unwrap_or("")) placeholder="{name}";
            br;
            small { (lang.pick(
                "可用 {name}（条目名称）、{id}、{kind}、{workspace_id}；留空则使用部署时的默认值。只影响之后创建的文档。",
                "Use {name} (the item's name), {id}, {kind}, {workspace_id}; empty follows the deployment's. Affects docs made from now on."
            )) }
            br;
            small id="preview" { (lang.pick("预览：", "Preview: ")) (preview) }
            p {
                label for="folder_layout" { (lang.pick("文件夹结构", "Folder layout")) } " "
                select id="folder_layout" name="folder_layout" {
                    (options(lang, settings.folder_layout.map(shared::config::FolderLayout::as_str), &[
                        ("none", lang.pick("不建文件夹（账号根目录）", "none (the account's root)")),
                        ("workspace", lang.pick("每个项目一个文件夹", "a folder per workspace")),
                        ("iteration", lang.pick("项目文件夹下每个迭代一个子文件夹", "and a sub-folder per iteration")),
                    ]))
                }
                br;
                small { (lang.pick("新文档放在哪里；已有文档不会移动。", "Where new docs go; existing docs do not move.")) }
            }
            p {
                label for="permission" { (lang.pick("文档权限", "Doc permission")) } " "
                select id="permission" name="permission" {
                    (options(lang, settings.doc_permission.map(shared::store::PermissionSetting::as_str), &[
                        ("default", lang.pick("腾讯文档默认", "Tencent Docs' default")),
                        ("private", lang.pick("仅自己", "private")),
                        ("members", lang.pick("企业成员可查看", "members")),
                        ("publicRead", lang.pick("获得链接的人可查看", "anyone with the link can read")),
                        ("publicWrite", lang.pick("获得链接的人可编辑", "anyone with the link can edit")),
                    ]))
                }
                br;
                small { (lang.pick("谁能打开新文档。", "Who can open new docs.")) }
            }
            p {
                (lang.pick("文档类型：", "Doc type:")) " "
                @for k in [ItemKind::Story, ItemKind::Bug] {
                    label {
                        (kind_name(k)) " "
                        select name={ "doc_type_" (k.as_str()) } {
                            (options(
                                lang,
                                settings.doc_type(k).map(shared::config::DocType::as_str),
                                &shared::config::DOC_TYPES.iter().map(|t| (*t, *t)).collect::<Vec<_>>(),
                            ))
                        }
                    }
                    " "
                }
            }
            p {
                (lang.pick("模板文档（按类型）", "Template doc per kind"))
                br;
                @for k in [ItemKind::Story, ItemKind::Bug, ItemKind::Task] {
                    label {
                        (kind_name(k)) " "
                        input type="text" name={ "template_" (k.as_str()) } value=(settings.template(k).unwrap_or(""))
                            placeholder=(lang.pick("模板文档 ID（留空则新建空白文档）", "template file id (empty: a blank doc)"));
                    }
                    br;
                }
                small { (lang.pick(
                    "新文档复制自该腾讯文档（文件 ID 见文档链接 /doc/ 之后的部分）。",
                    "New docs are copies of that Tencent Doc (the file id is the part of its link after /doc/)."
                )) }
            }
            p {
                label for="language" { (lang.pick("写入 TAPD 和腾讯文档的语言", "Language of what is written into TAPD and Tencent Docs")) } " "
                select id="language" name="language" {
                    (options(lang, settings.language.map(Lang::tag), &[("zh-CN", "简体中文"), ("en", "English")]))
                }
                br;
                small { (lang.pick("文档开头的介绍和 TAPD 评论使用的语言。", "Of the doc's intro and the TAPD comment.")) }
            }
            button type="submit" { (lang.pick("保存", "Save")) }
        }))
        (html::csrf_form_as(FormAs::Id("content-settings"), &to("settings"), csrf, html! {
            p {
                input type="hidden" name="intro_shown" value="1";
                (lang.pick("文档卡片显示：", "The doc's card shows:")) " "
                (boxes("intro", &[
                    ("owner", lang.pick("处理人", "owner"), intro_on(IntroField::Owner)),
                    ("priority", lang.pick("优先级", "priority"), intro_on(IntroField::Priority)),
                    ("iteration", lang.pick("迭代", "iteration"), intro_on(IntroField::Iteration)),
                    ("description", lang.pick("描述", "description"), intro_on(IntroField::Description)),
                ]))
                br;
                small { (lang.pick("条目名称和链接总会显示。", "The item's name and link are always shown.")) }
            }
            p id="events" {
                input type="hidden" name="events_shown" value="1";
                (lang.pick("处理的事件：", "Events acted on:")) " "
                (boxes("event", &[
                    ("story", kind_name(ItemKind::Story), events.story),
                    ("bug", kind_name(ItemKind::Bug), events.bug),
                    ("task", kind_name(ItemKind::Task), events.task),
                    ("rename", lang.pick("改名时同步文档标题", "rename the doc with the item"), events.rename),
                    (
                        "delete",
                        lang.pick("条目删除时记录（并按部署设置移入回收站）", "record deletes (and trash, as deployed)"),
                        events.delete,
                    ),
                ]))
                br;
                small { (lang.pick(
                    "不勾选的类型不创建文档；任务仅在部署启用了任务（LINK_TASKS）时生效。",
                    "Unticked kinds get no doc; tasks only where the deployment links tasks (LINK_TASKS)."
                )) }
            }
            p id="close-out" {
                input type="hidden" name="close_out_shown" value="1";
                label {
                    input type="checkbox" name="close_out" value="1" checked[settings.close_out.unwrap_or(true)];
                    " "
                    (lang.pick(
                        "条目进入结束状态时，把文档移入所在文件夹的“已完成”子文件夹（离开结束状态时移回）",
                        "When an item reaches an end status, move its doc into its folder's “Done” sub-folder (and back when it leaves it)"
                    ))
                }
            }
            button type="submit" id="save-events" { (lang.pick("保存", "Save")) }
        }))

        h2 { (lang.pick("更多操作", "More")) }
        (notify_form(lang, ws, csrf, v.notify, v.email_on))
        @if settings.paused_since_ms.is_none() {
            (html::csrf_form(&to("pause"), csrf, html! {
                small { (lang.pick(
                    "暂停期间，新条目照常记录并等待，不创建文档；恢复后立即处理。",
                    "While paused, new items are recorded and wait, no doc is made; they are taken as soon as it resumes."
                )) }
                br;
                button type="submit" id="pause" { (lang.pick("暂停创建文档", "Pause linking")) }
            }))
        }
        @if let Some(p) = v.progress {
            p id="backfill-progress" {
                @let left = p.left.map(|l| l.to_string()).unwrap_or_else(|| "?".into());
                @let mins = p.eta_ms.map(|e| e.div_ceil(60_000));
                @match lang {
                    Lang::ZhCn => (format!("补全/巡检进行中：已处理 {} 条，剩余 {left} 条{}", p.done, mins.map(|m| format!("，约 {m} 分钟完成")).unwrap_or_default())),
                    Lang::En => (format!("Backfill or sweep under way: {} done, {left} left{}", p.done, mins.map(|m| format!(", about {m} min to go")).unwrap_or_default())),
                }
                @if let Some(f) = p.fraction() {
                    " " progress max="100" value=(format!("{:.0}", f * 100.0)) {}
                }
            }
        }
        (html::csrf_form(&to("backfill"), csrf, html! {
            label for="since" { (lang.pick("补全此日期以来创建的条目：", "Link the items created since:")) } " "
            input type="date" id="since" name="since";
            " "
            button type="submit" { (lang.pick("补全", "Backfill")) }
        }))
        p { a href="/oauth/tapd/start" id="reconnect" {
            (lang.pick("重新连接腾讯文档（例如修改密码后；文档都会保留）", "Reconnect Tencent Docs (e.g. after a password change; the docs stay)"))
        } }
        (html::csrf_form_as(FormAs::Id("disconnect"), &to("disconnect"), csrf, html! {
            small { (lang.pick(
                "断开后不再为新条目创建文档，本项目的 Webhook 密钥失效；已有的文档、评论和记录都保留，随时可以重新连接。",
                "Once disconnected, new items get no doc and the workspace's webhook secret stops working; existing docs, comments and records stay, and it can be connected again."
            )) }
            br;
            label { input type="checkbox" name="confirm" value="yes"; " " (lang.pick("我确认断开连接", "I confirm the disconnection")) }
            " "
            button type="submit" { (lang.pick("断开连接", "Disconnect")) }
        }))

        h2 { "Webhook" }
        p { (lang.pick(
            "在 TAPD 项目「设置 → 应用设置 → Webhook」中填入下面的地址和本项目的密钥，勾选需求和缺陷的创建、更新、删除事件，格式选 JSON。",
            "In the workspace's Settings → App settings → Webhook in TAPD, enter this URL and the workspace's secret, tick create, update and delete of stories and bugs, JSON format."
        )) }
        p { code id="webhook-url" { (v.webhook_url) } }
        ul id="secrets" {
            @for (made, retires) in &overview.secrets {
                @match retires {
                    None => li { (lang.pick("当前密钥，创建于", "current, made")) " " (tapd_time(*made)) },
                    Some(r) => li { (lang.pick("旧密钥，有效至", "previous, works until")) " " (tapd_time(*r)) },
                }
            }
        }
        (html::csrf_form(&to("rotate-secret"), csrf, html! {
            button type="submit" id="rotate" { (lang.pick("轮换密钥", "Rotate the secret")) }
        }))

        h2 { (lang.pick("操作记录", "Audit trail")) }
        ul id="audit" {
            @for a in v.audit { li { (tapd_time(a.at_ms)) " · " (a.who) " · " (a.what) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::reason::Reason;
    use shared::store::{Doc, Event, EventKind, ItemKey};

    /// `s` as the markup writes it in text.
    fn escaped(s: &str) -> String {
        html! { (s) }.into_string()
    }

    fn record(ws: &WorkspaceId, id: &str, stage: Stage, reason: Option<Reason>) -> ItemRecord {
        ItemRecord {
            key: ItemKey { workspace: ws.clone(), kind: ItemKind::Story, id: ItemId::parse(id).unwrap() },
            stage,
            attempts: 3,
            first_seen_ms: 1,
            pending_since_ms: 1,
            last_error: Some("TAPD is unavailable: given up soon".into()),
            reason,
            next_try_ms: Some(shared::time::now_millis() + 3_600_000),
            history: Vec::new(),
            deleted: false,
            delete_refused: None,
            marker: "m".into(),
            absent_since_ms: None,
            place: Default::default(),
            card: Default::default(),
            doc_open_id: None,
        }
    }

    /// Every typed reason, in both languages, waiting and given up, as the items page and the
    /// item's own page show it: the words come from the type; a given-up row always says so
    /// and offers a retry.
    #[test]
    fn every_reason_reads_right_on_the_items_page_in_both_languages() {
        let ws = WorkspaceId::parse("20000001").unwrap();
        for reason in Reason::all() {
            for lang in [Lang::ZhCn, Lang::En] {
                let waiting = record(&ws, "1120000001000000001", Stage::New, Some(reason));
                let soon = waiting.next_try_ms.unwrap();
                let given_up = ItemRecord { stage: Stage::GivenUp { reason, doc: None }, ..waiting.clone() };
                let words = escaped(&reason.words(lang));
                let row = item_row(lang, &waiting, "https://www.tapd.cn", "c", &ws).into_string();
                assert!(row.contains(&words), "{reason:?} {lang:?}: {row}");
                assert!(row.contains(&tapd_time(soon)), "the next try's time: {row}");
                assert!(row.contains("data-state=\"waiting\"") && row.contains("name=\"item\""), "{row}");
                assert!(row.contains("class=\"why\""), "{row}");
                for row in [
                    item_row(lang, &given_up, "https://www.tapd.cn", "c", &ws).into_string(),
                    item_body(lang, &given_up, "https://www.tapd.cn", "c").1.into_string(),
                ] {
                    assert!(row.contains(&words) && row.contains("data-state=\"given_up\""), "{row}");
                    assert!(row.contains(lang.pick("已放弃，不再自动重试", "Given up, no longer retried")), "{row}");
                    assert!(
                        row.contains(lang.pick("重试", "Retry")) && row.contains("/retry"),
                        "offers a retry: {row}"
                    );
                    assert!(!row.contains(lang.pick("将于", "Next try")), "a given-up item is not retried: {row}");
                }
                // The history says each attempt's reason in the same words.
                let mut walked = given_up.clone();
                walked.history = vec![
                    Event { at_ms: 1, what: EventKind::Waiting(reason) },
                    Event { at_ms: 2, what: EventKind::GivenUp(reason) },
                ];
                let page = item_body(lang, &walked, "https://www.tapd.cn", "c").1.into_string();
                assert!(page.contains("data-event=\"waiting\"") && page.contains("data-event=\"given_up\""), "{page}");
                assert!(page.matches(&words).count() >= 3, "the row and both attempts: {page}");
            }
        }
    }

    /// What a person or TAPD can put on a page, hostile, in every field that shows it.
    const HOSTILE: &str = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>&amp;";

    fn assert_clean(what: &str, page: &str) {
        assert!(!page.contains("<script>alert") && !page.contains("<img src=x"), "{what}: unescaped: {page}");
        assert!(!page.contains("\"><img") && !page.contains("&amp;\""), "{what}: an attribute broken out of: {page}");
        assert!(page.contains("&lt;script&gt;alert('x')&lt;/script&gt;&quot;&gt;&lt;img"), "{what}: not shown: {page}");
        assert!(page.contains("&amp;amp;"), "{what}: `&` escaped: {page}");
    }

    /// Every page, with hostile data in every user-controlled field (titles, nicks, reasons'
    /// detail, the search query, template settings, notices, the audit's actors): none of it
    /// appears unescaped, in text or in an attribute.
    #[test]
    fn every_page_escapes_hostile_data() {
        use shared::ids::OpenId;
        use shared::store::{Binding, ConnectedBy};
        let ws = WorkspaceId::parse("20000001").unwrap();
        let doc = Doc { id: "f".into(), url: format!("https://docs.qq.com/doc/{HOSTILE}"), title: HOSTILE.into() };
        let mut linked =
            record(&ws, "1120000001000000001", Stage::Done { doc: doc.clone(), comment_id: "c".into() }, None);
        linked.history = vec![
            Event { at_ms: 1, what: EventKind::Retried { by: format!("console: {HOSTILE}") } },
            Event { at_ms: 2, what: EventKind::Linked },
            Event { at_ms: 3, what: EventKind::CardWritten },
            Event { at_ms: 4, what: EventKind::CardFailed(Reason::Unavailable(shared::upstream::Service::Tdoc)) },
        ];
        let mut deleted = record(&ws, "1120000001000000002", Stage::Done { doc, comment_id: "c".into() }, None);
        deleted.deleted = true;
        deleted.delete_refused = Some(HOSTILE.into());
        let given_up = record(&ws, "1120000001000000003", Stage::GivenUp { reason: Reason::all()[0], doc: None }, None);
        let mut settings = shared::store::WorkspaceSettings {
            title_template: Some(format!("{{name}} {HOSTILE}")),
            paused_since_ms: Some(1),
            ..Default::default()
        };
        settings.templates.insert(ItemKind::Story, HOSTILE.into());
        let overview = Overview {
            binding: Some(Binding {
                account: Account::User(OpenId::parse("a1b2").unwrap()),
                connected_at: 1,
                connected_by: ConnectedBy::default(),
                nick: Some(HOSTILE.into()),
                bind_id: "x".into(),
            }),
            needs_reconnect: true,
            folder_id: Some(HOSTILE.into()),
            settings,
            today: [1, 2, 3],
            week: [4, 5, 6],
            last_item_ms: Some(1),
            secrets: vec![(1, None), (1, Some(2))],
            folders_kept: [("1".to_owned(), HOSTILE.to_owned())].into(),
        };
        let page = ItemsPage {
            items: vec![
                Ok(linked.clone()),
                Ok(deleted.clone()),
                Ok(given_up),
                Err((format!("ITEM#{HOSTILE}"), HOSTILE.into())),
            ],
            next: Some(HOSTILE.into()),
        };
        let audit = [AuditEntry { at_ms: 1, who: format!("console: {HOSTILE}"), what: HOSTILE.into() }];
        let shown = NotifyShown {
            kind: "email".into(),
            shown: Some(HOSTILE.into()),
            last: LastNotice::Refused { at: 1, why: shared::notify::NotifyError::MailRefused(HOSTILE.into()) },
        };
        for lang in [Lang::ZhCn, Lang::En] {
            for (what, notice) in [
                ("refused", Some(Notice::Refused(HOSTILE.into()))),
                ("new secret", Some(Notice::NewSecret(HOSTILE.into()))),
                ("done", Some(Notice::Done(Done::parse(HOSTILE)))),
                ("none", None),
            ] {
                let view = WorkspaceView {
                    lang,
                    ws: &ws,
                    csrf: "c",
                    others: true,
                    overview: &overview,
                    page: &page,
                    audit: &audit,
                    notify: Some(&shown),
                    email_on: true,
                    notice,
                    searched: HOSTILE,
                    state: Some(ItemState::GivenUp),
                    tapd_web: HOSTILE,
                    webhook_url: HOSTILE,
                    progress: Some(shared::store::Progress { done: 400, left: Some(600), eta_ms: Some(90_000) }),
                };
                let html = shell(lang, &format!("{HOSTILE} {ws}"), workspace_body(&view)).body;
                assert_clean(&format!("workspace, {what}"), &html);
                assert!(!html.contains("<script"), "no script in the console");
                // The backfill's progress, in the page's language: done, left, time to go.
                let progress =
                    lang.pick("已处理 400 条，剩余 600 条，约 2 分钟完成", "400 done, 600 left, about 2 min to go");
                assert!(html.contains("id=\"backfill-progress\"") && html.contains(progress), "{html}");
                if what == "refused" {
                    assert!(
                        html.contains(&format!("{}：{}", lang.pick("未保存", "Not saved"), escaped(HOSTILE))),
                        "{html}"
                    );
                }
                // The query is carried in the next page's link, encoded.
                assert!(
                    html.contains("id=\"next-page\" href=\"/console/ws/20000001?state=given_up&amp;q=%3Cscript%3E"),
                    "{html}"
                );
            }
            for r in [&linked, &deleted] {
                let (title, body) = item_body(lang, r, HOSTILE, "c");
                assert_clean("item", &shell(lang, &title, body).body);
            }
        }
        // The connect flow's pages: the nicks shown there (the rest is fixed text).
        let b = |nick: &str| Binding {
            account: Account::User(OpenId::parse("a1b2").unwrap()),
            connected_at: 1,
            connected_by: ConnectedBy::default(),
            nick: Some(nick.into()),
            bind_id: "x".into(),
        };
        let c = shared::connect::ConfirmRebind {
            workspace: ws.clone(),
            current: b(HOSTILE),
            new: b(HOSTILE),
            token: HOSTILE.into(),
        };
        assert_clean("confirm", &pages::confirm(Lang::En, &c, "/oauth/tdoc/confirm").body);
        let done = shared::connect::Connected {
            workspace: ws.clone(),
            account: Account::User(OpenId::parse("a1b2").unwrap()),
            nick: Some(HOSTILE.into()),
            webhook_secret: shared::Secret::new(HOSTILE),
        };
        let page = pages::connected(Lang::ZhCn, &done, HOSTILE).body;
        assert_clean("connected", &page);
        assert_eq!(page.matches("<script").count(), 1, "only the copy button's: {page}");
    }

    #[test]
    fn csrf_tokens_differ_by_session_and_reveal_nothing() {
        let (a, b) = (csrf_of("token-a"), csrf_of("token-b"));
        assert_ne!(a, b);
        assert!(!a.contains("token-a"));
        assert_eq!(a, csrf_of("token-a"));
    }
}
