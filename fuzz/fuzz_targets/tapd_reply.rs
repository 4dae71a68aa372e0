//! TAPD reply parsers: token, item list, comment, comment list, update, status map, iteration.
//!
//! Input: byte 0 < 128 means HTTP 200, else bytes 0-1 are the status (mod 600); byte 2 picks
//! the parser (`% 7`) and the item kind (`/ 7 % 3`); the rest is the body.
#![no_main]

#[path = "../oracle/redaction.rs"]
mod redaction;

use libfuzzer_sys::fuzz_target;
use shared::ids::{ItemId, ItemKind, IterationId};
use shared::tapd::fuzzing;
use shared::upstream::UpstreamError;

fn bounded(e: &UpstreamError) {
    // Provider text is quoted, capped: a hostile reply cannot flood a log line.
    assert!(e.to_string().chars().count() <= 300, "{e}");
}

/// A token read from a reply never shows its access or refresh token in `Debug`.
fn redacted(checked: Result<(), redaction::Leak>) {
    if let Err(leak) = checked {
        panic!("{leak}");
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let status = if data[0] < 128 { 200 } else { u16::from_be_bytes([data[0], data[1]]) % 600 };
    let (sel, body) = (data[2], &data[3..]);
    let id = ItemId::parse("1120003271001000028").unwrap();
    let kind = ItemKind::ALL[usize::from(sel / 7 % 3)];
    let iteration = IterationId::parse("1120375001001000031").unwrap();
    match sel % 7 {
        0 => fuzzing::token_reply(status, body).map(|t| redacted(redaction::tapd_token(&t))),
        1 => fuzzing::item_reply(status, body, kind, &id).map(|item| {
            assert!(item.is_none_or(|i| i.id == id), "only the asked item is returned");
        }),
        2 => fuzzing::comment_reply(status, body).map(|_| ()),
        3 => fuzzing::comment_list_reply(status, body).map(|_| ()),
        4 => fuzzing::update_reply(status, body),
        5 => fuzzing::status_names_reply(status, body).map(|_| ()),
        _ => fuzzing::iteration_reply(status, body, &iteration).map(|it| {
            assert!(it.is_none_or(|i| i.id == iteration), "only the asked iteration is returned");
        }),
    }
    .map_err(|e| bounded(&e))
    .ok();
});
