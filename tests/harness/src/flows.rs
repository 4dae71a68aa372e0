//! Building blocks the black-box suites share: TAPD deliveries, a connected stack, what
//! the sandboxes and the table hold afterwards, and log checks.

use serde_json::{Value, json};
use shared::ids::{ItemId, ItemKind, WorkspaceId};
use shared::store::{ItemKey, ItemRecord};

use crate::apigw::{Request, Response};
use crate::stack::{Stack, WEBHOOK_SECRET};
use crate::{Function, Invocation};

/// The webhook's route.
pub const WEBHOOK_PATH: &str = "/webhooks/tapd";
/// The workspace [`connected`] connects, and the Tencent Docs account it binds.
pub const WORKSPACE: &str = "20003271";
pub const OPEN_ID: &str = "a1b2c3d4";

/// A `<kind>::create` delivery of TAPD's official example shape, with the right secret.
pub fn create_event(workspace: &str, kind: &str, id: &str, event_id: &str) -> Value {
    json!({
        "event": format!("{kind}::create"), "event_from": "web", "referer": "https://www.tapd.cn/",
        "workspace_id": workspace, "current_user": "lin", "id": id, "secret": WEBHOOK_SECRET, "app_id": "3906",
        "rio_token": "", "devproxy_host": "http://websocket-proxy", "queue_id": "130662",
        "event_id": event_id, "created": "2026-11-21 16:33:05"
    })
}

/// The JSON delivery of `story::create` for `id` in [`WORKSPACE`].
pub fn story_delivery(id: &str, event_id: &str) -> Request {
    Request::post_json(WEBHOOK_PATH, &create_event(WORKSPACE, "story", id, event_id))
}

/// A stack whose [`WORKSPACE`] is connected to [`OPEN_ID`] (through the real `oauth`
/// function), and a `tapd-webhook` function with `extra` environment.
pub async fn connected(extra: &[(&str, &str)]) -> (Stack, Function) {
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    let page = stack.connect(&oauth, WORKSPACE, OPEN_ID).await;
    assert_eq!(page.status, 200, "connect: {}", page.body);
    let webhook = stack.spawn("tapd-webhook", extra).await;
    (stack, webhook)
}

/// The state machine's key of a story in [`WORKSPACE`].
pub fn story_key(id: &str) -> ItemKey {
    ItemKey { workspace: WorkspaceId::parse(WORKSPACE).unwrap(), kind: ItemKind::Story, id: ItemId::parse(id).unwrap() }
}

/// The item's record in the table.
pub async fn link_record(stack: &Stack, id: &str) -> Option<ItemRecord> {
    stack.store().await.item(&story_key(id)).await.expect("read the item record")
}

/// Docs and comments the sandboxes hold for item `id`: (docs whose intro links to the item,
/// comments on the item).
pub fn docs_and_comments_of(stack: &Stack, id: &str) -> (usize, usize) {
    let comments: Vec<_> = stack.sandbox.comments().into_iter().filter(|c| c.entry_id == id).collect();
    let docs = stack.sandbox.docs().into_iter().filter(|d| d.content.contains(&format!("/view/{id}"))).count();
    (docs, comments.len())
}

/// The function's answer to an event: its HTTP response, or how the invocation ended
/// when it gave none (an error reported to the runtime, a crash, a timeout).
pub async fn answer(f: &Function, event: Value) -> Result<Response, Invocation> {
    let invocation = f.invoke(event).await;
    Response::from_invocation(&invocation).ok_or(invocation)
}

/// Panics when a log line shows a panic or a backtrace.
pub fn assert_no_panic(f: &Function) {
    for line in f.logs() {
        assert!(!line.contains("panicked") && !line.contains("RUST_BACKTRACE"), "{}: {line}", f.name());
    }
}

/// The connect flow's cookie an answer sets, `name=value` (none when it sets none or clears it).
pub use crate::apigw::browser::set_cookie as connect_cookie;

/// The confirmation form's post (a rebind waiting for the person), from the harness's
/// browser: the cookie of the flow that showed `page` comes along.
pub fn confirm_post(page: &Response) -> Request {
    let token = crate::apigw::browser::form_token(&page.body).expect("a confirmation form with a token");
    Request::post_form("/oauth/tdoc/confirm", &[("token", &token)])
}

/// Walks the connect flow up to Tencent Docs' callback for `workspace` and `open_id`, in one
/// browser; returns the callback's request (not sent).
pub async fn up_to_tdoc_callback(stack: &Stack, oauth: &Function, workspace: &str, open_id: &str) -> Request {
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    assert_eq!(start.status, 302, "start: {}", start.body);
    let back = stack.tapd_consent(&start.location_url().unwrap(), workspace, true).await;
    let to_tdoc = oauth.http(&crate::stack::callback(&back)).await;
    assert_eq!(to_tdoc.status, 302, "TAPD callback: {}", to_tdoc.body);
    let back = stack.tdoc_consent(&to_tdoc.location_url().unwrap(), open_id, true).await;
    crate::stack::callback(&back)
}

/// A stack whose [`WORKSPACE`] is connected in app-account mode (`TDOC_OWNER=app`: the
/// flow ends after TAPD), and a `tapd-webhook` function in that mode with `extra`.
pub async fn connected_as_app(extra: &[(&str, &str)]) -> (Stack, Function) {
    let stack = Stack::new().await;
    stack.sandbox.add_workspace(WORKSPACE, "Team workspace");
    let oauth = stack.spawn("oauth", &[("TDOC_OWNER", "app")]).await;
    let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
    assert_eq!(start.status, 302, "start: {}", start.body);
    let back = stack.tapd_consent(&start.location_url().unwrap(), WORKSPACE, true).await;
    let page = oauth.http(&crate::stack::callback(&back)).await;
    assert_eq!(page.status, 200, "app-account connect: {}", page.body);
    let mut env = vec![("TDOC_OWNER", "app")];
    env.extend_from_slice(extra);
    let webhook = stack.spawn("tapd-webhook", &env).await;
    (stack, webhook)
}

/// The workspace's binding record as stored (attributes by name).
pub async fn raw_binding(
    stack: &Stack,
    workspace: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let store = stack.store().await;
    crate::dynamo::client()
        .await
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(format!("WS#{workspace}")))
        .key("sk", AttributeValue::S("BINDING".into()))
        .send()
        .await
        .expect("read the binding")
        .item
        .unwrap_or_default()
}

/// The workspace's webhook secret the connected page shows in `#webhook-secret`.
pub fn webhook_secret_on(page: &str) -> String {
    let start = page.find("id=\"webhook-secret\">").expect("the page shows the workspace's secret") + 20;
    let end = start + page[start..].find('<').unwrap();
    page[start..end].to_owned()
}

/// A fake of the AWS Parameters and Secrets Lambda Extension's local endpoint: answers each
/// `secretsmanager/get` and `systemsmanager/parameters/get` from `secrets` (by ARN) and
/// records what it was asked, with the session token header.
pub async fn fake_secrets_extension(
    secrets: Vec<(String, String)>,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).into_owned();
            log.lock().unwrap().push(head.clone());
            let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            let url = url::Url::parse(&format!("http://x{target}")).unwrap();
            let arg = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
            let token_ok = head.contains("X-Aws-Parameters-Secrets-Token: session-token\r\n");
            let reply = match (url.path(), arg("secretId").or(arg("name"))) {
                (_, _) if !token_ok => (401, String::new()),
                ("/secretsmanager/get", Some(id)) => match secrets.iter().find(|(a, _)| *a == id) {
                    Some((_, v)) => (200, serde_json::json!({"ARN": id, "SecretString": v}).to_string()),
                    None => (400, "secret not found".into()),
                },
                ("/systemsmanager/parameters/get", Some(id)) => match secrets.iter().find(|(a, _)| *a == id) {
                    Some((_, v)) => (200, serde_json::json!({"Parameter": {"ARN": id, "Value": v}}).to_string()),
                    None => (400, "parameter not found".into()),
                },
                _ => (404, String::new()),
            };
            let out = format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\n\r\n{}", reply.0, reply.1.len(), reply.1);
            let _ = sock.write_all(out.as_bytes()).await;
        }
    });
    (port, seen)
}
