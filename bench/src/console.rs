//! The console's pages with 10,000 items in the workspace: what each page asks of the table
//! (requests, how many one after another) and how long the function itself takes to answer.
//!
//! The items are written as the product writes them: one record per state is made through
//! the store's own calls, then copied with new ids (a BatchWriteItem per 25). The local
//! DynamoDB (moto) answers an index query in time that grows with the table (it reads every
//! item to find a partition's), which DynamoDB does not: so the page's own time is its wall
//! time less the time it waited on the table (the proxy's spans, overlapping ones once), and
//! the server time reported is that plus its sequential table round trips at DynamoDB's
//! single-digit latency (the latency mode's 5 ms). Moto's wall time is reported beside it.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use harness::apigw::Request;
use shared::ids::{ItemId, ItemKind as Kind, WorkspaceId};
use shared::store::{ClaimOutcome, Doc, ItemKey, Store};
use shared::time::now_millis;

use crate::proxy::{Kind as ProxyKind, Latency, Record};

type Item = std::collections::HashMap<String, AttributeValue>;
use crate::{Ctx, Variant, WS, cpu_time};

/// Items in the workspace.
pub const ITEMS: usize = 10_000;
const WAITING: usize = 60;
const GIVEN_UP: usize = 40;

#[derive(Debug, Default, Clone)]
pub struct ConsolePage {
    pub name: String,
    /// Wall time against moto.
    pub wall: Vec<Duration>,
    /// Wall time less the time spent waiting on the table.
    pub own: Vec<Duration>,
    /// The function's on-CPU time.
    pub cpu: Vec<Duration>,
    pub dynamo_requests: usize,
    pub dynamo_sequential: usize,
    pub rows: usize,
}

#[derive(Debug, Default, Clone)]
pub struct ConsoleBench {
    pub items: usize,
    pub seed: Duration,
    /// DynamoDB's round trip the server time is given at.
    pub table_latency: Duration,
    pub pages: Vec<ConsolePage>,
}

/// The time the invocation waited on the table: the union of the DynamoDB spans.
fn table_wait(records: &[Record]) -> Duration {
    let mut spans: Vec<(Instant, Instant)> =
        records.iter().filter(|r| r.kind == ProxyKind::DynamoDb).map(|r| (r.start, r.end)).collect();
    spans.sort();
    let (mut total, mut cur): (Duration, Option<(Instant, Instant)>) = (Duration::ZERO, None);
    for (s, e) in spans {
        cur = match cur {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    total + cur.map_or(Duration::ZERO, |(s, e)| e - s)
}

/// One record of each state, written by the store's own calls, read back raw.
async fn templates(store: &Store, table: &str, ws: &WorkspaceId) -> Vec<(&'static str, Item)> {
    let mut out = Vec::new();
    for (state, n) in [("linked", 1u64), ("waiting", 2), ("given_up", 3)] {
        let key =
            ItemKey { workspace: ws.clone(), kind: Kind::Story, id: ItemId::parse(&format!("99{n:08}")).unwrap() };
        let ClaimOutcome::Claimed(mut claim) =
            store.claim_item(&key, Some("bench"), "bench", now_millis() + 60_000).await.unwrap()
        else {
            panic!("a new item is claimed")
        };
        match state {
            "linked" => {
                let doc = Doc {
                    id: "300000000$benchdoc".into(),
                    url: "https://docs.qq.com/doc/bench".into(),
                    title: "Bench story".into(),
                };
                store
                    .record_doc(&mut claim, doc.clone(), &shared::store::SentTo::Root, &shared::store::Account::App)
                    .await
                    .unwrap();
                store.record_done(&mut claim, doc, "1000000001").await.unwrap();
            }
            "waiting" => store
                .release_for_retry(
                    &claim,
                    shared::reason::Reason::legacy("Tencent Docs is rate limiting"),
                    "Tencent Docs is rate limiting",
                    now_millis() + 3_600_000,
                )
                .await
                .unwrap(),
            _ => store
                .give_up(
                    &mut claim,
                    shared::reason::Reason::legacy("given up after 72 h of retries: TAPD refused"),
                    "given up after 72 h of retries: TAPD refused",
                )
                .await
                .unwrap(),
        }
        let raw = harness::dynamo::client()
            .await
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(format!("ITEM#{ws}#story#99{n:08}")))
            .key("sk", AttributeValue::S("LINK".into()))
            .send()
            .await
            .unwrap()
            .item
            .expect("the record");
        out.push((state, raw));
    }
    out
}

/// `template` as item `id`, first seen at `seen_ms`: every attribute naming the item follows.
fn copy(template: &Item, old_pk: &str, new_pk: &str, old_id: &str, new_id: &str, seen_ms: u64) -> Item {
    template
        .iter()
        .map(|(k, v)| {
            let v = match (k.as_str(), v) {
                ("created_at" | "pending_since", _) => AttributeValue::N(seen_ms.to_string()),
                ("gsi2sk", _) => AttributeValue::S(format!("{seen_ms:015}#{new_pk}")),
                ("gsi1sk", AttributeValue::S(s)) if s.starts_with(WS) => {
                    AttributeValue::S(format!("{WS}#{seen_ms:015}#{new_pk}"))
                }
                // Linked when first seen: on that day's list.
                ("gsi1pk", AttributeValue::S(s)) if s.starts_with("LINKED#") => {
                    AttributeValue::S(format!("LINKED#{WS}#{}", &shared::time::tapd_time(seen_ms)[..10]))
                }
                ("gsi1sk", AttributeValue::S(_))
                    if template.get("gsi1pk").and_then(|v| v.as_s().ok()).is_some_and(|p| p.starts_with("LINKED#")) =>
                {
                    AttributeValue::S(format!("{seen_ms:015}#{new_pk}"))
                }
                (_, AttributeValue::S(s)) => AttributeValue::S(s.replace(old_pk, new_pk).replace(old_id, new_id)),
                (_, other) => other.clone(),
            };
            (k.clone(), v)
        })
        .collect()
}

async fn seed(store: &Store, table: &str) -> usize {
    let ws = WorkspaceId::parse(WS).unwrap();
    let templates = templates(store, table, &ws).await;
    let client = harness::dynamo::client().await;
    let now = now_millis();
    let mut batch = Vec::new();
    let mut written = templates.len();
    for i in 0..ITEMS - templates.len() {
        let state = if i < WAITING {
            1
        } else if i < WAITING + GIVEN_UP {
            2
        } else {
            0
        };
        let (_, template) = &templates[state];
        let old_id = format!("99{:08}", state + 1);
        let new_id = format!("1120003271{:09}", 500_000 + i);
        let (old_pk, new_pk) = (format!("ITEM#{WS}#story#{old_id}"), format!("ITEM#{WS}#story#{new_id}"));
        // Spread over 30 days, newest last.
        let seen = now - (ITEMS - i) as u64 * 259_200;
        let item = copy(template, &old_pk, &new_pk, &old_id, &new_id, seen);
        batch.push(
            WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().unwrap()).build(),
        );
        if batch.len() == 25 {
            let out = client.batch_write_item().request_items(table, std::mem::take(&mut batch)).send().await.unwrap();
            assert!(out.unprocessed_items.is_none_or(|u| u.is_empty()), "moto processes every put");
            written += 25;
        }
    }
    if !batch.is_empty() {
        written += batch.len();
        client.batch_write_item().request_items(table, batch).send().await.unwrap();
    }
    written
}

/// Seeds the workspace, signs a session in, and measures each page `n` times.
pub async fn run(variant: &Variant, latency_for_model: Latency, n: usize) -> ConsoleBench {
    let ctx = Ctx::new(variant, Latency::default()).await;
    let oauth = ctx.spawn("oauth").await;
    ctx.connect_webhook_workspace(&oauth).await;
    let store = ctx.stack.store().await;
    let t0 = Instant::now();
    let items = seed(&store, &ctx.stack.table).await;
    let seed_time = t0.elapsed();
    let token = format!("bench{}", "x".repeat(60));
    store.put_session(&token, &WorkspaceId::parse(WS).unwrap(), "bench (TAPD 1)", 3600).await.unwrap();
    let cookie = format!("{}={token}", "__Host-tapd-docs-console");
    let first = oauth.http(&Request::get(&format!("/console/ws/{WS}")).header("cookie", &cookie)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let next = first.body.split("after=").nth(1).and_then(|s| s.split('"').next()).expect("a next page").to_owned();
    let paths = [
        ("overview and newest items", format!("/console/ws/{WS}")),
        ("next page", format!("/console/ws/{WS}?after={next}")),
        ("linked", format!("/console/ws/{WS}?state=linked")),
        ("waiting", format!("/console/ws/{WS}?state=waiting")),
        ("given up", format!("/console/ws/{WS}?state=given_up")),
    ];
    let mut pages = Vec::new();
    for (name, path) in paths {
        let mut page = ConsolePage { name: name.into(), ..Default::default() };
        for _ in 0..n {
            let mark = ctx.dynamo.mark();
            let cpu0 = cpu_time(oauth.pid());
            let t = Instant::now();
            let resp =
                oauth.http(&Request::get(&path).header("cookie", &cookie).header("accept-language", "zh-CN")).await;
            let wall = t.elapsed();
            assert_eq!(resp.status, 200, "{name}: {}", resp.body);
            let records = ctx.dynamo.since(mark);
            page.wall.push(wall);
            page.cpu.push(cpu_time(oauth.pid()).saturating_sub(cpu0));
            page.own.push(wall.saturating_sub(table_wait(&records)));
            page.dynamo_requests = records.len();
            page.dynamo_sequential = crate::proxy::critical_path(&records);
            page.rows = resp.body.matches("<tr data-item=").count();
        }
        pages.push(page);
    }
    crate::drop_table(&ctx.stack.table).await;
    ConsoleBench { items, seed: seed_time, table_latency: latency_for_model.dynamo, pages }
}
