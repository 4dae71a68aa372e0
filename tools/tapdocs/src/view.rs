//! Output: tables for people, JSON for scripts, progress bars on long operations.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shared::time::{now_millis, tapd_time};

/// A table with the given header, wrapped to the terminal when there is one.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(header);
    if let Some(width) = terminal_width() {
        t.set_width(width);
    }
    t
}

fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|&w: &u16| w >= 40)
}

/// A time (ms) as TAPD shows it: Beijing time, to the second. `-` for none.
pub fn when(ms: Option<u64>) -> String {
    match ms.filter(|&m| m > 0) {
        Some(ms) => format!("{} ({} ago)", tapd_time(ms), age(now_millis().saturating_sub(ms))),
        None => "-".to_owned(),
    }
}

/// A duration (ms), roughly: `45s`, `12m`, `3h 20m`, `2d 4h`.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Cuts a long text (an error from upstream) for a table cell.
pub fn short(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut out: String = one_line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialize"));
}

/// A progress bar on stderr, shown only to a person at a terminal (never with `--json`).
/// `len`: the expected total, if known (else a spinner with a count).
pub fn progress(show: bool, len: Option<u64>, what: &str) -> ProgressBar {
    let target = if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = match len {
        Some(len) => ProgressBar::with_draw_target(Some(len), target).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
                .expect("valid template")
                .progress_chars("=> "),
        ),
        None => ProgressBar::with_draw_target(None, target)
            .with_style(ProgressStyle::with_template("{spinner} {msg}: {pos} ({elapsed})").expect("valid template")),
    };
    bar.set_message(what.to_owned());
    bar
}
