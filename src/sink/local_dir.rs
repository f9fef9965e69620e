use super::{EncodedObject, ObjectSink, SinkError};
use crate::durable_file;
use async_trait::async_trait;
use bytes::Bytes;
use std::path::{Path, PathBuf};

/// Where `key` lives under `root`; `None` for a key that is not a plain relative path. Keys are
/// ours, but anything that could climb out of the root is refused all the same.
pub fn key_path(root: &Path, key: &str) -> Option<PathBuf> {
    let plain = !key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..");
    plain.then(|| root.join(key))
}

/// Why a key is refused: it could climb out of the root or name no file.
pub(crate) const NOT_A_PLAIN_KEY: &str = "the key is not a plain relative path";

/// Writes `body` as the file `path` (its folders created), durably and atomically; the reason
/// when it could not. One blocking task for the whole write: each tokio::fs call would be a
/// thread hand-off.
pub(crate) async fn write_durably(path: PathBuf, body: Bytes) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent() {
            durable_file::create_dir_all(dir)?;
        }
        durable_file::replace(&path, &body)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

/// Objects as files under a directory, same key layout as S3. Each file is written to a temporary
/// name, synced and renamed, so a crash never leaves half an object under its real name. Files
/// are created `0600` and directories `0700` (`durable_file`). The OCSF copy's store
/// (`ocsf::store::LocalDirStore`) is this same adapter: one directory, one way to write a file.
pub struct LocalDirSink {
    root: PathBuf,
}

impl LocalDirSink {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDirSink { root: root.into() }
    }

    /// The directory the objects are under.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn path_for(&self, key: &str) -> Result<PathBuf, SinkError> {
        key_path(&self.root, key).ok_or_else(|| self.error("write", key, NOT_A_PLAIN_KEY.into()))
    }

    fn error(&self, action: &'static str, key: &str, reason: String) -> SinkError {
        SinkError {
            sink: self.describe(),
            action,
            key: key.to_string(),
            reason,
        }
    }
}

#[async_trait]
impl ObjectSink for LocalDirSink {
    async fn put(&self, key: &str, object: &EncodedObject) -> Result<(), SinkError> {
        let path = self.path_for(key)?;
        write_durably(path, object.body.clone())
            .await
            .map_err(|reason| self.error("write", key, reason))
    }

    async fn read(&self, key: &str) -> Result<Option<Bytes>, SinkError> {
        let path = self.path_for(key)?;
        match tokio::fs::read(&path).await {
            Ok(body) => Ok(Some(body.into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error("read", key, e.to_string())),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        let path = self.path_for(key)?;
        let removed = tokio::task::spawn_blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => durable_file::sync_parent(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| self.error("delete", key, e.to_string()))?;
        removed.map_err(|e| self.error("delete", key, e.to_string()))
    }

    async fn probe(&self) -> Result<(), SinkError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || durable_file::create_dir_all(&root))
            .await
            .map_err(|e| self.error("create", "", e.to_string()))?
            .map_err(|e| self.error("create", "", e.to_string()))?;
        let meta = tokio::fs::metadata(&self.root)
            .await
            .map_err(|e| self.error("inspect", "", e.to_string()))?;
        if meta.permissions().readonly() {
            return Err(self.error("write", "", "the directory is read-only".into()));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }
}
