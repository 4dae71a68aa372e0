//! TAPD webhook bodies: JSON or form-encoded, flat key/value pairs, ids as strings or numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{ItemId, ItemKind, WorkspaceId};

/// Bodies above this are refused unread: real events are a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the content type is neither JSON nor form-encoded")]
    UnsupportedType,
    #[error("the body is not a flat JSON object or form: {0}")]
    Malformed(&'static str),
    #[error("the field `{0}` appears more than once")]
    Duplicate(String),
}

/// The flat fields of a delivery. Values that are not strings or numbers are dropped:
/// nothing the product acts on is nested.
pub fn parse_body(content_type: &str, body: &[u8]) -> Result<BTreeMap<String, String>, BodyError> {
    if body.len() > MAX_BODY {
        return Err(BodyError::TooLarge);
    }
    let json = match content_type {
        "application/json" => true,
        "application/x-www-form-urlencoded" => false,
        // TAPD's legacy webhooks are form-encoded; no content type is read by sniffing.
        "" => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
        _ => return Err(BodyError::UnsupportedType),
    };
    let text = std::str::from_utf8(body).map_err(|_| BodyError::Malformed("not UTF-8"))?;
    let mut out = BTreeMap::new();
    let mut put = |k: String, v: String| match out.insert(k.clone(), v) {
        Some(_) => Err(BodyError::Duplicate(k.chars().take(40).collect())),
        None => Ok(()),
    };
    if json {
        // Read member by member: a JSON map keeps the last of two equal keys, which would
        // let a second `secret` or `id` override the first unnoticed (forms refuse that).
        let Members(members) = serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => BodyError::Malformed("not a JSON object"),
            _ => BodyError::Malformed("invalid JSON"),
        })?;
        let mut seen = BTreeSet::new();
        for (k, v) in members {
            if !seen.insert(k.clone()) {
                return Err(BodyError::Duplicate(k.chars().take(40).collect()));
            }
            match v {
                serde_json::Value::String(s) => put(k, s)?,
                serde_json::Value::Number(n) => put(k, n.to_string())?,
                _ => {}
            }
        }
    } else {
        if text.trim().is_empty() {
            return Err(BodyError::Malformed("empty body"));
        }
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            put(k.into_owned(), v.into_owned())?;
        }
    }
    Ok(out)
}

/// The members of a JSON object in order, repeated keys kept.
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    out.push(member);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Constant-time comparison of the delivered secret with ours. Both sides are hashed
/// first so the comparison does not even leak the length; an empty secret never matches.
pub fn secret_matches(delivered: Option<&str>, expected: &str) -> bool {
    match delivered {
        Some(d) if !d.is_empty() && !expected.is_empty() => {
            Sha256::digest(d.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into()
        }
        _ => false,
    }
}

/// An authenticated delivery the product understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapdEvent {
    pub event: String,
    pub event_id: Option<String>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new item to link.
    Link { workspace: WorkspaceId, kind: ItemKind, id: ItemId },
    /// Anything else: acknowledged, nothing done.
    Ignore,
}

impl TapdEvent {
    /// Reads an authenticated delivery. Events we act on must name a valid workspace and
    /// item; other events are only acknowledged, so their fields are not checked.
    pub fn from_fields(fields: &BTreeMap<String, String>, link_tasks: bool) -> Result<Self, BodyError> {
        let event = fields.get("event").cloned().ok_or(BodyError::Malformed("no `event` field"))?;
        let event_id = fields.get("event_id").filter(|e| !e.is_empty()).map(|e| e.chars().take(64).collect());
        let kind = match event.as_str() {
            "story::create" => Some(ItemKind::Story),
            "bug::create" => Some(ItemKind::Bug),
            "task::create" if link_tasks => Some(ItemKind::Task),
            _ => None,
        };
        let action = match kind {
            None => Action::Ignore,
            Some(kind) => {
                let workspace = fields
                    .get("workspace_id")
                    .and_then(|w| WorkspaceId::parse(w).ok())
                    .ok_or(BodyError::Malformed("missing or invalid `workspace_id`"))?;
                let id = fields
                    .get("id")
                    .and_then(|i| ItemId::parse(i).ok())
                    .ok_or(BodyError::Malformed("missing or invalid `id`"))?;
                Action::Link { workspace, kind, id }
            }
        };
        Ok(Self { event, event_id, action })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"event":"story::create","event_from":"web","referer":"https://www.tapd.cn/","workspace_id":"20003271","current_user":"anyechen","id":"1120003271001000028","secret":"s3cret","app_id":"3906","rio_token":"","devproxy_host":"http://websocket-proxy","queue_id":"130662","event_id":"42079","created":"2024-03-26 16:33:05"}"#;

    #[test]
    fn the_official_example_parses_as_json_and_as_form() {
        let f = parse_body("application/json", SAMPLE.as_bytes()).unwrap();
        let e = TapdEvent::from_fields(&f, false).unwrap();
        assert_eq!(e.event_id.as_deref(), Some("42079"));
        assert!(matches!(e.action, Action::Link { kind: ItemKind::Story, .. }));
        let form = "event=bug%3A%3Acreate&workspace_id=20003271&id=1120003271001000029&secret=s3cret";
        let f = parse_body("application/x-www-form-urlencoded", form.as_bytes()).unwrap();
        assert!(matches!(TapdEvent::from_fields(&f, false).unwrap().action, Action::Link { kind: ItemKind::Bug, .. }));
    }

    #[test]
    fn numbers_become_strings_and_hostile_bodies_are_refused() {
        let f = parse_body("application/json", br#"{"event":"story::create","workspace_id":20003271,"id":1}"#).unwrap();
        assert_eq!(f["workspace_id"], "20003271");
        assert_eq!(parse_body("application/json", b"[1]"), Err(BodyError::Malformed("not a JSON object")));
        assert_eq!(parse_body("text/xml", b"<a/>"), Err(BodyError::UnsupportedType));
        assert_eq!(parse_body("", &vec![b'a'; MAX_BODY + 1]), Err(BodyError::TooLarge));
        assert!(matches!(parse_body("application/x-www-form-urlencoded", b"a=1&a=2"), Err(BodyError::Duplicate(_))));
        // Found by the bad-input suite: JSON kept the last of two equal keys, so a second
        // `secret` or `id` overrode the first unnoticed.
        for dup in [&br#"{"secret":"guess","secret":"right"}"#[..], br#"{"id":{},"id":"1"}"#, br#"{"a":1,"b":2,"a":3}"#]
        {
            assert!(matches!(parse_body("application/json", dup), Err(BodyError::Duplicate(_))), "{dup:?}");
        }
        assert_eq!(
            parse_body("application/json", b"{\"a\":{\"x\":1,\"x\":2}}").unwrap().len(),
            0,
            "nested maps are dropped"
        );
        assert_eq!(parse_body("application/json", b"{\"a\":"), Err(BodyError::Malformed("invalid JSON")));
        assert!(parse_body("application/json", b"\xff\xfe").is_err());
        let f = parse_body("", b"event=story%3A%3Acreate&workspace_id=..%2F..&id=1").unwrap();
        assert!(TapdEvent::from_fields(&f, false).is_err());
    }

    #[test]
    fn tasks_are_linked_only_when_enabled_and_other_events_are_ignored() {
        let f = parse_body("", b"event=task%3A%3Acreate&workspace_id=1&id=2").unwrap();
        assert_eq!(TapdEvent::from_fields(&f, false).unwrap().action, Action::Ignore);
        assert!(matches!(TapdEvent::from_fields(&f, true).unwrap().action, Action::Link { .. }));
        let f = parse_body("", b"event=story%3A%3Aupdate").unwrap();
        assert_eq!(TapdEvent::from_fields(&f, true).unwrap().action, Action::Ignore);
    }

    #[test]
    fn secrets_compare_exactly_and_never_empty() {
        assert!(secret_matches(Some("abc"), "abc"));
        assert!(!secret_matches(Some("abd"), "abc"));
        assert!(!secret_matches(Some("abcd"), "abc"));
        assert!(!secret_matches(Some(""), ""));
        assert!(!secret_matches(None, "abc"));
    }
}
