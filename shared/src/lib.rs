//! The shared crate of the TAPD ↔ Tencent Docs glue: configuration, typed ids and secrets,
//! the upstream clients, the DynamoDB store, and the domain flows the functions adapt.

pub mod app;
pub mod bounded;
pub mod client_secret;
pub mod config;
pub mod connect;
pub mod crypto;
pub mod deadline;
pub mod delivery;
pub mod error;
pub mod gateway;
pub mod ids;
pub mod link;
pub mod notify;
pub mod ops;
pub mod random;
pub mod reason;
pub mod retry;
pub mod runtime;
pub mod secret;
pub mod steer;
pub mod store;
pub mod tapd;
pub mod tdoc;
pub mod tenants;
pub mod text;
pub mod time;
pub mod tokens;
pub mod upstream;

pub use secret::Secret;
