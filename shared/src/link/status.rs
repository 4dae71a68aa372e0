//! The one place where "a fresh read says the item's status is X" is handled. Every path that
//! reads an item to show it (a card written at creation or rewritten on an update or a status
//! change) calls [`Linker::status_seen`] with what TAPD shows now, under the item's claim,
//! before the card is written; what follows a status (close-out: a doc moving into its
//! folder's `已完成` when the status ends the workflow, and back) hooks in here.

use super::Linker;
use super::names::StatusName;
use crate::deadline::Deadline;
use crate::error::LinkError;
use crate::store::{Account, Claim, Doc};
use crate::tapd::TapdItem;

impl Linker {
    /// The item's status as a fresh read gives it (`status.key`, its name, whether it ends
    /// the workflow), for the item whose doc is `doc`. Deliveries come late, twice or out of
    /// order: act on this, never on the delivery's `old_status`.
    pub(super) async fn status_seen(
        &self,
        claim: &mut Claim,
        account: &Account,
        doc: &Doc,
        item: &TapdItem,
        status: &StatusName,
        deadline: Deadline,
    ) -> Result<(), LinkError> {
        let _ = (account, doc, item, deadline);
        let key = &claim.record.key;
        tracing::debug!(workspace = %key.workspace, item = %key.id, status = %status.key, end = status.is_end, "the item's status as TAPD shows it");
        Ok(())
    }
}
