//! The worst deliveries a stranger can send the webhook within Lambda's 6 MB: bodies built to
//! cost the most memory to read (a member per few bytes, nesting millions deep, one huge
//! string, a form of tiny fields, a base64-encoded body), each with a wrong or missing secret.
//! The e2e suite (`e2e/bounded.rs`) asserts they are refused before any upstream call, in
//! bounded memory; the bench (`bench-runner --refusals`) measures each one's peak RSS.

use crate::apigw::Request;
use crate::flows::{WEBHOOK_PATH, WORKSPACE};

/// A body size a Lambda function URL or HTTP API takes (its invocation limit is 6 MB).
pub const BODY_BYTES: usize = 5_900_000;

/// One hostile delivery: what it is, and the request.
pub struct Shape {
    pub name: &'static str,
    pub request: Request,
}

/// `"<secret>"` as the body's `secret` member (none when `None`), and the connected workspace,
/// so that refusing it reads that workspace's own secrets too.
fn head_json(secret: Option<&str>) -> String {
    match secret {
        Some(s) => format!(r#"{{"event":"story::create","workspace_id":"{WORKSPACE}","secret":"{s}""#),
        None => format!(r#"{{"event":"story::create","workspace_id":"{WORKSPACE}""#),
    }
}

/// `,"<key n>":1` members up to `bytes`: each member a new key (a repeated one is refused at
/// once), as short as can be, so there are as many as possible.
fn tiny_members(mut body: String, bytes: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n = 0usize;
    while body.len() + 16 < bytes {
        body.push_str(",\"");
        let mut k = n;
        loop {
            body.push(DIGITS[k % DIGITS.len()] as char);
            k /= DIGITS.len();
            if k == 0 {
                break;
            }
        }
        body.push_str("\":1");
        n += 1;
    }
    body.push('}');
    body
}

/// Each shape at about `bytes`, with `secret` (`None`: no `secret` at all).
pub fn shapes(secret: Option<&str>, bytes: usize) -> Vec<Shape> {
    let json = |name, body: String| Shape { name, request: Request::post(WEBHOOK_PATH, "application/json", body) };
    let head = head_json(secret);
    let members = tiny_members(head.clone(), bytes);
    // `[[[...]]]` as deep as the size allows, under a member of its own.
    let depth = (bytes - head.len() - 8) / 2;
    let nested = format!(r#"{head},"a":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
    let string = format!(r#"{head},"description":"{}"}}"#, "x".repeat(bytes - head.len() - 20));
    let form_head = match secret {
        Some(s) => format!("event=story%3A%3Acreate&workspace_id={WORKSPACE}&secret={s}"),
        None => format!("event=story%3A%3Acreate&workspace_id={WORKSPACE}"),
    };
    let mut form = form_head;
    let mut n = 0usize;
    while form.len() + 16 < bytes {
        form.push_str(&format!("&{n:x}=1"));
        n += 1;
    }
    // Base64 makes four characters of three bytes: the body before encoding is 3/4 of the size.
    let encoded = tiny_members(head, bytes / 4 * 3);
    vec![
        json("tiny JSON members", members),
        json("nested arrays", nested),
        json("one huge string", string),
        Shape {
            name: "tiny form fields",
            request: Request::post(WEBHOOK_PATH, "application/x-www-form-urlencoded", form),
        },
        Shape {
            name: "tiny JSON members, base64-encoded",
            request: Request::post(WEBHOOK_PATH, "application/json", encoded).base64(true),
        },
    ]
}

/// Every shape with a wrong secret, then the two costliest without any secret.
pub fn refusals() -> Vec<(String, Request)> {
    let wrong =
        shapes(Some("whsec-guess"), BODY_BYTES).into_iter().map(|s| (format!("{}, wrong secret", s.name), s.request));
    let missing = shapes(None, BODY_BYTES)
        .into_iter()
        .filter(|s| matches!(s.name, "tiny JSON members" | "tiny form fields"))
        .map(|s| (format!("{}, no secret", s.name), s.request));
    wrong.chain(missing).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content_type(r: &Request) -> &str {
        r.headers.iter().find(|(n, _)| n == "content-type").map_or("", |(_, v)| v.as_str())
    }

    #[test]
    fn every_shape_is_near_the_size_and_reads_as_what_it_claims() {
        for s in shapes(Some("x"), 100_000) {
            let body = s.request.body.as_deref().unwrap_or_default();
            // What the event carries: base64 makes four characters of three bytes.
            let encoded = s.request.base64 && s.name.contains("base64");
            let len = if encoded { body.len() / 3 * 4 } else { body.len() };
            assert!((90_000..=100_000).contains(&len), "{}: {len}", s.name);
            let fields = shared::delivery::credentials(content_type(&s.request), body).unwrap();
            assert_eq!(fields.secret.as_deref(), Some("x"), "{}", s.name);
            assert_eq!(fields.workspace_id.as_deref(), Some(WORKSPACE), "{}", s.name);
        }
        for s in shapes(None, 10_000) {
            let body = s.request.body.as_deref().unwrap_or_default();
            assert_eq!(shared::delivery::credentials(content_type(&s.request), body).unwrap().secret, None);
        }
        assert_eq!(refusals().len(), 7);
    }
}
