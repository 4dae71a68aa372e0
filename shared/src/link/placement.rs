//! Where a new doc goes and what it starts as: the workspace's own settings
//! (`WS#<ws>` / `SETTINGS`, [`WorkspaceSettings`]) else the deployment's, and the folder
//! per workspace (and per iteration) the doc is created in.
//!
//! Folders are made on first use and remembered (`WS#<ws>` / `FOLDER#ws`,
//! `FOLDER#iter#<id>`); a folder a person deleted is noticed when a create into it is
//! refused (`ret` 10102 / `404`), forgotten, and made again.

use crate::deadline::Deadline;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::Linker;
use super::made::{self, Found};
use crate::app::Clients;
use crate::config::{DocPermission, FolderLayout, IntroField, WebhookConfig};
use crate::error::LinkError;
use crate::ids::{ItemKind, WorkspaceId};
use crate::store::{Account, Events, FolderLease, ItemKey, PermissionSetting, WorkspaceSettings};
use crate::tapd::TapdItem;
use crate::tdoc::DriveEntry;
use crate::text::Lang;
use crate::tokens::{Repeat, Tokens};

/// How long a workspace's settings are trusted from memory (as bindings are).
const SETTINGS_TTL: Duration = Duration::from_secs(300);

/// What [`Linker`] keeps in memory across warm invocations, each map capped ([`crate::bounded`]).
#[derive(Default)]
pub struct Cache {
    settings: Mutex<HashMap<WorkspaceId, (WorkspaceSettings, Instant)>>,
    /// Folder ids by (workspace, folder key); checked by use (a refused create forgets one).
    folders: Mutex<HashMap<(WorkspaceId, String), String>>,
    /// Iteration folders' titles known to be followed, by (workspace, folder key).
    titled: Mutex<HashMap<(WorkspaceId, String), String>>,
}

/// When [`Linker::reload_settings`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    Always,
    Debounced,
}

/// A workspace's settings resolved against the deployment's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub layout: FolderLayout,
    pub permission: Option<DocPermission>,
    pub title_template: String,
    /// Of the texts written upstream (the intro, the comment, folder names).
    pub language: Lang,
    pub intro_fields: Vec<IntroField>,
    /// What the deployment does, narrowed by the workspace.
    pub events: Events,
    /// Linking is paused: new items wait.
    pub paused: bool,
    /// Docs of items in an end status move into `已完成` (on unless the workspace turns it off).
    pub close_out: bool,
    own: WorkspaceSettings,
}

impl Placement {
    /// The workspace's setting where it has one (and it is valid), else the deployment's.
    pub fn resolve(cfg: &WebhookConfig, own: WorkspaceSettings) -> Self {
        let layout = own.folder_layout.unwrap_or(cfg.folder_layout);
        let permission = own.doc_permission.map_or(cfg.doc_permission, PermissionSetting::policy);
        let title_template = own.title_template.clone().unwrap_or_else(|| cfg.link.title_template.clone());
        let deployment = Events { task: cfg.link.link_tasks, ..Events::ALL };
        Placement {
            layout,
            permission,
            title_template,
            language: own.language.unwrap_or(cfg.language),
            intro_fields: own.intro_fields.clone().unwrap_or_else(|| cfg.link.intro_fields.clone()),
            events: own.events.map_or(deployment, |e| deployment.and(e)),
            paused: own.paused_since_ms.is_some(),
            close_out: own.close_out.unwrap_or(true),
            own,
        }
    }

    pub fn doc_type<'a>(&'a self, cfg: &'a WebhookConfig, kind: ItemKind) -> &'a str {
        match self.own.doc_type(kind) {
            Some(t) => t.as_str(),
            None => cfg.link.doc_type(kind),
        }
    }

    /// The template file new docs of `kind` are copied from, if the workspace names one.
    pub fn template(&self, kind: ItemKind) -> Option<&str> {
        self.own.template(kind)
    }
}

/// Why a workspace may not copy a template file when one Tencent Docs app account serves
/// every workspace (`TDOC_OWNER=app`): the account can read every workspace's docs, so a file
/// id alone would let one workspace copy another's. Its own is a file in its folder (or a
/// sub-folder of it), where the product puts what it makes for the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ForeignTemplate {
    /// The workspace has no folder yet (nothing made for it, or the `none` layout): no file is its own.
    #[error("the workspace has no folder of its own yet, so no file is its own")]
    NoWorkspaceFolder,
    /// The file is not in the workspace's folder nor in a sub-folder of it.
    #[error("the file is not in the workspace's folder")]
    NotInWorkspaceFolder,
}

/// The most sub-folders of the workspace's folder a template is looked for in.
const MAX_TEMPLATE_SUBFOLDERS: usize = 20;

/// A folder a doc is created in: its id, and the key it is remembered under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub key: String,
    pub id: String,
}

/// The workspace's folder's title: TAPD's workspace name would be nicer, but it costs a
/// call TAPD documents only loosely (`/workspaces/get_workspace_info`): the id names it.
fn folder_title(ws: &WorkspaceId) -> String {
    format!("TAPD {ws}")
}

/// An iteration's folder's title when its name cannot be had.
fn iteration_id_title(lang: Lang, iteration: &str) -> String {
    match lang {
        Lang::ZhCn => format!("迭代 {iteration}"),
        Lang::En => format!("Iteration {iteration}"),
    }
}

/// What became of an iteration folder's title ([`Linker::follow_iteration_title`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retitle {
    /// No folder is remembered for the iteration (none made yet, or a person deleted it).
    NoFolder,
    Unchanged,
    Renamed,
    /// Tencent Docs refused the rename: the folder keeps its title, and the console says so.
    Kept,
}

/// How long an instance making a folder holds the workspace's lease on it (a listing, a
/// create and a listing take well under it; a holder that dies holds others up this long).
const FOLDER_LEASE: Duration = Duration::from_secs(15);
/// How long an instance waits for a folder another is making before trying again later.
const FOLDER_WAIT: Duration = Duration::from_secs(20);

impl Linker {
    /// The workspace's placement (its settings cached for [`SETTINGS_TTL`]).
    pub(super) async fn placement(&self, ws: &WorkspaceId) -> Result<Placement, LinkError> {
        if let Some((own, at)) = self.places.settings.lock().await.get(ws)
            && at.elapsed() < SETTINGS_TTL
        {
            return Ok(Placement::resolve(&self.cfg, own.clone()));
        }
        self.fresh_placement(ws).await
    }

    /// The workspace's placement read from the table now (and remembered).
    pub(super) async fn fresh_placement(&self, ws: &WorkspaceId) -> Result<Placement, LinkError> {
        let own = self.clients.store.workspace_settings(ws).await?;
        crate::bounded::insert(&mut *self.places.settings.lock().await, ws.clone(), (own.clone(), Instant::now()));
        Ok(Placement::resolve(&self.cfg, own))
    }

    /// Reads the workspace's settings again, run beside a claim (no round trip of its own), so
    /// the next item follows settings changed in the console or by `tapdocs` at once. A
    /// delivery always reads them (`Reload::Always`: a change a moment ago counts); the
    /// scheduled run's items, many at a time, at most once a second (`Reload::Debounced`).
    pub(super) async fn reload_settings(&self, ws: &WorkspaceId, how: Reload) {
        if how == Reload::Debounced
            && self.places.settings.lock().await.get(ws).is_some_and(|(_, at)| at.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        match self.clients.store.workspace_settings(ws).await {
            Ok(own) => {
                crate::bounded::insert(&mut *self.places.settings.lock().await, ws.clone(), (own, Instant::now()));
            }
            Err(e) => tracing::debug!(error = %e, "settings not reloaded; the remembered ones serve"),
        }
    }

    /// The workspace's settings and its folder's id read into memory ahead of their use
    /// (side by side, whatever the layout turns out to be); failures are left to that use.
    pub(super) async fn warm_placement(&self, ws: &WorkspaceId) {
        let cache_key = (ws.clone(), "ws".to_string());
        let folder = async {
            if self.places.folders.lock().await.contains_key(&cache_key) {
                return;
            }
            if let Ok(Some(id)) = self.clients.store.folder(ws, "ws").await {
                crate::bounded::insert(&mut *self.places.folders.lock().await, cache_key.clone(), id);
            }
        };
        let (_, ()) = tokio::join!(self.placement(ws), folder);
    }

    /// The folder a new doc of `item` goes into under `layout`, made if need be.
    pub(super) async fn folder_for(
        &self,
        key: &ItemKey,
        account: &Account,
        item: &TapdItem,
        layout: FolderLayout,
        deadline: Deadline,
    ) -> Result<Option<Folder>, LinkError> {
        if layout == FolderLayout::None {
            return Ok(None);
        }
        let ws = &key.workspace;
        let ws_title = folder_title(ws);
        let ws_folder = self.ensure_folder(ws, account, "ws", None, &ws_title, deadline).await?;
        let iteration = item.iteration_id.trim();
        if layout == FolderLayout::Workspace || iteration.is_empty() || iteration == "0" {
            return Ok(Some(ws_folder));
        }
        let iter_key = format!("iter#{iteration}");
        let title = self.iteration_folder_title(ws, iteration, deadline).await?;
        let folder = match self.ensure_folder(ws, account, &iter_key, Some(&ws_folder.id), &title, deadline).await {
            Err(LinkError::Upstream(e)) if crate::tdoc::is_missing(&e) => {
                // The workspace's folder is gone (and the iteration's with it).
                self.forget_folder(ws, &ws_folder).await?;
                let ws_folder = self.ensure_folder(ws, account, "ws", None, &ws_title, deadline).await?;
                self.ensure_folder(ws, account, &iter_key, Some(&ws_folder.id), &title, deadline).await?
            }
            other => other?,
        };
        // A folder made before it was titled by name (or before a rename event came) is
        // renamed once here; the doc goes into it whatever becomes of that.
        let cache_key = (ws.clone(), iter_key);
        if self.places.titled.lock().await.get(&cache_key) != Some(&title) {
            match self.follow_iteration_title(ws, account, iteration, &title, deadline).await {
                Ok(_) => crate::bounded::insert(&mut *self.places.titled.lock().await, cache_key, title),
                Err(e) => {
                    tracing::warn!(workspace = %ws, iteration, error = %e, "the iteration's folder's title not checked")
                }
            }
        }
        Ok(Some(folder))
    }

    /// The title an iteration's folder is made with (and renamed to).
    /// The iteration's name (`/iterations`, cached per workspace: [`super::names`]); its id
    /// where TAPD has no such iteration or it has no name. A failed read is an error: no
    /// folder is made under a title it would have to be renamed from.
    pub(super) async fn iteration_folder_title(
        &self,
        ws: &WorkspaceId,
        iteration: &str,
        deadline: Deadline,
    ) -> Result<String, LinkError> {
        let lang = self.placement(ws).await?.language;
        let Ok(id) = crate::ids::IterationId::parse(iteration) else { return Ok(iteration_id_title(lang, iteration)) };
        let name = self.iteration_name(ws, &id, deadline).await?;
        Ok(match name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => super::cut_chars(name, crate::tdoc::TITLE_MAX_CHARS).trim_end().to_owned(),
            None => iteration_id_title(lang, iteration),
        })
    }

    /// An iteration's folder, if one is remembered, follows `title` (the iteration's name):
    /// renamed where its title differs. A rename Tencent Docs refuses (the route is
    /// unconfirmed) leaves the folder as it is, is said in the console (`FOLDERS_KEPT`) and
    /// is not asked again for that title; docs never move for it.
    pub async fn follow_iteration_title(
        &self,
        ws: &WorkspaceId,
        account: &Account,
        iteration: &str,
        title: &str,
        deadline: Deadline,
    ) -> Result<Retitle, LinkError> {
        let key = format!("iter#{iteration}");
        let Some(folder) = self.clients.store.folder_titled(ws, &key).await? else { return Ok(Retitle::NoFolder) };
        let lang = self.placement(ws).await?.language;
        // Folders made before titles were remembered carry the id's title.
        let current = folder.title.clone().unwrap_or_else(|| iteration_id_title(lang, iteration));
        if current == title {
            if folder.refused.is_some() {
                self.clients.store.record_folder_title(ws, &key, &folder.id, title).await?;
                self.clients.store.record_folder_kept(ws, iteration, None).await?;
            }
            return Ok(Retitle::Unchanged);
        }
        if folder.refused.as_deref() == Some(title) {
            return Ok(Retitle::Kept);
        }
        let (id, t) = (&folder.id, title);
        let renamed = self
            .tokens
            .call_tdoc(&self.clients, ws, account, deadline, Repeat::WhileTransient, |tok| async move {
                self.clients.tdoc.rename_folder(&tok, id, t).await
            })
            .await;
        match renamed {
            Ok(()) => {
                self.clients.store.record_folder_title(ws, &key, &folder.id, title).await?;
                self.clients.store.record_folder_kept(ws, iteration, None).await?;
                tracing::info!(workspace = %ws, iteration, "the iteration's folder renamed after it");
                Ok(Retitle::Renamed)
            }
            Err(LinkError::Upstream(e)) if crate::tdoc::is_missing(&e) => {
                // A person deleted it: the next doc of the iteration makes it, titled by name.
                self.forget_folder(ws, &Folder { key: key.clone(), id: folder.id.clone() }).await?;
                self.clients.store.record_folder_kept(ws, iteration, None).await?;
                Ok(Retitle::NoFolder)
            }
            Err(LinkError::Upstream(e @ crate::upstream::UpstreamError::Refused { .. })) => {
                tracing::warn!(workspace = %ws, iteration, error = %e, "the iteration's folder could not be renamed; it keeps its title");
                self.clients.store.record_folder_refused(ws, &key, &folder.id, title).await?;
                self.clients.store.record_folder_kept(ws, iteration, Some(title)).await?;
                Ok(Retitle::Kept)
            }
            Err(e) => Err(e),
        }
    }

    /// The folder remembered under `folder_key`, else the one titled `title` found in
    /// `parent`, else made with that title ([`Linker::find_or_make_folder`]) under the
    /// workspace's lease for it, so that instances needing it at once make one.
    pub(super) async fn ensure_folder(
        &self,
        ws: &WorkspaceId,
        account: &Account,
        folder_key: &str,
        parent: Option<&str>,
        title: &str,
        deadline: Deadline,
    ) -> Result<Folder, LinkError> {
        let cache_key = (ws.clone(), folder_key.to_string());
        if let Some(id) = self.places.folders.lock().await.get(&cache_key) {
            return Ok(Folder { key: folder_key.into(), id: id.clone() });
        }
        let owner = crate::random::id();
        let started = Instant::now();
        let id = loop {
            if let Some(id) = self.clients.store.folder(ws, folder_key).await? {
                break id;
            }
            let lease_until = crate::time::now_millis() + FOLDER_LEASE.as_millis() as u64;
            if let Some(lease) = self.clients.store.take_folder_lease(ws, folder_key, &owner, lease_until).await? {
                let made = match self.find_or_make_folder(ws, account, parent, title, lease, deadline).await {
                    Ok(made) => made,
                    Err(e) => {
                        if let Err(le) = self.clients.store.release_folder_lease(ws, folder_key, &owner).await {
                            tracing::warn!(workspace = %ws, error = %le, "the folder's lease is left to lapse");
                        }
                        return Err(e);
                    }
                };
                let kept = self.clients.store.remember_folder(ws, folder_key, &made).await?;
                if kept == made {
                    self.clients.store.record_folder_title(ws, folder_key, &kept, title).await?;
                }
                tracing::info!(workspace = %ws, folder = folder_key, folder_id = %kept, "folder found or made for the workspace's docs");
                break kept;
            }
            // Another instance is making it: what it remembers serves (its lease lapses if it died).
            if started.elapsed() > FOLDER_WAIT || !deadline.has_time_for(Duration::from_secs(2)) {
                return Err(LinkError::LookFailed(format!("another instance is making the {folder_key} folder")));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        crate::bounded::insert(&mut *self.places.folders.lock().await, cache_key, id.clone());
        Ok(Folder { key: folder_key.into(), id })
    }

    /// The id of the folder titled `title` in `parent`: found by listing `parent`, else made
    /// with that title and `parent` listed again. A create whose reply was lost is settled by
    /// that second listing; where two were made after all (a lease that lapsed), every
    /// instance converges on the oldest (the one remembered first, `remember_folder`).
    ///
    /// Under the first lease ever taken on it nothing can have been made for it: the folder is
    /// made at once, and a create that answered is taken as it is (one call). Under a later
    /// lease, listings read back to the first lease (less clock skew), not the whole parent:
    /// in app-account mode the root holds every workspace's folder, and reading all of it for
    /// each new one spent most of the account's Tencent Docs calls at 2,000 workspaces
    /// (simulation bench).
    pub(super) async fn find_or_make_folder(
        &self,
        ws: &WorkspaceId,
        account: &Account,
        parent: Option<&str>,
        title: &str,
        lease: FolderLease,
        deadline: Deadline,
    ) -> Result<String, LinkError> {
        let since_ms = match lease {
            FolderLease::First { at_ms } => at_ms,
            FolderLease::Again { first_ms } => first_ms,
        };
        let since_secs = (since_ms / 1000).saturating_sub(made::CLOCK_SKEW_SECS);
        let look = || async {
            let found = self
                .look(ws, account, parent, since_secs, deadline, |e| e.kind == "folder" && e.title == title)
                .await?;
            Ok::<_, LinkError>(match found {
                Found::Made(folders) => Some(folders),
                Found::Nothing => None,
            })
        };
        if let FolderLease::Again { .. } = lease
            && let Some(folders) = look().await?
        {
            return Ok(folders[0].id.clone());
        }
        let made = self
            .tokens
            .call_tdoc(&self.clients, ws, account, deadline, Repeat::UnlessMayHaveActed, |tok| async move {
                super::in_doubt(self.clients.tdoc.create_folder(&tok, title, parent).await)
            })
            .await?;
        match (&made, lease) {
            (Ok(id), FolderLease::First { .. }) => return Ok(id.clone()),
            (Err(e), _) => {
                tracing::warn!(workspace = %ws, error = %e, "the folder's create has an unknown outcome; looking for it")
            }
            (Ok(_), FolderLease::Again { .. }) => {}
        }
        match (look().await?, made) {
            (Some(folders), made) => {
                if let Ok(ours) = &made
                    && *ours != folders[0].id
                {
                    tracing::warn!(workspace = %ws, ours = %ours, kept = %folders[0].id, "a folder of the same title was made meanwhile; the oldest is used");
                }
                Ok(folders[0].id.clone())
            }
            // Made, not listed yet (a listing that lags): the reply names it.
            (None, Ok(id)) => Ok(id),
            // Not made: the next attempt finds nothing, and makes it.
            (None, Err(e)) => Err(LinkError::Upstream(e)),
        }
    }

    /// Whether `file_id` is the workspace's own ([`template_is_own`]).
    pub(super) async fn template_is_own(
        &self,
        ws: &WorkspaceId,
        account: &Account,
        file_id: &str,
        deadline: Deadline,
    ) -> Result<Result<(), ForeignTemplate>, LinkError> {
        template_is_own(&self.clients, &self.tokens, ws, account, file_id, deadline).await
    }

    /// Forgets a folder a create was refused into (a person deleted it).
    pub(super) async fn forget_folder(&self, ws: &WorkspaceId, folder: &Folder) -> Result<(), LinkError> {
        tracing::warn!(workspace = %ws, folder = %folder.key, folder_id = %folder.id, "the docs' folder is gone; making another");
        self.places.folders.lock().await.remove(&(ws.clone(), folder.key.clone()));
        self.clients.store.forget_folder(ws, &folder.key, &folder.id).await?;
        Ok(())
    }
}

/// Whether `file_id` is `ws`'s own: listed in its folder or one level below (the documented
/// folder listing, as `account`). A failed listing is an error (the caller fails or retries),
/// never a pass. The webhook checks it before copying a template; the console before saving one.
pub async fn template_is_own(
    clients: &Clients,
    tokens: &Tokens,
    ws: &WorkspaceId,
    account: &Account,
    file_id: &str,
    deadline: Deadline,
) -> Result<Result<(), ForeignTemplate>, LinkError> {
    let folder = clients.store.folder(ws, "ws").await?;
    template_in(folder, file_id, |folder, start| async move {
        tokens
            .call_tdoc(clients, ws, account, deadline, Repeat::WhileTransient, |tok| {
                let folder = folder.clone();
                async move { clients.tdoc.list_folder(&tok, Some(&folder), start).await }
            })
            .await
    })
    .await
}

/// Whether `file_id` is in the workspace's folder (`folder`, none yet: foreign) or one level
/// below, listed page by page by `list(folder, start)` (`tapdocs` lists with a token of its own).
pub async fn template_in<L, Fut>(
    folder: Option<String>,
    file_id: &str,
    list: L,
) -> Result<Result<(), ForeignTemplate>, LinkError>
where
    L: Fn(String, u64) -> Fut,
    Fut: std::future::Future<Output = Result<crate::tdoc::FolderPage, LinkError>>,
{
    let Some(folder) = folder else {
        return Ok(Err(ForeignTemplate::NoWorkspaceFolder));
    };
    let here = |e: &DriveEntry| e.kind != "folder" && e.id == file_id;
    let entries = list_all(&list, &folder).await?;
    if entries.iter().any(here) {
        return Ok(Ok(()));
    }
    for sub in entries.iter().filter(|e| e.kind == "folder").take(MAX_TEMPLATE_SUBFOLDERS) {
        if list_all(&list, &sub.id).await?.iter().any(here) {
            return Ok(Ok(()));
        }
    }
    Ok(Err(ForeignTemplate::NotInWorkspaceFolder))
}

/// Every entry of `folder`, page by page (at most [`made::MAX_LOOK_PAGES`]); a folder that is
/// gone has none.
async fn list_all<L, Fut>(list: &L, folder: &str) -> Result<Vec<DriveEntry>, LinkError>
where
    L: Fn(String, u64) -> Fut,
    Fut: std::future::Future<Output = Result<crate::tdoc::FolderPage, LinkError>>,
{
    let (mut start, mut all) = (0, Vec::new());
    for _ in 0..made::MAX_LOOK_PAGES {
        let page = match list(folder.to_owned(), start).await {
            Err(LinkError::Upstream(e)) if crate::tdoc::is_missing(&e) => return Ok(all),
            other => other?,
        };
        all.extend(page.entries);
        if page.next == 0 {
            return Ok(all);
        }
        if page.next <= start {
            return Err(LinkError::LookFailed(format!("the folder listing went back to {} after {start}", page.next)));
        }
        start = page.next;
    }
    Err(LinkError::LookFailed(format!("the folder listing did not end within {} pages", made::MAX_LOOK_PAGES)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tdoc::FolderPage;
    use crate::upstream::{Service, UpstreamError};

    fn entry(id: &str, kind: &str) -> DriveEntry {
        DriveEntry { id: id.into(), title: id.into(), kind: kind.into(), url: String::new(), created: 1 }
    }

    /// A drive of folders (id → entries), listed two entries a page.
    fn drive(
        folders: &[(&str, Vec<DriveEntry>)],
    ) -> impl Fn(String, u64) -> std::future::Ready<Result<FolderPage, LinkError>> {
        let folders: HashMap<String, Vec<DriveEntry>> =
            folders.iter().map(|(id, e)| ((*id).to_owned(), e.clone())).collect();
        move |folder, start| {
            let page = match folders.get(&folder) {
                None => Err(LinkError::Upstream(UpstreamError::Refused {
                    service: Service::Tdoc,
                    status: 404,
                    detail: "folder does not exist (code 10102)".into(),
                })),
                Some(all) => {
                    let entries: Vec<_> = all.iter().skip(start as usize).take(2).cloned().collect();
                    let next =
                        if start as usize + entries.len() < all.len() { start + entries.len() as u64 } else { 0 };
                    Ok(FolderPage { entries, next })
                }
            };
            std::future::ready(page)
        }
    }

    #[tokio::test]
    async fn a_template_is_its_workspace_s_own_only_in_its_folder_or_one_below() {
        let folders = [
            ("ws", vec![entry("a", "doc"), entry("b", "doc"), entry("iter", "folder"), entry("c", "sheet")]),
            ("iter", vec![entry("d", "doc"), entry("deep", "folder")]),
            ("deep", vec![entry("e", "doc")]),
        ];
        let d = drive(&folders);
        let ws = || Some("ws".to_owned());
        // On the second page, and one level below.
        assert_eq!(template_in(ws(), "c", &d).await.unwrap(), Ok(()));
        assert_eq!(template_in(ws(), "d", &d).await.unwrap(), Ok(()));
        // Two levels below, elsewhere, a folder's own id: not its own.
        for foreign in ["e", "elsewhere", "iter"] {
            assert_eq!(template_in(ws(), foreign, &d).await.unwrap(), Err(ForeignTemplate::NotInWorkspaceFolder));
        }
        // No folder yet; a folder gone: nothing is its own.
        assert_eq!(template_in(None, "a", &d).await.unwrap(), Err(ForeignTemplate::NoWorkspaceFolder));
        assert_eq!(
            template_in(Some("gone".into()), "a", &d).await.unwrap(),
            Err(ForeignTemplate::NotInWorkspaceFolder)
        );
        // A listing that fails is an error, never a pass.
        let down = |_: String, _: u64| {
            std::future::ready(Err::<FolderPage, _>(LinkError::Upstream(UpstreamError::Unavailable {
                service: Service::Tdoc,
                detail: "HTTP 503".into(),
            })))
        };
        assert!(template_in(ws(), "a", down).await.is_err());
    }
}
