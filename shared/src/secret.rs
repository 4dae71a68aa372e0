//! A value that must never reach a log: client secrets, tokens, codes, OAuth states.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Wraps a sensitive string. `Debug` and `Display` print `[redacted]`; the only way to the
/// plaintext is [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("tok-123456");
        assert!(!format!("{s:?}").contains("tok-123456"));
        assert!(!format!("{s}").contains("tok-123456"));
        assert!(!format!("{:?}", Some(&s)).contains("tok-123456"));
        assert_eq!(s.expose(), "tok-123456");
    }
}
