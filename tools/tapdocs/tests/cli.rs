//! The CLI end to end: the built `tapdocs` binary against the local DynamoDB (`make test`
//! starts it and exports `AWS_ENDPOINT_URL_DYNAMODB`), on a fresh table from template.yaml,
//! seeded through the store the functions use. Every call `tapdocs` makes goes through a
//! recording proxy and is checked against the operator policy docs/operations.md documents,
//! evaluated as AWS would (`harness::iam`): a call it would deny fails the test that made it.

use std::process::{Command, Output, Stdio};

use std::sync::OnceLock;

use harness::ddb_proxy::{DdbCall, DdbProxy};
use harness::dynamo;
use harness::iam::{Deployment, Policy, denied_ddb_calls, policy_in_markdown};
use serde_json::Value;
use shared::config::{DocType, FolderLayout};
use shared::crypto::Keyring;
use shared::ids::{ItemId, ItemKind, OpenId, WorkspaceId};
use shared::secret::Secret;
use shared::store::{ClaimOutcome, ItemKey, PermissionSetting, Stage, Store};
use shared::tapd::TapdToken;
use shared::tdoc::TdocToken;
use shared::time::{now_millis, now_secs};

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const NEW_KEY: &str = "bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleSE=";

async fn store() -> (Store, String) {
    let table = dynamo::fresh_table().await;
    (Store::new(dynamo::client().await, table.clone(), Keyring::parse(KEY).unwrap()), table)
}

/// Runs `tapdocs --table TABLE ARGS…` against the local DynamoDB, stdin closed (no terminal).
fn tapdocs(table: &str, args: &[&str]) -> Output {
    tapdocs_env(table, args, &[])
}

/// The recording proxy every `tapdocs` run goes through: on its own thread and runtime, as
/// the tests block on the CLI.
fn proxy() -> &'static DdbProxy {
    static PROXY: OnceLock<DdbProxy> = OnceLock::new();
    PROXY.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            rt.block_on(async move {
                tx.send(DdbProxy::start().await).expect("the test waits");
                std::future::pending::<()>().await
            })
        });
        rx.recv().expect("the proxy starts")
    })
}

/// The operator policy docs/operations.md gives, for `table` in the tests' account and region.
fn operator_policy(table: &str) -> Policy {
    let doc = std::fs::read_to_string(harness::workspace_root().join("docs/operations.md")).expect("the runbook");
    let json = policy_in_markdown(&doc, "dynamodb:").expect("docs/operations.md gives tapdocs' policy as JSON");
    let d = Deployment::new(table);
    let text = json.to_string().replace("REGION", &d.region).replace("ACCOUNT", &d.account).replace("TABLE", table);
    Policy::from_document("docs/operations.md", &serde_json::from_str(&text).unwrap())
}

/// `tapdocs`' calls on `table` so far; panics naming each one the documented policy denies.
fn checked_calls(table: &str) -> Vec<DdbCall> {
    let calls: Vec<DdbCall> = proxy().calls().into_iter().filter(|c| c.table == table).collect();
    let denied = denied_ddb_calls(&Deployment::new(table), &operator_policy(table), "tapdocs", &calls);
    assert!(denied.is_empty(), "calls the policy in docs/operations.md does not allow:\n{}", denied.join("\n"));
    calls
}

fn tapdocs_env(table: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tapdocs"));
    if !table.is_empty() {
        cmd.args(["--table", table]);
    }
    cmd.args(args)
        .env("AWS_ENDPOINT_URL_DYNAMODB", proxy().url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("TABLE_NAME")
        .env_remove("TOKEN_ENCRYPTION_KEY")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the tapdocs binary runs");
    checked_calls(table);
    out
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "tapdocs failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ws(n: &str) -> WorkspaceId {
    WorkspaceId::parse(n).unwrap()
}

fn item(w: &str, kind: ItemKind, id: &str) -> ItemKey {
    ItemKey { workspace: ws(w), kind, id: ItemId::parse(id).unwrap() }
}

/// An item retried until given up, with `reason`.
async fn failed_item(store: &Store, key: &ItemKey, reason: &str) {
    let ClaimOutcome::Claimed(mut claim) =
        store.claim_item(key, Some("e1"), "test", now_millis() + 60_000).await.unwrap()
    else {
        panic!("a new item is claimed")
    };
    store.give_up(&mut claim, shared::reason::Reason::legacy(reason), reason).await.unwrap();
    assert!(matches!(store.item(key).await.unwrap().unwrap().stage, Stage::GivenUp { .. }));
}

fn tdoc_token(open_id: &str) -> TdocToken {
    TdocToken {
        access_token: Secret::new("tdoc-access"),
        refresh_token: Some(Secret::new("tdoc-refresh")),
        expires_at: now_secs() + 3600,
        open_id: OpenId::parse(open_id).unwrap(),
    }
}

fn tapd_token() -> TapdToken {
    TapdToken {
        access_token: Secret::new("tapd-access"),
        refresh_token: None,
        expires_at: now_secs() + 3600,
        resource: None,
    }
}

/// A workspace connected the way the OAuth flow leaves it: TAPD token, Tencent Docs token, binding.
async fn connected(store: &Store, w: &str, open_id: &str) {
    store.put_tapd_token(&ws(w), &tapd_token()).await.unwrap();
    store.connect_tdoc(&ws(w), &tdoc_token(open_id)).await.unwrap();
}

#[tokio::test]
async fn redrive_puts_failed_items_back_to_pending() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    let a = item("20000001", ItemKind::Story, "1000001");
    let b = item("20000002", ItemKind::Bug, "1000002");
    let c = item("20000002", ItemKind::Task, "1000003");
    failed_item(&store, &a, "TAPD refused: 403 no permission").await;
    failed_item(&store, &b, "Tencent Docs: quota exceeded").await;
    failed_item(&store, &c, "given up after 24 h").await;

    // Listed with their reasons.
    let listed = json_of(&tapdocs(&table, &["items", "--given-up", "--json"]));
    assert_eq!(listed["count"], 3);
    let reasons: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|i| i["reason"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"Tencent Docs: quota exceeded"), "{reasons:?}");
    let human = tapdocs(&table, &["items", "--failed", "--workspace", "20000001"]);
    assert!(human.status.success());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("20000001/story/1000001") && text.contains("TAPD refused") && !text.contains("1000002"),
        "{text}"
    );

    // `--failed` (the old name of `--given-up`) `--workspace`: only that workspace's.
    let out = json_of(&tapdocs(&table, &["redrive", "--failed", "--workspace", "20000001", "--json"]));
    assert_eq!(out["redriven"], 1);
    let rec = store.item(&a).await.unwrap().unwrap();
    assert_eq!(rec.stage, Stage::New, "pending again");
    assert!(rec.pending_since_ms > 0);
    assert!(matches!(store.item(&b).await.unwrap().unwrap().stage, Stage::GivenUp { .. }));
    let due: Vec<ItemKey> =
        store.due_items(now_millis() + 1, 10, None).await.unwrap().0.into_iter().map(|d| d.key).collect();
    assert_eq!(due, vec![a.clone()], "due at once, for the next scheduled run");

    // One item by name.
    let out = tapdocs(&table, &["redrive", "20000002/bug/1000002"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(store.item(&b).await.unwrap().unwrap().stage, Stage::New);

    // `--failed` takes the rest; then nothing is left to redrive.
    let out = json_of(&tapdocs(&table, &["redrive", "--failed", "--json"]));
    assert_eq!(out["redriven"], 1);
    assert_eq!(out["items"][0]["item"], "20000002/task/1000003");
    assert_eq!(json_of(&tapdocs(&table, &["items", "--failed", "--json"]))["count"], 0);
    assert_eq!(json_of(&tapdocs(&table, &["items", "--pending", "--json"]))["count"], 3);

    // A pending item is made due now; an unknown one is "not found" (exit 4).
    let out = json_of(&tapdocs(&table, &["redrive", "20000002/bug/1000002", "--json"]));
    assert_eq!(out["items"][0]["result"], "due_now");
    let out = tapdocs(&table, &["redrive", "20000009/story/1"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("not found"));
    let out = tapdocs(&table, &["redrive", "20000009/epic/1"]);
    assert_eq!(out.status.code(), Some(2), "a malformed item is a usage error");
}

#[tokio::test]
async fn disconnect_deletes_the_tokens_and_the_binding() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    let open_id = "0123456789abcdef0123456789abcdef";
    connected(&store, "20000011", open_id).await;
    store.backfill_since(&ws("20000011"), now_millis() - 86_400_000).await.unwrap();
    assert!(store.binding(&ws("20000011")).await.unwrap().is_some());

    // Not at a terminal and no --yes: refused, nothing changed.
    let out = tapdocs(&table, &["disconnect", "20000011"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"));
    assert!(store.binding(&ws("20000011")).await.unwrap().is_some());

    let out = json_of(&tapdocs(&table, &["disconnect", "20000011", "--yes", "--json"]));
    assert_eq!(out["binding_deleted"], true);
    assert_eq!(out["tapd_token_deleted"], true);
    assert_eq!(out["tdoc_token_deleted"], true);
    assert_eq!(out["revoked_at_providers"], false);
    assert!(store.binding(&ws("20000011")).await.unwrap().is_none());
    assert!(store.tapd_token(&ws("20000011")).await.unwrap().is_none());
    assert!(store.tdoc_token(&OpenId::parse(open_id).unwrap()).await.unwrap().is_none());
    assert!(store.sweep_cursor(&ws("20000011")).await.unwrap().is_none());
    assert!(store.bound_workspaces().await.unwrap().is_empty(), "no longer swept");
    assert_eq!(store.binding_history(&ws("20000011")).await.unwrap().len(), 1, "the binding is kept in history");

    // Again: nothing to disconnect (exit 4).
    let out = tapdocs(&table, &["disconnect", "20000011", "--yes"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // Two workspaces on one Tencent Docs account: the account's token stays for the other.
    connected(&store, "20000012", open_id).await;
    connected(&store, "20000013", open_id).await;
    let out = tapdocs(&table, &["disconnect", "20000012", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("kept") && text.contains("20000013") && text.contains("revocation"), "{text}");
    assert!(store.binding(&ws("20000012")).await.unwrap().is_none());
    assert!(store.tdoc_token(&OpenId::parse(open_id).unwrap()).await.unwrap().is_some());
    assert!(store.binding(&ws("20000013")).await.unwrap().is_some());
}

#[tokio::test]
async fn status_reports_workspaces_and_counts() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    connected(&store, "20000021", "fedcba9876543210fedcba9876543210").await;
    failed_item(&store, &item("20000021", ItemKind::Story, "1"), "no permission").await;
    let pending = item("20000021", ItemKind::Bug, "2");
    let ClaimOutcome::Claimed(claim) = store.claim_item(&pending, None, "t", now_millis() + 60_000).await.unwrap()
    else {
        panic!()
    };
    store
        .release_for_retry(&claim, shared::reason::Reason::legacy("TAPD 502"), "TAPD 502", now_millis() + 300_000)
        .await
        .unwrap();
    store.mark_needs_reconnect(&ws("20000021"), "refresh refused").await.unwrap();

    let s = json_of(&tapdocs(&table, &["status", "--json"]));
    assert_eq!(s["target"]["table"], table.as_str());
    assert_eq!((s["pending"].as_u64(), s["given_up"].as_u64()), (Some(1), Some(1)));
    assert!(s["oldest_pending_age_secs"].is_u64());
    let w = &s["workspaces"][0];
    assert_eq!(w["workspace"], "20000021");
    assert_eq!(w["account"], "user");
    assert_eq!(w["needs_reconnect"], "refresh refused");
    assert_eq!((w["pending"].as_u64(), w["given_up"].as_u64()), (Some(1), Some(1)));
    assert!(w["connected_at"].as_u64().unwrap() > 0);

    let human = tapdocs(&table, &["status"]);
    assert!(human.status.success(), "{}", stderr(&human));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("20000021") && text.contains("reconnect needed"), "{text}");

    let pending_items = json_of(&tapdocs(&table, &["items", "--pending", "--json"]));
    assert_eq!(pending_items["items"][0]["reason"], "TAPD 502");

    let b = json_of(&tapdocs(&table, &["backfill", "20000021", "--since", "2026-11-01", "--json"]));
    assert_eq!(b["since_ms"].as_u64(), shared::time::parse_tapd_date("2026-11-01"));
    assert_eq!(store.sweep_cursor(&ws("20000021")).await.unwrap().unwrap().since_ms, b["since_ms"].as_u64().unwrap());
    assert_eq!(tapdocs(&table, &["backfill", "20000021", "--since", "soon"]).status.code(), Some(2));
    assert_eq!(tapdocs(&table, &["backfill", "20000099", "--since", "2026-11-01"]).status.code(), Some(4));
}

#[tokio::test]
async fn rotate_keys_reencrypts_every_token_under_the_first_key() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    connected(&store, "20000031", "00112233445566778899aabbccddeeff").await;

    let out = tapdocs(&table, &["rotate-keys"]);
    assert_eq!(out.status.code(), Some(3), "the keys are needed");
    assert!(stderr(&out).contains("TOKEN_ENCRYPTION_KEY"));

    let both = format!("{NEW_KEY},{KEY}");
    let dry =
        json_of(&tapdocs_env(&table, &["rotate-keys", "--dry-run", "--json"], &[("TOKEN_ENCRYPTION_KEY", &both)]));
    assert_eq!((dry["tokens"].as_u64(), dry["resealed"].as_u64()), (Some(2), Some(2)));
    let r = json_of(&tapdocs_env(&table, &["rotate-keys", "--json"], &[("TOKEN_ENCRYPTION_KEY", &both)]));
    assert_eq!((r["resealed"].as_u64(), r["already_current"].as_u64()), (Some(2), Some(0)));

    // Only the new key now opens them.
    let new_only = Store::new(dynamo::client().await, table.clone(), Keyring::parse(NEW_KEY).unwrap());
    assert!(new_only.tapd_token(&ws("20000031")).await.unwrap().is_some());
    let open_id = OpenId::parse("00112233445566778899aabbccddeeff").unwrap();
    assert!(new_only.tdoc_token(&open_id).await.unwrap().is_some());

    // Under the old key alone they are unreadable: reported, exit 1.
    let out = tapdocs_env(&table, &["rotate-keys"], &[("TOKEN_ENCRYPTION_KEY", KEY)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// `tapdocs check-key` (what `make verify-backup` runs): the backup's key opens the stored
/// tokens, a wrong key is refused, and neither the key nor a token is ever printed.
#[tokio::test]
async fn check_key_proves_a_backup_opens_the_stored_tokens_without_printing_them() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    let dir = std::env::temp_dir().join(format!("tapdocs-check-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.key");
    std::fs::write(&good, format!("{KEY}\n")).unwrap();
    let wrong = dir.join("wrong.key");
    std::fs::write(&wrong, NEW_KEY).unwrap();
    let good_path = good.to_str().unwrap();

    // Nothing stored yet: nothing to prove the key against.
    let out = tapdocs(&table, &["check-key", "--key-file", good_path]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    connected(&store, "20000041", "0123456789abcdef0123456789abcdef").await;
    let printed = |out: &Output| format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(out));

    let ok = tapdocs(&table, &["check-key", "--key-file", good_path]);
    assert!(ok.status.success(), "{}", printed(&ok));
    let text = printed(&ok);
    assert!(text.contains("opens 2 of 2"), "{text}");
    for secret in [KEY, "tapd-access", "tdoc-access", "tdoc-refresh"] {
        assert!(!text.contains(secret), "check-key printed a secret: {text}");
    }
    // The fingerprint is the one `make backup-key` prints: sha256 of the key's text, 16 hex digits.
    let r = json_of(&tapdocs(&table, &["check-key", "--key-file", good_path, "--json"]));
    assert_eq!((r["tokens"].as_u64(), r["opened"].as_u64()), (Some(2), Some(2)));
    let fp = r["fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 16);
    assert!(text.contains(fp), "{text}");

    // From stdin, as `gpg -d BACKUP | tapdocs check-key --key-file -`.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tapdocs"));
    let mut child = cmd
        .args(["--table", &table, "check-key", "--key-file", "-"])
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamo::endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .env_remove("TOKEN_ENCRYPTION_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), format!("{KEY}\n").as_bytes()).unwrap();
    drop(child.stdin.take());
    let piped = child.wait_with_output().unwrap();
    assert!(piped.status.success(), "{}", printed(&piped));

    // Another key opens nothing: exit 1, said plainly, nothing printed of either key.
    let bad = tapdocs(&table, &["check-key", "--key-file", wrong.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1), "{}", printed(&bad));
    let text = printed(&bad);
    assert!(text.contains("opens none"), "{text}");
    assert!(!text.contains(KEY) && !text.contains(NEW_KEY), "{text}");

    // Not a key at all: a usage error naming the file.
    let junk = dir.join("junk.key");
    std::fs::write(&junk, "not a key").unwrap();
    let out = tapdocs(&table, &["check-key", "--key-file", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    assert!(stderr(&out).contains("junk.key"), "{}", stderr(&out));
    // Nothing was written: the tokens still open under the original key.
    assert!(store.tapd_token(&ws("20000041")).await.unwrap().is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `make backup-key` and `make verify-backup` (scripts/deployment.py) end to end against the
/// local AWS (moto serves Secrets Manager and CloudFormation beside DynamoDB): the key is read back
/// from the secret the stack names, written (plain here: gpg's passphrase needs a person or a
/// file), and the backup is proven by `tapdocs check-key` on the stack's table; a wrong backup fails.
#[tokio::test]
async fn backup_key_reads_the_stored_key_back_and_verify_backup_proves_it() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    connected(&store, "20000051", "fedcba9876543210fedcba9876543210").await;
    let root = harness::workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(python.is_file(), "{} is missing: run `make venv`", python.display());
    let stack = format!("tapd-docs-backup-{}", std::process::id());
    let dir = std::env::temp_dir().join(&stack);
    std::fs::create_dir_all(&dir).unwrap();
    let aws = |cmd: &mut Command| {
        cmd.current_dir(&dir)
            .env("AWS_ENDPOINT_URL", dynamo::endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_PROFILE")
            .env_remove("TOKEN_ENCRYPTION_KEY")
            .env_remove("BACKUP_PASSPHRASE_FILE")
            .stdin(Stdio::null());
    };
    // The deployment as `make secrets` and `make deploy` leave it: the key in Secrets Manager,
    // the stack naming it (TokenEncryptionKeyArn) and its table (TableName).
    let seed = format!(
        r#"
import boto3, json
arn = boto3.client("secretsmanager").create_secret(Name="{stack}/token-encryption-key", SecretString="{KEY}")["ARN"]
t = {{"Parameters": {{"TokenEncryptionKeyArn": {{"Type": "String"}}}},
     "Resources": {{"T": {{"Type": "AWS::SNS::Topic"}}}},
     "Outputs": {{"TableName": {{"Value": "{table}"}}}}}}
boto3.client("cloudformation").create_stack(StackName="{stack}", TemplateBody=json.dumps(t),
    Parameters=[{{"ParameterKey": "TokenEncryptionKeyArn", "ParameterValue": arn}}])
"#
    );
    let mut cmd = Command::new(&python);
    aws(cmd.args(["-c", &seed]));
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let samconfig = dir.join("samconfig.toml");
    std::fs::write(&samconfig, format!("version = 0.1\n[qa.deploy.parameters]\nstack_name = \"{stack}\"\n")).unwrap();
    let script = root.join("scripts/deployment.py");
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&python);
        cmd.arg(&script).args(args).args(["--env", "qa", "--samconfig", samconfig.to_str().unwrap()]);
        aws(&mut cmd);
        cmd.output().unwrap()
    };

    let backup = dir.join("token-key-qa.key");
    let out = run(&["backup-key", "--plain", "--out", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&backup).unwrap().trim(), KEY, "the key as stored");
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!printed.contains(KEY), "backup-key printed the key: {printed}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    // Never overwritten.
    assert!(!run(&["backup-key", "--plain", "--out", backup.to_str().unwrap()]).status.success());

    let tapdocs_bin = env!("CARGO_BIN_EXE_tapdocs");
    let out = run(&["verify-backup", "--file", backup.to_str().unwrap(), "--tapdocs", tapdocs_bin]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("opens 2 of 2") && !text.contains(KEY), "{text}");

    let wrong = dir.join("wrong.key");
    std::fs::write(&wrong, NEW_KEY).unwrap();
    let out = run(&["verify-backup", "--file", wrong.to_str().unwrap(), "--tapdocs", tapdocs_bin]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wrong_table_or_endpoint_is_a_clear_error() {
    harness::needs_local_dynamodb!();
    let out = tapdocs("no-such-table", &["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("no-such-table does not exist"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    let out = tapdocs("", &["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--table"), "{}", stderr(&out));

    let out = tapdocs_env("t", &["status"], &[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("cannot reach DynamoDB"), "{}", stderr(&out));

    let out = tapdocs("x", &["items"]);
    assert_eq!(out.status.code(), Some(2), "--pending or --failed is required");
}

#[tokio::test]
async fn workspace_set_and_show_change_a_workspace_own_settings() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    let w = ws("20000031");
    let set = tapdocs(
        &table,
        &[
            "--json",
            "workspace",
            "set",
            "20000031",
            "--folder-layout",
            "iteration",
            "--permission",
            "publicRead",
            "--doc-type",
            "bug=sheet",
            "--template",
            "story=300000000$fclZsEgvOuLD",
        ],
    );
    let v = json_of(&set);
    assert_eq!((v["changed"].as_bool(), v["folder_layout"].as_str()), (Some(true), Some("iteration")));
    let saved = store.workspace_settings(&w).await.unwrap();
    assert_eq!(saved.doc_permission.map(PermissionSetting::as_str), Some("publicRead"));
    assert_eq!(saved.doc_type(ItemKind::Bug).map(DocType::as_str), Some("sheet"));
    assert_eq!(saved.template(ItemKind::Story), Some("300000000$fclZsEgvOuLD"));

    let unset =
        tapdocs(&table, &["workspace", "set", "20000031", "--unset", "permission", "--unset", "template.story"]);
    assert!(unset.status.success(), "{}", stderr(&unset));
    let saved = store.workspace_settings(&w).await.unwrap();
    assert_eq!((saved.doc_permission, saved.template(ItemKind::Story)), (None, None));
    assert_eq!(saved.folder_layout.map(FolderLayout::as_str), Some("iteration"));

    let show = tapdocs(&table, &["workspace", "show", "20000031"]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success() && text.contains("iteration") && text.contains("(the deployment's)"), "{text}");

    // Close-out: on by default, off for this workspace, back to the default.
    assert!(text.contains("on (the default)"), "{text}");
    let off = tapdocs(&table, &["--json", "workspace", "set", "20000031", "--close-out", "off"]);
    assert_eq!(json_of(&off)["close_out"].as_str(), Some("off"));
    assert_eq!(store.workspace_settings(&w).await.unwrap().close_out, Some(false));
    let trail = store.audit_trail(&w, 10).await.unwrap();
    assert!(trail.iter().any(|e| e.what.contains("close-out off")), "{trail:?}");
    let back = tapdocs(&table, &["workspace", "set", "20000031", "--unset", "close-out"]);
    assert!(back.status.success(), "{}", stderr(&back));
    let saved = store.workspace_settings(&w).await.unwrap();
    assert_eq!(saved.close_out, None);

    // Invalid values are refused before the table is touched.
    for args in [
        &["workspace", "set", "20000031", "--folder-layout", "flat"][..],
        &["workspace", "set", "20000031", "--doc-type", "epic=doc"][..],
        &["workspace", "set", "20000031", "--doc-type", "bug=pdf"][..],
        &["workspace", "set", "20000031", "--unset", "colour"][..],
        &["workspace", "set", "20000031", "--close-out", "later"][..],
    ] {
        assert_eq!(tapdocs(&table, args).status.code(), Some(2), "{args:?}");
    }
    assert_eq!(store.workspace_settings(&w).await.unwrap(), saved);
}

#[tokio::test]
async fn an_unreadable_item_row_is_reported_not_dropped() {
    harness::needs_local_dynamodb!();
    use aws_sdk_dynamodb::types::AttributeValue;
    let (store, table) = store().await;
    let good = item("20000041", ItemKind::Story, "1000041");
    failed_item(&store, &good, "TAPD refused: 403").await;
    // A given-up row whose kind this version does not know (written by hand, or damaged).
    let s = |v: &str| AttributeValue::S(v.into());
    dynamo::client()
        .await
        .put_item()
        .table_name(&table)
        .item("pk", s("ITEM#20000041#epic#1000042"))
        .item("sk", s("ITEM"))
        .item("ws", s("20000041"))
        .item("kind", s("epic"))
        .item("item_id", s("1000042"))
        .item("status", s("failed"))
        .send()
        .await
        .unwrap();
    // Rows of earlier versions are listed once `migrate` has put them in the lists.
    assert!(tapdocs(&table, &["migrate"]).status.success());
    let out = tapdocs(&table, &["items", "--failed", "--json"]);
    let listed = json_of(&out);
    assert_eq!(listed["count"], 1, "the readable one is listed");
    let err = stderr(&out);
    assert!(err.contains("1 item record(s) could not be read") && err.contains("ITEM#20000041#epic#1000042"), "{err}");
}

#[tokio::test]
async fn a_workspaces_items_are_paged_newest_first_as_the_console_pages_them() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    for (n, id) in ["1000051", "1000052", "1000053"].iter().enumerate() {
        failed_item(&store, &item("20000051", ItemKind::Story, id), &format!("reason {n}")).await;
        // First seen one after another (the listing's order).
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    failed_item(&store, &item("20000052", ItemKind::Story, "1000054"), "another workspace's").await;
    let first = json_of(&tapdocs(&table, &["items", "--all", "--workspace", "20000051", "--limit", "2", "--json"]));
    let ids = |v: &Value| {
        v["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ["1000053", "1000052"], "newest first");
    let next = first["next"].as_str().expect("a next page");
    let second = json_of(&tapdocs(
        &table,
        &["items", "--all", "--workspace", "20000051", "--limit", "2", "--after", next, "--json"],
    ));
    assert_eq!(ids(&second), ["1000051"], "the rest, and not another workspace's");
    assert!(second["items"][0]["state"] == "given_up");
    let refused = tapdocs(&table, &["items", "--all"]);
    assert_eq!(refused.status.code(), Some(2), "--all needs --workspace");
}

/// The operator names people who may steer a workspace beside its TAPD admins; each change is
/// audited under the operator's name (`TAPDOCS_OPERATOR`, else the OS user).
#[tokio::test]
async fn workspace_admins_names_and_un_names_people_and_audits_who_did() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    let w = ws("20000041");
    let as_ops = [("TAPDOCS_OPERATOR", "ops-lin")];
    let named = json_of(&tapdocs_env(
        &table,
        &["--json", "workspace", "admins", "20000041", "--add", "anyechen", "--add", "1000142422"],
        &as_ops,
    ));
    assert_eq!(named["named_admins"], serde_json::json!(["1000142422", "anyechen"]));
    assert_eq!(store.named_admins(&w).await.unwrap(), ["1000142422", "anyechen"]);
    let left =
        json_of(&tapdocs_env(&table, &["--json", "workspace", "admins", "20000041", "--remove", "anyechen"], &as_ops));
    assert_eq!(left["named_admins"], serde_json::json!(["1000142422"]));
    // Naming twice or un-naming someone not named changes nothing and audits nothing more.
    json_of(&tapdocs_env(&table, &["--json", "workspace", "admins", "20000041", "--add", "1000142422"], &as_ops));
    let trail = store.audit_trail(&w, 10).await.unwrap();
    assert_eq!(trail.len(), 3, "{trail:?}");
    assert!(trail.iter().all(|a| a.who == "tapdocs: ops-lin"), "{trail:?}");
    // Plain output says what the rule is; a name that is not a TAPD name is a usage error.
    let plain = tapdocs(&table, &["workspace", "admins", "20000041"]);
    assert!(String::from_utf8_lossy(&plain.stdout).contains("管理员"));
    let bad = tapdocs(&table, &["workspace", "admins", "20000041", "--add", "a b;c"]);
    assert!(!bad.status.success() && stderr(&bad).contains("not a TAPD nick"), "{}", stderr(&bad));
}

/// Every command against one table, each call checked against the documented operator policy
/// (as every test's are): and the check can fail, naming a call the policy does not allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_keeps_to_the_operator_policy_the_runbook_documents() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    let open_id = "fedcba9876543210fedcba9876543210";
    connected(&store, "20000061", open_id).await;
    connected(&store, "20000062", open_id).await;
    failed_item(&store, &item("20000061", ItemKind::Story, "1000061"), "TAPD refused: 403").await;
    failed_item(&store, &item("20000061", ItemKind::Bug, "1000062"), "quota").await;
    // TAPD's app token, which `rotate-keys` re-encrypts too.
    assert!(store.put_tapd_app_token(&tapd_token(), 0).await.unwrap());
    let key = [("TOKEN_ENCRYPTION_KEY", KEY)];
    let both = format!("{NEW_KEY},{KEY}");
    // After rotate-keys every token is under NEW_KEY: the backup check-key proves.
    let key_file = std::env::temp_dir().join(format!("tapdocs-policy-{}.key", std::process::id()));
    std::fs::write(&key_file, NEW_KEY).unwrap();
    let key_file = key_file.to_str().unwrap().to_owned();
    type Run<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let runs: Vec<Run> = vec![
        (vec!["status"], vec![]),
        (vec!["items", "--pending"], vec![]),
        (vec!["items", "--given-up", "--workspace", "20000061"], vec![]),
        (vec!["items", "--linked", "--workspace", "20000061"], vec![]),
        (vec!["items", "--deleted", "--workspace", "20000061"], vec![]),
        (vec!["items", "--all", "--workspace", "20000061"], vec![]),
        (vec!["redrive", "20000061/story/1000061"], vec![]),
        (vec!["redrive", "--given-up", "--workspace", "20000061"], vec![]),
        (vec!["backfill", "20000061", "--since", "2026-11-01"], vec![]),
        (vec!["workspace", "set", "20000061", "--folder-layout", "iteration", "--language", "en"], vec![]),
        (vec!["workspace", "set", "20000061", "--unset", "folder-layout"], vec![]),
        (vec!["workspace", "pause", "20000061"], vec![]),
        (vec!["workspace", "resume", "20000061"], vec![]),
        (vec!["workspace", "rotate-secret", "20000061"], key.to_vec()),
        (vec!["workspace", "show", "20000061", "--reveal"], key.to_vec()),
        (vec!["migrate"], vec![]),
        (vec!["rotate-keys", "--dry-run"], vec![("TOKEN_ENCRYPTION_KEY", both.as_str())]),
        (vec!["rotate-keys"], vec![("TOKEN_ENCRYPTION_KEY", both.as_str())]),
        (vec!["check-key", "--key-file", key_file.as_str()], vec![]),
        (vec!["disconnect", "20000062", "--yes"], vec![]),
        (vec!["disconnect", "20000061", "--yes"], vec![]),
    ];
    for (args, env) in &runs {
        let out = tapdocs_env(&table, args, env);
        assert!(out.status.success(), "tapdocs {args:?}: {}", stderr(&out));
    }
    // An item the table does not have: looked up, and named as missing.
    assert_eq!(tapdocs(&table, &["redrive", "20000061/story/9999999"]).status.code(), Some(4));
    let calls = checked_calls(&table);
    let mut seen: Vec<String> = calls
        .iter()
        .flat_map(|c| {
            let on = c.index.as_deref().map_or("table".to_owned(), |i| format!("index/{i}"));
            let keys = if c.keys.is_empty() { vec![String::new()] } else { c.keys.clone() };
            keys.into_iter().map(move |k| {
                let prefix = k.find('#').map_or(k.as_str(), |at| &k[..=at]).to_owned();
                format!("{} {on} {prefix}", c.operation).trim_end().to_owned()
            })
        })
        .collect();
    seen.sort();
    seen.dedup();
    println!("tapdocs: {} calls\n  {}", calls.len(), seen.join("\n  "));
    for what in [
        "DescribeTable table",
        "Scan table",
        "Query table WS#",
        "Query index/pending",
        "Query index/workspace_items ITEMS#",
        "DeleteItem table TDOC#",
        "PutItem table SWEEP#",
        "UpdateItem table APP#",
        "UpdateItem table ITEM#",
    ] {
        assert!(seen.iter().any(|s| s.starts_with(what)), "tapdocs never made {what}: {seen:#?}");
    }

    // A call outside the policy is named: another table, and an action it does not list.
    let stray = [
        DdbCall {
            operation: "GetItem".into(),
            via: None,
            table: "other".into(),
            index: None,
            keys: vec!["WS#1".into()],
        },
        DdbCall { operation: "DeleteTable".into(), via: None, table: table.clone(), index: None, keys: vec![] },
    ];
    let denied = denied_ddb_calls(&Deployment::new(&table), &operator_policy(&table), "tapdocs", &stray);
    assert_eq!(denied.len(), 2, "{denied:#?}");
    assert!(denied[0].contains("GetItem on other key WS#1") && denied[1].contains("DeleteTable on"), "{denied:#?}");
}

/// When a workspace's docs are the app account's, `workspace set --template` takes only a file
/// in the workspace's folder, checked with Tencent Docs (the sandbox), and says why otherwise.
/// (Multi-threaded: the sandbox answers while the test waits for the CLI.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_app_account_mode_a_template_must_be_in_the_workspace_s_folder() {
    use shared::store::{Account, Binding, ConnectedBy};
    harness::needs_local_dynamodb!();
    let stack = harness::stack::Stack::new().await;
    let store = stack.store().await;
    let w = ws("20000051");
    assert!(store.bind(&w, &Binding::new(Account::App, ConnectedBy::default(), None), None, None).await.unwrap());
    let folder = harness::flows::app_create(&stack, "drive/v2/folders", &[("title", "TAPD 20000051")]).await;
    store.remember_folder(&w, "ws", &folder).await.unwrap();
    let form = [("title", "Own"), ("type", "doc"), ("folderID", folder.as_str())];
    let own = harness::flows::app_create(&stack, "drive/v2/files", &form).await;
    let foreign = harness::flows::app_file_outside(&stack, "Another team's").await;
    let cfg = stack.sandbox.config();
    let base = stack.sandbox.tdoc_base();
    let env = [
        ("TDOC_CLIENT_ID", cfg.tdoc_client_id.as_str()),
        ("TDOC_CLIENT_SECRET", cfg.tdoc_client_secret.as_str()),
        ("TDOC_BASE", base.as_str()),
    ];
    let set = |id: &str| {
        ["workspace".to_owned(), "set".into(), "20000051".into(), "--template".into(), format!("story={id}")]
    };

    let args = set(&foreign);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let refused = tapdocs_env(&stack.table, &args, &env);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("not in this workspace's folder"), "{}", stderr(&refused));
    // Without the Tencent Docs app, nothing is taken on trust.
    let args = set(&own);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let unchecked = tapdocs(&stack.table, &args);
    assert_eq!(unchecked.status.code(), Some(3), "{}", stderr(&unchecked));
    assert!(stderr(&unchecked).contains("TDOC_CLIENT_ID"), "{}", stderr(&unchecked));
    assert_eq!(store.workspace_settings(&w).await.unwrap().template(ItemKind::Story), None, "nothing saved");

    let saved = tapdocs_env(&stack.table, &args, &env);
    assert!(saved.status.success(), "{}", stderr(&saved));
    assert_eq!(store.workspace_settings(&w).await.unwrap().template(ItemKind::Story), Some(own.as_str()));
}

#[tokio::test]
async fn progress_shows_done_left_and_eta_of_a_backfill_from_its_record() {
    harness::needs_local_dynamodb!();
    let (store, table) = store().await;
    connected(&store, "20000031", "0123456789abcdef0123456789abcd31").await;
    let out = tapdocs(&table, &["progress", "20000031"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no sweep or backfill under way"));
    // A backfill a minute in: 400 of 1,000 listed.
    let mut cursor = store.backfill_since(&ws("20000031"), now_millis() - 86_400_000).await.unwrap();
    cursor.pass_started_ms = now_millis() - 60_000;
    cursor.page = 3;
    cursor.listed = 400;
    cursor.total = 1_000;
    assert!(store.put_sweep_cursor(&ws("20000031"), &mut cursor, 0).await.unwrap());
    let p = json_of(&tapdocs(&table, &["progress", "20000031", "--json"]));
    assert_eq!(p["under_way"], true);
    assert_eq!(p["done"], 400);
    assert_eq!(p["left"], 600);
    let eta = p["eta_ms"].as_u64().unwrap();
    assert!((85_000..=95_000).contains(&eta), "{eta}");
    // Not at a terminal: a plain line, no bar.
    let out = tapdocs(&table, &["progress", "20000031"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("400 done, 600 left"), "{text}");
}
