//! What a workspace is told through its robot (`crate::notify`):
//!
//! | pk          | sk              | what                                                        |
//! |-------------|-----------------|-------------------------------------------------------------|
//! | `WS#<ws>`   | `NOTIFY`        | the robot's URL, sealed like tokens                         |
//! | `WS#<ws>`   | `NOTICES#<day>` | given-up items told that day (`n`); over the threshold it is on the lists index's `DIGEST` list until its digest is sent |
//!
//! An item told of carries `noticed_at` on its own record: at most one message per item.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::items::{LISTS_INDEX, SK as ITEM_SK};
use super::{Store, StoreError, applied, get_n, get_s, n, open_token, s, seal_token};
use crate::config::NotifyConfig;
use crate::ids::WorkspaceId;
use crate::notify::Robot;
use crate::secret::Secret;
use crate::store::ItemKey;
use crate::time::now_millis;

const NOTIFY: &str = "NOTIFY";
/// `gsi1pk` of days whose given-up items went over the threshold, digest not yet sent.
pub(crate) const DIGEST_LIST: &str = "DIGEST";

fn pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

impl Store {
    /// The workspace's robot, if it named one (a stored URL this deployment no longer accepts
    /// reads as none).
    pub async fn notify_robot(&self, ws: &WorkspaceId, cfg: &NotifyConfig) -> Result<Option<Robot>, StoreError> {
        let Some(item) = self.get(&pk(ws), NOTIFY).await? else { return Ok(None) };
        let Some(AttributeValue::B(blob)) = item.get("ct") else { return Ok(None) };
        let url: Secret = open_token(&self.keys, &pk(ws), NOTIFY, blob.as_ref())?;
        Ok(Robot::parse(url.expose(), cfg).ok())
    }

    /// Whether a robot is set (without the key to open it: pages say "set").
    pub async fn notify_robot_kind(&self, ws: &WorkspaceId) -> Result<Option<String>, StoreError> {
        Ok(self.get(&pk(ws), NOTIFY).await?.and_then(|i| get_s(&i, "kind").map(String::from)))
    }

    /// Names (or, with `None`, forgets) the workspace's robot.
    pub async fn put_notify_robot(&self, ws: &WorkspaceId, robot: Option<&Robot>) -> Result<(), StoreError> {
        let Some(robot) = robot else {
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
        let sealed = seal_token(&self.keys, &pk(ws), NOTIFY, &robot.stored());
        item.insert("ct".into(), AttributeValue::B(sealed.into()));
        item.insert("kind".into(), s(robot.kind()));
        item.insert("set_at".into(), n(now_millis()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
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
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(&pk(ws), &sk)))
                .update_expression("SET gsi1pk = :l, gsi1sk = :k")
                .expression_attribute_values(":l", s(DIGEST_LIST))
                .expression_attribute_values(":k", s(format!("{day}#{ws}")))
                .send()
                .await
                .map_err(StoreError::sdk)?;
        }
        Ok(count <= u64::from(told))
    }

    /// The (workspace, day, count) of past days whose digest is due.
    pub async fn due_digests(&self, today: &str) -> Result<Vec<(WorkspaceId, String, u32)>, StoreError> {
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
                let ws = WorkspaceId::parse(get_s(i, "ws")?).ok()?;
                Some((ws, get_s(i, "notice_day")?.to_owned(), get_n(i, "n").unwrap_or(0) as u32))
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
}
