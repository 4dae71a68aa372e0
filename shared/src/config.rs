//! Configuration, read once at init from the environment (see `contract.md`).
//!
//! Every problem is collected and reported together, one line naming each variable, so a
//! deployment with three mistakes is fixed in one round, not three.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::client_secret::{self, ClientSecret};
use crate::crypto::Keyring;
use crate::ids::ItemKind;
use crate::secret::Secret;
use crate::text::Lang;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.problems.join("; "))
    }
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Reads variables through a lookup function, so tests need not touch the process env.
pub struct Env<'a> {
    lookup: Lookup<'a>,
    problems: Vec<String>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self { lookup: Box::new(lookup), problems: Vec::new() }
    }

    /// The process environment. A secret whose `<NAME>_ARN` is set is read once, here, from
    /// Secrets Manager or Parameter Store through the AWS Parameters and Secrets Lambda
    /// Extension (see [`secrets_extension`]); the plain variable is used otherwise.
    pub fn process() -> Env<'static> {
        let mut fetched = std::collections::HashMap::new();
        let mut problems = Vec::new();
        for name in SECRET_VARIABLES {
            let arn_var = format!("{name}_ARN");
            let Some(arn) = std::env::var(&arn_var).ok().filter(|a| !a.trim().is_empty()) else { continue };
            match secrets_extension::fetch(arn.trim(), &|n| std::env::var(n).ok()) {
                Ok(value) => {
                    fetched.insert(name.to_owned(), value);
                }
                Err(e) => problems.push(format!("{arn_var} could not be read ({e})")),
            }
        }
        let mut env = Env::new(move |name| fetched.get(name).cloned().or_else(|| std::env::var(name).ok()));
        env.problems = problems;
        env
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub fn required(&mut self, name: &str) -> String {
        self.get(name).unwrap_or_else(|| {
            self.problems.push(format!("{name} is missing"));
            String::new()
        })
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        self.get(name)
    }

    pub fn secret(&mut self, name: &str) -> Secret {
        Secret::new(self.required(name))
    }

    /// An app's client secret: read again while warm when it came by ARN (`<NAME>_ARN`,
    /// through the extension; every `SECRETS_TTL`, default 5 minutes, and when refused).
    pub fn client_secret(&mut self, name: &str) -> ClientSecret {
        let value = self.secret(name);
        let ttl = self.parsed("SECRETS_TTL", Span(client_secret::DEFAULT_TTL), "a duration (90s, 5m)").0;
        let source = self.get(&format!("{name}_ARN")).map(|arn| client_secret::Source {
            arn,
            port: self.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"),
            session_token: self.get("AWS_SESSION_TOKEN"),
            ttl,
        });
        ClientSecret::new(value, source)
    }

    /// A base URL: http(s), no query, stored without a trailing slash.
    pub fn url(&mut self, name: &str, default: Option<&str>) -> String {
        let raw = match (self.get(name), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.to_owned(),
            (None, None) => {
                self.problems.push(format!("{name} is missing"));
                return String::new();
            }
        };
        match Url::parse(&raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.query().is_none() => {
                raw.trim_end_matches('/').to_owned()
            }
            _ => {
                self.problems.push(format!("{name} is not an http(s) URL"));
                String::new()
            }
        }
    }

    pub fn parsed<T: std::str::FromStr>(&mut self, name: &str, default: T, what: &str) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                self.problems.push(format!("{name} is not {what}"));
                default
            }),
        }
    }

    pub fn keyring(&mut self, name: &str) -> Option<Keyring> {
        let raw = self.required(name);
        if raw.is_empty() {
            return None;
        }
        Keyring::parse(&raw).map_err(|e| self.problems.push(format!("{name} is malformed ({e})"))).ok()
    }

    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() { Ok(()) } else { Err(ConfigError { problems: self.problems }) }
    }
}

/// Secrets that may come from Secrets Manager or Parameter Store (`<NAME>_ARN`).
pub const SECRET_VARIABLES: [&str; 4] =
    ["TAPD_CLIENT_SECRET", "TDOC_CLIENT_SECRET", "TAPD_WEBHOOK_SECRET", "TOKEN_ENCRYPTION_KEY"];

/// Reads secrets through the AWS Parameters and Secrets Lambda Extension's local HTTP
/// endpoint: no SDK, no TLS, one local round trip per secret at init.
pub mod secrets_extension {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    /// The extension's default port (`PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` changes it).
    pub const DEFAULT_PORT: u16 = 2773;

    /// The secret's value: `SecretString` of a Secrets Manager ARN, the decrypted `Value` of a
    /// Parameter Store ARN (`arn:...:ssm:...:parameter/...`).
    pub fn fetch(arn: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        let port = match env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT") {
            Some(p) => p.trim().parse::<u16>().map_err(|_| "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT is not a port")?,
            None => DEFAULT_PORT,
        };
        let token = env("AWS_SESSION_TOKEN").unwrap_or_default();
        let is_parameter = arn.split(':').nth(2) == Some("ssm");
        let encoded: String = url::form_urlencoded::byte_serialize(arn.as_bytes()).collect();
        let path = if is_parameter {
            format!("/systemsmanager/parameters/get?name={encoded}&withDecryption=true")
        } else {
            format!("/secretsmanager/get?secretId={encoded}")
        };
        // The extension may still be starting: a few quick attempts.
        let mut last = String::new();
        for attempt in 0..5 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 * attempt));
            }
            match get(port, &path, &token) {
                Ok((200, body)) => return value_of(&body, is_parameter),
                Ok((status, _)) if (400..500).contains(&status) => {
                    return Err(format!("the secrets extension answered {status}"));
                }
                Ok((status, _)) => last = format!("the secrets extension answered {status}"),
                Err(e) => last = format!("the secrets extension is unreachable on port {port}: {e}"),
            }
        }
        Err(last)
    }

    fn value_of(body: &[u8], is_parameter: bool) -> Result<String, String> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| "the secrets extension's reply is not JSON")?;
        let value = if is_parameter { &v["Parameter"]["Value"] } else { &v["SecretString"] };
        value.as_str().map(str::to_owned).ok_or_else(|| "the secret has no string value".to_owned())
    }

    /// One HTTP/1.0 GET (HTTP/1.0: the reply is not chunked and the connection closes).
    fn get(port: u16, path: &str, token: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        // One write: a request sent in pieces may meet a server that answers the first piece.
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: localhost:{port}\r\nX-Aws-Parameters-Secrets-Token: {token}\r\n\r\n");
        stream.write_all(request.as_bytes())?;
        let mut raw = Vec::new();
        stream.take(1 << 20).read_to_end(&mut raw)?;
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP reply");
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(bad)?;
        let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad())?;
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        Ok((status, raw[split + 4..].to_vec()))
    }
}

#[derive(Debug, Clone)]
pub struct TapdConfig {
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub api_base: String,
    pub authorize_url: String,
    pub scopes: String,
    /// Where people open items (links written into docs).
    pub web_base: String,
}

#[derive(Debug, Clone)]
pub struct TdocConfig {
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub base: String,
    pub scopes: String,
}

/// Whose Tencent Docs account creates the docs (`TDOC_OWNER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocOwner {
    /// The account of the person who connected the workspace (the default).
    User,
    /// The app's own account (`/oauth/v2/app-account-token`, seed `001`): the connect flow
    /// ends after TAPD, and docs are shared by their permission setting.
    App,
}

impl std::str::FromStr for DocOwner {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "user" => Ok(DocOwner::User),
            "app" => Ok(DocOwner::App),
            _ => Err(()),
        }
    }
}

/// What both functions need.
#[derive(Debug)]
pub struct CommonConfig {
    pub table_name: String,
    pub tapd: TapdConfig,
    pub tdoc: TdocConfig,
    pub keys: Keyring,
    pub http_timeout: Duration,
    pub tdoc_owner: DocOwner,
    pub notify: NotifyConfig,
}

/// Where workspaces' group robots may live, and how many given-up items a day are told one by
/// one before the rest wait for the day's digest (`crate::notify`).
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// `NOTIFY_WECOM_BASE`: WeCom's robot API.
    pub wecom_base: String,
    /// `NOTIFY_DINGTALK_BASE`: DingTalk's robot API.
    pub dingtalk_base: String,
    /// `NOTIFY_DIGEST_AFTER`: given-up items told one by one per workspace and day.
    pub digest_after: u32,
    /// `PUBLIC_BASE_URL`, for the console links in messages (none: messages carry no link).
    pub console_base: String,
    /// `NOTIFY_EMAIL_FROM`: the SES-verified sender e-mail goes from; none, e-mail is off.
    pub email_from: Option<crate::notify::EmailAddress>,
}

impl CommonConfig {
    /// Reads the shared part; `None` when something is wrong (the problems are in `env`).
    pub fn read(env: &mut Env<'_>) -> Option<Self> {
        let table_name = env.required("TABLE_NAME");
        let tapd = TapdConfig {
            client_id: env.required("TAPD_CLIENT_ID"),
            client_secret: env.client_secret("TAPD_CLIENT_SECRET"),
            api_base: env.url("TAPD_API_BASE", Some("https://api.tapd.cn")),
            authorize_url: env.url("TAPD_AUTHORIZE_URL", Some("https://www.tapd.cn/oauth/")),
            scopes: env.optional("TAPD_SCOPES").unwrap_or_else(|| "story bug task comment".into()),
            web_base: env.url("TAPD_WEB_BASE", Some("https://www.tapd.cn")),
        };
        let tdoc = TdocConfig {
            client_id: env.required("TDOC_CLIENT_ID"),
            client_secret: env.client_secret("TDOC_CLIENT_SECRET"),
            base: env.url("TDOC_BASE", Some("https://docs.qq.com")),
            scopes: env.optional("TDOC_SCOPES").unwrap_or_else(|| "all".into()),
        };
        let keys = env.keyring("TOKEN_ENCRYPTION_KEY");
        let timeout_ms: u64 = env.parsed("HTTP_TIMEOUT_MS", 5000, "a number of milliseconds");
        let tdoc_owner = env.parsed("TDOC_OWNER", DocOwner::User, "`user` or `app`");
        let notify = NotifyConfig {
            wecom_base: env.url("NOTIFY_WECOM_BASE", Some("https://qyapi.weixin.qq.com")),
            dingtalk_base: env.url("NOTIFY_DINGTALK_BASE", Some("https://oapi.dingtalk.com")),
            digest_after: env.parsed("NOTIFY_DIGEST_AFTER", 5, "a number of items"),
            console_base: env
                .optional("PUBLIC_BASE_URL")
                .map(|u| u.trim_end_matches('/').to_owned())
                .unwrap_or_default(),
            email_from: env.optional("NOTIFY_EMAIL_FROM").filter(|v| !v.trim().is_empty()).and_then(|v| {
                crate::notify::EmailAddress::parse(&v)
                    .map_err(|_| env.problems.push("NOTIFY_EMAIL_FROM is not an e-mail address".into()))
                    .ok()
            }),
        };
        Some(Self {
            table_name,
            tapd,
            tdoc,
            keys: keys?,
            http_timeout: Duration::from_millis(timeout_ms),
            tdoc_owner,
            notify,
        })
    }
}

/// The `oauth` function's configuration.
#[derive(Debug)]
pub struct OauthConfig {
    pub common: CommonConfig,
    pub public_base_url: String,
    /// `ALLOWED_WORKSPACES`: workspaces that may connect; empty means any.
    pub allowed_workspaces: Vec<String>,
    /// `ALLOWED_OPEN_IDS`: Tencent Docs accounts that may be connected; empty means any.
    pub allowed_open_ids: Vec<String>,
    /// How long a console session lasts (`CONSOLE_SESSION_TTL`, default 8 h).
    pub console_session_ttl: Duration,
    /// How long a rotated webhook secret keeps working (`WEBHOOK_SECRET_GRACE`, default 24 h).
    pub webhook_secret_grace: Duration,
}

fn list(env: &Env<'_>, name: &str) -> Vec<String> {
    env.optional(name)
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

impl OauthConfig {
    pub fn from_env(mut env: Env<'_>) -> Result<Self, ConfigError> {
        let common = CommonConfig::read(&mut env);
        let public_base_url = env.url("PUBLIC_BASE_URL", None);
        let allowed_workspaces = list(&env, "ALLOWED_WORKSPACES");
        let allowed_open_ids = list(&env, "ALLOWED_OPEN_IDS");
        let duration = "a duration (90s, 30m, 8h, 3d)";
        let console_session_ttl = env.parsed("CONSOLE_SESSION_TTL", Span(Duration::from_secs(8 * 3600)), duration).0;
        let webhook_secret_grace = env.parsed("WEBHOOK_SECRET_GRACE", Span(Duration::from_secs(86_400)), duration).0;
        env.finish()?;
        Ok(Self {
            common: common.expect("no problems means complete"),
            public_base_url,
            allowed_workspaces,
            allowed_open_ids,
            console_session_ttl,
            webhook_secret_grace,
        })
    }

    pub fn workspace_allowed(&self, ws: &str) -> bool {
        self.allowed_workspaces.is_empty() || self.allowed_workspaces.iter().any(|w| w == ws)
    }

    pub fn open_id_allowed(&self, open_id: &str) -> bool {
        self.allowed_open_ids.is_empty() || self.allowed_open_ids.iter().any(|o| o == open_id)
    }

    /// Where TAPD deliveries go (shown on the connected page).
    pub fn webhook_url(&self) -> String {
        format!("{}/webhooks/tapd", self.public_base_url)
    }

    pub fn tapd_redirect_uri(&self) -> String {
        format!("{}/oauth/tapd/callback", self.public_base_url)
    }

    pub fn tdoc_redirect_uri(&self) -> String {
        format!("{}/oauth/tdoc/callback", self.public_base_url)
    }
}

/// The `tapd-webhook` function's configuration.
#[derive(Debug)]
pub struct WebhookConfig {
    pub common: CommonConfig,
    /// The app-level secret of TAPD's event subscription; read again while warm when given by ARN.
    pub webhook_secret: ClientSecret,
    pub link: LinkConfig,
    /// Language of what is written into TAPD and Tencent Docs (`LANGUAGE`).
    pub language: Lang,
    /// A pending item is retried until it has been pending this long (`GIVE_UP_AFTER`).
    pub give_up_after: Duration,
    /// The schedule's period: the first retry backoff, doubled after each failure.
    pub retry_period: Duration,
    /// The longest backoff between retries.
    pub retry_cap: Duration,
    /// How long after a create whose reply was lost Tencent Docs may still make the file
    /// (`CREATE_SETTLE`): a look in the folder proves a doc absent only after this.
    pub create_settle: Duration,
    /// The least time between two writes of one doc's card (`CARD_WINDOW`): changes reported
    /// within it are shown by one write at its end (Tencent Docs allows 150 content operations
    /// a minute per file).
    pub card_window: Duration,
    /// Who may open a new doc (`DOC_PERMISSION`); `None` leaves Tencent Docs' default.
    pub doc_permission: Option<DocPermission>,
    pub on_item_delete: OnItemDelete,
    /// Where new docs go (`FOLDER_LAYOUT`); a workspace's own setting overrides it.
    pub folder_layout: FolderLayout,
    /// TAPD requests the scheduled work may spend per budget window (`TAPD_BUDGET`).
    pub tapd_budget: u32,
    /// Tencent Docs calls a minute per Open-Id (`TDOC_CALLS_PER_MINUTE`).
    pub tdoc_calls_per_minute: u32,
    pub budget_window_secs: u64,
    /// How often each workspace is swept, and how far back each pass overlaps the last.
    pub sweep_every: Duration,
    pub sweep_overlap: Duration,
}

impl WebhookConfig {
    /// The wait before retrying an item after its `attempts`-th failed attempt.
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        let base = self.retry_period.as_millis() as u64;
        let doubled = base.saturating_mul(1u64 << attempts.saturating_sub(1).min(20));
        doubled.min(self.retry_cap.as_millis() as u64)
    }
}

/// `DOC_PERMISSION`: Tencent Docs' permission policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocPermission {
    Private,
    Members,
    PublicRead,
    PublicWrite,
}

impl DocPermission {
    pub fn as_str(self) -> &'static str {
        match self {
            DocPermission::Private => "private",
            DocPermission::Members => "members",
            DocPermission::PublicRead => "publicRead",
            DocPermission::PublicWrite => "publicWrite",
        }
    }
}

impl std::str::FromStr for DocPermission {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [DocPermission::Private, DocPermission::Members, DocPermission::PublicRead, DocPermission::PublicWrite]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(())
    }
}

/// `FOLDER_LAYOUT`: where new docs are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderLayout {
    /// The account's root folder (as before folders existed).
    None,
    /// A folder per workspace (the default: a team finds its docs in one place).
    Workspace,
    /// A folder per workspace, and in it a sub-folder per iteration (items without one
    /// stay in the workspace's folder).
    Iteration,
}

impl FolderLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            FolderLayout::None => "none",
            FolderLayout::Workspace => "workspace",
            FolderLayout::Iteration => "iteration",
        }
    }
}

impl std::str::FromStr for FolderLayout {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [FolderLayout::None, FolderLayout::Workspace, FolderLayout::Iteration]
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or(())
    }
}

/// `ON_ITEM_DELETE`: what a deleted item does to its doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnItemDelete {
    /// The doc stays; the record is marked (the default: docs hold people's writing).
    Keep,
    /// The doc goes to its owner's trash.
    Trash,
}

impl std::str::FromStr for OnItemDelete {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "keep" => Ok(OnItemDelete::Keep),
            "trash" => Ok(OnItemDelete::Trash),
            _ => Err(()),
        }
    }
}

/// The extras of a doc's first paragraph (`DOC_INTRO_FIELDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntroField {
    Owner,
    Priority,
    Iteration,
    Description,
}

impl IntroField {
    pub const ALL: [IntroField; 4] =
        [IntroField::Owner, IntroField::Priority, IntroField::Iteration, IntroField::Description];

    pub fn as_str(self) -> &'static str {
        match self {
            IntroField::Owner => "owner",
            IntroField::Priority => "priority",
            IntroField::Iteration => "iteration",
            IntroField::Description => "description",
        }
    }
}

impl std::str::FromStr for IntroField {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim() {
            "owner" => Ok(IntroField::Owner),
            "priority" => Ok(IntroField::Priority),
            "iteration" => Ok(IntroField::Iteration),
            "description" => Ok(IntroField::Description),
            _ => Err(()),
        }
    }
}

/// A duration setting: `90s`, `30m`, `72h`, `3d`, or plain seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl std::str::FromStr for Span {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim();
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: u64 = num.parse().map_err(|_| ())?;
        let secs = match unit.trim() {
            "" | "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86_400,
            _ => return Err(()),
        };
        Ok(Span(Duration::from_secs(secs)))
    }
}

/// How a linked doc looks; every field has a default.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// `{name}`, `{id}`, `{kind}`, `{workspace_id}` are replaced.
    pub title_template: String,
    pub doc_types: [(ItemKind, String); 3],
    pub link_tasks: bool,
    /// Custom field (`custom_field_*` or `cus_*`) that also receives the doc URL.
    pub doc_url_field: Option<String>,
    /// Who the comment is posted as. TAPD maps it to one of its users when it can.
    pub comment_author: String,
    /// What the doc's first paragraph shows besides the item's name and link.
    pub intro_fields: Vec<IntroField>,
}

impl LinkConfig {
    pub fn doc_type(&self, kind: ItemKind) -> &str {
        self.doc_types.iter().find(|(k, _)| *k == kind).map(|(_, t)| t.as_str()).unwrap_or("doc")
    }

    pub fn handles(&self, kind: ItemKind) -> bool {
        kind != ItemKind::Task || self.link_tasks
    }
}

pub const DOC_TYPES: [&str; 7] = ["doc", "sheet", "form", "slide", "mind", "flowchart", "smartsheet"];

/// A Tencent Docs file type a new doc can be (`DOC_TYPE_*`, a workspace's doc type per kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocType {
    Doc,
    Sheet,
    Form,
    Slide,
    Mind,
    Flowchart,
    Smartsheet,
}

impl DocType {
    pub const ALL: [DocType; 7] = [
        DocType::Doc,
        DocType::Sheet,
        DocType::Form,
        DocType::Slide,
        DocType::Mind,
        DocType::Flowchart,
        DocType::Smartsheet,
    ];

    /// The name Tencent Docs' create call takes (one of [`DOC_TYPES`]).
    pub fn as_str(self) -> &'static str {
        DOC_TYPES[self as usize]
    }
}

impl std::str::FromStr for DocType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        DocType::ALL.into_iter().find(|t| t.as_str() == s).ok_or(())
    }
}

/// The comment author when `TAPD_COMMENT_AUTHOR` is not set.
pub const DEFAULT_COMMENT_AUTHOR: &str = "TAPD Docs";

impl WebhookConfig {
    pub fn from_env(mut env: Env<'_>) -> Result<Self, ConfigError> {
        let common = CommonConfig::read(&mut env);
        let webhook_secret = env.client_secret("TAPD_WEBHOOK_SECRET");
        let doc_type = |env: &mut Env<'_>, name: &str| {
            let t = env.optional(name).unwrap_or_else(|| "doc".into());
            if !DOC_TYPES.contains(&t.as_str()) {
                env.problems.push(format!("{name} is not one of {}", DOC_TYPES.join(", ")));
            }
            t
        };
        let doc_types = [
            (ItemKind::Story, doc_type(&mut env, "DOC_TYPE_STORY")),
            (ItemKind::Bug, doc_type(&mut env, "DOC_TYPE_BUG")),
            (ItemKind::Task, doc_type(&mut env, "DOC_TYPE_TASK")),
        ];
        let doc_url_field = env.optional("TAPD_DOC_URL_FIELD");
        if let Some(f) = &doc_url_field {
            let ok = (f.starts_with("custom_field_") || f.starts_with("cus_"))
                && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                env.problems.push("TAPD_DOC_URL_FIELD is not a custom_field_* or cus_* name".into());
            }
        }
        let intro_fields = match env.optional("DOC_INTRO_FIELDS") {
            None => vec![IntroField::Owner, IntroField::Priority, IntroField::Iteration, IntroField::Description],
            Some(list) if list == "none" => Vec::new(),
            Some(list) => list
                .split(',')
                .filter_map(|f| match f.parse() {
                    Ok(f) => Some(f),
                    Err(()) => {
                        env.problems.push(
                            "DOC_INTRO_FIELDS lists something other than owner, priority, iteration, description"
                                .into(),
                        );
                        None
                    }
                })
                .collect(),
        };
        let link = LinkConfig {
            title_template: env.optional("DOC_TITLE_TEMPLATE").unwrap_or_else(|| "{name}".into()),
            doc_types,
            link_tasks: env.parsed("LINK_TASKS", false, "true or false"),
            doc_url_field,
            comment_author: env.optional("TAPD_COMMENT_AUTHOR").unwrap_or_else(|| DEFAULT_COMMENT_AUTHOR.into()),
            intro_fields,
        };
        let span = |env: &mut Env<'_>, name: &str, default: u64| {
            env.parsed(name, Span(Duration::from_secs(default)), "a duration (90s, 30m, 72h, 3d)").0
        };
        let give_up_after = span(&mut env, "GIVE_UP_AFTER", 3 * 86_400);
        let retry_period = span(&mut env, "RETRY_PERIOD", 300);
        let retry_cap = span(&mut env, "RETRY_CAP", 4 * 3600);
        let create_settle = span(&mut env, "CREATE_SETTLE", 60);
        let card_window = span(&mut env, "CARD_WINDOW", 5);
        let sweep_every = span(&mut env, "SWEEP_EVERY", 600);
        let sweep_overlap = span(&mut env, "SWEEP_OVERLAP", 600);
        let language = env.parsed("LANGUAGE", Lang::ZhCn, "`zh-CN` or `en`");
        let default_permission = match common.as_ref().map(|c| c.tdoc_owner) {
            // The app account's docs cannot be opened by anyone else unless shared.
            Some(DocOwner::App) => Some(DocPermission::Members),
            _ => None,
        };
        let doc_permission = match env.optional("DOC_PERMISSION").as_deref() {
            None => default_permission,
            Some("default") => None,
            Some(p) => match p.parse() {
                Ok(p) => Some(p),
                Err(()) => {
                    env.problems
                        .push("DOC_PERMISSION is not one of private, members, publicRead, publicWrite, default".into());
                    None
                }
            },
        };
        let on_item_delete = env.parsed("ON_ITEM_DELETE", OnItemDelete::Keep, "`keep` or `trash`");
        let tapd_budget = env.parsed("TAPD_BUDGET", 1500, "a number of requests");
        let tdoc_calls_per_minute = env.parsed("TDOC_CALLS_PER_MINUTE", 300, "a number of calls");
        let folder_layout = env.parsed("FOLDER_LAYOUT", FolderLayout::Workspace, "`none`, `workspace` or `iteration`");
        env.finish()?;
        Ok(Self {
            common: common.expect("no problems means complete"),
            webhook_secret,
            link,
            language,
            give_up_after,
            retry_period,
            retry_cap,
            create_settle,
            card_window,
            doc_permission,
            on_item_delete,
            folder_layout,
            tapd_budget,
            tdoc_calls_per_minute,
            budget_window_secs: 600,
            sweep_every,
            sweep_overlap,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn env(pairs: &[(&str, &str)]) -> Env<'static> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::new(move |k| map.get(k).cloned())
    }

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            ("TABLE_NAME", "t"),
            ("PUBLIC_BASE_URL", "https://x.example/"),
            ("TAPD_CLIENT_ID", "a"),
            ("TAPD_CLIENT_SECRET", "b"),
            ("TDOC_CLIENT_ID", "c"),
            ("TDOC_CLIENT_SECRET", "d"),
            ("TAPD_WEBHOOK_SECRET", "e"),
            ("TOKEN_ENCRYPTION_KEY", KEY),
        ]
    }

    #[test]
    fn a_complete_environment_reads_with_defaults() {
        let c = OauthConfig::from_env(env(&full())).unwrap();
        assert_eq!(c.tapd_redirect_uri(), "https://x.example/oauth/tapd/callback");
        assert_eq!(c.common.tapd.api_base, "https://api.tapd.cn");
        assert_eq!(c.common.tdoc.base, "https://docs.qq.com");
        let w = WebhookConfig::from_env(env(&full())).unwrap();
        assert_eq!(w.link.doc_type(ItemKind::Bug), "doc");
        assert!(!w.link.handles(ItemKind::Task));
        assert_eq!(w.give_up_after, Duration::from_secs(3 * 86_400));
        assert_eq!(w.create_settle, Duration::from_secs(60));
        assert_eq!(w.card_window, Duration::from_secs(5));
        assert_eq!(w.language, Lang::ZhCn);
        assert_eq!(w.doc_permission, None);
        assert_eq!(w.folder_layout, FolderLayout::Workspace);
        // Backoff: the schedule's period, doubling, capped.
        assert_eq!((w.backoff_ms(1), w.backoff_ms(2), w.backoff_ms(4)), (300_000, 600_000, 2_400_000));
        assert_eq!(w.backoff_ms(30), 4 * 3_600_000);
        let mut app = full();
        app.push(("TDOC_OWNER", "app"));
        assert_eq!(WebhookConfig::from_env(env(&app)).unwrap().doc_permission, Some(DocPermission::Members));
    }

    #[test]
    fn allowlists_and_the_docs_owner() {
        let c = OauthConfig::from_env(env(&full())).unwrap();
        assert!(c.workspace_allowed("1") && c.open_id_allowed("x"));
        assert_eq!(c.common.tdoc_owner, DocOwner::User);
        let mut vars = full();
        vars.extend([("ALLOWED_WORKSPACES", " 1, 2 ,"), ("ALLOWED_OPEN_IDS", "ab"), ("TDOC_OWNER", "app")]);
        let c = OauthConfig::from_env(env(&vars)).unwrap();
        assert!(c.workspace_allowed("2") && !c.workspace_allowed("3") && !c.workspace_allowed(""));
        assert!(c.open_id_allowed("ab") && !c.open_id_allowed("abc"));
        assert_eq!(c.common.tdoc_owner, DocOwner::App);
        assert_eq!(c.webhook_url(), "https://x.example/webhooks/tapd");
        let mut bad = full();
        bad.push(("TDOC_OWNER", "bot"));
        assert!(OauthConfig::from_env(env(&bad)).unwrap_err().to_string().contains("TDOC_OWNER"));
    }

    /// A fake of the extension's endpoint: answers one request with `reply`, and hands back
    /// the request it saw.
    fn fake_extension(reply: &'static str) -> (u16, std::thread::JoinHandle<String>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // Read the whole head before answering: closing with unread bytes resets the client.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            s.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&buf).into_owned()
        });
        (port, handle)
    }

    #[test]
    fn secrets_come_from_the_extension_by_arn() {
        let (port, seen) = fake_extension(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ARN\":\"x\",\"SecretString\":\"s3cr3t\"}",
        );
        let port_s = port.to_string();
        let lookup = |n: &str| match n {
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT" => Some(port_s.clone()),
            "AWS_SESSION_TOKEN" => Some("session".to_owned()),
            _ => None,
        };
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tapd-AbCdEf";
        assert_eq!(secrets_extension::fetch(arn, &lookup).unwrap(), "s3cr3t");
        let req = seen.join().unwrap();
        assert!(req.starts_with("GET /secretsmanager/get?secretId=arn%3Aaws%3Asecretsmanager"), "{req}");
        assert!(req.contains("X-Aws-Parameters-Secrets-Token: session\r\n"), "{req}");

        let (port, seen) = fake_extension("HTTP/1.1 200 OK\r\n\r\n{\"Parameter\":{\"Value\":\"p4ram\"}}");
        let port_s = port.to_string();
        let lookup = |n: &str| (n == "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT").then(|| port_s.clone());
        let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/tapd/key";
        assert_eq!(secrets_extension::fetch(arn, &lookup).unwrap(), "p4ram");
        let req = seen.join().unwrap();
        assert!(
            req.starts_with("GET /systemsmanager/parameters/get?name=arn%3Aaws%3Assm")
                && req.contains("withDecryption=true")
        );

        let (port, _seen) = fake_extension("HTTP/1.1 403 Forbidden\r\n\r\n{}");
        let port_s = port.to_string();
        let lookup = |n: &str| (n == "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT").then(|| port_s.clone());
        let err = secrets_extension::fetch("arn:aws:secretsmanager:r:1:secret:x", &lookup).unwrap_err();
        assert!(err.contains("403"), "{err}");
    }

    #[test]
    fn every_problem_is_named_in_one_error() {
        let mut vars = full();
        vars.retain(|(k, _)| *k != "TABLE_NAME" && *k != "TAPD_CLIENT_SECRET");
        vars.push(("TDOC_BASE", "ftp://nope"));
        vars.retain(|(k, _)| *k != "TOKEN_ENCRYPTION_KEY");
        vars.push(("TOKEN_ENCRYPTION_KEY", "short"));
        let err = OauthConfig::from_env(env(&vars)).unwrap_err().to_string();
        for name in ["TABLE_NAME", "TAPD_CLIENT_SECRET", "TDOC_BASE", "TOKEN_ENCRYPTION_KEY"] {
            assert!(err.contains(name), "{err}");
        }
        assert!(!err.contains('\n'));
        let err = WebhookConfig::from_env(env(&[("PUBLIC_BASE_URL", "x")])).unwrap_err().to_string();
        assert!(err.contains("TAPD_WEBHOOK_SECRET"), "{err}");
        let mut bad = full();
        bad.extend([("GIVE_UP_AFTER", "soon"), ("DOC_PERMISSION", "everyone"), ("LANGUAGE", "fr")]);
        let err = WebhookConfig::from_env(env(&bad)).unwrap_err().to_string();
        for name in ["GIVE_UP_AFTER", "DOC_PERMISSION", "LANGUAGE"] {
            assert!(err.contains(name), "{err}");
        }
    }
}
