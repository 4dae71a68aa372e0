//! What the webhook writes for people: the doc's first paragraph (plain text, linking back
//! to the item) and the comment on the item (HTML, as TAPD renders comments). The words
//! come from `text`, in the deployment's `LANGUAGE`.

use crate::config::IntroField;
use crate::ids::ItemKind;
use crate::tapd::TapdItem;
use crate::text::{self, Lang, escape_html};

/// Descriptions are cut to this many characters in the doc: the doc is for new writing,
/// the item keeps the whole description.
pub const DESCRIPTION_MAX_CHARS: usize = 500;

/// The doc's first paragraph: kind, id and name, the item's URL, then the configured extras.
pub fn intro_text(lang: Lang, kind: ItemKind, item: &TapdItem, item_url: &str, fields: &[IntroField]) -> String {
    let labels = text::intro_labels(lang);
    let sep = if lang == Lang::ZhCn { "：" } else { ": " };
    let mut out = format!(
        "TAPD {} #{}{sep}{}\n{}{sep}{item_url}\n",
        text::kind_name(lang, kind),
        item.id,
        item.name,
        labels.open_in_tapd
    );
    for field in fields {
        let (label, value) = match field {
            IntroField::Owner => (labels.owner, item.owner.trim_end_matches(';').replace(';', ", ")),
            IntroField::Priority => (labels.priority, item.priority.clone()),
            IntroField::Iteration => (labels.iteration, item.iteration_id.clone()),
            IntroField::Description => (labels.description, html_to_text(&item.description, DESCRIPTION_MAX_CHARS)),
        };
        let value = value.trim();
        if value.is_empty() || value == "0" {
            continue;
        }
        if *field == IntroField::Description {
            out.push_str(&format!("{label}{sep}\n{value}\n"));
        } else {
            out.push_str(&format!("{label}{sep}{value}\n"));
        }
    }
    out
}

/// The comment: a short sentence with the doc's title as a link.
pub fn comment_html(lang: Lang, kind: ItemKind, doc_url: &str, doc_title: &str) -> String {
    format!(
        "<p>{}<a href=\"{}\" target=\"_blank\" rel=\"noopener\">{}</a></p>",
        escape_html(&text::comment_lead(lang, kind)),
        escape_html(doc_url),
        escape_html(doc_title)
    )
}

/// TAPD's HTML as plain doc text, at most `max` characters: tags dropped (scripts and
/// styles with their content), block ends and `<br>` as line breaks, table cells separated,
/// the common entities decoded, blank runs collapsed. The result is inserted as text, so
/// nothing in it is ever interpreted as markup.
pub fn html_to_text(html: &str, max: usize) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while !rest.is_empty() {
        if let Some(end) = skip_until {
            match find_ascii_ci(rest, end) {
                Some(i) => {
                    rest = &rest[i..];
                    skip_until = None;
                }
                None => break,
            }
            continue;
        }
        match rest.find('<') {
            Some(0) => {
                let close = rest.find('>').map_or(rest.len(), |i| i + 1);
                let tag = rest[1..close.saturating_sub(1).max(1)].trim().to_ascii_lowercase();
                let name: String =
                    tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
                let closing = tag.starts_with('/');
                match name.as_str() {
                    "br" => out.push('\n'),
                    "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" if closing => {
                        out.push('\n')
                    }
                    "table" | "ul" | "ol" => out.push('\n'),
                    "td" | "th" if tag.starts_with('/') => out.push('\t'),
                    "script" | "style" if !tag.starts_with('/') => {
                        skip_until = Some(if name == "script" { "</script" } else { "</style" })
                    }
                    _ => {}
                }
                rest = &rest[close..];
            }
            Some(i) => {
                out.push_str(&decode_entities(&rest[..i]));
                rest = &rest[i..];
            }
            None => {
                out.push_str(&decode_entities(rest));
                rest = "";
            }
        }
        if out.chars().count() > max * 2 {
            break;
        }
    }
    // Collapse: trim each line and each cell, drop blank lines.
    let mut lines: Vec<String> = Vec::new();
    for line in out.lines() {
        let cells: Vec<String> = line.split('\t').map(|c| c.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        let line = cells.join("\t").trim_matches(|c: char| c == '\t' || c == ' ').to_owned();
        // Docs get their text as lines; blank runs from nested blocks add nothing.
        if line.is_empty() {
            continue;
        }
        lines.push(line);
    }
    let text = lines.join("\n");
    if text.chars().count() > max { format!("{}…", super::cut_chars(&text, max).trim_end()) } else { text }
}

fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ItemId;

    fn item() -> TapdItem {
        TapdItem {
            id: ItemId::parse("1120355782001071295").unwrap(),
            name: "按月导出成本报表".into(),
            description: "<p>作为<b>财务</b>人员&nbsp;我希望&lt;按月&gt;导出</p><script>alert(1)</script><table><tr><td>a</td><td>b</td></tr></table>".into(),
            owner: "v_xuanfang;anyechen;".into(),
            priority: "High".into(),
            iteration_id: "0".into(),
            created: "2026-11-28 19:08:06".into(),
            status: "planning".into(),
            workitem_type_id: String::new(),
        }
    }

    #[test]
    fn the_intro_names_the_item_and_links_back_in_both_languages() {
        let all = [IntroField::Owner, IntroField::Priority, IntroField::Iteration, IntroField::Description];
        let zh = intro_text(Lang::ZhCn, ItemKind::Story, &item(), "https://www.tapd.cn/1/prong/stories/view/2", &all);
        assert!(
            zh.starts_with("TAPD 需求 #1120355782001071295：按月导出成本报表\n在 TAPD 中查看：https://www.tapd.cn/"),
            "{zh}"
        );
        assert!(zh.contains("处理人：v_xuanfang, anyechen\n"), "{zh}");
        assert!(!zh.contains("迭代"), "an empty iteration (`0`) is left out: {zh}");
        assert!(zh.contains("作为财务人员 我希望<按月>导出"), "{zh}");
        assert!(!zh.contains("alert"), "{zh}");
        let en = intro_text(Lang::En, ItemKind::Bug, &item(), "u", &[]);
        assert_eq!(en, "TAPD bug #1120355782001071295: 按月导出成本报表\nOpen in TAPD: u\n");
    }

    #[test]
    fn the_comment_is_a_link_titled_by_the_doc() {
        let html = comment_html(Lang::ZhCn, ItemKind::Bug, "https://docs.qq.com/doc/DZm?a=1&b=2", "<标题>");
        assert_eq!(
            html,
            "<p>已为此缺陷创建腾讯文档：<a href=\"https://docs.qq.com/doc/DZm?a=1&amp;b=2\" target=\"_blank\" rel=\"noopener\">&lt;标题&gt;</a></p>"
        );
        assert!(comment_html(Lang::En, ItemKind::Story, "u", "t").starts_with("<p>Tencent Doc for this story: <a "));
    }

    #[test]
    fn descriptions_are_cut_on_characters_and_tables_keep_their_cells() {
        let long = format!("<p>{}</p>", "预算说明".repeat(300));
        let t = html_to_text(&long, 500);
        assert_eq!(t.chars().count(), 501);
        assert!(t.ends_with('…'));
        assert_eq!(html_to_text("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", 50), "a\tb\nc");
        assert_eq!(html_to_text("x<br>y<BR/>z", 50), "x\ny\nz");
        assert_eq!(html_to_text("<p>unclosed <b", 50), "unclosed");
        let fixture = include_str!("../../../tests/fixtures/tapd/webhook_story_create_full.json");
        let v: serde_json::Value = serde_json::from_str(fixture).unwrap();
        let t = html_to_text(v["description"].as_str().unwrap(), DESCRIPTION_MAX_CHARS);
        assert!(t.starts_with("作为财务人员，我希望按月导出成本报表。\n部门 0\t负责人 0\t"), "{t}");
    }
}
