//! Which table the CLI works on, and how it gets there: a deployed table (the standard AWS
//! credential chain, `--region`, `--profile`) or the local stack `make run` started.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_dynamodb::config::{Credentials, ProvideCredentials, Region};
use shared::crypto::Keyring;
use shared::store::Store;
use shared::store::table::TableProblem;

use crate::{Failure, Target};

/// The table `make run` creates unless `TABLE_NAME` says otherwise (tools/devstack).
const LOCAL_TABLE: &str = "tapd-docs-local";
/// Where `make run` keeps the token encryption key it made (tools/devstack).
const LOCAL_KEY_FILE: &str = "run/token-encryption-key";

/// A store on a checked table, with what the output should say about where it is.
pub struct Connected {
    pub store: Store,
    pub table: String,
    pub region: String,
    pub endpoint: Option<String>,
    /// The table's approximate item count (DescribeTable; refreshed every few hours by AWS).
    pub approx_items: Option<u64>,
}

/// Whether the command needs the token encryption keys (`rotate-keys` and `--reveal` do, from
/// `TOKEN_ENCRYPTION_KEY`), or is given one (`check-key`).
pub enum Keys {
    Needed,
    Unused,
    Given(Keyring),
}

pub async fn connect(target: &Target, keys: Keys) -> Result<Connected, Failure> {
    let local = if target.local { Some(LocalStack::find()?) } else { None };

    let table = match (&target.table, &local) {
        (Some(t), _) => t.clone(),
        (None, Some(_)) => LOCAL_TABLE.to_owned(),
        (None, None) => {
            return Err(Failure::config("no table given").hint(
                "pass --table NAME (the stack's Table output) or set TABLE_NAME; \
                 for the stack `make run` started here, pass --local",
            ));
        }
    };

    // The functions' transport (rustls on ring), for the credential providers too.
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(shared::store::sdk_http_client());
    if let Some(profile) = &target.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &target.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let endpoint = match &local {
        Some(l) => Some(l.endpoint.clone()),
        None => target.endpoint.clone().filter(|e| !e.is_empty()),
    };
    if let Some(l) = &local {
        // moto takes any key; a region is needed to sign.
        loader = loader.credentials_provider(Credentials::new("test", "test", None, None, "tapdocs-local"));
        if target.region.is_none() {
            loader = loader.region(Region::new("us-east-1"));
        }
        loader = loader.endpoint_url(&l.endpoint);
    } else if let Some(e) = &endpoint {
        loader = loader.endpoint_url(e);
    }
    let config = loader.load().await;

    let Some(region) = config.region().map(|r| r.to_string()) else {
        return Err(Failure::config("no AWS region")
            .hint("pass --region (the table's region, e.g. ap-east-1) or set AWS_REGION"));
    };
    match config.credentials_provider() {
        None => return Err(no_credentials("no credentials provider is configured")),
        Some(provider) => match provider.provide_credentials().await {
            Ok(_) => {}
            Err(CredentialsError::CredentialsNotLoaded(_)) => {
                return Err(no_credentials(
                    "none in the environment, the AWS profile, web identity, ECS or instance metadata",
                ));
            }
            Err(e) => return Err(no_credentials(&aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())),
        },
    }

    let keyring = match keys {
        Keys::Needed => keyring(local.as_ref())?,
        Keys::Given(k) => k,
        // Nothing is decrypted or encrypted: a throwaway key, never written with.
        Keys::Unused => Keyring::parse(&base64_key(&shared::random::bytes::<32>())).expect("32 bytes make a key"),
    };
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), table.clone(), keyring);
    let where_ = || match &endpoint {
        Some(e) => format!("at {e}"),
        None => format!("in {region}"),
    };
    let approx_items = match store.check_table().await {
        Ok(count) => count.and_then(|c| u64::try_from(c).ok()),
        Err(TableProblem::Missing) => {
            return Err(Failure::config(format!("table {table} does not exist {}", where_())).hint(
                if local.is_some() {
                    "is `make run` running in this checkout? (it creates the table)".to_owned()
                } else {
                    "check --table / TABLE_NAME (the stack's Table output) and --region / AWS_REGION".to_owned()
                },
            ));
        }
        Err(TableProblem::NotOurs(why)) => {
            return Err(Failure::config(format!("table {table} {} is not this project's table: {why}", where_()))
                .hint("check --table / TABLE_NAME: it names the table template.yaml declares"));
        }
        Err(TableProblem::Denied(why)) => {
            return Err(Failure::config(format!("AWS refused the credentials: {why}")).hint(
                "check AWS_PROFILE / --profile and that the keys are current (`aws sts get-caller-identity`); \
                 the principal needs the operator policy of docs/operations.md (\"The operator's IAM policy\": \
                 DescribeTable, Scan, and item actions and queries limited by key, on the table and its indexes)",
            ));
        }
        Err(TableProblem::Unreachable(why)) => {
            return Err(Failure::config(format!("cannot reach DynamoDB {}: {why}", where_())).hint(
                if endpoint.is_some() {
                    "is the local DynamoDB running? (`make run`, or scripts/dynamodb-local.sh start)"
                } else {
                    "check the network and --region"
                },
            ));
        }
        Err(TableProblem::Other(why)) => {
            return Err(Failure::config(format!("cannot describe table {table} {}: {why}", where_())));
        }
    };
    Ok(Connected { store, table, region, endpoint, approx_items })
}

fn no_credentials(why: &str) -> Failure {
    Failure::config(format!("no AWS credentials: {why}")).hint(
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / --profile (after `aws sso login` \
         for SSO profiles); for the stack `make run` started here, pass --local",
    )
}

fn keyring(local: Option<&LocalStack>) -> Result<Keyring, Failure> {
    let (raw, from) = match std::env::var("TOKEN_ENCRYPTION_KEY") {
        Ok(k) if !k.trim().is_empty() => (k, "TOKEN_ENCRYPTION_KEY".to_owned()),
        _ => match local {
            Some(l) => {
                let path = l.dir.join(LOCAL_KEY_FILE);
                let raw = std::fs::read_to_string(&path)
                    .map_err(|e| Failure::config(format!("cannot read {}: {e}", path.display())))?;
                (raw.trim().to_owned(), path.display().to_string())
            }
            None => {
                return Err(Failure::config("TOKEN_ENCRYPTION_KEY is not set").hint(
                    "set it to the functions' value with the new key first: NEW,OLD (base64 keys, comma separated)",
                ));
            }
        },
    };
    Keyring::parse(&raw).map_err(|e| {
        Failure::config(format!("{from}: {e}"))
            .hint("expected base64 keys of 32 bytes, comma separated, the new key first")
    })
}

fn base64_key(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The stack `make run` started in this checkout: moto's endpoint file is
/// `.local/devstack-<port>.endpoint` (scripts/dynamodb-local.sh).
struct LocalStack {
    dir: PathBuf,
    endpoint: String,
}

impl LocalStack {
    fn find() -> Result<Self, Failure> {
        let cwd = std::env::current_dir().map_err(|e| Failure::config(format!("no current directory: {e}")))?;
        let dir = cwd.ancestors().map(|d| d.join(".local")).find(|d| d.is_dir()).ok_or_else(|| {
            Failure::config("--local: no .local directory here or above")
                .hint("run tapdocs from the project checkout where `make run` runs")
        })?;
        let candidates = endpoint_files(&dir, std::env::var("PORT").ok().as_deref());
        let live: Vec<&PathBuf> = candidates.iter().filter(|p| alive(p)).collect();
        let file = match live.as_slice() {
            [one] => *one,
            [] => {
                return Err(Failure::config(format!("--local: no running `make run` found in {}", dir.display()))
                    .hint("start it with `make run` (another terminal), or pass --endpoint and --table"));
            }
            many => {
                let names: Vec<String> = many.iter().map(|p| p.display().to_string()).collect();
                return Err(Failure::config(format!("--local: several stacks are running ({})", names.join(", ")))
                    .hint("set PORT to the one you mean, as for `make run`"));
            }
        };
        let endpoint = std::fs::read_to_string(file)
            .map_err(|e| Failure::config(format!("cannot read {}: {e}", file.display())))?
            .trim()
            .to_owned();
        Ok(Self { dir, endpoint })
    }
}

fn endpoint_files(dir: &Path, port: Option<&str>) -> Vec<PathBuf> {
    if let Some(port) = port {
        return vec![dir.join(format!("devstack-{port}.endpoint"))];
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("devstack-") && n.ends_with(".endpoint"))
        })
        .collect();
    out.sort();
    out
}

/// Whether the moto of an endpoint file still runs (its pid file names a live process).
fn alive(endpoint_file: &Path) -> bool {
    let pid_file = endpoint_file.with_extension("pid");
    let Ok(pid) = std::fs::read_to_string(pid_file) else { return false };
    let pid = pid.trim();
    !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && Path::new("/proc").join(pid).exists()
        || (!Path::new("/proc").exists() && endpoint_file.exists())
}

/// Whether to show progress bars and ask questions: a person at a terminal.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal() && std::io::stdin().is_terminal()
}
