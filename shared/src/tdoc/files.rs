//! Files: create (from a template or blank), copy, rename, move, delete, share.

use serde::Deserialize;

use super::{AnyId, S, TdocClient, TdocToken, malformed, percent_encode_segment, v2, v2_ok};
use crate::upstream::{self, UpstreamError};

impl TdocClient {
    /// Creates a file (`doc`, `sheet`, ...) in `folder`, or the account's root folder.
    pub async fn create_file(
        &self,
        token: &TdocToken,
        title: &str,
        doc_type: &str,
        folder: Option<&str>,
    ) -> Result<DocFile, UpstreamError> {
        let mut form = vec![("title", title), ("type", doc_type)];
        form.extend(folder.map(|f| ("folderID", f)));
        let req = self.openapi(reqwest::Method::POST, "drive/v2/files", token).form(&form);
        let (status, body) = upstream::send(S, req).await?;
        file_reply(status, &body)
    }

    /// Copies a file (`POST /drive/v2/files/{fileID}/copy`) under `title` into `folder`
    /// (or the root); the copy, answered like a create.
    pub async fn copy_file(
        &self,
        token: &TdocToken,
        file_id: &str,
        title: &str,
        folder: Option<&str>,
    ) -> Result<DocFile, UpstreamError> {
        let path = format!("drive/v2/files/{}/copy", percent_encode_segment(file_id));
        let mut form = vec![("title", title)];
        form.extend(folder.map(|f| ("folderID", f)));
        let req = self.openapi(reqwest::Method::POST, &path, token).form(&form);
        let (status, body) = upstream::send(S, req).await?;
        file_reply(status, &body)
    }

    /// Renames a file (`PATCH /drive/v2/files/{fileID}`).
    pub async fn rename_file(&self, token: &TdocToken, file_id: &str, title: &str) -> Result<(), UpstreamError> {
        let path = format!("drive/v2/files/{}", percent_encode_segment(file_id));
        let req = self.openapi(reqwest::Method::PATCH, &path, token).form(&[("title", title)]);
        let (status, body) = upstream::send(S, req).await?;
        v2_ok(status, &body)
    }

    /// Moves a file from folder `from` into folder `to` (`PATCH /drive/v2/files/{fileID}/move`,
    /// form `targetfolderID`, `parentfolderID`; the root is `/`). The target also goes as
    /// `folderID`: public sources disagree on its name (`upstream-apis.md`); assuming, as the
    /// sandbox does, that a form key the route does not take is ignored, one request moves it
    /// under either (no fallback whose `400` could not be told from a wrong `parentfolderID`).
    /// Its outcome is unknown when the reply is lost: the caller lists `to` before deciding anything.
    pub async fn move_file(
        &self,
        token: &TdocToken,
        file_id: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<(), UpstreamError> {
        let path = format!("drive/v2/files/{}/move", percent_encode_segment(file_id));
        let target = to.unwrap_or("/");
        let form = [("targetfolderID", target), ("parentfolderID", from.unwrap_or("/")), ("folderID", target)];
        let req = self.openapi(reqwest::Method::PATCH, &path, token).form(&form);
        let (status, body) = upstream::send(S, req).await?;
        v2_ok(status, &body)
    }

    /// Deletes a file (it goes to the account's trash).
    pub async fn delete_file(&self, token: &TdocToken, file_id: &str) -> Result<(), UpstreamError> {
        let path = format!("drive/v2/files/{}", percent_encode_segment(file_id));
        let req = self.openapi(reqwest::Method::DELETE, &path, token);
        let (status, body) = upstream::send(S, req).await?;
        v2_ok(status, &body)
    }

    /// Sets who can open a file: `private`, `members`, `publicRead` or `publicWrite`.
    pub async fn set_permission(&self, token: &TdocToken, file_id: &str, policy: &str) -> Result<(), UpstreamError> {
        let path = format!("drive/v2/files/{}/permission", percent_encode_segment(file_id));
        let req = self.openapi(reqwest::Method::PATCH, &path, token).form(&[("policy", policy)]);
        let (status, body) = upstream::send(S, req).await?;
        v2_ok(status, &body)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocFile {
    pub id: String,
    pub url: String,
    pub title: String,
}

pub(super) fn file_reply(status: u16, body: &[u8]) -> Result<DocFile, UpstreamError> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(flatten)]
        id: AnyId,
        url: String,
        #[serde(default)]
        title: String,
    }
    let data: Data = v2(status, body)?;
    let id = data.id.get();
    if id.is_empty() || !(data.url.starts_with("https://") || data.url.starts_with("http://")) {
        return Err(malformed("file without an id or URL"));
    }
    Ok(DocFile { id, url: data.url, title: data.title })
}
