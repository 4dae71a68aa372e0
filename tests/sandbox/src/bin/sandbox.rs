//! `sandbox [--port 3100] [--host 127.0.0.1] [--public-base-url http://127.0.0.1:3000]
//!          [--redirect-uri URI]... [--no-seed] [--webhook-url URL --webhook-secret S]`
//!
//! Serves the TAPD and Tencent Docs fakes and prints their base URLs and app
//! credentials as `KEY=value` lines. Redirect URIs default to
//! `{public-base-url}/oauth/{tapd,tdoc}/callback`. Unless `--no-seed`, one
//! workspace (with TAPD's default workflows and one iteration, 迭代 1), one story in it, one bug and
//! one Tencent Docs user are seeded. With `--webhook-url`, the
//! TAPD web pages' 新建需求 / 新建缺陷 form delivers each new item's `*::create` event there.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use sandbox::{ItemKind, Sandbox, SandboxConfig};

struct Args {
    host: IpAddr,
    port: u16,
    public_base_url: String,
    redirect_uris: Vec<String>,
    seed: bool,
    webhook_url: Option<String>,
    webhook_secret: String,
}

const USAGE: &str = "usage: sandbox [--port N] [--host IP] [--public-base-url URL] [--redirect-uri URI]... [--no-seed] \
                     [--webhook-url URL] [--webhook-secret S]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: IpAddr::from([127, 0, 0, 1]),
        port: 3100,
        public_base_url: "http://127.0.0.1:3000".into(),
        redirect_uris: Vec::new(),
        seed: true,
        webhook_url: None,
        webhook_secret: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => args.port = value("--port")?.parse().map_err(|_| "--port must be a number".to_string())?,
            "--host" => args.host = value("--host")?.parse().map_err(|_| "--host must be an IP address".to_string())?,
            "--public-base-url" => args.public_base_url = value("--public-base-url")?.trim_end_matches('/').to_string(),
            "--redirect-uri" => args.redirect_uris.push(value("--redirect-uri")?),
            "--no-seed" => args.seed = false,
            "--webhook-url" => args.webhook_url = Some(value("--webhook-url")?),
            "--webhook-secret" => args.webhook_secret = value("--webhook-secret")?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.redirect_uris.is_empty() {
        for service in ["tapd", "tdoc"] {
            args.redirect_uris.push(format!("{}/oauth/{service}/callback", args.public_base_url));
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut cfg = SandboxConfig::new(args.redirect_uris.clone());
    cfg.webhook_url = args.webhook_url.clone();
    cfg.webhook_secret = args.webhook_secret.clone();
    let sb = match Sandbox::start_on(cfg, SocketAddr::new(args.host, args.port)).await {
        Ok(sb) => sb,
        Err(e) => {
            eprintln!("sandbox: cannot listen on {}:{}: {e}", args.host, args.port);
            return ExitCode::FAILURE;
        }
    };
    if args.seed {
        sb.add_workspace("20000001", "Sandbox workspace");
        let sprint = sb.add_iteration("20000001", Some("1120000001001000001"), "迭代 1");
        sb.add_item_with_fields(
            "20000001",
            ItemKind::Story,
            "1120000001000000001",
            "Sandbox story",
            &[("owner", "sandbox;"), ("priority", "Middle"), ("iteration_id", &sprint.id)],
        );
        sb.add_item("20000001", ItemKind::Bug, "1120000001000000002", "Sandbox bug");
        sb.add_tdoc_user("0123456789abcdef0123456789abcdef", "Sandbox user");
    }
    let c = sb.config();
    println!("SANDBOX_BASE_URL={}", sb.base_url());
    println!("TAPD_API_BASE={}", sb.tapd_api_base());
    println!("TAPD_AUTHORIZE_URL={}", sb.tapd_authorize_url());
    println!("TDOC_BASE={}", sb.tdoc_base());
    println!("TAPD_WEB_BASE={}", sb.tapd_web_base());
    println!("TAPD_CLIENT_ID={}", c.tapd_client_id);
    println!("TAPD_CLIENT_SECRET={}", c.tapd_client_secret);
    println!("TDOC_CLIENT_ID={}", c.tdoc_client_id);
    println!("TDOC_CLIENT_SECRET={}", c.tdoc_client_secret);
    println!("SANDBOX_REDIRECT_URIS={}", c.redirect_uris.join(" "));
    println!("SANDBOX_CONTROL={}/_sandbox/", sb.base_url());
    let _ = tokio::signal::ctrl_c().await;
    sb.shutdown();
    ExitCode::SUCCESS
}
