//! API Gateway HTTP API payload 2.0 events (the shape Lambda function URLs send),
//! their responses, and EventBridge's scheduled event.

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use serde_json::{Map, Value, json};

use crate::lambda::{ACCOUNT_ID, Invocation, REGION};

/// The API id in the events' `requestContext` and `host` header.
pub const API_ID: &str = "harness000";
/// The `host` header and `requestContext.domainName` of the events.
pub const DOMAIN: &str = "harness000.execute-api.us-east-1.amazonaws.com";
/// The client address of the events (`sourceIp`, `x-forwarded-for`).
pub const SOURCE_IP: &str = "203.0.113.7";
/// The default `user-agent` of the events.
pub const USER_AGENT: &str = "harness/1.0";

/// An HTTP request to turn into a payload 2.0 event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The raw (still percent-encoded) path, without the query.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names are lowercased by [`Request::header`]. A `cookie` header goes to the
    /// event's `cookies` (as API Gateway does).
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Whether the body is sent base64-encoded (`isBase64Encoded`). [`Request::post`]
    /// sets it as API Gateway does: false for text types (`text/*`, JSON, XML,
    /// JavaScript, YAML), true for anything else, `application/x-www-form-urlencoded`
    /// included. A body that is not UTF-8 is always sent base64-encoded.
    pub base64: bool,
}

fn split_path_query(path_and_query: &str) -> (String, String) {
    match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (path_and_query.to_string(), String::new()),
    }
}

/// Whether API Gateway passes a body of this content type as text (not base64).
pub fn is_text_content_type(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || ["application/json", "application/xml", "application/javascript", "application/yaml", "application/x-yaml"]
            .contains(&mime.as_str())
}

impl Request {
    /// A request with any method; `path_and_query` may carry `?query`.
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = split_path_query(path_and_query);
        Request { method: method.to_ascii_uppercase(), path, query, headers: Vec::new(), body: None, base64: false }
    }

    /// `GET path?query`.
    pub fn get(path_and_query: &str) -> Self {
        Self::new("GET", path_and_query)
    }

    /// `POST path` with a `content-type` header and a body. `path` may carry `?query`.
    pub fn post(path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        let mut req = Self::new("POST", path).header("content-type", content_type);
        req.base64 = !is_text_content_type(content_type);
        req.body = Some(body.into());
        req
    }

    /// `POST path` with a JSON body.
    pub fn post_json(path: &str, body: &Value) -> Self {
        Self::post(path, "application/json", body.to_string())
    }

    /// `POST path` with an `application/x-www-form-urlencoded` body (base64-encoded in
    /// the event, as API Gateway sends it).
    pub fn post_form(path: &str, fields: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        Self::post(path, "application/x-www-form-urlencoded", body)
    }

    /// Adds a header (the name is lowercased). Repeating a name adds a value (joined
    /// with commas in the event); a name the event has by default (`host`,
    /// `user-agent`, `x-forwarded-*`, ...) replaces the default.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The request as another browser sends it: without the cookies of the flow it continues.
    pub fn from_another_browser(self) -> Self {
        self.header("cookie", "")
    }

    /// Sets whether the body is sent base64-encoded.
    pub fn base64(mut self, base64: bool) -> Self {
        self.base64 = base64;
        self
    }

    /// The API Gateway HTTP API payload 2.0 event for this request.
    pub fn to_event(&self) -> Value {
        let now = crate::now();
        let epoch_ms = now.as_millis() as u64;
        let (y, mo, d, h, mi, s) = crate::utc(now.as_secs());
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let time = format!("{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000", MONTHS[(mo - 1) as usize]);

        // Headers: defaults, then the request's own (replacing defaults, joining repeats).
        let mut headers: Vec<(String, String)> = vec![
            ("accept".into(), "*/*".into()),
            ("host".into(), DOMAIN.into()),
            ("user-agent".into(), USER_AGENT.into()),
            ("x-amzn-trace-id".into(), format!("Root=1-{:08x}-{}", now.as_secs(), crate::random_hex(12))),
            ("x-forwarded-for".into(), SOURCE_IP.into()),
            ("x-forwarded-port".into(), "443".into()),
            ("x-forwarded-proto".into(), "https".into()),
        ];
        if let Some(body) = &self.body {
            headers.push(("content-length".into(), body.len().to_string()));
        }
        if browser::enabled() {
            // The harness plays a browser that prefers English (tests read English pages
            // unless they ask otherwise).
            headers.push(("accept-language".into(), "en-US,en;q=0.9".into()));
        }
        let mut cookies: Vec<String> = Vec::new();
        if !self.headers.iter().any(|(n, _)| n == "cookie")
            && let Some(c) = browser::cookie_for(self)
        {
            cookies.push(c);
        }
        let mut given: Vec<&str> = Vec::new();
        for (name, value) in &self.headers {
            if name == "cookie" {
                cookies.extend(value.split(';').map(str::trim).filter(|c| !c.is_empty()).map(String::from));
                continue;
            }
            if given.contains(&name.as_str()) {
                let slot = headers.iter_mut().find(|(n, _)| n == name).unwrap();
                slot.1 = format!("{},{}", slot.1, value);
            } else {
                given.push(name);
                headers.retain(|(n, _)| n != name);
                headers.push((name.clone(), value.clone()));
            }
        }
        let user_agent = headers.iter().find(|(n, _)| n == "user-agent").map(|(_, v)| v.clone()).unwrap_or_default();
        let header_map: Map<String, Value> = headers.into_iter().map(|(n, v)| (n, Value::String(v))).collect();

        let mut event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": header_map,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": API_ID,
                "domainName": DOMAIN,
                "domainPrefix": API_ID,
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": SOURCE_IP,
                    "userAgent": user_agent,
                },
                "requestId": format!("{}=", &crate::random_hex(7)),
                "routeKey": "$default",
                "stage": "$default",
                "time": time,
                "timeEpoch": epoch_ms,
            },
            "isBase64Encoded": false,
        });
        if !cookies.is_empty() {
            event["cookies"] = json!(cookies);
        }
        if !self.query.is_empty() {
            event["queryStringParameters"] = Value::Object(query_parameters(&self.query));
        }
        if let Some(body) = &self.body {
            match std::str::from_utf8(body) {
                Ok(text) if !self.base64 => event["body"] = json!(text),
                _ => {
                    event["body"] = json!(B64.encode(body));
                    event["isBase64Encoded"] = json!(true);
                }
            }
        }
        event
    }
}

/// `queryStringParameters` of a raw query string: decoded, repeated keys joined with commas.
pub fn query_parameters(raw_query: &str) -> Map<String, Value> {
    let mut params: Map<String, Value> = Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        match params.get_mut(k.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    params
}

/// The browser the harness plays, when a [`crate::stack::Stack`] turns it on: it keeps the
/// cookie each answer sets, and sends it back with the requests that continue that answer's
/// flow: a callback carrying the `state` of a redirect, a form post carrying the `token` of
/// a page. Suites that walk the connect flow with [`Request`]s and
/// [`crate::stack::callback`] thus get the cookie a real browser would send. A request with
/// its own `cookie` header (even empty: [`Request::from_another_browser`]) is sent as it is.
/// Flows are told apart by their random states, so concurrent flows in one process never
/// mix. Off in devstack: there a real browser sends its own cookies.
pub mod browser {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::{Request, Response};

    static ENABLED: AtomicBool = AtomicBool::new(false);
    /// `state` or form `token` → the `name=value` cookie of the browser that holds it.
    static JAR: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

    pub fn enable() {
        ENABLED.store(true, Ordering::SeqCst);
    }

    pub fn enabled() -> bool {
        ENABLED.load(Ordering::SeqCst)
    }

    /// `name=value` of the first cookie an answer sets (not one it clears).
    pub fn set_cookie(response: &Response) -> Option<String> {
        response.header_all("set-cookie").into_iter().find_map(|c| {
            let pair = c.split(';').next()?.trim();
            let cleared = c.to_ascii_lowercase().contains("max-age=0") || pair.ends_with('=');
            (!cleared).then(|| pair.to_owned())
        })
    }

    /// The `token` of a page's form (`<input type="hidden" name="token" value="...">`).
    pub fn form_token(html: &str) -> Option<String> {
        let at = html.find("name=\"token\"")?;
        let rest = &html[at..];
        let v = rest.find("value=\"")? + 7;
        let end = rest[v..].find('"')?;
        Some(rest[v..v + end].to_owned())
    }

    pub(super) fn remember(response: &Response) {
        if !enabled() {
            return;
        }
        let Some(cookie) = set_cookie(response) else { return };
        let mut keys = Vec::new();
        if let Some(url) = response.location_url()
            && let Some((_, state)) = url.query_pairs().find(|(k, _)| k == "state")
        {
            keys.push(state.into_owned());
        }
        keys.extend(form_token(&response.body));
        let mut jar = JAR.lock().unwrap();
        let jar = jar.get_or_insert_with(HashMap::new);
        for k in keys {
            jar.insert(k, cookie.clone());
        }
    }

    pub(super) fn cookie_for(request: &Request) -> Option<String> {
        if !enabled() {
            return None;
        }
        let from_query = url::form_urlencoded::parse(request.query.as_bytes())
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned());
        let from_form = request
            .body
            .as_deref()
            .and_then(|b| url::form_urlencoded::parse(b).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()));
        let jar = JAR.lock().unwrap();
        let jar = jar.as_ref()?;
        from_query.into_iter().chain(from_form).find_map(|k| jar.get(&k).cloned())
    }
}

/// A function's HTTP answer, as API Gateway would send it to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Lowercased names; `cookies` of the answer appear as `set-cookie` headers.
    pub headers: Vec<(String, String)>,
    /// The body, base64-decoded if `isBase64Encoded` (lossily as UTF-8).
    pub body: String,
}

impl Response {
    /// The HTTP answer of an invocation; `None` unless it was `Invocation::Response`.
    pub fn from_invocation(invocation: &Invocation) -> Option<Response> {
        invocation.response().map(Self::from_value)
    }

    /// Interprets a function's response payload. Handles both `headers` (string values)
    /// and `multiValueHeaders` (arrays) and `cookies`. A payload without `statusCode`
    /// is, as function URLs do, a `200` with the payload as its JSON body.
    pub fn from_value(value: &Value) -> Response {
        let response = Self::read(value);
        browser::remember(&response);
        response
    }

    fn read(value: &Value) -> Response {
        let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
            return Response {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: value.to_string(),
            };
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(multi) = value.get("multiValueHeaders").and_then(Value::as_object) {
            for (name, values) in multi {
                let values = match values {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                for v in values {
                    headers.push((name.to_ascii_lowercase(), value_string(&v)));
                }
            }
        }
        if let Some(single) = value.get("headers").and_then(Value::as_object) {
            for (name, v) in single {
                let name = name.to_ascii_lowercase();
                if !headers.iter().any(|(n, _)| *n == name) {
                    headers.push((name, value_string(v)));
                }
            }
        }
        if let Some(cookies) = value.get("cookies").and_then(Value::as_array) {
            for c in cookies {
                headers.push(("set-cookie".into(), value_string(c)));
            }
        }
        let raw = match value.get("body") {
            None | Some(Value::Null) => String::new(),
            Some(b) => value_string(b),
        };
        let body = if value.get("isBase64Encoded") == Some(&Value::Bool(true)) {
            match B64.decode(raw.as_bytes()) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => raw,
            }
        } else {
            raw
        };
        Response { status: status as u16, headers, body }
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header (case-insensitive name), e.g. each `set-cookie`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// The `location` header as an absolute URL.
    pub fn location_url(&self) -> Option<url::Url> {
        url::Url::parse(self.header("location")?).ok()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

impl crate::Function {
    /// Invokes the function with `request`'s event and returns its HTTP answer;
    /// panics, showing the function's last log lines, if it did not answer with one.
    /// The future does not borrow `request`.
    pub fn http<'a>(&'a self, request: &Request) -> impl Future<Output = Response> + Send + use<'a> {
        let event = request.to_event();
        let what = format!("{} {}", request.method, request.path);
        async move {
            let invocation = self.invoke(event).await;
            Response::from_invocation(&invocation).unwrap_or_else(|| {
                let logs = self.logs();
                let tail = &logs[logs.len().saturating_sub(30)..];
                panic!(
                    "{what}: no HTTP response but {invocation:?}; the function's last log lines:\n{}",
                    tail.join("\n")
                )
            })
        }
    }
}

fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An EventBridge "Scheduled Event", as a `rate(...)` schedule delivers it.
pub fn scheduled_event() -> Value {
    let (y, mo, d, h, mi, s) = crate::utc(crate::now().as_secs());
    json!({
        "version": "0",
        "id": crate::uuid(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/tapd-webhook-retry")],
        "detail": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        // The shape of aws_lambda_events' example-apigw-v2-request-no-authorizer.json.
        serde_json::from_str(include_str!("../testdata/apigw-v2-request.json")).unwrap()
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn get_event_has_the_payload_2_0_shape() {
        let ev = Request::get("/oauth/tapd/callback?code=abc&state=s%20t&x=1&x=2").to_event();
        let fx = fixture();
        for k in keys(&fx) {
            assert!(ev.get(&k).is_some(), "missing top-level {k}");
        }
        for k in ["accountId", "apiId", "http", "requestId", "routeKey", "stage", "time", "timeEpoch"] {
            assert!(ev["requestContext"].get(k).is_some(), "missing requestContext.{k}");
        }
        assert_eq!(ev["version"], "2.0");
        assert_eq!(ev["routeKey"], "$default");
        assert_eq!(ev["rawPath"], "/oauth/tapd/callback");
        assert_eq!(ev["rawQueryString"], "code=abc&state=s%20t&x=1&x=2");
        assert_eq!(ev["queryStringParameters"], json!({"code": "abc", "state": "s t", "x": "1,2"}));
        assert_eq!(ev["requestContext"]["http"]["method"], "GET");
        assert_eq!(ev["requestContext"]["http"]["path"], "/oauth/tapd/callback");
        assert_eq!(ev["requestContext"]["http"]["sourceIp"], SOURCE_IP);
        assert_eq!(ev["isBase64Encoded"], false);
        assert!(ev.get("body").is_none());
        assert!(ev["requestContext"]["timeEpoch"].as_u64().unwrap() > 1_600_000_000_000);
        let time = ev["requestContext"]["time"].as_str().unwrap();
        assert_eq!(time.len(), fx["requestContext"]["time"].as_str().unwrap().len());
    }

    #[test]
    fn no_query_means_no_query_parameters() {
        let ev = Request::get("/oauth/tapd/start").to_event();
        assert_eq!(ev["rawQueryString"], "");
        assert!(ev.get("queryStringParameters").is_none());
    }

    #[test]
    fn json_post_is_plain_and_form_post_is_base64() {
        let ev = Request::post_json("/webhooks/tapd", &json!({"a": 1})).to_event();
        assert_eq!(ev["isBase64Encoded"], false);
        assert_eq!(ev["body"], r#"{"a":1}"#);
        assert_eq!(ev["headers"]["content-type"], "application/json");
        assert_eq!(ev["headers"]["content-length"], "7");
        assert_eq!(ev["requestContext"]["http"]["method"], "POST");

        let ev = Request::post_form("/webhooks/tapd", &[("secret", "s&1"), ("event", "story::create")]).to_event();
        assert_eq!(ev["isBase64Encoded"], true);
        let body = B64.decode(ev["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, b"secret=s%261&event=story%3A%3Acreate");

        let ev = Request::post_form("/w", &[("a", "b")]).base64(false).to_event();
        assert_eq!(ev["body"], "a=b");
        let ev = Request::post("/w", "text/plain", vec![0xff, 0x00]).to_event();
        assert_eq!(ev["isBase64Encoded"], true);
    }

    #[test]
    fn headers_are_lowercased_joined_and_cookies_split() {
        let ev = Request::get("/")
            .header("X-Thing", "a")
            .header("x-thing", "b")
            .header("User-Agent", "Mozilla/5.0")
            .header("Cookie", "a=1; b=2")
            .to_event();
        assert_eq!(ev["headers"]["x-thing"], "a,b");
        assert_eq!(ev["headers"]["user-agent"], "Mozilla/5.0");
        assert_eq!(ev["requestContext"]["http"]["userAgent"], "Mozilla/5.0");
        assert!(ev["headers"].get("cookie").is_none());
        assert_eq!(ev["cookies"], json!(["a=1", "b=2"]));
    }

    #[test]
    fn event_round_trips_through_lambda_http() {
        use lambda_http::{RequestExt, RequestPayloadExt};
        let ev = Request::post_form("/webhooks/tapd?x=1&x=2", &[("secret", "s"), ("title", "a b")])
            .header("X-Tapd", "1")
            .to_event();
        let req = lambda_http::request::from_str(&ev.to_string()).expect("lambda_http parses it");
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri().path(), "/webhooks/tapd");
        assert_eq!(req.uri().query(), Some("x=1&x=2"));
        assert_eq!(req.uri().host(), Some(DOMAIN));
        assert_eq!(req.headers()["x-tapd"], "1");
        assert_eq!(req.headers()["content-type"], "application/x-www-form-urlencoded");
        assert_eq!(req.query_string_parameters().all("x"), Some(vec!["1", "2"]));
        assert_eq!(req.body().as_ref(), b"secret=s&title=a+b");
        #[derive(serde::Deserialize)]
        struct Form {
            secret: String,
            title: String,
        }
        let form: Form = req.payload().unwrap().unwrap();
        assert_eq!((form.secret.as_str(), form.title.as_str()), ("s", "a b"));

        // The AWS sample event itself parses the same way, so the two agree in shape.
        let fx = lambda_http::request::from_str(&fixture().to_string()).unwrap();
        assert_eq!(fx.uri().path(), "/");
    }

    #[test]
    fn response_from_lambda_http_payload() {
        let inv = Invocation::Response(json!({
            "statusCode": 302,
            "headers": {"Location": "https://www.tapd.cn/oauth/?state=x&client_id=c", "cache-control": "no-store"},
            "multiValueHeaders": {},
            "cookies": ["sid=1; HttpOnly"],
            "isBase64Encoded": false,
        }));
        let r = Response::from_invocation(&inv).unwrap();
        assert_eq!(r.status, 302);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("set-cookie"), Some("sid=1; HttpOnly"));
        assert_eq!(r.body, "");
        let url = r.location_url().unwrap();
        assert_eq!(url.host_str(), Some("www.tapd.cn"));
        assert!(url.query_pairs().any(|(k, v)| k == "state" && v == "x"));
    }

    #[test]
    fn response_multi_value_headers_and_base64_body() {
        let r = Response::from_value(&json!({
            "statusCode": 200,
            "headers": {"content-type": "text/html"},
            "multiValueHeaders": {"Content-Type": ["text/html"], "x-a": ["1", "2"]},
            "body": B64.encode("<p>connected</p>"),
            "isBase64Encoded": true,
        }));
        assert_eq!(r.status, 200);
        assert_eq!(r.header_all("content-type"), vec!["text/html"]);
        assert_eq!(r.header_all("x-a"), vec!["1", "2"]);
        assert_eq!(r.body, "<p>connected</p>");
        assert!(r.location_url().is_none());
    }

    #[test]
    fn response_without_status_code_is_a_json_200() {
        let r = Response::from_value(&json!({"ok": true}));
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), Some(json!({"ok": true})));
        assert!(Response::from_invocation(&Invocation::Crashed).is_none());
        assert!(Response::from_invocation(&Invocation::Error(json!({}))).is_none());
    }

    #[test]
    fn scheduled_event_shape() {
        let ev = scheduled_event();
        assert_eq!(ev["source"], "aws.events");
        assert_eq!(ev["detail-type"], "Scheduled Event");
        assert_eq!(ev["detail"], json!({}));
        let time = ev["time"].as_str().unwrap();
        assert_eq!(time.len(), "2015-10-08T16:53:06Z".len());
        assert!(time.ends_with('Z'));
        assert!(ev["resources"][0].as_str().unwrap().starts_with("arn:aws:events:"));
    }
}
