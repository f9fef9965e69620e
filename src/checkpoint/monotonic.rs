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
//!
//! Raising it is a conditional write ([`high_water::raise`]), so a run that lost a race cannot
//! lower it, and it is fenced like the run's other writes ([`Fence`]): a run whose lease may
//! have ended writes no mark. (After a reset on purpose, the record and the mark deleted, a late
//! mark from such a run would make the new checkpoint look rewound and refuse every run.)
use super::high_water::{self, HighWaterMarks, Mark, Raised, StoredMark};
use super::Result;
use super::{
    AcquireRequest, Checkpoint, CheckpointError, CheckpointStore, Fence, StoredCheckpoint,
    WentBackwards,
};
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

/// What this process knows of one source: the mark as last read or written (with its version),
/// the checkpoint it last stored, and where the writes of the run holding the lease stop.
#[derive(Default, Clone)]
struct Known {
    mark: Option<StoredMark>,
    saved: Option<Mark>,
    fence: Option<Fence>,
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

    /// Raises the mark to `mark`, a value the table held, if it is still ahead of the stored
    /// one and the run's lease has not ended (`fence`). A failure only leaves the mark behind
    /// (the check is weaker until a later run raises it), so it is logged, not fatal.
    async fn raise(&self, source_id: &str, mark: Mark, fence: Fence) {
        let known = self.update(source_id, |_| {}).mark;
        let raise = high_water::raise(self.marks.as_ref(), source_id, &mark, known);
        match fence.within("raising the high-water mark", raise).await {
            Ok(Ok(Raised::Written(stored))) => {
                self.update(source_id, |k| k.mark = Some(stored));
            }
            Ok(Ok(Raised::NotAhead(seen))) => {
                self.update(source_id, |k| k.mark = seen);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not raise the high-water mark; a later run raises it")
            }
            Err(e) => {
                tracing::warn!(error = %e, "the high-water mark was not raised; a later run raises it")
            }
        }
    }

    /// Reads the mark, and refuses `checkpoint` when it went behind it.
    async fn judge(&self, source_id: &str, checkpoint: &Checkpoint, fence: Fence) -> Result<()> {
        let stored = self.marks.read(source_id).await?;
        let found = Mark::of(checkpoint);
        match stored {
            Some(known) if !found.follows(Some(&known.mark)) => {
                Err(self.went_backwards(source_id, known.mark, found))
            }
            stored => {
                let ahead = found.is_ahead_of(stored.as_ref().map(|s| &s.mark));
                self.update(source_id, |k| k.mark = stored);
                if ahead {
                    self.raise(source_id, found, fence).await;
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
    async fn acquire(&self, request: AcquireRequest<'_>) -> Result<Checkpoint> {
        let AcquireRequest {
            source_id,
            lease,
            fence,
            ..
        } = request;
        let checkpoint = self.inner.acquire(request).await?;
        self.update(source_id, |k| {
            k.saved = None;
            k.fence = Some(fence);
        });
        if let Err(e) = self.judge(source_id, &checkpoint, fence).await {
            // Nothing is written under this checkpoint; the next run meets the same check.
            if let Err(release) = self.inner.release(source_id, &lease.owner).await {
                tracing::warn!(error = %release, "could not release the lease; it expires by itself");
            }
            return Err(e);
        }
        Ok(checkpoint)
    }

    async fn save(&self, source_id: &str, owner: &str, checkpoint: &Checkpoint) -> Result<()> {
        self.inner.save(source_id, owner, checkpoint).await?;
        self.update(source_id, |k| k.saved = Some(Mark::of(checkpoint)));
        Ok(())
    }

    /// Raises the mark to what this run stored (before the run's fence), then gives the lease
    /// back.
    async fn release(&self, source_id: &str, owner: &str) -> Result<()> {
        let known = self.update(source_id, |_| {});
        if let (Some(saved), Some(fence)) = (known.saved, known.fence) {
            self.raise(source_id, saved, fence).await;
        }
        self.inner.release(source_id, owner).await
    }

    async fn load(&self, source_id: &str) -> Result<Option<StoredCheckpoint>> {
        self.inner.load(source_id).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{
        FileCheckpointStore, Lease, LocalDirHighWaterMarks, MemoryCheckpointStore,
        MemoryHighWaterMarks,
    };
    use std::time::Duration;

    /// A request for `source_id` at time 0, with no fence to speak of.
    fn request<'a>(
        source_id: &'a str,
        lease: &'a Lease,
        new_generation: &'a str,
    ) -> AcquireRequest<'a> {
        AcquireRequest {
            source_id,
            lease,
            fence: Fence::longest(),
            now_ms: 0,
            new_generation,
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
        inner
            .acquire(request("s", &lease("x"), "unused"))
            .await
            .unwrap();
        inner.save("s", "x", checkpoint).await.unwrap();
        inner.release("s", "x").await.unwrap();
    }

    /// The mark `marks` holds for source `s`.
    async fn stored(marks: &MemoryHighWaterMarks) -> Option<Mark> {
        marks.read("s").await.unwrap().map(|s| s.mark)
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
            let mut checkpoint = store.acquire(request("s", &lease("a"), "g")).await.unwrap();
            checkpoint.sequence = 7;
            store.save("s", "a", &checkpoint).await.unwrap();
            store.release("s", "a").await.unwrap();
            assert_eq!(stored(&marks).await, Some(Mark::of(&checkpoint)));
            tamper(&mut checkpoint);
            rewrite(&inner, &checkpoint).await;

            // The same process, and a cold start.
            for store in [store, process(&inner, &marks)] {
                let refused = store.acquire(request("s", &lease("b"), "g")).await;
                let message = match refused {
                    Err(e @ CheckpointError::WentBackwards(_)) => e.to_string(),
                    other => panic!("not refused: {other:?}"),
                };
                assert!(message.contains("went backwards"), "{message}");
                assert!(message.contains("delete the mark"), "{message}");
                let stored = inner.load("s").await.unwrap().expect("the record");
                assert_eq!(stored.lease, None, "the lease was given back");
                // The lease was granted (and counted) before the check gave it back.
                let unchanged = Checkpoint {
                    lease_takes: checkpoint.lease_takes,
                    ..stored.checkpoint
                };
                assert_eq!(unchanged, checkpoint, "nothing was written");
            }
        }
    }

    #[tokio::test]
    async fn a_deleted_record_is_refused_until_the_mark_is_deleted() {
        let inner = Arc::new(MemoryCheckpointStore::new());
        let marks = Arc::new(MemoryHighWaterMarks::new());
        let store = process(&inner, &marks);
        store.acquire(request("s", &lease("a"), "g")).await.unwrap();
        store.release("s", "a").await.unwrap();

        let fresh_table = Arc::new(MemoryCheckpointStore::new());
        let refused = process(&fresh_table, &marks)
            .acquire(request("s", &lease("b"), "g2"))
            .await;
        assert!(
            matches!(refused, Err(CheckpointError::WentBackwards(_))),
            "{refused:?}"
        );

        let no_mark = Arc::new(MemoryHighWaterMarks::new());
        let taken = process(&fresh_table, &no_mark)
            .acquire(request("s", &lease("b"), "g2"))
            .await
            .unwrap();
        assert_eq!(taken.generation, "g2");
        assert_eq!(stored(&no_mark).await, Some(Mark::of(&taken)), "a new mark");
    }

    #[tokio::test]
    async fn the_mark_follows_the_table_forward_and_sources_are_judged_apart() {
        let inner = Arc::new(MemoryCheckpointStore::new());
        let marks = Arc::new(MemoryHighWaterMarks::new());
        let store = process(&inner, &marks);
        let mut checkpoint = store.acquire(request("s", &lease("a"), "g")).await.unwrap();
        store.release("s", "a").await.unwrap();
        // Another process moved it on without raising the mark (it crashed first).
        checkpoint.sequence = 40;
        rewrite(&inner, &checkpoint).await;
        let found = process(&inner, &marks)
            .acquire(request("s", &lease("b"), "g"))
            .await
            .unwrap();
        assert_eq!(found.sequence, 40);
        assert_eq!(stored(&marks).await.map(|m| m.sequence), Some(40));
        assert!(store.acquire(request("t", &lease("b"), "g2")).await.is_ok());
    }

    /// A run held up past its lease writes no mark. Here the source was reset on purpose while
    /// it was held up (its record and its mark deleted): a mark it raised late, to where it had
    /// taken the old checkpoint, would make the new checkpoint of the run that takes over look
    /// rewound, and refuse it and every run after it.
    #[tokio::test]
    async fn a_run_held_past_its_lease_writes_no_mark() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let out = dir.path().join("out");
        let table: Arc<dyn CheckpointStore> = Arc::new(FileCheckpointStore::new(&state));
        let marks: Arc<dyn HighWaterMarks> = Arc::new(LocalDirHighWaterMarks::new(&out));
        let held = MonotonicCheckpoints::new(table.clone(), marks.clone());
        let span = Duration::from_secs(1);
        let a = Lease {
            owner: "a".into(),
            until_ms: span.as_millis() as i64,
        };
        let fence = Fence::new(tokio::time::Instant::now(), span);
        let mut checkpoint = held
            .acquire(AcquireRequest {
                source_id: "s",
                lease: &a,
                fence,
                now_ms: 0,
                new_generation: "g",
            })
            .await
            .unwrap();
        checkpoint.sequence = 7;
        held.save("s", "a", &checkpoint).await.unwrap();

        tokio::time::sleep(span).await;
        std::fs::remove_file(&state).unwrap();
        std::fs::remove_file(out.join(high_water::mark_key("s"))).unwrap();
        held.release("s", "a").await.unwrap();
        assert_eq!(
            marks.read("s").await.unwrap(),
            None,
            "a mark written after the lease ended"
        );

        let taken = MonotonicCheckpoints::new(table, marks.clone())
            .acquire(AcquireRequest {
                source_id: "s",
                lease: &lease("b"),
                fence: Fence::longest(),
                now_ms: 10_000,
                new_generation: "g2",
            })
            .await
            .expect("the run that takes over is not refused");
        assert_eq!(taken.generation, "g2");
        let mark = marks.read("s").await.unwrap().map(|s| s.mark);
        assert_eq!(mark, Some(Mark::of(&taken)));
    }
}
