//! The few HTML pages a person sees. Every page: no caching, no referrer (the URLs of
//! these pages carry codes and states), no framing, no script but the connected page's copy
//! button (allowed by its hash). Every string comes from
//! `shared::text` and is escaped here; nothing a request carries is echoed.

use shared::connect::{ConfirmRebind, Connected};
use shared::gateway::HttpResponse;
use shared::store::{Account, Binding};
use shared::text::{self, Lang, Problem, WEBHOOK_EVENTS, escape_html};

/// What every page may load: its own inline style, nothing else.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn page(lang: Lang, status: u16, title: &str, body_html: &str) -> HttpResponse {
    page_with(lang, status, title, body_html, CSP)
}

fn page_with(lang: Lang, status: u16, title: &str, body_html: &str, csp: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>body{{font-family:system-ui,sans-serif;\
         max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}h1{{font-size:1.4rem}}\
         code{{background:#f3f3f3;padding:0 .2rem;user-select:all}}dt{{font-weight:600}}</style></head>\
         <body><h1>{t}</h1>{body_html}</body></html>",
        lang = lang.tag(),
        t = escape_html(title)
    );
    secure(HttpResponse::new(status, "text/html; charset=utf-8", html), csp)
}

fn secure(resp: HttpResponse, csp: &str) -> HttpResponse {
    resp.with_header("cache-control", "no-store")
        .with_header("referrer-policy", "no-referrer")
        .with_header("x-content-type-options", "nosniff")
        .with_header("x-frame-options", "DENY")
        .with_header("content-security-policy", csp)
}

pub fn redirect(location: String) -> HttpResponse {
    secure(HttpResponse::new(302, "text/plain; charset=utf-8", "").with_header("location", location), CSP)
}

pub fn error(lang: Lang, status: u16, problem: Problem) -> HttpResponse {
    let m = text::problem(lang, problem);
    let body = format!(
        "<p id=\"problem\">{}</p><p><a href=\"/oauth/tapd/start\">{}</a></p>",
        escape_html(&m.detail),
        escape_html(text::start_again(lang))
    );
    page(lang, status, &m.title, &body)
}

fn account_name(lang: Lang, b: &Binding) -> String {
    match &b.account {
        Account::User(o) => text::account_name(lang, b.nick.as_deref(), Some(o.as_str())),
        Account::App => text::account_name(lang, None, None),
    }
}

/// Asks to confirm that the workspace's account is replaced: one form, posting the
/// single-use token back from this browser.
pub fn confirm(lang: Lang, c: &ConfirmRebind, action: &str) -> HttpResponse {
    let t = text::confirm(lang, c.workspace.as_str(), &account_name(lang, &c.current), &account_name(lang, &c.new));
    let body = format!(
        "<p id=\"question\">{}</p><p>{}</p>\
         <form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
         <button type=\"submit\">{}</button></form><p>{}</p>",
        escape_html(&t.question),
        escape_html(t.consequence),
        escape_html(action),
        escape_html(&c.token),
        escape_html(t.button),
        escape_html(t.not_you)
    );
    page(lang, 200, t.title, &body)
}

/// The connected page's one script: copies the workspace's secret (allowed by its hash in
/// the page's Content-Security-Policy, nothing else runs).
const COPY_SCRIPT: &str = "document.getElementById('copy-secret').addEventListener('click',function(){\
navigator.clipboard.writeText(document.getElementById('webhook-secret').textContent)});";

/// What is now connected, and the next step, ready to copy: the webhook's URL, the
/// workspace's own secret (`#webhook-secret`) with a copy button, the steps in TAPD. No form.
pub fn connected(lang: Lang, c: &Connected, webhook_url: &str) -> HttpResponse {
    let name = match &c.account {
        Account::User(o) => text::account_name(lang, c.nick.as_deref(), Some(o.as_str())),
        Account::App => text::account_name(lang, None, None),
    };
    let t = text::connected(lang, c.workspace.as_str(), &name);
    let events: String = WEBHOOK_EVENTS.iter().map(|e| format!("<li><code>{e}</code></li>")).collect();
    let steps: String = t.steps.iter().map(|s| format!("<li>{}</li>", escape_html(s))).collect();
    let body = format!(
        "<p id=\"connected\">{}</p><p>{}</p><h2>{}</h2><ol id=\"webhook-steps\">{steps}</ol><dl>\
         <dt>{}</dt><dd><code id=\"webhook-url\">{}</code></dd>\
         <dt>{}</dt><dd><code id=\"webhook-secret\">{}</code> \
         <button type=\"button\" id=\"copy-secret\">{}</button><br><small>{}</small></dd>\
         <dt>{}</dt><dd><ul id=\"webhook-events\">{events}</ul></dd>\
         <dt>{}</dt><dd><code>{}</code></dd></dl><p>{}</p><script>{COPY_SCRIPT}</script>",
        escape_html(&t.summary),
        escape_html(t.what_happens),
        escape_html(t.next_step),
        escape_html(t.url_label),
        escape_html(webhook_url),
        escape_html(t.secret_label),
        escape_html(c.webhook_secret.expose()),
        escape_html(t.copy),
        escape_html(&t.secret_note),
        escape_html(t.events_label),
        escape_html(t.format_label),
        escape_html(t.format_value),
        escape_html(t.done),
    );
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src '{}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
        shared::crypto::csp_hash(COPY_SCRIPT)
    );
    page_with(lang, 200, t.title, &body, &csp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ids::{OpenId, WorkspaceId};
    use shared::store::ConnectedBy;

    #[test]
    fn pages_escape_and_carry_the_contract_headers() {
        let p = error(Lang::En, 400, Problem::BadState);
        assert_eq!(p.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(p.header("cache-control"), Some("no-store"));
        assert!(p.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
        assert_eq!(redirect("https://a/b".into()).header("location"), Some("https://a/b"));
    }

    #[test]
    fn connected_names_the_account_and_the_next_step_without_a_form() {
        let c = Connected {
            workspace: WorkspaceId::parse("20003271").unwrap(),
            account: Account::User(OpenId::parse("a1b2").unwrap()),
            nick: Some("<b>Lin</b>".into()),
            webhook_secret: shared::Secret::new("ws-secret-<1>"),
        };
        for lang in [Lang::ZhCn, Lang::En] {
            let p = connected(lang, &c, "https://x.example/webhooks/tapd");
            assert!(!p.body.contains("<form") && !p.body.contains("<b>Lin"), "{}", p.body);
            assert!(p.body.contains("&lt;b&gt;Lin") && p.body.contains("https://x.example/webhooks/tapd"));
            for e in WEBHOOK_EVENTS {
                assert!(p.body.contains(e));
            }
            // The workspace's own secret, escaped, in its element; the deployment's is not named.
            assert!(p.body.contains("<code id=\"webhook-secret\">ws-secret-&lt;1&gt;</code>"), "{}", p.body);
            assert!(!p.body.contains("TapdWebhookSecret"));
            // The copy button's script is the only one, and the policy allows it by its hash.
            let csp = p.header("content-security-policy").unwrap();
            assert!(csp.contains(&format!("script-src '{}'", shared::crypto::csp_hash(COPY_SCRIPT))), "{csp}");
            assert_eq!(p.body.matches("<script>").count(), 1);
        }
        assert!(connected(Lang::ZhCn, &c, "u").body.contains("lang=\"zh-CN\""));
    }

    #[test]
    fn the_confirmation_holds_one_post_form() {
        let b = |o: &str, nick: Option<&str>| Binding {
            account: Account::User(OpenId::parse(o).unwrap()),
            connected_at: 1,
            connected_by: ConnectedBy::default(),
            nick: nick.map(String::from),
            bind_id: "x".into(),
        };
        let c = ConfirmRebind {
            workspace: WorkspaceId::parse("1").unwrap(),
            current: b("aa", Some("Old")),
            new: b("bb", None),
            token: "tok".into(),
        };
        let p = confirm(Lang::En, &c, "/oauth/tdoc/confirm");
        assert_eq!(p.body.matches("<form").count(), 1);
        assert!(p.body.contains("<form method=\"post\""));
        assert!(p.body.contains("Old") && p.body.contains("Open-Id bb"), "{}", p.body);
    }
}
