//! The sources registry: which Atlassian organizations one deployment collects, each with the
//! secret holding its key, its label, whether it is enabled, where its live collection began
//! and its backfill. A port with a DynamoDB adapter (`SOURCES_TABLE`) and a memory one.
mod dynamodb;
mod memory;
mod source;
mod task;
mod window;

pub use dynamodb::DynamoDbRegistry;
pub use memory::MemoryRegistry;
pub use source::{
    rfc3339, validate_source_id, Backfill, LastRun, RegisteredSource, MAX_BACKFILL_DAYS,
    MAX_SOURCE_ID_LEN,
};
pub use task::{Task, TaskKind};
pub use window::ProcessedWindow;

use async_trait::async_trait;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("source {0:?} is registered already: pick another id, or `sources remove {0}` first")]
    Exists(String),
    #[error("no source {0:?} in the registry: `sources list` shows the registered ones")]
    NotFound(String),
    #[error("source {source_id:?} has a backfill still running (from {from}): wait for it to end (`sources list` shows its progress)")]
    BackfillRunning { source_id: String, from: String },
    #[error("{0}")]
    Invalid(String),
    #[error("source {source_id:?} in {registry} is unreadable: {reason}; fix or remove the item")]
    Corrupt {
        source_id: String,
        registry: String,
        reason: String,
    },
    #[error("could not {action} in {registry}: {reason} (does the table exist, with partition key `source_id` of type S, and may this role read and write it?)")]
    Backend {
        action: &'static str,
        registry: String,
        reason: String,
    },
}

/// What a source registry's calls return (the error type defaults to its own).
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Where the registered sources are kept. Every change is conditional on the source's state,
/// so two operators (or an operator and a run) cannot undo each other's change unseen.
#[async_trait]
pub trait SourceRegistry: Send + Sync {
    /// Registers `source`; refuses an id already registered.
    async fn add(&self, source: &RegisteredSource) -> Result<()>;
    async fn get(&self, source_id: &str) -> Result<Option<RegisteredSource>>;
    /// Every registered source, in id order.
    async fn list(&self) -> Result<Vec<RegisteredSource>>;
    async fn set_enabled(&self, source_id: &str, enabled: bool) -> Result<()>;
    /// Unregisters the source; its checkpoint and everything it archived stay.
    async fn remove(&self, source_id: &str) -> Result<()>;
    /// Starts `backfill`; refuses while another backfill of the source is running.
    async fn start_backfill(&self, source_id: &str, backfill: &Backfill) -> Result<()>;
    /// Marks the backfill that starts at `from_ms` ended at `at_ms` (a later backfill is left
    /// alone).
    async fn finish_backfill(&self, source_id: &str, from_ms: i64, at_ms: i64) -> Result<()>;
    /// Records how a run of the source's live collection ended.
    async fn record_run(&self, source_id: &str, run: &LastRun) -> Result<()>;
    /// Where the registry is, for messages.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests;
