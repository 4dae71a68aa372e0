//! `devstack`: the whole product on one machine (`make run`, `make demo`).
//!
//! ```text
//! devstack [run] [--port N] [--data-dir DIR] [--reset] [--retry-every SECS]
//! devstack demo  [--port N] [--data-dir DIR]
//! ```
//!
//! `run` serves, on `http://127.0.0.1:PORT` (`--port`, else `$PORT`, else 3000):
//! - a local API gateway that turns each request on `template.yaml`'s routes into an
//!   API Gateway HTTP API 2.0 event and invokes the real release binaries
//!   (`target/release/oauth`, `target/release/tapd-webhook`) under the harness's Lambda
//!   Runtime API emulator, and fires tapd-webhook's scheduled event every minute;
//! - moto as the local DynamoDB (through `scripts/dynamodb-local.sh`), with the table
//!   created from `template.yaml`;
//! - unless real client ids are configured (`TAPD_CLIENT_ID` / `TDOC_CLIENT_ID` in the
//!   environment or `.env`), the TAPD and Tencent Docs sandboxes under `/tapd`, `/tdoc`
//!   and `/_sandbox` on the same port.
//!
//! Data lives in `--data-dir` (default `.local/run/`): the token encryption key and the
//! webhook secret (each made once, mode 600), the table's items and the sandbox state
//! (saved every few seconds and at exit, restored at start; `--reset` forgets them), and,
//! while it runs, `demo.env` (URL, mode and webhook secret for `devstack demo`).
//!
//! `demo` uses the devstack running for the data directory, or starts one itself (and stops
//! it after), then walks the connect flow and a `story::create` over HTTP. Exit code 0 only
//! if a doc was created and a comment linking it was posted.

mod ddbjson;
mod demo;
mod gateway;
mod pool;
mod run;
mod settings;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: devstack [run] [--port N] [--data-dir DIR] [--reset] [--retry-every SECS]\n       \
                     devstack demo [--port N] [--data-dir DIR]";

enum Command {
    Run(run::RunOptions),
    Demo(demo::DemoOptions),
}

fn parse_args(args: Vec<String>) -> Result<Command, String> {
    let mut it = args.into_iter().peekable();
    let verb = match it.peek().map(String::as_str) {
        Some("run") | Some("demo") => it.next().expect("peeked"),
        _ => "run".to_string(),
    };
    let mut port: Option<u16> = None;
    let mut data_dir: Option<PathBuf> = None;
    let mut reset = false;
    let mut retry_every = 60;
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => port = Some(value("--port")?.parse().map_err(|_| "--port must be a port number")?),
            "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--reset" if verb == "run" => reset = true,
            "--retry-every" if verb == "run" => {
                retry_every =
                    value("--retry-every")?.parse().map_err(|_| "--retry-every must be a number of seconds")?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let port = match port {
        Some(p) => p,
        None => match std::env::var("PORT") {
            Ok(p) if !p.trim().is_empty() => p.trim().parse().map_err(|_| format!("PORT={p} is not a port number"))?,
            _ => 3000,
        },
    };
    let data_dir = data_dir.unwrap_or_else(|| harness::workspace_root().join(".local").join("run"));
    let data_dir = if data_dir.is_absolute() {
        data_dir
    } else {
        std::env::current_dir().map_err(|e| e.to_string())?.join(data_dir)
    };
    Ok(match verb.as_str() {
        "demo" => Command::Demo(demo::DemoOptions { port, data_dir }),
        _ => Command::Run(run::RunOptions { port, data_dir, reset, retry_every }),
    })
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("devstack: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (what, result) = match command {
        Command::Run(opts) => ("devstack", runtime.block_on(run::run(opts))),
        Command::Demo(opts) => ("demo", runtime.block_on(demo::demo(opts))),
    };
    // Don't wait for tasks still blocked on I/O (e.g. an open connection).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what}: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        let Ok(Command::Run(o)) = parse_args(args(&["--port", "3999", "--reset", "--data-dir", "/tmp/x"])) else {
            panic!("run expected")
        };
        assert_eq!((o.port, o.reset, o.retry_every), (3999, true, 60));
        assert_eq!(o.data_dir, PathBuf::from("/tmp/x"));
        let Ok(Command::Demo(d)) = parse_args(args(&["demo", "--port", "4000"])) else { panic!("demo expected") };
        assert_eq!(d.port, 4000);
        assert!(d.data_dir.ends_with(".local/run"));
        assert!(parse_args(args(&["demo", "--reset"])).is_err());
        assert!(parse_args(args(&["--port", "x"])).is_err());
    }
}
