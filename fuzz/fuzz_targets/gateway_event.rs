//! API Gateway HTTP API (payload 2.0) events as both functions read them: the event's JSON,
//! then the request (base64 body), its content type, the webhook body and the callback query.
//! Input: the event JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::connect::Callback;
use shared::gateway::{GatewayEvent, HttpRequest};
use shared::webhook::parse_body;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<GatewayEvent>(data) else { return };
    let Ok(req) = HttpRequest::from_event(event) else { return };
    let _ = req.header("content-type");
    let _ = parse_body(&req.content_type(), &req.body);
    let _ = Callback::parse(&req.raw_query);
});
