//! `tapd-webhook`: TAPD event deliveries (HTTP API 2.0 events) and the scheduled run
//! (EventBridge "Scheduled Event"), on one function. A thin adapter over `shared::link`.

mod routes;

use lambda_runtime::{LambdaEvent, service_fn};
use shared::app::Clients;
use shared::config::{Env, WebhookConfig};
use shared::link::Linker;
use shared::runtime::{fail_init, init_tracing};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let cfg = match WebhookConfig::from_env(Env::process()) {
        Ok(cfg) => cfg,
        Err(e) => fail_init(e).await,
    };
    let clients = Clients::build(&cfg.common).await.with_email();
    let linker = &Linker::new(cfg, clients);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        routes::dispatch(linker, event.payload, event.context.deadline).await
    }))
    .await
}
