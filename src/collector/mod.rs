//! The pipeline: lease → read pages from the checkpoint's position → normalize → write objects →
//! advance the checkpoint. It knows the source, the checkpoint store and the sink only by their
//! traits; the Lambda and the CLI wire in the real ones.
//!
//! Exactly once, by construction:
//! - one run at a time per source: a lease in the checkpoint record, taken and checked with
//!   conditional writes;
//! - a batch is one page; before its objects are written the checkpoint records it as pending
//!   (its event count and object hours), the objects get keys derived from the batch's sequence
//!   number and event hour only, and the checkpoint moves past the batch only after every object
//!   is durable. A run that finds a pending batch reads the same page again (same position, same
//!   count), overwrites the same keys and deletes keys the redo no longer needs;
//! - ids written recently are kept in the checkpoint, so events the API serves twice (overlap
//!   after a lost cursor, repeats across pages) are dropped.
//!
//! While a page is normalized, written and checkpointed, the next page is already being fetched
//! (a read changes nothing, so a crash only discards it): the run's wall time stays close to the
//! time it takes to download the pages.
mod batch;
mod next_read;
mod read_ahead;

pub use batch::{build_batch, build_batch_after, Batch};
use next_read::next_read;
use read_ahead::ReadAhead;

use crate::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, Lease, PendingBatch, LONGEST_LEASE,
};
use crate::config::{MAX_PAGE_LIMIT, MAX_RUN_BUDGET};
use crate::metrics::{RunSummary, StopReason};
use crate::normalize::Normalizer;
use crate::sink::{logs_key, quarantine_key, EncodedObject, ObjectSink, SinkError};
use crate::source::{EventSource, PageRequest, SourceError, SourceStats, StreamPosition};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;

/// How far before the newest written event a run without a cursor starts reading again.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(5 * 60);
/// Reads of the checkpoint after a commit whose answer was lost.
const READ_BACK_ATTEMPTS: u32 = 3;
/// Objects of one page written at once.
const MAX_CONCURRENT_PUTS: usize = 8;
/// A killed run's lease frees itself this long after the run's budget ends.
pub const LEASE_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct CollectorSettings {
    pub source_id: String,
    pub page_limit: u32,
    pub initial_lookback: Duration,
    pub overlap: Duration,
    /// How long after its budget a run's lease stays valid (a killed run's lease frees itself
    /// then).
    pub lease_grace: Duration,
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("could not compress a batch: {0}")]
    Encode(#[from] std::io::Error),
}

/// A run's summary, and the error that ended it if any. The summary is complete either way, so
/// metrics are emitted for failed runs too.
#[derive(Debug)]
pub struct RunReport {
    pub summary: RunSummary,
    pub error: Option<RunError>,
}

pub struct Collector {
    source: Arc<dyn EventSource>,
    checkpoints: Arc<dyn CheckpointStore>,
    sink: Arc<dyn ObjectSink>,
    normalizer: Normalizer,
    settings: CollectorSettings,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Time kept back at the end of a run to write the last batch and its checkpoint.
fn flush_reserve(budget: Duration) -> Duration {
    (budget / 5).clamp(Duration::from_millis(500), Duration::from_secs(30))
}

impl Collector {
    pub fn new(
        source: Arc<dyn EventSource>,
        checkpoints: Arc<dyn CheckpointStore>,
        sink: Arc<dyn ObjectSink>,
        normalizer: Normalizer,
        settings: CollectorSettings,
    ) -> Self {
        Collector {
            source,
            checkpoints,
            sink,
            normalizer,
            settings,
        }
    }

    /// One pass: reads until caught up or until `budget` is nearly spent.
    pub async fn run(&self, budget: Duration) -> RunReport {
        // A longer budget would write a lease other runs take for forged.
        let budget = budget.min(MAX_RUN_BUDGET);
        let started = Instant::now();
        let mut summary = RunSummary::new(&self.settings.source_id);
        let mut stats = SourceStats::default();
        let owner = uuid::Uuid::new_v4().to_string();
        let result = self
            .run_leased(&owner, started, budget, &mut summary, &mut stats)
            .await;
        summary.api_throttled = stats.throttled;
        summary.auth_failures = stats.auth_failures;
        summary.pages_fetched = stats.pages;
        summary.duration_ms = started.elapsed().as_millis() as u64;
        let error = match result {
            Ok(reason) => {
                summary.run_succeeded = true;
                summary.stop_reason = reason;
                None
            }
            Err(RunError::Checkpoint(CheckpointError::LeaseHeld { until_ms, .. })) => {
                tracing::warn!(
                    until_ms,
                    "another run holds the lease; leaving the source to it"
                );
                summary.run_succeeded = true;
                summary.stop_reason = StopReason::LeaseHeld;
                summary.lease_held = true;
                None
            }
            Err(e) => {
                summary.run_succeeded = false;
                summary.stop_reason = StopReason::Failed;
                summary.error = Some(e.to_string());
                Some(e)
            }
        };
        RunReport { summary, error }
    }

    async fn run_leased(
        &self,
        owner: &str,
        started: Instant,
        budget: Duration,
        summary: &mut RunSummary,
        stats: &mut SourceStats,
    ) -> Result<StopReason, RunError> {
        let source_id = self.settings.source_id.as_str();
        let lease = Lease {
            owner: owner.to_string(),
            until_ms: now_ms()
                + (budget + self.settings.lease_grace)
                    .min(LONGEST_LEASE)
                    .as_millis() as i64,
        };
        let generation = uuid::Uuid::new_v4().simple().to_string();
        let mut checkpoint = self
            .checkpoints
            .acquire(source_id, &lease, now_ms(), &generation)
            .await?;
        let outcome = self
            .work(owner, &mut checkpoint, started, budget, summary, stats)
            .await;
        summary.checkpoint_sequence = checkpoint.sequence;
        summary.resumes_with_cursor = checkpoint.cursor.is_some();
        if let Some(newest) = checkpoint.newest_processed_at_ms {
            summary.ingest_lag_seconds = Some(((now_ms() - newest) as f64 / 1000.0).max(0.0));
        }
        // Give the lease back even after an error, so the next run need not wait for it to expire.
        if let Err(e) = self.checkpoints.release(source_id, owner).await {
            tracing::warn!(error = %e, "could not release the lease; it expires by itself");
        }
        outcome
    }

    async fn work(
        &self,
        owner: &str,
        checkpoint: &mut Checkpoint,
        started: Instant,
        budget: Duration,
        summary: &mut RunSummary,
        stats: &mut SourceStats,
    ) -> Result<StopReason, RunError> {
        let source_id = self.settings.source_id.as_str();
        let deadline = started + budget;
        let fetch_deadline = deadline - flush_reserve(budget);
        let initial_from_ms = now_ms() - self.settings.initial_lookback.as_millis() as i64;
        // Cancelled when the run ends (below), or dropped with the run if it is cut off.
        let mut read_ahead: Option<ReadAhead> = None;

        let outcome: Result<StopReason, RunError> = async {
            loop {
                if Instant::now() >= fetch_deadline {
                    return Ok(StopReason::Budget);
                }
                let position = match &checkpoint.cursor {
                    Some(c) => StreamPosition::Cursor(c.clone()),
                    None => StreamPosition::From {
                        from_ms: checkpoint.window_start_ms.unwrap_or(initial_from_ms),
                    },
                };
                // A pending batch is redone with the event count it was cut at, but never more
                // than the API accepts: a page may hold more events than asked for, and asking for
                // that many would be refused on every later run. A redo that reads fewer events
                // overwrites the same keys with them and deletes the keys it no longer needs; the
                // rest come in the next batch.
                let limit = checkpoint
                    .pending
                    .as_ref()
                    .map(|p| p.event_count.clamp(1, MAX_PAGE_LIMIT))
                    .unwrap_or(self.settings.page_limit);
                let request = PageRequest {
                    position: position.clone(),
                    limit,
                };
                // The page read ahead while the previous one was written, if it is the one wanted.
                let fetched = match read_ahead.take() {
                    Some(ahead) if ahead.request() == &request => {
                        let (result, ahead_stats) = ahead.finish().await;
                        stats.add(&ahead_stats);
                        result
                    }
                    _ => {
                        self.source
                            .fetch_page(&request, fetch_deadline, stats)
                            .await
                    }
                };
                let page = match fetched {
                    Ok(page) => page,
                    Err(SourceError::InvalidCursor) if checkpoint.cursor.is_none() => {
                        // Refusing a cursor we did not send: retrying would only repeat it.
                        return Err(SourceError::Rejected {
                            status: 400,
                            code: " ADMIN-400-1".into(),
                            detail: "; the API called a request without a cursor an invalid cursor"
                                .into(),
                        }
                        .into());
                    }
                    Err(SourceError::InvalidCursor) => {
                        tracing::warn!(
                            "the API refused the stored cursor; resuming from the time checkpoint, repeats are dropped by id"
                        );
                        checkpoint.cursor = None;
                        continue;
                    }
                    Err(SourceError::RateLimited) => return Ok(StopReason::RateLimited),
                    Err(SourceError::BudgetSpent) => return Ok(StopReason::Budget),
                    Err(e) => return Err(e.into()),
                };
                // Never cut a page: the cursor points past all of it, so a cut would skip events.
                let page_len = page.events.len();
                let next = next_read(&position, page_len, page.next_cursor.as_deref());
                // Unless the API ended the stream, the next request is known now: start it.
                if let (false, Some(cursor)) = (next.stream_ended, &next.cursor) {
                    read_ahead = Some(ReadAhead::start(
                        self.source.clone(),
                        PageRequest {
                            position: StreamPosition::Cursor(cursor.clone()),
                            limit: self.settings.page_limit,
                        },
                        fetch_deadline,
                    ));
                }
                // Everything processed before the window start was written already; a read by time
                // asked for nothing before its `from`.
                let written_before_ms = match (&position, checkpoint.window_start_ms) {
                    (StreamPosition::From { from_ms }, _) => Some(*from_ms),
                    (StreamPosition::Cursor(_), window) => window,
                };
                let batch = build_batch_after(
                    &self.normalizer,
                    &page.events,
                    &checkpoint.recent,
                    written_before_ms,
                    chrono::Utc::now(),
                )?;
                drop(page.events);
                summary.duplicates_dropped += batch.duplicates;

                let previous_pending = checkpoint.pending.take();
                let hours: Vec<i64> = batch.hours.keys().copied().collect();
                if !batch.is_empty() {
                    // Write-ahead: record the batch (and any keys a previous attempt may have left)
                    // before its objects exist.
                    let mut all_hours: BTreeSet<i64> = hours.iter().copied().collect();
                    if let Some(p) = &previous_pending {
                        all_hours.extend(p.hours.iter().copied());
                    }
                    checkpoint.pending = Some(PendingBatch {
                        event_count: page_len as u32,
                        hours: all_hours.into_iter().collect(),
                        quarantine: batch.quarantine.is_some()
                            || previous_pending.as_ref().is_some_and(|p| p.quarantine),
                    });
                    self.checkpoints.save(source_id, owner, checkpoint).await?;
                    self.write_objects(checkpoint, &batch, summary).await?;
                }
                // Keys a previous attempt of this batch wrote that this attempt does not need.
                if let Some(p) = &previous_pending {
                    for hour in p.hours.iter().filter(|h| !hours.contains(h)) {
                        self.sink
                            .delete(&logs_key(
                                *hour,
                                &checkpoint.generation,
                                checkpoint.sequence,
                            ))
                            .await?;
                    }
                    if p.quarantine && batch.quarantine.is_none() {
                        self.sink
                            .delete(&quarantine_key(&checkpoint.generation, checkpoint.sequence))
                            .await?;
                    }
                }

                // Every object of the batch is durable: it is no longer pending.
                checkpoint.pending = None;
                let moved = self.advance(checkpoint, &batch, next.cursor, &position);
                if moved || previous_pending.is_some() {
                    if let Err(e) = self.checkpoints.save(source_id, owner, checkpoint).await {
                        // The write may have taken effect though its answer was lost. If it did, this
                        // run wrote the batch and no other run will count it: count it here.
                        if self.committed_by(owner, checkpoint).await {
                            summary.events_processed += batch.valid;
                            summary.quarantined_events += batch.quarantined;
                        }
                        return Err(e.into());
                    }
                }
                summary.events_processed += batch.valid;
                summary.quarantined_events += batch.quarantined;
                tracing::info!(
                    events = page_len,
                    written = batch.valid,
                    quarantined = batch.quarantined,
                    duplicates = batch.duplicates,
                    sequence = checkpoint.sequence,
                    "page done"
                );

                if next.stream_ended {
                    return Ok(StopReason::CaughtUp);
                }
            }
        }
        .await;
        // A page read ahead that the run no longer needs: stop it, but keep what it saw on the
        // wire, so a 429 or 401 it met still reaches the metrics.
        if let Some(unused) = read_ahead.take() {
            stats.add(&unused.cancel().await);
        }
        outcome
    }

    /// Whether the store holds `checkpoint` as this run left it, under this run's lease: read
    /// back after a write whose outcome is unknown.
    async fn committed_by(&self, owner: &str, checkpoint: &Checkpoint) -> bool {
        // The store that lost the answer may still be failing: a failed read-back is tried
        // again (each load already retries inside the SDK), else the batch goes uncounted.
        for attempt in 0..READ_BACK_ATTEMPTS {
            match self.checkpoints.load(&self.settings.source_id).await {
                Ok(Some(stored)) => {
                    return stored.lease.as_ref().is_some_and(|l| l.owner == owner)
                        && stored.checkpoint.generation == checkpoint.generation
                        && stored.checkpoint.sequence == checkpoint.sequence
                        && stored.checkpoint.pending.is_none()
                }
                Ok(None) => return false,
                Err(e) if attempt + 1 < READ_BACK_ATTEMPTS => {
                    tracing::debug!(error = %e, "reading the checkpoint back failed; trying again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the checkpoint back: the batch may go uncounted in EventsProcessed");
                }
            }
        }
        false
    }

    async fn write_objects(
        &self,
        checkpoint: &Checkpoint,
        batch: &Batch,
        summary: &mut RunSummary,
    ) -> Result<(), RunError> {
        let mut objects: Vec<(String, &EncodedObject)> = batch
            .hours
            .iter()
            .map(|(hour, object)| {
                (
                    logs_key(*hour, &checkpoint.generation, checkpoint.sequence),
                    object,
                )
            })
            .collect();
        if let Some(q) = &batch.quarantine {
            objects.push((
                quarantine_key(&checkpoint.generation, checkpoint.sequence),
                q,
            ));
        }
        // A page's objects (one per event hour, and the quarantine) are independent: write
        // them a few at a time. Unfinished writes are aborted if one fails (the batch is
        // pending, so the next run redoes it).
        for chunk in objects.chunks(MAX_CONCURRENT_PUTS) {
            let mut puts = tokio::task::JoinSet::new();
            for (key, object) in chunk {
                let (sink, key, object) = (self.sink.clone(), key.clone(), (*object).clone());
                puts.spawn(
                    async move { sink.put(&key, &object).await.map(|()| object.body.len()) },
                );
            }
            while let Some(joined) = puts.join_next().await {
                let bytes = match joined {
                    Ok(written) => written?,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => {
                        return Err(SinkError {
                            sink: self.sink.describe(),
                            action: "write",
                            key: "an object of the batch".into(),
                            reason: format!("the write was cancelled: {e}"),
                        }
                        .into())
                    }
                };
                summary.objects_written += 1;
                summary.bytes_written += bytes as u64;
            }
        }
        Ok(())
    }

    /// Moves the checkpoint past `batch`; returns whether anything changed.
    fn advance(
        &self,
        checkpoint: &mut Checkpoint,
        batch: &Batch,
        next_cursor: Option<String>,
        position: &StreamPosition,
    ) -> bool {
        let mut changed = false;
        if !batch.is_empty() {
            checkpoint.sequence += 1;
            checkpoint.events_written += batch.valid + batch.quarantined;
            changed = true;
        }
        if let Some(newest) = batch.newest_processed_at_ms {
            if checkpoint.newest_processed_at_ms.is_none_or(|n| newest > n) {
                checkpoint.newest_processed_at_ms = Some(newest);
                changed = true;
            }
        }
        if !batch.written.is_empty() {
            // Events without a processing time count as the newest known one for the window.
            let fallback = checkpoint.newest_processed_at_ms.unwrap_or_else(now_ms);
            for (key, processed_ms) in &batch.written {
                checkpoint
                    .recent
                    .insert(key, processed_ms.unwrap_or(fallback));
            }
        }
        if let Some(newest) = checkpoint.newest_processed_at_ms {
            let overlap_start = newest - self.settings.overlap.as_millis() as i64;
            let floor = match (checkpoint.window_start_ms, position) {
                (Some(w), _) => w,
                (None, StreamPosition::From { from_ms }) => *from_ms,
                (None, StreamPosition::Cursor(_)) => overlap_start,
            };
            let wanted = overlap_start.max(floor);
            let window = checkpoint.recent.trim(wanted, batch.written.len());
            if checkpoint.window_start_ms != Some(window) {
                checkpoint.window_start_ms = Some(window);
                changed = true;
            }
        }
        if checkpoint.cursor != next_cursor {
            checkpoint.cursor = next_cursor;
            changed = true;
        }
        changed
    }
}
