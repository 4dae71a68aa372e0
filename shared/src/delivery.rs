//! A TAPD webhook delivery, as TAPD sends it: JSON or form-encoded, flat key/value pairs,
//! every value a string (or a number), the whole item along with a create event.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{ItemId, ItemKind, WorkspaceId};

/// Bodies above this are refused unread (`413`). A create delivery carries the whole item
/// (HTML descriptions with tables and images run to hundreds of KiB), so the limit is what
/// Lambda itself takes in a synchronous invocation (6 MB), not what a small event needs.
pub const MAX_BODY: usize = 6 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the body is neither a JSON object nor form-encoded")]
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
    let json = match body_format(content_type, body) {
        Some(Format::Json) => true,
        Some(Format::Form) => false,
        None => return Err(BodyError::UnsupportedType),
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

enum Format {
    Json,
    Form,
}

/// How to read a body. The content type decides when it names JSON or a form, with any
/// parameters (`; charset=UTF-8`) and in any letter case, under the names TAPD uses (its app
/// console calls the form type `application/form`). When it is missing or names something
/// else (`text/plain`, `application/octet-stream`), the body decides: a JSON object starts
/// with `{`, a form has `key=value` pairs.
fn body_format(content_type: &str, body: &[u8]) -> Option<Format> {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/json" | "text/json" => return Some(Format::Json),
        "application/x-www-form-urlencoded" | "application/form" | "application/x-www-form" => {
            return Some(Format::Form);
        }
        m if m.ends_with("+json") => return Some(Format::Json),
        _ => {}
    }
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Some(Format::Json),
        Some(_) if body.contains(&b'=') => Some(Format::Form),
        _ => None,
    }
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
    /// An item changed: its doc follows a new name. The new values are not in the delivery
    /// (only `old_*` and `change_fields`), so the item is fetched again.
    Update { workspace: WorkspaceId, kind: ItemKind, id: ItemId, name_changed: NameChange },
    /// An item was deleted.
    Delete { workspace: WorkspaceId, kind: ItemKind, id: ItemId },
    /// Anything else: acknowledged, nothing done.
    Ignore,
}

/// What an update delivery says about the item's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameChange {
    /// `change_fields` names `name` (or `title`).
    Changed,
    /// `change_fields` lists other fields only: nothing to do for the doc.
    Unchanged,
    /// No `change_fields`: compare with TAPD's current name.
    Unknown,
}

impl TapdEvent {
    /// Reads an authenticated delivery. Events we act on must name a valid workspace and
    /// item; other events are only acknowledged, so their fields are not checked.
    pub fn from_fields(fields: &BTreeMap<String, String>, link_tasks: bool) -> Result<Self, BodyError> {
        let event = fields.get("event").cloned().ok_or(BodyError::Malformed("no `event` field"))?;
        let event_id = fields.get("event_id").filter(|e| !e.is_empty()).map(|e| e.chars().take(64).collect());
        let (subject, verb) = event.split_once("::").unwrap_or((event.as_str(), ""));
        let kind = match subject {
            "story" => Some(ItemKind::Story),
            "bug" => Some(ItemKind::Bug),
            "task" if link_tasks => Some(ItemKind::Task),
            _ => None,
        };
        let Some(kind) = kind.filter(|_| matches!(verb, "create" | "update" | "delete")) else {
            return Ok(Self { event, event_id, action: Action::Ignore });
        };
        let workspace = fields
            .get("workspace_id")
            .and_then(|w| WorkspaceId::parse(w).ok())
            .ok_or(BodyError::Malformed("missing or invalid `workspace_id`"))?;
        let id = fields
            .get("id")
            .and_then(|i| ItemId::parse(i).ok())
            .ok_or(BodyError::Malformed("missing or invalid `id`"))?;
        let action = match verb {
            "create" => Action::Link { workspace, kind, id },
            "update" => Action::Update { workspace, kind, id, name_changed: name_change(fields) },
            _ => Action::Delete { workspace, kind, id },
        };
        Ok(Self { event, event_id, action })
    }
}

/// Reads `change_fields` (comma separated) of an update delivery.
fn name_change(fields: &BTreeMap<String, String>) -> NameChange {
    match fields.get("change_fields").map(|f| f.trim()).filter(|f| !f.is_empty()) {
        None => NameChange::Unknown,
        Some(list) if list.split(',').any(|f| matches!(f.trim(), "name" | "title")) => NameChange::Changed,
        Some(_) => NameChange::Unchanged,
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
        assert_eq!(parse_body("", b"   "), Err(BodyError::UnsupportedType));
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
        let f = parse_body("", b"event=story%3A%3Astatus_change&workspace_id=1&id=2").unwrap();
        assert_eq!(TapdEvent::from_fields(&f, true).unwrap().action, Action::Ignore);
        let f = parse_body("", b"event=iteration%3A%3Acreate").unwrap();
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

    /// TAPD's documented deliveries (tests/fixtures, sources in its README).
    const FULL_STORY: &str = include_str!("../../tests/fixtures/tapd/webhook_story_create_full.json");
    const LEGACY_BUG: &str = include_str!("../../tests/fixtures/tapd/webhook_bug_create_legacy.form");

    #[test]
    fn a_whole_story_delivery_of_128_kib_is_read() {
        assert!(FULL_STORY.len() > 128 * 1024);
        let f = parse_body("application/json", FULL_STORY.as_bytes()).unwrap();
        assert!(f.keys().filter(|k| k.starts_with("custom_field_")).count() >= 50);
        let e = TapdEvent::from_fields(&f, false).unwrap();
        assert_eq!(e.event_id.as_deref(), Some("1687744222"));
        let Action::Link { workspace, kind, id } = e.action else { panic!("{e:?}") };
        assert_eq!((workspace.as_str(), kind, id.as_str()), ("20355782", ItemKind::Story, "1120355782001071295"));
        assert_eq!(parse_body("", &vec![b'{'; MAX_BODY + 1]), Err(BodyError::TooLarge));
    }

    #[test]
    fn content_types_are_read_as_tapd_sends_them() {
        let legacy = LEGACY_BUG.trim().as_bytes();
        for ct in [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
            "Application/X-WWW-Form-Urlencoded;charset=utf-8",
            "application/form",
            "",
            "text/plain",
        ] {
            let f = parse_body(ct, legacy).unwrap_or_else(|e| panic!("{ct}: {e}"));
            assert_eq!(f["title"], "导出报表时金额小数位错误", "{ct}");
            assert!(matches!(
                TapdEvent::from_fields(&f, false).unwrap().action,
                Action::Link { kind: ItemKind::Bug, .. }
            ));
        }
        for ct in [
            "application/json",
            "application/json; charset=UTF-8",
            "APPLICATION/JSON",
            "",
            "text/plain",
            "application/octet-stream",
        ] {
            let f = parse_body(ct, SAMPLE.as_bytes()).unwrap_or_else(|e| panic!("{ct}: {e}"));
            assert_eq!(f["event"], "story::create", "{ct}");
        }
    }

    #[test]
    fn updates_and_deletes_name_their_item_and_whether_the_name_changed() {
        let f = parse_body("", b"event=story%3A%3Aupdate&workspace_id=1&id=2&change_fields=name%2Cowner").unwrap();
        assert!(matches!(
            TapdEvent::from_fields(&f, false).unwrap().action,
            Action::Update { name_changed: NameChange::Changed, .. }
        ));
        let f = parse_body("", b"event=bug%3A%3Aupdate&workspace_id=1&id=2&change_fields=status").unwrap();
        assert!(matches!(
            TapdEvent::from_fields(&f, false).unwrap().action,
            Action::Update { name_changed: NameChange::Unchanged, .. }
        ));
        let f = parse_body("", b"event=bug%3A%3Aupdate&workspace_id=1&id=2").unwrap();
        assert!(matches!(
            TapdEvent::from_fields(&f, false).unwrap().action,
            Action::Update { name_changed: NameChange::Unknown, .. }
        ));
        let f = parse_body("", b"event=story%3A%3Adelete&workspace_id=1&id=2").unwrap();
        assert!(matches!(TapdEvent::from_fields(&f, false).unwrap().action, Action::Delete { .. }));
    }
}
