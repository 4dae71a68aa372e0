//! Workspaces' bindings and tokens: which Tencent Docs account a workspace uses (and who
//! bound it, and the bindings it replaced), the workspace's TAPD token and the account's
//! Tencent Docs token (encrypted).
//!
//! | pk                 | sk                   | what                                      |
//! |--------------------|----------------------|-------------------------------------------|
//! | `WS#<workspace>`   | `BINDING`            | the account, who bound it, when           |
//! | `WS#<workspace>`   | `HISTORY#<at>#<id>`  | a binding it replaced (kept)              |
//! | `WS#<workspace>`   | `TAPD_TOKEN`         | the workspace's TAPD token (encrypted)    |
//! | `TDOC#<open id>`   | `TOKEN`              | a Tencent Docs token (encrypted)          |
//!
//! A binding sets `needs_reconnect` (why) when its account's refresh is refused; every binding
//! is in the lists index (`gsi1pk = WORKSPACE`), for the sweep to find the connected ones.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::{Item, Store, StoreError, applied, get_n, get_s, n, open_token, s, seal_token};
use crate::ids::{OpenId, WorkspaceId};
use crate::tapd::TapdToken;
use crate::tdoc::TdocToken;
use crate::time::now_secs;
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

impl Account {
    /// The user's Open-Id; `None` for the app account.
    pub fn open_id(&self) -> Option<&OpenId> {
        match self {
            Account::User(o) => Some(o),
            Account::App => None,
        }
    }
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
        self.account.open_id()
    }

    pub(super) fn write(&self, item: &mut Item) {
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
    pub(super) fn read(item: &Item) -> Option<Self> {
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

impl Store {
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
        item.extend(binding_index_attributes(ws));
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
        // A binding to another account (or after none) is a takeover boundary: every console
        // session of the workspace ends with it, in the same transaction.
        if replacing.is_none_or(|old| old.account != binding.account) {
            let end = self.end_sessions_update(ws, crate::time::now_millis());
            tx = tx.transact_items(TransactWriteItem::builder().update(end).build());
        }
        if let Some(old) = replacing.filter(|old| old.account != binding.account) {
            let mut h = Self::key(&pk, &format!("HISTORY#{:012}#{}", old.connected_at, old.bind_id));
            old.write(&mut h);
            h.insert("replaced_at".into(), n(binding.connected_at));
            h.insert("replaced_by_bind_id".into(), s(&binding.bind_id));
            tx = tx.transact_items(put(plain(h).build().expect("table and item set")));
        }
        let bound = match tx.send().await {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_transaction_canceled_exception()) => {
                // A lost reply retried by the SDK finds its own write: that is a success.
                self.binding(ws).await?.is_some_and(|b| b.bind_id == binding.bind_id)
            }
            Err(e) => return Err(StoreError::sdk(e)),
        };
        // Swept from its connection on (a reconnect keeps the sweep it had). Not in the
        // transaction: its condition would cancel a reconnect. Missed, the scheduled run's
        // check of the sweep index against the bindings puts it there.
        if bound && let Err(e) = self.start_sweep(ws, binding.connected_at).await {
            tracing::warn!(workspace = %ws, error = %e, "the workspace's sweep was not started; the scheduled run starts it");
        }
        Ok(bound)
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

/// `gsi1pk` of binding records: every connected workspace, in the `pending` index.
pub const WORKSPACES: &str = "WORKSPACE";

/// A connected workspace as the sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundWorkspace {
    pub workspace: WorkspaceId,
    /// Unix seconds.
    pub connected_at: u64,
}

impl Store {
    /// Marks a workspace whose Tencent Docs token cannot be refreshed: an operator (or
    /// `tapdocs status`) sees it, and it clears when the workspace is connected again.
    /// Whether the workspace's Tencent Docs authorization was refused and it must be
    /// connected again.
    pub async fn needs_reconnect(&self, ws: &WorkspaceId) -> Result<bool, StoreError> {
        Ok(self.get(&format!("WS#{ws}"), "BINDING").await?.is_some_and(|b| b.contains_key("needs_reconnect")))
    }

    /// Marks the workspace as needing a reconnection; true when this call marked it (the
    /// moment its authorization is known dead: the workspace's robot is told then, once).
    pub async fn mark_needs_reconnect(&self, ws: &WorkspaceId, why: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&format!("WS#{ws}"), "BINDING")))
            .update_expression("SET needs_reconnect = :why, needs_reconnect_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(needs_reconnect)")
            .expression_attribute_values(":why", s(why.chars().take(300).collect::<String>()))
            .expression_attribute_values(":now", n(now_secs()))
            .send()
            .await;
        applied(out)
    }

    /// Every connected workspace.
    pub async fn bound_workspaces(&self) -> Result<Vec<BoundWorkspace>, StoreError> {
        Ok(self
            .query_all(self.list_query(WORKSPACES))
            .await?
            .iter()
            .filter_map(|item| {
                let workspace = get_s(item, "gsi1sk").and_then(|w| WorkspaceId::parse(w).ok())?;
                Some(BoundWorkspace { workspace, connected_at: get_n(item, "connected_at").unwrap_or(0) })
            })
            .collect())
    }
}

/// The index attributes that list a binding among the connected workspaces.
pub fn binding_index_attributes(ws: &WorkspaceId) -> [(String, AttributeValue); 2] {
    [("gsi1pk".into(), s(WORKSPACES)), ("gsi1sk".into(), s(ws.as_str()))]
}

/// What `disconnect_workspace` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disconnected {
    pub binding: bool,
    pub tapd_token: bool,
    pub tdoc_token: bool,
    /// Other workspaces bound to the same Tencent Docs account: its token was kept for them.
    pub tdoc_token_kept_for: Vec<WorkspaceId>,
    pub sweep_cursor: bool,
    /// Its own webhook secrets (they no longer open it).
    pub webhook_secrets: bool,
}

impl Store {
    /// Disconnects a workspace, in one transaction: its binding (kept in its history, marked
    /// disconnected), its TAPD token, its sweep cursor, and its Tencent Docs account's token
    /// unless another workspace is bound to the same account. Its item records stay.
    pub async fn disconnect_workspace(&self, ws: &WorkspaceId) -> Result<Disconnected, StoreError> {
        let pk = ws_pk(ws);
        let records = self.records_of(&pk).await?;
        let binding_raw = records.get("BINDING").cloned();
        let binding = match binding_raw {
            Some(_) => self.binding(ws).await?,
            None => None,
        };
        let mut done = Disconnected::default();
        let mut tx: Vec<TransactWriteItem> = Vec::new();
        let delete = |pk: &str, sk: &str| {
            TransactWriteItem::builder()
                .delete(
                    Delete::builder().table_name(&self.table).set_key(Some(Self::key(pk, sk))).build().expect("set"),
                )
                .build()
        };
        if let Some(raw) = binding_raw {
            let bind_id = get_s(&raw, "bind_id").unwrap_or_default().to_owned();
            let connected_at = get_n(&raw, "connected_at").unwrap_or(0);
            let mut history = raw.clone();
            history.remove("gsi1pk");
            history.remove("gsi1sk");
            history.remove("needs_reconnect_at");
            history.insert("sk".into(), s(format!("HISTORY#{connected_at:012}#{bind_id}")));
            history.insert("replaced_at".into(), n(now_secs()));
            history.insert("disconnected".into(), AttributeValue::Bool(true));
            tx.push(
                TransactWriteItem::builder()
                    .put(Put::builder().table_name(&self.table).set_item(Some(history)).build().expect("set"))
                    .build(),
            );
            // Only the binding that was read: a reconnect meanwhile is not undone.
            let mut cond = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(&pk, "BINDING")))
                .expression_attribute_values(":at", n(connected_at));
            cond = match bind_id.as_str() {
                "" => cond.condition_expression("attribute_exists(pk) AND connected_at = :at"),
                id => cond
                    .condition_expression("attribute_exists(pk) AND connected_at = :at AND bind_id = :id")
                    .expression_attribute_values(":id", s(id)),
            };
            tx.push(TransactWriteItem::builder().delete(cond.build().expect("set")).build());
            done.binding = true;
        }
        if records.contains_key("TAPD_TOKEN") {
            tx.push(delete(&pk, "TAPD_TOKEN"));
            done.tapd_token = true;
        }
        // Its own webhook secrets stop opening it (a reconnect makes a new one).
        if records.contains_key("WEBHOOK_SECRETS") {
            tx.push(delete(&pk, "WEBHOOK_SECRETS"));
            done.webhook_secrets = true;
        }
        if let Some(open_id) = binding.as_ref().and_then(Binding::open_id) {
            for other in self.bound_workspaces().await? {
                if &other.workspace != ws
                    && self.binding(&other.workspace).await?.as_ref().and_then(Binding::open_id) == Some(open_id)
                {
                    done.tdoc_token_kept_for.push(other.workspace);
                }
            }
            let tdoc_pk = format!("TDOC#{open_id}");
            if done.tdoc_token_kept_for.is_empty() && self.get_latest(&tdoc_pk, "TOKEN").await?.is_some() {
                tx.push(delete(&tdoc_pk, "TOKEN"));
                done.tdoc_token = true;
            }
        }
        if self.get_latest(&format!("SWEEP#{ws}"), "SWEEP").await?.is_some() {
            tx.push(delete(&format!("SWEEP#{ws}"), "SWEEP"));
            done.sweep_cursor = true;
        }
        if tx.is_empty() {
            return Ok(done);
        }
        match self.client.transact_write_items().set_transact_items(Some(tx)).send().await {
            Ok(_) => Ok(done),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_transaction_canceled_exception()) => {
                Err(StoreError::Unavailable("the workspace was connected again meanwhile; nothing was removed".into()))
            }
            Err(e) => Err(StoreError::sdk(e)),
        }
    }
}
