//! A Lambda Runtime API emulator, in the manner of AWS's runtime interface emulator.
//!
//! [`Function::spawn`] serves the Runtime API (`/2018-06-01/runtime/...`) on
//! `127.0.0.1:<random port>` and starts the function binary with
//! `AWS_LAMBDA_RUNTIME_API` pointing at it. [`Function::invoke`] hands one event to the
//! process through the long-polled `invocation/next` and waits for its `response` or
//! `error`, or for the process to die ([`Invocation::Crashed`]).
//!
//! Like a Lambda instance, a [`Function`] runs one invocation at a time: concurrent
//! `invoke` calls on the same `Function` queue. Like Lambda, an invocation that outlives
//! its deadline (plus [`TIMEOUT_GRACE`]) has its process killed, and answers
//! `Invocation::Error({"errorType":"Sandbox.Timedout", ...})`; later invocations of that
//! `Function` answer `Crashed` (spawn a new one, as Lambda would start a new instance).
//!
//! The child's environment is NOT inherited, as on Lambda: it gets `PATH`, `RUST_LOG`
//! (when set), `AWS_ENDPOINT_URL_DYNAMODB` (when set), the Lambda variables, and then
//! the `env` given to `spawn`, which overrides any of those.
//!
//! Set `HARNESS_LOG=1` to echo every line the function prints to the test's stderr.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path as UrlPath, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::Command,
    sync::{Notify, oneshot, watch},
    task::JoinHandle,
};

/// The deadline of [`Function::invoke`].
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// How long past its deadline an invocation may run before its process is killed.
pub const TIMEOUT_GRACE: Duration = Duration::from_secs(2);
/// The account id in ARNs the emulator makes up.
pub const ACCOUNT_ID: &str = "123456789012";
/// The region the functions are told they run in.
pub const REGION: &str = "us-east-1";

const API: &str = "/2018-06-01/runtime";

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// The body the function posted to `invocation/{id}/response` (JSON, or a JSON
    /// string holding the raw body when it was not JSON).
    Response(Value),
    /// The body the function posted to `invocation/{id}/error` (lambda_runtime posts
    /// `{"errorType", "errorMessage"}`), or the emulator's `Sandbox.Timedout` error.
    Error(Value),
    /// The process exited, or was killed, before answering.
    Crashed,
}

impl Invocation {
    /// The response body, if the function answered with one.
    pub fn response(&self) -> Option<&Value> {
        match self {
            Invocation::Response(v) => Some(v),
            _ => None,
        }
    }

    /// Whether the emulator killed the process because the invocation outlived its deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Invocation::Error(v) if v["errorType"] == "Sandbox.Timedout")
    }
}

struct Pending {
    request_id: String,
    event: Value,
    deadline_ms: u128,
}

enum Outcome {
    Response(Value),
    Error(Value),
}

/// State shared by the Runtime API routes and the [`Function`].
struct Runtime {
    function_arn: String,
    /// The event waiting for the function's next `invocation/next` (at most one, since
    /// invocations are serialized).
    next: Mutex<Option<Pending>>,
    next_ready: Notify,
    /// Invocations handed out and not answered yet, by request id.
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Becomes true at the first `invocation/next`.
    polled: watch::Sender<bool>,
    /// When the first `invocation/next` arrived (the end of the function's init).
    first_poll: OnceLock<Instant>,
    /// The body of `init/error`, once posted.
    init_error: watch::Sender<Option<Value>>,
}

fn body_value(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({"status": "OK"}))).into_response()
}

fn invalid_request_id(id: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "errorType": "InvalidRequestID",
            "errorMessage": format!("Invalid request ID: {id}"),
        })),
    )
        .into_response()
}

async fn next_invocation(State(rt): State<Arc<Runtime>>) -> Response {
    rt.first_poll.get_or_init(Instant::now);
    rt.polled.send_replace(true);
    let pending = loop {
        let notified = rt.next_ready.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let taken = rt.next.lock().unwrap().take();
        if let Some(p) = taken {
            break p;
        }
        notified.await;
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_str(&value).expect("header value"));
    };
    set("lambda-runtime-aws-request-id", pending.request_id);
    set("lambda-runtime-deadline-ms", pending.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", rt.function_arn.clone());
    set("lambda-runtime-trace-id", trace_id());
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, pending.event.to_string()).into_response()
}

async fn invocation_response(State(rt): State<Arc<Runtime>>, UrlPath(id): UrlPath<String>, body: Bytes) -> Response {
    let waiter = rt.waiting.lock().unwrap().remove(&id);
    match waiter {
        Some(tx) => {
            let _ = tx.send(Outcome::Response(body_value(&body)));
            accepted()
        }
        None => invalid_request_id(&id),
    }
}

async fn invocation_error(State(rt): State<Arc<Runtime>>, UrlPath(id): UrlPath<String>, body: Bytes) -> Response {
    let waiter = rt.waiting.lock().unwrap().remove(&id);
    match waiter {
        Some(tx) => {
            let _ = tx.send(Outcome::Error(body_value(&body)));
            accepted()
        }
        None => invalid_request_id(&id),
    }
}

async fn init_error(State(rt): State<Arc<Runtime>>, body: Bytes) -> Response {
    rt.init_error.send_replace(Some(body_value(&body)));
    accepted()
}

fn trace_id() -> String {
    format!("Root=1-{:08x}-{};Parent={};Sampled=0", crate::now().as_secs(), crate::random_hex(12), crate::random_hex(8))
}

/// A function binary running against the emulated Runtime API: one Lambda instance.
pub struct Function {
    name: String,
    addr: SocketAddr,
    pid: u32,
    /// Taken just before the process was started.
    spawned_at: Instant,
    rt: Arc<Runtime>,
    logs: Arc<Mutex<Vec<String>>>,
    /// One invocation in flight at a time.
    turn: tokio::sync::Mutex<()>,
    /// Asks the watcher task to SIGKILL the process (dropping it does too).
    kill_tx: Mutex<Option<oneshot::Sender<()>>>,
    exited: watch::Receiver<Option<ExitStatus>>,
    server: JoinHandle<()>,
}

impl Drop for Function {
    fn drop(&mut self) {
        // Dropping kill_tx makes the watcher kill the process; the Child is also
        // kill_on_drop should the runtime go away first.
        self.kill_tx.lock().unwrap().take();
        self.server.abort();
    }
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .field("runtime_api", &self.addr)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl Function {
    /// Serves the Runtime API on 127.0.0.1 and spawns `binary` with
    /// `AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT`, `AWS_LAMBDA_FUNCTION_NAME` (the file name),
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128`, `AWS_LAMBDA_FUNCTION_VERSION=$LATEST`,
    /// `AWS_REGION=us-east-1`, `AWS_ACCESS_KEY_ID=test`, `AWS_SECRET_ACCESS_KEY=test`,
    /// `AWS_LAMBDA_LOG_FORMAT=JSON` and the like, then `env`. Its stdout and stderr are
    /// captured line by line (see [`Function::logs`]). Panics if the binary cannot start.
    pub async fn spawn(binary: &Path, env: &[(String, String)]) -> Function {
        let name = binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "function".into());
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the Runtime API emulator on 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");

        let rt = Arc::new(Runtime {
            function_arn: format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"),
            next: Mutex::new(None),
            next_ready: Notify::new(),
            waiting: Mutex::new(HashMap::new()),
            polled: watch::Sender::new(false),
            first_poll: OnceLock::new(),
            init_error: watch::Sender::new(None),
        });
        let app = Router::new()
            .route(&format!("{API}/invocation/next"), get(next_invocation))
            .route(&format!("{API}/invocation/{{id}}/response"), post(invocation_response))
            .route(&format!("{API}/invocation/{{id}}/error"), post(invocation_error))
            .route(&format!("{API}/init/error"), post(init_error))
            .layer(DefaultBodyLimit::max(7 * 1024 * 1024))
            .with_state(rt.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let mut cmd = Command::new(binary);
        cmd.env_clear();
        for var in ["PATH", "RUST_LOG", "AWS_ENDPOINT_URL_DYNAMODB"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        let stream = format!("2000/01/01/[$LATEST]{}", crate::random_hex(16));
        cmd.env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", stream)
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("TZ", ":UTC")
            .env("LANG", "C.UTF-8");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let spawned_at = Instant::now();
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let pid = child.id().expect("pid of a just-started process");

        let logs = Arc::new(Mutex::new(Vec::new()));
        let echo = std::env::var_os("HARNESS_LOG").is_some_and(|v| !v.is_empty() && v != "0");
        let readers = [
            capture(child.stdout.take(), logs.clone(), echo, name.clone()),
            capture(child.stderr.take(), logs.clone(), echo, name.clone()),
        ];

        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let (exit_tx, exited) = watch::channel(None);
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                // An explicit kill, or the Function was dropped.
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            // Let the readers drain what the process printed before reporting its end.
            for reader in readers {
                let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
            }
            if let Ok(status) = status {
                exit_tx.send_replace(Some(status));
            }
        });

        Function {
            name,
            addr,
            pid,
            spawned_at,
            rt,
            logs,
            turn: tokio::sync::Mutex::new(()),
            kill_tx: Mutex::new(Some(kill_tx)),
            exited,
            server,
        }
    }

    /// Invokes the function with `event` and the default 30 s deadline.
    pub async fn invoke(&self, event: Value) -> Invocation {
        self.invoke_with_deadline(event, DEFAULT_DEADLINE).await
    }

    /// Invokes the function with `event`, telling it that the invocation's deadline is
    /// `deadline` from now (`Lambda-Runtime-Deadline-Ms`). Waits for the previous
    /// invocation of this `Function` to end first. Returns `Crashed` if the process is
    /// gone or dies before answering; kills it and returns a `Sandbox.Timedout` error
    /// if it has not answered `TIMEOUT_GRACE` after the deadline.
    pub async fn invoke_with_deadline(&self, event: Value, deadline: Duration) -> Invocation {
        let _turn = self.turn.lock().await;
        let mut exited = self.exited.clone();
        if exited.borrow().is_some() {
            return Invocation::Crashed;
        }
        let request_id = crate::uuid();
        let (tx, rx) = oneshot::channel();
        self.rt.waiting.lock().unwrap().insert(request_id.clone(), tx);
        *self.rt.next.lock().unwrap() =
            Some(Pending { request_id: request_id.clone(), event, deadline_ms: (crate::now() + deadline).as_millis() });
        self.rt.next_ready.notify_waiters();

        let outcome = tokio::select! {
            biased;
            outcome = rx => match outcome {
                Ok(Outcome::Response(v)) => Some(Invocation::Response(v)),
                Ok(Outcome::Error(v)) => Some(Invocation::Error(v)),
                Err(_) => Some(Invocation::Crashed),
            },
            _ = exited.wait_for(Option::is_some) => Some(Invocation::Crashed),
            _ = tokio::time::sleep(deadline + TIMEOUT_GRACE) => None,
        };
        self.rt.next.lock().unwrap().take();
        self.rt.waiting.lock().unwrap().remove(&request_id);
        match outcome {
            Some(outcome) => outcome,
            None => {
                self.request_kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), exited.wait_for(Option::is_some)).await;
                Invocation::Error(json!({
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": format!(
                        "{request_id} Task timed out after {:.2} seconds",
                        deadline.as_secs_f64()
                    ),
                }))
            }
        }
    }

    /// The body the process posted to `/runtime/init/error`, waiting up to `wait` for it.
    /// `None` if the process polled `invocation/next` instead (it initialized), exited
    /// without posting one, or nothing came in time.
    pub async fn init_error(&self, wait: Duration) -> Option<Value> {
        let mut posted = self.rt.init_error.subscribe();
        let mut polled = self.rt.polled.subscribe();
        let mut exited = self.exited.clone();
        // Whichever comes first decides; a timeout leaves it undecided (None).
        let _ = tokio::time::timeout(wait, async {
            tokio::select! {
                biased;
                _ = posted.wait_for(Option::is_some) => {}
                _ = polled.wait_for(|p| *p) => {}
                _ = exited.wait_for(Option::is_some) => {}
            }
        })
        .await;
        self.rt.init_error.borrow().clone()
    }

    /// Waits until the process has polled `invocation/next` (it finished its init).
    /// False if it did not within `timeout`, or exited first.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut polled = self.rt.polled.subscribe();
        let mut exited = self.exited.clone();
        tokio::time::timeout(timeout, async {
            tokio::select! {
                biased;
                _ = polled.wait_for(|p| *p) => true,
                _ = exited.wait_for(Option::is_some) => false,
            }
        })
        .await
        .unwrap_or(false)
    }

    /// Every line the process printed so far, stdout and stderr interleaved as read.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The lines printed since the last call (removing them from [`Function::logs`]), so a
    /// long-running caller can print them as they come without keeping them all.
    pub fn take_logs(&self) -> Vec<String> {
        std::mem::take(&mut *self.logs.lock().unwrap())
    }

    /// SIGKILLs the process and waits for it to be reaped. An invocation in flight
    /// returns `Crashed`.
    pub async fn kill(&mut self) {
        self.request_kill();
        let mut exited = self.exited.clone();
        let _ = exited.wait_for(Option::is_some).await;
    }

    fn request_kill(&self) {
        if let Some(tx) = self.kill_tx.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }

    /// The instant just before the process was started.
    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

    /// The instant the process first polled `invocation/next`, once it has.
    pub fn first_poll_at(&self) -> Option<Instant> {
        self.rt.first_poll.get().copied()
    }

    /// Process start to first poll of `invocation/next`: the function's init, as Lambda's
    /// "Init Duration" counts it. `None` until it has polled.
    pub fn init_duration(&self) -> Option<Duration> {
        self.first_poll_at().map(|at| at.duration_since(self.spawned_at))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The process's peak resident memory so far (`VmHWM` of `/proc/<pid>/status`), in KiB;
    /// `None` where there is no `/proc` or once the process is gone.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()
    }

    /// The function name the process was given (the binary's file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address of the emulated Runtime API (`AWS_LAMBDA_RUNTIME_API`).
    pub fn runtime_api(&self) -> SocketAddr {
        self.addr
    }

    /// The process's exit status, waiting up to `timeout` for it to exit.
    pub async fn exit_status(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut exited = self.exited.clone();
        tokio::time::timeout(timeout, exited.wait_for(Option::is_some)).await.ok().and_then(|r| r.ok().and_then(|s| *s))
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_exit_status(&self) -> Option<ExitStatus> {
        *self.exited.borrow()
    }
}

fn capture(
    stream: Option<impl AsyncRead + Unpin + Send + 'static>,
    logs: Arc<Mutex<Vec<String>>>,
    echo: bool,
    name: String,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(stream) = stream else { return };
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if echo {
                        eprintln!("[{name}] {line}");
                    }
                    logs.lock().unwrap().push(line);
                }
            }
        }
    })
}
