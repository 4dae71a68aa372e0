//! What a workspace admin (in the console) or an operator (`tapdocs`) can do, as one set of
//! operations: each face only parses its input and renders the result. Every change is
//! recorded in the workspace's audit trail (who, what, when).

use std::time::Duration;

use crate::ids::{ItemId, ItemKind, WorkspaceId};
use crate::reason::Reason;
use crate::secret::Secret;
use crate::store::ItemFilter;
use crate::store::{Binding, ItemKey, ItemRecord, Stage, Store, StoreError, WorkspaceSettings};
use crate::text::Lang;
use crate::time::now_millis;

/// The CSRF token of a console session: derived from the session's token, so a page that
/// carries it was served to that session's browser, and nothing is stored for it.
pub fn csrf_of(session_token: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("console-csrf|{session_token}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..24])
}

/// An item as a person sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    Linked,
    Waiting,
    GivenUp,
    Deleted,
}

impl ItemState {
    pub fn of(record: &ItemRecord) -> Self {
        match &record.stage {
            _ if record.deleted => ItemState::Deleted,
            Stage::Done { .. } => ItemState::Linked,
            Stage::GivenUp { .. } => ItemState::GivenUp,
            _ => ItemState::Waiting,
        }
    }

    /// Its name in URLs and forms.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Linked => "linked",
            ItemState::Waiting => "waiting",
            ItemState::GivenUp => "given_up",
            ItemState::Deleted => "deleted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [ItemState::Linked, ItemState::Waiting, ItemState::GivenUp, ItemState::Deleted]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            ItemState::Linked => lang.pick("已关联", "linked"),
            ItemState::Waiting => lang.pick("等待中", "waiting"),
            ItemState::GivenUp => lang.pick("已放弃", "given up"),
            ItemState::Deleted => lang.pick("已删除", "deleted"),
        }
    }

    pub(crate) fn filter(self) -> ItemFilter {
        match self {
            ItemState::Linked => ItemFilter::Linked,
            ItemState::Waiting => ItemFilter::Waiting,
            ItemState::GivenUp => ItemFilter::GivenUp,
            ItemState::Deleted => ItemFilter::Deleted,
        }
    }
}

/// Why an item waits or was given up, in words from its typed [`Reason`]: a given-up item
/// always says so (and that it can be retried), a waiting one when its next try is; a deleted
/// item says why a delete was not believed, if one was not. `None` for a linked item.
pub fn reason(lang: Lang, record: &ItemRecord) -> Option<String> {
    let next = record.next_try_ms.filter(|&at| at > now_millis()).map(crate::time::tapd_time);
    match (&record.stage, ItemState::of(record)) {
        (_, ItemState::Deleted) => record.delete_refused.clone(),
        (_, ItemState::Linked) => None,
        (Stage::GivenUp { reason, .. }, _) => Some(reason.given_up(lang)),
        (Stage::CreateUnknown { .. }, _) => Some(Reason::CreateUnsettled.waiting(lang, next.as_deref())),
        _ => record.reason.map(|r| r.waiting(lang, next.as_deref())),
    }
}

/// A setting that was refused, and why, for the form (or the CLI) to say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SettingError {
    pub field: &'static str,
    pub reason: String,
}

/// The placeholders a title template may use.
pub const TITLE_PLACEHOLDERS: [&str; 4] = ["{name}", "{id}", "{kind}", "{workspace_id}"];

/// A title template as typed: not empty, at most 100 characters, no control characters,
/// and no `{...}` but the known placeholders.
pub fn parse_title_template(raw: &str) -> Result<String, SettingError> {
    let t = raw.trim();
    let bad = |reason: &str| Err(SettingError { field: "title_template", reason: reason.to_owned() });
    if t.is_empty() {
        return bad("empty (clear the setting to follow the deployment's)");
    }
    if t.chars().count() > 100 {
        return bad("longer than 100 characters");
    }
    if t.chars().any(char::is_control) {
        return bad("holds control characters");
    }
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let tail = &rest[open..];
        match TITLE_PLACEHOLDERS.iter().find(|p| tail.starts_with(**p)) {
            Some(p) => rest = &tail[p.len()..],
            None => return bad("unknown placeholder: use {name}, {id}, {kind} or {workspace_id}"),
        }
    }
    Ok(t.to_owned())
}

/// What the console shows of a workspace at a glance.
#[derive(Debug, Clone)]
pub struct Overview {
    pub binding: Option<Binding>,
    pub needs_reconnect: bool,
    pub folder_id: Option<String>,
    pub settings: WorkspaceSettings,
    /// Today (since midnight in Asia/Shanghai) and in the last 7 days: items linked (on
    /// that day), and items first seen then that are waiting or given up now.
    pub today: [u64; 3],
    pub week: [u64; 3],
    /// When the newest item was first seen (the last delivery, or the sweep), ms.
    pub last_item_ms: Option<u64>,
    /// When each live webhook secret was made and retires.
    pub secrets: Vec<(u64, Option<u64>)>,
    /// Iterations whose folder keeps its old title (Tencent Docs refused the rename), with
    /// the title asked for.
    pub folders_kept: std::collections::BTreeMap<String, String>,
}

/// Midnight in Asia/Shanghai (TAPD's zone), ms.
fn today_start_ms(now_ms: u64) -> u64 {
    const EIGHT_HOURS_MS: u64 = 8 * 3_600_000;
    const DAY_MS: u64 = 86_400_000;
    (now_ms + EIGHT_HOURS_MS) / DAY_MS * DAY_MS - EIGHT_HOURS_MS
}

impl Overview {
    /// Everything in one round of requests, side by side, each bounded whatever the
    /// workspace's size: the day counts (one query for the week), the given-up list's count,
    /// the workspace's part of the queue, and its newest item.
    pub async fn read(store: &Store, ws: &WorkspaceId) -> Result<Self, StoreError> {
        let now = now_millis();
        let today = today_start_ms(now);
        // The last 7 days: today and the 6 before it.
        let week_start = today - 6 * 86_400_000;
        // Each day's linked list counted side by side (a key each).
        let days = futures_util::future::try_join_all((0..7).map(|d| store.linked_on(ws, today - d * 86_400_000)));
        let (
            binding,
            settings,
            folder_id,
            secrets,
            reconnect,
            linked,
            given_up_today,
            given_up_week,
            waiting,
            last,
            kept,
        ) = tokio::try_join!(
            store.binding(ws),
            store.workspace_settings(ws),
            store.folder(ws, "ws"),
            store.webhook_secret_times(ws),
            store.needs_reconnect(ws),
            days,
            store.given_up_since(ws, today),
            store.given_up_since(ws, week_start),
            store.waiting_of(ws),
            store.workspace_items(ws, 1, None, None),
            store.folders_kept(ws),
        )?;
        let waiting_since = |since: u64| waiting.iter().filter(|r| r.first_seen_ms >= since).count() as u64;
        Ok(Overview {
            binding,
            needs_reconnect: reconnect,
            folder_id,
            settings,
            today: [linked[0], waiting_since(today), given_up_today],
            week: [linked.iter().sum(), waiting_since(week_start), given_up_week],
            last_item_ms: last.items.first().and_then(|r| r.as_ref().ok()).map(|r| r.first_seen_ms),
            secrets: secrets.into_iter().filter(|(_, r)| r.is_none_or(|r| r > now)).collect(),
            folders_kept: kept,
        })
    }
}

/// A page of the workspace's items, newest first, optionally of one state.
pub async fn items(
    store: &Store,
    ws: &WorkspaceId,
    state: Option<ItemState>,
    cursor: Option<&str>,
    limit: i32,
) -> Result<crate::store::ItemsPage, StoreError> {
    store.workspace_items(ws, limit, cursor, state.map(ItemState::filter)).await
}

/// What a person searches the console for: an item by its TAPD id, or words of its doc's title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Find {
    Id(ItemId),
    Words(Vec<String>),
}

impl Find {
    /// The search box's text; `None` when there is nothing to search for.
    pub fn parse(raw: &str) -> Option<Find> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        if raw.len() >= 4 && raw.bytes().all(|b| b.is_ascii_digit()) {
            return ItemId::parse(raw).ok().map(Find::Id);
        }
        // At most five words of at most 50 characters: a search, not a payload.
        let words: Vec<String> =
            raw.split_whitespace().take(5).map(|w| w.chars().take(50).collect::<String>()).collect();
        Some(Find::Words(words))
    }
}

/// A page of the workspace's items matching `find` (of `state`, if given), newest first: an
/// id is read directly (as a story, a bug and a task, side by side), words through the
/// workspace's index.
pub async fn find(
    store: &Store,
    ws: &WorkspaceId,
    find: &Find,
    state: Option<ItemState>,
    cursor: Option<&str>,
    limit: i32,
) -> Result<crate::store::ItemsPage, StoreError> {
    match find {
        Find::Id(id) => {
            let key = |kind| ItemKey { workspace: ws.clone(), kind, id: id.clone() };
            let (story, bug, task) = (key(ItemKind::Story), key(ItemKind::Bug), key(ItemKind::Task));
            let (a, b, c) = tokio::try_join!(store.item(&story), store.item(&bug), store.item(&task))?;
            let items = [a, b, c]
                .into_iter()
                .flatten()
                .filter(|r| state.is_none_or(|st| ItemState::of(r) == st))
                .map(Ok)
                .collect();
            Ok(crate::store::ItemsPage { items, next: None })
        }
        Find::Words(words) => store.search_titles(ws, words, state.map(ItemState::filter), limit, cursor).await,
    }
}

/// Names (or, with `None`, forgets) where the workspace is told: a group robot or an e-mail
/// address. Audited by kind, without the robot's URL (it carries the robot's key) and with the
/// address masked.
pub async fn set_notify(
    store: &Store,
    ws: &WorkspaceId,
    to: Option<&crate::notify::Destination>,
    who: &str,
) -> Result<(), StoreError> {
    use crate::notify::Destination;
    store.put_notify(ws, to).await?;
    let what = match to {
        Some(Destination::Robot(r)) => format!("notifications: to a {} group robot", r.kind()),
        Some(Destination::Email(a)) => format!("notifications: by e-mail to {}", a.masked()),
        None => "notifications: off".to_owned(),
    };
    store.audit(ws, who, &what).await
}

/// What retrying one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried {
    /// Given up → waiting, due now.
    Rearmed,
    /// Waiting, now due at once.
    DueNow,
    /// Waiting and held by an instance until then (ms): it is being worked on.
    Busy(u64),
    /// Linked already: nothing to retry.
    Done,
    /// Changed meanwhile (someone else retried or finished it): its status now.
    Changed(String),
    NotFound,
}

impl Retried {
    /// The next scheduled run or delivery takes it.
    pub fn scheduled(&self) -> bool {
        matches!(self, Retried::Rearmed | Retried::DueNow)
    }
}

/// Retries one item now: a given-up one starts again, a waiting one is due at once.
pub async fn retry_item(store: &Store, key: &ItemKey, who: &str) -> Result<Retried, StoreError> {
    if store.rearm(key, Some(who)).await? {
        return Ok(Retried::Rearmed);
    }
    let Some(view) = store.item_view(key).await? else { return Ok(Retried::NotFound) };
    Ok(match &view.record.stage {
        Stage::Done { .. } => Retried::Done,
        stage if stage.is_pending() => {
            if store.make_due_now(key, Some(who)).await? {
                Retried::DueNow
            } else {
                match store.item_view(key).await?.and_then(|v| v.claim_until_ms) {
                    Some(until) => Retried::Busy(until),
                    None => Retried::Changed("not pending".into()),
                }
            }
        }
        other => Retried::Changed(other.status().to_owned()),
    })
}

/// Retries one item of the workspace now (the console's), audited when it was scheduled.
pub async fn retry(
    store: &Store,
    ws: &WorkspaceId,
    kind: ItemKind,
    id: &ItemId,
    who: &str,
) -> Result<Retried, StoreError> {
    let key = ItemKey { workspace: ws.clone(), kind, id: id.clone() };
    let done = retry_item(store, &key, who).await?;
    if done.scheduled() {
        store.audit(ws, who, &format!("retry {} {}", kind.as_str(), id)).await?;
    }
    Ok(done)
}

/// Retries every given-up item of the workspace now; how many.
pub async fn retry_given_up(store: &Store, ws: &WorkspaceId, who: &str) -> Result<usize, StoreError> {
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = items(store, ws, Some(ItemState::GivenUp), cursor.as_deref(), 100).await?;
        for r in page.items.iter().flatten() {
            n += usize::from(store.rearm(&r.key, Some(who)).await?);
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    store.audit(ws, who, &format!("retry all given-up items ({n})")).await?;
    Ok(n)
}

/// A change of a workspace's own settings as a form sends it: each field absent (left as it
/// is), empty (back to the deployment's) or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub title_template: Option<String>,
    pub folder_layout: Option<String>,
    pub permission: Option<String>,
    pub doc_types: Vec<(ItemKind, String)>,
    /// A Tencent Docs file id per kind: new docs of that kind are copies of it.
    pub templates: Vec<(ItemKind, String)>,
    /// `zh-CN` or `en`.
    pub language: Option<String>,
    /// `owner,priority,...` or `none`.
    pub intro_fields: Option<String>,
    /// `story,bug,rename,...` or `none`.
    pub events: Option<String>,
    /// `on` or `off`: docs of items in an end status move into `已完成`.
    pub close_out: Option<String>,
}

/// A Tencent Docs file id as typed: letters, digits, `_`, `-` and `$`, at most 128.
fn parse_file_id(raw: &str) -> Option<String> {
    let id = raw.trim();
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$'));
    ok.then(|| id.to_owned())
}

/// `current` with `change` applied, every value checked here (the CLI and the console both
/// come through this): the field and why, when one is refused.
pub fn apply_settings(
    mut current: WorkspaceSettings,
    change: &SettingsChange,
) -> Result<WorkspaceSettings, SettingError> {
    let refuse = |field: &'static str, reason: String| SettingError { field, reason };
    let blank = |v: &str| v.trim().is_empty();
    if let Some(t) = &change.title_template {
        current.title_template = if blank(t) { None } else { Some(parse_title_template(t)?) };
    }
    if let Some(l) = &change.folder_layout {
        current.folder_layout = if blank(l) {
            None
        } else {
            let layout = l
                .trim()
                .parse::<crate::config::FolderLayout>()
                .map_err(|()| refuse("folder_layout", "not one of none, workspace, iteration".into()))?;
            Some(layout)
        };
    }
    if let Some(p) = &change.permission {
        current.doc_permission = match p.trim() {
            "" => None,
            other => Some(other.parse::<crate::store::PermissionSetting>().map_err(|()| {
                refuse("permission", "not one of default, private, members, publicRead, publicWrite".into())
            })?),
        };
    }
    for (kind, t) in &change.doc_types {
        if blank(t) {
            current.doc_types.remove(kind);
        } else if let Ok(t) = t.trim().parse::<crate::config::DocType>() {
            current.doc_types.insert(*kind, t);
        } else {
            return Err(refuse(
                "doc_type",
                format!("{}: not one of {}", kind.as_str(), crate::config::DOC_TYPES.join(", ")),
            ));
        }
    }
    for (kind, id) in &change.templates {
        if blank(id) {
            current.templates.remove(kind);
        } else {
            let id = parse_file_id(id).ok_or_else(|| {
                refuse(
                    "template",
                    format!("{}: not a Tencent Docs file id (letters, digits, _, - and $)", kind.as_str()),
                )
            })?;
            current.templates.insert(*kind, id);
        }
    }
    if let Some(l) = &change.language {
        current.language = if blank(l) {
            None
        } else {
            Some(l.trim().parse::<Lang>().map_err(|()| refuse("language", "not one of zh-CN, en".into()))?)
        };
    }
    if let Some(f) = &change.intro_fields {
        current.intro_fields = if blank(f) {
            None
        } else {
            Some(crate::store::settings::parse_intro_list(f).map_err(|name| {
                refuse("intro_fields", format!("{name}: not one of owner, priority, iteration, description, none"))
            })?)
        };
    }
    if let Some(e) = &change.events {
        current.events = if blank(e) {
            None
        } else {
            Some(e.parse::<crate::store::Events>().map_err(|name| {
                refuse("events", format!("{name}: not one of story, bug, task, rename, delete, none"))
            })?)
        };
    }
    if let Some(c) = &change.close_out {
        current.close_out = if blank(c) {
            None
        } else {
            Some(
                crate::store::settings::parse_on_off(c)
                    .ok_or_else(|| refuse("close_out", "not one of on, off".into()))?,
            )
        };
    }
    Ok(current)
}

/// Pauses linking in the workspace: new items are recorded and wait, nothing is made, until
/// [`resume`]. Audited.
pub async fn pause(store: &Store, ws: &WorkspaceId, who: &str) -> Result<(), StoreError> {
    let mut settings = store.workspace_settings(ws).await?;
    if settings.paused_since_ms.is_none() {
        settings.paused_since_ms = Some(now_millis());
        store.put_workspace_settings(ws, &settings).await?;
        store.audit(ws, who, "paused linking").await?;
    }
    Ok(())
}

/// Resumes linking: the items that waited meanwhile are due at once. How many. Audited.
pub async fn resume(store: &Store, ws: &WorkspaceId, who: &str) -> Result<usize, StoreError> {
    let mut settings = store.workspace_settings(ws).await?;
    if settings.paused_since_ms.take().is_none() {
        return Ok(0);
    }
    store.put_workspace_settings(ws, &settings).await?;
    let mut due = 0;
    for record in store.waiting_of(ws).await? {
        due += usize::from(store.make_due_now(&record.key, None).await?);
    }
    store.audit(ws, who, &format!("resumed linking ({due} waiting item(s) due now)")).await?;
    Ok(due)
}

/// Saves a change of the workspace's settings (the next item follows it), audited.
pub async fn save_settings(
    store: &Store,
    ws: &WorkspaceId,
    change: &SettingsChange,
    who: &str,
) -> Result<Result<(), SettingError>, StoreError> {
    let before = store.workspace_settings(ws).await?;
    let after = match apply_settings(before.clone(), change) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    put_settings(store, ws, &before, &after, who).await?;
    Ok(Ok(()))
}

/// Stores settings already checked (`after`, read as `before`), audited when they changed.
pub async fn put_settings(
    store: &Store,
    ws: &WorkspaceId,
    before: &WorkspaceSettings,
    after: &WorkspaceSettings,
    who: &str,
) -> Result<(), StoreError> {
    if after != before {
        store.put_workspace_settings(ws, after).await?;
        let show = |v: Option<&str>| v.unwrap_or("(the deployment's)").to_owned();
        let doc_types: Vec<String> =
            after.doc_types.iter().map(|(k, t)| format!("{}={}", k.as_str(), t.as_str())).collect();
        store
            .audit(
                ws,
                who,
                &format!(
                    "settings: title template {}, folder layout {}, permission {}, doc types {:?}, templates {:?}, \
                     language {}, intro fields {}, events {}, close-out {}",
                    show(after.title_template.as_deref()),
                    show(after.folder_layout.map(crate::config::FolderLayout::as_str)),
                    show(after.doc_permission.map(crate::store::PermissionSetting::as_str)),
                    doc_types,
                    after.templates,
                    show(after.language.map(Lang::tag)),
                    show(after.intro_fields.as_deref().map(crate::store::settings::intro_list).as_deref()),
                    show(after.events.map(crate::store::Events::to_list).as_deref()),
                    after.close_out.map_or("on (the default)", crate::store::settings::on_off),
                ),
            )
            .await?;
    }
    Ok(())
}

/// The workspace's next sweeps list the items created since `since_ms` and link those
/// without a doc.
pub async fn backfill(
    store: &Store,
    ws: &WorkspaceId,
    since_ms: u64,
    who: &str,
) -> Result<crate::store::SweepCursor, StoreError> {
    let cursor = store.backfill_since(ws, since_ms).await?;
    store.audit(ws, who, &format!("backfill since {}", crate::time::tapd_time(since_ms))).await?;
    Ok(cursor)
}

/// Disconnects the workspace: its binding (kept in its history), tokens and secrets go; its
/// items and docs stay. Audited first (the trail stays with the workspace).
pub async fn disconnect(
    store: &Store,
    ws: &WorkspaceId,
    who: &str,
) -> Result<crate::store::bindings::Disconnected, StoreError> {
    store.audit(ws, who, "disconnected the workspace").await?;
    store.disconnect_workspace(ws).await
}

/// A new webhook secret for the workspace; the old one works for `grace`.
/// A new webhook secret for the workspace; the old one works for `grace`. The new secret,
/// and the secrets as stored now (when the old ones retire).
pub async fn rotate_secret(
    store: &Store,
    ws: &WorkspaceId,
    grace: Duration,
    who: &str,
) -> Result<(Secret, crate::store::WebhookSecrets), StoreError> {
    let rotated = crate::tenants::rotate(store, ws, grace).await?;
    store
        .audit(ws, who, &format!("rotated the webhook secret (the old one works {} h more)", grace.as_secs() / 3600))
        .await?;
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_templates_are_checked_in_one_place() {
        assert_eq!(parse_title_template(" [{kind}#{id}] {name} ").unwrap(), "[{kind}#{id}] {name}");
        for bad in ["", "   ", "{nam}", "{name", "a\u{7}b", &"x".repeat(101)] {
            let e = parse_title_template(bad).unwrap_err();
            assert_eq!(e.field, "title_template", "{bad}");
        }
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let change = SettingsChange {
            title_template: Some("[{kind}] {name}".into()),
            folder_layout: Some("iteration".into()),
            permission: Some("members".into()),
            doc_types: vec![(ItemKind::Bug, "sheet".into())],
            templates: vec![(ItemKind::Story, "DTemplate_1".into())],
            language: Some("en".into()),
            intro_fields: Some("owner, iteration".into()),
            events: Some("story,rename".into()),
            close_out: Some("off".into()),
        };
        let s = apply_settings(WorkspaceSettings::default(), &change).unwrap();
        assert_eq!(s.close_out, Some(false));
        assert_eq!(s.template(ItemKind::Story), Some("DTemplate_1"));
        assert_eq!(s.language, Some(Lang::En));
        assert_eq!(
            s.intro_fields.as_deref().map(crate::store::settings::intro_list).as_deref(),
            Some("owner,iteration")
        );
        let events = s.events.unwrap();
        assert!(events.links(ItemKind::Story) && !events.links(ItemKind::Bug) && events.rename && !events.delete);
        assert_eq!(s.folder_layout.map(crate::config::FolderLayout::as_str), Some("iteration"));
        assert_eq!(s.doc_permission.map(crate::store::PermissionSetting::as_str), Some("members"));
        assert_eq!(s.doc_type(ItemKind::Bug).map(crate::config::DocType::as_str), Some("sheet"));
        let back = SettingsChange { folder_layout: Some(String::new()), ..Default::default() };
        assert_eq!(apply_settings(s.clone(), &back).unwrap().folder_layout, None, "empty: the deployment's");
        for (bad, field) in [
            (SettingsChange { folder_layout: Some("tree".into()), ..Default::default() }, "folder_layout"),
            (SettingsChange { permission: Some("everyone".into()), ..Default::default() }, "permission"),
            (SettingsChange { doc_types: vec![(ItemKind::Story, "pdf".into())], ..Default::default() }, "doc_type"),
            (SettingsChange { title_template: Some("{nam}".into()), ..Default::default() }, "title_template"),
            (SettingsChange { templates: vec![(ItemKind::Bug, "a/b".into())], ..Default::default() }, "template"),
            (SettingsChange { language: Some("fr".into()), ..Default::default() }, "language"),
            (SettingsChange { intro_fields: Some("owner,status".into()), ..Default::default() }, "intro_fields"),
            (SettingsChange { events: Some("story,comment".into()), ..Default::default() }, "events"),
            (SettingsChange { close_out: Some("later".into()), ..Default::default() }, "close_out"),
        ] {
            assert_eq!(apply_settings(s.clone(), &bad).unwrap_err().field, field);
        }
    }

    #[test]
    fn a_vanished_item_says_so_while_it_waits_and_once_given_up() {
        let key: ItemKey = "20000001/story/1000123".parse().unwrap();
        let record = |stage: Stage, reason: Reason| ItemRecord {
            key: key.clone(),
            stage,
            attempts: 1,
            first_seen_ms: 0,
            pending_since_ms: 0,
            last_error: Some(crate::link::ITEM_GONE.into()),
            reason: Some(reason),
            next_try_ms: Some(now_millis() + 60_000),
            history: Vec::new(),
            deleted: false,
            delete_refused: None,
            marker: "m".into(),
            absent_since_ms: None,
            place: Default::default(),
            card: Default::default(),
            doc_open_id: None,
        };
        let waiting = reason(Lang::ZhCn, &record(Stage::New, Reason::ItemNotFound)).unwrap();
        assert!(waiting.contains("TAPD 中找不到这个条目") && waiting.contains("自动重试"), "{waiting}");
        let r = record(Stage::GivenUp { reason: Reason::ItemVanished, doc: None }, Reason::ItemVanished);
        assert!(reason(Lang::ZhCn, &r).unwrap().contains("两次确认没有这个条目"));
        assert!(reason(Lang::En, &r).unwrap().starts_with("Given up"));
        // Records given up after days of retries read from their text as what they meant.
        let old = format!("given up after 72 h of retries: {}", crate::link::ITEM_GONE);
        let r = record(Stage::GivenUp { reason: Reason::legacy(&old), doc: None }, Reason::legacy(&old));
        assert!(reason(Lang::En, &r).unwrap().contains("TAPD has no such item"), "{:?}", reason(Lang::En, &r));
    }

    #[test]
    fn today_starts_at_midnight_in_shanghai() {
        // 2026-12-04 01:00 UTC is 09:00 in Shanghai: the day began at 2026-12-03 16:00 UTC.
        let now = 1_796_346_000_000;
        assert_eq!(today_start_ms(now), now - 9 * 3_600_000);
    }
}
