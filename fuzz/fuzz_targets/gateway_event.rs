//! API Gateway HTTP API (payload 2.0) events as both functions read them: the event's JSON,
//! then the request (base64 body), its content type and cookies, the webhook body and the
//! callback query. Input: the event JSON.
#![no_main]

#[path = "../oracle/redaction.rs"]
mod redaction;

use libfuzzer_sys::fuzz_target;
use shared::connect::{COOKIE, Callback};
use shared::delivery::parse_body;
use shared::gateway::{GatewayEvent, HttpRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<GatewayEvent>(data) else { return };
    let Ok(req) = HttpRequest::from_event(event, shared::delivery::MAX_BODY) else { return };
    let _ = req.header("content-type");
    let _ = req.cookie(COOKIE);
    let _ = parse_body(&req.content_type(), &req.body);
    if let Ok(cb) = Callback::parse(&req.raw_query) {
        if let Err(leak) = redaction::callback(&cb) {
            panic!("{leak}");
        }
    }
});
