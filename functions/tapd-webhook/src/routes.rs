//! Event → handler routing: the schedule, or an HTTP delivery. Answers carry status words
//! only (no doc URLs, no error details): whoever can reach the endpoint learns nothing from
//! it; the log keeps the details.

use serde_json::{Value, json};
use shared::deadline::Deadline;
use shared::delivery::{Action, BodyError, MAX_BODY, TapdEvent, credentials, parse_body};
use shared::gateway::{BadRequest, HttpRequest, HttpResponse};
use shared::ids::WorkspaceId;
use shared::link::{LinkError, Linker, Outcome, RunSummary, metrics};
use shared::store::ItemKey;
use shared::time::now_millis;

pub const PATH: &str = "/webhooks/tapd";

pub async fn dispatch(linker: &Linker, payload: Value, deadline_ms: u64) -> Result<Value, lambda_runtime::Error> {
    let deadline = Deadline::at(deadline_ms);
    if payload.get("source").and_then(Value::as_str) == Some("aws.events") {
        let summary = linker.scheduled(deadline).await?;
        tracing::info!(?summary, "scheduled run finished");
        // Counting what is left reads the pending index: only with time to spare, so the
        // run answers before its deadline however long the backlog.
        if deadline.has_reserves(3) {
            emit_metrics(linker, &summary).await;
        }
        return Ok(serde_json::to_value(summary)?);
    }
    let resp = handle(linker, payload, deadline).await;
    Ok(serde_json::to_value(resp.into_event())?)
}

/// What is still pending after the run, as an EMF line (see `shared::link::metrics`): the
/// items of paused workspaces left out (they wait on purpose; the pending-age alarm is not for them).
async fn emit_metrics(linker: &Linker, summary: &RunSummary) {
    match linker.clients.store.pending_stats_unpaused().await {
        Ok((pending, oldest)) => {
            let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "tapd-webhook".into());
            let line = metrics::scheduled_run(&function, now_millis(), pending, oldest, summary);
            // EMF wants the object alone on its line, not inside a log event.
            println!("{line}");
        }
        Err(e) => tracing::warn!(error = %e, "could not count pending items for the metrics"),
    }
}

fn reply(status: u16, word: &str) -> HttpResponse {
    HttpResponse::json(status, &json!({ "status": word })).with_header("cache-control", "no-store")
}

fn unreadable(e: BodyError) -> HttpResponse {
    tracing::warn!(error = %e, "delivery refused");
    match e {
        BodyError::TooLarge => reply(413, "too_large"),
        BodyError::UnsupportedType => reply(415, "unsupported_body"),
        _ => reply(400, "bad_request"),
    }
}

pub async fn handle(linker: &Linker, event: Value, deadline: Deadline) -> HttpResponse {
    let req = match HttpRequest::from_json(event, MAX_BODY) {
        Ok(req) => req,
        Err(BadRequest::TooLarge(_)) => {
            tracing::warn!("delivery refused: its body is over the cap");
            return reply(413, "too_large");
        }
        Err(e) => {
            tracing::warn!(error = %e, "not an HTTP request");
            return reply(400, "bad_request");
        }
    };
    if req.path != PATH {
        return reply(404, "not_found");
    }
    if req.method != "POST" {
        return reply(405, "method_not_allowed").with_header("allow", "POST");
    }
    let content_type = req.header("content-type").unwrap_or("");
    // Authenticate before reading anything else: only the secret and the workspace are taken
    // from the body (every other value is skipped unread, so a refused body costs no memory
    // beyond its own bytes), then the app's secret or the named workspace's own is checked
    // (a read only: nothing is written for a refused delivery).
    let creds = match credentials(content_type, &req.body) {
        Ok(c) => c,
        Err(e) => return unreadable(e),
    };
    let named = creds.workspace_id.as_deref().and_then(|w| WorkspaceId::parse(w.trim()).ok());
    let delivered = creds.secret.as_deref();
    let app_secret = &linker.cfg.webhook_secret;
    app_secret.refresh_if_stale().await;
    let store = &linker.clients.store;
    let mut admitted = linker.gate.admit(store, &app_secret.current(), named.as_ref(), delivered).await;
    if matches!(admitted, Ok(None)) && delivered.is_some_and(|d| !d.is_empty()) && app_secret.reread().await {
        // The app's secret was rotated (given by ARN): the delivery may carry the new one.
        admitted = linker.gate.admit(store, &app_secret.current(), named.as_ref(), delivered).await;
    }
    match admitted {
        Ok(Some(_)) => {}
        Ok(None) => {
            tracing::warn!(workspace = ?named.as_ref().map(|w| w.as_str()), "webhook delivery with a wrong or missing secret");
            return reply(401, "unauthorized");
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read the workspace's webhook secrets");
            return reply(503, "unavailable");
        }
    }
    let fields = match parse_body(content_type, &req.body) {
        Ok(fields) => fields,
        Err(e) => return unreadable(e),
    };
    let event = match TapdEvent::from_fields(&fields, linker.cfg.link.link_tasks) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "delivery refused");
            return reply(400, "bad_request");
        }
    };
    let result = match event.action {
        Action::Link { workspace, kind, id } => {
            let key = ItemKey { workspace, kind, id };
            linker.link(&key, event.event_id.as_deref(), deadline).await.map(|o| (key, o))
        }
        Action::Update { workspace, kind, id, changes } => {
            let key = ItemKey { workspace, kind, id };
            linker.update(&key, &changes, deadline).await.map(|o| (key, o))
        }
        Action::StatusChange { workspace, kind, id, old_status } => {
            let key = ItemKey { workspace, kind, id };
            tracing::debug!(item = %key, old_status = ?old_status, "status change delivered; reading the item");
            linker.status_changed(&key, deadline).await.map(|o| (key, o))
        }
        Action::Iteration { workspace, id, change } => {
            return match linker.iteration_changed(&workspace, &id, change, deadline).await {
                Ok(_) => reply(200, "noted"),
                Err(e) => {
                    tracing::error!(error = %e, "the iteration's change could not be followed");
                    reply(502, "pending")
                }
            };
        }
        Action::Delete { workspace, kind, id } => {
            let key = ItemKey { workspace, kind, id };
            linker.delete(&key, deadline).await.map(|o| (key, o))
        }
        Action::Ignore => {
            tracing::info!(event = %event.event, "event acknowledged, nothing to do");
            return reply(200, "ignored");
        }
    };
    match result {
        Ok((key, outcome)) => {
            let word = match outcome {
                Outcome::Linked { .. } => "linked",
                Outcome::NotConnected => {
                    tracing::info!(workspace = %key.workspace, "workspace not connected; nothing created");
                    "not_connected"
                }
                Outcome::InProgress => "in_progress",
                Outcome::GivenUp => "given_up",
                Outcome::Renamed => "renamed",
                Outcome::CardWritten => "card_written",
                Outcome::Unchanged => "unchanged",
                Outcome::Deleted => "deleted",
                Outcome::DeleteRefused => "delete_refused",
                Outcome::NotActedOn => "ignored",
                Outcome::Paused => "paused",
            };
            reply(200, word)
        }
        Err(e) => {
            let status = match e {
                LinkError::Store(_) => 503,
                _ => 502,
            };
            tracing::error!(error = %e, "the delivery's work failed; the item stays pending");
            reply(status, "pending")
        }
    }
}
