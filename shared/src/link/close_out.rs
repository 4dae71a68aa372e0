//! Close-out: while an item is in an end status of its workflow (`/workflows/last_steps`), its
//! doc is in the `已完成` (`Done`) sub-folder of the folder it was made in; when the item
//! leaves the end status, the doc goes back. On unless the workspace turns it off.
//!
//! ```text
//!            ┌──enter an end status: record doc_moving_to, move──┐
//!  at home ──┤                                                   ├──▶ in 已完成 (recorded)
//!            └◀──leave it: record doc_moving_to, move back───────┘
//!  a move whose reply was lost: doc_moving_to stays; whoever acts next lists that folder
//!  for the doc before deciding where it is (found: it landed; not: it is where it was)
//! ```
//!
//! The sub-folder is made once per home folder and found again by listing the home folder
//! (`placement`: found first, made under the workspace's lease, listed again; every instance
//! converges on the oldest), and remembered (`FOLDER#done#<home>`).

use super::placement::Folder;
use super::{Linker, in_doubt};
use crate::deadline::Deadline;
use crate::error::LinkError;
use crate::store::{Account, Claim, SentTo, Spot, Stage};
use crate::tapd::TapdItem;
use crate::text::Lang;
use crate::tokens::Repeat;

/// The sub-folder's title: the workspace's language (of what the product writes upstream).
pub fn done_title(lang: Lang) -> &'static str {
    lang.pick("已完成", "Done")
}

/// The key the sub-folder of `home` is remembered under.
fn done_key(home: Option<&str>) -> String {
    format!("done#{}", home.unwrap_or("/"))
}

impl Linker {
    /// Puts the claimed item's doc where its status says: in its home folder's `已完成`
    /// sub-folder while `closed` (the fresh `item`'s status ends its workflow), in its home
    /// folder otherwise; whether it moved. Nothing moves when the workspace turned close-out
    /// off, or the item has no linked doc. The claim stays the caller's; on an error the
    /// record keeps what the next attempt needs (where a move in doubt went).
    pub async fn follow_status(
        &self,
        claim: &mut Claim,
        account: &Account,
        item: &TapdItem,
        closed: bool,
        deadline: Deadline,
    ) -> Result<bool, LinkError> {
        let key = claim.record.key.clone();
        let ws = &key.workspace;
        let place = self.placement(ws).await?;
        let doc = match &claim.record.stage {
            Stage::Done { doc, .. } if !claim.record.deleted && place.close_out => doc.clone(),
            // Still being linked: the attempt that links it records where it put the doc.
            _ => return Ok(false),
        };
        // The folder the doc was made in; for docs made before close-out, where the item's
        // docs go now.
        let home = match claim.record.place.home.clone() {
            SentTo::Unrecorded => {
                let folder = self.folder_for(&key, account, item, place.layout, deadline).await?;
                SentTo::at(folder.as_ref().map(|f: &Folder| f.id.as_str()))
            }
            known => known,
        };
        let home_folder = home.folder().flatten();
        // Where the doc is: as recorded, unless a move is in doubt; then the listing says.
        let recorded = claim.record.place.clone();
        let at = match &recorded.moving_to {
            Some(to) if self.holds(ws, account, to.folder(home_folder), &doc.id, deadline).await? => to.clone(),
            _ => recorded.at.clone(),
        };
        let want = if closed {
            let title = done_title(place.language);
            let key = done_key(home_folder);
            Spot::Sub(self.ensure_folder(ws, account, &key, home_folder, title, deadline).await?.id)
        } else {
            Spot::Home
        };
        if at == want {
            if recorded.moving_to.is_some() || recorded.at != at || recorded.home != home {
                self.clients.store.record_moved(claim, &home, &at).await?;
            }
            return Ok(false);
        }
        // Written ahead: a move whose reply is lost is looked for where it went.
        self.clients.store.record_moving(claim, &home, &want).await?;
        let (from, to, id) = (at.folder(home_folder), want.folder(home_folder), &doc.id);
        let moved = self
            .tokens
            .call_tdoc(&self.clients, ws, account, deadline, Repeat::UnlessMayHaveActed, |tok| async move {
                in_doubt(self.clients.tdoc.move_file(&tok, id, from, to).await)
            })
            .await?;
        if let Err(e) = moved {
            tracing::warn!(workspace = %ws, item = %key.id, error = %e, "the doc's move has an unknown outcome; looking for it");
            if !self.holds(ws, account, to, id, deadline).await? {
                // Not moved: the record still says a move is in doubt, so the next status
                // change looks before it decides.
                return Err(LinkError::Upstream(e));
            }
        }
        self.clients.store.record_moved(claim, &home, &want).await?;
        let where_ = if closed { "into its folder's done sub-folder" } else { "back into its folder" };
        tracing::info!(workspace = %ws, item = %key.id, "doc moved {where_}");
        Ok(true)
    }

    /// Whether `folder` lists the file `file_id` (read to the end).
    async fn holds(
        &self,
        ws: &crate::ids::WorkspaceId,
        account: &Account,
        folder: Option<&str>,
        file_id: &str,
        deadline: Deadline,
    ) -> Result<bool, LinkError> {
        let found = self.look(ws, account, folder, 0, deadline, |e| e.id == file_id).await?;
        Ok(matches!(found, super::made::Found::Made(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sub_folder_is_titled_in_the_workspace_s_language_and_keyed_by_its_parent() {
        assert_eq!(done_title(Lang::ZhCn), "已完成");
        assert_eq!(done_title(Lang::En), "Done");
        assert_eq!(done_key(None), "done#/");
        assert_eq!(done_key(Some("folder$A")), "done#folder$A");
        assert_ne!(done_key(Some("a")), done_key(Some("b")));
    }
}
