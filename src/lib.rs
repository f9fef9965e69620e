//! atlassian-audit-collector: brings an Atlassian Cloud organization's audit log into S3,
//! normalized to Panther's `Atlassian.Audit` schema, exactly once.
//!
//! The modules in the order an event meets them, then the ports' adapters' helpers, then the
//! wiring the Lambda (`src/bin/`) and the CLI (`cli/`) share.

// The flow: source → normalize → (the pipeline) → sink, with the checkpoint deciding where a
// run starts and when a batch counts as written.
pub mod source;
pub mod normalize;
pub mod collector;
pub mod sink;
// The OCSF copy of the archive (Security Lake): mapping, Parquet, derivation.
pub mod ocsf;
pub mod checkpoint;
// Detections over normalized events: the pipeline's detect stage, and the CLI's `rules` and `detect`.
pub mod detect;
// Announcing alerts: SNS, EventBridge.
pub mod notify;

// What the adapters need: the API key and its secret, AWS error messages, where in S3 an
// adapter's objects are, the DynamoDB table of sources, durable local files.
pub mod credentials;
pub mod aws_error;
pub mod s3_location;
mod source_table;
pub mod durable_file;

// Wiring: configuration resolved once, the sources registry, the composition root, the setup check, metrics, the CLI's
// live progress, and the process's allocator settings.
pub mod config;
// The organizations one deployment collects, and the runs over all of them.
pub mod registry;
pub mod fleet;
pub mod dispatch;
pub mod setup;
// The Lambda functions' handlers (the binaries in src/bin/ only start the runtime).
pub mod lambda;
pub mod check;
pub mod metrics;
pub mod progress;
pub mod malloc_tuning;

// The unit tests' RFC 3339 times, in one place.
#[cfg(test)]
mod test_time;
