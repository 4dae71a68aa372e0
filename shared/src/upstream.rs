//! What can go wrong talking to TAPD or Tencent Docs, classified by what the caller should do.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Tapd,
    Tdoc,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::Tapd => "TAPD",
            Service::Tdoc => "Tencent Docs",
        })
    }
}

/// Error messages never carry tokens: request URLs are dropped (Tencent Docs puts the client
/// secret in token query strings) and bodies are quoted only through the provider's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made: the request never reached the provider, so retrying
    /// cannot make anything twice.
    #[error("{service} cannot be reached: {detail}")]
    Unreachable { service: Service, detail: String },
    /// Sent, but no usable answer (timeout, reset, 5xx): worth retrying, but the provider may
    /// have acted on it, so a call that creates something must not be repeated blindly.
    #[error("{service} is unavailable: {detail}")]
    Unavailable { service: Service, detail: String },
    #[error("{service} is rate limiting us")]
    RateLimited { service: Service },
    /// The token was refused (expired, revoked): refresh or re-issue, then retry once.
    #[error("{service} refused the access token")]
    Unauthorized { service: Service },
    /// The provider understood and said no (bad code, missing item, no permission).
    #[error("{service} refused the request: {detail}")]
    Refused { service: Service, status: u16, detail: String },
    #[error("{service} sent a malformed reply: {detail}")]
    Malformed { service: Service, detail: String },
}

impl UpstreamError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unreachable { .. }
                | UpstreamError::Unavailable { .. }
                | UpstreamError::RateLimited { .. }
                | UpstreamError::Malformed { .. }
        )
    }

    /// True when the provider may have acted on the request although we got no answer we
    /// could read: a timeout after sending, a reset, a `5xx`, a garbled success.
    pub fn may_have_acted(&self) -> bool {
        matches!(self, UpstreamError::Unavailable { .. } | UpstreamError::Malformed { .. })
    }

    pub fn service(&self) -> Service {
        match self {
            UpstreamError::Unreachable { service, .. }
            | UpstreamError::Unavailable { service, .. }
            | UpstreamError::RateLimited { service }
            | UpstreamError::Unauthorized { service }
            | UpstreamError::Refused { service, .. }
            | UpstreamError::Malformed { service, .. } => *service,
        }
    }
}

/// One HTTP client for the life of the process: its connection pool is what makes warm
/// invocations cheap. TLS is [`tls_config`]: nothing is read or parsed to build it.
/// Redirects are followed only within the origin the request was sent to ([`same_origin`]),
/// and no `Referer` is sent (token requests carry the client secret in their query).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .user_agent(concat!("tapd-tdoc-link/", env!("CARGO_PKG_VERSION")))
        .redirect(same_origin())
        .referer(false)
        .build()
        .expect("static reqwest configuration is valid")
}

/// The most same-origin redirects one request follows.
const MAX_REDIRECTS: usize = 5;

/// A redirect policy for API calls. reqwest drops `Authorization` on a cross-host redirect
/// but not Tencent Docs' `Access-Token`, `Client-Id` and `Open-Id`: a redirect to another
/// origin (scheme, host or port) is not followed; the caller gets the `3xx` itself, as it
/// does for a loop (a URL already visited) or a long chain. Same-origin hops (a trailing
/// slash added) are followed.
pub fn same_origin() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let previous = attempt.previous();
        let origin_ok = previous.first().is_some_and(|first| first.origin() == attempt.url().origin());
        if origin_ok && previous.len() <= MAX_REDIRECTS && !previous.contains(attempt.url()) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The DynamoDB client's transport: the SDK's default connect timeout (3.1 s) and no overall
/// timeout, so the SDK's own retry and timeout settings govern, as with its default client.
pub(crate) fn aws_http_client() -> reqwest::Client {
    builder().connect_timeout(Duration::from_millis(3100)).build().expect("static reqwest configuration is valid")
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(tls_config()).pool_idle_timeout(Duration::from_secs(60))
}

/// rustls with the `ring` provider and Mozilla's root certificates compiled in (webpki-roots),
/// built once per process and shared by every client. Unlike the platform verifier, it reads
/// no certificate file and parses no certificate: at init that was two full loads of
/// `/etc/ssl/certs` (one per HTTP stack).
pub fn tls_config() -> rustls::ClientConfig {
    static CONFIG: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config
        })
        .clone()
}

/// What a provider's replies say of our rate budget (TAPD's `X-RateLimit-Limit` and
/// `X-RateLimit-Remaining`, and when it last answered `429`), kept for the process's life:
/// the scheduled run sizes and slows its budget from it ([`crate::link::fair`]).
#[derive(Debug, Default)]
pub struct RateGauge {
    limit: AtomicU32,
    remaining: AtomicU32,
    /// When the headers were last seen, ms (0: never).
    seen_ms: AtomicU64,
    /// When a `429` was last answered, ms (0: never).
    limited_ms: AtomicU64,
}

/// What a [`RateGauge`] saw, read at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSeen {
    pub limit: Option<u32>,
    /// With when it was said, ms.
    pub remaining: Option<(u32, u64)>,
    pub limited_ms: Option<u64>,
}

impl RateGauge {
    pub fn observe(&self, status: u16, headers: &reqwest::header::HeaderMap) {
        let num =
            |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u32>().ok());
        let now = crate::time::now_millis();
        if let (Some(limit), Some(remaining)) = (num("x-ratelimit-limit"), num("x-ratelimit-remaining")) {
            self.limit.store(limit, Ordering::Relaxed);
            self.remaining.store(remaining, Ordering::Relaxed);
            self.seen_ms.store(now, Ordering::Relaxed);
        }
        if status == 429 {
            self.limited_ms.store(now, Ordering::Relaxed);
        }
    }

    pub fn seen(&self) -> RateSeen {
        let seen_ms = self.seen_ms.load(Ordering::Relaxed);
        let limited_ms = self.limited_ms.load(Ordering::Relaxed);
        RateSeen {
            limit: (seen_ms > 0).then(|| self.limit.load(Ordering::Relaxed)).filter(|&l| l > 0),
            remaining: (seen_ms > 0).then(|| (self.remaining.load(Ordering::Relaxed), seen_ms)),
            limited_ms: (limited_ms > 0).then_some(limited_ms),
        }
    }
}

/// Requests made to each provider, counted by [`metered`] for the work it wraps.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Used {
    pub tapd: u32,
    pub tdoc: u32,
}

tokio::task_local! {
    static METER: std::cell::Cell<Used>;
}

/// Runs `work`, counting the requests it sends to each provider (sent, whatever the reply:
/// a provider counts what reaches it). The scheduled run pays its budgets with these
/// counts rather than an estimate ([`crate::link::fair`]). Work it runs side by side in the
/// same task is counted; work spawned onto other tasks would not be (the link spawns none).
pub async fn metered<F: std::future::Future>(work: F) -> (F::Output, Used) {
    METER
        .scope(std::cell::Cell::new(Used::default()), async move {
            let out = work.await;
            (out, METER.with(|m| m.get()))
        })
        .await
}

fn count(service: Service) {
    let _ = METER.try_with(|m| {
        let mut u = m.get();
        match service {
            Service::Tapd => u.tapd += 1,
            Service::Tdoc => u.tdoc += 1,
        }
        m.set(u);
    });
}

/// [`send`], noting what the reply says of the rate budget in `gauge`.
pub(crate) async fn send_gauged(
    service: Service,
    req: reqwest::RequestBuilder,
    gauge: &RateGauge,
) -> Result<(u16, Vec<u8>), UpstreamError> {
    count(service);
    let resp = req.send().await.map_err(|e| transport(service, e))?;
    let status = resp.status().as_u16();
    gauge.observe(status, resp.headers());
    let body = resp.bytes().await.map_err(|e| transport(service, e))?;
    Ok((status, body.to_vec()))
}

/// A sent request's status and body, or the transport failure as an `UpstreamError`.
pub(crate) async fn send(service: Service, req: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), UpstreamError> {
    count(service);
    let resp = req.send().await.map_err(|e| transport(service, e))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| transport(service, e))?;
    Ok((status, body.to_vec()))
}

fn transport(service: Service, e: reqwest::Error) -> UpstreamError {
    let e = e.without_url();
    let detail = if e.is_timeout() { "timed out".to_owned() } else { e.to_string() };
    if e.is_connect() {
        // Connecting failed (refused, DNS, connect timeout): nothing was sent.
        UpstreamError::Unreachable { service, detail }
    } else {
        UpstreamError::Unavailable { service, detail }
    }
}

/// Decodes a JSON body into `T`, or says why not (without echoing the body).
pub(crate) fn decode<T: DeserializeOwned>(service: Service, body: &[u8]) -> Result<T, UpstreamError> {
    serde_json::from_slice(body)
        .map_err(|e| UpstreamError::Malformed { service, detail: format!("unexpected JSON ({})", e.classify_name()) })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// The first classification every reply gets, from its HTTP status alone.
pub(crate) fn by_status(service: Service, status: u16) -> Option<UpstreamError> {
    match status {
        429 => Some(UpstreamError::RateLimited { service }),
        401 => Some(UpstreamError::Unauthorized { service }),
        s if s >= 500 => Some(UpstreamError::Unavailable { service, detail: format!("HTTP {s}") }),
        _ => None,
    }
}

/// Provider messages are short human text; cap them so a hostile reply can't flood logs.
pub(crate) fn short(msg: &str) -> String {
    msg.chars().take(200).collect()
}

#[cfg(test)]
mod gauge_tests {
    use super::*;

    #[tokio::test]
    async fn metered_work_counts_what_it_sends_side_by_side_and_nothing_outside() {
        count(Service::Tapd);
        let work = async {
            let one = async { count(Service::Tapd) };
            let two = async {
                count(Service::Tdoc);
                count(Service::Tapd)
            };
            futures_util::future::join(one, two).await;
        };
        let ((), used) = metered(work).await;
        assert_eq!(used, Used { tapd: 2, tdoc: 1 });
        let ((), nested_outer) = metered(async {
            let ((), inner) = metered(async { count(Service::Tdoc) }).await;
            assert_eq!(inner, Used { tapd: 0, tdoc: 1 });
        })
        .await;
        // Each link is paid on its own: an inner meter's requests are not the outer's.
        assert_eq!(nested_outer, Used::default());
    }

    #[test]
    fn the_gauge_keeps_what_tapd_said_of_the_budget() {
        let g = RateGauge::default();
        assert_eq!(g.seen(), RateSeen { limit: None, remaining: None, limited_ms: None });
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("X-RateLimit-Limit", "1800".parse().unwrap());
        h.insert("X-RateLimit-Remaining", "1234".parse().unwrap());
        g.observe(200, &h);
        let seen = g.seen();
        assert_eq!(seen.limit, Some(1800));
        assert_eq!(seen.remaining.map(|r| r.0), Some(1234));
        assert_eq!(seen.limited_ms, None);
        // A 429 without headers keeps the last numbers and notes when.
        g.observe(429, &reqwest::header::HeaderMap::new());
        assert!(g.seen().limited_ms.is_some());
        assert_eq!(g.seen().limit, Some(1800));
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;

    #[test]
    fn one_tls_config_with_compiled_in_roots_for_every_client() {
        let config = tls_config();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(config.crypto_provider().cipher_suites.len() >= 3);
        // Both clients accept it as their rustls configuration (an unrecognized one fails to build).
        http_client(Duration::from_secs(1));
        aws_http_client();
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
    }
}
