//! Follow-ups: a linked item whose doc did not catch up with it (its card or its close-out
//! move failed, or the instance that held the item died with a change still to show) is
//! queued for the scheduled run, which has the doc follow the item again from a fresh read.
//! Without it, the doc would wait for the item's next change, which may never come.
//!
//! One small record beside the item's own, in its partition (`pk` = the item's, `sk` =
//! `FOLLOW`), in the lists index under `gsi1pk = FOLLOW`, `gsi1sk = <due ms>#<pk>`: the run
//! reads what is due, soonest first, like the due queue. The item's record keeps `follow_at`,
//! so a delivery that shows the item clears the follow-up only when there is one (no extra
//! write on the warm path). A done follow-up leaves the index and expires (TTL); one still
//! failing after a week expires too, its failures in the item's history.

use super::items::{SK, due_key};
use super::{Store, StoreError, applied, get_s, n, s};
use crate::store::ItemKey;
use crate::time::{now_millis, now_secs};

/// `gsi1pk` of follow-ups, and their records' sort key.
pub(crate) const FOLLOW: &str = "FOLLOW";
/// How long a follow-up is kept if it keeps failing.
const FOLLOW_TTL_SECS: u64 = 7 * 86_400;

impl Store {
    /// Queues a follow-up of the item, due at `due_ms` (a later queueing replaces it).
    pub async fn follow_later(&self, key: &ItemKey, due_ms: u64) -> Result<(), StoreError> {
        let pk = key.pk();
        let now = now_millis();
        let mut item = Self::key(&pk, FOLLOW);
        item.insert("gsi1pk".into(), s(FOLLOW));
        item.insert("gsi1sk".into(), s(due_key(due_ms, &pk)));
        item.insert("queued_at".into(), n(now));
        item.insert("expires_at".into(), n(now_secs() + FOLLOW_TTL_SECS));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        // The hint on the item's record; a record that is gone takes none.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, SK)))
            .update_expression("SET follow_at = :due")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":due", n(due_ms))
            .send()
            .await;
        applied(out).map(|_| ())
    }

    /// The follow-ups due by `now_ms`, soonest first, at most `limit`.
    pub async fn due_follows(&self, now_ms: u64, limit: usize) -> Result<Vec<ItemKey>, StoreError> {
        let q = self.due_query(FOLLOW, now_ms).limit(limit.min(1000) as i32);
        let out = q.send().await.map_err(StoreError::sdk)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| get_s(i, "pk")?.parse::<ItemKey>().ok())
            .take(limit)
            .collect())
    }

    /// The doc caught up with the item as read at `read_at_ms`: its follow-up is done, unless
    /// one was queued after that read (then it stays, for what came since).
    pub async fn follow_done(&self, key: &ItemKey, read_at_ms: u64) -> Result<(), StoreError> {
        let pk = key.pk();
        // Out of the queue rather than deleted (the function deletes nothing; TTL removes it).
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, FOLLOW)))
            .update_expression("REMOVE gsi1pk, gsi1sk")
            .condition_expression("attribute_exists(gsi1pk) AND queued_at < :read")
            .expression_attribute_values(":read", n(read_at_ms))
            .send()
            .await;
        if !applied(out)? {
            return Ok(());
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, SK)))
            .update_expression("REMOVE follow_at")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        applied(out).map(|_| ())
    }
}
