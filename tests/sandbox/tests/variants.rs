//! The Tencent Docs shapes public sources disagree on (`upstream-apis.md`, "Where public
//! sources disagree"), each played behind a variant: the batchUpdate route, the doc read and
//! token replies flat or wrapped, `ID` or `id`, the root folder's route. And the `redirect` fault.

use reqwest::{Client, Method, StatusCode, redirect::Policy};
use sandbox::{
    Fault, FaultKind, ReplyWrapping, Sandbox, SandboxConfig, TdocBatchUpdateRoute, TdocFileIdKey, TdocRootFolder,
    Variants,
};
use serde_json::{Value, json};

struct Docs {
    sb: Sandbox,
    c: Client,
    token: String,
    open_id: String,
}

/// A client that shows redirects instead of following them.
fn client() -> Client {
    sandbox::http_client().redirect(Policy::none()).build().unwrap()
}

impl Docs {
    async fn new(variants: Variants) -> Docs {
        let sb = Sandbox::start(SandboxConfig::new(vec![])).await;
        sb.set_variants(variants);
        let c = client();
        let body = app_token(&sb, &c).await;
        let token = token_field(&body, "access_token");
        let open_id = token_field(&body, "user_id");
        Docs { sb, c, token, open_id }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.c
            .request(method, format!("{}/openapi/{path}", self.sb.tdoc_base()))
            .header("Access-Token", &self.token)
            .header("Client-Id", &self.sb.config().tdoc_client_id)
            .header("Open-Id", &self.open_id)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, title: &str) -> Value {
        let (status, body) =
            self.send(self.req(Method::POST, "drive/v2/files").form(&[("title", title), ("type", "doc")])).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }
}

async fn app_token(sb: &Sandbox, c: &Client) -> Value {
    let cfg = sb.config();
    c.get(format!("{}/oauth/v2/app-account-token", sb.tdoc_base()))
        .query(&[("client_id", cfg.tdoc_client_id.as_str()), ("client_secret", &cfg.tdoc_client_secret)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A token reply's field, flat or wrapped.
fn token_field(body: &Value, key: &str) -> String {
    body.get(key).or_else(|| body["data"].get(key)).and_then(Value::as_str).unwrap().to_owned()
}

fn enc(id: &str) -> String {
    id.replace('$', "%24")
}

#[tokio::test]
async fn batch_update_answers_on_one_route_only() {
    for route in [TdocBatchUpdateRoute::Colon, TdocBatchUpdateRoute::Slash] {
        let d = Docs::new(Variants { tdoc_batch_update_route: route, ..Variants::default() }).await;
        let id = d.create("Routes").await["ID"].as_str().unwrap().to_owned();
        let requests = json!([{ "insertText": { "text": "hello", "location": { "index": 1 } } }]);
        let colon =
            d.req(Method::POST, &format!("doc/v3/{}:batchUpdate", enc(&id))).json(&json!({"requests": requests}));
        let slash = |body: Value| d.req(Method::POST, &format!("doc/v3/{}/batchUpdate", enc(&id))).json(&body);
        let (colon_status, colon_body) = d.send(colon).await;
        let (slash_status, slash_body) = d.send(slash(json!({"fileID": id, "requests": requests}))).await;
        let unknown = json!({"code": 404, "message": "not found"});
        match route {
            TdocBatchUpdateRoute::Colon => {
                assert_eq!(colon_status, StatusCode::OK, "{colon_body}");
                assert_eq!((slash_status, slash_body), (StatusCode::NOT_FOUND, unknown));
            }
            TdocBatchUpdateRoute::Slash => {
                assert_eq!((colon_status, colon_body), (StatusCode::NOT_FOUND, unknown));
                assert_eq!(slash_status, StatusCode::OK, "{slash_body}");
                // The SDK's body names the file again: without it, or naming another, refused.
                for body in [json!({"requests": requests}), json!({"fileID": "300000000$other", "requests": requests})]
                {
                    let (status, reply) = d.send(slash(body)).await;
                    assert_eq!((status, &reply["code"]), (StatusCode::BAD_REQUEST, &json!(400001)), "{reply}");
                }
            }
        }
        assert_eq!(d.sb.docs()[0].content, "hello", "{route:?}: written once, by the route that answers");
    }
}

#[tokio::test]
async fn doc_reads_and_token_replies_flat_or_wrapped() {
    for how in [ReplyWrapping::Flat, ReplyWrapping::Wrapped] {
        let d = Docs::new(Variants { tdoc_doc_read: how, tdoc_token_reply: how, ..Variants::default() }).await;
        let token = app_token(&d.sb, &d.c).await;
        let id = d.create("Read").await["ID"].as_str().unwrap().to_owned();
        let (status, read) = d.send(d.req(Method::GET, &format!("doc/v3/{}", enc(&id)))).await;
        assert_eq!(status, StatusCode::OK);
        match how {
            ReplyWrapping::Flat => {
                assert!(token["access_token"].is_string() && token.get("ret").is_none(), "{token}");
                assert!(read["document"].is_object() && read["version"].is_number(), "{read}");
                assert!(read.get("ret").is_none());
            }
            ReplyWrapping::Wrapped => {
                assert_eq!((&token["ret"], &token["msg"]), (&json!(0), &json!("Succeed")), "{token}");
                for key in ["access_token", "token_type", "refresh_token", "expires_in", "scope", "user_id"] {
                    assert!(token["data"].get(key).is_some(), "{key}: {token}");
                }
                assert_eq!(read["ret"], 0);
                assert!(read["data"]["document"].is_object() && read["data"]["version"].is_number(), "{read}");
                assert!(read.get("document").is_none());
            }
        }
        // Errors keep their own shapes whatever the variant.
        let cfg = d.sb.config();
        let bad =
            d.c.get(format!("{}/oauth/v2/token", d.sb.tdoc_base()))
                .query(&[("client_id", cfg.tdoc_client_id.as_str()), ("client_secret", "wrong"), ("grant_type", "x")])
                .send()
                .await
                .unwrap();
        assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(bad.json::<Value>().await.unwrap()["ret"], 40001);
    }
}

#[tokio::test]
async fn ids_come_as_id_or_lowercase_id_everywhere() {
    for key in [TdocFileIdKey::Upper, TdocFileIdKey::Lower] {
        let d = Docs::new(Variants { tdoc_file_id_key: key, ..Variants::default() }).await;
        let (name, other) = match key {
            TdocFileIdKey::Upper => ("ID", "id"),
            TdocFileIdKey::Lower => ("id", "ID"),
        };
        let file = d.create("Ids").await;
        let id = file[name].as_str().unwrap().to_owned();
        assert!(file.get(other).is_none(), "{file}");
        let (_, folder) = d.send(d.req(Method::POST, "drive/v2/folders").form(&[("title", "F")])).await;
        assert!(folder["data"][name].is_string() && folder["data"].get(other).is_none(), "{folder}");
        let (_, copy) =
            d.send(d.req(Method::POST, &format!("drive/v2/files/{}/copy", enc(&id))).form(&[("title", "C")])).await;
        assert!(copy["data"][name].is_string() && copy["data"].get(other).is_none(), "{copy}");
        let (_, meta) = d.send(d.req(Method::GET, &format!("drive/v2/files/{}/metadata", enc(&id)))).await;
        assert_eq!(meta["data"][name], json!(id));
        let (_, list) = d.send(d.req(Method::GET, "drive/v2/folders/%2F")).await;
        let entries = list["data"]["list"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "{list}");
        assert!(entries.iter().all(|e| e[name].is_string() && e.get(other).is_none()), "{list}");
    }
}

#[tokio::test]
async fn the_root_folder_answers_on_its_variant_s_route() {
    let routes = ["drive/v2/folders/%2F", "drive/v2/folders/%2F/", "drive/v2/folders"];
    for (variant, works) in [(TdocRootFolder::Plain, 0), (TdocRootFolder::TrailingSlash, 1), (TdocRootFolder::NoId, 2)]
    {
        let d = Docs::new(Variants { tdoc_root_folder: variant, ..Variants::default() }).await;
        d.create("In the root").await;
        for (i, route) in routes.iter().enumerate() {
            let resp = d.req(Method::GET, route).query(&[("start", "0"), ("limit", "20")]).send().await.unwrap();
            let status = resp.status();
            let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if i == works {
                assert_eq!(status, StatusCode::OK, "{variant:?} {route}: {body}");
                assert_eq!(body["data"]["list"].as_array().unwrap().len(), 1, "{body}");
            } else if i == 0 {
                // A redirect to itself: a loop for whoever follows it.
                assert_eq!(status, StatusCode::MOVED_PERMANENTLY, "{variant:?} {route}");
                let location = location.unwrap();
                assert!(location.ends_with("/tdoc/openapi/drive/v2/folders/%2F?start=0&limit=20"), "{location}");
            } else {
                assert_eq!((status, &body["ret"]), (StatusCode::NOT_FOUND, &json!(404)), "{variant:?} {route}");
            }
        }
        // A folder's own listing is the same in every variant, and the create route stays.
        let (_, folder) = d.send(d.req(Method::POST, "drive/v2/folders").form(&[("title", "Sub")])).await;
        let sub = folder["data"]["ID"].as_str().unwrap();
        let (status, _) = d.send(d.req(Method::GET, &format!("drive/v2/folders/{}", enc(sub)))).await;
        assert_eq!(status, StatusCode::OK, "{variant:?}");
    }
}

#[tokio::test]
async fn every_variant_is_set_over_http_and_bad_values_are_refused() {
    let sb = Sandbox::start(SandboxConfig::new(vec![])).await;
    let c = client();
    let url = format!("{}/_sandbox/variants", sb.base_url());
    let set = json!({"tdoc_batch_update_route": "slash", "tdoc_doc_read": "wrapped", "tdoc_token_reply": "wrapped",
                     "tdoc_file_id_key": "id", "tdoc_root_folder": "no_id"});
    assert_eq!(c.post(&url).json(&set).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let v = sb.variants();
    assert_eq!(
        (v.tdoc_batch_update_route, v.tdoc_doc_read, v.tdoc_token_reply, v.tdoc_file_id_key, v.tdoc_root_folder),
        (
            TdocBatchUpdateRoute::Slash,
            ReplyWrapping::Wrapped,
            ReplyWrapping::Wrapped,
            TdocFileIdKey::Lower,
            TdocRootFolder::NoId
        )
    );
    // One key changes only itself.
    let one = json!({"tdoc_root_folder": "trailing_slash"});
    assert_eq!(c.post(&url).json(&one).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(sb.variants(), Variants { tdoc_root_folder: TdocRootFolder::TrailingSlash, ..v });
    for bad in [json!({"tdoc_root_folder": "slash"}), json!({"tdoc_file_id_key": "Id"}), json!({"tdoc_route": "colon"})]
    {
        assert!(c.post(&url).json(&bad).send().await.unwrap().status().is_client_error(), "{bad}");
    }
    assert_eq!(sb.variants().tdoc_root_folder, TdocRootFolder::TrailingSlash);
    // The newer ones too.
    let newer = json!({"tdoc_offset_unit": "chars", "tdoc_move_params": "folder_id", "tdoc_folder_rename": "refused"});
    assert_eq!(c.post(&url).json(&newer).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let v = sb.variants();
    assert_eq!(
        (v.tdoc_offset_unit, v.tdoc_move_params, v.tdoc_folder_rename),
        (sandbox::TdocOffsetUnit::Chars, sandbox::TdocMoveParams::FolderId, sandbox::TdocFolderRename::Refused)
    );
}

#[tokio::test]
async fn the_redirect_fault_sends_the_request_elsewhere() {
    let d = Docs::new(Variants::default()).await;
    d.sb.inject(Fault::once(
        "/tdoc/openapi/drive/v2/files",
        FaultKind::Redirect("http://127.0.0.1:9/elsewhere".into()),
    ));
    let resp = d.req(Method::POST, "drive/v2/files").form(&[("title", "T"), ("type", "doc")]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(resp.headers()["location"], "http://127.0.0.1:9/elsewhere");
    assert!(d.sb.docs().is_empty(), "not handled");
    // Over HTTP: `{"redirect": URL}`.
    let fault: Fault = serde_json::from_value(json!({"path_prefix": "/x", "kind": {"redirect": "http://h/"}})).unwrap();
    assert_eq!(fault.kind, FaultKind::Redirect("http://h/".into()));
}

/// The read's offsets count UTF-16 units (default) or characters: the same doc with an emoji
/// numbers its second paragraph differently, and a write by the read's own offsets lands right
/// in both.
#[tokio::test]
async fn offsets_count_utf16_units_or_characters() {
    for (unit, second_begin) in [(sandbox::TdocOffsetUnit::Utf16, 6), (sandbox::TdocOffsetUnit::Chars, 5)] {
        let d = Docs::new(Variants { tdoc_offset_unit: unit, ..Variants::default() }).await;
        let id = d.create("Units").await["ID"].as_str().unwrap().to_owned();
        let write = |body: Value| d.req(Method::POST, &format!("doc/v3/{}:batchUpdate", enc(&id))).json(&body);
        let (status, _) = d
            .send(write(json!({"requests": [{"insertText": {"text": "a😀b\n正文", "location": {"index": 1}}}]})))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, read) = d.send(d.req(Method::GET, &format!("doc/v3/{}", enc(&id)))).await;
        let read = if read.get("data").is_some() { read["data"].clone() } else { read };
        let second = &read["document"]["children"][0]["children"][1];
        assert_eq!(second["begin"], second_begin, "{unit:?}: {read}");
        let (begin, end) = (second["begin"].as_u64().unwrap(), second["end"].as_u64().unwrap());
        let range = json!([{"startIndex": begin, "length": end - begin}]);
        let (status, body) =
            d.send(write(json!({"requests": [{"replaceText": {"text": "新正文", "range": range}}]}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(d.sb.docs()[0].content, "a😀b\n新正文", "{unit:?}");
    }
}

/// The move takes the documented `targetfolderID` or, in the other variant, `folderID`; the form
/// the variant does not play is refused.
#[tokio::test]
async fn the_move_takes_the_variants_parameters() {
    for params in [sandbox::TdocMoveParams::Documented, sandbox::TdocMoveParams::FolderId] {
        let d = Docs::new(Variants { tdoc_move_params: params, ..Variants::default() }).await;
        let id = d.create("Move").await["ID"].as_str().unwrap().to_owned();
        let (_, folder) = d.send(d.req(Method::POST, "drive/v2/folders").form(&[("title", "F")])).await;
        let folder = folder["data"]["ID"].as_str().unwrap().to_owned();
        let mv = |key: &str| {
            d.req(Method::PATCH, &format!("drive/v2/files/{}/move", enc(&id)))
                .form(&[(key.to_string(), folder.clone())])
        };
        let (right, wrong) = match params {
            sandbox::TdocMoveParams::Documented => ("targetfolderID", "folderID"),
            sandbox::TdocMoveParams::FolderId => ("folderID", "targetfolderID"),
        };
        let (status, body) = d.send(mv(wrong)).await;
        assert_eq!((status, &body["ret"]), (StatusCode::BAD_REQUEST, &json!(400001)), "{params:?}");
        assert_eq!(d.sb.docs()[0].folder_id, None);
        let (status, _) = d.send(mv(right)).await;
        assert_eq!(status, StatusCode::OK, "{params:?}");
        assert_eq!(d.sb.docs()[0].folder_id.as_deref(), Some(folder.as_str()));
    }
}

/// Renaming a folder is unconfirmed: in the `refused` variant neither route renames it.
#[tokio::test]
async fn folder_rename_renames_or_is_refused() {
    for rename in [sandbox::TdocFolderRename::Renames, sandbox::TdocFolderRename::Refused] {
        let d = Docs::new(Variants { tdoc_folder_rename: rename, ..Variants::default() }).await;
        let (_, folder) = d.send(d.req(Method::POST, "drive/v2/folders").form(&[("title", "迭代 1120")])).await;
        let folder = folder["data"]["ID"].as_str().unwrap().to_owned();
        let by_folders =
            d.req(Method::PATCH, &format!("drive/v2/folders/{}", enc(&folder))).form(&[("title", "冲刺 7")]);
        let (status, body) = d.send(by_folders).await;
        let by_files = d.req(Method::PATCH, &format!("drive/v2/files/{}", enc(&folder))).form(&[("title", "冲刺 8")]);
        let (files_status, files_body) = d.send(by_files).await;
        match rename {
            sandbox::TdocFolderRename::Renames => {
                assert_eq!((status, files_status), (StatusCode::OK, StatusCode::OK), "{body} {files_body}");
                assert_eq!(d.sb.folders()[0].title, "冲刺 8");
            }
            sandbox::TdocFolderRename::Refused => {
                assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"ret": 404, "msg": "not found"})));
                assert_eq!((files_status, &files_body["ret"]), (StatusCode::NOT_FOUND, &json!(10102)));
                assert_eq!(d.sb.folders()[0].title, "迭代 1120", "the folder keeps its title");
            }
        }
    }
}
