//! `devstack run`: the whole product on one port until Ctrl-C.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use harness::apigw;
use sandbox::{ItemKind, Sandbox, SandboxConfig};
use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::gateway::{self, Gateway, ROUTES};
use crate::pool::Pool;
use crate::settings::{self, Lock, Vars};
use crate::store::{self, Moto};

pub struct RunOptions {
    pub port: u16,
    pub data_dir: PathBuf,
    pub reset: bool,
    /// Seconds between scheduled retry runs; 0 disables them.
    pub retry_every: u64,
}

/// The workspace, story, bug and Tencent Docs user a fresh sandbox starts with
/// (the same as the `sandbox` binary seeds).
pub const SEED_WORKSPACE: &str = "20000001";
pub const SEED_OPEN_ID: &str = "0123456789abcdef0123456789abcdef";

/// Instances per function at most (Lambda's concurrency, scaled to a laptop).
const MAX_INSTANCES: usize = 4;
const DEFAULT_TABLE: &str = "tapd-docs-local";

/// Files of the data directory.
pub const KEY_FILE: &str = "token-encryption-key";
pub const SECRET_FILE: &str = "webhook-secret";
pub const TABLE_DUMP: &str = "dynamodb.json";
pub const SANDBOX_DUMP: &str = "sandbox.json";
pub const DEMO_ENV: &str = "demo.env";

/// What a run started, for the shutdown.
struct Started {
    moto: Option<Moto>,
    oauth: Option<Arc<Pool>>,
    webhook: Option<Arc<Pool>>,
}

pub async fn run(opts: RunOptions) -> Result<(), String> {
    let root = harness::workspace_root();
    settings::ensure_private_dir(&opts.data_dir)?;
    // Held until everything below has stopped and saved.
    let _lock = Lock::acquire(&opts.data_dir)?;
    let mut started = Started { moto: None, oauth: None, webhook: None };
    let result = run_inner(&root, &opts, &mut started).await;
    // Whatever happened: stop the functions, save, stop moto.
    for pool in [&started.oauth, &started.webhook].into_iter().flatten() {
        pool.shutdown().await;
    }
    if let Some(moto) = &started.moto {
        moto.stop().await;
    }
    let _ = std::fs::remove_file(opts.data_dir.join(DEMO_ENV));
    result
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).map(|r| r.display().to_string()).unwrap_or_else(|_| p.display().to_string())
}

async fn run_inner(root: &Path, opts: &RunOptions, started: &mut Started) -> Result<(), String> {
    let data = &opts.data_dir;
    if opts.reset {
        for f in [TABLE_DUMP, SANDBOX_DUMP] {
            let _ = std::fs::remove_file(data.join(f));
        }
        println!("devstack: RESET: starting without the saved table and sandbox state");
    }
    let vars = Vars::load(root)?;
    let real = vars.real_apps();

    let binaries: Vec<PathBuf> =
        ["oauth", "tapd-webhook"].iter().map(|n| harness::target_dir().join(harness::bin_profile()).join(n)).collect();
    for b in &binaries {
        if !b.is_file() {
            return Err(format!(
                "{} is missing: build it with `cargo build --release --bin oauth --bin tapd-webhook` (make run does)",
                b.display()
            ));
        }
    }

    // Bind first: a busy port is the most likely mistake, and nothing has started yet.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, opts.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (another `make run`? choose another port with PORT=...)"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let local_url = format!("http://127.0.0.1:{port}");
    let public_base =
        vars.get("PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_string()).unwrap_or(local_url.clone());

    // Local DynamoDB, the table, and what the last run left.
    let moto = Moto::start(root, &format!("devstack-{port}")).await?;
    let endpoint = moto.endpoint.clone();
    let moto_log = moto.log_file();
    started.moto = Some(moto);
    let client = harness::dynamo::client_at(&endpoint);
    let table = vars.get("TABLE_NAME").unwrap_or(DEFAULT_TABLE).to_string();
    let created = store::ensure_table(&client, &table).await?;
    let table_dump = data.join(TABLE_DUMP);
    let restored = match (created, read_json(&table_dump)?) {
        (true, Some(dump)) => Some(store::restore(&client, &table, &dump).await?),
        _ => None,
    };

    // Secrets: from the environment, else made once and kept in the data directory.
    let key = match vars.get("TOKEN_ENCRYPTION_KEY") {
        Some(k) => k.to_string(),
        None => settings::persistent_secret(&data.join(KEY_FILE), settings::new_encryption_key)?,
    };
    let webhook_secret = match vars.get("TAPD_WEBHOOK_SECRET") {
        Some(s) => s.to_string(),
        None => settings::persistent_secret(&data.join(SECRET_FILE), settings::new_webhook_secret)?,
    };

    let mut env: Vec<(String, String)> = vars.pass_through();
    let mut set = |k: &str, v: String| {
        env.retain(|(n, _)| n != k);
        env.push((k.to_string(), v));
    };
    set("TABLE_NAME", table.clone());
    set("AWS_ENDPOINT_URL_DYNAMODB", endpoint.clone());
    set("PUBLIC_BASE_URL", public_base.clone());
    set("TOKEN_ENCRYPTION_KEY", key);
    set("TAPD_WEBHOOK_SECRET", webhook_secret.clone());
    if vars.get("LOG_FORMAT").is_none() {
        set("LOG_FORMAT", "text".into());
    }

    let mut sandbox_state = None;
    let sandbox = if real {
        None
    } else {
        let mut cfg = SandboxConfig::new(vec![
            format!("{public_base}/oauth/tapd/callback"),
            format!("{public_base}/oauth/tdoc/callback"),
        ]);
        cfg.public_base_url = Some(public_base.clone());
        // The TAPD web form delivers its *::create like TAPD, to this gateway's webhook route.
        cfg.webhook_url = Some(format!("{local_url}/webhooks/tapd"));
        cfg.webhook_secret = webhook_secret.clone();
        let sb = Sandbox::start_on(cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(|e| format!("sandbox: {e}"))?;
        match read_json(&data.join(SANDBOX_DUMP))? {
            Some(saved) => {
                sb.import_state(&saved)?;
                sandbox_state = Some("restored");
            }
            None => {
                sb.add_workspace(SEED_WORKSPACE, "Sandbox workspace");
                sb.add_item(SEED_WORKSPACE, ItemKind::Story, "1120000001000000001", "Sandbox story");
                sb.add_item(SEED_WORKSPACE, ItemKind::Bug, "1120000001000000002", "Sandbox bug");
                sb.add_tdoc_user(SEED_OPEN_ID, "Sandbox user");
                sandbox_state = Some("seeded");
            }
        }
        let c = sb.config();
        set("TAPD_CLIENT_ID", c.tapd_client_id.clone());
        set("TAPD_CLIENT_SECRET", c.tapd_client_secret.clone());
        set("TAPD_API_BASE", sb.tapd_api_base());
        set("TAPD_AUTHORIZE_URL", sb.tapd_authorize_url());
        // Links in docs open the sandbox's item pages.
        set("TAPD_WEB_BASE", sb.tapd_web_base());
        set("TDOC_CLIENT_ID", c.tdoc_client_id.clone());
        set("TDOC_CLIENT_SECRET", c.tdoc_client_secret.clone());
        set("TDOC_BASE", sb.tdoc_base());
        Some(sb)
    };

    // The functions, as template.yaml configures them (timeouts 10 s and 30 s).
    let oauth = Pool::start("oauth", binaries[0].clone(), env.clone(), Duration::from_secs(10), MAX_INSTANCES).await?;
    started.oauth = Some(oauth.clone());
    let webhook =
        Pool::start("tapd-webhook", binaries[1].clone(), env.clone(), Duration::from_secs(30), MAX_INSTANCES).await?;
    started.webhook = Some(webhook.clone());

    let dirty = Arc::new(AtomicBool::new(false));
    let gw = Gateway {
        oauth: oauth.clone(),
        webhook: webhook.clone(),
        sandbox: sandbox.as_ref().map(Sandbox::router),
        port,
        dirty: dirty.clone(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = gateway::router(gw).into_make_service_with_connect_info::<SocketAddr>();
    let mut serve_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = serve_stop.wait_for(|s| *s).await;
            })
            .await
    });

    // EventBridge's schedule, and the saving of state.
    let scheduler = (opts.retry_every > 0).then(|| {
        let webhook = webhook.clone();
        let dirty = dirty.clone();
        let every = Duration::from_secs(opts.retry_every);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                // Quiet unless the run did something (or failed): it fires every minute.
                let outcome = webhook
                    .invoke_showing_logs_if(apigw::scheduled_event(), |o| o.response().is_none_or(gateway::did_work))
                    .await;
                dirty.store(true, Ordering::SeqCst);
                match outcome.response() {
                    Some(summary) if gateway::did_work(summary) => println!("[schedule] retry run: {summary}"),
                    Some(_) => {}
                    None => eprintln!("[schedule] the scheduled retry run failed: {outcome:?}"),
                }
            }
        })
    });
    let saver = Saver { client: client.clone(), table: table.clone(), data: data.clone(), sandbox: sandbox.clone() };
    let save_loop = {
        let saver = saver.clone();
        let dirty = dirty.clone();
        let pools = [oauth.clone(), webhook.clone()];
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut n = 0u64;
            loop {
                tick.tick().await;
                for p in &pools {
                    p.pump_logs().await;
                }
                n += 1;
                if n.is_multiple_of(5) && dirty.swap(false, Ordering::SeqCst) {
                    saver.save(false).await;
                }
            }
        })
    };

    // What `make demo` (and the browser test) need to find this run.
    let mode = if real { "real" } else { "sandbox" };
    let demo_env = format!(
        "# Written by devstack (pid {pid}) while it runs; removed when it stops. Private: holds the webhook secret.\n\
         DEVSTACK_PID={pid}\nDEVSTACK_URL={local_url}\nDEVSTACK_MODE={mode}\nPUBLIC_BASE_URL={public_base}\n\
         TAPD_WEBHOOK_SECRET={webhook_secret}\n",
        pid = std::process::id()
    );
    settings::write_private(&data.join(DEMO_ENV), demo_env.as_bytes())?;

    let data_rel = rel(root, data);
    println!();
    println!("devstack: ready. Open this URL to connect a TAPD workspace to Tencent Docs:");
    println!();
    println!("    {public_base}/oauth/tapd/start");
    println!();
    if sandbox.is_some() {
        println!("Then create a story in the TAPD sandbox (新建需求) and watch its doc appear:");
        println!();
        println!("    {public_base}/tapd/web/{SEED_WORKSPACE}/");
        println!();
    }
    println!("The console (sign in with TAPD; items, retries, settings, the webhook secret):");
    println!();
    println!("    {public_base}/console");
    println!();
    println!("  gateway      {local_url}  (API Gateway HTTP API 2.0 events; PUBLIC_BASE_URL={public_base})");
    for (m, p, _) in ROUTES {
        println!("                 {m:<4} {p}");
    }
    println!(
        "  functions    oauth, tapd-webhook: the release binaries in {}, under a Lambda Runtime API emulator",
        rel(root, &harness::target_dir().join(harness::bin_profile()))
    );
    if opts.retry_every > 0 {
        println!("               tapd-webhook's scheduled retry every {} s (EventBridge)", opts.retry_every);
    }
    println!(
        "  DynamoDB     moto at {endpoint}, table {table} ({}; log {})",
        match restored {
            Some(n) => format!("{n} items restored"),
            None if created => "new".into(),
            None => "already there".into(),
        },
        rel(root, &moto_log)
    );
    match &sandbox {
        Some(_) => {
            println!(
                "  sandboxes    TAPD {local_url}/tapd/web/, Tencent Docs {local_url}/tdoc/ ({}; workspace {SEED_WORKSPACE})",
                sandbox_state.unwrap_or("")
            );
            println!("               inspect: {local_url}/_sandbox/docs, /_sandbox/comments, /_sandbox/items");
        }
        None => println!(
            "  upstreams    TAPD {}, Tencent Docs {} (apps configured in {}); no sandboxes",
            vars.get("TAPD_API_BASE").unwrap_or("https://api.tapd.cn"),
            vars.get("TDOC_BASE").unwrap_or("https://docs.qq.com"),
            if vars.dotenv.is_some() { "the environment and .env" } else { "the environment" }
        ),
    }
    println!(
        "  data         {data_rel}/ (kept between runs; `make run RESET=1` starts afresh); the token key stays in {data_rel}/{KEY_FILE}"
    );
    if real && vars.get("TAPD_WEBHOOK_SECRET").is_none() {
        println!("  webhook      configure the secret in {data_rel}/{SECRET_FILE} for TAPD's webhook deliveries");
    }
    if !real {
        println!("  demo         `make demo` in another terminal walks the connect flow and a story::create");
    }
    println!();
    println!("Stop with Ctrl-C: it stops the gateway, the functions and moto, and saves the data.");
    println!();

    let why = wait_for_stop().await?;
    println!("\ndevstack: {why}; stopping");
    let _ = stop_tx.send(true);
    if let Some(s) = scheduler {
        s.abort();
    }
    save_loop.abort();
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(e))) => eprintln!("devstack: gateway: {e}"),
        Err(_) => eprintln!("devstack: gateway: requests still open after 5 s; leaving them"),
        _ => {}
    }
    oauth.shutdown().await;
    webhook.shutdown().await;
    saver.save(true).await;
    if let Some(sb) = &sandbox {
        sb.shutdown();
    }
    Ok(())
}

async fn wait_for_stop() -> Result<&'static str, String> {
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    Ok(tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    })
}

fn read_json(path: &Path) -> Result<Option<Value>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is not valid JSON ({e}); fix or delete it, or run with RESET=1", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes the table and the sandbox state to the data directory.
#[derive(Clone)]
struct Saver {
    client: Client,
    table: String,
    data: PathBuf,
    sandbox: Option<Sandbox>,
}

impl Saver {
    async fn save(&self, report: bool) {
        let mut saved = Vec::new();
        match store::dump(&self.client, &self.table).await {
            Ok(dump) => {
                let n = dump["items"].as_array().map_or(0, Vec::len);
                if write_json(&self.data.join(TABLE_DUMP), &dump) {
                    saved.push(format!("{n} table items"));
                }
            }
            Err(e) => eprintln!("devstack: cannot save the table: {e}"),
        }
        if let Some(sb) = &self.sandbox
            && write_json(&self.data.join(SANDBOX_DUMP), &sb.export_state())
        {
            saved.push("the sandbox state".into());
        }
        if report && !saved.is_empty() {
            println!("devstack: saved {} in {}", saved.join(" and "), self.data.display());
        }
    }
}

fn write_json(path: &Path, value: &Value) -> bool {
    let text = serde_json::to_vec_pretty(value).expect("JSON");
    if std::fs::read(path).is_ok_and(|old| old == text) {
        return true;
    }
    match settings::write_private(path, &text) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("devstack: {e}");
            false
        }
    }
}
