//! Tencent Docs reply parsers: token, user info, file creation, batchUpdate, the doc read as blocks.
//!
//! Input: byte 0 < 128 means HTTP 200, else bytes 0-1 are the status (mod 600); byte 2 picks
//! the parser (`% 5`); the rest is the body.
#![no_main]

#[path = "../oracle/redaction.rs"]
mod redaction;

use libfuzzer_sys::fuzz_target;
use shared::tdoc::fuzzing;
use shared::upstream::UpstreamError;

fn bounded(e: &UpstreamError) {
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
    match sel % 5 {
        0 => fuzzing::token_reply(status, body).map(|t| {
            assert!(!t.open_id.as_str().is_empty());
            redacted(redaction::tdoc_token(&t));
        }),
        1 => fuzzing::user_info_reply(status, body).map(|_| ()),
        2 => fuzzing::file_reply(status, body).map(|f| {
            assert!(!f.id.is_empty());
            assert!(f.url.starts_with("https://") || f.url.starts_with("http://"));
        }),
        3 => fuzzing::insert_reply(status, body),
        _ => fuzzing::doc_tree_reply(status, body).map(|tree| {
            assert!(tree.blocks.iter().all(|b| b.begin <= b.end), "a block never ends before it begins");
        }),
    }
    .map_err(|e| bounded(&e))
    .ok();
});
