//! Retrying a call within an invocation: transient failures, with backoff, while the
//! invocation's deadline leaves room to record the outcome and answer.

use std::future::Future;
use std::time::Duration;

use crate::time::now_millis;
use crate::upstream::UpstreamError;

/// Time kept in reserve before the deadline to record a failure and answer.
pub const RESERVE_MS: u64 = 2_000;
/// Backoff between in-invocation retries of a transient failure.
pub const BACKOFF_MS: [u64; 3] = [200, 800, 2_000];

/// Failures worth another try within the invocation.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for UpstreamError {
    fn is_transient(&self) -> bool {
        UpstreamError::is_transient(self)
    }
}

/// Retries transient failures with backoff while the deadline allows.
pub async fn retrying<T, E, F, Fut>(deadline_ms: u64, mut op: F) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut tries = 0;
    loop {
        match op().await {
            Err(e) if e.is_transient() && tries < BACKOFF_MS.len() => {
                let wait = BACKOFF_MS[tries];
                if now_millis() + wait + RESERVE_MS * 2 >= deadline_ms {
                    return Err(e);
                }
                tries += 1;
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            other => return other,
        }
    }
}
