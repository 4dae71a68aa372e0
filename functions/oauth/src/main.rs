//! `oauth`: the OAuth `redirect_uri` of both apps (see `contract.md`).
//! A thin adapter: configuration and clients are built once here, the flow lives in
//! `shared::connect`, and `routes` maps it to HTTP.

mod pages;
mod routes;

use lambda_runtime::{LambdaEvent, service_fn};
use shared::config::{Env, OauthConfig};
use shared::runtime::{fail_init, init_tracing};
use shared::store::Store;
use shared::tapd::TapdClient;
use shared::tdoc::TdocClient;
use shared::upstream::http_client;

pub struct App {
    pub cfg: OauthConfig,
    pub store: Store,
    pub tapd: TapdClient,
    pub tdoc: TdocClient,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let cfg = match OauthConfig::from_env(Env::process()) {
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
    };
    let app = &app;
    // The payload is taken as JSON and read by `routes`: a malformed event gets a 400.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        Ok::<_, std::convert::Infallible>(routes::handle(app, event.payload).await.into_event())
    }))
    .await
}
