//! A Tencent Docs document as the sandbox keeps it: its text, paragraphs separated by `\n`
//! ([`crate::Doc::content`]), and how the doc v3 API numbers it.
//!
//! # Offsets (the sandbox's reading of `doc_content_offsets_reply.json`)
//! Index `0` is the document's start; the first paragraph's text begins at `1`; each paragraph
//! ends where its text ends (`end` is exclusive) and one index (its paragraph break) separates
//! it from the next, so the second paragraph of the sample begins at `91` after one ending at
//! `90`. The document and its body span `0..end of the last paragraph`. An empty doc is one
//! empty paragraph, `1..1`. Offsets count UTF-16 code units by default, or characters in the
//! `chars` variant ([`crate::TdocOffsetUnit`]): upstream does not say which, so write with the
//! offsets the read returned. A range may not split a UTF-16 surrogate pair.
//!
//! # Requests (`batchUpdate`)
//! Applied in order, each to the doc as the earlier ones left it; all or nothing:
//! - `insertText{text, location{index}}`, `1 <= index <= end`; a `\n` in `text` breaks paragraphs;
//! - `replaceText{text, range:[{startIndex, length}]}`: every range (non-overlapping, offsets of
//!   the doc before this request) gets `text`;
//! - `deleteContent{range{startIndex, length}}`;
//!
//! a range needs `length >= 1`, `startIndex >= 1` and `startIndex + length <= end`. A paragraph
//! break is one index: deleting it joins two paragraphs.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::TdocOffsetUnit;

/// One request of a batch (or of a person's edit), in doc indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Insert { index: usize, text: String },
    Replace { ranges: Vec<(usize, usize)>, text: String },
    Delete { start: usize, length: usize },
}

/// What one applied change did, in doc indices (for rebasing writes made against older versions):
/// at `start`, `removed` units went and `inserted` came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Change {
    pub start: usize,
    pub removed: usize,
    pub inserted: usize,
}

/// A paragraph as the read numbers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paragraph {
    pub begin: usize,
    pub end: usize,
    pub text: String,
}

pub(crate) fn len_units(s: &str, unit: TdocOffsetUnit) -> usize {
    match unit {
        TdocOffsetUnit::Utf16 => s.encode_utf16().count(),
        TdocOffsetUnit::Chars => s.chars().count(),
    }
}

/// The byte offset in `text` of doc index `index` (text offset `index - 1`); `None` outside the
/// text or inside a surrogate pair.
fn byte_at(text: &str, index: usize, unit: TdocOffsetUnit) -> Option<usize> {
    let mut want = index.checked_sub(1)?;
    for (b, c) in text.char_indices() {
        if want == 0 {
            return Some(b);
        }
        let w = match unit {
            TdocOffsetUnit::Utf16 => c.len_utf16(),
            TdocOffsetUnit::Chars => 1,
        };
        if want < w {
            return None;
        }
        want -= w;
    }
    (want == 0).then_some(text.len())
}

pub(crate) fn paragraphs(text: &str, unit: TdocOffsetUnit) -> Vec<Paragraph> {
    let mut at = 1;
    text.split('\n')
        .map(|p| {
            let len = len_units(p, unit);
            let para = Paragraph { begin: at, end: at + len, text: p.to_string() };
            at += len + 1;
            para
        })
        .collect()
}

/// The index just past the last paragraph (the document's `end`).
pub(crate) fn end(text: &str, unit: TdocOffsetUnit) -> usize {
    1 + len_units(text, unit)
}

/// `document` of a read: Document > Body > Paragraph > Text, each node with `begin`/`end`.
pub(crate) fn tree(text: &str, unit: TdocOffsetUnit) -> Value {
    let end = end(text, unit);
    let paras: Vec<Value> = paragraphs(text, unit)
        .into_iter()
        .map(|p| {
            json!({"begin": p.begin, "end": p.end, "type": "Paragraph", "children": [
                {"begin": p.begin, "end": p.end, "type": "Text", "text": p.text}
            ]})
        })
        .collect();
    json!({"begin": 0, "end": end, "type": "Document", "children": [
        {"begin": 0, "end": end, "type": "Body", "children": paras}
    ]})
}

fn range_bytes(text: &str, start: usize, length: usize, unit: TdocOffsetUnit) -> Result<(usize, usize), String> {
    let end = end(text, unit);
    if length == 0 || start == 0 || start + length > end {
        return Err(format!("range {start}+{length} is outside the document (1..{end})"));
    }
    let a = byte_at(text, start, unit).ok_or_else(|| format!("index {start} splits a character"))?;
    let b =
        byte_at(text, start + length, unit).ok_or_else(|| format!("index {} splits a character", start + length))?;
    Ok((a, b))
}

/// Applies `op` to `text`; the changes it made, or why it cannot apply (nothing changed then).
pub(crate) fn apply(text: &mut String, op: &Op, unit: TdocOffsetUnit) -> Result<Vec<Change>, String> {
    match op {
        Op::Insert { index, text: t } => {
            let end = end(text, unit);
            if *index == 0 || *index > end {
                return Err(format!("index {index} is outside the document (1..{end})"));
            }
            let at = byte_at(text, *index, unit).ok_or_else(|| format!("index {index} splits a character"))?;
            text.insert_str(at, t);
            Ok(vec![Change { start: *index, removed: 0, inserted: len_units(t, unit) }])
        }
        Op::Delete { start, length } => {
            let (a, b) = range_bytes(text, *start, *length, unit)?;
            text.replace_range(a..b, "");
            Ok(vec![Change { start: *start, removed: *length, inserted: 0 }])
        }
        Op::Replace { ranges, text: t } => {
            if ranges.is_empty() {
                return Err("replaceText.range must name at least one range".into());
            }
            let mut sorted = ranges.clone();
            sorted.sort();
            if sorted.windows(2).any(|w| w[0].0 + w[0].1 > w[1].0) {
                return Err("replaceText ranges overlap".into());
            }
            let bytes = sorted.iter().map(|(s, l)| range_bytes(text, *s, *l, unit)).collect::<Result<Vec<_>, _>>()?;
            // Last first, so the earlier ranges' offsets still hold.
            for (a, b) in bytes.into_iter().rev() {
                text.replace_range(a..b, t);
            }
            let n = len_units(t, unit);
            // In application order (first range first), each in the doc as the previous left it.
            let mut shift: isize = 0;
            Ok(sorted
                .iter()
                .map(|(s, l)| {
                    let c = Change { start: (*s as isize + shift) as usize, removed: *l, inserted: n };
                    shift += n as isize - *l as isize;
                    c
                })
                .collect())
        }
    }
}

/// Where index `p` of an older version is after `c`: before the change it stays, after it it
/// shifts, inside removed text it lands at the change's start.
fn map_index(p: usize, c: &Change) -> usize {
    if p < c.start {
        p
    } else if p >= c.start + c.removed {
        p - c.removed + c.inserted
    } else {
        c.start
    }
}

/// `op`, written against an older version, moved through the changes made since (the way a
/// collaborative editor rebases a late write): ranges keep covering the same text (shrunk where
/// some of it was deleted meanwhile); an insertion point stays between the same characters.
pub(crate) fn rebase(op: &Op, since: &[Change]) -> Op {
    let range = |s: usize, l: usize| {
        let (mut a, mut b) = (s, s + l);
        for c in since {
            a = map_index(a, c);
            b = map_index(b, c).max(a);
        }
        (a, b - a)
    };
    match op {
        Op::Insert { index, text } => Op::Insert { index: since.iter().fold(*index, map_index), text: text.clone() },
        Op::Delete { start, length } => {
            let (start, length) = range(*start, *length);
            Op::Delete { start, length }
        }
        Op::Replace { ranges, text } => {
            Op::Replace { ranges: ranges.iter().map(|(s, l)| range(*s, *l)).collect(), text: text.clone() }
        }
    }
}

/// The requests of a `batchUpdate` body, or why it is malformed.
pub(crate) fn parse_requests(requests: &[Value]) -> Result<Vec<Op>, String> {
    let index = |v: &Value, what: &str| -> Result<usize, String> {
        v.as_u64().map(|n| n as usize).ok_or_else(|| format!("{what} must be a non-negative integer"))
    };
    let range = |r: &Value, what: &str| -> Result<(usize, usize), String> {
        Ok((index(&r["startIndex"], &format!("{what}.startIndex"))?, index(&r["length"], &format!("{what}.length"))?))
    };
    let text = |v: &Value, what: &str| -> Result<String, String> {
        v.as_str().map(str::to_owned).ok_or_else(|| format!("{what} must be a string"))
    };
    requests
        .iter()
        .map(|r| {
            let obj = r.as_object().filter(|o| o.len() == 1).ok_or("each request must hold exactly one kind")?;
            let (kind, body) = obj.iter().next().expect("one entry");
            match kind.as_str() {
                "insertText" => Ok(Op::Insert {
                    index: index(&body["location"]["index"], "insertText.location.index")?,
                    text: text(&body["text"], "insertText.text")?,
                }),
                "replaceText" => {
                    let ranges = body["range"].as_array().ok_or("replaceText.range must be an array")?;
                    Ok(Op::Replace {
                        ranges: ranges.iter().map(|r| range(r, "replaceText.range")).collect::<Result<_, _>>()?,
                        text: text(&body["text"], "replaceText.text")?,
                    })
                }
                "deleteContent" => {
                    let (start, length) = range(&body["range"], "deleteContent.range")?;
                    Ok(Op::Delete { start, length })
                }
                other => Err(format!("request kind {other} is not supported by the sandbox")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: TdocOffsetUnit = TdocOffsetUnit::Utf16;

    #[test]
    fn the_samples_numbering() {
        let a =
            "TAPD 需求：按月导出所有项目的成本报表 https://www.tapd.cn/20375001/prong/stories/view/1120375001001000101";
        let b = "会议纪要：这一段是团队自己写的，不应被改动。";
        let text = format!("{a}\n{b}");
        let want: Value =
            serde_json::from_str(include_str!("../../fixtures/tdoc/doc_content_offsets_reply.json")).unwrap();
        assert_eq!(tree(&text, U), want["document"]);
        assert_eq!(paragraphs("", U), vec![Paragraph { begin: 1, end: 1, text: String::new() }]);
    }

    #[test]
    fn edits_by_offset() {
        let mut t = "卡片\n正文".to_string();
        apply(&mut t, &Op::Replace { ranges: vec![(1, 2)], text: "新卡片".into() }, U).unwrap();
        assert_eq!(t, "新卡片\n正文");
        apply(&mut t, &Op::Delete { start: 1, length: 4 }, U).unwrap();
        assert_eq!(t, "正文");
        apply(&mut t, &Op::Insert { index: 1, text: "卡\n".into() }, U).unwrap();
        assert_eq!(t, "卡\n正文");
        assert!(apply(&mut t, &Op::Insert { index: 6, text: "x".into() }, U).is_err());
        assert!(apply(&mut t, &Op::Delete { start: 4, length: 2 }, U).is_err());
        // An emoji is two UTF-16 units: an index between them is refused; in chars it is one.
        let mut e = "a😀b".to_string();
        assert!(apply(&mut e, &Op::Delete { start: 2, length: 1 }, U).is_err());
        apply(&mut e, &Op::Delete { start: 2, length: 2 }, U).unwrap();
        assert_eq!(e, "ab");
        let mut e = "a😀b".to_string();
        apply(&mut e, &Op::Delete { start: 2, length: 1 }, TdocOffsetUnit::Chars).unwrap();
        assert_eq!(e, "ab");
    }

    #[test]
    fn late_writes_are_rebased() {
        // Read at "卡片\n正文"; meanwhile a person typed "我" at the start of the body (index 4).
        let mut t = "卡片\n正文".to_string();
        let person = apply(&mut t, &Op::Insert { index: 1, text: "前言\n".into() }, U).unwrap();
        let late = rebase(&Op::Replace { ranges: vec![(1, 2)], text: "新卡片".into() }, &person);
        apply(&mut t, &late, U).unwrap();
        assert_eq!(t, "前言\n新卡片\n正文");
    }
}
