//! Integration tests that need no AWS and no Python, run by plain `cargo test`: the whole
//! pipeline against the simulated organization with the product's local storage (a state file
//! and a directory), crashes and faults injected into that storage, hostile input, the CLI as a
//! child process, the deployable template, and the store and sink contracts.
//!
//! What is about AWS itself (Secrets Manager, DynamoDB, S3 and its object metadata) is in the
//! `aws` target, run against moto by `make test` (`cargo test --test aws`).
use atlassian_audit_test_support as support;

mod aws_faults;
mod contract;
mod crashes;
mod expected_owner;
mod fleet;
mod hostile;
mod key_safety;
mod ocsf;
mod paging;
mod pipeline;
mod progress;
mod rules;
mod source_faults;
mod stack;
