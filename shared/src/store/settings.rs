//! A workspace's own settings, and the folders its docs go into.
//!
//! | pk               | sk                  | what                                                 |
//! |------------------|---------------------|------------------------------------------------------|
//! | `WS#<workspace>` | `SETTINGS`          | settings overriding the deployment's (all optional)  |
//! | `WS#<workspace>` | `FOLDER#ws`         | `folder_id`: the workspace's folder                  |
//! | `WS#<workspace>` | `FOLDER#iter#<id>`  | `folder_id`: an iteration's sub-folder, `title`: its title (by the iteration's name) |
//! | `WS#<workspace>` | `FOLDER#done#<parent>` | `folder_id`: the `已完成` sub-folder of folder `<parent>` (`/`: the root) |
//! | `WS#<workspace>` | `FOLDERS_KEPT`      | `kept`: iteration id → the title a refused rename asked for (the console says so) |
//!
//! A folder is made under a lease (`making_until`, taken conditionally while no folder is
//! remembered): of instances that need the same folder at once, one lists, makes and lists
//! again; the others wait for what it remembers. A lease whose holder died lapses.
//!
//! Folders are remembered with a conditional write (`attribute_not_exists(folder_id)`), so two
//! instances racing remember one folder; the loser's folder is left upstream, empty (Tencent
//! Docs takes no idempotency key). A folder a person deleted is forgotten conditionally on
//! its id (an `UpdateItem` that removes it: the webhook's role has no `DeleteItem`).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;

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

/// `on` or `off`, as a switch setting is written.
pub fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// A switch setting as typed: `on`/`off` (also `true`/`false`, `yes`/`no`, `1`/`0`).
pub fn parse_on_off(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
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
    /// Close-out: a doc moves into its folder's `已完成` sub-folder while its item is in an
    /// end status (`None`: on, the default).
    pub close_out: Option<bool>,
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

/// A remembered folder's titles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderTitles {
    pub id: String,
    /// The title the product last gave it (none on folders made before titles were remembered).
    pub title: Option<String>,
    /// The title a rename that Tencent Docs refused asked for.
    pub refused: Option<String>,
}

const SETTINGS: &str = "SETTINGS";
const FOLDERS_KEPT: &str = "FOLDERS_KEPT";

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

/// A folder's making lease, as taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderLease {
    /// No lease was ever taken on it: nothing was made for it before `at_ms`.
    First { at_ms: u64 },
    /// Leases were taken before, the first at `first_ms` (0: not known): a create may have
    /// been sent since then.
    Again { first_ms: u64 },
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
            close_out: get_s(&item, "close_out").and_then(|raw| {
                let on = parse_on_off(raw);
                if on.is_none() {
                    tracing::warn!(workspace = %ws, setting = "close_out", "a stored setting is unreadable; using the default");
                }
                on
            }),
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
            ("close_out", settings.close_out.map(|on| on_off(on).to_owned())),
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

    /// An update of the record of the folder under `key`.
    fn folder_update(&self, ws: &WorkspaceId, key: &str) -> UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).set_key(Some(Self::key(&pk(ws), &format!("FOLDER#{key}"))))
    }

    /// `expression` on the record of the folder under `key` while it is still `folder_id`
    /// (not applied when another folder is remembered by now, which stays).
    async fn update_remembered_folder(
        &self,
        ws: &WorkspaceId,
        key: &str,
        folder_id: &str,
        expression: &str,
        title: Option<&str>,
    ) -> Result<(), StoreError> {
        let req = self
            .folder_update(ws, key)
            .update_expression(expression)
            .condition_expression("folder_id = :f")
            .expression_attribute_values(":f", s(folder_id));
        let req = match title {
            Some(t) => req.expression_attribute_values(":t", s(t)),
            None => req,
        };
        applied(req.send().await).map(|_| ())
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
            .folder_update(ws, key)
            .update_expression("SET folder_id = :f, created_at = :now REMOVE making_owner, making_until")
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

    /// The folder remembered under `key`, with the title it was last given and the title a
    /// refused rename last asked for (none: made before titles were remembered).
    pub async fn folder_titled(&self, ws: &WorkspaceId, key: &str) -> Result<Option<FolderTitles>, StoreError> {
        let item = self.get(&pk(ws), &format!("FOLDER#{key}")).await?;
        Ok(item.as_ref().and_then(|i| {
            Some(FolderTitles {
                id: get_s(i, "folder_id")?.to_owned(),
                title: get_s(i, "title").map(String::from),
                refused: get_s(i, "title_refused").map(String::from),
            })
        }))
    }

    /// Records that renaming the folder to `wanted` was refused (not asked again for that title).
    pub async fn record_folder_refused(
        &self,
        ws: &WorkspaceId,
        key: &str,
        folder_id: &str,
        wanted: &str,
    ) -> Result<(), StoreError> {
        self.update_remembered_folder(ws, key, folder_id, "SET title_refused = :t", Some(wanted)).await
    }

    /// Takes the lease to make the folder under `key` until `until_ms`: `None` while another
    /// holds one, or once a folder is remembered; else whether it is the first lease on it
    /// (then nothing can have been made for it) or since when leases were taken (a create for
    /// it can only have been sent since then: a look reads back to then, not the whole parent).
    pub async fn take_folder_lease(
        &self,
        ws: &WorkspaceId,
        key: &str,
        owner: &str,
        until_ms: u64,
    ) -> Result<Option<FolderLease>, StoreError> {
        let now = crate::time::now_millis();
        let out = self
            .folder_update(ws, key)
            .update_expression("SET making_owner = :o, making_until = :u, first_making = if_not_exists(first_making, :now)")
            .condition_expression(
                "attribute_not_exists(folder_id) AND (attribute_not_exists(making_until) OR making_until < :now OR making_owner = :o)",
            )
            .expression_attribute_values(":o", s(owner))
            .expression_attribute_values(":u", n(until_ms))
            .expression_attribute_values(":now", n(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        let old = match out {
            Ok(o) => o.attributes.unwrap_or_default(),
            Err(e) => return applied(Err::<(), _>(e)).map(|_| None),
        };
        Ok(Some(match (super::get_n(&old, "first_making"), old.contains_key("making_until")) {
            (Some(first_ms), _) => FolderLease::Again { first_ms },
            // A lease from before leases kept their first time: when is not known.
            (None, true) => FolderLease::Again { first_ms: 0 },
            (None, false) => FolderLease::First { at_ms: now },
        }))
    }

    /// Lets go of `owner`'s lease on the folder under `key` (its making failed): the next
    /// instance need not wait for it to lapse.
    pub async fn release_folder_lease(&self, ws: &WorkspaceId, key: &str, owner: &str) -> Result<(), StoreError> {
        let out = self
            .folder_update(ws, key)
            .update_expression("REMOVE making_owner, making_until")
            .condition_expression("making_owner = :o")
            .expression_attribute_values(":o", s(owner))
            .send()
            .await;
        applied(out).map(|_| ())
    }

    /// Records the title a remembered folder now has (it was renamed, or made with it).
    pub async fn record_folder_title(
        &self,
        ws: &WorkspaceId,
        key: &str,
        folder_id: &str,
        title: &str,
    ) -> Result<(), StoreError> {
        self.update_remembered_folder(ws, key, folder_id, "SET title = :t REMOVE title_refused", Some(title)).await
    }

    /// Says (`Some(title)`: the title a refused rename asked for) or unsays (`None`: renamed
    /// after all, or gone) that an iteration's folder keeps its old title.
    pub async fn record_folder_kept(
        &self,
        ws: &WorkspaceId,
        iteration: &str,
        wanted: Option<&str>,
    ) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let update =
            || self.client.update_item().table_name(&self.table).set_key(Some(Self::key(&pk(ws), FOLDERS_KEPT)));
        let Some(title) = wanted else {
            let out = update()
                .update_expression("REMOVE kept.#i")
                .condition_expression("attribute_exists(kept)")
                .expression_attribute_names("#i", iteration)
                .send()
                .await;
            return applied(out).map(|_| ());
        };
        // Two writes: a map entry cannot be set in the expression that makes the map.
        update()
            .update_expression("SET kept = if_not_exists(kept, :empty), updated_at = :now")
            .expression_attribute_values(":empty", AttributeValue::M(Default::default()))
            .expression_attribute_values(":now", n(now_secs()))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        update()
            .update_expression("SET kept.#i = :t")
            .expression_attribute_names("#i", iteration)
            .expression_attribute_values(":t", s(title))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// The iterations whose folder keeps its old title, with the title each rename asked for.
    pub async fn folders_kept(&self, ws: &WorkspaceId) -> Result<BTreeMap<String, String>, StoreError> {
        let Some(item) = self.get(&pk(ws), FOLDERS_KEPT).await? else { return Ok(BTreeMap::new()) };
        let Some(m) = item.get("kept").and_then(|v| v.as_m().ok()) else { return Ok(BTreeMap::new()) };
        Ok(m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone()))).collect())
    }

    /// Forgets the folder under `key` if it is still `folder_id` (a person deleted it).
    pub async fn forget_folder(&self, ws: &WorkspaceId, key: &str, folder_id: &str) -> Result<(), StoreError> {
        // A folder made from now on is made afresh: a look for it reads back to its first lease.
        self.update_remembered_folder(ws, key, folder_id, "REMOVE folder_id, title, first_making", None).await
    }
}
