//! `tapd-webhook`: TAPD event deliveries (HTTP API 2.0 events) and the scheduled retry
//! (EventBridge "Scheduled Event"), on one function. A thin adapter over `shared::webhook`.

mod routes;

use lambda_runtime::{LambdaEvent, service_fn};
use shared::config::{Env, WebhookConfig};
use shared::runtime::{fail_init, init_tracing};
use shared::store::Store;
use shared::tapd::TapdClient;
use shared::tdoc::TdocClient;
use shared::upstream::http_client;
use shared::webhook::{TapdAuth, TdocAuth};

pub struct App {
    pub cfg: WebhookConfig,
    pub store: Store,
    pub tapd: TapdClient,
    pub tdoc: TdocClient,
    pub tapd_auth: TapdAuth,
    pub tdoc_auth: TdocAuth,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let cfg = match WebhookConfig::from_env(Env::process()) {
        Ok(cfg) => cfg,
        Err(e) => fail_init(e).await,
    };
    let http = http_client(cfg.common.http_timeout);
    let store = Store::new(Store::client_from_env().await, cfg.common.table_name.clone(), cfg.common.keys.clone());
    let app = App {
        tapd: TapdClient::new(http.clone(), cfg.common.tapd.clone()),
        tdoc: TdocClient::new(http, cfg.common.tdoc.clone()),
        store,
        cfg,
        tapd_auth: TapdAuth::default(),
        tdoc_auth: TdocAuth::default(),
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        routes::dispatch(app, event.payload, event.context.deadline).await
    }))
    .await
}
