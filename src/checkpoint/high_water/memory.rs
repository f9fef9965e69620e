use super::{HighWaterError, HighWaterMarks, Mark};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Marks in memory: for tests, and for what one process alone can remember.
#[derive(Default)]
pub struct MemoryHighWaterMarks {
    marks: Mutex<HashMap<String, Mark>>,
}

impl MemoryHighWaterMarks {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl HighWaterMarks for MemoryHighWaterMarks {
    async fn read(&self, source_id: &str) -> Result<Option<Mark>, HighWaterError> {
        let marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(marks.get(source_id).cloned())
    }

    async fn write(&self, source_id: &str, mark: &Mark) -> Result<(), HighWaterError> {
        let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
        marks.insert(source_id.to_string(), mark.clone());
        Ok(())
    }

    fn describe(&self, source_id: &str) -> String {
        format!("memory ({source_id})")
    }
}
