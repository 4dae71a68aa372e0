//! Changing a workspace's own settings: raw input (a CLI flag, a form field) checked once, with
//! the field and the reason for anything refused.

use std::fmt;

use crate::config::{DocType, FolderLayout};
use crate::ids::ItemKind;
use crate::store::{PermissionSetting, WorkspaceSettings};

/// The placeholders a title template may use (see `render_title`).
pub const TITLE_PLACEHOLDERS: [&str; 4] = ["{name}", "{id}", "{kind}", "{workspace_id}"];

/// A setting by name, as the CLI's `--unset` and the console's forms name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    FolderLayout,
    Permission,
    TitleTemplate,
    DocType(ItemKind),
    Template(ItemKind),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::FolderLayout => f.write_str("folder-layout"),
            Field::Permission => f.write_str("permission"),
            Field::TitleTemplate => f.write_str("title-template"),
            Field::DocType(k) => write!(f, "doc-type.{}", k.as_str()),
            Field::Template(k) => write!(f, "template.{}", k.as_str()),
        }
    }
}

impl std::str::FromStr for Field {
    type Err = Problem;
    fn from_str(raw: &str) -> Result<Self, Problem> {
        let kind = |k: &str| ItemKind::parse(k).ok_or(Problem::UnknownKind);
        match raw.split_once('.') {
            None if raw == "folder-layout" => Ok(Field::FolderLayout),
            None if raw == "permission" => Ok(Field::Permission),
            None if raw == "title-template" => Ok(Field::TitleTemplate),
            Some(("doc-type", k)) => kind(k).map(Field::DocType),
            Some(("template", k)) => kind(k).map(Field::Template),
            _ => Err(Problem::NoSuchSetting),
        }
    }
}

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NoSuchSetting,
    UnknownKind,
    Empty,
    NotOneOf(&'static [&'static str]),
    UnknownPlaceholder(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoSuchSetting => f.write_str(
                "no such setting (one of folder-layout, permission, title-template, doc-type.KIND, template.KIND)",
            ),
            Problem::UnknownKind => f.write_str("the kind is story, bug or task"),
            Problem::Empty => f.write_str("no value (unset it to go back to the deployment's)"),
            Problem::NotOneOf(allowed) => write!(f, "not one of {}", allowed.join(", ")),
            Problem::UnknownPlaceholder(p) => {
                write!(f, "{p} is not a placeholder (use {})", TITLE_PLACEHOLDERS.join(", "))
            }
        }
    }
}

/// A refused change: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The field as named in the input (`doc-type.epic` stays as given when the kind is unknown).
    pub field: String,
    pub problem: Problem,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for SettingError {}

/// A change to a workspace's settings, as given: values are checked by [`SettingsChange::apply`].
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    pub folder_layout: Option<String>,
    pub permission: Option<String>,
    pub title_template: Option<String>,
    /// (kind, doc type) pairs.
    pub doc_types: Vec<(String, String)>,
    /// (kind, template file id) pairs.
    pub templates: Vec<(String, String)>,
    /// Settings going back to the deployment's, by [`Field`] name.
    pub unset: Vec<String>,
}

const LAYOUTS: &[&str] = &["none", "workspace", "iteration"];
const PERMISSIONS: &[&str] = &["private", "members", "publicRead", "publicWrite", "default"];

fn refuse(field: impl ToString, problem: Problem) -> SettingError {
    SettingError { field: field.to_string(), problem }
}

/// The kind of a per-kind pair (case and spaces forgiven, as the CLI always has).
fn kind_of(field: &str, raw: &str) -> Result<ItemKind, SettingError> {
    ItemKind::parse(&raw.trim().to_ascii_lowercase())
        .ok_or_else(|| refuse(format!("{field}.{raw}"), Problem::UnknownKind))
}

/// A title template's problem, if any: empty, or a `{…}` that is not a placeholder (it would
/// show in every title as typed).
pub fn check_title_template(t: &str) -> Result<(), Problem> {
    if t.trim().is_empty() {
        return Err(Problem::Empty);
    }
    // Only `{word}` reads as a placeholder; other braces are text.
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let word_len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        if word_len > 0 && after[word_len..].starts_with('}') {
            let placeholder = &rest[open..open + word_len + 2];
            if !TITLE_PLACEHOLDERS.contains(&placeholder) {
                return Err(Problem::UnknownPlaceholder(placeholder.to_owned()));
            }
        }
        rest = after;
    }
    Ok(())
}

impl SettingsChange {
    /// `settings` with the change made, or the first field refused. Unsets come first, so a
    /// change may unset and set in one go.
    pub fn apply(&self, mut settings: WorkspaceSettings) -> Result<WorkspaceSettings, SettingError> {
        for name in &self.unset {
            match name.parse::<Field>().map_err(|p| refuse(name, p))? {
                Field::FolderLayout => settings.folder_layout = None,
                Field::Permission => settings.doc_permission = None,
                Field::TitleTemplate => settings.title_template = None,
                Field::DocType(k) => {
                    settings.doc_types.remove(&k);
                }
                Field::Template(k) => {
                    settings.templates.remove(&k);
                }
            }
        }
        if let Some(l) = &self.folder_layout {
            let layout =
                l.parse::<FolderLayout>().map_err(|()| refuse(Field::FolderLayout, Problem::NotOneOf(LAYOUTS)))?;
            settings.folder_layout = Some(layout);
        }
        if let Some(p) = &self.permission {
            let p = p
                .parse::<PermissionSetting>()
                .map_err(|()| refuse(Field::Permission, Problem::NotOneOf(PERMISSIONS)))?;
            settings.doc_permission = Some(p);
        }
        if let Some(t) = &self.title_template {
            check_title_template(t).map_err(|p| refuse(Field::TitleTemplate, p))?;
            settings.title_template = Some(t.clone());
        }
        for (kind, t) in &self.doc_types {
            let kind = kind_of("doc-type", kind)?;
            let t = t.trim();
            if t.is_empty() {
                return Err(refuse(Field::DocType(kind), Problem::Empty));
            }
            let t = t
                .parse::<DocType>()
                .map_err(|()| refuse(Field::DocType(kind), Problem::NotOneOf(&crate::config::DOC_TYPES)))?;
            settings.doc_types.insert(kind, t);
        }
        for (kind, id) in &self.templates {
            let kind = kind_of("template", kind)?;
            let id = id.trim();
            if id.is_empty() {
                return Err(refuse(Field::Template(kind), Problem::Empty));
            }
            settings.templates.insert(kind, id.to_owned());
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DocPermission;

    fn change() -> SettingsChange {
        SettingsChange::default()
    }

    #[test]
    fn valid_values_are_typed() {
        let s = SettingsChange {
            folder_layout: Some("iteration".into()),
            permission: Some("publicRead".into()),
            title_template: Some("[{kind}] {name} #{id}".into()),
            doc_types: vec![("Bug".into(), "sheet".into())],
            templates: vec![("story".into(), "300000000$abc".into())],
            unset: vec![],
        }
        .apply(WorkspaceSettings::default())
        .unwrap();
        assert_eq!(s.folder_layout, Some(FolderLayout::Iteration));
        assert_eq!(s.doc_permission, Some(PermissionSetting::Policy(DocPermission::PublicRead)));
        assert_eq!(s.doc_type(ItemKind::Bug), Some(DocType::Sheet));
        assert_eq!(s.template(ItemKind::Story), Some("300000000$abc"));
        let s = SettingsChange { permission: Some("default".into()), ..change() }.apply(s).unwrap();
        assert_eq!(s.doc_permission, Some(PermissionSetting::TencentDefault));
        let s =
            SettingsChange { unset: vec!["doc-type.bug".into(), "permission".into()], ..change() }.apply(s).unwrap();
        assert_eq!((s.doc_type(ItemKind::Bug), s.doc_permission), (None, None));
    }

    #[test]
    fn refusals_name_the_field_and_the_reason() {
        let refused = |c: SettingsChange| c.apply(WorkspaceSettings::default()).unwrap_err();
        let e = refused(SettingsChange { folder_layout: Some("flat".into()), ..change() });
        assert_eq!(e.to_string(), "folder-layout: not one of none, workspace, iteration");
        let e = refused(SettingsChange { doc_types: vec![("epic".into(), "doc".into())], ..change() });
        assert_eq!((e.field.as_str(), e.problem), ("doc-type.epic", Problem::UnknownKind));
        let e = refused(SettingsChange { doc_types: vec![("bug".into(), "pdf".into())], ..change() });
        assert_eq!(e.field, "doc-type.bug");
        assert!(e.to_string().contains("smartsheet"), "{e}");
        let e = refused(SettingsChange { unset: vec!["colour".into()], ..change() });
        assert_eq!(e.problem, Problem::NoSuchSetting);
        let e = refused(SettingsChange { title_template: Some("  ".into()), ..change() });
        assert_eq!((e.field.as_str(), e.problem), ("title-template", Problem::Empty));
        let e = refused(SettingsChange { title_template: Some("{title} ({id})".into()), ..change() });
        assert_eq!(e.problem, Problem::UnknownPlaceholder("{title}".into()));
    }

    #[test]
    fn braces_without_a_placeholder_name_pass_through() {
        assert_eq!(check_title_template("{name} {"), Ok(()));
        assert_eq!(check_title_template("} {workspace_id}-{id}"), Ok(()));
        assert_eq!(check_title_template("{a {name} {} {x y}"), Ok(()));
    }
}
