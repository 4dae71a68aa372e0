//! Hostile requests to both functions: every one is answered `4xx` (never a `5xx`, an
//! invocation error or a crash), nothing reaches TAPD or Tencent Docs, no line of the logs
//! shows a panic, and the same process then serves a good request.

use base64::Engine;
use harness::apigw::Request;
use harness::flows::{self, WEBHOOK_PATH, WORKSPACE, answer, assert_no_panic, create_event};
use harness::stack::{Stack, WEBHOOK_SECRET};
use harness::{Function, Invocation};
use sandbox::ItemKind;
use serde_json::{Value, json};

/// One hostile request: a name for the failure message and the raw event.
struct Hostile {
    name: String,
    event: Value,
}

fn req(name: &str, r: Request) -> Hostile {
    Hostile { name: name.to_owned(), event: r.to_event() }
}

fn raw(name: &str, r: Request, tweak: impl FnOnce(&mut Value)) -> Hostile {
    let mut event = r.to_event();
    tweak(&mut event);
    Hostile { name: name.to_owned(), event }
}

/// Sends each request and checks its answer is a 4xx; returns how many were sent.
async fn refuse_all(f: &Function, cases: Vec<Hostile>) -> usize {
    let n = cases.len();
    for case in cases {
        match answer(f, case.event).await {
            Ok(resp) => {
                assert!((400..500).contains(&resp.status), "{}: answered {} {}", case.name, resp.status, resp.body)
            }
            Err(other) => panic!("{}: no HTTP answer but {other:?}; logs:\n{}", case.name, f.logs().join("\n")),
        }
        assert!(f.try_exit_status().is_none(), "{}: the process died", case.name);
    }
    n
}

fn story(fields: &[(&str, Value)]) -> Value {
    let mut ev = create_event(WORKSPACE, "story", "1120003271001000101", "1");
    for (k, v) in fields {
        ev[*k] = v.clone();
    }
    ev
}

fn with_secret(secret: &str) -> Value {
    story(&[("secret", json!(secret))])
}

fn webhook_cases() -> Vec<Hostile> {
    let json_ct = "application/json";
    let form_ct = "application/x-www-form-urlencoded";
    let good = create_event(WORKSPACE, "story", "1120003271001000101", "1").to_string();
    let form_secret = format!("event=story%3A%3Acreate&workspace_id={WORKSPACE}&secret={WEBHOOK_SECRET}");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        // Size, encoding and type.
        req("huge JSON body", Request::post(WEBHOOK_PATH, json_ct, format!("{{\"pad\":\"{}\"}}", "a".repeat(200_000)))),
        req(
            "huge form body (4 MB, near the Lambda payload limit once base64)",
            Request::post(WEBHOOK_PATH, form_ct, "a".repeat(4 * 1024 * 1024)),
        ),
        req("invalid UTF-8 JSON", Request::post(WEBHOOK_PATH, json_ct, vec![b'{', 0xff, 0xfe, b'}'])),
        req("invalid UTF-8 form", Request::post(WEBHOOK_PATH, form_ct, vec![b's', b'=', 0xc3, 0x28])),
        // A JSON delivery under an odd type is read by its body (TAPD's types vary); a body
        // that is neither JSON nor a form is refused.
        req("text/plain prose", Request::post(WEBHOOK_PATH, "text/plain", "story created, nothing else")),
        req("application/xml", Request::post(WEBHOOK_PATH, "application/xml", "<event>story::create</event>")),
        req("multipart", Request::post(WEBHOOK_PATH, "multipart/form-data; boundary=x", "--x\r\n\r\n--x--")),
        req("UTF-16 JSON", {
            let utf16: Vec<u8> = good.encode_utf16().flat_map(u16::to_le_bytes).collect();
            Request::post(WEBHOOK_PATH, "application/json; charset=utf-16", utf16)
        }),
        req("JSON array", Request::post(WEBHOOK_PATH, json_ct, "[1,2,3]")),
        req("JSON null", Request::post(WEBHOOK_PATH, json_ct, "null")),
        req("empty JSON body", Request::post(WEBHOOK_PATH, json_ct, "")),
        req("empty form body", Request::post(WEBHOOK_PATH, form_ct, "")),
        req(
            "deeply nested JSON",
            Request::post(WEBHOOK_PATH, json_ct, format!("{}{}", "[".repeat(50_000), "]".repeat(50_000))),
        ),
        req("truncated JSON", Request::post(WEBHOOK_PATH, json_ct, &good[..good.len() / 2])),
        req(
            "secret nested in an object",
            Request::post_json(WEBHOOK_PATH, &json!({"event": "story::create", "data": {"secret": WEBHOOK_SECRET}})),
        ),
        // Authentication.
        req(
            "no secret",
            Request::post_json(WEBHOOK_PATH, &json!({"event": "story::create", "workspace_id": WORKSPACE, "id": "1"})),
        ),
        req("wrong secret", Request::post_json(WEBHOOK_PATH, &with_secret("whsec-guess"))),
        req("empty secret", Request::post_json(WEBHOOK_PATH, &with_secret(""))),
        req("secret in upper case", Request::post_json(WEBHOOK_PATH, &with_secret(&WEBHOOK_SECRET.to_uppercase()))),
        req(
            "secret with a trailing space",
            Request::post_json(WEBHOOK_PATH, &with_secret(&format!("{WEBHOOK_SECRET} "))),
        ),
        req("secret prefix", Request::post_json(WEBHOOK_PATH, &with_secret(&WEBHOOK_SECRET[..10]))),
        req("secret as a number", Request::post_json(WEBHOOK_PATH, &story(&[("secret", json!(12345))]))),
        req(
            "secret in the query only",
            Request::post_json(&format!("{WEBHOOK_PATH}?secret={WEBHOOK_SECRET}"), &json!({"event": "story::create"})),
        ),
        req(
            "secret in a header only",
            Request::post_json(WEBHOOK_PATH, &json!({"event": "story::create"}))
                .header("x-tapd-secret", WEBHOOK_SECRET),
        ),
        // Duplicate keys: a second value must not override the first unnoticed.
        req("duplicate secret in a form", Request::post(WEBHOOK_PATH, form_ct, format!("secret=x&{form_secret}"))),
        req(
            "duplicate secret in JSON (wrong, then right)",
            Request::post(WEBHOOK_PATH, json_ct, good.replacen("{", "{\"secret\":\"whsec-guess\",", 1)),
        ),
        req(
            "duplicate id in JSON",
            Request::post(WEBHOOK_PATH, json_ct, good.replacen("{", "{\"id\":\"1120003271001000999\",", 1)),
        ),
        req(
            "duplicate workspace in a form",
            Request::post(WEBHOOK_PATH, form_ct, format!("{form_secret}&id=1&workspace_id=20009999")),
        ),
        // Ids (authenticated: they pass the secret check).
        req("path traversal in the id", Request::post_json(WEBHOOK_PATH, &story(&[("id", json!("../../etc/passwd"))]))),
        req(
            "path traversal in the workspace",
            Request::post_json(WEBHOOK_PATH, &story(&[("workspace_id", json!("20003271/../1"))])),
        ),
        req(
            "key separator in the workspace",
            Request::post_json(WEBHOOK_PATH, &story(&[("workspace_id", json!("20003271#ITEM#1"))])),
        ),
        req("overlong id", Request::post_json(WEBHOOK_PATH, &story(&[("id", json!("1".repeat(10_000)))]))),
        req("21-digit id", Request::post_json(WEBHOOK_PATH, &story(&[("id", json!("112000327100100010123"))]))),
        req("negative id", Request::post_json(WEBHOOK_PATH, &story(&[("id", json!(-1))]))),
        req("fractional id", Request::post_json(WEBHOOK_PATH, &story(&[("id", json!(1.5))]))),
        req("exponent id", Request::post_json(WEBHOOK_PATH, &story(&[("id", json!("1e5"))]))),
        req("number beyond f64", Request::post(WEBHOOK_PATH, json_ct, good.replacen("{", "{\"queue\":1e400,", 1))),
        req("Arabic-Indic digits", Request::post_json(WEBHOOK_PATH, &story(&[("id", json!("١٢٣"))]))),
        req("NUL in the id", Request::post_json(WEBHOOK_PATH, &story(&[("id", json!("1\u{0}2"))]))),
        req("id as an object", Request::post_json(WEBHOOK_PATH, &story(&[("id", json!({"$gt": ""}))]))),
        req("no event", Request::post_json(WEBHOOK_PATH, &json!({"secret": WEBHOOK_SECRET, "id": "1"}))),
        // Methods and paths.
        req("GET", Request::get(WEBHOOK_PATH)),
        req("PUT", Request::new("PUT", WEBHOOK_PATH)),
        req("DELETE", Request::new("DELETE", WEBHOOK_PATH)),
        req("OPTIONS", Request::new("OPTIONS", WEBHOOK_PATH)),
        req("HEAD", Request::new("HEAD", WEBHOOK_PATH)),
        req("dot segments", Request::post_json("/webhooks/x/../tapd", &with_secret(WEBHOOK_SECRET))),
        req("encoded dot segments", Request::post_json("/webhooks/%2e%2e/webhooks/tapd", &with_secret(WEBHOOK_SECRET))),
        req("trailing slash", Request::post_json("/webhooks/tapd/", &with_secret(WEBHOOK_SECRET))),
        req("upper-case path", Request::post_json("/webhooks/TAPD", &with_secret(WEBHOOK_SECRET))),
        req("path with NUL", Request::post_json("/webhooks/tapd%00", &with_secret(WEBHOOK_SECRET))),
        // Base64 bodies.
        req("broken base64", Request::post(WEBHOOK_PATH, form_ct, "%%%not base64%%%").base64(true)),
        raw("base64 with a line break", Request::post_json(WEBHOOK_PATH, &json!({})), |ev| {
            ev["body"] = json!(format!("{}\n{}", b64("{\"event\":"), b64("\"x\"}")));
            ev["isBase64Encoded"] = json!(true);
        }),
        raw("base64 JSON without a secret", Request::post_json(WEBHOOK_PATH, &json!({})), |ev| {
            ev["body"] = json!(b64(r#"{"event":"story::create","workspace_id":"20003271","id":"1"}"#));
            ev["isBase64Encoded"] = json!(true);
        }),
        raw("plain body marked base64", Request::post_json(WEBHOOK_PATH, &with_secret(WEBHOOK_SECRET)), |ev| {
            ev["isBase64Encoded"] = json!(true);
        }),
        // Queries and headers.
        raw("raw query that is not a URI", Request::post_json(WEBHOOK_PATH, &with_secret("x")), |ev| {
            ev["rawQueryString"] = json!("a=%%%&b=<>{}|\\^` \"x\"&%zz=1&=&&&");
        }),
        req("non-ASCII header value", Request::post_json(WEBHOOK_PATH, &with_secret("x")).header("x-name", "été ✓")),
        raw(
            "control character in a header value",
            Request::post_json(WEBHOOK_PATH, &with_secret(WEBHOOK_SECRET)),
            |ev| {
                ev["headers"]["x-evil"] = json!("a\u{1}b\r\nx-injected: 1");
            },
        ),
        raw("header name with a space", Request::post_json(WEBHOOK_PATH, &with_secret(WEBHOOK_SECRET)), |ev| {
            ev["headers"]["bad header"] = json!("1");
        }),
        raw(
            "header value that is not a string",
            Request::post_json(WEBHOOK_PATH, &with_secret(WEBHOOK_SECRET)),
            |ev| {
                ev["headers"]["content-type"] = json!({"nested": true});
            },
        ),
        raw("method that is not a token", Request::post_json(WEBHOOK_PATH, &with_secret(WEBHOOK_SECRET)), |ev| {
            ev["requestContext"]["http"]["method"] = json!("PO ST");
        }),
        raw("body that is not a string", Request::post_json(WEBHOOK_PATH, &with_secret(WEBHOOK_SECRET)), |ev| {
            ev["body"] = json!({"secret": WEBHOOK_SECRET});
        }),
        raw("no request context", Request::post_json(WEBHOOK_PATH, &with_secret(WEBHOOK_SECRET)), |ev| {
            ev.as_object_mut().unwrap().remove("requestContext");
        }),
    ]
}

fn oauth_cases() -> Vec<Hostile> {
    let cb = "/oauth/tapd/callback";
    let tdoc = "/oauth/tdoc/callback";
    let state = "A".repeat(43);
    vec![
        req("duplicate code", Request::get(&format!("{cb}?code=a&code=b&state={state}"))),
        req("duplicate state", Request::get(&format!("{cb}?code=a&state={state}&state={state}"))),
        req("duplicate error", Request::get(&format!("{cb}?error=a&error=b&state={state}"))),
        req("second empty state", Request::get(&format!("{cb}?code=a&state={state}&state="))),
        req("no state", Request::get(&format!("{cb}?code=abc"))),
        req("empty state", Request::get(&format!("{cb}?code=abc&state="))),
        req("huge state", Request::get(&format!("{cb}?code=abc&state={}", "A".repeat(100_000)))),
        req("huge code", Request::get(&format!("{tdoc}?code={}&state={state}", "c".repeat(64 * 1024)))),
        req("path traversal state", Request::get(&format!("{cb}?code=a&state=..%2F..%2F..%2Fetc%2Fpasswd"))),
        req("NUL in the state", Request::get(&format!("{cb}?code=a&state={}%00", "A".repeat(42)))),
        req("state of the wrong alphabet", Request::get(&format!("{cb}?code=a&state={}", "!".repeat(43)))),
        req("state never issued", Request::get(&format!("{cb}?code=a&state={state}"))),
        req("state never issued, Tencent Docs leg", Request::get(&format!("{tdoc}?code=a&state={state}"))),
        req(
            "denied without a state",
            Request::get(&format!("{cb}?error=access_denied&error_description=%3Cscript%3E")),
        ),
        req("empty code, good-looking state", Request::get(&format!("{tdoc}?code=&state={state}"))),
        raw("raw query that is not a URI", Request::get(cb), |ev| {
            ev["rawQueryString"] = json!("code=a b&state=<script>{}|\\^`\"");
        }),
        raw("lone percent", Request::get(cb), |ev| ev["rawQueryString"] = json!("%")),
        raw("percent junk", Request::get(cb), |ev| ev["rawQueryString"] = json!("%zz%%=&&&==&state=%")),
        raw("invalid UTF-8 when decoded", Request::get(cb), |ev| {
            ev["rawQueryString"] = json!("code=%ff%fe&state=%c3%28")
        }),
        raw("non-ASCII query", Request::get(cb), |ev| ev["rawQueryString"] = json!("état=é&state=✓✓✓&code=码")),
        raw("query of 200 000 ampersands", Request::get(cb), |ev| ev["rawQueryString"] = json!("&".repeat(200_000))),
        // Methods and paths.
        req(
            "POST to the callback",
            Request::post(cb, "application/x-www-form-urlencoded", format!("code=a&state={state}")),
        ),
        req("PUT to start", Request::new("PUT", "/oauth/tapd/start")),
        req("DELETE", Request::new("DELETE", tdoc)),
        req("HEAD", Request::new("HEAD", "/oauth/tapd/start")),
        req("OPTIONS", Request::new("OPTIONS", cb)),
        req("POST with a huge body", Request::post("/oauth/tapd/start", "text/plain", "x".repeat(1024 * 1024))),
        req("dot segments", Request::get("/oauth/tapd/../tdoc/callback?code=a")),
        req("encoded dot segments", Request::get("/oauth/%2e%2e/oauth/tapd/start")),
        req("trailing slash", Request::get("/oauth/tapd/start/")),
        req("upper case", Request::get("/OAUTH/tapd/start")),
        req("path parameter", Request::get("/oauth/tapd/start;jsessionid=1")),
        req("NUL in the path", Request::get("/oauth/tapd/start%00")),
        req("root", Request::get("/")),
        req("broken base64 body", Request::post(cb, "application/octet-stream", "%%%").base64(true)),
        raw("base64 body on a GET", Request::get(cb), |ev| {
            ev["body"] = json!("Y29kZT1hJnN0YXRlPWI=");
            ev["isBase64Encoded"] = json!(true);
        }),
        req("junk cookies", Request::get(cb).header("Cookie", "state=AAAA; code=x; =;;;")),
        raw("control character in a header value", Request::get(&format!("{cb}?code=a&state={state}")), |ev| {
            ev["headers"]["x-evil"] = json!("a\u{0}b");
        }),
        raw("header name with a colon", Request::get(&format!("{cb}?code=a&state={state}")), |ev| {
            ev["headers"]["x:y"] = json!("1");
        }),
        raw("method that is not a token", Request::get("/oauth/tapd/start"), |ev| {
            ev["requestContext"]["http"]["method"] = json!("GET /");
        }),
        raw("query parameters that are not strings", Request::get(&format!("{cb}?code=a&state={state}")), |ev| {
            ev["queryStringParameters"] = json!({"code": 1, "state": [1, 2]});
        }),
    ]
}

fn token_exchanges(stack: &Stack) -> usize {
    stack.sandbox.requests().iter().filter(|r| r.path.contains("token")).count()
}

#[tokio::test]
async fn hostile_deliveries_are_refused_and_the_webhook_keeps_serving() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, "1120003271001000101", "Not to be linked by a hostile request");
    let before = stack.sandbox.requests().len();
    let sent = refuse_all(&webhook, webhook_cases()).await;
    assert!(sent >= 60, "{sent}");
    assert_eq!(stack.sandbox.requests().len(), before, "a hostile request reached TAPD or Tencent Docs");
    assert!(stack.sandbox.docs().is_empty() && stack.sandbox.comments().is_empty());
    assert_no_panic(&webhook);

    // The same process then links a real delivery.
    let resp = webhook.http(&flows::story_delivery("1120003271001000101", "2")).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(flows::docs_and_comments_of(&stack, "1120003271001000101"), (1, 1));
    println!("webhook: {sent} hostile requests refused");
}

#[tokio::test]
async fn hostile_callbacks_are_refused_and_oauth_keeps_serving() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    let sent = refuse_all(&oauth, oauth_cases()).await;
    assert!(sent >= 40, "{sent}");
    assert_eq!(token_exchanges(&stack), 0, "a hostile callback exchanged a code");
    assert_no_panic(&oauth);

    // The same process then connects a workspace, and a replay of that flow's callback fails.
    let page = stack.connect(&oauth, WORKSPACE, flows::OPEN_ID).await;
    assert_eq!(page.status, 200, "{}", page.body);
    println!("oauth: {sent} hostile requests refused");
}

#[tokio::test]
async fn an_event_that_is_neither_http_nor_scheduled_is_refused() {
    harness::needs_local_stack!();
    let (_stack, webhook) = flows::connected(&[]).await;
    for event in [json!(null), json!([1]), json!("text"), json!({"source": "aws.s3"}), json!({"version": 1})] {
        match answer(&webhook, event.clone()).await {
            Ok(resp) => assert!((400..500).contains(&resp.status), "{event}: {}", resp.status),
            Err(Invocation::Error(_)) => {}
            Err(other) => panic!("{event}: {other:?}"),
        }
    }
    assert!(webhook.try_exit_status().is_none());
    assert_no_panic(&webhook);
}
