//! What every page is made of: one layout (the document, its style), the response headers
//! every page carries, and the form every console action posts through (with the session's
//! CSRF token). Pages are `maud` markup: text spliced in is escaped unless its type says
//! otherwise, and `PreEscaped` is used here only for the fixed style (and, in `pages.rs`, the
//! connected page's fixed script), never for data.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use shared::gateway::HttpResponse;
use shared::text::Lang;

/// What every page may load: its own inline style, nothing else.
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The one style sheet: the console's pages use the width, the connect flow's narrower pages
/// are a `main.flow`.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:64rem;margin:1rem auto;padding:0 1rem;\
line-height:1.5;color:#222}main.flow{max-width:40rem;margin:3rem auto 0}h1{font-size:1.3rem}\
main.flow h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}\
table{border-collapse:collapse;width:100%;font-size:.9rem}\
td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}\
.counts span{display:inline-block;margin-right:1rem}code{background:#f3f3f3;padding:0 .2rem;word-break:break-all}\
main.flow code{user-select:all}dt{font-weight:600}\
nav a{margin-right:.8rem}.notice{background:#eef6ee;padding:.5rem}.refused{background:#fbeaea;padding:.5rem}\
form.inline{display:inline}input[type=text],input[type=url]{width:100%;max-width:30rem}\
@media(max-width:40rem){td:nth-child(2),th:nth-child(2),td:nth-child(6),th:nth-child(6){display:none}}";

/// Every page: the document in `lang`, titled `title`, the one style, `body`.
pub fn layout(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                title { (title) }
                meta name="viewport" content="width=device-width,initial-scale=1";
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

/// The headers every page carries: no caching, no referrer (the URLs of these pages carry
/// codes and states), no sniffing, no framing, and `csp`.
pub fn secure(resp: HttpResponse, csp: &str) -> HttpResponse {
    resp.with_header("cache-control", "no-store")
        .with_header("referrer-policy", "no-referrer")
        .with_header("x-content-type-options", "nosniff")
        .with_header("x-frame-options", "DENY")
        .with_header("content-security-policy", csp)
}

/// A page as the response: `status`, HTML, the headers above.
pub fn respond(status: u16, page: Markup, csp: &str) -> HttpResponse {
    secure(HttpResponse::new(status, "text/html; charset=utf-8", page.into_string()), csp)
}

/// How a form with a CSRF token sits on the page.
#[derive(Clone, Copy)]
pub enum FormAs {
    /// A block of its own.
    Block,
    /// Inline: a button in a row or a line of text.
    Inline,
    /// A block with an id (what the tests and the browser find it by).
    Id(&'static str),
}

/// A form that posts to `action` with the session's CSRF token, then `body`.
pub fn csrf_form(action: &str, csrf: &str, body: Markup) -> Markup {
    csrf_form_as(FormAs::Block, action, csrf, body)
}

/// `csrf_form`, placed as `place` says.
pub fn csrf_form_as(place: FormAs, action: &str, csrf: &str, body: Markup) -> Markup {
    let (class, id) = match place {
        FormAs::Block => (None, None),
        FormAs::Inline => (Some("inline"), None),
        FormAs::Id(id) => (None, Some(id)),
    };
    html! {
        form class=[class] method="post" action=(action) id=[id] {
            input type="hidden" name="csrf" value=(csrf);
            (body)
        }
    }
}
