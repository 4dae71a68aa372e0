//! The webhook body parser (JSON and form) and the event reader behind it, and the first pass
//! that reads only the credentials (it must agree with the whole reading).
//!
//! Input: byte 0 picks the content type (`& 3`: JSON, form, none, text/plain) and whether
//! tasks are linked (`& 0x80`); the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::delivery::{Action, MAX_BODY, TapdEvent, credentials, parse_body, secret_matches};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";
const TYPES: [&str; 4] = [JSON, FORM, "", "text/plain"];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    let ct = TYPES[usize::from(sel & 3)];
    let creds = credentials(ct, body);
    let Ok(fields) = parse_body(ct, body) else { return };
    // What authentication read is what the delivery says, whenever the delivery reads at all.
    let creds = creds.expect("a body the whole reading takes, the first pass takes too");
    assert_eq!(creds.secret.as_deref(), fields.get("secret").map(String::as_str));
    assert_eq!(creds.workspace_id.as_deref(), fields.get("workspace_id").map(String::as_str));
    assert!(body.len() <= MAX_BODY);
    let _ = secret_matches(fields.get("secret").map(String::as_str), "whsec-fuzz");

    // The same fields delivered the other way read the same: JSON and form agree.
    if !fields.is_empty() {
        let form = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
        if form.len() <= MAX_BODY {
            assert_eq!(parse_body(FORM, form.as_bytes()).as_ref(), Ok(&fields), "form round trip");
        }
        let json = serde_json::to_vec(&fields).expect("a map of strings serializes");
        if json.len() <= MAX_BODY {
            assert_eq!(parse_body(JSON, &json).as_ref(), Ok(&fields), "JSON round trip");
        }
    }

    if let Ok(event) = TapdEvent::from_fields(&fields, sel & 0x80 != 0) {
        assert!(event.event_id.as_ref().is_none_or(|e| !e.is_empty() && e.chars().count() <= 64));
        match &event.action {
            Action::Link { workspace, id, .. }
            | Action::Update { workspace, id, .. }
            | Action::Delete { workspace, id, .. } => {
                for s in [workspace.as_str(), id.as_str()] {
                    assert!(!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()), "{s:?}");
                }
            }
            Action::Ignore => {}
        }
    }
});
