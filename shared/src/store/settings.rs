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
use crate::config::{DocPermission, DocType, FolderLayout, IntroField};
use crate::ids::{ItemKind, WorkspaceId};
use crate::text::Lang;
use crate::time::now_secs;

/// The events a workspace acts on: which kinds get a doc, whether docs follow renames, and
/// whether deletes are recorded (and trashed, with `ON_ITEM_DELETE=trash`). A workspace can
/// only narrow what the deployment does (tasks only with `LINK_TASKS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Events {
    pub story: bool,
    pub bug: bool,
    pub task: bool,
    pub rename: bool,
    pub delete: bool,
}

impl Events {
    pub const NAMES: [&'static str; 5] = ["story", "bug", "task", "rename", "delete"];

    pub const ALL: Events = Events { story: true, bug: true, task: true, rename: true, delete: true };

    /// Whether new items of `kind` get a doc.
    pub fn links(self, kind: ItemKind) -> bool {
        match kind {
            ItemKind::Story => self.story,
            ItemKind::Bug => self.bug,
            ItemKind::Task => self.task,
        }
    }

    /// Both at once: what the deployment allows and the workspace keeps.
    pub fn and(self, o: Events) -> Events {
        Events {
            story: self.story && o.story,
            bug: self.bug && o.bug,
            task: self.task && o.task,
            rename: self.rename && o.rename,
            delete: self.delete && o.delete,
        }
    }

    fn flags(self) -> [bool; 5] {
        [self.story, self.bug, self.task, self.rename, self.delete]
    }

    /// `story,bug,rename`: the names of those on (`none` when none is).
    pub fn to_list(self) -> String {
        let on: Vec<&str> = Self::NAMES.iter().zip(self.flags()).filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        if on.is_empty() { "none".into() } else { on.join(",") }
    }
}

impl std::str::FromStr for Events {
    type Err = String;
    /// A comma-separated list of [`Events::NAMES`] (or `none`); the unknown name when one is.
    fn from_str(raw: &str) -> Result<Self, String> {
        let mut e = Events { story: false, bug: false, task: false, rename: false, delete: false };
        for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty() && *n != "none") {
            match name {
                "story" => e.story = true,
                "bug" => e.bug = true,
                "task" => e.task = true,
                "rename" => e.rename = true,
                "delete" => e.delete = true,
                other => return Err(other.to_owned()),
            }
        }
        Ok(e)
    }
}

/// `owner,priority`, or `none` for no extras.
pub fn intro_list(fields: &[IntroField]) -> String {
    if fields.is_empty() { "none".into() } else { fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",") }
}

/// A comma-separated list of intro fields (`none`, or empty, for none); the unknown name.
pub fn parse_intro_list(raw: &str) -> Result<Vec<IntroField>, String> {
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty() && *n != "none") {
        let f: IntroField = name.parse().map_err(|()| name.to_owned())?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    Ok(out)
}

/// A workspace's doc permission: one of Tencent Docs' policies, or Tencent Docs' own default
/// (stored as `default`: no policy is set on new docs, whatever the deployment says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionSetting {
    TencentDefault,
    Policy(DocPermission),
}

impl PermissionSetting {
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionSetting::TencentDefault => "default",
            PermissionSetting::Policy(p) => p.as_str(),
        }
    }

    /// What new docs get: `None` is Tencent Docs' default.
    pub fn policy(self) -> Option<DocPermission> {
        match self {
            PermissionSetting::TencentDefault => None,
            PermissionSetting::Policy(p) => Some(p),
        }
    }
}

impl std::str::FromStr for PermissionSetting {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "default" => Ok(PermissionSetting::TencentDefault),
            p => p.parse().map(PermissionSetting::Policy),
        }
    }
}

/// Settings a workspace overrides; `None` (or a kind missing from a map) means the
/// deployment's. Typed when read: a stored value this version cannot read is logged and taken
/// as not set, so the deployment's applies (as it always has).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceSettings {
    /// `FOLDER_LAYOUT`.
    pub folder_layout: Option<FolderLayout>,
    /// `DOC_PERMISSION`, or Tencent Docs' own.
    pub doc_permission: Option<PermissionSetting>,
    /// `DOC_TITLE_TEMPLATE`.
    pub title_template: Option<String>,
    /// Doc type per item kind.
    pub doc_types: BTreeMap<ItemKind, DocType>,
    /// Template file id per item kind: new docs are copies of it.
    pub templates: BTreeMap<ItemKind, String>,
    /// `LANGUAGE`: of the texts written into TAPD and Tencent Docs.
    pub language: Option<Lang>,
    /// `DOC_INTRO_FIELDS`: what the doc's first paragraph shows besides the name and link.
    pub intro_fields: Option<Vec<IntroField>>,
    /// The events acted on (within the deployment's).
    pub events: Option<Events>,
    /// Linking paused since (ms): new items wait, recorded, and nothing is made until resumed.
    pub paused_since_ms: Option<u64>,
}

impl WorkspaceSettings {
    pub fn doc_type(&self, kind: ItemKind) -> Option<DocType> {
        self.doc_types.get(&kind).copied()
    }

    pub fn template(&self, kind: ItemKind) -> Option<&str> {
        self.templates.get(&kind).map(String::as_str).filter(|t| !t.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        *self == WorkspaceSettings::default()
    }
}

const SETTINGS: &str = "SETTINGS";

fn pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

/// A string map attribute keyed by item kind; entries this version cannot read are logged
/// and skipped (the deployment's applies to that kind).
fn kind_map<T>(ws: &WorkspaceId, item: &Item, name: &str, parse: impl Fn(&str) -> Option<T>) -> BTreeMap<ItemKind, T> {
    let Some(m) = item.get(name).and_then(|v| v.as_m().ok()) else { return BTreeMap::new() };
    m.iter()
        .filter_map(|(k, v)| {
            let parsed = ItemKind::parse(k).zip(v.as_s().ok().and_then(|v| parse(v)));
            if parsed.is_none() {
                tracing::warn!(workspace = %ws, setting = name, kind = %k, "a stored setting is unreadable; using the deployment's");
            }
            parsed
        })
        .collect()
}

/// A stored string setting parsed; unreadable is logged and taken as not set.
fn typed<T: std::str::FromStr>(ws: &WorkspaceId, item: &Item, name: &str) -> Option<T> {
    let raw = get_s(item, name)?;
    let parsed = raw.parse().ok();
    if parsed.is_none() {
        tracing::warn!(workspace = %ws, setting = name, "a stored setting is unreadable; using the deployment's");
    }
    parsed
}

impl Store {
    /// The workspace's settings (empty when it has none).
    pub async fn workspace_settings(&self, ws: &WorkspaceId) -> Result<WorkspaceSettings, StoreError> {
        let Some(item) = self.get(&pk(ws), SETTINGS).await? else { return Ok(WorkspaceSettings::default()) };
        Ok(WorkspaceSettings {
            folder_layout: typed(ws, &item, "folder_layout"),
            doc_permission: typed(ws, &item, "doc_permission"),
            title_template: get_s(&item, "title_template").map(String::from),
            doc_types: kind_map(ws, &item, "doc_types", |t| t.parse().ok()),
            templates: kind_map(ws, &item, "templates", |t| Some(t.to_owned())),
            language: typed(ws, &item, "language"),
            intro_fields: get_s(&item, "intro_fields").and_then(|raw| {
                parse_intro_list(raw)
                    .inspect_err(|_| tracing::warn!(workspace = %ws, setting = "intro_fields", "a stored setting is unreadable; using the deployment's"))
                    .ok()
            }),
            events: typed(ws, &item, "events"),
            paused_since_ms: super::get_n(&item, "paused_at"),
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
            ("folder_layout", settings.folder_layout.map(|v| v.as_str().to_owned())),
            ("doc_permission", settings.doc_permission.map(|v| v.as_str().to_owned())),
            ("title_template", settings.title_template.clone()),
            ("language", settings.language.map(|l| l.tag().to_owned())),
            ("intro_fields", settings.intro_fields.as_deref().map(intro_list)),
            ("events", settings.events.map(Events::to_list)),
        ] {
            if let Some(v) = v {
                item.insert(name.into(), s(v));
            }
        }
        if let Some(at) = settings.paused_since_ms {
            item.insert("paused_at".into(), n(at));
        }
        let doc_types = settings.doc_types.iter().map(|(k, t)| (k.as_str().to_owned(), s(t.as_str()))).collect();
        let templates = settings.templates.iter().map(|(k, t)| (k.as_str().to_owned(), s(t.clone()))).collect();
        for (name, m) in [("doc_types", doc_types), ("templates", templates)] {
            let m: std::collections::HashMap<_, _> = m;
            if !m.is_empty() {
                item.insert(name.into(), AttributeValue::M(m));
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
