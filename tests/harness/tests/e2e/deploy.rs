//! A deployer's path (issue 37), checked without AWS: `scripts/doctor.sh` names each missing
//! tool and the command that installs it (on a PATH of fake tools, one taken away at a time);
//! `samconfig.example.toml` holds every template parameter and nothing else, its environments
//! are separate stacks, and the template resolved with each environment's parameters (and with
//! no optional feature at all) has exactly the resources those features ask for, passes the
//! template's Rules and `sam validate` (the SAM translator); every ARN the template builds is of the `aws-cn`
//! partition and the right region in China's regions. (No local stack needed.)

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_yaml::{Mapping, Value};

fn root() -> PathBuf {
    harness::workspace_root()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn template() -> Value {
    serde_yaml::from_str(&read("template.yaml")).expect("template.yaml is YAML")
}

fn scratch(name: &str) -> PathBuf {
    let dir = root().join(".local/deploy-test").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ------------------------------------------------------------------------------------------------
// make doctor

/// A PATH of fake tools: each prints what the real one would for the doctor's questions.
struct FakeTools {
    dir: PathBuf,
}

const TOOLS: &[(&str, &str)] = &[
    ("rustc", "echo 'rustc 1.95.0 (59807616e 2026-04-14)'"),
    ("cargo", "echo 'cargo 1.95.0'"),
    ("cc", "exit 0"),
    ("make", "echo 'GNU Make 4.3'"),
    // `-c 'print version'` answers 3.11; `-c 'import venv, ensurepip'` succeeds.
    ("python3", "case \"$2\" in *version_info*) echo 3.11 ;; esac; exit 0"),
    ("node", "echo v20.19.0"),
    ("npm", "echo 10.0.0"),
    ("timeout", "exit 0"),
    ("chromium", "echo 'Chromium 130.0'"),
    ("aws", "echo aws-cli/2"),
    ("gpg", "echo 'gpg (GnuPG) 2.2'"),
];

impl FakeTools {
    fn new(name: &str) -> Self {
        let dir = scratch(name);
        for (tool, body) in TOOLS {
            Self::write(&dir, tool, body);
        }
        FakeTools { dir }
    }

    fn write(dir: &Path, tool: &str, body: &str) {
        let path = dir.join(tool);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn without(&self, tool: &str) -> &Self {
        std::fs::remove_file(self.dir.join(tool)).unwrap();
        self
    }

    fn replace(&self, tool: &str, body: &str) -> &Self {
        Self::write(&self.dir, tool, body);
        self
    }

    /// Runs the doctor with only these tools on PATH (bash itself by its absolute path).
    fn doctor(&self, platform: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, Duration) {
        let mut cmd = Command::new(bash());
        cmd.arg(root().join("scripts/doctor.sh"))
            .args(args)
            .env_clear()
            .env("PATH", &self.dir)
            .env("HOME", &self.dir)
            .env("DOCTOR_PLATFORM", platform)
            // No project venv: the venv module is asked for.
            .env("DOCTOR_VENV", self.dir.join("no-venv"))
            // Only PATH is searched for a browser (not this machine's /usr/bin).
            .env("CHROMIUM_SEARCH", "");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let out = cmd.output().expect("bash runs scripts/doctor.sh");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        // The doctor runs on builtins and the tools it checks: nothing else may be called.
        for broken in ["command not found", "No such file"] {
            assert!(!text.contains(broken), "the doctor calls something it does not check:\n{text}");
        }
        (out.status.code().unwrap_or(-1), text, start.elapsed())
    }
}

impl Drop for FakeTools {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bash() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("bash"))
        .chain([PathBuf::from("/bin/bash"), PathBuf::from("/usr/bin/bash")])
        .find(|p| p.is_file())
        .expect("bash")
}

/// The install command the doctor must name for a missing tool, per platform.
fn install_command(tool: &str, platform: &str) -> &'static str {
    match (tool, platform) {
        ("rustc" | "cargo", "macos") => "rustup-init",
        ("rustc" | "cargo", _) => "https://sh.rustup.rs",
        ("cc", "debian") => "apt-get install -y build-essential",
        ("cc", "fedora") => "dnf install -y gcc",
        ("cc", "macos") => "xcode-select --install",
        ("make", "debian") => "apt-get install -y make",
        ("make", "fedora") => "dnf install -y make",
        ("make", "macos") => "xcode-select --install",
        ("python3", "debian") => "apt-get install -y python3 python3-venv",
        ("python3", "fedora") => "dnf install -y python3",
        ("python3", "macos") => "brew install python",
        ("node" | "npm", "debian") => "apt-get install -y nodejs npm",
        ("node" | "npm", "fedora") => "dnf install -y nodejs npm",
        ("node" | "npm", "macos") => "brew install node",
        ("chromium", "debian") => "apt-get install -y chromium",
        ("chromium", "fedora") => "dnf install -y chromium",
        ("chromium", "macos") => "brew install --cask google-chrome",
        ("timeout", "macos") => "brew install coreutils",
        ("timeout", "debian") => "apt-get install -y coreutils",
        ("timeout", "fedora") => "dnf install -y coreutils",
        other => panic!("no expectation for {other:?}"),
    }
}

const PLATFORMS: [&str; 3] = ["debian", "fedora", "macos"];

#[test]
fn doctor_passes_with_every_tool_and_fast() {
    for platform in PLATFORMS {
        let tools = FakeTools::new(&format!("doctor-all-{platform}"));
        let (code, text, took) = tools.doctor(platform, &[], &[]);
        assert_eq!(code, 0, "{platform}: {text}");
        assert!(text.contains("doctor: ok"), "{text}");
        assert!(took < Duration::from_secs(2), "{platform}: the doctor took {took:?}");
    }
    // On this machine too: fast, whatever it finds.
    let start = Instant::now();
    let out = Command::new(bash()).arg(root().join("scripts/doctor.sh")).output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(2), "the doctor took {:?}", start.elapsed());
    assert!(String::from_utf8_lossy(&out.stderr).contains("doctor:"));
}

#[test]
fn doctor_names_each_missing_required_tool_and_the_command_that_installs_it() {
    for platform in PLATFORMS {
        for tool in ["rustc", "cargo", "cc", "make", "python3"] {
            let tools = FakeTools::new(&format!("doctor-{tool}-{platform}"));
            tools.without(tool);
            let (code, text, _) = tools.doctor(platform, &[], &[]);
            assert_eq!(code, 1, "{platform} without {tool}: {text}");
            assert!(text.contains("MISSING"), "{text}");
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with("- ") && l.contains(tool.trim_end_matches('3')))
                .unwrap_or_else(|| panic!("{platform} without {tool}: the tool is not named:\n{text}"));
            let want = install_command(tool, platform);
            assert!(text.contains(want), "{platform} without {tool} ({line}): no `{want}` in\n{text}");
        }
    }
}

#[test]
fn doctor_knows_too_old_and_half_installed_tools() {
    let tools = FakeTools::new("doctor-old-rust");
    tools.replace("rustc", "echo 'rustc 1.80.1 (3f5fd8dd4 2024-08-06)'");
    let (code, text, _) = tools.doctor("debian", &[], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("rustc ≥ 1.94 (found 1.80.1)") && text.contains("rustup update stable"), "{text}");

    // Debian's python3 without python3-venv: `import venv, ensurepip` fails.
    let tools = FakeTools::new("doctor-no-venv");
    tools.replace("python3", "case \"$2\" in *version_info*) echo 3.11; exit 0 ;; esac; exit 1");
    let (code, text, _) = tools.doctor("debian", &[], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("venv module") && text.contains("apt-get install -y python3-venv"), "{text}");

    let tools = FakeTools::new("doctor-old-python");
    tools.replace("python3", "case \"$2\" in *version_info*) echo 3.8 ;; esac; exit 0");
    let (code, text, _) = tools.doctor("fedora", &[], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("python3 ≥ 3.10 (found 3.8)"), "{text}");

    // The Rust the doctor asks for is the workspace's rust-version.
    let cargo = read("Cargo.toml");
    let rust_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .map(|v| v.trim_end_matches('"').to_owned())
        .expect("rust-version in Cargo.toml");
    assert!(read("scripts/doctor.sh").contains(&format!("RUST_MIN={rust_version}\n")), "doctor.sh RUST_MIN");
}

#[test]
fn the_browser_tests_tools_warn_unless_required_and_name_their_install_command() {
    for platform in PLATFORMS {
        for tool in ["node", "npm", "chromium", "timeout"] {
            let tools = FakeTools::new(&format!("doctor-{tool}-{platform}"));
            tools.without(tool);
            let want = install_command(tool, platform);
            let (code, text, _) = tools.doctor(platform, &[], &[]);
            assert_eq!(code, 0, "{platform} without {tool} is a warning: {text}");
            assert!(text.contains("optional") && text.contains(want), "{platform} without {tool}: {text}");
            let (code, text, _) = tools.doctor(platform, &["--for", "test"], &[("BROWSER_TEST", "required")]);
            assert_eq!(code, 1, "{platform} without {tool}, BROWSER_TEST=required: {text}");
            assert!(text.contains("MISSING") && text.contains(want), "{text}");
            // `make run` needs no browser.
            let (code, text, _) = tools.doctor(platform, &["--for", "run"], &[("BROWSER_TEST", "required")]);
            assert_eq!(code, 0, "{platform}: make run without {tool}: {text}");
        }
    }
    // The browser test's skip names the same one command (`--hint`).
    let tools = FakeTools::new("doctor-hint");
    let (code, text, _) = tools.doctor("macos", &["--hint", "chromium"], &[]);
    assert_eq!((code, text.trim()), (0, "brew install --cask google-chrome"));
    // CHROMIUM names the browser to use; a wrong one is said.
    let tools = FakeTools::new("doctor-chromium-env");
    let (code, text, _) = tools.doctor("debian", &[], &[("CHROMIUM", "/nowhere/chrome")]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("CHROMIUM=/nowhere/chrome is not executable"), "{text}");
}

/// The scripts call only what the doctor checks: no util-linux `setsid`, no GNU `date +%N`, and
/// `timeout` only through the checked lookup; every step of `make test` and `make run` starts
/// with the doctor, and CI requires the browser test.
#[test]
fn scripts_use_only_what_the_doctor_checks() {
    for file in
        ["scripts/test.sh", "scripts/dynamodb-local.sh", "scripts/venv.sh", "tests/browser/run.sh", "bench/run.sh"]
    {
        let text = read(file);
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            assert!(!line.contains("date +%s%N") && !line.contains("+%N"), "{file}: GNU date: {line}");
            assert!(!line.trim_start().starts_with("setsid "), "{file}: util-linux setsid: {line}");
        }
    }
    let browser = read("tests/browser/run.sh");
    assert!(browser.contains("command -v timeout || command -v gtimeout"));
    assert!(browser.contains("apt-get install -y chromium"), "CI's root install path stays");
    assert!(read("scripts/test.sh").contains("bash scripts/doctor.sh --for test"));
    let makefile = read("Makefile");
    assert!(makefile.contains("run: doctor-run venv"), "make run starts with the doctor");
    assert!(makefile.contains("doctor:\n\t@bash scripts/doctor.sh"));
    assert!(read(".ci/run").contains("export BROWSER_TEST=required"), "CI requires the browser test");
}

// ------------------------------------------------------------------------------------------------
// samconfig.example.toml and make deploy

/// `(name, value, active)` of every `"Name=value"` line of the example (commented or not).
fn example_lines() -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for line in read("samconfig.example.toml").lines() {
        let t = line.trim();
        let (active, t) = match t.strip_prefix('#') {
            Some(rest) => (false, rest.trim()),
            None => (true, t),
        };
        let Some(q) = t.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
        let body = t.trim_end_matches(',').trim_start_matches(q).trim_end_matches(q);
        let Some((name, value)) = body.split_once('=') else { continue };
        if name.chars().all(|c| c.is_ascii_alphanumeric()) && name.chars().next().is_some_and(char::is_uppercase) {
            out.push((name.to_owned(), value.trim_matches('"').to_owned(), active));
        }
    }
    out
}

fn default_of(p: &Value) -> Option<String> {
    match &p["Default"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        other => panic!("default {other:?}"),
    }
}

#[test]
fn the_samconfig_example_names_every_parameter_and_only_those() {
    let t = template();
    let params = t["Parameters"].as_mapping().unwrap();
    let names: BTreeSet<String> = params.keys().map(|k| k.as_str().unwrap().to_owned()).collect();
    let lines = example_lines();
    let in_example: BTreeSet<String> = lines.iter().map(|(n, _, _)| n.clone()).collect();
    let missing: Vec<_> = names.difference(&in_example).collect();
    assert!(missing.is_empty(), "samconfig.example.toml lacks the parameters {missing:?}");
    let unknown: Vec<_> = in_example.difference(&names).collect();
    assert!(unknown.is_empty(), "samconfig.example.toml names parameters template.yaml lacks: {unknown:?}");
    // A commented line shows the default that applies.
    for (name, value, active) in &lines {
        if !active && let Some(default) = default_of(&params[name.as_str()]) {
            assert_eq!(value, &default, "{name}: the commented line shows {value}, the default is {default}");
        }
    }
    // No secret is ever set in the file: the NoEcho parameters are commented out everywhere.
    for (name, _, active) in &lines {
        if params[name.as_str()]["NoEcho"].as_bool() == Some(true) {
            assert!(!active, "{name} is a secret: never in samconfig (give its ARN)");
        }
    }
}

/// Every environment's parameter_overrides, read by the SAM CLI's own parser.
fn example_overrides() -> BTreeMap<String, BTreeMap<String, String>> {
    let python = root().join(".venv/bin/python");
    assert!(python.is_file(), "{} is missing: run `make venv` (make test does)", python.display());
    let out = Command::new(python)
        .args(["scripts/deployment.py", "overrides", "--samconfig", "samconfig.example.toml"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn each_environment_is_its_own_stack_and_make_deploy_asks_nothing() {
    let text = read("samconfig.example.toml");
    let stacks: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("stack_name = \""))
        .map(|s| s.trim_end_matches('"'))
        .collect();
    assert_eq!(stacks, ["tapd-docs", "tapd-docs-staging", "tapd-docs-prod"]);
    for env in ["default", "staging", "prod"] {
        assert!(text.contains(&format!("[{env}.deploy.parameters]")), "{env}");
    }
    assert_eq!(text.matches("capabilities = \"CAPABILITY_IAM CAPABILITY_AUTO_EXPAND\"").count(), 3);
    assert_eq!(text.matches("confirm_changeset = false").count(), 3, "no prompt before the change set");
    // The region is the deployer's: never set by the example.
    assert!(text.lines().all(|l| !l.trim_start().starts_with("region")), "a region is set");
    assert_eq!(example_overrides().keys().cloned().collect::<Vec<_>>(), ["default", "prod", "staging"]);

    let makefile = read("Makefile");
    assert!(!makefile.contains("AWS_DEFAULT_REGION ?="), "make deploy takes the deployer's region");
    let deploy = makefile.split("\ndeploy:").nth(1).expect("a deploy target");
    let deploy = &deploy[..deploy.find("\n\n").unwrap_or(deploy.len())];
    assert!(deploy.contains("$(if $(GUIDED),--guided"), "--guided only on request:\n{deploy}");
    assert!(deploy.contains("--config-env $(ENV)") || makefile.contains("--config-env $(ENV)"));
    assert!(!deploy.replace("$(if $(GUIDED),--guided", "").contains("--guided"), "{deploy}");
}

// ------------------------------------------------------------------------------------------------
// The template resolved with a deployment's parameters

/// The template's value of an expression under `params` and the resolved conditions.
struct Resolver<'a> {
    t: &'a Value,
    params: BTreeMap<String, String>,
    conditions: BTreeMap<String, bool>,
}

fn tag_of(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string(), &t.value)),
        _ => None,
    }
}

impl<'a> Resolver<'a> {
    fn new(t: &'a Value, overrides: &BTreeMap<String, String>) -> Self {
        let mut params = BTreeMap::new();
        for (k, p) in t["Parameters"].as_mapping().unwrap() {
            let k = k.as_str().unwrap().to_owned();
            let v = overrides.get(&k).cloned().or_else(|| default_of(p));
            params.insert(k.clone(), v.unwrap_or_else(|| panic!("the required parameter {k} is not given")));
        }
        for k in overrides.keys() {
            assert!(params.contains_key(k), "{k} is not a parameter");
        }
        let mut r = Resolver { t, params, conditions: BTreeMap::new() };
        let conds = t["Conditions"].as_mapping().unwrap();
        // Conditions refer to earlier ones: resolve until all are known.
        while r.conditions.len() < conds.len() {
            let before = r.conditions.len();
            for (name, expr) in conds {
                let name = name.as_str().unwrap();
                if !r.conditions.contains_key(name)
                    && let Some(v) = r.try_bool(expr)
                {
                    r.conditions.insert(name.to_owned(), v);
                }
            }
            assert!(r.conditions.len() > before, "conditions do not resolve");
        }
        r
    }

    fn string(&self, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => match tag_of(v)? {
                (tag, inner) if tag == "!Ref" => self.params.get(inner.as_str()?).cloned(),
                _ => None,
            },
        }
    }

    fn try_bool(&self, v: &Value) -> Option<bool> {
        let (tag, inner) = tag_of(v)?;
        let seq = inner.as_sequence();
        match tag.as_str() {
            "!Equals" => {
                let s = seq?;
                Some(self.string(&s[0])? == self.string(&s[1])?)
            }
            "!Not" => Some(!self.try_bool(&seq?[0])?),
            "!And" => seq?.iter().map(|x| self.try_bool(x)).collect::<Option<Vec<_>>>().map(|v| v.iter().all(|b| *b)),
            "!Or" => seq?.iter().map(|x| self.try_bool(x)).collect::<Option<Vec<_>>>().map(|v| v.iter().any(|b| *b)),
            "!Condition" => self.conditions.get(inner.as_str()?).copied(),
            other => panic!("condition function {other}"),
        }
    }

    /// Every Rule's assertions hold (where its RuleCondition does).
    fn rules_hold(&self) -> Result<(), String> {
        for (name, rule) in self.t["Rules"].as_mapping().unwrap() {
            if let Some(c) = rule.get("RuleCondition")
                && !self.try_bool(c).expect("a rule condition")
            {
                continue;
            }
            for a in rule["Assertions"].as_sequence().unwrap() {
                if !self.try_bool(&a["Assert"]).expect("an assertion") {
                    return Err(format!("{}: {}", name.as_str().unwrap(), a["AssertDescription"].as_str().unwrap()));
                }
            }
        }
        Ok(())
    }

    /// The value with every `!If` taken and every `AWS::NoValue` removed (`None`: no value).
    fn resolve(&self, v: &Value) -> Option<Value> {
        if let Some((tag, inner)) = tag_of(v) {
            if tag == "!If" {
                let s = inner.as_sequence().unwrap();
                let c = self.conditions[s[0].as_str().unwrap()];
                return self.resolve(&s[if c { 1 } else { 2 }]);
            }
            if tag == "!Ref" && inner.as_str() == Some("AWS::NoValue") {
                return None;
            }
            let mut t = match v {
                Value::Tagged(t) => (**t).clone(),
                _ => unreachable!(),
            };
            t.value = self.resolve(inner)?;
            return Some(Value::Tagged(Box::new(t)));
        }
        match v {
            Value::Mapping(m) => {
                let mut out = Mapping::new();
                for (k, x) in m {
                    if let Some(x) = self.resolve(x) {
                        out.insert(k.clone(), x);
                    }
                }
                Some(Value::Mapping(out))
            }
            Value::Sequence(s) => Some(Value::Sequence(s.iter().filter_map(|x| self.resolve(x)).collect())),
            other => Some(other.clone()),
        }
    }

    /// The template as CloudFormation would see it: resources and outputs whose condition is
    /// false gone, every `!If` taken.
    fn resolved(&self) -> Value {
        let mut t = self.t.clone();
        for section in ["Resources", "Outputs"] {
            let m = t[section].as_mapping_mut().unwrap();
            m.retain(|_, r| r.get("Condition").and_then(Value::as_str).is_none_or(|c| self.conditions[c]));
        }
        self.resolve(&t).unwrap()
    }
}

fn resources_of(t: &Value) -> BTreeSet<String> {
    t["Resources"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect()
}

/// The optional features off: no domain, plain secrets, no alarm topic, all at once.
fn bare(overrides: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut o = overrides.clone();
    o.retain(|k, _| {
        !k.ends_with("Arn") && !["DomainName", "AlarmEmail", "DeploymentType", "PublicBaseUrl"].contains(&k.as_str())
    });
    for secret in ["TapdClientSecret", "TdocClientSecret", "TapdWebhookSecret"] {
        o.insert(secret.into(), "not-a-real-secret".into());
    }
    o.insert("TokenEncryptionKey".into(), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into());
    o
}

fn alarms_notify(t: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() == Some("AWS::CloudWatch::Alarm") {
            match r["Properties"].get("AlarmActions") {
                None => {
                    out.insert("nobody".to_owned());
                }
                Some(a) => {
                    out.insert(serde_yaml::to_string(a).unwrap().trim().to_owned());
                }
            }
        }
    }
    out
}

fn sam_validate(resolved: &Value, name: &str, region: &str) {
    let dir = scratch(&format!("sam-{name}"));
    let file = dir.join("template.yaml");
    std::fs::write(&file, serde_yaml::to_string(resolved).unwrap()).unwrap();
    let sam = root().join(".venv/bin/sam");
    assert!(sam.is_file(), "{} is missing: run `make venv` (make test does)", sam.display());
    // The SAM translator on what CloudFormation would get. (`--lint` runs on template.yaml itself,
    // in template.rs: on a resolved copy it flags the resolution's leftovers, not the template.)
    {
        let mut cmd = Command::new(&sam);
        cmd.args(["validate", "--template"]).arg(&file).args(["--region", region]);
        let out = cmd
            .current_dir(root())
            .env("SAM_CLI_TELEMETRY", "0")
            .env("__SAM_CLI_APP_DIR", root().join(".local/sam"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sam validate of the template resolved for {name}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_template_resolved_with_and_without_the_optional_features() {
    let t = template();
    let envs = example_overrides();
    let domain = ["ApiDomain", "ApiDomainMapping"];
    let secrets = ["OAuthSecretsPolicy", "TapdWebhookSecretsPolicy"];

    // prod: every optional feature.
    let prod = Resolver::new(&t, &envs["prod"]);
    prod.rules_hold().unwrap();
    let p = prod.resolved();
    let have = resources_of(&p);
    for r in domain.iter().chain(&secrets).chain(&["SecretsKmsPolicy"]) {
        assert!(have.contains(*r), "prod has no {r}");
    }
    assert!(!have.contains("AlarmTopic"), "prod notifies its own topic");
    assert_eq!(alarms_notify(&p), BTreeSet::from(["- !Ref AlarmTopicArn".to_owned()]));
    assert_eq!(prod.params["DeploymentType"], "Canary10Percent5Minutes");
    let layers = &p["Globals"]["Function"]["Layers"];
    assert_eq!(layers.as_sequence().map(Vec::len), Some(1), "the extension's layer: {layers:?}");
    let env = &p["Globals"]["Function"]["Environment"]["Variables"];
    assert!(env.get("TOKEN_ENCRYPTION_KEY").is_none() && env.get("TOKEN_ENCRYPTION_KEY_ARN").is_some());
    assert!(p["Outputs"].get("ApiDomainTarget").is_some());

    // default and staging: the API's own URL, an e-mail topic, secrets by ARN.
    for name in ["default", "staging"] {
        let r = Resolver::new(&t, &envs[name]);
        r.rules_hold().unwrap();
        let x = r.resolved();
        let have = resources_of(&x);
        assert!(have.contains("AlarmTopic"), "{name}: alarms by e-mail");
        assert!(domain.iter().all(|d| !have.contains(*d)), "{name}: no custom domain");
        assert!(secrets.iter().all(|s| have.contains(*s)), "{name}: secrets by ARN");
        assert!(!have.contains("SecretsKmsPolicy"), "{name}");
        assert_eq!(alarms_notify(&x), BTreeSet::from(["- !Ref AlarmTopic".to_owned()]), "{name}");
        assert!(x["Outputs"].get("ApiDomainTarget").is_none());
        sam_validate(&x, name, "ap-east-1");
    }

    // No optional feature at all (secrets as NoEcho parameters on the command line).
    let none = Resolver::new(&t, &bare(&envs["default"]));
    none.rules_hold().unwrap();
    let n = none.resolved();
    let have = resources_of(&n);
    for r in domain.iter().chain(&secrets).chain(&["SecretsKmsPolicy", "AlarmTopic"]) {
        assert!(!have.contains(*r), "without the optional features, {r} is made");
    }
    assert_eq!(alarms_notify(&n), BTreeSet::from(["nobody".to_owned()]));
    assert!(n["Globals"]["Function"].get("Layers").is_none(), "no layer without secrets by ARN");
    let env = &n["Globals"]["Function"]["Environment"]["Variables"];
    assert!(env.get("TOKEN_ENCRYPTION_KEY").is_some() && env.get("TOKEN_ENCRYPTION_KEY_ARN").is_none());
    assert_eq!(none.params["DeploymentType"], "AllAtOnce");

    // The Rules refuse a deployment missing a secret, or a domain without its certificate.
    let mut no_key = bare(&envs["default"]);
    no_key.remove("TokenEncryptionKey");
    assert!(Resolver::new(&t, &no_key).rules_hold().unwrap_err().contains("TokenEncryptionKey"));
    let mut no_cert = envs["prod"].clone();
    no_cert.remove("CertificateArn");
    assert!(Resolver::new(&t, &no_cert).rules_hold().unwrap_err().contains("CertificateArn"));

    sam_validate(&p, "prod", "ap-east-1");
    sam_validate(&n, "bare", "ap-east-1");
}

// ------------------------------------------------------------------------------------------------
// The aws-cn partition

/// Substitutes `${Name}` in a `!Sub` string: pseudo parameters, parameters, and (for a
/// resource, `${Res}` or `${Res.Attr}`) a placeholder.
fn substitute(s: &str, region: &str, params: &BTreeMap<String, String>, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("closing brace") + at;
        let name = &rest[at + 2..end];
        let value = match name {
            "AWS::Partition" => "aws-cn".to_owned(),
            "AWS::Region" => region.to_owned(),
            "AWS::URLSuffix" => "amazonaws.com.cn".to_owned(),
            "AWS::AccountId" => "123456789012".to_owned(),
            "AWS::StackName" => "tapd-docs".to_owned(),
            n if vars.contains_key(n) => vars[n].clone(),
            n if params.contains_key(n) => params[n].clone(),
            // A resource's id or attribute: an ARN attribute is AWS's own, in the partition.
            n if n.ends_with(".Arn") => format!("arn:aws-cn:dynamodb:{region}:123456789012:table/{n}"),
            n => format!("res-{}", n.to_lowercase().replace('.', "-")),
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every string the template builds with `!Sub` or takes from the layer map, resolved.
fn built_strings(v: &Value, r: &Resolver, region: &str, out: &mut Vec<String>) {
    if let Some((tag, inner)) = tag_of(v) {
        match tag.as_str() {
            "!Sub" => match inner {
                Value::String(s) => out.push(substitute(s, region, &r.params, &BTreeMap::new())),
                Value::Sequence(s) => {
                    let mut vars = BTreeMap::new();
                    for (k, x) in s[1].as_mapping().unwrap() {
                        let mut inner_out = Vec::new();
                        built_strings(x, r, region, &mut inner_out);
                        let value = inner_out.pop().or_else(|| r.string(x)).unwrap_or_else(|| "res".into());
                        vars.insert(k.as_str().unwrap().to_owned(), value);
                    }
                    out.push(substitute(s[0].as_str().unwrap(), region, &r.params, &vars));
                }
                other => panic!("!Sub {other:?}"),
            },
            // A parameter given as an ARN (the secrets, the certificate, the topic, the KMS key).
            "!Ref" => {
                if let Some(v) = inner.as_str().and_then(|n| r.params.get(n)).filter(|v| v.starts_with("arn:")) {
                    out.push(v.clone());
                }
            }
            "!FindInMap" => {
                let s = inner.as_sequence().unwrap();
                let map = s[0].as_str().unwrap();
                let key = match tag_of(&s[1]) {
                    Some((t, k)) if t == "!Ref" && k.as_str() == Some("AWS::Region") => region.to_owned(),
                    _ => s[1].as_str().unwrap().to_owned(),
                };
                let entry = &r.t["Mappings"][map][key.as_str()];
                assert!(!entry.is_null(), "the map {map} has no {key}");
                out.push(entry[s[2].as_str().unwrap()].as_str().unwrap().to_owned());
            }
            _ => built_strings(inner, r, region, out),
        }
        return;
    }
    match v {
        Value::Mapping(m) => m.values().for_each(|x| built_strings(x, r, region, out)),
        Value::Sequence(s) => s.iter().for_each(|x| built_strings(x, r, region, out)),
        _ => {}
    }
}

/// The prod environment moved to China: every ARN parameter in `aws-cn` and the region.
fn china_overrides(region: &str) -> BTreeMap<String, String> {
    let mut o = example_overrides()["prod"].clone();
    for v in o.values_mut() {
        if v.starts_with("arn:aws:") {
            *v = v.replacen("arn:aws:", "arn:aws-cn:", 1).replace(":ap-east-1:", &format!(":{region}:"));
        }
    }
    o
}

#[test]
fn every_arn_the_template_builds_is_of_the_aws_cn_partition_in_china() {
    let t = template();
    // No ARN is written with a fixed partition outside the layer map (which has one per region).
    let text = read("template.yaml");
    let (before_map, after) = text.split_once("\nMappings:").unwrap();
    let after_map = after.split_once("\nRules:").unwrap().1;
    for part in [before_map, after_map] {
        assert!(!part.contains("arn:aws:") && !part.contains("arn:aws-cn:"), "a fixed partition in template.yaml");
    }
    for region in ["cn-north-1", "cn-northwest-1"] {
        for (name, overrides) in [("prod", china_overrides(region)), ("bare", bare(&china_overrides(region)))] {
            let r = Resolver::new(&t, &overrides);
            r.rules_hold().unwrap();
            let resolved = r.resolved();
            let mut built = Vec::new();
            for section in ["Globals", "Resources", "Outputs"] {
                built_strings(&resolved[section], &r, region, &mut built);
            }
            let arns: Vec<&String> = built.iter().filter(|s| s.starts_with("arn:")).collect();
            let urls: Vec<&String> = built.iter().filter(|s| s.contains(".execute-api.")).collect();
            assert!(arns.len() >= if name == "prod" { 12 } else { 6 }, "{region}/{name}: {built:?}");
            // Without a domain the base URL is the API's own (with one, PUBLIC_BASE_URL is the domain's).
            if name == "bare" {
                assert!(!urls.is_empty(), "{region}/{name}: the API's own URL");
            }
            for arn in arns {
                let parts: Vec<&str> = arn.split(':').collect();
                assert!(parts.len() >= 6, "{arn}");
                assert_eq!(parts[1], "aws-cn", "{region}/{name}: {arn}");
                assert_eq!(parts[3], region, "{region}/{name}: {arn}");
            }
            for url in urls {
                assert!(url.contains(&format!(".execute-api.{region}.amazonaws.com.cn")), "{url}");
            }
            if name == "prod" {
                // The extension's layer for the region, from the map (China's own account ids).
                assert!(
                    built.iter().any(|s| s.starts_with(&format!("arn:aws-cn:lambda:{region}:"))
                        && s.contains(":layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:")),
                    "{region}: no layer ARN in {built:?}"
                );
            }
        }
    }
    // The parameters given by ARN are checked the same way where a deployer fills them in:
    // the docs say they must be of the region's partition.
    assert!(read("docs/deploy.md").contains("arn:aws-cn:"));
}

// ------------------------------------------------------------------------------------------------
// The runbook, tried against the sandboxes

/// docs/operations.md: pausing a workspace raises no alarm. The real `tapd-webhook` binary's
/// scheduled run prints the EMF line `PendingEventsAgeAlarm` reads; a paused workspace's waiting
/// item is not in it, though the table holds it pending.
#[tokio::test]
async fn a_paused_workspace_raises_no_pending_alarm() {
    harness::needs_local_stack!();
    use harness::apigw::scheduled_event;
    use harness::flows::{self, WORKSPACE};
    use shared::link::metrics;

    let (stack, webhook) = flows::connected(&[]).await;
    let store = stack.store().await;
    let ws = shared::ids::WorkspaceId::parse(WORKSPACE).unwrap();
    shared::ops::pause(&store, &ws, "runbook test").await.unwrap();
    stack.sandbox.add_item(WORKSPACE, sandbox::ItemKind::Story, "1120003271003700001", "Paused story");
    let delivered = webhook.http(&flows::story_delivery("1120003271003700001", "pause-1")).await;
    assert_eq!(delivered.status, 200, "{}", delivered.body);
    assert_eq!(store.pending_stats().await.unwrap().0, 1, "the item waits, recorded");

    webhook.take_logs();
    let run = webhook.invoke(scheduled_event()).await;
    assert!(run.response().is_some(), "{run:?}");
    let logs = webhook.take_logs();
    let line = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .find(|v| v.get(metrics::OLDEST_PENDING_AGE).is_some())
        .unwrap_or_else(|| panic!("no metrics line in {logs:#?}"));
    assert_eq!(line[metrics::PENDING_EVENTS], 0, "{line}");
    assert_eq!(line[metrics::OLDEST_PENDING_AGE], 0, "{line}");
    assert!(stack.sandbox.docs().is_empty(), "nothing is made while paused");
}
