//! Folders: make one, rename one, list one page by page (the root by whichever route answers).

use serde::Deserialize;
use std::sync::atomic::Ordering;

use super::{
    AnyId, RootRoute, S, TdocClient, TdocToken, malformed, no_route, percent_encode_segment, routes_from,
    unknown_route, v2, v2_ok,
};
use crate::upstream::{self, UpstreamError};

impl TdocClient {
    /// Creates a folder (`POST /drive/v2/folders`) in `parent`, or the account's root
    /// folder; its id.
    pub async fn create_folder(
        &self,
        token: &TdocToken,
        title: &str,
        parent: Option<&str>,
    ) -> Result<String, UpstreamError> {
        let mut form = vec![("title", title)];
        form.extend(parent.map(|f| ("parentfolderID", f)));
        let req = self.openapi(reqwest::Method::POST, "drive/v2/folders", token).form(&form);
        let (status, body) = upstream::send(S, req).await?;
        folder_reply(status, &body)
    }

    /// Renames a folder (`PATCH /drive/v2/folders/{folderID}`, `title`). *Unconfirmed*: no
    /// public client renames a folder, the route is inferred from the files' one; a refusal
    /// (an unknown route included) is the caller's to tell, never a reason to make another.
    pub async fn rename_folder(&self, token: &TdocToken, folder_id: &str, title: &str) -> Result<(), UpstreamError> {
        let path = format!("drive/v2/folders/{}", percent_encode_segment(folder_id));
        let req = self.openapi(reqwest::Method::PATCH, &path, token).form(&[("title", title)]);
        let (status, body) = upstream::send(S, req).await?;
        if unknown_route(status, &body) {
            // Not "the folder is gone": the route itself is not there.
            return Err(no_route(status, &body, "no folder rename route answered"));
        }
        v2_ok(status, &body)
    }

    /// One page of a folder's entries (`GET /drive/v2/folders/{folderID}`, the root is
    /// `/`), newest first, from `start`. The root is listed by the route that last worked
    /// ([`RootRoute`]); a route answered as unknown (a redirect loop, `404`) gives way to the
    /// next, and the one that answers is remembered.
    pub async fn list_folder(
        &self,
        token: &TdocToken,
        folder: Option<&str>,
        start: u64,
    ) -> Result<FolderPage, UpstreamError> {
        let start = start.to_string();
        let query = [("sortType", "create"), ("asc", "0"), ("start", start.as_str()), ("limit", "20")];
        if let Some(folder) = folder.filter(|f| *f != "/") {
            let path = format!("drive/v2/folders/{}", percent_encode_segment(folder));
            let req = self.openapi(reqwest::Method::GET, &path, token).query(&query);
            let (status, body) = upstream::send(S, req).await?;
            return folder_page_reply(status, &body);
        }
        let mut last = None;
        for route in routes_from(&RootRoute::ALL, self.root_route.load(Ordering::Relaxed)) {
            let req = self.openapi(reqwest::Method::GET, route.path(), token).query(&query);
            let (status, body) = upstream::send(S, req).await?;
            if unknown_route(status, &body) {
                tracing::debug!(?route, status, "the root folder's listing route is unknown here; trying another");
                last = Some((status, body));
                continue;
            }
            self.root_route.store(route as u8, Ordering::Relaxed);
            return folder_page_reply(status, &body);
        }
        let (status, body) = last.unwrap_or_default();
        Err(no_route(status, &body, "no root folder listing route answered"))
    }
}

/// A created folder's id (`data.ID` or `data.id`; the reply has no URL).
pub(super) fn folder_reply(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
    let id = v2::<AnyId>(status, body)?.get();
    if id.is_empty() {
        return Err(malformed("folder without an id"));
    }
    Ok(id)
}

/// An entry of a folder listing: a file or a sub-folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveEntry {
    pub id: String,
    pub title: String,
    /// `doc`, `sheet`, ..., or `folder`.
    pub kind: String,
    pub url: String,
    /// Unix seconds (0 when the reply has none).
    pub created: u64,
}

/// One page of a folder listing; `next` is the following page's `start`, 0 at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPage {
    pub entries: Vec<DriveEntry>,
    pub next: u64,
}

pub(super) fn folder_page_reply(status: u16, body: &[u8]) -> Result<FolderPage, UpstreamError> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(flatten)]
        id: AnyId,
        #[serde(default)]
        title: String,
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        url: String,
        #[serde(rename = "createTime", default)]
        created: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct Data {
        list: Option<Vec<Entry>>,
        #[serde(default)]
        next: Option<serde_json::Value>,
    }
    let data: Data = v2(status, body)?;
    // An empty folder may come without a list; a list of the wrong shape fails above.
    let entries = data
        .list
        .unwrap_or_default()
        .into_iter()
        .map(|e| DriveEntry {
            id: e.id.get(),
            title: e.title,
            kind: e.kind,
            url: e.url,
            created: e.created.as_ref().and_then(number).unwrap_or(0),
        })
        .filter(|e| !e.id.is_empty())
        .collect();
    let next = match data.next {
        None | Some(serde_json::Value::Null) => 0,
        Some(v) => number(&v).ok_or_else(|| malformed("listing whose next is not a number"))?,
    };
    Ok(FolderPage { entries, next })
}

/// A number sent as a number or as a string of digits.
pub(super) fn number(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}
