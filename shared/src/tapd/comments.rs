//! Comments on an item: add one, read them page by page, find the product's own.

use serde::Deserialize;

use super::{MAX_PAGE, S, TapdClient, api, list_rows};
use crate::ids::{ItemId, ItemKind, WorkspaceId};
use crate::secret::Secret;
use crate::upstream::{self, UpstreamError};

/// One comment, as the product reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapdComment {
    pub id: String,
    pub description: String,
}

impl TapdClient {
    /// Adds a comment on an item; returns the comment id.
    pub async fn add_comment(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
        description: &str,
        author: &str,
    ) -> Result<String, UpstreamError> {
        let req = self.http.post(format!("{}/comments", self.cfg.api_base)).bearer_auth(token.expose()).form(&[
            ("workspace_id", workspace.as_str()),
            ("entry_type", kind.comment_entry_type()),
            ("entry_id", id.as_str()),
            ("description", description),
            ("author", author),
        ]);
        let (status, body) = upstream::send_gauged(S, req, &self.gauge).await?;
        comment_reply(status, &body)
    }

    /// One page (1-based) of an item's comments, newest first, [`MAX_PAGE`] at a time.
    pub async fn comments_page(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
        page: u32,
    ) -> Result<Vec<TapdComment>, UpstreamError> {
        let (limit, page) = (MAX_PAGE.to_string(), page.to_string());
        let req = self.http.get(format!("{}/comments", self.cfg.api_base)).bearer_auth(token.expose()).query(&[
            ("workspace_id", workspace.as_str()),
            ("entry_type", kind.comment_entry_type()),
            ("entry_id", id.as_str()),
            ("order", "created desc"),
            ("limit", limit.as_str()),
            ("page", page.as_str()),
        ]);
        let (status, body) = upstream::send_gauged(S, req, &self.gauge).await?;
        comment_list_reply(status, &body)
    }

    /// The first of an item's comments that `matches`, looking through every page: TAPD
    /// answers 30 a page unless asked for more, and a busy item has more than that.
    pub async fn find_comment(
        &self,
        token: &Secret,
        workspace: &WorkspaceId,
        kind: ItemKind,
        id: &ItemId,
        matches: impl Fn(&TapdComment) -> bool,
    ) -> Result<Option<TapdComment>, UpstreamError> {
        for page in 1.. {
            let rows = self.comments_page(token, workspace, kind, id, page).await?;
            let full = rows.len() >= MAX_PAGE;
            if let Some(found) = rows.into_iter().find(|c| matches(c)) {
                return Ok(Some(found));
            }
            if !full {
                break;
            }
        }
        Ok(None)
    }
}

pub(super) fn comment_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
    let data: CommentData = api(status, body)?;
    Ok(id_string(&data.comment.id))
}

pub(super) fn comment_list_reply(status: u16, body: &[u8]) -> Result<Vec<TapdComment>, UpstreamError> {
    Ok(list_rows(api(status, body)?)?
        .into_iter()
        .filter_map(|row| serde_json::from_value::<CommentData>(serde_json::Value::Object(row)).ok())
        .map(|c| TapdComment { id: id_string(&c.comment.id), description: c.comment.description.unwrap_or_default() })
        .collect())
}

#[derive(Deserialize)]
struct CommentData {
    #[serde(rename = "Comment")]
    comment: RawComment,
}

#[derive(Deserialize)]
struct RawComment {
    id: serde_json::Value,
    #[serde(default)]
    description: Option<String>,
}

fn id_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
