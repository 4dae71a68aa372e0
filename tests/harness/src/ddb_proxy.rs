//! A fault-injecting proxy in front of the local DynamoDB: point a function's
//! `AWS_ENDPOINT_URL_DYNAMODB` at [`DdbProxy::url`] and arm faults on chosen operations
//! (by `X-Amz-Target` and a substring of the request body, e.g. one `UpdateItem` of the
//! webhook's state machine), the way the sandbox does for TAPD and Tencent Docs. It also
//! records every call as IAM authorizes it ([`DdbCall`]: the operation, the table or index,
//! the partition key values it touches), for the least-privilege check (`crate::iam`).

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
    /// Every call, as IAM sees it.
    calls: Mutex<Vec<DdbCall>>,
    /// SES calls (a function's `AWS_ENDPOINT_URL_SESV2` on this proxy: moto serves both).
    ses_calls: Mutex<Vec<SesCall>>,
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
            calls: Mutex::new(Vec::new()),
            ses_calls: Mutex::new(Vec::new()),
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

    /// Every call seen so far, in order, as IAM authorizes it (a transaction's or a batch's
    /// items one by one).
    pub fn calls(&self) -> Vec<DdbCall> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// Every SES v2 call seen so far, in order.
    pub fn ses_calls(&self) -> Vec<SesCall> {
        self.inner.ses_calls.lock().unwrap().clone()
    }
}

/// One SES v2 call as IAM authorizes it: `ses:<operation>` on the sender's identity, with
/// `ses:FromAddress` the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesCall {
    /// `SendEmail` for `POST /v2/email/outbound-emails`; any other call by method and path.
    pub operation: String,
    pub from: String,
}

impl std::fmt::Display for SesCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} from {}", self.operation, self.from)
    }
}

fn ses_call_of(method: &str, path: &str, body: &[u8]) -> SesCall {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let operation = match (method, path) {
        ("POST", "/v2/email/outbound-emails") => "SendEmail".to_owned(),
        _ => format!("{method} {path}"),
    };
    SesCall { operation, from: body["FromEmailAddress"].as_str().unwrap_or_default().to_owned() }
}

/// One DynamoDB call as IAM authorizes it: the action `dynamodb:<operation>` on the table's
/// ARN (or `<table>/index/<index>`), with `dynamodb:LeadingKeys` the partition key values of
/// `keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdbCall {
    /// The IAM action's name: the request's operation, or for each item of a transaction
    /// the operation it is authorized as (`PutItem`, `UpdateItem`, `DeleteItem`,
    /// `ConditionCheckItem`, `GetItem`).
    pub operation: String,
    /// The request an item came in (`TransactWriteItems`, `TransactGetItems`), if not its own.
    pub via: Option<String>,
    pub table: String,
    pub index: Option<String>,
    /// The partition key values: the item's (or each item's, for a batch), or the value a
    /// `Query`'s key condition fixes for the table's or the index's partition key. Empty for
    /// calls without keys (`Scan`, `DescribeTable`).
    pub keys: Vec<String>,
}

impl std::fmt::Display for DdbCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.operation)?;
        if let Some(via) = &self.via {
            write!(f, " (in {via})")?;
        }
        write!(f, " on {}", self.table)?;
        if let Some(index) = &self.index {
            write!(f, "/index/{index}")?;
        }
        if !self.keys.is_empty() {
            write!(f, " key {}", self.keys.join(", "))?;
        }
        Ok(())
    }
}

/// The partition key attribute of the table (`None`) or of an index, from `template.yaml`.
fn partition_key(index: Option<&str>) -> String {
    static SCHEMA: std::sync::OnceLock<Vec<(Option<String>, String)>> = std::sync::OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        let text = std::fs::read_to_string(crate::workspace_root().join("template.yaml")).expect("template.yaml");
        let props = crate::dynamo::table_properties(&text).expect("the table's properties");
        let hash = |ks: &serde_yaml::Value| {
            ks.as_sequence()
                .into_iter()
                .flatten()
                .find(|k| k["KeyType"].as_str() == Some("HASH"))
                .and_then(|k| k["AttributeName"].as_str())
                .expect("a HASH key")
                .to_owned()
        };
        let mut out = vec![(None, hash(&props["KeySchema"]))];
        for kind in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
            for i in props[kind].as_sequence().into_iter().flatten() {
                out.push((i["IndexName"].as_str().map(str::to_owned), hash(&i["KeySchema"])));
            }
        }
        out
    });
    schema
        .iter()
        .find(|(i, _)| i.as_deref() == index)
        .map(|(_, k)| k.clone())
        // An index the template does not declare: named, so the check shows it.
        .unwrap_or_else(|| format!("<partition key of unknown index {index:?}>"))
}

/// The string form of a DynamoDB JSON attribute value (`{"S": "WS#1"}`).
fn scalar(v: &serde_json::Value) -> Option<String> {
    let m = v.as_object()?;
    ["S", "N", "B"].iter().find_map(|t| m.get(*t)).and_then(|v| v.as_str()).map(str::to_owned)
}

fn key_of(item: &serde_json::Value, attr: &str) -> String {
    scalar(&item[attr]).unwrap_or_else(|| format!("<no {attr}>"))
}

/// The value a `Query`'s key condition fixes for `attr` (`attr = :v`, through
/// `#names` and `:values`); a marker naming the expression when there is none to read.
fn query_partition(body: &serde_json::Value, attr: &str) -> String {
    let names = &body["ExpressionAttributeNames"];
    let values = &body["ExpressionAttributeValues"];
    if let Some(expr) = body["KeyConditionExpression"].as_str() {
        // `BETWEEN :a AND :b` splits too: its pieces are no equality on the partition key.
        let upper = expr.to_ascii_uppercase();
        let mut clauses = Vec::new();
        let mut start = 0;
        for (at, _) in upper.match_indices(" AND ") {
            clauses.push(&expr[start..at]);
            start = at + 5;
        }
        clauses.push(&expr[start..]);
        for clause in clauses {
            let clause = clause.trim().trim_start_matches('(').trim_end_matches(')').trim();
            let Some((lhs, rhs)) = clause.split_once('=') else { continue };
            let (lhs, rhs) = (lhs.trim(), rhs.trim());
            if lhs.ends_with(['<', '>', '!']) {
                continue;
            }
            let name = if lhs.starts_with('#') { names[lhs].as_str().unwrap_or(lhs) } else { lhs };
            if name == attr
                && let Some(v) = scalar(&values[rhs])
            {
                return v;
            }
        }
        return format!("<no {attr} = :value in {expr:?}>");
    }
    // The legacy form: `KeyConditions: {attr: {ComparisonOperator: EQ, AttributeValueList: [v]}}`.
    let legacy = &body["KeyConditions"][attr];
    match (legacy["ComparisonOperator"].as_str(), scalar(&legacy["AttributeValueList"][0])) {
        (Some("EQ"), Some(v)) => v,
        _ => format!("<no {attr} in the query>"),
    }
}

/// The calls a request is authorized as.
pub fn calls_of(operation: &str, body: &[u8]) -> Vec<DdbCall> {
    let body: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let table = |v: &serde_json::Value| v["TableName"].as_str().unwrap_or("<no table>").to_owned();
    let pk = partition_key(None);
    let call = |operation: &str, via: Option<&str>, table: String, index: Option<String>, keys: Vec<String>| DdbCall {
        operation: operation.to_owned(),
        via: via.map(str::to_owned),
        table,
        index,
        keys,
    };
    match operation {
        "GetItem" | "DeleteItem" | "UpdateItem" => {
            vec![call(operation, None, table(&body), None, vec![key_of(&body["Key"], &pk)])]
        }
        "PutItem" => vec![call(operation, None, table(&body), None, vec![key_of(&body["Item"], &pk)])],
        "Query" => {
            let index = body["IndexName"].as_str().map(str::to_owned);
            let key = query_partition(&body, &partition_key(index.as_deref()));
            vec![call(operation, None, table(&body), index, vec![key])]
        }
        "Scan" => vec![call(operation, None, table(&body), body["IndexName"].as_str().map(str::to_owned), vec![])],
        "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let (kind, item) = entry.as_object()?.iter().next()?;
                let (as_op, key) = match kind.as_str() {
                    "Put" => ("PutItem", key_of(&item["Item"], &pk)),
                    "Update" => ("UpdateItem", key_of(&item["Key"], &pk)),
                    "Delete" => ("DeleteItem", key_of(&item["Key"], &pk)),
                    "ConditionCheck" => ("ConditionCheckItem", key_of(&item["Key"], &pk)),
                    "Get" => ("GetItem", key_of(&item["Key"], &pk)),
                    other => (other, String::new()),
                };
                Some(call(as_op, Some(operation), table(item), None, vec![key]))
            })
            .collect(),
        // One call per table, its items' partition keys together (one multivalued LeadingKeys).
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(t, v)| {
                let keys = match operation {
                    "BatchGetItem" => v["Keys"].as_array().into_iter().flatten().map(|k| key_of(k, &pk)).collect(),
                    _ => v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|w| match (w.get("PutRequest"), w.get("DeleteRequest")) {
                            (Some(p), _) => key_of(&p["Item"], &pk),
                            (_, Some(d)) => key_of(&d["Key"], &pk),
                            _ => "<unknown write request>".to_owned(),
                        })
                        .collect(),
                };
                call(operation, None, t.clone(), None, keys)
            })
            .collect(),
        _ => vec![call(operation, None, body["TableName"].as_str().unwrap_or("").to_owned(), None, vec![])],
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
    if parts.uri.path().starts_with("/v2/email/") {
        inner.ses_calls.lock().unwrap().push(ses_call_of(parts.method.as_str(), parts.uri.path(), &body));
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
        return inner.send(&parts.headers, &path, body).await;
    }
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let operation = target.rsplit('.').next().unwrap_or("").to_owned();
    let fault = inner.take(&operation, &body);
    inner.calls.lock().unwrap().extend(calls_of(&operation, &body));
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn calls(op: &str, body: serde_json::Value) -> Vec<String> {
        calls_of(op, body.to_string().as_bytes()).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn each_item_and_each_partition_value_is_recorded() {
        let s = |v: &str| json!({"S": v});
        assert_eq!(
            calls("UpdateItem", json!({"TableName": "t", "Key": {"pk": s("ITEM#1"), "sk": s("LINK")}})),
            ["UpdateItem on t key ITEM#1"]
        );
        // The index's partition key, through #names, beside a BETWEEN ... AND ....
        let q = json!({"TableName": "t", "IndexName": "pending",
            "KeyConditionExpression": "#p = :l AND gsi1sk BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#p": "gsi1pk"},
            "ExpressionAttributeValues": {":l": s("GIVEN_UP"), ":a": s("1"), ":b": s("2")}});
        assert_eq!(calls("Query", q), ["Query on t/index/pending key GIVEN_UP"]);
        // A condition on the sort key alone fixes no partition: named, so no condition matches it.
        let q =
            json!({"TableName": "t", "KeyConditionExpression": "sk = :s", "ExpressionAttributeValues": {":s": s("x")}});
        assert!(calls("Query", q)[0].contains("<no pk = :value"));
        let tx = json!({"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": s("TDOC#a"), "sk": s("TOKEN")}}},
            {"Delete": {"TableName": "t", "Key": {"pk": s("SWEEP#1"), "sk": s("SWEEP")}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": s("WS#1"), "sk": s("BINDING")}}}]});
        assert_eq!(
            calls("TransactWriteItems", tx),
            [
                "PutItem (in TransactWriteItems) on t key TDOC#a",
                "DeleteItem (in TransactWriteItems) on t key SWEEP#1",
                "ConditionCheckItem (in TransactWriteItems) on t key WS#1"
            ]
        );
        let get = json!({"TransactItems": [{"Get": {"TableName": "t", "Key": {"pk": s("WS#2"), "sk": s("X")}}}]});
        assert_eq!(calls("TransactGetItems", get), ["GetItem (in TransactGetItems) on t key WS#2"]);
        let batch = json!({"RequestItems": {"t": {"Keys": [{"pk": s("WS#1"), "sk": s("A")}, {"pk": s("ITEM#2"), "sk": s("B")}]}}});
        assert_eq!(calls("BatchGetItem", batch), ["BatchGetItem on t key WS#1, ITEM#2"]);
        let batch = json!({"RequestItems": {"t": [
            {"PutRequest": {"Item": {"pk": s("WS#1"), "sk": s("A")}}},
            {"DeleteRequest": {"Key": {"pk": s("STATE#x"), "sk": s("B")}}}]}});
        assert_eq!(calls("BatchWriteItem", batch), ["BatchWriteItem on t key WS#1, STATE#x"]);
        assert_eq!(calls("Scan", json!({"TableName": "t"})), ["Scan on t"]);
    }
}
