//! A workspace's daily counts, for the console's overview at a glance: how many of its items
//! were linked each day (Asia/Shanghai, TAPD's zone), kept beside the item writes that make
//! them so the overview reads a week in one request however many items the workspace has.
//!
//! | pk               | sk                  | what                                        |
//! |------------------|---------------------|---------------------------------------------|
//! | `WS#<workspace>` | `DAY#<yyyy-mm-dd>`  | `linked`: items linked that day (TTL 40 d)  |

use aws_sdk_dynamodb::types::Update;

use super::{Store, StoreError, get_n, n, s};
use crate::ids::WorkspaceId;

/// Kept a while past the week the console shows.
const KEEP_SECS: u64 = 40 * 86_400;

/// The day (`yyyy-mm-dd`, Asia/Shanghai) `ms` falls on.
pub(crate) fn day_of(ms: u64) -> String {
    crate::time::tapd_time(ms)[..10].to_owned()
}

fn day_sk(day: &str) -> String {
    format!("DAY#{day}")
}

/// The write that counts one more item linked on the day of `now_ms` (a part of the
/// transaction that marks the item linked).
pub(crate) fn linked_today(table: &str, ws: &WorkspaceId, now_ms: u64) -> Update {
    Update::builder()
        .table_name(table)
        .set_key(Some(Store::key(&format!("WS#{ws}"), &day_sk(&day_of(now_ms)))))
        .update_expression("ADD linked :one SET expires_at = :exp")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":exp", n(now_ms / 1000 + KEEP_SECS))
        .build()
        .expect("table and key are set")
}

impl Store {
    /// Items linked per day from `first_day` to `last_day` (`yyyy-mm-dd`, inclusive): one query.
    pub async fn linked_per_day(
        &self,
        ws: &WorkspaceId,
        first_day: &str,
        last_day: &str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(format!("WS#{ws}")))
            .expression_attribute_values(":from", s(day_sk(first_day)))
            .expression_attribute_values(":to", s(day_sk(last_day)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                let day = super::get_s(i, "sk")?.strip_prefix("DAY#")?.to_owned();
                Some((day, get_n(i, "linked").unwrap_or(0)))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_counted_in_shanghai() {
        // 2026-12-03 16:30 UTC is 00:30 on the 4th in Shanghai.
        assert_eq!(day_of(1_796_315_400_000), "2026-12-04");
        assert_eq!(day_of(1_796_315_400_000 - 3_600_000), "2026-12-03");
    }
}
