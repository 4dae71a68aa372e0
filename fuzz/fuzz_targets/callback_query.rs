//! The OAuth callback's query parser. Input: the raw query string (lossy UTF-8, as API
//! Gateway hands over text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::connect::Callback;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let Ok(cb) = Callback::parse(&raw) else { return };
    assert!(cb.code.as_ref().is_none_or(|c| !c.is_empty()), "an empty code is no code");
    assert!(cb.error.as_ref().is_none_or(|e| e.chars().count() <= 100), "provider errors are capped");
    // Codes and states never show in Debug output (what a log line would carry).
    let shown = format!("{cb:?}");
    for secret in [&cb.code, &cb.state].into_iter().flatten() {
        let s = secret.expose();
        if s.len() >= 12 && !cb.error.as_ref().is_some_and(|e| e.contains(s)) {
            assert!(!shown.contains(s), "{shown}");
        }
    }
});
