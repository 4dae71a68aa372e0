//! The store against a real DynamoDB-compatible endpoint (moto, started by `make test`) over
//! HTTP, through the real AWS SDK: records, claims, tokens, the table as `template.yaml`
//! declares it, and the local endpoint's own atomicity.

mod moto;
mod records;
mod table;
