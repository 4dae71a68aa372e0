//! What the documents say the APIs do beyond their shapes: TAPD paging, ordering and filters,
//! counts, the rate limit; Tencent Docs folders, rename, copy, move, delete, permission.

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use sandbox::{ItemKind, Sandbox, SandboxConfig};
use serde_json::{Value, json};

const WS: &str = "20000001";
const STORY: &str = "1120000001000000001";

async fn start() -> Sandbox {
    let sb = Sandbox::start(SandboxConfig::new(vec![])).await;
    sb.add_workspace(WS, "Workspace");
    sb.add_item(WS, ItemKind::Story, STORY, "A story");
    sb
}

async fn tapd_app_token(sb: &Sandbox, c: &Client) -> String {
    let cfg = sb.config();
    let resp = c
        .post(format!("{}/tokens/request_token", sb.tapd_api_base()))
        .basic_auth(&cfg.tapd_client_id, Some(&cfg.tapd_client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    body["data"]["access_token"].as_str().unwrap().to_string()
}

async fn get(sb: &Sandbox, c: &Client, token: &str, path_query: &str) -> (StatusCode, Value) {
    let resp = c.get(format!("{}{path_query}", sb.tapd_api_base())).bearer_auth(token).send().await.unwrap();
    (resp.status(), resp.json().await.unwrap())
}

fn ids(body: &Value, wrapper: &str) -> Vec<String> {
    body["data"].as_array().unwrap().iter().map(|r| r[wrapper]["id"].as_str().unwrap().to_string()).collect()
}

fn at(minute: usize) -> String {
    format!("2026-11-01 {:02}:{:02}:00", 8 + minute / 60, minute % 60)
}

#[tokio::test]
async fn comments_page_order_and_filter() {
    let sb = start().await;
    let c = sandbox::http_client().build().unwrap();
    let token = tapd_app_token(&sb, &c).await;
    // 35 earlier comments, oldest first, one by another author.
    let seeded: Vec<_> = (0..35)
        .map(|i| {
            let author = if i == 7 { "v_other" } else { "v_sandbox" };
            sb.add_comment_at(WS, ItemKind::Story, STORY, &format!("<p>n{i}</p>"), author, &at(i))
        })
        .collect();
    let base = format!("/comments?workspace_id={WS}&entry_type=stories&entry_id={STORY}");
    let (status, page1) = get(&sb, &c, &token, &base).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&page1, "Comment").len(), 30, "30 a page by default");
    assert_eq!(ids(&page1, "Comment")[0], seeded[0].id, "oldest first by default");
    let (_, page2) = get(&sb, &c, &token, &format!("{base}&page=2")).await;
    assert_eq!(ids(&page2, "Comment"), seeded[30..].iter().map(|c| c.id.clone()).collect::<Vec<_>>());
    let (_, desc) = get(&sb, &c, &token, &format!("{base}&order=created%20desc&limit=3")).await;
    assert_eq!(ids(&desc, "Comment"), vec![seeded[34].id.clone(), seeded[33].id.clone(), seeded[32].id.clone()]);
    let (_, by) = get(&sb, &c, &token, &format!("{base}&author=v_other")).await;
    assert_eq!(ids(&by, "Comment"), vec![seeded[7].id.clone()]);
    let (_, none) = get(&sb, &c, &token, &format!("{base}&author=other")).await;
    assert!(ids(&none, "Comment").is_empty(), "the filter is on the stored (mapped) author");

    // Seeded over HTTP too; `limit` above 200 is clamped to 200.
    let resp = c
        .post(format!("{}/_sandbox/comments", sb.base_url()))
        .json(
            &json!({"workspace_id": WS, "kind": "stories", "entry_id": STORY, "description": "<p>x</p>", "count": 170}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Vec<Value>>().await.unwrap().len(), 170);
    let (_, big) = get(&sb, &c, &token, &format!("{base}&limit=500")).await;
    assert_eq!(ids(&big, "Comment").len(), 200);
    let (_, rest) = get(&sb, &c, &token, &format!("{base}&limit=200&page=2")).await;
    assert_eq!(ids(&rest, "Comment").len(), 5);

    for bad in ["&limit=0", "&page=x", "&order=created%20sideways", "&order=title"] {
        let (status, body) = get(&sb, &c, &token, &format!("{base}{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["status"], 0);
    }
    let (status, _) = get(&sb, &c, &token, "/comments?entry_type=stories").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "workspace_id is required");
}

#[tokio::test]
async fn comments_edit_and_author_mapping() {
    let sb = start().await;
    let c = sandbox::http_client().build().unwrap();
    let token = tapd_app_token(&sb, &c).await;
    let post = |form: Vec<(&'static str, String)>| {
        c.post(format!("{}/comments", sb.tapd_api_base())).bearer_auth(&token).form(&form).send()
    };
    let base = || {
        vec![
            ("workspace_id", WS.to_string()),
            ("entry_type", "stories".to_string()),
            ("entry_id", STORY.to_string()),
            ("description", "<p>Doc: <a href=\"x\">x</a></p>".to_string()),
        ]
    };
    let resp = post(base()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "author is required");
    let mut form = base();
    form.push(("author", "TAPD Docs".into()));
    let added: Value = post(form).await.unwrap().json().await.unwrap();
    assert_eq!(added["data"]["Comment"]["author"], "v_TAPD Docs");
    assert_eq!(added["data"]["Comment"]["description"], "<p>Doc: <a href=\"x\">x</a></p>");
    assert_eq!(added["data"]["Comment"]["title"], "在状态 [planning] 添加");

    let id = added["data"]["Comment"]["id"].as_str().unwrap().to_string();
    let resp =
        post(vec![("workspace_id", WS.into()), ("id", "1".into()), ("description", "<p>y</p>".into())]).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "unknown comment");
    let resp =
        post(vec![("workspace_id", WS.into()), ("id", id.clone()), ("description", "<p>y</p>".into())]).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let comments = sb.comments();
    assert_eq!(
        (comments.len(), comments[0].id.as_str(), comments[0].description.as_str()),
        (1, id.as_str(), "<p>y</p>")
    );
}

#[tokio::test]
async fn items_filter_page_order_and_count() {
    let sb = start().await;
    let c = sandbox::http_client().build().unwrap();
    let token = tapd_app_token(&sb, &c).await;
    let created = [
        "2026-10-31 23:59:59",
        "2026-11-01 00:00:00",
        "2026-11-01 12:00:00",
        "2026-11-02 23:59:59",
        "2026-11-03 00:00:00",
    ];
    let mut story_ids: Vec<String> = (0..created.len()).map(|i| format!("112000000100000010{i}")).collect();
    for (id, at) in story_ids.iter().zip(created) {
        sb.add_item_with_fields(WS, ItemKind::Story, id, "S", &[("created", at), ("owner", "alice;")]);
    }
    // Index 5: the seeded `STORY`, created now (after every dated one), with no owner.
    story_ids.push(STORY.to_string());
    // Over HTTP with fields too.
    let resp = c
        .post(format!("{}/_sandbox/items", sb.base_url()))
        .json(&json!({"workspace_id": WS, "kind": "bug", "id": "1120000001000000201", "name": "B",
                      "fields": {"created": "2026-11-01 10:00:00", "description": "<p>d</p>"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let bug = sb.item(WS, ItemKind::Bug, "1120000001000000201").unwrap();
    assert_eq!((bug.fields["title"].as_str(), bug.fields["description"].as_str()), ("B", "<p>d</p>"));

    let q = |filter: &str| format!("/stories?workspace_id={WS}&{filter}");
    let cases: [(&str, &[usize]); 5] = [
        ("created=%3E2026-11-01%2000:00:00", &[2, 3, 4, 5]),
        ("created=%3E2026-10-31%2023:59:59", &[1, 2, 3, 4, 5]),
        ("created=%3C2026-11-01", &[0]),
        ("created=2026-11-01~2026-11-02", &[1, 2, 3]),
        ("owner=alice;&created=%3C2026-11-02", &[0, 1, 2]),
    ];
    for (filter, want) in cases {
        let (status, body) = get(&sb, &c, &token, &q(filter)).await;
        assert_eq!(status, StatusCode::OK, "{filter}: {body}");
        let want: Vec<String> = want.iter().map(|i| story_ids[*i].clone()).collect();
        assert_eq!(ids(&body, "Story"), want, "{filter}");
        let (_, count) = get(&sb, &c, &token, &format!("/stories/count?workspace_id={WS}&{filter}")).await;
        assert_eq!(count["data"], json!({"count": want.len()}), "{filter}");
    }
    let (_, all) = get(&sb, &c, &token, &q("order=created%20desc&limit=2&page=1")).await;
    assert_eq!(ids(&all, "Story"), vec![STORY.to_string(), story_ids[4].clone()]);
    let (_, second) = get(&sb, &c, &token, &q("order=created%20desc&limit=2&page=2")).await;
    assert_eq!(ids(&second, "Story"), vec![story_ids[3].clone(), story_ids[2].clone()]);
    let (_, some) = get(&sb, &c, &token, &q(&format!("id={},{}&fields=name", story_ids[1], story_ids[3]))).await;
    assert_eq!(some["data"][0]["Story"], json!({"id": story_ids[1], "name": "S"}));
    assert_eq!(ids(&some, "Story").len(), 2);
    let (_, count) = get(&sb, &c, &token, &format!("/bugs/count?workspace_id={WS}")).await;
    assert_eq!(count["data"]["count"], 1);

    for bad in ["created=yesterday", "created=%3E2026-11-1", "limit=-1"] {
        let (status, _) = get(&sb, &c, &token, &q(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // `>=` and `<=` are not operators TAPD documents: refused in TAPD's envelope, never guessed at.
    for bad in ["created=%3E%3D2026-11-01", "modified=%3C%3D2026-11-01%2000:00:00"] {
        let (status, body) = get(&sb, &c, &token, &q(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!((&body["status"], &body["data"]), (&json!(0), &json!("")), "{bad}: {body}");
        assert!(body["info"].as_str().unwrap().contains("time filter"), "{body}");
    }
    let (status, _) = get(&sb, &c, &token, "/stories/count").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "workspace_id is required");
}

#[tokio::test]
async fn rate_limit_window_and_control() {
    let sb = start().await;
    let c = sandbox::http_client().build().unwrap();
    assert_eq!(sb.tapd_rate_limit(), Some(sandbox::TAPD_RATE_LIMIT), "TAPD's documented limit by default");
    let control = format!("{}/_sandbox/tapd-rate-limit", sb.base_url());
    let resp = c.post(&control).json(&json!({"limit": 2, "window_ms": 300})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        c.get(&control).send().await.unwrap().json::<Value>().await.unwrap(),
        json!({"limit": 2, "window_ms": 300})
    );
    let token = tapd_app_token(&sb, &c).await;
    let path = format!("/stories?workspace_id={WS}");
    assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::OK);
    assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::TOO_MANY_REQUESTS);
    // Refused requests and requests without valid credentials do not count.
    assert_eq!(get(&sb, &c, "nope", &path).await.0, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::OK);
    assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::OK);
    assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::TOO_MANY_REQUESTS);
    c.post(&control).json(&Value::Null).send().await.unwrap();
    assert_eq!(sb.tapd_rate_limit(), None);
    for _ in 0..5 {
        assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::OK);
    }
}

struct Docs {
    sb: Sandbox,
    c: Client,
    token: String,
    open_id: String,
}

impl Docs {
    async fn new() -> Docs {
        let sb = start().await;
        let c = sandbox::http_client().build().unwrap();
        let cfg = sb.config();
        let body: Value = c
            .get(format!("{}/oauth/v2/app-account-token", sb.tdoc_base()))
            .query(&[("client_id", cfg.tdoc_client_id.as_str()), ("client_secret", &cfg.tdoc_client_secret)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = body["access_token"].as_str().unwrap().to_string();
        let open_id = body["user_id"].as_str().unwrap().to_string();
        Docs { sb, c, token, open_id }
    }

    /// `path` below `/openapi/drive/v2`; ids are percent-encoded (they contain `$`).
    async fn call(&self, method: Method, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self
            .c
            .request(method, format!("{}/openapi/drive/v2{path}", self.sb.tdoc_base()))
            .header("Access-Token", &self.token)
            .header("Client-Id", &self.sb.config().tdoc_client_id)
            .header("Open-Id", &self.open_id)
            .form(form)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap())
    }
}

fn enc(id: &str) -> String {
    id.replace('$', "%24")
}

#[tokio::test]
async fn drive_folders_rename_copy_move_delete() {
    let d = Docs::new().await;
    let (status, folder) = d.call(Method::POST, "/folders", &[("title", "Team")]).await;
    assert_eq!(status, StatusCode::OK, "{folder}");
    let folder = folder["data"]["ID"].as_str().unwrap().to_string();
    let (status, sub) = d.call(Method::POST, "/folders", &[("title", "Sub"), ("parentfolderID", &folder)]).await;
    assert_eq!(status, StatusCode::OK);
    let sub = sub["data"]["ID"].as_str().unwrap().to_string();
    let (status, body) =
        d.call(Method::POST, "/folders", &[("title", "X"), ("parentfolderID", "300000000$Fnope")]).await;
    assert_eq!((status, &body["ret"]), (StatusCode::NOT_FOUND, &json!(10102)));

    let (status, body) = d.call(Method::POST, "/files", &[("title", "T"), ("type", "doc"), ("folderID", "nope")]).await;
    assert_eq!((status, &body["ret"]), (StatusCode::NOT_FOUND, &json!(10102)), "unknown folder");
    let (_, file) = d.call(Method::POST, "/files", &[("title", "T"), ("type", "doc"), ("folderID", &sub)]).await;
    let file = file["data"]["ID"].as_str().unwrap().to_string();
    assert_eq!(d.sb.docs()[0].folder_id.as_deref(), Some(sub.as_str()));

    // Rename: at most 36 characters.
    let long = "长".repeat(37);
    let (status, body) = d.call(Method::PATCH, &format!("/files/{}", enc(&file)), &[("title", &long)]).await;
    assert_eq!((status, &body["ret"]), (StatusCode::BAD_REQUEST, &json!(400001)));
    let (status, _) = d.call(Method::PATCH, &format!("/files/{}", enc(&file)), &[("title", &"长".repeat(36))]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, meta) = d.call(Method::GET, &format!("/files/{}/metadata", enc(&file)), &[]).await;
    assert_eq!(meta["data"]["title"], "长".repeat(36));

    // Copy into the root, then move it into the folder.
    let (status, copy) = d.call(Method::POST, &format!("/files/{}/copy", enc(&file)), &[("title", "Copy")]).await;
    assert_eq!(status, StatusCode::OK, "{copy}");
    let copy = copy["data"]["ID"].as_str().unwrap().to_string();
    assert_ne!(copy, file);
    let mv = format!("/files/{}/move", enc(&copy));
    let (status, body) = d.call(Method::PATCH, &mv, &[("targetfolderID", &folder), ("parentfolderID", "/")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let copied = d.sb.docs().into_iter().find(|doc| doc.id == copy).unwrap();
    assert_eq!((copied.title.as_str(), copied.folder_id.as_deref()), ("Copy", Some(folder.as_str())));

    // Permission: the documented policies only.
    let perm = format!("/files/{}/permission", enc(&file));
    let (status, _) = d.call(Method::PATCH, &perm, &[("policy", "everyone")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = d.call(Method::PATCH, &perm, &[("policy", "publicRead"), ("copyEnabled", "false")]).await;
    assert_eq!(status, StatusCode::OK);

    // Delete a file: gone from the API and its page.
    let (_, other) = d.call(Method::POST, "/files", &[("title", "Other"), ("type", "doc")]).await;
    let other = other["data"]["ID"].as_str().unwrap().to_string();
    let page = d.sb.docs().into_iter().find(|doc| doc.id == other).unwrap().url;
    assert_eq!(d.c.get(&page).send().await.unwrap().status(), StatusCode::OK);
    let (status, _) = d.call(Method::DELETE, &format!("/files/{}", enc(&other)), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = d.call(Method::GET, &format!("/files/{}/metadata", enc(&other)), &[]).await;
    assert_eq!((status, &body["ret"]), (StatusCode::NOT_FOUND, &json!(10102)));
    assert_eq!(d.c.get(&page).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // Delete the folder: everything under it goes.
    let (status, _) = d.call(Method::DELETE, &format!("/folders/{}", enc(&folder)), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(d.sb.docs().iter().all(|doc| doc.deleted), "{:?}", d.sb.docs());
    let (status, _) = d.call(Method::POST, "/files", &[("title", "T"), ("type", "doc"), ("folderID", &sub)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the sub-folder went too");
    let (status, _) = d.call(Method::DELETE, &format!("/folders/{}", enc(&folder)), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn doc_page_shows_the_text_escaped() {
    let d = Docs::new().await;
    let (_, file) = d.call(Method::POST, "/files", &[("title", "<b>T</b>"), ("type", "doc")]).await;
    let id = file["data"]["ID"].as_str().unwrap();
    let resp =
        d.c.post(format!("{}/openapi/doc/v3/{}:batchUpdate", d.sb.tdoc_base(), enc(id)))
            .header("Access-Token", &d.token)
            .header("Client-Id", &d.sb.config().tdoc_client_id)
            .header("Open-Id", &d.open_id)
            .json(&json!({"requests": [{"insertText": {"text": "<script>x</script> TAPD", "location": {"index": 1}}}]}))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = d.c.get(file["data"]["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("&lt;script&gt;x&lt;/script&gt; TAPD"), "{html}");
    assert!(html.contains("&lt;b&gt;T&lt;/b&gt;") && !html.contains("<script>"), "{html}");
}

impl Docs {
    /// A new empty doc's id.
    async fn new_doc(&self) -> String {
        let (status, file) = self.call(Method::POST, "/files", &[("title", "T"), ("type", "doc")]).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        file["data"]["ID"].as_str().unwrap().to_string()
    }

    async fn batch(&self, id: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .c
            .post(format!("{}/openapi/doc/v3/{}:batchUpdate", self.sb.tdoc_base(), enc(id)))
            .header("Access-Token", &self.token)
            .header("Client-Id", &self.sb.config().tdoc_client_id)
            .header("Open-Id", &self.open_id)
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap())
    }

    async fn read(&self, id: &str) -> Value {
        let resp = self
            .c
            .get(format!("{}/openapi/doc/v3/{}", self.sb.tdoc_base(), enc(id)))
            .header("Access-Token", &self.token)
            .header("Client-Id", &self.sb.config().tdoc_client_id)
            .header("Open-Id", &self.open_id)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }
}

fn insert(text: &str, index: usize) -> Value {
    json!({"insertText": {"text": text, "location": {"index": index}}})
}

/// The paragraphs of a read: `(begin, end, text)`.
fn paragraphs(read: &Value) -> Vec<(u64, u64, String)> {
    read["document"]["children"][0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let t = &p["children"][0];
            (p["begin"].as_u64().unwrap(), p["end"].as_u64().unwrap(), t["text"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Writes land where the read's offsets say: insert anywhere, replace and delete ranges; every
/// write bumps the version; a batch is all or nothing and at most 30 requests.
#[tokio::test]
async fn batch_update_edits_by_the_reads_offsets() {
    let d = Docs::new().await;
    let id = d.new_doc().await;
    let read = d.read(&id).await;
    assert_eq!(read["version"], 1);
    assert_eq!(paragraphs(&read), vec![(1, 1, String::new())], "an empty doc is one empty paragraph");
    let (status, body) = d.batch(&id, json!({"requests": [insert("卡片：规划中\n团队的笔记", 1)]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let read = d.read(&id).await;
    assert_eq!(read["version"], 2);
    assert_eq!(paragraphs(&read), vec![(1, 7, "卡片：规划中".into()), (8, 13, "团队的笔记".into())]);

    // Replace the card by its offsets, then delete a word of the notes, in one batch (the second
    // request's offsets are of the doc as the first left it).
    let (status, _) = d
        .batch(
            &id,
            json!({"version": 2, "requests": [
                {"replaceText": {"text": "卡片：开发中（张三）", "range": [{"startIndex": 1, "length": 6}]}},
                {"deleteContent": {"range": {"startIndex": 14, "length": 1}}},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d.sb.doc_text(&id).unwrap().text, "卡片：开发中（张三）\n团队笔记");
    assert_eq!(d.sb.doc_text(&id).unwrap().version, 3);
    // Insert in the middle.
    d.batch(&id, json!({"requests": [insert("的", 14)]})).await;
    assert_eq!(d.sb.doc_text(&id).unwrap().text, "卡片：开发中（张三）\n团队的笔记");

    // All or nothing: a good request then a range past the end changes nothing.
    let before = d.sb.doc_text(&id).unwrap();
    for bad in [
        json!({"requests": [insert("x", 1), {"deleteContent": {"range": {"startIndex": 10, "length": 99}}}]}),
        json!({"requests": [insert("x", 0)]}),
        json!({"requests": [insert("x", 99)]}),
        json!({"requests": [{"replaceText": {"text": "x", "range": [{"startIndex": 1, "length": 0}]}}]}),
        json!({"requests": [{"insertTable": {"rows": 1}}]}),
        json!({"requests": []}),
        json!({"requests": (0..31).map(|_| insert("x", 1)).collect::<Vec<_>>()}),
        json!({"version": 99, "requests": [insert("x", 1)]}),
    ] {
        let (status, body) = d.batch(&id, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["code"], 400001, "{body}");
        assert!(body["message"].is_string());
        assert_eq!(d.sb.doc_text(&id).unwrap(), before, "{bad} changed the doc");
    }
    // Thirty is allowed.
    let (status, _) = d.batch(&id, json!({"requests": (0..30).map(|_| insert("x", 1)).collect::<Vec<_>>()})).await;
    assert_eq!(status, StatusCode::OK);
}

/// A person edits between the product's read and its write: within the version window the
/// write is rebased (it lands on the text it was aimed at); beyond it, it is refused.
#[tokio::test]
async fn late_writes_are_rebased_or_refused() {
    let d = Docs::new().await;
    let id = d.new_doc().await;
    d.batch(&id, json!({"requests": [insert("卡片\n正文", 1)]})).await;
    let read = d.read(&id).await;
    let v = read["version"].as_u64().unwrap();
    let (begin, end, _) = paragraphs(&read)[0].clone();
    // The person adds a line above the card and types in the body.
    d.sb.edit_doc(&id, &[sandbox::DocEdit::Insert { index: 1, text: "前言\n".into() }]).unwrap();
    let t =
        d.sb.edit_doc(&id, &[sandbox::DocEdit::ReplaceParagraph { paragraph: 2, text: "正文，改过".into() }]).unwrap();
    assert_eq!(t.version, v + 2);
    let (status, body) = d
        .batch(
            &id,
            json!({"version": v, "requests": [
                {"replaceText": {"text": "新卡片", "range": [{"startIndex": begin, "length": end - begin}]}}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(d.sb.doc_text(&id).unwrap().text, "前言\n新卡片\n正文，改过");

    // Eleven writes later, a write at the old version is refused (409), and changes nothing.
    let old = d.sb.doc_text(&id).unwrap().version;
    for _ in 0..11 {
        d.sb.edit_doc(&id, &[sandbox::DocEdit::InsertParagraph { paragraph: 3, text: "x".into() }]).unwrap();
    }
    let before = d.sb.doc_text(&id).unwrap();
    let (status, body) = d.batch(&id, json!({"version": old, "requests": [insert("y", 1)]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], 409001);
    assert_eq!(d.sb.doc_text(&id).unwrap(), before);
    // The current version is always accepted; none sent means "as the doc is now".
    let (status, _) = d.batch(&id, json!({"version": before.version, "requests": [insert("y", 1)]})).await;
    assert_eq!(status, StatusCode::OK);
}

/// The person-edit and doc-text controls over HTTP, and the doc page showing the first block.
#[tokio::test]
async fn person_edits_over_http_and_the_page_shows_the_card() {
    let d = Docs::new().await;
    let id = d.new_doc().await;
    d.batch(&id, json!({"requests": [insert("【卡片】需求 A · 规划中\n\n会议纪要", 1)]})).await;
    let base = d.sb.base_url();
    let edited: Value =
        d.c.post(format!("{base}/_sandbox/doc-edit"))
            .json(&json!({"file_id": id, "edits": [
                {"replace_paragraph": {"paragraph": 2, "text": "会议纪要：周一评审"}},
                {"insert_paragraph": {"paragraph": 3, "text": "第二段"}},
            ]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(edited["text"], "【卡片】需求 A · 规划中\n\n会议纪要：周一评审\n第二段");
    assert_eq!(edited["version"], 3);
    assert_eq!(edited["paragraphs"][2], json!({"begin": 17, "end": 26, "text": "会议纪要：周一评审"}));
    let got: Value =
        d.c.get(format!("{base}/_sandbox/doc-text?file_id={}", enc(&id))).send().await.unwrap().json().await.unwrap();
    assert_eq!(got, edited);
    for bad in [
        json!({"file_id": id, "edits": [{"delete": {"start": 1, "length": 999}}]}),
        json!({"file_id": id, "edits": [{"replace_paragraph": {"paragraph": 9, "text": "x"}}]}),
    ] {
        let resp = d.c.post(format!("{base}/_sandbox/doc-edit")).json(&bad).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let resp =
        d.c.post(format!("{base}/_sandbox/doc-edit"))
            .json(&json!({"file_id": "300000000$nope", "edits": []}))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(d.sb.doc_text(&id).unwrap().version, 3, "refused edits change nothing");

    let url = d.sb.docs()[0].url.clone();
    let html = d.c.get(url).send().await.unwrap().text().await.unwrap();
    let card = html.split("<section id=\"first-block\" class=\"card\">").nth(1).expect("the first block is framed");
    let card = card.split("</section>").next().unwrap();
    assert!(card.contains("【卡片】需求 A · 规划中") && !card.contains("会议纪要"), "{card}");
    assert!(html.contains("会议纪要：周一评审"), "{html}");
}

/// Records every delivery it is sent.
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Changes deliver what TAPD would (nothing for no change, nothing with `deliver: false`), TAPD's
/// rules refuse bad ones, and a recorded delivery can be sent again: twice, late, out of order.
#[tokio::test]
async fn item_changes_deliver_and_redeliver() {
    let sb = start().await;
    let (url, seen) = receiver().await;
    sb.set_webhook(Some(&url), "s");
    let c = sandbox::http_client().build().unwrap();
    let base = sb.base_url();
    let change = |body: Value| {
        let c = c.clone();
        let base = base.clone();
        async move {
            let r = c.post(format!("{base}/_sandbox/items/change")).json(&body).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // No change: nothing delivered, `modified` kept.
    let before = sb.item(WS, ItemKind::Story, STORY).unwrap();
    let (status, body) =
        change(json!({"workspace_id": WS, "kind": "story", "id": STORY, "fields": {"status": "planning"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deliveries"], json!([]));
    assert_eq!(sb.item(WS, ItemKind::Story, STORY).unwrap(), before);
    // Refused by TAPD's rules: 400, nothing changes; unknown item 404.
    let (status, _) =
        change(json!({"workspace_id": WS, "kind": "story", "id": STORY, "fields": {"status": "已关闭"}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        change(json!({"workspace_id": WS, "kind": "story", "id": "1", "fields": {"status": "规划中"}})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Quietly: changed, events computed, none sent.
    let (_, body) = change(
        json!({"workspace_id": WS, "kind": "story", "id": STORY, "fields": {"priority": "High"}, "deliver": false}),
    )
    .await;
    assert_eq!(body["events"][0]["event"], "story::update");
    assert_eq!(body["deliveries"], json!([]));
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(sb.item(WS, ItemKind::Story, STORY).unwrap().fields["priority"], "High");
    // Delivered: by name, two events.
    let (_, body) =
        change(json!({"workspace_id": WS, "kind": "story", "id": STORY, "fields": {"status": "已实现"}})).await;
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(sb.item(WS, ItemKind::Story, STORY).unwrap().fields["status"], "resolved");
    let deliveries: Value = c.get(format!("{base}/_sandbox/deliveries")).send().await.unwrap().json().await.unwrap();
    assert_eq!(deliveries.as_array().unwrap().len(), 2);
    assert_eq!(deliveries[0]["status"], 200);
    // Twice, and out of order (the update after the status change).
    for seq in [2, 1, 1] {
        let r =
            c.post(format!("{base}/_sandbox/deliveries/redeliver")).json(&json!({"seq": seq})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Late.
    let r = c
        .post(format!("{base}/_sandbox/deliveries/redeliver"))
        .json(&json!({"seq": 1, "delay_ms": 200}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(seen.lock().unwrap().len(), 5);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = seen.lock().unwrap().clone();
    let events: Vec<&str> = got.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "story::update",
            "story::status_change",
            "story::status_change",
            "story::update",
            "story::update",
            "story::update"
        ]
    );
    assert_eq!(got[0], got[3], "a redelivery is the same body, event_id included");
    let all = sb.deliveries();
    assert_eq!(all.len(), 6);
    assert_eq!(all[5].redelivery_of, Some(1));
    let r = c.post(format!("{base}/_sandbox/deliveries/redeliver")).json(&json!({"seq": 99})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Iterations are made, renamed and deleted by control, each delivering its `iteration::*`;
/// `/iterations` follows.
#[tokio::test]
async fn iterations_deliver_create_update_delete() {
    let sb = start().await;
    let (url, seen) = receiver().await;
    let c = sandbox::http_client().build().unwrap();
    let base = sb.base_url();
    let r = c.post(format!("{base}/_sandbox/webhook")).json(&json!({"url": url, "secret": "s"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let made: Value = c
        .post(format!("{base}/_sandbox/iterations"))
        .json(&json!({"workspace_id": WS, "name": "冲刺 1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["iteration"]["id"].as_str().unwrap().to_string();
    let r = c
        .post(format!("{base}/_sandbox/iterations/update"))
        .json(&json!({"workspace_id": WS, "id": id, "name": "冲刺 1（延期）"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = tapd_app_token(&sb, &c).await;
    let (_, listed) = get(&sb, &c, &token, &format!("/iterations?workspace_id={WS}&id={id}")).await;
    assert_eq!(listed["data"][0]["Iteration"]["name"], "冲刺 1（延期）");
    let r = c
        .post(format!("{base}/_sandbox/iterations/delete"))
        .json(&json!({"workspace_id": WS, "id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, listed) = get(&sb, &c, &token, &format!("/iterations?workspace_id={WS}")).await;
    assert_eq!(listed["data"], json!([]));
    let got = seen.lock().unwrap().clone();
    let events: Vec<&str> = got.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["iteration::create", "iteration::update", "iteration::delete"]);
    assert_eq!(got[0]["name"], "冲刺 1");
    assert_eq!(
        (got[1]["old_name"].as_str(), got[1]["change_fields"].as_str()),
        (Some("冲刺 1"), Some("name,modified"))
    );
    assert!(got[1].get("name").is_none(), "an update carries old values, not new ones");
    assert_eq!(got[2]["id"], id.as_str());
    assert!(got.iter().all(|b| b["secret"] == "s" && b["workspace_id"] == WS));
}

/// Moving as documented (`targetfolderID`, `parentfolderID` checked), sub-folders listed beside
/// files, a folder renamed by `PATCH /folders/{id}`, and the controls that say where a file is.
#[tokio::test]
async fn moving_between_folders_and_renaming_one() {
    let d = Docs::new().await;
    let (_, team) = d.call(Method::POST, "/folders", &[("title", "团队")]).await;
    let team = team["data"]["ID"].as_str().unwrap().to_string();
    let (_, done) = d.call(Method::POST, "/folders", &[("title", "已完成"), ("parentfolderID", &team)]).await;
    let done = done["data"]["ID"].as_str().unwrap().to_string();
    let (_, file) = d.call(Method::POST, "/files", &[("title", "需求"), ("type", "doc"), ("folderID", &team)]).await;
    let file = file["data"]["ID"].as_str().unwrap().to_string();
    // The listing shows the sub-folder as `type: folder`.
    let (_, listed) = d.call(Method::GET, &format!("/folders/{}", enc(&team)), &[]).await;
    let types: Vec<(&str, &str)> = listed["data"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["title"].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert!(types.contains(&("已完成", "folder")) && types.contains(&("需求", "doc")), "{types:?}");
    let mv = format!("/files/{}/move", enc(&file));
    // Named from the wrong folder, or without a target: refused, nothing moves.
    for bad in [vec![("targetfolderID", done.as_str()), ("parentfolderID", "/")], vec![("folderID", done.as_str())]] {
        let (status, body) = d.call(Method::PATCH, &mv, &bad).await;
        assert_eq!((status, &body["ret"]), (StatusCode::BAD_REQUEST, &json!(400001)), "{bad:?}");
    }
    let (status, body) = d.call(Method::PATCH, &mv, &[("targetfolderID", "300000000$Fnope")]).await;
    assert_eq!((status, &body["ret"]), (StatusCode::NOT_FOUND, &json!(10102)));
    assert_eq!(d.sb.file_location(&file).unwrap().iter().map(|f| f.title.as_str()).collect::<Vec<_>>(), ["团队"]);
    let (status, _) = d.call(Method::PATCH, &mv, &[("targetfolderID", &done), ("parentfolderID", &team)]).await;
    assert_eq!(status, StatusCode::OK);
    let base = d.sb.base_url();
    let at: Value =
        d.c.get(format!("{base}/_sandbox/file-location?file_id={}", enc(&file)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let chain: Vec<&str> = at["folders"].as_array().unwrap().iter().map(|f| f["title"].as_str().unwrap()).collect();
    assert_eq!(chain, ["团队", "已完成"]);
    // And back out (the target alone is enough).
    let (status, _) = d.call(Method::PATCH, &mv, &[("targetfolderID", &team)]).await;
    assert_eq!(status, StatusCode::OK);
    let listing: Value =
        d.c.get(format!("{base}/_sandbox/folder?folder_id={}", enc(&team))).send().await.unwrap().json().await.unwrap();
    assert_eq!(listing["folders"][0]["title"], "已完成");
    assert_eq!(listing["files"][0]["id"], file.as_str());
    let r = d.c.get(format!("{base}/_sandbox/folder?folder_id=nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Renaming a folder (the default variant): its title changes, its content stays.
    let (status, _) = d.call(Method::PATCH, &format!("/folders/{}", enc(&team)), &[("title", "团队（2026）")]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = d.call(Method::PATCH, &format!("/folders/{}", enc(&team)), &[("title", "")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(d.sb.file_location(&file).unwrap()[0].title, "团队（2026）");
}

/// Every TAPD API reply names the window in force; a 429 says none is left.
#[tokio::test]
async fn tapd_replies_carry_the_rate_limit_headers() {
    let sb = start().await;
    let c = sandbox::http_client().build().unwrap();
    sb.set_tapd_rate_limit(Some((3, Duration::from_secs(60))));
    let token = tapd_app_token(&sb, &c).await; // the token call counts: 2 left
    let url = format!("{}/stories?workspace_id={WS}", sb.tapd_api_base());
    let mut seen = Vec::new();
    for _ in 0..3 {
        let r = c.get(&url).bearer_auth(&token).send().await.unwrap();
        let h = |k: &str| r.headers().get(k).map(|v| v.to_str().unwrap().to_string());
        seen.push((r.status().as_u16(), h("x-ratelimit-limit"), h("x-ratelimit-remaining")));
    }
    let s = |x: &str| Some(x.to_string());
    assert_eq!(seen, [(200, s("3"), s("1")), (200, s("3"), s("0")), (429, s("3"), s("0"))]);
    // The workflow and iteration routes carry them too; unlimited: none.
    sb.set_tapd_rate_limit(Some((10, Duration::from_secs(60))));
    let r =
        c.get(format!("{}/iterations?workspace_id={WS}", sb.tapd_api_base())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.headers()["x-ratelimit-remaining"], "9");
    sb.set_tapd_rate_limit(None);
    let r = c.get(&url).bearer_auth(&token).send().await.unwrap();
    assert!(r.headers().get("x-ratelimit-limit").is_none());
}

/// `page × limit` stops at 20,000; `cursor=<last id>` pages past it in id order.
#[tokio::test]
async fn paging_stops_at_twenty_thousand_and_cursors_go_past() {
    let sb = start().await;
    let c = sandbox::http_client().build().unwrap();
    let token = tapd_app_token(&sb, &c).await;
    for (query, want) in [
        ("limit=200&page=100", StatusCode::OK),
        ("limit=200&page=101", StatusCode::BAD_REQUEST),
        ("limit=500&page=101", StatusCode::BAD_REQUEST),
        ("limit=30&page=667", StatusCode::BAD_REQUEST),
        ("limit=30&page=666", StatusCode::OK),
    ] {
        let (status, body) = get(&sb, &c, &token, &format!("/stories?workspace_id={WS}&{query}")).await;
        assert_eq!(status, want, "{query}: {body}");
        if want == StatusCode::BAD_REQUEST {
            assert_eq!(body["status"], 0);
            assert!(body["info"].as_str().unwrap().contains("20000"), "{body}");
        }
    }
    let (status, _) = get(&sb, &c, &token, &format!("/comments?workspace_id={WS}&limit=200&page=101")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "comments too");
    // Seven more stories, created in an order unlike their ids.
    let ids: Vec<String> = (0..7).map(|i| format!("11200000010000001{:02}", 10 + (i * 3) % 7)).collect();
    for (i, id) in ids.iter().enumerate() {
        sb.add_item_with_fields(WS, ItemKind::Story, id, "s", &[("created", &at(i))]);
    }
    let mut all: Vec<String> = ids.clone();
    all.push(STORY.to_string());
    all.sort();
    let mut got = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let (status, body) = get(&sb, &c, &token, &format!("/stories?workspace_id={WS}&limit=3&cursor={cursor}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = super_ids(&body);
        if page.is_empty() {
            break;
        }
        cursor = page.last().unwrap().clone();
        got.extend(page);
    }
    assert_eq!(got, all, "every item once, in id order");
    for bad in ["cursor=x", "cursor=1&order=created%20asc", "cursor=1&order=id%20desc", "cursor=1&page=2"] {
        let (status, _) = get(&sb, &c, &token, &format!("/stories?workspace_id={WS}&{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _) = get(&sb, &c, &token, &format!("/stories?workspace_id={WS}&cursor=1&order=id%20asc&page=1")).await;
    assert_eq!(status, StatusCode::OK);
}

fn super_ids(body: &Value) -> Vec<String> {
    ids(body, "Story")
}

/// A "429 storm" refuses every call for a while or for a number of calls, then passes.
#[tokio::test]
async fn a_429_storm_passes() {
    let sb = start().await;
    let c = sandbox::http_client().build().unwrap();
    let token = tapd_app_token(&sb, &c).await;
    let path = format!("/stories?workspace_id={WS}");
    let control = format!("{}/_sandbox/tapd-storm", sb.base_url());
    assert_eq!(c.post(&control).json(&json!({"calls": 2})).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let (status, body) = get(&sb, &c, &token, &path).await;
    assert_eq!((status, &body["status"]), (StatusCode::TOO_MANY_REQUESTS, &json!(429)));
    assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::OK);
    c.post(&control).json(&json!({"seconds": 0.3})).send().await.unwrap();
    let r = c.get(format!("{}{path}", sb.tapd_api_base())).bearer_auth(&token).send().await.unwrap();
    assert_eq!(
        (r.status(), r.headers()["x-ratelimit-remaining"].to_str().unwrap()),
        (StatusCode::TOO_MANY_REQUESTS, "0")
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::OK);
    c.post(&control).json(&json!({"seconds": 60})).send().await.unwrap();
    assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::TOO_MANY_REQUESTS);
    c.post(&control).json(&json!({})).send().await.unwrap();
    assert_eq!(get(&sb, &c, &token, &path).await.0, StatusCode::OK, "{{}} ends it");
    assert_eq!(c.post(&control).json(&json!({"seconds": -1})).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
}

/// Oversized list replies answer 502 when a maximum is set; asking for fewer fields fits.
#[tokio::test]
async fn oversized_replies_answer_502() {
    let sb = start().await;
    let c = sandbox::http_client().build().unwrap();
    let token = tapd_app_token(&sb, &c).await;
    let control = format!("{}/_sandbox/tapd-max-reply", sb.base_url());
    c.post(&control).json(&json!({"bytes": 100})).send().await.unwrap();
    let (status, body) = get(&sb, &c, &token, &format!("/stories?workspace_id={WS}")).await;
    assert_eq!((status, &body["status"]), (StatusCode::BAD_GATEWAY, &json!(0)));
    let (status, _) = get(&sb, &c, &token, &format!("/stories?workspace_id={WS}&fields=id")).await;
    assert_eq!(status, StatusCode::OK);
    c.post(&control).json(&json!({"bytes": null})).send().await.unwrap();
    assert_eq!(get(&sb, &c, &token, &format!("/stories?workspace_id={WS}")).await.0, StatusCode::OK);
}
