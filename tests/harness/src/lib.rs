//! Test harness for the project's Lambda functions.
//!
//! - [`lambda`]: a Lambda Runtime API emulator that runs a real function binary
//!   ([`Function`]) and invokes it like a Lambda instance would.
//! - [`apigw`]: API Gateway HTTP API (payload 2.0) events and responses, and the
//!   EventBridge scheduled event.
//! - [`dynamo`]: the DynamoDB table of `template.yaml`, created on the local
//!   DynamoDB-compatible endpoint that `make test` starts.
//! - [`ddb_proxy`]: a fault-injecting proxy in front of that endpoint, recording each call.
//! - [`iam`]: `template.yaml` resolved for a deployment, its roles' policies, and an
//!   evaluator of requests against them, as AWS would.
//! - [`stack`] and [`flows`]: a sandbox, a table and the functions wired together, and
//!   the deliveries, checks and waits the black-box suites share; [`hostile`]: the costliest
//!   bodies a stranger can send the webhook (the e2e suite and the bench share them).
//! - [`bin_path`]: where `make test` put the release binaries.

pub mod apigw;
pub mod ddb_proxy;
pub mod dynamo;
pub mod flows;
pub mod hostile;
pub mod iam;
pub mod lambda;
pub mod secrets_extension;
pub mod ses;
pub mod stack;

pub use lambda::{Function, Invocation};

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the root `Cargo.toml` and `template.yaml`).
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The cargo target directory: `CARGO_TARGET_DIR` (or `CARGO_BUILD_TARGET_DIR`) when set,
/// else the directory this test executable was built into, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            return if dir.is_absolute() { dir } else { workspace_root().join(dir) };
        }
    }
    // Test executables live in <target>/<profile>/deps/<name>-<hash>.
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
        && deps.file_name().is_some_and(|n| n == "deps")
        && let Some(target) = deps.parent().and_then(Path::parent)
        && target.join("CACHEDIR.TAG").exists()
    {
        return target.to_path_buf();
    }
    workspace_root().join("target")
}

/// `target/<profile>/<name>` of the workspace (the profile of [`bin_profile`]), panicking
/// with a clear message when it has not been built.
pub fn bin_path(name: &str) -> PathBuf {
    let path = target_dir().join(bin_profile()).join(name);
    if !path.is_file() {
        panic!(
            "the function's binary {} is missing: run the tests with `make test` (it builds \
             them first), or `cargo build -p oauth -p tapd-webhook` (HARNESS_PROFILE picks the profile)",
            path.display()
        );
    }
    path
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("getrandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random version-4 UUID string.
pub fn uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("getrandom");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// UTC calendar time of a Unix timestamp: (year, month 1-12, day 1-31, hour, minute, second).
pub(crate) fn utc(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, (rem / 3600) as u32, (rem / 60 % 60) as u32, (rem % 60) as u32)
}

pub(crate) fn now() -> std::time::Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock before 1970")
}

/// Why this process cannot run the suites that need the local stack (a local DynamoDB, and
/// the functions' binaries), or `None` when it can. `make test` provides both; a plain
/// `cargo test` skips those suites with one line each.
/// The directory under `target/` of the functions the suites and devstack run:
/// `$HARNESS_PROFILE` (`make` exports it from `PROFILE`; the cargo profile `dev` is the
/// directory `debug`), `debug` by default, what a plain `cargo build` makes.
pub fn bin_profile() -> String {
    match std::env::var("HARNESS_PROFILE") {
        Ok(p) if p == "dev" => "debug".into(),
        Ok(p) if !p.is_empty() => p,
        _ => "debug".into(),
    }
}

pub fn local_stack_missing() -> Option<String> {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        return Some("no local DynamoDB (AWS_ENDPOINT_URL_DYNAMODB is unset)".into());
    }
    let profile = bin_profile();
    ["oauth", "tapd-webhook"]
        .iter()
        .find(|name| !target_dir().join(&profile).join(name).is_file())
        .map(|name| format!("target/{profile}/{name} is not built"))
}

/// First line of every test that needs the local stack: returns (skips the test) with one
/// line saying why when it is missing.
#[macro_export]
macro_rules! needs_local_stack {
    () => {
        if let Some(why) = $crate::local_stack_missing() {
            // Under `make test` a missing part is a failure, never a silent skip.
            assert!(std::env::var_os("LOCAL_STACK_REQUIRED").is_none(), "{why}");
            eprintln!("skipped: {why}; `make test` runs this test with everything it needs");
            return;
        }
    };
}

/// First line of every test that needs a local DynamoDB only (not the functions' binaries).
#[macro_export]
macro_rules! needs_local_dynamodb {
    () => {
        if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
            assert!(std::env::var_os("LOCAL_STACK_REQUIRED").is_none(), "AWS_ENDPOINT_URL_DYNAMODB is unset");
            eprintln!("skipped: no local DynamoDB (AWS_ENDPOINT_URL_DYNAMODB is unset); `make test` runs this test");
            return;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc(1_587_481_701), (2020, 4, 21, 15, 8, 21));
        assert_eq!(utc(951_825_600), (2000, 2, 29, 12, 0, 0));
    }

    #[test]
    fn uuid_shape() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, uuid());
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }
}
