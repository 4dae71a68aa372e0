//! `oauth`: the OAuth `redirect_uri` of both apps (see `contract.md`).
//! A thin adapter: configuration and clients are built once here, the flow lives in
//! `shared::connect`, and `routes` maps it to HTTP.

mod console;
mod html;
mod pages;
mod routes;

use lambda_runtime::{LambdaEvent, service_fn};
use shared::app::Clients;
use shared::config::{Env, OauthConfig};
use shared::connect::Connector;
use shared::runtime::{fail_init, init_tracing};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let cfg = match OauthConfig::from_env(Env::process()) {
        Ok(cfg) => cfg,
        Err(e) => fail_init(e).await,
    };
    let clients = Clients::build(&cfg.common).await;
    let connector = &Connector::new(cfg, clients);
    // The payload is taken as JSON and read by `routes`: a malformed event gets a 400.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        Ok::<_, std::convert::Infallible>(routes::handle(connector, event.payload).await.into_event())
    }))
    .await
}
