use super::Result;
use super::{HighWaterMarks, Mark, Replaced, StoredMark};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Marks in memory: for tests, and for what one process alone can remember. A mark's version
/// is a counter of the writes to this store, so every write gives a new one.
#[derive(Default)]
pub struct MemoryHighWaterMarks {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    marks: HashMap<String, StoredMark>,
    writes: u64,
}

impl MemoryHighWaterMarks {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl HighWaterMarks for MemoryHighWaterMarks {
    async fn read(&self, source_id: &str) -> Result<Option<StoredMark>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(state.marks.get(source_id).cloned())
    }

    async fn replace(&self, source_id: &str, mark: &Mark, seen: Option<&str>) -> Result<Replaced> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let current = state.marks.get(source_id).map(|s| s.version.as_str());
        if current != seen {
            return Ok(Replaced::Moved);
        }
        state.writes += 1;
        let version = state.writes.to_string();
        state.marks.insert(
            source_id.to_string(),
            StoredMark {
                mark: mark.clone(),
                version: version.clone(),
            },
        );
        Ok(Replaced::Written { version })
    }

    fn describe(&self, source_id: &str) -> String {
        format!("memory ({source_id})")
    }
}
