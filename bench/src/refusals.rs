//! `--refusals`: the peak RSS of a fresh `tapd-webhook` refusing each of the costliest bodies
//! a stranger can send it (`harness::hostile`: 5.9 MB of tiny JSON members, nested arrays,
//! one huge string, tiny form fields, a base64-encoded body; a wrong or missing secret), next
//! to the same process refusing a small delivery. Each body goes to a process of its own, so
//! its VmHWM is that body's alone. The contract bounds it at 64 MiB; printed, not written (the
//! hand-run table in BENCHMARKS.md is from it).

use std::fmt::Write as _;

use harness::Function;
use harness::apigw::Request;
use harness::hostile;
use serde_json::json;

use crate::proxy::Latency;
use crate::{Ctx, READY_TIMEOUT, Variant, WEBHOOK_PATH, WS};

/// Fresh processes per shape; the table shows the highest peak.
const RUNS: usize = 3;
const MIB: f64 = 1024.0 * 1024.0;

/// One shape's figures.
struct Row {
    name: String,
    body_bytes: usize,
    event_bytes: usize,
    statuses: Vec<u16>,
    peaks_kib: Vec<u64>,
    upstream: usize,
}

pub async fn run(variants: &[Variant]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| build | body | body size | event size | answer | peak RSS (max of {RUNS}) | peak RSS (min) | requests upstream |\n|---|---|---:|---:|---|---:|---:|---:|"
    );
    for variant in variants {
        for row in measure(variant).await {
            let mut statuses = row.statuses.clone();
            statuses.dedup();
            let max = row.peaks_kib.iter().max().copied().unwrap_or(0) as f64 * 1024.0 / MIB;
            let min = row.peaks_kib.iter().min().copied().unwrap_or(0) as f64 * 1024.0 / MIB;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {statuses:?} | {max:.1} MiB | {min:.1} MiB | {} |",
                variant.label,
                row.name,
                size(row.body_bytes),
                size(row.event_bytes),
                row.upstream
            );
        }
    }
    out
}

/// `5.90 MB`, or `1.2 kB` below a tenth of a megabyte (10³ and 10⁶ bytes, as the report's MB).
fn size(bytes: usize) -> String {
    if bytes < 100_000 { format!("{:.1} kB", bytes as f64 / 1e3) } else { format!("{:.2} MB", bytes as f64 / 1e6) }
}

async fn measure(variant: &Variant) -> Vec<Row> {
    let ctx = Ctx::new(variant, Latency::default()).await;
    let helper = ctx.spawn("oauth").await;
    ctx.connect_webhook_workspace(&helper).await;
    let small = Request::post_json(
        WEBHOOK_PATH,
        &json!({"event": "story::create", "workspace_id": WS, "secret": "whsec-guess"}),
    );
    let mut cases = vec![("a small delivery, wrong secret (the floor)".to_owned(), small)];
    cases.extend(hostile::refusals());
    let mut rows = Vec::new();
    for (name, request) in cases {
        let body_bytes = request.body.as_ref().map_or(0, Vec::len);
        let event = request.to_event();
        let event_bytes = event.to_string().len();
        let mut row = Row { name, body_bytes, event_bytes, statuses: vec![], peaks_kib: vec![], upstream: 0 };
        for _ in 0..RUNS {
            let mut f = Function::spawn(&variant.bin("tapd-webhook"), &ctx.env).await;
            assert!(f.wait_ready(READY_TIMEOUT).await, "tapd-webhook did not start: {:?}", f.logs());
            let mark = ctx.upstream.mark();
            let answer = harness::apigw::Response::from_invocation(&f.invoke(event.clone()).await);
            row.statuses.push(answer.map_or(0, |r| r.status));
            row.peaks_kib.push(f.peak_rss_kib().unwrap_or(0));
            row.upstream += ctx.upstream.since(mark).len();
            f.kill().await;
        }
        eprintln!("bench: {}: {}: peaks {:?} KiB", variant.label, row.name, row.peaks_kib);
        rows.push(row);
    }
    crate::drop_table(&ctx.stack.table).await;
    rows
}
