//! A workspace's own settings, and the folders its docs go into.
//!
//! | pk               | sk                  | what                                                 |
//! |------------------|---------------------|------------------------------------------------------|
//! | `WS#<workspace>` | `SETTINGS`          | settings overriding the deployment's (all optional)  |
//! | `WS#<workspace>` | `FOLDER#ws`         | `folder_id`: the workspace's folder                  |
//! | `WS#<workspace>` | `FOLDER#iter#<id>`  | `folder_id`: an iteration's sub-folder                |
//!
//! Folders are remembered with a conditional write (`attribute_not_exists(folder_id)`), so two
//! instances racing remember one folder; the loser's folder is left upstream, empty (Tencent
//! Docs takes no idempotency key). A folder a person deleted is forgotten conditionally on
//! its id (an `UpdateItem` that removes it: the webhook's role has no `DeleteItem`).

use std::collections::BTreeMap;

use super::{Item, Store, StoreError, applied, get_s, n, s};
use crate::ids::{ItemKind, WorkspaceId};
use crate::time::now_secs;

/// Settings a workspace overrides; `None` means the deployment's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkspaceSettings {
    /// `none`, `workspace` or `iteration` (`FOLDER_LAYOUT`).
    pub folder_layout: Option<String>,
    /// `private`, `members`, `publicRead`, `publicWrite`, or `default` (Tencent Docs' own).
    pub doc_permission: Option<String>,
    /// `DOC_TITLE_TEMPLATE`.
    pub title_template: Option<String>,
    /// Doc type per item kind (`story`, `bug`, `task`).
    pub doc_types: BTreeMap<String, String>,
    /// Template file id per item kind: new docs are copies of it.
    pub templates: BTreeMap<String, String>,
}

impl WorkspaceSettings {
    pub fn doc_type(&self, kind: ItemKind) -> Option<&str> {
        self.doc_types.get(kind.as_str()).map(String::as_str)
    }

    pub fn template(&self, kind: ItemKind) -> Option<&str> {
        self.templates.get(kind.as_str()).map(String::as_str).filter(|t| !t.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        *self == WorkspaceSettings::default()
    }
}

const SETTINGS: &str = "SETTINGS";

fn pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

fn map_attr(item: &Item, name: &str) -> BTreeMap<String, String> {
    item.get(name)
        .and_then(|v| v.as_m().ok())
        .map(|m| m.iter().filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), v.clone()))).collect())
        .unwrap_or_default()
}

impl Store {
    /// The workspace's settings (empty when it has none).
    pub async fn workspace_settings(&self, ws: &WorkspaceId) -> Result<WorkspaceSettings, StoreError> {
        let Some(item) = self.get(&pk(ws), SETTINGS).await? else { return Ok(WorkspaceSettings::default()) };
        let text = |name: &str| get_s(&item, name).map(String::from);
        Ok(WorkspaceSettings {
            folder_layout: text("folder_layout"),
            doc_permission: text("doc_permission"),
            title_template: text("title_template"),
            doc_types: map_attr(&item, "doc_types"),
            templates: map_attr(&item, "templates"),
        })
    }

    /// Replaces the workspace's settings.
    pub async fn put_workspace_settings(
        &self,
        ws: &WorkspaceId,
        settings: &WorkspaceSettings,
    ) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let mut item = Self::key(&pk(ws), SETTINGS);
        item.insert("updated_at".into(), n(now_secs()));
        for (name, v) in [
            ("folder_layout", &settings.folder_layout),
            ("doc_permission", &settings.doc_permission),
            ("title_template", &settings.title_template),
        ] {
            if let Some(v) = v {
                item.insert(name.into(), s(v.clone()));
            }
        }
        for (name, m) in [("doc_types", &settings.doc_types), ("templates", &settings.templates)] {
            if !m.is_empty() {
                item.insert(name.into(), AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect()));
            }
        }
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    /// The folder remembered under `key` (`ws`, `iter#<id>`).
    pub async fn folder(&self, ws: &WorkspaceId, key: &str) -> Result<Option<String>, StoreError> {
        let item = self.get(&pk(ws), &format!("FOLDER#{key}")).await?;
        Ok(item.as_ref().and_then(|i| get_s(i, "folder_id")).map(String::from))
    }

    /// Remembers `folder_id` under `key` unless another is remembered already; the folder
    /// remembered in the end (ours, or the one that won the race).
    pub async fn remember_folder(&self, ws: &WorkspaceId, key: &str, folder_id: &str) -> Result<String, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk(ws), &format!("FOLDER#{key}"))))
            .update_expression("SET folder_id = :f, created_at = :now")
            .condition_expression("attribute_not_exists(folder_id)")
            .expression_attribute_values(":f", s(folder_id))
            .expression_attribute_values(":now", n(now_secs()))
            .send()
            .await;
        if applied(out)? {
            return Ok(folder_id.to_string());
        }
        match self.folder(ws, key).await? {
            Some(winner) => {
                tracing::warn!(workspace = %ws, folder = key, orphan = folder_id, "another instance made the folder first; ours is left empty");
                Ok(winner)
            }
            // Forgotten meanwhile: take ours.
            None => Box::pin(self.remember_folder(ws, key, folder_id)).await,
        }
    }

    /// Forgets the folder under `key` if it is still `folder_id` (a person deleted it).
    pub async fn forget_folder(&self, ws: &WorkspaceId, key: &str, folder_id: &str) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&pk(ws), &format!("FOLDER#{key}"))))
            .update_expression("REMOVE folder_id")
            .condition_expression("folder_id = :f")
            .expression_attribute_values(":f", s(folder_id))
            .send()
            .await;
        // Not applied: another folder is remembered by now, which stays.
        applied(out).map(|_| ())
    }
}
