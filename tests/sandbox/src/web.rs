//! The TAPD web pages a person clicks through locally, in Simplified Chinese like TAPD's UI,
//! under `{base}/tapd/web` ([`crate::Sandbox::tapd_web_base`]), on TAPD's own paths so the
//! product's links (`TAPD_WEB_BASE`) land on them:
//!
//! - `GET /tapd/web/`: the workspaces; `GET /tapd/web/{ws}/`: its items (需求 / 缺陷 / 任务),
//!   newest first, with the 新建需求 / 新建缺陷 buttons;
//! - `GET /tapd/web/{ws}/prong/stories/view/{id}` (bugs `/bugtrace/bugs/view/{id}`, tasks
//!   `/prong/tasks/view/{id}`): the item's fields, description and comments. Descriptions and
//!   comments are TAPD HTML, shown through a whitelist ([`sanitize`]: `p`, `a` with an
//!   `http(s)` `href`, `b`, `i`, `u`, `br`, `span`, no attributes otherwise); everything else is
//!   escaped and shows as text.
//! - `GET /tapd/web/{ws}/prong/stories/add` (bugs `/bugtrace/bugs/add`): the "new item" form;
//!   `POST` to the same path (form-encoded `name` or `title`, `description` as plain text,
//!   `owner`, `priority`) creates the item (a 19-digit id, `created` now in Asia/Shanghai) and,
//!   when [`crate::SandboxConfig::webhook_url`] is set, delivers its `story::create` /
//!   `bug::create` event there the way TAPD does: the whole item as a JSON object of strings
//!   with `event`, `event_from`, `referer`, `workspace_id`, `current_user`, `secret`
//!   ([`crate::SandboxConfig::webhook_secret`]), `event_id`, `queue_id`, ... (the shape of
//!   `fixtures/tapd/webhook_story_create_full.json`), `Content-Type: application/json`. The
//!   delivery is synchronous (the item page then already shows what the receiver did), and the
//!   answer is `303` to the item page, whose `?webhook=` names the receiver's HTTP status
//!   (`0`: no answer).
//! - Item pages show the status by its workflow name, the owner, priority and iteration by name,
//!   and a form (`form#edit-item`: `status` by name, `owner`, `priority`, `iteration_id`) that
//!   `POST`s to the page's own path: the item changes as [`crate::Sandbox::change_item`] does
//!   (TAPD's rules; `modified` now) and TAPD's events (`*::update`, `*::status_change`) are
//!   delivered (see the `deliveries` module); `303` back to the page with `?updated=<n>-<first
//!   status>` (`#updated`), or `?error=` (`#error`) when a rule refused it.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};

use crate::Sandbox;
use crate::model::{Comment, Doc, Item, ItemKind};
use crate::state::Folder;
use crate::tapd::new_item;
use crate::util::{self, html_escape as esc};

pub(crate) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/tapd/web", get(index))
        .route("/tapd/web/", get(index))
        .route("/tapd/web/{ws}", get(workspace))
        .route("/tapd/web/{ws}/", get(workspace))
        .route("/tapd/web/{ws}/prong/stories/view/{id}", get(view_story).post(edit_story))
        .route("/tapd/web/{ws}/bugtrace/bugs/view/{id}", get(view_bug).post(edit_bug))
        .route("/tapd/web/{ws}/prong/tasks/view/{id}", get(view_task).post(edit_task))
        .route("/tapd/web/{ws}/prong/stories/add", get(add_story_form).post(add_story))
        .route("/tapd/web/{ws}/bugtrace/bugs/add", get(add_bug_form).post(add_bug))
}

/// The item's page path under the web base: `{ws}/prong/stories/view/{id}` and the like
/// (TAPD's own paths, as the product links them).
pub(crate) fn item_path(kind: ItemKind, workspace_id: &str, id: &str) -> String {
    format!("{workspace_id}/{}/view/{id}", segment(kind))
}

fn segment(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Story => "prong/stories",
        ItemKind::Bug => "bugtrace/bugs",
        ItemKind::Task => "prong/tasks",
    }
}

fn kind_zh(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Story => "需求",
        ItemKind::Bug => "缺陷",
        ItemKind::Task => "任务",
    }
}

fn status_zh(status: &str) -> &str {
    match status {
        "planning" => "规划中",
        "new" => "新",
        "open" => "未开始",
        "in_progress" | "progressing" => "进行中",
        "resolved" => "已解决",
        "done" => "已完成",
        "closed" => "已关闭",
        other => other,
    }
}

fn priority_zh(priority: &str) -> &str {
    match priority {
        "High" | "high" => "高",
        "Middle" | "medium" => "中",
        "Low" | "low" => "低",
        "Nice To Have" | "insignificant" => "无关紧要",
        "urgent" => "紧急",
        other => other,
    }
}

const STYLE: &str = "body{font-family:\"PingFang SC\",\"Microsoft YaHei\",\"Noto Sans CJK SC\",\"Noto Sans SC\",\
\"WenQuanYi Micro Hei\",sans-serif;margin:0;color:#2c3e50;background:#f5f7fa;line-height:1.6}\
header{background:#3582fb;color:#fff;padding:.6em 2em;font-weight:bold}header a{color:#fff;text-decoration:none}\
main{max-width:60em;margin:1.5em auto;background:#fff;padding:1.5em 2em;border-radius:6px;box-shadow:0 1px 3px #0002}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e5e8ec;padding:.4em .6em;text-align:left}\
th{color:#7a8599;font-weight:normal;width:8em}.button{display:inline-block;background:#3582fb;color:#fff;\
padding:.35em 1em;border-radius:4px;text-decoration:none;border:0;font-size:1em;cursor:pointer;margin-right:.5em}\
.comment{border-top:1px solid #e5e8ec;padding:.6em 0}.meta{color:#7a8599;font-size:.9em}\
.note{background:#eef5ff;border-left:3px solid #3582fb;padding:.4em .8em}\
pre{white-space:pre-wrap;word-break:break-all;font-family:inherit;border:1px solid #e5e8ec;padding:1em}\
.card{border:1px solid #3582fb;border-radius:6px;padding:.2em 1em;margin-bottom:1em;background:#f7faff}\
.para{margin:.3em 0;white-space:pre-wrap;word-break:break-all}\
input[type=text],textarea,select{width:100%;box-sizing:border-box;padding:.4em;font:inherit}label{display:block;margin-top:.8em}";

/// An HTML page in Simplified Chinese (`lang="zh-CN"`), under a TAPD-blue header.
pub(crate) fn page_zh(status: StatusCode, title: &str, header: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head>\
         <body><header>{header}</header><main>{body}</main></body></html>\n",
        esc(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
        ],
        html,
    )
        .into_response()
}

fn tapd_page(status: StatusCode, title: &str, body: &str) -> Response {
    page_zh(status, title, "<a href=\"/tapd/web/\">TAPD（沙箱）</a>", body)
}

fn not_found(what: &str) -> Response {
    tapd_page(StatusCode::NOT_FOUND, "未找到", &format!("<h1>未找到</h1><p id=\"error\">{}</p>", esc(what)))
}

fn name_of(item: &Item) -> &str {
    item.fields.get(item.kind.name_field()).map(String::as_str).unwrap_or("")
}

fn field<'a>(item: &'a Item, key: &str) -> &'a str {
    item.fields.get(key).map(String::as_str).unwrap_or("")
}

async fn index(State(sb): State<Sandbox>) -> Response {
    let workspaces: Vec<(String, String, usize)> = {
        let st = sb.lock();
        st.workspaces
            .iter()
            .map(|(id, name)| (id.clone(), name.clone(), st.items.values().filter(|i| &i.workspace_id == id).count()))
            .collect()
    };
    let rows: String = workspaces
        .iter()
        .map(|(id, name, n)| {
            format!("<tr><td><a href=\"/tapd/web/{0}/\">{1}</a></td><td>{0}</td><td>{n}</td></tr>", esc(id), esc(name))
        })
        .collect();
    tapd_page(
        StatusCode::OK,
        "我的项目 - TAPD（沙箱）",
        &format!(
            "<h1>我的项目</h1><table id=\"workspaces\"><tr><th>项目</th><th>ID</th><th>条目</th></tr>{rows}</table>"
        ),
    )
}

async fn workspace(State(sb): State<Sandbox>, Path(ws): Path<String>) -> Response {
    let (name, mut items) = {
        let st = sb.lock();
        let Some(name) = st.workspaces.get(&ws).cloned() else {
            drop(st);
            return not_found(&format!("项目 {ws} 不存在"));
        };
        let items: Vec<Item> = st.items.values().filter(|i| i.workspace_id == ws).cloned().collect();
        (name, items)
    };
    // Newest first, as TAPD lists them.
    items.sort_by(|a, b| field(b, "created").cmp(field(a, "created")).then_with(|| b.id.cmp(&a.id)));
    let rows: String = items
        .iter()
        .map(|i| {
            format!(
                "<tr><td>{}</td><td><a href=\"/tapd/web/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                kind_zh(i.kind),
                esc(&item_path(i.kind, &ws, &i.id)),
                esc(name_of(i)),
                esc(&status_name(&sb, i)),
                esc(field(i, "created")),
            )
        })
        .collect();
    let wse = esc(&ws);
    tapd_page(
        StatusCode::OK,
        &format!("{name} - TAPD（沙箱）"),
        &format!(
            "<h1>{}</h1><p><a class=\"button\" id=\"new-story\" href=\"/tapd/web/{wse}/prong/stories/add\">新建需求</a>\
             <a class=\"button\" id=\"new-bug\" href=\"/tapd/web/{wse}/bugtrace/bugs/add\">新建缺陷</a></p>\
             <table id=\"items\"><tr><th>类型</th><th>标题</th><th>状态</th><th>创建时间</th></tr>{rows}</table>",
            esc(&name)
        ),
    )
}

#[derive(Debug, serde::Deserialize, Default)]
#[serde(default)]
struct ViewQuery {
    webhook: Option<u16>,
    /// After the edit form: how many deliveries were made, and the first one's HTTP status.
    updated: Option<String>,
    error: Option<String>,
}

/// The name people see for an item's status: its workspace's workflow's (tasks: fixed names).
fn status_name(sb: &Sandbox, item: &Item) -> String {
    let key = field(item, "status");
    let name = match crate::model::WorkflowSystem::of(item.kind) {
        Some(sys) => sb.lock().workflow(&item.workspace_id, sys).name_of(key).map(str::to_owned),
        None => crate::model::TASK_STATUSES.iter().find(|(k, _)| *k == key).map(|(_, n)| n.to_string()),
    };
    name.unwrap_or_else(|| status_zh(key).to_string())
}

fn priorities(kind: ItemKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        ItemKind::Bug => {
            &[("medium", "中"), ("high", "高"), ("urgent", "紧急"), ("low", "低"), ("insignificant", "无关紧要")]
        }
        _ => &[("Middle", "中"), ("High", "高"), ("Low", "低"), ("Nice To Have", "无关紧要")],
    }
}

fn option(value: &str, label: &str, selected: bool) -> String {
    format!("<option value=\"{}\"{}>{}</option>", esc(value), if selected { " selected" } else { "" }, esc(label))
}

/// The edit form of an item page: status (by name), owner, priority, iteration.
fn edit_form(sb: &Sandbox, item: &Item) -> String {
    let current = field(item, "status");
    let statuses: Vec<(String, String)> = match crate::model::WorkflowSystem::of(item.kind) {
        Some(sys) => sb
            .lock()
            .workflow(&item.workspace_id, sys)
            .statuses
            .iter()
            .map(|s| (s.key.clone(), s.name.clone()))
            .collect(),
        None => crate::model::TASK_STATUSES.iter().map(|(k, n)| (k.to_string(), n.to_string())).collect(),
    };
    let status_options: String = statuses.iter().map(|(k, n)| option(n, n, k == current)).collect();
    let priority = field(item, "priority");
    let priority_options: String = priorities(item.kind).iter().map(|(v, l)| option(v, l, *v == priority)).collect();
    let iteration = field(item, "iteration_id");
    let iterations: Vec<(String, String)> = sb
        .lock()
        .iterations
        .iter()
        .filter(|i| i.workspace_id == item.workspace_id)
        .map(|i| (i.id.clone(), i.name.clone()))
        .collect();
    let iteration_options: String = std::iter::once(option("0", "（无）", matches!(iteration, "" | "0")))
        .chain(iterations.iter().map(|(id, name)| option(id, name, id == iteration)))
        .collect();
    let owner_key = if item.kind == ItemKind::Bug { "current_owner" } else { "owner" };
    let owner = field(item, owner_key).trim_end_matches(';').replace(';', " ");
    let target = match sb.webhook_target().0 {
        Some(url) => format!(
            "<p class=\"meta\">保存后推送 <code>{}::update</code> 到 {}</p>",
            item.kind.wrapper().to_lowercase(),
            esc(&url)
        ),
        None => "<p class=\"meta\">未配置 Webhook：只修改条目。</p>".into(),
    };
    format!(
        "<h2>修改</h2><form method=\"post\" id=\"edit-item\">\
         <label>状态 <select name=\"status\" id=\"status\">{status_options}</select></label>\
         <label>处理人 <input type=\"text\" name=\"owner\" id=\"owner\" value=\"{}\"></label>\
         <label>优先级 <select name=\"priority\" id=\"priority\">{priority_options}</select></label>\
         <label>迭代 <select name=\"iteration_id\" id=\"iteration\">{iteration_options}</select></label>\
         {target}<p><button class=\"button\" type=\"submit\" id=\"save\">保存</button></p></form>",
        esc(&owner)
    )
}

async fn edit(sb: Sandbox, kind: ItemKind, ws: String, id: String, f: BTreeMap<String, String>) -> Response {
    if sb.item(&ws, kind, &id).is_none() {
        return not_found(&format!("{} {id} 不存在", kind_zh(kind)));
    }
    let fields: Vec<(&str, &str)> = ["status", "owner", "priority", "iteration_id"]
        .iter()
        .filter_map(|k| f.get(*k).map(|v| (*k, v.trim())))
        .collect();
    let page = format!("/tapd/web/{}", item_path(kind, &ws, &id));
    let location = match sb.change_item(&ws, kind, &id, &fields, "sandbox", true).await {
        Ok(change) => {
            let first = change.deliveries.first().map_or(0, |d| d.status);
            format!("{page}?updated={}-{first}", change.deliveries.len())
        }
        Err(e) => format!("{page}?error={}", url::form_urlencoded::byte_serialize(e.as_bytes()).collect::<String>()),
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

type EditForm = axum::Form<BTreeMap<String, String>>;

async fn edit_story(
    State(sb): State<Sandbox>,
    Path((ws, id)): Path<(String, String)>,
    axum::Form(f): EditForm,
) -> Response {
    edit(sb, ItemKind::Story, ws, id, f).await
}

async fn edit_bug(
    State(sb): State<Sandbox>,
    Path((ws, id)): Path<(String, String)>,
    axum::Form(f): EditForm,
) -> Response {
    edit(sb, ItemKind::Bug, ws, id, f).await
}

async fn edit_task(
    State(sb): State<Sandbox>,
    Path((ws, id)): Path<(String, String)>,
    axum::Form(f): EditForm,
) -> Response {
    edit(sb, ItemKind::Task, ws, id, f).await
}

async fn view(sb: Sandbox, kind: ItemKind, ws: String, id: String, q: ViewQuery) -> Response {
    let (item, mut comments) = {
        let st = sb.lock();
        let Some(item) = st.item(&ws, kind, &id).cloned() else {
            drop(st);
            return not_found(&format!("{} {id} 不存在", kind_zh(kind)));
        };
        let comments: Vec<Comment> = st
            .comments
            .iter()
            .filter(|c| c.workspace_id == ws && c.entry_type == kind.entry_type() && c.entry_id == id)
            .cloned()
            .collect();
        (item, comments)
    };
    comments.sort_by(|a, b| a.created.cmp(&b.created));
    let (owner_key, creator_key) = match kind {
        ItemKind::Bug => ("current_owner", "reporter"),
        _ => ("owner", "creator"),
    };
    let status = status_name(&sb, &item);
    let iteration_id = field(&item, "iteration_id");
    let iteration = match iteration_id {
        "" | "0" => "（无）".to_string(),
        it => sb.lock().iteration(&ws, it).map_or_else(|| it.to_string(), |i| i.name.clone()),
    };
    let rows: String = [
        ("ID", item.id.as_str(), "id"),
        ("状态", status.as_str(), "status"),
        ("处理人", field(&item, owner_key).trim_end_matches(';'), "owner"),
        ("优先级", priority_zh(field(&item, "priority")), "priority"),
        ("迭代", iteration.as_str(), "iteration"),
        ("创建人", field(&item, creator_key), "creator"),
        ("创建时间", field(&item, "created"), "created"),
        ("修改时间", field(&item, "modified"), "modified"),
    ]
    .iter()
    .map(|(k, v, id)| format!("<tr><th>{k}</th><td id=\"field-{id}\">{}</td></tr>", esc(v)))
    .collect();
    let note = match (q.webhook, q.updated.as_deref(), q.error.as_deref()) {
        (_, _, Some(e)) => format!("<p class=\"note\" id=\"error\">未能保存：{}</p>", esc(e)),
        (_, Some(u), _) => match u.split_once('-') {
            Some(("0", _)) => "<p class=\"note\" id=\"updated\">已保存（没有推送）。</p>".to_string(),
            Some((n, "0")) => {
                format!("<p class=\"note\" id=\"updated\">已保存；{} 个 Webhook 推送没有得到应答。</p>", esc(n))
            }
            Some((n, s)) => {
                format!("<p class=\"note\" id=\"updated\">已保存，已推送 {} 个事件（HTTP {}）。</p>", esc(n), esc(s))
            }
            None => String::new(),
        },
        (Some(0), _, _) => "<p class=\"note\" id=\"webhook\">已创建；Webhook 推送没有得到应答。</p>".to_string(),
        (Some(s), _, _) => format!("<p class=\"note\" id=\"webhook\">已创建，Webhook 已推送（HTTP {s}）。</p>"),
        (None, _, _) => String::new(),
    };
    let form = edit_form(&sb, &item);
    let comment_html: String = comments
        .iter()
        .map(|c| {
            format!(
                "<div class=\"comment\"><div class=\"meta\">{} · {}</div><div class=\"comment-body\">{}</div></div>",
                esc(&c.author),
                esc(&c.created),
                sanitize(&c.description)
            )
        })
        .collect();
    let description = field(&item, "description");
    let description =
        if description.trim().is_empty() { "<p class=\"meta\">（无）</p>".into() } else { sanitize(description) };
    let name = name_of(&item);
    tapd_page(
        StatusCode::OK,
        &format!("【{}】{name} - TAPD（沙箱）", kind_zh(kind)),
        &format!(
            "<p><a href=\"/tapd/web/{wse}/\">← 返回项目</a></p>{note}\
             <h1 id=\"title\"><span class=\"meta\">{kz} #{ide}</span> {}</h1>\
             <table id=\"fields\">{rows}</table>{form}\
             <h2>详细描述</h2><div id=\"description\">{description}</div>\
             <h2>评论（{n}）</h2><div id=\"comments\">{comment_html}</div>",
            esc(name),
            wse = esc(&ws),
            kz = kind_zh(kind),
            ide = esc(&item.id),
            n = comments.len(),
        ),
    )
}

type VQ = Query<ViewQuery>;

async fn view_story(State(sb): State<Sandbox>, Path((ws, id)): Path<(String, String)>, Query(q): VQ) -> Response {
    view(sb, ItemKind::Story, ws, id, q).await
}

async fn view_bug(State(sb): State<Sandbox>, Path((ws, id)): Path<(String, String)>, Query(q): VQ) -> Response {
    view(sb, ItemKind::Bug, ws, id, q).await
}

async fn view_task(State(sb): State<Sandbox>, Path((ws, id)): Path<(String, String)>, Query(q): VQ) -> Response {
    view(sb, ItemKind::Task, ws, id, q).await
}

fn add_form(sb: &Sandbox, kind: ItemKind, ws: &str) -> Response {
    if !sb.lock().workspaces.contains_key(ws) {
        return not_found(&format!("项目 {ws} 不存在"));
    }
    let name_field = kind.name_field();
    let priorities: &[(&str, &str)] = match kind {
        ItemKind::Bug => {
            &[("medium", "中"), ("high", "高"), ("urgent", "紧急"), ("low", "低"), ("insignificant", "无关紧要")]
        }
        _ => &[("Middle", "中"), ("High", "高"), ("Low", "低"), ("Nice To Have", "无关紧要")],
    };
    let options: String =
        priorities.iter().map(|(v, label)| format!("<option value=\"{}\">{label}</option>", esc(v))).collect();
    let webhook = match &sb.config().webhook_url {
        Some(url) => format!(
            "<p class=\"meta\">创建后推送 <code>{}::create</code> 到 {}</p>",
            kind.wrapper().to_lowercase(),
            esc(url)
        ),
        None => "<p class=\"meta\">未配置 Webhook：只创建条目。</p>".into(),
    };
    let title = format!("新建{}", kind_zh(kind));
    tapd_page(
        StatusCode::OK,
        &format!("{title} - TAPD（沙箱）"),
        &format!(
            "<p><a href=\"/tapd/web/{wse}/\">← 返回项目</a></p><h1>{title}</h1>\
             <form method=\"post\" action=\"/tapd/web/{wse}/{seg}/add\" id=\"new-item\">\
             <label>标题 <input type=\"text\" name=\"{name_field}\" id=\"{name_field}\" required maxlength=\"255\"></label>\
             <label>详细描述 <textarea name=\"description\" id=\"description\" rows=\"6\"></textarea></label>\
             <label>处理人 <input type=\"text\" name=\"owner\" id=\"owner\" value=\"sandbox\"></label>\
             <label>优先级 <select name=\"priority\" id=\"priority\">{options}</select></label>\
             {webhook}<p><button class=\"button\" type=\"submit\" id=\"submit\">创建</button></p></form>",
            wse = esc(ws),
            seg = segment(kind),
        ),
    )
}

async fn add_story_form(State(sb): State<Sandbox>, Path(ws): Path<String>) -> Response {
    add_form(&sb, ItemKind::Story, &ws)
}

async fn add_bug_form(State(sb): State<Sandbox>, Path(ws): Path<String>) -> Response {
    add_form(&sb, ItemKind::Bug, &ws)
}

async fn add_story(
    State(sb): State<Sandbox>,
    Path(ws): Path<String>,
    axum::Form(f): axum::Form<BTreeMap<String, String>>,
) -> Response {
    add(sb, ItemKind::Story, ws, f).await
}

async fn add_bug(
    State(sb): State<Sandbox>,
    Path(ws): Path<String>,
    axum::Form(f): axum::Form<BTreeMap<String, String>>,
) -> Response {
    add(sb, ItemKind::Bug, ws, f).await
}

/// Plain text from the form as TAPD's rich-text HTML: one `<p>` a line, escaped.
fn text_to_html(text: &str) -> String {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("<p>{}</p>", esc(l.trim_end()))).collect()
}

async fn add(sb: Sandbox, kind: ItemKind, ws: String, f: BTreeMap<String, String>) -> Response {
    let get = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    // Either name works for either kind: a person types a title.
    let mut name = get(kind.name_field());
    if name.is_empty() {
        name = if kind == ItemKind::Bug { get("name") } else { get("title") };
    }
    if name.is_empty() {
        return tapd_page(StatusCode::BAD_REQUEST, "缺少标题", "<h1>缺少标题</h1><p id=\"error\">请填写标题。</p>");
    }
    let id = util::random_id19();
    let mut item = new_item(&ws, kind, &id, &name);
    let owner = get("owner");
    let owner_key = if kind == ItemKind::Bug { "current_owner" } else { "owner" };
    item.fields.insert(owner_key.into(), if owner.is_empty() { String::new() } else { format!("{owner};") });
    item.fields.insert("priority".into(), get("priority"));
    item.fields.insert("description".into(), text_to_html(f.get("description").map(String::as_str).unwrap_or("")));
    {
        let mut st = sb.lock();
        if !st.workspaces.contains_key(&ws) {
            drop(st);
            return not_found(&format!("项目 {ws} 不存在"));
        }
        st.items.insert((ws.clone(), kind, id.clone()), item.clone());
    }
    let page = format!("/tapd/web/{}", item_path(kind, &ws, &id));
    let location = match webhook_body(&sb, &item) {
        Some(body) => {
            let status = sb.deliver_all(&[body], None).await.first().map_or(0, |d| d.status);
            format!("{page}?webhook={status}")
        }
        None => page,
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The `*::create` delivery TAPD would send for `item`: every item field, then the event's
/// own (all strings), or `None` when no webhook URL is configured.
pub(crate) fn webhook_body(sb: &Sandbox, item: &Item) -> Option<Value> {
    let (url, secret) = sb.webhook_target();
    url.as_ref()?;
    let kind = item.kind;
    let mut body = Map::new();
    let event = format!("{}::create", kind.wrapper().to_lowercase());
    for (k, v) in [
        ("event", event.as_str()),
        ("event_from", "web"),
        ("referer", &format!("{}/{}/{}/add", sb.tapd_web_base(), item.workspace_id, segment(kind))),
        ("workspace_id", &item.workspace_id),
        ("current_user", field(item, if kind == ItemKind::Bug { "reporter" } else { "creator" })),
    ] {
        body.insert(k.into(), Value::String(v.to_string()));
    }
    for (k, v) in &item.fields {
        body.entry(k.clone()).or_insert_with(|| Value::String(v.clone()));
    }
    body.insert("entity_type".into(), Value::String(kind.wrapper().into()));
    for (k, v) in [
        ("secret", secret),
        ("rio_token", String::new()),
        ("devproxy_host", "http://websocket-proxy".into()),
        ("queue_id", digits(10)),
        ("event_id", digits(10)),
    ] {
        body.insert(k.into(), Value::String(v));
    }
    Some(Value::Object(body))
}

/// `n` random decimal digits, not starting with 0.
fn digits(n: usize) -> String {
    let id = util::random_id19();
    id[..n.min(id.len())].to_string()
}

/// The Tencent Docs page of a doc: title, where it is (`nav#location`: 我的文档 and its folder
/// chain, each folder linking to its page), then its paragraphs (`<p>` each, escaped, `http(s)`
/// URLs as links) in `#content`. The first block (the leading paragraphs up to the first empty
/// one: where the product keeps its card) is framed, `#first-block`, so a person sees it.
pub(crate) fn doc_page(doc: &Doc, folders: &[Folder]) -> Response {
    let paras: Vec<&str> = doc.content.split('\n').collect();
    let first = paras.iter().position(|p| p.is_empty()).unwrap_or(paras.len());
    let para = |p: &&str| format!("<p class=\"para\">{}</p>", if p.is_empty() { "<br>".into() } else { linkify(p) });
    let block: String = paras[..first].iter().map(para).collect();
    let rest: String = paras[first..].iter().map(para).collect();
    let block =
        if block.is_empty() { block } else { format!("<section id=\"first-block\" class=\"card\">{block}</section>") };
    let body = format!(
        "<h1 id=\"title\">{}</h1>\n{}\n<p class=\"meta\">腾讯文档（沙箱） · {} · <code>{}</code> · 所有者 <code>{}</code> · 版本 \
         <span id=\"version\">{}</span></p>\n<div id=\"content\">{block}{rest}</div>",
        esc(&doc.title),
        location(folders, true),
        esc(&doc.doc_type),
        esc(&doc.id),
        esc(&doc.owner_open_id),
        doc.version,
    );
    page_zh(StatusCode::OK, &doc.title, "腾讯文档（沙箱）", &body)
}

/// A folder's page path: its listing entry's `url` (`/tdoc/folder/<key>`).
fn folder_href(f: &Folder) -> String {
    format!("/tdoc/folder/{}", esc(f.id.strip_prefix(crate::tdoc::ID_PREFIX).unwrap_or(&f.id)))
}

/// `我的文档 / a / b`: the owner's root, then each folder of `chain` (outermost first) linking to
/// its page; the last one unlinked when it is the page itself (`linked_last` false).
fn location(chain: &[Folder], linked_last: bool) -> String {
    let crumbs: Vec<String> = std::iter::once("<span>我的文档</span>".to_string())
        .chain(chain.iter().enumerate().map(|(i, f)| {
            if i + 1 == chain.len() && !linked_last {
                format!("<span class=\"folder\">{}</span>", esc(&f.title))
            } else {
                format!("<a class=\"folder\" href=\"{}\">{}</a>", folder_href(f), esc(&f.title))
            }
        }))
        .collect();
    format!("<nav id=\"location\" class=\"meta\">位置：{}</nav>", crumbs.join(" / "))
}

/// The Tencent Docs page of a folder: where it is (`nav#location`), then its sub-folders
/// (`li.folder`, linking to their pages) and its live files (`li.file`, linking to the doc),
/// in `ul#entries`, oldest first.
pub(crate) fn folder_page(folder: &Folder, chain: &[Folder], folders: &[Folder], files: &[Doc]) -> Response {
    let mut path = chain.to_vec();
    path.push(folder.clone());
    let entries: String = folders
        .iter()
        .map(|f| {
            format!(
                "<li class=\"folder\"><span class=\"meta\">文件夹</span> <a href=\"{}\">{}</a></li>",
                folder_href(f),
                esc(&f.title)
            )
        })
        .chain(files.iter().map(|d| {
            format!(
                "<li class=\"file\" data-id=\"{}\"><span class=\"meta\">文档</span> <a href=\"{}\">{}</a></li>",
                esc(&d.id),
                esc(&d.url),
                esc(&d.title)
            )
        }))
        .collect();
    let entries = if entries.is_empty() {
        "<p class=\"meta\" id=\"empty\">（空文件夹）</p>".into()
    } else {
        format!("<ul id=\"entries\">{entries}</ul>")
    };
    let body = format!("<h1 id=\"title\">{}</h1>\n{}\n{entries}", esc(&folder.title), location(&path, false),);
    page_zh(StatusCode::OK, &folder.title, "腾讯文档（沙箱）", &body)
}

/// Escapes `text`, turning each `http://` / `https://` URL into a link. A URL ends at
/// whitespace, a quote or angle bracket, or any non-ASCII character (CJK punctuation);
/// trailing `.,;:!?)` are left out of it.
pub(crate) fn linkify(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    loop {
        let next = [rest.find("http://"), rest.find("https://")].into_iter().flatten().min();
        let Some(at) = next else {
            out.push_str(&esc(rest));
            return out;
        };
        out.push_str(&esc(&rest[..at]));
        let tail = &rest[at..];
        let mut end = tail
            .char_indices()
            .find(|(_, c)| !c.is_ascii() || c.is_ascii_whitespace() || c.is_ascii_control() || "<>\"'`".contains(*c))
            .map_or(tail.len(), |(i, _)| i);
        while end > 0 && ".,;:!?)".contains(&tail[end - 1..end]) {
            end -= 1;
        }
        let url = &tail[..end];
        if url.len() <= "https://".len() {
            out.push_str(&esc(url));
        } else {
            out.push_str(&format!("<a href=\"{0}\">{0}</a>", esc(url)));
        }
        rest = &tail[end..];
        if end == 0 {
            // Cannot happen ("http" is ASCII), but never loop forever.
            out.push_str(&esc(rest));
            return out;
        }
    }
}

const ALLOWED: &[&str] = &["p", "a", "b", "i", "u", "br", "span"];

/// TAPD HTML (descriptions, comments) made safe to show: the tags `p`, `b`, `i`, `u`, `br`,
/// `span` without attributes, `a` with only an `http(s)` `href` (opening in a new tab);
/// every other tag, and any `<` that opens none, is escaped and shows as text. Well-formed
/// entities are kept, a bare `&` is escaped; tags left open are closed at the end, and stray
/// closing tags dropped.
pub fn sanitize(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut open: Vec<&'static str> = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            out.push_str(&escape_text(rest));
            break;
        };
        out.push_str(&escape_text(&rest[..lt]));
        let tail = &rest[lt..];
        let Some(gt) = tail.find('>') else {
            out.push_str(&escape_text(tail));
            break;
        };
        let tag = &tail[1..gt];
        match parse_tag(tag) {
            Some((true, name)) => {
                if let Some(pos) = open.iter().rposition(|t| *t == name) {
                    while open.len() > pos {
                        let t = open.pop().expect("non-empty");
                        out.push_str(&format!("</{t}>"));
                    }
                }
            }
            Some((false, "br")) => out.push_str("<br>"),
            Some((false, "a")) => {
                match attribute(tag, "href").filter(|h| is_http_url(h)) {
                    Some(href) => out.push_str(&format!(
                        "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">",
                        esc(&href)
                    )),
                    None => out.push_str("<a>"),
                }
                open.push("a");
            }
            Some((false, name)) => {
                out.push_str(&format!("<{name}>"));
                if !tag.trim_end().ends_with('/') {
                    open.push(name);
                } else {
                    out.push_str(&format!("</{name}>"));
                }
            }
            None => out.push_str(&esc(&tail[..=gt])),
        }
        rest = &tail[gt + 1..];
    }
    while let Some(t) = open.pop() {
        out.push_str(&format!("</{t}>"));
    }
    out
}

/// `(closing, name)` for a whitelisted tag's inside (`a href=..`, `/p`), else `None`.
fn parse_tag(tag: &str) -> Option<(bool, &'static str)> {
    let (closing, rest) = match tag.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, tag),
    };
    let name_end = rest.find(|c: char| c.is_ascii_whitespace() || c == '/').unwrap_or(rest.len());
    let name = &rest[..name_end];
    if name.is_empty() || (closing && !rest[name_end..].trim().is_empty()) {
        return None;
    }
    ALLOWED.iter().find(|a| a.eq_ignore_ascii_case(name)).copied().map(|n| (closing, n))
}

/// An attribute's value (entities decoded) from a tag's inside: quoted or not.
fn attribute(tag: &str, wanted: &str) -> Option<String> {
    let bytes = tag.as_bytes();
    let mut i = tag.find(|c: char| c.is_ascii_whitespace())?;
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' && bytes[i] != b'/' {
            i += 1;
        }
        let name = &tag[start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = "";
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let q = bytes[i];
                let vstart = i + 1;
                let vend = tag[vstart..].find(q as char).map_or(tag.len(), |e| vstart + e);
                value = &tag[vstart..vend];
                i = (vend + 1).min(tag.len());
            } else {
                let vstart = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = &tag[vstart..i];
            }
        }
        if name.eq_ignore_ascii_case(wanted) {
            return Some(decode_entities(value));
        }
        if name.is_empty() && i == start {
            i += 1;
        }
    }
    None
}

fn is_http_url(href: &str) -> bool {
    let lower = href.trim().to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        && !href.trim().chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Text between tags: `<`, `>`, quotes escaped; `&` kept where it starts a well-formed entity.
fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        match c {
            '&' if entity_len(&text[i..]).is_some() => out.push('&'),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The length of a well-formed entity at the start of `s` (`&amp;`, `&#39;`, `&#x4e2d;`).
fn entity_len(s: &str) -> Option<usize> {
    let semi = s.find(';')?;
    let body = &s[1..semi];
    let ok = match body.strip_prefix('#') {
        Some(num) => match num.strip_prefix(['x', 'X']) {
            Some(hex) => !hex.is_empty() && hex.len() <= 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            None => !num.is_empty() && num.len() <= 7 && num.bytes().all(|b| b.is_ascii_digit()),
        },
        None => !body.is_empty() && body.len() <= 10 && body.bytes().all(|b| b.is_ascii_alphanumeric()),
    };
    ok.then_some(semi + 1)
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let decoded = entity_len(tail).and_then(|len| {
            let body = &tail[1..len - 1];
            let c = match body {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => match body.strip_prefix('#') {
                    Some(n) => match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok().and_then(char::from_u32),
                        None => n.parse().ok().and_then(char::from_u32),
                    },
                    None => None,
                },
            };
            c.map(|c| (c, len))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_products_comment_keeps_its_link() {
        let c = "<p>已为此需求创建腾讯文档：<a href=\"https://docs.qq.com/doc/DZm?a=1&amp;b=2\" target=\"_blank\" \
                 rel=\"noopener\">&lt;标题&gt;</a></p>";
        assert_eq!(
            sanitize(c),
            "<p>已为此需求创建腾讯文档：<a href=\"https://docs.qq.com/doc/DZm?a=1&amp;b=2\" target=\"_blank\" \
             rel=\"noopener noreferrer\">&lt;标题&gt;</a></p>"
        );
    }

    #[test]
    fn everything_else_is_escaped() {
        let cases = [
            ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
            ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
            ("<a href=\"javascript:alert(1)\">x</a>", "<a>x</a>"),
            ("<a href=' JaVaScRiPt:alert(1)'>x</a>", "<a>x</a>"),
            ("<a href=\"&#106;avascript:alert(1)\">x</a>", "<a>x</a>"),
            ("<a href=\"data:text/html,x\">x</a>", "<a>x</a>"),
            (
                "<a onclick=\"alert(1)\" href=\"http://x/\">x</a>",
                "<a href=\"http://x/\" target=\"_blank\" rel=\"noopener noreferrer\">x</a>",
            ),
            (
                "<a href=\"http://x/\"onmouseover=alert(1)>x</a>",
                "<a href=\"http://x/\" target=\"_blank\" rel=\"noopener noreferrer\">x</a>",
            ),
            ("<p style=\"background:url(x)\" onclick=x>a</p>", "<p>a</p>"),
            ("<span class=x>a<b>b</span>", "<span>a<b>b</b></span>"),
            ("</p>stray<i>open", "stray<i>open</i>"),
            ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
            ("<p>unclosed <", "<p>unclosed &lt;</p>"),
            ("<br/><BR>", "<br><br>"),
            ("<svg/onload=alert(1)>", "&lt;svg/onload=alert(1)&gt;"),
            ("<p/onclick=x>a", "<p>a</p>"),
            ("\"quoted\" 'single'", "&quot;quoted&quot; &#39;single&#39;"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize(input), want, "{input}");
        }
    }

    #[test]
    fn links_in_doc_text() {
        assert_eq!(
            linkify("打开 TAPD：http://127.0.0.1:3000/tapd/web/1/prong/stories/view/2\n下一行"),
            "打开 TAPD：<a href=\"http://127.0.0.1:3000/tapd/web/1/prong/stories/view/2\">\
             http://127.0.0.1:3000/tapd/web/1/prong/stories/view/2</a>\n下一行"
        );
        assert_eq!(
            linkify("see https://a.b/c?x=1&y=2."),
            "see <a href=\"https://a.b/c?x=1&amp;y=2\">https://a.b/c?x=1&amp;y=2</a>."
        );
        assert_eq!(linkify("<b>javascript:x</b> http://"), "&lt;b&gt;javascript:x&lt;/b&gt; http://");
        assert_eq!(linkify("x https://a\"onclick=y"), "x <a href=\"https://a\">https://a</a>&quot;onclick=y");
    }
}
