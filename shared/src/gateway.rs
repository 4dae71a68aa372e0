//! API Gateway HTTP API (payload 2.0) events in and out.
//!
//! We take the typed event from `lambda_http`'s `aws_lambda_events` rather than its
//! `http::Request` adapter: that adapter panics on a raw query that is not a valid URI,
//! and the webhook must also take EventBridge events on the same function.

use base64::Engine;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::aws_lambda_events::encodings::Body;
use lambda_http::http::{HeaderMap, HeaderValue, header::HeaderName};

pub use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest as GatewayEvent;

#[derive(Debug)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    /// The request's cookies, `name=value` each: API Gateway (payload 2.0) passes them in
    /// the event's `cookies`, not in a `cookie` header.
    pub cookies: Vec<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request body is marked base64 but is not")]
pub struct BadBody;

/// An invocation payload that does not read as an HTTP request.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    /// Not an HTTP API event: a header value with a control character, a method that is not
    /// an HTTP token, a body that is not a string... Typed deserialization refuses the whole
    /// event, which `lambda_runtime` would report as an invocation error (a `500`).
    #[error("the request is not a valid HTTP request")]
    Event,
    #[error(transparent)]
    Body(#[from] BadBody),
    /// The body is over the route's cap (answered `413`): it is not decoded.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
}

/// The cap of the `oauth` function's bodies: its only bodies are small forms (a
/// confirmation token, the console's settings), so anything larger is refused unread.
pub const FORM_MAX_BODY: usize = 16 * 1024;

impl HttpRequest {
    /// Reads an invocation payload as an HTTP API (2.0) request whose body is at most
    /// `max_body` bytes. Functions take the payload as JSON and call this, so that a malformed
    /// event is answered `400` like any other bad request rather than failing the invocation.
    pub fn from_json(payload: serde_json::Value, max_body: usize) -> Result<Self, BadRequest> {
        let event: ApiGatewayV2httpRequest = serde_json::from_value(payload).map_err(|_| BadRequest::Event)?;
        Self::from_event(event, max_body)
    }

    pub fn from_event(ev: ApiGatewayV2httpRequest, max_body: usize) -> Result<Self, BadRequest> {
        let too_large = BadRequest::TooLarge(max_body);
        let body = match ev.body {
            None => Vec::new(),
            Some(b) if ev.is_base64_encoded => {
                // Measured before decoding: four characters are three bytes (less padding).
                if b.len() / 4 * 3 > max_body + 2 {
                    return Err(too_large);
                }
                base64::engine::general_purpose::STANDARD.decode(b.as_bytes()).map_err(|_| BadBody)?
            }
            Some(b) => b.into_bytes(),
        };
        if body.len() > max_body {
            return Err(too_large);
        }
        Ok(Self {
            method: ev.request_context.http.method.as_str().to_owned(),
            path: ev.raw_path.unwrap_or_default(),
            raw_query: ev.raw_query_string.unwrap_or_default(),
            headers: ev.headers,
            cookies: ev.cookies.unwrap_or_default(),
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of the cookie `name` (a browser may send one name twice, e.g. set for two
    /// paths). A `cookie` header is read too, for callers that are not API Gateway.
    pub fn cookie(&self, name: &str) -> Vec<&str> {
        let from_header = self.headers.get_all("cookie").iter().filter_map(|v| v.to_str().ok());
        self.cookies
            .iter()
            .map(String::as_str)
            .chain(from_header.flat_map(|h| h.split(';')))
            .filter_map(|c| c.trim().split_once('='))
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// The media type of the body, lowercased, without parameters.
    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase()
    }
}

/// Two years, sub-domains too (the `Strict-Transport-Security` every answer carries).
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// `Set-Cookie` values: API Gateway (payload 2.0) takes them in the response's `cookies`.
    pub cookies: Vec<String>,
    pub body: String,
}

impl HttpResponse {
    pub fn new(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            cookies: Vec::new(),
            body: body.into(),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(status, "application/json", value.to_string())
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn with_cookie(mut self, set_cookie: impl Into<String>) -> Self {
        self.cookies.push(set_cookie.into());
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn into_event(self) -> ApiGatewayV2httpResponse {
        let mut headers = HeaderMap::new();
        // Every answer, pages first: browsers that once reached us over HTTPS never try plain HTTP.
        headers.insert(HeaderName::from_static("strict-transport-security"), HeaderValue::from_static(HSTS));
        for (name, value) in self.headers {
            // Values we build are ASCII; one that is not is dropped rather than panicking.
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.append(HeaderName::from_static(name), v);
            }
        }
        let mut out = ApiGatewayV2httpResponse::default();
        out.status_code = i64::from(self.status);
        out.headers = headers;
        out.cookies = self.cookies;
        out.body = Some(Body::Text(self.body));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(headers: serde_json::Value, method: &str) -> serde_json::Value {
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/webhooks/tapd", "rawQueryString": "a=%%",
            "headers": headers, "isBase64Encoded": false, "body": "{}",
            "requestContext": { "http": { "method": method, "path": "/webhooks/tapd" } },
        })
    }

    #[test]
    fn events_typed_deserialization_refuses_are_bad_requests_not_errors() {
        let ok = HttpRequest::from_json(event(json!({"content-type": "application/json"}), "POST"), 10).unwrap();
        assert_eq!(
            (ok.method.as_str(), ok.content_type().as_str(), ok.raw_query.as_str()),
            ("POST", "application/json", "a=%%")
        );
        // Found by the bad-input suite: each of these failed the invocation (a 500).
        for bad in [
            event(json!({"x-evil": "a\u{1}b"}), "POST"),
            event(json!({"bad header": "1"}), "POST"),
            event(json!({"content-type": {"nested": true}}), "POST"),
            event(json!({}), "PO ST"),
            json!(null),
            json!([1]),
        ] {
            assert_eq!(HttpRequest::from_json(bad.clone(), 10).unwrap_err(), BadRequest::Event, "{bad}");
        }
        let mut with_cookies = event(json!({"cookie": "c=3"}), "GET");
        with_cookies["cookies"] = json!(["a=1", "b=x=y", "a=2"]);
        let req = HttpRequest::from_json(with_cookies, 10).unwrap();
        assert_eq!(req.cookie("a"), ["1", "2"]);
        assert_eq!(req.cookie("b"), ["x=y"]);
        assert_eq!(req.cookie("c"), ["3"]);
        assert!(req.cookie("d").is_empty());
        let out = HttpResponse::new(200, "text/plain", "").with_cookie("a=1; Secure").into_event();
        assert_eq!(out.cookies, ["a=1; Secure"]);
        assert!(out.headers.get("set-cookie").is_none());
        assert_eq!(out.headers["strict-transport-security"], "max-age=63072000; includeSubDomains");

        let mut b64 = event(json!({}), "POST");
        b64["isBase64Encoded"] = json!(true);
        b64["body"] = json!("%%%");
        assert_eq!(HttpRequest::from_json(b64, 10).unwrap_err(), BadRequest::Body(BadBody));
    }

    #[test]
    fn bodies_over_the_cap_are_refused_before_they_are_decoded() {
        let with = |body: &str, b64: bool| {
            let mut e = event(json!({}), "POST");
            e["body"] = json!(body);
            e["isBase64Encoded"] = json!(b64);
            e
        };
        assert_eq!(HttpRequest::from_json(with("12345", false), 5).unwrap().body, b"12345");
        assert_eq!(HttpRequest::from_json(with("123456", false), 5).unwrap_err(), BadRequest::TooLarge(5));
        let enc = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![b'x'; n]);
        for n in [4, 5, 6] {
            assert_eq!(HttpRequest::from_json(with(&enc(n), true), 6).unwrap().body.len(), n, "{n}");
        }
        assert_eq!(HttpRequest::from_json(with(&enc(7), true), 6).unwrap_err(), BadRequest::TooLarge(6));
        // Far too long to be decoded at all, and not base64 either: the size answers first.
        assert_eq!(HttpRequest::from_json(with(&"%".repeat(400), true), 6).unwrap_err(), BadRequest::TooLarge(6));
    }
}
