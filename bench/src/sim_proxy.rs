//! The simulation's recording proxy (`bench-runner --sim`): like `proxy.rs`, but it keeps what
//! the simulation reports on and not the bodies: for TAPD and Tencent Docs the time, the
//! status and the Open-Id a call was made as; for DynamoDB the operation, the read units its
//! answer cost (DynamoDB's rounding rules, [`read_units`]) and the keys it wrote, whose sizes
//! are looked up once the run is over (a write's cost is the size of the item it leaves).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;

use crate::proxy::{Upstream, serve, status};
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Tapd,
    Tdoc,
    Dynamo,
}

/// A key a write touched, and how its units count.
#[derive(Debug, Clone)]
pub struct Written {
    pub pk: String,
    pub sk: String,
    /// In a transaction: DynamoDB charges twice.
    pub transact: bool,
    /// A put's item size, from the request; `None`: an update or delete (size looked up later).
    pub put_size: Option<u64>,
    pub delete: bool,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub service: Service,
    pub start: Instant,
    pub status: u16,
    /// Tencent Docs: the `Open-Id` header (the account the call spends).
    pub open_id: Option<String>,
    /// DynamoDB: the operation; TAPD and Tencent Docs: the method and path, ids elided.
    pub op: String,
    /// DynamoDB: read request units the answer cost.
    pub read_units: f64,
    pub written: Vec<Written>,
}

#[derive(Clone)]
struct Shared {
    service: Service,
    upstream: Upstream,
    calls: Arc<Mutex<Vec<Call>>>,
}

pub struct SimProxy {
    base: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl SimProxy {
    /// `service` decides what is kept; `Tapd` stands for the whole sandbox (TAPD and Tencent
    /// Docs, told apart by path).
    pub async fn start(service: Service, upstream: &str) -> SimProxy {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared { service, upstream: Upstream::new(upstream), calls: calls.clone() };
        let base = serve(Router::new().fallback(forward).with_state(shared)).await;
        SimProxy { base, calls }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

async fn forward(State(st): State<Shared>, req: Request) -> Response {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, 16 * 1024 * 1024).await else {
        return status(StatusCode::BAD_REQUEST);
    };
    let service = match st.service {
        Service::Dynamo => Service::Dynamo,
        _ if parts.uri.path().starts_with("/tdoc") => Service::Tdoc,
        _ => Service::Tapd,
    };
    let open_id = parts.headers.get("open-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let route = || {
        let segs: Vec<String> = parts
            .uri
            .path()
            .split('/')
            .map(|seg| {
                if seg.bytes().any(|b| b.is_ascii_digit()) || seg.contains('$') {
                    "{id}".into()
                } else {
                    seg.to_owned()
                }
            })
            .collect();
        format!("{} {}", parts.method, segs.join("/"))
    };
    let op = if service != Service::Dynamo {
        route()
    } else {
        parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("")
            .to_owned()
    };
    let request: Value =
        if service == Service::Dynamo { serde_json::from_slice(&body).unwrap_or_default() } else { Value::Null };
    let (answer, code, bytes) = st.upstream.relay(&parts, body).await;
    let (read_units, written) = if service == Service::Dynamo && code == 200 {
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        (read_units(&op, &request, &answer), writes(&op, &request))
    } else if service == Service::Dynamo {
        // A refused condition still costs the write (DynamoDB charges a failed conditional write).
        (0.0, writes(&op, &request))
    } else {
        (0.0, Vec::new())
    };
    st.calls.lock().unwrap().push(Call { service, start, status: code, open_id, op, read_units, written });
    answer
}

/// An item's size as DynamoDB counts it: each attribute's name (UTF-8 bytes) and value
/// (strings by UTF-8 bytes, numbers about one byte per two digits plus one, binaries by their
/// bytes, maps and lists 3 bytes plus one per element plus their elements).
pub fn item_size(item: &serde_json::Map<String, Value>) -> u64 {
    item.iter().map(|(name, v)| name.len() as u64 + value_size(v)).sum()
}

fn value_size(v: &Value) -> u64 {
    let Some((t, inner)) = v.as_object().and_then(|o| o.iter().next()) else { return 0 };
    match (t.as_str(), inner) {
        ("S", Value::String(s)) => s.len() as u64,
        ("N", Value::String(n)) => {
            let digits = n.bytes().filter(u8::is_ascii_digit).count() as u64;
            digits.div_ceil(2) + 1
        }
        // Base64 in the wire format: the stored bytes are three quarters of it.
        ("B", Value::String(b)) => (b.trim_end_matches('=').len() as u64 * 3) / 4,
        ("BOOL" | "NULL", _) => 1,
        ("SS" | "NS" | "BS", Value::Array(a)) => a.iter().map(|x| value_size(&serde_json::json!({ &t[..1]: x }))).sum(),
        ("M", Value::Object(m)) => 3 + m.len() as u64 + item_size(m),
        ("L", Value::Array(a)) => 3 + a.len() as u64 + a.iter().map(value_size).sum::<u64>(),
        _ => 0,
    }
}

/// Read request units: 4 KB units, rounded up per item for `GetItem`/`BatchGetItem` and per
/// answer for `Query`/`Scan` (at least one); halved when eventually consistent (an index is
/// always); a transaction's reads count twice.
pub fn read_units(op: &str, request: &Value, answer: &Value) -> f64 {
    let units = |bytes: u64| bytes.div_ceil(4096).max(1) as f64;
    let factor = |req: &Value| if req["ConsistentRead"].as_bool() == Some(true) { 1.0 } else { 0.5 };
    let size = |item: &Value| item.as_object().map_or(0, item_size);
    match op {
        "GetItem" => units(size(&answer["Item"])) * factor(request),
        "Query" | "Scan" => {
            let total: u64 = answer["Items"].as_array().map_or(0, |items| items.iter().map(size).sum());
            units(total) * factor(request)
        }
        "BatchGetItem" => {
            let mut sum = 0.0;
            for (table, items) in answer["Responses"].as_object().into_iter().flatten() {
                let f = factor(&request["RequestItems"][table]);
                sum += items.as_array().map_or(0.0, |items| items.iter().map(|i| units(size(i)) * f).sum());
            }
            sum
        }
        "TransactGetItems" => {
            answer["Responses"].as_array().map_or(0.0, |r| r.iter().map(|x| units(size(&x["Item"])) * 2.0).sum())
        }
        _ => 0.0,
    }
}

fn key_of(v: &Value) -> Option<(String, String)> {
    Some((v.pointer("/pk/S")?.as_str()?.to_owned(), v.pointer("/sk/S")?.as_str()?.to_owned()))
}

/// The keys a write touches.
pub fn writes(op: &str, request: &Value) -> Vec<Written> {
    let put = |item: &Value, transact: bool| {
        key_of(item).map(|(pk, sk)| Written {
            pk,
            sk,
            transact,
            put_size: Some(item.as_object().map_or(0, item_size)),
            delete: false,
        })
    };
    let keyed = |key: &Value, transact: bool, delete: bool| {
        key_of(key).map(|(pk, sk)| Written { pk, sk, transact, put_size: None, delete })
    };
    match op {
        "PutItem" => put(&request["Item"], false).into_iter().collect(),
        "UpdateItem" => keyed(&request["Key"], false, false).into_iter().collect(),
        "DeleteItem" => keyed(&request["Key"], false, true).into_iter().collect(),
        "TransactWriteItems" => request["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                if t.get("Put").is_some() {
                    put(&t["Put"]["Item"], true)
                } else if t.get("Update").is_some() {
                    keyed(&t["Update"]["Key"], true, false)
                } else if t.get("Delete").is_some() {
                    keyed(&t["Delete"]["Key"], true, true)
                } else {
                    // A condition check costs a read-sized write unit in a transaction.
                    keyed(&t["ConditionCheck"]["Key"], true, true)
                }
            })
            .collect(),
        "BatchWriteItem" => request["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|v| v.as_array().cloned().unwrap_or_default())
            .filter_map(|w| {
                if w.get("PutRequest").is_some() {
                    put(&w["PutRequest"]["Item"], false)
                } else {
                    keyed(&w["DeleteRequest"]["Key"], false, true)
                }
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sizes_and_units_follow_dynamodbs_rounding() {
        let item = json!({"pk": {"S": "WS#1"}, "n": {"N": "12345"}, "ok": {"BOOL": true}});
        // pk 2+4, n 1+(3+1), ok 2+1
        assert_eq!(item_size(item.as_object().unwrap()), 6 + 5 + 3);
        let big = json!({"Item": {"pk": {"S": "x".repeat(5000)}}});
        assert_eq!(read_units("GetItem", &json!({}), &big), 1.0, "5 KB eventually consistent: 2 units halved");
        assert_eq!(read_units("GetItem", &json!({"ConsistentRead": true}), &big), 2.0);
        assert_eq!(read_units("GetItem", &json!({}), &json!({})), 0.5, "a miss still costs a unit");
        let q = json!({"Items": [{"a": {"S": "x".repeat(3000)}}, {"a": {"S": "x".repeat(3000)}}]});
        assert_eq!(read_units("Query", &json!({}), &q), 1.0, "a query rounds its total, not each item");
        let tx = json!({"TransactItems": [{"Put": {"Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}}},
                                          {"Update": {"Key": {"pk": {"S": "c"}, "sk": {"S": "d"}}}}]});
        let w = writes("TransactWriteItems", &tx);
        assert_eq!(w.len(), 2);
        assert!(w.iter().all(|w| w.transact));
        assert_eq!(w[0].put_size, Some(6));
        assert_eq!(w[1].put_size, None);
    }
}
