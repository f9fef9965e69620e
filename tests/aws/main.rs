//! The collector against AWS as moto emulates it: Secrets Manager, DynamoDB and S3 themselves,
//! and the alert notifiers' SNS and EventBridge.
//! Not part of plain `cargo test` (`test = false` in Cargo.toml): `make test` starts moto and
//! runs `cargo test --test aws`; by hand, `eval "$(scripts/moto.sh start)"` first. Every test
//! here fails at once, saying so, when moto is not there.
//!
//! Everything else (the pipeline's behaviour on local storage, the template, the contracts of
//! the local stores and sinks) is in the `integration` target, which needs no AWS.
use atlassian_audit_test_support as support;

mod contract;
mod dispatch;
mod key_safety;
mod notify;
mod pipeline;
mod rules;
mod secrets;
mod sources;
