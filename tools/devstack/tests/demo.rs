//! `devstack demo` on its own: it starts a devstack (moto, the release binaries, the
//! sandboxes) for a fresh data directory, walks the connect flow and a story::create, and
//! stops what it started. Needs the release binaries and the venv, as `make test` provides.

use std::path::{Path, PathBuf};
use std::process::Command;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn temp_dir() -> PathBuf {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    let name: String = b.iter().map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir().join(format!("devstack-demo-{name}"))
}

fn demo(port: u16, data: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .args(["demo", "--port", &port.to_string(), "--data-dir"])
        .arg(data)
        .output()
        .expect("run devstack demo");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn demo_starts_a_stack_links_a_story_and_stops_it() {
    use std::os::unix::fs::PermissionsExt;

    let port = free_port();
    let data = temp_dir();
    let (ok, out) = demo(port, &data);
    assert!(ok, "devstack demo failed:\n{out}");
    assert!(out.contains("is now connected"), "{out}");
    assert!(out.contains(&format!("doc:     http://127.0.0.1:{port}/tdoc/doc/")), "{out}");
    assert!(out.contains("comment: on TAPD story"), "{out}");
    assert!(out.contains("demo: OK"), "{out}");

    // It stopped what it started, and saved the data.
    for gone in ["devstack.pid", "demo.env"] {
        assert!(!data.join(gone).exists(), "{gone} left behind");
    }
    let moto_pid = harness::workspace_root().join(format!(".local/devstack-{port}.pid"));
    assert!(!moto_pid.exists(), "moto still running ({})", moto_pid.display());
    for kept in ["dynamodb.json", "sandbox.json", "token-encryption-key", "webhook-secret"] {
        let mode = std::fs::metadata(data.join(kept)).unwrap_or_else(|e| panic!("{kept}: {e}")).permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{kept} is private");
    }

    // The table holds the tokens the sandbox issued only encrypted.
    let table = std::fs::read_to_string(data.join("dynamodb.json")).unwrap();
    let sandbox: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("sandbox.json")).unwrap()).unwrap();
    let mut tokens = 0;
    for map in ["tapd_tokens", "tapd_refresh", "tdoc_tokens", "tdoc_refresh"] {
        for token in sandbox[map].as_object().unwrap().keys() {
            tokens += 1;
            assert!(!table.contains(token.as_str()), "a {map} token is stored in plain text");
        }
    }
    assert!(tokens >= 3, "the sandbox issued tokens: {sandbox}");
    // TAPD_WEB_BASE is the sandbox's: the doc links back to the story's page there.
    let back = format!("http://127.0.0.1:{port}/tapd/web/20000001/prong/stories/view/");
    assert!(
        sandbox["docs"].as_array().unwrap().iter().any(|d| d["content"].as_str().unwrap_or("").contains(&back)),
        "no doc links to {back}: {}",
        sandbox["docs"]
    );
    assert!(out.contains(&format!("story:   {back}")), "{out}");
    let key = std::fs::read_to_string(data.join("token-encryption-key")).unwrap();
    assert!(!out.contains(key.trim()), "the encryption key was printed");

    // A second run restores the data and links a second story.
    let (ok, out) = demo(port, &data);
    assert!(ok, "second devstack demo failed:\n{out}");
    let docs = sandbox_docs_after(&data);
    assert_eq!(docs, 2, "both runs' docs are kept");
    std::fs::remove_dir_all(&data).unwrap();
}

fn sandbox_docs_after(data: &Path) -> usize {
    let sandbox: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("sandbox.json")).unwrap()).unwrap();
    sandbox["docs"].as_array().map_or(0, Vec::len)
}
