//! Where devstack keeps things, what the environment (and `.env`) configures, and the
//! private files of the data directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::{Engine, engine::general_purpose::STANDARD as B64};

/// The variables `.env` and the environment may set for the functions (the contract's, and
/// the functions' optional ones), passed through unchanged. `TOKEN_ENCRYPTION_KEY`,
/// `TAPD_WEBHOOK_SECRET` and `PUBLIC_BASE_URL` are handled separately.
const PASS_THROUGH_PREFIXES: &[&str] = &["TAPD_", "TDOC_", "DOC_"];
const PASS_THROUGH_NAMES: &[&str] =
    &["LINK_TASKS", "MAX_ATTEMPTS", "HTTP_TIMEOUT_MS", "RUST_LOG", "AWS_LAMBDA_LOG_LEVEL", "LOG_FORMAT"];
const HANDLED: &[&str] = &["TAPD_WEBHOOK_SECRET"];

/// The environment as the functions' configuration sees it: the process environment,
/// then `.env` at the workspace root for what the environment does not set.
pub struct Vars {
    vars: BTreeMap<String, String>,
    pub dotenv: Option<PathBuf>,
}

impl Vars {
    pub fn load(root: &Path) -> Result<Vars, String> {
        let mut vars = BTreeMap::new();
        let path = root.join(".env");
        let dotenv = match fs::read_to_string(&path) {
            Ok(text) => {
                for (n, line) in text.lines().enumerate() {
                    if let Some((k, v)) =
                        parse_dotenv_line(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?
                    {
                        vars.insert(k, v);
                    }
                }
                Some(path)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        for (k, v) in std::env::vars() {
            vars.insert(k, v);
        }
        Ok(Vars { vars, dotenv })
    }

    /// A non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// Real TAPD and Tencent Docs apps are configured (their client ids are set).
    pub fn real_apps(&self) -> bool {
        self.get("TAPD_CLIENT_ID").is_some() || self.get("TDOC_CLIENT_ID").is_some()
    }

    /// The functions' variables set here, passed through unchanged.
    pub fn pass_through(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|(k, v)| {
                !v.trim().is_empty()
                    && !HANDLED.contains(&k.as_str())
                    && (PASS_THROUGH_NAMES.contains(&k.as_str())
                        || PASS_THROUGH_PREFIXES.iter().any(|p| k.starts_with(p)))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// `KEY=value`, `export KEY=value`, `KEY="value"`, `KEY='value'`; blank lines and `#` comments.
fn parse_dotenv_line(line: &str) -> Result<Option<(String, String)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (k, v) = line.split_once('=').ok_or("expected KEY=value")?;
    let k = k.trim();
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("bad variable name {k:?}"));
    }
    let v = v.trim();
    let v = match (v.chars().next(), v.chars().last()) {
        (Some(q @ ('"' | '\'')), Some(e)) if v.len() >= 2 && e == q => &v[1..v.len() - 1],
        // An unquoted value ends at an inline comment.
        _ => v.split(" #").next().unwrap_or("").trim_end(),
    };
    Ok(Some((k.to_string(), v.to_string())))
}

/// The data directory: `0700`, made if missing.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))
}

/// Writes `contents` to `path` atomically (temp file, then rename), readable by the owner only.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// The content of a private file made once with `make` and kept (mode `0600`).
pub fn persistent_secret(path: &Path, make: impl FnOnce() -> String) -> Result<String, String> {
    match fs::read_to_string(path) {
        Ok(v) if !v.trim().is_empty() => {
            // Whoever made it, keep it private.
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
            Ok(v.trim().to_string())
        }
        Ok(_) => Err(format!("{} is empty; delete it to make a new one", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let v = make();
            write_private(path, format!("{v}\n").as_bytes())?;
            Ok(v)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("getrandom");
    buf
}

/// A new `TOKEN_ENCRYPTION_KEY`: base64 of 32 random bytes.
pub fn new_encryption_key() -> String {
    B64.encode(random_bytes(32))
}

/// A new webhook secret: 32 hex characters.
pub fn new_webhook_secret() -> String {
    random_bytes(16).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a process with this id is alive (Linux `/proc`).
pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// One devstack per data directory: `devstack.pid` names the owner while it runs.
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    pub fn acquire(dir: &Path) -> Result<Lock, String> {
        let path = dir.join("devstack.pid");
        if let Ok(text) = fs::read_to_string(&path)
            && let Ok(pid) = text.trim().parse::<u32>()
            && pid != std::process::id()
            && pid_alive(pid)
            && fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "devstack")
        {
            return Err(format!(
                "another devstack (pid {pid}) is using {}; stop it first (Ctrl-C in its terminal, or kill {pid})",
                dir.display()
            ));
        }
        write_private(&path, format!("{}\n", std::process::id()).as_bytes())?;
        Ok(Lock { path })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// `KEY=value` lines of a file such as `demo.env`.
pub fn read_env_file(path: &Path) -> Option<BTreeMap<String, String>> {
    let text = fs::read_to_string(path).ok()?;
    Some(text.lines().filter_map(|l| parse_dotenv_line(l).ok().flatten()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines() {
        let p = |l| parse_dotenv_line(l).unwrap();
        assert_eq!(p("A=1"), Some(("A".into(), "1".into())));
        assert_eq!(p("export B = two words "), Some(("B".into(), "two words".into())));
        assert_eq!(p("C=\"quoted # not a comment\""), Some(("C".into(), "quoted # not a comment".into())));
        assert_eq!(p("D='x'"), Some(("D".into(), "x".into())));
        assert_eq!(p("E=v # comment"), Some(("E".into(), "v".into())));
        assert_eq!(p("F="), Some(("F".into(), String::new())));
        assert_eq!(p("  # comment"), None);
        assert_eq!(p(""), None);
        assert!(parse_dotenv_line("no equals").is_err());
        assert!(parse_dotenv_line("BAD-NAME=1").is_err());
    }

    #[test]
    fn secrets_are_made_once_and_private() {
        let dir = std::env::temp_dir().join(format!("devstack-test-{}", new_webhook_secret()));
        ensure_private_dir(&dir).unwrap();
        let path = dir.join("key");
        let a = persistent_secret(&path, new_encryption_key).unwrap();
        let b = persistent_secret(&path, || unreachable!("made once")).unwrap();
        assert_eq!(a, b);
        assert_eq!(B64.decode(&a).unwrap().len(), 32);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        fs::remove_dir_all(&dir).unwrap();
    }
}
