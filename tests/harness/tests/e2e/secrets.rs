//! Secrets stay secret: no token, code, state, client secret, webhook secret or encryption
//! key in any log line of whole flows, successful and failing, at `trace` (the most verbose
//! level); no token in plain text in any table item; and key rotation
//! (`TOKEN_ENCRYPTION_KEY=new,old`) keeps old records readable and moves them to the new key.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use harness::apigw::{Request, scheduled_event};
use harness::flows::{self, OPEN_ID, WORKSPACE, story_delivery};
use harness::stack::{Stack, WEBHOOK_SECRET, callback};
use harness::{Function, dynamo};
use sandbox::{Fault, FaultKind, ItemKind};
use serde_json::json;
use shared::crypto::Keyring;
use shared::store::open_token;
use shared::tdoc::TdocToken;

/// Every string a log line or an item must not contain, with what it is.
fn secrets(stack: &Stack, states: &[String]) -> Vec<(String, String)> {
    let c = stack.sandbox.config();
    let mut out: Vec<(String, String)> = vec![
        ("TAPD client secret".into(), c.tapd_client_secret.clone()),
        ("Tencent Docs client secret".into(), c.tdoc_client_secret.clone()),
        ("webhook secret".into(), WEBHOOK_SECRET.into()),
        ("encryption key".into(), stack.encryption_key.clone()),
    ];
    out.extend(stack.sandbox.issued_token_values().into_iter().map(|v| ("issued code or token".into(), v)));
    out.extend(states.iter().map(|s| ("OAuth state".into(), s.clone())));
    out
}

/// Each text must hold none of the secrets, in clear or percent-encoded.
fn assert_none_in(texts: &[String], secrets: &[(String, String)], whose: &str) {
    for (what, value) in secrets {
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        for t in texts {
            assert!(!t.contains(value.as_str()) && !t.contains(&encoded), "a {what} is in {whose}: {t}");
        }
    }
}

fn state_of(url: &url::Url) -> String {
    url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).unwrap_or_default()
}

async fn all_logs(fns: &[&Function]) -> Vec<String> {
    // Give the capture a moment to read the last lines.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    fns.iter().flat_map(|f| f.logs()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_or_a_table_item() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let verbose = [("RUST_LOG", "trace")];
    let oauth = stack.spawn("oauth", &verbose).await;
    let webhook = stack.spawn("tapd-webhook", &verbose).await;
    let mut states = Vec::new();

    // The connect flow, successful.
    stack.sandbox.add_workspace(WORKSPACE, "Team");
    stack.sandbox.add_tdoc_user(OPEN_ID, "Owner");
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    let to_tapd = start.location_url().unwrap();
    states.push(state_of(&to_tapd));
    let back = stack.tapd_consent(&to_tapd, WORKSPACE, true).await;
    let to_tdoc = oauth.http(&callback(&back)).await.location_url().unwrap();
    states.push(state_of(&to_tdoc));
    let back = stack.tdoc_consent(&to_tdoc, OPEN_ID, true).await;
    assert_eq!(oauth.http(&callback(&back)).await.status, 200);
    // ... and failing: replayed, denied, a refused code, the provider down.
    assert_eq!(oauth.http(&callback(&back)).await.status, 400);
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await.location_url().unwrap();
    states.push(state_of(&start));
    let denied = stack.tapd_consent(&start, WORKSPACE, false).await;
    assert_eq!(oauth.http(&callback(&denied)).await.status, 403);
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await.location_url().unwrap();
    states.push(state_of(&start));
    let back = stack.tapd_consent(&start, WORKSPACE, true).await;
    stack.sandbox.expire_codes();
    assert_eq!(oauth.http(&callback(&back)).await.status, 400);
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await.location_url().unwrap();
    states.push(state_of(&start));
    let back = stack.tapd_consent(&start, WORKSPACE, true).await;
    stack.sandbox.inject(Fault::once("/tapd/api/tokens", FaultKind::Status(503)));
    assert_eq!(oauth.http(&callback(&back)).await.status, 502);
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await.location_url().unwrap();
    states.push(state_of(&start));
    let back = stack.tapd_consent(&start, WORKSPACE, true).await;
    let to_tdoc = oauth.http(&callback(&back)).await.location_url().unwrap();
    states.push(state_of(&to_tdoc));
    let back = stack.tdoc_consent(&to_tdoc, OPEN_ID, true).await;
    stack.sandbox.inject(Fault::once("/tdoc/oauth/v2/token", FaultKind::Malformed));
    assert_eq!(oauth.http(&callback(&back)).await.status, 502);

    // The webhook: links, refreshes expired tokens, fails upstream, refuses a guessed secret.
    for (i, id) in ["1120003271000000401", "1120003271000000402", "1120003271000000403"].iter().enumerate() {
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, &format!("Secret test {i}"));
    }
    assert_eq!(webhook.http(&story_delivery("1120003271000000401", "1")).await.status, 200);
    stack.sandbox.expire_access_tokens();
    assert_eq!(webhook.http(&story_delivery("1120003271000000402", "2")).await.status, 200);
    stack.sandbox.inject(Fault {
        method: None,
        path_prefix: "/tdoc/openapi".into(),
        kind: FaultKind::Status(401),
        times: 0,
    });
    let failed = webhook.http(&story_delivery("1120003271000000403", "3")).await;
    assert!(failed.status >= 500, "{}", failed.body);
    stack.sandbox.clear_faults();
    stack.sandbox.inject(Fault::once("/tapd/api/comments", FaultKind::Malformed));
    let mut guess = flows::create_event(WORKSPACE, "story", "1120003271000000401", "4");
    guess["secret"] = json!("whsec-sandbox-5f0c1d2f");
    assert_eq!(webhook.http(&Request::post_json(flows::WEBHOOK_PATH, &guess)).await.status, 401);
    let retry = webhook.invoke(scheduled_event()).await;
    assert!(retry.response().is_some(), "{retry:?}");

    let secrets = secrets(&stack, &states);
    assert!(secrets.len() > 20, "{} secrets", secrets.len());
    let logs = all_logs(&[&oauth, &webhook]).await;
    assert!(logs.len() > 30, "{} lines", logs.len());
    assert_none_in(&logs, &secrets, "a log line");
    // The guessed webhook secret is not logged either.
    assert!(!logs.iter().any(|l| l.contains("whsec-sandbox-5f0c1d2f")));

    // The table: states by hash, tokens as ciphertext.
    let mut texts = Vec::new();
    let mut ciphertexts = 0;
    for item in dynamo::scan_all(&dynamo::client().await, &stack.table).await {
        for (k, v) in item {
            match v {
                AttributeValue::S(s) | AttributeValue::N(s) => texts.push(format!("{k}={s}")),
                AttributeValue::B(b) => {
                    ciphertexts += 1;
                    texts.push(String::from_utf8_lossy(b.as_ref()).into_owned());
                    texts.push(base64::engine::general_purpose::STANDARD.encode(b.as_ref()));
                }
                other => texts.push(format!("{k}={other:?}")),
            }
        }
    }
    assert!(ciphertexts >= 2, "the tokens are stored");
    assert_none_in(&texts, &secrets, "the table");
    println!("{} log lines and {} attribute values checked against {} secrets", logs.len(), texts.len(), secrets.len());
}

/// The `ct` of a token record, raw.
async fn ciphertext(stack: &Stack, pk: &str, sk: &str) -> (Vec<u8>, String) {
    let item = dynamo::client()
        .await
        .get_item()
        .table_name(&stack.table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("no {pk}|{sk}"));
    let ct = item["ct"].as_b().unwrap().as_ref().to_vec();
    let ver = item["ver"].as_n().unwrap().clone();
    (ct, ver)
}

fn new_key() -> String {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).unwrap();
    base64::engine::general_purpose::STANDARD.encode(k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_reads_old_records_and_writes_new_ones() {
    harness::needs_local_stack!();
    let (stack, _old_webhook) = flows::connected(&[]).await;
    let old = stack.encryption_key.clone();
    let new = new_key();
    let rotated = format!("{new},{old}");
    let (old_ring, rotated_ring, new_ring) =
        (Keyring::parse(&old).unwrap(), Keyring::parse(&rotated).unwrap(), Keyring::parse(&new).unwrap());
    let tdoc = (format!("TDOC#{OPEN_ID}"), "TOKEN");
    let (before, ver_before) = ciphertext(&stack, &tdoc.0, tdoc.1).await;
    assert!(rotated_ring.is_stale(&before), "written under the old key");

    // A webhook with the new key first links with the token written under the old one,
    // and re-encrypts it under the new key on that first read.
    let webhook = stack.spawn("tapd-webhook", &[("TOKEN_ENCRYPTION_KEY", &rotated)]).await;
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271000000501", "After rotation");
    let resp = webhook.http(&story_delivery("1120003271000000501", "1")).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let (resealed, ver) = ciphertext(&stack, &tdoc.0, tdoc.1).await;
    assert!(!rotated_ring.is_stale(&resealed), "re-encrypted under the new key on read");
    assert_eq!(ver, ver_before, "a re-encryption is not a new version");
    let a: TdocToken = open_token(&old_ring, &tdoc.0, tdoc.1, &before).unwrap();
    let b: TdocToken = open_token(&new_ring, &tdoc.0, tdoc.1, &resealed).unwrap();
    assert_eq!(a.access_token.expose(), b.access_token.expose(), "the same token");

    // The refresh path writes under the first key.
    stack.sandbox.expire_access_tokens();
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271000000502", "Refreshed");
    let resp = webhook.http(&story_delivery("1120003271000000502", "2")).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let (refreshed, ver) = ciphertext(&stack, &tdoc.0, tdoc.1).await;
    assert_ne!(ver, ver_before, "a refresh is a new version");
    let c: TdocToken = open_token(&new_ring, &tdoc.0, tdoc.1, &refreshed).unwrap();
    assert_ne!(c.access_token.expose(), b.access_token.expose(), "refreshed");

    // The oauth function with the rotated key writes new connections under the new key.
    let oauth = stack.spawn("oauth", &[("TOKEN_ENCRYPTION_KEY", &rotated)]).await;
    assert_eq!(stack.connect(&oauth, WORKSPACE, OPEN_ID).await.status, 200);
    let (tapd, _) = ciphertext(&stack, &format!("WS#{WORKSPACE}"), "TAPD_TOKEN").await;
    assert!(!rotated_ring.is_stale(&tapd));

    // The old key retired: a function with the new key alone still works.
    let retired = stack.spawn("tapd-webhook", &[("TOKEN_ENCRYPTION_KEY", &new)]).await;
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271000000503", "Old key retired");
    let resp = retired.http(&story_delivery("1120003271000000503", "3")).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(flows::docs_and_comments_of(&stack, "1120003271000000503"), (1, 1));
}

/// At `info` (what a deployment logs), no doc URL and no item name reaches a log line: a URL
/// opens a tenant's doc, a name is the tenant's text. Linked, adopted after a lost create, and
/// failing to record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doc_urls_and_item_names_stay_out_of_info_logs() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("RUST_LOG", "info")]).await;
    let names = ["机密需求甲 Confidential A", "机密需求乙 Confidential B"];
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271000000601", names[0]);
    assert_eq!(webhook.http(&story_delivery("1120003271000000601", "1")).await.status, 200);
    // A create whose reply is lost: the doc is found again and adopted.
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271000000602", names[1]);
    stack.sandbox.inject(Fault {
        method: Some("POST".into()),
        path_prefix: "/tdoc/openapi/drive/v2/files$".into(),
        kind: FaultKind::DropReply,
        times: 1,
    });
    assert_eq!(webhook.http(&story_delivery("1120003271000000602", "2")).await.status, 200);
    assert_eq!(flows::docs_and_comments_of(&stack, "1120003271000000602"), (1, 1));
    let docs = stack.sandbox.docs();
    assert_eq!(docs.len(), 2);
    let logs = all_logs(&[&webhook]).await;
    assert!(logs.iter().any(|l| l.contains("item linked")), "info lines are captured: {logs:?}");
    for doc in &docs {
        let key = doc.url.rsplit('/').next().unwrap();
        for l in &logs {
            assert!(!l.contains(&doc.url) && !l.contains(key), "a doc URL at info: {l}");
        }
    }
    for name in names {
        assert!(!logs.iter().any(|l| l.contains(name)), "an item name at info: {name}");
    }
}

/// Every answer of both functions carries HSTS, pages first.
#[tokio::test]
async fn answers_send_hsts() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    let webhook = stack.webhook().await;
    let answers = [
        oauth.http(&Request::get("/oauth/tapd/start")).await,
        oauth.http(&Request::get("/oauth/tdoc/callback?code=x&state=forged")).await,
        oauth.http(&Request::get("/console")).await,
        oauth.http(&Request::get("/nowhere")).await,
        webhook.http(&Request::post_json(flows::WEBHOOK_PATH, &json!({"secret": "wrong"}))).await,
    ];
    for resp in answers {
        assert_eq!(
            resp.header("strict-transport-security"),
            Some("max-age=63072000; includeSubDomains"),
            "{}: {resp:?}",
            resp.status
        );
    }
}

/// A Tencent Docs client secret rotated in Secrets Manager reaches a warm instance with no
/// failed request: at once when Tencent Docs refuses the old one (read again, the request made
/// again with the new), and within `SECRETS_TTL` before any refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_client_secret_reaches_a_warm_instance_with_no_failed_request() {
    use harness::secrets_extension::{FakeExtension, SESSION_TOKEN};
    harness::needs_local_stack!();
    let (stack, _) = flows::connected(&[]).await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tdoc-client-AbCdEf";
    let extension = FakeExtension::start(vec![(arn.into(), stack.sandbox.tdoc_client_secret())]).await;
    let port = extension.port.to_string();
    let webhook = stack
        .spawn(
            "tapd-webhook",
            &[
                ("TDOC_CLIENT_SECRET", ""),
                ("TDOC_CLIENT_SECRET_ARN", arn),
                ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", &port),
                ("AWS_SESSION_TOKEN", SESSION_TOKEN),
                ("SECRETS_TTL", "3s"),
            ],
        )
        .await;
    let link = |id: &'static str| {
        let (stack, webhook) = (&stack, &webhook);
        async move {
            stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Rotation");
            let resp = webhook.http(&story_delivery(id, id)).await;
            assert_eq!(resp.status, 200, "{id}: {}", resp.body);
            assert_eq!(flows::docs_and_comments_of(stack, id), (1, 1), "{id}");
        }
    };
    let refused =
        || stack.sandbox.requests().iter().filter(|r| r.path == "/tdoc/oauth/v2/token" && r.status == 401).count();
    link("1120003271000000701").await;

    // Reset at Tencent Docs and stored in Secrets Manager; the instance still holds the old one.
    stack.sandbox.rotate_tdoc_client_secret("tdoc-secret-rotated-2");
    extension.set(arn, "tdoc-secret-rotated-2");
    stack.sandbox.expire_access_tokens();
    link("1120003271000000702").await;
    assert_eq!(refused(), 1, "the old secret was refused once, then the new one served");

    // Rotated again: after the TTL the secret is read before it is used, and nothing is refused.
    stack.sandbox.rotate_tdoc_client_secret("tdoc-secret-rotated-3");
    extension.set(arn, "tdoc-secret-rotated-3");
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    stack.sandbox.expire_access_tokens();
    link("1120003271000000703").await;
    assert_eq!(refused(), 1, "read within its TTL: no refusal");
    let reads = extension.seen().len();
    assert!((3..=5).contains(&reads), "init, one forced read, one TTL read (and no more): {reads}");
    let logs = webhook.logs().join("\n");
    for secret in ["tdoc-secret-rotated-2", "tdoc-secret-rotated-3"] {
        assert!(!logs.contains(secret), "a client secret in the logs");
    }
}

/// TAPD's app webhook secret given by ARN, reset in TAPD and stored in Secrets Manager: the next
/// delivery carrying the new one is admitted by a warm instance (the secret read again at once,
/// at most every 10 s), and the old one is refused from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_app_webhook_secret_admits_the_next_delivery() {
    use harness::secrets_extension::{FakeExtension, SESSION_TOKEN};
    use harness::stack::WEBHOOK_SECRET;
    harness::needs_local_stack!();
    let (stack, _) = flows::connected(&[]).await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tapd-webhook-AbCdEf";
    let extension = FakeExtension::start(vec![(arn.into(), WEBHOOK_SECRET.into())]).await;
    let port = extension.port.to_string();
    let env = [
        ("TAPD_WEBHOOK_SECRET", ""),
        ("TAPD_WEBHOOK_SECRET_ARN", arn),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port.as_str()),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN),
        ("SECRETS_TTL", "1h"),
    ];
    let webhook = stack.spawn("tapd-webhook", &env).await;
    let deliver = |id: &'static str, secret: &'static str| {
        let webhook = &webhook;
        stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Webhook rotation");
        async move {
            let mut event = flows::create_event(WORKSPACE, "story", id, id);
            event["secret"] = json!(secret);
            webhook.http(&Request::post_json(flows::WEBHOOK_PATH, &event)).await.status
        }
    };
    assert_eq!(deliver("1120003271000000801", WEBHOOK_SECRET).await, 200);
    let rotated = "whsec-rotated-7d1e0c55";
    extension.set(arn, rotated);
    assert_eq!(deliver("1120003271000000802", rotated).await, 200, "the new secret, read again at once");
    assert_eq!(deliver("1120003271000000803", WEBHOOK_SECRET).await, 401, "the old one is refused");
    let reads = extension.seen().len();
    assert_eq!(deliver("1120003271000000804", "whsec-guess-0000").await, 401);
    assert_eq!(extension.seen().len(), reads, "refusals do not read it again within 10 s");
    assert_eq!(flows::docs_and_comments_of(&stack, "1120003271000000802"), (1, 1));
    assert!(!webhook.logs().join("\n").contains(rotated), "the secret is not logged");
}
