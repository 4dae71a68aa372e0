//! Every string a person reads, in one place: Simplified Chinese first (TAPD and Tencent
//! Docs are used in Chinese), English when the browser prefers it.
//!
//! Texts are plain text: callers HTML-escape what they get, values included. To add a
//! text, add a function (or a variant of an enum below) with both languages side by side;
//! the tests check that both exist and differ.

use crate::upstream::Service;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    ZhCn,
    En,
}

impl Lang {
    /// The language of a request's `Accept-Language`: the preferred of Chinese and English
    /// (by `q`, then order), Chinese when neither is named or the header is absent.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.unwrap_or("").split(',') {
            let mut fields = part.split(';');
            let tag = fields.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = fields
                .filter_map(|f| f.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
                .next()
                .unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("zh") => Lang::ZhCn,
                Some("en") => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::ZhCn, |(_, l)| l)
    }

    /// The page's `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn pick(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::ZhCn => zh,
            Lang::En => en,
        }
    }
}

/// A service's name as people know it.
pub fn service(lang: Lang, s: Service) -> &'static str {
    match s {
        Service::Tapd => "TAPD",
        Service::Tdoc => lang.pick("腾讯文档", "Tencent Docs"),
    }
}

/// A refusal or failure page: its title and one sentence saying what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub title: String,
    pub detail: String,
}

/// Why a connect page is not the connected page. Providers' `error` values are mapped to
/// [`Problem::Denied`] or [`Problem::ProviderError`]: never shown as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    BadState,
    OtherBrowser,
    Denied(Service),
    ProviderError(Service),
    MissingCode,
    BadQuery,
    CodeRefused(Service),
    ProviderFailed(Service),
    NotAWorkspace,
    WorkspaceNotAllowed,
    AccountNotAllowed,
    /// The consenting TAPD user is neither an admin of the workspace nor named by the operator.
    NotAnAdmin,
    /// TAPD would not say who consented or what roles they hold: nobody is let in on that.
    RolesUnreadable,
    Unavailable,
    NotFound,
    MethodNotAllowed,
    BadRequest,
    TooLarge,
}

pub fn problem(lang: Lang, p: Problem) -> Message {
    let m = |title: String, detail: String| Message { title, detail };
    let fixed = |zt: &str, et: &str, zd: &str, ed: &str| match lang {
        Lang::ZhCn => m(zt.into(), zd.into()),
        Lang::En => m(et.into(), ed.into()),
    };
    match p {
        Problem::BadState => fixed(
            "链接已失效",
            "This link has expired",
            "这个授权链接无效、已被使用或已过期（有效期 10 分钟）。",
            "This authorization link is invalid, already used or expired (links last 10 minutes).",
        ),
        Problem::OtherBrowser => fixed(
            "请在发起连接的浏览器中完成",
            "Finish in the browser that started",
            "这个授权不是在此浏览器中发起的，已被拒绝，未做任何更改。如果是别人发给你的链接，请不要继续。",
            "This authorization was not started in this browser: it was refused and nothing was changed. \
             If someone sent you this link, do not continue.",
        ),
        Problem::Denied(s) => {
            let n = service(lang, s);
            match lang {
                Lang::ZhCn => m(format!("未获得{n}授权"), format!("你在{n}拒绝了授权，未做任何更改。")),
                Lang::En => m(
                    format!("{n} access was not granted"),
                    format!("Access was declined at {n}; nothing was changed."),
                ),
            }
        }
        Problem::ProviderError(s) => {
            let n = service(lang, s);
            match lang {
                Lang::ZhCn => m(format!("{n}授权未完成"), format!("{n}返回了错误，授权未完成，未做任何更改。")),
                Lang::En => m(
                    format!("{n} authorization did not complete"),
                    format!("{n} reported an error; access was not granted and nothing was changed."),
                ),
            }
        }
        Problem::MissingCode | Problem::BadQuery => fixed(
            "授权不完整",
            "Incomplete authorization",
            "返回的授权参数缺失或重复。",
            "The authorization came back with missing or repeated parameters.",
        ),
        Problem::CodeRefused(s) => {
            let n = service(lang, s);
            match lang {
                Lang::ZhCn => m("授权被拒绝".into(), format!("{n}拒绝了授权码（可能已过期或已被使用）。")),
                Lang::En => {
                    m("Authorization refused".into(), format!("{n} refused the authorization code (expired or used)."))
                }
            }
        }
        Problem::ProviderFailed(s) => {
            let n = service(lang, s);
            match lang {
                Lang::ZhCn => m(format!("{n}暂时无响应"), format!("{n}暂时无法完成授权，请稍后再试。")),
                Lang::En => m(
                    "The provider is not answering".into(),
                    format!("{n} could not complete the authorization; try again in a few minutes."),
                ),
            }
        }
        Problem::NotAWorkspace => fixed(
            "TAPD 授权未指定项目",
            "TAPD authorized no workspace",
            "TAPD 的授权没有指明项目。请项目管理员在 TAPD 开放平台为该项目授权（安装）本应用，然后重新连接。",
            "TAPD's authorization names no workspace. A workspace admin must authorize (install) the app for the \
             workspace on the TAPD open platform, then connect again.",
        ),
        Problem::WorkspaceNotAllowed => fixed(
            "此项目不允许连接",
            "This workspace may not connect",
            "本部署只允许指定的 TAPD 项目连接，此项目不在其中，未做任何更改。请联系部署者。",
            "This deployment accepts only listed TAPD workspaces, and this one is not listed; nothing was changed. \
             Ask whoever deployed it.",
        ),
        Problem::NotAnAdmin => fixed(
            "只有项目管理员可以连接或管理此项目",
            "Only this workspace's admins may connect or manage it",
            "TAPD 显示你不是此项目的管理员（角色「管理员」），也不在部署者为此项目指定的管理者名单中，未做任何更改。\
             请让此项目的管理员来连接或登录控制台；如确需由你管理，请联系部署者（运维）\
             把你的 TAPD 账号加入此项目的管理者名单（命令：tapdocs workspace admins add）。",
            "TAPD says you are not an admin of this workspace (its admin role), and the deployer has not named you \
             for it, so nothing was changed. Ask one of the workspace's admins to connect it or sign in to the \
             console; if you should manage it, ask the deployer (operator) to add your TAPD account \
             (command: tapdocs workspace admins add).",
        ),
        Problem::RolesUnreadable => fixed(
            "无法确认你是项目管理员",
            "Could not confirm you are an admin",
            "TAPD 没有允许读取你的账号或此项目的成员角色，因此无法确认你是管理员，未做任何更改。\
             只有项目管理员可以连接或管理项目。请联系部署者检查 TAPD 应用的权限（用户信息、项目成员、角色）。",
            "TAPD did not let us read your account or this workspace's member roles, so we could not confirm \
             you are an admin, and nothing was changed. Only a workspace's admins may connect or manage it. \
             Ask the deployer to check the TAPD app's permissions (user info, workspace members, roles).",
        ),
        Problem::AccountNotAllowed => fixed(
            "此腾讯文档账号不允许连接",
            "This Tencent Docs account may not connect",
            "本部署只允许指定的腾讯文档账号，此账号不在其中，未做任何更改。请联系部署者。",
            "This deployment accepts only listed Tencent Docs accounts, and this one is not listed; nothing was \
             changed. Ask whoever deployed it.",
        ),
        Problem::Unavailable => fixed(
            "暂时不可用",
            "Temporarily unavailable",
            "服务暂时不可用，请稍后再试。",
            "The service is temporarily unavailable; try again in a few minutes.",
        ),
        Problem::NotFound => fixed("页面不存在", "Not found", "这里什么也没有。", "There is nothing here."),
        Problem::MethodNotAllowed => fixed(
            "不支持的请求方法",
            "Method not allowed",
            "此地址不接受这种请求。",
            "This address does not take this request.",
        ),
        Problem::BadRequest => fixed("请求无效", "Bad request", "请求无法读取。", "The request could not be read."),
        Problem::TooLarge => fixed(
            "请求过大",
            "Request too large",
            "提交的内容太多，未被读取。",
            "The request carried too much to be read.",
        ),
    }
}

/// The link under every refusal page.
pub fn start_again(lang: Lang) -> &'static str {
    lang.pick("重新开始连接 TAPD 与腾讯文档", "Start connecting TAPD to Tencent Docs again")
}

/// Which Tencent Docs account a workspace is (to be) connected to, as a person reads it.
pub fn account_name(lang: Lang, nick: Option<&str>, open_id: Option<&str>) -> String {
    match (nick.filter(|n| !n.is_empty()), open_id) {
        (Some(n), _) => n.to_owned(),
        (None, Some(o)) => format!("Open-Id {o}"),
        (None, None) => lang.pick("本应用的腾讯文档应用账号", "this app's Tencent Docs app account").to_owned(),
    }
}

/// The page asking to confirm that a workspace's account is replaced.
pub struct Confirm {
    pub title: &'static str,
    pub question: String,
    pub consequence: &'static str,
    pub button: &'static str,
    pub not_you: &'static str,
}

pub fn confirm(lang: Lang, workspace: &str, current: &str, new: &str) -> Confirm {
    Confirm {
        title: lang.pick("确认更换腾讯文档账号", "Confirm the new Tencent Docs account"),
        question: match lang {
            Lang::ZhCn => {
                format!("TAPD 项目 {workspace} 目前连接的是腾讯文档账号「{current}」。是否改为连接「{new}」？")
            }
            Lang::En => format!(
                "TAPD workspace {workspace} is connected to the Tencent Docs account \u{201c}{current}\u{201d}. \
                 Connect it to \u{201c}{new}\u{201d} instead?"
            ),
        },
        consequence: lang.pick(
            "确认后，新的文档将由新账号创建；已创建的文档不受影响。",
            "Once confirmed, new docs are created as the new account; docs already made stay where they are.",
        ),
        button: lang.pick("确认更换", "Replace the account"),
        not_you: lang.pick(
            "如果这不是你发起的，请关闭此页面：现有连接保持不变。",
            "If you did not start this, close this page: the current connection stays as it is.",
        ),
    }
}

/// The page saying what is now connected, and the next step (TAPD's webhook).
pub struct Connected {
    pub title: &'static str,
    pub summary: String,
    pub what_happens: &'static str,
    pub next_step: &'static str,
    pub url_label: &'static str,
    pub events_label: &'static str,
    pub format_label: &'static str,
    pub format_value: &'static str,
    pub secret_label: &'static str,
    /// What the secret opens and how to keep it.
    pub secret_note: String,
    pub copy: &'static str,
    /// The steps in TAPD, in order.
    pub steps: Vec<String>,
    pub done: &'static str,
}

pub fn connected(lang: Lang, workspace: &str, account: &str) -> Connected {
    Connected {
        title: lang.pick("已连接", "Connected"),
        summary: match lang {
            Lang::ZhCn => format!("TAPD 项目 {workspace} 现已连接到腾讯文档账号「{account}」。"),
            Lang::En => format!(
                "TAPD workspace {workspace} is now connected to the Tencent Docs account \u{201c}{account}\u{201d}."
            ),
        },
        what_happens: lang.pick(
            "配置好 Webhook 后，此项目中每个新需求和缺陷都会得到自己的腾讯文档，并在条目的评论中附上链接。",
            "Once the webhook is set up, every new story and bug in this workspace gets its own Tencent Doc, \
             linked in a comment on the item.",
        ),
        next_step: lang.pick(
            "下一步：在 TAPD 项目设置 → Webhook 中添加",
            "Next step: add it in TAPD (workspace settings → webhooks)",
        ),
        url_label: lang.pick("URL", "URL"),
        events_label: lang.pick("勾选事件", "Events to tick"),
        format_label: lang.pick("请求体格式", "Body format"),
        format_value: "JSON",
        secret_label: lang.pick("密钥（secret）", "Secret"),
        secret_note: match lang {
            Lang::ZhCn => format!(
                "这是本项目专用的密钥：只对项目 {workspace} 的投递有效，请像密码一样保管。它只向连接本项目的管理员显示；如怀疑泄露，请让运维轮换（旧密钥在宽限期内仍然有效）。"
            ),
            Lang::En => format!(
                "This secret belongs to this workspace alone: it opens deliveries for workspace {workspace} only. \
                 Keep it like a password. It is shown only to the admins who connect this workspace; if it may have \
                 leaked, have it rotated (the old one keeps working for a grace period)."
            ),
        },
        copy: lang.pick("复制密钥", "Copy the secret"),
        steps: match lang {
            Lang::ZhCn => vec![
                "在 TAPD 打开本项目，进入「设置 → 应用设置 → Webhook」，点击「添加 Webhook」。".to_owned(),
                "「URL」填上面的地址，「密钥（secret）」粘贴上面的密钥。".to_owned(),
                "勾选下面列出的事件，请求体格式选 JSON，保存。".to_owned(),
                "新建一个需求试试：片刻后它的评论里会出现文档链接。".to_owned(),
            ],
            Lang::En => vec![
                "In TAPD, open this workspace and go to Settings → App settings → Webhook; click Add webhook."
                    .to_owned(),
                "Enter the URL above as the URL, and paste the secret above as its secret.".to_owned(),
                "Tick the events listed below, choose JSON as the body format, and save.".to_owned(),
                "Create a story to try it: a moment later its comments link its doc.".to_owned(),
            ],
        },
        done: lang.pick("完成后即可关闭此页面。", "You can close this page then."),
    }
}

/// The TAPD events the webhook acts on, as they are named in TAPD's settings.
pub const WEBHOOK_EVENTS: [&str; 6] =
    ["story::create", "bug::create", "story::update", "bug::update", "story::delete", "bug::delete"];

// ---- What the webhook writes into TAPD and Tencent Docs (`LANGUAGE`) ----

/// An item kind as TAPD names it in the interface.
/// Why a template file id is refused in app-account mode (the console's settings form).
pub fn foreign_template(
    lang: Lang,
    kind: crate::ids::ItemKind,
    why: crate::link::placement::ForeignTemplate,
) -> String {
    use crate::link::placement::ForeignTemplate as F;
    let what = kind_name(lang, kind);
    match (lang, why) {
        (Lang::ZhCn, F::NoWorkspaceFolder) => {
            format!("{what}模板：本项目还没有自己的文件夹，无法使用模板；请先关联一个条目，再把模板放进本项目的文件夹")
        }
        (Lang::ZhCn, F::NotInWorkspaceFolder) => {
            format!("{what}模板：该文件不在本项目的文件夹中（只能使用本项目自己的文件）；请先把它放进本项目的文件夹")
        }
        (Lang::En, F::NoWorkspaceFolder) => format!(
            "{what} template: this workspace has no folder of its own yet, so no file is its own; link an item first, then put the template in the workspace's folder"
        ),
        (Lang::En, F::NotInWorkspaceFolder) => format!(
            "{what} template: the file is not in this workspace's folder (only the workspace's own files can be templates); put it there first"
        ),
    }
}

/// The template could not be checked now (Tencent Docs unreachable): nothing is saved.
pub fn template_unchecked(lang: Lang) -> &'static str {
    lang.pick(
        "暂时无法向腾讯文档确认模板属于本项目，设置未保存，请稍后重试",
        "Tencent Docs could not confirm now that the template is this workspace's own; nothing was saved, try again later",
    )
}

pub fn kind_name(lang: Lang, kind: crate::ids::ItemKind) -> &'static str {
    use crate::ids::ItemKind;
    match kind {
        ItemKind::Story => lang.pick("需求", "story"),
        ItemKind::Bug => lang.pick("缺陷", "bug"),
        ItemKind::Task => lang.pick("任务", "task"),
    }
}

/// The comment's sentence before the doc's linked title: "已为此需求创建腾讯文档：".
pub fn comment_lead(lang: Lang, kind: crate::ids::ItemKind) -> String {
    match lang {
        Lang::ZhCn => format!("已为此{}创建腾讯文档：", kind_name(lang, kind)),
        Lang::En => format!("Tencent Doc for this {}: ", kind_name(lang, kind)),
    }
}

/// The labels of the doc's first paragraph.
pub struct IntroLabels {
    pub owner: &'static str,
    pub priority: &'static str,
    pub iteration: &'static str,
    pub description: &'static str,
    /// Before the item's link.
    pub open_in_tapd: &'static str,
}

pub fn intro_labels(lang: Lang) -> IntroLabels {
    IntroLabels {
        owner: lang.pick("处理人", "Owner"),
        priority: lang.pick("优先级", "Priority"),
        iteration: lang.pick("迭代", "Iteration"),
        description: lang.pick("描述", "Description"),
        open_in_tapd: lang.pick("在 TAPD 中查看", "Open in TAPD"),
    }
}

impl std::str::FromStr for Lang {
    type Err = ();
    /// `LANGUAGE`: `zh-CN` (or `zh`), `en`.
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "zh-cn" | "zh" | "zh-hans" => Ok(Lang::ZhCn),
            "en" | "en-us" | "en-gb" => Ok(Lang::En),
            _ => Err(()),
        }
    }
}

/// Text for HTML: `& < > " '` escaped (pages, and the comment posted on TAPD items).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_of_chinese_and_english() {
        assert_eq!(Lang::from_accept_language(None), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language(Some("")), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language(Some("fr-FR,de")), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language(Some("fr;q=1,zh;q=0.5,en-GB;q=0.7")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("en;q=0,zh-TW")), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language(Some("EN")), Lang::En);
    }

    #[test]
    fn every_text_exists_in_both_languages() {
        let all = [
            Problem::BadState,
            Problem::OtherBrowser,
            Problem::Denied(Service::Tapd),
            Problem::ProviderError(Service::Tdoc),
            Problem::MissingCode,
            Problem::BadQuery,
            Problem::CodeRefused(Service::Tdoc),
            Problem::ProviderFailed(Service::Tapd),
            Problem::NotAWorkspace,
            Problem::WorkspaceNotAllowed,
            Problem::AccountNotAllowed,
            Problem::NotAnAdmin,
            Problem::RolesUnreadable,
            Problem::Unavailable,
            Problem::NotFound,
            Problem::MethodNotAllowed,
            Problem::BadRequest,
            Problem::TooLarge,
        ];
        for p in all {
            let (zh, en) = (problem(Lang::ZhCn, p), problem(Lang::En, p));
            assert!(!zh.title.is_empty() && !zh.detail.is_empty() && !en.title.is_empty(), "{p:?}");
            assert_ne!(zh.detail, en.detail, "{p:?}");
            assert!(zh.detail.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{p:?} is not Chinese");
            assert!(en.detail.is_ascii(), "{p:?} is not English");
        }
        assert!(problem(Lang::En, Problem::ProviderFailed(Service::Tdoc)).detail.contains("Tencent Docs"));
        assert!(problem(Lang::ZhCn, Problem::ProviderFailed(Service::Tdoc)).detail.contains("腾讯文档"));
        assert_ne!(start_again(Lang::ZhCn), start_again(Lang::En));
    }

    #[test]
    fn connected_and_confirm_pages_name_what_they_are_about() {
        for lang in [Lang::ZhCn, Lang::En] {
            let c = connected(lang, "20003271", "Lin");
            assert!(c.summary.contains("20003271") && c.summary.contains("Lin"));
            assert!(!c.secret_note.contains("TapdWebhookSecret"), "the deployment's secret is never an admin's");
            assert_eq!(c.steps.len(), 4);
            let q = confirm(lang, "20003271", "Old", "New");
            assert!(q.question.contains("Old") && q.question.contains("New"));
        }
        assert_ne!(connected(Lang::ZhCn, "1", "a").title, connected(Lang::En, "1", "a").title);
        assert_eq!(account_name(Lang::En, Some("Lin"), Some("x")), "Lin");
        assert_eq!(account_name(Lang::En, None, Some("x")), "Open-Id x");
        assert_eq!(account_name(Lang::En, Some(""), None), "this app's Tencent Docs app account");
    }

    #[test]
    fn a_refused_template_says_why_in_both_languages() {
        use crate::ids::ItemKind;
        use crate::link::placement::ForeignTemplate;
        for why in [ForeignTemplate::NoWorkspaceFolder, ForeignTemplate::NotInWorkspaceFolder] {
            let (zh, en) =
                (foreign_template(Lang::ZhCn, ItemKind::Bug, why), foreign_template(Lang::En, ItemKind::Bug, why));
            assert!(zh.starts_with(kind_name(Lang::ZhCn, ItemKind::Bug)) && zh.contains("文件夹"), "{zh}");
            assert!(
                en.starts_with(kind_name(Lang::En, ItemKind::Bug)) && en.contains("folder") && en.is_ascii(),
                "{en}"
            );
        }
        assert_ne!(
            foreign_template(Lang::En, ItemKind::Story, ForeignTemplate::NoWorkspaceFolder),
            foreign_template(Lang::En, ItemKind::Story, ForeignTemplate::NotInWorkspaceFolder)
        );
        assert!(
            template_unchecked(Lang::ZhCn).contains("未保存")
                && template_unchecked(Lang::En).contains("nothing was saved")
        );
    }
}
