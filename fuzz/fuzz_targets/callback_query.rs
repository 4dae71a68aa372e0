//! The OAuth callback's query parser. Input: the raw query string (lossy UTF-8, as API
//! Gateway hands over text).
#![no_main]

#[path = "../oracle/redaction.rs"]
mod redaction;

use libfuzzer_sys::fuzz_target;
use shared::connect::Callback;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let Ok(cb) = Callback::parse(&raw) else { return };
    assert!(cb.code.as_ref().is_none_or(|c| !c.is_empty()), "an empty code is no code");
    assert!(cb.error.as_ref().is_none_or(|e| e.chars().count() <= 100), "provider errors are capped");
    // The code and state never show in Debug output (what a log line would carry): the
    // rendering is the same with them swapped for stand-ins (see oracle/redaction.rs).
    if let Err(leak) = redaction::callback(&cb) {
        panic!("{leak}");
    }
});
