//! A recording HTTP proxy on loopback, put in front of DynamoDB (moto) and of the TAPD and
//! Tencent Docs sandbox, so every request a function makes is counted and timed, not guessed.
//!
//! Each request is forwarded as is (method, path, query, headers, body) and recorded with a
//! label (the DynamoDB operation and the key's sort key, or the service, method and path)
//! and its start and end instants. With those, [`critical_path`] says how many of a path's
//! round trips are sequential: requests that overlap in time count once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::Response;
use serde_json::Value;

/// What the proxy stands in front of: it decides the labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DynamoDb,
    Upstream,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub kind: Kind,
    pub label: String,
    pub start: Instant,
    pub end: Instant,
}

/// Distance added to every round trip (the latency mode): the proxy waits this long before
/// forwarding, so a request's recorded span includes it. Zero on loopback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    pub tapd: Duration,
    pub tdoc: Duration,
    pub dynamo: Duration,
}

impl Latency {
    /// `TAPD_MS,TDOC_MS,DYNAMODB_MS`, e.g. `40,40,5`.
    pub fn parse(v: &str) -> Option<Latency> {
        let ms: Vec<u64> = v.split(',').map(|p| p.trim().parse().ok()).collect::<Option<_>>()?;
        let [tapd, tdoc, dynamo] = ms[..] else { return None };
        Some(Latency {
            tapd: Duration::from_millis(tapd),
            tdoc: Duration::from_millis(tdoc),
            dynamo: Duration::from_millis(dynamo),
        })
    }

    fn of(&self, kind: Kind, label: &str) -> Duration {
        match kind {
            Kind::DynamoDb => self.dynamo,
            Kind::Upstream if label.starts_with("TAPD") => self.tapd,
            Kind::Upstream => self.tdoc,
        }
    }
}

#[derive(Clone)]
struct Shared {
    kind: Kind,
    latency: Latency,
    upstream: Upstream,
    records: Arc<Mutex<Vec<Record>>>,
}

/// A running proxy. Its records are kept for the life of the run.
pub struct Recorder {
    base: String,
    records: Arc<Mutex<Vec<Record>>>,
}

impl Recorder {
    /// Serves on `127.0.0.1:<free port>`, forwarding to `upstream` (`http://host:port`).
    /// Each request waits `latency` (by service) before it is forwarded.
    pub async fn start(kind: Kind, upstream: &str, latency: Latency) -> Recorder {
        let records = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared { kind, latency, upstream: Upstream::new(upstream), records: records.clone() };
        let base = serve(Router::new().fallback(forward).with_state(shared)).await;
        Recorder { base, records }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> &str {
        &self.base
    }

    /// How many requests so far: a mark to take [`Recorder::since`] from.
    pub fn mark(&self) -> usize {
        self.records.lock().unwrap().len()
    }

    /// The requests recorded since `mark`, oldest first.
    pub fn since(&self, mark: usize) -> Vec<Record> {
        self.records.lock().unwrap()[mark..].to_vec()
    }
}

const HOP_BY_HOP: [&str; 5] = ["connection", "keep-alive", "transfer-encoding", "host", "content-length"];

/// Serves `app` on `127.0.0.1:<free port>`, in the background: its base URL.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// Where a proxy forwards to, and the client it forwards with (redirects passed back as they are).
#[derive(Clone)]
pub struct Upstream {
    base: String,
    client: reqwest::Client,
}

impl Upstream {
    pub fn new(base: &str) -> Self {
        let client = sandbox::http_client()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("static client configuration");
        Upstream { base: base.trim_end_matches('/').to_owned(), client }
    }

    /// Forwards the request as it came (method, path, query, headers but hop-by-hop ones,
    /// body): the answer to pass back, its status and its body (`502` when none came).
    pub async fn relay(
        &self,
        parts: &axum::http::request::Parts,
        body: axum::body::Bytes,
    ) -> (Response, u16, axum::body::Bytes) {
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut out = self.client.request(parts.method.clone(), format!("{}{path_and_query}", self.base));
        for (name, value) in &parts.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                out = out.header(name, value);
            }
        }
        let bad_gateway = || (status(StatusCode::BAD_GATEWAY), 502, Default::default());
        let Ok(resp) = out.body(body).send().await else { return bad_gateway() };
        let code = resp.status().as_u16();
        let mut builder = Response::builder().status(resp.status());
        for (name, value) in resp.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                builder = builder.header(HeaderName::from(name), value);
            }
        }
        let Ok(bytes) = resp.bytes().await else { return bad_gateway() };
        match builder.body(Body::from(bytes.clone())) {
            Ok(answer) => (answer, code, bytes),
            Err(_) => bad_gateway(),
        }
    }
}

async fn forward(State(st): State<Shared>, req: Request) -> Response {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, 16 * 1024 * 1024).await else {
        return status(StatusCode::BAD_REQUEST);
    };
    let label = match st.kind {
        Kind::DynamoDb => dynamo_label(parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()), &body),
        Kind::Upstream => upstream_label(parts.method.as_str(), parts.uri.path()),
    };
    let delay = st.latency.of(st.kind, &label);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (answer, _, _) = st.upstream.relay(&parts, body).await;
    st.records.lock().unwrap().push(Record { kind: st.kind, label, start, end: Instant::now() });
    answer
}

pub fn status(code: StatusCode) -> Response {
    Response::builder().status(code).body(Body::empty()).expect("static response")
}

/// `GetItem(BINDING)`, `UpdateItem(LINK)`, `TransactWriteItems(TOKEN+BINDING)`: the operation
/// and the sort keys it touches (the table's sort keys name the record kind).
fn dynamo_label(target: Option<&str>, body: &[u8]) -> String {
    let op = target.and_then(|t| t.rsplit('.').next()).unwrap_or("?").to_owned();
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let sk = |item: &Value| item.pointer("/sk/S").and_then(Value::as_str).map(str::to_owned);
    let mut sks: Vec<String> = Vec::new();
    sks.extend(sk(&v["Key"]));
    sks.extend(sk(&v["Item"]));
    if let Some(items) = v["TransactItems"].as_array() {
        for t in items {
            for op in ["Put", "Update", "Delete", "ConditionCheck"] {
                sks.extend(sk(&t[op]["Item"]).or_else(|| sk(&t[op]["Key"])));
            }
        }
    }
    if let Some(index) = v["IndexName"].as_str() {
        sks.push(format!("index {index}"));
    }
    if sks.is_empty() { op } else { format!("{op}({})", sks.join("+")) }
}

/// `TAPD GET /stories`, `Tencent Docs POST /openapi/doc/v3/{id}:batchUpdate`: ids are elided.
fn upstream_label(method: &str, path: &str) -> String {
    let (service, rest) = if let Some(rest) = path.strip_prefix("/tapd/api") {
        ("TAPD", rest)
    } else if let Some(rest) = path.strip_prefix("/tdoc") {
        ("Tencent Docs", rest)
    } else {
        ("?", path)
    };
    let rest: Vec<String> = rest
        .split('/')
        .map(|seg| match seg.split_once(':') {
            Some((id, verb)) if looks_like_id(id) => format!("{{id}}:{verb}"),
            _ if looks_like_id(seg) => "{id}".to_owned(),
            _ => seg.to_owned(),
        })
        .collect();
    format!("{service} {method} {}", rest.join("/"))
}

/// Item and file ids: all digits, or long with digits in them (`300000000$abc...`), or with `$`.
fn looks_like_id(seg: &str) -> bool {
    let digits = seg.bytes().any(|b| b.is_ascii_digit());
    seg.contains('$') || (digits && (seg.len() >= 12 || seg.bytes().all(|b| b.is_ascii_digit())))
}

/// The longest chain of requests that do not overlap in time: how many round trips a path
/// waits for one after the other. Equal to the count when nothing runs concurrently.
pub fn critical_path(records: &[Record]) -> usize {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| r.start);
    let mut chain = vec![0usize; sorted.len()];
    for i in 0..sorted.len() {
        let before = (0..i).filter(|&j| sorted[j].end <= sorted[i].start).map(|j| chain[j]).max().unwrap_or(0);
        chain[i] = before + 1;
    }
    chain.into_iter().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn labels_name_the_operation_and_the_record() {
        let body = br#"{"TableName":"t","Key":{"pk":{"S":"WS#1"},"sk":{"S":"BINDING"}}}"#;
        assert_eq!(dynamo_label(Some("DynamoDB_20120810.GetItem"), body), "GetItem(BINDING)");
        let body =
            br#"{"TransactItems":[{"Put":{"Item":{"sk":{"S":"TOKEN"}}}},{"Put":{"Item":{"sk":{"S":"BINDING"}}}}]}"#;
        assert_eq!(
            dynamo_label(Some("DynamoDB_20120810.TransactWriteItems"), body),
            "TransactWriteItems(TOKEN+BINDING)"
        );
        assert_eq!(upstream_label("GET", "/tapd/api/stories"), "TAPD GET /stories");
        assert_eq!(upstream_label("POST", "/tapd/api/tokens/request_token"), "TAPD POST /tokens/request_token");
        assert_eq!(
            upstream_label("POST", "/tdoc/openapi/doc/v3/300000000$abcdefgh:batchUpdate"),
            "Tencent Docs POST /openapi/doc/v3/{id}:batchUpdate"
        );
    }

    #[test]
    fn latency_is_per_service() {
        let l = Latency::parse("40,30,5").expect("three numbers");
        assert_eq!(l.of(Kind::Upstream, "TAPD GET /stories"), Duration::from_millis(40));
        assert_eq!(l.of(Kind::Upstream, "Tencent Docs POST /openapi/drive/v2/files"), Duration::from_millis(30));
        assert_eq!(l.of(Kind::DynamoDb, "UpdateItem(LINK)"), Duration::from_millis(5));
        assert_eq!(Latency::parse("40,40"), None);
    }

    #[test]
    fn overlapping_requests_count_once_on_the_critical_path() {
        let t = Instant::now();
        let rec = |a: u64, b: u64| Record {
            kind: Kind::Upstream,
            label: String::new(),
            start: t + Duration::from_millis(a),
            end: t + Duration::from_millis(b),
        };
        assert_eq!(critical_path(&[]), 0);
        assert_eq!(critical_path(&[rec(0, 1), rec(1, 2), rec(2, 3)]), 3);
        assert_eq!(critical_path(&[rec(0, 1), rec(1, 3), rec(1, 2), rec(3, 4)]), 3);
    }
}
