//! A secret that follows a rotation in Secrets Manager (or Parameter Store) while the instance
//! stays warm (the apps' client secrets, TAPD's app webhook secret): re-read through the Parameters and Secrets Lambda Extension
//! when older than its TTL (`SECRETS_TTL`, default 5 minutes), and at once when the provider
//! refuses it (the caller retries with the fresh value: old and new both work meanwhile).
//! A secret given as a plain variable never changes.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::secret::Secret;
use crate::upstream::UpstreamError;

/// How long a value read from the extension is used before it is read again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Forced re-reads (a refusal) are at most this frequent: a stream of refused codes cannot
/// turn into a stream of extension calls.
const FORCED_EVERY: Duration = Duration::from_secs(10);

/// Where a secret is read again from.
#[derive(Debug, Clone)]
pub struct Source {
    pub arn: String,
    /// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`, `AWS_SESSION_TOKEN` as read at init.
    pub port: Option<String>,
    pub session_token: Option<String>,
    pub ttl: Duration,
}

struct State {
    value: Secret,
    read_at: Instant,
    forced_at: Option<Instant>,
}

/// Cheap to clone: clones share the value (the config's and the client's are the same).
#[derive(Clone)]
pub struct ClientSecret {
    source: Option<Arc<Source>>,
    state: Arc<RwLock<State>>,
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecret").field("arn", &self.source.as_ref().map(|s| s.arn.as_str())).finish()
    }
}

impl ClientSecret {
    /// A secret that never changes (a plain variable).
    pub fn fixed(value: Secret) -> Self {
        Self::new(value, None)
    }

    /// `value`, read now from `source` (or fixed without one).
    pub fn new(value: Secret, source: Option<Source>) -> Self {
        let state = State { value, read_at: Instant::now(), forced_at: None };
        Self { source: source.map(Arc::new), state: Arc::new(RwLock::new(state)) }
    }

    /// The value in use now. A `String`: the value may change under a reader.
    pub fn expose(&self) -> String {
        self.read().value.expose().to_owned()
    }

    /// The value in use now, as a [`Secret`].
    pub fn current(&self) -> Secret {
        self.read().value.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the secret again when its value is older than the TTL; a failed read keeps the
    /// value in use (logged, tried again on the next call).
    pub async fn refresh_if_stale(&self) {
        let Some(source) = &self.source else { return };
        if self.read().read_at.elapsed() < source.ttl {
            return;
        }
        self.fetch(source).await;
    }

    /// Reads the secret again now, after the provider refused it; `true` when the value
    /// changed (worth retrying with). At most once per [`FORCED_EVERY`].
    pub async fn reread(&self) -> bool {
        let Some(source) = &self.source else { return false };
        {
            let mut st = self.write();
            if st.forced_at.is_some_and(|at| at.elapsed() < FORCED_EVERY) {
                return false;
            }
            st.forced_at = Some(Instant::now());
        }
        self.fetch(source).await
    }

    /// `true` when the value changed.
    async fn fetch(&self, source: &Arc<Source>) -> bool {
        let src = source.clone();
        let fetched = tokio::task::spawn_blocking(move || {
            let env = |n: &str| match n {
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT" => src.port.clone(),
                "AWS_SESSION_TOKEN" => src.session_token.clone(),
                _ => None,
            };
            crate::config::secrets_extension::fetch(&src.arn, &env)
        })
        .await;
        let mut st = self.write();
        match fetched {
            Ok(Ok(value)) if !value.trim().is_empty() => {
                let value = Secret::new(value.trim());
                let changed = value != st.value;
                st.value = value;
                st.read_at = Instant::now();
                if changed {
                    tracing::info!(arn = %source.arn, "a rotated client secret was read");
                }
                changed
            }
            Ok(Ok(_)) => {
                tracing::warn!(arn = %source.arn, "the secret read again is empty; keeping the one in use");
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(arn = %source.arn, error = %e, "the secret could not be read again; keeping the one in use");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "the secret's read did not finish");
                false
            }
        }
    }
}

/// A token request made with the app's client secret: the secret is brought up to date
/// first (its TTL), and when the provider refuses the request (`4xx`: a rotated secret is
/// one cause) the secret is read again and, if it changed, the request made once more.
pub async fn with_client_secret<T, F, Fut>(secret: &ClientSecret, call: F) -> Result<T, UpstreamError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, UpstreamError>>,
{
    secret.refresh_if_stale().await;
    match call().await {
        Err(e) if refused_client(&e) && secret.reread().await => call().await,
        other => other,
    }
}

/// A refusal that a wrong client secret gives: `401`, or a `4xx` refusal.
fn refused_client(e: &UpstreamError) -> bool {
    match e {
        UpstreamError::Unauthorized { .. } => true,
        UpstreamError::Refused { status, .. } => (400..500).contains(status),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fixed_secret_never_rereads_and_never_retries() {
        let s = ClientSecret::fixed(Secret::new("plain"));
        assert_eq!(s.expose(), "plain");
        assert!(!s.reread().await);
        let calls = std::sync::atomic::AtomicU32::new(0);
        let r: Result<(), _> = with_client_secret(&s, || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(UpstreamError::Unauthorized { service: crate::upstream::Service::Tdoc })
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn refusals_of_the_client_are_4xx() {
        let s = crate::upstream::Service::Tapd;
        assert!(refused_client(&UpstreamError::Unauthorized { service: s }));
        assert!(refused_client(&UpstreamError::Refused { service: s, status: 400, detail: String::new() }));
        assert!(!refused_client(&UpstreamError::Unavailable { service: s, detail: String::new() }));
        assert!(!refused_client(&UpstreamError::RateLimited { service: s }));
    }
}
