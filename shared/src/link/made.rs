//! Finding what an earlier attempt made. Tencent Docs' creates take no idempotency key, only
//! a title, a type, a folder and a template, so the product marks what it makes through the
//! one thing it controls: every doc is created under a provisional title carrying the item's
//! marker (`<name> #<marker>`, 12 random characters kept on the item's record), and renamed to
//! its real title once on record. A create whose outcome is unknown is then resolved by
//! listing the folder it went to for that marker: found, it is adopted; certainly absent, a
//! doc is made. Two same-named items have different markers, and a person's look-alike doc
//! has none, so a look can never take another item's doc. Folders are marked the same way,
//! with a marker derived from the workspace and the folder's place.
//!
//! Listings are read to the end (newest first, so a listing that keeps that order stops
//! once it is past the time a create could have landed), with a bound on pages: a listing
//! that fails, answers garbage or pages forever decides nothing, and nothing is made.

use crate::deadline::Deadline;

use super::Linker;
use crate::error::LinkError;
use crate::ids::WorkspaceId;
use crate::store::Account;
use crate::tdoc::{DriveEntry, TITLE_MAX_CHARS, is_missing};
use crate::tokens::Repeat;

/// Pages read at most in one look (20 entries a page).
pub const MAX_LOOK_PAGES: usize = 100;
/// How long before the doubt began a create may have been sent (a Lambda invocation lasts
/// at most 15 minutes), plus clock skew between us and Tencent Docs.
pub const LOOK_BACK_SECS: u64 = 20 * 60;
/// How far Tencent Docs' clock (a listing's creation times) may be behind ours.
pub const CLOCK_SKEW_SECS: u64 = 2 * 60;

/// `<title> #<marker>`, the title cut so the whole fits Tencent Docs' limit.
pub fn provisional_title(title: &str, marker: &str) -> String {
    let room = TITLE_MAX_CHARS.saturating_sub(marker.chars().count() + 2);
    let head = super::cut_chars(title, room).trim_end();
    format!("{head} #{marker}")
}

/// Whether a title carries `marker` as a provisional title does.
pub fn carries(title: &str, marker: &str) -> bool {
    !marker.is_empty() && title.trim_end().ends_with(&format!("#{marker}"))
}

/// What a look found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// Certainly not in the folder (read to the end).
    Nothing,
    /// The entries carrying the marker, oldest first.
    Made(Vec<DriveEntry>),
}

impl Linker {
    /// Lists `folder` (the root when `None`) to the end for entries that `want`, as
    /// `account`. `not_before_secs`: entries created before it (by Tencent Docs' clock: the
    /// caller allows for skew) cannot be the ones sought, so a newest-first listing may stop
    /// there.
    pub(super) async fn look(
        &self,
        ws: &WorkspaceId,
        account: &Account,
        folder: Option<&str>,
        not_before_secs: u64,
        deadline: Deadline,
        want: impl Fn(&DriveEntry) -> bool,
    ) -> Result<Found, LinkError> {
        let not_before = not_before_secs;
        let (mut start, mut made, mut newest_first, mut last_created) = (0u64, Vec::new(), true, u64::MAX);
        for _ in 0..MAX_LOOK_PAGES {
            let page = self
                .tokens
                .call_tdoc(&self.clients, ws, account, deadline, Repeat::WhileTransient, |tok| async move {
                    self.clients.tdoc.list_folder(&tok, folder, start).await
                })
                .await;
            let page = match page {
                // The folder is gone, and whatever was made in it with it.
                Err(LinkError::Upstream(e)) if is_missing(&e) => return Ok(Found::Nothing),
                Err(LinkError::Upstream(e)) => {
                    return Err(LinkError::LookFailed(format!("listing the folder failed: {e}")));
                }
                other => other?,
            };
            let mut past = false;
            for e in page.entries {
                newest_first &= e.created > 0 && e.created <= last_created;
                last_created = e.created;
                past |= newest_first && e.created < not_before;
                if want(&e) {
                    made.push(e);
                }
            }
            if page.next == 0 || past {
                made.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
                return Ok(if made.is_empty() { Found::Nothing } else { Found::Made(made) });
            }
            if page.next <= start {
                return Err(LinkError::LookFailed(format!(
                    "the folder listing went back to {} after {start}",
                    page.next
                )));
            }
            start = page.next;
        }
        Err(LinkError::LookFailed(format!("the folder listing did not end within {MAX_LOOK_PAGES} pages")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provisional_title_fits_and_carries_its_marker() {
        let long = "按月导出所有项目的成本报表并按部门汇总后发送给财务和各项目负责人审阅确认";
        let t = provisional_title(long, "k7f3q9x2m4p8");
        assert!(t.chars().count() <= TITLE_MAX_CHARS, "{t}");
        assert!(carries(&t, "k7f3q9x2m4p8"));
        assert!(t.starts_with("按月导出"));
        assert!(!carries(long, "k7f3q9x2m4p8"));
        // Another item's marker, a person's look-alike, or an empty marker never match.
        assert!(!carries(&t, "k7f3q9x2m4p9"));
        assert!(!carries("按月导出 #k7f3q9x2m4p8 (副本)", "k7f3q9x2m4p8"));
        assert!(!carries(&t, ""));
        assert_eq!(provisional_title("Fix login", "abc"), "Fix login #abc");
    }
}
