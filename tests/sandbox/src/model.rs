//! Public data types: what tests seed and what they inspect afterwards.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A TAPD item kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    #[serde(alias = "stories", alias = "Story")]
    Story,
    #[serde(alias = "bugs", alias = "Bug")]
    Bug,
    #[serde(alias = "tasks", alias = "Task")]
    Task,
}

impl ItemKind {
    /// The key wrapping each item in TAPD replies: `Story`, `Bug`, `Task`.
    pub fn wrapper(self) -> &'static str {
        match self {
            ItemKind::Story => "Story",
            ItemKind::Bug => "Bug",
            ItemKind::Task => "Task",
        }
    }

    /// The field holding the item's name: `title` for bugs, `name` otherwise.
    pub fn name_field(self) -> &'static str {
        match self {
            ItemKind::Bug => "title",
            _ => "name",
        }
    }

    /// The `entry_type` TAPD comments use: `stories`, `bug`, `tasks`.
    pub fn entry_type(self) -> &'static str {
        match self {
            ItemKind::Story => "stories",
            ItemKind::Bug => "bug",
            ItemKind::Task => "tasks",
        }
    }

    pub fn from_entry_type(s: &str) -> Option<ItemKind> {
        match s {
            "stories" => Some(ItemKind::Story),
            "bug" => Some(ItemKind::Bug),
            "tasks" => Some(ItemKind::Task),
            _ => None,
        }
    }

    /// The API path segment: `stories`, `bugs`, `tasks`.
    pub fn path(self) -> &'static str {
        match self {
            ItemKind::Story => "stories",
            ItemKind::Bug => "bugs",
            ItemKind::Task => "tasks",
        }
    }
}

/// A TAPD item as stored: every field is a string, the name lives in
/// `fields["name"]` (stories, tasks) or `fields["title"]` (bugs, as TAPD's bug reference
/// names it). Seeded items carry TAPD's usual fields (see [`crate::Sandbox::add_item`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub workspace_id: String,
    pub kind: ItemKind,
    pub id: String,
    pub fields: BTreeMap<String, String>,
}

/// Which workflow a `/workflows/*` call asks about (`system=story|bug`): TAPD keeps one per
/// workspace for stories (per work item type) and one for bugs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowSystem {
    Story,
    Bug,
}

impl WorkflowSystem {
    pub fn parse(s: &str) -> Option<WorkflowSystem> {
        match s {
            "story" => Some(WorkflowSystem::Story),
            "bug" => Some(WorkflowSystem::Bug),
            _ => None,
        }
    }

    /// The workflow an item kind follows (`None`: tasks, whose statuses are fixed).
    pub fn of(kind: ItemKind) -> Option<WorkflowSystem> {
        match kind {
            ItemKind::Story => Some(WorkflowSystem::Story),
            ItemKind::Bug => Some(WorkflowSystem::Bug),
            ItemKind::Task => None,
        }
    }
}

/// A workspace's workflow for stories or bugs: its statuses in order (`key`, the name people
/// see), and the keys of its end statuses (what `/workflows/last_steps` answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    pub statuses: Vec<WorkflowStatus>,
    pub end: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowStatus {
    pub key: String,
    pub name: String,
}

impl Workflow {
    pub fn new(statuses: &[(&str, &str)], end: &[&str]) -> Workflow {
        Workflow {
            statuses: statuses
                .iter()
                .map(|(k, n)| WorkflowStatus { key: k.to_string(), name: n.to_string() })
                .collect(),
            end: end.iter().map(|e| e.to_string()).collect(),
        }
    }

    /// TAPD's default story workflow as the sandbox seeds it in every workspace (names as in
    /// `workflows_status_map_reply.json`, one custom `status_3`); ends: 已实现, 已拒绝.
    pub fn default_story() -> Workflow {
        Workflow::new(
            &[
                ("planning", "规划中"),
                ("status_3", "方案评审中"),
                ("developing", "开发中"),
                ("for_test", "待测试"),
                ("resolved", "已实现"),
                ("rejected", "已拒绝"),
            ],
            &["resolved", "rejected"],
        )
    }

    /// TAPD's default bug workflow; ends: 已关闭, 已拒绝.
    pub fn default_bug() -> Workflow {
        Workflow::new(
            &[
                ("new", "新"),
                ("in_progress", "处理中"),
                ("resolved", "已解决"),
                ("verified", "已验证"),
                ("reopened", "重新打开"),
                ("rejected", "已拒绝"),
                ("closed", "已关闭"),
            ],
            &["closed", "rejected"],
        )
    }

    pub fn default_for(system: WorkflowSystem) -> Workflow {
        match system {
            WorkflowSystem::Story => Workflow::default_story(),
            WorkflowSystem::Bug => Workflow::default_bug(),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.statuses.iter().any(|s| s.key == key)
    }

    /// The name people see for `key`.
    pub fn name_of(&self, key: &str) -> Option<&str> {
        self.statuses.iter().find(|s| s.key == key).map(|s| s.name.as_str())
    }

    /// The key whose name (or key) is `name_or_key`: a person picks a status by its name.
    pub fn key_of(&self, name_or_key: &str) -> Option<&str> {
        self.statuses.iter().find(|s| s.name == name_or_key || s.key == name_or_key).map(|s| s.key.as_str())
    }

    /// Statuses non-empty, keys unique and non-empty, every end status one of them.
    pub fn check(&self) -> Result<(), String> {
        if self.statuses.is_empty() {
            return Err("a workflow needs at least one status".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.statuses {
            if s.key.trim().is_empty() || s.name.trim().is_empty() {
                return Err("status keys and names must not be empty".into());
            }
            if !seen.insert(s.key.as_str()) {
                return Err(format!("status {} appears twice", s.key));
            }
        }
        match self.end.iter().find(|e| !self.has(e)) {
            Some(e) => Err(format!("end status {e} is not one of the workflow's statuses")),
            None => Ok(()),
        }
    }
}

/// The statuses of a TAPD task (fixed, no workflow): 未开始, 进行中, 已完成.
pub const TASK_STATUSES: &[(&str, &str)] = &[("open", "未开始"), ("progressing", "进行中"), ("done", "已完成")];

/// A TAPD iteration, as `GET /iterations` answers it (`iterations_reply.json`; all strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Iteration {
    pub id: String,
    pub name: String,
    pub workspace_id: String,
    /// `Y-m-d`
    pub startdate: String,
    /// `Y-m-d`
    pub enddate: String,
    /// `open` or `done`.
    pub status: String,
    pub creator: String,
    /// `Y-m-d H:i:s`, Asia/Shanghai.
    pub created: String,
    pub modified: String,
    pub description: String,
}

/// A Tencent Docs file created through `POST /openapi/drive/v2/files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    /// `300000000$<12 alphanumerics>`
    pub id: String,
    pub title: String,
    pub doc_type: String,
    /// `{base}/tdoc/doc/<12 alphanumerics>`, served as a small HTML page.
    pub url: String,
    pub owner_open_id: String,
    /// The doc's text: its paragraphs joined by `\n`, as `batchUpdate` and people's edits
    /// ([`crate::Sandbox::edit_doc`]) left it (offsets: the `docmodel` module).
    pub content: String,
    /// Bumped by every write (a `batchUpdate`, a person's edit); `1` when made.
    #[serde(default = "first_version")]
    pub version: u64,
    /// What each recent write changed, with the version it made, oldest first (for rebasing late
    /// writes; the last [`TdocLimits::version_window`] kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) changes: Vec<(u64, Vec<crate::docmodel::Change>)>,
    /// Seconds since the epoch.
    pub created_at: u64,
    pub folder_id: Option<String>,
    /// The last `policy` set through `PATCH /openapi/drive/v2/files/{id}/permission`.
    pub policy: Option<String>,
    /// Deleted through `DELETE /openapi/drive/v2/files/{id}` (or with its folder): the API
    /// answers `404 {"ret":10102}` for it and its page is gone. Kept here for inspection.
    #[serde(default)]
    pub deleted: bool,
}

/// Tencent Docs' frequency control and version window as the sandbox plays them
/// (`upstream-apis.md`, frequency control; "Editing what was made").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TdocLimits {
    /// OpenAPI calls (drive v2 and doc v3, reads included) per Open-Id in any window; `None`: no limit.
    pub file_ops_per_window: Option<u32>,
    /// Content operations (doc reads and `batchUpdate`s) per file in any window; `None`: no limit.
    pub content_ops_per_window: Option<u32>,
    /// The sliding window both count in.
    pub window: Duration,
    /// How many versions behind the doc's a `batchUpdate`'s `version` may be (rebased through the
    /// writes since); older is refused. `0`: only the current version.
    pub version_window: u64,
}

impl Default for TdocLimits {
    /// The documented 300 file operations a minute per Open-Id and 150 content operations a
    /// minute per file; a version window of 10.
    fn default() -> Self {
        TdocLimits {
            file_ops_per_window: Some(300),
            content_ops_per_window: Some(150),
            window: Duration::from_secs(60),
            version_window: 10,
        }
    }
}

fn first_version() -> u64 {
    1
}

/// A TAPD comment, created through `POST /comments` or seeded ([`crate::Sandbox::add_comment`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub workspace_id: String,
    /// `stories`, `bug` or `tasks`.
    pub entry_type: String,
    pub entry_id: String,
    /// HTML, kept verbatim.
    pub description: String,
    /// The TAPD user the comment is stored under: for `POST /comments` the `author` sent,
    /// mapped as [`crate::tapd_author`] does (`xuanfang` → `v_xuanfang`).
    pub author: String,
    /// `Y-m-d H:i:s`, Asia/Shanghai.
    pub created: String,
    /// `Y-m-d H:i:s`, Asia/Shanghai; changes when the comment is edited.
    #[serde(default)]
    pub modified: String,
    /// TAPD's generated title, e.g. `在状态 [planning] 添加` ("added in status [..]").
    #[serde(default)]
    pub title: String,
}

/// Which `resource` TAPD's user-authorization token replies (`authorization_code` and
/// `refresh_token` grants) carry. Unconfirmed which one real TAPD sends, so all are playable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TapdTokenResource {
    /// `{"type":"user","workspace_id":<number>}`: the seed's documented reply (default).
    #[default]
    User,
    /// `{"type":"workspace","workspace_id":"<string>"}`: the app-install flow's wording.
    Workspace,
    /// `{"type":"user","user_id":"<string>"}`: no workspace named at all (a field report from
    /// real TAPD); the product must tell the admin to authorize the app for a workspace.
    UserOnly,
}

/// How Tencent Docs answers a dead (unknown, expired) access token on the OpenAPI and
/// `userinfo`: `ret` 37019 either way, the HTTP status is unconfirmed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TdocTokenError {
    /// HTTP 401 `{"ret":37019,"msg":..}` (default: what is reported).
    #[default]
    Http401,
    /// HTTP 200 `{"ret":37019,"msg":..}` (what some public clients refresh on).
    Http200,
}

/// Where Tencent Docs' `batchUpdate` lives (`upstream-apis.md`, "Where public sources
/// disagree"). The other route answers `404 {"code":404,"message":"not found"}` (an unknown route).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TdocBatchUpdateRoute {
    /// `POST /openapi/doc/v3/{fileID}:batchUpdate` (the docs page; default).
    #[default]
    Colon,
    /// `POST /openapi/doc/v3/{fileID}/batchUpdate`, whose JSON body also carries `fileID` (the SDK spec).
    Slash,
}

/// The shape of a doc read (`GET /openapi/doc/v3/{fileID}`) and of token replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyWrapping {
    /// The object itself (`{document, version}`; `{access_token, ...}`): the docs page, every client. Default.
    #[default]
    Flat,
    /// Wrapped in `{"ret":0,"msg":"Succeed","data":{...}}` (the SDK spec).
    Wrapped,
}

/// The key of a file's or folder's id in drive v2 replies (create, copy, folder create,
/// metadata, listings, search).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TdocFileIdKey {
    /// `ID` (every client; default).
    #[default]
    #[serde(rename = "ID")]
    Upper,
    /// `id` (the SDK spec).
    #[serde(rename = "id")]
    Lower,
}

/// Which route lists the root folder. The others answer as follows: `/folders/%2F` a redirect
/// to itself (`301`, a loop), `/folders/%2F/` and `GET /folders` `404 {"ret":404}` (unknown route).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TdocRootFolder {
    /// `GET /openapi/drive/v2/folders/%2F` (the docs page; default).
    #[default]
    Plain,
    /// `GET /openapi/drive/v2/folders/%2F/`.
    TrailingSlash,
    /// `GET /openapi/drive/v2/folders`.
    NoId,
}

/// How TAPD answers an API call whose Bearer token is dead (unknown or expired). Both are
/// reported ("More of TAPD's envelope"): treat either as a dead token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TapdDeadToken {
    /// HTTP 401 `{"status":0,"data":"","info":"Unauthorized: .."}` (default).
    #[default]
    Http401,
    /// HTTP 422 `{"status":0,"data":"","info":"The access token provided is invalid"}`.
    Http422,
}

/// How TAPD answers an API path it does not have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TapdUnknownPath {
    /// HTTP 404 in TAPD's error envelope (default: the sandbox's choice).
    #[default]
    Http404,
    /// HTTP 200 `{"status":1,"data":"Hello world from TAPD API ..","info":"success"}`: what a
    /// misspelt path is reported to answer, success in every field but the shape of `data`.
    HelloWorld,
}

/// What the doc read's `begin`/`end` offsets count (`doc_content_offsets_reply.json`: unconfirmed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TdocOffsetUnit {
    /// UTF-16 code units, as a JavaScript editor counts (default).
    #[default]
    Utf16,
    /// Unicode characters (scalar values).
    Chars,
}

/// Which body `PATCH /openapi/drive/v2/files/{fileID}/move` takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TdocMoveParams {
    /// `targetfolderID` (where to), `parentfolderID` (where from; checked when sent), as documented (default).
    #[default]
    Documented,
    /// `folderID` (where to), what the sandbox took before the document was read.
    FolderId,
}

/// Whether `PATCH /openapi/drive/v2/folders/{folderID}` (`title`) renames a folder: inferred from
/// the files route, confirmed by no public client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TdocFolderRename {
    /// It renames (default), and so does `PATCH /files/{folderID}`.
    #[default]
    Renames,
    /// Neither route renames a folder: `/folders/{id}` answers as an unknown route
    /// (`404 {"ret":404,"msg":"not found"}`), `/files/{folderID}` `404 {"ret":10102}` (not a file).
    Refused,
}

/// The switchable unconfirmed facts, as `GET /_sandbox/variants` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variants {
    pub tapd_token_resource: TapdTokenResource,
    pub tdoc_token_error: TdocTokenError,
    #[serde(default)]
    pub tdoc_batch_update_route: TdocBatchUpdateRoute,
    #[serde(default)]
    pub tdoc_doc_read: ReplyWrapping,
    #[serde(default)]
    pub tdoc_token_reply: ReplyWrapping,
    #[serde(default)]
    pub tdoc_file_id_key: TdocFileIdKey,
    #[serde(default)]
    pub tdoc_root_folder: TdocRootFolder,
    #[serde(default)]
    pub tapd_dead_token: TapdDeadToken,
    #[serde(default)]
    pub tapd_unknown_path: TapdUnknownPath,
    #[serde(default)]
    pub tdoc_offset_unit: TdocOffsetUnit,
    #[serde(default)]
    pub tdoc_move_params: TdocMoveParams,
    #[serde(default)]
    pub tdoc_folder_rename: TdocFolderRename,
}

/// One `POST /stories|/bugs|/tasks` update (or creation when no `id` was sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemUpdate {
    pub workspace_id: String,
    pub kind: ItemKind,
    pub id: String,
    /// The fields sent, without `workspace_id` and `id`.
    pub fields: BTreeMap<String, String>,
}

/// One request the sandbox answered (or dropped). `/_sandbox/` control calls are not recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    /// Path only, no query (queries can hold secrets).
    pub path: String,
    /// HTTP status answered; `0` when the connection was reset without an answer.
    pub status: u16,
}

/// How many tokens each grant has issued so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedTokens {
    /// TAPD `authorization_code` exchanges.
    pub tapd_user: u32,
    /// TAPD `client_credentials` grants.
    pub tapd_app: u32,
    /// TAPD `refresh_token` grants.
    pub tapd_refresh: u32,
    /// Tencent Docs `authorization_code` exchanges.
    pub tdoc_user: u32,
    /// Tencent Docs `app-account-token` grants.
    pub tdoc_app: u32,
    /// Tencent Docs `refresh_token` grants.
    pub tdoc_refresh: u32,
}

/// A fault to inject: the next `times` requests whose method matches (any
/// method when `None`, case-insensitive) and whose path starts with
/// `path_prefix` get `kind` instead of (or, for `Delay`, before) normal
/// handling. `times == 0` means every matching request until
/// [`crate::Sandbox::clear_faults`]. Faults are tried in insertion order;
/// the first live match applies. `/_sandbox/` paths are never faulted.
///
/// Over HTTP (`POST /_sandbox/faults`) the JSON is
/// `{"method":"POST","path_prefix":"/tdoc/openapi","times":1,"kind":K}` with
/// `K` one of `{"status":503}`, `"malformed"`, `"wrong_shape"`,
/// `{"delay_ms":1500}`, `"reset"`, `"drop_reply"`, `{"act_then_delay_ms":N}`, `{"late_act_ms":N}`,
/// `{"redirect":"http://127.0.0.1:9/x"}`, `"hello_world"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    #[serde(default)]
    pub method: Option<String>,
    /// The paths it applies to: those starting with it, where each `*` stands for one path
    /// segment (`/tdoc/openapi/drive/v2/files/*/permission`) and a final `$` asks for the
    /// whole path (`/tdoc/openapi/drive/v2/files$`: the create, not the copy).
    pub path_prefix: String,
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault for the next request (any method) under `path_prefix`.
    pub fn once(path_prefix: &str, kind: FaultKind) -> Fault {
        Fault { method: None, path_prefix: path_prefix.to_string(), kind, times: 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "FaultKindWire", into = "FaultKindWire")]
pub enum FaultKind {
    /// Answer this HTTP status with the service's own error body:
    /// TAPD `{"status":0,"data":"","info":..}` (429: `{"status":429,..,"info":"To many requests ..."}`),
    /// Tencent Docs v2/OAuth `{"ret":<status>,"msg":..}`, v3 `{"code":<status>,"message":..}`,
    /// HTML pages an HTML error page.
    Status(u16),
    /// `200` with a JSON content type and a truncated, unparsable body.
    Malformed,
    /// `200` with valid JSON in the wrong shape (`data` of the wrong type).
    WrongShape,
    /// TAPD's answer to a misspelt path, whatever the path: `200`
    /// `{"status":1,"data":"Hello world from TAPD API ..","info":"success"}`.
    HelloWorld,
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Drop the connection (TCP RST) without answering. When the router is
    /// mounted in another server, the response head may already be sent;
    /// the body then fails.
    Reset,
    /// Handle the request normally (the upstream does the work), then drop the connection
    /// without answering: what a client sees when its request took effect but the reply was
    /// lost (a timeout or a reset after the fact). It cannot tell whether the call landed.
    DropReply,
    /// Handle the request normally, then hold the reply this long: the window in which a
    /// caller killed right after its write landed upstream dies.
    ActThenDelay(Duration),
    /// Hold the request this long, then handle it even if the caller has given up meanwhile
    /// (a server still working through its queue): the write lands late, after the caller's
    /// timeout. The other faults, like a server that notices a closed connection, drop the
    /// work of a caller that went away.
    LateAct(Duration),
    /// Answer `307 Temporary Redirect` to this URL (e.g. a listener on another port that
    /// records the headers it is sent), without handling the request.
    Redirect(String),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultKindWire {
    Status(u16),
    Malformed,
    WrongShape,
    HelloWorld,
    DelayMs(u64),
    Reset,
    DropReply,
    ActThenDelayMs(u64),
    LateActMs(u64),
    Redirect(String),
}

impl From<FaultKindWire> for FaultKind {
    fn from(w: FaultKindWire) -> Self {
        match w {
            FaultKindWire::Status(s) => FaultKind::Status(s),
            FaultKindWire::Malformed => FaultKind::Malformed,
            FaultKindWire::WrongShape => FaultKind::WrongShape,
            FaultKindWire::HelloWorld => FaultKind::HelloWorld,
            FaultKindWire::DelayMs(ms) => FaultKind::Delay(Duration::from_millis(ms)),
            FaultKindWire::Reset => FaultKind::Reset,
            FaultKindWire::DropReply => FaultKind::DropReply,
            FaultKindWire::ActThenDelayMs(ms) => FaultKind::ActThenDelay(Duration::from_millis(ms)),
            FaultKindWire::LateActMs(ms) => FaultKind::LateAct(Duration::from_millis(ms)),
            FaultKindWire::Redirect(to) => FaultKind::Redirect(to),
        }
    }
}

impl From<FaultKind> for FaultKindWire {
    fn from(k: FaultKind) -> Self {
        match k {
            FaultKind::Status(s) => FaultKindWire::Status(s),
            FaultKind::Malformed => FaultKindWire::Malformed,
            FaultKind::WrongShape => FaultKindWire::WrongShape,
            FaultKind::HelloWorld => FaultKindWire::HelloWorld,
            FaultKind::Delay(d) => FaultKindWire::DelayMs(d.as_millis() as u64),
            FaultKind::Reset => FaultKindWire::Reset,
            FaultKind::DropReply => FaultKindWire::DropReply,
            FaultKind::ActThenDelay(d) => FaultKindWire::ActThenDelayMs(d.as_millis() as u64),
            FaultKind::LateAct(d) => FaultKindWire::LateActMs(d.as_millis() as u64),
            FaultKind::Redirect(to) => FaultKindWire::Redirect(to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_json() {
        let f: Fault =
            serde_json::from_str(r#"{"method":"POST","path_prefix":"/tapd","kind":{"status":429},"times":2}"#).unwrap();
        assert_eq!(f.kind, FaultKind::Status(429));
        let f: Fault = serde_json::from_str(r#"{"path_prefix":"/tdoc","kind":{"delay_ms":250}}"#).unwrap();
        assert_eq!(f.kind, FaultKind::Delay(Duration::from_millis(250)));
        assert_eq!(f.times, 1);
        let f: Fault = serde_json::from_str(r#"{"path_prefix":"/","kind":"reset"}"#).unwrap();
        assert_eq!(f.kind, FaultKind::Reset);
        let back = serde_json::to_value(&f).unwrap();
        assert_eq!(back["kind"], "reset");
    }
}
