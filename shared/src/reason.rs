//! Why an item waits or was given up, as a type: made where the failure is known (from a
//! [`LinkError`], an [`UpstreamError`] or a decision of the linker), stored as its stable code
//! (the item's `reason` attribute), and put into words only here, for every page and language.
//! The text of the error (`last_error`) stays for logs and the CLI; nothing reads it back to
//! decide what to say, but for records written before reasons were typed ([`Reason::legacy`]).

use crate::error::LinkError;
use crate::ids::ItemKind;
use crate::store::StoreError;
use crate::text::Lang;
use crate::upstream::{Service, UpstreamError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The workspace's settings leave this kind alone.
    KindNotLinked(ItemKind),
    /// Linking is paused in the workspace.
    Paused,
    /// The workspace's Tencent Docs authorization is gone.
    NeedsReconnect,
    /// TAPD says the item does not exist.
    ItemNotFound,
    /// TAPD said twice, a while apart, that the item does not exist: given up at once.
    ItemVanished,
    /// The item was deleted in TAPD.
    Deleted,
    /// A create's reply was lost; waiting until Tencent Docs can no longer make it, then looking again.
    CreateUnsettled,
    /// A look for what an earlier attempt made could not tell.
    LookFailed,
    /// The service rate limits us.
    RateLimited(Service),
    /// The service could not be reached, failed, or answered something unreadable.
    Unavailable(Service),
    /// The service refused the access token, and a fresh one did not help.
    TokenRefused(Service),
    /// The service refused the request itself.
    Refused(Service),
    /// Our own storage failed.
    Storage,
    /// Too little time left in the invocation to create safely.
    OutOfTime,
    /// None of the above (kept for what no variant names yet).
    Other,
}

impl Reason {
    /// Every reason, for the tests that put each through every page and language.
    pub fn all() -> Vec<Reason> {
        let mut all = vec![
            Reason::Paused,
            Reason::NeedsReconnect,
            Reason::ItemNotFound,
            Reason::ItemVanished,
            Reason::Deleted,
            Reason::CreateUnsettled,
            Reason::LookFailed,
            Reason::Storage,
            Reason::OutOfTime,
            Reason::Other,
        ];
        for kind in ItemKind::ALL {
            all.push(Reason::KindNotLinked(kind));
        }
        for s in [Service::Tapd, Service::Tdoc] {
            all.extend([Reason::RateLimited(s), Reason::Unavailable(s), Reason::TokenRefused(s), Reason::Refused(s)]);
        }
        all
    }

    /// Its stable code, as stored and in URLs and JSON.
    pub fn code(self) -> String {
        let svc = |s: Service| match s {
            Service::Tapd => "tapd",
            Service::Tdoc => "tdoc",
        };
        match self {
            Reason::KindNotLinked(k) => format!("kind_not_linked:{}", k.as_str()),
            Reason::Paused => "paused".into(),
            Reason::NeedsReconnect => "needs_reconnect".into(),
            Reason::ItemNotFound => "item_not_found".into(),
            Reason::ItemVanished => "item_vanished".into(),
            Reason::Deleted => "deleted".into(),
            Reason::CreateUnsettled => "create_unsettled".into(),
            Reason::LookFailed => "look_failed".into(),
            Reason::RateLimited(s) => format!("rate_limited:{}", svc(s)),
            Reason::Unavailable(s) => format!("unavailable:{}", svc(s)),
            Reason::TokenRefused(s) => format!("token_refused:{}", svc(s)),
            Reason::Refused(s) => format!("refused:{}", svc(s)),
            Reason::Storage => "storage".into(),
            Reason::OutOfTime => "out_of_time".into(),
            Reason::Other => "other".into(),
        }
    }

    /// The inverse of [`Reason::code`]; `None` for a code this version does not know.
    pub fn parse(code: &str) -> Option<Reason> {
        Reason::all().into_iter().find(|r| r.code() == code)
    }

    /// What a record written before reasons were typed meant, read once from its logged text.
    pub fn legacy(text: &str) -> Reason {
        let says = |needle: &str| text.contains(needle);
        let service = if says("Tencent Docs") { Service::Tdoc } else { Service::Tapd };
        if says("settings leave") {
            let kind = ItemKind::ALL.into_iter().find(|k| text.contains(&format!("leave {}s", k.as_str())));
            kind.map_or(Reason::Other, Reason::KindNotLinked)
        } else if says("paused") {
            Reason::Paused
        } else if says("reconnect") {
            Reason::NeedsReconnect
        } else if says("deleted in TAPD") {
            Reason::Deleted
        } else if says("no such item") {
            Reason::ItemNotFound
        } else if says("could not tell") {
            Reason::LookFailed
        } else if says("reply to creating the doc was lost") {
            Reason::CreateUnsettled
        } else if says("rate limiting") {
            Reason::RateLimited(service)
        } else if says("refused the access token") {
            Reason::TokenRefused(service)
        } else if says("refused the request") {
            Reason::Refused(service)
        } else if says("TAPD") || says("Tencent Docs") {
            Reason::Unavailable(service)
        } else if says("DynamoDB") {
            Reason::Storage
        } else {
            Reason::Other
        }
    }

    /// Whether waiting mends it (a scheduled retry will try again by itself).
    pub fn mends_itself(self) -> bool {
        !matches!(
            self,
            Reason::KindNotLinked(_)
                | Reason::NeedsReconnect
                | Reason::ItemNotFound
                | Reason::ItemVanished
                | Reason::Deleted
                | Reason::Refused(_)
                | Reason::TokenRefused(_)
        )
    }

    /// What happened, in words (no advice on what happens next: see [`Reason::waiting`] and
    /// [`Reason::given_up`]).
    pub fn words(self, lang: Lang) -> String {
        let name = |s: Service| match (s, lang) {
            (Service::Tapd, _) => "TAPD",
            (Service::Tdoc, Lang::ZhCn) => "腾讯文档",
            (Service::Tdoc, Lang::En) => "Tencent Docs",
        };
        let kind = |k: ItemKind| match (k, lang) {
            (ItemKind::Story, Lang::ZhCn) => "需求",
            (ItemKind::Bug, Lang::ZhCn) => "缺陷",
            (ItemKind::Task, Lang::ZhCn) => "任务",
            (ItemKind::Story, Lang::En) => "stories",
            (ItemKind::Bug, Lang::En) => "bugs",
            (ItemKind::Task, Lang::En) => "tasks",
        };
        let zh = matches!(lang, Lang::ZhCn);
        match self {
            Reason::KindNotLinked(k) if zh => format!("本项目的设置不为{}创建文档（在「处理的事件」中勾选后可重试）", kind(k)),
            Reason::KindNotLinked(k) => format!("The workspace's settings do not link {} (tick them under the events acted on to retry)", kind(k)),
            Reason::Paused if zh => "本项目已暂停创建文档".into(),
            Reason::Paused => "Linking is paused in this workspace".into(),
            Reason::NeedsReconnect if zh => "腾讯文档的授权已失效，请在控制台重新连接腾讯文档（文档都会保留）".into(),
            Reason::NeedsReconnect => "The Tencent Docs authorization is gone: reconnect Tencent Docs from the console (the docs stay)".into(),
            Reason::ItemNotFound if zh => "TAPD 中找不到这个条目".into(),
            Reason::ItemNotFound => "TAPD has no such item".into(),
            Reason::ItemVanished if zh => "TAPD 两次确认没有这个条目（可能已被删除，或投递是伪造的）".into(),
            Reason::ItemVanished => "TAPD said twice that there is no such item (deleted, or a forged delivery)".into(),
            Reason::Deleted if zh => "条目已在 TAPD 中删除".into(),
            Reason::Deleted => "The item was deleted in TAPD".into(),
            Reason::CreateUnsettled if zh => "上次创建文档时没有收到腾讯文档的答复：正在核实文档是否已经创建，确认前不会再创建一个".into(),
            Reason::CreateUnsettled => "Tencent Docs did not answer the last create: checking whether the doc was made; no second one is made meanwhile".into(),
            Reason::LookFailed if zh => "无法读取目标文件夹，暂时不能确认文档是否已创建".into(),
            Reason::LookFailed => "The target folder could not be read, so it is not yet known whether the doc was made".into(),
            Reason::RateLimited(s) if zh => format!("请求过于频繁，{}暂时限流", name(s)),
            Reason::RateLimited(s) => format!("{} is rate limiting us", name(s)),
            Reason::Unavailable(s) if zh => format!("{}暂时无法访问", name(s)),
            Reason::Unavailable(s) => format!("{} could not be reached", name(s)),
            Reason::TokenRefused(s) if zh => format!("{}拒绝了访问令牌", name(s)),
            Reason::TokenRefused(s) => format!("{} refused our access token", name(s)),
            Reason::Refused(s) if zh => format!("{}拒绝了请求", name(s)),
            Reason::Refused(s) => format!("{} refused the request", name(s)),
            Reason::Storage if zh => "服务内部存储暂时不可用".into(),
            Reason::Storage => "Our storage was unavailable".into(),
            Reason::OutOfTime if zh => "本次处理时间不足，未能安全地创建文档".into(),
            Reason::OutOfTime => "Too little time was left to create the doc safely".into(),
            Reason::Other if zh => "暂时失败".into(),
            Reason::Other => "A temporary failure".into(),
        }
    }

    /// A waiting item's line: why, and when the next try is (`next`: a time as pages show
    /// it, `None` when it waits for something else, such as a resume).
    pub fn waiting(self, lang: Lang, next: Option<&str>) -> String {
        let why = self.words(lang);
        match (lang, next) {
            (Lang::ZhCn, Some(at)) => format!("{why}。将于 {at} 自动重试。"),
            (Lang::ZhCn, None) if self == Reason::Paused => format!("{why}。恢复后立即处理。"),
            (Lang::ZhCn, None) => format!("{why}。稍后自动重试。"),
            (Lang::En, Some(at)) => format!("{why}. Next try at {at}."),
            (Lang::En, None) if self == Reason::Paused => format!("{why}. Taken as soon as linking resumes."),
            (Lang::En, None) => format!("{why}. Retried automatically."),
        }
    }

    /// A given-up item's line: always says it was given up, and that a retry is possible.
    pub fn given_up(self, lang: Lang) -> String {
        let why = self.words(lang);
        match lang {
            Lang::ZhCn => format!("已放弃，不再自动重试：{why}。可以手动重试。"),
            Lang::En => format!("Given up, no longer retried automatically: {why}. You can retry it."),
        }
    }
}

impl From<&UpstreamError> for Reason {
    fn from(e: &UpstreamError) -> Self {
        match e {
            UpstreamError::RateLimited { service } => Reason::RateLimited(*service),
            UpstreamError::Unauthorized { service } => Reason::TokenRefused(*service),
            UpstreamError::Refused { service, .. } => Reason::Refused(*service),
            UpstreamError::Unreachable { service, .. }
            | UpstreamError::Unavailable { service, .. }
            | UpstreamError::Malformed { service, .. } => Reason::Unavailable(*service),
        }
    }
}

impl From<&LinkError> for Reason {
    fn from(e: &LinkError) -> Self {
        match e {
            LinkError::Upstream(e) => e.into(),
            LinkError::Store(StoreError::LostClaim) => Reason::Other,
            LinkError::Store(_) => Reason::Storage,
            LinkError::NeedsReconnect => Reason::NeedsReconnect,
            LinkError::ItemNotFound => Reason::ItemNotFound,
            LinkError::CreateUnsettled { .. } => Reason::CreateUnsettled,
            LinkError::LookFailed(_) => Reason::LookFailed,
            LinkError::NoTimeToCreate => Reason::OutOfTime,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_code_and_has_words_in_both_languages() {
        let all = Reason::all();
        let codes: std::collections::HashSet<String> = all.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), all.len(), "codes are distinct");
        for r in all {
            assert_eq!(Reason::parse(&r.code()), Some(r));
            let (zh, en) = (r.words(Lang::ZhCn), r.words(Lang::En));
            assert!(!zh.is_empty() && !en.is_empty() && zh != en, "{r:?}");
            assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{r:?}: {zh}");
            assert!(r.given_up(Lang::ZhCn).contains("已放弃") && r.given_up(Lang::ZhCn).contains("手动重试"));
            assert!(r.given_up(Lang::En).contains("Given up") && r.given_up(Lang::En).contains("retry"));
            assert!(r.waiting(Lang::ZhCn, Some("12-07 16:00")).contains("12-07 16:00"));
        }
        assert_eq!(Reason::parse("nonsense"), None);
    }

    #[test]
    fn a_given_up_item_says_so_whatever_service_failed_first() {
        // The old text search showed a TAPD outage given up after days as "retried automatically".
        let r = Reason::legacy("given up after 72 h of retries: TAPD is unavailable: 502");
        assert_eq!(r, Reason::Unavailable(Service::Tapd));
        assert!(r.given_up(Lang::En).starts_with("Given up"));
        assert!(!r.given_up(Lang::En).contains("automatically.") || r.given_up(Lang::En).contains("no longer"));
    }

    #[test]
    fn legacy_texts_read_as_what_they_meant() {
        let cases = [
            ("not linked: the workspace's settings leave bugs alone", Reason::KindNotLinked(ItemKind::Bug)),
            ("linking is paused in this workspace", Reason::Paused),
            ("the workspace's Tencent Docs authorization is gone: reconnect the workspace", Reason::NeedsReconnect),
            ("TAPD has no such item in the workspace", Reason::ItemNotFound),
            ("the item was deleted in TAPD", Reason::Deleted),
            ("Tencent Docs is rate limiting us", Reason::RateLimited(Service::Tdoc)),
            ("TAPD cannot be reached: connect", Reason::Unavailable(Service::Tapd)),
            ("DynamoDB is unavailable: x", Reason::Storage),
            ("something else", Reason::Other),
        ];
        for (text, want) in cases {
            assert_eq!(Reason::legacy(text), want, "{text}");
        }
    }

    #[test]
    fn reasons_are_made_from_the_errors_that_carry_them() {
        let rate = UpstreamError::RateLimited { service: Service::Tdoc };
        assert_eq!(Reason::from(&LinkError::Upstream(rate)), Reason::RateLimited(Service::Tdoc));
        assert_eq!(Reason::from(&LinkError::NeedsReconnect), Reason::NeedsReconnect);
        let store = LinkError::Store(StoreError::Unavailable("x".into()));
        assert_eq!(Reason::from(&store), Reason::Storage);
        assert!(!Reason::ItemVanished.mends_itself() && Reason::RateLimited(Service::Tapd).mends_itself());
    }
}
