//! Lambda process plumbing shared by both functions: logging and init failures.

use std::fmt::Display;

/// JSON log lines (one object per line) in Lambda, with the current span's fields, so the
/// `requestId` that lambda_runtime puts on its invocation span is on every line.
/// `LOG_FORMAT=text` gives readable lines for local runs. Level: `AWS_LAMBDA_LOG_LEVEL`,
/// then `RUST_LOG`, else `info`; `lambda_runtime` never logs below DEBUG (its TRACE lines
/// carry whole events, secrets included).
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into())
        .to_lowercase();
    let mut filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    if level.contains("trace") {
        // At TRACE, lambda_runtime logs every raw event: webhook secrets, OAuth codes and
        // states (found by the log-secrets suite). Capped at DEBUG, whatever was asked.
        filter = filter.add_directive("lambda_runtime=debug".parse().expect("a static directive"));
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stdout);
    let text = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let _ = if text {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    };
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
