//! The store against the real local DynamoDB endpoint, through the real AWS SDK.

use aws_sdk_dynamodb::types::AttributeValue;
use harness::dynamo;
use shared::crypto::Keyring;
use shared::ids::{ItemId, ItemKind, OpenId, WorkspaceId};
use shared::secret::Secret;
use shared::store::{Account, ClaimOutcome, Doc, Flow, ItemKey, SentTo, Stage, Store, StoreError};
use shared::tapd::{TapdResource, TapdToken};
use shared::tdoc::TdocToken;
use shared::time::{now_millis, now_secs};

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

async fn store() -> (Store, String) {
    let table = dynamo::fresh_table().await;
    (Store::new(dynamo::client().await, table.clone(), Keyring::parse(KEY).unwrap()), table)
}

fn ws(n: &str) -> WorkspaceId {
    WorkspaceId::parse(n).unwrap()
}

/// Every string and binary value of every raw item, as text, for plaintext checks.
async fn raw_text(table: &str) -> String {
    let mut out = String::new();
    for item in dynamo::scan_all(&dynamo::client().await, table).await {
        for (k, v) in item {
            out.push_str(&k);
            match v {
                AttributeValue::S(s) | AttributeValue::N(s) => out.push_str(&s),
                AttributeValue::B(b) => out.push_str(&String::from_utf8_lossy(b.as_ref())),
                other => out.push_str(&format!("{other:?}")),
            }
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn states_are_single_use_expire_and_are_stored_hashed() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    let state = shared::random::token();
    store.put_state(&state, &Flow::Tapd, 600).await.unwrap();
    assert!(!raw_text(&table).await.contains(&state), "the raw state must not be stored");
    let items = dynamo::scan_all(&dynamo::client().await, &table).await;
    assert!(items[0].contains_key("expires_at"), "the TTL attribute is set");

    assert_eq!(store.consume_state(&state).await.unwrap(), Some(Flow::Tapd));
    assert_eq!(store.consume_state(&state).await.unwrap(), None, "replay refused");

    let bound = shared::random::token();
    store.put_state(&bound, &Flow::Tdoc { workspace: ws("20003271"), by: None }, 600).await.unwrap();
    assert_eq!(store.consume_state(&bound).await.unwrap(), Some(Flow::Tdoc { workspace: ws("20003271"), by: None }));

    // The local endpoint (like DynamoDB itself, for a while) keeps expired items: the
    // store must refuse them by their expiry.
    let expired = shared::random::token();
    store.put_state(&expired, &Flow::Tapd, 0).await.unwrap();
    assert_eq!(store.consume_state(&expired).await.unwrap(), None);
    assert_eq!(store.consume_state("never-issued").await.unwrap(), None);
}

#[tokio::test]
async fn concurrent_consumers_of_one_state_get_it_once() {
    harness::needs_local_dynamodb!();
    let (store, _) = store().await;
    let state = shared::random::token();
    store.put_state(&state, &Flow::Tapd, 600).await.unwrap();
    // Polled together, so the conditional deletes race on the server.
    let results = futures::future::join_all((0..8).map(|_| store.consume_state(&state))).await;
    let won = results.into_iter().map(Result::unwrap).filter(Option::is_some).count();
    assert_eq!(won, 1);
}

#[tokio::test]
async fn tokens_are_encrypted_at_rest_and_bound_to_their_record() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    let tapd = TapdToken {
        access_token: Secret::new("tapd-access-PLAINTEXT-1"),
        refresh_token: Some(Secret::new("tapd-refresh-PLAINTEXT-2")),
        expires_at: now_secs() + 7200,
        resource: Some(TapdResource { kind: "user".into(), workspace_id: Some(ws("1")) }),
    };
    store.put_tapd_token(&ws("1"), &tapd).await.unwrap();
    let tdoc = TdocToken {
        access_token: Secret::new("tdoc-access-PLAINTEXT-3"),
        refresh_token: Some(Secret::new("tdoc-refresh-PLAINTEXT-4")),
        expires_at: now_secs() + 7200,
        open_id: OpenId::parse("openid42").unwrap(),
    };
    store.connect_tdoc(&ws("1"), &tdoc).await.unwrap();

    let raw = raw_text(&table).await;
    assert!(!raw.contains("PLAINTEXT"), "plaintext token in the table:\n{raw}");

    let read = store.tapd_token(&ws("1")).await.unwrap().unwrap();
    assert_eq!(read.access_token.expose(), "tapd-access-PLAINTEXT-1");
    assert_eq!(store.binding(&ws("1")).await.unwrap().map(|b| b.account), Some(Account::User(tdoc.open_id.clone())));
    assert_eq!(store.binding(&ws("2")).await.unwrap(), None);
    let (read, version) = store.tdoc_token(&tdoc.open_id).await.unwrap().unwrap();
    assert_eq!(read.refresh_token.unwrap().expose(), "tdoc-refresh-PLAINTEXT-4");

    // A refreshed token replaces the version it was derived from, once.
    let mut newer = tdoc.clone();
    newer.access_token = Secret::new("tdoc-access-PLAINTEXT-5");
    assert!(store.replace_tdoc_token(&newer, version).await.unwrap());
    assert!(!store.replace_tdoc_token(&newer, version).await.unwrap(), "a stale version must lose");

    // A record read under a different key does not decrypt: the store says so, no panic.
    let other = Store::new(
        dynamo::client().await,
        table,
        Keyring::parse("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").unwrap(),
    );
    assert!(matches!(other.tapd_token(&ws("1")).await, Err(StoreError::Corrupt(_))));
}

fn key(id: &str) -> ItemKey {
    ItemKey { workspace: ws("20003271"), kind: ItemKind::Story, id: ItemId::parse(id).unwrap() }
}

fn doc() -> Doc {
    Doc { id: "300000000$abc".into(), url: "https://docs/x".into(), title: "Title".into() }
}

#[tokio::test]
async fn item_claims_exclude_each_other_until_they_lapse() {
    harness::needs_local_dynamodb!();
    let (store, _) = store().await;
    let k = key("1001");
    let until = now_millis() + 30_000;
    let ClaimOutcome::Claimed(mut a) = store.claim_item(&k, Some("e1"), "owner-a", until).await.unwrap() else {
        panic!("first claim must win")
    };
    assert_eq!((a.record.attempts, &a.record.stage), (1, &Stage::New));
    assert!(matches!(store.claim_item(&k, Some("e2"), "owner-b", until).await.unwrap(), ClaimOutcome::Busy));

    store.record_doc(&mut a, doc(), &shared::store::SentTo::Root, &shared::store::Account::App).await.unwrap();
    assert_eq!(store.item(&k).await.unwrap().unwrap().stage, Stage::DocCreated { doc: doc() });
    let (due, _) = store.due_items(now_millis(), 10, None).await.unwrap();
    assert_eq!(due.len(), 1);
    store.record_done(&mut a, doc(), "c1").await.unwrap();
    assert!(store.due_items(now_millis(), 10, None).await.unwrap().0.is_empty(), "done items leave the index");
    match store.claim_item(&k, Some("e3"), "owner-c", until).await.unwrap() {
        ClaimOutcome::Settled(record) => {
            assert_eq!(record.stage, Stage::Done { doc: doc(), comment_id: "c1".into() });
        }
        other => panic!("a done item is settled, got {other:?}"),
    }

    // A claim whose deadline has passed can be taken over; the old holder's writes fail.
    let k2 = key("1002");
    let ClaimOutcome::Claimed(mut dead) = store.claim_item(&k2, None, "dead", now_millis() - 1).await.unwrap() else {
        panic!()
    };
    let ClaimOutcome::Claimed(mut live) = store.claim_item(&k2, None, "live", until).await.unwrap() else {
        panic!("a lapsed claim must be taken over")
    };
    assert_eq!(live.record.attempts, 2);
    assert!(matches!(store.record_done(&mut dead, doc(), "c").await, Err(StoreError::LostClaim)));
    // The dead attempt may have sent a create: the taker knows, and since when (not where:
    // it died before saying); the item's marker is the one its first claim made.
    assert_eq!(live.record.stage, Stage::CreateUnknown { since_ms: dead.until_ms, sent_to: SentTo::Unrecorded });
    assert_eq!(live.record.marker, dead.record.marker);
    assert_eq!(live.record.marker.len(), 12);

    // Giving up records why and leaves the index; a new delivery starts it again at once.
    store.give_up(&mut live, shared::reason::Reason::legacy("TAPD refused"), "TAPD refused").await.unwrap();
    let record = store.item(&k2).await.unwrap().unwrap();
    assert_eq!(
        record.stage,
        Stage::GivenUp { reason: shared::reason::Reason::Unavailable(shared::upstream::Service::Tapd), doc: None }
    );
    assert!(store.due_items(now_millis(), 10, None).await.unwrap().0.is_empty());
    let ClaimOutcome::Claimed(again) = store.claim_item(&k2, Some("e9"), "owner-d", until).await.unwrap() else {
        panic!("a given-up item is claimed again by a new delivery")
    };
    assert_eq!(again.record.stage, Stage::New);
    assert!(again.record.pending_since_ms >= record.pending_since_ms);
}

#[tokio::test]
async fn failed_items_are_due_again_after_their_backoff_soonest_first() {
    harness::needs_local_dynamodb!();
    let (store, _) = store().await;
    let now = now_millis();
    for (id, backoff) in [("2001", 0), ("2002", 60_000), ("2003", 0), ("2004", 1)] {
        let ClaimOutcome::Claimed(c) = store.claim_item(&key(id), None, "o", now_millis() + 30_000).await.unwrap()
        else {
            panic!()
        };
        store.release_for_retry(&c, shared::reason::Reason::legacy("boom"), "boom", now + backoff).await.unwrap();
    }
    let (first, cursor) = store.due_items(now + 10, 2, None).await.unwrap();
    let (rest, _) = store.due_items(now + 10, 2, cursor).await.unwrap();
    let ids: Vec<_> = first.iter().chain(rest.iter()).map(|p| p.key.id.as_str().to_owned()).collect();
    assert_eq!(ids, ["2001", "2003", "2004"], "the one backing off for a minute is not due");
    assert!(first.iter().all(|p| p.claim_until_ms == 0), "released claims are free");
    assert_eq!(store.pending_stats().await.unwrap().0, 4);
    let record = store.item(&key("2002")).await.unwrap().unwrap();
    assert_eq!(record.last_error.as_deref(), Some("boom"));
}

/// The pending-age alarm reads `pending_stats_unpaused` (the scheduled run's metrics): a
/// workspace that is only paused holds items on purpose and must not raise it.
#[tokio::test]
async fn a_paused_workspaces_items_are_not_counted_for_the_pending_alarm() {
    harness::needs_local_dynamodb!();
    let (store, _) = store().await;
    let paused_ws = ws("20000777");
    let old = ItemKey { workspace: paused_ws.clone(), kind: ItemKind::Story, id: ItemId::parse("3001").unwrap() };
    let ClaimOutcome::Claimed(c) = store.claim_item(&old, None, "o", now_millis() + 30_000).await.unwrap() else {
        panic!()
    };
    store.release_for_retry(&c, shared::reason::Reason::Paused, "paused", now_millis() + 60_000).await.unwrap();
    // The other workspace's item, pending since later.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let ClaimOutcome::Claimed(c) = store.claim_item(&key("3002"), None, "o", now_millis() + 30_000).await.unwrap()
    else {
        panic!()
    };
    store.release_for_retry(&c, shared::reason::Reason::legacy("boom"), "boom", now_millis() + 60_000).await.unwrap();
    let (all, oldest_all) = store.pending_stats().await.unwrap();
    assert_eq!(all, 2);

    shared::ops::pause(&store, &paused_ws, "test").await.unwrap();
    let (count, oldest) = store.pending_stats_unpaused().await.unwrap();
    assert_eq!(count, 1, "the paused workspace's item is left out");
    assert!(oldest > oldest_all, "the oldest is the other workspace's: {oldest:?} vs {oldest_all:?}");
    assert_eq!(store.pending_stats().await.unwrap().0, 2, "tapdocs still sees both");

    shared::ops::resume(&store, &paused_ws, "test").await.unwrap();
    assert_eq!(store.pending_stats_unpaused().await.unwrap(), (2, oldest_all), "resumed: counted again");
}

#[tokio::test]
async fn a_create_in_doubt_stays_in_doubt_until_a_doc_is_recorded() {
    harness::needs_local_dynamodb!();
    let (store, _) = store().await;
    let k = key("3001");
    let ClaimOutcome::Claimed(mut first) = store.claim_item(&k, Some("e1"), "a", now_millis() + 30_000).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(first.record.stage, Stage::New, "a first claim has nothing in doubt");
    let in_doubt = Stage::CreateUnknown { since_ms: 1234, sent_to: SentTo::Folder("folder-a".into()) };
    first.record.stage = in_doubt.clone();
    store
        .release_for_retry(
            &first,
            shared::reason::Reason::legacy("the reply to creating the doc was lost"),
            "the reply to creating the doc was lost",
            now_millis(),
        )
        .await
        .unwrap();
    let ClaimOutcome::Claimed(mut second) = store.claim_item(&k, Some("e2"), "b", now_millis() + 30_000).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(second.record.stage, in_doubt, "an orderly release keeps the doubt, and where the create went");
    // A doubt about a create into the root reads back as the root, not as "unknown".
    second.record.stage = Stage::CreateUnknown { since_ms: 1234, sent_to: SentTo::Root };
    store
        .release_for_retry(
            &second,
            shared::reason::Reason::legacy("the reply to creating the doc was lost"),
            "the reply to creating the doc was lost",
            now_millis(),
        )
        .await
        .unwrap();
    let ClaimOutcome::Claimed(mut second) = store.claim_item(&k, Some("e3"), "c", now_millis() + 30_000).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(second.record.stage, Stage::CreateUnknown { since_ms: 1234, sent_to: SentTo::Root });
    assert_eq!(second.record.marker, first.record.marker, "one marker for the item's life");
    store.record_doc(&mut second, doc(), &shared::store::SentTo::Root, &shared::store::Account::App).await.unwrap();
    store
        .release_for_retry(
            &second,
            shared::reason::Reason::legacy("TAPD unavailable"),
            "TAPD unavailable",
            now_millis(),
        )
        .await
        .unwrap();
    let record = store.item(&k).await.unwrap().unwrap();
    assert_eq!(record.stage, Stage::DocCreated { doc: doc() }, "a recorded doc ends the doubt");
}

#[tokio::test]
async fn an_item_tapd_did_not_have_keeps_since_when_until_it_is_found_or_started_again() {
    harness::needs_local_dynamodb!();
    let (store, _) = store().await;
    let claim = |k: ItemKey, owner: &'static str| {
        let store = &store;
        async move {
            match store.claim_item(&k, None, owner, now_millis() + 30_000).await.unwrap() {
                ClaimOutcome::Claimed(c) => c,
                other => panic!("{other:?}"),
            }
        }
    };
    let k = key("3501");
    let mut first = claim(k.clone(), "a").await;
    assert_eq!(first.record.absent_since_ms, None, "a new record has not been missed");
    store.release_absent(&mut first, "TAPD has no such item in the workspace", 1234, now_millis()).await.unwrap();
    let second = claim(k.clone(), "b").await;
    assert_eq!((second.record.absent_since_ms, &second.record.stage), (Some(1234), &Stage::New));
    // Another failure between the looks keeps when the item was first missed.
    store
        .release_for_retry(
            &second,
            shared::reason::Reason::Unavailable(shared::upstream::Service::Tapd),
            "TAPD unavailable",
            now_millis(),
        )
        .await
        .unwrap();
    let mut third = claim(k.clone(), "c").await;
    assert_eq!(third.record.absent_since_ms, Some(1234));
    // Given up, then started again by a new delivery: two looks again.
    store
        .give_up(
            &mut third,
            shared::reason::Reason::ItemVanished,
            "TAPD has no such item in the workspace (looked twice, 300 s apart): given up",
        )
        .await
        .unwrap();
    assert_eq!(claim(k.clone(), "d").await.record.absent_since_ms, None);
    // Found after all: the doc's record ends it.
    let k = key("3502");
    let mut first = claim(k.clone(), "a").await;
    store.release_absent(&mut first, "TAPD has no such item in the workspace", 1234, now_millis()).await.unwrap();
    let mut second = claim(k.clone(), "b").await;
    store.record_doc(&mut second, doc(), &shared::store::SentTo::Root, &shared::store::Account::App).await.unwrap();
    assert_eq!(store.item(&k).await.unwrap().unwrap().absent_since_ms, None);
}

#[tokio::test]
async fn items_from_before_the_console_index_are_put_into_it_once() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    let k = key("4001");
    let ClaimOutcome::Claimed(c) = store.claim_item(&k, Some("e1"), "o", now_millis() + 30_000).await.unwrap() else {
        panic!()
    };
    store.release_for_retry(&c, shared::reason::Reason::legacy("boom"), "boom", now_millis()).await.unwrap();
    async fn listed(store: &Store, ws: &WorkspaceId) -> usize {
        store.workspace_items(ws, 10, None, None).await.unwrap().items.len()
    }
    assert_eq!(listed(&store, &k.workspace).await, 1, "a claim puts a new item in the index");
    // As an earlier version wrote it: not in the index.
    dynamo::client()
        .await
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("ITEM#{}#story#4001", k.workspace)))
        .key("sk", AttributeValue::S("LINK".into()))
        .update_expression("REMOVE gsi2pk, gsi2sk")
        .send()
        .await
        .unwrap();
    assert_eq!(listed(&store, &k.workspace).await, 0);
    assert_eq!(store.index_older_items().await.unwrap(), 1);
    assert_eq!(listed(&store, &k.workspace).await, 1);
    assert_eq!(store.index_older_items().await.unwrap(), 0, "once");
}

#[tokio::test]
async fn given_up_items_written_by_earlier_versions_read_and_restart_the_same() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    let k = key("5001");
    let ClaimOutcome::Claimed(mut c) = store.claim_item(&k, Some("e1"), "o", now_millis() + 30_000).await.unwrap()
    else {
        panic!()
    };
    store.give_up(&mut c, shared::reason::Reason::legacy("TAPD refused"), "TAPD refused").await.unwrap();
    // As versions before 2026-12-04 wrote it: `failed`.
    dynamo::client()
        .await
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("ITEM#{}#story#5001", k.workspace)))
        .key("sk", AttributeValue::S("LINK".into()))
        .update_expression("SET #st = :old")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":old", AttributeValue::S("failed".into()))
        .send()
        .await
        .unwrap();
    let record = store.item(&k).await.unwrap().unwrap();
    assert_eq!(
        record.stage,
        Stage::GivenUp { reason: shared::reason::Reason::Unavailable(shared::upstream::Service::Tapd), doc: None }
    );
    assert_eq!(record.stage.status(), "given_up", "one name from now on");
    let ClaimOutcome::Claimed(again) = store.claim_item(&k, Some("e2"), "p", now_millis() + 30_000).await.unwrap()
    else {
        panic!("a given-up item of an earlier version is started again by a new delivery")
    };
    assert_eq!(again.record.stage, Stage::New);
}

#[tokio::test]
async fn a_doc_s_place_is_recorded_ahead_of_a_move_and_settled_after_it() {
    harness::needs_local_dynamodb!();
    let (store, _) = store().await;
    let k = key("1101");
    let until = now_millis() + 30_000;
    let ClaimOutcome::Claimed(mut c) = store.claim_item(&k, Some("e1"), "me", until).await.unwrap() else { panic!() };
    let home = SentTo::Folder("folder$home".into());
    store.record_doc(&mut c, doc(), &home, &shared::store::Account::App).await.unwrap();
    store.record_done(&mut c, doc(), "c1").await.unwrap();
    let place = store.item(&k).await.unwrap().unwrap().place;
    assert_eq!(place, shared::store::DocPlace { home: home.clone(), at: shared::store::Spot::Home, moving_to: None });

    let Some(ClaimOutcome::Claimed(mut c)) = store.claim_existing(&k, "me", until).await.unwrap() else { panic!() };
    let done = shared::store::Spot::Sub("folder$done".into());
    store.record_moving(&mut c, &home, &done).await.unwrap();
    // A move in doubt: the record says where it went, and where the doc was.
    let place = store.item(&k).await.unwrap().unwrap().place;
    assert_eq!((place.at, place.moving_to.as_ref()), (shared::store::Spot::Home, Some(&done)));
    store.record_moved(&mut c, &home, &done).await.unwrap();
    let record = store.item(&k).await.unwrap().unwrap();
    assert_eq!((record.place.at, record.place.moving_to), (done, None));
    // Still held: the claim is its holder's to let go.
    assert!(matches!(store.claim_existing(&k, "other", until).await.unwrap(), Some(ClaimOutcome::Busy)));
}

#[tokio::test]
async fn one_instance_at_a_time_makes_a_folder_and_its_titles_are_remembered() {
    harness::needs_local_dynamodb!();
    let (store, _) = store().await;
    let w = ws("20003271");
    let until = now_millis() + 30_000;
    use shared::store::FolderLease;
    let Some(FolderLease::First { at_ms: first }) = store.take_folder_lease(&w, "done#f1", "a", until).await.unwrap()
    else {
        panic!("the first lease on it")
    };
    assert!(store.take_folder_lease(&w, "done#f1", "b", until).await.unwrap().is_none(), "held by a");
    // Its holder may take it again; the first lease's time stays (a look reads back to it).
    let again = Some(FolderLease::Again { first_ms: first });
    assert_eq!(store.take_folder_lease(&w, "done#f1", "a", until).await.unwrap(), again);
    // Another folder is another lease; a lapsed lease is taken over, from the first lease's time.
    let Some(FolderLease::First { at_ms: f2 }) =
        store.take_folder_lease(&w, "done#f2", "b", now_millis() - 1).await.unwrap()
    else {
        panic!("the first lease on it")
    };
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let again = Some(FolderLease::Again { first_ms: f2 });
    assert_eq!(store.take_folder_lease(&w, "done#f2", "c", until).await.unwrap(), again);
    // Let go by its holder (its making failed): the next takes it at once; a stranger's
    // release changes nothing.
    store.release_folder_lease(&w, "done#f2", "b").await.unwrap();
    assert!(store.take_folder_lease(&w, "done#f2", "d", until).await.unwrap().is_none(), "still c's");
    store.release_folder_lease(&w, "done#f2", "c").await.unwrap();
    assert!(store.take_folder_lease(&w, "done#f2", "d", until).await.unwrap().is_some());
    // Once remembered, nobody makes it again.
    assert_eq!(store.remember_folder(&w, "done#f1", "folder$D").await.unwrap(), "folder$D");
    assert!(store.take_folder_lease(&w, "done#f1", "b", until).await.unwrap().is_none());

    assert_eq!(store.remember_folder(&w, "iter#7", "folder$I").await.unwrap(), "folder$I");
    let titles = store.folder_titled(&w, "iter#7").await.unwrap().unwrap();
    assert_eq!((titles.title, titles.refused), (None, None));
    store.record_folder_refused(&w, "iter#7", "folder$I", "Sprint 7").await.unwrap();
    store.record_folder_kept(&w, "7", Some("Sprint 7")).await.unwrap();
    assert_eq!(store.folder_titled(&w, "iter#7").await.unwrap().unwrap().refused.as_deref(), Some("Sprint 7"));
    assert_eq!(store.folders_kept(&w).await.unwrap().get("7").map(String::as_str), Some("Sprint 7"));
    store.record_folder_title(&w, "iter#7", "folder$I", "Sprint 7b").await.unwrap();
    store.record_folder_kept(&w, "7", None).await.unwrap();
    let titles = store.folder_titled(&w, "iter#7").await.unwrap().unwrap();
    assert_eq!((titles.title.as_deref(), titles.refused), (Some("Sprint 7b"), None));
    assert!(store.folders_kept(&w).await.unwrap().is_empty());
    // Unsaying what was never said is nothing.
    store.record_folder_kept(&w, "8", None).await.unwrap();
}

/// A sweep's cursor is written only over the record it was read from: a backfill asked for while
/// a run holds the cursor is not undone by that run's next write, and a disconnected workspace's
/// sweep is not brought back. Both show in the sweep index as due.
#[tokio::test]
async fn a_sweep_is_kept_only_over_the_cursor_it_read() {
    harness::needs_local_dynamodb!();
    let (store, _) = store().await;
    let w = ws("20003281");
    store.start_sweep(&w, now_secs()).await.unwrap();
    let (_, mut held) = store.due_sweeps(now_millis(), 10).await.unwrap().into_iter().find(|(x, _)| *x == w).unwrap();
    // The run moves on: its own writes go through, one after another.
    held.page = 2;
    assert!(store.put_sweep_cursor(&w, &mut held, 0).await.unwrap());
    held.page = 3;
    assert!(store.put_sweep_cursor(&w, &mut held, 0).await.unwrap());
    // A backfill from January meanwhile: the run's next write is refused, the backfill stays.
    let january = shared::time::parse_tapd_date("2026-01-01").unwrap();
    store.backfill_since(&w, january).await.unwrap();
    held.page = 4;
    assert!(!store.put_sweep_cursor(&w, &mut held, 0).await.unwrap());
    let now = store.sweep_cursor(&w).await.unwrap().unwrap();
    assert_eq!((now.since_ms, now.page), (january, 1), "{now:?}");
    assert!(store.due_sweeps(now_millis(), 10).await.unwrap().iter().any(|(x, c)| *x == w && c.since_ms == january));
    // A second start (a reconnect) keeps the sweep as it stands.
    store.start_sweep(&w, now_secs()).await.unwrap();
    assert_eq!(store.sweep_cursor(&w).await.unwrap().unwrap().since_ms, january);
}
