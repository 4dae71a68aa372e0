//! A doc's content: read it (as text, or as a tree of blocks with the offsets the read gives),
//! write into it (`batchUpdate`, by whichever route answers).

use std::sync::atomic::Ordering;

use super::{
    BatchRoute, S, TdocClient, TdocToken, malformed, no_route, openapi_status, percent_encode_segment, refused,
    routes_from, unknown_route,
};
use crate::upstream::{self, UpstreamError, decode};

impl TdocClient {
    /// A doc's text (`GET /doc/v3/{fileID}`): the `text` of its nodes in document order,
    /// one line per node that has text.
    pub async fn doc_text(&self, token: &TdocToken, file_id: &str) -> Result<String, UpstreamError> {
        let path = format!("doc/v3/{}", percent_encode_segment(file_id));
        let req = self.openapi(reqwest::Method::GET, &path, token);
        let (status, body) = upstream::send(S, req).await?;
        doc_text_reply(status, &body)
    }

    /// A doc's blocks with their offsets (`GET /doc/v3/{fileID}`), and its version.
    pub async fn read_doc(&self, token: &TdocToken, file_id: &str) -> Result<DocTree, UpstreamError> {
        let path = format!("doc/v3/{}", percent_encode_segment(file_id));
        let req = self.openapi(reqwest::Method::GET, &path, token);
        let (status, body) = upstream::send(S, req).await?;
        doc_tree_reply(status, &body)
    }

    /// Inserts text at the start of a doc (`batchUpdate`, v3).
    pub async fn insert_text(&self, token: &TdocToken, file_id: &str, text: &str) -> Result<(), UpstreamError> {
        self.batch_update(token, file_id, &[Edit::Insert { index: 1, text: text.to_owned() }], None).await
    }

    /// Applies `edits` in order, all or nothing (`batchUpdate`, v3), against `version` when
    /// given (the read's: the provider rebases or refuses a write made against an older doc),
    /// by the route that last worked ([`BatchRoute`]); a route answered as unknown gives way
    /// to the other (it was not acted on), and the one that answers is remembered.
    pub async fn batch_update(
        &self,
        token: &TdocToken,
        file_id: &str,
        edits: &[Edit],
        version: Option<u64>,
    ) -> Result<(), UpstreamError> {
        let requests: Vec<serde_json::Value> = edits.iter().map(Edit::request).collect();
        let mut last = None;
        for route in routes_from(&BatchRoute::ALL, self.batch_route.load(Ordering::Relaxed)) {
            let id = percent_encode_segment(file_id);
            let (path, mut body) = match route {
                BatchRoute::Colon => (format!("doc/v3/{id}:batchUpdate"), serde_json::json!({ "requests": requests })),
                BatchRoute::Slash => {
                    (format!("doc/v3/{id}/batchUpdate"), serde_json::json!({ "fileID": file_id, "requests": requests }))
                }
            };
            if let Some(v) = version {
                body["version"] = v.into();
            }
            let req = self.openapi(reqwest::Method::POST, &path, token).json(&body);
            let (status, body) = upstream::send(S, req).await?;
            if unknown_route(status, &body) {
                tracing::debug!(?route, status, "this batchUpdate route is unknown here; trying the other");
                last = Some((status, body));
                continue;
            }
            self.batch_route.store(route as u8, Ordering::Relaxed);
            return insert_reply(status, &body);
        }
        let (status, body) = last.unwrap_or_default();
        Err(no_route(status, &body, "no batchUpdate route answered"))
    }
}

/// One `batchUpdate` request, by the offsets a read returned (never computed from text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// `insertText{text, location{index}}`; a `\n` in `text` breaks paragraphs.
    Insert { index: u64, text: String },
    /// `replaceText{text, range:[{startIndex, length}]}`.
    Replace { start: u64, length: u64, text: String },
    /// `deleteContent{range{startIndex, length}}`.
    Delete { start: u64, length: u64 },
}

impl Edit {
    fn request(&self) -> serde_json::Value {
        match self {
            Edit::Insert { index, text } => {
                serde_json::json!({ "insertText": { "text": text, "location": { "index": index } } })
            }
            Edit::Replace { start, length, text } => serde_json::json!({
                "replaceText": { "text": text, "range": [{ "startIndex": start, "length": length }] }
            }),
            Edit::Delete { start, length } => {
                serde_json::json!({ "deleteContent": { "range": { "startIndex": start, "length": length } } })
            }
        }
    }

    /// Where the edit starts: a batch is sent highest first, so no edit moves another's offsets.
    pub fn start(&self) -> u64 {
        match self {
            Edit::Insert { index, .. } => *index,
            Edit::Replace { start, .. } | Edit::Delete { start, .. } => *start,
        }
    }
}

/// A doc as its read gives it: its blocks (paragraphs) in order, each with its text and the
/// offsets the read returned, and the doc's version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocTree {
    pub blocks: Vec<Block>,
    pub version: Option<u64>,
}

/// A paragraph: `begin..end` as the read numbered it (`end` exclusive; what lies between one
/// block's `end` and the next's `begin` is the paragraph break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub begin: u64,
    pub end: u64,
    pub text: String,
}

impl DocTree {
    /// The doc's text, one line per block (as [`doc_text_reply`] gives it).
    pub fn text(&self) -> String {
        self.blocks.iter().map(|b| b.text.as_str()).collect::<Vec<_>>().join("\n")
    }
}

/// The doc read as blocks: every `Paragraph` node (any letter case) is a block whose text is its
/// descendants' `text` in order; a doc without paragraph nodes (type names beyond the documented
/// ones are not confirmed) takes each text node with offsets as a block. A node without offsets
/// cannot be written to by offset: such a read is malformed, never guessed.
pub(super) fn doc_tree_reply(status: u16, body: &[u8]) -> Result<DocTree, UpstreamError> {
    let v = content_reply(status, body)?;
    let root = document_of(&v).ok_or_else(|| malformed("content reply without a document"))?;
    let version = v.get("version").or_else(|| v.get("data").and_then(|d| d.get("version"))).and_then(|n| n.as_u64());
    let offset = |n: &serde_json::Value, k: &str| n.get(k).and_then(|o| o.as_u64());
    let is_para = |n: &serde_json::Value| {
        n.get("type").and_then(|t| t.as_str()).is_some_and(|t| t.eq_ignore_ascii_case("paragraph"))
    };
    let mut blocks = Vec::new();
    let mut stack = vec![root];
    let mut any_para = false;
    while let Some(node) = stack.pop() {
        if is_para(node) {
            any_para = true;
            let (Some(begin), Some(end)) = (offset(node, "begin"), offset(node, "end")) else {
                return Err(malformed("a paragraph without offsets"));
            };
            if end < begin {
                return Err(malformed("a paragraph that ends before it begins"));
            }
            blocks.push(Block { begin, end, text: text_under(node) });
            continue;
        }
        if let Some(children) = node.get("children").and_then(|c| c.as_array()) {
            stack.extend(children.iter().rev());
        }
    }
    if !any_para {
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            if let Some(t) = node.get("text").and_then(|t| t.as_str()) {
                let (Some(begin), Some(end)) = (offset(node, "begin"), offset(node, "end")) else {
                    return Err(malformed("a text node without offsets"));
                };
                blocks.push(Block { begin, end: end.max(begin), text: t.to_owned() });
            }
            if let Some(children) = node.get("children").and_then(|c| c.as_array()) {
                stack.extend(children.iter().rev());
            }
        }
    }
    Ok(DocTree { blocks, version })
}

fn text_under(node: &serde_json::Value) -> String {
    let mut out = String::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if let Some(t) = n.get("text").and_then(|t| t.as_str()) {
            out.push_str(t);
        }
        if let Some(children) = n.get("children").and_then(|c| c.as_array()) {
            stack.extend(children.iter().rev());
        }
    }
    out
}

/// A content read's JSON, errors sorted out.
fn content_reply(status: u16, body: &[u8]) -> Result<serde_json::Value, UpstreamError> {
    if let Some(err) = openapi_status(status, body) {
        return Err(err);
    }
    if !(200..300).contains(&status) {
        return Err(refused(status, body));
    }
    let v: serde_json::Value = decode(S, body)?;
    if v.get("code").or_else(|| v.get("ret")).and_then(|c| c.as_i64()).is_some_and(|c| c != 0) {
        return Err(refused(status, body));
    }
    Ok(v)
}

/// Top-level `{document, version}` (the docs page) or wrapped in `{ret, msg, data}` (the SDK spec).
fn document_of(v: &serde_json::Value) -> Option<&serde_json::Value> {
    v.get("document").or_else(|| v.get("data").and_then(|d| d.get("document"))).filter(|d| d.is_object())
}

/// The `text` of every node of a v3 document, in order (node type names beyond the
/// documented ones are not confirmed: text is read wherever it is).
pub(super) fn doc_text_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
    let v = content_reply(status, body)?;
    let Some(root) = document_of(&v) else {
        return Err(malformed("content reply without a document"));
    };
    let mut lines = Vec::new();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if let Some(t) = node.get("text").and_then(|t| t.as_str())
            && !t.is_empty()
        {
            lines.push(t.to_owned());
        }
        if let Some(children) = node.get("children").and_then(|c| c.as_array()) {
            stack.extend(children.iter().rev());
        }
    }
    Ok(lines.join("\n"))
}

pub(super) fn insert_reply(status: u16, body: &[u8]) -> Result<(), UpstreamError> {
    if let Some(err) = openapi_status(status, body) {
        return Err(err);
    }
    if !(200..300).contains(&status) {
        return Err(refused(status, body));
    }
    // v3 success is `{}` or `{ret:0,...}`; an error is `{code, message}` with a non-zero code.
    let v: serde_json::Value = decode(S, body)?;
    let code = v.get("code").or_else(|| v.get("ret")).and_then(|c| c.as_i64()).unwrap_or(0);
    if code != 0 {
        return Err(refused(status, body));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFSETS: &str = include_str!("../../../tests/fixtures/tdoc/doc_content_offsets_reply.json");
    const PLAIN: &str = include_str!("../../../tests/fixtures/tdoc/doc_content_reply.json");

    #[test]
    fn the_documented_read_gives_blocks_with_their_offsets_in_both_wrappings() {
        let tree = doc_tree_reply(200, OFFSETS.as_bytes()).unwrap();
        assert_eq!(tree.version, Some(7));
        assert_eq!(tree.blocks.len(), 2);
        assert_eq!((tree.blocks[0].begin, tree.blocks[0].end), (1, 90));
        assert!(tree.blocks[0].text.starts_with("TAPD 需求：按月导出"));
        assert_eq!((tree.blocks[1].begin, tree.blocks[1].end), (91, 113));
        assert_eq!(tree.blocks[1].text, "会议纪要：这一段是团队自己写的，不应被改动。");
        let v: serde_json::Value = serde_json::from_str(OFFSETS).unwrap();
        let wrapped = serde_json::json!({"ret": 0, "msg": "Succeed", "data": v});
        assert_eq!(doc_tree_reply(200, wrapped.to_string().as_bytes()).unwrap(), tree);
        assert_eq!(doc_text_reply(200, OFFSETS.as_bytes()).unwrap(), tree.text());
    }

    #[test]
    fn a_read_without_offsets_is_never_written_by_guess() {
        assert!(matches!(doc_tree_reply(200, PLAIN.as_bytes()), Err(UpstreamError::Malformed { .. })));
        assert!(doc_text_reply(200, PLAIN.as_bytes()).unwrap().starts_with("TAPD 需求"));
        for bad in [r#"{"code":10102,"message":"file does not exist"}"#, r#"{"ret":0,"data":{}}"#, "[]"] {
            assert!(doc_tree_reply(200, bad.as_bytes()).is_err(), "{bad}");
        }
        let flat =
            r#"{"document":{"type":"Document","children":[{"type":"Text","text":"a","begin":1,"end":2}]},"version":2}"#;
        let tree = doc_tree_reply(200, flat.as_bytes()).unwrap();
        assert_eq!(tree.blocks, vec![Block { begin: 1, end: 2, text: "a".into() }]);
    }

    #[test]
    fn edits_are_the_documented_requests() {
        assert_eq!(
            Edit::Replace { start: 1, length: 89, text: "x".into() }.request(),
            serde_json::json!({"replaceText": {"text": "x", "range": [{"startIndex": 1, "length": 89}]}})
        );
        assert_eq!(
            Edit::Delete { start: 91, length: 23 }.request(),
            serde_json::json!({"deleteContent": {"range": {"startIndex": 91, "length": 23}}})
        );
        assert_eq!(
            Edit::Insert { index: 1, text: "c\n".into() }.request(),
            serde_json::json!({"insertText": {"text": "c\n", "location": {"index": 1}}})
        );
    }
}
