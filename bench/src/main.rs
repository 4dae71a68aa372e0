//! `make bench`: cold start, invocation latency, round trips, memory and size of both
//! functions, measured side by side with the floor (a bare `lambda_runtime` function built
//! with the same profile), against the TAPD and Tencent Docs sandbox and the local DynamoDB
//! (moto) on loopback. Rewrites the generated part of `BENCHMARKS.md`.
//!
//! ```text
//! bench-runner [--bins LABEL=DIR]... [--cold N] [--first N] [--warm N]
//!              [--arm64 DIR] [--latency TAPD_MS,TDOC_MS,DDB_MS] [--out FILE | --no-write]
//! ```
//! - `--bins LABEL=DIR`: a set of release binaries (`floor`, `oauth`, `tapd-webhook` in DIR) to
//!   measure; repeat it to compare builds (before/after) in one run, interleaved. Default:
//!   `current=<target>/release` (`<target>`: `CARGO_TARGET_DIR`, else the workspace's `target`).
//! - `--cold N` spawns per binary for the cold start (default 60), `--first N` fresh processes
//!   per path for the first invocation (default 12), `--warm N` warm invocations per path
//!   (default 200).
//! - `--latency 40,40,5`: the latency mode: the proxies add that much distance to each round
//!   trip to TAPD, Tencent Docs and DynamoDB, and the end-to-end time of a warm linked story
//!   (the figure users feel) is measured for each build.
//! - `--drain N`: with the latency mode, a backlog of N pending items (default 2,000) drained by
//!   scheduled runs: what one run links within TAPD's budget, and how fast when the budget is
//!   not what limits it. `--drain 0` skips it.
//! - `--arm64 DIR`: where `cargo lambda build --release --arm64` put `<name>/bootstrap`
//!   (default `<target>/lambda`); sizes are reported when present.
//! - `--refusals`: only the peak RSS of `tapd-webhook` refusing the costliest 5.9 MB bodies
//!   with a wrong or missing secret (`refusals.rs`), printed as a table (BENCHMARKS.md's
//!   hand-run table); needs only `oauth` and `tapd-webhook` in each `--bins` directory.
//! - `--cold-only`: only the cold starts of `oauth` and `tapd-webhook`, printed as a table;
//!   `--variant-env LABEL=NAME=VALUE` adds a variable to one variant's environment (e.g. the same
//!   binaries with `NOTIFY_EMAIL_FROM` set, which builds the SES client at init).
//!
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (moto); `bench/run.sh` starts one.

mod console;
mod proxy;
mod refusals;
mod report;
mod sim;
mod sim_proxy;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::apigw::{Request, Response};
use harness::stack::{Stack, WEBHOOK_SECRET, callback};
use harness::{Function, Invocation};
use sandbox::ItemKind;
use serde_json::{Value, json};

use proxy::{Kind, Latency, Record, Recorder};

pub const BINARIES: [&str; 3] = ["floor", "oauth", "tapd-webhook"];
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const WEBHOOK_PATH: &str = "/webhooks/tapd";
/// The workspace the webhook scenario links items in, and its Tencent Docs account.
const WS: &str = "20003271";
const OPEN_ID: &str = "benchowner01";

#[derive(Debug, Clone)]
pub struct Variant {
    pub label: String,
    pub dir: PathBuf,
    /// Variables added to its functions' environment (`--variant-env`).
    pub env: Vec<(String, String)>,
}

impl Variant {
    fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

pub struct Args {
    pub variants: Vec<Variant>,
    pub cold: usize,
    pub first: usize,
    pub warm: usize,
    pub arm64: PathBuf,
    pub latency: Option<Latency>,
    pub drain: usize,
    pub out: Option<PathBuf>,
    /// `--console-only`: only the console's pages (printed, not written).
    pub console_only: bool,
    /// `--refusals`: only the hostile bodies' peak RSS (printed, not written).
    pub refusals: bool,
    /// `--cold-only`: only the functions' cold starts (printed, not written).
    pub cold_only: bool,
}

fn parse_args() -> Args {
    // `CARGO_TARGET_DIR` when set, else `<workspace>/target`.
    let target = harness::target_dir();
    let mut args = Args {
        variants: Vec::new(),
        cold: 60,
        first: 12,
        warm: 200,
        arm64: target.join("lambda"),
        latency: None,
        drain: 2000,
        out: Some(harness::workspace_root().join("BENCHMARKS.md")),
        console_only: false,
        refusals: false,
        cold_only: false,
    };
    let mut it = std::env::args().skip(1);
    let usage = "usage: bench-runner [--bins LABEL=DIR]... [--cold N] [--first N] [--warm N] [--arm64 DIR] [--latency TAPD_MS,TDOC_MS,DDB_MS] [--drain N] [--out FILE | --no-write] [--console-only] [--refusals] [--cold-only] [--variant-env LABEL=NAME=VALUE]...";
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value\n{usage}"));
        let number = |v: String| v.parse::<usize>().unwrap_or_else(|_| panic!("{v}: not a number\n{usage}"));
        match flag.as_str() {
            "--bins" => {
                let v = value();
                let (label, dir) = v.split_once('=').unwrap_or_else(|| panic!("--bins LABEL=DIR, got {v}"));
                args.variants.push(Variant { label: label.to_owned(), dir: PathBuf::from(dir), env: Vec::new() });
            }
            "--cold" => args.cold = number(value()).max(1),
            "--first" => args.first = number(value()).max(1),
            "--warm" => args.warm = number(value()).max(2),
            "--arm64" => args.arm64 = PathBuf::from(value()),
            "--latency" => {
                let v = value();
                args.latency =
                    Some(Latency::parse(&v).unwrap_or_else(|| panic!("--latency TAPD_MS,TDOC_MS,DDB_MS, got {v}")));
            }
            "--drain" => args.drain = number(value()),
            "--out" => args.out = Some(PathBuf::from(value())),
            "--no-write" => args.out = None,
            "--console-only" => {
                args.console_only = true;
                args.out = None;
            }
            "--refusals" => {
                args.refusals = true;
                args.out = None;
            }
            "--cold-only" => {
                args.cold_only = true;
                args.out = None;
            }
            "--variant-env" => {
                let v = value();
                let (label, pair) =
                    v.split_once('=').unwrap_or_else(|| panic!("--variant-env LABEL=NAME=VALUE\n{usage}"));
                let (name, val) =
                    pair.split_once('=').unwrap_or_else(|| panic!("--variant-env LABEL=NAME=VALUE\n{usage}"));
                let variant = args.variants.iter_mut().find(|x| x.label == label);
                let variant =
                    variant.unwrap_or_else(|| panic!("--variant-env {label}: no such --bins (give it first)"));
                variant.env.push((name.to_owned(), val.to_owned()));
            }
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}\n{usage}"),
        }
    }
    if args.variants.is_empty() {
        args.variants.push(Variant { label: "current".into(), dir: target.join("release"), env: Vec::new() });
    }
    // The refusals need only the functions (the webhook, and oauth to connect its workspace).
    let needed: &[&str] = if args.refusals || args.cold_only { &BINARIES[1..] } else { &BINARIES };
    for v in &args.variants {
        for &name in needed {
            assert!(v.bin(name).is_file(), "{} is missing: build the release binaries first", v.bin(name).display());
        }
    }
    args
}

/// Memory of a process from `/proc/<pid>/status`, in KiB: (VmRSS, VmHWM = peak RSS).
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Time a process has spent on a CPU so far, all its threads together (`schedstat`, ns): unlike
/// wall time, it does not grow when the machine is busy with something else.
pub fn cpu_time(pid: u32) -> Duration {
    schedstat(pid).0
}

/// (on-CPU time, time spent runnable but waiting for a CPU) of a process, all threads.
pub fn schedstat(pid: u32) -> (Duration, Duration) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Default::default() };
    let (mut run, mut wait) = (0u64, 0u64);
    for task in tasks.flatten() {
        let Ok(line) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
        let mut fields = line.split_whitespace().map(|n| n.parse::<u64>().unwrap_or(0));
        run += fields.next().unwrap_or(0);
        wait += fields.next().unwrap_or(0);
    }
    (Duration::from_nanos(run), Duration::from_nanos(wait))
}

/// Round trips of one invocation, as the proxies saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trips {
    pub dynamo: usize,
    pub upstream: usize,
    pub sequential: usize,
    /// Of those, the ones to TAPD and Tencent Docs (the distant ones), one after the other.
    pub upstream_sequential: usize,
    pub labels: Vec<String>,
}

impl Trips {
    fn of(mut records: Vec<Record>) -> Trips {
        records.sort_by_key(|r| r.start);
        Trips {
            dynamo: records.iter().filter(|r| r.kind == Kind::DynamoDb).count(),
            upstream: records.iter().filter(|r| r.kind == Kind::Upstream).count(),
            sequential: proxy::critical_path(&records),
            upstream_sequential: proxy::critical_path(
                &records.iter().filter(|r| r.kind == Kind::Upstream).cloned().collect::<Vec<_>>(),
            ),
            labels: records
                .iter()
                .map(|r| match r.kind {
                    Kind::DynamoDb => format!("DynamoDB {}", r.label),
                    Kind::Upstream => r.label.clone(),
                })
                .collect(),
        }
    }

    pub fn total(&self) -> usize {
        self.dynamo + self.upstream
    }
}

/// One invocation's wall time and the function's on-CPU time during it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Duration,
}

impl std::ops::Add for Sample {
    type Output = Sample;
    fn add(self, o: Sample) -> Sample {
        Sample { wall: self.wall + o.wall, cpu: self.cpu + o.cpu }
    }
}

/// One measured path: latencies, peak RSS after each run (first invocations), round trips.
#[derive(Debug, Default)]
pub struct PathStats {
    pub name: String,
    pub times: Vec<Duration>,
    /// The function's on-CPU time during the invocation.
    pub cpu: Vec<Duration>,
    pub hwm_kib: Vec<u64>,
    pub trips: Vec<Trips>,
}

impl PathStats {
    fn new(name: &str) -> Self {
        PathStats { name: name.to_owned(), ..Default::default() }
    }

    fn push(&mut self, sample: Sample, trips: Trips) {
        self.times.push(sample.wall);
        self.cpu.push(sample.cpu);
        self.trips.push(trips);
    }
}

#[derive(Debug, Default)]
pub struct ColdStats {
    pub init: Vec<Duration>,
    /// On-CPU time from exec to the first poll.
    pub cpu: Vec<Duration>,
    /// Time the process was runnable but waited for a CPU (a busy machine's share of `init`).
    pub wait: Vec<Duration>,
    pub rss_kib: Vec<u64>,
}

#[derive(Debug, Default)]
pub struct VariantResult {
    pub cold: BTreeMap<String, ColdStats>,
    pub first: Vec<PathStats>,
    pub warm: Vec<PathStats>,
    /// Peak RSS (VmHWM) of each binary's process over its whole scenario.
    pub peak_kib: Vec<(String, u64)>,
    /// Requests the proxies saw while fresh processes initialized (spawn to first poll): must be 0.
    pub init_requests: usize,
    /// Host release binaries: (name, bytes, has a symbol table).
    pub sizes: Vec<(String, u64, bool)>,
    /// The latency mode: warm linked stories end to end, with distance added.
    pub distant: Option<PathStats>,
    /// The latency mode: a linked story's change, its card rewritten (#34).
    pub distant_card: Option<PathStats>,
    /// The latency mode: a story's delivery as the first invocation of a fresh instance.
    pub distant_cold: Option<PathStats>,
    /// The latency mode: the delivery that recovers from lost replies (the worst path).
    pub distant_recovery: Option<PathStats>,
    /// The latency mode: a backlog drained by scheduled runs.
    pub drain: Option<Drain>,
    /// The console's pages with 10,000 items in the workspace.
    pub console: Option<console::ConsoleBench>,
}

/// One scheduled run over a backlog of pending items.
#[derive(Debug, Clone, Default)]
pub struct DrainRun {
    /// `TAPD_BUDGET` of the process (requests per 10-minute window).
    pub budget: u32,
    pub wall: Duration,
    /// The run's summary (the function's answer).
    pub summary: Value,
    pub linked: u64,
    pub tapd_requests: usize,
    /// Of which TAPD token requests (the app token is shared: none while the stored one is good).
    pub tapd_token_requests: usize,
    pub tdoc_requests: usize,
    pub dynamo_requests: usize,
    /// Whether the invocation answered before its deadline.
    pub in_time: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Drain {
    pub backlog: usize,
    pub seed: Duration,
    /// The invocation deadline each run was given.
    pub deadline: Duration,
    /// Run 1 and 2 at the default budget (the same 10-minute window), run 3 with a budget that
    /// does not limit it (the concurrency's own rate).
    pub runs: Vec<DrainRun>,
    /// Budget spent in the window, as the table counts it, after the default-budget runs.
    pub budget_used: u32,
    /// Items with more than one doc or more than one comment (must be 0).
    pub linked_twice: usize,
    /// Items linked once, over every run.
    pub linked_once: usize,
}

/// A stack (sandbox + fresh table) with the recording proxies in front of both upstreams, and
/// the functions' environment pointed at the proxies.
struct Ctx {
    stack: Stack,
    dynamo: Recorder,
    upstream: Recorder,
    env: Vec<(String, String)>,
    variant: Variant,
    seq: u64,
}

impl Ctx {
    async fn new(variant: &Variant, latency: Latency) -> Ctx {
        let stack = Stack::new().await;
        let dynamo = Recorder::start(Kind::DynamoDb, &harness::dynamo::endpoint(), latency).await;
        let upstream = Recorder::start(Kind::Upstream, &stack.sandbox.base_url(), latency).await;
        let sandbox_base = stack.sandbox.base_url();
        let env = stack
            .env()
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "AWS_ENDPOINT_URL_DYNAMODB" => (k, dynamo.base().to_owned()),
                "TAPD_API_BASE" | "TAPD_AUTHORIZE_URL" | "TDOC_BASE" => {
                    let v = v.replacen(&sandbox_base, upstream.base(), 1);
                    (k, v)
                }
                _ => (k, v),
            })
            .collect();
        Ctx { stack, dynamo, upstream, env, variant: variant.clone(), seq: 0 }
    }

    async fn spawn(&self, name: &str) -> Function {
        self.spawn_counting(name).await.0
    }

    /// Lifts Tencent Docs' 300 file operations a minute per Open-Id, in the sandbox and in the
    /// functions' own pacing: the per-delivery paths link hundreds of stories a minute as one
    /// account to time one delivery, not the budget (the drain and fair.rs measure that).
    fn unpaced(mut self) -> Self {
        self.stack.sandbox.set_tdoc_limits(sandbox::TdocLimits { file_ops_per_window: None, ..Default::default() });
        self.env.push(("TDOC_CALLS_PER_MINUTE".into(), "100000".into()));
        self
    }

    /// Spawns and waits for the first poll; also says how many requests init made.
    async fn spawn_counting(&self, name: &str) -> (Function, usize) {
        let (d, u) = (self.dynamo.mark(), self.upstream.mark());
        let f = Function::spawn(&self.variant.bin(name), &self.env).await;
        assert!(f.wait_ready(READY_TIMEOUT).await, "{name} did not start: {:?}", f.logs());
        (f, self.dynamo.since(d).len() + self.upstream.since(u).len())
    }

    /// Invokes `f` with `event`, timing it (wall and on-CPU) and recording its round trips.
    async fn measure(&self, f: &Function, event: Value) -> (Invocation, Sample, Trips) {
        let (d, u) = (self.dynamo.mark(), self.upstream.mark());
        let seen = self.stack.sandbox.requests().len();
        let cpu0 = cpu_time(f.pid());
        let t0 = Instant::now();
        let inv = f.invoke(event).await;
        let took = Sample { wall: t0.elapsed(), cpu: cpu_time(f.pid()).saturating_sub(cpu0) };
        let mut records = self.dynamo.since(d);
        records.extend(self.upstream.since(u));
        let trips = Trips::of(records);
        let answered = self.stack.sandbox.requests().len() - seen;
        assert_eq!(answered, trips.upstream, "the sandbox answered requests the proxy did not see");
        (inv, took, trips)
    }

    fn next_id(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A new story in the webhook workspace and its `story::create` delivery.
    fn new_story(&mut self) -> (String, Value) {
        let n = self.next_id();
        let id = format!("11200032710{n:08}");
        self.stack.sandbox.add_item(WS, ItemKind::Story, &id, &format!("Bench story {n}"));
        (id.clone(), create_event(&id, &n.to_string()))
    }

    /// Walks the connect flow up to the Tencent Docs callback with `helper` (any oauth process)
    /// and returns that callback's request, for a workspace and account of its own.
    async fn up_to_tdoc_callback(&mut self, helper: &Function) -> Request {
        let n = self.next_id();
        let (ws, open_id) = (format!("3{n:07}"), format!("benchuser{n}"));
        self.stack.sandbox.add_workspace(&ws, "Bench workspace");
        self.stack.sandbox.add_tdoc_user(&open_id, "Bench user");
        let start = expect_status(helper, &Request::get("/oauth/tapd/start"), 302).await;
        let back = self.stack.tapd_consent(&start.location_url().expect("location"), &ws, true).await;
        let to_tdoc = expect_status(helper, &callback(&back), 302).await;
        let back = self.stack.tdoc_consent(&to_tdoc.location_url().expect("location"), &open_id, true).await;
        callback(&back)
    }

    async fn connect_webhook_workspace(&self, helper: &Function) {
        self.stack.sandbox.add_workspace(WS, "Bench workspace");
        self.stack.sandbox.add_tdoc_user(OPEN_ID, "Bench owner");
        let start = expect_status(helper, &Request::get("/oauth/tapd/start"), 302).await;
        let back = self.stack.tapd_consent(&start.location_url().expect("location"), WS, true).await;
        let to_tdoc = expect_status(helper, &callback(&back), 302).await;
        let back = self.stack.tdoc_consent(&to_tdoc.location_url().expect("location"), OPEN_ID, true).await;
        expect_status(helper, &callback(&back), 200).await;
    }
}

fn create_event(id: &str, event_id: &str) -> Value {
    let body = json!({
        "event": "story::create", "event_from": "web", "referer": "https://www.tapd.cn/",
        "workspace_id": WS, "current_user": "bench", "id": id, "secret": WEBHOOK_SECRET, "app_id": "3906",
        "rio_token": "", "devproxy_host": "http://websocket-proxy", "queue_id": "130662",
        "event_id": event_id, "created": "2026-11-21 16:33:05"
    });
    Request::post_json(WEBHOOK_PATH, &body).to_event()
}

/// TAPD's `story::update` of `id` naming its priority (`webhook_story_update.json`'s shape).
fn update_event(id: &str, event_id: &str) -> Value {
    let body = json!({
        "event": "story::update", "event_from": "web", "workspace_id": WS, "current_user": "bench", "id": id,
        "change_fields": "priority,modified", "old_priority": "High", "secret": WEBHOOK_SECRET, "app_id": "3906",
        "event_id": event_id, "created": "2026-12-01 10:20:05"
    });
    Request::post_json(WEBHOOK_PATH, &body).to_event()
}

async fn expect_status(f: &Function, req: &Request, status: u16) -> Response {
    let resp = f.http(req).await;
    assert_eq!(resp.status, status, "{} {}: {}\nlogs: {:?}", req.method, req.path, resp.body, tail(f));
    resp
}

fn answered(inv: &Invocation, f: &Function, status: u16, what: &str) -> Response {
    let resp = Response::from_invocation(inv).unwrap_or_else(|| panic!("{what}: {inv:?}\nlogs: {:?}", tail(f)));
    assert_eq!(resp.status, status, "{what}: {}\nlogs: {:?}", resp.body, tail(f));
    resp
}

fn tail(f: &Function) -> Vec<String> {
    let logs = f.logs();
    logs[logs.len().saturating_sub(20)..].to_vec()
}

/// Cold starts, interleaved: every round spawns each binary of each variant once, in an order
/// that rotates, so drift in the machine's load spreads over all of them.
async fn cold_starts(args: &Args, results: &mut [VariantResult]) {
    let env: Vec<(String, String)> = {
        // Any valid environment: a throwaway stack's (init reads it, nothing is called).
        let stack = Stack::new().await;
        drop_table(&stack.table).await;
        stack.env()
    };
    let binaries: &'static [&'static str] = if args.cold_only { &BINARIES[1..] } else { &BINARIES };
    let mut order: Vec<(usize, &str)> =
        (0..args.variants.len()).flat_map(|v| binaries.iter().map(move |b| (v, *b))).collect();
    for round in 0..args.cold {
        order.rotate_left(1);
        for &(v, name) in &order {
            let mut with = env.clone();
            with.extend(args.variants[v].env.iter().cloned());
            let mut f = Function::spawn(&args.variants[v].bin(name), &with).await;
            assert!(f.wait_ready(READY_TIMEOUT).await, "{name} did not start: {:?}", f.logs());
            let init = f.init_duration().expect("polled");
            let (cpu, wait) = schedstat(f.pid());
            let (rss, _) = memory_kib(f.pid());
            f.kill().await;
            let stats = results[v].cold.entry(name.to_owned()).or_default();
            stats.init.push(init);
            stats.cpu.push(cpu);
            stats.wait.push(wait);
            stats.rss_kib.push(rss);
        }
        if (round + 1) % 20 == 0 {
            eprintln!("bench: cold starts {}/{}", round + 1, args.cold);
        }
    }
}

/// Everything but cold starts, for one variant.
async fn scenario(args: &Args, variant: &Variant, result: &mut VariantResult) {
    let mut ctx = Ctx::new(variant, Latency::default()).await.unpaced();
    let helper = ctx.spawn("oauth").await;
    ctx.connect_webhook_workspace(&helper).await;

    // First invocation after a cold start: a fresh process per run.
    let mut floor_first = PathStats::new("floor: echo");
    let mut webhook_first = PathStats::new("tapd-webhook: linked story");
    let mut oauth_first = PathStats::new("oauth: Tencent Docs callback");
    for _ in 0..args.first {
        let (mut f, init) = ctx.spawn_counting("floor").await;
        result.init_requests += init;
        let (inv, took, trips) = ctx.measure(&f, json!({"hello": "world"})).await;
        assert!(inv.response().is_some(), "floor: {inv:?}");
        floor_first.push(took, trips);
        floor_first.hwm_kib.push(memory_kib(f.pid()).1);
        f.kill().await;

        let (_, event) = ctx.new_story();
        let (mut f, init) = ctx.spawn_counting("tapd-webhook").await;
        result.init_requests += init;
        let (inv, took, trips) = ctx.measure(&f, event).await;
        let resp = answered(&inv, &f, 200, "first webhook");
        assert_eq!(resp.json().unwrap_or_default()["status"], "linked", "{}", resp.body);
        webhook_first.push(took, trips);
        webhook_first.hwm_kib.push(memory_kib(f.pid()).1);
        f.kill().await;

        let req = ctx.up_to_tdoc_callback(&helper).await;
        let (mut f, init) = ctx.spawn_counting("oauth").await;
        result.init_requests += init;
        let (inv, took, trips) = ctx.measure(&f, req.to_event()).await;
        answered(&inv, &f, 200, "first Tencent Docs callback");
        oauth_first.push(took, trips);
        oauth_first.hwm_kib.push(memory_kib(f.pid()).1);
        f.kill().await;
    }
    result.first = vec![floor_first, oauth_first, webhook_first];
    eprintln!("bench: {}: first invocations done", variant.label);

    // Warm invocations: one process per binary for the rest of the scenario.
    let floor = ctx.spawn("floor").await;
    let mut floor_warm = PathStats::new("floor: echo");
    for i in 0..args.warm + 2 {
        let (inv, took, trips) = ctx.measure(&floor, json!({"n": i})).await;
        assert!(inv.response().is_some(), "floor: {inv:?}");
        if i >= 2 {
            floor_warm.push(took, trips);
        }
    }

    let oauth = ctx.spawn("oauth").await;
    let mut start = PathStats::new("oauth: start");
    let mut tapd_cb = PathStats::new("oauth: TAPD callback");
    let mut tdoc_cb = PathStats::new("oauth: Tencent Docs callback");
    let mut flow = PathStats::new("oauth: whole connect flow (3 invocations)");
    for i in 0..args.warm + 2 {
        let n = ctx.next_id();
        let (ws, open_id) = (format!("4{n:07}"), format!("warmuser{n}"));
        ctx.stack.sandbox.add_workspace(&ws, "Bench workspace");
        ctx.stack.sandbox.add_tdoc_user(&open_id, "Bench user");
        let (inv, t1, r1) = ctx.measure(&oauth, Request::get("/oauth/tapd/start").to_event()).await;
        let resp = answered(&inv, &oauth, 302, "start");
        let back = ctx.stack.tapd_consent(&resp.location_url().expect("location"), &ws, true).await;
        let (inv, t2, r2) = ctx.measure(&oauth, callback(&back).to_event()).await;
        let resp = answered(&inv, &oauth, 302, "TAPD callback");
        let back = ctx.stack.tdoc_consent(&resp.location_url().expect("location"), &open_id, true).await;
        let (inv, t3, r3) = ctx.measure(&oauth, callback(&back).to_event()).await;
        answered(&inv, &oauth, 200, "Tencent Docs callback");
        if i >= 2 {
            let mut all = r1.labels.clone();
            all.extend(r2.labels.iter().cloned());
            all.extend(r3.labels.iter().cloned());
            let whole = Trips {
                dynamo: r1.dynamo + r2.dynamo + r3.dynamo,
                upstream: r1.upstream + r2.upstream + r3.upstream,
                sequential: r1.sequential + r2.sequential + r3.sequential,
                upstream_sequential: r1.upstream_sequential + r2.upstream_sequential + r3.upstream_sequential,
                labels: all,
            };
            for (stats, t, r) in [(&mut start, t1, r1), (&mut tapd_cb, t2, r2), (&mut tdoc_cb, t3, r3)] {
                stats.push(t, r);
            }
            flow.push(t1 + t2 + t3, whole);
        }
    }

    let webhook = ctx.spawn("tapd-webhook").await;
    let mut linked = PathStats::new("tapd-webhook: linked story");
    let mut redelivery = PathStats::new("tapd-webhook: redelivery of a linked story");
    let mut done = Vec::new();
    for i in 0..args.warm + 2 {
        let (id, event) = ctx.new_story();
        let (inv, took, trips) = ctx.measure(&webhook, event).await;
        let resp = answered(&inv, &webhook, 200, "warm webhook");
        assert_eq!(resp.json().unwrap_or_default()["status"], "linked", "{}", resp.body);
        if i >= 2 {
            linked.push(took, trips);
        }
        done.push(id);
    }
    for (i, id) in done.iter().take(args.warm / 4 + 1).enumerate() {
        let (inv, took, trips) = ctx.measure(&webhook, create_event(id, &format!("re-{i}"))).await;
        let resp = answered(&inv, &webhook, 200, "redelivery");
        assert_eq!(resp.json().unwrap_or_default()["status"], "linked", "{}", resp.body);
        redelivery.push(took, trips);
    }
    // A change TAPD reports (`story::update`, `change_fields` naming a field the card shows):
    // the card rewritten from a fresh read of the item and of the doc (#34).
    let mut card = PathStats::new("tapd-webhook: card update of a linked story");
    for (i, id) in done.iter().skip(args.warm / 4 + 1).take(args.warm / 4 + 1).enumerate() {
        let priority = if i % 2 == 0 { "Low" } else { "Middle" };
        let fields = [("priority", priority)];
        ctx.stack
            .sandbox
            .change_item(WS, ItemKind::Story, id, &fields, "bench", false)
            .await
            .expect("change the story");
        let (inv, took, trips) = ctx.measure(&webhook, update_event(id, &format!("up-{i}"))).await;
        let resp = answered(&inv, &webhook, 200, "card update");
        assert_eq!(resp.json().unwrap_or_default()["status"], "card_written", "{}", resp.body);
        card.push(took, trips);
    }
    result.warm = vec![floor_warm, start, tapd_cb, tdoc_cb, flow, linked, redelivery, card];
    result.peak_kib = vec![
        ("floor".into(), memory_kib(floor.pid()).1),
        ("oauth".into(), memory_kib(oauth.pid()).1),
        ("tapd-webhook".into(), memory_kib(webhook.pid()).1),
    ];
    result.sizes = BINARIES
        .iter()
        .map(|name| {
            let path = variant.bin(name);
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            (name.to_string(), bytes, report::has_symtab(&path))
        })
        .collect();
    drop_table(&ctx.stack.table).await;
    eprintln!("bench: {}: scenario done", variant.label);
}

/// The latency mode: a warm tapd-webhook process links stories with `latency` added to every
/// round trip; the time is the whole invocation, as TAPD's delivery waits for it. Then the
/// same delivery as the first invocation of a fresh process (another instance has run
/// before, as in production: the shared TAPD token is in the table).
async fn distant(args: &Args, variant: &Variant, latency: Latency) -> (PathStats, PathStats, PathStats, PathStats) {
    let mut ctx = Ctx::new(variant, latency).await.unpaced();
    let helper = ctx.spawn("oauth").await;
    ctx.connect_webhook_workspace(&helper).await;
    let webhook = ctx.spawn("tapd-webhook").await;
    let runs = (args.warm / 4).max(10);
    let mut linked = PathStats::new("tapd-webhook: linked story (warm)");
    let mut done = Vec::new();
    for i in 0..runs + 2 {
        let (id, event) = ctx.new_story();
        let (inv, took, trips) = ctx.measure(&webhook, event).await;
        let resp = answered(&inv, &webhook, 200, "distant webhook");
        assert_eq!(resp.json().unwrap_or_default()["status"], "linked", "{}", resp.body);
        if i >= 2 {
            linked.push(took, trips);
        }
        done.push(id);
    }
    // The card's floor (#34): a change to a linked story, its card rewritten from a fresh read
    // of the item and of the doc, with distance on every round trip.
    let mut card = PathStats::new("tapd-webhook: card update (warm)");
    for (i, id) in done.iter().enumerate().skip(2) {
        let priority = if i % 2 == 0 { "Low" } else { "Middle" };
        ctx.stack
            .sandbox
            .change_item(WS, ItemKind::Story, id, &[("priority", priority)], "bench", false)
            .await
            .expect("change the story");
        let (inv, took, trips) = ctx.measure(&webhook, update_event(id, &format!("dup-{i}"))).await;
        let resp = answered(&inv, &webhook, 200, "distant card update");
        assert_eq!(resp.json().unwrap_or_default()["status"], "card_written", "{}", resp.body);
        card.push(took, trips);
    }
    let mut cold = PathStats::new("tapd-webhook: linked story (cold: first invocation)");
    for _ in 0..args.first.max(10) {
        let fresh = ctx.spawn("tapd-webhook").await;
        let (_, event) = ctx.new_story();
        let (inv, took, trips) = ctx.measure(&fresh, event).await;
        let resp = answered(&inv, &fresh, 200, "distant cold webhook");
        assert_eq!(resp.json().unwrap_or_default()["status"], "linked", "{}", resp.body);
        cold.push(took, trips);
    }
    let recovery = recovery(&mut ctx, args.first.max(10)).await;
    drop_table(&ctx.stack.table).await;
    eprintln!("bench: {}: latency mode done", variant.label);
    (linked, cold, recovery, card)
}

/// The latency mode's worst recovery path: a story whose doc create, intro and comment all
/// lose their replies (each landed; the instance cannot tell), on a warm instance. The delivery
/// lists the folder for the doc its create made and adopts it, reads the doc's text back before
/// writing the intro again, and looks for the comment before posting it again.
async fn recovery(ctx: &mut Ctx, runs: usize) -> PathStats {
    use sandbox::{Fault, FaultKind};
    let webhook = ctx.spawn("tapd-webhook").await;
    let lose = |method: &str, path: &str| Fault {
        method: Some(method.into()),
        path_prefix: path.into(),
        kind: FaultKind::DropReply,
        times: 1,
    };
    let (_, warm_up) = ctx.new_story();
    answered(&webhook.invoke(warm_up).await, &webhook, 200, "warming up");
    let mut stats =
        PathStats::new("tapd-webhook: linked story, the replies of its create, intro and comment lost (warm)");
    for _ in 0..runs {
        let (id, event) = ctx.new_story();
        ctx.stack.sandbox.inject(lose("POST", "/tdoc/openapi/drive/v2/files$"));
        ctx.stack.sandbox.inject(lose("POST", "/tdoc/openapi/doc/v3/"));
        ctx.stack.sandbox.inject(lose("POST", "/tapd/api/comments"));
        let (inv, took, trips) = ctx.measure(&webhook, event).await;
        let resp = answered(&inv, &webhook, 200, "recovering webhook");
        assert_eq!(resp.json().unwrap_or_default()["status"], "linked", "{}", resp.body);
        assert!(ctx.stack.sandbox.faults().is_empty(), "a reply meant to be lost was not: {:?}", trips.labels);
        let docs = ctx.stack.sandbox.docs().into_iter().filter(|d| !d.deleted && d.content.contains(&id)).count();
        let comments = ctx.stack.sandbox.comments().into_iter().filter(|c| c.entry_id == id).count();
        assert_eq!((docs, comments), (1, 1), "story {id}: docs and comments after the recovery");
        stats.push(took, trips);
    }
    stats
}

/// The default `TAPD_BUDGET` and its window (shared/src/config.rs).
pub const DEFAULT_TAPD_BUDGET: u32 = 1500;
/// TAPD's limit: requests per 10 minutes per app.
pub const TAPD_LIMIT: u32 = 1800;

/// The latency mode's drain: `args.drain` stories made pending (as an outage leaves them: a
/// record due now, no doc), then scheduled runs of a tapd-webhook with distance on every round
/// trip. Two runs at the default budget (one window), then one with a budget that does not bind.
async fn drain(args: &Args, variant: &Variant, latency: Latency) -> Drain {
    let mut ctx = Ctx::new(variant, latency).await;
    let helper = ctx.spawn("oauth").await;
    ctx.connect_webhook_workspace(&helper).await;
    let store = ctx.stack.store().await;
    let t0 = Instant::now();
    let ids: Vec<String> = (0..args.drain)
        .map(|_| {
            let n = ctx.next_id();
            let id = format!("11200032719{n:08}");
            ctx.stack.sandbox.add_item(WS, ItemKind::Story, &id, &format!("Backlog {n}"));
            id
        })
        .collect();
    let keys: Vec<shared::store::ItemKey> = ids.iter().map(|id| harness::flows::story_key(id)).collect();
    seed_pending(&store, &keys, "bench").await;
    let seed = t0.elapsed();
    eprintln!("bench: {}: {} pending items seeded in {:.0} s", variant.label, ids.len(), seed.as_secs_f64());

    let deadline = Duration::from_secs(30); // template.yaml: the webhook function's Timeout
    let mut runs = Vec::new();
    let mut budget_used = 0;
    for budget in [DEFAULT_TAPD_BUDGET, DEFAULT_TAPD_BUDGET, 1_000_000] {
        let env: Vec<(String, String)> =
            ctx.env.iter().cloned().chain([("TAPD_BUDGET".to_owned(), budget.to_string())]).collect();
        let mut f = Function::spawn(&variant.bin("tapd-webhook"), &env).await;
        assert!(f.wait_ready(READY_TIMEOUT).await, "tapd-webhook did not start: {:?}", f.logs());
        let (d, u) = (ctx.dynamo.mark(), ctx.upstream.mark());
        let t = Instant::now();
        let inv = f.invoke_with_deadline(harness::apigw::scheduled_event(), deadline).await;
        let wall = t.elapsed();
        // A run that outlives its deadline has no answer: what it linked is in its logs.
        let answered = inv.response().cloned();
        let logged = f.logs().iter().filter(|l| l.contains("\"item linked\"")).count() as u64;
        let summary = answered.clone().unwrap_or_else(|| json!({"timed_out": true}));
        let upstream = ctx.upstream.since(u);
        runs.push(DrainRun {
            budget,
            wall,
            linked: summary["linked"].as_u64().unwrap_or(logged),
            summary,
            tapd_requests: upstream.iter().filter(|r| r.label.starts_with("TAPD")).count(),
            tapd_token_requests: upstream
                .iter()
                .filter(|r| r.label.starts_with("TAPD") && r.label.contains("/tokens/"))
                .count(),
            tdoc_requests: upstream.iter().filter(|r| !r.label.starts_with("TAPD")).count(),
            dynamo_requests: ctx.dynamo.since(d).len(),
            in_time: answered.is_some() && wall < deadline,
        });
        f.kill().await;
        if budget == DEFAULT_TAPD_BUDGET {
            budget_used = store.budget_used(600).await.unwrap_or(0);
        }
        eprintln!("bench: {}: drain run at budget {budget}: {:?}", variant.label, runs.last().map(|r| &r.summary));
    }
    let mut docs: BTreeMap<String, usize> = BTreeMap::new();
    for doc in ctx.stack.sandbox.docs() {
        if let Some(id) = ids.iter().find(|id| doc.content.contains(&format!("/view/{id}"))) {
            *docs.entry(id.clone()).or_default() += 1;
        }
    }
    let mut comments: BTreeMap<String, usize> = BTreeMap::new();
    for c in ctx.stack.sandbox.comments() {
        *comments.entry(c.entry_id.clone()).or_default() += 1;
    }
    let linked_twice = ids
        .iter()
        .filter(|id| docs.get(*id).copied().unwrap_or(0) > 1 || comments.get(*id).copied().unwrap_or(0) > 1)
        .count();
    let linked_once = ids.iter().filter(|id| docs.get(*id) == Some(&1) && comments.get(*id) == Some(&1)).count();
    drop_table(&ctx.stack.table).await;
    Drain { backlog: ids.len(), seed, deadline, runs, budget_used, linked_twice, linked_once }
}

/// Deletes a table the run made, so the next variant's scenario meets a local DynamoDB in
/// the same state as the first one's (moto slows down as it holds more).
async fn drop_table(table: &str) {
    let _ = harness::dynamo::client().await.delete_table().table_name(table).send().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `--sim`: the simulation bench (sim.rs), its own arguments and section of BENCHMARKS.md.
    if std::env::args().nth(1).as_deref() == Some("--sim") {
        return sim::main(std::env::args().skip(2)).await;
    }
    let args = parse_args();
    let started = Instant::now();
    let machine = report::Machine::probe();
    eprintln!(
        "bench: {} variant(s), {} cold starts per binary, {} fresh processes per first invocation, {} warm invocations per path",
        args.variants.len(),
        args.cold,
        args.first,
        args.warm
    );
    let mut results: Vec<VariantResult> = args.variants.iter().map(|_| VariantResult::default()).collect();
    if args.refusals {
        println!("{}", refusals::run(&args.variants).await);
        return;
    }
    if args.console_only {
        let c = console::run(&args.variants[0], args.latency.unwrap_or_default(), 20).await;
        let mut text = String::new();
        report::console_section(&mut text, &args.variants[0].label, &c);
        println!("{text}");
        return;
    }
    cold_starts(&args, &mut results).await;
    if args.cold_only {
        println!("| variant | binary | init p50 | init p90 | on-CPU p50 | RSS p50 |");
        println!("|---|---|---:|---:|---:|---:|");
        for (variant, result) in args.variants.iter().zip(&results) {
            for (name, c) in &result.cold {
                let ms = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.2} ms", d.as_secs_f64() * 1e3));
                println!(
                    "| {} | {name} | {} | {} | {} | {} KiB |",
                    variant.label,
                    ms(report::percentile(&c.init, 50.0)),
                    ms(report::percentile(&c.init, 90.0)),
                    ms(report::percentile(&c.cpu, 50.0)),
                    report::percentile(&c.rss_kib, 50.0).unwrap_or(0)
                );
            }
        }
        return;
    }
    for (variant, result) in args.variants.iter().zip(results.iter_mut()) {
        scenario(&args, variant, result).await;
        if let Some(latency) = args.latency {
            let (warm, cold, recovery, card) = distant(&args, variant, latency).await;
            result.distant = Some(warm);
            result.distant_card = Some(card);
            result.distant_cold = Some(cold);
            result.distant_recovery = Some(recovery);
            if args.drain > 0 && result.drain.is_none() && std::ptr::eq(variant, &args.variants[0]) {
                result.drain = Some(drain(&args, variant, latency).await);
            }
            if std::ptr::eq(variant, &args.variants[0]) {
                result.console = Some(console::run(variant, latency, 20).await);
            }
        }
    }
    let arm64 = report::arm64_sizes(&args.arm64);
    let text = report::render(&args, &machine, &results, &arm64, started.elapsed());
    println!("{text}");
    if let Some(out) = &args.out {
        report::write(out, &text).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
        eprintln!("bench: wrote {}", out.display());
    }
}

/// For `report`: a path relative to the workspace root when it is inside it.
pub fn shown(path: &Path) -> String {
    let root = harness::workspace_root();
    path.strip_prefix(&root).map(|p| p.display().to_string()).unwrap_or_else(|_| path.display().to_string())
}

/// Leaves `keys` pending and due now, as an outage does: each claimed (its record made, as a
/// delivery's first attempt would) and released for a retry. `who` names the seeder in the
/// records (`<who>-outage`).
pub(crate) async fn seed_pending(store: &shared::store::Store, keys: &[shared::store::ItemKey], who: &str) {
    use futures::StreamExt;
    use shared::store::ClaimOutcome;
    let now =
        || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    let why = format!("TAPD unavailable ({who} outage)");
    futures::stream::iter(keys)
        .map(|key| {
            let why = why.as_str();
            async move {
                let owner = format!("{who}-outage");
                match store.claim_item(key, Some(&format!("outage-{}", key.id)), &owner, now() + 60_000).await {
                    Ok(ClaimOutcome::Claimed(claim)) => store
                        .release_for_retry(&claim, shared::reason::Reason::legacy(why), why, now().saturating_sub(1000))
                        .await
                        .expect("release the seeded claim"),
                    other => panic!("seeding {key}: {other:?}"),
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}
