//! An in-memory fake of TAPD and Tencent Docs, served by one axum server.
//!
//! It is faithful to the DOCUMENTS (`docs/upstream.md`, a copy of the project brief; the seeds, and the reply
//! samples copied into `tests/fixtures/`), never to the product's code: it enforces client
//! authentication, single-use expiring codes bound to an exact redirect URI, live bearer
//! tokens, the three Tencent Docs headers, TAPD's paging and rate limit, and answers in the
//! services' own success and error shapes. `tests/shapes.rs` compares every reply it can
//! produce with the matching fixture, key by key and type by type, so it cannot drift.
//!
//! Paths (see [`Sandbox::base_url`]):
//! - TAPD: authorize page `{base}/tapd/oauth/`, API `{base}/tapd/api/...`
//! - Tencent Docs: `{base}/tdoc/oauth/v2/...`, `{base}/tdoc/openapi/...`, docs at
//!   `{base}/tdoc/doc/D<base64 of key>` (the raw key works too)
//! - TAPD web pages, in Chinese like TAPD's ([`Sandbox::tapd_web_base`]): `{base}/tapd/web/` (workspaces),
//!   `{base}/tapd/web/{ws}/` (items, 新建需求 / 新建缺陷), items at TAPD's paths
//!   (`{ws}/prong/stories/view/{id}`, `{ws}/bugtrace/bugs/view/{id}`, `{ws}/prong/tasks/view/{id}`) with
//!   their description and comments (TAPD HTML through a whitelist, [`sanitize`]); the "new item"
//!   form (`{ws}/prong/stories/add`, `{ws}/bugtrace/bugs/add`) creates the item and delivers its
//!   `*::create` webhook to [`SandboxConfig::webhook_url`] the way TAPD does (see the `web` module)
//! - control: `{base}/_sandbox/...` (below, and the `control` module docs; mirrored by the methods here)
//!
//! # Consent without a browser
//! The consent pages are real HTML forms. A programmatic test can skip them and
//! POST the form directly (form-encoded), then follow the `302`:
//! - TAPD: `POST {base}/tapd/oauth/approve` with `client_id`, `redirect_uri`,
//!   `scope`, `state`, `workspace_id`, `decision=approve|deny`, optional `user_id` (default [`TAPD_USER_ID`]).
//!   Approve → `302 {redirect_uri}?code=..&state=..&resource={"type":"user","user_id":".."}` (as in
//!   `fixtures/tapd/callback_query.txt`; the workspace is named only by the token reply);
//!   deny → `302 {redirect_uri}?error=access_denied&state=..`.
//! - Tencent Docs: `POST {base}/tdoc/oauth/v2/authorize/approve` with `client_id`,
//!   `redirect_uri`, `scope`, `state`, `open_id`, `decision=approve|deny`.
//!   Approve → `302 {redirect_uri}?code=..&state=..&u=..` (`u` as in seed `000`); deny as above.
//!
//! An unknown `client_id` or unregistered `redirect_uri` answers a `400` HTML page and never redirects.
//! Codes are 256-bit random hex, single use (burnt by any exchange attempt, even a
//! failed one, except one refused for bad client credentials), bound to client id,
//! redirect URI and workspace / open id, and live [`SandboxConfig::code_ttl_secs`].
//!
//! # TAPD replies
//! - `POST /tokens/request_token`, `authorization_code` (and `POST /tokens/refresh_token`):
//!   `{"status":1,"data":{access_token, expires_in (number), token_type:"Bearer", scope (as
//!   requested, space separated), resource, now ("Y-m-d H:i:s"), refresh_token (only when
//!   [`SandboxConfig::tapd_refresh_tokens`])},"info":"success"}`. `resource` is a variant
//!   ([`TapdTokenResource`]): `user` (default, the seed's) `{"type":"user","workspace_id":20355782}`
//!   (a number), `workspace` `{"type":"workspace","workspace_id":"20355782"}`, `user_only`
//!   `{"type":"user","user_id":"1000142421"}`. The token is bound to the consented workspace in
//!   every variant.
//! - `client_credentials`: the same with `resource` `{"type":"open_app_auth","app_id":<client id>}`,
//!   no refresh token; the token reads every seeded workspace.
//! - `GET /stories|/bugs|/tasks`: `workspace_id` required; `id` (comma separated); `created`
//!   and `modified` filters in the forms TAPD documents (`>T`, `<T`, `A~B`, `T`; `T` is
//!   `Y-m-d H:i:s` or `Y-m-d`, a bare date as the upper bound of `~` meaning the whole day;
//!   the undocumented `>=` and `<=` answer `400` in TAPD's envelope); equality
//!   filters `name`, `title`, `status`, `owner`, `current_owner`, `creator`, `reporter`,
//!   `priority`, `iteration_id`, `story_id`, `custom_field_*`; `order=<field> asc|desc`
//!   (default: oldest `created` first, then id); `limit` (default 30; above 200 clamped to 200,
//!   as TAPD documents "最大取 200"); `page` (1-based; past the end: `[]`); `fields`.
//!   `page × limit` may not exceed 20,000 ([`tapd::MAX_DEPTH`], every list): deeper answers `400`
//!   in the envelope (upstream says only that it may not). `cursor=<last id>` lists the items after
//!   that id in id order (`limit` of them; with `order` other than `id asc`, or `page` > 1: `400`):
//!   the way past the cap, beside `created=A~B` windows.
//!   Reply `data: [{"Story":{..}}]` (`Bug`, `Task`), every value a string. Items carry `id`,
//!   `workspace_id`, `description` (HTML), `status`, `priority`, `iteration_id`, `created`,
//!   `modified`; stories and tasks `name`, `owner`, `creator`; bugs `title`, `current_owner`,
//!   `reporter` (TAPD's bug reference: a bug has no `name`); stories `workitem_type_id`
//!   ([`workitem_type_id`]); tasks `story_id`. `owner`/`current_owner` are TAPD's `;`-terminated
//!   lists (`alice;bob;`).
//! - `GET /stories/count` (`/bugs/count`, `/tasks/count`): the same filters, `data: {"count": N}` (a number).
//! - `POST /stories|/bugs|/tasks`: updates the item `id` with the other fields sent (or creates one).
//!   As TAPD: a `status` must be a key of the workspace's workflow for that kind (tasks: `open`,
//!   `progressing`, `done`, [`TASK_STATUSES`]), an `iteration_id` `0` or one of the workspace's
//!   iterations; else `400` in the envelope and nothing changes. (Seeding through
//!   [`Sandbox::add_item_with_fields`] or `POST /_sandbox/items` does not check.)
//! - Workflows and iterations (the [`workflow`] module): `GET /workflows/status_map` and
//!   `GET /workflows/last_steps` (`workspace_id`, `system=story|bug`, `workitem_type_id`) answer
//!   `data: {key: name}` (`workflows_status_map_reply.json`, `workflows_last_steps_reply.json`);
//!   `GET /iterations?workspace_id=&id=` answers `data: [{"Iteration":{id, name, workspace_id,
//!   startdate, enddate, status (open|done), creator, created, modified, description}}]`
//!   (`iterations_reply.json`). Every workspace starts with TAPD's default workflows: stories
//!   `planning` 规划中, `status_3` 方案评审中, `developing` 开发中, `for_test` 待测试,
//!   `resolved` 已实现, `rejected` 已拒绝 (ends: `resolved`, `rejected`); bugs `new` 新,
//!   `in_progress` 处理中, `resolved` 已解决, `verified` 已验证, `reopened` 重新打开, `rejected` 已拒绝,
//!   `closed` 已关闭 (ends: `closed`, `rejected`). Set one with [`Sandbox::set_workflow`] or
//!   `POST /_sandbox/workflows`; iterations with [`Sandbox::add_iteration`],
//!   [`Sandbox::rename_iteration_quietly`] or `POST /_sandbox/iterations[/update]`.
//! - `POST /comments` (`workspace_id`, `entry_type` `stories|bug|tasks`, `entry_id`,
//!   `description`, `author`, all required): the description is kept verbatim (HTML); the
//!   author is stored as the TAPD user [`tapd_author`] maps it to (`xuanfang` → `v_xuanfang`:
//!   prefixed `v_` unless it already is). Reply `data: {"Comment":{id, title, description,
//!   author, entry_type, entry_id, reply_id:"0", root_id:"0", created, modified, workspace_id}}`,
//!   all strings (`comment_add_reply.json`). With `id` and no `entry_*`, edits that comment's
//!   `description` (same reply; `modified` changes).
//! - `GET /comments`: `workspace_id` required; filters `entry_type`, `entry_id`, `author` (the
//!   stored, mapped name), `id`; `order` `created|modified|id asc|desc` (default oldest first);
//!   `limit` (default 30, clamped to 200), `page`. Rows as `comments_get_reply.json`: the add
//!   reply's keys without `reply_id`/`root_id`.
//! - Rate limit ([`SandboxConfig::tapd_rate_limit`], default [`TAPD_RATE_LIMIT`], 1800 per 10
//!   minutes): every `/tapd/api/` request with valid credentials (Basic or Bearer; all belong to
//!   the one app) counts in a sliding window; over it, `429 {"status":429,"data":"","info":"To many
//!   requests, max request rates is 1800req/10min"}` (`rate_limited_reply.json`; the numbers are
//!   the limit in force). Refused requests do not count. Every `/tapd/api/` reply carries
//!   `X-RateLimit-Limit` and `X-RateLimit-Remaining` (of the window in force, after this call;
//!   none when unlimited). A "429 storm" ([`Sandbox::tapd_storm`], `POST /_sandbox/tapd-storm
//!   {"seconds":N}` or `{"calls":N}`, `{}` ends it) refuses every call with the 429 reply and
//!   `Remaining: 0`. Optional: `502` for a list reply over a size ([`Sandbox::set_tapd_max_reply_bytes`],
//!   `POST /_sandbox/tapd-max-reply {"bytes":N|null}`).
//!
//! - Deliveries beyond create (the [`deliveries`] module docs have the shapes): a person's change
//!   to an item (the item page's form, [`Sandbox::change_item`], `POST /_sandbox/items/change`)
//!   delivers `story|bug|task::update` (`webhook_story_update.json`: `change_fields`, `old_<field>`,
//!   never the new values) and, for a status move, `story|bug::status_change`; iterations
//!   ([`Sandbox::create_iteration`], [`Sandbox::rename_iteration`], [`Sandbox::delete_iteration`],
//!   `POST /_sandbox/iterations[/update|/delete]`) deliver `iteration::create|update|delete`
//!   (`old_name`). Every delivery is recorded ([`Sandbox::deliveries`], `GET /_sandbox/deliveries`)
//!   and can be sent again, late, twice or out of order ([`Sandbox::redeliver`],
//!   `POST /_sandbox/deliveries/redeliver {seq, delay_ms?}`). The URL and secret: the config's, or
//!   [`Sandbox::set_webhook`] / `POST /_sandbox/webhook` at run time.
//! - People: `GET /users/info`, `GET /workspaces/users`, `GET /roles`, and who consents: see the
//!   [`members`] module (seeded users, default membership, `/_sandbox/tapd-users`, `/_sandbox/members`).
//!   The TAPD consent page lets the person pick who they are (`user_id`, as TAPD's own login would).
//!
//! - Group robots (WeCom, DingTalk) that workspaces are told through: see the [`robots`] module.
//!
//! # Tencent Docs replies
//! - `GET /oauth/v2/token` (code or refresh) and `GET /oauth/v2/app-account-token`: flat
//!   `{access_token, token_type, refresh_token, expires_in, scope, user_id}` (no `ret`);
//!   `scope=all` is answered as the full comma-separated list of seed `000`; the app account
//!   has `scope.file.editable,scope.folder.creatable` (seed `001`). A refresh reply carries a
//!   `refresh_token` only with [`SandboxConfig::tdoc_refresh_returns_new_refresh_token`].
//! - `GET /oauth/v2/userinfo?access_token=`: `{"ret":0,"msg":"Succeed","data":{openID, nick, avatar, source, unionID}}`.
//! - A dead (unknown, expired) token: `{"ret":37019,"msg":..}` with HTTP 401 or, in the
//!   `http200` variant ([`TdocTokenError`]), HTTP 200.
//! - Drive v2 (form-encoded bodies only): `POST /openapi/drive/v2/files` (`title` ≤
//!   [`MAX_TITLE_CHARS`] characters, `type`, optional `folderID`) answers the seed's full reply
//!   (`create_file_reply_seed000.json`): `ID` `300000000$<12 alnum key>`, `url`
//!   `{base}/tdoc/doc/D<base64 of key>`, `createTime` (a number), `title`, `type`, ...;
//!   `PATCH /files/{id}` renames (`title` ≤ 36); `DELETE /files/{id}` deletes (a folder id
//!   deletes the folder); `POST /files/{id}/copy` (`title` default the source's, `folderID`)
//!   answers the new file like a create; `PATCH /files/{id}/move` (`targetfolderID`, empty or `/`
//!   the root; `parentfolderID`, when sent, must be where the file is now: else `400`; the
//!   `folder_id` variant takes `folderID`); `PATCH /folders/{id}` (`title` ≤ 36) renames a folder
//!   (variant `tdoc_folder_rename`); a folder listing shows sub-folders (`type: folder`) beside files;
//!   `GET /files/{id}/metadata`; `PATCH /files/{id}/permission` (`policy` one of `private`,
//!   `members`, `publicRead`, `publicWrite`; `copyEnabled`, `readerCommentEnabled` `true|false`);
//!   `POST /folders` (`title`, optional `parentfolderID`); `DELETE /folders/{id}` (with
//!   everything under it). Rename, delete, move and permission answer `{"ret":0,"msg":"Succeed","data":{}}`.
//!   Ids contain `$`: send them percent-encoded.
//! - Doc v3 (the `tdoc_edit` and `docmodel` modules): a doc is paragraphs of text. The read
//!   `GET /openapi/doc/v3/{fileID}` answers `{document, version}` in the shape of
//!   `doc_content_offsets_reply.json`: Document > Body > Paragraph > Text, every node with `begin`
//!   and `end`. Numbering: the first paragraph begins at `1`, a paragraph's `end` is exclusive,
//!   one index (the paragraph break) separates paragraphs, the document spans `0..` the last
//!   paragraph's `end`; an empty doc is one paragraph `1..1`. Offsets count UTF-16 units
//!   (variant `tdoc_offset_unit`: or characters). `version` is `1` for a new doc (a copy too) and
//!   goes up by one with every write (a `batchUpdate`, a person's edit).
//!   `POST /openapi/doc/v3/{fileID}:batchUpdate` (or the slash form, see Variants) takes
//!   `{requests: [...], version?}` with `insertText{text, location{index}}` (`1 <= index <= end`; a
//!   `\n` breaks paragraphs), `replaceText{text, range:[{startIndex, length}]}` (non-overlapping
//!   ranges of the doc before that request), `deleteContent{range{startIndex, length}}`; ranges
//!   need `length >= 1` and must lie in `1..end`. Requests apply in order, each to the doc as the
//!   previous left it; all or nothing; at most [`MAX_REQUESTS`] (30). A `version` may be up to
//!   [`TdocLimits::version_window`] (default 10) behind the doc's: the requests are then rebased
//!   through the writes since (a range keeps covering the text it named); further behind is
//!   refused. Reply `{"ret":0,"msg":"Succeed","data":{}}`. Other request kinds (`insertTable`,
//!   `insertImage`, `insertWebBlock`, ...) answer `400`: the sandbox does not model them.
//! - Frequency control ([`TdocLimits`], [`SandboxConfig::tdoc_limits`]; `upstream-apis.md`):
//!   every OpenAPI call (drive v2 and doc v3, reads included) with valid credentials counts
//!   against its Open-Id (default 300 a minute; the app account is one Open-Id), every doc read
//!   and `batchUpdate` also against its file (default 150 a minute), in sliding windows; over
//!   either → `429` (below). Refused calls do not count; people's edits never do.
//! - People edit docs: [`Sandbox::edit_doc`] ([`DocEdit`]: insert, replace, delete at offsets,
//!   replace or insert a paragraph) or `POST /_sandbox/doc-edit`; [`Sandbox::doc_text`] /
//!   `GET /_sandbox/doc-text?file_id=` give the text, version and numbered paragraphs.
//! - Doc pages `{base}/tdoc/doc/D<base64 of key>`: HTML (in Chinese) with the title, the version
//!   (`#version`) and the paragraphs (`<p>` each in `#content`, escaped, `http(s)` URLs as links);
//!   the first block (the leading paragraphs up to the first empty one, where the product keeps
//!   its card) framed as `section#first-block`; where the doc is (`nav#location`: 我的文档 and its
//!   folders, each linking to its page).
//! - Folder pages `{base}/tdoc/folder/<key>` (the `url` of a folder's listing entry, as in
//!   `folder_list_reply.json`): HTML (in Chinese) with where the folder is (`nav#location`), its
//!   sub-folders (`li.folder`) and live files (`li.file`, `data-id` the file's id, linking to the
//!   doc) in `ul#entries`; an unknown folder answers `404`.
//!
//! # Errors (where upstream is silent, these are the sandbox's choices)
//! TAPD, always the envelope `{"status":0,"data":"","info":".."}`:
//! bad/missing Basic auth on `/tokens/*` → `401`; bad, used, expired or mismatched code or
//! refresh token, bad grant_type → `400`; API call with a missing, unknown or expired Bearer
//! token → `401` (`422` for an unknown or expired one in the `http422` variant, see Variants);
//! live token for another workspace (or the app token on an unseeded one) → `403`;
//! missing parameter (`workspace_id`, comment fields), bad `entry_type`, unknown item or comment,
//! bad `limit`/`page` (zero, not a number), bad `order`, bad time filter → `400`; unknown path → `404` (the
//! `Hello world` reply in the `hello_world` variant, see Variants).
//!
//! Tencent Docs:
//! - `/oauth/v2/token`, `/oauth/v2/app-account-token`: bad client id/secret → `401 {"ret":40001,"msg"}`
//!   (the secret in force: [`Sandbox::rotate_tdoc_client_secret`] replaces it, the old one dies at once);
//!   bad, used, expired or mismatched code, bad refresh token → `401 {"ret":40002,"msg"}`;
//!   missing/unsupported grant_type → `400 {"ret":40003,"msg"}`.
//! - `/oauth/v2/userinfo` and the OpenAPI: missing `Access-Token`/`Client-Id`/`Open-Id` →
//!   `401 {"ret":37001}`; wrong `Client-Id` → `401 {"ret":37002}`; unknown/expired token →
//!   `{"ret":37019}` (401, or 200 in the `http200` variant); `Open-Id` not the token's → `403 {"ret":37003}`.
//! - drive v2: title empty or over [`MAX_TITLE_CHARS`] characters, unknown type or policy, body not
//!   form-encoded → `400 {"ret":400001}`; unknown or deleted file/folder → `404 {"ret":10102}`;
//!   not owner → `403 {"ret":10103}`.
//! - doc v3 `batchUpdate`: unknown file → `404 {"code":10102,"message":"file does not exist"}`;
//!   not owner → `403 {"code":10103}`; bad body, more than 30 requests, an unsupported request
//!   kind, an index or range outside the doc (or inside a character), a `version` newer than
//!   the doc's → `400 {"code":400001}`; a `version` older than the window allows →
//!   `409 {"code":409001,"message":"version too old: .."}`. Nothing is applied on any error.
//! - over a frequency limit → HTTP `429`, `{"code":429,"message":"too many requests: .."}` on doc v3
//!   paths, `{"ret":429,"msg":"too many requests: .."}` on drive v2 paths (upstream documents no
//!   shape; this is also what the `Status(429)` fault answers). The message says which limit.
//!
//! # Variants (unconfirmed facts, switchable)
//! [`Variants`] (`upstream-apis.md`, "Where public sources disagree"); the first value is the default:
//! - `tapd_token_resource` (`user` | `workspace` | `user_only`), [`TapdTokenResource`];
//! - `tdoc_token_error` (`http401` | `http200`), [`TdocTokenError`];
//! - `tapd_dead_token` (`http401` | `http422`), [`TapdDeadToken`]: a TAPD API call with an unknown or
//!   expired Bearer token answers 401, or 422 `{"status":0,"data":"","info":"The access token provided is invalid"}`;
//! - `tapd_unknown_path` (`http404` | `hello_world`), [`TapdUnknownPath`]: a TAPD API path the sandbox
//!   does not have answers 404, or `200 {"status":1,"data":"Hello world from TAPD API ..","info":"success"}`
//!   (the fault kind [`FaultKind::HelloWorld`] answers it on any path);
//! - `tdoc_batch_update_route` (`colon` | `slash`), [`TdocBatchUpdateRoute`]: `colon` serves
//!   `POST /openapi/doc/v3/{fileID}:batchUpdate`, `slash` serves `POST /openapi/doc/v3/{fileID}/batchUpdate`
//!   whose body must also carry `fileID` (the path's id; else `400 {"code":400001}`); the other
//!   route answers `404 {"code":404,"message":"not found"}`;
//! - `tdoc_doc_read` (`flat` | `wrapped`), [`ReplyWrapping`]: the doc read is `{document, version}`
//!   or `{"ret":0,"msg":"Succeed","data":{document, version}}`;
//! - `tdoc_token_reply` (`flat` | `wrapped`): the `/oauth/v2/token` and `app-account-token`
//!   replies likewise (errors keep their `{ret, msg}` shape);
//! - `tdoc_file_id_key` (`ID` | `id`), [`TdocFileIdKey`]: the key of every file's and folder's id
//!   in drive v2 replies (create, copy, folder create, metadata, listings, search);
//! - `tdoc_root_folder` (`plain` | `trailing_slash` | `no_id`), [`TdocRootFolder`]: which of
//!   `GET /openapi/drive/v2/folders/%2F`, `.../folders/%2F/`, `.../folders` lists the root; of the
//!   others, `/folders/%2F` answers `301` to itself (a redirect loop) and the rest
//!   `404 {"ret":404,"msg":"not found"}`;
//! - `tdoc_offset_unit` (`utf16` | `chars`), [`TdocOffsetUnit`]: what the doc read's `begin`/`end`
//!   and `batchUpdate`'s indices count (UTF-16 code units, or characters);
//! - `tdoc_move_params` (`documented` | `folder_id`), [`TdocMoveParams`]: the move's body is
//!   `targetfolderID` (+ `parentfolderID`, checked when sent) as documented, or `folderID`; the
//!   other form answers `400 {"ret":400001}`;
//! - `tdoc_folder_rename` (`renames` | `refused`), [`TdocFolderRename`]: `PATCH /drive/v2/folders/{id}`
//!   (`title`) renames a folder, or (unconfirmed upstream) answers as an unknown route.
//!
//! Set the first four in [`SandboxConfig`], any at run time with [`Sandbox::set_variants`] (and
//! the setters), or `POST /_sandbox/variants` with any of the keys above.
//!
//! # Control over HTTP (`/_sandbox/`, JSON, never faulted, recorded or rate limited)
//! `GET info|docs|comments|items|item-updates|requests|tokens|faults|variants|tapd-rate-limit`;
//! `POST items {workspace_id, kind: story|bug|task, id, name, fields?: {k: "v"}}`,
//! `POST comments {workspace_id, kind|entry_type, entry_id, description, author? (default
//! "v_sandbox", stored as given), created? ("Y-m-d H:i:s"), count? (default 1)}` → `200 [Comment]`,
//! `POST workspaces {workspace_id, name}`, `POST tdoc-users {open_id, nick}`,
//! `POST variants {tapd_token_resource?, tdoc_token_error?, tdoc_batch_update_route?, tdoc_doc_read?,
//! tdoc_token_reply?, tdoc_file_id_key?, tdoc_root_folder?, tdoc_offset_unit?, tdoc_move_params?,
//! tdoc_folder_rename?}` (unknown key or value → 4xx), `GET file-location?file_id=` (the folder chain),
//! `GET folder?folder_id=` (sub-folders and files),
//! `POST tapd-rate-limit {"limit":N,"window_ms":M}` or `null` (unlimited; starts a fresh window),
//! `POST faults <Fault>` (kinds include `{"redirect":URL}`: a `307` to URL), `DELETE faults` (or `POST clear-faults`),
//! `POST expire-tokens`, `POST expire-refresh-tokens`, `POST expire-codes`,
//! `GET workflows?workspace_id=`, `POST workflows {workspace_id, system, statuses:[{key,name}], end:[key]}`,
//! `GET iterations`, `POST iterations {workspace_id, name, id?, deliver?}` → `200 {iteration, deliveries}`,
//! `POST iterations/update {workspace_id, id, name, deliver?}` → `200 {iteration, deliveries}`,
//! `GET|POST tdoc-limits {file_ops_per_window, content_ops_per_window, window_ms, version_window}`
//! (`null` counts: unlimited; fresh windows), `POST doc-edit {file_id, edits: [DocEdit]}` →
//! `200 DocText`, `GET doc-text?file_id=` → `DocText`, `POST items/change {workspace_id, kind, id,
//! fields, deliver?, current_user?}` → `200 ItemChange`, `GET deliveries`, `POST deliveries/redeliver
//! {seq, delay_ms?}`, `POST webhook {url, secret}`, `POST iterations/delete {workspace_id, id}`.
//! Other mutations answer `204`. The full table is in the `control` module's source docs.

#![allow(
    clippy::result_large_err,
    reason = "request checks return the ready-made error Response; every request builds one at most"
)]

/// The killable listener behind the `Reset` fault, reusable by other test servers (the
/// harness's DynamoDB fault proxy).
pub mod conn;
mod control;
pub mod deliveries;
mod docmodel;
mod faults;
pub mod members;
mod model;
mod pages;
mod persist;
pub mod robots;
mod state;
pub mod tapd;
mod tdoc;
mod tdoc_edit;
mod util;
mod web;
pub mod workflow;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use tokio::sync::watch;

pub use deliveries::{Delivery, ItemChange};
pub use docmodel::Paragraph;
pub use members::{ADMIN_ROLE_ID, MEMBER_USER_ID};
pub use model::{
    Comment, Doc, Fault, FaultKind, IssuedTokens, Item, ItemKind, ItemUpdate, Iteration, ReplyWrapping, RequestRecord,
    TASK_STATUSES, TapdDeadToken, TapdTokenResource, TapdUnknownPath, TdocBatchUpdateRoute, TdocFileIdKey,
    TdocFolderRename, TdocLimits, TdocMoveParams, TdocOffsetUnit, TdocRootFolder, TdocTokenError, Variants, Workflow,
    WorkflowStatus, WorkflowSystem,
};
pub use state::Folder;
pub use tapd::{TAPD_USER_ID, tapd_author};
pub use tdoc::MAX_TITLE_CHARS;
pub use tdoc_edit::{DocEdit, DocText, MAX_REQUESTS};
pub use web::sanitize;
pub use workflow::workitem_type_id;

/// TAPD's documented rate limit: 1,800 requests per 10 minutes per app.
pub const TAPD_RATE_LIMIT: (u32, Duration) = (1800, Duration::from_secs(600));

use conn::{ConnInfo, ResetListener};
use state::{ActiveFault, State};

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub tapd_client_id: String,
    pub tapd_client_secret: String,
    pub tdoc_client_id: String,
    pub tdoc_client_secret: String,
    /// Redirect URIs registered for both apps; exchanges must present one exactly.
    pub redirect_uris: Vec<String>,
    /// Lifetime of every access token; TAPD and Tencent Docs replies carry it as `expires_in`.
    pub access_token_ttl_secs: u64,
    /// Lifetime of authorization codes. `0` makes every code expired at once.
    pub code_ttl_secs: u64,
    /// The TAPD app has refresh tokens enabled: token replies carry `refresh_token`.
    pub tapd_refresh_tokens: bool,
    /// Tencent Docs refresh replies carry a new refresh token (and the old one dies).
    /// `false` (default): no `refresh_token` in the reply, the old one stays valid.
    pub tdoc_refresh_returns_new_refresh_token: bool,
    /// Where browsers and clients reach the sandbox when its [`Sandbox::router`] is mounted
    /// in another server (e.g. a local gateway), no trailing slash: [`Sandbox::base_url`] and
    /// every URL derived from it (doc links, API bases) use it. `None` (default): the
    /// sandbox's own listener address.
    pub public_base_url: Option<String>,
    /// The `resource` of TAPD user-token replies (unconfirmed upstream; default: the seed's
    /// `{"type":"user","workspace_id":<number>}`). Switchable at run time ([`Sandbox::set_variants`]).
    pub tapd_token_resource: TapdTokenResource,
    /// The HTTP status of Tencent Docs' `ret` 37019 (dead token) replies (unconfirmed
    /// upstream; default `401`). Switchable at run time ([`Sandbox::set_variants`]).
    pub tdoc_token_error: TdocTokenError,
    /// The HTTP status of TAPD's dead-token replies (`401` default, or `422`).
    pub tapd_dead_token: TapdDeadToken,
    /// TAPD's answer on a path it does not have (`404` default, or the `Hello world` reply).
    pub tapd_unknown_path: TapdUnknownPath,
    /// TAPD's rate limit per app: at most `n` API requests in any sliding window, then
    /// `429` in the shape of `rate_limited_reply.json`. Default [`TAPD_RATE_LIMIT`];
    /// `None`: unlimited. Changeable at run time ([`Sandbox::set_tapd_rate_limit`]).
    pub tapd_rate_limit: Option<(u32, Duration)>,
    /// Where the TAPD web pages' "new story / new bug" form delivers the item's
    /// `story::create` / `bug::create` event (e.g. `http://127.0.0.1:3000/webhooks/tapd`).
    /// `None` (default): the form only creates the item.
    pub webhook_url: Option<String>,
    /// The `secret` those deliveries carry (TAPD's webhook secret). Default empty.
    pub webhook_secret: String,
    /// Tencent Docs' frequency control and version window (default: the documented 300 file
    /// operations a minute per Open-Id, 150 content operations a minute per file; 10 versions).
    /// Changeable at run time ([`Sandbox::set_tdoc_limits`]).
    pub tdoc_limits: TdocLimits,
}

impl SandboxConfig {
    pub fn new(redirect_uris: Vec<String>) -> Self {
        SandboxConfig {
            tapd_client_id: "tapd-app".into(),
            tapd_client_secret: "tapd-secret-sandbox-0123456789".into(),
            tdoc_client_id: "tdoc-app".into(),
            tdoc_client_secret: "tdoc-secret-sandbox-0123456789".into(),
            redirect_uris,
            access_token_ttl_secs: 7200,
            code_ttl_secs: 300,
            tapd_refresh_tokens: true,
            tdoc_refresh_returns_new_refresh_token: false,
            public_base_url: None,
            tapd_token_resource: TapdTokenResource::default(),
            tdoc_token_error: TdocTokenError::default(),
            tapd_dead_token: TapdDeadToken::default(),
            tapd_unknown_path: TapdUnknownPath::default(),
            tapd_rate_limit: Some(TAPD_RATE_LIMIT),
            webhook_url: None,
            webhook_secret: String::new(),
            tdoc_limits: TdocLimits::default(),
        }
    }
}

struct Inner {
    cfg: SandboxConfig,
    base_url: String,
    tdoc_app_open_id: String,
    state: Mutex<State>,
    shutdown: watch::Sender<bool>,
}

/// A running sandbox. Cheap to clone; every clone shares the same state and server.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl Sandbox {
    /// Serves on `127.0.0.1:<free port>`. Panics if it cannot bind.
    pub async fn start(cfg: SandboxConfig) -> Sandbox {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        Sandbox::start_on(cfg, addr).await.expect("sandbox: cannot bind 127.0.0.1:0")
    }

    /// Serves on `addr` (port `0` picks a free one). An unspecified address
    /// (`0.0.0.0`) is advertised as `127.0.0.1` in [`Sandbox::base_url`].
    pub async fn start_on(cfg: SandboxConfig, addr: SocketAddr) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let host = if local.ip().is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { local.ip() };
        let base_url = match &cfg.public_base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", SocketAddr::new(host, local.port())),
        };
        let (shutdown, mut rx) = watch::channel(false);
        let state = State {
            variants: Variants {
                tapd_token_resource: cfg.tapd_token_resource,
                tdoc_token_error: cfg.tdoc_token_error,
                tapd_dead_token: cfg.tapd_dead_token,
                tapd_unknown_path: cfg.tapd_unknown_path,
                ..Variants::default()
            },
            tapd_rate_limit: cfg.tapd_rate_limit,
            tdoc_limits: cfg.tdoc_limits,
            tapd_users: members::seed_users(),
            ..State::default()
        };
        let sandbox = Sandbox {
            inner: Arc::new(Inner {
                cfg,
                base_url,
                tdoc_app_open_id: util::random_hex16(),
                state: Mutex::new(state),
                shutdown,
            }),
        };
        let app = sandbox.router().into_make_service_with_connect_info::<ConnInfo>();
        tokio::spawn(async move {
            let serve = axum::serve(ResetListener(listener), app).with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        Ok(sandbox)
    }

    /// Every route (`/tapd/...`, `/tdoc/...`, `/_sandbox/...`), with recording
    /// and fault injection, for mounting in another server.
    pub fn router(&self) -> Router {
        tapd::routes()
            .merge(workflow::routes())
            .merge(web::routes())
            .merge(tdoc::routes().layer(from_fn_with_state(self.clone(), tdoc_edit::limits)))
            .merge(control::routes())
            .merge(robots::routes())
            .fallback(faults::not_found)
            .layer(from_fn_with_state(self.clone(), tapd::rate_headers))
            .layer(from_fn_with_state(self.clone(), faults::middleware))
            .with_state(self.clone())
    }

    /// Stops accepting connections (in-flight requests finish).
    pub fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.inner.cfg
    }

    /// `http://127.0.0.1:PORT`, or [`SandboxConfig::public_base_url`] when set.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// `{base}/tapd/api`
    pub fn tapd_api_base(&self) -> String {
        format!("{}/tapd/api", self.inner.base_url)
    }

    /// `{base}/tapd/oauth/`
    pub fn tapd_authorize_url(&self) -> String {
        format!("{}/tapd/oauth/", self.inner.base_url)
    }

    /// `{base}/tapd/web`: the TAPD web pages (items at `{ws}/prong/stories/view/{id}`, bugs
    /// `{ws}/bugtrace/bugs/view/{id}`, tasks `{ws}/prong/tasks/view/{id}`, like `https://www.tapd.cn`),
    /// what `TAPD_WEB_BASE` names locally.
    pub fn tapd_web_base(&self) -> String {
        format!("{}/tapd/web", self.inner.base_url)
    }

    /// `{base}/tdoc`: `/oauth/v2/authorize`, `/oauth/v2/token`, `/openapi/...` live under it.
    pub fn tdoc_base(&self) -> String {
        format!("{}/tdoc", self.inner.base_url)
    }

    /// The Tencent Docs client secret in force: the config's until rotated.
    pub fn tdoc_client_secret(&self) -> String {
        self.lock().tdoc_client_secret.clone().unwrap_or_else(|| self.inner.cfg.tdoc_client_secret.clone())
    }

    /// Resets the Tencent Docs app's client secret, as its developer console does: from now
    /// on only `secret` is accepted (the old one answers `401 {"ret":40001}`).
    pub fn rotate_tdoc_client_secret(&self, secret: &str) {
        self.lock().tdoc_client_secret = Some(secret.to_owned());
    }

    /// The open id `app-account-token` tokens act as (random per sandbox).
    pub fn tdoc_app_open_id(&self) -> String {
        self.inner.tdoc_app_open_id.clone()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record(&self, r: RequestRecord) {
        self.lock().requests.push(r);
    }

    // ---- seeding ----

    pub fn add_workspace(&self, workspace_id: &str, name: &str) {
        self.lock().workspaces.insert(workspace_id.to_string(), name.to_string());
    }

    /// Adds (or replaces) an item. Use 19-digit ids to look like TAPD.
    /// Seeding an item also seeds its workspace if missing.
    ///
    /// Fields, all strings as TAPD sends them: `id`, `workspace_id`, the name (`name` for
    /// stories and tasks, `title` for bugs), `description` (HTML, empty), `status`
    /// (`planning` / `new` / `open`), `priority` (empty), `iteration_id` (`0`), `created` and
    /// `modified` (now, `Y-m-d H:i:s` Asia/Shanghai); stories and tasks have `owner` and
    /// `creator`, bugs `current_owner` and `reporter` (TAPD's bug reference), tasks `story_id`.
    pub fn add_item(&self, workspace_id: &str, kind: ItemKind, id: &str, name: &str) {
        self.add_item_with_fields(workspace_id, kind, id, name, &[]);
    }

    /// [`Sandbox::add_item`], then sets `fields` (e.g. `("created", "2026-11-01 09:00:00")`,
    /// `("description", "<p>..</p>")`, `("custom_field_one", "..")`).
    pub fn add_item_with_fields(
        &self,
        workspace_id: &str,
        kind: ItemKind,
        id: &str,
        name: &str,
        fields: &[(&str, &str)],
    ) {
        let mut item = tapd::new_item(workspace_id, kind, id, name);
        item.fields.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut st = self.lock();
        st.workspaces.entry(workspace_id.to_string()).or_insert_with(|| format!("Workspace {workspace_id}"));
        st.items.insert((workspace_id.to_string(), kind, id.to_string()), item);
    }

    /// Seeds a comment on an item as TAPD stores it, created now: `author` is stored as given
    /// (no mapping: it is already a TAPD user). The item need not exist.
    /// How long a new file stays out of Tencent Docs' search (30 s unless set).
    pub fn search_lag(&self) -> Duration {
        self.lock().search_lag.unwrap_or(Duration::from_secs(30))
    }

    pub fn set_search_lag(&self, lag: Duration) {
        self.lock().search_lag = Some(lag);
    }

    /// Deletes an item as a person in TAPD would: the API no longer returns it.
    pub fn remove_item(&self, workspace_id: &str, kind: ItemKind, id: &str) {
        self.lock().items.remove(&(workspace_id.to_string(), kind, id.to_string()));
    }

    pub fn add_comment(
        &self,
        workspace_id: &str,
        kind: ItemKind,
        entry_id: &str,
        description: &str,
        author: &str,
    ) -> Comment {
        self.add_comment_at(workspace_id, kind, entry_id, description, author, &util::now_shanghai())
    }

    /// [`Sandbox::add_comment`] with its `created` (and `modified`) time, `Y-m-d H:i:s`
    /// Asia/Shanghai: seeds "earlier" comments for ordering and paging tests.
    pub fn add_comment_at(
        &self,
        workspace_id: &str,
        kind: ItemKind,
        entry_id: &str,
        description: &str,
        author: &str,
        created: &str,
    ) -> Comment {
        let mut st = self.lock();
        let status = st.item(workspace_id, kind, entry_id).and_then(|i| i.fields.get("status").cloned());
        let comment = tapd::new_comment(workspace_id, kind, entry_id, description, author, created, status.as_deref());
        st.comments.push(comment.clone());
        comment
    }

    // ---- workflows and iterations ----

    /// The workflow a workspace's stories or bugs follow (TAPD's default until set).
    pub fn workflow(&self, workspace_id: &str, system: WorkflowSystem) -> Workflow {
        self.lock().workflow(workspace_id, system)
    }

    /// Replaces a workspace's story or bug workflow (custom statuses such as `status_5`, end
    /// statuses). Items keep their status even if it is no longer one of the workflow's
    /// (as TAPD keeps them when an admin edits a workflow); writes must then pick a new one.
    pub fn set_workflow(&self, workspace_id: &str, system: WorkflowSystem, workflow: Workflow) -> Result<(), String> {
        workflow.check()?;
        self.lock().workflows.insert((workspace_id.to_string(), system), workflow);
        Ok(())
    }

    /// Creates an open iteration in a workspace (two weeks from today; a random 19-digit id unless
    /// `id` is given). Delivers nothing.
    pub fn add_iteration(&self, workspace_id: &str, id: Option<&str>, name: &str) -> Iteration {
        let it = workflow::new_iteration(workspace_id, id, name);
        let mut st = self.lock();
        st.iterations.retain(|i| !(i.workspace_id == it.workspace_id && i.id == it.id));
        st.iterations.push(it.clone());
        it
    }

    /// Renames an iteration (its `modified` changes), delivering nothing; `None` if unknown.
    pub fn rename_iteration_quietly(&self, workspace_id: &str, id: &str, name: &str) -> Option<Iteration> {
        let mut st = self.lock();
        let it = st.iterations.iter_mut().find(|i| i.workspace_id == workspace_id && i.id == id)?;
        it.name = name.to_string();
        it.modified = util::now_shanghai();
        Some(it.clone())
    }

    pub fn iterations(&self) -> Vec<Iteration> {
        self.lock().iterations.clone()
    }

    pub fn add_tdoc_user(&self, open_id: &str, nick: &str) {
        self.lock().tdoc_users.insert(open_id.to_string(), nick.to_string());
    }

    // ---- inspection ----

    pub fn docs(&self) -> Vec<Doc> {
        self.lock().docs.clone()
    }

    /// Every folder made (deleted ones are gone from it).
    pub fn folders(&self) -> Vec<Folder> {
        self.lock().folders.clone()
    }

    /// The folders a file (or folder) is in, root first (`[]`: in the root); `None` if unknown.
    pub fn file_location(&self, id: &str) -> Option<Vec<Folder>> {
        let st = self.lock();
        let mut at = match (st.docs.iter().find(|d| d.id == id), st.folders.iter().find(|f| f.id == id)) {
            (Some(d), _) => d.folder_id.clone(),
            (None, Some(f)) => f.parent_id.clone(),
            (None, None) => return None,
        };
        let mut chain = Vec::new();
        while let Some(f) = at.and_then(|a| st.folders.iter().find(|f| f.id == a)) {
            chain.push(f.clone());
            at = f.parent_id.clone();
            if chain.len() > 64 {
                break;
            }
        }
        chain.reverse();
        Some(chain)
    }

    /// A folder's sub-folders and live files (`None`: the root); `None` if the folder is unknown.
    pub fn folder_children(&self, folder_id: Option<&str>) -> Option<(Vec<Folder>, Vec<Doc>)> {
        let st = self.lock();
        if let Some(f) = folder_id
            && !st.folders.iter().any(|x| x.id == f)
        {
            return None;
        }
        let folders = st.folders.iter().filter(|f| f.parent_id.as_deref() == folder_id).cloned().collect();
        let files = st.docs.iter().filter(|d| !d.deleted && d.folder_id.as_deref() == folder_id).cloned().collect();
        Some((folders, files))
    }

    pub fn comments(&self) -> Vec<Comment> {
        self.lock().comments.clone()
    }

    pub fn items(&self) -> Vec<Item> {
        self.lock().items.values().cloned().collect()
    }

    pub fn item(&self, workspace_id: &str, kind: ItemKind, id: &str) -> Option<Item> {
        self.lock().item(workspace_id, kind, id).cloned()
    }

    pub fn item_updates(&self) -> Vec<ItemUpdate> {
        self.lock().updates.clone()
    }

    /// Every request answered so far, oldest first (`/_sandbox/` excluded).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    /// How many tokens each grant has issued.
    pub fn issued_tokens(&self) -> IssuedTokens {
        self.lock().issued.clone()
    }

    /// Every authorization code, access token and refresh token the sandbox has handed out
    /// (used, expired and rotated ones included), for tests that check none leaked into a
    /// log line or a table item.
    pub fn issued_token_values(&self) -> Vec<String> {
        self.lock().issued_secrets.clone()
    }

    /// Faults still armed.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock()
            .faults
            .iter()
            .map(|f| {
                let mut fault = f.fault.clone();
                fault.times = f.remaining.unwrap_or(0);
                fault
            })
            .collect()
    }

    // ---- variants and limits ----

    /// The unconfirmed facts currently played (initially from the config).
    pub fn variants(&self) -> Variants {
        self.lock().variants
    }

    pub fn set_variants(&self, variants: Variants) {
        self.lock().variants = variants;
    }

    pub fn set_tapd_token_resource(&self, resource: TapdTokenResource) {
        self.lock().variants.tapd_token_resource = resource;
    }

    pub fn set_tdoc_token_error(&self, error: TdocTokenError) {
        self.lock().variants.tdoc_token_error = error;
    }

    pub fn set_tapd_dead_token(&self, answer: TapdDeadToken) {
        self.lock().variants.tapd_dead_token = answer;
    }

    pub fn set_tapd_unknown_path(&self, answer: TapdUnknownPath) {
        self.lock().variants.tapd_unknown_path = answer;
    }

    /// The TAPD rate limit in force (`None`: unlimited).
    pub fn tapd_rate_limit(&self) -> Option<(u32, Duration)> {
        self.lock().tapd_rate_limit
    }

    /// A "429 storm": every TAPD API call is refused (the rate-limit reply, `X-RateLimit-Remaining: 0`)
    /// for `for_time`, or for the next `calls` calls; `(None, None)` ends one.
    pub fn tapd_storm(&self, for_time: Option<Duration>, calls: Option<u32>) {
        self.lock().tapd_storm = match (for_time, calls) {
            (Some(d), _) => Some(state::Storm::Until(std::time::Instant::now() + d)),
            (None, Some(n)) => Some(state::Storm::Calls(n)),
            (None, None) => None,
        };
    }

    /// TAPD answers `502` to a list whose reply would exceed `bytes` (`None`: never, the default).
    pub fn set_tapd_max_reply_bytes(&self, bytes: Option<usize>) {
        self.lock().tapd_max_reply_bytes = bytes;
    }

    /// Replaces the TAPD rate limit and starts a fresh window.
    pub fn set_tapd_rate_limit(&self, limit: Option<(u32, Duration)>) {
        let mut st = self.lock();
        st.tapd_rate_limit = limit;
        st.tapd_hits.clear();
    }

    // ---- control ----

    /// Arms a fault (see [`Fault`]). `times == 0`: until [`Sandbox::clear_faults`].
    pub fn inject(&self, fault: Fault) {
        let remaining = (fault.times > 0).then_some(fault.times);
        self.lock().faults.push(ActiveFault { fault, remaining });
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Every access token issued so far (TAPD user and app, Tencent Docs user
    /// and app account) is expired: calls with it get the service's 401.
    /// Refresh tokens keep working.
    pub fn expire_access_tokens(&self) {
        self.lock().expire_access_tokens();
    }

    /// Every refresh token issued so far is expired.
    pub fn expire_refresh_tokens(&self) {
        self.lock().expire_refresh_tokens();
    }

    /// Every unused authorization code is expired.
    pub fn expire_codes(&self) {
        self.lock().expire_codes();
    }
}

/// A reqwest client builder for this process: the workspace's reqwest has rustls without a
/// built-in provider (no aws-lc anywhere), so ring, the functions' provider, is installed as the
/// process default first. Every test-side client (the sandbox's webhook, the harness, devstack,
/// the bench) starts here.
pub fn http_client() -> reqwest::ClientBuilder {
    // Err only when a default is already installed: that one serves.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
