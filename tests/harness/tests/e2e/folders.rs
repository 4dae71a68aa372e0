//! Docs where teams expect them, through the real binaries: a folder per workspace (and per
//! iteration), made again when a person deletes it; a workspace's template copied; the
//! permission set once; a workspace's own settings over the deployment's.

use harness::flows::{self, OPEN_ID, WORKSPACE};
use harness::stack::Stack;
use sandbox::{Fault, FaultKind, ItemKind};
use shared::config::{DocPermission, DocType, FolderLayout};
use shared::ids::{OpenId, WorkspaceId};
use shared::store::{PermissionSetting, WorkspaceSettings};

fn status_word(resp: &harness::apigw::Response) -> String {
    resp.json().and_then(|v| v["status"].as_str().map(String::from)).unwrap_or_default()
}

/// The sandbox's doc for item `id` (the one whose intro links to it).
fn doc_of(stack: &Stack, id: &str) -> sandbox::Doc {
    let docs: Vec<_> =
        stack.sandbox.docs().into_iter().filter(|d| d.content.contains(&format!("/view/{id}")) && !d.deleted).collect();
    assert_eq!(docs.len(), 1, "{id}: {docs:?}");
    docs[0].clone()
}

async fn link(stack: &Stack, webhook: &harness::Function, id: &str, name: &str) -> sandbox::Doc {
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, name);
    let resp = webhook.http(&flows::story_delivery(id, id)).await;
    assert_eq!((resp.status, status_word(&resp).as_str()), (200, "linked"), "{id}: {}", resp.body);
    doc_of(stack, id)
}

fn ws() -> WorkspaceId {
    WorkspaceId::parse(WORKSPACE).unwrap()
}

async fn set_settings(stack: &Stack, settings: &WorkspaceSettings) {
    stack.store().await.put_workspace_settings(&ws(), settings).await.unwrap();
}

fn count(stack: &Stack, method: &str, suffix: &str) -> usize {
    stack.sandbox.requests().iter().filter(|r| r.method == method && r.path.ends_with(suffix)).count()
}

/// Deletes a folder as a person would, through Tencent Docs' API with the account's token.
async fn delete_folder(stack: &Stack, folder_id: &str) {
    let (token, _) = stack.store().await.tdoc_token(&OpenId::parse(OPEN_ID).unwrap()).await.unwrap().unwrap();
    let id = url::form_urlencoded::byte_serialize(folder_id.as_bytes()).collect::<String>();
    let resp = sandbox::http_client()
        .build()
        .unwrap()
        .delete(format!("{}/openapi/drive/v2/folders/{id}", stack.sandbox.tdoc_base()))
        .header("Access-Token", token.access_token.expose())
        .header("Client-Id", &stack.sandbox.config().tdoc_client_id)
        .header("Open-Id", OPEN_ID)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn docs_land_in_one_remembered_folder_per_workspace_made_once() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let a = link(&stack, &webhook, "1120003271001000101", "First").await;
    // Another instance (a cold start) finds the remembered folder.
    let other = stack.spawn("tapd-webhook", &[]).await;
    let b = link(&stack, &other, "1120003271001000102", "Second").await;
    assert!(a.folder_id.is_some(), "{a:?}");
    assert_eq!(a.folder_id, b.folder_id);
    assert_eq!(count(&stack, "POST", "/drive/v2/folders"), 1);
    let remembered = stack.store().await.folder(&ws(), "ws").await.unwrap();
    assert_eq!(remembered, a.folder_id);
}

#[tokio::test]
async fn a_folder_a_person_deleted_is_made_again_and_the_item_still_linked() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let a = link(&stack, &webhook, "1120003271001000111", "Before").await;
    delete_folder(&stack, a.folder_id.as_deref().unwrap()).await;
    let b = link(&stack, &webhook, "1120003271001000112", "After").await;
    assert!(b.folder_id.is_some() && b.folder_id != a.folder_id, "{a:?} {b:?}");
    assert_eq!(count(&stack, "POST", "/drive/v2/folders"), 2);
    assert_eq!(stack.store().await.folder(&ws(), "ws").await.unwrap(), b.folder_id);
    // One doc for the item, in the new folder.
    assert_eq!(flows::docs_and_comments_of(&stack, "1120003271001000112"), (1, 1));
}

#[tokio::test]
async fn the_iteration_layout_gives_each_iteration_its_sub_folder() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("FOLDER_LAYOUT", "iteration")]).await;
    let mut folders = Vec::new();
    for (id, iteration) in [
        ("1120003271001000121", "1120003271001000001"),
        ("1120003271001000122", "1120003271001000002"),
        ("1120003271001000123", "1120003271001000001"),
        ("1120003271001000124", "0"),
    ] {
        stack.sandbox.add_item_with_fields(WORKSPACE, ItemKind::Story, id, "Iterated", &[("iteration_id", iteration)]);
        let resp = webhook.http(&flows::story_delivery(id, id)).await;
        assert_eq!(status_word(&resp), "linked", "{}", resp.body);
        folders.push(doc_of(&stack, id).folder_id.unwrap());
    }
    assert_ne!(folders[0], folders[1]);
    assert_eq!(folders[0], folders[2]);
    // No iteration: the workspace's folder.
    let ws_folder = stack.store().await.folder(&ws(), "ws").await.unwrap().unwrap();
    assert_eq!(folders[3], ws_folder);
    assert!(!folders[..3].contains(&ws_folder));
    // The workspace's folder and two iterations'.
    assert_eq!(count(&stack, "POST", "/drive/v2/folders"), 3);
}

#[tokio::test]
async fn a_workspace_template_is_copied_and_an_unreadable_one_gives_a_blank_doc() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let template = link(&stack, &webhook, "1120003271001000131", "Template").await;
    set_settings(
        &stack,
        &WorkspaceSettings {
            templates: [(shared::ids::ItemKind::Story, template.id.clone())].into(),
            ..Default::default()
        },
    )
    .await;
    // A fresh instance: the settings are read, not remembered from before.
    let webhook = stack.spawn("tapd-webhook", &[]).await;
    let copy = link(&stack, &webhook, "1120003271001000132", "From template").await;
    assert_eq!(count(&stack, "POST", "/copy"), 1);
    assert_eq!(copy.title, "From template");
    // The card goes first (the doc's start, as documented), the template's text after it.
    assert!(copy.content.ends_with(&template.content), "{copy:?}");
    assert!(copy.content.starts_with("TAPD 需求 #1120003271001000132："), "{copy:?}");
    assert_eq!(copy.folder_id, template.folder_id);

    set_settings(
        &stack,
        &WorkspaceSettings {
            templates: [(shared::ids::ItemKind::Story, "300000000$nosuchfile00".into())].into(),
            ..Default::default()
        },
    )
    .await;
    let webhook = stack.spawn("tapd-webhook", &[("LOG_FORMAT", "text")]).await;
    let blank = link(&stack, &webhook, "1120003271001000133", "No template").await;
    assert!(!blank.content.contains("/view/1120003271001000131"), "{blank:?}");
    assert_eq!(count(&stack, "POST", "/copy"), 2);
    assert!(webhook.logs().iter().any(|l| l.contains("template cannot be copied")), "{:?}", webhook.logs());
}

/// With one app account for every workspace (`TDOC_OWNER=app`), a template is copied only when
/// it is the workspace's own (in its folder); any other file gives a blank doc, and the
/// workspace's trail says why.
#[tokio::test]
async fn in_app_account_mode_only_the_workspace_s_own_template_is_copied() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected_as_app(&[]).await;
    let own = link(&stack, &webhook, "1120003271001000141", "Own template").await;
    let foreign = flows::app_file_outside(&stack, "Another team's doc").await;
    let with_template = |id: &str| WorkspaceSettings {
        templates: [(shared::ids::ItemKind::Story, id.to_owned())].into(),
        ..Default::default()
    };

    set_settings(&stack, &with_template(&foreign)).await;
    let webhook = stack.spawn("tapd-webhook", &[("TDOC_OWNER", "app")]).await;
    let blank = link(&stack, &webhook, "1120003271001000142", "Not from a foreign file").await;
    assert_eq!(count(&stack, "POST", "/copy"), 0, "the foreign file is never copied");
    assert_eq!(blank.folder_id, own.folder_id);
    let trail = stack.store().await.audit_trail(&ws(), 20).await.unwrap();
    let why = trail.iter().find(|e| e.what.contains(&foreign)).expect("the refusal is recorded");
    assert!(why.what.contains("not in the workspace's folder") && why.what.contains("1120003271001000142"), "{why:?}");

    set_settings(&stack, &with_template(&own.id)).await;
    let webhook = stack.spawn("tapd-webhook", &[("TDOC_OWNER", "app")]).await;
    let copy = link(&stack, &webhook, "1120003271001000143", "From its own").await;
    assert_eq!(count(&stack, "POST", "/copy"), 1);
    // The card first (the doc's start), the template's text after it.
    assert!(copy.content.ends_with(&own.content), "{copy:?}");
}

#[tokio::test]
async fn the_workspace_permission_is_set_once_under_a_failed_attempt_and_redelivery() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("DOC_PERMISSION", "private")]).await;
    set_settings(
        &stack,
        &WorkspaceSettings {
            doc_permission: Some(PermissionSetting::Policy(DocPermission::PublicRead)),
            ..Default::default()
        },
    )
    .await;
    let id = "1120003271001000141";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Shared");
    // The attempt dies after the intro and the permission: the comment keeps failing.
    stack.sandbox.inject(Fault {
        method: Some("POST".into()),
        times: 50,
        ..Fault::once("/tapd/api/comments", FaultKind::Status(500))
    });
    let first = webhook.http(&flows::story_delivery(id, "1")).await;
    assert_ne!(status_word(&first), "linked", "{}", first.body);
    stack.sandbox.clear_faults();
    for event in ["1", "2"] {
        let resp = webhook.http(&flows::story_delivery(id, event)).await;
        assert_eq!(status_word(&resp), "linked", "{}", resp.body);
    }
    assert_eq!(doc_of(&stack, id).policy.as_deref(), Some("publicRead"));
    assert_eq!(count(&stack, "PATCH", "/permission"), 1);
    assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1));
}

#[tokio::test]
async fn a_workspace_own_settings_override_the_deployment() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("DOC_PERMISSION", "members")]).await;
    let before = link(&stack, &webhook, "1120003271001000151", "Deployment").await;
    assert!(before.folder_id.is_some());
    assert_eq!((before.doc_type.as_str(), before.policy.as_deref()), ("doc", Some("members")));
    set_settings(
        &stack,
        &WorkspaceSettings {
            folder_layout: Some(FolderLayout::None),
            doc_permission: Some(PermissionSetting::TencentDefault),
            title_template: Some("[{id}] {name}".into()),
            doc_types: [(shared::ids::ItemKind::Story, DocType::Sheet)].into(),
            ..Default::default()
        },
    )
    .await;
    let webhook = stack.spawn("tapd-webhook", &[]).await;
    let id = "1120003271001000152";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Own");
    let resp = webhook.http(&flows::story_delivery(id, id)).await;
    assert_eq!(status_word(&resp), "linked", "{}", resp.body);
    // A sheet takes no intro: found by its title.
    let after = stack.sandbox.docs().into_iter().find(|d| d.title.contains(id)).expect("the sheet");
    assert_eq!(after.folder_id, None, "{after:?}");
    assert_eq!(after.doc_type, "sheet");
    assert_eq!(after.policy, None);
    assert_eq!(after.title, "[1120003271001000152] Own");
    // Existing docs stay where they are.
    assert_eq!(doc_of(&stack, "1120003271001000151").folder_id, before.folder_id);
    // A renamed item's doc keeps the workspace's title template.
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Renamed");
    let mut update = flows::create_event(WORKSPACE, "story", id, "u1");
    update["event"] = "story::update".into();
    update["change_fields"] = "name".into();
    let resp = webhook.http(&harness::apigw::Request::post_json(flows::WEBHOOK_PATH, &update)).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let renamed = stack.sandbox.docs().into_iter().find(|d| d.id == after.id).unwrap();
    assert_eq!(renamed.title, "[1120003271001000152] Renamed");
}

#[tokio::test]
async fn after_a_crash_once_the_intro_is_written_it_is_not_written_again_and_the_permission_holds() {
    harness::needs_local_stack!();
    use std::time::{Duration, Instant};
    let (stack, _) = flows::connected(&[]).await;
    set_settings(
        &stack,
        &WorkspaceSettings {
            doc_permission: Some(PermissionSetting::Policy(DocPermission::PublicWrite)),
            ..Default::default()
        },
    )
    .await;
    let id = "1120003271001000161";
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, "Crashed");
    // The comment hangs; the instance is killed once the intro and permission are written.
    stack.sandbox.inject(Fault {
        method: Some("POST".into()),
        ..Fault::once("/tapd/api/comments", FaultKind::Delay(Duration::from_secs(30)))
    });
    let deadline = Duration::from_millis(6_000);
    let mut victim = stack.spawn("tapd-webhook", &[]).await;
    let started = Instant::now();
    {
        let invocation = victim.invoke_with_deadline(flows::story_delivery(id, "1").to_event(), deadline);
        let written = async {
            loop {
                let stage = flows::link_record(&stack, id).await.map(|r| r.stage);
                if matches!(stage, Some(shared::store::Stage::DocCreated { .. })) && stack.sandbox.faults().is_empty() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            r = invocation => panic!("answered before the kill: {r:?}"),
            () = written => {}
        }
    }
    victim.kill().await;
    // The dead instance's claim lapses at its deadline; a new instance finishes.
    tokio::time::sleep(deadline.saturating_sub(started.elapsed()) + Duration::from_millis(100)).await;
    let next = stack.spawn("tapd-webhook", &[]).await;
    let resp = next.http(&flows::story_delivery(id, "2")).await;
    assert_eq!(status_word(&resp), "linked", "{}", resp.body);
    let doc = doc_of(&stack, id);
    assert_eq!(doc.policy.as_deref(), Some("publicWrite"));
    // The intro is read back, not written again; the permission (an idempotent write whose
    // success the dead instance never recorded) may be set again, to the same value.
    assert_eq!(doc.content.matches(&format!("/view/{id}")).count(), 1, "{:?}", doc.content);
    assert!(count(&stack, "PATCH", "/permission") <= 2);
    assert_eq!(flows::docs_and_comments_of(&stack, id), (1, 1));
}

#[tokio::test]
async fn two_instances_racing_remember_one_folder() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let store = stack.store().await;
    let w = ws();
    let (a, b) =
        tokio::join!(store.remember_folder(&w, "ws", "300000000$Fa"), store.remember_folder(&w, "ws", "300000000$Fb"));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(store.folder(&ws(), "ws").await.unwrap().as_deref(), Some(a.as_str()));
    // Forgetting is conditional on the id: a stale forget leaves the new folder alone.
    store.forget_folder(&ws(), "ws", "300000000$Fstale").await.unwrap();
    assert_eq!(store.folder(&ws(), "ws").await.unwrap().as_deref(), Some(a.as_str()));
    store.forget_folder(&ws(), "ws", &a).await.unwrap();
    assert_eq!(store.folder(&ws(), "ws").await.unwrap(), None);
    assert_eq!(store.remember_folder(&ws(), "ws", "300000000$Fc").await.unwrap(), "300000000$Fc");
}

/// TAPD's `iteration::update` delivery for a rename (`change_fields`, `old_name`: never the new name).
fn iteration_update(id: &str, old_name: &str) -> harness::apigw::Request {
    let event = serde_json::json!({
        "event": "iteration::update", "event_from": "web", "referer": "https://www.tapd.cn/",
        "workspace_id": WORKSPACE, "current_user": "lin", "id": id, "change_fields": "name,modified",
        "old_name": old_name, "secret": harness::stack::WEBHOOK_SECRET, "app_id": "3906", "rio_token": "",
        "queue_id": "130663", "event_id": format!("it-{old_name}"), "created": "2026-12-07 10:00:00"
    });
    harness::apigw::Request::post_json(flows::WEBHOOK_PATH, &event)
}

fn folder_title(stack: &Stack, id: &str) -> String {
    stack.sandbox.folders().into_iter().find(|f| f.id == id).map(|f| f.title).unwrap_or_default()
}

async fn link_in_iteration(stack: &Stack, webhook: &harness::Function, id: &str, iteration: &str) -> sandbox::Doc {
    stack.sandbox.add_item_with_fields(WORKSPACE, ItemKind::Story, id, "Iterated", &[("iteration_id", iteration)]);
    let resp = webhook.http(&flows::story_delivery(id, id)).await;
    assert_eq!(status_word(&resp), "linked", "{}", resp.body);
    doc_of(stack, id)
}

#[tokio::test]
async fn iteration_folders_are_titled_by_name_and_follow_its_renames() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("FOLDER_LAYOUT", "iteration")]).await;
    let it = "1120003271001000011";
    stack.sandbox.add_iteration(WORKSPACE, Some(it), "Sprint 11");
    let first = link_in_iteration(&stack, &webhook, "1120003271001000401", it).await;
    let folder = first.folder_id.clone().unwrap();
    assert_eq!(folder_title(&stack, &folder), "Sprint 11");
    // Made with its final title: never renamed to get it.
    let folder_patches = || {
        stack.sandbox.requests().iter().filter(|r| r.method == "PATCH" && r.path.contains("/drive/v2/folders/")).count()
    };
    assert_eq!(folder_patches(), 0);

    // Renamed in TAPD; the rename's reply is lost once.
    stack.sandbox.rename_iteration_quietly(WORKSPACE, it, "Sprint 11 延长");
    stack.sandbox.inject(Fault {
        method: Some("PATCH".into()),
        path_prefix: "/tdoc/openapi/drive/v2/folders/".into(),
        kind: FaultKind::DropReply,
        times: 1,
    });
    let resp = webhook.http(&iteration_update(it, "Sprint 11")).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(folder_title(&stack, &folder), "Sprint 11 延长");
    // The next item of the iteration goes into the same folder; nothing else was made.
    let second = link_in_iteration(&stack, &webhook, "1120003271001000402", it).await;
    assert_eq!(second.folder_id.as_deref(), Some(folder.as_str()));
    assert_eq!(doc_of(&stack, "1120003271001000401").folder_id.as_deref(), Some(folder.as_str()));
    assert_eq!(count(&stack, "POST", "/drive/v2/folders"), 2, "the workspace's and the iteration's");
    assert!(stack.store().await.folders_kept(&ws()).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_id_titled_folder_is_renamed_and_a_refused_rename_keeps_it_and_the_console_says_so() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[("FOLDER_LAYOUT", "iteration")]).await;
    let it = "1120003271001000012";
    // TAPD does not name the iteration yet (as before folders were titled by name): its id.
    let first = link_in_iteration(&stack, &webhook, "1120003271001000411", it).await;
    let folder = first.folder_id.clone().unwrap();
    assert_eq!(folder_title(&stack, &folder), format!("迭代 {it}"));
    // Named now: the next doc that goes into it (a fresh instance) renames the folder.
    stack.sandbox.add_iteration(WORKSPACE, Some(it), "Sprint 12");
    let webhook = stack.spawn("tapd-webhook", &[("FOLDER_LAYOUT", "iteration")]).await;
    let second = link_in_iteration(&stack, &webhook, "1120003271001000412", it).await;
    assert_eq!(second.folder_id.as_deref(), Some(folder.as_str()), "{:?}", stack.sandbox.folders());
    assert_eq!(folder_title(&stack, &folder), "Sprint 12");

    // Where Tencent Docs refuses to rename a folder: it keeps its title, the docs stay.
    let mut variants = stack.sandbox.variants();
    variants.tdoc_folder_rename = sandbox::TdocFolderRename::Refused;
    stack.sandbox.set_variants(variants);
    stack.sandbox.rename_iteration_quietly(WORKSPACE, it, "Sprint 12 延长");
    let resp = webhook.http(&iteration_update(it, "Sprint 12")).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(folder_title(&stack, &folder), "Sprint 12");
    let third = link_in_iteration(&stack, &webhook, "1120003271001000413", it).await;
    assert_eq!(third.folder_id.as_deref(), Some(folder.as_str()), "no new folder for the new name");
    for id in ["1120003271001000411", "1120003271001000412"] {
        assert_eq!(doc_of(&stack, id).folder_id.as_deref(), Some(folder.as_str()));
    }
    assert_eq!(count(&stack, "POST", "/drive/v2/folders"), 2);
    // Asked once for that title, not again with every doc.
    let renames = || {
        stack.sandbox.requests().iter().filter(|r| r.method == "PATCH" && r.path.contains("/drive/v2/folders/")).count()
    };
    let asked = renames();
    link_in_iteration(&stack, &webhook, "1120003271001000414", it).await;
    assert_eq!(renames(), asked);

    // The console says so.
    let oauth = stack.oauth().await;
    let cookie = crate::console::sign_in(&stack, &oauth, WORKSPACE, None).await;
    let page = crate::console::get(&oauth, &format!("/console/ws/{WORKSPACE}"), &cookie).await;
    assert!(page.body.contains(&format!("id=\"folder-kept-{it}\"")), "{}", page.body);
    assert!(page.body.contains("未能改名为“Sprint 12 延长”"), "{}", page.body);

    // Renamed after all (the variant gone, the iteration renamed again): the notice goes.
    stack
        .sandbox
        .set_variants(sandbox::Variants { tdoc_folder_rename: sandbox::TdocFolderRename::Renames, ..variants });
    stack.sandbox.rename_iteration_quietly(WORKSPACE, it, "Sprint 12 终");
    assert_eq!(webhook.http(&iteration_update(it, "Sprint 12 延长")).await.status, 200);
    assert_eq!(folder_title(&stack, &folder), "Sprint 12 终");
    let page = crate::console::get(&oauth, &format!("/console/ws/{WORKSPACE}"), &cookie).await;
    assert!(!page.body.contains("folder-kept-"), "{}", page.body);
}
