//! TAPD's app token (client credentials), shared by every instance: one record
//! (`APP#tapd` / `TOKEN`), sealed like the other tokens (`ct`, so `tapdocs rotate-keys`
//! re-encrypts it), renewed by one instance at a time under a short lease
//! (`renewing_until`), versioned (`ver`) so a renewal never overwrites a newer one.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Store, StoreError, applied, get_n, n, open_token};
use crate::tapd::TapdToken;
use crate::time::now_millis;

const PK: &str = "APP#tapd";
const SK: &str = "TOKEN";

/// The shared record as read.
#[derive(Debug, Clone)]
pub struct SharedAppToken {
    /// `None` when there is none yet, or it cannot be decrypted (a retired key): renewed.
    pub token: Option<TapdToken>,
    pub version: u64,
    /// Until when an instance holds the renewal lease, ms.
    pub renewing_until_ms: u64,
}

impl Store {
    /// The shared TAPD app token; `None` before any instance stored one.
    pub async fn tapd_app_token(&self) -> Result<Option<SharedAppToken>, StoreError> {
        let Some(item) = self.get_latest(PK, SK).await? else { return Ok(None) };
        let token = match item.get("ct") {
            Some(AttributeValue::B(blob)) => match open_token::<TapdToken>(&self.keys, PK, SK, blob.as_ref()) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(error = %e, "the shared TAPD app token cannot be read; renewing it");
                    None
                }
            },
            _ => None,
        };
        Ok(Some(SharedAppToken {
            token,
            version: get_n(&item, "ver").unwrap_or(0),
            renewing_until_ms: get_n(&item, "renewing_until").unwrap_or(0),
        }))
    }

    /// Takes the renewal lease until `until_ms` if the record is still at `seen` (0: none
    /// yet) and nobody holds a live lease. False when another instance renews.
    pub async fn lease_tapd_app_renewal(&self, seen: u64, until_ms: u64) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(PK, SK)))
            .update_expression("SET renewing_until = :until, ver = if_not_exists(ver, :zero)")
            .condition_expression(
                "(attribute_not_exists(pk) AND :seen = :zero) OR \
                 (ver = :seen AND (attribute_not_exists(renewing_until) OR renewing_until < :now))",
            )
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":seen", n(seen))
            .expression_attribute_values(":now", n(now_millis()))
            .send()
            .await;
        applied(out)
    }

    /// Ends this instance's renewal lease after a failed renewal (the record still at `seen`).
    pub async fn end_tapd_app_lease(&self, seen: u64) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(PK, SK)))
            .update_expression("SET renewing_until = :zero")
            .condition_expression("ver = :seen")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":seen", n(seen))
            .send()
            .await;
        applied(out)
    }

    /// Stores a renewed token as version `seen + 1` and ends the lease, unless another
    /// instance stored one meanwhile (false).
    pub async fn put_tapd_app_token(&self, token: &TapdToken, seen: u64) -> Result<bool, StoreError> {
        let item = self.token_item(PK, SK, token, seen + 1);
        self.put_if_version(item, seen).await
    }
}
