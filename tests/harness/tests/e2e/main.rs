//! The end-to-end suites: the real `oauth` and `tapd-webhook` binaries under the Lambda
//! Runtime API emulator, against the TAPD and Tencent Docs sandboxes and the local DynamoDB,
//! asserting on what the sandboxes and the table saw. One test binary (one link step), a
//! module per subject. Each test needing the local stack skips with one line under a plain
//! `cargo test`; `make test` runs them all.

mod bad_input;
mod bounded;
mod card;
mod close_out;
mod cold_path;
mod connect;
mod console;
mod deploy;
mod docs;
mod emulator;
mod exactly_once;
mod fail_closed;
mod fair;
mod faults;
mod fidelity;
mod folders;
mod iam;
mod link;
mod load;
mod notify;
mod restore;
mod secrets;
mod state_machine;
mod steer;
mod sweep;
mod template;
mod tenants;
mod variants;
