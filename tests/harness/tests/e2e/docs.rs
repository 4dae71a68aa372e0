//! The docs are checked, not just written: every template parameter and every variable the
//! code reads is in docs/configuration.md with its default, every alarm is in the runbook,
//! every stack output the README and the deploy checklist name exists, and no doc links
//! outside the repository. (No local stack needed: these read files.)

use std::collections::BTreeSet;
use std::path::Path;

use serde_yaml::Value;

fn root() -> std::path::PathBuf {
    harness::workspace_root()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn template() -> Value {
    serde_yaml::from_str(&read("template.yaml")).expect("template.yaml is YAML")
}

/// The `NAME`s the code reads from the environment: `env.required("NAME")` and friends in
/// config.rs, `std::env::var("NAME")` anywhere in the shipped crates and tapdocs.
fn variables_read() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut scan = |text: &str, openers: &[&str]| {
        for opener in openers {
            for (at, _) in text.match_indices(opener) {
                let rest = &text[at + opener.len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
                if name.len() > 3 && rest[name.len()..].starts_with('"') {
                    names.insert(name);
                }
            }
        }
    };
    let config = read("shared/src/config.rs");
    let shipped = config.split("#[cfg(test)]").next().unwrap_or_default().to_owned();
    scan(
        &shipped,
        &[
            ".required(\"",
            ".secret(\"",
            ".url(\"",
            ".optional(\"",
            ".parsed(\"",
            ".keyring(\"",
            "list(&env, \"",
            "span(&mut env, \"",
            "doc_type(&mut env, \"",
            "env(\"",
        ],
    );
    for file in ["shared/src/runtime.rs", "tools/tapdocs/src/commands.rs", "tools/tapdocs/src/target.rs"] {
        scan(&read(file), &["std::env::var(\""]);
    }
    // Set by Lambda, not by a deployer.
    for lambda in ["AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "COLUMNS", "PORT"] {
        names.remove(lambda);
    }
    names
}

#[test]
fn every_parameter_and_variable_is_documented_with_its_default() {
    let doc = read("docs/configuration.md");
    let t = template();
    let params = t["Parameters"].as_mapping().expect("Parameters");
    assert!(params.len() >= 50, "{}", params.len());
    for (name, p) in params {
        let name = name.as_str().unwrap();
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for the parameter {name}"));
        let default = match &p["Default"] {
            Value::Null => "(required)".to_owned(),
            Value::String(s) if s.is_empty() => "(empty)".to_owned(),
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("{name}: default {other:?}"),
        };
        assert!(row.contains(&format!("`{default}`")), "{name}: its default `{default}` is not in its row: {row}");
    }
    let vars = variables_read();
    assert!(vars.len() >= 40, "{vars:?}");
    for var in &vars {
        let row = doc
            .lines()
            .find(|l| l.starts_with("| `") && l.split(" | ").next().is_some_and(|c| c.contains(&format!("`{var}`"))))
            .unwrap_or_else(|| panic!("docs/configuration.md does not document the variable {var}"));
        assert!(row.matches(" | ").count() >= 3, "{var}: no default column: {row}");
    }
}

#[test]
fn every_alarm_is_in_the_runbook() {
    let runbook = read("docs/operations.md");
    let t = template();
    let alarms: Vec<String> = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect();
    assert!(alarms.len() >= 8, "{alarms:?}");
    for alarm in alarms {
        assert!(runbook.contains(&format!("| `{alarm}` |")), "docs/operations.md has no row for {alarm}");
    }
}

#[test]
fn every_output_the_docs_name_exists() {
    let t = template();
    let outputs: BTreeSet<String> =
        t["Outputs"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect();
    let mut named = 0;
    for file in ["README.md", "docs/deploy.md", "docs/operations.md"] {
        for line in read(file).lines().filter(|l| l.contains("output")) {
            // `Name` right before or after the word "output(s)".
            let words: Vec<&str> = line.split('`').collect();
            for (i, w) in words.iter().enumerate() {
                let is_name = i % 2 == 1
                    && w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && w.chars().all(|c| c.is_ascii_alphanumeric());
                let near = |s: Option<&&str>| s.is_some_and(|s| s.contains("output"));
                if is_name && (near(words.get(i + 1)) || near(i.checked_sub(1).and_then(|j| words.get(j)))) {
                    named += 1;
                    assert!(outputs.contains(*w), "{file} names the output {w}, which template.yaml does not have");
                }
            }
        }
    }
    assert!(named >= 4, "{named}");
}

#[test]
fn no_doc_links_outside_the_repository() {
    let root = root();
    let mut docs = vec![root.join("README.md"), root.join("CHANGELOG.md"), root.join("BENCHMARKS.md")];
    docs.extend(
        std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md")),
    );
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        let name = doc.strip_prefix(&root).unwrap().display().to_string();
        assert!(!text.contains("../shared"), "{name} cites ../shared, outside the repository");
        for (at, _) in text.match_indices("](") {
            let target = &text[at + 2..];
            let target = &target[..target.find(')').unwrap_or(target.len())];
            let target = target.split('#').next().unwrap_or_default();
            if target.is_empty() || target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let resolved = normalize(&doc.parent().unwrap().join(target));
            assert!(
                resolved.starts_with(&root) && resolved.exists(),
                "{name} links {target}, which is not a file of the repository"
            );
        }
    }
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(p: &Path) -> std::path::PathBuf {
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn the_readme_is_for_a_reader() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(lines <= 200, "README.md is {lines} lines: internals belong in docs/");
    for must in ["make test", "make run", "docs/deploy.md", "docs/configuration.md", "docs/operations.md"] {
        assert!(readme.contains(must), "README.md does not show {must}");
    }
}
