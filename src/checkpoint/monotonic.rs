//! A checkpoint never goes backwards under the collector.
//!
//! Object keys are derived from the checkpoint's generation and batch sequence, so whoever can
//! write the table could lower the sequence (or swap the generation) and make the collector
//! write under keys it used before, hiding archived objects behind new versions. Every run
//! compares the checkpoint it takes with the source's high-water mark, kept beside the archive
//! where the table's writers cannot reach it; a checkpoint with another generation or a lower
//! sequence is refused: the run gives the lease back and writes nothing. The mark follows the
//! table: it is raised when a run finds the table further on, and when a run that moved the
//! checkpoint gives its lease back.
use super::high_water::{HighWaterMarks, Mark};
use super::{Checkpoint, CheckpointError, CheckpointStore, Lease, StoredCheckpoint, WentBackwards};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

impl Mark {
    fn of(checkpoint: &Checkpoint) -> Self {
        Mark {
            generation: checkpoint.generation.clone(),
            sequence: checkpoint.sequence,
        }
    }
}

/// What this process knows of one source: the mark as last read or written, and the
/// checkpoint it last stored.
#[derive(Default, Clone)]
struct Known {
    mark: Option<Mark>,
    saved: Option<Mark>,
}

/// Any checkpoint store, refusing checkpoints that went behind the source's high-water mark.
pub struct MonotonicCheckpoints {
    inner: Arc<dyn CheckpointStore>,
    marks: Arc<dyn HighWaterMarks>,
    known: Mutex<HashMap<String, Known>>,
}

impl MonotonicCheckpoints {
    pub fn new(inner: Arc<dyn CheckpointStore>, marks: Arc<dyn HighWaterMarks>) -> Self {
        MonotonicCheckpoints {
            inner,
            marks,
            known: Mutex::new(HashMap::new()),
        }
    }

    fn update(&self, source_id: &str, change: impl FnOnce(&mut Known)) -> Known {
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = known.entry(source_id.to_string()).or_default();
        change(entry);
        entry.clone()
    }

    /// Raises the mark to `mark`, a value the table held. A failure only leaves the mark
    /// behind (the check is weaker until a later run raises it), so it is logged, not fatal.
    async fn raise(&self, source_id: &str, mark: Mark) {
        match self.marks.write(source_id, &mark).await {
            Ok(()) => {
                self.update(source_id, |k| {
                    if mark.is_ahead_of(k.mark.as_ref()) {
                        k.mark = Some(mark);
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not raise the high-water mark; a later run raises it")
            }
        }
    }

    /// Reads the mark, and refuses `checkpoint` when it went behind it.
    async fn judge(&self, source_id: &str, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let mark = self.marks.read(source_id).await?;
        let found = Mark::of(checkpoint);
        match mark {
            Some(known) if !found.follows(Some(&known)) => {
                Err(self.went_backwards(source_id, known, found))
            }
            mark => {
                let ahead = found.is_ahead_of(mark.as_ref());
                self.update(source_id, |k| k.mark = mark);
                if ahead {
                    self.raise(source_id, found).await;
                }
                Ok(())
            }
        }
    }

    fn went_backwards(&self, source_id: &str, known: Mark, found: Mark) -> CheckpointError {
        CheckpointError::WentBackwards(Box::new(WentBackwards {
            source_id: source_id.to_string(),
            store: self.inner.describe(),
            mark: self.marks.describe(source_id),
            known_generation: known.generation,
            known_sequence: known.sequence,
            found_generation: found.generation,
            found_sequence: found.sequence,
        }))
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
        if let Err(e) = self.judge(source_id, &checkpoint).await {
            // Nothing is written under this checkpoint; the next run meets the same check.
            if let Err(release) = self.inner.release(source_id, &lease.owner).await {
                tracing::warn!(error = %release, "could not release the lease; it expires by itself");
            }
            return Err(e);
        }
        self.update(source_id, |k| k.saved = None);
        Ok(checkpoint)
    }

    async fn save(
        &self,
        source_id: &str,
        owner: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), CheckpointError> {
        self.inner.save(source_id, owner, checkpoint).await?;
        self.update(source_id, |k| k.saved = Some(Mark::of(checkpoint)));
        Ok(())
    }

    /// Raises the mark to what this run stored, then gives the lease back.
    async fn release(&self, source_id: &str, owner: &str) -> Result<(), CheckpointError> {
        let known = self.update(source_id, |_| {});
        if let Some(saved) = known.saved.filter(|s| s.is_ahead_of(known.mark.as_ref())) {
            self.raise(source_id, saved).await;
        }
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
    use crate::checkpoint::{MemoryCheckpointStore, MemoryHighWaterMarks};

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

    /// A table and a mark store, and a collector process over them.
    fn process(
        inner: &Arc<MemoryCheckpointStore>,
        marks: &Arc<MemoryHighWaterMarks>,
    ) -> MonotonicCheckpoints {
        MonotonicCheckpoints::new(inner.clone(), marks.clone())
    }

    #[tokio::test]
    async fn a_lowered_sequence_or_a_new_generation_is_refused_by_a_new_process_too() {
        for tamper in [
            |c: &mut Checkpoint| c.sequence = 2,
            |c: &mut Checkpoint| c.generation = "other".into(),
        ] {
            let inner = Arc::new(MemoryCheckpointStore::new());
            let marks = Arc::new(MemoryHighWaterMarks::new());
            let store = process(&inner, &marks);
            let mut checkpoint = store.acquire("s", &lease("a"), 0, "g").await.unwrap();
            checkpoint.sequence = 7;
            store.save("s", "a", &checkpoint).await.unwrap();
            store.release("s", "a").await.unwrap();
            assert_eq!(marks.read("s").await.unwrap(), Some(Mark::of(&checkpoint)));
            tamper(&mut checkpoint);
            rewrite(&inner, &checkpoint).await;

            // The same process, and a cold start.
            for store in [store, process(&inner, &marks)] {
                let refused = store.acquire("s", &lease("b"), 0, "g").await;
                let message = match refused {
                    Err(e @ CheckpointError::WentBackwards(_)) => e.to_string(),
                    other => panic!("not refused: {other:?}"),
                };
                assert!(message.contains("went backwards"), "{message}");
                assert!(message.contains("delete the mark"), "{message}");
                let stored = inner.load("s").await.unwrap().expect("the record");
                assert_eq!(stored.lease, None, "the lease was given back");
                assert_eq!(stored.checkpoint, checkpoint, "nothing was written");
            }
        }
    }

    #[tokio::test]
    async fn a_deleted_record_is_refused_until_the_mark_is_deleted() {
        let inner = Arc::new(MemoryCheckpointStore::new());
        let marks = Arc::new(MemoryHighWaterMarks::new());
        let store = process(&inner, &marks);
        store.acquire("s", &lease("a"), 0, "g").await.unwrap();
        store.release("s", "a").await.unwrap();

        let fresh_table = Arc::new(MemoryCheckpointStore::new());
        let refused = process(&fresh_table, &marks)
            .acquire("s", &lease("b"), 0, "g2")
            .await;
        assert!(
            matches!(refused, Err(CheckpointError::WentBackwards(_))),
            "{refused:?}"
        );

        let no_mark = Arc::new(MemoryHighWaterMarks::new());
        let taken = process(&fresh_table, &no_mark)
            .acquire("s", &lease("b"), 0, "g2")
            .await
            .unwrap();
        assert_eq!(taken.generation, "g2");
        assert_eq!(
            no_mark.read("s").await.unwrap(),
            Some(Mark::of(&taken)),
            "a new mark"
        );
    }

    #[tokio::test]
    async fn the_mark_follows_the_table_forward_and_sources_are_judged_apart() {
        let inner = Arc::new(MemoryCheckpointStore::new());
        let marks = Arc::new(MemoryHighWaterMarks::new());
        let store = process(&inner, &marks);
        let mut checkpoint = store.acquire("s", &lease("a"), 0, "g").await.unwrap();
        store.release("s", "a").await.unwrap();
        // Another process moved it on without raising the mark (it crashed first).
        checkpoint.sequence = 40;
        rewrite(&inner, &checkpoint).await;
        let found = process(&inner, &marks)
            .acquire("s", &lease("b"), 0, "g")
            .await
            .unwrap();
        assert_eq!(found.sequence, 40);
        assert_eq!(marks.read("s").await.unwrap().map(|m| m.sequence), Some(40));
        assert!(store.acquire("t", &lease("b"), 0, "g2").await.is_ok());
    }
}
