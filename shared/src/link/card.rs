//! The card: the doc's first block, one paragraph that shows the item as TAPD shows it now
//! (its name with its TAPD link, its status by the workspace's name, owner(s), priority and
//! iteration by name), written at creation and rewritten in place whenever TAPD reports a
//! change to one of these.
//!
//! **How the card is recognised.** The card ends with a checksum of its own text and the
//! item's id (` 〔1a2b3c4d〕`): a paragraph whose text ends so, and whose checksum matches, is
//! this item's card as the product wrote it (whichever version); nothing else ever is. So a
//! fresh read of the doc always tells which paragraph to rewrite, whatever the record says,
//! whichever reply was lost or instance died: redelivered, late or concurrent updates, a lost
//! `batchUpdate` reply, a crash between read and write all end in one card (writes to one item
//! are serialised by its claim, and each carries the read's `version`).
//!
//! **What is never touched.** Only the card's own range is replaced (by the offsets the read
//! returned, never computed from text). A card a person edited no longer matches its
//! checksum: it is their text now, left exactly as it is, and a fresh card is put at the top;
//! a card a person deleted is put back at the top on the next change. Two valid cards (a
//! person pasted one) become one: the first is rewritten, the others (our own text, byte for
//! byte) removed.
//!
//! **Docs made before the card.** Their first paragraphs are the old intro
//! ([`super::intro_text`]); on the next change they are replaced by the card, only where they
//! are still what the product wrote (the kind-and-id line and the link line exactly, then the
//! field lines, and the description only where it is still the item's): anything else stays.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::names::StatusName;
use super::{Linker, Outcome};
use crate::config::IntroField;
use crate::deadline::Deadline;
use crate::error::LinkError;
use crate::ids::ItemKind;
use crate::reason::Reason;
use crate::store::{Account, Claim, Doc, ItemKey};
use crate::tapd::TapdItem;
use crate::tdoc::{Block, DocTree, Edit};
use crate::text::{self, Lang};
use crate::time::now_millis;
use crate::tokens::Repeat;
use crate::upstream::UpstreamError;

/// What the card shows besides the item itself: names read from the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CardNames {
    /// The status by the workspace's name (the key when it has none).
    pub status: String,
    /// The iteration's name; `None` when the item is in none (or TAPD no longer has it).
    pub iteration: Option<String>,
}

/// Opens the checksum at the card's end; chosen because people rarely type it.
const SUM_OPEN: &str = " 〔";
const SUM_CLOSE: char = '〕';
const SUM_HEX: usize = 8;

/// Which of the optional fields the card shows (the workspace's intro fields: owner, priority,
/// iteration; the description is written once under the card, [`creation_text`]).
pub fn card_fields(fields: &[IntroField]) -> [bool; 3] {
    [IntroField::Owner, IntroField::Priority, IntroField::Iteration].map(|f| fields.contains(&f))
}

/// The card's text: one line (a paragraph), ending with its checksum. `shown`: owner,
/// priority, iteration ([`card_fields`]).
pub fn card_text(
    lang: Lang,
    key: &ItemKey,
    item: &TapdItem,
    item_url: &str,
    names: &CardNames,
    shown: [bool; 3],
) -> String {
    let labels = text::intro_labels(lang);
    let (sep, bar) = if lang == Lang::ZhCn { ("：", "｜") } else { (": ", " | ") };
    let mut body = format!("TAPD {} #{}{sep}{}", text::kind_name(lang, key.kind), key.id, one_line(&item.name));
    let owners = item.owner.split(';').map(str::trim).filter(|o| !o.is_empty()).collect::<Vec<_>>().join(", ");
    let status_label = lang.pick("状态", "Status");
    for (on, label, value) in [
        (true, status_label, one_line(&names.status)),
        (shown[0], labels.owner, one_line(&owners)),
        (shown[1], labels.priority, one_line(&item.priority)),
        (shown[2], labels.iteration, names.iteration.as_deref().map(one_line).unwrap_or_default()),
    ] {
        if on && !value.is_empty() {
            body.push_str(&format!("{bar}{label}{sep}{value}"));
        }
    }
    body.push_str(&format!("{bar}{}{sep}{item_url}", labels.open_in_tapd));
    let sum = checksum(&body, key);
    format!("{body}{SUM_OPEN}{sum}{SUM_CLOSE}")
}

/// A paragraph's worth: line breaks and other controls would split the card.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

fn checksum(body: &str, key: &ItemKey) -> String {
    let digest = Sha256::new().chain_update(body.as_bytes()).chain_update([0]).chain_update(key.to_string()).finalize();
    digest.iter().take(SUM_HEX / 2).map(|b| format!("{b:02x}")).collect()
}

/// What a new doc starts with: the card, then (when the workspace's intro fields include the
/// description) the item's description under its label, written once: it is the doc's own
/// text from then on, never rewritten.
pub fn creation_text(lang: Lang, card: &str, description: &str, fields: &[IntroField]) -> String {
    let sep = if lang == Lang::ZhCn { "：" } else { ": " };
    if fields.contains(&IntroField::Description) && !description.trim().is_empty() {
        format!("{card}\n{}{sep}\n{description}\n", text::intro_labels(lang).description)
    } else {
        format!("{card}\n")
    }
}

/// Whether `text` is this item's card as the product wrote it (any version of it).
pub fn is_card(text: &str, key: &ItemKey) -> bool {
    let Some(rest) = text.strip_suffix(SUM_CLOSE) else { return false };
    let Some(at) = rest.rfind(SUM_OPEN) else { return false };
    let (body, sum) = (&rest[..at], &rest[at + SUM_OPEN.len()..]);
    sum.len() == SUM_HEX && body.contains(&format!("#{}", key.id)) && checksum(body, key) == sum
}

/// What a fresh read says to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The doc has exactly one card and it is the one to show: nothing to write.
    Keep,
    /// One `batchUpdate`, highest offsets first (no edit moves another's).
    Write { edits: Vec<Edit>, how: How },
}

/// How the card came to be written (the item's history says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Rewritten in place (and any second card removed).
    Rewritten,
    /// The old intro of a doc made before the card, replaced.
    ReplacedIntro,
    /// No card was found (new doc, or a person deleted or edited it): one put at the top.
    Inserted,
}

/// The old intro's lines, as [`super::intro_text`] wrote them (either language): a doc made
/// before the card has them at its top.
pub struct Legacy<'a> {
    pub kind: ItemKind,
    pub key: &'a ItemKey,
    pub item_url: &'a str,
    /// The item's description as the intro would write it now (`html_to_text`): the old
    /// intro's description lines are the product's only while they still equal it.
    pub description: &'a str,
}

/// The edits that leave exactly one card, equal to `card`, at the doc's top, touching nothing
/// else: decided from the read alone.
pub fn plan(doc: &DocTree, key: &ItemKey, card: &str, legacy: &Legacy<'_>) -> Plan {
    let cards: Vec<usize> = (0..doc.blocks.len()).filter(|&i| is_card(&doc.blocks[i].text, key)).collect();
    let blocks = &doc.blocks;
    if let Some((&first, extra)) = cards.split_first() {
        if extra.is_empty() && blocks[first].text == card {
            return Plan::Keep;
        }
        let mut edits: Vec<Edit> = extra.iter().map(|&i| remove_block(blocks, i)).collect();
        if blocks[first].text != card {
            let b = &blocks[first];
            edits.push(Edit::Replace { start: b.begin, length: b.end - b.begin, text: card.to_owned() });
        }
        return Plan::Write { edits: highest_first(edits), how: How::Rewritten };
    }
    if let Some(n) = legacy_blocks(blocks, legacy) {
        let (first, last) = (&blocks[0], &blocks[n - 1]);
        let mut edits =
            vec![Edit::Replace { start: first.begin, length: first.end - first.begin, text: card.to_owned() }];
        if n > 1 {
            // From the first block's end: its break and every later intro block, with theirs.
            edits.push(Edit::Delete { start: first.end, length: last.end - first.end });
        }
        return Plan::Write { edits: highest_first(edits), how: How::ReplacedIntro };
    }
    let index = blocks.first().map_or(1, |b| b.begin);
    Plan::Write { edits: vec![Edit::Insert { index, text: format!("{card}\n") }], how: How::Inserted }
}

/// Removes block `i` with one paragraph break (the one after it, or before it when it is the
/// last), by the read's offsets.
fn remove_block(blocks: &[Block], i: usize) -> Edit {
    let b = &blocks[i];
    match (blocks.get(i + 1), i.checked_sub(1).map(|p| &blocks[p])) {
        (Some(next), _) => Edit::Delete { start: b.begin, length: next.begin - b.begin },
        (None, Some(prev)) => Edit::Delete { start: prev.end, length: b.end - prev.end },
        (None, None) => Edit::Delete { start: b.begin, length: b.end - b.begin },
    }
}

fn highest_first(mut edits: Vec<Edit>) -> Vec<Edit> {
    edits.sort_by_key(|e| std::cmp::Reverse(e.start()));
    edits
}

/// How many leading blocks are the old intro, still as the product wrote it; `None` when the
/// doc does not start with it. Only whole blocks count: a block with anything else in it stays.
fn legacy_blocks(blocks: &[Block], legacy: &Legacy<'_>) -> Option<usize> {
    [Lang::ZhCn, Lang::En].into_iter().find_map(|lang| legacy_in(blocks, legacy, lang))
}

fn legacy_in(blocks: &[Block], legacy: &Legacy<'_>, lang: Lang) -> Option<usize> {
    let labels = text::intro_labels(lang);
    let sep = if lang == Lang::ZhCn { "：" } else { ": " };
    // Lines in order, each with the block it is in.
    let lines: Vec<(usize, &str)> =
        blocks.iter().enumerate().flat_map(|(i, b)| b.text.split('\n').map(move |l| (i, l))).collect();
    let head = format!("TAPD {} #{}{sep}", text::kind_name(lang, legacy.kind), legacy.key.id);
    let link = format!("{}{sep}{}", labels.open_in_tapd, legacy.item_url);
    if !lines.first()?.1.starts_with(&head) || lines.get(1)?.1 != link {
        return None;
    }
    let mut taken = 2;
    for label in [labels.owner, labels.priority, labels.iteration] {
        if lines.get(taken).is_some_and(|(_, l)| l.starts_with(&format!("{label}{sep}"))) {
            taken += 1;
        }
    }
    let described = format!("{}{sep}", labels.description);
    if lines.get(taken).is_some_and(|(_, l)| *l == described) && !legacy.description.is_empty() {
        let want: Vec<&str> = legacy.description.split('\n').collect();
        let got: Vec<&str> = lines.iter().skip(taken + 1).take(want.len()).map(|(_, l)| *l).collect();
        if got == want {
            taken += 1 + want.len();
        }
    }
    // The intro ended with a line break: an empty line that follows in the same block is its own.
    if lines.get(taken).is_some_and(|(i, l)| l.is_empty() && *i == lines[taken - 1].0) {
        taken += 1;
    }
    // Whole blocks only: the last taken line must end its block.
    let last_block = lines[taken - 1].0;
    let whole = lines.get(taken).is_none_or(|(i, _)| *i != last_block);
    let n = if whole { last_block + 1 } else { last_block };
    // At least the head and the link must be in whole blocks.
    (n > lines[1].0).then_some(n)
}

/// A card to write: the card, what a card put at the top carries (the card and a line break;
/// at creation, also the description block), and the item's description as the old intro
/// would have it now (to tell the old intro's lines).
pub(super) struct CardWrite<'a> {
    pub card: &'a str,
    pub fresh: &'a str,
    pub description: &'a str,
}

/// What a card write's first try starts from; every retry reads the doc again.
pub(super) enum FirstTry {
    /// A doc just made, known to hold no card: written without reading (as the intro always was).
    Blind,
    /// Read the doc first.
    Read,
    /// The doc as read beside the item (an update): no read of its own.
    Given(DocTree),
}

/// What an update asks of the doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Follow {
    /// The doc's title may have to follow the item's name.
    pub rename: bool,
    /// The card may show something TAPD no longer does.
    pub card: bool,
}

impl Linker {
    /// The item's URL in TAPD, as the card and the old intro link it.
    pub(super) fn item_url(&self, key: &ItemKey) -> String {
        format!("{}/{}/{}/view/{}", self.cfg.common.tapd.web_base, key.workspace, key.kind.web_segment(), key.id)
    }

    /// The names the card shows for `item`, and its status as the workspace names it. From
    /// memory when warm; cold, the workflow and the iteration are read side by side.
    pub(super) async fn card_names(
        &self,
        key: &ItemKey,
        item: &TapdItem,
        deadline: Deadline,
    ) -> Result<(CardNames, StatusName), LinkError> {
        let ws = &key.workspace;
        let status = self.status_name(ws, key.kind, &item.workitem_type_id, &item.status, deadline);
        let iteration = async {
            match item.iteration() {
                Some(id) => self.iteration_name(ws, &id, deadline).await,
                None => Ok(None),
            }
        };
        let (status, iteration) = tokio::join!(status, iteration);
        let status = status?;
        Ok((CardNames { status: status.name.clone(), iteration: iteration? }, status))
    }

    /// The card of `item` as the workspace's language writes it.
    pub(super) async fn card_for(
        &self,
        key: &ItemKey,
        item: &TapdItem,
        names: &CardNames,
    ) -> Result<String, LinkError> {
        let place = self.placement(&key.workspace).await?;
        Ok(card_text(place.language, key, item, &self.item_url(key), names, card_fields(&place.intro_fields)))
    }

    /// Reads the doc and writes what [`plan`] says, in one `batchUpdate` carrying the read's
    /// version; every retry reads again first (a write whose reply was lost is found done).
    /// `first`: what the first try starts from ([`FirstTry`]). How the card was written, or
    /// `None` when it already showed the item.
    pub(super) async fn write_card(
        &self,
        key: &ItemKey,
        account: &Account,
        doc: &Doc,
        card: &CardWrite<'_>,
        first: FirstTry,
        deadline: Deadline,
    ) -> Result<Option<How>, LinkError> {
        let url = self.item_url(key);
        let legacy = Legacy { kind: key.kind, key, item_url: &url, description: card.description };
        let first = std::sync::Mutex::new(Some(first));
        let (id, legacy, first) = (&doc.id, &legacy, &first);
        self.tokens
            .call_tdoc(&self.clients, &key.workspace, account, deadline, Repeat::WhileTransient, |tok| async move {
                let given = first.lock().unwrap_or_else(|p| p.into_inner()).take();
                let tree = match given {
                    Some(FirstTry::Blind) => {
                        self.clients.tdoc.insert_text(&tok, id, card.fresh).await?;
                        return Ok(Some(How::Inserted));
                    }
                    Some(FirstTry::Given(tree)) => tree,
                    Some(FirstTry::Read) | None => self.clients.tdoc.read_doc(&tok, id).await?,
                };
                let (edits, how) = match plan(&tree, key, card.card, legacy) {
                    Plan::Keep => return Ok(None),
                    Plan::Write { how: How::Inserted, .. } => {
                        let index = tree.blocks.first().map_or(1, |b| b.begin);
                        (vec![Edit::Insert { index, text: card.fresh.to_owned() }], How::Inserted)
                    }
                    Plan::Write { edits, how } => (edits, how),
                };
                self.clients.tdoc.batch_update(&tok, id, &edits, tree.version).await?;
                Ok(Some(how))
            })
            .await
    }

    /// Waits out the card's window: a card written less than `CARD_WINDOW` ago is written
    /// again only at the window's end (changes reported meanwhile find the item busy, say the
    /// card is stale, and are shown by that one write). Not past what the deadline allows.
    async fn pace(&self, claim: &Claim, deadline: Deadline) {
        let window = self.cfg.card_window.as_millis() as u64;
        let Some(last) = claim.record.card.written_at_ms else { return };
        let wait = (last + window).saturating_sub(now_millis());
        let wait = Duration::from_millis(wait);
        if !wait.is_zero() && deadline.has_time_for(wait + self.cfg.common.http_timeout * 4) {
            tokio::time::sleep(wait).await;
        }
    }

    /// An update of a linked item, under its claim: a fresh read of the item, then the title
    /// and the card side by side (each only if asked and if it differs), the status seen,
    /// everything recorded and the claim let go. A change reported while this ran (the item
    /// was busy for it) is shown by reading and writing once more before letting go.
    pub(super) async fn follow(
        &self,
        claim: &mut Claim,
        account: &Account,
        what: Follow,
        deadline: Deadline,
    ) -> Result<Outcome, LinkError> {
        let key = claim.record.key.clone();
        let mut outcome = Outcome::Unchanged;
        loop {
            let Some(doc) = claim.record.stage.doc().cloned() else { return Ok(outcome) };
            if what.card {
                self.pace(claim, deadline).await;
            }
            let read_at = now_millis();
            // The doc is read beside the item (the card's write needs both, and neither needs
            // the other): item and doc in one round trip, then the write. The write carries
            // the doc read's version, so a doc changed in between is read again, not overwritten.
            let carded = what.card && self.placement(&key.workspace).await?.doc_type(&self.cfg, key.kind) == "doc";
            let tree = async {
                if !carded {
                    return None;
                }
                let id = &doc.id;
                let read = self
                    .tokens
                    .call_tdoc(
                        &self.clients,
                        &key.workspace,
                        account,
                        deadline,
                        Repeat::WhileTransient,
                        |tok| async move { self.clients.tdoc.read_doc(&tok, id).await },
                    )
                    .await;
                // A failed read is the write's to retry (it reads again), not this update's end.
                read.ok()
            };
            let (item, tree) = tokio::join!(self.fetch_item(&key, deadline), tree);
            let item = item?;
            let retitle = async {
                if !what.rename {
                    return Ok(None);
                }
                let title = self.title(&key, &item).await?;
                if title == doc.title {
                    return Ok(None);
                }
                let (id, t) = (&doc.id, &title);
                self.tokens
                    .call_tdoc(
                        &self.clients,
                        &key.workspace,
                        account,
                        deadline,
                        Repeat::WhileTransient,
                        |tok| async move { self.clients.tdoc.rename_file(&tok, id, t).await },
                    )
                    .await?;
                Ok::<_, LinkError>(Some(title))
            };
            let card = async {
                if !what.card {
                    return Ok(None);
                }
                let (names, status) = self.card_names(&key, &item, deadline).await?;
                let text = self.card_for(&key, &item, &names).await?;
                Ok::<_, LinkError>(Some((text, status)))
            };
            let (title, card) = tokio::join!(retitle, card);
            let title = title?;
            let mut written = None;
            if let Some((text, status)) = card? {
                self.status_seen(claim, account, &doc, &item, &status, deadline).await?;
                // Only a text doc has a card (a sheet, a form take none): the workspace's doc
                // type now says, and a refusal of the read or the write says it of this doc
                // (recorded in its history, as at creation: retrying would not change it).
                let place = self.placement(&key.workspace).await?;
                if place.doc_type(&self.cfg, key.kind) == "doc" {
                    let description = super::html_to_text(&item.description, super::intro::DESCRIPTION_MAX_CHARS);
                    let fresh = format!("{text}\n");
                    let write = CardWrite { card: &text, fresh: &fresh, description: &description };
                    let first = tree.map_or(FirstTry::Read, FirstTry::Given);
                    written = match self.write_card(&key, account, &doc, &write, first, deadline).await {
                        Err(LinkError::Upstream(e @ UpstreamError::Refused { .. })) => {
                            tracing::warn!(workspace = %key.workspace, item = %key.id, error = %e, "the doc takes no card; leaving it");
                            self.clients.store.record_card_failed(claim, Reason::from(&e)).await?;
                            None
                        }
                        other => other?,
                    };
                }
            }
            let released = self.clients.store.record_card(claim, written.is_some(), title.as_deref(), read_at).await?;
            if let Some(how) = written {
                tracing::info!(workspace = %key.workspace, item = %key.id, how = ?how, "card written");
                outcome = Outcome::CardWritten;
            } else if title.is_some() && outcome == Outcome::Unchanged {
                outcome = Outcome::Renamed;
            }
            if title.is_some() {
                tracing::info!(workspace = %key.workspace, item = %key.id, "doc renamed after the item");
            }
            if released {
                return Ok(outcome);
            }
            tracing::info!(workspace = %key.workspace, item = %key.id, "a change came meanwhile; showing it too");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ItemId, WorkspaceId};

    pub(crate) fn key() -> ItemKey {
        ItemKey {
            workspace: WorkspaceId::parse("20375001").unwrap(),
            kind: ItemKind::Story,
            id: ItemId::parse("1120375001001000101").unwrap(),
        }
    }

    pub(crate) fn item() -> TapdItem {
        TapdItem {
            id: key().id,
            name: "按月导出所有项目的成本报表".into(),
            description: "<p>作为财务</p>".into(),
            owner: "alice;bob;".into(),
            priority: "High".into(),
            iteration_id: "1120375001001000031".into(),
            created: "2026-12-01 09:00:00".into(),
            status: "developing".into(),
            workitem_type_id: String::new(),
        }
    }

    const URL: &str = "https://www.tapd.cn/20375001/prong/stories/view/1120375001001000101";
    const ALL: [bool; 3] = [true; 3];

    fn names() -> CardNames {
        CardNames { status: "实现中".into(), iteration: Some("2026 第四季度 · 冲刺 3".into()) }
    }

    fn doc(paras: &[&str]) -> DocTree {
        let mut at = 1;
        let blocks = paras
            .iter()
            .map(|t| {
                let len = t.encode_utf16().count() as u64;
                let b = Block { begin: at, end: at + len, text: (*t).to_owned() };
                at += len + 1;
                b
            })
            .collect();
        DocTree { blocks, version: Some(1) }
    }

    fn legacy<'a>(k: &'a ItemKey, description: &'a str) -> Legacy<'a> {
        Legacy { kind: k.kind, key: k, item_url: URL, description }
    }

    #[test]
    fn the_card_shows_the_item_by_the_workspaces_names_in_both_languages() {
        let zh = card_text(Lang::ZhCn, &key(), &item(), URL, &names(), ALL);
        assert!(zh.starts_with("TAPD 需求 #1120375001001000101：按月导出所有项目的成本报表｜状态：实现中｜处理人：alice, bob｜优先级：High｜迭代：2026 第四季度 · 冲刺 3｜在 TAPD 中查看：https://"), "{zh}");
        assert!(is_card(&zh, &key()));
        let en = card_text(
            Lang::En,
            &key(),
            &TapdItem { name: "a\nb".into(), ..item() },
            URL,
            &CardNames { status: "Developing".into(), iteration: None },
            ALL,
        );
        assert!(en.starts_with("TAPD story #1120375001001000101: a b | Status: Developing | Owner: alice, bob | Priority: High | Open in TAPD: "), "{en}");
        assert!(!en.contains('\n') && is_card(&en, &key()));
        // The workspace's intro fields say which of owner, priority, iteration it shows.
        let shown = card_fields(&[IntroField::Priority, IntroField::Description]);
        let few = card_text(Lang::ZhCn, &key(), &item(), URL, &names(), shown);
        assert!(few.contains("｜状态：实现中｜优先级：High｜在 TAPD 中查看：") && !few.contains("处理人"), "{few}");
    }

    #[test]
    fn only_an_unedited_card_of_this_item_is_recognised() {
        let card = card_text(Lang::ZhCn, &key(), &item(), URL, &names(), ALL);
        assert!(!is_card(&card.replace("High", "Low"), &key()), "edited by a person");
        assert!(!is_card(&format!("{card}x"), &key()));
        assert!(!is_card(&format!("x{card}"), &key()));
        let other = ItemKey { id: ItemId::parse("1").unwrap(), ..key() };
        assert!(!is_card(&card, &other));
        assert!(!is_card("", &key()) && !is_card("〕", &key()) && !is_card(" 〔〕", &key()));
    }

    #[test]
    fn a_new_doc_gets_the_card_at_the_top_and_an_unchanged_one_is_kept() {
        let card = card_text(Lang::ZhCn, &key(), &item(), URL, &names(), ALL);
        let k = key();
        let empty = doc(&[""]);
        assert_eq!(
            plan(&empty, &k, &card, &legacy(&k, "")),
            Plan::Write { edits: vec![Edit::Insert { index: 1, text: format!("{card}\n") }], how: How::Inserted }
        );
        assert_eq!(plan(&doc(&[&card, "我们的笔记"]), &k, &card, &legacy(&k, "")), Plan::Keep);
    }

    #[test]
    fn a_stale_card_is_replaced_by_its_offsets_and_a_second_one_removed() {
        let k = key();
        let old = card_text(Lang::ZhCn, &k, &item(), URL, &CardNames { status: "规划中".into(), iteration: None }, ALL);
        let new = card_text(Lang::ZhCn, &k, &item(), URL, &names(), ALL);
        let d = doc(&["人写的", &old, "中间", &old, "尾"]);
        let Plan::Write { edits, how: How::Rewritten } = plan(&d, &k, &new, &legacy(&k, "")) else { panic!() };
        let (b1, b3) = (&d.blocks[1], &d.blocks[3]);
        assert_eq!(
            edits,
            vec![
                Edit::Delete { start: b3.begin, length: d.blocks[4].begin - b3.begin },
                Edit::Replace { start: b1.begin, length: b1.end - b1.begin, text: new.clone() },
            ]
        );
    }

    #[test]
    fn a_person_edited_card_stays_theirs_and_a_fresh_one_goes_on_top() {
        let k = key();
        let card = card_text(Lang::ZhCn, &k, &item(), URL, &names(), ALL);
        let edited = card.replacen("High", "很高", 1);
        let d = doc(&[&edited, "笔记"]);
        assert_eq!(
            plan(&d, &k, &card, &legacy(&k, "")),
            Plan::Write { edits: vec![Edit::Insert { index: 1, text: format!("{card}\n") }], how: How::Inserted }
        );
    }

    #[test]
    fn the_old_intro_is_replaced_only_where_it_is_still_the_products() {
        let k = key();
        let card = card_text(Lang::ZhCn, &k, &item(), URL, &names(), ALL);
        let intro = super::super::intro_text(
            Lang::ZhCn,
            ItemKind::Story,
            &TapdItem { name: "旧名字".into(), ..item() },
            URL,
            &[crate::config::IntroField::Owner, crate::config::IntroField::Description],
        );
        let lines: Vec<&str> = intro.trim_end_matches('\n').split('\n').collect();
        assert_eq!(lines.len(), 5, "{intro}");
        let mut paras = lines.clone();
        paras.push("会议纪要：这一段是团队自己写的，不应被改动。");
        let d = doc(&paras);
        let Plan::Write { edits, how: How::ReplacedIntro } = plan(&d, &k, &card, &legacy(&k, "作为财务")) else {
            panic!()
        };
        let (first, last) = (&d.blocks[0], &d.blocks[4]);
        assert_eq!(
            edits,
            vec![
                Edit::Delete { start: first.end, length: last.end - first.end },
                Edit::Replace { start: first.begin, length: first.end - first.begin, text: card.clone() },
            ]
        );
        // The description changed since: its lines are left, the rest replaced.
        let Plan::Write { edits, .. } = plan(&d, &k, &card, &legacy(&k, "新的描述")) else { panic!() };
        assert_eq!(edits[0], Edit::Delete { start: first.end, length: d.blocks[2].end - first.end });
        // A person's words in the link's paragraph: not the intro any more; a card goes on top.
        let touched = doc(&[lines[0], &format!("{} 看这里", lines[1])]);
        assert!(matches!(plan(&touched, &k, &card, &legacy(&k, "")), Plan::Write { how: How::Inserted, .. }));
        // The intro as one paragraph with line breaks inside it (however a doc keeps them).
        let one = doc(&[intro.trim_end_matches('\n'), "笔记"]);
        let Plan::Write { edits, how: How::ReplacedIntro } = plan(&one, &k, &card, &legacy(&k, "作为财务")) else {
            panic!()
        };
        assert_eq!(edits.len(), 1);
    }
}
