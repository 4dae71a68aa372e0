//! Writes the fuzz targets' seed corpora (`fuzz/corpus/<target>/seed-*`) from real-shaped
//! payloads: replies the sandbox actually sends (tokens, items, comments, files, errors and
//! its fault shapes), the redirect queries its consent pages make, and the events and
//! deliveries the harness builds. `make fuzz` runs it first.
//!
//! Usage: `fuzz-seeds [CORPUS_DIR]` (default `fuzz/corpus`). Input formats: see the targets
//! in `fuzz/fuzz_targets/`.

use std::path::{Path, PathBuf};

use harness::apigw::{Request, scheduled_event};
use harness::flows::create_event;
use reqwest::Method;
use sandbox::{Fault, FaultKind, ItemKind, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use shared::crypto::Keyring;
use shared::store::seal_token;

const TAPD_CB: &str = "https://links.example.test/oauth/tapd/callback";
const TDOC_CB: &str = "https://links.example.test/oauth/tdoc/callback";
const WS: &str = "20003271";
const STORY: &str = "1120003271001000028";
const BUG: &str = "1120003271001000029";
const OPEN_ID: &str = "a1b2c3d4";
/// The fuzz target `token_record`'s old key ([1; 32]).
const FUZZ_OLD_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

struct Corpus {
    root: PathBuf,
    written: usize,
}

impl Corpus {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
        self.written += 1;
    }

    /// A reply seed: the status as the reply targets read it, the parser selector, the body.
    fn reply(&mut self, target: &str, name: &str, status: u16, selector: u8, body: &[u8]) {
        let head = if status == 200 { [0u8, 0] } else { (status + 33_000).to_be_bytes() };
        let mut bytes = vec![head[0], head[1], selector];
        bytes.extend_from_slice(body);
        self.put(target, name, &bytes);
    }
}

struct Upstream {
    sb: Sandbox,
    http: reqwest::Client,
}

impl Upstream {
    async fn call(
        &self,
        method: Method,
        url: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> (u16, Vec<u8>) {
        let resp = build(self.http.request(method, url)).send().await.expect("the sandbox answers");
        (resp.status().as_u16(), resp.bytes().await.unwrap_or_default().to_vec())
    }

    /// Consent at TAPD: the redirect's query.
    async fn tapd_consent(&self, decision: &str) -> String {
        let form = [
            ("client_id", "tapd-app"),
            ("redirect_uri", TAPD_CB),
            ("scope", "story bug"),
            ("state", "s-0123456789abcdef0123456789abcdef01234567"),
            ("workspace_id", WS),
            ("decision", decision),
        ];
        self.consent(&format!("{}/tapd/oauth/approve", self.sb.base_url()), &form).await
    }

    async fn tdoc_consent(&self, decision: &str) -> String {
        let form = [
            ("client_id", "tdoc-app"),
            ("redirect_uri", TDOC_CB),
            ("scope", "all"),
            ("state", "t-0123456789abcdef0123456789abcdef01234567"),
            ("open_id", OPEN_ID),
            ("decision", decision),
        ];
        self.consent(&format!("{}/tdoc/oauth/v2/authorize/approve", self.sb.base_url()), &form).await
    }

    async fn consent(&self, url: &str, form: &[(&str, &str)]) -> String {
        let resp = self.http.post(url).form(form).send().await.expect("consent");
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        url::Url::parse(&location).unwrap().query().unwrap_or_default().to_owned()
    }
}

fn code_of(query: &str) -> String {
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let root = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| Path::new("fuzz/corpus").to_path_buf());
    let mut c = Corpus { root, written: 0 };
    let sb = Sandbox::start(SandboxConfig::new(vec![TAPD_CB.into(), TDOC_CB.into()])).await;
    sb.add_workspace(WS, "Payments");
    sb.add_item(WS, ItemKind::Story, STORY, "支付页面改版");
    sb.add_item(WS, ItemKind::Bug, BUG, "Login fails on Safari");
    sb.add_tdoc_user(OPEN_ID, "Lin");
    let up = Upstream {
        sb: sb.clone(),
        http: sandbox::http_client().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
    };
    let tapd = sb.tapd_api_base();
    let tdoc = sb.tdoc_base();
    let basic = |r: reqwest::RequestBuilder| r.basic_auth("tapd-app", Some("tapd-secret-sandbox-0123456789"));

    // ---- callback queries, as the consent pages redirect
    let tapd_ok = up.tapd_consent("approve").await;
    let tdoc_ok = up.tdoc_consent("approve").await;
    c.put("callback_query", "tapd-approve", tapd_ok.as_bytes());
    c.put("callback_query", "tapd-deny", up.tapd_consent("deny").await.as_bytes());
    c.put("callback_query", "tdoc-approve", tdoc_ok.as_bytes());
    c.put("callback_query", "tdoc-deny", up.tdoc_consent("deny").await.as_bytes());
    c.put("callback_query", "duplicate-code", format!("{tdoc_ok}&code=again").as_bytes());

    // ---- TAPD replies
    let (s, token) = up
        .call(Method::POST, &format!("{tapd}/tokens/request_token"), |r| {
            basic(r).form(&[
                ("grant_type", "authorization_code"),
                ("redirect_uri", TAPD_CB),
                ("code", &code_of(&tapd_ok)),
            ])
        })
        .await;
    c.reply("tapd_reply", "token-user", s, 0, &token);
    let refresh = serde_json::from_slice::<Value>(&token).unwrap()["data"]["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (s, body) = up
        .call(Method::POST, &format!("{tapd}/tokens/refresh_token"), |r| {
            basic(r).form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        })
        .await;
    c.reply("tapd_reply", "token-refresh", s, 0, &body);
    let (s, app) = up
        .call(Method::POST, &format!("{tapd}/tokens/request_token"), |r| {
            basic(r).form(&[("grant_type", "client_credentials")])
        })
        .await;
    c.reply("tapd_reply", "token-app", s, 0, &app);
    let (s, body) = up
        .call(Method::POST, &format!("{tapd}/tokens/request_token"), |r| {
            basic(r).form(&[("grant_type", "authorization_code"), ("code", "used")])
        })
        .await;
    c.reply("tapd_reply", "token-refused", s, 0, &body);
    let bearer = serde_json::from_slice::<Value>(&app).unwrap()["data"]["access_token"].as_str().unwrap().to_owned();
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth(&bearer);
    for (kind, id, sel) in [("stories", STORY, 1u8), ("bugs", BUG, 6)] {
        let (s, body) = up
            .call(Method::GET, &format!("{tapd}/{kind}"), |r| auth(r).query(&[("workspace_id", WS), ("id", id)]))
            .await;
        c.reply("tapd_reply", &format!("{kind}-list"), s, sel, &body);
    }
    let (s, body) =
        up.call(Method::GET, &format!("{tapd}/stories"), |r| auth(r).query(&[("workspace_id", WS), ("id", "1")])).await;
    c.reply("tapd_reply", "stories-none", s, 1, &body);
    let (s, body) = up
        .call(Method::POST, &format!("{tapd}/comments"), |r| {
            auth(r).form(&[
                ("workspace_id", WS),
                ("entry_type", "stories"),
                ("entry_id", STORY),
                ("description", "Tencent Doc: https://docs.qq.com/doc/x"),
                ("author", "TAPD Docs"),
            ])
        })
        .await;
    c.reply("tapd_reply", "comment-added", s, 2, &body);
    let (s, body) = up
        .call(Method::GET, &format!("{tapd}/comments"), |r| {
            auth(r).query(&[("workspace_id", WS), ("entry_type", "stories"), ("entry_id", STORY)])
        })
        .await;
    c.reply("tapd_reply", "comments-list", s, 3, &body);
    let (s, body) = up
        .call(Method::POST, &format!("{tapd}/stories"), |r| {
            auth(r).form(&[("workspace_id", WS), ("id", STORY), ("custom_field_one", "https://docs.qq.com/doc/x")])
        })
        .await;
    c.reply("tapd_reply", "story-updated", s, 4, &body);
    let (s, body) = up
        .call(Method::GET, &format!("{tapd}/stories"), |r| r.bearer_auth("expired").query(&[("workspace_id", WS)]))
        .await;
    c.reply("tapd_reply", "unauthorized", s, 1, &body);
    for (name, kind) in [
        ("rate-limited", FaultKind::Status(429)),
        ("unavailable", FaultKind::Status(503)),
        ("malformed", FaultKind::Malformed),
        ("wrong-shape", FaultKind::WrongShape),
    ] {
        sb.inject(Fault::once("/tapd/api/stories", kind));
        let (s, body) = up
            .call(Method::GET, &format!("{tapd}/stories"), |r| auth(r).query(&[("workspace_id", WS), ("id", STORY)]))
            .await;
        c.reply("tapd_reply", name, s, 1, &body);
    }

    // ---- Tencent Docs replies
    fn token_q(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut q = vec![
            ("client_id".to_owned(), "tdoc-app".to_owned()),
            ("client_secret".to_owned(), "tdoc-secret-sandbox-0123456789".to_owned()),
        ];
        q.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        q
    }
    let (s, tok) = up
        .call(Method::GET, &format!("{tdoc}/oauth/v2/token"), |r| {
            r.query(&token_q(&[
                ("grant_type", "authorization_code"),
                ("redirect_uri", TDOC_CB),
                ("code", &code_of(&tdoc_ok)),
            ]))
        })
        .await;
    c.reply("tdoc_reply", "token-user", s, 0, &tok);
    let tok: Value = serde_json::from_slice(&tok).unwrap();
    let (access, refresh) = (
        tok["access_token"].as_str().unwrap().to_owned(),
        tok["refresh_token"].as_str().unwrap_or_default().to_owned(),
    );
    let (s, body) = up
        .call(Method::GET, &format!("{tdoc}/oauth/v2/token"), |r| {
            r.query(&token_q(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]))
        })
        .await;
    c.reply("tdoc_reply", "token-refresh", s, 0, &body);
    let (s, body) = up
        .call(Method::GET, &format!("{tdoc}/oauth/v2/token"), |r| {
            r.query(&token_q(&[("grant_type", "authorization_code"), ("code", "used")]))
        })
        .await;
    c.reply("tdoc_reply", "token-refused", s, 0, &body);
    let (s, body) =
        up.call(Method::GET, &format!("{tdoc}/oauth/v2/userinfo"), |r| r.query(&[("access_token", &access)])).await;
    c.reply("tdoc_reply", "userinfo", s, 1, &body);
    let api = |r: reqwest::RequestBuilder| {
        r.header("Access-Token", &access).header("Client-Id", "tdoc-app").header("Open-Id", OPEN_ID)
    };
    let (s, file) = up
        .call(Method::POST, &format!("{tdoc}/openapi/drive/v2/files"), |r| {
            api(r).form(&[("title", "支付页面改版"), ("type", "doc")])
        })
        .await;
    c.reply("tdoc_reply", "file-created", s, 2, &file);
    let file_id = serde_json::from_slice::<Value>(&file).unwrap()["data"]["ID"].as_str().unwrap().to_owned();
    let (s, body) = up
        .call(Method::POST, &format!("{tdoc}/openapi/drive/v2/files"), |r| {
            api(r).form(&[("title", ""), ("type", "doc")])
        })
        .await;
    c.reply("tdoc_reply", "file-refused", s, 2, &body);
    let path: String = url::form_urlencoded::byte_serialize(file_id.as_bytes()).collect();
    let insert = json!({"requests": [{"insertText": {"text": "TAPD story\n", "location": {"index": 1}}}]});
    let (s, body) =
        up.call(Method::POST, &format!("{tdoc}/openapi/doc/v3/{path}:batchUpdate"), |r| api(r).json(&insert)).await;
    c.reply("tdoc_reply", "batch-update", s, 3, &body);
    let (s, body) = up
        .call(Method::POST, &format!("{tdoc}/openapi/doc/v3/300000000%24nope:batchUpdate"), |r| api(r).json(&insert))
        .await;
    c.reply("tdoc_reply", "batch-update-missing", s, 3, &body);
    let (s, body) = up
        .call(Method::POST, &format!("{tdoc}/openapi/drive/v2/files"), |r| {
            r.header("Access-Token", "expired")
                .header("Client-Id", "tdoc-app")
                .header("Open-Id", OPEN_ID)
                .form(&[("title", "x"), ("type", "doc")])
        })
        .await;
    c.reply("tdoc_reply", "unauthorized", s, 2, &body);
    for (name, kind) in [
        ("rate-limited", FaultKind::Status(429)),
        ("malformed", FaultKind::Malformed),
        ("wrong-shape", FaultKind::WrongShape),
    ] {
        sb.inject(Fault::once("/tdoc/openapi/drive", kind));
        let (s, body) = up
            .call(Method::POST, &format!("{tdoc}/openapi/drive/v2/files"), |r| {
                api(r).form(&[("title", "x"), ("type", "doc")])
            })
            .await;
        c.reply("tdoc_reply", name, s, 2, &body);
    }

    // ---- token records: the tokens the clients would store, as plaintext and as ciphertext
    let ring = Keyring::parse(FUZZ_OLD_KEY).unwrap();
    let tapd_token = shared::tapd::fuzzing::token_reply(200, &token).expect("a TAPD token");
    let tdoc_token = shared::tdoc::fuzzing::token_reply(200, tok.to_string().as_bytes()).expect("a Tencent Docs token");
    let with_mode = |mode: u8, bytes: &[u8]| [&[mode][..], bytes].concat();
    c.put("token_record", "tapd-plain", &with_mode(2, &serde_json::to_vec(&tapd_token).unwrap()));
    c.put("token_record", "tdoc-plain", &with_mode(3, &serde_json::to_vec(&tdoc_token).unwrap()));
    c.put("token_record", "tapd-sealed", &with_mode(0, &seal_token(&ring, "WS#20003271", "TAPD_TOKEN", &tapd_token)));
    c.put("token_record", "tdoc-sealed", &with_mode(1, &seal_token(&ring, "TDOC#a1b2c3d4", "TOKEN", &tdoc_token)));

    // ---- webhook bodies: TAPD's official example, as JSON and as form
    let ev = create_event(WS, "story", STORY, "42079");
    c.put("webhook_body", "story-json", &with_mode(0, ev.to_string().as_bytes()));
    c.put("webhook_body", "story-json-untyped", &with_mode(2, ev.to_string().as_bytes()));
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            ev.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())),
        )
        .finish();
    c.put("webhook_body", "story-form", &with_mode(1, form.as_bytes()));
    let bug = create_event(WS, "bug", BUG, "7");
    c.put("webhook_body", "bug-json", &with_mode(0, bug.to_string().as_bytes()));
    let task = create_event(WS, "task", STORY, "8");
    c.put("webhook_body", "task-json-linked", &with_mode(0x80, task.to_string().as_bytes()));
    c.put(
        "webhook_body",
        "numbers",
        &with_mode(0, br#"{"event":"story::create","workspace_id":20003271,"id":1120003271001000028,"secret":"s"}"#),
    );
    c.put(
        "webhook_body",
        "update",
        &with_mode(
            0,
            br#"{"event":"story::update","old_name":"a","change_fields":"name","workspace_id":"1","id":"2"}"#,
        ),
    );
    c.put(
        "webhook_body",
        "duplicate-secret",
        &with_mode(0, br#"{"secret":"guess","event":"story::create","secret":"right"}"#),
    );

    // ---- API Gateway events, as the functions receive them
    let events = [
        ("webhook-json", Request::post_json("/webhooks/tapd", &ev).to_event()),
        (
            "webhook-form-base64",
            Request::post("/webhooks/tapd", "application/x-www-form-urlencoded", form.clone()).to_event(),
        ),
        ("callback", Request::get(&format!("/oauth/tapd/callback?{tapd_ok}")).header("Cookie", "a=1; b=2").to_event()),
        ("start", Request::get("/oauth/tapd/start").to_event()),
        ("scheduled", scheduled_event()),
    ];
    for (name, e) in events {
        c.put("gateway_event", name, e.to_string().as_bytes());
    }
    let fixture = harness::workspace_root().join("tests/harness/testdata/apigw-v2-request.json");
    if let Ok(bytes) = std::fs::read(&fixture) {
        c.put("gateway_event", "aws-sample", &bytes);
    }
    println!("fuzz-seeds: {} seeds in {}", c.written, c.root.display());
}
