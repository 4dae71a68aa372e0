//! The few HTML pages of the connect flow. Every page: the one layout (`html.rs`), no caching,
//! no referrer (the URLs of these pages carry codes and states), no framing, no script but
//! the connected page's copy button (allowed by its hash). Every string comes from
//! `shared::text` and is escaped by the markup; nothing a request carries is echoed.

use maud::{Markup, PreEscaped, html};
use shared::connect::{ConfirmRebind, Connected};
use shared::gateway::HttpResponse;
use shared::store::{Account, Binding};
use shared::text::{self, Lang, Problem, WEBHOOK_EVENTS};

use crate::html::{CSP, layout, respond, secure};

/// A connect-flow page: the layout, narrow, headed by its title.
fn flow_page(lang: Lang, title: &str, body: Markup) -> Markup {
    layout(lang, title, html! { main class="flow" { h1 { (title) } (body) } })
}

pub fn redirect(location: String) -> HttpResponse {
    secure(HttpResponse::new(302, "text/plain; charset=utf-8", "").with_header("location", location), CSP)
}

pub fn error(lang: Lang, status: u16, problem: Problem) -> HttpResponse {
    let m = text::problem(lang, problem);
    let body = html! {
        p id="problem" { (m.detail) }
        p { a href="/oauth/tapd/start" { (text::start_again(lang)) } }
    };
    respond(status, flow_page(lang, &m.title, body), CSP)
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
    let body = html! {
        p id="question" { (t.question) }
        p { (t.consequence) }
        form method="post" action=(action) {
            input type="hidden" name="token" value=(c.token);
            button type="submit" { (t.button) }
        }
        p { (t.not_you) }
    };
    respond(200, flow_page(lang, t.title, body), CSP)
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
    let body = html! {
        p id="connected" { (t.summary) }
        p { (t.what_happens) }
        h2 { (t.next_step) }
        ol id="webhook-steps" { @for s in &t.steps { li { (s) } } }
        dl {
            dt { (t.url_label) }
            dd { code id="webhook-url" { (webhook_url) } }
            dt { (t.secret_label) }
            dd {
                code id="webhook-secret" { (c.webhook_secret.expose()) } " "
                button type="button" id="copy-secret" { (t.copy) }
                br;
                small { (t.secret_note) }
            }
            dt { (t.events_label) }
            dd { ul id="webhook-events" { @for e in WEBHOOK_EVENTS { li { code { (e) } } } } }
            dt { (t.format_label) }
            dd { code { (t.format_value) } }
        }
        p { (t.done) }
        // A fixed string, allowed by its hash: never data.
        script { (PreEscaped(COPY_SCRIPT)) }
    };
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src '{}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
        shared::crypto::csp_hash(COPY_SCRIPT)
    );
    respond(200, flow_page(lang, t.title, body), &csp)
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
