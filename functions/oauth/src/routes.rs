//! Routes of the contract, each a thin call into `shared::connect`.

use shared::connect::{Callback, ConnectError, Connector};
use shared::gateway::{HttpRequest, HttpResponse};
use shared::upstream::Service;

use crate::App;
use crate::pages;

const ROUTES: [&str; 3] = ["/oauth/tapd/start", "/oauth/tapd/callback", "/oauth/tdoc/callback"];

pub async fn handle(app: &App, event: serde_json::Value) -> HttpResponse {
    let req = match HttpRequest::from_json(event) {
        Ok(req) => req,
        Err(e) => return pages::error(400, "Bad request", &e.to_string()),
    };
    if !ROUTES.contains(&req.path.as_str()) {
        return pages::error(404, "Not found", "There is nothing here.");
    }
    if req.method != "GET" {
        return pages::error(405, "Method not allowed", "Only GET is served here.").with_header("allow", "GET");
    }
    let connector = Connector { cfg: &app.cfg, store: &app.store, tapd: &app.tapd, tdoc: &app.tdoc };
    let result = match req.path.as_str() {
        "/oauth/tapd/start" => connector.start().await.map(pages::redirect),
        path => match Callback::parse(&req.raw_query) {
            Err(e) => Err(e),
            Ok(cb) if path == "/oauth/tapd/callback" => connector.tapd_callback(cb).await.map(pages::redirect),
            Ok(cb) => connector.tdoc_callback(cb).await.map(|c| pages::connected(&c)),
        },
    };
    result.unwrap_or_else(|e| {
        let status = status_of(&e);
        if status >= 500 {
            tracing::error!(error = %e, path = %req.path, "connect flow failed");
        } else {
            tracing::warn!(error = %e, path = %req.path, "connect flow refused");
        }
        pages::error(status, title_of(&e), &e.to_string())
    })
}

fn status_of(e: &ConnectError) -> u16 {
    match e {
        ConnectError::BadState | ConnectError::MissingCode | ConnectError::BadQuery => 400,
        ConnectError::Denied { .. } => 403,
        ConnectError::CodeRefused { .. } | ConnectError::NotAWorkspace => 400,
        ConnectError::ProviderFailed(_) => 502,
        ConnectError::Store(_) => 503,
    }
}

fn title_of(e: &ConnectError) -> &'static str {
    match e {
        ConnectError::BadState => "This link has expired",
        ConnectError::Denied { service: Service::Tapd, .. } => "TAPD access was not granted",
        ConnectError::Denied { service: Service::Tdoc, .. } => "Tencent Docs access was not granted",
        ConnectError::MissingCode | ConnectError::BadQuery => "Incomplete authorization",
        ConnectError::CodeRefused { .. } | ConnectError::NotAWorkspace => "Authorization refused",
        ConnectError::ProviderFailed(_) => "The provider is not answering",
        ConnectError::Store(_) => "Temporarily unavailable",
    }
}
