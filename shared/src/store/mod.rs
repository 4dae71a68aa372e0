//! The DynamoDB store: one table (`pk`, `sk`), declared in `template.yaml`.
//!
//! | pk                         | sk          | what                                          |
//! |----------------------------|-------------|-----------------------------------------------|
//! | `STATE#<sha256(state)>`    | `STATE`     | a pending OAuth state (TTL `expires_at`)      |
//! | `WS#<workspace>`           | `TAPD_TOKEN`| the workspace's TAPD token (encrypted)        |
//! | `WS#<workspace>`           | `BINDING`   | the Tencent Docs account the workspace uses   |
//! | `TDOC#<open id>`           | `TOKEN`     | a Tencent Docs token (encrypted)              |
//! | `ITEM#<ws>#<kind>#<id>`    | `LINK`      | the webhook state machine of one TAPD item    |
//!
//! Tokens are encrypted with AES-256-GCM, the item's `pk|sk` as associated data.

pub mod links;
mod oauth;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::crypto::Keyring;

pub use links::{Claim, ClaimOutcome, Link, LinkKey, LinkStatus, PendingLink};
pub use oauth::Flow;

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

    /// A DynamoDB client from the standard AWS environment (`AWS_REGION`, credentials,
    /// `AWS_ENDPOINT_URL_DYNAMODB`). Credentials resolve lazily, on the first call.
    pub async fn client_from_env() -> Client {
        let cfg = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Client::new(&cfg)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn key(pk: &str, sk: &str) -> Item {
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
    }

    fn seal(&self, pk: &str, sk: &str, plaintext: &[u8]) -> AttributeValue {
        AttributeValue::B(self.keys.encrypt(plaintext, aad(pk, sk).as_bytes()).into())
    }

    fn open(&self, item: &Item, pk: &str, sk: &str) -> Result<Vec<u8>, StoreError> {
        let blob = match item.get("ct") {
            Some(AttributeValue::B(b)) => b.as_ref(),
            _ => return Err(StoreError::Corrupt(format!("{sk} record without ciphertext"))),
        };
        self.keys.decrypt(blob, aad(pk, sk).as_bytes()).map_err(|e| StoreError::Corrupt(format!("{sk}: {e}")))
    }
}

fn aad(pk: &str, sk: &str) -> String {
    format!("{pk}|{sk}")
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
