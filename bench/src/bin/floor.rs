//! The floor of the cold-start benchmark: the smallest useful Lambda function in Rust, a bare
//! `lambda_runtime` echo on a current-thread runtime, built with the same release profile as
//! the functions. Whatever the functions spend on top of it is theirs.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move { Ok::<_, Error>(event.payload) })).await
}
