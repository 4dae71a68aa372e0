//! Event → handler routing: the schedule, or an HTTP delivery.

use serde_json::{Value, json};
use shared::gateway::{HttpRequest, HttpResponse};
use shared::store::LinkKey;
use shared::time::now_millis;
use shared::webhook::{
    Action, LinkError, Linker, Outcome, RetrySummary, TapdEvent, metrics, parse_body, secret_matches,
};

use crate::App;

pub const PATH: &str = "/webhooks/tapd";

fn linker(app: &App) -> Linker<'_> {
    Linker {
        cfg: &app.cfg,
        store: &app.store,
        tapd: &app.tapd,
        tdoc: &app.tdoc,
        tapd_auth: &app.tapd_auth,
        tdoc_auth: &app.tdoc_auth,
    }
}

pub async fn dispatch(app: &App, payload: Value, deadline_ms: u64) -> Result<Value, lambda_runtime::Error> {
    if payload.get("source").and_then(Value::as_str) == Some("aws.events") {
        let summary = linker(app).retry_pending(deadline_ms).await?;
        tracing::info!(?summary, "scheduled retry finished");
        emit_metrics(app, &summary).await;
        return Ok(serde_json::to_value(summary)?);
    }
    let resp = handle(app, payload, deadline_ms).await;
    Ok(serde_json::to_value(resp.into_event())?)
}

/// What is still pending after the run, as an EMF line (see `shared::webhook::metrics`).
async fn emit_metrics(app: &App, summary: &RetrySummary) {
    match app.store.pending_stats().await {
        Ok((pending, oldest)) => {
            let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "tapd-webhook".into());
            let line = metrics::scheduled_run(&function, now_millis(), pending, oldest, summary);
            // EMF wants the object alone on its line, not inside a log event.
            println!("{line}");
        }
        Err(e) => tracing::warn!(error = %e, "could not count pending events for the metrics"),
    }
}

fn reply(status: u16, body: Value) -> HttpResponse {
    HttpResponse::json(status, &body).with_header("cache-control", "no-store")
}

pub async fn handle(app: &App, event: Value, deadline_ms: u64) -> HttpResponse {
    let req = match HttpRequest::from_json(event) {
        Ok(req) => req,
        Err(e) => return reply(400, json!({ "error": e.to_string() })),
    };
    if req.path != PATH {
        return reply(404, json!({ "error": "not found" }));
    }
    if req.method != "POST" {
        return reply(405, json!({ "error": "only POST is served here" })).with_header("allow", "POST");
    }
    let fields = match parse_body(&req.content_type(), &req.body) {
        Ok(fields) => fields,
        Err(e) => {
            let status = match e {
                shared::webhook::BodyError::TooLarge => 413,
                shared::webhook::BodyError::UnsupportedType => 415,
                _ => 400,
            };
            return reply(status, json!({ "error": e.to_string() }));
        }
    };
    // Authenticate before looking at anything else in the delivery.
    if !secret_matches(fields.get("secret").map(String::as_str), app.cfg.webhook_secret.expose()) {
        tracing::warn!("webhook delivery with a wrong or missing secret");
        return reply(401, json!({ "error": "invalid secret" }));
    }
    let event = match TapdEvent::from_fields(&fields, app.cfg.link.link_tasks) {
        Ok(e) => e,
        Err(e) => return reply(400, json!({ "error": e.to_string() })),
    };
    let Action::Link { workspace, kind, id } = event.action else {
        tracing::info!(event = %event.event, "event acknowledged, nothing to do");
        return reply(200, json!({ "status": "ignored" }));
    };
    let key = LinkKey { workspace, kind, id };
    match linker(app).link(&key, event.event_id.as_deref(), deadline_ms).await {
        Ok(Outcome::Linked { doc_url }) => reply(200, json!({ "status": "linked", "doc_url": doc_url })),
        Ok(Outcome::NotConnected) => {
            tracing::info!(workspace = %key.workspace, "workspace not connected; nothing created");
            reply(200, json!({ "status": "not_connected" }))
        }
        Ok(Outcome::InProgress) => reply(200, json!({ "status": "in_progress" })),
        Ok(Outcome::GaveUp) => reply(200, json!({ "status": "gave_up" })),
        Err(e) => {
            let status = match e {
                LinkError::Upstream(_) | LinkError::ItemNotFound | LinkError::NoToken => 502,
                LinkError::Store(_) => 503,
            };
            tracing::error!(error = %e, "linking failed; the event stays pending");
            reply(status, json!({ "error": e.to_string(), "status": "pending" }))
        }
    }
}
