//! The webhook's state machine, one record per TAPD item (Powertools-style idempotency:
//! conditional writes, an in-progress claim that lapses at the claimant's deadline).
//!
//! `pending` ──claim──▶ doc recorded ──▶ comment recorded = `done`
//!     ╰── attempts exhausted ──▶ `failed` (with `last_error`)
//!
//! Pending records carry `gsi1pk = PENDING` and `gsi1sk = <created ms>#<pk>`, so the
//! scheduled retry finds them oldest first through the sparse `pending` index.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{Item, Store, StoreError, get_n, get_s, n, s};
use crate::ids::{ItemId, ItemKind, WorkspaceId};
use crate::time::now_millis;

const SK: &str = "LINK";
const PENDING: &str = "PENDING";
pub const PENDING_INDEX: &str = "pending";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkKey {
    pub workspace: WorkspaceId,
    pub kind: ItemKind,
    pub id: ItemId,
}

impl LinkKey {
    fn pk(&self) -> String {
        format!("ITEM#{}#{}#{}", self.workspace, self.kind.as_str(), self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Pending,
    Done,
    Failed,
}

/// What the table knows about one item's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub key: LinkKey,
    pub status: LinkStatus,
    pub attempts: u32,
    pub doc_id: Option<String>,
    pub doc_url: Option<String>,
    pub doc_written: bool,
    pub field_set: bool,
    pub comment_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at_ms: u64,
}

/// Proof of holding an item until `until_ms`: every write is conditional on it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub owner: String,
    pub until_ms: u64,
    pub link: Link,
}

#[derive(Debug)]
pub enum ClaimOutcome {
    Claimed(Claim),
    /// Already finished (done or given up): nothing to do.
    Settled(Link),
    /// A live instance holds it; it will finish or its claim will lapse.
    Busy,
}

#[derive(Debug, Clone)]
pub struct PendingLink {
    pub key: LinkKey,
    pub claim_until_ms: u64,
    pub attempts: u32,
    pub created_at_ms: u64,
}

fn parse_link(item: &Item) -> Result<Link, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("link record: {what}"));
    let key = LinkKey {
        workspace: get_s(item, "ws").and_then(|w| WorkspaceId::parse(w).ok()).ok_or_else(|| corrupt("ws"))?,
        kind: get_s(item, "kind").and_then(ItemKind::parse).ok_or_else(|| corrupt("kind"))?,
        id: get_s(item, "item_id").and_then(|i| ItemId::parse(i).ok()).ok_or_else(|| corrupt("item_id"))?,
    };
    let status = match get_s(item, "status") {
        Some("pending") => LinkStatus::Pending,
        Some("done") => LinkStatus::Done,
        Some("failed") => LinkStatus::Failed,
        _ => return Err(corrupt("status")),
    };
    let flag = |name: &str| item.get(name).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
    Ok(Link {
        key,
        status,
        attempts: get_n(item, "attempts").unwrap_or(0) as u32,
        doc_id: get_s(item, "doc_id").map(str::to_owned),
        doc_url: get_s(item, "doc_url").map(str::to_owned),
        doc_written: flag("doc_written"),
        field_set: flag("field_set"),
        comment_id: get_s(item, "comment_id").map(str::to_owned),
        last_error: get_s(item, "last_error").map(str::to_owned),
        created_at_ms: get_n(item, "created_at").unwrap_or(0),
    })
}

/// One step's result to record under a claim.
#[derive(Debug, Default)]
pub struct Progress<'a> {
    pub doc: Option<(&'a str, &'a str)>,
    pub doc_written: bool,
    pub field_set: bool,
}

impl Store {
    /// Claims an item until `until_ms` (the invocation's deadline), creating its record on
    /// first sight. Fails over to [`ClaimOutcome::Busy`] or [`ClaimOutcome::Settled`].
    pub async fn claim_link(
        &self,
        key: &LinkKey,
        event_id: Option<&str>,
        owner: &str,
        until_ms: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        let now = now_millis();
        let pk = key.pk();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, SK)))
            .update_expression(
                "SET claim_owner = :owner, claim_until = :until, attempts = if_not_exists(attempts, :zero) + :one, \
                 created_at = if_not_exists(created_at, :now), #st = if_not_exists(#st, :pending), \
                 ws = :ws, kind = :kind, item_id = :id, event_id = if_not_exists(event_id, :event), \
                 gsi1pk = if_not_exists(gsi1pk, :gpk), gsi1sk = if_not_exists(gsi1sk, :gsk), updated_at = :now",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR (#st = :pending AND (attribute_not_exists(claim_until) OR claim_until < :now))",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":ws", s(key.workspace.as_str()))
            .expression_attribute_values(":kind", s(key.kind.as_str()))
            .expression_attribute_values(":id", s(key.id.as_str()))
            .expression_attribute_values(":event", s(event_id.unwrap_or("")))
            .expression_attribute_values(":gpk", s(PENDING))
            .expression_attribute_values(":gsk", s(format!("{now:015}#{pk}")))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => {
                let link = parse_link(&out.attributes.unwrap_or_default())?;
                Ok(ClaimOutcome::Claimed(Claim { owner: owner.to_owned(), until_ms, link }))
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let old = match e.into_service_error() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => {
                        c.item
                    }
                    _ => None,
                };
                let old = match old {
                    Some(item) => Some(item),
                    None => self.raw_link(&pk).await?,
                };
                // Our own claim: the SDK retried a write whose first try landed (its reply
                // was lost). Without this, the item would sit claimed by nobody working on it
                // until the deadline.
                if let Some(item) = &old
                    && get_s(item, "claim_owner") == Some(owner)
                    && get_n(item, "claim_until") == Some(until_ms)
                {
                    return Ok(ClaimOutcome::Claimed(Claim {
                        owner: owner.to_owned(),
                        until_ms,
                        link: parse_link(item)?,
                    }));
                }
                match old.map(|i| parse_link(&i)).transpose()? {
                    Some(link) if link.status != LinkStatus::Pending => Ok(ClaimOutcome::Settled(link)),
                    _ => Ok(ClaimOutcome::Busy),
                }
            }
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    async fn raw_link(&self, pk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.item)
    }

    pub async fn link(&self, key: &LinkKey) -> Result<Option<Link>, StoreError> {
        self.raw_link(&key.pk()).await?.map(|i| parse_link(&i)).transpose()
    }

    /// Records completed steps while still holding the claim.
    pub async fn record_progress(&self, claim: &mut Claim, p: Progress<'_>) -> Result<(), StoreError> {
        let mut sets = vec!["updated_at = :now".to_owned()];
        let mut values = vec![(":now", n(now_millis()))];
        if let Some((id, url)) = p.doc {
            sets.push("doc_id = :doc_id, doc_url = :doc_url".into());
            values.push((":doc_id", s(id)));
            values.push((":doc_url", s(url)));
            claim.link.doc_id = Some(id.to_owned());
            claim.link.doc_url = Some(url.to_owned());
        }
        if p.doc_written {
            sets.push("doc_written = :t".into());
            claim.link.doc_written = true;
        }
        if p.field_set {
            sets.push("field_set = :t".into());
            claim.link.field_set = true;
        }
        if p.doc_written || p.field_set {
            values.push((":t", AttributeValue::Bool(true)));
        }
        self.claimed_update(claim, &format!("SET {}", sets.join(", ")), values).await
    }

    /// Marks the item done and drops it from the pending index.
    pub async fn finish_link(&self, claim: &mut Claim, comment_id: &str) -> Result<(), StoreError> {
        let finished = self
            .claimed_update(
                claim,
                "SET #st = :done, comment_id = :cid, updated_at = :now REMOVE gsi1pk, gsi1sk, claim_owner, claim_until, last_error",
                vec![(":done", s("done")), (":cid", s(comment_id)), (":now", n(now_millis()))],
            )
            .await;
        match finished {
            // The SDK retried a write whose first try landed (its reply was lost): the claim
            // is gone because this very write released it.
            Err(StoreError::LostClaim)
                if self
                    .link(&claim.link.key)
                    .await?
                    .is_some_and(|l| l.status == LinkStatus::Done && l.comment_id.as_deref() == Some(comment_id)) => {}
            other => other?,
        }
        claim.link.status = LinkStatus::Done;
        claim.link.comment_id = Some(comment_id.to_owned());
        Ok(())
    }

    /// Lets go of an item after a failure, recording why; `give_up` ends its retries.
    pub async fn release_link(&self, claim: &Claim, error: &str, give_up: bool) -> Result<(), StoreError> {
        let error: String = error.chars().take(500).collect();
        let expr = if give_up {
            "SET last_error = :err, #st = :failed, claim_until = :zero, updated_at = :now REMOVE claim_owner, gsi1pk, gsi1sk"
        } else {
            "SET last_error = :err, claim_until = :zero, updated_at = :now REMOVE claim_owner"
        };
        let mut values = vec![(":err", s(error)), (":zero", n(0)), (":now", n(now_millis()))];
        if give_up {
            values.push((":failed", s("failed")));
        }
        self.claimed_update(claim, expr, values).await
    }

    async fn claimed_update(
        &self,
        claim: &Claim,
        expr: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&claim.link.key.pk(), SK)))
            .update_expression(expr)
            .condition_expression("claim_owner = :me")
            .expression_attribute_values(":me", s(&claim.owner));
        if expr.contains("#st") {
            req = req.expression_attribute_names("#st", "status");
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(StoreError::LostClaim)
            }
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// How many items are pending, and when the oldest of them was first seen (for the
    /// scheduled run's metrics).
    pub async fn pending_stats(&self) -> Result<(u32, Option<u64>), StoreError> {
        let (mut count, mut oldest, mut cursor) = (0u32, None::<u64>, None);
        loop {
            let (page, next) = self.pending_links(100, cursor).await?;
            for p in page {
                count += 1;
                oldest = Some(oldest.map_or(p.created_at_ms, |o| o.min(p.created_at_ms)));
            }
            match next {
                Some(n) => cursor = Some(n),
                None => return Ok((count, oldest)),
            }
        }
    }

    /// Pending items, oldest first, one page of up to `limit` after `cursor`; the second
    /// value is the cursor of the next page.
    pub async fn pending_links(
        &self,
        limit: i32,
        cursor: Option<Item>,
    ) -> Result<(Vec<PendingLink>, Option<Item>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(PENDING_INDEX)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(PENDING))
            .scan_index_forward(true)
            .limit(limit)
            .set_exclusive_start_key(cursor)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let next = out.last_evaluated_key.filter(|k| !k.is_empty());
        let page = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let link = parse_link(item)?;
                Ok(PendingLink {
                    key: link.key,
                    claim_until_ms: get_n(item, "claim_until").unwrap_or(0),
                    attempts: link.attempts,
                    created_at_ms: link.created_at_ms,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((page, next))
    }
}
