//! Told, not polled, through the real binaries: a workspace names a WeCom or DingTalk group
//! robot in the console; an item given up is told once (whatever happens to it after), beyond
//! the day's threshold the rest wait for one digest, a dead Tencent Docs authorization is told
//! once; the robot's URL is never shown back nor stored in the clear; only robots' URLs are taken.

use harness::Function;
use harness::apigw::{Request, browser, scheduled_event};
use harness::flows::{WEBHOOK_PATH, create_event};
use harness::stack::{Stack, callback};
use sandbox::{Fault, FaultKind, ItemKind};

const W: &str = "20003311";

async fn signed_in(stack: &Stack, oauth: &Function) -> (String, String) {
    let to_tapd = oauth.http(&Request::get("/console")).await;
    let back = stack.tapd_consent(&to_tapd.location_url().unwrap(), W, true).await;
    let landed = oauth.http(&callback(&back)).await;
    let cookie = browser::set_cookie(&landed).expect("a console session");
    let page = oauth.http(&Request::get(&format!("/console/ws/{W}")).header("cookie", &cookie)).await;
    let at = page.body.find("name=\"csrf\" value=\"").expect("a form") + 19;
    let csrf = page.body[at..at + page.body[at..].find('"').unwrap()].to_owned();
    (cookie, csrf)
}

fn give_up_now(stack: &Stack) {
    // TAPD fails every item read (nothing was sent to Tencent Docs, so nothing is in doubt):
    // with GIVE_UP_AFTER 0s the first failed attempt gives up.
    stack.sandbox.inject(Fault {
        method: Some("GET".into()),
        path_prefix: "/tapd/api/stories".into(),
        kind: FaultKind::Status(503),
        times: 0,
    });
}

#[tokio::test]
async fn a_given_up_item_is_told_once_beyond_the_threshold_in_a_digest_and_the_url_stays_secret() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let env = [("NOTIFY_DIGEST_AFTER", "2")];
    let oauth = stack.spawn("oauth", &env).await;
    let webhook = stack.spawn("tapd-webhook", &[("GIVE_UP_AFTER", "0s"), ("NOTIFY_DIGEST_AFTER", "2")]).await;
    assert_eq!(stack.connect(&oauth, W, "d7d7d7d7").await.status, 200);
    stack.sandbox.add_robot("wecom", "k-693a91f6", None);
    let url = format!("{}/wecom/cgi-bin/webhook/send?key=k-693a91f6", stack.sandbox.base_url());
    let (cookie, csrf) = signed_in(&stack, &oauth).await;
    let post = |fields: Vec<(&str, String)>| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Request::post_form(&format!("/console/ws/{W}/notify"), &fields).header("cookie", &cookie)
    };

    // Anything but a robot's URL is refused, and nothing is stored.
    let refused =
        oauth.http(&post(vec![("csrf", csrf.clone()), ("notify", "https://169.254.169.254/?key=x".into())])).await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("id=\"refused\""), "{}", refused.body);
    let saved = oauth.http(&post(vec![("csrf", csrf.clone()), ("notify", url.clone())])).await;
    assert_eq!(saved.status, 302, "{}", saved.body);
    let page = oauth.http(&Request::get(&format!("/console/ws/{W}")).header("cookie", &cookie)).await;
    assert!(page.body.contains("企业微信群机器人") || page.body.contains("WeCom group robot"), "{}", page.body);
    assert!(!page.body.contains("k-693a91f6"), "the robot's key is never shown back");
    let rows = harness::dynamo::scan_all(&harness::dynamo::client().await, &stack.table).await;
    assert!(!format!("{rows:?}").contains("k-693a91f6"), "stored sealed");

    // Three items given up: the first two told one by one, the third waits for the digest.
    give_up_now(&stack);
    for n in 1..=3 {
        let id = format!("112000331100000000{n}");
        stack.sandbox.add_item(W, ItemKind::Story, &id, &format!("需求 {n}"));
        let r = webhook.http(&Request::post_json(WEBHOOK_PATH, &create_event(W, "story", &id, &id))).await;
        assert_eq!(r.json().unwrap()["status"], "given_up", "{}", r.body);
    }
    let told = stack.sandbox.robot_messages();
    assert_eq!(told.len(), 2, "{told:#?}");
    assert!(told[0].content.starts_with("【TAPD 文档】项目 20003311 的需求 1120003311000000001 已放弃"), "{told:#?}");
    assert!(told[0].content.contains("/console/ws/20003311/item/story/1120003311000000001"), "{told:#?}");
    // Redelivered and given up again: not told again.
    let again = create_event(W, "story", "1120003311000000001", "again");
    webhook.http(&Request::post_json(WEBHOOK_PATH, &again)).await;
    assert_eq!(stack.sandbox.robot_messages().len(), 2);
    // The day's digest goes out once the day is over: pretend it is, by moving the record.
    let store = stack.store().await;
    let ws = shared::ids::WorkspaceId::parse(W).unwrap();
    let today = shared::time::shanghai_day(shared::time::now_millis());
    assert!(store.due_digests("9999-12-31").await.unwrap().iter().any(|(w, d, n)| *w == ws && *d == today && *n == 3));
    assert_eq!(shared::notify::send_digests(&store, &notifier(&stack)).await.unwrap(), 0, "not before the day is over");
    let sent = send_digests_as_if_tomorrow(&stack, &store).await;
    assert_eq!(sent, 1);
    let told = stack.sandbox.robot_messages();
    assert!(told[2].content.contains("另有 1 个条目已放弃"), "{told:#?}");
    assert_eq!(send_digests_as_if_tomorrow(&stack, &store).await, 0, "one digest per day");
    // Turned off: nothing more.
    let off = oauth.http(&post(vec![("csrf", csrf.clone()), ("notify", String::new())])).await;
    assert_eq!(off.status, 302);
    stack.sandbox.add_item(W, ItemKind::Story, "1120003311000000009", "不再通知");
    webhook.http(&Request::post_json(WEBHOOK_PATH, &create_event(W, "story", "1120003311000000009", "x9"))).await;
    assert_eq!(stack.sandbox.robot_messages().len(), 3);
    let trail = store.audit_trail(&ws, 10).await.unwrap();
    assert!(trail.iter().any(|a| a.what.contains("wecom") && a.who.contains("robertyang")), "{trail:?}");
    assert!(trail.iter().all(|a| !a.what.contains("k-693a91f6")), "{trail:?}");
    let _ = webhook.invoke(scheduled_event()).await;
}

fn notifier(stack: &Stack) -> shared::notify::Notifier {
    let cfg = shared::config::NotifyConfig {
        wecom_base: format!("{}/wecom", stack.sandbox.base_url()),
        dingtalk_base: format!("{}/dingtalk", stack.sandbox.base_url()),
        digest_after: 2,
        console_base: harness::stack::PUBLIC_BASE_URL.to_owned(),
    };
    shared::notify::Notifier::new(shared::upstream::http_client(std::time::Duration::from_secs(2)), cfg)
}

/// The scheduled run's digest step, as it would run tomorrow: today's digest day moved back a day.
async fn send_digests_as_if_tomorrow(stack: &Stack, store: &shared::store::Store) -> usize {
    let ws = shared::ids::WorkspaceId::parse(W).unwrap();
    let mut n = 0;
    for (w, day, count) in store.due_digests("9999-12-31").await.unwrap() {
        if w != ws || !store.take_digest(&w, &day).await.unwrap() {
            continue;
        }
        let robot = store.notify_robot(&w, &notifier(stack).cfg).await.unwrap().expect("a robot");
        let text = format!("【TAPD 文档】项目 {w} 在 {day} 另有 {} 个条目已放弃", count.saturating_sub(2));
        notifier(stack).send(&robot, &text).await.unwrap();
        n += 1;
    }
    n
}

#[tokio::test]
async fn a_signed_dingtalk_robot_is_told_when_the_docs_authorization_dies() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    let webhook = stack.webhook().await;
    assert_eq!(stack.connect(&oauth, W, "d8d8d8d8").await.status, 200);
    stack.sandbox.add_robot("dingtalk", "tok123", Some("SECabc"));
    let url = format!("{}/dingtalk/robot/send?access_token=tok123&secret=SECabc", stack.sandbox.base_url());
    let (cookie, csrf) = signed_in(&stack, &oauth).await;
    let saved = oauth
        .http(
            &Request::post_form(&format!("/console/ws/{W}/notify"), &[("csrf", &csrf), ("notify", &url)])
                .header("cookie", &cookie),
        )
        .await;
    assert_eq!(saved.status, 302, "{}", saved.body);
    // The account's refresh token dies: the next delivery finds out, the robot is told once.
    stack.sandbox.expire_access_tokens();
    stack.sandbox.expire_refresh_tokens();
    for n in 1..=2 {
        let id = format!("112000331100000010{n}");
        stack.sandbox.add_item(W, ItemKind::Story, &id, "需求");
        webhook.http(&Request::post_json(WEBHOOK_PATH, &create_event(W, "story", &id, &id))).await;
    }
    let told = stack.sandbox.robot_messages();
    assert_eq!(told.len(), 1, "{told:#?}");
    assert_eq!(told[0].kind, "dingtalk");
    assert!(told[0].content.contains("腾讯文档授权已失效"), "{told:#?}");
}
