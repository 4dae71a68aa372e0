//! A doc's content: read it, write into it (`batchUpdate`, by whichever route answers).

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

    /// Inserts text at the start of a doc (`batchUpdate`, v3), by the route that last worked
    /// ([`BatchRoute`]); a route answered as unknown gives way to the other (it was not
    /// acted on), and the one that answers is remembered.
    pub async fn insert_text(&self, token: &TdocToken, file_id: &str, text: &str) -> Result<(), UpstreamError> {
        let requests = serde_json::json!([{ "insertText": { "text": text, "location": { "index": 1 } } }]);
        let mut last = None;
        for route in routes_from(&BatchRoute::ALL, self.batch_route.load(Ordering::Relaxed)) {
            let id = percent_encode_segment(file_id);
            let (path, body) = match route {
                BatchRoute::Colon => (format!("doc/v3/{id}:batchUpdate"), serde_json::json!({ "requests": requests })),
                BatchRoute::Slash => {
                    (format!("doc/v3/{id}/batchUpdate"), serde_json::json!({ "fileID": file_id, "requests": requests }))
                }
            };
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

/// The `text` of every node of a v3 document, in order (node type names beyond the
/// documented ones are not confirmed: text is read wherever it is).
pub(super) fn doc_text_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
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
    // Top-level `{document, version}` (the docs page) or wrapped in `{ret, msg, data}` (the SDK spec).
    let document = v.get("document").or_else(|| v.get("data").and_then(|d| d.get("document")));
    let Some(root) = document.filter(|d| d.is_object()) else {
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
