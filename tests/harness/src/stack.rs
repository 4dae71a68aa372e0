//! A whole system for one test: a fresh table on the local DynamoDB, a sandbox of TAPD and
//! Tencent Docs, and the environment that points the real function binaries at them.

use base64::Engine;
use sandbox::{Sandbox, SandboxConfig};
use url::Url;

use crate::apigw::{Request, Response};
use crate::{Function, bin_path, dynamo};

/// Where the deployment would be reachable; browsers are sent back to it.
pub const PUBLIC_BASE_URL: &str = "https://links.example.test";
pub const WEBHOOK_SECRET: &str = "whsec-sandbox-5f0c1d2e";

pub struct Stack {
    pub sandbox: Sandbox,
    pub table: String,
    pub encryption_key: String,
}

impl Stack {
    pub async fn new() -> Stack {
        let cfg = SandboxConfig::new(vec![
            format!("{PUBLIC_BASE_URL}/oauth/tapd/callback"),
            format!("{PUBLIC_BASE_URL}/oauth/tdoc/callback"),
        ]);
        Self::with_sandbox(cfg).await
    }

    pub async fn with_sandbox(cfg: SandboxConfig) -> Stack {
        // Requests continuing a connect flow carry its browser cookie, as a browser's would.
        crate::apigw::browser::enable();
        let sandbox = Sandbox::start(cfg).await;
        let table = dynamo::fresh_table().await;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("getrandom");
        let encryption_key = base64::engine::general_purpose::STANDARD.encode(key);
        Stack { sandbox, table, encryption_key }
    }

    /// The contract's environment for both functions.
    pub fn env(&self) -> Vec<(String, String)> {
        let c = self.sandbox.config();
        [
            ("TABLE_NAME", self.table.clone()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamo::endpoint()),
            // moto serves SES v2 on the same endpoint (e-mail stays off without NOTIFY_EMAIL_FROM).
            ("AWS_ENDPOINT_URL_SESV2", dynamo::endpoint()),
            ("PUBLIC_BASE_URL", PUBLIC_BASE_URL.to_owned()),
            ("TAPD_CLIENT_ID", c.tapd_client_id.clone()),
            ("TAPD_CLIENT_SECRET", c.tapd_client_secret.clone()),
            ("TAPD_API_BASE", self.sandbox.tapd_api_base()),
            ("TAPD_AUTHORIZE_URL", self.sandbox.tapd_authorize_url()),
            ("TDOC_CLIENT_ID", c.tdoc_client_id.clone()),
            ("TDOC_CLIENT_SECRET", c.tdoc_client_secret.clone()),
            ("TDOC_BASE", self.sandbox.tdoc_base()),
            ("TAPD_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
            ("TOKEN_ENCRYPTION_KEY", self.encryption_key.clone()),
            ("HTTP_TIMEOUT_MS", "2000".to_owned()),
            ("NOTIFY_WECOM_BASE", format!("{}/wecom", self.sandbox.base_url())),
            ("NOTIFY_DINGTALK_BASE", format!("{}/dingtalk", self.sandbox.base_url())),
            // A lost create's retry may look and create at once: the sandbox never acts on
            // a request after answering it. The suites that test the wait set their own.
            ("CREATE_SETTLE", "0s".to_owned()),
            // Card writes unpaced, so suites that change an item twice do not wait; the
            // coalescing suite sets its own.
            ("CARD_WINDOW", "0s".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    pub async fn spawn(&self, name: &str, extra: &[(&str, &str)]) -> Function {
        let mut env = self.env();
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        Function::spawn(&bin_path(name), &env).await
    }

    /// The project's store on this stack's table, as the functions see it.
    pub async fn store(&self) -> shared::store::Store {
        let keys = shared::crypto::Keyring::parse(&self.encryption_key).expect("valid key");
        shared::store::Store::new(dynamo::client().await, self.table.clone(), keys)
    }

    pub async fn oauth(&self) -> Function {
        self.spawn("oauth", &[]).await
    }

    pub async fn webhook(&self) -> Function {
        self.spawn("tapd-webhook", &[]).await
    }

    /// Plays the person at TAPD's consent page: approves (or denies) for `workspace`.
    /// Returns where TAPD sends the browser back (our callback URL, with the code).
    pub async fn tapd_consent(&self, authorize: &Url, workspace: &str, approve: bool) -> Url {
        self.tapd_consent_as(authorize, workspace, sandbox::TAPD_USER_ID, approve).await
    }

    /// [`Stack::tapd_consent`] as TAPD user `user_id` (the sandbox's default user is an admin
    /// of every workspace; [`sandbox::MEMBER_USER_ID`] a plain member).
    pub async fn tapd_consent_as(&self, authorize: &Url, workspace: &str, user_id: &str, approve: bool) -> Url {
        let q = query(authorize);
        let fields = [
            ("client_id", q("client_id")),
            ("redirect_uri", q("redirect_uri")),
            ("scope", q("scope")),
            ("state", q("state")),
            ("workspace_id", workspace.to_owned()),
            ("user_id", user_id.to_owned()),
            ("decision", if approve { "approve" } else { "deny" }.to_owned()),
        ];
        self.submit(&format!("{}/tapd/oauth/approve", self.sandbox.base_url()), &fields).await
    }

    /// Plays the person at Tencent Docs' consent page, as account `open_id`.
    pub async fn tdoc_consent(&self, authorize: &Url, open_id: &str, approve: bool) -> Url {
        let q = query(authorize);
        let fields = [
            ("client_id", q("client_id")),
            ("redirect_uri", q("redirect_uri")),
            ("scope", q("scope")),
            ("state", q("state")),
            ("open_id", open_id.to_owned()),
            ("decision", if approve { "approve" } else { "deny" }.to_owned()),
        ];
        self.submit(&format!("{}/tdoc/oauth/v2/authorize/approve", self.sandbox.base_url()), &fields).await
    }

    async fn submit(&self, url: &str, fields: &[(&str, String)]) -> Url {
        let client = sandbox::http_client().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let resp = client.post(url).form(fields).send().await.expect("sandbox answers");
        assert_eq!(resp.status().as_u16(), 302, "consent form at {url} did not redirect");
        let location = resp.headers()["location"].to_str().unwrap();
        Url::parse(location).expect("absolute redirect")
    }

    /// Walks the whole connect flow through `oauth`; returns the last page.
    pub async fn connect(&self, oauth: &Function, workspace: &str, open_id: &str) -> Response {
        self.sandbox.add_workspace(workspace, "Team workspace");
        self.sandbox.add_tdoc_user(open_id, "Docs owner");
        let start = oauth.http(&Request::get("/oauth/tapd/start")).await;
        assert_eq!(start.status, 302, "start: {}", start.body);
        let back = self.tapd_consent(&start.location_url().unwrap(), workspace, true).await;
        let to_tdoc = oauth.http(&callback(&back)).await;
        assert_eq!(to_tdoc.status, 302, "TAPD callback: {}", to_tdoc.body);
        let back = self.tdoc_consent(&to_tdoc.location_url().unwrap(), open_id, true).await;
        oauth.http(&callback(&back)).await
    }
}

/// The request a browser makes when sent to `url` (one of our callback URLs).
pub fn callback(url: &Url) -> Request {
    assert!(url.as_str().starts_with(PUBLIC_BASE_URL), "redirected elsewhere: {url}");
    match url.query() {
        Some(q) => Request::get(&format!("{}?{q}", url.path())),
        None => Request::get(url.path()),
    }
}

fn query(url: &Url) -> impl Fn(&str) -> String + '_ {
    move |name| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
}
