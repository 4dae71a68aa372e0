//! The one place where "a fresh read says the item's status is X" is handled. A card rewritten
//! on an update or a status change ([`Linker::follow`], `card.rs`; also the one shown again after
//! a change reported while the doc was being made) calls [`Linker::status_seen`] with what TAPD
//! shows now, under the item's claim, before the card is written; what follows a status
//! (close-out: a doc moving into its folder's `已完成` when the status ends the workflow, and
//! back) hooks in here; what it could not do is queued for the scheduled run (`store::follows`).
//! A doc being made is not passed here (its item may be made in an end status: close-out
//! decides where such a doc goes at creation).

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
        let _ = doc;
        let key = claim.record.key.clone();
        tracing::debug!(workspace = %key.workspace, item = %key.id, status = %status.key, end = status.is_end, "the item's status as TAPD shows it");
        // Close-out never stands in the card's way: what it could not do now (the record says
        // where a move in doubt went) the next fresh read of the item settles: the next change,
        // or the scheduled run's follow-up queued here.
        if let Err(e) = self.follow_status(claim, account, item, status.is_end, deadline).await {
            if matches!(e, LinkError::Store(crate::store::StoreError::LostClaim)) {
                return Err(e);
            }
            tracing::warn!(workspace = %key.workspace, item = %key.id, error = %e, "the doc's folder does not follow the status yet; it is tried again");
            self.follow_later(&key).await?;
        }
        Ok(())
    }
}
