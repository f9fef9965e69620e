//! Where batches of normalized events go: S3 in production, a directory locally. Keys are
//! relative (`logs/atlassian_audit/year=…/…json.gz`); each sink places them under its own root.
mod layout;
mod local_archive;
mod local_dir;
mod memory;
mod s3;

pub use layout::{
    alerts_key, generation_tag, hour_start, logs_key, quarantine_key, staging_key, TABLE,
};
pub use local_archive::{files_under, objects_under, read_text, LocalArchiveError, LocalObject};
pub use local_dir::{key_path, LocalDirSink};
pub(crate) use local_dir::{write_durably, NOT_A_PLAIN_KEY};
pub use memory::MemorySink;
pub use s3::S3Sink;

use async_trait::async_trait;
use thiserror::Error;

pub const CONTENT_TYPE: &str = "application/x-ndjson";
pub const CONTENT_ENCODING: &str = "gzip";

/// A finished object: gzip NDJSON and how many events it holds. `Bytes`, so handing it to the
/// S3 client (and retrying the upload) shares the buffer instead of copying it.
#[derive(Debug, Clone)]
pub struct EncodedObject {
    pub body: bytes::Bytes,
    pub event_count: usize,
}

#[derive(Debug, Error)]
#[error("{sink} could not {action} {key}: {reason}")]
pub struct SinkError {
    pub sink: String,
    pub action: &'static str,
    pub key: String,
    pub reason: String,
}

#[async_trait]
pub trait ObjectSink: Send + Sync {
    /// Writes (or overwrites) the object at `key`; returns once it is durable.
    async fn put(&self, key: &str, object: &EncodedObject) -> Result<(), SinkError>;
    /// The body of the object at `key`; `None` when there is none. Only the collector's own
    /// staging objects are read back ([`staging_key`]).
    async fn read(&self, key: &str) -> Result<Option<bytes::Bytes>, SinkError>;
    /// Removes the object at `key`; absent is fine.
    async fn delete(&self, key: &str) -> Result<(), SinkError>;
    /// Checks that objects can be written, without writing any event data.
    async fn probe(&self) -> Result<(), SinkError>;
    /// For messages: `s3://bucket/prefix` or the directory.
    fn describe(&self) -> String;
}
