//! Where an item's doc is, as its record says (close-out, `crate::link::close_out`).
//!
//! On the item's own record (`ITEM#…` / `LINK`):
//!
//! | attribute       | what                                                                 |
//! |-----------------|----------------------------------------------------------------------|
//! | `doc_home`      | the folder the doc was made in (`root`, `folder:<id>`); absent on docs made before close-out |
//! | `doc_at`        | `home`, or `folder:<id>`: the `已完成` sub-folder it was moved into   |
//! | `doc_moving_to` | written before a move is sent, removed once it is known to have landed |
//!
//! A move whose reply is lost leaves `doc_moving_to`: whoever acts next lists that folder
//! before deciding where the doc is, so the record never sends a doc from a folder it is not in.

use super::items::{Claim, SentTo};
use super::{Item, Store, StoreError, get_s, n, s};
use crate::time::now_millis;

/// Where a doc is, relative to its home folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spot {
    /// The folder it was made in.
    Home,
    /// A sub-folder of it (`已完成`), by id.
    Sub(String),
}

impl Spot {
    fn to_attr(&self) -> String {
        match self {
            Spot::Home => "home".into(),
            Spot::Sub(id) => format!("folder:{id}"),
        }
    }

    fn from_attr(attr: &str) -> Option<Self> {
        match attr {
            "home" => Some(Spot::Home),
            a => a.strip_prefix("folder:").filter(|id| !id.is_empty()).map(|id| Spot::Sub(id.to_owned())),
        }
    }

    /// The folder as the clients take it (`None` is the root), given the home folder's.
    pub fn folder<'a>(&'a self, home: Option<&'a str>) -> Option<&'a str> {
        match self {
            Spot::Home => home,
            Spot::Sub(id) => Some(id),
        }
    }
}

/// The record's word on where the doc is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocPlace {
    /// The folder the doc was made in ([`SentTo::Unrecorded`] on docs made before close-out).
    pub home: SentTo,
    /// Where it is when no move is in doubt.
    pub at: Spot,
    /// A move sent (or about to be) whose landing is not on record yet.
    pub moving_to: Option<Spot>,
}

impl Default for DocPlace {
    fn default() -> Self {
        DocPlace { home: SentTo::Unrecorded, at: Spot::Home, moving_to: None }
    }
}

pub(super) fn parse_place(item: &Item) -> DocPlace {
    DocPlace {
        home: SentTo::from_attr(get_s(item, "doc_home")),
        at: get_s(item, "doc_at").and_then(Spot::from_attr).unwrap_or(Spot::Home),
        moving_to: get_s(item, "doc_moving_to").and_then(Spot::from_attr),
    }
}

pub(super) fn home_attr(home: &SentTo) -> Option<String> {
    home.to_attr()
}

impl Store {
    /// Before a move is sent: the doc's home (now known) and where it is going, under the claim.
    pub async fn record_moving(&self, claim: &mut Claim, home: &SentTo, to: &Spot) -> Result<(), StoreError> {
        let home_attr = home.to_attr().unwrap_or_else(|| "root".into());
        self.claimed_update(
            claim,
            "SET doc_home = :h, doc_moving_to = :to, updated_at = :now",
            vec![(":h", s(home_attr)), (":to", s(to.to_attr())), (":now", n(now_millis()))],
        )
        .await?;
        claim.record.place.home = home.clone();
        claim.record.place.moving_to = Some(to.clone());
        Ok(())
    }

    /// The doc is at `at` (a move landed, or was found to have), under the claim.
    pub async fn record_moved(&self, claim: &mut Claim, home: &SentTo, at: &Spot) -> Result<(), StoreError> {
        let home_attr = home.to_attr().unwrap_or_else(|| "root".into());
        self.claimed_update(
            claim,
            "SET doc_home = :h, doc_at = :at, updated_at = :now REMOVE doc_moving_to",
            vec![(":h", s(home_attr)), (":at", s(at.to_attr())), (":now", n(now_millis()))],
        )
        .await?;
        claim.record.place = DocPlace { home: home.clone(), at: at.clone(), moving_to: None };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spots_read_back_as_written_and_unknown_ones_are_home() {
        for spot in [Spot::Home, Spot::Sub("folder$Yx3kP0aQm2Lw".into())] {
            assert_eq!(Spot::from_attr(&spot.to_attr()), Some(spot));
        }
        assert_eq!(Spot::from_attr("folder:"), None);
        assert_eq!(Spot::from_attr("elsewhere"), None);
        assert_eq!(Spot::Home.folder(Some("f")), Some("f"));
        assert_eq!(Spot::Home.folder(None), None);
        assert_eq!(Spot::Sub("d".into()).folder(None), Some("d"));
    }
}
