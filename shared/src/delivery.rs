//! A TAPD webhook delivery, as TAPD sends it: JSON or form-encoded, flat key/value pairs,
//! every value a string (or a number), the whole item along with a create event.
//!
//! Read in two passes: [`credentials`] borrows the two fields authentication needs from the
//! body and skips everything else unread (nothing is allocated per member, so a refused body
//! costs no more memory than its own bytes, whatever its shape); only an admitted delivery is
//! read whole by [`parse_body`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{ItemId, ItemKind, IterationId, WorkspaceId};

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

/// What authentication reads of a delivery, borrowed from its body where it can be (a JSON
/// string with escapes, or a percent-encoded form value, is unescaped into its own copy).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Credentials<'a> {
    pub secret: Option<Cow<'a, str>>,
    pub workspace_id: Option<Cow<'a, str>>,
}

/// Reads `secret` and `workspace_id` of a delivery, and nothing else: every other member is
/// skipped as it is scanned (nested values too, however deep: serde_json skips them without
/// recursing). A body that is not a delivery at all is refused here as [`parse_body`] would
/// refuse it; so is a second `secret` or `workspace_id`.
pub fn credentials<'a>(content_type: &str, body: &'a [u8]) -> Result<Credentials<'a>, BodyError> {
    let (json, text) = readable(content_type, body)?;
    if json {
        let Scan(found) = serde_json::from_str(text).map_err(json_error)?;
        return found;
    }
    let mut found = Credentials::default();
    for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
        let slot = match k.as_ref() {
            "secret" => &mut found.secret,
            "workspace_id" => &mut found.workspace_id,
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(duplicate(&k));
        }
    }
    Ok(found)
}

/// The flat fields of a delivery. Values that are not strings or numbers are dropped:
/// nothing the product acts on is nested.
pub fn parse_body(content_type: &str, body: &[u8]) -> Result<BTreeMap<String, String>, BodyError> {
    let (json, text) = readable(content_type, body)?;
    if json {
        // Read member by member: a JSON map keeps the last of two equal keys, which would
        // let a second `secret` or `id` override the first unnoticed (forms refuse that).
        let Members(fields) = serde_json::from_str(text).map_err(json_error)?;
        return fields;
    }
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
        if out.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(duplicate(&k));
        }
    }
    Ok(out)
}

/// The checks both readings share: the size, the format, UTF-8, a form that is not empty.
/// `(is JSON, the body as text)`.
fn readable<'a>(content_type: &str, body: &'a [u8]) -> Result<(bool, &'a str), BodyError> {
    if body.len() > MAX_BODY {
        return Err(BodyError::TooLarge);
    }
    let json = match body_format(content_type, body) {
        Some(Format::Json) => true,
        Some(Format::Form) => false,
        None => return Err(BodyError::UnsupportedType),
    };
    let text = std::str::from_utf8(body).map_err(|_| BodyError::Malformed("not UTF-8"))?;
    if !json && text.trim().is_empty() {
        return Err(BodyError::Malformed("empty body"));
    }
    Ok((json, text))
}

fn json_error(e: serde_json::Error) -> BodyError {
    match e.classify() {
        serde_json::error::Category::Data => BodyError::Malformed("not a JSON object"),
        _ => BodyError::Malformed("invalid JSON"),
    }
}

fn duplicate(key: &str) -> BodyError {
    BodyError::Duplicate(key.chars().take(40).collect())
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

/// A member's value as a delivery has it: text (a string, or a number written as text), or
/// anything else, skipped unread.
enum Scalar<'de> {
    Text(Cow<'de, str>),
    Other,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(
                    serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string()),
                )))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            // Nested values are skipped element by element, each without recursion.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// A member's name in the first pass: one of the two it reads, or any other (compared where
/// it lies, never copied).
enum Key {
    Secret,
    Workspace,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "secret" => Key::Secret,
                    "workspace_id" => Key::Workspace,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// The first pass over a JSON delivery: [`Credentials`] (or the repeated field that makes
/// them ambiguous), every other value skipped.
struct Scan<'de>(Result<Credentials<'de>, BodyError>);

impl<'de> Deserialize<'de> for Scan<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scan<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scan<'de>, A::Error> {
                let (mut secret, mut workspace) = ((None, false), (None, false));
                let mut repeated = None;
                while let Some(key) = map.next_key::<Key>()? {
                    let ((slot, seen), name) = match key {
                        Key::Secret => (&mut secret, "secret"),
                        Key::Workspace => (&mut workspace, "workspace_id"),
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    // Taken only when it is text, as the second pass takes it.
                    if let Scalar::Text(t) = map.next_value::<Scalar<'de>>()? {
                        *slot = Some(t);
                    }
                    if std::mem::replace(seen, true) {
                        repeated.get_or_insert(name);
                    }
                }
                Ok(Scan(match repeated {
                    Some(name) => Err(duplicate(name)),
                    None => Ok(Credentials { secret: secret.0, workspace_id: workspace.0 }),
                }))
            }
        }
        d.deserialize_map(V)
    }
}

/// A member's name, borrowed from the body unless it had escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of a JSON object, flat: text values kept, repeated keys refused (whatever
/// their values), other values skipped.
struct Members(Result<BTreeMap<String, String>, BodyError>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut out = BTreeMap::new();
                let mut keys: BTreeSet<Cow<'de, str>> = BTreeSet::new();
                let mut repeated = None;
                while let Some(Name(key)) = map.next_key::<Name<'de>>()? {
                    // Read to the end even after a repeat: the body must still be one JSON object.
                    let value = map.next_value::<Scalar<'de>>()?;
                    if repeated.is_some() {
                        continue;
                    }
                    if keys.contains(&key) {
                        repeated = Some(duplicate(&key));
                        continue;
                    }
                    if let Scalar::Text(v) = value {
                        out.insert(key.clone().into_owned(), v.into_owned());
                    }
                    keys.insert(key);
                }
                Ok(Members(repeated.map_or(Ok(out), Err)))
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
    /// An item changed (`*::update`): its doc follows a new name, its card the fields it
    /// shows. The new values are not in the delivery (only `old_*` and `change_fields`), so
    /// the item is fetched again.
    Update { workspace: WorkspaceId, kind: ItemKind, id: ItemId, changes: ItemChanges },
    /// An item moved in its workflow (`story|bug::status_change`): its card shows the status
    /// a fresh read gives (and close-out follows it), never the delivery's.
    StatusChange { workspace: WorkspaceId, kind: ItemKind, id: ItemId, old_status: Option<String> },
    /// An item was deleted.
    Delete { workspace: WorkspaceId, kind: ItemKind, id: ItemId },
    /// An iteration was made, changed (renamed) or deleted: the names the product keeps of it
    /// are read again, and its folder follows.
    Iteration { workspace: WorkspaceId, id: IterationId, change: IterationChange },
    /// Anything else: acknowledged, nothing done.
    Ignore,
}

/// What a delivery says about some of an item's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `change_fields` names one of them.
    Changed,
    /// `change_fields` lists other fields only: nothing to do for them.
    Unchanged,
    /// No `change_fields`: compare with what TAPD shows now.
    Unknown,
}

/// What an update delivery says about the item's name (its doc's title follows it).
pub type NameChange = Change;

/// The fields the card shows (`name`/`title`, status, owner(s), priority, iteration), as TAPD
/// names them in `change_fields`.
pub const CARD_FIELDS: [&str; 7] = ["name", "title", "status", "owner", "current_owner", "priority", "iteration_id"];

/// What an update delivery says changed: its `change_fields` read against what the product
/// shows, and the one old value acted on (`old_status`), kept only as a hint for logs:
/// the product renders from a fresh read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemChanges {
    pub name: Change,
    pub card: Change,
    pub status: Change,
    pub old_status: Option<String>,
}

impl ItemChanges {
    /// Everything may have changed (no `change_fields`): the doc and card are compared with
    /// what TAPD shows now.
    pub const UNKNOWN: ItemChanges =
        ItemChanges { name: Change::Unknown, card: Change::Unknown, status: Change::Unknown, old_status: None };

    fn read(fields: &BTreeMap<String, String>) -> Self {
        let old_status = fields.get("old_status").filter(|s| !s.is_empty()).map(|s| s.chars().take(64).collect());
        let Some(list) = fields.get("change_fields").map(|f| f.trim()).filter(|f| !f.is_empty()) else {
            return ItemChanges { old_status, ..Self::UNKNOWN };
        };
        let listed: BTreeSet<&str> = list.split(',').map(str::trim).collect();
        let any =
            |names: &[&str]| if names.iter().any(|n| listed.contains(n)) { Change::Changed } else { Change::Unchanged };
        ItemChanges { name: any(&["name", "title"]), card: any(&CARD_FIELDS), status: any(&["status"]), old_status }
    }
}

/// What an `iteration::*` delivery says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IterationChange {
    Created,
    /// `renamed`: whether `change_fields` (or an `old_name` that differs from nothing) names it.
    Updated {
        renamed: Change,
    },
    Deleted,
}

impl TapdEvent {
    /// Reads an authenticated delivery. Events we act on must name a valid workspace and
    /// item; other events are only acknowledged, so their fields are not checked.
    pub fn from_fields(fields: &BTreeMap<String, String>, link_tasks: bool) -> Result<Self, BodyError> {
        let event = fields.get("event").cloned().ok_or(BodyError::Malformed("no `event` field"))?;
        let event_id = fields.get("event_id").filter(|e| !e.is_empty()).map(|e| e.chars().take(64).collect());
        let (subject, verb) = event.split_once("::").unwrap_or((event.as_str(), ""));
        if subject == "iteration" && matches!(verb, "create" | "update" | "delete") {
            let workspace = workspace_of(fields)?;
            let id = fields
                .get("id")
                .and_then(|i| IterationId::parse(i).ok())
                .ok_or(BodyError::Malformed("missing or invalid `id`"))?;
            let change = match verb {
                "create" => IterationChange::Created,
                "update" => IterationChange::Updated { renamed: iteration_renamed(fields) },
                _ => IterationChange::Deleted,
            };
            return Ok(Self { event, event_id, action: Action::Iteration { workspace, id, change } });
        }
        let kind = match subject {
            "story" => Some(ItemKind::Story),
            "bug" => Some(ItemKind::Bug),
            "task" if link_tasks => Some(ItemKind::Task),
            _ => None,
        };
        let status_change = verb == "status_change" && kind != Some(ItemKind::Task);
        let Some(kind) = kind.filter(|_| matches!(verb, "create" | "update" | "delete") || status_change) else {
            return Ok(Self { event, event_id, action: Action::Ignore });
        };
        let workspace = workspace_of(fields)?;
        let id = fields
            .get("id")
            .and_then(|i| ItemId::parse(i).ok())
            .ok_or(BodyError::Malformed("missing or invalid `id`"))?;
        let action = match verb {
            "create" => Action::Link { workspace, kind, id },
            "update" => Action::Update { workspace, kind, id, changes: ItemChanges::read(fields) },
            "status_change" => {
                let old_status = ItemChanges::read(fields).old_status;
                Action::StatusChange { workspace, kind, id, old_status }
            }
            _ => Action::Delete { workspace, kind, id },
        };
        Ok(Self { event, event_id, action })
    }
}

fn workspace_of(fields: &BTreeMap<String, String>) -> Result<WorkspaceId, BodyError> {
    fields
        .get("workspace_id")
        .and_then(|w| WorkspaceId::parse(w).ok())
        .ok_or(BodyError::Malformed("missing or invalid `workspace_id`"))
}

/// An `iteration::update` renames when `change_fields` names `name`, or (without
/// `change_fields`) when it carries an `old_name`.
fn iteration_renamed(fields: &BTreeMap<String, String>) -> Change {
    match fields.get("change_fields").map(|f| f.trim()).filter(|f| !f.is_empty()) {
        Some(list) if list.split(',').any(|f| f.trim() == "name") => Change::Changed,
        Some(_) => Change::Unchanged,
        None if fields.contains_key("old_name") => Change::Changed,
        None => Change::Unknown,
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
    fn credentials_are_read_alone_and_agree_with_the_whole_reading() {
        let c = credentials("application/json", SAMPLE.as_bytes()).unwrap();
        assert_eq!(c.secret.as_deref(), Some("s3cret"));
        assert!(matches!(c.workspace_id, Some(Cow::Borrowed("20003271"))), "borrowed from the body");
        let c = credentials("", br#"{"workspace_id":20003271,"s\u0065cret":"a\"b","x":[{"secret":"no"}]}"#).unwrap();
        assert_eq!((c.secret.as_deref(), c.workspace_id.as_deref()), (Some("a\"b"), Some("20003271")));
        let c = credentials("application/form", b"a=1&secret=s%26t&workspace_id=7&a=2").unwrap();
        assert_eq!((c.secret.as_deref(), c.workspace_id.as_deref()), (Some("s&t"), Some("7")));
        // Not text: no secret, as the whole reading drops it.
        let c = credentials("", br#"{"secret":{"a":1},"workspace_id":null}"#).unwrap();
        assert_eq!(c, Credentials::default());
        for body in [SAMPLE, FULL_STORY, LEGACY_BUG.trim()] {
            let (c, all) = (credentials("", body.as_bytes()).unwrap(), parse_body("", body.as_bytes()).unwrap());
            assert_eq!(c.secret.as_deref(), all.get("secret").map(String::as_str));
            assert_eq!(c.workspace_id.as_deref(), all.get("workspace_id").map(String::as_str));
        }
    }

    #[test]
    fn credentials_refuse_what_the_whole_reading_refuses() {
        for dup in [&br#"{"secret":"a","secret":"b"}"#[..], br#"{"secret":{},"secret":"b"}"#, b"secret=a&secret=b"] {
            assert!(matches!(credentials("", dup), Err(BodyError::Duplicate(_))), "{dup:?}");
            assert!(matches!(parse_body("", dup), Err(BodyError::Duplicate(_))), "{dup:?}");
        }
        assert_eq!(credentials("application/json", b"[1]"), Err(BodyError::Malformed("not a JSON object")));
        assert_eq!(credentials("application/json", b"{\"secret\":\"a\""), Err(BodyError::Malformed("invalid JSON")));
        assert_eq!(credentials("application/json", b"{} x"), Err(BodyError::Malformed("invalid JSON")));
        assert_eq!(credentials("text/xml", b"<a/>"), Err(BodyError::UnsupportedType));
        assert_eq!(credentials("", &vec![b'{'; MAX_BODY + 1]), Err(BodyError::TooLarge));
        assert!(credentials("application/x-www-form-urlencoded", b" ").is_err());
        assert!(credentials("application/json", b"{\"a\":\"\xff\"}").is_err());
    }

    #[test]
    fn values_nested_deeper_than_any_recursion_limit_are_skipped_unread() {
        let depth = 1_000_000;
        let body = format!(r#"{{"a":{}{},"secret":"x"}}"#, "[".repeat(depth), "]".repeat(depth));
        assert_eq!(credentials("", body.as_bytes()).unwrap().secret.as_deref(), Some("x"));
        // Under `secret` itself too: a value that is not text is no secret.
        let body = format!(r#"{{"secret":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        assert_eq!(credentials("", body.as_bytes()).unwrap(), Credentials::default());
    }

    #[test]
    fn tasks_are_linked_only_when_enabled_and_other_events_are_ignored() {
        let f = parse_body("", b"event=task%3A%3Acreate&workspace_id=1&id=2").unwrap();
        assert_eq!(TapdEvent::from_fields(&f, false).unwrap().action, Action::Ignore);
        assert!(matches!(TapdEvent::from_fields(&f, true).unwrap().action, Action::Link { .. }));
        let f = parse_body("", b"event=task%3A%3Astatus_change&workspace_id=1&id=2").unwrap();
        assert_eq!(TapdEvent::from_fields(&f, true).unwrap().action, Action::Ignore);
        let f = parse_body("", b"event=iteration%3A%3Aclose&workspace_id=1&id=2").unwrap();
        assert_eq!(TapdEvent::from_fields(&f, true).unwrap().action, Action::Ignore);
        let f = parse_body("", b"event=launchform%3A%3Acreate").unwrap();
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

    fn changes_of(body: &[u8]) -> ItemChanges {
        let f = parse_body("", body).unwrap();
        match TapdEvent::from_fields(&f, false).unwrap().action {
            Action::Update { changes, .. } => changes,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn updates_and_deletes_name_their_item_and_what_changed() {
        let c = changes_of(b"event=story%3A%3Aupdate&workspace_id=1&id=2&change_fields=name%2Cowner");
        assert_eq!((c.name, c.card, c.status), (Change::Changed, Change::Changed, Change::Unchanged));
        let c = changes_of(b"event=bug%3A%3Aupdate&workspace_id=1&id=2&change_fields=status&old_status=new");
        assert_eq!((c.name, c.card, c.status), (Change::Unchanged, Change::Changed, Change::Changed));
        assert_eq!(c.old_status.as_deref(), Some("new"));
        let c = changes_of(b"event=bug%3A%3Aupdate&workspace_id=1&id=2&change_fields=description%2Cmodified");
        assert_eq!((c.name, c.card, c.status), (Change::Unchanged, Change::Unchanged, Change::Unchanged));
        for field in ["current_owner", "priority", "iteration_id", "title"] {
            let body = format!("event=bug%3A%3Aupdate&workspace_id=1&id=2&change_fields=modified%2C{field}");
            assert_eq!(changes_of(body.as_bytes()).card, Change::Changed, "{field}");
        }
        assert_eq!(changes_of(b"event=bug%3A%3Aupdate&workspace_id=1&id=2"), ItemChanges::UNKNOWN);
        let f = parse_body("", b"event=story%3A%3Adelete&workspace_id=1&id=2").unwrap();
        assert!(matches!(TapdEvent::from_fields(&f, false).unwrap().action, Action::Delete { .. }));
    }

    const STORY_UPDATE: &str = include_str!("../../tests/fixtures/tapd/webhook_story_update.json");

    #[test]
    fn the_documented_update_delivery_touches_the_card_and_the_status() {
        let f = parse_body("application/json", STORY_UPDATE.as_bytes()).unwrap();
        let e = TapdEvent::from_fields(&f, false).unwrap();
        let Action::Update { workspace, kind, id, changes } = e.action else { panic!("{e:?}") };
        assert_eq!((workspace.as_str(), kind, id.as_str()), ("20375001", ItemKind::Story, "1120375001001000101"));
        assert_eq!((changes.name, changes.card, changes.status), (Change::Unchanged, Change::Changed, Change::Changed));
        assert_eq!(changes.old_status.as_deref(), Some("planning"));
    }

    #[test]
    fn status_changes_and_iterations_are_typed() {
        let f = parse_body("", b"event=bug%3A%3Astatus_change&workspace_id=1&id=2&old_status=new").unwrap();
        let a = TapdEvent::from_fields(&f, false).unwrap().action;
        assert!(
            matches!(&a, Action::StatusChange { kind: ItemKind::Bug, old_status: Some(s), .. } if s == "new"),
            "{a:?}"
        );
        let f = parse_body("", b"event=story%3A%3Astatus_change&workspace_id=1").unwrap();
        assert!(TapdEvent::from_fields(&f, false).is_err(), "an item event names its item");
        for (body, change) in [
            (&b"event=iteration%3A%3Acreate&workspace_id=1&id=3"[..], IterationChange::Created),
            (
                b"event=iteration%3A%3Aupdate&workspace_id=1&id=3&old_name=S1",
                IterationChange::Updated { renamed: Change::Changed },
            ),
            (
                b"event=iteration%3A%3Aupdate&workspace_id=1&id=3&change_fields=enddate",
                IterationChange::Updated { renamed: Change::Unchanged },
            ),
            (b"event=iteration%3A%3Aupdate&workspace_id=1&id=3", IterationChange::Updated { renamed: Change::Unknown }),
            (b"event=iteration%3A%3Adelete&workspace_id=1&id=3", IterationChange::Deleted),
        ] {
            let f = parse_body("", body).unwrap();
            let a = TapdEvent::from_fields(&f, false).unwrap().action;
            assert!(
                matches!(&a, Action::Iteration { id, change: c, .. } if id.as_str() == "3" && *c == change),
                "{a:?}"
            );
        }
        let f = parse_body("", b"event=iteration%3A%3Aupdate&workspace_id=1&id=..").unwrap();
        assert!(TapdEvent::from_fields(&f, false).is_err());
    }
}
