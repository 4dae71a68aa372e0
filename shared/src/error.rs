//! What can stop an item's linking, below every layer that reports it: the token policy
//! (`tokens`), in-invocation retries (`retry`) and the item's steps (`link`) all take it
//! from here, so dependencies point down only.

use crate::store::StoreError;
use crate::upstream::UpstreamError;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the workspace's Tencent Docs authorization is gone: reconnect the workspace")]
    NeedsReconnect,
    #[error("TAPD has no such item in the workspace")]
    ItemNotFound,
    /// An earlier create's reply was lost and a look found no doc yet, but Tencent Docs may
    /// still make it: the item waits, and is looked for again at `settles_at_ms`.
    #[error(
        "the reply to creating the doc was lost and it is not in its folder yet; looking again once Tencent Docs can no longer make it"
    )]
    CreateUnsettled { settles_at_ms: u64 },
    /// A look for what an earlier attempt made could not tell: nothing is made until one can.
    #[error("could not tell whether an earlier attempt made the doc ({0}); nothing is made until a look can tell")]
    LookFailed(String),
    #[error("too little time left in this invocation to create the doc safely")]
    NoTimeToCreate,
}

impl crate::retry::Transient for LinkError {
    fn is_transient(&self) -> bool {
        matches!(self, LinkError::Upstream(e) if e.is_transient())
    }
}
