//! Routes of the contract, each a thin call into `shared::connect`.

use shared::connect::{self, Callback, ConnectError, Connector, Next, Outcome};
use shared::gateway::{BadRequest, FORM_MAX_BODY, HttpRequest, HttpResponse};
use shared::text::{Lang, Problem};

use crate::pages;

/// The confirmation form posts here (same origin, so the `SameSite=Lax` cookie comes along).
pub const CONFIRM_PATH: &str = "/oauth/tdoc/confirm";

const ROUTES: [(&str, &str); 4] = [
    ("GET", "/oauth/tapd/start"),
    ("GET", "/oauth/tapd/callback"),
    ("GET", "/oauth/tdoc/callback"),
    ("POST", CONFIRM_PATH),
];

pub async fn handle(connector: &Connector, event: serde_json::Value) -> HttpResponse {
    // Every body this function takes is a small form: a larger one is refused unread.
    let req = match HttpRequest::from_json(event, FORM_MAX_BODY) {
        Ok(req) => req,
        Err(BadRequest::TooLarge(_)) => return pages::error(Lang::default(), 413, Problem::TooLarge),
        Err(_) => return pages::error(Lang::default(), 400, Problem::BadRequest),
    };
    let lang = Lang::from_accept_language(req.header("accept-language"));
    if req.path == "/console" || req.path.starts_with("/console/") {
        return crate::console::handle(connector, &req, lang).await;
    }
    let Some((method, path)) = ROUTES.iter().find(|(_, p)| *p == req.path) else {
        return pages::error(lang, 404, Problem::NotFound);
    };
    if req.method != *method {
        return pages::error(lang, 405, Problem::MethodNotAllowed).with_header("allow", *method);
    }
    let nonces = req.cookie(connect::COOKIE);
    let webhook_url = connector.cfg.webhook_url();
    let outcome = |o: Outcome, nonce: Option<&str>| match o {
        Outcome::Connected(c) => pages::connected(lang, &c, &webhook_url).with_cookie(connect::clear_cookie()),
        // The flow goes on (the form posts back): the cookie gets its ten minutes again.
        Outcome::Confirm(c) => {
            let page = pages::confirm(lang, &c, CONFIRM_PATH);
            match nonce {
                Some(n) => page.with_cookie(connect::set_cookie(n)),
                None => page,
            }
        }
    };
    // The nonce this browser proved it holds (the cookie is re-set with it).
    let proven = nonces.first().copied();
    let result = match *path {
        "/oauth/tapd/start" => {
            connector.start().await.map(|s| pages::redirect(s.location).with_cookie(connect::set_cookie(&s.nonce)))
        }
        "/oauth/tapd/callback" => match Callback::parse(&req.raw_query) {
            Err(e) => Err(e),
            Ok(cb) => match connector.tapd_callback(cb, &nonces).await {
                Ok(Next::Redirect(to)) => {
                    let page = pages::redirect(to);
                    Ok(match proven {
                        Some(n) => page.with_cookie(connect::set_cookie(n)),
                        None => page,
                    })
                }
                Ok(Next::Done(o)) => Ok(outcome(o, proven)),
                // A console sign-in: on to the console (`console.rs`).
                Ok(Next::SignedIn(ws, by)) => Ok(crate::console::signed_in(connector, &req, ws, by).await),
                Err(e) => Err(e),
            },
        },
        "/oauth/tdoc/callback" => match Callback::parse(&req.raw_query) {
            Err(e) => Err(e),
            Ok(cb) => connector.tdoc_callback(cb, &nonces).await.map(|o| outcome(o, proven)),
        },
        _ => match confirm_token(&req, &connector.cfg.public_base_url) {
            Err(e) => Err(e),
            Ok(token) => {
                connector.confirm(token.as_deref(), &nonces).await.map(|c| outcome(Outcome::Connected(c), None))
            }
        },
    };
    result.unwrap_or_else(|e| {
        let (status, problem) = meaning(&e);
        if status >= 500 {
            tracing::error!(error = %e, path = %req.path, "connect flow failed");
        } else {
            tracing::warn!(error = %e, path = %req.path, "connect flow refused");
        }
        let page = pages::error(lang, status, problem);
        if e.ends_the_flow() { page.with_cookie(connect::clear_cookie()) } else { page }
    })
}

/// The confirmation form's token. A post from another origin is refused outright (the
/// cookie would not come with it either: defense in depth).
fn confirm_token(req: &HttpRequest, public_base_url: &str) -> Result<Option<String>, ConnectError> {
    let ours = url::Url::parse(public_base_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    // `null`: what a browser sends from a page with `Referrer-Policy: no-referrer` (ours).
    if let Some(origin) = req.header("origin")
        && origin != ours
        && origin != "null"
    {
        return Err(ConnectError::OtherBrowser);
    }
    let mut token = None;
    for (k, v) in url::form_urlencoded::parse(&req.body) {
        if k == "token" && token.replace(v.into_owned()).is_some() {
            return Err(ConnectError::BadQuery);
        }
    }
    Ok(token)
}

fn meaning(e: &ConnectError) -> (u16, Problem) {
    match e {
        ConnectError::BadState => (400, Problem::BadState),
        ConnectError::OtherBrowser => (403, Problem::OtherBrowser),
        ConnectError::Denied { service } => (403, Problem::Denied(*service)),
        ConnectError::ProviderError { service } => (400, Problem::ProviderError(*service)),
        ConnectError::MissingCode => (400, Problem::MissingCode),
        ConnectError::BadQuery => (400, Problem::BadQuery),
        ConnectError::CodeRefused { service, .. } => (400, Problem::CodeRefused(*service)),
        ConnectError::ProviderFailed(e) => (502, Problem::ProviderFailed(e.service())),
        ConnectError::NotAWorkspace => (400, Problem::NotAWorkspace),
        ConnectError::WorkspaceNotAllowed(_) => (403, Problem::WorkspaceNotAllowed),
        ConnectError::NotAnAdmin { .. } => (403, Problem::NotAnAdmin),
        ConnectError::RolesUnreadable(_) => (403, Problem::RolesUnreadable),
        ConnectError::AccountNotAllowed(_) => (403, Problem::AccountNotAllowed),
        ConnectError::Conflict => (409, Problem::BadState),
        ConnectError::Store(_) => (503, Problem::Unavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::upstream::Service;

    #[test]
    fn every_error_has_a_4xx_or_5xx_page() {
        for e in [
            ConnectError::BadState,
            ConnectError::OtherBrowser,
            ConnectError::Denied { service: Service::Tapd },
            ConnectError::NotAWorkspace,
            ConnectError::NotAnAdmin { nick: "x".into(), workspace: shared::ids::WorkspaceId::parse("1").unwrap() },
            ConnectError::Conflict,
        ] {
            let (status, _) = meaning(&e);
            assert!((400..500).contains(&status), "{e}");
        }
    }
}
