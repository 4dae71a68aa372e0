//! Every Tencent Docs shape public sources disagree on (`upstream-apis.md`, "Where public
//! sources disagree"), through the real binaries: for each set of variants the sandbox plays,
//! the connect flow (token exchange), linked stories in the workspace's folder (folder and file
//! ids, the batchUpdate route), a lost intro reply (the doc read), a refresh (token reply), and
//! a lost create in the root folder (its listing route). Each value of each variant is played
//! by at least one set; the route that answered is remembered (one miss per process). The living
//! doc's (#34): the card rewritten by the read's offsets whichever unit they count, and the
//! close-out's move in either form of its body.

use harness::apigw::Request;
use harness::flows::{self, OPEN_ID, WORKSPACE, docs_and_comments_of, story_delivery};
use harness::stack::Stack;
use harness::stack::WEBHOOK_SECRET;
use sandbox::{
    DocEdit, Fault, FaultKind, ItemKind, ReplyWrapping, TdocBatchUpdateRoute, TdocFileIdKey, TdocMoveParams,
    TdocOffsetUnit, TdocRootFolder, Variants,
};

fn sets() -> [Variants; 3] {
    let base = Variants::default();
    [
        base,
        Variants {
            tdoc_batch_update_route: TdocBatchUpdateRoute::Slash,
            tdoc_doc_read: ReplyWrapping::Wrapped,
            tdoc_token_reply: ReplyWrapping::Wrapped,
            tdoc_file_id_key: TdocFileIdKey::Lower,
            tdoc_root_folder: TdocRootFolder::TrailingSlash,
            ..base
        },
        Variants {
            tdoc_batch_update_route: TdocBatchUpdateRoute::Slash,
            tdoc_token_reply: ReplyWrapping::Wrapped,
            tdoc_root_folder: TdocRootFolder::NoId,
            ..base
        },
    ]
}

/// Requests the sandbox answered with `status` whose path ends with `suffix`.
fn answered(stack: &Stack, status: u16, suffix: &str) -> usize {
    stack.sandbox.requests().iter().filter(|r| r.status == status && r.path.ends_with(suffix)).count()
}

async fn link(stack: &Stack, webhook: &harness::Function, id: &str, name: &str) {
    stack.sandbox.add_item(WORKSPACE, ItemKind::Story, id, name);
    let resp = webhook.http(&story_delivery(id, id)).await;
    assert_eq!(resp.status, 200, "{id}: {}", resp.body);
    assert_eq!(docs_and_comments_of(stack, id), (1, 1), "{id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_disputed_shape_connects_links_and_finds_again() {
    harness::needs_local_stack!();
    for (n, variants) in sets().into_iter().enumerate() {
        let stack = Stack::new().await;
        stack.sandbox.set_variants(variants);
        let oauth = stack.oauth().await;
        let page = stack.connect(&oauth, WORKSPACE, OPEN_ID).await;
        assert_eq!(page.status, 200, "{variants:?}: connect: {}", page.body);

        // Linked in the workspace's folder (made: a folder id), the intro written.
        let webhook = stack.spawn("tapd-webhook", &[("FOLDER_LAYOUT", "workspace")]).await;
        let base = 1120003271009000100 + n as u64 * 10;
        link(&stack, &webhook, &(base + 1).to_string(), "Variants one").await;
        // The intro's reply lost: the doc is read before writing again, and written once.
        stack.sandbox.inject(Fault {
            method: Some("POST".into()),
            path_prefix: "/tdoc/openapi/doc/v3/".into(),
            kind: FaultKind::DropReply,
            times: 1,
        });
        link(&stack, &webhook, &(base + 2).to_string(), "Variants two").await;
        let second = stack.sandbox.docs()[1].id.replace('$', "%24");
        assert!(answered(&stack, 200, &format!("/doc/v3/{second}")) >= 1, "{variants:?}: the doc was read");
        // Every token dead: refreshed (the token reply's shape), then linked.
        stack.sandbox.expire_access_tokens();
        link(&stack, &webhook, &(base + 3).to_string(), "Variants three").await;
        assert!(stack.sandbox.issued_tokens().tdoc_refresh >= 1);
        let folders: Vec<_> = stack.sandbox.docs().iter().map(|d| d.folder_id.clone()).collect();
        assert!(folders.iter().all(|f| f.is_some() && *f == folders[0]), "{variants:?}: one folder: {folders:?}");
        // One miss of the batchUpdate route for this process, then the remembered one.
        let (colon_misses, slash_misses) =
            (answered(&stack, 404, ":batchUpdate"), answered(&stack, 404, "/batchUpdate"));
        match variants.tdoc_batch_update_route {
            TdocBatchUpdateRoute::Colon => assert_eq!((colon_misses, slash_misses), (0, 0), "{variants:?}"),
            TdocBatchUpdateRoute::Slash => assert_eq!((colon_misses, slash_misses), (1, 0), "{variants:?}"),
        }

        // In the root: a lost create is looked for in the root's listing, by whichever route answers.
        let root = stack.spawn("tapd-webhook", &[("FOLDER_LAYOUT", "none")]).await;
        stack.sandbox.inject(Fault {
            method: Some("POST".into()),
            path_prefix: "/tdoc/openapi/drive/v2/files$".into(),
            kind: FaultKind::DropReply,
            times: 1,
        });
        link(&stack, &root, &(base + 4).to_string(), "Variants root").await;
        let in_root = stack.sandbox.docs().into_iter().filter(|d| d.folder_id.is_none()).count();
        assert_eq!(in_root, 1, "{variants:?}");
        let listed = |suffix: &str| answered(&stack, 200, suffix);
        match variants.tdoc_root_folder {
            TdocRootFolder::Plain => assert!(listed("/folders/%2F") >= 1, "{variants:?}"),
            // Found once by the instance that lists the root, `root` (the first made the
            // workspace's folder under its first lease: no listing).
            TdocRootFolder::TrailingSlash => assert_eq!(answered(&stack, 301, "/folders/%2F"), 1, "{variants:?}"),
            TdocRootFolder::NoId => {
                assert_eq!(answered(&stack, 301, "/folders/%2F"), 1, "{variants:?}");
                assert!(listed("/drive/v2/folders") >= 1, "{variants:?}");
            }
        }
        flows::assert_no_panic(&webhook);
        flows::assert_no_panic(&root);
    }
}

/// The app account (`app-account-token`, its reply wrapped) with the SDK's shapes: linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_account_with_the_sdk_s_shapes_links() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected_as_app(&[]).await;
    stack.sandbox.set_variants(sets()[1]);
    link(&stack, &webhook, "1120003271009000201", "App variants").await;
    assert!(stack.sandbox.issued_tokens().tdoc_app >= 1);
    assert!(stack.sandbox.docs().iter().all(|d| d.owner_open_id == stack.sandbox.tdoc_app_open_id()));
    assert_eq!(answered(&stack, 404, ":batchUpdate"), 1, "one miss, then the slash route");
}

/// The living doc under each offset unit and each move form: a story named with an emoji (two
/// UTF-16 units, one character) is linked, a person writes around its card (emoji too), then it
/// goes to 开发中 with another owner (the card rewritten in place by the read's offsets, the
/// person's text byte for byte), to 已实现 (the doc moves into 已完成) and back (it moves home).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_and_the_close_out_under_either_offset_unit_and_move_form() {
    harness::needs_local_stack!();
    let sets = [(TdocOffsetUnit::Utf16, TdocMoveParams::Documented), (TdocOffsetUnit::Chars, TdocMoveParams::FolderId)];
    for (n, (unit, params)) in sets.into_iter().enumerate() {
        let (stack, webhook) = flows::connected(&[("FOLDER_LAYOUT", "workspace"), ("CARD_WINDOW", "1s")]).await;
        stack.sandbox.set_variants(Variants {
            tdoc_offset_unit: unit,
            tdoc_move_params: params,
            ..Variants::default()
        });
        let what = format!("{unit:?}, {params:?}");
        let id = (1120003271009000301 + n as u64).to_string();
        stack.sandbox.add_item_with_fields(
            WORKSPACE,
            ItemKind::Story,
            &id,
            "发布 🚀 版本",
            &[("status", "planning"), ("owner", "alice;")],
        );
        let resp = webhook.http(&story_delivery(&id, &id)).await;
        assert_eq!(resp.status, 200, "{what}: {}", resp.body);
        let doc = stack.sandbox.docs().into_iter().find(|d| d.content.contains(&format!("/view/{id}"))).unwrap();
        let home = doc.folder_id.clone().expect("made in the workspace's folder");

        // A person writes right under the card and at the end, emoji included.
        let mine = ["我写的 😀 第一段", "结尾 🎉 别动"];
        let at_end = stack.sandbox.doc_text(&doc.id).unwrap().paragraphs.len();
        stack
            .sandbox
            .edit_doc(
                &doc.id,
                &[
                    DocEdit::InsertParagraph { paragraph: at_end, text: mine[1].into() },
                    DocEdit::InsertParagraph { paragraph: 1, text: mine[0].into() },
                ],
            )
            .unwrap();
        let before = stack.sandbox.doc_text(&doc.id).unwrap().paragraphs;

        change(&stack, &webhook, &id, &[("status", "developing"), ("owner", "bob;")]).await;
        let after = stack.sandbox.doc_text(&doc.id).unwrap().paragraphs;
        let card = &after[0].text;
        assert!(
            card.starts_with(&format!("TAPD 需求 #{id}：发布 🚀 版本｜状态：开发中｜处理人：bob｜")),
            "{what}: {card}"
        );
        let rest = |p: &[sandbox::Paragraph]| p[1..].iter().map(|p| p.text.clone()).collect::<Vec<_>>();
        assert_eq!(rest(&after), rest(&before), "{what}: only the card changed");
        assert_eq!(after.iter().filter(|p| p.text.starts_with("TAPD 需求 #")).count(), 1, "{what}: one card");

        // 已实现 ends the default workflow: into 已完成 of its folder; reopened: home again.
        change(&stack, &webhook, &id, &[("status", "resolved")]).await;
        let done: Vec<_> = stack
            .sandbox
            .folders()
            .into_iter()
            .filter(|f| f.parent_id.as_deref() == Some(home.as_str()) && f.title == "已完成")
            .collect();
        assert_eq!(done.len(), 1, "{what}: {:?}", stack.sandbox.folders());
        assert_eq!(folder_of(&stack, &doc.id), Some(done[0].id.clone()), "{what}: in 已完成");
        let card = stack.sandbox.doc_text(&doc.id).unwrap().paragraphs[0].text.clone();
        assert!(card.contains("｜状态：已实现｜"), "{what}: {card}");
        change(&stack, &webhook, &id, &[("status", "developing")]).await;
        assert_eq!(folder_of(&stack, &doc.id), Some(home.clone()), "{what}: back home");
        assert_eq!(answered(&stack, 400, "/move"), 0, "{what}: every move taken at once");
        assert_eq!(rest(&stack.sandbox.doc_text(&doc.id).unwrap().paragraphs), rest(&before), "{what}");
        flows::assert_no_panic(&webhook);
    }
}

fn folder_of(stack: &Stack, file_id: &str) -> Option<String> {
    stack.sandbox.docs().into_iter().find(|d| d.id == file_id).and_then(|d| d.folder_id)
}

/// A person changes story `id` in TAPD; TAPD's deliveries for it, each answered 200.
async fn change(stack: &Stack, webhook: &harness::Function, id: &str, fields: &[(&str, &str)]) {
    let ch = stack.sandbox.change_item(WORKSPACE, ItemKind::Story, id, fields, "bob", false).await.unwrap();
    assert!(!ch.events.is_empty(), "{id}: {fields:?} changed nothing");
    for mut e in ch.events {
        e["secret"] = serde_json::json!(WEBHOOK_SECRET);
        let resp = webhook.http(&Request::post_json("/webhooks/tapd", &e)).await;
        assert_eq!(resp.status, 200, "{}: {}", e["event"], resp.body);
    }
}
