//! A fault-injecting proxy in front of the local DynamoDB: point a function's
//! `AWS_ENDPOINT_URL_DYNAMODB` at [`DdbProxy::url`] and arm faults on chosen operations
//! (by `X-Amz-Target` and a substring of the request body, e.g. one `UpdateItem` of the
//! webhook's state machine), the way the sandbox does for TAPD and Tencent Docs.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sandbox::conn::{ConnInfo, ResetListener};

/// What an armed fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdbFaultKind {
    /// `500 InternalServerError` (the SDK retries it).
    ServerError,
    /// `400 ThrottlingException` (the SDK retries it).
    Throttle,
    /// Wait, then forward.
    Delay(Duration),
    /// Drop the connection before forwarding: the write never happens.
    Reset,
    /// Forward (the write happens), then drop the connection without the answer.
    DropReply,
}

/// A fault on the next `times` requests (`0`: until cleared) whose operation is
/// `operation` (`"UpdateItem"`, `"TransactWriteItems"`, ...) and whose body contains
/// `body_contains` (when given).
#[derive(Debug, Clone)]
pub struct DdbFault {
    pub operation: &'static str,
    pub body_contains: Option<String>,
    pub kind: DdbFaultKind,
    pub times: u32,
}

impl DdbFault {
    pub fn new(operation: &'static str, kind: DdbFaultKind, times: u32) -> Self {
        DdbFault { operation, body_contains: None, kind, times }
    }

    pub fn containing(mut self, needle: &str) -> Self {
        self.body_contains = Some(needle.to_owned());
        self
    }
}

struct Armed {
    fault: DdbFault,
    remaining: Option<u32>,
}

struct Inner {
    upstream: String,
    http: reqwest::Client,
    faults: Mutex<Vec<Armed>>,
    /// Operation names of every request seen, and whether a fault took it.
    seen: Mutex<Vec<(String, bool)>>,
}

pub struct DdbProxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for DdbProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl DdbProxy {
    /// A proxy on `127.0.0.1:<free port>` in front of [`crate::dynamo::endpoint`].
    pub async fn start() -> DdbProxy {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind the DynamoDB proxy");
        let addr = listener.local_addr().expect("local addr");
        let inner = Arc::new(Inner {
            upstream: crate::dynamo::endpoint(),
            http: sandbox::http_client().no_proxy().build().expect("reqwest client"),
            faults: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(forward).with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(ResetListener(listener), app.into_make_service_with_connect_info::<ConnInfo>()).await;
        });
        DdbProxy { addr, inner, server }
    }

    /// The endpoint to give the functions (`AWS_ENDPOINT_URL_DYNAMODB`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn inject(&self, fault: DdbFault) {
        let remaining = (fault.times > 0).then_some(fault.times);
        self.inner.faults.lock().unwrap().push(Armed { fault, remaining });
    }

    pub fn clear(&self) {
        self.inner.faults.lock().unwrap().clear();
    }

    /// How many requests faults have taken so far.
    pub fn faulted(&self) -> usize {
        self.inner.seen.lock().unwrap().iter().filter(|(_, f)| *f).count()
    }

    /// The operations seen so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.inner.seen.lock().unwrap().iter().map(|(op, _)| op.clone()).collect()
    }
}

impl Inner {
    fn take(&self, operation: &str, body: &[u8]) -> Option<DdbFaultKind> {
        let body = String::from_utf8_lossy(body);
        let mut faults = self.faults.lock().unwrap();
        let idx = faults.iter().position(|a| {
            a.remaining != Some(0)
                && a.fault.operation == operation
                && a.fault.body_contains.as_deref().is_none_or(|n| body.contains(n))
        })?;
        let kind = faults[idx].fault.kind.clone();
        if let Some(n) = faults[idx].remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                faults.remove(idx);
            }
        }
        Some(kind)
    }

    async fn send(&self, headers: &HeaderMap, path: &str, body: Bytes) -> Response {
        let mut req = self.http.post(format!("{}{path}", self.upstream)).body(body);
        for (name, value) in headers {
            if name != header::HOST && name != header::CONTENT_LENGTH && name != header::CONNECTION {
                req = req.header(name, value);
            }
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let mut out = HeaderMap::new();
                for (name, value) in resp.headers() {
                    if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING && name != header::CONNECTION
                    {
                        out.append(name, value.clone());
                    }
                }
                let body = resp.bytes().await.unwrap_or_default();
                (status, out, body).into_response()
            }
            Err(_) => (StatusCode::BAD_GATEWAY, "DynamoDB proxy: upstream unreachable").into_response(),
        }
    }
}

fn dynamo_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message });
    (status, [(header::CONTENT_TYPE, "application/x-amz-json-1.0")], body.to_string()).into_response()
}

async fn forward(State(inner): State<Arc<Inner>>, ConnectInfo(conn): ConnectInfo<ConnInfo>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024).await.unwrap_or_default();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let operation = target.rsplit('.').next().unwrap_or("").to_owned();
    let fault = inner.take(&operation, &body);
    inner.seen.lock().unwrap().push((operation, fault.is_some()));
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    match fault {
        None => inner.send(&parts.headers, &path, body).await,
        Some(DdbFaultKind::ServerError) => {
            dynamo_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "injected fault")
        }
        Some(DdbFaultKind::Throttle) => dynamo_error(StatusCode::BAD_REQUEST, "ThrottlingException", "Rate exceeded"),
        Some(DdbFaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            inner.send(&parts.headers, &path, body).await
        }
        Some(DdbFaultKind::Reset) => {
            conn.kill.kill();
            StatusCode::OK.into_response()
        }
        Some(DdbFaultKind::DropReply) => {
            let _ = inner.send(&parts.headers, &path, body).await;
            conn.kill.kill();
            StatusCode::OK.into_response()
        }
    }
}
