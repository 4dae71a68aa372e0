//! Lambda process plumbing shared by both functions: logging and init failures.

use std::fmt::Display;

/// JSON log lines (one object per line) in Lambda, with the current span's fields, so the
/// `requestId` that lambda_runtime puts on its invocation span is on every line.
/// `LOG_FORMAT=text` gives readable lines for local runs. Level: `AWS_LAMBDA_LOG_LEVEL`,
/// then `RUST_LOG`, else `info`; `lambda_runtime` never logs below DEBUG (its TRACE lines
/// carry whole events, secrets included).
pub fn init_tracing() {
    use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt};
    let level =
        std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into());
    let filter = log_filter(&level);
    let text = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if text {
        registry.with(fmt::layer().with_target(false).with_writer(std::io::stdout)).try_init()
    } else {
        let json = fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false);
        registry.with(json.with_target(false).with_writer(std::io::stdout)).try_init()
    };
}

/// `RUST_LOG`-style directives (`info`, `debug,shared=trace`), case-insensitive; anything
/// unreadable means `info`. `Targets` rather than `EnvFilter`: the same `target=level` syntax
/// without span-field filters, and without the regex engine (a tenth of the bootstrap).
fn log_filter(directives: &str) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let parsed: Targets =
        directives.to_lowercase().parse().unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    // At TRACE, lambda_runtime logs every raw event: webhook secrets, OAuth codes and states
    // (found by the log-secrets suite). Its targets are capped at DEBUG, whatever was asked.
    let capped = |target: &str, level: LevelFilter| {
        if target.starts_with("lambda_runtime") { level.min(LevelFilter::DEBUG) } else { level }
    };
    let mut filter = Targets::new().with_targets(parsed.iter().map(|(t, l)| (t.to_owned(), capped(t, l))));
    if let Some(default) = parsed.default_level() {
        filter = filter.with_default(default).with_target("lambda_runtime", capped("lambda_runtime", default));
    }
    filter
}

/// Stops the process at init with one clear line, reported to the Runtime API's
/// `/runtime/init/error` so Lambda shows it as the init failure. No panic, no backtrace.
pub async fn fail_init(error: impl Display) -> ! {
    let message = error.to_string();
    tracing::error!(error = %message, "init failed");
    eprintln!("{message}");
    if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
        let body = serde_json::json!({ "errorMessage": message, "errorType": "Runtime.InvalidConfiguration" });
        // The project's client: a bare `reqwest::Client::new()` has no TLS provider to pick.
        let _ = crate::upstream::http_client(std::time::Duration::from_secs(2))
            .post(format!("http://{api}/2018-06-01/runtime/init/error"))
            .header("Lambda-Runtime-Function-Error-Type", "Runtime.InvalidConfiguration")
            .json(&body)
            .send()
            .await;
    }
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn trace_never_reaches_lambda_runtime() {
        for asked in ["trace", "TRACE", "info,lambda_runtime=trace", "info,lambda_runtime::layers=trace"] {
            let filter = log_filter(asked);
            assert!(!filter.would_enable("lambda_runtime::layers::trace", &Level::TRACE), "{asked}");
            assert!(!filter.would_enable("lambda_runtime_api_client", &Level::TRACE), "{asked}");
        }
        assert!(log_filter("trace").would_enable("shared::link", &Level::TRACE));
        assert!(log_filter("trace").would_enable("lambda_runtime", &Level::DEBUG));
    }

    #[test]
    fn unreadable_or_missing_levels_mean_info() {
        for asked in ["info", "nonsense=?=", "shared=verbose"] {
            let filter = log_filter(asked);
            assert!(filter.would_enable("shared", &Level::INFO), "{asked}");
            assert!(!filter.would_enable("shared", &Level::DEBUG), "{asked}");
        }
        assert!(log_filter("warn").would_enable("oauth", &Level::WARN));
        assert!(!log_filter("warn").would_enable("oauth", &Level::INFO));
    }
}
