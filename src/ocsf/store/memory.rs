//! The archive's in-memory sink is also a [`BlobStore`]: tests read back what the collector
//! wrote and write the OCSF copy beside it.
use super::{BlobStore, StoreError};
use crate::sink::{EncodedObject, MemorySink};
use async_trait::async_trait;
use bytes::Bytes;

#[async_trait]
impl BlobStore for MemorySink {
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        Ok(MemorySink::get(self, key).map(|o| o.body))
    }

    async fn put(&self, key: &str, body: Bytes, _content_type: &str) -> Result<(), StoreError> {
        let object = EncodedObject {
            body,
            event_count: 0,
        };
        crate::sink::ObjectSink::put(self, key, &object)
            .await
            .map_err(|e| StoreError {
                store: "in-memory store".into(),
                action: "write",
                key: key.into(),
                reason: e.to_string(),
            })
    }

    fn describe(&self) -> String {
        "in-memory store".to_string()
    }
}
