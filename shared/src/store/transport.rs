//! The DynamoDB client's configuration, and its HTTP transport: the project's one HTTP stack
//! (reqwest, rustls with compiled-in roots), instead of the SDK's own hyper-rustls client, which
//! loads the platform's certificate store on its first request and brings a second TLS stack
//! into the binary.
//!
//! DynamoDB requests and replies are small JSON documents: bodies are buffered. Transport
//! failures are classified as the SDK's retry strategy expects (timeouts and I/O errors are
//! retried).

use aws_sdk_dynamodb::config::{HttpClient, RuntimeComponents};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// What every AWS client of the functions takes from the environment, as the SDK's own
/// loader would on Lambda (region, the role's keys, `AWS_ENDPOINT_URL_<SERVICE>` or
/// `AWS_ENDPOINT_URL` unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`), without aws-config's
/// credential chain in the binary.
struct AwsEnv {
    region: Option<aws_sdk_dynamodb::config::Region>,
    credentials: Option<aws_sdk_dynamodb::config::Credentials>,
    endpoint: Option<String>,
}

impl AwsEnv {
    fn read(var: impl Fn(&str) -> Option<String>, service: &str) -> AwsEnv {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).map(aws_sdk_dynamodb::config::Region::new);
        // Without keys the first call fails (and says so), as the default chain would on Lambda.
        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some(aws_sdk_dynamodb::config::Credentials::new(
                id,
                secret,
                var("AWS_SESSION_TOKEN"),
                None,
                "Environment",
            )),
            _ => None,
        };
        let ignore = var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let endpoint =
            if ignore { None } else { var(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| var("AWS_ENDPOINT_URL")) };
        AwsEnv { region, credentials, endpoint }
    }
}

/// The client configuration for an environment (`var` looks a variable up).
pub(super) fn config(var: impl Fn(&str) -> Option<String>) -> aws_sdk_dynamodb::Config {
    use aws_sdk_dynamodb::config::{BehaviorVersion, SharedCredentialsProvider};
    let env = AwsEnv::read(var, "DYNAMODB");
    let mut cfg = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(Reqwest::new(crate::upstream::aws_http_client()));
    cfg.set_region(env.region);
    cfg.set_credentials_provider(env.credentials.map(SharedCredentialsProvider::new));
    cfg.set_endpoint_url(env.endpoint);
    cfg.build()
}

/// The SES v2 client's configuration, the same way: its region is `NOTIFY_EMAIL_REGION` when
/// set (SES is not offered in every region the functions may run in), else the function's.
pub(crate) fn ses_config(var: impl Fn(&str) -> Option<String>) -> aws_sdk_sesv2::Config {
    use aws_sdk_sesv2::config::{BehaviorVersion, SharedCredentialsProvider};
    let region = var("NOTIFY_EMAIL_REGION").filter(|v| !v.is_empty()).map(aws_sdk_dynamodb::config::Region::new);
    let env = AwsEnv::read(var, "SESV2");
    let mut cfg = aws_sdk_sesv2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(Reqwest::new(crate::upstream::aws_http_client()));
    cfg.set_region(region.or(env.region));
    cfg.set_credentials_provider(env.credentials.map(SharedCredentialsProvider::new));
    cfg.set_endpoint_url(env.endpoint);
    cfg.build()
}

#[derive(Debug, Clone)]
pub(crate) struct Reqwest {
    http: reqwest::Client,
}

impl Reqwest {
    pub(super) fn new(http: reqwest::Client) -> Self {
        Self { http }
    }
}

impl HttpClient for Reqwest {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // Timeouts are the reqwest client's; the SDK's operation timeouts still apply on top.
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for Reqwest {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let method = match reqwest::Method::from_bytes(request.method().as_bytes()) {
            Ok(m) => m,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let mut out = self.http.request(method, request.uri());
        for (name, value) in request.headers() {
            out = out.header(name, value);
        }
        let Some(body) = request.body().bytes() else {
            return HttpConnectorFuture::ready(Err(ConnectorError::user(
                "streaming request bodies are not supported".into(),
            )));
        };
        let out = out.body(body.to_vec());
        HttpConnectorFuture::new(async move {
            let resp = out.send().await.map_err(classify)?;
            let status =
                StatusCode::try_from(resp.status().as_u16()).map_err(|e| ConnectorError::other(e.into(), None))?;
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.map_err(classify)?;
            let mut answer = HttpResponse::new(status, SdkBody::from(bytes));
            for (name, value) in &headers {
                answer.headers_mut().append(name.clone(), value.clone());
            }
            Ok(answer)
        })
    }
}

fn classify(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn the_region_comes_from_the_lambda_environment() {
        let cfg = config(env(&[("AWS_REGION", "ap-guangzhou-1"), ("AWS_DEFAULT_REGION", "us-east-1")]));
        assert_eq!(cfg.region().map(|r| r.as_ref()), Some("ap-guangzhou-1"));
        let cfg = config(env(&[
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]));
        assert_eq!(cfg.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(cfg.http_client().is_some());
        // The keys are checked where they matter: on the wire (signed requests, below).
    }

    /// One HTTP exchange on a local socket: returns the request head it read.
    fn serve_once(listener: TcpListener, status: &str, body: &'static str) -> std::thread::JoinHandle<String> {
        let status = status.to_owned();
        std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut request_body = vec![0; length];
            reader.read_exact(&mut request_body).unwrap();
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(reply.as_bytes()).unwrap();
            head
        })
    }

    #[tokio::test]
    async fn requests_go_to_the_endpoint_override_signed_with_the_environment_keys() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = serve_once(listener, "200 OK", r#"{"TableNames":["links"]}"#);
        let cfg = config(env(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &url),
        ]));
        let out = aws_sdk_dynamodb::Client::from_conf(cfg).list_tables().send().await.unwrap();
        assert_eq!(out.table_names(), ["links"]);
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(head.starts_with("post / http/1.1"), "{head}");
        assert!(head.contains("x-amz-target: dynamodb_20120810.listtables"), "{head}");
        assert!(head.contains("credential=akidexample/"), "{head}");
    }

    #[tokio::test]
    async fn service_errors_and_refused_connections_reach_the_sdk_as_such() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = serve_once(
            listener,
            "400 Bad Request",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"no table"}"#,
        );
        let keys = [("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")];
        let with_endpoint = |url: &str| {
            let mut pairs = keys.to_vec();
            pairs.push(("AWS_ENDPOINT_URL_DYNAMODB", url));
            aws_sdk_dynamodb::Client::from_conf(config(env(&pairs)))
        };
        let err = with_endpoint(&url).describe_table().table_name("t").send().await.unwrap_err();
        assert!(err.into_service_error().is_resource_not_found_exception());
        server.join().unwrap();

        // A closed port: an I/O error the SDK retries, then reports as a dispatch failure.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let err = with_endpoint(&url).list_tables().send().await.unwrap_err();
        match err {
            aws_sdk_dynamodb::error::SdkError::DispatchFailure(d) => assert!(d.is_io(), "{d:?}"),
            other => panic!("expected a dispatch failure, got {other:?}"),
        }
    }
}
