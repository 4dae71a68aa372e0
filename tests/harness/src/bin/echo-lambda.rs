//! A tiny Lambda function for the harness's own tests: it echoes its event back.
//!
//! The event steers it:
//! - `{"exit": N}`: the process exits with code N mid-invocation, without answering.
//! - `{"sleep_ms": N}`: sleeps N ms before answering.
//! - `{"fail": "message"}`: answers with an invocation error.
//! - `{"log": "line"}`: prints the line to stdout first.
//!
//! With `ECHO_INIT_ERROR=message` in its environment it reports an init error instead of
//! serving invocations, then exits 1.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, ctx) = event.into_parts();
    if let Some(line) = payload.get("log").and_then(Value::as_str) {
        println!("{line}");
    }
    if let Some(code) = payload.get("exit").and_then(Value::as_i64) {
        std::process::exit(code as i32);
    }
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        return Err(message.into());
    }
    Ok(json!({
        "event": payload,
        "request_id": ctx.request_id,
        "deadline_ms": ctx.deadline,
        "function_arn": ctx.invoked_function_arn,
        "pid": std::process::id(),
        "function_name": std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        "env": {
            "ECHO_VAR": std::env::var("ECHO_VAR").ok(),
            "AWS_REGION": std::env::var("AWS_REGION").ok(),
            "HOME": std::env::var("HOME").ok(),
        },
    }))
}

async fn report_init_error(message: &str) {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    let posted = sandbox::http_client()
        .build()
        .unwrap()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .json(&json!({"errorType": "Runtime.InitError", "errorMessage": message}))
        .send()
        .await;
    if let Err(e) = posted {
        eprintln!("cannot report the init error: {e}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    if let Ok(message) = std::env::var("ECHO_INIT_ERROR") {
        eprintln!("{message}");
        report_init_error(&message).await;
        std::process::exit(1);
    }
    lambda_runtime::run(service_fn(handler)).await
}
