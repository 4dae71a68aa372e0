//! Typed identifiers. Parsing rejects anything that is not an id, so the rest of the code
//! (store keys, URLs) can use them without escaping worries.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {reason}")]
pub struct IdError {
    pub what: &'static str,
    pub reason: &'static str,
}

/// TAPD ids are numbers of up to 19 digits (sent as JSON strings or integers).
fn parse_digits(what: &'static str, raw: &str) -> Result<String, IdError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(IdError { what, reason: "empty" });
    }
    if raw.len() > 20 {
        return Err(IdError { what, reason: "too long" });
    }
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError { what, reason: "not a number" });
    }
    Ok(raw.to_owned())
}

/// Accepts a JSON string or number, as TAPD sends both.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        N(u64),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::S(s) => s,
        Raw::N(n) => n.to_string(),
    })
}

macro_rules! digit_id {
    ($name:ident, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                parse_digits($what, raw).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = string_or_number(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

digit_id!(WorkspaceId, "workspace id");
digit_id!(ItemId, "item id");
digit_id!(IterationId, "iteration id");

/// A Tencent Docs Open-Id: opaque, but bounded and free of separators we use in keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct OpenId(String);

impl OpenId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        const WHAT: &str = "open id";
        if raw.is_empty() {
            return Err(IdError { what: WHAT, reason: "empty" });
        }
        if raw.len() > 128 {
            return Err(IdError { what: WHAT, reason: "too long" });
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            return Err(IdError { what: WHAT, reason: "unexpected characters" });
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OpenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OpenId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The kinds of TAPD items the product links docs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Story,
    Bug,
    Task,
}

impl ItemKind {
    pub const ALL: [ItemKind; 3] = [ItemKind::Story, ItemKind::Bug, ItemKind::Task];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Story => "story",
            ItemKind::Bug => "bug",
            ItemKind::Task => "task",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Path of the TAPD list/update endpoint (`/stories`, `/bugs`, `/tasks`).
    pub fn api_path(self) -> &'static str {
        match self {
            ItemKind::Story => "stories",
            ItemKind::Bug => "bugs",
            ItemKind::Task => "tasks",
        }
    }

    /// `entry_type` of `POST /comments`.
    pub fn comment_entry_type(self) -> &'static str {
        match self {
            ItemKind::Story => "stories",
            ItemKind::Bug => "bug",
            ItemKind::Task => "tasks",
        }
    }

    /// The wrapper key of list replies (`{"Story": {...}}`).
    pub fn wrapper(self) -> &'static str {
        match self {
            ItemKind::Story => "Story",
            ItemKind::Bug => "Bug",
            ItemKind::Task => "Task",
        }
    }

    /// The web page of an item, for the link written into the doc.
    pub fn web_segment(self) -> &'static str {
        match self {
            ItemKind::Story => "prong/stories",
            ItemKind::Bug => "bugtrace/bugs",
            ItemKind::Task => "prong/tasks",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_strings_and_numbers_and_refuse_the_rest() {
        let a: WorkspaceId = serde_json::from_str("\"20003271\"").unwrap();
        let b: WorkspaceId = serde_json::from_str("20003271").unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<ItemId>("\"../etc\"").is_err());
        assert!(serde_json::from_str::<ItemId>("\"123456789012345678901\"").is_err());
        assert!(ItemId::parse("").is_err());
        assert!(OpenId::parse("a#b").is_err());
        assert!(OpenId::parse("ab12_-").is_ok());
    }
}
