//! The card (#34): a linked doc's first block shows the item as TAPD shows it now, rewritten in
//! place from a fresh read of the item and of the doc on every change TAPD reports; people's
//! text stays byte for byte; exactly one card whatever is redelivered, reordered, concurrent or
//! lost; bursts coalesced; docs made before the card get it on their next change. Through the
//! real `tapd-webhook` binary against the sandboxes (whose doc model numbers paragraphs as the
//! documented read does, and rebases a write made against a recent version).

use std::time::Duration;

use harness::apigw::Request;
use harness::flows::{self, WORKSPACE as WS, link_record, story_delivery};
use harness::stack::{Stack, WEBHOOK_SECRET};
use harness::{Function, Invocation};
use sandbox::{DocEdit, Fault, FaultKind, ItemKind};
use serde_json::{Value, json};
use shared::store::EventKind;

const PATH: &str = "/webhooks/tapd";

/// A person's paragraphs: Chinese, an emoji (two UTF-16 units), a URL of the item itself.
const NOTES: &str = "会议纪要：这一段是团队自己写的，不应被改动。😀";
const TAIL: &str = "结尾 https://example.com/a?b=1 — 别动";

/// A story in [`WS`] with a status, owners, a priority and an iteration, linked: its doc's id.
async fn linked(stack: &Stack, webhook: &Function, id: &str, iteration: &str) -> String {
    let it = stack.sandbox.add_iteration(WS, None, iteration);
    stack.sandbox.add_item_with_fields(
        WS,
        ItemKind::Story,
        id,
        "按月导出成本报表",
        &[("status", "planning"), ("owner", "alice;"), ("priority", "High"), ("iteration_id", &it.id)],
    );
    let resp = webhook.http(&story_delivery(id, &format!("c{id}"))).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json().unwrap()["status"], "linked");
    link_record(stack, id).await.unwrap().stage.doc().unwrap().id.clone()
}

fn paras(stack: &Stack, file: &str) -> Vec<String> {
    stack.sandbox.doc_text(file).unwrap().paragraphs.into_iter().map(|p| p.text).collect()
}

/// Paragraphs that look like a card of `id` (the product's marker at their end).
fn cards(paras: &[String], id: &str) -> usize {
    paras
        .iter()
        .filter(|p| p.starts_with("TAPD 需求 #") && p.contains(&format!("/view/{id}")) && p.ends_with('〕'))
        .count()
}

/// A person changes the item in TAPD; TAPD's deliveries (update, and status_change for a status
/// move) are sent to `webhook`, in order: their answers.
async fn change(stack: &Stack, webhook: &Function, id: &str, fields: &[(&str, &str)]) -> Vec<Value> {
    let events = change_quietly(stack, id, fields).await;
    let mut answers = Vec::new();
    for e in events {
        answers.push(deliver(webhook, &e).await);
    }
    answers
}

/// The change, its deliveries returned unsent.
async fn change_quietly(stack: &Stack, id: &str, fields: &[(&str, &str)]) -> Vec<Value> {
    let ch = stack.sandbox.change_item(WS, ItemKind::Story, id, fields, "bob", false).await.unwrap();
    ch.events
        .into_iter()
        .map(|mut e| {
            e["secret"] = json!(WEBHOOK_SECRET);
            e
        })
        .collect()
}

async fn deliver(webhook: &Function, event: &Value) -> Value {
    let resp = webhook.http(&Request::post_json(PATH, event)).await;
    assert_eq!(resp.status, 200, "{}: {}", event["event"], resp.body);
    resp.json().unwrap()
}

/// The item's TAPD link as the card shows it (the deployment's `TAPD_WEB_BASE`).
fn item_url(card: &str) -> String {
    let from = card.find("在 TAPD 中查看：").unwrap() + "在 TAPD 中查看：".len();
    card[from..card.rfind(" 〔").unwrap()].to_owned()
}

/// The change, while every read of a doc fails: its first delivery is answered 502 (the
/// function's time runs out), the card not written. Its deliveries; the fault stays.
async fn change_while_docs_fail(stack: &Stack, webhook: &Function, id: &str, fields: &[(&str, &str)]) -> Vec<Value> {
    stack.sandbox.inject(Fault {
        method: Some("GET".into()),
        path_prefix: "/tdoc/openapi/doc/v3/".into(),
        kind: FaultKind::Status(503),
        times: 0,
    });
    let events = change_quietly(stack, id, fields).await;
    let resp = match webhook
        .invoke_with_deadline(Request::post_json(PATH, &events[0]).to_event(), Duration::from_millis(4_600))
        .await
    {
        Invocation::Response(v) => harness::apigw::Response::from_value(&v),
        other => panic!("{other:?}"),
    };
    assert_eq!(resp.status, 502, "{}", resp.body);
    events
}

fn batch_updates(stack: &Stack) -> usize {
    stack.sandbox.requests().iter().filter(|r| r.method == "POST" && r.path.contains("batchUpdate")).count()
}

#[tokio::test]
async fn a_new_doc_starts_with_the_card_by_the_workspaces_names() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000101";
    let file = linked(&stack, &webhook, id, "2026 第四季度 · 冲刺 3").await;
    let p = paras(&stack, &file);
    let card = &p[0];
    assert!(card.starts_with(&format!("TAPD 需求 #{id}：按月导出成本报表｜状态：规划中｜处理人：alice｜优先级：High｜迭代：2026 第四季度 · 冲刺 3｜在 TAPD 中查看：")), "{card}");
    assert!(card.contains(&format!("/{WS}/prong/stories/view/{id}")), "{card}");
    assert_eq!(cards(&p, id), 1);
}

#[tokio::test]
async fn a_change_rewrites_the_card_in_place_and_peoples_text_stays_byte_for_byte() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000102";
    let file = linked(&stack, &webhook, id, "冲刺 3").await;
    // People write around the card.
    let n = paras(&stack, &file).len();
    stack
        .sandbox
        .edit_doc(
            &file,
            &[
                DocEdit::InsertParagraph { paragraph: 1, text: NOTES.into() },
                DocEdit::InsertParagraph { paragraph: n + 1, text: TAIL.into() },
            ],
        )
        .unwrap();
    let before = paras(&stack, &file);
    let answers = change(&stack, &webhook, id, &[("status", "developing"), ("owner", "bob;carol;")]).await;
    assert!(answers.iter().any(|a| a["status"] == "card_written"), "{answers:?}");
    let after = paras(&stack, &file);
    assert!(after[0].contains("｜状态：开发中｜处理人：bob, carol｜"), "{}", after[0]);
    assert_eq!(after[1..], before[1..], "only the card changed");
    assert_eq!(cards(&after, id), 1);
    let record = link_record(&stack, id).await.unwrap();
    assert!(record.history.iter().any(|e| e.what == EventKind::CardWritten), "{:?}", record.history);

    // Every delivery again, newest first (late, twice, out of order): the card shows what TAPD
    // shows now, and nothing is written for it.
    let writes = batch_updates(&stack);
    let all: Vec<Value> = stack.sandbox.deliveries().into_iter().map(|d| d.body).collect();
    let mut again = change_quietly(&stack, id, &[("priority", "Low")]).await;
    again.reverse();
    for e in again.iter().chain(all.iter()).chain(again.iter()) {
        deliver(&webhook, e).await;
    }
    let last = paras(&stack, &file);
    assert!(last[0].contains("｜优先级：Low｜") && last[0].contains("开发中"), "{}", last[0]);
    assert_eq!(last[1..], before[1..]);
    assert_eq!(cards(&last, id), 1);
    assert_eq!(batch_updates(&stack), writes + 1, "one write for the one change");
    // A change the card does not show writes nothing.
    let answers = change(&stack, &webhook, id, &[("description", "<p>新的描述</p>")]).await;
    assert!(answers.iter().all(|a| a["status"] == "unchanged"), "{answers:?}");
    assert_eq!(batch_updates(&stack), writes + 1);
}

#[tokio::test]
async fn a_card_a_person_edited_stays_theirs_and_a_deleted_one_comes_back_on_top() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000103";
    let file = linked(&stack, &webhook, id, "冲刺 4").await;
    let edited = paras(&stack, &file)[0].replacen("High", "很高（我改的）", 1);
    stack.sandbox.edit_doc(&file, &[DocEdit::ReplaceParagraph { paragraph: 0, text: edited.clone() }]).unwrap();
    change(&stack, &webhook, id, &[("priority", "Low")]).await;
    let p = paras(&stack, &file);
    assert!(p[0].contains("｜优先级：Low｜"), "{p:?}");
    assert_eq!(p[1], edited, "the person's edited card is their text now");
    assert_eq!(cards(&p, id), 2, "theirs and ours; ours is the one that ends with a matching checksum");

    // The card deleted (its text and its paragraph break): back at the top on the next change.
    let doc = stack.sandbox.doc_text(&file).unwrap();
    let (first, second) = (&doc.paragraphs[0], &doc.paragraphs[1]);
    stack
        .sandbox
        .edit_doc(&file, &[DocEdit::Delete { start: first.begin, length: second.begin - first.begin }])
        .unwrap();
    let without = paras(&stack, &file);
    assert_eq!(without[0], edited);
    change(&stack, &webhook, id, &[("owner", "dave;")]).await;
    let p = paras(&stack, &file);
    assert!(p[0].contains("｜处理人：dave｜"), "{p:?}");
    assert_eq!(p[1..], without[..], "nothing of theirs moved or changed");
}

#[tokio::test]
async fn a_doc_made_before_the_card_gets_it_where_the_old_intro_is_still_the_products() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000104";
    let file = linked(&stack, &webhook, id, "冲刺 5").await;
    let url = item_url(&paras(&stack, &file)[0]);
    // What the product wrote before the card (shared::link::intro_text): its lines, then the team's.
    let intro =
        [format!("TAPD 需求 #{id}：按月导出成本报表"), format!("在 TAPD 中查看：{url}"), "处理人：alice".to_owned()];
    stack
        .sandbox
        .edit_doc(
            &file,
            &[
                DocEdit::ReplaceParagraph { paragraph: 0, text: intro[0].clone() },
                DocEdit::InsertParagraph { paragraph: 1, text: intro[1].clone() },
                DocEdit::InsertParagraph { paragraph: 2, text: intro[2].clone() },
                DocEdit::InsertParagraph { paragraph: 3, text: NOTES.into() },
            ],
        )
        .unwrap();
    let before = paras(&stack, &file);
    assert_eq!(cards(&before, id), 0);
    change(&stack, &webhook, id, &[("status", "developing")]).await;
    let after = paras(&stack, &file);
    assert!(after[0].contains("｜状态：开发中｜"), "{after:?}");
    assert_eq!(after[1..], before[3..], "the old intro replaced, nothing else");

    // An old intro a person wrote into is theirs: left as it is, the card goes on top.
    let id2 = "1120003271001000105";
    let file2 = linked(&stack, &webhook, id2, "冲刺 6").await;
    let url2 = item_url(&paras(&stack, &file2)[0]);
    let touched = [format!("TAPD 需求 #{id2}：按月导出成本报表"), format!("在 TAPD 中查看：{url2}（看这里）")];
    stack
        .sandbox
        .edit_doc(
            &file2,
            &[
                DocEdit::ReplaceParagraph { paragraph: 0, text: touched[0].clone() },
                DocEdit::InsertParagraph { paragraph: 1, text: touched[1].clone() },
            ],
        )
        .unwrap();
    let before = paras(&stack, &file2);
    change(&stack, &webhook, id2, &[("priority", "Low")]).await;
    let after = paras(&stack, &file2);
    assert!(after[0].contains("｜优先级：Low｜"), "{after:?}");
    assert_eq!(after[1..], before[..]);
}

#[tokio::test]
async fn concurrent_deliveries_on_two_instances_leave_one_card_showing_tapd_now() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let other = stack.spawn("tapd-webhook", &[]).await;
    let id = "1120003271001000106";
    let file = linked(&stack, &webhook, id, "冲刺 7").await;
    let mut events = change_quietly(&stack, id, &[("status", "developing")]).await;
    events.extend(change_quietly(&stack, id, &[("owner", "erin;"), ("priority", "Low")]).await);
    let (a, b) = (&webhook, &other);
    let sends = events.iter().enumerate().map(|(i, e)| async move { deliver(if i % 2 == 0 { a } else { b }, e).await });
    futures::future::join_all(sends).await;
    // A delivery that found the item busy said its card is stale; the holder showed it.
    let p = paras(&stack, &file);
    assert_eq!(cards(&p, id), 1, "{p:?}");
    assert!(p[0].contains("｜状态：开发中｜处理人：erin｜优先级：Low｜"), "{}", p[0]);
}

#[tokio::test]
async fn a_burst_of_changes_is_shown_by_few_writes() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("CARD_WINDOW", "2s")]).await;
    let others = [
        stack.spawn("tapd-webhook", &[("CARD_WINDOW", "2s")]).await,
        stack.spawn("tapd-webhook", &[("CARD_WINDOW", "2s")]).await,
    ];
    let id = "1120003271001000107";
    let file = linked(&stack, &webhook, id, "冲刺 8").await;
    let writes = batch_updates(&stack);
    let mut events = Vec::new();
    for (i, p) in
        ["Low", "Middle", "High", "Low", "Middle", "High", "Low", "Middle", "High", "Nice To Have"].iter().enumerate()
    {
        events.extend(change_quietly(&stack, id, &[("priority", p), ("owner", &format!("u{i};"))]).await);
    }
    let fns = [&webhook, &others[0], &others[1]];
    let sends = events.iter().enumerate().map(|(i, e)| {
        let f = fns[i % 3];
        async move { deliver(f, e).await }
    });
    futures::future::join_all(sends).await;
    let p = paras(&stack, &file);
    assert_eq!(cards(&p, id), 1);
    assert!(p[0].contains("｜处理人：u9｜优先级：Nice To Have｜"), "{}", p[0]);
    let spent = batch_updates(&stack) - writes;
    assert!((1..=3).contains(&spent), "ten changes shown by {spent} writes");
}

#[tokio::test]
async fn a_renamed_iteration_shows_by_its_new_name() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000108";
    let file = linked(&stack, &webhook, id, "冲刺 9").await;
    let it = stack.sandbox.iterations().into_iter().find(|i| i.workspace_id == WS && i.name == "冲刺 9").unwrap();
    stack.sandbox.rename_iteration_quietly(WS, &it.id, "冲刺 9（延期）").unwrap();
    let delivered = json!({
        "event": "iteration::update", "workspace_id": WS, "id": it.id, "change_fields": "name,modified",
        "old_name": "冲刺 9", "secret": WEBHOOK_SECRET, "event_id": "it1"
    });
    assert_eq!(deliver(&webhook, &delivered).await["status"], "noted");
    change(&stack, &webhook, id, &[("priority", "Low")]).await;
    let p = paras(&stack, &file);
    assert!(p[0].contains("｜迭代：冲刺 9（延期）｜"), "{}", p[0]);
}

/// A renamed iteration, and none of its items changing after: the scheduled run redraws the
/// cards of the items in it (once every instance's cached name has lapsed), no others.
#[tokio::test]
async fn a_renamed_iteration_s_items_are_redrawn_by_the_scheduled_run() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let (a, b, other) = ("1120003271001000113", "1120003271001000114", "1120003271001000115");
    let file_a = linked(&stack, &webhook, a, "冲刺 13").await;
    let it = stack.sandbox.iterations().into_iter().find(|i| i.workspace_id == WS && i.name == "冲刺 13").unwrap();
    stack.sandbox.add_item_with_fields(WS, ItemKind::Story, b, "第二个需求", &[("iteration_id", &it.id)]);
    let resp = webhook.http(&story_delivery(b, "cb")).await;
    assert_eq!(resp.json().unwrap()["status"], "linked", "{}", resp.body);
    let file_other = linked(&stack, &webhook, other, "冲刺 14").await;
    let other_before = paras(&stack, &file_other);
    stack.sandbox.rename_iteration_quietly(WS, &it.id, "冲刺 13（延期）").unwrap();
    let delivered = json!({
        "event": "iteration::update", "workspace_id": WS, "id": it.id, "change_fields": "name,modified",
        "old_name": "冲刺 13", "secret": WEBHOOK_SECRET, "event_id": "it13"
    });
    assert_eq!(deliver(&webhook, &delivered).await["status"], "noted");
    // Queued for when every instance's cached name has lapsed: the two items in it, no other.
    let store = stack.store().await;
    let now = shared::time::now_millis();
    assert!(store.due_follows(now, 10).await.unwrap().is_empty(), "not before the names' lifetime");
    let later = now + shared::link::names::NAMES_TTL.as_millis() as u64 + 1_000;
    let mut queued: Vec<String> =
        store.due_follows(later, 10).await.unwrap().iter().map(|k| k.id.to_string()).collect();
    queued.sort();
    assert_eq!(queued, [a, b]);
    // Ten minutes on (the follow-ups made due now, as the clock would).
    for k in store.due_follows(later, 10).await.unwrap() {
        store.follow_later(&k, now).await.unwrap();
    }
    let run = webhook.invoke(harness::apigw::scheduled_event()).await;
    let summary = run.response().unwrap_or_else(|| panic!("{run:?}")).clone();
    assert_eq!(summary["followed_up"], 2, "{summary}");
    assert!(paras(&stack, &file_a)[0].contains("｜迭代：冲刺 13（延期）｜"), "{}", paras(&stack, &file_a)[0]);
    let file_b = link_record(&stack, b).await.unwrap().stage.doc().unwrap().id.clone();
    assert!(paras(&stack, &file_b)[0].contains("｜迭代：冲刺 13（延期）｜"), "{}", paras(&stack, &file_b)[0]);
    assert_eq!(paras(&stack, &file_other), other_before, "an item in another iteration is not touched");
    flows::assert_no_panic(&webhook);
}

/// Every new read failing once, every new write with its reply lost: the card still ends up
/// once, right, the people's text intact.
#[tokio::test]
async fn reads_failing_once_and_lost_write_replies_still_leave_one_right_card() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("HTTP_TIMEOUT_MS", "800")]).await;
    let faults: [(&str, &str, FaultKind); 7] = [
        ("GET", "/tapd/api/stories", FaultKind::Status(503)),
        ("GET", "/tdoc/openapi/doc/v3/", FaultKind::Status(503)),
        ("GET", "/tdoc/openapi/doc/v3/", FaultKind::Reset),
        ("POST", "/tdoc/openapi/doc/v3/", FaultKind::DropReply),
        ("GET", "/tapd/api/workflows/status_map", FaultKind::Status(503)),
        ("GET", "/tapd/api/workflows/last_steps", FaultKind::Malformed),
        ("GET", "/tapd/api/iterations", FaultKind::Status(503)),
    ];
    for (i, (method, path, kind)) in faults.into_iter().enumerate() {
        let id = format!("11200032710010002{i:02}");
        let file = linked(&stack, &webhook, &id, &format!("冲刺 F{i}")).await;
        stack.sandbox.edit_doc(&file, &[DocEdit::InsertParagraph { paragraph: 1, text: NOTES.into() }]).unwrap();
        let before = paras(&stack, &file);
        // A cold instance reads the workflow and the iteration again.
        let fresh = stack.spawn("tapd-webhook", &[("HTTP_TIMEOUT_MS", "800")]).await;
        stack.sandbox.inject(Fault {
            method: Some(method.into()),
            path_prefix: path.into(),
            kind: kind.clone(),
            times: 1,
        });
        let answers = change(&stack, &fresh, &id, &[("status", "developing"), ("priority", "Low")]).await;
        stack.sandbox.clear_faults();
        let p = paras(&stack, &file);
        assert_eq!(cards(&p, &id), 1, "{method} {path} {kind:?}: {p:?}");
        assert!(
            p[0].contains("｜状态：开发中｜") && p[0].contains("｜优先级：Low｜"),
            "{method} {path} {kind:?}: {answers:?} {p:?}"
        );
        assert_eq!(p[1..], before[1..], "{method} {path} {kind:?}");
    }
}

/// Updates and people's edits interleaved (a fixed pseudo-random walk, through the binary): one
/// card, equal to what TAPD shows, and every paragraph people wrote intact.
#[tokio::test]
async fn interleaved_changes_and_edits_leave_one_card_equal_to_tapd() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000109";
    let file = linked(&stack, &webhook, id, "冲刺 10").await;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let statuses = ["planning", "status_3", "developing", "for_test", "resolved"];
    let priorities = ["High", "Middle", "Low"];
    let mut theirs: Vec<String> = Vec::new();
    for step in 0..12 {
        match next(3) {
            0 => {
                let text = format!("第 {step} 段：人写的 🙂");
                let at = 1 + next(paras(&stack, &file).len() as u64) as usize;
                stack
                    .sandbox
                    .edit_doc(&file, &[DocEdit::InsertParagraph { paragraph: at, text: text.clone() }])
                    .unwrap();
                theirs.push(text);
            }
            1 => {
                let s = statuses[next(5) as usize];
                let _ = change(&stack, &webhook, id, &[("status", s)]).await;
            }
            _ => {
                let p = priorities[next(3) as usize];
                let events = change_quietly(&stack, id, &[("priority", p)]).await;
                // Delivered twice, the second time after the next step's.
                for e in &events {
                    deliver(&webhook, e).await;
                }
                for e in &events {
                    deliver(&webhook, e).await;
                }
            }
        }
    }
    change(&stack, &webhook, id, &[("owner", "zoe;")]).await;
    let p = paras(&stack, &file);
    assert_eq!(cards(&p, id), 1, "{p:?}");
    for t in &theirs {
        assert_eq!(p.iter().filter(|x| *x == t).count(), 1, "{t} intact: {p:?}");
    }
    let item = stack.sandbox.item(WS, ItemKind::Story, id).unwrap();
    let names = [
        ("planning", "规划中"),
        ("status_3", "方案评审中"),
        ("developing", "开发中"),
        ("for_test", "待测试"),
        ("resolved", "已实现"),
    ];
    let status = names.iter().find(|(k, _)| Some(*k) == item.fields.get("status").map(String::as_str)).unwrap().1;
    let priority = item.fields.get("priority").unwrap();
    assert!(p[0].contains(&format!("｜状态：{status}｜处理人：zoe｜优先级：{priority}｜")), "{}", p[0]);
}

#[tokio::test]
async fn the_card_waits_in_the_history_when_it_cannot_be_written() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("HTTP_TIMEOUT_MS", "400")]).await;
    let id = "1120003271001000110";
    let file = linked(&stack, &webhook, id, "冲刺 11").await;
    let events = change_while_docs_fail(&stack, &webhook, id, &[("priority", "Low")]).await;
    let record = link_record(&stack, id).await.unwrap();
    assert!(matches!(record.history.last().map(|e| &e.what), Some(EventKind::CardFailed(_))), "{:?}", record.history);
    assert_eq!(record.stage.status(), "done", "the item stays linked");
    stack.sandbox.clear_faults();
    // TAPD delivers again: the card is written.
    deliver(&webhook, &events[0]).await;
    assert!(paras(&stack, &file)[0].contains("｜优先级：Low｜"));
}

/// A change TAPD reports while the item's doc is still being made finds the item busy: the
/// instance making it shows the change before it is done (the card was written from a read
/// taken before the change).
#[tokio::test]
async fn a_change_while_the_doc_is_being_made_is_shown_when_it_is_done() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let other = stack.spawn("tapd-webhook", &[]).await;
    let id = "1120003271001000111";
    stack.sandbox.add_item_with_fields(
        WS,
        ItemKind::Story,
        id,
        "慢慢创建",
        &[("status", "planning"), ("priority", "High")],
    );
    stack.sandbox.inject(Fault {
        method: Some("POST".into()),
        path_prefix: "/tdoc/openapi/drive/v2/files$".into(),
        kind: FaultKind::Delay(Duration::from_millis(1_500)),
        times: 1,
    });
    let making = webhook.http(&story_delivery(id, "slow"));
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let events = change_quietly(&stack, id, &[("status", "developing")]).await;
        let mut words = Vec::new();
        for e in &events {
            words.push(deliver(&other, e).await["status"].clone());
        }
        words
    };
    let (made, words) = tokio::join!(making, meanwhile);
    assert_eq!(made.json().unwrap()["status"], "linked", "{}", made.body);
    assert!(words.iter().all(|w| w == "in_progress"), "{words:?}");
    let file = link_record(&stack, id).await.unwrap().stage.doc().unwrap().id.clone();
    let p = paras(&stack, &file);
    assert_eq!(cards(&p, id), 1, "{p:?}");
    assert!(p[0].contains("｜状态：开发中｜"), "{}", p[0]);
}

/// A card that could not be written, and no further delivery: the scheduled run writes it
/// (its follow-up is queued), and is done with it after.
#[tokio::test]
async fn a_card_that_could_not_be_written_is_written_by_the_next_scheduled_run() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("HTTP_TIMEOUT_MS", "400"), ("RETRY_PERIOD", "1")]).await;
    let id = "1120003271001000112";
    let file = linked(&stack, &webhook, id, "冲刺 12").await;
    change_while_docs_fail(&stack, &webhook, id, &[("priority", "Low"), ("status", "developing")]).await;
    assert!(paras(&stack, &file)[0].contains("｜状态：规划中｜"), "not written yet");
    stack.sandbox.clear_faults();
    // TAPD does not deliver again (nothing says it would): the scheduled run shows the change.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let run = webhook.invoke(harness::apigw::scheduled_event()).await;
    let summary = run.response().unwrap_or_else(|| panic!("{run:?}")).clone();
    assert_eq!(summary["followed_up"], 1, "{summary}");
    let p = paras(&stack, &file);
    assert!(p[0].contains("｜状态：开发中｜") && p[0].contains("｜优先级：Low｜"), "{}", p[0]);
    assert_eq!(cards(&p, id), 1);
    // Done with: the next run has nothing to follow.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let run = webhook.invoke(harness::apigw::scheduled_event()).await;
    assert_eq!(run.response().unwrap()["followed_up"], 0, "{run:?}");
    flows::assert_no_panic(&webhook);
}

/// A workspace reconnected to another Tencent Docs account: the docs made before stay the
/// first account's (the new one cannot open them), and their cards still follow their items;
/// nobody is asked to reconnect; the new account makes the new docs.
#[tokio::test]
async fn after_a_reconnect_to_another_account_the_earlier_docs_still_follow_their_items() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let id = "1120003271001000140";
    let file = linked(&stack, &webhook, id, "冲刺 5").await;
    let oauth = stack.oauth().await;
    stack.sandbox.add_tdoc_user("0b0b77", "Newcomer");
    let ask = oauth.http(&flows::up_to_tdoc_callback(&stack, &oauth, WS, "0b0b77").await).await;
    let done = oauth.http(&flows::confirm_post(&ask)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    // An instance that read the binding after the reconnect.
    let webhook = stack.spawn("tapd-webhook", &[]).await;
    let answers = change(&stack, &webhook, id, &[("status", "developing")]).await;
    assert!(answers.iter().any(|a| a["status"] == "card_written"), "{answers:?}");
    let p = paras(&stack, &file);
    assert!(p[0].contains("｜状态：开发中｜"), "{}", p[0]);
    let ws = shared::ids::WorkspaceId::parse(WS).unwrap();
    assert!(!stack.store().await.needs_reconnect(&ws).await.unwrap(), "the workspace is fine");
    let later = "1120003271001000141";
    let new_file = linked(&stack, &webhook, later, "冲刺 5").await;
    let owner = |f: &str| stack.sandbox.docs().into_iter().find(|d| d.id == f).unwrap().owner_open_id;
    assert_eq!((owner(&file), owner(&new_file)), (flows::OPEN_ID.to_owned(), "0b0b77".to_owned()));
}
