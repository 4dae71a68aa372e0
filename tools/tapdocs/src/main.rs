//! `tapdocs`: the operator CLI of the TAPD → Tencent Docs glue. It works on the project's
//! DynamoDB table directly (a deployed one, or the one `make run` serves), never through
//! the functions. Not shipped in the Lambda packages.

mod commands;
mod target;
mod view;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Where the table is:
  deployed   --table NAME (or TABLE_NAME) and --region (or AWS_REGION); credentials from the
             standard AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile
             (SSO profiles after `aws sso login`), or an instance/container role
  make run   --local: the moto endpoint, table and key of the stack `make run` started in this
             checkout (PORT picks one when several run)
  other      --endpoint URL (or AWS_ENDPOINT_URL_DYNAMODB) for any other local DynamoDB

Items are named WORKSPACE/KIND/ID, e.g. 20000001/story/1000123 (KIND: story, bug, task),
as `tapdocs items` prints them.

Exit codes:
  0  done
  1  done in part: some of the work failed (each failure is printed)
  2  usage: a bad argument, or a confirmation was needed
  3  the table cannot be used: no credentials, refused, unreachable, missing, or not this project's
  4  not found: the item or workspace is not in the table";

/// Operate the TAPD → Tencent Docs glue from its DynamoDB table: see what is connected and
/// what is stuck, retry failed items, backfill a workspace, disconnect one, rotate the
/// token encryption key.
#[derive(Parser)]
#[command(name = "tapdocs", version, after_help = AFTER_HELP, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    target: Target,

    /// Print one JSON document on stdout instead of tables (for scripts); errors stay on stderr
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
pub struct Target {
    /// The DynamoDB table: the deployed stack's `Table` output
    #[arg(long, global = true, env = "TABLE_NAME", value_name = "NAME", help_heading = "Where the table is")]
    table: Option<String>,

    /// The table's AWS region [default: AWS_REGION, else the profile's]
    #[arg(long, global = true, value_name = "REGION", help_heading = "Where the table is")]
    region: Option<String>,

    /// The AWS profile to take credentials and region from [default: AWS_PROFILE]
    #[arg(long, global = true, value_name = "NAME", help_heading = "Where the table is")]
    profile: Option<String>,

    /// A DynamoDB endpoint other than AWS's, such as a local DynamoDB
    #[arg(
        long,
        global = true,
        env = "AWS_ENDPOINT_URL_DYNAMODB",
        value_name = "URL",
        help_heading = "Where the table is"
    )]
    endpoint: Option<String>,

    /// Work on the stack `make run` started in this checkout (its moto, table and key)
    #[arg(long, global = true, help_heading = "Where the table is")]
    local: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Connected workspaces (account, who connected it and when, last sweep) and the items
    /// pending or given up in each, with the oldest pending age
    Status,

    /// List pending or given-up items, with the reason of each
    #[command(after_help = "Pending items are being retried by the schedule; given-up items were retried \
                            until GIVE_UP_AFTER and wait for `tapdocs redrive`.")]
    Items {
        #[command(flatten)]
        which: Which,

        /// Only this workspace's items
        #[arg(long, short = 'w', value_name = "WORKSPACE")]
        workspace: Option<String>,

        /// Show at most this many (the oldest first); the JSON output is never cut. With
        /// --linked, --deleted or --all: the page's size
        #[arg(long, value_name = "N", default_value_t = 200)]
        limit: usize,

        /// With --linked, --deleted or --all: the page after this cursor (printed with the
        /// page before)
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
    },

    /// Retry items now: a given-up item becomes pending and due at once, a pending one due at once.
    /// The next scheduled run (every 5 minutes) or the next TAPD delivery works on them
    #[command(after_help = "Examples:\n  tapdocs redrive 20000001/story/1000123\n  \
                            tapdocs redrive --given-up --workspace 20000001")]
    Redrive {
        /// The items to retry (WORKSPACE/KIND/ID)
        #[arg(value_name = "ITEM", required_unless_present = "given_up", conflicts_with = "given_up")]
        items: Vec<String>,

        /// Retry every given-up item (of --workspace only, if given); `--failed` is the old name
        #[arg(long = "given-up", alias = "failed")]
        given_up: bool,

        /// With --given-up: only this workspace's items
        #[arg(long, short = 'w', value_name = "WORKSPACE", requires = "given_up")]
        workspace: Option<String>,
    },

    /// Link the items created in a workspace since a date whose TAPD delivery never came:
    /// the workspace's next sweeps list them from that date (and link what has no doc yet)
    #[command(after_help = "Example:\n  tapdocs backfill 20000001 --since 2026-11-01")]
    Backfill {
        /// The TAPD workspace id
        workspace: String,

        /// The first day to list, YYYY-MM-DD (Beijing time, as TAPD shows dates)
        #[arg(long, value_name = "DATE")]
        since: String,
    },

    /// How far a workspace's backfill or sweep is: done, left and when it should end, from its
    /// record (a progress bar at a terminal, plain lines otherwise)
    #[command(after_help = "Example:\n  tapdocs progress 20000001 --watch")]
    Progress {
        /// The TAPD workspace id
        workspace: String,

        /// Keep showing it, every 5 seconds, until the pass completes
        #[arg(long)]
        watch: bool,
    },

    /// Disconnect a workspace: delete its binding, its TAPD token and its Tencent Docs
    /// account's token (unless another workspace uses that account). The binding is kept in
    /// the workspace's history; its item records and docs stay
    #[command(after_help = "Neither TAPD nor Tencent Docs documents an endpoint to revoke a token: the \
                            tokens are deleted here, and an administrator removes the app's authorization \
                            in TAPD (company settings → apps) and the user in Tencent Docs if it must \
                            end at the providers too. Connecting again is the usual OAuth flow.")]
    Disconnect {
        /// The TAPD workspace id
        workspace: String,

        /// Do not ask for confirmation (needed when not at a terminal)
        #[arg(long, short = 'y')]
        yes: bool,
    },

    /// A workspace's own settings (folder layout, doc permission, title template, doc type and
    /// template per kind), which override the deployment's; `show` them or `set` them
    #[command(subcommand)]
    Workspace(WorkspaceCommand),

    /// After an upgrade: put the items linked by earlier versions into the index the console
    /// lists them through (once; running it again changes nothing)
    Migrate,

    /// Re-encrypt every stored token under the first key of TOKEN_ENCRYPTION_KEY, so older keys
    /// can be retired
    #[command(after_help = "Rotation:\n  1. set TOKEN_ENCRYPTION_KEY=NEW,OLD on the functions (deploy)\n  \
                            2. TOKEN_ENCRYPTION_KEY=NEW,OLD tapdocs rotate-keys\n  \
                            3. once it reports no token under an old key, set TOKEN_ENCRYPTION_KEY=NEW\n\
                            With --local, the key `make run` made is used unless TOKEN_ENCRYPTION_KEY is set.")]
    RotateKeys {
        /// Only count what would be re-encrypted
        #[arg(long)]
        dry_run: bool,
    },

    /// Prove a key (a backup of TOKEN_ENCRYPTION_KEY) opens the table's stored tokens: each
    /// token record is decrypted with it and counted, nothing decrypted is printed, nothing is
    /// written. Exit 0 when it opens every one
    #[command(after_help = "Examples:\n  tapdocs --table T check-key --key-file token-key-prod.key\n  \
                            gpg -d token-key-prod-20261207.asc | tapdocs --table T check-key --key-file -\n\
                            (`make verify-backup ENV=prod FILE=...` does the second.) The key's fingerprint \
                            (the first 16 hex digits of its SHA-256) is printed, as `make backup-key` printed it.")]
    CheckKey {
        /// The file holding the key (base64 of 32 bytes, as `make backup-key` writes it once
        /// decrypted); `-` reads it from stdin
        #[arg(long, value_name = "FILE")]
        key_file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum WorkspaceCommand {
    /// The workspace's own settings (unset ones follow the deployment's), its docs' folder,
    /// and its webhook secrets: which are live and until when (values only with --reveal)
    Show {
        /// The TAPD workspace id
        workspace: String,

        /// Also print the live secrets' values (needs TOKEN_ENCRYPTION_KEY)
        #[arg(long)]
        reveal: bool,
    },

    /// Pause linking: new items are recorded and wait, nothing is made (as the console's
    /// pause button)
    Pause {
        /// The TAPD workspace id
        workspace: String,
    },

    /// Resume linking: the items that waited are due at once
    Resume {
        /// The TAPD workspace id
        workspace: String,
    },

    /// Who may connect the workspace and sign in to its console besides its TAPD admins (the
    /// members holding the role 管理员): lists them, after naming (--add) or un-naming (--remove)
    /// people by TAPD nick or user id. Each change is in the workspace's audit trail
    #[command(after_help = "Examples:\n  tapdocs workspace admins 20000001\n  \
                            tapdocs workspace admins 20000001 --add anyechen --remove 1000142422")]
    Admins {
        /// The TAPD workspace id
        workspace: String,

        /// Name a TAPD user (nick or user id); may be repeated
        #[arg(long, value_name = "NICK_OR_ID")]
        add: Vec<String>,

        /// Un-name a TAPD user (nick or user id); may be repeated
        #[arg(long, value_name = "NICK_OR_ID")]
        remove: Vec<String>,
    },

    /// Where the workspace is told when an item is given up or its Tencent Docs authorization
    /// dies: a WeCom or DingTalk group robot's webhook URL or an e-mail address (stored
    /// encrypted, never printed; e-mail is sent where the stack sets NotifyEmailFrom)
    #[command(
        after_help = "Examples:\n  tapdocs workspace notify 20000001 --url 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…'\n  \
                            tapdocs workspace notify 20000001 --email team-lead@example.com\n  \
                            tapdocs workspace notify 20000001 --off\n\
                            A DingTalk robot with signing (加签): add &secret=SEC… to its URL."
    )]
    Notify {
        /// The TAPD workspace id
        workspace: String,

        /// The robot's webhook URL
        #[arg(long, conflicts_with_all = ["off", "email"])]
        url: Option<String>,

        /// An e-mail address
        #[arg(long, conflicts_with = "off")]
        email: Option<String>,

        /// Turn notifications off
        #[arg(long)]
        off: bool,
    },

    /// Make a new webhook secret for the workspace and print it once; the old one keeps
    /// working for the grace period, so deliveries TAPD has queued still land, then stops
    #[command(after_help = "Then give the new secret to the workspace's admin, who replaces the old one in the \
                            workspace's webhook settings in TAPD before the grace period ends.")]
    RotateSecret {
        /// The TAPD workspace id
        workspace: String,

        /// How long the old secret keeps working (90s, 30m, 24h, 3d); default
        /// WEBHOOK_SECRET_GRACE, else 24h
        #[arg(long, value_name = "DURATION")]
        grace: Option<String>,
    },

    /// Change the workspace's own settings. The next new item follows them (a delivery reads
    /// them beside its claim); existing docs stay as they are
    #[command(
        after_help = "Examples:\n  tapdocs workspace set 20000001 --folder-layout iteration --permission members\n  \
                            tapdocs workspace set 20000001 --template story='300000000$fclZsEgvOuLD' --doc-type bug=sheet\n  \
                            tapdocs workspace set 20000001 --unset permission --unset template.story\n\
                            A template is a Tencent Docs file of the workspace's account (its ID, from the file's \
                            metadata); a template that cannot be copied gives a blank doc, logged. When the docs are \
                            the app account's (TDOC_OWNER=app), a template must be in the workspace's folder: it is \
                            checked with Tencent Docs (TDOC_CLIENT_ID, TDOC_CLIENT_SECRET, TDOC_BASE)."
    )]
    Set {
        /// The TAPD workspace id
        workspace: String,

        /// Where new docs go: none (the account's root), workspace (a folder per workspace),
        /// iteration (and a sub-folder per iteration)
        #[arg(long, value_name = "LAYOUT", value_parser = ["none", "workspace", "iteration"])]
        folder_layout: Option<String>,

        /// Who may open new docs: private, members, publicRead, publicWrite, or default
        /// (Tencent Docs' own)
        #[arg(long, value_name = "POLICY", value_parser = ["private", "members", "publicRead", "publicWrite", "default"])]
        permission: Option<String>,

        /// The doc title: {name}, {id}, {kind}, {workspace_id} are replaced
        #[arg(long, value_name = "TEMPLATE")]
        title_template: Option<String>,

        /// The doc type of a kind, KIND=TYPE (TYPE: doc, sheet, form, slide, mind, flowchart,
        /// smartsheet); repeatable
        #[arg(long, value_name = "KIND=TYPE")]
        doc_type: Vec<String>,

        /// The template file new docs of a kind are copied from, KIND=FILE_ID; repeatable
        #[arg(long, value_name = "KIND=FILE_ID")]
        template: Vec<String>,

        /// Language of what is written into TAPD and Tencent Docs: zh-CN or en
        #[arg(long, value_name = "LANG", value_parser = ["zh-CN", "en"])]
        language: Option<String>,

        /// What the doc's first paragraph shows besides the name and link: a list of owner,
        /// priority, iteration, description, or none
        #[arg(long, value_name = "LIST")]
        intro_fields: Option<String>,

        /// The events acted on (within the deployment's): a list of story, bug, task (new
        /// items of that kind get a doc), rename, delete, or none
        #[arg(long, value_name = "LIST")]
        events: Option<String>,

        /// Close-out: while an item is in an end status of its workflow, its doc is in the
        /// `已完成` sub-folder of its folder (on by default)
        #[arg(long, value_name = "on|off", value_parser = switch)]
        close_out: Option<bool>,

        /// Back to the deployment's: folder-layout, permission, title-template, language,
        /// intro-fields, events, close-out, doc-type.KIND, template.KIND; repeatable
        #[arg(long, value_name = "SETTING")]
        unset: Vec<String>,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct Which {
    /// Items still being retried
    #[arg(long)]
    pending: bool,
    /// Items given up (`--failed` is the old name)
    #[arg(long = "given-up", alias = "failed")]
    given_up: bool,
    /// A workspace's linked items, newest first, a page at a time (needs --workspace)
    #[arg(long, requires = "workspace")]
    linked: bool,
    /// A workspace's items deleted in TAPD, newest first, a page at a time (needs --workspace)
    #[arg(long, requires = "workspace")]
    deleted: bool,
    /// Every item of a workspace, newest first, a page at a time (needs --workspace), as the
    /// console lists them
    #[arg(long, requires = "workspace")]
    all: bool,
}

/// An error for the operator, with the exit code it ends with.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub const PARTIAL: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CONFIG: u8 = 3;
    pub const NOT_FOUND: u8 = 4;

    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), hint: None }
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Self::CONFIG, message)
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Self::USAGE, message)
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<shared::store::StoreError> for Failure {
    fn from(e: shared::store::StoreError) -> Self {
        Failure::config(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(Failure::CONFIG);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            if let Some(h) = f.hint {
                eprintln!("  hint: {h}");
            }
            ExitCode::from(f.code)
        }
    }
}

/// `on` or `off`, as a switch setting is typed.
fn switch(raw: &str) -> Result<bool, String> {
    shared::store::settings::parse_on_off(raw).ok_or_else(|| "on or off".to_owned())
}
