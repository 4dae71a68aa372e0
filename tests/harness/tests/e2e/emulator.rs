//! The Lambda Runtime API emulator against a real lambda_runtime client (echo-lambda).

use std::{path::Path, time::Duration};

use harness::{Function, Invocation, apigw};
use serde_json::json;

fn echo() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_echo-lambda"))
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invokes_and_echoes_events() {
    let f = Function::spawn(echo(), &env(&[("ECHO_VAR", "hello")])).await;
    assert!(f.wait_ready(Duration::from_secs(10)).await, "logs: {:?}", f.logs());
    assert_eq!(f.init_error(Duration::from_millis(10)).await, None);

    let Invocation::Response(r) = f.invoke(json!({"n": 1, "log": "first"})).await else {
        panic!("no response; logs: {:?}", f.logs())
    };
    assert_eq!(r["event"]["n"], 1);
    assert_eq!(r["function_name"], "echo-lambda");
    assert_eq!(r["function_arn"], "arn:aws:lambda:us-east-1:123456789012:function:echo-lambda");
    assert_eq!(r["env"]["ECHO_VAR"], "hello");
    assert_eq!(r["env"]["AWS_REGION"], "us-east-1");
    assert_eq!(r["env"]["HOME"], json!(null), "the environment is not inherited");
    assert_eq!(r["pid"], f.pid());
    let deadline = r["deadline_ms"].as_u64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(deadline > now + 25_000 && deadline <= now + 30_000, "{deadline} vs {now}");

    // A second invocation gets a new request id, on the same process.
    let second = f.invoke_with_deadline(json!({"n": 2}), Duration::from_secs(5)).await;
    let r2 = second.response().unwrap();
    assert_eq!(r2["event"]["n"], 2);
    assert_ne!(r2["request_id"], r["request_id"]);
    assert_eq!(r2["pid"], f.pid());

    assert!(f.logs().iter().any(|l| l == "first"), "{:?}", f.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_duration_spans_spawn_to_the_first_poll() {
    let f = Function::spawn(echo(), &[]).await;
    assert!(f.wait_ready(Duration::from_secs(10)).await, "logs: {:?}", f.logs());
    let ready = std::time::Instant::now();
    let first = f.first_poll_at().expect("polled");
    assert!(f.spawned_at() < first && first <= ready);
    let init = f.init_duration().unwrap();
    assert!(init > Duration::ZERO && init < Duration::from_secs(10), "{init:?}");
    // Later polls do not move it.
    assert!(f.invoke(json!({})).await.response().is_some());
    assert_eq!(f.first_poll_at(), Some(first));

    // A process that never polls has no init duration.
    let failing = Function::spawn(echo(), &env(&[("ECHO_INIT_ERROR", "no")])).await;
    assert!(failing.init_error(Duration::from_secs(10)).await.is_some());
    assert_eq!(failing.init_duration(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_errors_are_reported() {
    let f = Function::spawn(echo(), &[]).await;
    match f.invoke(json!({"fail": "boom"})).await {
        Invocation::Error(e) => assert_eq!(e["errorMessage"], "boom", "{e}"),
        other => panic!("{other:?}"),
    }
    // The instance goes on serving.
    assert!(f.invoke(json!({})).await.response().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_are_serialized() {
    let f = std::sync::Arc::new(Function::spawn(echo(), &[]).await);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..3 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move { f.invoke(json!({"sleep_ms": 300, "i": i})).await }));
    }
    for t in tasks {
        assert!(t.await.unwrap().response().is_some());
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_mid_invocation_is_a_crash() {
    let mut f = Function::spawn(echo(), &[]).await;
    assert_eq!(f.invoke(json!({"exit": 3})).await, Invocation::Crashed);
    let status = f.exit_status(Duration::from_secs(5)).await.unwrap();
    assert_eq!(status.code(), Some(3));
    // A dead instance answers Crashed at once.
    assert_eq!(f.invoke(json!({})).await, Invocation::Crashed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_mid_invocation_is_a_crash() {
    let f = std::sync::Arc::new(tokio::sync::Mutex::new(Function::spawn(echo(), &[]).await));
    let pid = f.lock().await.pid();
    let invoking = {
        let f = f.clone();
        tokio::spawn(async move {
            let f = f.lock().await;
            f.invoke(json!({"sleep_ms": 60_000})).await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // SIGKILL from outside, as a crashed or reclaimed instance.
    std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), invoking).await.expect("invoke must not hang").unwrap();
    assert_eq!(outcome, Invocation::Crashed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_the_process() {
    let mut f = Function::spawn(echo(), &[]).await;
    assert!(f.wait_ready(Duration::from_secs(10)).await);
    f.kill().await;
    let status = f.exit_status(Duration::from_secs(1)).await.unwrap();
    assert!(!status.success());
    assert_eq!(f.invoke(json!({})).await, Invocation::Crashed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overrun_deadline_kills_the_instance() {
    let f = Function::spawn(echo(), &[]).await;
    let outcome = f.invoke_with_deadline(json!({"sleep_ms": 60_000}), Duration::from_millis(200)).await;
    assert!(outcome.is_timeout(), "{outcome:?}");
    assert_eq!(f.invoke(json!({})).await, Invocation::Crashed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_errors_are_captured() {
    let mut f = Function::spawn(echo(), &env(&[("ECHO_INIT_ERROR", "TABLE_NAME is not set")])).await;
    let err = f.init_error(Duration::from_secs(10)).await.expect("an init error");
    assert_eq!(err["errorMessage"], "TABLE_NAME is not set");
    assert!(!f.wait_ready(Duration::from_millis(100)).await);
    let status = f.exit_status(Duration::from_secs(5)).await.unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(f.logs().iter().any(|l| l == "TABLE_NAME is not set"), "{:?}", f.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_events_round_trip_through_a_function() {
    let f = Function::spawn(echo(), &[]).await;
    let event = apigw::Request::get("/oauth/tapd/start?a=1").to_event();
    let inv = f.invoke(event.clone()).await;
    assert_eq!(inv.response().unwrap()["event"], event);
    // The echo is no HTTP response: function URL semantics make it a JSON 200.
    let r = apigw::Response::from_invocation(&inv).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json().unwrap()["event"]["rawPath"], "/oauth/tapd/start");
}

#[tokio::test]
async fn a_missing_binary_panics_clearly() {
    let result = std::panic::catch_unwind(|| harness::bin_path("no-such-binary"));
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("make test"), "{message}");
}

#[tokio::test]
async fn works_on_a_current_thread_runtime_too() {
    let f = Function::spawn(echo(), &[]).await;
    let r = f.http(&apigw::Request::get("/x?y=1")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().unwrap()["event"]["rawQueryString"], "y=1");
}
