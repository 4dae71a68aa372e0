//! Told, not polled: a workspace may name a WeCom (企业微信) or DingTalk group robot, and is
//! told when an item is given up or its Tencent Docs authorization dies.
//!
//! - **At most one message per item**: the item's record takes `noticed_at` conditionally
//!   before anything is sent (a redelivery, a second instance, a retry that is given up again
//!   send nothing more).
//! - **A daily digest beyond a threshold**: the first [`NotifyConfig::digest_after`] given-up
//!   items of a workspace on a day (Asia/Shanghai) are told one by one; the rest are counted,
//!   and the scheduled run sends one digest for the day once it is over.
//! - **The robot's URL is a secret** (it carries the robot's key): stored sealed like tokens,
//!   never shown back, never logged. Only the robots' own hosts are accepted (no requests to
//!   anywhere else on a workspace admin's say).
//!
//! The robots' API (WeCom "群机器人配置说明", DingTalk "自定义机器人"): `POST` JSON
//! `{"msgtype":"text","text":{"content":"..."}}` to the webhook URL; the reply is
//! `{"errcode":0,"errmsg":"ok"}`, any other `errcode` is a refusal. A DingTalk robot with
//! 加签 (signing) also takes `timestamp` (ms) and `sign` = base64(HMAC-SHA256(secret,
//! "{timestamp}\n{secret}")) in the query: give its secret as `&secret=SEC...` after the URL.

use crate::config::NotifyConfig;
use crate::ids::{ItemKind, WorkspaceId};
use crate::reason::Reason;
use crate::secret::Secret;
use crate::store::{ItemKey, Store, StoreError};
use crate::time::{now_millis, shanghai_day};

/// A group robot a workspace is told through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Robot {
    /// `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`
    WeCom { url: Secret },
    /// `https://oapi.dingtalk.com/robot/send?access_token=...`, with its signing secret if any.
    DingTalk { url: Secret, secret: Option<Secret> },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error(
        "not a WeCom or DingTalk group robot webhook URL (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=… or https://oapi.dingtalk.com/robot/send?access_token=…)"
    )]
    NotARobot,
    #[error("the robot could not be reached: {0}")]
    Unreachable(String),
    #[error("the robot refused the message (errcode {0})")]
    Refused(i64),
}

impl Robot {
    /// A robot URL as a person pastes it; only the configured robot hosts and paths, with
    /// their key, are accepted.
    pub fn parse(raw: &str, cfg: &NotifyConfig) -> Result<Robot, NotifyError> {
        let raw = raw.trim();
        let url = url::Url::parse(raw).map_err(|_| NotifyError::NotARobot)?;
        let under = |base: &str, path: &str| {
            let base = url::Url::parse(base).ok();
            base.is_some_and(|b| {
                b.scheme() == url.scheme()
                    && b.host_str() == url.host_str()
                    && b.port_or_known_default() == url.port_or_known_default()
                    && url.path() == format!("{}{path}", b.path().trim_end_matches('/'))
            }) && url.username().is_empty()
                && url.password().is_none()
                && url.fragment().is_none()
        };
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let token_like = |v: &str| {
            !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if under(&cfg.wecom_base, "/cgi-bin/webhook/send") && param("key").is_some_and(|k| token_like(&k)) {
            return Ok(Robot::WeCom { url: Secret::new(url.as_str()) });
        }
        if under(&cfg.dingtalk_base, "/robot/send") && param("access_token").is_some_and(|k| token_like(&k)) {
            let secret = param("secret").filter(|s| token_like(s)).map(Secret::new);
            let mut clean = url.clone();
            let kept: Vec<(String, String)> =
                url.query_pairs().filter(|(k, _)| k == "access_token").map(|(k, v)| (k.into(), v.into())).collect();
            clean.query_pairs_mut().clear().extend_pairs(kept);
            return Ok(Robot::DingTalk { url: Secret::new(clean.as_str()), secret });
        }
        Err(NotifyError::NotARobot)
    }

    /// The form it is stored in (sealed): what [`Robot::parse`] reads back.
    pub fn stored(&self) -> Secret {
        match self {
            Robot::WeCom { url } | Robot::DingTalk { url, secret: None } => url.clone(),
            Robot::DingTalk { url, secret: Some(s) } => Secret::new(format!("{}&secret={}", url.expose(), s.expose())),
        }
    }

    /// Which robot, for pages and logs (never its URL).
    pub fn kind(&self) -> &'static str {
        match self {
            Robot::WeCom { .. } => "wecom",
            Robot::DingTalk { .. } => "dingtalk",
        }
    }
}

/// The robots' client, built once.
pub struct Notifier {
    http: reqwest::Client,
    pub cfg: NotifyConfig,
}

impl Notifier {
    pub fn new(http: reqwest::Client, cfg: NotifyConfig) -> Self {
        Self { http, cfg }
    }

    /// Sends one text message.
    pub async fn send(&self, robot: &Robot, text: &str) -> Result<(), NotifyError> {
        let url = match robot {
            Robot::WeCom { url } | Robot::DingTalk { url, secret: None } => url.expose().to_owned(),
            Robot::DingTalk { url, secret: Some(secret) } => {
                let timestamp = now_millis().to_string();
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.expose().as_bytes());
                let tag = ring::hmac::sign(&key, format!("{timestamp}\n{}", secret.expose()).as_bytes());
                use base64::Engine;
                let sign = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
                let mut u = url::Url::parse(url.expose()).map_err(|_| NotifyError::NotARobot)?;
                u.query_pairs_mut().append_pair("timestamp", &timestamp).append_pair("sign", &sign);
                u.to_string()
            }
        };
        let body = serde_json::json!({ "msgtype": "text", "text": { "content": text } });
        // The URL carries the robot's key: errors say what failed, never where.
        let resp = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| NotifyError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let reply: serde_json::Value = resp.json().await.unwrap_or_default();
        match reply.get("errcode").and_then(|c| c.as_i64()) {
            Some(0) if (200..300).contains(&status) => Ok(()),
            Some(code) => Err(NotifyError::Refused(code)),
            None => Err(NotifyError::Unreachable(format!("HTTP {status} without an errcode"))),
        }
    }
}

/// The message for a given-up item, Chinese first.
pub fn given_up_text(key: &ItemKey, reason: Reason, console: &str) -> String {
    let kind = crate::text::kind_name(crate::text::Lang::ZhCn, key.kind);
    format!(
        "【TAPD 文档】项目 {ws} 的{kind} {id} 已放弃创建文档：{zh}。可在控制台查看并重试：{console}/console/ws/{ws}/item/{k}/{id}\n\
         [TAPD docs] {en_kind} {id} of workspace {ws} was given up: {en}. See and retry it in the console.",
        ws = key.workspace,
        id = key.id,
        k = key.kind.as_str(),
        zh = reason.words(crate::text::Lang::ZhCn),
        en = reason.words(crate::text::Lang::En),
        en_kind = match key.kind {
            ItemKind::Story => "Story",
            ItemKind::Bug => "Bug",
            ItemKind::Task => "Task",
        },
    )
}

/// Tells the workspace's robot that `key` was given up: once per item, one by one up to the
/// day's threshold, counted for the digest beyond it. Never fails the caller: what went wrong
/// is logged.
pub async fn item_given_up(store: &Store, notifier: &Notifier, key: &ItemKey, reason: Reason) {
    let console = notifier.cfg.console_base.as_str();
    let result: Result<Option<&'static str>, StoreError> = async {
        let Some(robot) = store.notify_robot(&key.workspace, &notifier.cfg).await? else { return Ok(None) };
        if !store.claim_item_notice(key).await? {
            return Ok(Some("told already"));
        }
        let told = store.count_notice(&key.workspace, &shanghai_day(now_millis()), notifier.cfg.digest_after).await?;
        if !told {
            return Ok(Some("counted for the digest"));
        }
        match notifier.send(&robot, &given_up_text(key, reason, console)).await {
            Ok(()) => Ok(Some("sent")),
            Err(e) => {
                tracing::warn!(workspace = %key.workspace, robot = robot.kind(), error = %e, "could not tell the workspace's robot");
                Ok(Some("failed"))
            }
        }
    }
    .await;
    match result {
        Ok(Some(what)) => tracing::info!(workspace = %key.workspace, item = %key.id, what, "given-up notice"),
        Ok(None) => {}
        Err(e) => tracing::warn!(workspace = %key.workspace, error = %e, "given-up notice not sent"),
    }
}

/// Tells the workspace's robot that its Tencent Docs authorization died (called on the
/// transition only, so once per death).
pub async fn authorization_died(store: &Store, notifier: &Notifier, ws: &WorkspaceId) {
    let console = notifier.cfg.console_base.as_str();
    let Ok(Some(robot)) = store.notify_robot(ws, &notifier.cfg).await else { return };
    let text = format!(
        "【TAPD 文档】项目 {ws} 的腾讯文档授权已失效，新条目暂不会创建文档。请项目管理员在控制台重新连接腾讯文档：{console}/console/ws/{ws}\n\
         [TAPD docs] The Tencent Docs authorization of workspace {ws} is gone; new items wait. A workspace admin can reconnect it in the console."
    );
    if let Err(e) = notifier.send(&robot, &text).await {
        tracing::warn!(workspace = %ws, robot = robot.kind(), error = %e, "could not tell the workspace's robot");
    }
}

/// The scheduled run's part: one digest per workspace and past day that went over the
/// threshold, each sent at most once (the day is taken off the list before sending).
pub async fn send_digests(store: &Store, notifier: &Notifier) -> Result<usize, StoreError> {
    let console = notifier.cfg.console_base.as_str();
    let today = shanghai_day(now_millis());
    let mut sent = 0;
    for (ws, day, count) in store.due_digests(&today).await? {
        if !store.take_digest(&ws, &day).await? {
            continue;
        }
        let Some(robot) = store.notify_robot(&ws, &notifier.cfg).await? else { continue };
        let more = count.saturating_sub(notifier.cfg.digest_after);
        let text = format!(
            "【TAPD 文档】项目 {ws} 在 {day} 另有 {more} 个条目已放弃（超过每天逐条通知的 {n} 条），请在控制台查看「已放弃」：{console}/console/ws/{ws}?state=given_up\n\
             [TAPD docs] Workspace {ws}: {more} more item(s) were given up on {day} (beyond {n} told one by one); see 'given up' in the console.",
            n = notifier.cfg.digest_after
        );
        match notifier.send(&robot, &text).await {
            Ok(()) => sent += 1,
            Err(e) => tracing::warn!(workspace = %ws, robot = robot.kind(), error = %e, "could not send the digest"),
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> NotifyConfig {
        NotifyConfig {
            wecom_base: "https://qyapi.weixin.qq.com".into(),
            dingtalk_base: "https://oapi.dingtalk.com".into(),
            digest_after: 5,
            console_base: "https://links.example.com".into(),
        }
    }

    #[test]
    fn only_the_robots_own_urls_are_taken() {
        let wecom = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";
        assert!(matches!(Robot::parse(wecom, &cfg()), Ok(Robot::WeCom { .. })));
        let ding = "https://oapi.dingtalk.com/robot/send?access_token=abc123&secret=SECdef456";
        let Ok(Robot::DingTalk { url, secret }) = Robot::parse(ding, &cfg()) else { panic!("a DingTalk robot") };
        assert_eq!(url.expose(), "https://oapi.dingtalk.com/robot/send?access_token=abc123");
        assert_eq!(secret.map(|s| s.expose().to_owned()).as_deref(), Some("SECdef456"));
        // Read back as stored.
        let stored = Robot::parse(ding, &cfg()).unwrap().stored();
        assert_eq!(Robot::parse(stored.expose(), &cfg()), Robot::parse(ding, &cfg()));
        for bad in [
            "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a",
            "https://qyapi.weixin.qq.com.evil.test/cgi-bin/webhook/send?key=a",
            "https://qyapi.weixin.qq.com/cgi-bin/other?key=a",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
            "https://user@qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a",
            "https://169.254.169.254/latest/meta-data?key=a",
            "https://oapi.dingtalk.com/robot/send?access_token=",
            "not a url",
        ] {
            assert_eq!(Robot::parse(bad, &cfg()), Err(NotifyError::NotARobot), "{bad}");
        }
        assert!(!format!("{:?}", Robot::parse(wecom, &cfg())).contains("693a91f6"), "Debug redacts the key");
    }

    #[test]
    fn the_message_names_the_item_the_reason_and_where_to_retry_chinese_first() {
        let key = ItemKey {
            workspace: WorkspaceId::parse("20000001").unwrap(),
            kind: ItemKind::Bug,
            id: crate::ids::ItemId::parse("1120000001000000007").unwrap(),
        };
        let text = given_up_text(&key, Reason::ItemVanished, "https://links.example.com");
        assert!(text.starts_with("【TAPD 文档】项目 20000001 的缺陷 1120000001000000007 已放弃"), "{text}");
        assert!(text.contains("https://links.example.com/console/ws/20000001/item/bug/1120000001000000007"));
        assert!(text.contains(&Reason::ItemVanished.words(crate::text::Lang::En)));
    }
}
