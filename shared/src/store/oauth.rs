//! OAuth states, tokens and the workspace ↔ Tencent Docs binding.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use sha2::{Digest, Sha256};

use super::{Item, Store, StoreError, get_n, get_s, n, open_token, s, seal_token};
use crate::ids::{OpenId, WorkspaceId};
use crate::tapd::TapdToken;
use crate::tdoc::TdocToken;
use crate::time::now_secs;

/// Which leg of the connect flow a state was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    Tapd,
    /// Signing in to the console through TAPD's consent (the same callback as `Tapd`).
    Console,
    /// The Tencent Docs leg, bound to the workspace the TAPD leg authorized.
    Tdoc {
        workspace: WorkspaceId,
    },
}

/// States are stored by hash: the table never holds a usable state.
fn state_pk(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("STATE#{hex}")
}

fn ws_pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

fn tdoc_pk(open_id: &OpenId) -> String {
    format!("TDOC#{open_id}")
}

/// Who a workspace's docs are created as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// The Tencent Docs user who consented (`TDOC_OWNER=user`).
    User(OpenId),
    /// The app's own Tencent Docs account (`TDOC_OWNER=app`): no user token involved.
    App,
}

/// Who made a binding: what TAPD and Tencent Docs said about the person, where they say it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectedBy {
    /// The TAPD user, when TAPD's token reply names one.
    pub tapd_user: Option<String>,
    /// The Tencent Docs account that consented (none in app-account mode).
    pub open_id: Option<OpenId>,
}

/// A workspace's binding: which account its docs are created as, since when, by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub account: Account,
    /// Unix seconds.
    pub connected_at: u64,
    pub connected_by: ConnectedBy,
    /// The account's Tencent Docs nickname when it was connected (pages name it so).
    pub nick: Option<String>,
    /// Random id of this binding: tells our own write from another's after a lost reply.
    pub bind_id: String,
}

impl Binding {
    /// A new binding made now.
    pub fn new(account: Account, connected_by: ConnectedBy, nick: Option<String>) -> Self {
        Self { account, connected_at: now_secs(), connected_by, nick, bind_id: crate::random::id() }
    }

    /// The user account's Open-Id; `None` in app-account mode.
    pub fn open_id(&self) -> Option<&OpenId> {
        match &self.account {
            Account::User(o) => Some(o),
            Account::App => None,
        }
    }

    fn write(&self, item: &mut Item) {
        match &self.account {
            Account::User(o) => {
                item.insert("account".into(), s("user"));
                item.insert("open_id".into(), s(o.as_str()));
            }
            Account::App => {
                item.insert("account".into(), s("app"));
            }
        }
        item.insert("connected_at".into(), n(self.connected_at));
        item.insert("bind_id".into(), s(&self.bind_id));
        if let Some(u) = &self.connected_by.tapd_user {
            item.insert("by_tapd_user".into(), s(u));
        }
        if let Some(o) = &self.connected_by.open_id {
            item.insert("by_open_id".into(), s(o.as_str()));
        }
        if let Some(nick) = &self.nick {
            item.insert("nick".into(), s(nick));
        }
    }

    /// Records written before accounts were typed have only `open_id`: they are user bindings.
    fn read(item: &Item) -> Option<Self> {
        let open_id = get_s(item, "open_id").and_then(|o| OpenId::parse(o).ok());
        let account = match (get_s(item, "account"), open_id) {
            (Some("app"), _) => Account::App,
            (Some("user") | None, Some(o)) => Account::User(o),
            _ => return None,
        };
        Some(Self {
            account,
            connected_at: get_n(item, "connected_at").unwrap_or(0),
            connected_by: ConnectedBy {
                tapd_user: get_s(item, "by_tapd_user").map(String::from),
                open_id: get_s(item, "by_open_id").and_then(|o| OpenId::parse(o).ok()),
            },
            nick: get_s(item, "nick").map(String::from),
            bind_id: get_s(item, "bind_id").unwrap_or_default().to_owned(),
        })
    }
}

/// A replacement of a workspace's binding waiting for the person to confirm it.
#[derive(Debug, Clone)]
pub struct PendingRebind {
    pub workspace: WorkspaceId,
    /// The binding to make.
    pub binding: Binding,
    /// The new account's token (none in app-account mode), stored encrypted meanwhile.
    pub token: Option<TdocToken>,
    /// SHA-256 (hex) of the browser nonce of the flow that asked.
    pub browser: String,
}

/// What asking for a pending rebind found.
#[derive(Debug)]
pub enum RebindTake {
    /// Taken: it is no longer stored.
    Taken(Box<PendingRebind>),
    /// It exists, for another browser (left in place).
    OtherBrowser,
    /// Never issued, used or expired.
    Unknown,
}

/// A state with the browser it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    pub flow: Flow,
    /// SHA-256 (hex) of the nonce in the browser's cookie; `None` for a state bound to none
    /// (such a state can never pass a callback).
    pub browser: Option<String>,
}

impl Store {
    pub async fn put_state(&self, state: &str, flow: &Flow, ttl_secs: u64) -> Result<(), StoreError> {
        self.put_bound_state(state, flow, None, ttl_secs).await
    }

    /// Stores a state bound to a browser (`browser`: the hash of its cookie's nonce).
    pub async fn put_bound_state(
        &self,
        state: &str,
        flow: &Flow,
        browser: Option<&str>,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        let mut item = Self::key(&state_pk(state), "STATE");
        item.insert("expires_at".into(), n(now_secs() + ttl_secs));
        if let Some(b) = browser {
            item.insert("browser".into(), s(b));
        }
        match flow {
            Flow::Tapd => {
                item.insert("flow".into(), s("tapd"));
            }
            Flow::Console => {
                item.insert("flow".into(), s("console"));
            }
            Flow::Tdoc { workspace } => {
                item.insert("flow".into(), s("tdoc"));
                item.insert("workspace_id".into(), s(workspace.as_str()));
            }
        }
        self.put_new(item).await
    }

    /// Consumes a state: the conditional delete makes it single use even under races.
    /// `None` when it never existed, was used, or has expired (TTL deletion lags, so expiry
    /// is checked here too).
    pub async fn consume_state(&self, state: &str) -> Result<Option<Flow>, StoreError> {
        Ok(self.take_state(state).await?.map(|r| r.flow))
    }

    /// [`Store::consume_state`], with the browser the state is bound to.
    pub async fn take_state(&self, state: &str) -> Result<Option<StateRecord>, StoreError> {
        let Some(old) = self.take(&state_pk(state), "STATE").await? else { return Ok(None) };
        let flow = match get_s(&old, "flow") {
            Some("tapd") => Flow::Tapd,
            Some("console") => Flow::Console,
            Some("tdoc") => {
                let ws = get_s(&old, "workspace_id").and_then(|w| WorkspaceId::parse(w).ok());
                let Some(workspace) = ws else { return Ok(None) };
                Flow::Tdoc { workspace }
            }
            _ => return Ok(None),
        };
        Ok(Some(StateRecord { flow, browser: get_s(&old, "browser").map(String::from) }))
    }

    /// Deletes a single-use record and returns it, unless it never existed, was taken, or
    /// has expired.
    async fn take(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match out {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                return Ok(None);
            }
            Err(e) => return Err(StoreError::sdk(e)),
        };
        if get_n(&old, "expires_at").is_none_or(|exp| exp <= now_secs()) {
            return Ok(None);
        }
        Ok(Some(old))
    }

    pub async fn put_tapd_token(&self, ws: &WorkspaceId, token: &TapdToken) -> Result<(), StoreError> {
        let pk = ws_pk(ws);
        let item = self.token_item(&pk, "TAPD_TOKEN", token, 0);
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    pub async fn tapd_token(&self, ws: &WorkspaceId) -> Result<Option<TapdToken>, StoreError> {
        Ok(self.read_token(&ws_pk(ws), "TAPD_TOKEN").await?.map(|(t, _)| t))
    }

    /// Binds a workspace to the token's account (a user binding made now, by that account),
    /// replacing whatever binding it had. Tests and tools; the connect flow uses [`Store::bind`].
    #[cfg(feature = "test-support")]
    pub async fn connect_tdoc(&self, ws: &WorkspaceId, token: &TdocToken) -> Result<(), StoreError> {
        let by = ConnectedBy { tapd_user: None, open_id: Some(token.open_id.clone()) };
        let binding = Binding::new(Account::User(token.open_id.clone()), by, None);
        let current = self.binding(ws).await?;
        self.bind(ws, &binding, Some(token), current.as_ref()).await?;
        Ok(())
    }

    /// Binds a workspace, in one transaction: the account's token (user mode), the binding,
    /// and, when it replaces another account's binding, that binding into the workspace's
    /// history. Conditional on `replacing` being the binding still in place (none when
    /// `None`): returns false when another binding was written meanwhile.
    pub async fn bind(
        &self,
        ws: &WorkspaceId,
        binding: &Binding,
        token: Option<&TdocToken>,
        replacing: Option<&Binding>,
    ) -> Result<bool, StoreError> {
        let pk = ws_pk(ws);
        let mut item = Self::key(&pk, "BINDING");
        binding.write(&mut item);
        // Listed among the connected workspaces (the scheduled sweep walks them).
        item.extend(super::workspaces::binding_index_attributes(ws));
        let mut put_binding = Put::builder().table_name(&self.table).set_item(Some(item));
        put_binding = match replacing {
            None => put_binding.condition_expression("attribute_not_exists(pk)"),
            Some(old) => put_binding
                .condition_expression("bind_id = :old OR (attribute_not_exists(bind_id) AND connected_at = :at)")
                .expression_attribute_values(":old", s(&old.bind_id))
                .expression_attribute_values(":at", n(old.connected_at)),
        };
        let put = |p: Put| TransactWriteItem::builder().put(p).build();
        let plain = |item: Item| Put::builder().table_name(&self.table).set_item(Some(item));
        let mut tx = self.client.transact_write_items();
        if let Some(t) = token {
            tx = tx
                .transact_items(put(plain(self.token_item(&tdoc_pk(&t.open_id), "TOKEN", t, 0)).build().expect("set")));
        }
        tx = tx.transact_items(put(put_binding.build().expect("table and item set")));
        if let Some(old) = replacing.filter(|old| old.account != binding.account) {
            let mut h = Self::key(&pk, &format!("HISTORY#{:012}#{}", old.connected_at, old.bind_id));
            old.write(&mut h);
            h.insert("replaced_at".into(), n(binding.connected_at));
            h.insert("replaced_by_bind_id".into(), s(&binding.bind_id));
            tx = tx.transact_items(put(plain(h).build().expect("table and item set")));
        }
        match tx.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_transaction_canceled_exception()) => {
                // A lost reply retried by the SDK finds its own write: that is a success.
                Ok(self.binding(ws).await?.is_some_and(|b| b.bind_id == binding.bind_id))
            }
            Err(e) => Err(StoreError::sdk(e)),
        }
    }

    /// The workspace's binding; `None` when it is not connected.
    pub async fn binding(&self, ws: &WorkspaceId) -> Result<Option<Binding>, StoreError> {
        let item = self.get_latest(&ws_pk(ws), "BINDING").await?;
        Ok(item.as_ref().and_then(Binding::read))
    }

    /// The bindings a workspace had before its current one, oldest first.
    pub async fn binding_history(&self, ws: &WorkspaceId) -> Result<Vec<Binding>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :h)")
            .expression_attribute_values(":pk", s(ws_pk(ws)))
            .expression_attribute_values(":h", s("HISTORY#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.items.unwrap_or_default().iter().filter_map(Binding::read).collect())
    }

    /// Stores a rebind waiting for confirmation under a single-use token (by hash, with a
    /// TTL, like states); the new account's token is sealed in it.
    pub async fn put_rebind(&self, confirm: &str, pending: &PendingRebind, ttl_secs: u64) -> Result<(), StoreError> {
        let pk = state_pk(confirm);
        let mut item = Self::key(&pk, "CONFIRM");
        item.insert("expires_at".into(), n(now_secs() + ttl_secs));
        item.insert("workspace_id".into(), s(pending.workspace.as_str()));
        item.insert("browser".into(), s(&pending.browser));
        pending.binding.write(&mut item);
        if let Some(t) = &pending.token {
            item.insert("ct".into(), AttributeValue::B(seal_token(&self.keys, &pk, "CONFIRM", t).into()));
        }
        self.put_new(item).await
    }

    /// Takes a pending rebind (single use), only for a browser it was made for (`browsers`:
    /// hashes of the request's nonces): a request from another browser leaves it in place
    /// for the rightful one.
    pub async fn take_rebind(&self, confirm: &str, browsers: &[String]) -> Result<RebindTake, StoreError> {
        let pk = state_pk(confirm);
        if browsers.is_empty() {
            return Ok(RebindTake::OtherBrowser);
        }
        let names: Vec<String> = (0..browsers.len()).map(|i| format!(":b{i}")).collect();
        let mut delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk, "CONFIRM")))
            .condition_expression(format!("attribute_exists(pk) AND browser IN ({})", names.join(", ")))
            .return_values(ReturnValue::AllOld);
        for (name, b) in names.iter().zip(browsers) {
            delete = delete.expression_attribute_values(name, s(b));
        }
        let item = match delete.send().await {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                // Unknown, or another browser's: which one only changes the page.
                let item = self.get_latest(&pk, "CONFIRM").await?;
                let live = item.as_ref().and_then(|i| get_n(i, "expires_at")).is_some_and(|exp| exp > now_secs());
                return Ok(if live { RebindTake::OtherBrowser } else { RebindTake::Unknown });
            }
            Err(e) => return Err(StoreError::sdk(e)),
        };
        if get_n(&item, "expires_at").is_none_or(|exp| exp <= now_secs()) {
            return Ok(RebindTake::Unknown);
        }
        let corrupt = || StoreError::Corrupt("CONFIRM record incomplete".into());
        let workspace = get_s(&item, "workspace_id").and_then(|w| WorkspaceId::parse(w).ok()).ok_or_else(corrupt)?;
        let binding = Binding::read(&item).ok_or_else(corrupt)?;
        let token = match item.get("ct") {
            Some(AttributeValue::B(blob)) => Some(open_token(&self.keys, &pk, "CONFIRM", blob.as_ref())?),
            _ => None,
        };
        if matches!(binding.account, Account::User(_)) && token.is_none() {
            return Err(corrupt());
        }
        let browser = get_s(&item, "browser").ok_or_else(corrupt)?.to_owned();
        Ok(RebindTake::Taken(Box::new(PendingRebind { workspace, binding, token, browser })))
    }

    /// A Tencent Docs token with its version, for a conditional update after refresh.
    pub async fn tdoc_token(&self, open_id: &OpenId) -> Result<Option<(TdocToken, u64)>, StoreError> {
        self.read_token(&tdoc_pk(open_id), "TOKEN").await
    }

    /// Writes a refreshed token unless another instance already replaced version `seen`.
    /// Returns false when it lost that race (the caller should re-read).
    pub async fn replace_tdoc_token(&self, token: &TdocToken, seen: u64) -> Result<bool, StoreError> {
        let item = self.token_item(&tdoc_pk(&token.open_id), "TOKEN", token, seen + 1);
        self.put_if_version(item, seen).await
    }

    pub(super) fn token_item<T: serde::Serialize>(&self, pk: &str, sk: &str, token: &T, version: u64) -> Item {
        let mut item = Self::key(pk, sk);
        item.insert("ct".into(), AttributeValue::B(seal_token(&self.keys, pk, sk, token).into()));
        item.insert("ver".into(), n(version));
        item.insert("updated_at".into(), n(now_secs()));
        item
    }

    async fn read_token<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<(T, u64)>, StoreError> {
        let Some(item) = self.get_latest(pk, sk).await? else { return Ok(None) };
        let Some(AttributeValue::B(blob)) = item.get("ct") else {
            return Err(StoreError::Corrupt(format!("{sk} record without ciphertext")));
        };
        let token: T = open_token(&self.keys, pk, sk, blob.as_ref())?;
        if self.keys.is_stale(blob.as_ref()) {
            self.reseal(pk, sk, &token, blob).await;
        }
        Ok(Some((token, get_n(&item, "ver").unwrap_or(0))))
    }

    /// Key rotation: a token read under an old key is written back under the current one
    /// at once, rather than at its next refresh (weeks away, or never for a token that is
    /// never refreshed), so the old key can be retired. Only the exact ciphertext that was
    /// read is replaced, and the version is kept: a concurrent refresh wins and is not
    /// disturbed. Best effort: a failure leaves the old ciphertext, still readable.
    async fn reseal<T: serde::Serialize>(&self, pk: &str, sk: &str, token: &T, old: &Blob) {
        match self.replace_ciphertext(pk, sk, seal_token(&self.keys, pk, sk, token), old).await {
            Ok(true) => tracing::info!(record = sk, "token re-encrypted under the current key"),
            Ok(false) => tracing::debug!(record = sk, "token not re-encrypted: written meanwhile"),
            Err(e) => tracing::debug!(record = sk, error = %e, "token not re-encrypted"),
        }
    }
}
