//! A bounded burst on loopback: 500 deliveries of 400 new items (a fifth of them
//! duplicates, some with the same event id, some with a new one, in random order), spread
//! over several function instances at once, with a few upstream failures injected. Zero
//! docs lost or duplicated, and no 5xx beyond the injected faults.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use harness::apigw::scheduled_event;
use harness::flows::{self, WORKSPACE, story_delivery};
use sandbox::{Fault, FaultKind, ItemKind};

const ITEMS: usize = 400;
const DUPLICATES: usize = 100;
const INSTANCES: usize = 6;
const INJECTED_503: u32 = 12;

/// A small deterministic generator (xorshift), so a failure replays the same burst.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_with_duplicates_over_many_instances_links_each_item_once() {
    harness::needs_local_stack!();
    // What the burst leaves pending is due at the next scheduled run (no backoff wait).
    let env = [("RETRY_PERIOD", "0s"), ("TDOC_CALLS_PER_MINUTE", "100000")];
    let (stack, first) = flows::connected(&env).await;
    // About exactly once in a burst, not Tencent Docs' 300 calls a minute per Open-Id (the burst
    // makes more): the sandbox and the product let it go faster.
    stack.sandbox.set_tdoc_limits(sandbox::TdocLimits { file_ops_per_window: None, ..Default::default() });
    let mut instances = vec![first];
    for _ in 1..INSTANCES {
        instances.push(stack.spawn("tapd-webhook", &env).await);
    }
    let ids: Vec<String> = (0..ITEMS).map(|n| format!("1120003271{:09}", 1000 + n)).collect();
    for (n, id) in ids.iter().enumerate() {
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, &format!("Load {n}"));
    }
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut deliveries: Vec<(usize, String)> = (0..ITEMS).map(|n| (n, "1".to_owned())).collect();
    for i in (1..deliveries.len()).rev() {
        deliveries.swap(i, rng.below(i + 1));
    }
    for d in 0..DUPLICATES {
        // Half are TAPD's retries of the same event, half new events about the same item;
        // half follow their original closely (on another instance, while it is in flight),
        // half come anywhere later.
        let at = rng.below(deliveries.len());
        let n = deliveries[at].0;
        let event_id = if d.is_multiple_of(2) { "1".to_owned() } else { format!("dup-{d}") };
        let to = if d % 4 < 2 { at + 1 } else { at + 1 + rng.below(deliveries.len() - at) };
        deliveries.insert(to.min(deliveries.len()), (n, event_id));
    }
    // A few Tencent Docs failures, spread through the burst by the delivery order.
    stack.sandbox.inject(Fault {
        method: Some("POST".into()),
        path_prefix: "/tdoc/openapi/drive".into(),
        kind: FaultKind::Status(503),
        times: INJECTED_503,
    });

    let started = Instant::now();
    let statuses: Vec<(usize, u16, String)> = futures::stream::iter(deliveries.iter().enumerate())
        .map(|(i, (n, event_id))| {
            let f = &instances[i % INSTANCES];
            let req = story_delivery(&ids[*n], event_id);
            async move {
                let resp = f.http(&req).await;
                let status = resp.json().and_then(|v| v["status"].as_str().map(str::to_owned)).unwrap_or_default();
                (*n, resp.status, status)
            }
        })
        .buffer_unordered(INSTANCES * 2)
        .collect()
        .await;
    let burst = started.elapsed();

    let server_errors = statuses.iter().filter(|(_, s, _)| *s >= 500).count();
    assert!(server_errors <= INJECTED_503 as usize, "{server_errors} 5xx for {INJECTED_503} injected faults");
    assert!(statuses.iter().all(|(_, s, _)| *s == 200 || *s >= 500), "only 200s and injected 5xx");
    let mut by_status: HashMap<&str, usize> = HashMap::new();
    for (_, _, s) in &statuses {
        *by_status.entry(s.as_str()).or_default() += 1;
    }
    stack.sandbox.clear_faults();
    // What the burst left pending (an injected failure that outlasted a delivery's retries,
    // or a duplicate answered "in progress" for an item whose first delivery then failed)
    // is the schedule's.
    let retry = instances[0].invoke(scheduled_event()).await;
    let retry = retry.response().cloned().unwrap_or_default();

    let mut docs: HashMap<String, usize> = HashMap::new();
    for d in stack.sandbox.docs() {
        *docs.entry(d.title).or_default() += 1;
    }
    let mut comments: HashMap<String, usize> = HashMap::new();
    for c in stack.sandbox.comments() {
        *comments.entry(c.entry_id).or_default() += 1;
    }
    let store = stack.store().await;
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(docs.get(&format!("Load {n}")).copied().unwrap_or(0), 1, "docs of item {n}");
        assert_eq!(comments.get(id).copied().unwrap_or(0), 1, "comments of item {n}");
        assert_eq!(store.item(&flows::story_key(id)).await.unwrap().unwrap().stage.status(), "done", "item {n}");
    }
    assert_eq!(stack.sandbox.docs().len(), ITEMS);
    for f in &instances {
        flows::assert_no_panic(f);
    }
    println!(
        "{} deliveries ({ITEMS} items, {DUPLICATES} duplicates) over {INSTANCES} instances in {burst:?} \
         ({:.0}/s); answers {by_status:?}; {server_errors} 5xx for {INJECTED_503} injected faults; \
         the scheduled retry then: {retry}",
        deliveries.len(),
        deliveries.len() as f64 / burst.as_secs_f64(),
    );
    assert!(burst < Duration::from_secs(90), "{burst:?}");
}
