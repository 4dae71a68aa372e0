//! What the card shows by name, cached per workspace across warm invocations: the names of a
//! workflow's status keys and its end statuses (`/workflows/status_map`, `/workflows/last_steps`),
//! and iterations' names (`/iterations`). Each map is capped ([`crate::bounded`]) and each entry
//! trusted for [`NAMES_TTL`]; a status key the cached map does not know (a status added since)
//! reads the workflow again (at most every [`UNKNOWN_RECHECK`]), and an `iteration::update` or
//! `::delete` forgets the iteration at once. Cold, the workflow's two calls go side by side.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::Linker;
use crate::deadline::Deadline;
use crate::error::LinkError;
use crate::ids::{ItemKind, IterationId, WorkspaceId};
use crate::tapd::{StatusNames, WorkflowCall};

/// How long names are trusted from memory: a renamed status shows within this.
pub const NAMES_TTL: Duration = Duration::from_secs(600);
/// A key the cached map lacks reads the map again, but not more often than this.
pub const UNKNOWN_RECHECK: Duration = Duration::from_secs(30);

/// A workflow as the card needs it: status names, and which statuses end it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workflow {
    pub names: StatusNames,
    pub ends: StatusNames,
}

/// An item's status as the workspace names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusName {
    /// The key TAPD stores (`planning`, `status_3`).
    pub key: String,
    /// The workspace's name for it; the key itself when the workflow does not name it.
    pub name: String,
    /// The status ends the item's workflow (`/workflows/last_steps`).
    pub is_end: bool,
}

type WorkflowKey = (WorkspaceId, ItemKind, String);
/// An iteration's name as last read (`None`: TAPD has no such iteration), and when.
type IterationEntry = (Option<String>, Instant);

#[derive(Default)]
pub struct Names {
    workflows: Mutex<HashMap<WorkflowKey, (Workflow, Instant)>>,
    /// `None`: TAPD has no such iteration (deleted).
    iterations: Mutex<HashMap<(WorkspaceId, IterationId), IterationEntry>>,
}

impl Names {
    /// Forgets an iteration's name (it was renamed or deleted): the next card reads it again.
    pub async fn forget_iteration(&self, ws: &WorkspaceId, id: &IterationId) {
        self.iterations.lock().await.remove(&(ws.clone(), id.clone()));
    }

    /// Forgets every workflow of a workspace (its statuses were changed).
    pub async fn forget_workflows(&self, ws: &WorkspaceId) {
        self.workflows.lock().await.retain(|(w, _, _), _| w != ws);
    }

    async fn cached_workflow(&self, key: &WorkflowKey, status: &str) -> Option<Workflow> {
        let map = self.workflows.lock().await;
        let (wf, at) = map.get(key)?;
        let age = at.elapsed();
        let knows = status.is_empty() || wf.names.contains_key(status);
        (age < NAMES_TTL && (knows || age < UNKNOWN_RECHECK)).then(|| wf.clone())
    }

    async fn cached_iteration(&self, ws: &WorkspaceId, id: &IterationId) -> Option<Option<String>> {
        let map = self.iterations.lock().await;
        map.get(&(ws.clone(), id.clone())).filter(|(_, at)| at.elapsed() < NAMES_TTL).map(|(n, _)| n.clone())
    }
}

impl Linker {
    /// The workflow of `kind` items of type `type_id` in `ws`: from memory, else both calls
    /// side by side.
    pub async fn workflow(
        &self,
        ws: &WorkspaceId,
        kind: ItemKind,
        type_id: &str,
        status: &str,
        deadline: Deadline,
    ) -> Result<Workflow, LinkError> {
        let key = (ws.clone(), kind, type_id.to_owned());
        if let Some(wf) = self.names.cached_workflow(&key, status).await {
            return Ok(wf);
        }
        let read = |call| {
            self.tokens.call_tapd(&self.clients, deadline, move |tok| async move {
                self.clients.tapd.workflow(&tok, ws, call, kind, type_id).await
            })
        };
        let (names, ends) = tokio::join!(read(WorkflowCall::StatusMap), read(WorkflowCall::LastSteps));
        let wf = Workflow { names: names?, ends: ends? };
        crate::bounded::insert(&mut *self.names.workflows.lock().await, key, (wf.clone(), Instant::now()));
        Ok(wf)
    }

    /// An item's status by the workspace's name, and whether it ends the workflow.
    pub async fn status_name(
        &self,
        ws: &WorkspaceId,
        kind: ItemKind,
        type_id: &str,
        status: &str,
        deadline: Deadline,
    ) -> Result<StatusName, LinkError> {
        let wf = self.workflow(ws, kind, type_id, status, deadline).await?;
        Ok(StatusName {
            key: status.to_owned(),
            name: wf.names.get(status).cloned().unwrap_or_else(|| status.to_owned()),
            is_end: wf.ends.contains_key(status),
        })
    }

    /// Whether `status` ends the workflow of `kind` items of type `type_id`.
    pub async fn is_end_status(
        &self,
        ws: &WorkspaceId,
        kind: ItemKind,
        type_id: &str,
        status: &str,
        deadline: Deadline,
    ) -> Result<bool, LinkError> {
        Ok(self.status_name(ws, kind, type_id, status, deadline).await?.is_end)
    }

    /// An iteration's name; `None` when TAPD has no such iteration.
    pub async fn iteration_name(
        &self,
        ws: &WorkspaceId,
        id: &IterationId,
        deadline: Deadline,
    ) -> Result<Option<String>, LinkError> {
        if let Some(name) = self.names.cached_iteration(ws, id).await {
            return Ok(name);
        }
        let found = self
            .tokens
            .call_tapd(&self.clients, deadline, |tok| async move { self.clients.tapd.iteration(&tok, ws, id).await })
            .await?;
        let name = found.map(|i| i.name);
        crate::bounded::insert(
            &mut *self.names.iterations.lock().await,
            (ws.clone(), id.clone()),
            (name.clone(), Instant::now()),
        );
        Ok(name)
    }

    /// The cached names this instance holds, for tests and benchmarks: (workflows, iterations).
    pub async fn names_held(&self) -> (usize, usize) {
        (self.names.workflows.lock().await.len(), self.names.iterations.lock().await.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> WorkspaceId {
        WorkspaceId::parse("20375001").unwrap()
    }

    #[tokio::test]
    async fn a_known_key_is_served_from_memory_and_an_unknown_one_reads_again_after_a_while() {
        let names = Names::default();
        let key = (ws(), ItemKind::Story, String::new());
        let wf = Workflow { names: [("planning".to_owned(), "规划中".to_owned())].into(), ends: StatusNames::new() };
        names.workflows.lock().await.insert(key.clone(), (wf.clone(), Instant::now()));
        assert_eq!(names.cached_workflow(&key, "planning").await, Some(wf.clone()));
        // Unknown but read a moment ago: not read again at once.
        assert_eq!(names.cached_workflow(&key, "status_12").await, Some(wf.clone()));
        let old = Instant::now() - UNKNOWN_RECHECK - Duration::from_secs(1);
        names.workflows.lock().await.insert(key.clone(), (wf.clone(), old));
        assert_eq!(names.cached_workflow(&key, "planning").await, Some(wf.clone()));
        assert_eq!(names.cached_workflow(&key, "status_12").await, None, "a new status reads the map again");
        let stale = Instant::now() - NAMES_TTL - Duration::from_secs(1);
        names.workflows.lock().await.insert(key.clone(), (wf, stale));
        assert_eq!(names.cached_workflow(&key, "planning").await, None);
        names.forget_workflows(&ws()).await;
        assert!(names.workflows.lock().await.is_empty());
    }

    #[tokio::test]
    async fn an_iteration_is_forgotten_when_it_changes() {
        let names = Names::default();
        let id = IterationId::parse("1120375001001000031").unwrap();
        names.iterations.lock().await.insert((ws(), id.clone()), (Some("冲刺 3".into()), Instant::now()));
        assert_eq!(names.cached_iteration(&ws(), &id).await, Some(Some("冲刺 3".into())));
        names.forget_iteration(&ws(), &id).await;
        assert_eq!(names.cached_iteration(&ws(), &id).await, None);
    }
}
