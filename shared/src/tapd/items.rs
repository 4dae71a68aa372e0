//! Items (stories, bugs, tasks): read one, list a workspace's by creation time, set a field.

use serde::Deserialize;

use super::{MAX_PAGE, S, TapdClient, api, list_rows};
use crate::ids::{ItemId, ItemKind, WorkspaceId};
use crate::secret::Secret;
use crate::upstream::{self, UpstreamError};

/// What the product reads of an item. TAPD sends every value as a string; the ones the
/// product shows (owner, priority, iteration) are kept as TAPD wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapdItem {
    pub id: ItemId,
    /// `name` (stories, tasks) or `title` (legacy bugs).
    pub name: String,
    /// HTML, as people wrote it in TAPD.
    pub description: String,
    pub owner: String,
    pub priority: String,
    pub iteration_id: String,
    /// `Y-m-d H:i:s`, Asia/Shanghai.
    pub created: String,
    /// The workflow status key (`planning`, a custom `status_3`): its name is the
    /// workspace's own (`/workflows/status_map`), never hard-coded.
    pub status: String,
    /// A story's type (its workflow follows it); empty for bugs and tasks.
    pub workitem_type_id: String,
}

impl TapdItem {
    /// The item's iteration, if it is in one (TAPD writes `0` or nothing for none).
    pub fn iteration(&self) -> Option<crate::ids::IterationId> {
        crate::ids::IterationId::parse(&self.iteration_id).ok().filter(|i| i.as_str().bytes().any(|b| b != b'0'))
    }
}

#[derive(Deserialize)]
struct RawItem {
    id: ItemId,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    description: String,
    #[serde(default, deserialize_with = "loose_string")]
    owner: String,
    /// Bugs name their owner `current_owner`.
    #[serde(default, deserialize_with = "loose_string")]
    current_owner: String,
    #[serde(default, deserialize_with = "loose_string")]
    priority: String,
    #[serde(default, deserialize_with = "loose_string")]
    iteration_id: String,
    #[serde(default, deserialize_with = "loose_string")]
    created: String,
    #[serde(default, deserialize_with = "loose_string")]
    status: String,
    #[serde(default, deserialize_with = "loose_string")]
    workitem_type_id: String,
}

impl From<RawItem> for TapdItem {
    fn from(raw: RawItem) -> Self {
        let name = raw.name.filter(|n| !n.is_empty()).or(raw.title).unwrap_or_default();
        TapdItem {
            id: raw.id,
            name,
            description: raw.description,
            owner: if raw.owner.is_empty() { raw.current_owner } else { raw.owner },
            priority: raw.priority,
            iteration_id: raw.iteration_id,
            created: raw.created,
            status: raw.status,
            workitem_type_id: raw.workitem_type_id,
        }
    }
}

/// A field TAPD may send as a string, a number or `null`: read as text, never an error.
pub(super) fn loose_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

impl TapdClient {
    /// Fetches one item; `Ok(None)` when TAPD has no such item in the workspace.
    pub async fn get_item(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
    ) -> Result<Option<TapdItem>, UpstreamError> {
        let req = self
            .http
            .get(format!("{}/{}", self.cfg.api_base, kind.api_path()))
            .bearer_auth(token.expose())
            .query(&[("workspace_id", workspace.as_str()), ("id", id.as_str())]);
        let (status, body) = upstream::send_gauged(S, req, &self.gauge).await?;
        item_reply(status, &body, kind, id)
    }

    /// One page (1-based) of a workspace's items of `kind` created at or after `since_ms`
    /// (Unix milliseconds; TAPD's times have whole seconds), oldest first, [`MAX_PAGE`] at a time.
    pub async fn list_created_since(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        since_ms: u64,
        page: u32,
    ) -> Result<Vec<TapdItem>, UpstreamError> {
        let created = crate::time::tapd_at_or_after(since_ms);
        self.list_page(token, workspace, kind, ("created", &created), page).await
    }

    /// One page of a list of `kind` items filtered by `filter`, oldest first, [`MAX_PAGE`] at
    /// a time (the fields the sweep and the follow-ups need).
    async fn list_page(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        filter: (&str, &str),
        page: u32,
    ) -> Result<Vec<TapdItem>, UpstreamError> {
        let (limit, page) = (MAX_PAGE.to_string(), page.to_string());
        let req =
            self.http.get(format!("{}/{}", self.cfg.api_base, kind.api_path())).bearer_auth(token.expose()).query(&[
                ("workspace_id", workspace.as_str()),
                filter,
                ("order", "created asc"),
                ("fields", "id,name,title,created"),
                ("limit", limit.as_str()),
                ("page", page.as_str()),
            ]);
        let (status, body) = upstream::send_gauged(S, req, &self.gauge).await?;
        item_list_reply(status, &body, kind)
    }

    /// One page (1-based) of the workspace's items of `kind` in iteration `iteration` (by the
    /// documented `iteration_id` filter), oldest first, [`MAX_PAGE`] at a time.
    pub async fn list_in_iteration(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        iteration: &crate::ids::IterationId,
        page: u32,
    ) -> Result<Vec<TapdItem>, UpstreamError> {
        self.list_page(token, workspace, kind, ("iteration_id", iteration.as_str()), page).await
    }

    /// How many of a workspace's items of `kind` were created at or after `since_ms`.
    pub async fn count_created_since(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        since_ms: u64,
    ) -> Result<u64, UpstreamError> {
        let created = crate::time::tapd_at_or_after(since_ms);
        let req = self
            .http
            .get(format!("{}/{}/count", self.cfg.api_base, kind.api_path()))
            .bearer_auth(token.expose())
            .query(&[("workspace_id", workspace.as_str()), ("created", created.as_str())]);
        let (status, body) = upstream::send_gauged(S, req, &self.gauge).await?;
        count_reply(status, &body)
    }

    /// Sets one field (a custom field) of an item.
    pub async fn update_field(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
        field: &str,
        value: &str,
    ) -> Result<(), UpstreamError> {
        let req = self
            .http
            .post(format!("{}/{}", self.cfg.api_base, kind.api_path()))
            .bearer_auth(token.expose())
            .form(&[("workspace_id", workspace.as_str()), ("id", id.as_str()), (field, value)]);
        let (status, body) = upstream::send_gauged(S, req, &self.gauge).await?;
        update_reply(status, &body)
    }
}

/// A read by id. TAPD answers `data: []` when it has no such item; a reply that is not a
/// list (`""`, `{}`, a greeting) says nothing about the item, so it is an error (retried,
/// then looked at again), never "the item is gone".
pub(super) fn item_reply(
    status: u16,
    body: &[u8],
    kind: ItemKind,
    id: &ItemId,
) -> Result<Option<TapdItem>, UpstreamError> {
    let data: serde_json::Value = api(status, body)?;
    if !data.is_array() {
        return Err(UpstreamError::Malformed { service: S, detail: "a read by id answered without a list".into() });
    }
    Ok(items_of(list_rows(data)?, kind)?.into_iter().find(|item| &item.id == id))
}

pub(super) fn item_list_reply(status: u16, body: &[u8], kind: ItemKind) -> Result<Vec<TapdItem>, UpstreamError> {
    items_of(list_rows(api(status, body)?)?, kind)
}

fn items_of(
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
    kind: ItemKind,
) -> Result<Vec<TapdItem>, UpstreamError> {
    let mut items = Vec::new();
    for row in rows {
        let Some(raw) = row.get(kind.wrapper()) else { continue };
        let raw: RawItem = serde_json::from_value(raw.clone())
            .map_err(|_| UpstreamError::Malformed { service: S, detail: "item without a valid id".into() })?;
        items.push(raw.into());
    }
    Ok(items)
}

/// `data: {"count": N}`, the number as a number or a string (TAPD sends most values as strings).
pub(super) fn count_reply(status: u16, body: &[u8]) -> Result<u64, UpstreamError> {
    let data: serde_json::Map<String, serde_json::Value> = api(status, body)?;
    let n = match data.get("count") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    n.ok_or_else(|| UpstreamError::Malformed { service: S, detail: "a count reply without a count".into() })
}

/// An update answers the item (`data: {"Story":{...}}`): anything but an object (TAPD's
/// greeting of a misspelt path is a string) is not a done update.
pub(super) fn update_reply(status: u16, body: &[u8]) -> Result<(), UpstreamError> {
    api::<serde_json::Map<String, serde_json::Value>>(status, body).map(|_| ())
}
