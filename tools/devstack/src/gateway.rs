//! The local API gateway: the HTTP API of `template.yaml` on one port. Each request on one
//! of its routes becomes an API Gateway HTTP API payload 2.0 event for the function behind
//! the route (`harness::apigw`), and the function's answer becomes the HTTP response.
//! The sandboxes (when used) are mounted on the same port under `/tapd`, `/tdoc` and `/_sandbox`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use harness::apigw;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::pool::Pool;

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// The routes of `template.yaml`'s HTTP API: (method, path, function).
pub const ROUTES: &[(&str, &str, Target)] = &[
    ("GET", "/oauth/tapd/start", Target::Oauth),
    ("GET", "/oauth/tapd/callback", Target::Oauth),
    ("GET", "/oauth/tdoc/callback", Target::Oauth),
    ("POST", "/oauth/tdoc/confirm", Target::Oauth),
    ("GET", "/console", Target::Oauth),
    ("GET", "/console/{proxy+}", Target::Oauth),
    ("POST", "/console/{proxy+}", Target::Oauth),
    ("POST", "/webhooks/tapd", Target::Webhook),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Oauth,
    Webhook,
}

#[derive(Clone)]
pub struct Gateway {
    pub oauth: Arc<Pool>,
    pub webhook: Arc<Pool>,
    /// The sandboxes' router, when they stand in for TAPD and Tencent Docs.
    pub sandbox: Option<Router>,
    pub port: u16,
    /// Set by every request that may have changed state (the dump task clears it).
    pub dirty: Arc<AtomicBool>,
}

pub fn router(gw: Gateway) -> Router {
    Router::new().fallback(handle).with_state(gw)
}

/// A route key's path as API Gateway matches it: exact, or a greedy `{proxy+}` tail.
fn route_matches(route: &str, path: &str) -> bool {
    match route.strip_suffix("{proxy+}") {
        Some(prefix) => path.len() > prefix.len() && path.starts_with(prefix),
        None => route == path,
    }
}

fn is_sandbox_path(path: &str) -> bool {
    ["/tapd", "/tdoc", "/_sandbox"].iter().any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

async fn handle(State(gw): State<Gateway>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = ROUTES.iter().find(|(m, p, _)| *m == method.as_str() && route_matches(p, &path));
    let (response, by) = match (route, &gw.sandbox) {
        (Some((m, p, target)), _) => {
            let pool = match target {
                Target::Oauth => &gw.oauth,
                Target::Webhook => &gw.webhook,
            };
            gw.dirty.store(true, Ordering::SeqCst);
            (invoke(&gw, pool, &format!("{m} {p}"), peer, req).await, pool.name.as_str())
        }
        (None, Some(sandbox)) if is_sandbox_path(&path) => {
            // Even GETs change state there (Tencent Docs' token exchange is a GET).
            if !(method == Method::GET && path.starts_with("/_sandbox/")) {
                gw.dirty.store(true, Ordering::SeqCst);
            }
            (sandbox.clone().oneshot(req).await.unwrap_or_else(|e| match e {}), "sandbox")
        }
        (None, _) if path == "/" && method == Method::GET => (index(&gw), "devstack"),
        // What API Gateway answers when no route matches.
        (None, _) => (message(StatusCode::NOT_FOUND, "Not Found"), "no route"),
    };
    // Paths only: queries carry codes and states.
    println!(
        "[gateway] {method} {path} -> {} ({by}, {} ms)",
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    response
}

/// API Gateway's own error replies: `{"message": ...}`.
fn message(status: StatusCode, text: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], json!({ "message": text }).to_string()).into_response()
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
];

async fn invoke(gw: &Gateway, pool: &Pool, route_key: &str, peer: SocketAddr, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let mut event = to_request(&parts, &body, peer, gw.port).to_event();
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let domain = host.split(':').next().unwrap_or(host);
    event["routeKey"] = json!(route_key);
    let ctx = &mut event["requestContext"];
    ctx["routeKey"] = json!(route_key);
    ctx["domainName"] = json!(domain);
    ctx["domainPrefix"] = json!(domain.split('.').next().unwrap_or(domain));
    ctx["http"]["sourceIp"] = json!(peer.ip().to_string());

    let invocation = pool.invoke(event).await;
    match apigw::Response::from_invocation(&invocation) {
        Some(r) => to_http(r),
        None if invocation.is_timeout() => {
            eprintln!("[gateway] {} timed out after {} s", pool.name, pool.timeout.as_secs());
            message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        None => {
            eprintln!("[gateway] {} failed: {}", pool.name, describe(&invocation));
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// The HTTP request as API Gateway reads it: a `Cookie` header becomes the event's `cookies`
/// (in `apigw::Request::to_event`), hop-by-hop headers are dropped.
fn to_request(parts: &axum::http::request::Parts, body: &[u8], peer: SocketAddr, port: u16) -> apigw::Request {
    let path_and_query = parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let mut request = apigw::Request::new(parts.method.as_str(), path_and_query);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            request = request.header(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
        }
    }
    request = request
        .header("x-forwarded-for", &peer.ip().to_string())
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-port", &port.to_string());
    if !body.is_empty() {
        let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        request.base64 = !apigw::is_text_content_type(content_type);
        request.body = Some(body.to_vec());
    }
    request
}

fn describe(invocation: &harness::Invocation) -> String {
    match invocation {
        harness::Invocation::Error(v) => v.to_string(),
        harness::Invocation::Crashed => "the process exited before answering".into(),
        harness::Invocation::Response(_) => "an answer that is not an HTTP response".into(),
    }
}

fn to_http(r: apigw::Response) -> Response {
    let mut response = Response::new(Body::from(r.body));
    *response.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    for (name, value) in r.headers {
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            headers.append(n, v);
        }
    }
    response
}

/// `GET /`: not part of the product; a page of links for a person who opens the root.
fn index(gw: &Gateway) -> Response {
    let mut links = String::from(
        "<li><a href=\"/oauth/tapd/start\">/oauth/tapd/start</a>: connect a TAPD workspace to a Tencent Docs account</li>\
         <li><a href=\"/console\">/console</a>: the console for workspace admins (sign in with TAPD)</li>",
    );
    if gw.sandbox.is_some() {
        for (path, what) in [
            ("/tapd/web/", "the TAPD sandbox: items, comments, 新建需求 / 新建缺陷 (its webhook comes here)"),
            ("/_sandbox/docs", "docs created in the Tencent Docs sandbox"),
            ("/_sandbox/comments", "comments posted in the TAPD sandbox"),
            ("/_sandbox/items", "TAPD sandbox items"),
        ] {
            links.push_str(&format!("<li><a href=\"{path}\">{path}</a>: {what}</li>"));
        }
    }
    let routes: String = ROUTES.iter().map(|(m, p, _)| format!("<li><code>{m} {p}</code></li>")).collect();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>devstack</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5}}</style>\
         </head><body><h1>TAPD → Tencent Docs, running locally</h1><ul>{links}</ul>\
         <p>Routes served by the functions:</p><ul>{routes}</ul></body></html>"
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
        .into_response()
}

/// Whether a scheduled run's summary reports any work (some number in it is not zero).
pub fn did_work(summary: &Value) -> bool {
    match summary {
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::Object(o) => o.values().any(did_work),
        Value::Array(a) => a.iter().any(did_work),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_paths() {
        assert!(is_sandbox_path("/tapd/oauth/"));
        assert!(is_sandbox_path("/_sandbox/docs"));
        assert!(is_sandbox_path("/tdoc"));
        assert!(!is_sandbox_path("/tdocs"));
        assert!(!is_sandbox_path("/oauth/tapd/start"));
    }

    /// Cookies travel as API Gateway carries them: the request's `Cookie` header into the
    /// event's `cookies`, the function's `cookies` out as `Set-Cookie` headers.
    #[test]
    fn cookies_go_through_as_api_gateway_carries_them() {
        let req = axum::http::Request::builder()
            .method("GET")
            .uri("/oauth/tapd/callback?state=s")
            .header("cookie", "__Host-a=1; b=2")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let event = to_request(&parts, b"", "127.0.0.1:9".parse().unwrap(), 3000).to_event();
        assert_eq!(event["cookies"], json!(["__Host-a=1", "b=2"]));
        assert!(event["headers"].get("cookie").is_none());

        let answer =
            json!({"statusCode": 302, "headers": {"location": "/x"}, "cookies": ["a=1; Secure", "b=; Max-Age=0"]});
        let resp = to_http(apigw::Response::from_value(&answer));
        let set: Vec<_> = resp.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(set, ["a=1; Secure", "b=; Max-Age=0"]);
    }

    #[test]
    fn scheduled_summaries() {
        assert!(!did_work(&json!({"retried": 0, "linked": 0})));
        assert!(did_work(&json!({"retried": 1, "linked": 0})));
        assert!(!did_work(&json!(null)));
    }
}
