//! A fake of the AWS Parameters and Secrets Lambda Extension's local endpoint: answers each
//! `secretsmanager/get` and `systemsmanager/parameters/get` from its secrets (by ARN; changed
//! at any time with [`FakeExtension::set`], as a rotation in Secrets Manager would) and
//! records what it was asked, with the session token header (`session-token` is the valid one).

use std::sync::{Arc, Mutex};

/// The session token the functions must present (set `AWS_SESSION_TOKEN` to it).
pub const SESSION_TOKEN: &str = "session-token";

pub struct FakeExtension {
    pub port: u16,
    secrets: Arc<Mutex<Vec<(String, String)>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeExtension {
    pub async fn start(secrets: Vec<(String, String)>) -> FakeExtension {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (secrets, seen) = (Arc::new(Mutex::new(secrets)), Arc::new(Mutex::new(Vec::new())));
        let (store, log) = (secrets.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                log.lock().unwrap().push(head.clone());
                let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let url = url::Url::parse(&format!("http://x{target}")).unwrap();
                let arg = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
                let token_ok = head.contains(&format!("X-Aws-Parameters-Secrets-Token: {SESSION_TOKEN}\r\n"));
                let value = |id: &str| store.lock().unwrap().iter().find(|(a, _)| a == id).map(|(_, v)| v.clone());
                let reply = match (url.path(), arg("secretId").or(arg("name"))) {
                    (_, _) if !token_ok => (401, String::new()),
                    ("/secretsmanager/get", Some(id)) => match value(&id) {
                        Some(v) => (200, serde_json::json!({"ARN": id, "SecretString": v}).to_string()),
                        None => (400, "secret not found".into()),
                    },
                    ("/systemsmanager/parameters/get", Some(id)) => match value(&id) {
                        Some(v) => (200, serde_json::json!({"Parameter": {"ARN": id, "Value": v}}).to_string()),
                        None => (400, "parameter not found".into()),
                    },
                    _ => (404, String::new()),
                };
                let out = format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\n\r\n{}", reply.0, reply.1.len(), reply.1);
                let _ = sock.write_all(out.as_bytes()).await;
            }
        });
        FakeExtension { port, secrets, seen }
    }

    /// Sets (or rotates) the value behind `arn`.
    pub fn set(&self, arn: &str, value: &str) {
        let mut secrets = self.secrets.lock().unwrap();
        secrets.retain(|(a, _)| a != arn);
        secrets.push((arn.to_owned(), value.to_owned()));
    }

    /// The head of every request it was sent, oldest first.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}
