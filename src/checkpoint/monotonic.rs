//! A checkpoint never goes backwards under a process that has seen it.
//!
//! Object keys are derived from the checkpoint's generation and batch sequence, so whoever can
//! write the table could lower the sequence (or swap the generation) and make the collector
//! write under keys it used before, hiding archived objects behind new versions. A process
//! remembers, per source, the generation and the highest sequence it has read or stored; a
//! checkpoint found later with another generation or a lower sequence is refused: the run gives
//! the lease back and writes nothing. A warm Lambda container (the function keeps its process
//! between scheduled runs) and a long CLI process are covered; a cold start trusts the table,
//! and Object Lock keeps every version an overwrite would hide.
use super::{Checkpoint, CheckpointError, CheckpointStore, Lease, StoredCheckpoint};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Where a source's checkpoint stood: its generation and batch sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    generation: String,
    sequence: u64,
}

impl Mark {
    fn of(checkpoint: &Checkpoint) -> Self {
        Mark {
            generation: checkpoint.generation.clone(),
            sequence: checkpoint.sequence,
        }
    }
}

/// Whether `found` may follow `known`: the same generation, and a sequence no lower (other
/// runs move it on; nothing honest moves it back).
fn follows(known: Option<&Mark>, found: &Mark) -> bool {
    known.is_none_or(|k| k.generation == found.generation && found.sequence >= k.sequence)
}

/// Any checkpoint store, refusing checkpoints that went backwards under this process.
pub struct MonotonicCheckpoints {
    inner: Arc<dyn CheckpointStore>,
    known: Mutex<HashMap<String, Mark>>,
}

impl MonotonicCheckpoints {
    pub fn new(inner: Arc<dyn CheckpointStore>) -> Self {
        MonotonicCheckpoints {
            inner,
            known: Mutex::new(HashMap::new()),
        }
    }

    fn known(&self, source_id: &str) -> Option<Mark> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.get(source_id).cloned()
    }

    /// Remembers `mark` if it is further on than what is known.
    fn remember(&self, source_id: &str, mark: Mark) {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if follows(known.get(source_id), &mark) {
            known.insert(source_id.to_string(), mark);
        }
    }

    fn went_backwards(&self, source_id: &str, known: Mark, found: Mark) -> CheckpointError {
        CheckpointError::WentBackwards {
            source_id: source_id.to_string(),
            store: self.inner.describe(),
            known_generation: known.generation,
            known_sequence: known.sequence,
            found_generation: found.generation,
            found_sequence: found.sequence,
        }
    }
}

#[async_trait]
impl CheckpointStore for MonotonicCheckpoints {
    async fn acquire(
        &self,
        source_id: &str,
        lease: &Lease,
        now_ms: i64,
        new_generation: &str,
    ) -> Result<Checkpoint, CheckpointError> {
        let checkpoint = self
            .inner
            .acquire(source_id, lease, now_ms, new_generation)
            .await?;
        let found = Mark::of(&checkpoint);
        match self.known(source_id) {
            Some(known) if !follows(Some(&known), &found) => {
                // Nothing is written under this checkpoint; the next run meets the same refusal.
                if let Err(e) = self.inner.release(source_id, &lease.owner).await {
                    tracing::warn!(error = %e, "could not release the lease; it expires by itself");
                }
                Err(self.went_backwards(source_id, known, found))
            }
            _ => {
                self.remember(source_id, found);
                Ok(checkpoint)
            }
        }
    }

    async fn save(
        &self,
        source_id: &str,
        owner: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), CheckpointError> {
        self.inner.save(source_id, owner, checkpoint).await?;
        self.remember(source_id, Mark::of(checkpoint));
        Ok(())
    }

    async fn release(&self, source_id: &str, owner: &str) -> Result<(), CheckpointError> {
        self.inner.release(source_id, owner).await
    }

    async fn load(&self, source_id: &str) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        self.inner.load(source_id).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::MemoryCheckpointStore;

    fn mark(generation: &str, sequence: u64) -> Mark {
        Mark {
            generation: generation.into(),
            sequence,
        }
    }

    #[test]
    fn a_checkpoint_follows_what_was_known_only_forward_in_the_same_generation() {
        let cases = [
            (None, mark("g", 0), true),
            (Some(mark("g", 5)), mark("g", 5), true),
            (Some(mark("g", 5)), mark("g", 9), true),
            (Some(mark("g", 5)), mark("g", 4), false),
            (Some(mark("g", 5)), mark("h", 5), false),
            (Some(mark("g", 5)), mark("h", 900), false),
            (Some(mark("g", 0)), mark("h", 0), false),
        ];
        for (known, found, want) in cases {
            assert_eq!(
                follows(known.as_ref(), &found),
                want,
                "{known:?} → {found:?}"
            );
        }
    }

    fn lease(owner: &str) -> Lease {
        Lease {
            owner: owner.into(),
            until_ms: i64::MAX / 2,
        }
    }

    /// Stores `checkpoint` straight into `inner`, as someone with write access to the table.
    async fn rewrite(inner: &MemoryCheckpointStore, checkpoint: &Checkpoint) {
        inner.acquire("s", &lease("x"), 0, "unused").await.unwrap();
        inner.save("s", "x", checkpoint).await.unwrap();
        inner.release("s", "x").await.unwrap();
    }

    #[tokio::test]
    async fn a_lowered_sequence_or_a_new_generation_is_refused_and_the_lease_given_back() {
        for tamper in [
            |c: &mut Checkpoint| c.sequence = 2,
            |c: &mut Checkpoint| c.generation = "other".into(),
        ] {
            let inner = Arc::new(MemoryCheckpointStore::new());
            let store = MonotonicCheckpoints::new(inner.clone());
            let mut checkpoint = store.acquire("s", &lease("a"), 0, "g").await.unwrap();
            checkpoint.sequence = 7;
            store.save("s", "a", &checkpoint).await.unwrap();
            store.release("s", "a").await.unwrap();
            tamper(&mut checkpoint);
            rewrite(&inner, &checkpoint).await;

            let refused = store.acquire("s", &lease("b"), 0, "g").await;
            let message = match refused {
                Err(e @ CheckpointError::WentBackwards { .. }) => e.to_string(),
                other => panic!("not refused: {other:?}"),
            };
            assert!(message.contains("went backwards"), "{message}");
            let stored = inner.load("s").await.unwrap().expect("the record");
            assert_eq!(stored.lease, None, "the lease was given back");
            assert_eq!(stored.checkpoint, checkpoint, "nothing was written");
        }
    }

    #[tokio::test]
    async fn another_process_moving_the_checkpoint_on_is_followed() {
        let inner = Arc::new(MemoryCheckpointStore::new());
        let store = MonotonicCheckpoints::new(inner.clone());
        let mut checkpoint = store.acquire("s", &lease("a"), 0, "g").await.unwrap();
        store.release("s", "a").await.unwrap();
        checkpoint.sequence = 40;
        rewrite(&inner, &checkpoint).await;
        let found = store.acquire("s", &lease("b"), 0, "g").await.unwrap();
        assert_eq!(found.sequence, 40);
        // Another source is judged on its own.
        assert!(store.acquire("t", &lease("b"), 0, "g2").await.is_ok());
    }
}
