//! HTML pages: the two consent screens and error pages (the doc viewer and TAPD's item pages are in `web`).
//! In Chinese, as TAPD's and Tencent Docs' own pages are: a person walking `make run` reads one language.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::util::html_escape as esc;

/// The hidden fields both consent forms carry back to their `approve` endpoint.
pub(crate) struct ConsentRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub state: &'a str,
}

pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:40em;margin:3em auto}}\
         pre{{white-space:pre-wrap;border:1px solid #ccc;padding:1em}}</style></head>\
         <body>{body}</body></html>\n",
        esc(title)
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
        .into_response()
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    page(status, "出错了 Error", &format!("<h1>出错了</h1><p id=\"error\">{}</p>", esc(message)))
}

fn hidden_fields(req: &ConsentRequest<'_>) -> String {
    [("client_id", req.client_id), ("redirect_uri", req.redirect_uri), ("scope", req.scope), ("state", req.state)]
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
        .collect()
}

fn consent_page(
    title: &str,
    question: &str,
    action: &str,
    select_name: &str,
    options: &[(String, String)],
    req: &ConsentRequest<'_>,
) -> Response {
    let opts: String = options
        .iter()
        .map(|(value, label)| format!("<option value=\"{}\">{} ({})</option>", esc(value), esc(label), esc(value)))
        .collect();
    let body = format!(
        "<h1>{}</h1>\n<form method=\"post\" action=\"{action}\">\n{}\n\
         <p>{question} <select name=\"{select_name}\" id=\"{select_name}\">{opts}</select></p>\n\
         <p>权限范围：<code>{}</code></p>\n\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">授权</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">拒绝</button>\n</form>",
        esc(title),
        hidden_fields(req),
        esc(req.scope),
    );
    page(StatusCode::OK, title, &body)
}

/// TAPD's consent, as the signed-in TAPD user (`users`: id and label, chosen on the page: the
/// sandbox has no login, so a test or a person walking `make run` picks who they are).
pub(crate) fn tapd_consent(
    req: &ConsentRequest<'_>,
    workspaces: &[(String, String)],
    users: &[(String, String)],
) -> Response {
    let who: String = users
        .iter()
        .map(|(id, label)| format!("<option value=\"{}\">{} ({})</option>", esc(id), esc(label), esc(id)))
        .collect();
    consent_page(
        "TAPD 授权",
        &format!(
            "当前登录用户 <select name=\"user_id\" id=\"user_id\">{who}</select></p>\n<p>授权应用 <b>{}</b> 访问项目：",
            esc(req.client_id)
        ),
        "/tapd/oauth/approve",
        "workspace_id",
        workspaces,
        req,
    )
}

pub(crate) fn tdoc_consent(req: &ConsentRequest<'_>, users: &[(String, String)]) -> Response {
    consent_page(
        "腾讯文档授权",
        &format!("允许应用 <b>{}</b> 以下列身份访问你的腾讯文档：", esc(req.client_id)),
        "/tdoc/oauth/v2/authorize/approve",
        "open_id",
        users,
        req,
    )
}
