//! Request recording and fault injection (one middleware around every route),
//! plus the per-service error shapes shared with the 404 fallback.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Sandbox;
use crate::conn::ConnInfo;
use crate::model::{FaultKind, RequestRecord};
use crate::{pages, tapd, tdoc};

/// Which reply style a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// TAPD API: `{"status","data","info"}`.
    Tapd,
    /// Tencent Docs OAuth JSON endpoints and OpenAPI v2: `{"ret","msg"}`.
    TdocRet,
    /// Tencent Docs OpenAPI v3: `{"code","message"}`.
    TdocV3,
    /// Consent pages, doc viewer, anything else: HTML.
    Html,
}

fn style(path: &str) -> Style {
    if path.starts_with("/tapd/api/") {
        Style::Tapd
    } else if path.starts_with("/tdoc/openapi/") && path.contains("/v3/") {
        Style::TdocV3
    } else if path.starts_with("/tdoc/openapi/")
        || path.starts_with("/tdoc/oauth/v2/token")
        || path.starts_with("/tdoc/oauth/v2/app-account-token")
        || path.starts_with("/tdoc/oauth/v2/userinfo")
    {
        Style::TdocRet
    } else {
        Style::Html
    }
}

/// An error reply with `status` in the service's own shape.
fn status_reply(path: &str, status: StatusCode, message: &str) -> Response {
    let code = i64::from(status.as_u16());
    match style(path) {
        Style::Tapd if status == StatusCode::TOO_MANY_REQUESTS => tapd::rate_limited(),
        Style::Tapd => tapd::error(status, message),
        Style::TdocRet => tdoc::ret_error(status, code, message),
        Style::TdocV3 => tdoc::v3_error(status, code, message),
        Style::Html => pages::error_page(status, message),
    }
}

/// 404 for every path no route matched, in the style of the service; TAPD's greeting instead
/// of TAPD's 404 in the `hello_world` variant.
pub(crate) async fn not_found(State(sb): State<Sandbox>, uri: Uri) -> Response {
    let hello = sb.variants().tapd_unknown_path == crate::TapdUnknownPath::HelloWorld;
    if hello && style(uri.path()) == Style::Tapd {
        return tapd::hello_world();
    }
    status_reply(uri.path(), StatusCode::NOT_FOUND, "not found")
}

fn json_200(body: &'static str) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response()
}

fn malformed(path: &str) -> Response {
    match style(path) {
        Style::Tapd => json_200(r#"{"status":1,"data":[{"Story":{"id":"11"#),
        Style::TdocRet => json_200(r#"{"ret":0,"msg":"Succeed","data":{"ID":"300000000$"#),
        Style::TdocV3 => json_200(r#"{"ret":0,"msg":"Succ"#),
        Style::Html => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], "<html><body><h1>502 Bad Gat")
                .into_response()
        }
    }
}

fn wrong_shape(path: &str) -> Response {
    match style(path) {
        Style::Tapd => json_200(r#"{"status":1,"data":{"unexpected":true},"info":"success"}"#),
        Style::TdocRet | Style::TdocV3 => json_200(r#"{"ret":0,"msg":"Succeed","data":[]}"#),
        Style::Html => json_200(r#"{"unexpected":true}"#),
    }
}

/// A body that fails at once: hyper aborts the connection mid-response.
struct FailingBody;

impl http_body::Body for FailingBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::ConnectionReset, "sandbox fault: connection reset"))))
    }
}

/// Drops the connection. Served by [`Sandbox::start_on`], nothing at all is
/// written; mounted elsewhere, the body fails after the head.
fn reset(req: &Request) -> Response {
    kill_connection(connection(req))
}

fn connection(req: &Request) -> Option<ConnInfo> {
    req.extensions().get::<ConnectInfo<ConnInfo>>().map(|ConnectInfo(info)| info.clone())
}

fn kill_connection(conn: Option<ConnInfo>) -> Response {
    if let Some(info) = conn {
        info.kill.kill();
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::new(FailingBody))
        .unwrap_or_default()
}

pub(crate) async fn middleware(State(sb): State<Sandbox>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/_sandbox") {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_string();
    let fault = sb.lock().take_fault(&method, &path);
    let response = match fault.map(|f| f.kind) {
        None => next.run(req).await,
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(FaultKind::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = status.canonical_reason().unwrap_or("error");
            status_reply(&path, status, &format!("{reason} (sandbox fault)"))
        }
        Some(FaultKind::Malformed) => malformed(&path),
        Some(FaultKind::Redirect(to)) => {
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)], "redirected (sandbox fault)").into_response()
        }
        Some(FaultKind::WrongShape) => wrong_shape(&path),
        Some(FaultKind::HelloWorld) => tapd::hello_world(),
        Some(FaultKind::Reset) => {
            sb.record(RequestRecord { method, path, status: 0 });
            return reset(&req);
        }
        Some(FaultKind::LateAct(d)) => {
            // In a task of its own, so it runs to the end whether or not the caller waits.
            let (sb2, method2, path2) = (sb.clone(), method.clone(), path.clone());
            let work = tokio::spawn(async move {
                tokio::time::sleep(d).await;
                let response = next.run(req).await;
                sb2.record(RequestRecord { method: method2, path: path2, status: response.status().as_u16() });
                response
            });
            return work.await.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
        Some(FaultKind::ActThenDelay(d)) => {
            let done = next.run(req).await;
            tokio::time::sleep(d).await;
            done
        }
        Some(FaultKind::DropReply) => {
            let conn = connection(&req);
            let _done = next.run(req).await;
            sb.record(RequestRecord { method, path, status: 0 });
            return kill_connection(conn);
        }
    };
    tracing::debug!(%method, %path, status = response.status().as_u16(), "sandbox");
    sb.record(RequestRecord { method, path, status: response.status().as_u16() });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles() {
        assert_eq!(style("/tapd/api/stories"), Style::Tapd);
        assert_eq!(style("/tapd/oauth/"), Style::Html);
        assert_eq!(style("/tdoc/oauth/v2/token"), Style::TdocRet);
        assert_eq!(style("/tdoc/oauth/v2/authorize"), Style::Html);
        assert_eq!(style("/tdoc/openapi/drive/v2/files"), Style::TdocRet);
        assert_eq!(style("/tdoc/openapi/doc/v3/x:batchUpdate"), Style::TdocV3);
        assert_eq!(style("/tdoc/doc/abc"), Style::Html);
    }
}
