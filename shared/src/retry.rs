//! Retrying a call within an invocation: transient failures, with backoff, while the
//! invocation's deadline leaves room to record the outcome and answer.

use crate::deadline::Deadline;
use std::future::Future;
use std::time::Duration;

use crate::upstream::UpstreamError;

pub use crate::deadline::RESERVE_MS;
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
pub async fn retrying<T, E, F, Fut>(deadline: Deadline, mut op: F) -> Result<T, E>
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
                // Time to wait, try once more, and still record the outcome.
                if !deadline.has_time_for(Duration::from_millis(wait + RESERVE_MS)) {
                    return Err(e);
                }
                tries += 1;
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            other => return other,
        }
    }
}
