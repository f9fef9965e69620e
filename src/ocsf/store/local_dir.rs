//! Objects as files under a directory, keys as relative paths: the CLI's and the demo's bucket.
//! Writes are durable and atomic (`durable_file`: a temporary file, synced, renamed).
use super::{BlobStore, StoreError};
use crate::sink::{key_path, objects_under, write_durably, LocalDirSink, NOT_A_PLAIN_KEY};
use async_trait::async_trait;
use bytes::Bytes;
use std::path::PathBuf;

/// The archive's directory adapter serves this port too: the same files, written the same way.
pub type LocalDirStore = LocalDirSink;

/// This port's view of the directory: its own error type, and "use" for a refused key.
impl LocalDirSink {
    fn store_path(&self, key: &str) -> Result<PathBuf, StoreError> {
        key_path(self.root(), key)
            .ok_or_else(|| self.store_error("use", key, NOT_A_PLAIN_KEY.into()))
    }

    fn store_error(&self, action: &'static str, key: &str, reason: String) -> StoreError {
        StoreError {
            store: BlobStore::describe(self),
            action,
            key: key.to_string(),
            reason,
        }
    }
}

#[async_trait]
impl BlobStore for LocalDirSink {
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // Walk only the deepest directory the prefix names; files being written under a
        // temporary name are not objects yet.
        let (folder, start) = match prefix.rfind('/') {
            Some(i) => (format!("{}/", &prefix[..i]), self.root().join(&prefix[..i])),
            None => (String::new(), self.root().to_path_buf()),
        };
        let prefix_owned = prefix.to_string();
        let keys = tokio::task::spawn_blocking(move || objects_under(&start))
            .await
            .map_err(|e| self.store_error("list", prefix, e.to_string()))?
            .map_err(|e| self.store_error("list", prefix, e.to_string()))?
            .into_iter()
            .map(|object| format!("{folder}{}", object.key));
        let mut keys: Vec<String> = keys.filter(|k| k.starts_with(&prefix_owned)).collect();
        keys.sort();
        Ok(keys)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let path = self.store_path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.store_error("read", key, e.to_string())),
        }
    }

    async fn put(&self, key: &str, body: Bytes, _content_type: &str) -> Result<(), StoreError> {
        let path = self.store_path(key)?;
        write_durably(path, body)
            .await
            .map_err(|reason| self.store_error("write", key, reason))
    }

    fn describe(&self) -> String {
        crate::sink::ObjectSink::describe(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_and_list_under_a_prefix() {
        let dir = tempfile::tempdir().expect("a directory");
        let store = LocalDirStore::new(dir.path());
        store
            .put("a/b/one.txt", Bytes::from("1"), "text/plain")
            .await
            .unwrap();
        store
            .put("a/c/two.txt", Bytes::from("2"), "text/plain")
            .await
            .unwrap();
        store
            .put("z.txt", Bytes::from("3"), "text/plain")
            .await
            .unwrap();
        assert_eq!(
            store.list("a/").await.unwrap(),
            vec!["a/b/one.txt", "a/c/two.txt"]
        );
        assert_eq!(store.list("a/b").await.unwrap(), vec!["a/b/one.txt"]);
        assert_eq!(store.list("nothing/").await.unwrap(), Vec::<String>::new());
        assert_eq!(
            store.get("a/c/two.txt").await.unwrap(),
            Some(Bytes::from("2"))
        );
        assert_eq!(store.get("a/none").await.unwrap(), None);
        assert!(store.get("../x").await.is_err());
    }
}
