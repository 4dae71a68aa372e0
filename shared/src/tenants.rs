//! Tenants apart: which deliveries may act for which workspace. Each connected workspace has
//! its own webhook secret (made when it is connected, shown to the admin who connected it,
//! rotated with a grace period); a delivery is accepted only with the secret of the
//! workspace it names, or with the deployment's app-level secret (`TAPD_WEBHOOK_SECRET`, set
//! by the deployer in TAPD's app event subscription and never shown to a workspace admin).

use std::time::Duration;

use crate::delivery::secret_matches;
use crate::ids::WorkspaceId;
use crate::random;
use crate::secret::Secret;
use crate::store::{Store, StoreError, WebhookSecrets};
use crate::time::now_millis;
use base64::Engine;

/// Conditional writes lost to a concurrent writer are retried this often.
const WRITE_TRIES: usize = 5;

/// A new secret: 256 bits from the OS's random source, URL-safe.
fn new_secret() -> Secret {
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::bytes::<32>()))
}

/// The workspace's current secret, made (and stored) if it has none: what the connected page
/// shows the admin who connected it.
pub async fn current_or_new(store: &Store, ws: &WorkspaceId) -> Result<Secret, StoreError> {
    for _ in 0..WRITE_TRIES {
        let found = store.webhook_secrets(ws).await?.unwrap_or_default();
        if let Some(current) = found.current() {
            return Ok(current.value.clone());
        }
        let made = found.rotated(new_secret(), now_millis(), 0);
        if store.put_webhook_secrets(ws, &made).await? {
            tracing::info!(workspace = %ws, "webhook secret made for the workspace");
            return Ok(made.current().expect("just made").value.clone());
        }
    }
    Err(StoreError::Unavailable("the workspace's webhook secrets kept changing under us".into()))
}

/// Makes a new secret for the workspace; the ones before keep working for `grace`, then stop.
/// The new secret and what is stored now.
pub async fn rotate(store: &Store, ws: &WorkspaceId, grace: Duration) -> Result<(Secret, WebhookSecrets), StoreError> {
    for _ in 0..WRITE_TRIES {
        let found = store.webhook_secrets(ws).await?.unwrap_or_default();
        let next = found.rotated(new_secret(), now_millis(), grace.as_millis() as u64);
        if store.put_webhook_secrets(ws, &next).await? {
            tracing::info!(workspace = %ws, grace_secs = grace.as_secs(), "webhook secret rotated");
            let new = next.current().expect("just made").value.clone();
            return Ok((new, next));
        }
    }
    Err(StoreError::Unavailable("the workspace's webhook secrets kept changing under us".into()))
}

/// Who a delivery's secret speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// TAPD's app event subscription (the deployment's secret): any workspace.
    App,
    /// The named workspace's own webhook.
    Workspace,
}

/// The webhook's gate, built once and borrowed by every delivery. It keeps no workspace's
/// secrets in memory: a rebind replaces a workspace's secret with no grace, and the old one
/// must be refused from that moment on every warm instance, so each delivery signed with a
/// workspace's secret reads that workspace's secrets (one consistent `GetItem`). Deliveries
/// signed with the app-level secret (TAPD's app subscription) read nothing.
#[derive(Default)]
pub struct Gate;

impl Gate {
    /// Whether `delivered` opens `ws` (`None` when the delivery names no readable workspace):
    /// the app-level secret, or one of the workspace's live secrets, each compared in
    /// constant time. Only reads: nothing is written for a delivery that is refused.
    pub async fn admit(
        &self,
        store: &Store,
        app_secret: &Secret,
        ws: Option<&WorkspaceId>,
        delivered: Option<&str>,
    ) -> Result<Option<Caller>, StoreError> {
        if secret_matches(delivered, app_secret.expose()) {
            return Ok(Some(Caller::App));
        }
        let (Some(ws), Some(delivered)) = (ws, delivered) else { return Ok(None) };
        let secrets = store.webhook_secrets(ws).await?.unwrap_or_default();
        let now = now_millis();
        // Every live secret is compared, whichever matches: no early exit to time.
        let admitted = secrets.live(now).fold(false, |hit, s| secret_matches(Some(delivered), s.value.expose()) | hit);
        Ok(admitted.then_some(Caller::Workspace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WebhookSecret;

    fn secret(v: &str, retires_ms: Option<u64>) -> WebhookSecret {
        WebhookSecret { value: Secret::new(v), created_ms: 0, retires_ms }
    }

    #[test]
    fn a_rotation_keeps_the_old_secret_for_the_grace_only() {
        let before = WebhookSecrets { secrets: vec![secret("old", None)], version: 3 };
        let after = before.rotated(Secret::new("new"), 1_000, 500);
        assert_eq!(after.current().unwrap().value.expose(), "new");
        assert_eq!(after.version, 3, "written conditionally on the version read");
        let live = |at| after.live(at).map(|s| s.value.expose().to_owned()).collect::<Vec<_>>();
        assert_eq!(live(1_499), ["old", "new"]);
        assert_eq!(live(1_500), ["new"]);
        // A second rotation drops what has retired and keeps an earlier end.
        let again = after.rotated(Secret::new("newer"), 1_200, 10_000);
        let ends: Vec<_> = again.secrets.iter().map(|s| (s.value.expose().to_owned(), s.retires_ms)).collect();
        assert_eq!(ends, [("old".into(), Some(1_500)), ("new".into(), Some(11_200)), ("newer".into(), None)]);
        assert_eq!(again.rotated(Secret::new("x"), 20_000, 0).secrets.len(), 1);
    }

    #[test]
    fn new_secrets_carry_256_random_bits() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert!(!format!("{a:?}").contains(a.expose()), "Debug redacts");
    }
}
