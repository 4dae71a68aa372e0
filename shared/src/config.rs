//! Configuration, read once at init from the environment (see `contract.md`).
//!
//! Every problem is collected and reported together, one line naming each variable, so a
//! deployment with three mistakes is fixed in one round, not three.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::crypto::Keyring;
use crate::ids::ItemKind;
use crate::secret::Secret;

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

    pub fn process() -> Env<'static> {
        Env::new(|name| std::env::var(name).ok())
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

#[derive(Debug, Clone)]
pub struct TapdConfig {
    pub client_id: String,
    pub client_secret: Secret,
    pub api_base: String,
    pub authorize_url: String,
    pub scopes: String,
    /// Where people open items (links written into docs).
    pub web_base: String,
}

#[derive(Debug, Clone)]
pub struct TdocConfig {
    pub client_id: String,
    pub client_secret: Secret,
    pub base: String,
    pub scopes: String,
}

/// What both functions need.
#[derive(Debug)]
pub struct CommonConfig {
    pub table_name: String,
    pub tapd: TapdConfig,
    pub tdoc: TdocConfig,
    pub keys: Keyring,
    pub http_timeout: Duration,
}

impl CommonConfig {
    /// Reads the shared part; `None` when something is wrong (the problems are in `env`).
    pub fn read(env: &mut Env<'_>) -> Option<Self> {
        let table_name = env.required("TABLE_NAME");
        let tapd = TapdConfig {
            client_id: env.required("TAPD_CLIENT_ID"),
            client_secret: env.secret("TAPD_CLIENT_SECRET"),
            api_base: env.url("TAPD_API_BASE", Some("https://api.tapd.cn")),
            authorize_url: env.url("TAPD_AUTHORIZE_URL", Some("https://www.tapd.cn/oauth/")),
            scopes: env.optional("TAPD_SCOPES").unwrap_or_else(|| "story bug task comment".into()),
            web_base: env.url("TAPD_WEB_BASE", Some("https://www.tapd.cn")),
        };
        let tdoc = TdocConfig {
            client_id: env.required("TDOC_CLIENT_ID"),
            client_secret: env.secret("TDOC_CLIENT_SECRET"),
            base: env.url("TDOC_BASE", Some("https://docs.qq.com")),
            scopes: env.optional("TDOC_SCOPES").unwrap_or_else(|| "all".into()),
        };
        let keys = env.keyring("TOKEN_ENCRYPTION_KEY");
        let timeout_ms: u64 = env.parsed("HTTP_TIMEOUT_MS", 5000, "a number of milliseconds");
        Some(Self { table_name, tapd, tdoc, keys: keys?, http_timeout: Duration::from_millis(timeout_ms) })
    }
}

/// The `oauth` function's configuration.
#[derive(Debug)]
pub struct OauthConfig {
    pub common: CommonConfig,
    pub public_base_url: String,
}

impl OauthConfig {
    pub fn from_env(mut env: Env<'_>) -> Result<Self, ConfigError> {
        let common = CommonConfig::read(&mut env);
        let public_base_url = env.url("PUBLIC_BASE_URL", None);
        env.finish()?;
        Ok(Self { common: common.expect("no problems means complete"), public_base_url })
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
    pub webhook_secret: Secret,
    pub link: LinkConfig,
    pub max_attempts: u32,
}

/// How a linked doc looks; every field has a default.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// `{name}`, `{id}`, `{kind}`, `{workspace_id}` are replaced.
    pub title_template: String,
    pub title_max_chars: usize,
    pub doc_types: [(ItemKind, String); 3],
    pub link_tasks: bool,
    /// Custom field (`custom_field_*` or `cus_*`) that also receives the doc URL.
    pub doc_url_field: Option<String>,
    pub comment_author: String,
}

impl LinkConfig {
    pub fn doc_type(&self, kind: ItemKind) -> &str {
        self.doc_types.iter().find(|(k, _)| *k == kind).map(|(_, t)| t.as_str()).unwrap_or("doc")
    }

    pub fn handles(&self, kind: ItemKind) -> bool {
        kind != ItemKind::Task || self.link_tasks
    }
}

const DOC_TYPES: [&str; 7] = ["doc", "sheet", "form", "slide", "mind", "flowchart", "smartsheet"];

impl WebhookConfig {
    pub fn from_env(mut env: Env<'_>) -> Result<Self, ConfigError> {
        let common = CommonConfig::read(&mut env);
        let webhook_secret = env.secret("TAPD_WEBHOOK_SECRET");
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
        let link = LinkConfig {
            title_template: env.optional("DOC_TITLE_TEMPLATE").unwrap_or_else(|| "{name}".into()),
            title_max_chars: env.parsed("DOC_TITLE_MAX_CHARS", 36, "a number"),
            doc_types,
            link_tasks: env.parsed("LINK_TASKS", false, "true or false"),
            doc_url_field,
            comment_author: env.optional("TAPD_COMMENT_AUTHOR").unwrap_or_else(|| "TAPD Docs".into()),
        };
        if link.title_max_chars == 0 {
            // A limit of zero makes every title empty, which Tencent Docs refuses: every
            // item would fail until its retries ran out.
            env.problems.push("DOC_TITLE_MAX_CHARS must be at least 1".into());
        }
        let max_attempts = env.parsed("MAX_ATTEMPTS", 10, "a number");
        env.finish()?;
        Ok(Self { common: common.expect("no problems means complete"), webhook_secret, link, max_attempts })
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
        let mut zero = full();
        zero.push(("DOC_TITLE_MAX_CHARS", "0"));
        let err = WebhookConfig::from_env(env(&zero)).unwrap_err().to_string();
        assert!(err.contains("DOC_TITLE_MAX_CHARS"), "{err}");
    }
}
