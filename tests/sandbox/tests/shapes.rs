//! The sandbox answers in exactly the documented shapes: for every reply in `tests/fixtures/`
//! (copies of `../shared/fixtures/`, sources in its README), the sandbox is driven to the same
//! reply and the two are compared key by key, with the JSON type of every value. This is what
//! keeps the sandbox from drifting away from the services. Each unconfirmed fact has a test
//! per variant.

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use reqwest::{Client, StatusCode, redirect::Policy};
use sandbox::{
    Fault, FaultKind, ItemKind, Sandbox, SandboxConfig, TapdDeadToken, TapdTokenResource, TapdUnknownPath,
    TdocTokenError, Variants,
};
use serde_json::{Value, json};

const WS: &str = "20355782";
const BUG: &str = "1020355782500647717";
const STORY: &str = "1120355782001071295";
const TAPD_CB: &str = "http://127.0.0.1:3000/oauth/tapd/callback";
const TDOC_CB: &str = "http://127.0.0.1:3000/oauth/tdoc/callback";
const USER: &str = "74dc0e3512a24df198474b6d89776649";

fn fixture(path: &str) -> Value {
    let text = match path {
        "tapd/token_authorization_code.json" => include_str!("../../fixtures/tapd/token_authorization_code.json"),
        "tapd/token_client_credentials.json" => include_str!("../../fixtures/tapd/token_client_credentials.json"),
        "tapd/comment_add_reply.json" => include_str!("../../fixtures/tapd/comment_add_reply.json"),
        "tapd/comments_get_reply.json" => include_str!("../../fixtures/tapd/comments_get_reply.json"),
        "tapd/rate_limited_reply.json" => include_str!("../../fixtures/tapd/rate_limited_reply.json"),
        "tapd/users_info_reply.json" => include_str!("../../fixtures/tapd/users_info_reply.json"),
        "tapd/workspace_users_reply.json" => include_str!("../../fixtures/tapd/workspace_users_reply.json"),
        "tapd/roles_reply.json" => include_str!("../../fixtures/tapd/roles_reply.json"),
        "tapd/workflows_status_map_reply.json" => include_str!("../../fixtures/tapd/workflows_status_map_reply.json"),
        "tapd/workflows_last_steps_reply.json" => include_str!("../../fixtures/tapd/workflows_last_steps_reply.json"),
        "tapd/iterations_reply.json" => include_str!("../../fixtures/tapd/iterations_reply.json"),
        "tapd/webhook_story_update.json" => include_str!("../../fixtures/tapd/webhook_story_update.json"),
        "tdoc/doc_content_offsets_reply.json" => include_str!("../../fixtures/tdoc/doc_content_offsets_reply.json"),
        "tdoc/token_authorization_code.json" => include_str!("../../fixtures/tdoc/token_authorization_code.json"),
        "tdoc/app_account_token.json" => include_str!("../../fixtures/tdoc/app_account_token.json"),
        "tdoc/create_file_reply.json" => include_str!("../../fixtures/tdoc/create_file_reply.json"),
        "tdoc/create_file_reply_seed000.json" => include_str!("../../fixtures/tdoc/create_file_reply_seed000.json"),
        "tdoc/folder_list_reply.json" => include_str!("../../fixtures/tdoc/folder_list_reply.json"),
        "tdoc/file_metadata_reply.json" => include_str!("../../fixtures/tdoc/file_metadata_reply.json"),
        "tdoc/doc_content_reply.json" => include_str!("../../fixtures/tdoc/doc_content_reply.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn query_fixture(text: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(text.trim().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences between `got`'s shape and `want`'s: the same keys at every level, the same JSON
/// type for every value; every element of an array has the shape of `want`'s first element.
/// With `allow_extra`, `got` may carry keys `want` lacks (for a sample that shows a subset).
fn shape_diff(got: &Value, want: &Value, path: &str, allow_extra: bool, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let (gk, wk): (BTreeSet<_>, BTreeSet<_>) = (g.keys().collect(), w.keys().collect());
            for missing in wk.difference(&gk) {
                out.push(format!("{path}.{missing}: missing"));
            }
            if !allow_extra {
                for extra in gk.difference(&wk) {
                    out.push(format!("{path}.{extra}: not in the sample"));
                }
            }
            for k in gk.intersection(&wk) {
                shape_diff(&g[k.as_str()], &w[k.as_str()], &format!("{path}.{k}"), allow_extra, out);
            }
        }
        (Value::Array(g), Value::Array(w)) => match w.first() {
            Some(first) if g.is_empty() => out.push(format!("{path}: empty, the sample has {first}")),
            Some(first) => {
                g.iter().enumerate().for_each(|(i, e)| shape_diff(e, first, &format!("{path}[{i}]"), allow_extra, out))
            }
            None => {}
        },
        _ if type_name(got) != type_name(want) => {
            out.push(format!("{path}: {} {got}, the sample has {} {want}", type_name(got), type_name(want)))
        }
        _ => {}
    }
}

#[track_caller]
fn assert_shape(got: &Value, want: &Value) {
    let mut diff = Vec::new();
    shape_diff(got, want, "$", false, &mut diff);
    assert!(diff.is_empty(), "shape differs from the sample:\n  {}\ngot: {got}", diff.join("\n  "));
}

#[track_caller]
fn assert_shape_includes(got: &Value, want: &Value) {
    let mut diff = Vec::new();
    shape_diff(got, want, "$", true, &mut diff);
    assert!(diff.is_empty(), "shape lacks the sample's:\n  {}\ngot: {got}", diff.join("\n  "));
}

#[test]
fn the_comparison_catches_drift() {
    // The checker itself: a renamed key, a number sent as a string, an extra key all fail.
    let want = json!({"a": 1, "b": {"c": "x"}, "d": [{"e": true}]});
    let mut diff = Vec::new();
    shape_diff(&json!({"a": 2, "b": {"c": "y"}, "d": [{"e": false}, {"e": true}]}), &want, "$", false, &mut diff);
    assert!(diff.is_empty(), "{diff:?}");
    for bad in [
        json!({"a": "1", "b": {"c": "x"}, "d": [{"e": true}]}),
        json!({"a": 1, "b": {"C": "x"}, "d": [{"e": true}]}),
        json!({"a": 1, "b": {"c": "x"}, "d": [{"e": true}], "f": 0}),
        json!({"a": 1, "b": {"c": "x"}, "d": [{"e": true}, {"e": null}]}),
        json!({"a": 1, "b": {"c": "x"}, "d": []}),
    ] {
        let mut diff = Vec::new();
        shape_diff(&bad, &want, "$", false, &mut diff);
        assert!(!diff.is_empty(), "{bad} passed");
    }
}

fn client() -> Client {
    sandbox::http_client().redirect(Policy::none()).build().unwrap()
}

async fn start_with(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut cfg = SandboxConfig::new(vec![TAPD_CB.into(), TDOC_CB.into()]);
    f(&mut cfg);
    let sb = Sandbox::start(cfg).await;
    sb.add_workspace(WS, "Workspace");
    sb.add_item(WS, ItemKind::Bug, BUG, "A bug");
    sb.add_item(WS, ItemKind::Story, STORY, "A story");
    sb.add_tdoc_user(USER, "Alice");
    sb
}

fn location_query(resp: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(resp.status(), StatusCode::FOUND, "expected a redirect");
    let loc = resp.headers()["location"].to_str().unwrap();
    url::Url::parse(loc).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

async fn tapd_callback(sb: &Sandbox, c: &Client) -> HashMap<String, String> {
    let resp = c
        .post(format!("{}/tapd/oauth/approve", sb.base_url()))
        .form(&[
            ("client_id", "tapd-app"),
            ("redirect_uri", TAPD_CB),
            ("scope", "bug story"),
            ("state", "random_string"),
            ("workspace_id", WS),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    location_query(&resp)
}

async fn tapd_token_call(sb: &Sandbox, c: &Client, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let cfg = sb.config();
    let resp = c
        .post(format!("{}/tokens/{path}", sb.tapd_api_base()))
        .basic_auth(&cfg.tapd_client_id, Some(&cfg.tapd_client_secret))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

async fn tapd_user_token(sb: &Sandbox, c: &Client) -> Value {
    let q = tapd_callback(sb, c).await;
    let form = [("grant_type", "authorization_code"), ("redirect_uri", TAPD_CB), ("code", q["code"].as_str())];
    let (status, body) = tapd_token_call(sb, c, "request_token", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn tapd_app_token(sb: &Sandbox, c: &Client) -> String {
    let form = [("grant_type", "client_credentials"), ("scope", "story bug task comment")];
    let (status, body) = tapd_token_call(sb, c, "request_token", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["access_token"].as_str().unwrap().to_string()
}

async fn tapd_get(sb: &Sandbox, c: &Client, token: &str, path_query: &str) -> (StatusCode, Value) {
    let resp = c.get(format!("{}{path_query}", sb.tapd_api_base())).bearer_auth(token).send().await.unwrap();
    (resp.status(), resp.json().await.unwrap())
}

async fn tapd_post(sb: &Sandbox, c: &Client, token: &str, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = c.post(format!("{}{path}", sb.tapd_api_base())).bearer_auth(token).form(form).send().await.unwrap();
    (resp.status(), resp.json().await.unwrap())
}

#[tokio::test]
async fn tapd_callback_has_the_documented_query() {
    let sb = start_with(|_| {}).await;
    let got = tapd_callback(&sb, &client()).await;
    let want = query_fixture(include_str!("../../fixtures/tapd/callback_query.txt"));
    assert_eq!(got.keys().collect::<BTreeSet<_>>(), want.keys().collect::<BTreeSet<_>>());
    let got_resource: Value = serde_json::from_str(&got["resource"]).unwrap();
    assert_shape(&got_resource, &serde_json::from_str(&want["resource"]).unwrap());
    assert_eq!(got_resource["type"], "user");
}

#[tokio::test]
async fn tapd_user_token_is_the_seeds_reply() {
    // Without refresh tokens: exactly the seed's reply.
    let sb = start_with(|cfg| cfg.tapd_refresh_tokens = false).await;
    let c = client();
    let body = tapd_user_token(&sb, &c).await;
    assert_shape(&body, &fixture("tapd/token_authorization_code.json"));
    let data = &body["data"];
    assert_eq!(data["resource"], json!({"type": "user", "workspace_id": WS.parse::<u64>().unwrap()}));
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["scope"], "bug story", "space separated, as requested");
    let now = data["now"].as_str().unwrap();
    assert!(now.len() == 19 && &now[4..5] == "-" && &now[10..11] == " " && &now[13..14] == ":", "{now}");

    // With refresh tokens enabled (the default), the same plus `refresh_token`.
    let sb = start_with(|_| {}).await;
    let body = tapd_user_token(&sb, &c).await;
    let mut want = fixture("tapd/token_authorization_code.json");
    want["data"]["refresh_token"] = json!("a refresh token");
    assert_shape(&body, &want);
    // Refreshing answers the same shape, the same resource.
    let refresh = body["data"]["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (status, refreshed) = tapd_token_call(&sb, &c, "refresh_token", &form).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_shape(&refreshed, &want);
    assert_eq!(refreshed["data"]["resource"], body["data"]["resource"]);
}

#[tokio::test]
async fn tapd_token_resource_variants() {
    let sb = start_with(|cfg| cfg.tapd_token_resource = TapdTokenResource::Workspace).await;
    let c = client();
    assert_eq!(sb.variants().tapd_token_resource, TapdTokenResource::Workspace);
    let body = tapd_user_token(&sb, &c).await;
    assert_eq!(body["data"]["resource"], json!({"type": "workspace", "workspace_id": WS}));

    // Switched at run time, from Rust...
    sb.set_tapd_token_resource(TapdTokenResource::UserOnly);
    let body = tapd_user_token(&sb, &c).await;
    assert_eq!(body["data"]["resource"], json!({"type": "user", "user_id": sandbox::TAPD_USER_ID}));
    // ...and over HTTP; the token still reads the consented workspace.
    let resp = c
        .post(format!("{}/_sandbox/variants", sb.base_url()))
        .json(&json!({"tapd_token_resource": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let body = tapd_user_token(&sb, &c).await;
    assert_eq!(body["data"]["resource"]["workspace_id"], json!(WS.parse::<u64>().unwrap()));
    let token = body["data"]["access_token"].as_str().unwrap();
    let (status, _) = tapd_get(&sb, &c, token, &format!("/bugs?workspace_id={WS}")).await;
    assert_eq!(status, StatusCode::OK);
    let got: Value = c.get(format!("{}/_sandbox/variants", sb.base_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        got,
        json!({"tapd_token_resource": "user", "tdoc_token_error": "http401", "tapd_dead_token": "http401",
               "tapd_unknown_path": "http404", "tdoc_batch_update_route": "colon",
               "tdoc_doc_read": "flat", "tdoc_token_reply": "flat", "tdoc_file_id_key": "ID",
               "tdoc_root_folder": "plain", "tdoc_offset_unit": "utf16",
               "tdoc_move_params": "documented", "tdoc_folder_rename": "renames"})
    );
    // A value the sandbox does not play is refused, and changes nothing.
    let resp = c
        .post(format!("{}/_sandbox/variants", sb.base_url()))
        .json(&json!({"tapd_token_resource": "team"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(sb.variants(), Variants::default());
}

/// TAPD's envelope of an error: `{"status":0,"data":"","info":..}`.
fn tapd_error_shape() -> Value {
    json!({"status": 0, "data": "", "info": "why"})
}

#[tokio::test]
async fn tapd_dead_token_variants() {
    for (variant, status) in
        [(TapdDeadToken::Http401, StatusCode::UNAUTHORIZED), (TapdDeadToken::Http422, StatusCode::UNPROCESSABLE_ENTITY)]
    {
        let sb = start_with(|cfg| cfg.tapd_dead_token = variant).await;
        let c = client();
        sb.add_item(WS, ItemKind::Story, "1120003271001000028", "s");
        for token in [
            tapd_app_token(&sb, &c).await,
            tapd_user_token(&sb, &c).await["data"]["access_token"].as_str().unwrap().to_owned(),
        ] {
            let (ok, _) = tapd_get(&sb, &c, &token, &format!("/stories?workspace_id={WS}")).await;
            assert_eq!(ok, StatusCode::OK);
        }
        sb.expire_access_tokens();
        let app = tapd_app_token(&sb, &c).await;
        let dead = [("expired", sb.issued_token_values()[0].clone()), ("unknown", "not-a-token".to_owned())];
        for (what, token) in dead.iter().cloned().chain([("a fresh one's neighbour", format!("{app}x"))]) {
            let (got, body) = tapd_get(&sb, &c, &token, &format!("/stories?workspace_id={WS}")).await;
            assert_eq!(got, status, "{what}, {variant:?}");
            assert_shape(&body, &tapd_error_shape());
            if variant == TapdDeadToken::Http422 {
                assert_eq!(body["info"], "The access token provided is invalid");
            }
            let (got, _) = tapd_post(&sb, &c, &token, "/comments", &[("workspace_id", WS)]).await;
            assert_eq!(got, status, "{what}: POST /comments, {variant:?}");
        }
        // A missing token is not a dead one; a live one still works; nothing was written.
        let resp = c.get(format!("{}/stories?workspace_id={WS}", sb.tapd_api_base())).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(tapd_get(&sb, &c, &app, &format!("/stories?workspace_id={WS}")).await.0, StatusCode::OK);
        assert!(sb.comments().is_empty());
    }
    let sb = start_with(|_| {}).await;
    let resp = client()
        .post(format!("{}/_sandbox/variants", sb.base_url()))
        .json(&json!({"tapd_dead_token": "http422"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(sb.variants(), Variants { tapd_dead_token: TapdDeadToken::Http422, ..Variants::default() });
}

#[tokio::test]
async fn tapd_hello_world_on_a_misspelt_path_and_as_a_fault() {
    let sb = start_with(|_| {}).await;
    let c = client();
    sb.add_item(WS, ItemKind::Story, "1120003271001000028", "s");
    let token = tapd_app_token(&sb, &c).await;
    let (status, body) = tapd_get(&sb, &c, &token, &format!("/storys?workspace_id={WS}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the default: {body}");
    sb.set_tapd_unknown_path(TapdUnknownPath::HelloWorld);
    let hello = |body: &Value| {
        assert_shape(body, &json!({"status": 1, "data": "text", "info": "success"}));
        assert_eq!(body["status"], 1);
        assert!(body["data"].as_str().unwrap().starts_with("Hello world from TAPD API"), "{body}");
    };
    let (status, body) = tapd_get(&sb, &c, &token, &format!("/storys?workspace_id={WS}")).await;
    assert_eq!(status, StatusCode::OK);
    hello(&body);
    // Paths TAPD has answer as before; other services' unknown paths are theirs.
    let (status, body) = tapd_get(&sb, &c, &token, &format!("/stories?workspace_id={WS}")).await;
    assert_eq!((status, body["data"][0]["Story"]["id"].as_str()), (StatusCode::OK, Some("1120003271001000028")));
    let resp = c.get(format!("{}/openapi/nothing", sb.tdoc_base())).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = client()
        .post(format!("{}/_sandbox/variants", sb.base_url()))
        .json(&json!({"tapd_unknown_path": "http404"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(sb.variants().tapd_unknown_path, TapdUnknownPath::Http404);
    // As a fault, on a path that exists, over HTTP like any other fault.
    let resp = client()
        .post(format!("{}/_sandbox/faults", sb.base_url()))
        .json(&json!({"method": "GET", "path_prefix": "/tapd/api/stories", "kind": "hello_world", "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, body) = tapd_get(&sb, &c, &token, &format!("/stories?workspace_id={WS}&id=1120003271001000028")).await;
    assert_eq!(status, StatusCode::OK);
    hello(&body);
    let (_, body) = tapd_get(&sb, &c, &token, &format!("/stories?workspace_id={WS}&id=1120003271001000028")).await;
    assert!(body["data"].is_array(), "the fault was for one request: {body}");
    sb.inject(Fault::once("/tapd/api/comments", FaultKind::HelloWorld));
    let (status, body) = tapd_post(&sb, &c, &token, "/comments", &[("workspace_id", WS)]).await;
    assert_eq!(status, StatusCode::OK);
    hello(&body);
    assert!(sb.comments().is_empty(), "a greeting writes nothing");
}

#[tokio::test]
async fn tapd_app_token_is_the_documented_reply() {
    let sb = start_with(|_| {}).await;
    let form = [("grant_type", "client_credentials"), ("scope", "story bug task comment")];
    let (status, body) = tapd_token_call(&sb, &client(), "request_token", &form).await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&body, &fixture("tapd/token_client_credentials.json"));
    assert_eq!(body["data"]["resource"]["type"], "open_app_auth");
}

#[tokio::test]
async fn tapd_comment_replies_are_the_references() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let token = tapd_app_token(&sb, &c).await;
    let form = [
        ("workspace_id", WS),
        ("entry_type", "bug"),
        ("entry_id", BUG),
        ("description", "<p>ccc</p>"),
        ("author", "xuanfang"),
    ];
    let (status, added) = tapd_post(&sb, &c, &token, "/comments", &form).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_shape(&added, &fixture("tapd/comment_add_reply.json"));
    let comment = &added["data"]["Comment"];
    assert_eq!(comment["author"], "v_xuanfang", "the author is mapped to a TAPD user");
    assert_eq!(comment["description"], "<p>ccc</p>", "HTML kept verbatim");
    assert_eq!((&comment["reply_id"], &comment["root_id"]), (&json!("0"), &json!("0")));
    assert_eq!(sb.comments()[0].author, "v_xuanfang");

    let (status, list) =
        tapd_get(&sb, &c, &token, &format!("/comments?workspace_id={WS}&entry_type=bug&entry_id={BUG}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_shape(&list, &fixture("tapd/comments_get_reply.json"));
    assert_eq!(list["data"][0]["Comment"]["id"], comment["id"]);

    // Editing (`id`, no `entry_*`) answers the add shape with the new description.
    let id = comment["id"].as_str().unwrap();
    let (status, edited) =
        tapd_post(&sb, &c, &token, "/comments", &[("workspace_id", WS), ("id", id), ("description", "<p>ddd</p>")])
            .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_shape(&edited, &fixture("tapd/comment_add_reply.json"));
    assert_eq!(edited["data"]["Comment"]["description"], "<p>ddd</p>");
    assert_eq!(sb.comments()[0].description, "<p>ddd</p>");
    assert_eq!(sb.comments().len(), 1);
}

#[tokio::test]
async fn tapd_rate_limit_is_the_seen_reply() {
    let sb = start_with(|cfg| cfg.tapd_rate_limit = Some((3, std::time::Duration::from_secs(60)))).await;
    let c = client();
    let token = tapd_app_token(&sb, &c).await; // 1
    let path = format!("/stories?workspace_id={WS}");
    for _ in 0..2 {
        assert_eq!(tapd_get(&sb, &c, &token, &path).await.0, StatusCode::OK);
    }
    let (status, body) = tapd_get(&sb, &c, &token, &path).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_shape(&body, &fixture("tapd/rate_limited_reply.json"));
    assert_eq!(body["info"], "To many requests, max request rates is 3req/1min");
    // The token endpoint counts too (same app).
    let form = [("grant_type", "client_credentials")];
    assert_eq!(tapd_token_call(&sb, &c, "request_token", &form).await.0, StatusCode::TOO_MANY_REQUESTS);

    // An injected 429 answers the same shape, with TAPD's documented limit.
    let sb = start_with(|_| {}).await;
    let token = tapd_app_token(&sb, &c).await;
    sb.inject(sandbox::Fault::once("/tapd/api/stories", sandbox::FaultKind::Status(429)));
    let (status, body) = tapd_get(&sb, &c, &token, &path).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, fixture("tapd/rate_limited_reply.json"), "the seen reply, verbatim");
}

async fn tdoc_user_token(sb: &Sandbox, c: &Client) -> (HashMap<String, String>, StatusCode, Value) {
    let resp = c
        .post(format!("{}/oauth/v2/authorize/approve", sb.tdoc_base()))
        .form(&[
            ("client_id", "tdoc-app"),
            ("redirect_uri", TDOC_CB),
            ("scope", "all"),
            ("state", "123"),
            ("open_id", USER),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let q = location_query(&resp);
    let cfg = sb.config();
    let resp = c
        .get(format!("{}/oauth/v2/token", sb.tdoc_base()))
        .query(&[
            ("client_id", cfg.tdoc_client_id.as_str()),
            ("client_secret", &cfg.tdoc_client_secret),
            ("redirect_uri", TDOC_CB),
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
        ])
        .send()
        .await
        .unwrap();
    (q, resp.status(), resp.json().await.unwrap())
}

async fn tdoc_app_token(sb: &Sandbox, c: &Client) -> Value {
    let cfg = sb.config();
    let resp = c
        .get(format!("{}/oauth/v2/app-account-token", sb.tdoc_base()))
        .query(&[("client_id", cfg.tdoc_client_id.as_str()), ("client_secret", &cfg.tdoc_client_secret)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn tdoc_token_replies_are_the_seeds() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let (q, status, body) = tdoc_user_token(&sb, &c).await;
    let want = query_fixture(include_str!("../../fixtures/tdoc/callback_query.txt"));
    assert_eq!(q.keys().collect::<BTreeSet<_>>(), want.keys().collect::<BTreeSet<_>>(), "code, state and u");
    assert_eq!(status, StatusCode::OK);
    assert_shape(&body, &fixture("tdoc/token_authorization_code.json"));
    assert_eq!(body["user_id"], USER, "the Open-Id");
    assert_eq!(
        body["scope"],
        fixture("tdoc/token_authorization_code.json")["scope"],
        "scope=all, listed comma separated"
    );

    let app = tdoc_app_token(&sb, &c).await;
    assert_shape(&app, &fixture("tdoc/app_account_token.json"));
    assert_eq!(app["user_id"], sb.tdoc_app_open_id());
}

fn openapi(
    c: &Client,
    method: reqwest::Method,
    url: String,
    token: &Value,
    cfg: &SandboxConfig,
) -> reqwest::RequestBuilder {
    c.request(method, url)
        .header("Access-Token", token["access_token"].as_str().unwrap())
        .header("Client-Id", &cfg.tdoc_client_id)
        .header("Open-Id", token["user_id"].as_str().unwrap())
}

#[tokio::test]
async fn tdoc_created_file_is_the_seeds_reply() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let token = tdoc_app_token(&sb, &c).await;
    let resp =
        openapi(&c, reqwest::Method::POST, format!("{}/openapi/drive/v2/files", sb.tdoc_base()), &token, sb.config())
            .form(&[("title", "按月导出所有项目的成本报表"), ("type", "doc")])
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    // The seed's full reply, which holds the fixture's keys.
    assert_shape(&body, &fixture("tdoc/create_file_reply_seed000.json"));
    assert_shape_includes(&body, &fixture("tdoc/create_file_reply.json"));
    let data = &body["data"];
    let key = data["ID"].as_str().unwrap().strip_prefix("300000000$").expect("ID is 300000000$<key>");
    let b64 = base64::engine::general_purpose::STANDARD.encode(key);
    assert_eq!(data["url"], format!("{}/doc/D{b64}", sb.tdoc_base()), "D + base64 of the key");
    assert_eq!(sb.docs()[0].url, data["url"].as_str().unwrap());
}

#[tokio::test]
async fn tdoc_userinfo_has_the_documented_keys() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let (_, _, token) = tdoc_user_token(&sb, &c).await;
    let resp = c
        .get(format!("{}/oauth/v2/userinfo", sb.tdoc_base()))
        .query(&[("access_token", token["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    // upstream-apis.md: `{"ret":0,"msg":"Succeed","data":{"openID","nick",...}}` (more keys unlisted).
    assert_shape_includes(&body, &json!({"ret": 0, "msg": "Succeed", "data": {"openID": "", "nick": ""}}));
    assert_eq!(body["data"]["openID"], USER);
    assert_eq!(body["data"]["nick"], "Alice");
}

#[tokio::test]
async fn tdoc_dead_token_variants() {
    for (variant, status) in
        [(TdocTokenError::Http401, StatusCode::UNAUTHORIZED), (TdocTokenError::Http200, StatusCode::OK)]
    {
        let sb = start_with(|cfg| cfg.tdoc_token_error = variant).await;
        let c = client();
        let token = tdoc_app_token(&sb, &c).await;
        sb.expire_access_tokens();
        let resp = openapi(
            &c,
            reqwest::Method::POST,
            format!("{}/openapi/drive/v2/files", sb.tdoc_base()),
            &token,
            sb.config(),
        )
        .form(&[("title", "t"), ("type", "doc")])
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), status, "{variant:?}");
        let body: Value = resp.json().await.unwrap();
        assert_shape(&body, &json!({"ret": 37019, "msg": "token expired"}));
        assert_eq!(body["ret"], 37019);
        let resp = c
            .get(format!("{}/oauth/v2/userinfo", sb.tdoc_base()))
            .query(&[("access_token", token["access_token"].as_str().unwrap())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "userinfo, {variant:?}");
        assert_eq!(resp.json::<Value>().await.unwrap()["ret"], 37019);
        assert!(sb.docs().is_empty());
    }
    // Switchable at run time over HTTP.
    let sb = start_with(|_| {}).await;
    let c = client();
    let resp = c
        .post(format!("{}/_sandbox/variants", sb.base_url()))
        .json(&json!({"tdoc_token_error": "http200"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(sb.variants().tdoc_token_error, TdocTokenError::Http200);
    assert_eq!(sb.variants().tapd_token_resource, TapdTokenResource::User, "the other variant is left alone");
    let resp = c.get(format!("{}/oauth/v2/userinfo?access_token=dead", sb.tdoc_base())).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["ret"], 37019);
}

#[tokio::test]
async fn tapd_item_values_are_all_strings() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let token = tapd_app_token(&sb, &c).await;
    for (path, wrapper, name) in [("stories", "Story", "name"), ("bugs", "Bug", "title")] {
        let (status, body) = tapd_get(&sb, &c, &token, &format!("/{path}?workspace_id={WS}")).await;
        assert_eq!(status, StatusCode::OK);
        let want = json!({"status": 1, "data": [{wrapper: {}}], "info": "success"});
        assert_shape_includes(&body, &want);
        let item = body["data"][0][wrapper].as_object().unwrap();
        for key in
            ["id", "workspace_id", name, "description", "status", "priority", "iteration_id", "created", "modified"]
        {
            assert!(item.contains_key(key), "{wrapper} lacks {key}: {item:?}");
        }
        assert!(item.values().all(Value::is_string), "{item:?}");
    }
}

/// The reads: a folder's listing (paged, files and sub-folders), a file's metadata and a doc's
/// content, each in its sample's shape; the listing read to the end in pages of 20.
#[tokio::test]
async fn tdoc_reads_are_the_references() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let token = tdoc_app_token(&sb, &c).await;
    let base = sb.tdoc_base();
    let call = |method: reqwest::Method, url: String| openapi(&c, method, url, &token, sb.config());
    let folder: Value = call(reqwest::Method::POST, format!("{base}/openapi/drive/v2/folders"))
        .form(&[("title", "迭代 2026-12")])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let folder_id = folder["data"]["ID"].as_str().unwrap().to_owned();
    let enc = |id: &str| url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>();
    let mut made = Vec::new();
    for n in 0..45 {
        let f: Value = call(reqwest::Method::POST, format!("{base}/openapi/drive/v2/files"))
            .form(&[("title", format!("文档 {n}").as_str()), ("type", "doc"), ("folderID", folder_id.as_str())])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        made.push(f["data"]["ID"].as_str().unwrap().to_owned());
    }
    call(reqwest::Method::POST, format!("{base}/openapi/drive/v2/folders"))
        .form(&[("title", "子文件夹"), ("parentfolderID", folder_id.as_str())])
        .send()
        .await
        .unwrap();
    // The root lists the folder, as a `folder` entry.
    let root: Value = call(reqwest::Method::GET, format!("{base}/openapi/drive/v2/folders/%2F"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    // Entries as from create (the seed's create reply has keys this sample leaves out).
    assert_shape_includes(&root, &fixture("tdoc/folder_list_reply.json"));
    assert!(root["data"]["list"].as_array().unwrap().iter().any(|e| e["ID"] == folder_id && e["type"] == "folder"));
    // The folder: 45 files and a sub-folder, in pages of 20, `next` 20, 40, then 0.
    let (mut start, mut seen, mut nexts) = (0, Vec::new(), Vec::new());
    loop {
        let page: Value = call(reqwest::Method::GET, format!("{base}/openapi/drive/v2/folders/{}", enc(&folder_id)))
            .query(&[("sortType", "create"), ("asc", "0"), ("start", &start.to_string()), ("limit", "20")])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_shape_includes(&page, &fixture("tdoc/folder_list_reply.json"));
        seen.extend(page["data"]["list"].as_array().unwrap().iter().map(|e| e["ID"].as_str().unwrap().to_owned()));
        let next = page["data"]["next"].as_u64().unwrap();
        nexts.push(next);
        if next == 0 {
            break;
        }
        start = next;
    }
    assert_eq!(nexts, [20, 40, 0]);
    assert_eq!(seen.len(), 46);
    assert!(made.iter().all(|id| seen.contains(id)));
    // A file's metadata; gone once deleted (ret 10102), from the listing too.
    let meta: Value = call(reqwest::Method::GET, format!("{base}/openapi/drive/v2/files/{}/metadata", enc(&made[0])))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_shape_includes(&meta, &fixture("tdoc/file_metadata_reply.json"));
    call(reqwest::Method::DELETE, format!("{base}/openapi/drive/v2/files/{}", enc(&made[0]))).send().await.unwrap();
    let gone = call(reqwest::Method::GET, format!("{base}/openapi/drive/v2/files/{}/metadata", enc(&made[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(gone.json::<Value>().await.unwrap()["ret"], 10102);
    // A doc's content: the intro written by batchUpdate comes back as text nodes.
    let doc = &made[1];
    call(reqwest::Method::POST, format!("{base}/openapi/doc/v3/{}:batchUpdate", enc(doc)))
        .json(&json!({"requests":[{"insertText":{"text":"TAPD 需求：按月导出 https://www.tapd.cn/1/prong/stories/view/2\n","location":{"index":1}}}]}))
        .send()
        .await
        .unwrap();
    let content: Value = call(reqwest::Method::GET, format!("{base}/openapi/doc/v3/{}", enc(doc)))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    // The read numbers its nodes (`doc_content_offsets_reply.json`), which the plain sample's
    // shape is a part of.
    assert_shape(&content, &fixture("tdoc/doc_content_offsets_reply.json"));
    assert_shape_includes(&content, &fixture("tdoc/doc_content_reply.json"));
    assert!(content.to_string().contains("/prong/stories/view/2"));
    // Another account's folder is refused; a missing header is 401 like every OpenAPI call.
    let anonymous = c.get(format!("{base}/openapi/drive/v2/folders/%2F")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// Search finds files by title, but like any index it lags: a file just made is not found
/// (by default for 30 s), so a product leaning on search to find what it made is caught.
#[tokio::test]
async fn tdoc_search_lags_behind_creation() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let token = tdoc_app_token(&sb, &c).await;
    let base = sb.tdoc_base();
    let call = |method: reqwest::Method, url: String| openapi(&c, method, url, &token, sb.config());
    call(reqwest::Method::POST, format!("{base}/openapi/drive/v2/files"))
        .form(&[("title", "刚刚创建的文档"), ("type", "doc")])
        .send()
        .await
        .unwrap();
    let search = || async {
        let v: Value = call(reqwest::Method::GET, format!("{base}/openapi/drive/v2/search"))
            .query(&[("searchKey", "刚刚创建"), ("searchType", "title")])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        v
    };
    let now = search().await;
    assert_eq!(now["ret"], 0);
    assert!(now["data"]["list"].as_array().unwrap().is_empty(), "found at once: {now}");
    sb.set_search_lag(std::time::Duration::ZERO);
    let later = search().await;
    let list = later["data"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{later}");
    assert_shape_includes(&list[0], &fixture("tdoc/folder_list_reply.json")["data"]["list"][0]);
}

/// Who consented, a workspace's members and its roles: the API reference's replies, and
/// `/users/info` only for user tokens.
#[tokio::test]
async fn tapd_people_replies_are_the_references() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let user = tapd_user_token(&sb, &c).await["data"]["access_token"].as_str().unwrap().to_owned();
    let (status, me) = tapd_get(&sb, &c, &user, "/users/info").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_shape(&me, &fixture("tapd/users_info_reply.json"));
    assert_eq!(me["data"]["id"], sandbox::TAPD_USER_ID);
    let (status, members) = tapd_get(&sb, &c, &user, &format!("/workspaces/users?workspace_id={WS}")).await;
    assert_eq!(status, StatusCode::OK, "{members}");
    assert_shape(&members, &fixture("tapd/workspace_users_reply.json"));
    // `fields` keeps only what is asked for.
    let (_, some) = tapd_get(&sb, &c, &user, &format!("/workspaces/users?workspace_id={WS}&fields=user,role_id")).await;
    let first = some["data"][0]["UserWorkspace"].as_object().unwrap();
    assert_eq!(first.keys().collect::<Vec<_>>(), ["role_id", "user"]);
    let (status, roles) = tapd_get(&sb, &c, &user, &format!("/roles?workspace_id={WS}")).await;
    assert_eq!(status, StatusCode::OK, "{roles}");
    assert_shape(&roles, &fixture("tapd/roles_reply.json"));
    // The default membership: the default user holds the role named 管理员, anyechen does not.
    let admin_role = roles["data"].as_object().unwrap().iter().find(|(_, n)| *n == "管理员").unwrap().0.clone();
    let role_of = |nick: &str| -> Vec<Value> {
        let rows = members["data"].as_array().unwrap();
        let row = rows.iter().find(|r| r["UserWorkspace"]["user"] == nick).unwrap();
        row["UserWorkspace"]["role_id"].as_array().unwrap().clone()
    };
    assert!(role_of("robertyang").contains(&json!(admin_role)));
    assert!(!role_of("anyechen").contains(&json!(admin_role)));
    // Another workspace's members, the app token's `/users/info`, no token: refused.
    sb.add_workspace("20355783", "Other");
    assert_eq!(tapd_get(&sb, &c, &user, "/roles?workspace_id=20355783").await.0, StatusCode::FORBIDDEN);
    let app = tapd_app_token(&sb, &c).await;
    assert_eq!(tapd_get(&sb, &c, &app, "/users/info").await.0, StatusCode::FORBIDDEN);
    assert_eq!(tapd_get(&sb, &c, &app, &format!("/roles?workspace_id={WS}")).await.0, StatusCode::OK);
    assert_eq!(tapd_get(&sb, &c, "nope", "/users/info").await.0, StatusCode::UNAUTHORIZED);
    // Membership set through the control: a member removed is gone, a new one listed.
    sb.set_member(WS, "anyechen", &[]);
    sb.set_member(WS, "newbie", std::slice::from_ref(&admin_role));
    let (_, members) = tapd_get(&sb, &c, &user, &format!("/workspaces/users?workspace_id={WS}")).await;
    let nicks: Vec<&str> =
        members["data"].as_array().unwrap().iter().map(|r| r["UserWorkspace"]["user"].as_str().unwrap()).collect();
    assert_eq!(nicks, ["newbie", "robertyang"]);
}

/// A workflow made of the samples' own statuses answers exactly the samples (keys, names, the
/// envelope); the default workflow answers in the same shape (an object of names).
#[tokio::test]
async fn tapd_workflow_replies_are_the_references() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let token = tapd_app_token(&sb, &c).await;
    let story_type = sandbox::workitem_type_id(WS);
    let map_path = format!("/workflows/status_map?workspace_id={WS}&system=story&workitem_type_id={story_type}");
    let end_path = format!("/workflows/last_steps?workspace_id={WS}&system=story&workitem_type_id={story_type}");
    for path in [&map_path, &end_path] {
        let (status, body) = tapd_get(&sb, &c, &token, path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], 1);
        let data = body["data"].as_object().unwrap();
        assert!(!data.is_empty() && data.values().all(Value::is_string), "{body}");
    }
    let (_, defaults) = tapd_get(&sb, &c, &token, &map_path).await;
    assert_eq!(defaults["data"]["planning"], "规划中");
    assert_eq!(defaults["data"]["status_3"], "方案评审中");

    let map = fixture("tapd/workflows_status_map_reply.json");
    let ends = fixture("tapd/workflows_last_steps_reply.json");
    let statuses: Vec<Value> =
        map["data"].as_object().unwrap().iter().map(|(k, v)| json!({"key": k, "name": v})).collect();
    let end: Vec<&String> = ends["data"].as_object().unwrap().keys().collect();
    let resp = c
        .post(format!("{}/_sandbox/workflows", sb.base_url()))
        .json(&json!({"workspace_id": WS, "system": "story", "statuses": statuses, "end": end}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (_, body) = tapd_get(&sb, &c, &token, &map_path).await;
    assert_eq!(body, map);
    let (_, body) = tapd_get(&sb, &c, &token, &end_path).await;
    assert_eq!(body, ends);
    // Without `workitem_type_id` too; bugs have their own workflow.
    let (_, body) = tapd_get(&sb, &c, &token, &format!("/workflows/status_map?workspace_id={WS}&system=story")).await;
    assert_eq!(body, map);
    let (_, body) = tapd_get(&sb, &c, &token, &format!("/workflows/last_steps?workspace_id={WS}&system=bug")).await;
    assert_eq!(body["data"], json!({"closed": "已关闭", "rejected": "已拒绝"}));
}

#[tokio::test]
async fn tapd_iterations_reply_is_the_reference() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let token = tapd_app_token(&sb, &c).await;
    let it = sb.add_iteration(WS, None, "2026 第四季度 · 冲刺 3");
    sb.add_iteration(WS, None, "冲刺 4");
    let (status, body) = tapd_get(&sb, &c, &token, &format!("/iterations?workspace_id={WS}&id={}", it.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_shape(&body, &fixture("tapd/iterations_reply.json"));
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["Iteration"]["name"], "2026 第四季度 · 冲刺 3");
    assert_eq!(body["data"][0]["Iteration"]["status"], "open");
    let (_, all) = tapd_get(&sb, &c, &token, &format!("/iterations?workspace_id={WS}")).await;
    assert_shape(&all, &fixture("tapd/iterations_reply.json"));
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn tapd_items_carry_workflow_fields() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let token = tapd_app_token(&sb, &c).await;
    let (_, body) = tapd_get(&sb, &c, &token, &format!("/stories?workspace_id={WS}&id={STORY}")).await;
    let story = &body["data"][0]["Story"];
    for key in ["status", "owner", "priority", "iteration_id", "workitem_type_id"] {
        assert!(story[key].is_string(), "story lacks {key}: {story}");
    }
    assert_eq!(story["workitem_type_id"], sandbox::workitem_type_id(WS));
    let (_, body) = tapd_get(&sb, &c, &token, &format!("/bugs?workspace_id={WS}&id={BUG}")).await;
    let bug = &body["data"][0]["Bug"];
    for key in ["status", "current_owner", "priority", "iteration_id"] {
        assert!(bug[key].is_string(), "bug lacks {key}: {bug}");
    }
}

/// The sample's two paragraphs written into a doc read back exactly as the sample numbers them.
#[tokio::test]
async fn tdoc_doc_read_has_the_samples_offsets() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let token = tdoc_app_token(&sb, &c).await;
    let base = sb.tdoc_base();
    let call = |method: reqwest::Method, url: String| openapi(&c, method, url, &token, sb.config());
    let made: Value = call(reqwest::Method::POST, format!("{base}/openapi/drive/v2/files"))
        .form(&[("title", "按月导出所有项目的成本报表"), ("type", "doc")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["data"]["ID"].as_str().unwrap().replace('$', "%24");
    let want = fixture("tdoc/doc_content_offsets_reply.json");
    let texts: Vec<&str> = want["document"]["children"][0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["children"][0]["text"].as_str().unwrap())
        .collect();
    let resp = call(reqwest::Method::POST, format!("{base}/openapi/doc/v3/{id}:batchUpdate"))
        .json(&json!({"requests": [{"insertText": {"text": texts.join("\n"), "location": {"index": 1}}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let got: Value =
        call(reqwest::Method::GET, format!("{base}/openapi/doc/v3/{id}")).send().await.unwrap().json().await.unwrap();
    assert_shape(&got, &want);
    assert_eq!(got["document"], want["document"], "the offsets are the sample's");
    assert_eq!(got["version"], 2);
}

/// Records every delivery it is sent.
async fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/webhooks/tapd",
        post(move |body: axum::body::Bytes| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/tapd", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// A status and owner change delivers `story::update` with exactly the sample's keys (every
/// value a string, no new values), then `story::status_change`.
#[tokio::test]
async fn tapd_update_delivery_is_the_reference() {
    let (url, seen) = webhook_receiver().await;
    let sb = start_with(|cfg| {
        cfg.webhook_url = Some(url);
        cfg.webhook_secret = "s3cret".into();
    })
    .await;
    sb.add_item_with_fields(
        WS,
        ItemKind::Story,
        "1120375001001000101",
        "成本报表",
        &[("owner", "alice;"), ("priority", "Middle")],
    );
    let change = sb
        .change_item(WS, ItemKind::Story, "1120375001001000101", &[("status", "开发中"), ("owner", "bob")], "bob", true)
        .await
        .unwrap();
    assert_eq!(change.changed, vec!["owner".to_string(), "status".to_string()]);
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:#?}");
    let want = fixture("tapd/webhook_story_update.json");
    assert_shape(&got[0], &want);
    assert!(got[0].as_object().unwrap().values().all(Value::is_string));
    assert_eq!(got[0]["event"], "story::update");
    assert_eq!(got[0]["change_fields"], "owner,status,modified");
    assert_eq!((&got[0]["old_status"], &got[0]["old_owner"]), (&json!("planning"), &json!("alice;")));
    assert_eq!(got[0]["secret"], "s3cret");
    assert_eq!(got[1]["event"], "story::status_change");
    assert_eq!(got[1]["old_status"], "planning");
    // The item itself moved on, in TAPD's own forms.
    let item = sb.item(WS, ItemKind::Story, "1120375001001000101").unwrap();
    assert_eq!((item.fields["status"].as_str(), item.fields["owner"].as_str()), ("developing", "bob;"));
    // The same keys as the sample, and the sample's keys only, in every `*::update`.
    sb.change_item(WS, ItemKind::Bug, BUG, &[("priority", "high")], "bob", true).await.unwrap();
    let bug = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(bug["event"], "bug::update");
    let mut want_bug = want.as_object().unwrap().clone();
    want_bug.remove("old_owner");
    want_bug.insert("old_current_owner".into(), json!(""));
    assert_shape(&bug, &Value::Object(want_bug));
}

/// A "429 storm" answers TAPD's seen rate-limit reply, as the real limit does.
#[tokio::test]
async fn tapd_storm_reply_is_the_seen_reply() {
    let sb = start_with(|_| {}).await;
    let c = client();
    let token = tapd_app_token(&sb, &c).await;
    sb.tapd_storm(None, Some(1));
    let (status, body) = tapd_get(&sb, &c, &token, &format!("/stories?workspace_id={WS}")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, fixture("tapd/rate_limited_reply.json"));
}
