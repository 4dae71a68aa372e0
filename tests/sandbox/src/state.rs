//! The sandbox's mutable state, behind one `std::sync::Mutex` (never held across `.await`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::model::{
    Comment, Doc, Fault, IssuedTokens, Item, ItemKind, ItemUpdate, Iteration, RequestRecord, Variants, Workflow,
    WorkflowSystem,
};

/// An expiry: live until `expires_at`, or until forcibly expired.
#[derive(Debug, Clone)]
pub(crate) struct Expiry {
    expires_at: Instant,
    forced: bool,
}

impl Expiry {
    pub fn in_secs(secs: u64) -> Expiry {
        Expiry { expires_at: Instant::now() + Duration::from_secs(secs), forced: false }
    }

    pub fn live(&self) -> bool {
        !self.forced && Instant::now() < self.expires_at
    }

    pub fn force(&mut self) {
        self.forced = true;
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// On disk (see `persist`), an expiry is wall-clock time: Unix milliseconds.
#[derive(Serialize, Deserialize)]
struct ExpiryWire {
    expires_at_unix_ms: u64,
    #[serde(default)]
    forced: bool,
}

impl Serialize for Expiry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let now_ms = unix_ms();
        let now = Instant::now();
        let at = if self.expires_at >= now {
            now_ms.saturating_add(self.expires_at.duration_since(now).as_millis() as u64)
        } else {
            now_ms.saturating_sub(now.duration_since(self.expires_at).as_millis() as u64)
        };
        ExpiryWire { expires_at_unix_ms: at, forced: self.forced }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Expiry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = ExpiryWire::deserialize(d)?;
        let left = w.expires_at_unix_ms.saturating_sub(unix_ms());
        // Already past: expiring now is the same as having expired earlier (`live` is `now < at`).
        Ok(Expiry { expires_at: Instant::now() + Duration::from_millis(left), forced: w.forced })
    }
}

/// A TAPD authorization code.
#[derive(Debug, Clone)]
pub(crate) struct TapdCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub workspace_id: String,
    /// The consenting TAPD user (the callback's and the `user_only` variant's `user_id`).
    pub user_id: String,
    pub expiry: Expiry,
}

/// What a TAPD access token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TapdGrant {
    /// A user authorization bound to one workspace.
    Workspace(String),
    /// The app token (`client_credentials`): every seeded workspace.
    App,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TapdToken {
    pub grant: TapdGrant,
    pub expiry: Expiry,
    /// The TAPD user who consented (user tokens; `None` for the app token).
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TapdRefresh {
    pub client_id: String,
    pub workspace_id: String,
    #[serde(default)]
    pub user_id: Option<String>,
    pub scope: String,
    pub expiry: Expiry,
}

#[derive(Debug, Clone)]
pub(crate) struct TdocCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub open_id: String,
    pub expiry: Expiry,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TdocToken {
    pub open_id: String,
    pub expiry: Expiry,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TdocRefresh {
    pub client_id: String,
    pub open_id: String,
    pub scope: String,
    pub expiry: Expiry,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Folder {
    pub id: String,
    pub title: String,
    pub owner_open_id: String,
    pub created_at: u64,
    /// `None`: the root.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// A fault and how many more times it fires (`None`: until cleared).
#[derive(Debug, Clone)]
pub(crate) struct ActiveFault {
    pub fault: Fault,
    pub remaining: Option<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// The Tencent Docs app's client secret after a rotation ([`crate::Sandbox::rotate_tdoc_client_secret`]).
    pub tdoc_client_secret: Option<String>,
    /// workspace id -> name
    pub workspaces: BTreeMap<String, String>,
    pub items: BTreeMap<(String, ItemKind, String), Item>,
    /// open id -> nick
    pub tdoc_users: BTreeMap<String, String>,
    /// Group robots by (kind, key), with a DingTalk robot's signing secret (`robots` module).
    pub robots: BTreeMap<(String, String), Option<String>>,
    pub robot_messages: Vec<crate::robots::RobotMessage>,
    /// TAPD users, by id (see the `members` module).
    pub tapd_users: BTreeMap<String, crate::members::TapdUser>,
    /// Members of workspaces whose membership was set (nick -> role ids); a workspace not here
    /// has the default membership (`members::default_members`).
    pub members: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    pub tapd_codes: HashMap<String, TapdCode>,
    pub tapd_tokens: HashMap<String, TapdToken>,
    pub tapd_refresh: HashMap<String, TapdRefresh>,
    pub tdoc_codes: HashMap<String, TdocCode>,
    pub tdoc_tokens: HashMap<String, TdocToken>,
    pub tdoc_refresh: HashMap<String, TdocRefresh>,
    pub docs: Vec<Doc>,
    pub folders: Vec<Folder>,
    /// How long new files stay out of search (`None`: the default).
    pub search_lag: Option<std::time::Duration>,
    pub comments: Vec<Comment>,
    pub updates: Vec<ItemUpdate>,
    pub requests: Vec<RequestRecord>,
    pub faults: Vec<ActiveFault>,
    pub issued: IssuedTokens,
    /// Every code, access token and refresh token handed out (for leak checks).
    pub issued_secrets: Vec<String>,
    pub variants: Variants,
    /// TAPD's rate limit: at most `.0` requests in any window of `.1` (`None`: no limit).
    pub tapd_rate_limit: Option<(u32, Duration)>,
    /// When the app's counted TAPD requests arrived, oldest first, within the window.
    pub tapd_hits: VecDeque<Instant>,
    /// Workflows set per workspace ([`crate::Sandbox::set_workflow`]); a workspace not here has
    /// TAPD's default ([`Workflow::default_for`]).
    pub workflows: BTreeMap<(String, WorkflowSystem), Workflow>,
    /// Every iteration, in creation order.
    pub iterations: Vec<Iteration>,
    pub tdoc_limits: crate::model::TdocLimits,
    /// When each Open-Id's counted OpenAPI calls arrived, within the window.
    pub tdoc_file_hits: HashMap<String, VecDeque<Instant>>,
    /// When each file's counted content operations arrived, within the window.
    pub tdoc_content_hits: HashMap<String, VecDeque<Instant>>,
    /// A "429 storm" in force: every TAPD API call refused until it ends.
    pub tapd_storm: Option<Storm>,
    /// TAPD answers `502` when a list reply's JSON would be larger than this (`None`: never).
    pub tapd_max_reply_bytes: Option<usize>,
    /// The webhook URL and secret set at run time (`None`: the config's).
    pub webhook: Option<(Option<String>, String)>,
    pub deliveries: Vec<crate::deliveries::Delivery>,
}

/// A "429 storm": TAPD refuses every API call until a time, or for a number of calls.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Storm {
    Until(Instant),
    Calls(u32),
}

/// Counts one hit in a sliding window of `window` holding at most `limit`; `false` (and not
/// counted) when full.
pub(crate) fn window_hit(hits: &mut VecDeque<Instant>, limit: Option<u32>, window: Duration) -> bool {
    let Some(limit) = limit else { return true };
    let now = Instant::now();
    while hits.front().is_some_and(|t| now.duration_since(*t) >= window) {
        hits.pop_front();
    }
    if hits.len() >= limit as usize {
        return false;
    }
    hits.push_back(now);
    true
}

impl State {
    /// Takes one shot of the first live fault matching the request.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let idx = self.faults.iter().position(|f| {
            f.remaining != Some(0)
                && matches_prefix(path, &f.fault.path_prefix)
                && f.fault.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        let active = &mut self.faults[idx];
        let fault = active.fault.clone();
        if let Some(n) = active.remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.faults.remove(idx);
            }
        }
        Some(fault)
    }

    pub fn expire_access_tokens(&mut self) {
        self.tapd_tokens.values_mut().for_each(|t| t.expiry.force());
        self.tdoc_tokens.values_mut().for_each(|t| t.expiry.force());
    }

    pub fn expire_refresh_tokens(&mut self) {
        self.tapd_refresh.values_mut().for_each(|t| t.expiry.force());
        self.tdoc_refresh.values_mut().for_each(|t| t.expiry.force());
    }

    pub fn expire_codes(&mut self) {
        self.tapd_codes.values_mut().for_each(|c| c.expiry.force());
        self.tdoc_codes.values_mut().for_each(|c| c.expiry.force());
    }

    /// Counts one TAPD request against the app's rate limit; `Err(limit, window)` when the
    /// window is full (a refused request is not counted, as a sliding window would).
    pub fn tapd_rate_hit(&mut self) -> Result<(), (u32, Duration)> {
        let in_force = self.tapd_rate_limit.unwrap_or(crate::TAPD_RATE_LIMIT);
        match &mut self.tapd_storm {
            Some(Storm::Until(t)) if Instant::now() < *t => return Err(in_force),
            Some(Storm::Calls(n)) if *n > 0 => {
                *n -= 1;
                return Err(in_force);
            }
            Some(_) => self.tapd_storm = None,
            None => {}
        }
        let Some((limit, window)) = self.tapd_rate_limit else {
            return Ok(());
        };
        let now = Instant::now();
        while self.tapd_hits.front().is_some_and(|t| now.duration_since(*t) >= window) {
            self.tapd_hits.pop_front();
        }
        if self.tapd_hits.len() >= limit as usize {
            return Err((limit, window));
        }
        self.tapd_hits.push_back(now);
        Ok(())
    }

    /// The workflow a workspace's stories or bugs follow.
    pub fn workflow(&self, workspace_id: &str, system: WorkflowSystem) -> Workflow {
        self.workflows
            .get(&(workspace_id.to_string(), system))
            .cloned()
            .unwrap_or_else(|| Workflow::default_for(system))
    }

    /// Whether `status` is one an item of `kind` may have in `workspace_id`.
    pub fn status_allowed(&self, workspace_id: &str, kind: ItemKind, status: &str) -> bool {
        match WorkflowSystem::of(kind) {
            Some(system) => self.workflow(workspace_id, system).has(status),
            None => crate::model::TASK_STATUSES.iter().any(|(k, _)| *k == status),
        }
    }

    pub fn iteration(&self, workspace_id: &str, id: &str) -> Option<&Iteration> {
        self.iterations.iter().find(|i| i.workspace_id == workspace_id && i.id == id)
    }

    /// `(limit, remaining)` of TAPD's window in force now (`None`: unlimited); `0` left in a storm.
    pub fn tapd_rate_remaining(&mut self) -> Option<(u32, u32)> {
        let (limit, window) = self.tapd_rate_limit?;
        let now = Instant::now();
        while self.tapd_hits.front().is_some_and(|t| now.duration_since(*t) >= window) {
            self.tapd_hits.pop_front();
        }
        let storm = match self.tapd_storm {
            Some(Storm::Until(t)) => now < t,
            Some(Storm::Calls(n)) => n > 0,
            None => false,
        };
        let left = if storm { 0 } else { limit.saturating_sub(self.tapd_hits.len() as u32) };
        Some((limit, left))
    }

    pub fn item(&self, workspace_id: &str, kind: ItemKind, id: &str) -> Option<&Item> {
        self.items.get(&(workspace_id.to_string(), kind, id.to_string()))
    }
}

/// Whether `path` starts with `pattern`, where each `*` stands for one path segment's
/// worth of characters (no `/`), and a final `$` asks for the whole path.
fn matches_prefix(path: &str, pattern: &str) -> bool {
    let (pattern, whole) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = path.strip_prefix(first) else { return false };
    for piece in pieces {
        let segment = rest.find('/').unwrap_or(rest.len());
        if segment == 0 {
            return false;
        }
        match rest[segment..].strip_prefix(piece) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    !whole || rest.is_empty()
}

#[cfg(test)]
mod prefix_tests {
    #[test]
    fn stars_match_any_run() {
        let p = "/tdoc/openapi/drive/v2/files/*/permission";
        assert!(super::matches_prefix("/tdoc/openapi/drive/v2/files/300000000$abc/permission", p));
        assert!(!super::matches_prefix("/tdoc/openapi/drive/v2/files/300000000$abc", p));
        assert!(super::matches_prefix("/tapd/api/comments", "/tapd/api/"));
        let file = "/tdoc/openapi/drive/v2/files/*$";
        assert!(super::matches_prefix("/tdoc/openapi/drive/v2/files/300000000%24abc", file));
        assert!(!super::matches_prefix("/tdoc/openapi/drive/v2/files/300000000%24abc/permission", file));
        assert!(super::matches_prefix("/tdoc/openapi/drive/v2/files", "/tdoc/openapi/drive/v2/files$"));
        assert!(!super::matches_prefix("/tdoc/openapi/drive/v2/files/x/copy", "/tdoc/openapi/drive/v2/files$"));
        assert!(!super::matches_prefix("/tapd/oauth", "/tapd/api/"));
    }
}
