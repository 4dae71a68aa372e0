//! Doc titles: rendered from a template, cut on character boundaries (CJK titles are the norm).

use crate::ids::{ItemId, ItemKind, WorkspaceId};
pub use crate::tdoc::TITLE_MAX_CHARS;

/// At most `max` characters of `s`, never splitting a character.
pub fn cut_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((byte, _)) => &s[..byte],
        None => s,
    }
}

/// `{name}`, `{id}`, `{kind}` and `{workspace_id}` are replaced; control characters are
/// dropped; an empty result falls back to `TAPD <kind> <id>`.
pub fn render_title(template: &str, name: &str, kind: ItemKind, id: &ItemId, ws: &WorkspaceId) -> String {
    render_title_within(template, name, kind, id, ws, TITLE_MAX_CHARS)
}

fn render_title_within(
    template: &str,
    name: &str,
    kind: ItemKind,
    id: &ItemId,
    ws: &WorkspaceId,
    max: usize,
) -> String {
    let rendered = template
        .replace("{id}", id.as_str())
        .replace("{kind}", kind.as_str())
        .replace("{workspace_id}", ws.as_str())
        .replace("{name}", name);
    let clean: String = rendered.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let title = cut_chars(clean.trim(), max).trim_end();
    if title.is_empty() {
        // Cut and trimmed like any title (found by the property tests: a cut could end on
        // the space before the id).
        cut_chars(&format!("TAPD {} {}", kind.as_str(), id), max).trim_end().to_owned()
    } else {
        title.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_titles_are_cut_on_characters() {
        let name = "需求：支持在腾讯文档中自动创建与TAPD需求关联的文档并回写链接到评论区以便团队协作与追踪";
        let id = ItemId::parse("1").unwrap();
        let ws = WorkspaceId::parse("2").unwrap();
        let t = render_title("{name}", name, ItemKind::Story, &id, &ws);
        assert_eq!(t.chars().count(), 36);
        assert!(name.starts_with(&t));
        assert_eq!(render_title("{name}", " \n ", ItemKind::Bug, &id, &ws), "TAPD bug 1");
        assert_eq!(render_title("[{kind}#{id}] {name}", "a\tb", ItemKind::Bug, &id, &ws), "[bug#1] a b");
        assert_eq!(cut_chars("👍🏽x", 1), "👍");
        assert_eq!(render_title_within("", "", ItemKind::Story, &id, &ws, 11), "TAPD story");
    }
}
