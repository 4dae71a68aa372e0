//! What a workspace is told through its robot or e-mail (`crate::notify`):
//!
//! | pk          | sk              | what                                                        |
//! |-------------|-----------------|-------------------------------------------------------------|
//! | `WS#<ws>`   | `NOTIFY`        | the destination (robot URL or `mailto:` address), sealed like tokens; its `kind`, the address masked (`shown`), and how the last message went (`last_at`, `refusal`) |
//! | `WS#<ws>`   | `NOTICES#<day>` | given-up items that day (`n`) and those whose own message was refused (`refused`); over the threshold or with a refusal it is on the lists index's `DIGEST` list until its digest is sent |
//!
//! An item told of carries `noticed_at` on its own record: at most one message per item.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::items::{LISTS_INDEX, SK as ITEM_SK};
use super::{Store, StoreError, applied, get_n, get_s, n, open_token, s, seal_token};
use crate::config::NotifyConfig;
use crate::ids::WorkspaceId;
use crate::notify::{Destination, NotifyError};
use crate::secret::Secret;
use crate::store::ItemKey;
use crate::time::now_millis;

const NOTIFY: &str = "NOTIFY";
/// `gsi1pk` of days whose digest is due (over the threshold, or a notice refused), not yet sent.
pub(crate) const DIGEST_LIST: &str = "DIGEST";

fn pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

/// The workspace's destination, and when it was named (what a delivery's outcome is noted
/// against: a destination named since is not marked with the old one's refusal).
#[derive(Debug, Clone)]
pub struct NotifyTarget {
    pub to: Destination,
    pub set_at: u64,
}

/// How the last message to the workspace's destination went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastNotice {
    /// Nothing sent since it was named.
    None,
    Delivered {
        at: u64,
    },
    Refused {
        at: u64,
        why: NotifyError,
    },
}

/// What pages show of the destination: its kind (`wecom`, `dingtalk`, `email`), the address
/// masked, and how the last message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyShown {
    pub kind: String,
    pub shown: Option<String>,
    pub last: LastNotice,
}

/// A past day whose digest is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDigest {
    pub ws: WorkspaceId,
    pub day: String,
    /// Given-up items that day.
    pub given_up: u32,
    /// Of those told one by one, the ones whose message was refused.
    pub refused: u32,
}

impl Store {
    /// The workspace's destination, if it named one (a stored one this deployment no longer
    /// accepts, a robot's host or e-mail turned off, reads as none).
    pub async fn notify_target(
        &self,
        ws: &WorkspaceId,
        cfg: &NotifyConfig,
    ) -> Result<Option<NotifyTarget>, StoreError> {
        let Some(item) = self.get(&pk(ws), NOTIFY).await? else { return Ok(None) };
        let Some(AttributeValue::B(blob)) = item.get("ct") else { return Ok(None) };
        let stored: Secret = open_token(&self.keys, &pk(ws), NOTIFY, blob.as_ref())?;
        let set_at = get_n(&item, "set_at").unwrap_or(0);
        Ok(Destination::parse(stored.expose(), cfg).ok().map(|to| NotifyTarget { to, set_at }))
    }

    /// What pages show (read without opening the seal).
    pub async fn notify_shown(&self, ws: &WorkspaceId) -> Result<Option<NotifyShown>, StoreError> {
        let Some(item) = self.get(&pk(ws), NOTIFY).await? else { return Ok(None) };
        let Some(kind) = get_s(&item, "kind") else { return Ok(None) };
        let last = match (get_n(&item, "last_at"), get_s(&item, "refusal")) {
            (Some(at), Some(why)) => match serde_json::from_str(why) {
                Ok(why) => LastNotice::Refused { at, why },
                Err(_) => LastNotice::None,
            },
            (Some(at), None) => LastNotice::Delivered { at },
            (None, _) => LastNotice::None,
        };
        Ok(Some(NotifyShown { kind: kind.to_owned(), shown: get_s(&item, "shown").map(String::from), last }))
    }

    /// Names (or, with `None`, forgets) the workspace's destination.
    pub async fn put_notify(&self, ws: &WorkspaceId, to: Option<&Destination>) -> Result<(), StoreError> {
        let Some(to) = to else {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(&pk(ws), NOTIFY)))
                .send()
                .await
                .map_err(StoreError::sdk)?;
            return Ok(());
        };
        let mut item = Self::key(&pk(ws), NOTIFY);
        let sealed = seal_token(&self.keys, &pk(ws), NOTIFY, &to.stored());
        item.insert("ct".into(), AttributeValue::B(sealed.into()));
        item.insert("kind".into(), s(to.kind()));
        if let Some(shown) = to.shown() {
            item.insert("shown".into(), s(shown));
        }
        item.insert("set_at".into(), n(now_millis()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Notes how a message to the destination named at `set_at` went (nothing when it was
    /// changed or forgotten since).
    pub async fn note_delivery(
        &self,
        ws: &WorkspaceId,
        set_at: u64,
        refusal: Option<&NotifyError>,
    ) -> Result<(), StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk(ws), NOTIFY)))
            .condition_expression("set_at = :set")
            .expression_attribute_values(":set", n(set_at))
            .expression_attribute_values(":now", n(now_millis()));
        let req = match refusal {
            Some(why) => req
                .update_expression("SET last_at = :now, refusal = :why")
                .expression_attribute_values(":why", s(serde_json::to_string(why).unwrap_or_default())),
            None => req.update_expression("SET last_at = :now REMOVE refusal"),
        };
        applied(req.send().await).map(|_| ())
    }

    /// Takes the item's one notice: false when it was told of already.
    pub async fn claim_item_notice(&self, key: &ItemKey) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&key.pk(), ITEM_SK)))
            .update_expression("SET noticed_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(noticed_at)")
            .expression_attribute_values(":now", n(now_millis()))
            .send()
            .await;
        applied(out)
    }

    /// Counts one given-up item of `day`: true while it is among the first `told` of the day
    /// (tell it now); beyond, it is for the day's digest (the day goes on the digest list once).
    pub async fn count_notice(&self, ws: &WorkspaceId, day: &str, told: u32) -> Result<bool, StoreError> {
        let sk = format!("NOTICES#{day}");
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk(ws), &sk)))
            .update_expression("ADD n :one SET ws = :ws, notice_day = :day")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ws", s(ws.as_str()))
            .expression_attribute_values(":day", s(day))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let count = out.attributes.as_ref().and_then(|a| get_n(a, "n")).unwrap_or(1);
        if count == u64::from(told) + 1 {
            self.list_digest(ws, day).await?;
        }
        Ok(count <= u64::from(told))
    }

    /// A notice of `day` that was refused: counted into the day's digest, which is then due.
    pub async fn defer_notice(&self, ws: &WorkspaceId, day: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk(ws), &format!("NOTICES#{day}"))))
            .update_expression("ADD refused :one")
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        self.list_digest(ws, day).await
    }

    /// Puts the day on the digest list (again, when its digest could not be sent).
    async fn list_digest(&self, ws: &WorkspaceId, day: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk(ws), &format!("NOTICES#{day}"))))
            .update_expression("SET gsi1pk = :l, gsi1sk = :k, ws = :ws, notice_day = :day")
            .expression_attribute_values(":l", s(DIGEST_LIST))
            .expression_attribute_values(":k", s(format!("{day}#{ws}")))
            .expression_attribute_values(":ws", s(ws.as_str()))
            .expression_attribute_values(":day", s(day))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// The past days whose digest is due.
    pub async fn due_digests(&self, today: &str) -> Result<Vec<DueDigest>, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LISTS_INDEX)
            .key_condition_expression("gsi1pk = :l AND gsi1sk < :today")
            .expression_attribute_values(":l", s(DIGEST_LIST))
            .expression_attribute_values(":today", s(today));
        Ok(self
            .query_all(q)
            .await?
            .iter()
            .filter_map(|i| {
                Some(DueDigest {
                    ws: WorkspaceId::parse(get_s(i, "ws")?).ok()?,
                    day: get_s(i, "notice_day")?.to_owned(),
                    given_up: get_n(i, "n").unwrap_or(0) as u32,
                    refused: get_n(i, "refused").unwrap_or(0) as u32,
                })
            })
            .collect())
    }

    /// Takes a day off the digest list: true for the one caller that took it.
    pub async fn take_digest(&self, ws: &WorkspaceId, day: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk(ws), &format!("NOTICES#{day}"))))
            .update_expression("REMOVE gsi1pk, gsi1sk SET digest_sent_at = :now")
            .condition_expression("gsi1pk = :l")
            .expression_attribute_values(":l", s(DIGEST_LIST))
            .expression_attribute_values(":now", n(now_millis()))
            .send()
            .await;
        applied(out)
    }

    /// A taken digest that could not be sent: due again at the next scheduled run.
    pub async fn restore_digest(&self, ws: &WorkspaceId, day: &str) -> Result<(), StoreError> {
        self.list_digest(ws, day).await
    }
}
