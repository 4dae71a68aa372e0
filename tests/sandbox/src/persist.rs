//! Saving and restoring a sandbox's lasting state, so a local run (`make run`) keeps its
//! workspaces, items, issued tokens, docs and comments across restarts.
//!
//! Kept: workspaces, items, workflows, iterations, Tencent Docs users, access and refresh tokens (with their
//! expiry as wall-clock time), docs, folders, comments, item updates, issue counters.
//! Not kept: authorization codes (single use, minutes long), the request log, faults, and
//! the app account's open id (random per sandbox). Everything here is fake sandbox data;
//! callers should still keep the file private (tokens are bearer credentials to the sandbox).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Sandbox;
use crate::model::{Comment, Doc, IssuedTokens, Item, ItemUpdate, Iteration, Workflow, WorkflowSystem};
use crate::state::{Folder, TapdRefresh, TapdToken, TdocRefresh, TdocToken};

const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    workspaces: BTreeMap<String, String>,
    items: Vec<Item>,
    tdoc_users: BTreeMap<String, String>,
    tapd_tokens: HashMap<String, TapdToken>,
    tapd_refresh: HashMap<String, TapdRefresh>,
    tdoc_tokens: HashMap<String, TdocToken>,
    tdoc_refresh: HashMap<String, TdocRefresh>,
    docs: Vec<Doc>,
    folders: Vec<Folder>,
    comments: Vec<Comment>,
    updates: Vec<ItemUpdate>,
    issued: IssuedTokens,
    /// Workflows set per workspace (older saves have none: the defaults).
    #[serde(default)]
    workflows: Vec<(String, WorkflowSystem, Workflow)>,
    #[serde(default)]
    iterations: Vec<Iteration>,
}

impl Sandbox {
    /// The lasting state as JSON (see the module docs for what is kept).
    pub fn export_state(&self) -> Value {
        let st = self.lock();
        let snapshot = Snapshot {
            version: VERSION,
            workspaces: st.workspaces.clone(),
            items: st.items.values().cloned().collect(),
            tdoc_users: st.tdoc_users.clone(),
            tapd_tokens: st.tapd_tokens.clone(),
            tapd_refresh: st.tapd_refresh.clone(),
            tdoc_tokens: st.tdoc_tokens.clone(),
            tdoc_refresh: st.tdoc_refresh.clone(),
            docs: st.docs.clone(),
            folders: st.folders.clone(),
            comments: st.comments.clone(),
            updates: st.updates.clone(),
            issued: st.issued.clone(),
            workflows: st.workflows.iter().map(|((ws, sys), w)| (ws.clone(), *sys, w.clone())).collect(),
            iterations: st.iterations.clone(),
        };
        drop(st);
        serde_json::to_value(snapshot).expect("the sandbox state serializes")
    }

    /// Replaces the lasting state with one from [`Sandbox::export_state`]; codes, the
    /// request log and faults are left as they are. On error nothing changes.
    pub fn import_state(&self, state: &Value) -> Result<(), String> {
        let s = Snapshot::deserialize(state).map_err(|e| format!("sandbox state: {e}"))?;
        if s.version != VERSION {
            return Err(format!("sandbox state: version {} (expected {VERSION})", s.version));
        }
        let mut st = self.lock();
        st.workspaces = s.workspaces;
        st.items = s.items.into_iter().map(|i| ((i.workspace_id.clone(), i.kind, i.id.clone()), i)).collect();
        st.tdoc_users = s.tdoc_users;
        st.tapd_tokens = s.tapd_tokens;
        st.tapd_refresh = s.tapd_refresh;
        st.tdoc_tokens = s.tdoc_tokens;
        st.tdoc_refresh = s.tdoc_refresh;
        st.docs = s.docs;
        st.folders = s.folders;
        st.comments = s.comments;
        st.updates = s.updates;
        st.issued = s.issued;
        st.workflows = s.workflows.into_iter().map(|(ws, sys, w)| ((ws, sys), w)).collect();
        st.iterations = s.iterations;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ItemKind;
    use crate::state::{Expiry, TapdGrant};
    use crate::{Sandbox, SandboxConfig};

    #[tokio::test]
    async fn state_survives_export_and_import() {
        let a = Sandbox::start(SandboxConfig::new(vec![])).await;
        a.add_workspace("20000001", "W");
        a.add_item("20000001", ItemKind::Bug, "1120000001000000002", "Bug");
        a.add_tdoc_user("u1", "User");
        {
            let mut st = a.lock();
            st.tapd_tokens.insert(
                "live".into(),
                TapdToken {
                    grant: TapdGrant::Workspace("20000001".into()),
                    expiry: Expiry::in_secs(3600),
                    user_id: None,
                },
            );
            let mut dead = Expiry::in_secs(3600);
            dead.force();
            st.tapd_tokens.insert("dead".into(), TapdToken { grant: TapdGrant::App, expiry: dead, user_id: None });
            st.tdoc_tokens.insert("old".into(), TdocToken { open_id: "u1".into(), expiry: Expiry::in_secs(0) });
            st.issued.tapd_user = 3;
        }
        let saved = serde_json::to_string(&a.export_state()).unwrap();
        a.shutdown();

        let b = Sandbox::start(SandboxConfig::new(vec![])).await;
        b.import_state(&serde_json::from_str(&saved).unwrap()).unwrap();
        assert_eq!(b.items(), a.items());
        assert!(b.item("20000001", ItemKind::Bug, "1120000001000000002").is_some());
        assert_eq!(b.issued_tokens().tapd_user, 3);
        let st = b.lock();
        assert_eq!(st.workspaces.get("20000001").map(String::as_str), Some("W"));
        assert_eq!(st.tdoc_users.len(), 1);
        assert!(st.tapd_tokens["live"].expiry.live());
        assert_eq!(st.tapd_tokens["live"].grant, TapdGrant::Workspace("20000001".into()));
        assert!(!st.tapd_tokens["dead"].expiry.live());
        assert!(!st.tdoc_tokens["old"].expiry.live());
        drop(st);

        assert!(b.import_state(&serde_json::json!({"version": 99})).is_err());
        assert_eq!(b.items().len(), 1, "a bad import changes nothing");
        b.shutdown();
    }
}
