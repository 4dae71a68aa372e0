//! Least privilege, proven on the calls the code makes: both functions run every flow that
//! touches the table (connect and a rebind, deliveries of each kind, a token refresh, the
//! scheduled run with a sweep, every console page and form, a rotation, a backfill, a
//! disconnect) with `AWS_ENDPOINT_URL_DYNAMODB` on a recording proxy, and with their secrets
//! given by ARN (read through a fake of the secrets extension). Every recorded call is then
//! checked against *that function's* role in `template.yaml`, evaluated as AWS would
//! (`harness::iam`): a call AWS would deny is named, with the function, operation, table or
//! index and key. New records under prefixes the roles already grant are covered as they come.

use std::collections::BTreeSet;

use base64::Engine;

use harness::apigw::{Request, scheduled_event};
use harness::ddb_proxy::{DdbCall, DdbProxy};
use harness::flows::{self, confirm_post, create_event, up_to_tdoc_callback};
use harness::iam::{self, Deployment, Template, denied_ddb_calls};
use harness::stack::Stack;
use harness::{Function, dynamo};
use sandbox::{Fault, FaultKind, ItemKind};
use shared::config::SECRET_VARIABLES;

use crate::console::{csrf, delivery, get, post, sign_in};

const A: &str = "20003301";
const B: &str = "20003302";

/// Secrets by ARN, as a deployer may give them: two in Secrets Manager, one in Parameter
/// Store, and a customer-managed key encrypting them.
const ARNS: [(&str, &str); 4] = [
    ("TapdClientSecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:tapd-client-AbCdEf"),
    ("TdocClientSecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:tdoc-client-AbCdEf"),
    ("TapdWebhookSecretArn", "arn:aws:ssm:us-east-1:123456789012:parameter/tapd-docs/webhook-secret"),
    ("TokenEncryptionKeyArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:token-key-AbCdEf"),
];
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
/// The deployer's verified sender of e-mail notices (`NotifyEmailFrom`).
const SENDER: &str = "noreply@iam.tapd-docs.example.com";

/// The deployments the roles are checked in: secrets by ARN with a customer-managed key on
/// the stack's own table, and (a point-in-time restore) on an existing table by name.
fn deployments(table: &str) -> Vec<Deployment> {
    let mut by_arn = Deployment::new(table).with("SecretsKmsKeyArn", KMS_KEY).with("NotifyEmailFrom", SENDER);
    for (p, arn) in ARNS {
        by_arn = by_arn.with(p, arn);
    }
    let restored =
        Deployment::new("tapd-docs-stack-table").with("ExistingTableName", table).with("NotifyEmailFrom", SENDER);
    vec![by_arn, Deployment::new(table).with("NotifyEmailFrom", SENDER), restored]
}

/// The partition key's prefix (`WS#` of `WS#20003301`), or the whole value if it has none.
fn prefix(key: &str) -> String {
    key.find('#').map_or(key, |at| &key[..=at]).to_owned()
}

/// Every distinct `operation table-or-index prefix` a function's calls touched.
fn touched(calls: &[DdbCall]) -> BTreeSet<String> {
    calls
        .iter()
        .flat_map(|c| {
            let on = c.index.as_deref().map_or("table".to_owned(), |i| format!("index/{i}"));
            let keys = if c.keys.is_empty() { vec![String::new()] } else { c.keys.clone() };
            keys.into_iter().map(move |k| format!("{} {on} {}", c.operation, prefix(&k)).trim_end().to_owned())
        })
        .collect()
}

/// A function spawned as `template.yaml` configures it for `d`: each secret the template
/// gives it by ARN comes by ARN (read at init from `extension`), its table calls go through
/// `proxy`.
async fn spawn_as_deployed(
    stack: &Stack,
    d: &Deployment,
    logical: &str,
    binary: &str,
    proxy: &DdbProxy,
    extension: u16,
    extra: &[(&str, &str)],
) -> (Function, usize) {
    let env = Template::load().resolve(d).function_env(logical);
    let port = extension.to_string();
    let endpoint = proxy.url();
    let mut vars: Vec<(String, String)> = vec![
        ("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT".into(), port),
        ("AWS_SESSION_TOKEN".into(), "session-token".into()),
    ];
    let mut by_arn = 0;
    for name in SECRET_VARIABLES {
        if let Some(arn) = env.get(&format!("{name}_ARN")) {
            vars.push((format!("{name}_ARN"), arn.clone()));
            vars.push((name.to_owned(), String::new()));
            by_arn += 1;
        }
    }
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    (stack.spawn(binary, &refs).await, by_arn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_every_flow_is_allowed_by_its_functions_role() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let ds = deployments(&stack.table);
    let c = stack.sandbox.config();
    let values = [
        c.tapd_client_secret.clone(),
        c.tdoc_client_secret.clone(),
        harness::stack::WEBHOOK_SECRET.to_owned(),
        stack.encryption_key.clone(),
    ];
    let secrets: Vec<(String, String)> = ARNS.iter().zip(values).map(|((_, arn), v)| (arn.to_string(), v)).collect();
    // One proxy and one extension per function: every call is attributed to its caller.
    let (oauth_ddb, hook_ddb) = (DdbProxy::start().await, DdbProxy::start().await);
    let oauth_asked = harness::secrets_extension::FakeExtension::start(secrets.clone()).await;
    let hook_asked = harness::secrets_extension::FakeExtension::start(secrets).await;
    let (oauth_ext, hook_ext) = (oauth_asked.port, hook_asked.port);
    // The group robots live in the sandbox (the template leaves their hosts at WeCom's and DingTalk's).
    let wecom = format!("{}/wecom", stack.sandbox.base_url());
    // E-mail through SES (moto's, behind each function's recording proxy): the sender verified.
    harness::ses::verify_sender(SENDER).await;
    let (oauth_ses, hook_ses) = (oauth_ddb.url(), hook_ddb.url());
    let oauth_env = [
        ("NOTIFY_WECOM_BASE", wecom.as_str()),
        ("NOTIFY_EMAIL_FROM", SENDER),
        ("AWS_ENDPOINT_URL_SESV2", oauth_ses.as_str()),
    ];
    let (oauth, oauth_arns) =
        spawn_as_deployed(&stack, &ds[0], "OAuthFunction", "oauth", &oauth_ddb, oauth_ext, &oauth_env).await;
    let (webhook, hook_arns) = spawn_as_deployed(
        &stack,
        &ds[0],
        "TapdWebhookFunction",
        "tapd-webhook",
        &hook_ddb,
        hook_ext,
        &[
            ("RETRY_PERIOD", "0s"),
            oauth_env[0],
            ("NOTIFY_EMAIL_FROM", SENDER),
            ("AWS_ENDPOINT_URL_SESV2", hook_ses.as_str()),
        ],
    )
    .await;

    // Connect two workspaces; rebind A to another account (confirmed).
    for (ws, open_id) in [(A, "c1c1c1c1"), (B, "d2d2d2d2")] {
        assert_eq!(stack.connect(&oauth, ws, open_id).await.status, 200);
    }
    stack.sandbox.add_tdoc_user("e3e3e3e3", "Newcomer");
    let ask = oauth.http(&up_to_tdoc_callback(&stack, &oauth, A, "e3e3e3e3").await).await;
    assert!(ask.body.contains("<form"), "{}", ask.body);
    assert_eq!(oauth.http(&confirm_post(&ask)).await.status, 200);

    // Deliveries: a create, a rename, a delete (refused, then believed), one waiting on an
    // outage, one after the access token expired (a refresh), and a wrong secret.
    let id = |n: u32| format!("11{A}{n:09}");
    stack.sandbox.add_item(A, ItemKind::Story, &id(1), "需求一");
    assert_eq!(webhook.http(&delivery(A, &id(1))).await.status, 200);
    let event = |kind: &str| {
        let mut e = create_event(A, "story", &id(1), kind);
        e["event"] = format!("story::{kind}").into();
        e["change_fields"] = "name".into();
        Request::post_json(flows::WEBHOOK_PATH, &e)
    };
    stack.sandbox.add_item(A, ItemKind::Story, &id(1), "需求一（改名）");
    assert_eq!(webhook.http(&event("update")).await.status, 200);
    // The card (#34): a status change rewrites it (recorded, the history told); a change while
    // the item is busy says the card is stale; a card that cannot be written is in the history.
    let first = id(1);
    let moved = stack.sandbox.change_item(A, ItemKind::Story, &first, &[("status", "developing")], "bob", false);
    for mut e in moved.await.unwrap().events {
        e["secret"] = harness::stack::WEBHOOK_SECRET.into();
        assert_eq!(webhook.http(&Request::post_json(flows::WEBHOOK_PATH, &e)).await.status, 200);
    }
    let store = stack.store().await;
    let key: shared::store::ItemKey = format!("{A}/story/{}", id(1)).parse().unwrap();
    let far = shared::time::now_millis() + 60_000;
    let held = store.claim_existing(&key, "someone-else", far).await.unwrap();
    assert!(matches!(held, Some(shared::store::ClaimOutcome::Claimed(_))));
    let mut busy = create_event(A, "story", &id(1), "busy");
    busy["event"] = "story::update".into();
    busy["change_fields"] = "priority".into();
    let busy = Request::post_json(flows::WEBHOOK_PATH, &busy);
    assert_eq!(webhook.http(&busy).await.json().unwrap()["status"], "in_progress");
    if let Some(shared::store::ClaimOutcome::Claimed(claim)) = held {
        store.release(&claim).await.unwrap();
    }
    stack.sandbox.inject(Fault {
        method: Some("GET".into()),
        path_prefix: "/tdoc/openapi/doc/v3/".into(),
        kind: FaultKind::Status(503),
        times: 0,
    });
    let failed = webhook.invoke_with_deadline(busy.to_event(), std::time::Duration::from_millis(4_600)).await;
    assert!(failed.response().is_some(), "{failed:?}");
    stack.sandbox.clear_faults();
    let history = store.item(&key).await.unwrap().unwrap().history;
    assert!(history.iter().any(|e| matches!(e.what, shared::store::EventKind::CardFailed(_))), "{history:?}");
    assert_eq!(webhook.http(&event("delete")).await.status, 200);
    stack.sandbox.remove_item(A, ItemKind::Story, &id(1));
    assert_eq!(webhook.http(&event("delete")).await.status, 200);
    stack.sandbox.inject(Fault {
        method: Some("POST".into()),
        path_prefix: "/tdoc/openapi/drive/v2/files$".into(),
        kind: FaultKind::Status(429),
        times: 0,
    });
    stack.sandbox.add_item(A, ItemKind::Story, &id(2), "等待中的需求");
    assert!(webhook.http(&delivery(A, &id(2))).await.status >= 500);
    stack.sandbox.clear_faults();
    stack.sandbox.expire_access_tokens();
    stack.sandbox.add_item(B, ItemKind::Story, &format!("11{B}000000001"), "别的需求");
    assert_eq!(webhook.http(&delivery(B, &format!("11{B}000000001"))).await.status, 200);
    let mut wrong = create_event(A, "story", &id(3), "x");
    wrong["secret"] = "not-the-secret".into();
    assert_eq!(webhook.http(&Request::post_json(flows::WEBHOOK_PATH, &wrong)).await.status, 401);

    // The console: every page and form.
    let cookie = sign_in(&stack, &oauth, A, None).await;
    let page = get(&oauth, &format!("/console/ws/{A}"), &cookie).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = csrf(&page.body);
    for state in ["linked", "waiting", "given_up", "deleted"] {
        let listed = get(&oauth, &format!("/console/ws/{A}?state={state}"), &cookie).await;
        assert_eq!(listed.status, 200, "{state}: {}", listed.body);
    }
    let form = |action: &'static str, fields: Vec<(&'static str, &'static str)>| {
        let token = token.clone();
        let cookie = cookie.clone();
        let oauth = &oauth;
        async move {
            let mut all = vec![("csrf", token.as_str())];
            all.extend(fields);
            post(oauth, &format!("/console/ws/{A}/{action}"), &cookie, &all).await
        }
    };
    assert_eq!(form("retry", vec![("item", "story/1120003301000000002")]).await.status, 302);
    // Bugs not linked: a bug delivery is given up, then retried from the console.
    let saved =
        form("settings", vec![("events_shown", "1"), ("event_story", "1"), ("title_template", "【需求】{name}")]);
    assert_eq!(saved.await.status, 302);
    stack.sandbox.add_item(A, ItemKind::Bug, &id(4), "缺陷");
    let bug = Request::post_json(flows::WEBHOOK_PATH, &create_event(A, "bug", &id(4), "b"));
    assert_eq!(webhook.http(&bug).await.status, 200);
    assert_eq!(form("retry-given-up", vec![]).await.status, 302);
    assert_eq!(form("pause", vec![]).await.status, 302);
    assert_eq!(form("resume", vec![]).await.status, 302);
    assert!(form("rotate-secret", vec![]).await.body.contains("new-webhook-secret"));
    assert_eq!(form("backfill", vec![("since", "2026-11-01")]).await.status, 302);
    // Living docs: an item closed and reopened (its doc into 已完成 and back: the sub-folder's
    // lease and record, the doc's place on the item), an iteration's folder made by its name and
    // a rename of it refused (kept, and said on the console's page).
    assert_eq!(form("settings", vec![("folder_layout", "iteration")]).await.status, 302);
    let iteration = format!("11{A}000000077");
    stack.sandbox.add_iteration(A, Some(&iteration), "迭代甲");
    stack.sandbox.add_item_with_fields(A, ItemKind::Story, &id(5), "将关闭的需求", &[("iteration_id", &iteration)]);
    assert_eq!(webhook.http(&delivery(A, &id(5))).await.status, 200);
    for status in ["resolved", "developing"] {
        let item = id(5);
        let change = stack.sandbox.change_item(A, ItemKind::Story, &item, &[("status", status)], "lin", false).await;
        for mut e in change.unwrap().events {
            e["secret"] = harness::stack::WEBHOOK_SECRET.into();
            assert_eq!(webhook.http(&Request::post_json(flows::WEBHOOK_PATH, &e)).await.status, 200);
        }
    }
    assert_eq!(
        stack.sandbox.requests().iter().filter(|r| r.method == "PATCH" && r.path.ends_with("/move")).count(),
        2,
        "into 已完成 and back"
    );
    let mut variants = stack.sandbox.variants();
    variants.tdoc_folder_rename = sandbox::TdocFolderRename::Refused;
    stack.sandbox.set_variants(variants);
    stack.sandbox.rename_iteration_quietly(A, &iteration, "迭代乙");
    let mut renamed = create_event(A, "story", &iteration, "it-1");
    renamed["event"] = "iteration::update".into();
    renamed["change_fields"] = "name,modified".into();
    renamed["old_name"] = "迭代甲".into();
    assert_eq!(webhook.http(&Request::post_json(flows::WEBHOOK_PATH, &renamed)).await.status, 200);
    let page = get(&oauth, &format!("/console/ws/{A}"), &cookie).await;
    assert!(page.body.contains("未能改名为“迭代乙”"), "{}", page.body);
    // A group robot named in the console; an item TAPD does not have, looked at twice, is given
    // up and the robot told (its record, the item's notice, the day's count); its history, a search.
    stack.sandbox.add_robot("wecom", "iam-robot", None);
    let robot: &'static str =
        Box::leak(format!("{}/wecom/cgi-bin/webhook/send?key=iam-robot", stack.sandbox.base_url()).into_boxed_str());
    assert_eq!(form("notify", vec![("notify", robot)]).await.status, 302);
    for event in ["gone-1", "gone-2"] {
        let gone = Request::post_json(flows::WEBHOOK_PATH, &create_event(A, "story", &id(9), event));
        webhook.http(&gone).await;
    }
    assert_eq!(stack.sandbox.robot_messages().len(), 1, "the robot was told of the given-up item");
    // Then an e-mail address: the next given-up item is mailed through SES.
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    let lead: &'static str = Box::leak(format!("iam-lead-{:x}@example.com", u32::from_be_bytes(b)).into_boxed_str());
    assert_eq!(form("notify", vec![("notify", lead)]).await.status, 302);
    for event in ["gone-3", "gone-4"] {
        let gone = Request::post_json(flows::WEBHOOK_PATH, &create_event(A, "story", &id(10), event));
        webhook.http(&gone).await;
    }
    assert_eq!(harness::ses::sent_to(lead).await.len(), 1, "the address was mailed of the given-up item");
    assert_eq!(get(&oauth, &format!("/console/ws/{A}/item/story/{}", id(9)), &cookie).await.status, 200);
    assert_eq!(get(&oauth, &format!("/console/ws/{A}?q=%E9%9C%80%E6%B1%82&state=linked"), &cookie).await.status, 200);
    assert_eq!(get(&oauth, &format!("/console/ws/{A}?q={}", id(9)), &cookie).await.status, 200);

    // The scheduled run: retries what is due and sweeps (the backfill's) under the budget.
    let run = webhook.invoke(scheduled_event()).await;
    assert!(run.response().is_some(), "{run:?}");

    // A second workspace in the same browser (the picker), a disconnect, signing out.
    let cookie = sign_in(&stack, &oauth, B, Some(&cookie)).await;
    assert_eq!(get(&oauth, "/console", &cookie).await.status, 200);
    let gone =
        post(&oauth, &format!("/console/ws/{A}/disconnect"), &cookie, &[("csrf", &token), ("confirm", "yes")]).await;
    assert_eq!(gone.status, 302);
    assert!(stack.store().await.sweep_cursor(&shared::ids::WorkspaceId::parse(A).unwrap()).await.unwrap().is_none());
    // A sweep in the index for a workspace no longer connected (a disconnect racing a run that
    // kept its cursor): the next check of the index takes it out (its claim let go here, as ten
    // minutes would).
    let stale = shared::ids::WorkspaceId::parse("20003399").unwrap();
    stack.store().await.backfill_since(&stale, 0).await.unwrap();
    harness::dynamo::client()
        .await
        .delete_item()
        .table_name(&stack.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("BUDGET#share".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("sweeps".into()))
        .send()
        .await
        .unwrap();
    let run = webhook.invoke(scheduled_event()).await;
    assert!(run.response().is_some(), "{run:?}");
    let due = stack.store().await.due_sweeps(shared::time::now_millis(), 1000).await.unwrap();
    assert!(due.iter().all(|(ws, _)| *ws != stale), "the stale sweep left the index: {due:?}");
    assert_eq!(post(&oauth, "/console/signout", &cookie, &[("csrf", &token)]).await.status, 302);
    flows::assert_no_panic(&oauth);
    flows::assert_no_panic(&webhook);

    // A key rotation under way (`NEW,OLD`): tokens sealed under the old key are re-encrypted as
    // they are read, by whichever function reads them.
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).unwrap();
    let rotated = format!("{},{}", base64::engine::general_purpose::STANDARD.encode(fresh), stack.encryption_key);
    let hook_url = hook_ddb.url();
    let rotating = stack
        .spawn("tapd-webhook", &[("AWS_ENDPOINT_URL_DYNAMODB", &hook_url), ("TOKEN_ENCRYPTION_KEY", &rotated)])
        .await;
    stack.sandbox.add_item(B, ItemKind::Story, &format!("11{B}000000002"), "轮换密钥后的需求");
    assert_eq!(rotating.http(&delivery(B, &format!("11{B}000000002"))).await.status, 200);
    let oauth_url = oauth_ddb.url();
    let rotating =
        stack.spawn("oauth", &[("AWS_ENDPOINT_URL_DYNAMODB", &oauth_url), ("TOKEN_ENCRYPTION_KEY", &rotated)]).await;
    assert_eq!(stack.connect(&rotating, B, "d2d2d2d2").await.status, 200);

    // Every call, against its own function's role, in each deployment.
    let recorded = [("OAuthFunction", oauth_ddb.calls()), ("TapdWebhookFunction", hook_ddb.calls())];
    let t = Template::load();
    let mut denied = Vec::new();
    for d in &ds {
        let r = t.resolve(d);
        for (function, calls) in &recorded {
            denied.extend(denied_ddb_calls(d, &r.policy_of(function), function, calls));
        }
    }
    for (function, calls) in &recorded {
        println!("{function}: {} calls", calls.len());
        for t in touched(calls) {
            println!("  {t}");
        }
    }
    // The flows ran: each function touched what its role is about (so this is no empty pass).
    let has = |calls: &[DdbCall], what: &str| touched(calls).iter().any(|t| t.starts_with(what));
    for what in [
        "PutItem table STATE#",
        "DeleteItem table STATE#",
        "PutItem table TDOC#",
        "UpdateItem table SESSION#",
        "UpdateItem table ITEM#",
        "Query table WS#",
        "Query index/workspace_items ITEMS#",
        "Query index/pending",
        "PutItem table SWEEP#",
        "DeleteItem table SWEEP#",
        "DeleteItem table WS#",
    ] {
        assert!(has(&recorded[0].1, what), "oauth never made {what}");
    }
    for what in [
        "UpdateItem table ITEM#",
        "UpdateItem table WS#",
        "GetItem table WS#",
        "PutItem table TDOC#",
        "PutItem table SWEEP#",
        "UpdateItem table BUDGET#",
        "BatchGetItem table ITEM#",
        "UpdateItem table TDOC#",
        "Query index/pending PENDING",
        // The docs' follow-ups: the failed card above queued one; every scheduled run reads them.
        "PutItem table ITEM#",
        "Query index/pending FOLLOW",
        // The sweeps: the due ones from the index, and the index checked against the bindings.
        "Query index/pending SWEEP",
        "Query index/pending WORKSPACE",
        "UpdateItem table SWEEP#",
    ] {
        assert!(has(&recorded[1].1, what), "tapd-webhook never made {what}");
    }
    assert!(recorded[0].1.iter().any(|c| c.via.as_deref() == Some("TransactWriteItems")), "no transaction");

    // SES: tapd-webhook sent, the console did not; each call against the role.
    let sent = [("OAuthFunction", oauth_ddb.ses_calls()), ("TapdWebhookFunction", hook_ddb.ses_calls())];
    assert!(sent[0].1.is_empty(), "the console sends no e-mail: {:?}", sent[0].1);
    assert!(sent[1].1.iter().any(|c| c.operation == "SendEmail" && c.from == SENDER), "{:?}", sent[1].1);
    for d in &ds {
        let r = t.resolve(d);
        for (function, calls) in &sent {
            denied.extend(iam::denied_ses_calls(d, &r.policy_of(function), function, calls));
        }
    }

    // Secrets: each one the template gives a function by ARN was read, and its role reads it.
    for (function, asked, by_arn) in
        [("OAuthFunction", &oauth_asked, oauth_arns), ("TapdWebhookFunction", &hook_asked, hook_arns)]
    {
        // Each secret given by ARN was read, some again (a rotated secret is re-read on a refusal).
        let asked = asked.seen();
        let distinct: std::collections::BTreeSet<&str> = asked
            .iter()
            .filter_map(|h| h.split_whitespace().nth(1))
            .map(|t| t.split('&').next().unwrap_or(t))
            .collect();
        assert!(by_arn >= 3 && distinct.len() == by_arn, "{function}: {by_arn} secrets by ARN, asked {asked:?}");
        let policy = t.resolve(&ds[0]).policy_of(function);
        for head in asked {
            let target = head.split_whitespace().nth(1).unwrap_or_default();
            let url = url::Url::parse(&format!("http://x{target}")).unwrap();
            let arn = url.query_pairs().find(|(k, _)| k == "secretId" || k == "name").unwrap().1.into_owned();
            for req in iam::secret_requests(&arn, Some(KMS_KEY)) {
                if let Err(why) = policy.allows(&req) {
                    denied.push(format!("{function}: {} on {}: {why}", req.action, req.resource));
                }
            }
        }
    }
    assert!(denied.is_empty(), "calls AWS would deny:\n{}", denied.join("\n"));
}

/// The check can fail: calls a role does not allow, made through the recording proxy, are
/// each named with the function, operation, table or index and key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_role_does_not_allow_is_named() {
    harness::needs_local_dynamodb!();
    let table = dynamo::fresh_table().await;
    let proxy = DdbProxy::start().await;
    let client = dynamo::client_at(&proxy.url());
    use aws_sdk_dynamodb::types::AttributeValue::S;
    // oauth: a scan, a write to the TAPD budget, a query of the table outside WS#.
    let _ = client.scan().table_name(&table).send().await;
    let _ =
        client.put_item().table_name(&table).item("pk", S("BUDGET#tapd".into())).item("sk", S("1".into())).send().await;
    let _ = client
        .query()
        .table_name(&table)
        .key_condition_expression("#p = :p")
        .expression_attribute_names("#p", "pk")
        .expression_attribute_values(":p", S("ITEM#1#story#2".into()))
        .send()
        .await;
    let d = Deployment::new(&table);
    let t = Template::load();
    let r = t.resolve(&d);
    let denied = denied_ddb_calls(&d, &r.policy_of("OAuthFunction"), "OAuthFunction", &proxy.calls());
    assert_eq!(denied.len(), 3, "{denied:#?}");
    assert!(denied[0].starts_with(&format!("OAuthFunction: Scan on {table}")), "{denied:#?}");
    assert!(denied[1].contains("PutItem on") && denied[1].contains("key BUDGET#tapd"), "{denied:#?}");
    assert!(denied[2].contains("Query on") && denied[2].contains("key ITEM#1#story#2"), "{denied:#?}");

    // tapd-webhook: a delete of an item record, a query of the console's index, and a
    // transaction whose second item is outside its prefixes (named by itself).
    let webhook = r.policy_of("TapdWebhookFunction");
    let call = |op: &str, index: Option<&str>, key: &str, via: Option<&str>| DdbCall {
        operation: op.into(),
        via: via.map(str::to_owned),
        table: table.clone(),
        index: index.map(str::to_owned),
        keys: vec![key.into()],
    };
    let calls = [
        call("DeleteItem", None, "ITEM#1#story#2", None),
        call("Query", Some("workspace_items"), "ITEMS#1", None),
        call("PutItem", None, "ITEM#1#story#2", Some("TransactWriteItems")),
        call("PutItem", None, "SESSION#x", Some("TransactWriteItems")),
    ];
    let denied = denied_ddb_calls(&d, &webhook, "TapdWebhookFunction", &calls);
    assert_eq!(denied.len(), 3, "{denied:#?}");
    assert!(denied[2].contains("PutItem (in TransactWriteItems)") && denied[2].contains("SESSION#x"), "{denied:#?}");
    // E-mail from any sender but the named one, or from the console, is named too.
    let mailing = d.clone().with("NotifyEmailFrom", SENDER);
    let r = t.resolve(&mailing);
    let call = |from: &str| harness::ddb_proxy::SesCall { operation: "SendEmail".into(), from: from.into() };
    let hook_denied = iam::denied_ses_calls(
        &mailing,
        &r.policy_of("TapdWebhookFunction"),
        "TapdWebhookFunction",
        &[call(SENDER), call("other@evil.example.com")],
    );
    assert_eq!(hook_denied.len(), 1, "{hook_denied:#?}");
    assert!(hook_denied[0].contains("SendEmail from other@evil.example.com"), "{hook_denied:#?}");
    let oauth_denied = iam::denied_ses_calls(&mailing, &r.policy_of("OAuthFunction"), "OAuthFunction", &[call(SENDER)]);
    assert_eq!(oauth_denied.len(), 1, "{oauth_denied:#?}");
    // A secret a function is not given is not readable by its role.
    let oauth = t.resolve(&d.clone().with("TapdWebhookSecretArn", ARNS[2].1)).policy_of("OAuthFunction");
    assert!(oauth.allows(&iam::secret_requests(ARNS[2].1, None)[0]).is_err());
}
