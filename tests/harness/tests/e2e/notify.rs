//! Told, not polled, through the real binaries: a workspace names a WeCom or DingTalk group
//! robot in the console; an item given up is told once (whatever happens to it after), beyond
//! the day's threshold the rest wait for one digest, a dead Tencent Docs authorization is told
//! once; the robot's URL is never shown back nor stored in the clear; only robots' URLs are taken.
//! The same for an e-mail address, through SES (moto's): one message per item, the digest, a
//! refusal said in the console and kept for the digest, e-mail off without a sender.

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

/// The console's notify form, saved with `notify` (a robot's URL, an address, or empty).
async fn save_notify(oauth: &Function, cookie: &str, csrf: &str, notify: &str) -> harness::apigw::Response {
    let form = Request::post_form(&format!("/console/ws/{W}/notify"), &[("csrf", csrf), ("notify", notify)]);
    oauth.http(&form.header("cookie", cookie).header("accept-language", "zh-CN")).await
}

/// The workspace's console page, in Chinese.
async fn console_page(oauth: &Function, cookie: &str) -> harness::apigw::Response {
    let page = Request::get(&format!("/console/ws/{W}")).header("cookie", cookie).header("accept-language", "zh-CN");
    oauth.http(&page).await
}

/// A new story TAPD will not serve (see [`give_up_now`]), delivered: given up at once.
async fn deliver_given_up(stack: &Stack, webhook: &Function, id: &str) {
    stack.sandbox.add_item(W, ItemKind::Story, id, "需求");
    let r = webhook.http(&Request::post_json(WEBHOOK_PATH, &create_event(W, "story", id, id))).await;
    assert_eq!(r.json().unwrap()["status"], "given_up", "{}", r.body);
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
    assert_eq!(refused.status, 422);
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
        deliver_given_up(&stack, &webhook, &format!("112000331100000000{n}")).await;
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
    assert!(
        store.due_digests("9999-12-31").await.unwrap().iter().any(|d| d.ws == ws && d.day == today && d.given_up == 3)
    );
    assert_eq!(shared::notify::send_digests(&store, &notifier(&stack)).await.unwrap(), 0, "not before the day is over");
    let sent = send_digests_as_if_tomorrow(&stack, &store).await;
    assert_eq!(sent, 1);
    let told = stack.sandbox.robot_messages();
    assert!(told[2].content.starts_with("【TAPD 文档】项目 20003311 在 "), "{told:#?}");
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
        email_from: None,
    };
    shared::notify::Notifier::new(shared::upstream::http_client(std::time::Duration::from_secs(2)), cfg)
}

/// The scheduled run's digest step, as it would run tomorrow: today's digests taken and sent
/// as `shared::notify::send_digests` sends them.
async fn send_digests_as_if_tomorrow(stack: &Stack, store: &shared::store::Store) -> usize {
    let notifier = notifier(stack);
    let ws = shared::ids::WorkspaceId::parse(W).unwrap();
    let mut n = 0;
    for due in store.due_digests("9999-12-31").await.unwrap() {
        if due.ws != ws || !store.take_digest(&due.ws, &due.day).await.unwrap() {
            continue;
        }
        let target = store.notify_target(&due.ws, &notifier.cfg).await.unwrap().expect("a destination");
        let more = due.given_up.saturating_sub(notifier.cfg.digest_after) + due.refused;
        let m = shared::notify::digest(&due.ws, &due.day, more, notifier.cfg.digest_after, PUBLIC);
        match notifier.send(&target.to, &m).await {
            Ok(()) => n += 1,
            Err(_) => store.restore_digest(&due.ws, &due.day).await.unwrap(),
        }
    }
    n
}

const PUBLIC: &str = harness::stack::PUBLIC_BASE_URL;

/// Pretends the day is over: the workspace's day counts (`NOTICES#<today>`) moved to
/// yesterday, so the function's own scheduled run finds their digest due.
async fn day_over(stack: &Stack) {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let client = harness::dynamo::client().await;
    let today = shared::time::shanghai_day(shared::time::now_millis());
    let yesterday = shared::time::shanghai_day(shared::time::now_millis() - 86_400_000);
    for mut item in harness::dynamo::scan_all(&client, &stack.table).await {
        if item.get("sk").and_then(|v| v.as_s().ok()) != Some(&format!("NOTICES#{today}")) {
            continue;
        }
        client
            .delete_item()
            .table_name(&stack.table)
            .set_key(Some([("pk".to_owned(), item["pk"].clone()), ("sk".to_owned(), item["sk"].clone())].into()))
            .send()
            .await
            .unwrap();
        item.insert("sk".into(), S(format!("NOTICES#{yesterday}")));
        item.insert("notice_day".into(), S(yesterday.clone()));
        if item.contains_key("gsi1sk") {
            item.insert("gsi1sk".into(), S(format!("{yesterday}#{W}")));
        }
        client.put_item().table_name(&stack.table).set_item(Some(item)).send().await.unwrap();
    }
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
    let saved = save_notify(&oauth, &cookie, &csrf, &url).await;
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

/// An address of this test's own (moto's sent mail is shared by every suite).
fn fresh_address(name: &str) -> String {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    format!("{name}.{:02x}{:02x}{:02x}{:02x}@example.com", b[0], b[1], b[2], b[3])
}

#[tokio::test]
async fn an_e_mail_named_in_the_console_gets_one_message_per_given_up_item_and_beyond_the_threshold_the_digest() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let from = "noreply@tapd-docs.example.com";
    harness::ses::verify_sender(from).await;
    let to = fresh_address("lead");
    let env = [("NOTIFY_DIGEST_AFTER", "1"), ("NOTIFY_EMAIL_FROM", from)];
    let oauth = stack.spawn("oauth", &env).await;
    let webhook = stack.spawn("tapd-webhook", &[env[0], env[1], ("GIVE_UP_AFTER", "0s")]).await;
    assert_eq!(stack.connect(&oauth, W, "e7e7e7e7").await.status, 200);
    let (cookie, csrf) = signed_in(&stack, &oauth).await;

    // Not an address: 422, saying so, nothing stored; then the address, shown masked only.
    for bad in ["lead@example", "Lead <lead@example.com>", "lead@example.com\r\nBcc: x@evil.test"] {
        let refused = save_notify(&oauth, &cookie, &csrf, bad).await;
        assert_eq!(refused.status, 422, "{bad:?}: {}", refused.body);
        assert!(refused.body.contains("不是有效的电子邮件地址"), "{}", refused.body);
    }
    let page = console_page(&oauth, &cookie).await;
    assert!(page.body.contains("未设置") && page.body.contains("电子邮件地址"), "e-mail is offered: {}", page.body);
    assert_eq!(save_notify(&oauth, &cookie, &csrf, &to).await.status, 302);
    let page = console_page(&oauth, &cookie).await;
    let masked = "l***@example.com";
    assert!(page.body.contains(&format!("电子邮件 {masked}")), "{}", page.body);
    assert!(!page.body.contains(&to), "the address is shown masked");
    let rows = harness::dynamo::scan_all(&harness::dynamo::client().await, &stack.table).await;
    assert!(!format!("{rows:?}").contains(&to[..to.find('@').unwrap()]), "stored sealed");

    // Two items given up: the first told by e-mail, the second (beyond 1 a day) in the digest.
    give_up_now(&stack);
    for n in 1..=2 {
        deliver_given_up(&stack, &webhook, &format!("112000331100000002{n}")).await;
    }
    // Redelivered and given up again: no second message.
    webhook.http(&Request::post_json(WEBHOOK_PATH, &create_event(W, "story", "1120003311000000021", "again"))).await;
    let sent = harness::ses::sent_to(&to).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].from, from);
    assert_eq!(
        sent[0].subject,
        "【TAPD 文档】需求 1120003311000000021 已放弃创建文档 / [TAPD docs] Story 1120003311000000021 was given up"
    );
    let body = &sent[0].body;
    assert!(body.starts_with("【TAPD 文档】项目 20003311 的需求 1120003311000000021 已放弃创建文档："), "{body}");
    assert!(body.contains(&format!("{PUBLIC}/console/ws/20003311/item/story/1120003311000000021")), "{body}");
    let english = body.find("[TAPD docs] Story 1120003311000000021 of workspace 20003311 was given up").expect(body);
    assert!(english > body.find("已放弃").unwrap(), "Chinese first: {body}");
    let page = console_page(&oauth, &cookie).await;
    assert!(page.body.contains("最近一次通知已送达"), "{}", page.body);

    // The day's digest, once the day is over: the second item, one e-mail.
    let store = stack.store().await;
    let ws = shared::ids::WorkspaceId::parse(W).unwrap();
    let due = store.due_digests("9999-12-31").await.unwrap();
    assert!(due.iter().any(|d| d.ws == ws && d.given_up == 2 && d.refused == 0), "{due:?}");
    stack.sandbox.clear_faults();
    let _ = webhook.invoke(scheduled_event()).await;
    assert_eq!(harness::ses::sent_to(&to).await.len(), 1, "not before the day is over");
    day_over(&stack).await;
    let _ = webhook.invoke(scheduled_event()).await;
    let sent = harness::ses::sent_to(&to).await;
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert!(
        sent[1].subject.starts_with("【TAPD 文档】项目 20003311 在 ")
            && sent[1].subject.contains("另有 1 个条目已放弃")
    );
    assert!(sent[1].body.contains("?state=given_up"), "{}", sent[1].body);
    let _ = webhook.invoke(scheduled_event()).await;
    assert_eq!(harness::ses::sent_to(&to).await.len(), 2, "one digest per day");
    let trail = store.audit_trail(&ws, 10).await.unwrap();
    assert!(trail.iter().any(|a| a.what == format!("notifications: by e-mail to {masked}")), "{trail:?}");
    for f in [&oauth, &webhook] {
        assert!(f.logs().iter().all(|l| !l.contains(&to)), "{}: no address in the logs", f.name());
    }
}

#[tokio::test]
async fn an_e_mail_ses_refuses_is_said_in_the_console_and_kept_for_the_digest() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    // The deployer named a sender but has not verified it yet: SES refuses every message.
    let from = fresh_address("unverified");
    let to = fresh_address("owner");
    let env = [("NOTIFY_EMAIL_FROM", from.as_str()), ("NOTIFY_DIGEST_AFTER", "5")];
    let oauth = stack.spawn("oauth", &env).await;
    let webhook = stack.spawn("tapd-webhook", &[env[0], env[1], ("GIVE_UP_AFTER", "0s")]).await;
    assert_eq!(stack.connect(&oauth, W, "e8e8e8e8").await.status, 200);
    let (cookie, csrf) = signed_in(&stack, &oauth).await;
    let saved = save_notify(&oauth, &cookie, &csrf, &to).await;
    assert_eq!(saved.status, 302, "{}", saved.body);
    give_up_now(&stack);
    deliver_given_up(&stack, &webhook, "1120003311000000031").await;
    assert!(harness::ses::sent_to(&to).await.is_empty());

    // The console says so, in plain words; the logs say why without the address.
    let page = console_page(&oauth, &cookie).await;
    assert!(page.body.contains("最近一次通知未能送达"), "{}", page.body);
    assert!(page.body.contains("Amazon SES 拒绝了邮件") && page.body.contains("MessageRejected"), "{}", page.body);
    assert!(page.body.contains("次日的汇总"), "{}", page.body);
    let logs = webhook.logs().join("\n");
    assert!(logs.contains("could not tell the workspace") && logs.contains("MessageRejected"), "{logs}");
    assert!(!logs.contains(&to), "no address in the logs");

    // Nothing lost: the day's digest counts it, and stays due while SES refuses.
    let store = stack.store().await;
    let ws = shared::ids::WorkspaceId::parse(W).unwrap();
    let due = |d: &shared::store::DueDigest| d.ws == ws && d.given_up == 1 && d.refused == 1;
    assert!(store.due_digests("9999-12-31").await.unwrap().iter().any(due));
    stack.sandbox.clear_faults();
    day_over(&stack).await;
    let _ = webhook.invoke(scheduled_event()).await;
    assert!(harness::ses::sent_to(&to).await.is_empty());
    assert!(store.due_digests("9999-12-31").await.unwrap().iter().any(due), "still due after a refusal");
    // The sender verified: the next scheduled run delivers it, once.
    harness::ses::verify_sender(&from).await;
    let _ = webhook.invoke(scheduled_event()).await;
    let _ = webhook.invoke(scheduled_event()).await;
    let sent = harness::ses::sent_to(&to).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(sent[0].body.contains("另有 1 个条目已放弃"), "{}", sent[0].body);
    assert!(store.due_digests("9999-12-31").await.unwrap().iter().all(|d| d.ws != ws));
    let page = console_page(&oauth, &cookie).await;
    assert!(page.body.contains("最近一次通知已送达"), "{}", page.body);
}

#[tokio::test]
async fn without_a_sender_e_mail_is_off_and_the_form_says_so() {
    harness::needs_local_stack!();
    let stack = Stack::new().await;
    let oauth = stack.oauth().await;
    assert_eq!(stack.connect(&oauth, W, "e9e9e9e9").await.status, 200);
    let (cookie, csrf) = signed_in(&stack, &oauth).await;
    let page = console_page(&oauth, &cookie).await;
    assert!(page.body.contains("本部署未开启邮件通知"), "{}", page.body);
    let english = oauth.http(&Request::get(&format!("/console/ws/{W}")).header("cookie", &cookie)).await;
    assert!(english.body.contains("e-mail is off in this deployment"), "{}", english.body);
    let refused = save_notify(&oauth, &cookie, &csrf, "lead@example.com").await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("本部署未开启邮件通知（未设置 NOTIFY_EMAIL_FROM）"), "{}", refused.body);
    let store = stack.store().await;
    assert!(store.notify_shown(&shared::ids::WorkspaceId::parse(W).unwrap()).await.unwrap().is_none());
}
