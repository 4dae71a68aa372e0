//! The few HTML pages a person sees. Every page: no caching, no referrer (the URLs of
//! these pages carry codes and states), no scripts.

use shared::connect::Connected;
use shared::gateway::HttpResponse;

fn page(status: u16, title: &str, body_html: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>body{{font-family:system-ui,sans-serif;\
         max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}h1{{font-size:1.4rem}}</style></head>\
         <body><h1>{t}</h1>{body_html}</body></html>",
        t = escape(title)
    );
    secure(HttpResponse::new(status, "text/html; charset=utf-8", html))
}

fn secure(resp: HttpResponse) -> HttpResponse {
    resp.with_header("cache-control", "no-store")
        .with_header("referrer-policy", "no-referrer")
        .with_header("x-content-type-options", "nosniff")
        .with_header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'")
}

pub fn redirect(location: String) -> HttpResponse {
    secure(HttpResponse::new(302, "text/plain; charset=utf-8", "").with_header("location", location))
}

pub fn error(status: u16, title: &str, detail: &str) -> HttpResponse {
    let body = format!(
        "<p>{}</p><p>Start again from <a href=\"/oauth/tapd/start\">connect TAPD to Tencent Docs</a>.</p>",
        escape(detail)
    );
    page(status, title, &body)
}

pub fn connected(c: &Connected) -> HttpResponse {
    let body = format!(
        "<p id=\"connected\">TAPD workspace <strong>{}</strong> is now connected to the Tencent Docs account \
         <strong>{}</strong>.</p><p>Every new story and bug in this workspace will get its own Tencent Doc, \
         linked in a comment on the item. You can close this page.</p>",
        escape(c.workspace.as_str()),
        escape(c.open_id.as_str())
    );
    page(200, "Connected", &body)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_and_carry_the_contract_headers() {
        let p = error(400, "x", "<script>alert(1)</script>");
        assert!(!p.body.contains("<script>"));
        assert_eq!(p.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(p.header("cache-control"), Some("no-store"));
        assert_eq!(redirect("https://a/b".into()).header("location"), Some("https://a/b"));
    }
}
