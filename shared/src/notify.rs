//! Told, not polled: a workspace may name a WeCom (企业微信) or DingTalk group robot, or an
//! e-mail address, and is told when an item is given up or its Tencent Docs authorization dies.
//!
//! - **At most one message per item**: the item's record takes `noticed_at` conditionally
//!   before anything is sent (a redelivery, a second instance, a retry that is given up again
//!   send nothing more).
//! - **A daily digest beyond a threshold**: the first [`NotifyConfig::digest_after`] given-up
//!   items of a workspace on a day (Asia/Shanghai) are told one by one; the rest are counted,
//!   and the scheduled run sends one digest for the day once it is over.
//! - **Nothing lost**: a message the robot or SES refuses is counted into the day's digest
//!   instead, and a digest that cannot be sent stays due for the next scheduled run; the
//!   last refusal is on the workspace's notify record for the console to show.
//! - **The robot's URL is a secret** (it carries the robot's key), and an address is a person's:
//!   stored sealed like tokens, never logged; pages show the robot's kind or the address masked.
//!   Only the robots' own hosts are accepted (no requests to anywhere else on a workspace
//!   admin's say); e-mail goes through Amazon SES from the deployer's verified sender
//!   (`NOTIFY_EMAIL_FROM`; unset, e-mail is off).
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
use crate::store::{ItemKey, NotifyTarget, Store, StoreError};
use crate::time::{now_millis, shanghai_day};

/// A group robot a workspace is told through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Robot {
    /// `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`
    WeCom { url: Secret },
    /// `https://oapi.dingtalk.com/robot/send?access_token=...`, with its signing secret if any.
    DingTalk { url: Secret, secret: Option<Secret> },
}

/// An e-mail address as SES takes it: `local@domain`, ASCII, no display name, nothing that
/// could end a header (no spaces, quotes, brackets, commas or line breaks). Debug masks it.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress(Secret);

impl std::fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

impl EmailAddress {
    /// An address as a person types it (surrounding spaces and a `mailto:` taken off).
    pub fn parse(raw: &str) -> Result<EmailAddress, NotifyError> {
        let raw = raw.trim();
        let raw = raw.strip_prefix("mailto:").unwrap_or(raw);
        let (local, domain) = raw.split_once('@').ok_or(NotifyError::NotAnAddress)?;
        // RFC 5321's limits; the local part's unquoted characters (RFC 5322 atext).
        let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b);
        let local_ok =
            (1..=64).contains(&local.len()) && local.split('.').all(|part| !part.is_empty() && part.bytes().all(atext));
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let domain_ok = labels.len() >= 2
            && labels.iter().all(label_ok)
            && labels.last().is_some_and(|tld| tld.len() >= 2 && !tld.bytes().all(|b| b.is_ascii_digit()));
        if !(local_ok && domain_ok && raw.len() <= 254) {
            return Err(NotifyError::NotAnAddress);
        }
        // Kept as typed: the sender must equal the role's `ses:FromAddress` exactly.
        Ok(EmailAddress(Secret::new(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// For pages: the first character of the name and the domain (`r***@example.com`).
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.expose().split_once('@').unwrap_or_default();
        format!("{}***@{domain}", local.chars().next().unwrap_or('*'))
    }
}

/// Where a workspace is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Robot(Robot),
    Email(EmailAddress),
}

impl Destination {
    /// What a workspace admin typed: a robot's webhook URL or an e-mail address (taken only
    /// when this deployment sends e-mail).
    pub fn parse(raw: &str, cfg: &NotifyConfig) -> Result<Destination, NotifyError> {
        let raw = raw.trim();
        if raw.contains("://") || !raw.contains('@') {
            return Robot::parse(raw, cfg).map(Destination::Robot);
        }
        let to = EmailAddress::parse(raw)?;
        if cfg.email_from.is_none() {
            return Err(NotifyError::EmailOff);
        }
        Ok(Destination::Email(to))
    }

    /// The form it is stored in (sealed): what [`Destination::parse`] reads back.
    pub fn stored(&self) -> Secret {
        match self {
            Destination::Robot(r) => r.stored(),
            Destination::Email(to) => Secret::new(format!("mailto:{}", to.expose())),
        }
    }

    /// Which kind, for pages, logs and the audit (never the URL nor the address).
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Robot(r) => r.kind(),
            Destination::Email(_) => "email",
        }
    }

    /// What pages show of it: an address masked; a robot only by its kind.
    pub fn shown(&self) -> Option<String> {
        match self {
            Destination::Robot(_) => None,
            Destination::Email(to) => Some(to.masked()),
        }
    }
}

/// Stored as JSON on the workspace's notify record (its last refusal), for the console.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum NotifyError {
    #[error(
        "not a WeCom or DingTalk group robot webhook URL (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=… or https://oapi.dingtalk.com/robot/send?access_token=…)"
    )]
    NotARobot,
    #[error("not an e-mail address (name@example.com)")]
    NotAnAddress,
    #[error("e-mail notifications are off in this deployment (NOTIFY_EMAIL_FROM is not set)")]
    EmailOff,
    #[error("the robot could not be reached: {0}")]
    Unreachable(String),
    #[error("the robot refused the message (errcode {0})")]
    Refused(i64),
    /// SES's error code and message, recipients' addresses masked.
    #[error("Amazon SES refused the e-mail: {0}")]
    MailRefused(String),
    #[error("Amazon SES could not be reached: {0}")]
    MailUnreachable(String),
}

impl NotifyError {
    /// The refusal in a workspace admin's words, Chinese first.
    pub fn words(&self, lang: crate::text::Lang) -> String {
        let zh = match self {
            NotifyError::NotARobot => "不是企业微信或钉钉群机器人的 Webhook 地址",
            NotifyError::NotAnAddress => "不是有效的电子邮件地址",
            NotifyError::EmailOff => "本部署未开启邮件通知（未设置 NOTIFY_EMAIL_FROM），请改用群机器人或联系运维",
            NotifyError::Unreachable(_) => "无法连接群机器人",
            NotifyError::Refused(_) => "群机器人拒绝了消息",
            NotifyError::MailRefused(_) => "Amazon SES 拒绝了邮件（发件人未验证，或 SES 仍在沙盒模式、收件人未验证）",
            NotifyError::MailUnreachable(_) => "无法连接 Amazon SES",
        };
        match lang {
            crate::text::Lang::ZhCn => format!("{zh}（{self}）"),
            crate::text::Lang::En => self.to_string(),
        }
    }
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

/// One message: a robot posts `text`; an e-mail has the subject too. Both Chinese first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub text: String,
}

/// How e-mail leaves. A trait object, so that only the binary that attaches SES
/// ([`Notifier::with_ses`], tapd-webhook's) carries the SES SDK's code: the console's reaches
/// [`Notifier::send`] (a token renewal may find the authorization dead) but never sends mail.
trait Mailer: Send + Sync {
    fn mail<'a>(&'a self, to: &'a EmailAddress, message: &'a Message) -> MailFuture<'a>;
}

type MailFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// SES, and the deployer's verified sender.
struct Ses {
    client: aws_sdk_sesv2::Client,
    from: EmailAddress,
}

impl Mailer for Ses {
    fn mail<'a>(&'a self, to: &'a EmailAddress, message: &'a Message) -> MailFuture<'a> {
        Box::pin(self.send_email(to, message))
    }
}

/// The robots' and SES's clients, built once.
pub struct Notifier {
    http: reqwest::Client,
    mail: Option<Box<dyn Mailer>>,
    pub cfg: NotifyConfig,
}

impl Notifier {
    /// Robots only (e-mail off until [`Notifier::with_ses`]).
    pub fn new(http: reqwest::Client, cfg: NotifyConfig) -> Self {
        Self { http, mail: None, cfg }
    }

    /// E-mail through `ses`, when the configuration names a sender (else still off).
    pub fn with_ses(mut self, ses: aws_sdk_sesv2::Client) -> Self {
        self.mail = self.cfg.email_from.clone().map(|from| Box::new(Ses { client: ses, from }) as Box<dyn Mailer>);
        self
    }

    /// Sends one message.
    pub async fn send(&self, to: &Destination, message: &Message) -> Result<(), NotifyError> {
        match to {
            Destination::Robot(robot) => self.post_to_robot(robot, &message.text).await,
            Destination::Email(address) => match &self.mail {
                Some(mailer) => mailer.mail(address, message).await,
                None => Err(NotifyError::EmailOff),
            },
        }
    }

    async fn post_to_robot(&self, robot: &Robot, text: &str) -> Result<(), NotifyError> {
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

impl Ses {
    /// SES v2 `SendEmail`, plain text in UTF-8.
    async fn send_email(&self, to: &EmailAddress, message: &Message) -> Result<(), NotifyError> {
        use aws_sdk_sesv2::error::ProvideErrorMetadata;
        use aws_sdk_sesv2::types::{Body, Content, EmailContent, Message as SesMessage};
        let mail = self;
        let utf8 = |data: &str| Content::builder().data(data).charset("UTF-8").build();
        let (Ok(subject), Ok(text)) = (utf8(&message.subject), utf8(&message.text)) else {
            return Err(NotifyError::MailRefused("the message could not be built".into()));
        };
        let content = SesMessage::builder().subject(subject).body(Body::builder().text(text).build()).build();
        let sent = mail
            .client
            .send_email()
            .from_email_address(mail.from.expose())
            .destination(aws_sdk_sesv2::types::Destination::builder().to_addresses(to.expose()).build())
            .content(EmailContent::builder().simple(content).build())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => match e.code() {
                // SES names unverified recipients in its message (sandbox mode): masked.
                Some(code) => Err(NotifyError::MailRefused(format!(
                    "{code}: {}",
                    mask_addresses(e.message().unwrap_or_default(), &mail.from)
                ))),
                None => Err(NotifyError::MailUnreachable(
                    aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string().chars().take(300).collect(),
                )),
            },
        }
    }
}

/// `text` with every address but the sender's masked (SES's messages name recipients).
fn mask_addresses(text: &str, from: &EmailAddress) -> String {
    text.split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            match EmailAddress::parse(bare) {
                Ok(a) if a != *from => word.replace(bare, &a.masked()),
                _ => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn en_kind(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Story => "Story",
        ItemKind::Bug => "Bug",
        ItemKind::Task => "Task",
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
        en_kind = en_kind(key.kind),
    )
}

/// The given-up message with its subject.
pub fn given_up(key: &ItemKey, reason: Reason, console: &str) -> Message {
    let kind = crate::text::kind_name(crate::text::Lang::ZhCn, key.kind);
    Message {
        subject: format!(
            "【TAPD 文档】{kind} {id} 已放弃创建文档 / [TAPD docs] {en} {id} was given up",
            id = key.id,
            en = en_kind(key.kind)
        ),
        text: given_up_text(key, reason, console),
    }
}

/// The message for a workspace whose Tencent Docs authorization died.
pub fn authorization_gone(ws: &WorkspaceId, console: &str) -> Message {
    Message {
        subject: format!(
            "【TAPD 文档】项目 {ws} 的腾讯文档授权已失效 / [TAPD docs] Workspace {ws}: Tencent Docs authorization gone"
        ),
        text: format!(
            "【TAPD 文档】项目 {ws} 的腾讯文档授权已失效，新条目暂不会创建文档。请项目管理员在控制台重新连接腾讯文档：{console}/console/ws/{ws}\n\
             [TAPD docs] The Tencent Docs authorization of workspace {ws} is gone; new items wait. A workspace admin can reconnect it in the console."
        ),
    }
}

/// The day's digest: `more` given-up items not told one by one.
pub fn digest(ws: &WorkspaceId, day: &str, more: u32, told: u32, console: &str) -> Message {
    Message {
        subject: format!(
            "【TAPD 文档】项目 {ws} 在 {day} 另有 {more} 个条目已放弃 / [TAPD docs] Workspace {ws}: {more} more given up on {day}"
        ),
        text: format!(
            "【TAPD 文档】项目 {ws} 在 {day} 另有 {more} 个条目已放弃（超过每天逐条通知的 {told} 条，或逐条通知未能送达），请在控制台查看「已放弃」：{console}/console/ws/{ws}?state=given_up\n\
             [TAPD docs] Workspace {ws}: {more} more item(s) were given up on {day} (beyond {told} told one by one, or whose own message could not be delivered); see 'given up' in the console."
        ),
    }
}

/// Sends to the workspace's destination and notes on its record how it went (the console
/// shows a refusal). The error is logged without the URL or the address.
async fn send_noted(store: &Store, notifier: &Notifier, ws: &WorkspaceId, target: &NotifyTarget, m: &Message) -> bool {
    let sent = notifier.send(&target.to, m).await;
    if let Err(e) = &sent {
        tracing::warn!(workspace = %ws, to = target.to.kind(), error = %e, "could not tell the workspace");
    }
    if let Err(e) = store.note_delivery(ws, target.set_at, sent.as_ref().err()).await {
        tracing::warn!(workspace = %ws, error = %e, "could not note how the notice went");
    }
    sent.is_ok()
}

/// Tells the workspace that `key` was given up: once per item, one by one up to the day's
/// threshold, counted for the digest beyond it (and when it could not be delivered). Never
/// fails the caller: what went wrong is logged.
pub async fn item_given_up(store: &Store, notifier: &Notifier, key: &ItemKey, reason: Reason) {
    let console = notifier.cfg.console_base.as_str();
    let ws = &key.workspace;
    let result: Result<Option<&'static str>, StoreError> = async {
        let Some(target) = store.notify_target(ws, &notifier.cfg).await? else { return Ok(None) };
        if !store.claim_item_notice(key).await? {
            return Ok(Some("told already"));
        }
        let day = shanghai_day(now_millis());
        if !store.count_notice(ws, &day, notifier.cfg.digest_after).await? {
            return Ok(Some("counted for the digest"));
        }
        if send_noted(store, notifier, ws, &target, &given_up(key, reason, console)).await {
            return Ok(Some("sent"));
        }
        store.defer_notice(ws, &day).await?;
        Ok(Some("refused: counted for the digest"))
    }
    .await;
    match result {
        Ok(Some(what)) => tracing::info!(workspace = %ws, item = %key.id, what, "given-up notice"),
        Ok(None) => {}
        Err(e) => tracing::warn!(workspace = %ws, error = %e, "given-up notice not sent"),
    }
}

/// Tells the workspace that its Tencent Docs authorization died (called on the transition
/// only, so once per death; the console says so on its own too).
pub async fn authorization_died(store: &Store, notifier: &Notifier, ws: &WorkspaceId) {
    let Ok(Some(target)) = store.notify_target(ws, &notifier.cfg).await else { return };
    send_noted(store, notifier, ws, &target, &authorization_gone(ws, &notifier.cfg.console_base)).await;
}

/// The scheduled run's part: one digest per workspace and past day that went over the
/// threshold or had a notice refused, each sent at most once (the day is taken off the list
/// before sending, and put back when it could not be sent, for the next run).
pub async fn send_digests(store: &Store, notifier: &Notifier) -> Result<usize, StoreError> {
    let console = notifier.cfg.console_base.as_str();
    let today = shanghai_day(now_millis());
    let mut sent = 0;
    for due in store.due_digests(&today).await? {
        if !store.take_digest(&due.ws, &due.day).await? {
            continue;
        }
        let Some(target) = store.notify_target(&due.ws, &notifier.cfg).await? else { continue };
        let told = notifier.cfg.digest_after;
        let more = due.given_up.saturating_sub(told) + due.refused;
        let m = digest(&due.ws, &due.day, more, told, console);
        if send_noted(store, notifier, &due.ws, &target, &m).await {
            sent += 1;
        } else {
            store.restore_digest(&due.ws, &due.day).await?;
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
            email_from: Some(EmailAddress::parse("noreply@links.example.com").unwrap()),
        }
    }

    #[test]
    fn an_address_is_taken_only_as_an_address_and_shown_masked() {
        let a = EmailAddress::parse("  Team.Lead+tapd@Example.COM ").unwrap();
        assert_eq!(a.expose(), "Team.Lead+tapd@Example.COM", "as typed, trimmed");
        assert_eq!(a.masked(), "T***@Example.COM");
        assert!(!format!("{a:?}").contains("Lead"), "Debug masks it");
        assert_eq!(EmailAddress::parse("mailto:a@b.cn").unwrap().expose(), "a@b.cn");
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a@b",
            "a@b.1",
            "a..b@c.com",
            ".a@c.com",
            "a.@c.com",
            "a b@c.com",
            "a@b .com",
            "a@-b.com",
            "a@b-.com",
            "a@b..com",
            "a@@b.com",
            "Name <a@b.com>",
            "a@b.com, c@d.com",
            "a@b.com\r\nBcc: c@d.com",
            "a@b.com\nX: y",
            "\"a\"@b.com",
            "张三@例子.中国",
            "a@[127.0.0.1]",
        ] {
            assert_eq!(EmailAddress::parse(bad), Err(NotifyError::NotAnAddress), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert_eq!(EmailAddress::parse(&long), Err(NotifyError::NotAnAddress));
    }

    #[test]
    fn a_destination_is_a_robot_or_an_address_and_e_mail_only_where_the_deployment_sends_it() {
        let wecom = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k1";
        assert!(matches!(Destination::parse(wecom, &cfg()), Ok(Destination::Robot(Robot::WeCom { .. }))));
        let to = Destination::parse("lead@example.com", &cfg()).unwrap();
        assert_eq!((to.kind(), to.shown().as_deref()), ("email", Some("l***@example.com")));
        // Read back as stored.
        assert_eq!(Destination::parse(to.stored().expose(), &cfg()), Ok(to));
        assert_eq!(Destination::parse("not an address", &cfg()), Err(NotifyError::NotARobot));
        assert_eq!(Destination::parse("a@b", &cfg()), Err(NotifyError::NotAnAddress));
        let off = NotifyConfig { email_from: None, ..cfg() };
        assert_eq!(Destination::parse("lead@example.com", &off), Err(NotifyError::EmailOff));
        assert!(NotifyError::EmailOff.words(crate::text::Lang::ZhCn).starts_with("本部署未开启邮件通知"));
    }

    #[test]
    fn ses_messages_are_kept_without_the_recipients_address() {
        let from = EmailAddress::parse("noreply@links.example.com").unwrap();
        let said = "Email address is not verified. The following identities failed the check in region US-EAST-1: lead@example.com, noreply@links.example.com";
        let masked = mask_addresses(said, &from);
        assert!(!masked.contains("lead@"), "{masked}");
        assert!(masked.contains("l***@example.com,") && masked.contains("noreply@links.example.com"), "{masked}");
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
        let m = given_up(&key, Reason::ItemVanished, "https://links.example.com");
        assert_eq!(
            m.subject,
            "【TAPD 文档】缺陷 1120000001000000007 已放弃创建文档 / [TAPD docs] Bug 1120000001000000007 was given up"
        );
        assert_eq!(m.text, text);
        let d = digest(&key.workspace, "2026-12-07", 3, 5, "https://links.example.com");
        assert!(d.subject.starts_with("【TAPD 文档】项目 20000001 在 2026-12-07 另有 3 个条目已放弃"), "{d:?}");
    }
}
