//! atlassian-audit-collector: brings an Atlassian Cloud organization's audit log into S3,
//! normalized to Panther's `Atlassian.Audit` schema, exactly once.
pub mod aws_error;
pub mod check;
pub mod checkpoint;
pub mod collector;
pub mod config;
pub mod credentials;
pub mod durable_file;
pub mod malloc_arenas;
pub mod metrics;
pub mod normalize;
pub mod setup;
pub mod sink;
pub mod source;
