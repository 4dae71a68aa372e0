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
    pub body: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request body is marked base64 but is not")]
pub struct BadBody;

impl HttpRequest {
    pub fn from_event(ev: ApiGatewayV2httpRequest) -> Result<Self, BadBody> {
        let body = match ev.body {
            None => Vec::new(),
            Some(b) if ev.is_base64_encoded => {
                base64::engine::general_purpose::STANDARD.decode(b.as_bytes()).map_err(|_| BadBody)?
            }
            Some(b) => b.into_bytes(),
        };
        Ok(Self {
            method: ev.request_context.http.method.as_str().to_owned(),
            path: ev.raw_path.unwrap_or_default(),
            raw_query: ev.raw_query_string.unwrap_or_default(),
            headers: ev.headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type of the body, lowercased, without parameters.
    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn new(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self { status, headers: vec![("content-type", content_type.to_owned())], body: body.into() }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(status, "application/json", value.to_string())
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn into_event(self) -> ApiGatewayV2httpResponse {
        let mut headers = HeaderMap::new();
        for (name, value) in self.headers {
            // Values we build are ASCII; one that is not is dropped rather than panicking.
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.append(HeaderName::from_static(name), v);
            }
        }
        let mut out = ApiGatewayV2httpResponse::default();
        out.status_code = i64::from(self.status);
        out.headers = headers;
        out.body = Some(Body::Text(self.body));
        out
    }
}
