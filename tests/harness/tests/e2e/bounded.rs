//! Bounded before trusted: a delivery whose secret is wrong or missing is refused before any
//! upstream call and in well under 64 MiB of memory, whatever its body, up to the 6 MB a
//! Lambda takes (the contract's "Who may steer a workspace"). The bodies are the costliest
//! shapes of `harness::hostile`; each goes to a fresh process, so its peak RSS is its own.

use harness::apigw::Request;
use harness::flows::{self, WEBHOOK_PATH};
use harness::hostile;

/// What the contract promises a refused delivery may cost at most.
const CONTRACT_MIB: u64 = 64;

#[tokio::test]
async fn six_megabyte_bodies_with_a_wrong_or_missing_secret_are_refused_unread_in_bounded_memory() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    // What a fresh process peaks at refusing a small delivery: the floor the big ones add to.
    let small =
        Request::post_json(WEBHOOK_PATH, &serde_json::json!({"event": "story::create", "secret": "whsec-guess"}));
    assert_eq!(webhook.http(&small).await.status, 401);
    let floor_kib = webhook.peak_rss_kib();
    let before = stack.sandbox.requests().len();
    let mut peaks = Vec::new();
    for (name, request) in hostile::refusals() {
        let mut f = stack.webhook().await;
        let resp = f.http(&request).await;
        assert!(matches!(resp.status, 401 | 403), "{name}: {} {}\nlogs: {:?}", resp.status, resp.body, f.logs());
        assert_eq!(resp.json().unwrap()["status"], "unauthorized", "{name}");
        peaks.push((name, f.peak_rss_kib()));
        flows::assert_no_panic(&f);
        f.kill().await;
    }
    assert_eq!(stack.sandbox.requests().len(), before, "nothing reached TAPD or Tencent Docs");
    eprintln!("peak RSS (VmHWM), {} profile: a small refusal {floor_kib:?} KiB", harness::bin_profile());
    for (name, peak) in &peaks {
        eprintln!("  {name}: {peak:?} KiB");
    }
    // The bound is the contract's for what ships (release, and test-release, its code without
    // LTO); a dev build's allocations are the same, and it is held to it too: the figures of
    // both are in BENCHMARKS.md. Without `/proc` there is nothing to read.
    for (name, peak) in peaks {
        if let Some(kib) = peak {
            assert!(kib < CONTRACT_MIB * 1024, "{name}: peaked at {} MiB", kib / 1024);
        }
    }
}

#[tokio::test]
async fn bodies_over_each_routes_cap_are_answered_413_in_the_functions_own_shape() {
    harness::needs_local_stack!();
    let (stack, webhook) = flows::connected(&[]).await;
    let oauth = stack.oauth().await;
    let before = stack.sandbox.requests().len();
    let over = shared::delivery::MAX_BODY + 1;
    // The webhook: 6 MB, measured on the body as sent and, base64-encoded, before it is decoded.
    for (name, request) in [
        ("plain", Request::post(WEBHOOK_PATH, "application/json", vec![b' '; over])),
        ("base64", Request::post(WEBHOOK_PATH, "application/json", vec![b' '; over]).base64(true)),
    ] {
        let resp = webhook.http(&request).await;
        assert_eq!((resp.status, resp.json().unwrap()["status"].as_str()), (413, Some("too_large")), "{name}");
    }
    // oauth: its bodies are small forms (16 KiB at most).
    let cap = shared::gateway::FORM_MAX_BODY;
    for path in ["/oauth/tdoc/confirm", &format!("/console/ws/{}/retry", flows::WORKSPACE)] {
        let token = "t".repeat(cap);
        let resp = oauth.http(&Request::post_form(path, &[("token", &token)])).await;
        assert_eq!(resp.status, 413, "{path}: {}", resp.body);
        assert!(resp.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{path}: a page");
        // Refused before its headers are read: in the pages' default language, Chinese.
        assert!(resp.body.contains("请求过大"), "{path}: {}", resp.body);
        // Just under the cap it is read (and refused for what it says, not for its size).
        let token = "t".repeat(cap - 10);
        let resp = oauth.http(&Request::post_form(path, &[("token", &token)])).await;
        assert!(resp.status != 413 && resp.status < 500, "{path}: {} {}", resp.status, resp.body);
    }
    assert_eq!(stack.sandbox.requests().len(), before, "nothing reached TAPD or Tencent Docs");
    flows::assert_no_panic(&webhook);
    flows::assert_no_panic(&oauth);
}
