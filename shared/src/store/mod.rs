//! The DynamoDB store: one table (`pk`, `sk`), declared in `template.yaml`, one module per
//! family of records, each owning its keys (its own table in its header):
//!
//! | module          | records                                                                 |
//! |-----------------|-------------------------------------------------------------------------|
//! | `states`        | OAuth states and rebinds waiting for confirmation (`STATE#…`, TTL)       |
//! | `bindings`      | a workspace's binding and its history, its TAPD token, the Tencent Docs tokens (`WS#…/BINDING`, `HISTORY#…`, `TAPD_TOKEN`, `TDOC#…`) |
//! | `app_token`     | TAPD's app token, shared by every instance (`APP#tapd`)                  |
//! | `webhook_secrets` | a workspace's own webhook secrets (`WS#…/WEBHOOK_SECRETS`)             |
//! | `settings`      | a workspace's own settings and its folders (`WS#…/SETTINGS`, `FOLDER#…`) |
//! | `items`         | one record per TAPD item: its doc's lifecycle (`ITEM#…/LINK`)            |
//! | `lists`         | items read as lists through the indexes (no records of its own)          |
//! | `sweeps`        | each workspace's sweep, and the TAPD budget (`SWEEP#…`, `BUDGET#tapd`)   |
//! | `notices`       | a workspace's robot and what it was told (`WS#…/NOTIFY`, `NOTICES#…`)   |
//! | `sessions`      | console sessions (`SESSION#…`, TTL)                                      |
//! | `steering`      | who steers a workspace beyond TAPD's admins, when its sessions end (`WS#…/STEERING`) |
//! | `audit`         | a workspace's audit trail (`WS#…/AUDIT#…`)                               |
//! | `table`         | the table as a whole, for `tapdocs` (checks, token re-encryption)        |
//!
//! Two indexes: `workspace_items` (a workspace's items, newest first) and the lists index
//! (`pending` on the table: the due queue, the given-up and deleted items, the items linked
//! each day, the connected workspaces). Tokens and secrets are encrypted with AES-256-GCM, the record's `pk|sk` as
//! associated data.

mod app_token;
mod audit;
pub mod bindings;
pub mod doc_place;
mod follows;
pub mod items;
pub mod lists;
mod notices;
pub mod sessions;
pub mod settings;
mod states;
pub mod steering;
mod sweeps;
pub mod table;
mod transport;
mod webhook_secrets;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::crypto::Keyring;

pub use app_token::SharedAppToken;
pub use audit::AuditEntry;
pub use bindings::{Account, Binding, BoundWorkspace, ConnectedBy};
pub use doc_place::{DocPlace, Spot};
pub use items::{
    CardState, Claim, ClaimOutcome, Doc, DueItem, Event, EventKind, HISTORY_SHOWN, ItemKey, ItemRecord, SentTo, Stage,
};
pub use lists::{ItemCounts, ItemFilter, ItemStatus, ItemView, ItemsPage, Listing};
pub use notices::{DueDigest, LastNotice, NotifyShown, NotifyTarget};
pub use settings::{Events, FolderLease, PermissionSetting, WorkspaceSettings};
pub use states::{Flow, PendingRebind, RebindTake, StateRecord};
pub use steering::Steering;
pub use sweeps::{Progress, SweepCursor, swept_kinds};
pub use webhook_secrets::{WebhookSecret, WebhookSecrets};

/// The functions' DynamoDB transport (reqwest on rustls/ring, one connection pool), for other SDK
/// clients of this project (the operator CLI, the tests' and devstack's): one HTTP stack, no
/// aws-lc, and the tests exercise the transport that ships.
pub fn sdk_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_sdk_dynamodb::config::SharedHttpClient::new(transport::Reqwest::new(crate::upstream::aws_http_client()))
}

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored record is unreadable: {0}")]
    Corrupt(String),
    /// The claim on an item lapsed and another instance holds it now: stop working on it.
    #[error("the claim on this item was taken over")]
    LostClaim,
}

impl StoreError {
    fn sdk<E, R>(e: SdkError<E, R>) -> Self
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        StoreError::Unavailable(DisplayErrorContext(e).to_string())
    }
}

pub struct Store {
    client: Client,
    table: String,
    keys: Keyring,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>, keys: Keyring) -> Self {
        Self { client, table: table.into(), keys }
    }

    /// A DynamoDB client from the environment Lambda gives a function: `AWS_REGION`, the
    /// execution role's keys (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
    /// and the standard endpoint override (`AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`).
    ///
    /// Built from the environment directly rather than through `aws-config`'s default chain:
    /// no profile files, no SSO, STS or IMDS providers, no certificate store read, nothing on
    /// the network at init. Requests go through the project's HTTP stack ([`transport`]).
    /// Standard retries and the connect timeout come with the behavior version.
    pub async fn client_from_env() -> Client {
        Client::from_conf(transport::config(|name| std::env::var(name).ok()))
    }

    /// The SES v2 client e-mail notices go through, configured from the environment as the
    /// table's client is (`AWS_ENDPOINT_URL_SESV2`, `NOTIFY_EMAIL_REGION`), on the same transport.
    pub fn ses_client_from_env() -> aws_sdk_sesv2::Client {
        Self::ses_client(|name| std::env::var(name).ok())
    }

    /// The same for an environment `var` looks up (the tests' local SES).
    pub fn ses_client(var: impl Fn(&str) -> Option<String>) -> aws_sdk_sesv2::Client {
        aws_sdk_sesv2::Client::from_conf(transport::ses_config(var))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One record as last written (a strongly consistent read): claims, tokens, bindings,
    /// states, cursors, anything a decision is taken on.
    async fn get_latest(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.item)
    }

    /// A query of the lists index: the entries listed under `list` (`gsi1pk`).
    fn list_query(&self, list: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(items::LISTS_INDEX)
            .key_condition_expression("gsi1pk = :list")
            .expression_attribute_values(":list", s(list))
    }

    /// The entries listed under `list` due by `now_ms` (their `gsi1sk` begins with the due
    /// time, [`items::due_key`]), soonest first.
    fn due_query(&self, list: &str, now_ms: u64) -> QueryFluentBuilder {
        // `~` sorts after every key, so everything due at `now_ms` is in range.
        self.list_query(list)
            .key_condition_expression("gsi1pk = :list AND gsi1sk <= :due")
            .expression_attribute_values(":due", s(format!("{now_ms:015}#~")))
    }

    /// Every item a query finds, page after page.
    async fn query_all(&self, req: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let (mut out, mut cursor) = (Vec::new(), None::<Item>);
        loop {
            let page = req.clone().set_exclusive_start_key(cursor.take()).send().await.map_err(StoreError::sdk)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => cursor = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// How many items a query finds, every page counted (nothing else read back).
    async fn count_all(&self, req: QueryFluentBuilder) -> Result<u64, StoreError> {
        let (mut count, mut cursor) = (0u64, None::<Item>);
        let req = req.select(aws_sdk_dynamodb::types::Select::Count);
        loop {
            let page = req.clone().set_exclusive_start_key(cursor.take()).send().await.map_err(StoreError::sdk)?;
            count += page.count.max(0) as u64;
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => cursor = Some(k),
                None => return Ok(count),
            }
        }
    }

    /// One record, possibly a moment stale (an eventually consistent read, half the cost):
    /// settings, remembered folders, counters shown to people.
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.item)
    }

    /// Writes a record that must not exist yet (single-use states and confirmations).
    async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Replaces a token's ciphertext with `new` only if it is still exactly `old` (key
    /// rotation): `false` when a concurrent write got there first, which then wins.
    /// Writes a versioned record (tokens, secrets: `ver` = `seen + 1` in `item`) unless another
    /// writer replaced version `seen` meanwhile: false when it lost that race.
    async fn put_if_version(&self, item: Item, seen: u64) -> Result<bool, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR ver = :seen")
            .expression_attribute_values(":seen", n(seen))
            .send()
            .await;
        applied(out)
    }

    async fn replace_ciphertext(
        &self,
        pk: &str,
        sk: &str,
        new: Vec<u8>,
        old: &aws_sdk_dynamodb::primitives::Blob,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .update_expression("SET ct = :new")
            .condition_expression("ct = :old")
            .expression_attribute_values(":new", AttributeValue::B(new.into()))
            .expression_attribute_values(":old", AttributeValue::B(old.clone()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    fn key(pk: &str, sk: &str) -> Item {
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
    }
}

fn aad(pk: &str, sk: &str) -> String {
    format!("{pk}|{sk}")
}

/// A token as stored in the `ct` attribute of record `pk|sk`: its JSON, encrypted under the
/// keyring's first key with `pk|sk` as associated data.
pub fn seal_token<T: serde::Serialize>(keys: &Keyring, pk: &str, sk: &str, token: &T) -> Vec<u8> {
    let json = serde_json::to_vec(token).expect("tokens serialize");
    keys.encrypt(&json, aad(pk, sk).as_bytes())
}

/// The inverse of [`seal_token`]: decrypts a record's `ct` and decodes the token. Pure, so
/// the property tests and the fuzz targets run it without a table.
pub fn open_token<T: serde::de::DeserializeOwned>(
    keys: &Keyring,
    pk: &str,
    sk: &str,
    blob: &[u8],
) -> Result<T, StoreError> {
    let plain = keys.decrypt(blob, aad(pk, sk).as_bytes()).map_err(|e| StoreError::Corrupt(format!("{sk}: {e}")))?;
    serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupt(format!("{sk}: bad token JSON")))
}

/// `Ok(true)` when a conditional write applied, `Ok(false)` when its condition failed.
pub(crate) fn applied<O, E, R>(out: Result<O, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match out {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|e| e.code() == Some("ConditionalCheckFailedException")) => {
            Ok(false)
        }
        Err(e) => Err(StoreError::sdk(e)),
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(crate) fn get_n(item: &Item, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}
