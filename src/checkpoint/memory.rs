use super::Result;
use super::{
    AcquireRequest, Checkpoint, CheckpointError, CheckpointStore, Lease, StoredCheckpoint,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Checkpoints in memory, for tests and tools that need a store but no storage. Same rules as
/// the DynamoDB and file stores: a lease is taken only when [`Lease::may_take`] allows it, the
/// record is created (with the new generation) by the first acquire, and saves and releases
/// change nothing unless their owner holds the lease. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryCheckpointStore {
    records: Mutex<HashMap<String, StoredCheckpoint>>,
}

impl MemoryCheckpointStore {
    pub fn new() -> Self {
        MemoryCheckpointStore::default()
    }

    fn records(&self) -> MutexGuard<'_, HashMap<String, StoredCheckpoint>> {
        // Every change below is a single assignment made after its checks, so a panic elsewhere
        // while the lock was held cannot have left a record half changed.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn held_by(stored: &StoredCheckpoint, owner: &str) -> bool {
    stored.lease.as_ref().is_some_and(|l| l.owner == owner)
}

#[async_trait]
impl CheckpointStore for MemoryCheckpointStore {
    async fn acquire(&self, request: AcquireRequest<'_>) -> Result<Checkpoint> {
        let mut records = self.records();
        let stored = records
            .entry(request.source_id.to_string())
            .or_insert_with(|| StoredCheckpoint {
                checkpoint: Checkpoint::new(request.new_generation.to_string()),
                lease: None,
            });
        if !Lease::may_take(stored.lease.as_ref(), &request.lease.owner, request.now_ms) {
            return Err(CheckpointError::LeaseHeld {
                source_id: request.source_id.to_string(),
                until_ms: stored.lease.as_ref().map_or(0, |l| l.until_ms),
            });
        }
        stored.lease = Some(request.lease.clone());
        stored.checkpoint.lease_takes += 1;
        Ok(stored.checkpoint.clone())
    }

    async fn save(&self, source_id: &str, owner: &str, checkpoint: &Checkpoint) -> Result<()> {
        match self.records().get_mut(source_id) {
            Some(stored) if held_by(stored, owner) => {
                // Lease takes are the store's count, never a run's.
                stored.checkpoint = Checkpoint {
                    lease_takes: stored.checkpoint.lease_takes,
                    ..checkpoint.clone()
                };
                Ok(())
            }
            _ => Err(CheckpointError::LeaseLost {
                source_id: source_id.to_string(),
            }),
        }
    }

    async fn release(&self, source_id: &str, owner: &str) -> Result<()> {
        if let Some(stored) = self.records().get_mut(source_id) {
            if held_by(stored, owner) {
                stored.lease = None;
            }
        }
        Ok(())
    }

    async fn load(&self, source_id: &str) -> Result<Option<StoredCheckpoint>> {
        Ok(self.records().get(source_id).cloned())
    }

    fn describe(&self) -> String {
        "in-memory checkpoint store".to_string()
    }
}
