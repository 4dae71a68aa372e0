//! The fuzz targets' leak oracle (`fuzz/oracle/redaction.rs`, included here by path: one
//! definition), run under `cargo test`: the input that made the first oracle fire on its
//! own escaping (issue #16) passes, and a `Debug` that does print a secret is caught.

#[path = "../../fuzz/oracle/redaction.rs"]
mod redaction;

use std::fmt;

use shared::connect::Callback;
use shared::secret::Secret;
use shared::tapd::TapdToken;
use shared::tdoc::TdocToken;

/// Issue #16's input, byte for byte: the `callback_query` seed that reproduces it
/// (`fuzz/seeds/callback_query/`, copied into the corpus by `make fuzz`).
const ISSUE_16: &[u8] = b"error=ac\xd4ess_#ror=\xff\xfe\t\xff\xff\xff\xff\xffeni3d&state=t\xff\xff\xff\xff";

/// What the fuzz target does with its input.
fn parse(data: &[u8]) -> Callback {
    Callback::parse(&String::from_utf8_lossy(data)).expect("a query without repeated keys parses")
}

/// The first oracle: "a code or state (12 bytes or more, and not inside `error`) never
/// shows in the callback's `Debug`", searching the text.
fn naive_oracle_fires(cb: &Callback) -> bool {
    let shown = format!("{cb:?}");
    [&cb.code, &cb.state]
        .into_iter()
        .flatten()
        .map(Secret::expose)
        .any(|s| s.len() >= 12 && !cb.error.as_ref().is_some_and(|e| e.contains(s)) && shown.contains(s))
}

#[test]
fn the_regression_seed_is_the_issue_input() {
    let seed = include_bytes!("../../fuzz/seeds/callback_query/regression-issue16-escaped-tab");
    assert_eq!(seed.as_slice(), ISSUE_16);
}

#[test]
fn an_escaped_tab_before_the_states_characters_is_no_leak() {
    let cb = parse(ISSUE_16);
    let state = cb.state.as_ref().unwrap().expose();
    assert_eq!(state, "t\u{fffd}\u{fffd}\u{fffd}\u{fffd}");
    assert!(cb.code.is_none());
    let error = cb.error.as_deref().unwrap();
    assert!(error.contains("\t\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}eni3d"), "{error:?}");
    // The state's text shows in the Debug, as the `error` field's `\t` escape followed by
    // the replacement characters that field holds: the first oracle fired on that.
    assert!(format!("{cb:?}").contains(state));
    assert!(naive_oracle_fires(&cb));
    // The state is not printed: swapping it changes nothing.
    redaction::callback(&cb).unwrap();
}

#[test]
fn secrets_that_coincide_with_other_fields_or_the_marker_are_no_leak() {
    for query in [
        "error=code%3Dsecret-code-123&code=secret-code-123&state=s",
        "error=%5Bredacted%5D&code=%5Bredacted%5D&state=Secret(%5Bredacted%5D)",
        "error=Some%28Secret&code=Some&state=Secret",
        "error=%0A%0D%22%5C&code=n&state=r",
        "code=c&state=",
        "state=stand-in",
        "",
    ] {
        redaction::callback(&parse(query.as_bytes())).unwrap_or_else(|leak| panic!("{query}: {leak}"));
    }
}

#[test]
fn a_debug_that_prints_a_secret_is_caught() {
    let cb = parse(b"code=abcdef&state=short&error=x");
    // Raw, escaped, or only its length: each depends on the secret.
    let leaky: [fn(&Callback) -> String; 4] = [
        |cb| format!("{cb:?} code={}", cb.code.as_ref().unwrap().expose()),
        |cb| format!("{cb:?} state={:?}", cb.state.as_ref().unwrap().expose()),
        |cb| format!("{cb:?} state={}", cb.state.as_ref().unwrap().expose().escape_default()),
        |cb| format!("{cb:?} code has {} bytes", cb.code.as_ref().unwrap().expose().len()),
    ];
    for render in leaky {
        let leak = redaction::callback_rendered_by(&cb, render).unwrap_err();
        assert_eq!(leak.what, "Callback");
        assert_ne!(leak.original, leak.with_stand_in);
    }
    // Even a secret equal to the first stand-in: the second one differs.
    let cb = parse(format!("code={}", redaction::STAND_INS[0]).as_bytes());
    assert!(redaction::callback_rendered_by(&cb, |cb| format!("{:?}", cb.code.as_ref().map(Secret::expose))).is_err());
}

/// A type holding a secret whose `Debug` prints it (what a careless derive on a `String`
/// field would do).
struct LeakyHolder {
    name: String,
    token: Secret,
}

impl fmt::Debug for LeakyHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakyHolder").field("name", &self.name).field("token", &self.token.expose()).finish()
    }
}

#[test]
fn the_general_check_catches_a_leaky_holder_and_passes_a_redacting_one() {
    let holder = LeakyHolder { name: "tok-123".into(), token: Secret::new("tok-123") };
    let rebuild = |s: &str| LeakyHolder { name: holder.name.clone(), token: Secret::new(s) };
    assert!(redaction::independent_of_secrets("LeakyHolder", &holder, rebuild, redaction::debug).is_err());
    // The same type printing the `Secret` (redacted) passes, though its `name` is the
    // secret's text.
    let redacting = |h: &LeakyHolder| format!("{} {:?}", h.name, h.token);
    redaction::independent_of_secrets("LeakyHolder", &holder, rebuild, redacting).unwrap();
}

#[test]
fn secrets_and_tokens_are_redacted() {
    for s in ["", "t", "tok-123456", "[redacted]", "Secret([redacted])", "\t\u{fffd}\"\\"] {
        redaction::secret(&Secret::new(s)).unwrap();
    }
    let tapd: TapdToken = serde_json::from_value(serde_json::json!({
        "access_token": "tapd-access-0123456789",
        "refresh_token": "tapd-refresh-0123456789",
        "expires_at": 1_900_000_000u64,
        "resource": {"type": "workspace", "workspace_id": "20003271"},
    }))
    .unwrap();
    redaction::tapd_token(&tapd).unwrap();
    let tdoc: TdocToken = serde_json::from_value(serde_json::json!({
        "access_token": "tdoc-access-0123456789",
        "refresh_token": null,
        "expires_at": 1_900_000_000u64,
        "open_id": "a1b2c3d4",
    }))
    .unwrap();
    redaction::tdoc_token(&tdoc).unwrap();
}
