//! Every Tencent Docs shape public sources disagree on (`upstream-apis.md`, "Where public
//! sources disagree"), through the real binaries: for each set of variants the sandbox plays,
//! the connect flow (token exchange), linked stories in the workspace's folder (folder and file
//! ids, the batchUpdate route), a lost intro reply (the doc read), a refresh (token reply), and
//! a lost create in the root folder (its listing route). Each value of each variant is played
//! by at least one set; the route that answered is remembered (one miss per process).

use harness::flows::{self, OPEN_ID, WORKSPACE, docs_and_comments_of, story_delivery};
use harness::stack::Stack;
use sandbox::{
    Fault, FaultKind, ItemKind, ReplyWrapping, TdocBatchUpdateRoute, TdocFileIdKey, TdocRootFolder, Variants,
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
            // Found once by each instance that lists the root: the first (the workspace's
            // folder is looked for there before it is made) and `root`.
            TdocRootFolder::TrailingSlash => assert_eq!(answered(&stack, 301, "/folders/%2F"), 2, "{variants:?}"),
            TdocRootFolder::NoId => {
                assert_eq!(answered(&stack, 301, "/folders/%2F"), 2, "{variants:?}");
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
