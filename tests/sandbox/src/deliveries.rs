//! TAPD's webhook deliveries beyond create (`upstream-apis.md`, "Beyond creating"), to the
//! configured URL ([`crate::SandboxConfig::webhook_url`], or [`Sandbox::set_webhook`] at run time):
//!
//! - a change to an item (the item page's form, [`Sandbox::change_item`], `POST /_sandbox/items/change`)
//!   delivers `story::update` / `bug::update` / `task::update` in the shape of
//!   `fixtures/tapd/webhook_story_update.json`: `event`, `event_from` (`web`), `referer` (the item's
//!   page), `workspace_id`, `current_user`, `id`, `change_fields` (the changed fields, then
//!   `modified`, comma separated), `old_<field>` for every changed field and always `old_status`,
//!   `old_<owner>` (`old_owner`; bugs `old_current_owner`), `old_priority`, `old_iteration_id`,
//!   `old_modified` (as the sample carries them), `secret`, `app_id` (the TAPD client id), `rio_token`,
//!   `queue_id`, `event_id`, `created`; all strings, **never the new values**. A status change then also
//!   delivers `story::status_change` / `bug::status_change`: the same envelope with
//!   `change_fields: "status"` and `old_status` (the sandbox's choice of shape: no public sample).
//! - iterations: `iteration::create` (the iteration's fields), `iteration::update` (`change_fields`,
//!   `old_name`, ...), `iteration::delete` (the iteration's fields as they were).
//!
//! Deliveries are POSTed as JSON, one after the other, synchronously; each is recorded
//! ([`Delivery`], `GET /_sandbox/deliveries`) with the receiver's HTTP status (`0`: no answer), and
//! can be sent again ([`Sandbox::redeliver`]): late, twice, out of order. Nothing is delivered when
//! no webhook URL is set (the change still happens).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Sandbox;
use crate::model::{Item, ItemKind, Iteration};
use crate::util;

/// How long a webhook delivery may take (the webhook function's own timeout is 30 s).
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(40);

/// One delivery made (or attempted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// 1, 2, ... in the order sent.
    pub seq: u64,
    /// `story::update`, ...
    pub event: String,
    pub url: String,
    pub body: Value,
    /// The receiver's HTTP status; `0` when it did not answer.
    pub status: u16,
    /// The delivery this one repeats ([`Sandbox::redeliver`]).
    #[serde(default)]
    pub redelivery_of: Option<u64>,
}

/// What [`Sandbox::change_item`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemChange {
    pub item: Item,
    /// The fields whose value changed (without `modified`).
    pub changed: Vec<String>,
    /// The events TAPD would deliver, delivered or not.
    pub events: Vec<Value>,
    pub deliveries: Vec<Delivery>,
}

fn owner_key(kind: ItemKind) -> &'static str {
    if kind == ItemKind::Bug { "current_owner" } else { "owner" }
}

fn digits(n: usize) -> String {
    let id = util::random_id19();
    id[..n.min(id.len())].to_string()
}

/// The envelope every delivery carries, before and after its own fields.
fn envelope(
    sb: &Sandbox,
    event: &str,
    referer: &str,
    ws: &str,
    user: &str,
    id: &str,
    own: Map<String, Value>,
) -> Value {
    let mut body = Map::new();
    for (k, v) in [
        ("event", event),
        ("event_from", "web"),
        ("referer", referer),
        ("workspace_id", ws),
        ("current_user", user),
        ("id", id),
    ] {
        body.insert(k.into(), json!(v));
    }
    for (k, v) in own {
        body.entry(k).or_insert(v);
    }
    let (_, secret) = sb.webhook_target();
    for (k, v) in [
        ("secret", secret),
        ("app_id", sb.config().tapd_client_id.clone()),
        ("rio_token", String::new()),
        ("queue_id", digits(9)),
        ("event_id", digits(8)),
        ("created", util::now_shanghai()),
    ] {
        body.insert(k.into(), json!(v));
    }
    Value::Object(body)
}

fn item_page(sb: &Sandbox, item: &Item) -> String {
    format!("{}/{}", sb.tapd_web_base(), crate::web::item_path(item.kind, &item.workspace_id, &item.id))
}

/// The events a change from `old` to `new` makes, in TAPD's order: the update, then a status change.
fn item_events(sb: &Sandbox, old: &Item, new: &Item, changed: &[String], user: &str) -> Vec<Value> {
    if changed.is_empty() {
        return Vec::new();
    }
    let kind = new.kind.wrapper().to_lowercase();
    let get = |i: &Item, k: &str| i.fields.get(k).cloned().unwrap_or_default();
    let mut own = Map::new();
    let mut fields: Vec<&str> = changed.iter().map(String::as_str).collect();
    fields.push("modified");
    own.insert("change_fields".into(), json!(fields.join(",")));
    let always = ["status", owner_key(new.kind), "priority", "iteration_id", "modified"];
    for k in changed.iter().map(String::as_str).chain(always) {
        own.insert(format!("old_{k}"), json!(get(old, k)));
    }
    let page = item_page(sb, new);
    let mut events = vec![envelope(sb, &format!("{kind}::update"), &page, &new.workspace_id, user, &new.id, own)];
    if changed.iter().any(|c| c == "status") && new.kind != ItemKind::Task {
        let mut own = Map::new();
        own.insert("change_fields".into(), json!("status"));
        own.insert("old_status".into(), json!(get(old, "status")));
        events.push(envelope(sb, &format!("{kind}::status_change"), &page, &new.workspace_id, user, &new.id, own));
    }
    events
}

fn iteration_fields(it: &Iteration) -> Map<String, Value> {
    match crate::workflow::iteration_json(it) {
        Value::Object(mut m) => match m.remove("Iteration") {
            Some(Value::Object(f)) => f,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

fn iteration_referer(sb: &Sandbox, ws: &str) -> String {
    format!("{}/{ws}/prong/iterations/index", sb.tapd_web_base())
}

/// POSTs one delivery; the receiver's HTTP status, `0` when it did not answer.
pub(crate) async fn post(url: &str, body: &Value) -> u16 {
    let client = match crate::http_client().timeout(WEBHOOK_TIMEOUT).build() {
        Ok(c) => c,
        Err(_) => return 0,
    };
    match client.post(url).header("content-type", "application/json").body(body.to_string()).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            tracing::info!(%url, status, "sandbox: webhook delivered");
            status
        }
        Err(e) => {
            tracing::warn!(%url, error = %e, "sandbox: webhook delivery failed");
            0
        }
    }
}

impl Sandbox {
    /// Where deliveries go, and the `secret` they carry: set by [`Sandbox::set_webhook`], else the config's.
    pub fn webhook_target(&self) -> (Option<String>, String) {
        match self.lock().webhook.clone() {
            Some(target) => target,
            None => (self.config().webhook_url.clone(), self.config().webhook_secret.clone()),
        }
    }

    /// Points deliveries at `url` (`None`: none) with `secret`, from now on.
    pub fn set_webhook(&self, url: Option<&str>, secret: &str) {
        self.lock().webhook = Some((url.map(str::to_owned), secret.to_string()));
    }

    /// Delivers each event in order to the webhook URL and records it; nothing without a URL.
    pub(crate) async fn deliver_all(&self, events: &[Value], redelivery_of: Option<u64>) -> Vec<Delivery> {
        let Some(url) = self.webhook_target().0 else { return Vec::new() };
        let mut out = Vec::new();
        for body in events {
            let status = post(&url, body).await;
            let event = body["event"].as_str().unwrap_or_default().to_string();
            let mut st = self.lock();
            let seq = st.deliveries.len() as u64 + 1;
            let d = Delivery { seq, event, url: url.clone(), body: body.clone(), status, redelivery_of };
            st.deliveries.push(d.clone());
            out.push(d);
        }
        out
    }

    /// Every delivery made so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    /// Sends recorded delivery `seq` again, body unchanged (same `event_id`): TAPD delivering
    /// twice, or late, or out of order. `None` if there is no such delivery or no webhook URL.
    pub async fn redeliver(&self, seq: u64) -> Option<Delivery> {
        let body = self.lock().deliveries.iter().find(|d| d.seq == seq)?.body.clone();
        self.deliver_all(&[body], Some(seq)).await.pop()
    }

    /// Changes an item's fields as a person in TAPD would (`status` by key or by its workflow
    /// name; `owner`/`current_owner`, `priority`, `iteration_id`, a name, ...): TAPD's rules hold
    /// (the status one of the workflow's, the iteration the workspace's), `modified` becomes now,
    /// and with `deliver` the events TAPD sends go to the webhook URL. A field set to its current
    /// value is no change; no change delivers nothing. `Err` for an unknown item or a broken rule
    /// (nothing changes then).
    pub async fn change_item(
        &self,
        workspace_id: &str,
        kind: ItemKind,
        id: &str,
        fields: &[(&str, &str)],
        current_user: &str,
        deliver: bool,
    ) -> Result<ItemChange, String> {
        let (old, new, changed) = {
            let mut st = self.lock();
            let old = st
                .item(workspace_id, kind, id)
                .cloned()
                .ok_or_else(|| format!("no {kind:?} {id} in {workspace_id}"))?;
            let mut wanted = std::collections::BTreeMap::new();
            for (k, v) in fields {
                let (k, v) = match *k {
                    "owner" | "current_owner" => (owner_key(kind), normalize_owner(v)),
                    "status" => {
                        let key = match crate::model::WorkflowSystem::of(kind) {
                            Some(sys) => st.workflow(workspace_id, sys).key_of(v).map(str::to_owned),
                            None => crate::model::TASK_STATUSES
                                .iter()
                                .find(|(key, name)| key == v || name == v)
                                .map(|(key, _)| key.to_string()),
                        };
                        ("status", key.ok_or_else(|| format!("{v} is not a status of this workspace's workflow"))?)
                    }
                    other => (other, v.to_string()),
                };
                wanted.insert(k.to_string(), v);
            }
            crate::tapd::check_fields(&st, workspace_id, kind, &wanted)?;
            let changed: Vec<String> = wanted
                .iter()
                .filter(|(k, v)| old.fields.get(*k) != Some(*v) && k.as_str() != "modified")
                .map(|(k, _)| k.clone())
                .collect();
            let item = st.items.get_mut(&(workspace_id.to_string(), kind, id.to_string())).expect("found above");
            if !changed.is_empty() {
                item.fields.extend(wanted);
                item.fields
                    .insert("modified".into(), later_than(&old.fields.get("modified").cloned().unwrap_or_default()));
            }
            (old, item.clone(), changed)
        };
        let events = item_events(self, &old, &new, &changed, current_user);
        let deliveries = if deliver { self.deliver_all(&events, None).await } else { Vec::new() };
        Ok(ItemChange { item: new, changed, events, deliveries })
    }

    /// Creates an iteration ([`Sandbox::add_iteration`]) and delivers `iteration::create`.
    pub async fn create_iteration(
        &self,
        workspace_id: &str,
        id: Option<&str>,
        name: &str,
    ) -> (Iteration, Vec<Delivery>) {
        let it = self.add_iteration(workspace_id, id, name);
        let event = envelope(
            self,
            "iteration::create",
            &iteration_referer(self, workspace_id),
            workspace_id,
            "sandbox",
            &it.id,
            iteration_fields(&it),
        );
        let d = self.deliver_all(&[event], None).await;
        (it, d)
    }

    /// Renames an iteration and delivers `iteration::update` (`change_fields` `name,modified`,
    /// `old_name`, `old_modified`); `None` if unknown.
    pub async fn rename_iteration(
        &self,
        workspace_id: &str,
        id: &str,
        name: &str,
    ) -> Option<(Iteration, Vec<Delivery>)> {
        let old = self.lock().iteration(workspace_id, id).cloned()?;
        let it = self.rename_iteration_quietly(workspace_id, id, name)?;
        let mut own = Map::new();
        own.insert("change_fields".into(), json!("name,modified"));
        own.insert("old_name".into(), json!(old.name));
        own.insert("old_modified".into(), json!(old.modified));
        let event = envelope(
            self,
            "iteration::update",
            &iteration_referer(self, workspace_id),
            workspace_id,
            "sandbox",
            id,
            own,
        );
        let d = self.deliver_all(&[event], None).await;
        Some((it, d))
    }

    /// Deletes an iteration (its items keep their `iteration_id`, as in TAPD until edited) and
    /// delivers `iteration::delete` with its fields as they were; `None` if unknown.
    pub async fn delete_iteration(&self, workspace_id: &str, id: &str) -> Option<(Iteration, Vec<Delivery>)> {
        let it = {
            let mut st = self.lock();
            let at = st.iterations.iter().position(|i| i.workspace_id == workspace_id && i.id == id)?;
            st.iterations.remove(at)
        };
        let event = envelope(
            self,
            "iteration::delete",
            &iteration_referer(self, workspace_id),
            workspace_id,
            "sandbox",
            id,
            iteration_fields(&it),
        );
        let d = self.deliver_all(&[event], None).await;
        Some((it, d))
    }
}

/// TAPD keeps owners as a `;`-terminated list: `alice, bob` → `alice;bob;`.
fn normalize_owner(v: &str) -> String {
    let names: Vec<&str> = v.split([';', ',', '，', ' ']).map(str::trim).filter(|s| !s.is_empty()).collect();
    names.iter().map(|n| format!("{n};")).collect()
}

/// Now, or one second after `previous` if now is not later: `modified` always moves forward, so
/// two changes within a second still order.
fn later_than(previous: &str) -> String {
    let now = util::now_shanghai();
    if now.as_str() > previous { now } else { util::plus_one_second(previous).unwrap_or(now) }
}
