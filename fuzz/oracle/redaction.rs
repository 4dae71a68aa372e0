//! The leak oracle of the fuzz targets: a secret's value never shows in the `Debug` or
//! `Display` of a type that holds it.
//!
//! One definition, included by path (`#[path = ...] mod redaction;`) by the fuzz targets
//! and by `shared/tests/leak_oracle.rs`, which runs it under `cargo test`. It uses only
//! `shared`'s public API.
//!
//! How it asks: the value is rebuilt with every secret replaced by a stand-in, twice (two
//! stand-ins that differ from each other, so at least one differs from the real value),
//! and each rebuilt value must render exactly as the original does. A rendering that
//! changes when only the secrets change depends on them: that is a leak, whether the
//! secret is printed raw, escaped, truncated or by its length. Searching the rendering for
//! the secret's text instead (the first oracle) was wrong both ways: it fired on text that
//! merely coincides with a secret (issue #16: the `Debug` of an `error` field escapes a tab
//! as `\t`, followed by the state's own characters), and it could not see a secret printed
//! escaped or transformed.
#![allow(dead_code)]

use std::fmt;

use shared::connect::Callback;
use shared::secret::Secret;
use shared::tapd::TapdToken;
use shared::tdoc::TdocToken;

/// What secrets are replaced by: different from each other, and in length.
pub const STAND_INS: [&str; 2] = ["stand-in", "another, longer stand-in\t\"\\\u{fffd}"];

/// A rendering that changed when only the secrets did.
#[derive(Debug)]
pub struct Leak {
    pub what: &'static str,
    pub stand_in: &'static str,
    pub original: String,
    pub with_stand_in: String,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the rendering of a {} depends on its secrets: with the real ones\n{}\nwith every secret replaced by {:?}\n{}",
            self.what, self.original, self.stand_in, self.with_stand_in
        )
    }
}

/// The general check: `rebuild(s)` is `value` with every secret replaced by `s` and
/// everything else unchanged; `render` is what a log line could carry of it.
pub fn independent_of_secrets<T>(
    what: &'static str,
    value: &T,
    rebuild: impl Fn(&str) -> T,
    render: impl Fn(&T) -> String,
) -> Result<(), Leak> {
    let original = render(value);
    for stand_in in STAND_INS {
        let with_stand_in = render(&rebuild(stand_in));
        if with_stand_in != original {
            return Err(Leak { what, stand_in, original, with_stand_in });
        }
    }
    Ok(())
}

/// `Debug` (plain and `{:#?}`) of a type without `Display`.
pub fn debug<T: fmt::Debug>(v: &T) -> String {
    format!("{v:?}\n{v:#?}")
}

/// A `Secret` itself: `Debug`, `{:#?}` and `Display`.
pub fn secret(s: &Secret) -> Result<(), Leak> {
    independent_of_secrets("Secret", s, |v: &str| Secret::new(v), |s| format!("{s:?}\n{s:#?}\n{s}"))
}

fn swap(s: &str) -> impl Fn(&Secret) -> Secret + '_ {
    move |_| Secret::new(s)
}

/// An OAuth callback: its code and state are secrets, its `error` is not.
pub fn callback(cb: &Callback) -> Result<(), Leak> {
    callback_rendered_by(cb, debug)
}

/// As [`callback`], with the rendering given (the unit test passes a leaky one).
pub fn callback_rendered_by(cb: &Callback, render: impl Fn(&Callback) -> String) -> Result<(), Leak> {
    for s in [&cb.code, &cb.state].into_iter().flatten() {
        secret(s)?;
    }
    let rebuild = |s: &str| Callback {
        code: cb.code.as_ref().map(swap(s)),
        state: cb.state.as_ref().map(swap(s)),
        error: cb.error.clone(),
    };
    independent_of_secrets("Callback", cb, rebuild, render)
}

/// A TAPD token: the access and refresh tokens are secrets.
pub fn tapd_token(t: &TapdToken) -> Result<(), Leak> {
    for s in std::iter::once(&t.access_token).chain(&t.refresh_token) {
        secret(s)?;
    }
    let rebuild = |s: &str| TapdToken {
        access_token: Secret::new(s),
        refresh_token: t.refresh_token.as_ref().map(swap(s)),
        ..t.clone()
    };
    independent_of_secrets("TapdToken", t, rebuild, debug)
}

/// A Tencent Docs token: the access and refresh tokens are secrets.
pub fn tdoc_token(t: &TdocToken) -> Result<(), Leak> {
    for s in std::iter::once(&t.access_token).chain(&t.refresh_token) {
        secret(s)?;
    }
    let rebuild = |s: &str| TdocToken {
        access_token: Secret::new(s),
        refresh_token: t.refresh_token.as_ref().map(swap(s)),
        ..t.clone()
    };
    independent_of_secrets("TdocToken", t, rebuild, debug)
}
