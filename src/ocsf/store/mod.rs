//! The one port the OCSF copy needs of storage: list, read and write whole objects. The archive
//! is read through it, the Parquet objects, the ledger and the quarantine are written through
//! it. Adapters: S3, a local directory, memory (the archive's `MemorySink` itself, in tests).
mod local_dir;
mod memory;
mod s3;

pub use local_dir::LocalDirStore;
pub use s3::S3Store;

use async_trait::async_trait;
use bytes::Bytes;
use thiserror::Error;

pub const PARQUET: &str = "application/vnd.apache.parquet";
pub const JSON: &str = "application/json";
pub const NDJSON_GZIP: &str = "application/x-ndjson";

#[derive(Debug, Error)]
#[error("{store} could not {action} {key}: {reason}")]
pub struct StoreError {
    pub store: String,
    pub action: &'static str,
    pub key: String,
    pub reason: String,
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Every key under `prefix`, in order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// The object at `key`; `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;
    /// Writes (or overwrites) the object at `key`; returns once it is durable.
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), StoreError>;
    /// For messages: `s3://bucket/prefix` or the directory.
    fn describe(&self) -> String;
}
