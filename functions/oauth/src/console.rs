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
use shared::store::{Account, Events, ItemRecord, Stage};
use shared::text::{Lang, Problem, escape_html};
use shared::time::tapd_time;

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
            match (method, rest) {
                ("GET", []) => workspace_page(connector, req, lang, &token, &s, &ws, None).await,
                ("GET", ["item", kind, id]) => item_page(connector, lang, &token, &ws, kind, id).await,
                ("POST", [action]) => match form_ok(req, &token, &connector.cfg.public_base_url) {
                    Some(form) => act(connector, req, lang, &token, &who, &s, &ws, action, &form).await,
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

#[allow(clippy::too_many_arguments)]
async fn act(
    connector: &Connector,
    req: &HttpRequest,
    lang: Lang,
    token: &str,
    who: &str,
    s: &Session,
    ws: &WorkspaceId,
    action: &str,
    form: &[(String, String)],
) -> HttpResponse {
    let store = &connector.clients.store;
    let who = format!("console: {who}");
    let back = |note: &str| pages::redirect(format!("/console/ws/{ws}?done={note}"));
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
            };
            if let Some(why) = foreign_template(connector, ws, &change, lang).await {
                return workspace_page(connector, req, lang, token, s, ws, Some(Notice::Refused(why))).await;
            }
            match ops::save_settings(store, ws, &change, &who).await {
                Ok(Ok(())) => Ok(back("saved")),
                Ok(Err(e)) => {
                    return workspace_page(connector, req, lang, token, s, ws, Some(Notice::Refused(e.to_string())))
                        .await;
                }
                Err(e) => Err(e),
            }
        }
        "backfill" => match field(form, "since").and_then(shared::time::parse_tapd_date) {
            Some(since) if since <= shared::time::now_millis() => {
                ops::backfill(store, ws, since, &who).await.map(|()| back("backfill"))
            }
            _ => {
                let why = lang
                    .pick("日期无效（格式 YYYY-MM-DD，不能晚于今天）", "not a date (YYYY-MM-DD, not in the future)");
                return workspace_page(connector, req, lang, token, s, ws, Some(Notice::Refused(why.to_owned()))).await;
            }
        },
        "notify" => {
            let robot = match field(form, "notify").map(str::trim).filter(|u| !u.is_empty()) {
                Some(raw) => match shared::notify::Robot::parse(raw, &connector.cfg.common.notify) {
                    Ok(robot) => Some(robot),
                    Err(e) => {
                        let why = format!(
                            "{}（{e}）",
                            lang.pick("不是企业微信或钉钉群机器人的 Webhook 地址", "not a group robot's webhook URL")
                        );
                        return workspace_page(connector, req, lang, token, s, ws, Some(Notice::Refused(why))).await;
                    }
                },
                None => None,
            };
            ops::set_notify(store, ws, robot.as_ref(), &who).await.map(|()| back("saved"))
        }
        "disconnect" => {
            if field(form, "confirm") != Some("yes") {
                let why = lang.pick("请勾选确认后再断开连接", "Tick the confirmation to disconnect");
                return workspace_page(connector, req, lang, token, s, ws, Some(Notice::Refused(why.to_owned()))).await;
            }
            ops::disconnect(store, ws, &who).await.map(|_| back("disconnected"))
        }
        "rotate-secret" => match ops::rotate_secret(store, ws, connector.cfg.webhook_secret_grace, &who).await {
            Ok((new, _)) => {
                return workspace_page(
                    connector,
                    req,
                    lang,
                    token,
                    s,
                    ws,
                    Some(Notice::NewSecret(new.expose().to_owned())),
                )
                .await;
            }
            Err(e) => Err(e),
        },
        _ => return pages::error(lang, 404, Problem::NotFound),
    };
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, workspace = %ws, action, "console action failed");
        pages::error(lang, 503, Problem::Unavailable)
    })
}

enum Notice {
    Refused(String),
    NewSecret(String),
}

fn shell(lang: Lang, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>\
         body{{font-family:system-ui,sans-serif;max-width:64rem;margin:1rem auto;padding:0 1rem;line-height:1.5;color:#222}}\
         h1{{font-size:1.3rem}}h2{{font-size:1.1rem;margin-top:1.5rem}}table{{border-collapse:collapse;width:100%;font-size:.9rem}}\
         td,th{{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}}\
         .counts span{{display:inline-block;margin-right:1rem}}code{{background:#f3f3f3;padding:0 .2rem;word-break:break-all}}\
         nav a{{margin-right:.8rem}}.notice{{background:#eef6ee;padding:.5rem}}.refused{{background:#fbeaea;padding:.5rem}}\
         form.inline{{display:inline}}input[type=text]{{width:100%;max-width:30rem}}\
         @media(max-width:40rem){{td:nth-child(2),th:nth-child(2),td:nth-child(6),th:nth-child(6){{display:none}}}}\
         </style></head><body>{body}</body></html>",
        lang = lang.tag(),
        t = escape_html(title)
    );
    HttpResponse::new(200, "text/html; charset=utf-8", html)
        .with_header("cache-control", "no-store")
        .with_header("referrer-policy", "no-referrer")
        .with_header("x-content-type-options", "nosniff")
        .with_header("x-frame-options", "DENY")
        .with_header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
}

fn picker(lang: Lang, s: &Session) -> HttpResponse {
    let list: String = s
        .workspaces
        .iter()
        .map(|w| {
            format!(
                "<li><a href=\"/console/ws/{w}\">{}</a></li>",
                lang.pick("项目 ", "Workspace ").to_owned() + w.as_str()
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><ul id=\"workspaces\">{list}</ul><p><a href=\"/console/signin\">{}</a></p>",
        lang.pick("选择项目", "Choose a workspace"),
        lang.pick("登录另一个项目", "Sign in to another workspace")
    );
    shell(lang, lang.pick("控制台", "Console"), &body)
}

fn signed_out(lang: Lang) -> HttpResponse {
    let body = format!(
        "<h1 id=\"signed-out\">{}</h1><p><a href=\"/console\">{}</a></p>",
        lang.pick("已退出登录", "Signed out"),
        lang.pick("重新登录", "Sign in again")
    );
    shell(lang, lang.pick("已退出登录", "Signed out"), &body)
}

fn item_row(lang: Lang, r: &ItemRecord, tapd_web: &str, csrf: &str, ws: &WorkspaceId) -> String {
    let state = ItemState::of(r);
    let key = &r.key;
    let kind = shared::text::kind_name(lang, key.kind);
    let item_url = format!("{tapd_web}/{ws}/{}/view/{}", key.kind.web_segment(), key.id);
    let (title, doc) = match r.stage.doc() {
        Some(d) => (d.title.clone(), format!("<a href=\"{}\">{}</a>", escape_html(&d.url), lang.pick("文档", "doc"))),
        None => (format!("{kind} {}", key.id), "–".to_owned()),
    };
    let why = ops::reason(lang, r)
        .map(|w| format!("<br><small class=\"why\">{}</small>", escape_html(&w)))
        .unwrap_or_default();
    let retry = if matches!(state, ItemState::Waiting | ItemState::GivenUp) {
        format!(
            "<form class=\"inline\" method=\"post\" action=\"/console/ws/{ws}/retry\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"hidden\" name=\"item\" value=\"{}/{}\"><button type=\"submit\">{}</button></form>",
            key.kind.as_str(),
            key.id,
            lang.pick("重试", "Retry")
        )
    } else {
        String::new()
    };
    let at = match &r.stage {
        Stage::Done { .. } | Stage::GivenUp { .. } => tapd_time(r.first_seen_ms),
        _ => tapd_time(r.pending_since_ms),
    };
    format!(
        "<tr data-item=\"{}\" data-state=\"{}\"><td><a href=\"{}\">{}</a> <a class=\"history\" href=\"/console/ws/{ws}/item/{}/{}\">{}</a>{why}</td><td>{kind}</td><td>{}</td><td>{doc}</td><td>{}</td><td>{at}</td><td>{retry}</td></tr>",
        key.id,
        state.as_str(),
        escape_html(&item_url),
        escape_html(&title),
        key.kind.as_str(),
        key.id,
        lang.pick("历史", "history"),
        state.label(lang),
        r.attempts,
    )
}

/// One item's page: where it stands and why, and its history, attempt by attempt, with who
/// retried it (`GET /console/ws/{ws}/item/{kind}/{id}`).
async fn item_page(
    connector: &Connector,
    lang: Lang,
    token: &str,
    ws: &WorkspaceId,
    kind: &str,
    id: &str,
) -> HttpResponse {
    let (Some(kind), Ok(id)) = (ItemKind::parse(kind), ItemId::parse(id)) else {
        return pages::error(lang, 404, Problem::NotFound);
    };
    let key = shared::store::ItemKey { workspace: ws.clone(), kind, id };
    let record = match connector.clients.store.item(&key).await {
        Ok(Some(r)) => r,
        Ok(None) => return pages::error(lang, 404, Problem::NotFound),
        Err(e) => {
            tracing::error!(error = %e, workspace = %ws, "console item page failed");
            return pages::error(lang, 503, Problem::Unavailable);
        }
    };
    let tapd_web = &connector.cfg.common.tapd.web_base;
    let row = item_row(lang, &record, tapd_web, &csrf_of(token), ws);
    let events: String = record
        .history
        .iter()
        .rev()
        .take(shared::store::HISTORY_SHOWN)
        .map(|e| {
            let (what, why, by) = event_words(lang, &e.what);
            format!(
                "<tr data-event=\"{}\"><td>{}</td><td>{what}</td><td>{}</td><td>{}</td></tr>",
                event_code(&e.what),
                tapd_time(e.at_ms),
                escape_html(&why),
                escape_html(&by)
            )
        })
        .collect();
    let events = if events.is_empty() {
        format!("<p>{}</p>", lang.pick("还没有记录的尝试。", "No attempts recorded yet."))
    } else {
        format!(
            "<table id=\"history\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{events}</tbody></table>",
            lang.pick("时间", "When"),
            lang.pick("结果", "Outcome"),
            lang.pick("原因", "Why"),
            lang.pick("操作人", "By"),
        )
    };
    let title = format!("{} {}", shared::text::kind_name(lang, kind), key.id);
    let body = format!(
        "<nav><a href=\"/console/ws/{ws}\">{}</a></nav><h1 id=\"item\">{}</h1>\
         <table id=\"items\"><tbody>{row}</tbody></table><h2>{}</h2>{events}",
        lang.pick("返回项目", "Back to the workspace"),
        escape_html(&title),
        lang.pick("历史（最新在前）", "History (newest first)"),
    );
    shell(lang, &title, &body)
}

fn event_code(e: &shared::store::EventKind) -> &'static str {
    use shared::store::EventKind as E;
    match e {
        E::Linked => "linked",
        E::Waiting(_) => "waiting",
        E::GivenUp(_) => "given_up",
        E::Deleted => "deleted",
        E::Retried { .. } => "retried",
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
    }
}

#[allow(clippy::too_many_arguments)]
async fn workspace_page(
    connector: &Connector,
    req: &HttpRequest,
    lang: Lang,
    token: &str,
    s: &Session,
    ws: &WorkspaceId,
    notice: Option<Notice>,
) -> HttpResponse {
    let store = &connector.clients.store;
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.raw_query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let q = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let state = q("state").and_then(ItemState::parse);
    let find = q("q").and_then(ops::Find::parse);
    let listed = async {
        match &find {
            Some(f) => ops::find(store, ws, f, state, q("after"), PAGE_SIZE).await,
            None => ops::items(store, ws, state, q("after"), PAGE_SIZE).await,
        }
    };
    let (overview, page, audit, robot) = match tokio::try_join!(
        Overview::read(store, ws),
        listed,
        store.audit_trail(ws, 10),
        store.notify_robot_kind(ws)
    ) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, workspace = %ws, "console page failed");
            return pages::error(lang, 503, Problem::Unavailable);
        }
    };
    let csrf = csrf_of(token);
    let tapd_web = &connector.cfg.common.tapd.web_base;
    let account = match overview.binding.as_ref().map(|b| (&b.account, b.nick.as_deref())) {
        Some((Account::User(o), nick)) => shared::text::account_name(lang, nick, Some(o.as_str())),
        Some((Account::App, _)) => shared::text::account_name(lang, None, None),
        None => lang.pick("（未连接）", "(not connected)").to_owned(),
    };
    let since = overview.binding.as_ref().map(|b| tapd_time(b.connected_at * 1000)).unwrap_or_else(|| "–".into());
    let notice = match (&notice, q("done")) {
        (Some(Notice::Refused(why)), _) => format!("<p class=\"refused\" id=\"refused\">{}：{}</p>", lang.pick("未保存", "Not saved"), escape_html(why)),
        (Some(Notice::NewSecret(secret)), _) => format!(
            "<p class=\"notice\">{} <code id=\"new-webhook-secret\">{}</code><br>{}</p>",
            lang.pick("新的 Webhook 密钥（只显示这一次）：", "The new webhook secret (shown this once):"),
            escape_html(secret),
            lang.pick(
                "请在 TAPD 项目的 Webhook 设置中换成它；旧密钥在宽限期内仍然有效。",
                "Replace the old one in the workspace's webhook settings in TAPD; the old one keeps working for the grace period."
            )
        ),
        (None, Some("saved")) => format!("<p class=\"notice\" id=\"done\">{}</p>", lang.pick("已保存：下一个条目即按新设置创建文档。", "Saved: the next item follows the new settings.")),
        (None, Some("backfill")) => format!("<p class=\"notice\" id=\"done\">{}</p>", lang.pick("已安排补全：接下来的定时任务会为这段时间内没有文档的条目创建文档。", "Backfill scheduled: the next scheduled runs link the items of that period that have no doc.")),
        (None, Some("disconnected")) => format!("<p class=\"notice\" id=\"done\">{}</p>", lang.pick("已断开连接：不再为新条目创建文档；已有的文档和评论都保留。", "Disconnected: new items get no doc; existing docs and comments stay.")),
        (None, Some("paused")) => format!("<p class=\"notice\" id=\"done\">{}</p>", lang.pick("已暂停：新条目会被记录并等待，恢复后再创建文档。", "Paused: new items are recorded and wait; their docs are made once resumed.")),
        (None, Some("resumed")) => format!("<p class=\"notice\" id=\"done\">{}</p>", lang.pick("已恢复：暂停期间等待的条目马上处理。", "Resumed: the items that waited are taken at once.")),
        (None, Some("retried")) => format!("<p class=\"notice\" id=\"done\">{}</p>", lang.pick("已安排重试：下一次定时任务或推送会处理它。", "Retry scheduled: the next scheduled run or delivery takes it.")),
        (None, Some(_)) => format!("<p class=\"notice\" id=\"done\">{}</p>", lang.pick("没有需要重试的。", "Nothing to retry.")),
        (None, None) => String::new(),
    };
    let pause = match overview.settings.paused_since_ms {
        Some(since) => format!(
            "<div class=\"refused\" id=\"paused\">{} {}<form class=\"inline\" method=\"post\" action=\"/console/ws/{ws}/resume\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"> <button type=\"submit\" id=\"resume\">{}</button></form></div>",
            lang.pick("已暂停创建文档，自", "Linking is paused since"),
            tapd_time(since),
            lang.pick("恢复", "Resume")
        ),
        None => String::new(),
    };
    let pause_button = if overview.settings.paused_since_ms.is_none() {
        format!(
            "<form method=\"post\" action=\"/console/ws/{ws}/pause\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <small>{}</small><br><button type=\"submit\" id=\"pause\">{}</button></form>",
            lang.pick(
                "暂停期间，新条目照常记录并等待，不创建文档；恢复后立即处理。",
                "While paused, new items are recorded and wait, no doc is made; they are taken as soon as it resumes."
            ),
            lang.pick("暂停创建文档", "Pause linking")
        )
    } else {
        String::new()
    };
    let lang_options =
        options(lang, overview.settings.language.map(Lang::tag), &[("zh-CN", "简体中文"), ("en", "English")]);
    let boxes = |prefix: &str, items: &[(&str, &str, bool)]| -> String {
        items
            .iter()
            .map(|(name, label, on)| {
                format!(
                    "<label><input type=\"checkbox\" name=\"{prefix}_{name}\" value=\"1\"{}> {}</label> ",
                    if *on { " checked" } else { "" },
                    escape_html(label)
                )
            })
            .collect()
    };
    let events = overview.settings.events.unwrap_or(Events::ALL);
    let event_boxes = boxes(
        "event",
        &[
            ("story", shared::text::kind_name(lang, ItemKind::Story), events.story),
            ("bug", shared::text::kind_name(lang, ItemKind::Bug), events.bug),
            ("task", shared::text::kind_name(lang, ItemKind::Task), events.task),
            ("rename", lang.pick("改名时同步文档标题", "rename the doc with the item"), events.rename),
            (
                "delete",
                lang.pick("条目删除时记录（并按部署设置移入回收站）", "record deletes (and trash, as deployed)"),
                events.delete,
            ),
        ],
    );
    let intro = overview.settings.intro_fields.clone();
    let intro_on = |f: IntroField| intro.as_ref().is_none_or(|v| v.contains(&f));
    let intro_boxes = boxes(
        "intro",
        &[
            ("owner", lang.pick("处理人", "owner"), intro_on(IntroField::Owner)),
            ("priority", lang.pick("优先级", "priority"), intro_on(IntroField::Priority)),
            ("iteration", lang.pick("迭代", "iteration"), intro_on(IntroField::Iteration)),
            ("description", lang.pick("描述", "description"), intro_on(IntroField::Description)),
        ],
    );
    let template_inputs: String = [ItemKind::Story, ItemKind::Bug, ItemKind::Task]
        .iter()
        .map(|k| {
            format!(
                "<label>{} <input type=\"text\" name=\"template_{}\" value=\"{}\" placeholder=\"{}\"></label><br>",
                shared::text::kind_name(lang, *k),
                k.as_str(),
                escape_html(overview.settings.template(*k).unwrap_or("")),
                lang.pick("模板文档 ID（留空则新建空白文档）", "template file id (empty: a blank doc)")
            )
        })
        .collect();
    let reconnect = if overview.needs_reconnect {
        format!(
            "<p class=\"refused\" id=\"needs-reconnect\">{} <a href=\"/oauth/tapd/start\">{}</a></p>",
            lang.pick("腾讯文档授权已失效。", "The Tencent Docs authorization is gone."),
            lang.pick("重新连接（文档都会保留）", "Reconnect (the docs stay)")
        )
    } else {
        String::new()
    };
    let c = |n: [u64; 3]| {
        format!(
            "<span>{} {}</span><span>{} {}</span><span>{} {}</span>",
            ItemState::Linked.label(lang),
            n[0],
            ItemState::Waiting.label(lang),
            n[1],
            ItemState::GivenUp.label(lang),
            n[2]
        )
    };
    let last = overview.last_item_ms.map(tapd_time).unwrap_or_else(|| lang.pick("尚未收到", "none yet").to_owned());
    let webhook_seen = if overview.last_item_ms.is_some() {
        lang.pick("已收到推送", "deliveries seen")
    } else {
        lang.pick("尚未收到推送：请按下面的步骤配置 Webhook", "no delivery yet: set up the webhook as below")
    };
    let secrets: String = overview
        .secrets
        .iter()
        .map(|(made, retires)| match retires {
            None => format!("<li>{} {}</li>", lang.pick("当前密钥，创建于", "current, made"), tapd_time(*made)),
            Some(r) => format!("<li>{} {}</li>", lang.pick("旧密钥，有效至", "previous, works until"), tapd_time(*r)),
        })
        .collect();
    let filters: String = std::iter::once((None, lang.pick("全部", "all")))
        .chain(
            [ItemState::Linked, ItemState::Waiting, ItemState::GivenUp, ItemState::Deleted]
                .map(|st| (Some(st), st.label(lang))),
        )
        .map(|(st, label)| match st {
            Some(st) => format!("<a href=\"/console/ws/{ws}?state={}\">{label}</a>", st.as_str()),
            None => format!("<a href=\"/console/ws/{ws}\">{label}</a>"),
        })
        .collect();
    // Where the workspace is told of given-up items: the robot's URL is a secret, never shown back.
    let notify = format!(
        "<form method=\"post\" action=\"/console/ws/{ws}/notify\" id=\"notify-form\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"notify\">{}</label><br><input type=\"text\" id=\"notify\" name=\"notify\" value=\"\" \
         placeholder=\"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…\"><br><small id=\"notify-state\">{}</small><br>\
         <button type=\"submit\">{}</button></form>",
        lang.pick("通知（企业微信或钉钉群机器人 Webhook 地址）", "Notify (a WeCom or DingTalk group robot's webhook URL)"),
        match robot.as_deref() {
            Some(kind) => format!(
                "{}{}",
                lang.pick("已设置：", "Set: "),
                match kind {
                    "wecom" => lang.pick("企业微信群机器人。留空保存即关闭通知。", "a WeCom group robot. Save empty to turn notifications off."),
                    _ => lang.pick("钉钉群机器人。留空保存即关闭通知。", "a DingTalk group robot. Save empty to turn notifications off."),
                }
            ),
            None => lang
                .pick(
                    "未设置。设置后，条目被放弃或腾讯文档授权失效时会通知该群（每个条目最多一次，每天超过一定数量后改为次日汇总）。",
                    "Not set. Once set, the group is told when an item is given up or the Tencent Docs authorization dies (once per item; beyond a daily number, a digest the next day).",
                )
                .to_owned(),
        },
        lang.pick("保存通知设置", "Save notifications"),
    );
    // The search: a GET form, so the URL carries the query and can be shared.
    let searched = q("q").unwrap_or_default();
    let state_options: String = std::iter::once(("", lang.pick("全部状态", "any state")))
        .chain(
            [ItemState::Linked, ItemState::Waiting, ItemState::GivenUp, ItemState::Deleted]
                .map(|st| (st.as_str(), st.label(lang))),
        )
        .map(|(v, label)| {
            let selected = if state.map(ItemState::as_str).unwrap_or("") == v { " selected" } else { "" };
            format!("<option value=\"{v}\"{selected}>{label}</option>")
        })
        .collect();
    let search = format!(
        "<form method=\"get\" action=\"/console/ws/{ws}\" id=\"search\" role=\"search\">\
         <input type=\"search\" name=\"q\" id=\"q\" value=\"{}\" placeholder=\"{}\"> \
         <select name=\"state\" id=\"search-state\">{state_options}</select> <button type=\"submit\">{}</button></form>",
        escape_html(searched),
        lang.pick("条目 ID 或文档标题中的词", "item id or words of its doc's title"),
        lang.pick("查找", "Find"),
    );
    let rows: String = page
        .items
        .iter()
        .map(|r| match r {
            Ok(r) => item_row(lang, r, tapd_web, &csrf, ws),
            Err((pk, why)) => format!(
                "<tr class=\"unreadable\"><td colspan=\"7\">{} {} ({})</td></tr>",
                lang.pick("无法读取的记录", "An unreadable record"),
                escape_html(pk),
                escape_html(why)
            ),
        })
        .collect();
    let next = page
        .next
        .as_ref()
        .map(|n| {
            let mut st = state.map(|s| format!("state={}&", s.as_str())).unwrap_or_default();
            if let Some(words) = q("q").filter(|w| !w.trim().is_empty()) {
                st.push_str(&format!(
                    "q={}&",
                    url::form_urlencoded::byte_serialize(words.as_bytes()).collect::<String>()
                ));
            }
            format!(
                "<p><a id=\"next-page\" href=\"/console/ws/{ws}?{st}after={}\">{}</a></p>",
                escape_html(n),
                lang.pick("下一页", "Next page")
            )
        })
        .unwrap_or_default();
    let current_template = overview.settings.title_template.clone();
    let preview = {
        let template = current_template.clone().unwrap_or_else(|| "{name}".into());
        let sample = page.items.iter().flatten().next();
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
        render_title(&template, &name, kind, &id, ws)
    };
    let audit: String = audit
        .iter()
        .map(|a| format!("<li>{} · {} · {}</li>", tapd_time(a.at_ms), escape_html(&a.who), escape_html(&a.what)))
        .collect();
    let others = if s.workspaces.len() > 1 {
        format!("<a href=\"/console\">{}</a>", lang.pick("切换项目", "Switch workspace"))
    } else {
        String::new()
    };
    let body = format!(
        "<nav>{others}<a href=\"/console/signin\">{signin_other}</a>\
         <form class=\"inline\" method=\"post\" action=\"/console/signout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\" id=\"signout\">{signout}</button></form></nav>\
         <h1 id=\"workspace\">{h1}</h1>{notice}{pause}{reconnect}\
         <p id=\"account\">{account_label}{account_html} · {since_label}{since} · {folder_label}<code>{folder}</code></p>\
         <p class=\"counts\" id=\"today\">{today_label} {today}</p><p class=\"counts\" id=\"week\">{week_label} {week}</p>\
         <p id=\"last-delivery\">{last_label}{last} · {webhook_seen}</p>\
         <h2>{items_h}</h2><nav id=\"filters\">{filters}</nav>{search}\
         <form method=\"post\" action=\"/console/ws/{ws}/retry-given-up\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">{retry_all}</button></form>\
         <table id=\"items\"><thead><tr><th>{th_title}</th><th>{th_kind}</th><th>{th_state}</th><th>{th_doc}</th><th>{th_attempts}</th><th>{th_when}</th><th></th></tr></thead><tbody>{rows}</tbody></table>{next}\
         <h2>{settings_h}</h2><form method=\"post\" action=\"/console/ws/{ws}/settings\" id=\"settings\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"title_template\">{tt_label}</label><br><input type=\"text\" id=\"title_template\" name=\"title_template\" value=\"{tt_value}\" placeholder=\"{{name}}\">\
         <br><small>{tt_help}</small><br><small id=\"preview\">{preview_label}{preview}</small>\
         <p><label for=\"folder_layout\">{fl_label}</label> <select id=\"folder_layout\" name=\"folder_layout\">{fl_options}</select><br><small>{fl_help}</small></p>\
         <p><label for=\"permission\">{pm_label}</label> <select id=\"permission\" name=\"permission\">{pm_options}</select><br><small>{pm_help}</small></p>\
         <p>{dt_label} {dt_selects}</p>\
         <p>{tp_label}<br>{template_inputs}<small>{tp_help}</small></p>\
         <p><label for=\"language\">{lg_label}</label> <select id=\"language\" name=\"language\">{lang_options}</select><br><small>{lg_help}</small></p>\
         <button type=\"submit\">{save}</button></form>\
         <form method=\"post\" action=\"/console/ws/{ws}/settings\" id=\"content-settings\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><input type=\"hidden\" name=\"intro_shown\" value=\"1\">{if_label} {intro_boxes}<br><small>{if_help}</small></p>\
         <p id=\"events\"><input type=\"hidden\" name=\"events_shown\" value=\"1\">{ev_label} {event_boxes}<br><small>{ev_help}</small></p>\
         <button type=\"submit\" id=\"save-events\">{save}</button></form>\
         <h2>{more_h}</h2>{notify}{pause_button}\
         <form method=\"post\" action=\"/console/ws/{ws}/backfill\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"since\">{bf_label}</label> <input type=\"date\" id=\"since\" name=\"since\"> <button type=\"submit\">{bf_button}</button></form>\
         <p><a href=\"/oauth/tapd/start\" id=\"reconnect\">{reconnect_label}</a></p>\
         <form method=\"post\" action=\"/console/ws/{ws}/disconnect\" id=\"disconnect\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <small>{dc_help}</small><br><label><input type=\"checkbox\" name=\"confirm\" value=\"yes\"> {dc_confirm}</label> <button type=\"submit\">{dc_button}</button></form>\
         <h2>{webhook_h}</h2><p>{webhook_help}</p><p><code id=\"webhook-url\">{webhook_url}</code></p><ul id=\"secrets\">{secrets}</ul>\
         <form method=\"post\" action=\"/console/ws/{ws}/rotate-secret\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\" id=\"rotate\">{rotate}</button></form>\
         <h2>{audit_h}</h2><ul id=\"audit\">{audit}</ul>",
        signin_other = lang.pick("登录另一个项目", "Another workspace"),
        signout = lang.pick("退出登录", "Sign out"),
        h1 = escape_html(&format!("{}{ws}", lang.pick("TAPD 项目 ", "TAPD workspace "))),
        account_label = lang.pick("腾讯文档账号：", "Tencent Docs account: "),
        account_html = escape_html(&account),
        since_label = lang.pick("连接于 ", "since "),
        folder_label = lang.pick("文件夹 ", "folder "),
        folder = escape_html(overview.folder_id.as_deref().unwrap_or("–")),
        today_label = lang.pick("今天：", "Today:"),
        today = c(overview.today),
        week_label = lang.pick("最近 7 天：", "Last 7 days:"),
        week = c(overview.week),
        last_label = lang.pick("最近一次收到条目：", "Last item received: "),
        items_h = lang.pick("条目", "Items"),
        retry_all = lang.pick("重试所有已放弃的", "Retry every given-up item"),
        th_title = lang.pick("标题", "Title"),
        th_kind = lang.pick("类型", "Kind"),
        th_state = lang.pick("状态", "State"),
        th_doc = lang.pick("文档", "Doc"),
        th_attempts = lang.pick("尝试次数", "Attempts"),
        th_when = lang.pick("时间", "When"),
        settings_h = lang.pick("设置", "Settings"),
        tt_label = lang.pick("文档标题模板", "Doc title template"),
        tt_value = escape_html(current_template.as_deref().unwrap_or("")),
        tt_help = lang.pick(
            "可用 {name}（条目名称）、{id}、{kind}、{workspace_id}；留空则使用部署时的默认值。只影响之后创建的文档。",
            "Use {name} (the item's name), {id}, {kind}, {workspace_id}; empty follows the deployment's. Affects docs made from now on."
        ),
        preview_label = lang.pick("预览：", "Preview: "),
        preview = escape_html(&preview),
        save = lang.pick("保存", "Save"),
        fl_label = lang.pick("文件夹结构", "Folder layout"),
        fl_options = options(lang, overview.settings.folder_layout.map(shared::config::FolderLayout::as_str), &[
            ("none", lang.pick("不建文件夹（账号根目录）", "none (the account's root)")),
            ("workspace", lang.pick("每个项目一个文件夹", "a folder per workspace")),
            ("iteration", lang.pick("项目文件夹下每个迭代一个子文件夹", "and a sub-folder per iteration")),
        ]),
        fl_help = lang.pick("新文档放在哪里；已有文档不会移动。", "Where new docs go; existing docs do not move."),
        pm_label = lang.pick("文档权限", "Doc permission"),
        pm_options = options(lang, overview.settings.doc_permission.map(shared::store::PermissionSetting::as_str), &[
            ("default", lang.pick("腾讯文档默认", "Tencent Docs' default")),
            ("private", lang.pick("仅自己", "private")),
            ("members", lang.pick("企业成员可查看", "members")),
            ("publicRead", lang.pick("获得链接的人可查看", "anyone with the link can read")),
            ("publicWrite", lang.pick("获得链接的人可编辑", "anyone with the link can edit")),
        ]),
        pm_help = lang.pick("谁能打开新文档。", "Who can open new docs."),
        dt_label = lang.pick("文档类型：", "Doc type:"),
        dt_selects = [ItemKind::Story, ItemKind::Bug]
            .iter()
            .map(|k| {
                let current = overview.settings.doc_type(*k).map(shared::config::DocType::as_str);
                let opts: Vec<(&str, &str)> = shared::config::DOC_TYPES.iter().map(|t| (*t, *t)).collect();
                format!(
                    "<label>{} <select name=\"doc_type_{}\">{}</select></label> ",
                    shared::text::kind_name(lang, *k),
                    k.as_str(),
                    options(lang, current, &opts)
                )
            })
            .collect::<String>(),
        more_h = lang.pick("更多操作", "More"),
        tp_label = lang.pick("模板文档（按类型）", "Template doc per kind"),
        tp_help = lang.pick(
            "新文档复制自该腾讯文档（文件 ID 见文档链接 /doc/ 之后的部分）。",
            "New docs are copies of that Tencent Doc (the file id is the part of its link after /doc/)."
        ),
        lg_label = lang.pick("写入 TAPD 和腾讯文档的语言", "Language of what is written into TAPD and Tencent Docs"),
        lg_help = lang.pick("文档开头的介绍和 TAPD 评论使用的语言。", "Of the doc's intro and the TAPD comment."),
        if_label = lang.pick("文档开头显示：", "The doc's intro shows:"),
        if_help = lang.pick("条目名称和链接总会显示。", "The item's name and link are always shown."),
        ev_label = lang.pick("处理的事件：", "Events acted on:"),
        ev_help = lang.pick(
            "不勾选的类型不创建文档；任务仅在部署启用了任务（LINK_TASKS）时生效。",
            "Unticked kinds get no doc; tasks only where the deployment links tasks (LINK_TASKS)."
        ),
        bf_label = lang.pick("补全此日期以来创建的条目：", "Link the items created since:"),
        bf_button = lang.pick("补全", "Backfill"),
        reconnect_label = lang.pick("重新连接腾讯文档（例如修改密码后；文档都会保留）", "Reconnect Tencent Docs (e.g. after a password change; the docs stay)"),
        dc_help = lang.pick(
            "断开后不再为新条目创建文档，本项目的 Webhook 密钥失效；已有的文档、评论和记录都保留，随时可以重新连接。",
            "Once disconnected, new items get no doc and the workspace's webhook secret stops working; existing docs, comments and records stay, and it can be connected again."
        ),
        dc_confirm = lang.pick("我确认断开连接", "I confirm the disconnection"),
        dc_button = lang.pick("断开连接", "Disconnect"),
        webhook_h = lang.pick("Webhook", "Webhook"),
        webhook_help = lang.pick(
            "在 TAPD 项目「设置 → 应用设置 → Webhook」中填入下面的地址和本项目的密钥，勾选需求和缺陷的创建、更新、删除事件，格式选 JSON。",
            "In the workspace's Settings → App settings → Webhook in TAPD, enter this URL and the workspace's secret, tick create, update and delete of stories and bugs, JSON format."
        ),
        webhook_url = escape_html(&connector.cfg.webhook_url()),
        rotate = lang.pick("轮换密钥", "Rotate the secret"),
        audit_h = lang.pick("操作记录", "Audit trail"),
    );
    shell(lang, &format!("{} {ws}", lang.pick("控制台", "Console")), &body)
}

/// `<option>`s with a first one meaning "the deployment's", the current value selected.
fn options(lang: Lang, current: Option<&str>, values: &[(&str, &str)]) -> String {
    let mut out = format!(
        "<option value=\"\"{}>{}</option>",
        if current.is_none() { " selected" } else { "" },
        lang.pick("（部署默认）", "(the deployment's)")
    );
    for (value, label) in values {
        let selected = if current == Some(*value) { " selected" } else { "" };
        out.push_str(&format!("<option value=\"{value}\"{selected}>{}</option>", escape_html(label)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every typed reason, in both languages, waiting and given up, as the items page shows
    /// it: the words come from the type; a given-up row always says so and offers a retry.
    #[test]
    fn every_reason_reads_right_on_the_items_page_in_both_languages() {
        use shared::reason::Reason;
        use shared::store::ItemKey;
        let ws = WorkspaceId::parse("20000001").unwrap();
        let key =
            ItemKey { workspace: ws.clone(), kind: ItemKind::Story, id: ItemId::parse("1120000001000000001").unwrap() };
        let soon = shared::time::now_millis() + 3_600_000;
        for reason in Reason::all() {
            for lang in [Lang::ZhCn, Lang::En] {
                let waiting = ItemRecord {
                    key: key.clone(),
                    stage: Stage::New,
                    attempts: 3,
                    first_seen_ms: 1,
                    pending_since_ms: 1,
                    last_error: Some("TAPD is unavailable: given up soon".into()),
                    reason: Some(reason),
                    next_try_ms: Some(soon),
                    history: Vec::new(),
                    deleted: false,
                    delete_refused: None,
                    marker: "m".into(),
                    absent_since_ms: None,
                };
                let given_up = ItemRecord { stage: Stage::GivenUp { reason, doc: None }, ..waiting.clone() };
                let words = escape_html(&reason.words(lang));
                let row = item_row(lang, &waiting, "https://www.tapd.cn", "c", &ws);
                assert!(row.contains(&words), "{reason:?} {lang:?}: {row}");
                assert!(row.contains(&tapd_time(soon)), "the next try's time: {row}");
                assert!(row.contains("data-state=\"waiting\"") && row.contains("name=\"item\""), "{row}");
                let row = item_row(lang, &given_up, "https://www.tapd.cn", "c", &ws);
                assert!(row.contains(&words) && row.contains("data-state=\"given_up\""), "{row}");
                assert!(row.contains(lang.pick("已放弃，不再自动重试", "Given up, no longer retried")), "{row}");
                assert!(row.contains(lang.pick("重试", "Retry")) && row.contains("/retry"), "offers a retry: {row}");
                assert!(!row.contains(lang.pick("将于", "Next try")), "a given-up item is not retried: {row}");
            }
        }
    }

    #[test]
    fn csrf_tokens_differ_by_session_and_reveal_nothing() {
        let (a, b) = (csrf_of("token-a"), csrf_of("token-b"));
        assert_ne!(a, b);
        assert!(!a.contains("token-a"));
        assert_eq!(a, csrf_of("token-a"));
    }
}
