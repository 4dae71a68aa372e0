//! `devstack demo`: against a running devstack (or one it starts and stops itself), walks
//! the connect flow over HTTP as a browser would (following redirects, submitting the
//! sandboxes' consent forms), then creates a story in the TAPD sandbox, delivers its
//! `story::create` webhook, checks that a doc and a comment were made, then moves the story
//! to the end of its workflow and checks that the doc's card follows and the doc is closed out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};
use url::Url;

use crate::run::{DEMO_ENV, SEED_OPEN_ID, SEED_WORKSPACE};
use crate::settings;

pub struct DemoOptions {
    pub port: u16,
    pub data_dir: PathBuf,
}

/// A devstack this demo started, stopped (SIGTERM: it saves and stops moto) when dropped.
struct OwnStack {
    child: std::process::Child,
    log: PathBuf,
}

impl Drop for OwnStack {
    fn drop(&mut self) {
        println!("demo: stopping the devstack it started (its output: {})", self.log.display());
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("demo: devstack did not stop in 20 s; killing it (its log: {})", self.log.display());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Stack {
    url: String,
    public_base: String,
    secret: String,
    mode: String,
}

fn running_stack(data: &Path) -> Option<Stack> {
    let env = settings::read_env_file(&data.join(DEMO_ENV))?;
    let pid: u32 = env.get("DEVSTACK_PID")?.parse().ok()?;
    if !settings::pid_alive(pid) {
        return None;
    }
    Some(Stack {
        url: env.get("DEVSTACK_URL")?.clone(),
        public_base: env.get("PUBLIC_BASE_URL")?.clone(),
        secret: env.get("TAPD_WEBHOOK_SECRET")?.clone(),
        mode: env.get("DEVSTACK_MODE").cloned().unwrap_or_default(),
    })
}

async fn answers(client: &Client, url: &str) -> bool {
    client.get(format!("{url}/")).send().await.is_ok()
}

async fn start_own(opts: &DemoOptions, client: &Client) -> Result<(OwnStack, Stack), String> {
    settings::ensure_private_dir(&opts.data_dir)?;
    let log = opts.data_dir.join("demo-devstack.log");
    let out = std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    println!(
        "demo: no devstack is running for {}; starting one on port {} (log {})",
        opts.data_dir.display(),
        opts.port,
        log.display()
    );
    let child = std::process::Command::new(exe)
        .arg("run")
        .arg("--port")
        .arg(opts.port.to_string())
        .arg("--data-dir")
        .arg(&opts.data_dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start devstack: {e}"))?;
    let own = OwnStack { child, log: log.clone() };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut own = own;
    loop {
        if let Some(stack) = running_stack(&opts.data_dir)
            && answers(client, &stack.url).await
        {
            return Ok((own, stack));
        }
        if let Ok(Some(status)) = own.child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("devstack exited ({status}) before it was ready; its output:\n{text}"));
        }
        if Instant::now() > deadline {
            return Err(format!("devstack was not ready within 120 s; see {}", log.display()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn demo(opts: DemoOptions) -> Result<(), String> {
    let client = sandbox::http_client()
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(40))
        .build()
        .map_err(|e| e.to_string())?;
    let (_own, stack) = match running_stack(&opts.data_dir) {
        Some(stack) if answers(&client, &stack.url).await => {
            println!("demo: using the devstack at {}", stack.url);
            (None, stack)
        }
        _ => {
            let (own, stack) = start_own(&opts, &client).await?;
            (Some(own), stack)
        }
    };
    if stack.mode != "sandbox" {
        return Err("the running devstack talks to the real TAPD and Tencent Docs; the demo needs the sandboxes \
                    (run `make run` without TAPD_CLIENT_ID / TDOC_CLIENT_ID)"
            .into());
    }
    let browser = Browser {
        client: client.clone(),
        local: stack.url.clone(),
        public: stack.public_base.clone(),
        cookie: std::sync::Mutex::new(None),
    };
    let base = &stack.url;

    // 1. The connect flow, as a person clicking "授权" (Authorize) twice.
    println!("\n1. Connect TAPD workspace {SEED_WORKSPACE} to Tencent Docs");
    let start = format!("{}/oauth/tapd/start", stack.public_base);
    let consent = browser.get_expect(&start, StatusCode::FOUND, "GET /oauth/tapd/start").await?;
    let tapd_page = browser.follow(&start, &consent).await?;
    let back = browser.submit_consent(&tapd_page, "workspace_id", SEED_WORKSPACE).await?;
    let to_tdoc = browser.get_expect(&back, StatusCode::FOUND, "GET /oauth/tapd/callback").await?;
    let tdoc_page = browser.follow(&back, &to_tdoc).await?;
    let back = browser.submit_consent(&tdoc_page, "open_id", SEED_OPEN_ID).await?;
    let done = browser.get_expect(&back, StatusCode::OK, "GET /oauth/tdoc/callback").await?;
    let text = done.text;
    if !text.contains("now connected") {
        return Err(format!("the last page does not say connected:\n{text}"));
    }
    let connected = text.split("<p id=\"connected\">").nth(1).and_then(|t| t.split("</p>").next()).unwrap_or(&text);
    println!("   {}", strip_tags(connected));

    // 2. A new story in the TAPD sandbox, and its story::create delivery.
    let story_id = format!("11{SEED_WORKSPACE}{:09}", u32::from_le_bytes(rand4()) % 1_000_000_000);
    let name = format!("Demo story {}", &story_id[story_id.len() - 4..]);
    println!("\n2. A new TAPD story {story_id} \"{name}\", and its story::create webhook");
    let r = client
        .post(format!("{base}/_sandbox/items"))
        .json(&json!({ "workspace_id": SEED_WORKSPACE, "kind": "story", "id": story_id, "name": name }))
        .send()
        .await
        .map_err(|e| format!("POST /_sandbox/items: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("POST /_sandbox/items answered {}", r.status()));
    }
    let event_id = format!("{}", u32::from_le_bytes(rand4()) % 100_000_000);
    let delivery = json!({
        "event": "story::create", "event_from": "web", "workspace_id": SEED_WORKSPACE, "id": story_id,
        "current_user": "demo", "secret": stack.secret, "event_id": event_id,
        "created": "2026-01-01 10:00:00",
    });
    let r = client
        .post(format!("{base}/webhooks/tapd"))
        .json(&delivery)
        .send()
        .await
        .map_err(|e| format!("POST /webhooks/tapd: {e}"))?;
    let status = r.status();
    let reply: Value = r.json().await.unwrap_or(Value::Null);
    println!("   POST /webhooks/tapd -> {} {reply}", status.as_u16());
    if status != StatusCode::OK {
        return Err(format!("the webhook answered {status}: {reply}"));
    }

    // 3. What the sandboxes saw.
    let docs: Vec<Value> = get_json(&client, &format!("{base}/_sandbox/docs")).await?;
    let comments: Vec<Value> = get_json(&client, &format!("{base}/_sandbox/comments")).await?;
    // The webhook answers status words only (it reveals nothing): the doc is the one whose
    // first paragraph links back to the story's page.
    let back_link = format!("/view/{story_id}");
    let doc =
        docs.iter().find(|d| d["deleted"] != true && d["content"].as_str().is_some_and(|c| c.contains(&back_link)));
    let doc_url = doc.and_then(|d| d["url"].as_str()).unwrap_or("").to_string();
    let comment = comments.iter().find(|c| c["entry_id"] == story_id.as_str() && c["entry_type"] == "stories");
    println!("\n3. Result");
    match doc {
        Some(d) => {
            println!("   doc:     {}", d["url"].as_str().unwrap_or(""));
            println!(
                "            \"{}\", owned by Tencent Docs account {}",
                d["title"].as_str().unwrap_or(""),
                d["owner_open_id"].as_str().unwrap_or("")
            );
        }
        None => println!("   doc:     NONE (no doc in the sandbox links to {back_link})"),
    }
    println!("   story:   {}/tapd/web/{SEED_WORKSPACE}/prong/stories/view/{story_id}", stack.public_base);
    match comment {
        Some(c) => println!(
            "   comment: on TAPD story {story_id} by {}: {}",
            c["author"].as_str().unwrap_or(""),
            strip_tags(c["description"].as_str().unwrap_or(""))
        ),
        None => println!("   comment: NONE on story {story_id}"),
    }
    let (Some(doc), Some(comment)) = (doc, comment) else {
        return Err("the doc or the comment is missing".into());
    };
    if !comment["description"].as_str().unwrap_or("").contains(doc["url"].as_str().unwrap_or("\0")) {
        return Err("the comment does not link the doc".into());
    }
    let page = client.get(browser.local_url(&doc_url)).send().await.map_err(|e| format!("GET {doc_url}: {e}"))?;
    if page.status() != StatusCode::OK {
        return Err(format!("the doc URL answered {}", page.status()));
    }

    // 4. The story moves on in TAPD, as a person would move it: the card follows, and at the end
    // of the workflow the doc goes into its folder's 已完成.
    let file_id = doc["id"].as_str().unwrap_or_default().to_string();
    println!("\n4. The story goes from new to done in TAPD");
    for status in ["开发中", "已实现"] {
        let r = client
            .post(format!("{base}/_sandbox/items/change"))
            .json(&json!({ "workspace_id": SEED_WORKSPACE, "kind": "story", "id": story_id,
                           "fields": { "status": status }, "current_user": "demo" }))
            .send()
            .await
            .map_err(|e| format!("POST /_sandbox/items/change: {e}"))?;
        let change: Value = r.json().await.map_err(|e| format!("POST /_sandbox/items/change: {e}"))?;
        let answered: Vec<String> = change["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| format!("{} -> {}", d["event"].as_str().unwrap_or("?"), d["status"]))
            .collect();
        println!("   status {status}: {}", answered.join(", "));
        let text: Value = get_json(&client, &format!("{base}/_sandbox/doc-text?file_id={}", pct(&file_id))).await?;
        let card = text["paragraphs"][0]["text"].as_str().unwrap_or_default().to_string();
        println!("   card:    {card}");
        if !card.contains(status) {
            return Err(format!("the doc's card does not say {status}: {card}"));
        }
    }
    let at: Value = get_json(&client, &format!("{base}/_sandbox/file-location?file_id={}", pct(&file_id))).await?;
    let folders: Vec<&str> =
        at["folders"].as_array().into_iter().flatten().filter_map(|f| f["title"].as_str()).collect();
    println!("   folder:  /{}", folders.join("/"));
    if folders.last() != Some(&"已完成") {
        return Err("the finished story's doc is not in 已完成".into());
    }
    println!("\ndemo: OK (open the doc URL in a browser to see it)");
    Ok(())
}

/// A file id as one query value (`$` among its characters).
fn pct(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn rand4() -> [u8; 4] {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("getrandom");
    b
}

async fn get_json<T: serde::de::DeserializeOwned>(client: &Client, url: &str) -> Result<T, String> {
    let r = client.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    r.json().await.map_err(|e| format!("GET {url}: {e}"))
}

struct Page {
    url: String,
    status: StatusCode,
    location: Option<String>,
    text: String,
}

/// Just enough of a browser: GETs, one redirect at a time, and form posts. URLs of the
/// public base are fetched through the local gateway (they are the same place unless
/// PUBLIC_BASE_URL points at a tunnel). It keeps the connect flow's cookie (the flow is
/// bound to the browser that started it) and prefers English pages.
struct Browser {
    client: Client,
    local: String,
    public: String,
    cookie: std::sync::Mutex<Option<String>>,
}

impl Browser {
    fn local_url(&self, url: &str) -> String {
        match url.strip_prefix(&self.public) {
            Some(rest) if self.public != self.local => format!("{}{rest}", self.local),
            _ => url.to_string(),
        }
    }

    async fn get(&self, url: &str) -> Result<Page, String> {
        let mut req = self.client.get(self.local_url(url)).header("accept-language", "en");
        if let Some(c) = self.cookie.lock().unwrap().clone() {
            req = req.header("cookie", c);
        }
        let r = req.send().await.map_err(|e| format!("GET {url}: {e}"))?;
        for set in r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap_or("").trim().to_owned();
            let cleared = set.to_ascii_lowercase().contains("max-age=0");
            *self.cookie.lock().unwrap() = (!cleared).then_some(pair);
        }
        let status = r.status();
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
        let text = r.text().await.unwrap_or_default();
        Ok(Page { url: url.to_string(), status, location, text })
    }

    async fn get_expect(&self, url: &str, want: StatusCode, what: &str) -> Result<Page, String> {
        let page = self.get(url).await?;
        println!("   {what} -> {}", page.status.as_u16());
        if page.status != want {
            return Err(format!("{what} answered {} (expected {want}):\n{}", page.status, strip_tags(&page.text)));
        }
        Ok(page)
    }

    /// Follows a redirect to a consent page.
    async fn follow(&self, from: &str, page: &Page) -> Result<Page, String> {
        let location = page.location.as_deref().ok_or("a redirect without a location")?;
        let url =
            Url::parse(from).and_then(|b| b.join(location)).map_err(|e| format!("bad location {location}: {e}"))?;
        let next = self.get(url.as_str()).await?;
        println!("   -> {} -> {}: {}", url.path(), next.status.as_u16(), title(&next.text));
        if next.status != StatusCode::OK {
            return Err(format!("{} answered {}:\n{}", url.path(), next.status, strip_tags(&next.text)));
        }
        Ok(next)
    }

    /// Chooses `value` in the form's `<select name=select>` (the first option if absent),
    /// presses "授权" (Authorize), and returns where the redirect goes.
    async fn submit_consent(&self, page: &Page, select: &str, value: &str) -> Result<String, String> {
        let form = Form::parse(&page.text).ok_or_else(|| format!("no form on {}", page.url))?;
        let chosen = match form.options.get(select) {
            Some(opts) if opts.iter().any(|o| o == value) => value.to_string(),
            Some(opts) if !opts.is_empty() => opts[0].clone(),
            _ => return Err(format!("the consent page has no choice of {select}")),
        };
        let mut fields = form.hidden.clone();
        fields.push((select.to_string(), chosen.clone()));
        fields.push(("decision".into(), "approve".into()));
        let action = Url::parse(&page.url)
            .and_then(|b| b.join(&form.action))
            .map_err(|e| format!("bad form action {}: {e}", form.action))?;
        let r = self
            .client
            .post(self.local_url(action.as_str()))
            .form(&fields)
            .send()
            .await
            .map_err(|e| format!("POST {}: {e}", action.path()))?;
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
        println!("   授权 Authorize ({select} {chosen}): POST {} -> {}", action.path(), r.status().as_u16());
        match (r.status(), location) {
            (StatusCode::FOUND, Some(l)) => Ok(l),
            (s, _) => {
                Err(format!("the consent form answered {s}: {}", strip_tags(&r.text().await.unwrap_or_default())))
            }
        }
    }
}

/// The first `<form>` of a page: its action, hidden inputs and select options.
#[derive(Debug)]
struct Form {
    action: String,
    hidden: Vec<(String, String)>,
    options: BTreeMap<String, Vec<String>>,
}

impl Form {
    fn parse(html: &str) -> Option<Form> {
        let start = html.find("<form")?;
        let end = html[start..].find("</form>").map_or(html.len(), |e| start + e);
        let form = &html[start..end];
        let action = attr(&form[..form.find('>')?], "action").unwrap_or_default();
        let mut hidden = Vec::new();
        let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut select: Option<String> = None;
        for tag in form.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or("");
            if tag.starts_with("input") && attr(tag, "type").as_deref() == Some("hidden") {
                if let Some(name) = attr(tag, "name") {
                    hidden.push((name, attr(tag, "value").unwrap_or_default()));
                }
            } else if tag.starts_with("select") {
                select = attr(tag, "name");
            } else if tag.starts_with("/select") {
                select = None;
            } else if tag.starts_with("option")
                && let (Some(s), Some(v)) = (&select, attr(tag, "value"))
            {
                options.entry(s.clone()).or_default().push(v);
            }
        }
        Some(Form { action, hidden, options })
    }
}

/// A double-quoted attribute of a tag, HTML entities decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let at = tag.find(&needle)? + needle.len();
    let len = tag[at..].find('"')?;
    Some(unescape(&tag[at..at + len]))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn title(html: &str) -> String {
    html.split("<title>").nth(1).and_then(|t| t.split("</title>").next()).map(unescape).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_consent_form() {
        let html = r#"<h1>TAPD 授权</h1>
<form method="post" action="/tapd/oauth/approve">
<input type="hidden" name="client_id" value="tapd-app"><input type="hidden" name="state" value="a&amp;b">
<p>授权应用 <b>tapd-app</b> 访问项目：<select name="workspace_id" id="workspace_id"><option value="1">W (1)</option><option value="2">X (2)</option></select></p>
<button type="submit" name="decision" value="approve" id="approve">授权</button>
</form>"#;
        let f = Form::parse(html).unwrap();
        assert_eq!(f.action, "/tapd/oauth/approve");
        assert_eq!(f.hidden, vec![("client_id".into(), "tapd-app".into()), ("state".into(), "a&b".into())]);
        assert_eq!(f.options["workspace_id"], vec!["1", "2"]);
        assert_eq!(title("<title>A &amp; B</title>"), "A & B");
        assert_eq!(strip_tags("<p>x <b>y</b></p>\n z"), "x y z");
    }
}
