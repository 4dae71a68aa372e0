//! Tencent Docs content with offsets: the doc read (`GET /openapi/doc/v3/{fileID}`), `batchUpdate`
//! (insert, replace, delete by the offsets a read returned; all or nothing; at most
//! [`MAX_REQUESTS`] requests; `version` within the window), the frequency control (file
//! operations per Open-Id, content operations per file), and a person editing a doc.
//! Numbering and request semantics: the `docmodel` module.
//!
//! Errors (v3's `{code, message}`; where upstream is silent, the sandbox's choices):
//! - a body that is not JSON, no `requests`, more than 30 requests, an unknown request kind, a
//!   range or index outside the doc or inside a character, a `version` newer than the doc's →
//!   `400 {"code":400001}`; nothing is applied;
//! - a `version` older than the doc's by more than the window ([`crate::TdocLimits::version_window`],
//!   default 10) → `409 {"code":409001,"message":"version too old .."}`; within it the requests are
//!   rebased through the writes made since (as a collaborative editor would);
//! - over a limit → `429`: `{"code":429,"message":..}` on doc v3 paths, `{"ret":429,"msg":..}` on
//!   drive v2 paths (the shape the `Status(429)` fault answers too). Only calls with valid
//!   credentials count, refused ones do not.

use std::collections::VecDeque;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Sandbox;
use crate::docmodel::{self, Change, Op, Paragraph};
use crate::model::{Doc, TdocOffsetUnit};
use crate::state::window_hit;
use crate::tdoc::{ret_error, v3_error};
use crate::util;

/// The most requests one `batchUpdate` may carry.
pub const MAX_REQUESTS: usize = 30;

/// Counts every OpenAPI call with valid credentials against its Open-Id's file operations, and
/// doc reads and writes against their file's content operations.
pub(crate) async fn limits(State(sb): State<Sandbox>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/tdoc/openapi/") {
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let (token, client_id, open_id) = (header("Access-Token"), header("Client-Id"), header("Open-Id"));
        let v3 = path.starts_with("/tdoc/openapi/doc/v3/");
        let mut st = sb.lock();
        let valid = client_id == sb.config().tdoc_client_id
            && st.tdoc_tokens.get(token).is_some_and(|t| t.expiry.live() && t.open_id == open_id);
        if valid {
            let limits = st.tdoc_limits;
            let file = v3.then(|| content_file(&path)).flatten();
            // Check both before counting either: a refused call counts nowhere.
            let file_full = full(st.tdoc_file_hits.get_mut(open_id), limits.file_ops_per_window, limits.window);
            let content_full = file
                .as_ref()
                .is_some_and(|f| full(st.tdoc_content_hits.get_mut(f), limits.content_ops_per_window, limits.window));
            if file_full || content_full {
                drop(st);
                let why = if content_full {
                    format!(
                        "too many requests: at most {} content operations per {} s per file",
                        limits.content_ops_per_window.unwrap_or(0),
                        limits.window.as_secs()
                    )
                } else {
                    format!(
                        "too many requests: at most {} file operations per {} s per Open-Id",
                        limits.file_ops_per_window.unwrap_or(0),
                        limits.window.as_secs()
                    )
                };
                return if v3 {
                    v3_error(StatusCode::TOO_MANY_REQUESTS, 429, &why)
                } else {
                    ret_error(StatusCode::TOO_MANY_REQUESTS, 429, &why)
                };
            }
            window_hit(
                st.tdoc_file_hits.entry(open_id.to_string()).or_default(),
                limits.file_ops_per_window,
                limits.window,
            );
            if let Some(f) = file {
                window_hit(st.tdoc_content_hits.entry(f).or_default(), limits.content_ops_per_window, limits.window);
            }
        }
    }
    next.run(req).await
}

/// Whether a window is full now (without counting).
fn full(hits: Option<&mut VecDeque<std::time::Instant>>, limit: Option<u32>, window: std::time::Duration) -> bool {
    let (Some(hits), Some(limit)) = (hits, limit) else { return false };
    let now = std::time::Instant::now();
    while hits.front().is_some_and(|t| now.duration_since(*t) >= window) {
        hits.pop_front();
    }
    hits.len() >= limit as usize
}

/// The file a doc v3 path reads or writes (`/doc/v3/{id}`, `{id}:batchUpdate`, `{id}/batchUpdate`).
fn content_file(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/tdoc/openapi/doc/v3/")?;
    let seg = rest.split('/').next()?;
    let seg = seg.strip_suffix(":batchUpdate").unwrap_or(seg);
    (!seg.is_empty()).then(|| util::percent_decode(seg))
}

/// The read: `{document, version}` (`doc_content_offsets_reply.json`).
pub(crate) fn read_body(doc: &Doc, unit: TdocOffsetUnit) -> Value {
    json!({"document": docmodel::tree(&doc.content, unit), "version": doc.version})
}

/// Applies a batch to the stored doc `file_id` (already checked: it exists, is the caller's, a doc).
pub(crate) fn batch_update(sb: &Sandbox, file_id: &str, body: &[u8]) -> Response {
    let bad = |msg: &str| v3_error(StatusCode::BAD_REQUEST, 400001, msg);
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad(&format!("invalid JSON body: {e}")),
    };
    let Some(requests) = v.get("requests").and_then(Value::as_array).filter(|r| !r.is_empty()) else {
        return bad("requests must be a non-empty array");
    };
    if requests.len() > MAX_REQUESTS {
        return bad(&format!("at most {MAX_REQUESTS} requests in one batchUpdate"));
    }
    let ops = match docmodel::parse_requests(requests) {
        Ok(ops) => ops,
        Err(e) => return bad(&e),
    };
    let version = match v.get("version") {
        None | Some(Value::Null) => None,
        Some(n) => match n.as_u64() {
            Some(n) => Some(n),
            None => return bad("version must be a non-negative integer"),
        },
    };
    let unit = sb.variants().tdoc_offset_unit;
    let window = sb.lock().tdoc_limits.version_window;
    let mut st = sb.lock();
    let Some(doc) = st.docs.iter_mut().find(|d| d.id == file_id) else {
        return v3_error(StatusCode::NOT_FOUND, 10102, "file does not exist");
    };
    let since: Vec<Change> = match version {
        None => Vec::new(),
        Some(n) if n > doc.version => {
            return bad(&format!("version {n} is newer than the document's ({})", doc.version));
        }
        Some(n) if doc.version - n > window => {
            return v3_error(
                StatusCode::CONFLICT,
                409001,
                &format!("version too old: the document is at version {}, read it again", doc.version),
            );
        }
        Some(n) => doc.changes.iter().filter(|(v, _)| *v > n).flat_map(|(_, c)| c.iter().copied()).collect(),
    };
    match apply_all(&doc.content, &ops, &since, unit) {
        Ok((text, changes)) => {
            commit(doc, text, changes, window);
            crate::tdoc::succeed(json!({}))
        }
        Err(e) => bad(&e),
    }
}

/// The ops applied in order to a copy of `text` (each rebased through `since` first).
fn apply_all(text: &str, ops: &[Op], since: &[Change], unit: TdocOffsetUnit) -> Result<(String, Vec<Change>), String> {
    let mut text = text.to_string();
    let mut changes = Vec::new();
    for op in ops {
        let op = if since.is_empty() { op.clone() } else { docmodel::rebase(op, since) };
        changes.extend(docmodel::apply(&mut text, &op, unit)?);
    }
    Ok((text, changes))
}

fn commit(doc: &mut Doc, text: String, changes: Vec<Change>, window: u64) {
    doc.content = text;
    doc.version += 1;
    doc.changes.push((doc.version, changes));
    let keep = (window as usize).max(1);
    if doc.changes.len() > keep {
        let drop = doc.changes.len() - keep;
        doc.changes.drain(..drop);
    }
}

/// A person's edit of a doc ([`Sandbox::edit_doc`], `POST /_sandbox/doc-edit`), in the doc
/// indices a read gives (or by paragraph number, 0-based).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocEdit {
    Insert {
        index: usize,
        text: String,
    },
    Replace {
        start: usize,
        length: usize,
        text: String,
    },
    Delete {
        start: usize,
        length: usize,
    },
    /// The paragraph's whole text becomes `text` (an empty paragraph: `text` inserted).
    ReplaceParagraph {
        paragraph: usize,
        text: String,
    },
    /// A new paragraph `text` before paragraph `paragraph` (the paragraph count: at the end).
    InsertParagraph {
        paragraph: usize,
        text: String,
    },
}

/// A doc's text as a test sees it: `GET /_sandbox/doc-text?file_id=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocText {
    pub file_id: String,
    pub text: String,
    pub version: u64,
    pub paragraphs: Vec<Paragraph>,
}

fn edit_op(text: &str, edit: &DocEdit, unit: TdocOffsetUnit) -> Result<Op, String> {
    let paras = docmodel::paragraphs(text, unit);
    Ok(match edit {
        DocEdit::Insert { index, text } => Op::Insert { index: *index, text: text.clone() },
        DocEdit::Replace { start, length, text } => Op::Replace { ranges: vec![(*start, *length)], text: text.clone() },
        DocEdit::Delete { start, length } => Op::Delete { start: *start, length: *length },
        DocEdit::ReplaceParagraph { paragraph, text } => {
            let p = paras.get(*paragraph).ok_or_else(|| format!("no paragraph {paragraph}"))?;
            if p.begin == p.end {
                Op::Insert { index: p.begin, text: text.clone() }
            } else {
                Op::Replace { ranges: vec![(p.begin, p.end - p.begin)], text: text.clone() }
            }
        }
        DocEdit::InsertParagraph { paragraph, text } => match paras.get(*paragraph) {
            Some(p) => Op::Insert { index: p.begin, text: format!("{text}\n") },
            None if *paragraph == paras.len() => {
                Op::Insert { index: paras.last().map_or(1, |p| p.end), text: format!("\n{text}") }
            }
            None => return Err(format!("no paragraph {paragraph}")),
        },
    })
}

impl Sandbox {
    /// A person edits the doc (all edits or none; each to the doc as the previous left it): its
    /// version goes up by one, like any write; not rate limited. `Err` for an unknown or deleted
    /// doc or an edit outside it.
    pub fn edit_doc(&self, file_id: &str, edits: &[DocEdit]) -> Result<DocText, String> {
        let unit = self.variants().tdoc_offset_unit;
        let mut st = self.lock();
        let window = st.tdoc_limits.version_window;
        let doc =
            st.docs.iter_mut().find(|d| d.id == file_id && !d.deleted).ok_or_else(|| format!("no doc {file_id}"))?;
        let mut text = doc.content.clone();
        let mut changes = Vec::new();
        for e in edits {
            let op = edit_op(&text, e, unit)?;
            changes.extend(docmodel::apply(&mut text, &op, unit)?);
        }
        commit(doc, text, changes, window);
        Ok(doc_text(doc, unit))
    }

    /// The doc's text, version and paragraphs (numbered as the read numbers them).
    pub fn doc_text(&self, file_id: &str) -> Option<DocText> {
        let unit = self.variants().tdoc_offset_unit;
        self.lock().docs.iter().find(|d| d.id == file_id).map(|d| doc_text(d, unit))
    }

    /// Tencent Docs' frequency control and version window in force.
    pub fn tdoc_limits(&self) -> crate::TdocLimits {
        self.lock().tdoc_limits
    }

    /// Replaces them and starts fresh windows.
    pub fn set_tdoc_limits(&self, limits: crate::TdocLimits) {
        let mut st = self.lock();
        st.tdoc_limits = limits;
        st.tdoc_file_hits.clear();
        st.tdoc_content_hits.clear();
    }
}

fn doc_text(d: &Doc, unit: TdocOffsetUnit) -> DocText {
    DocText {
        file_id: d.id.clone(),
        text: d.content.clone(),
        version: d.version,
        paragraphs: docmodel::paragraphs(&d.content, unit),
    }
}
