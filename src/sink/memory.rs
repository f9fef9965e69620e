use super::{EncodedObject, ObjectSink, SinkError};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Objects in memory, by key, for tests and tools that need a sink but no storage. `put`
/// replaces, `delete` of an absent key is fine, `probe` always succeeds; [`MemorySink::objects`]
/// shows what it holds.
#[derive(Debug, Default)]
pub struct MemorySink {
    objects: Mutex<BTreeMap<String, EncodedObject>>,
}

impl MemorySink {
    pub fn new() -> Self {
        MemorySink::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, EncodedObject>> {
        // Each change is one insert or remove: a panic elsewhere cannot leave half of one.
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The object at `key`, if there is one.
    pub fn get(&self, key: &str) -> Option<EncodedObject> {
        self.lock().get(key).cloned()
    }

    /// The keys held, in order.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Every object held, by key.
    pub fn objects(&self) -> BTreeMap<String, EncodedObject> {
        self.lock().clone()
    }
}

#[async_trait]
impl ObjectSink for MemorySink {
    async fn put(&self, key: &str, object: &EncodedObject) -> Result<(), SinkError> {
        self.lock().insert(key.to_string(), object.clone());
        Ok(())
    }

    async fn read(&self, key: &str) -> Result<Option<bytes::Bytes>, SinkError> {
        Ok(self.lock().get(key).map(|o| o.body.clone()))
    }

    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        self.lock().remove(key);
        Ok(())
    }

    async fn probe(&self) -> Result<(), SinkError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "in-memory sink".to_string()
    }
}
