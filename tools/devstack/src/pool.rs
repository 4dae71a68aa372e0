//! Instances of one function, as Lambda keeps them: each runs one invocation at a time;
//! a request that finds every instance busy gets a new one (up to a limit); an instance
//! that crashed or timed out is replaced.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use harness::{Function, Invocation};
use serde_json::Value;

struct Instance {
    id: u64,
    function: Arc<Function>,
    in_flight: Arc<AtomicUsize>,
}

impl Instance {
    fn alive(&self) -> bool {
        self.function.try_exit_status().is_none()
    }
}

pub struct Pool {
    pub name: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    /// The function's timeout (template.yaml's `Timeout`): each invocation's deadline.
    pub timeout: Duration,
    max: usize,
    next_id: AtomicU64,
    instances: tokio::sync::Mutex<Vec<Instance>>,
}

/// How long a new instance may take to reach its first `invocation/next`.
const INIT_TIMEOUT: Duration = Duration::from_secs(20);

impl Pool {
    /// Starts one instance and waits for its init; an init failure is the error.
    pub async fn start(
        name: &str,
        binary: PathBuf,
        env: Vec<(String, String)>,
        timeout: Duration,
        max: usize,
    ) -> Result<Arc<Pool>, String> {
        let pool = Pool {
            name: name.to_string(),
            binary,
            env,
            timeout,
            max: max.max(1),
            next_id: AtomicU64::new(1),
            instances: tokio::sync::Mutex::new(Vec::new()),
        };
        let first = pool.spawn().await?;
        pool.instances.lock().await.push(first);
        Ok(Arc::new(pool))
    }

    async fn spawn(&self) -> Result<Instance, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let function = Function::spawn(&self.binary, &self.env).await;
        if !function.wait_ready(INIT_TIMEOUT).await {
            let error = function.init_error(Duration::from_millis(500)).await;
            self.print_logs(id, function.take_logs());
            let why = match error {
                Some(e) => e.get("errorMessage").and_then(Value::as_str).map(String::from).unwrap_or(e.to_string()),
                None => format!("it did not poll for work within {} s", INIT_TIMEOUT.as_secs()),
            };
            return Err(format!("{} failed to start: {why}", self.name));
        }
        Ok(Instance { id, function: Arc::new(function), in_flight: Arc::new(AtomicUsize::new(0)) })
    }

    /// Invokes an idle instance (a new one if all are busy and the limit allows, else the
    /// least busy, queueing behind it) with the function's timeout as deadline, then prints
    /// what the instance logged meanwhile.
    pub async fn invoke(&self, event: Value) -> Invocation {
        let (outcome, id, logs) = self.invoke_collecting(event).await;
        self.print_logs(id, logs);
        outcome
    }

    /// [`Pool::invoke`], printing the instance's log lines only if `show(outcome)`.
    pub async fn invoke_showing_logs_if(&self, event: Value, show: impl Fn(&Invocation) -> bool) -> Invocation {
        let (outcome, id, logs) = self.invoke_collecting(event).await;
        if show(&outcome) {
            self.print_logs(id, logs);
        }
        outcome
    }

    async fn invoke_collecting(&self, event: Value) -> (Invocation, u64, Vec<String>) {
        let picked = {
            let mut instances = self.instances.lock().await;
            instances.retain(|i| i.alive() || i.in_flight.load(Ordering::SeqCst) > 0);
            let idle = instances.iter().position(|i| i.alive() && i.in_flight.load(Ordering::SeqCst) == 0);
            let index = match idle {
                Some(i) => Some(i),
                None if instances.len() < self.max => match self.spawn().await {
                    Ok(instance) => {
                        instances.push(instance);
                        Some(instances.len() - 1)
                    }
                    Err(e) => {
                        eprintln!("[{}] {e}", self.name);
                        None
                    }
                },
                None => instances
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| i.alive())
                    .min_by_key(|(_, i)| i.in_flight.load(Ordering::SeqCst))
                    .map(|(n, _)| n),
            };
            index.map(|n| {
                let i = &instances[n];
                i.in_flight.fetch_add(1, Ordering::SeqCst);
                (i.id, i.function.clone(), i.in_flight.clone())
            })
        };
        let Some((id, function, in_flight)) = picked else {
            return (Invocation::Crashed, 0, Vec::new());
        };
        let outcome = function.invoke_with_deadline(event, self.timeout).await;
        // The function wrote its lines before answering; let the emulator's readers catch up.
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Taken before the instance counts as idle again, so `pump_logs` leaves them to us.
        let logs = function.take_logs();
        in_flight.fetch_sub(1, Ordering::SeqCst);
        if matches!(outcome, Invocation::Crashed) || outcome.is_timeout() {
            // As Lambda does, the next request gets a fresh instance.
            self.instances.lock().await.retain(|i| i.id != id);
        }
        (outcome, id, logs)
    }

    /// Prints what idle instances logged outside invocations (an invocation's lines are
    /// printed when it ends).
    pub async fn pump_logs(&self) {
        let instances = self.instances.lock().await;
        for i in instances.iter().filter(|i| i.in_flight.load(Ordering::SeqCst) == 0) {
            self.print_logs(i.id, i.function.take_logs());
        }
    }

    fn print_logs(&self, id: u64, lines: Vec<String>) {
        for line in lines {
            println!("[{}#{id}] {}", self.name, compact(&line));
        }
    }

    /// Stops every instance (each process is killed when its last handle goes).
    pub async fn shutdown(&self) {
        let mut instances = self.instances.lock().await;
        for i in instances.iter() {
            self.print_logs(i.id, i.function.take_logs());
        }
        instances.clear();
    }
}

/// A function's text log line, shorter for a terminal: the invocation span
/// (`Lambda runtime invoke{requestId="…" xrayTraceId="…"}: `) becomes `req=<first 8>`.
fn compact(line: &str) -> String {
    const SPAN: &str = "Lambda runtime invoke{requestId=\"";
    let Some(at) = line.find(SPAN) else { return line.to_string() };
    let rest = &line[at + SPAN.len()..];
    let Some(end) = rest.find("}: ") else { return line.to_string() };
    let id: String = rest.chars().take_while(|c| *c != '"').take(8).collect();
    format!("{}req={id} {}", &line[..at], &rest[end + 3..])
}

#[cfg(test)]
mod tests {
    use super::compact;

    #[test]
    fn compacts_the_invocation_span() {
        let line = "2026-11-21T23:48:39.062285Z  INFO Lambda runtime invoke{requestId=\"d63e32d0-b424-4bcd\" \
                    xrayTraceId=\"Root=1-6b0;Sampled=0\"}: TAPD workspace authorized workspace=20000001";
        assert_eq!(
            compact(line),
            "2026-11-21T23:48:39.062285Z  INFO req=d63e32d0 TAPD workspace authorized workspace=20000001"
        );
        assert_eq!(compact("plain line"), "plain line");
    }
}
