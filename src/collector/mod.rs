//! The pipeline: lease → read pages from the checkpoint's position → normalize → write objects →
//! advance the checkpoint. It knows the source, the checkpoint store and the sink only by their
//! traits; the Lambda and the CLI wire in the real ones.
//!
//! Exactly once, by construction:
//! - one run at a time per source: a lease in the checkpoint record, taken and checked with
//!   conditional writes;
//! - a batch is as many pages as fit under its bounds ([`BatchBounds`]), or as are read before
//!   the stream ends, the fetch deadline passes or a fetch fails; it becomes at most one object
//!   per event hour, plus one quarantine object. Before its objects are written the checkpoint
//!   records it as pending (where it started, its event count over all its pages, its object
//!   hours), the objects get keys derived from the batch's sequence number and event hour
//!   only, and the checkpoint moves past the batch only after every object is durable. A run
//!   that finds a pending batch reads it again (same position, same count, page after page),
//!   overwrites the same keys and deletes keys the redo no longer needs;
//! - writes are fenced ([`Fence`]): a run makes no side effect once its lease may have ended,
//!   and one still in flight then is dropped, so a run held up past its lease cannot overwrite
//!   what the run that took over has written;
//! - ids written recently are kept in the checkpoint, so events the API serves twice (overlap
//!   after a lost cursor, repeats across pages) are dropped.
//! - late events (an event-hour more than 2 hours before the batch's newest so far) of a batch
//!   that more follow go into one staging object of the batch, listed in the checkpoint at its
//!   commit; the run's last batch reads them back and carries them into its own hour objects
//!   (`batch::late`), so an old hour gets one object per run, not one per batch.
//!
//! While a page is normalized, the next page is already being fetched; while a batch is written
//! and checkpointed, the next batch is read (fetched, normalized and compressed in memory) and
//! recorded as pending only once the batch before it is committed ([`pass`]). A read changes
//! nothing, so a crash only discards it: the run's wall time stays close to the time it takes to
//! download the pages. A batch redone more than once reads half of what its last attempt read,
//! so a batch whose writes keep failing shrinks until one attempt gets through.
mod batch;
mod detection;
mod next_read;
mod pass;
mod read_ahead;
mod summary;
#[cfg(test)]
mod tests;

pub use crate::checkpoint::LeaseEnding;
pub use crate::registry::ProcessedWindow;
pub use batch::{
    build_batch, build_batch_after, Batch, BatchBounds, BatchBuilder, MAX_COMPRESSED_BYTES,
};
pub use detection::{ApiKeySeal, DetectCounts, DetectStage, SealKeys, MAX_ANNOUNCE_ATTEMPTS};
use pass::Pass;
pub use summary::{OcsfOutcome, RunSummary, StopReason};

use crate::checkpoint::{
    AcquireRequest, CheckpointError, CheckpointStore, Fence, Lease, LONGEST_LEASE, MAX_RUN_BUDGET,
};
use crate::normalize::Normalizer;
use crate::notify::NotifyError;
use crate::ocsf::Derivation;
use crate::sink::{ObjectSink, SinkError};
use crate::source::{EventSource, SourceError, WireCounters};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;
use tracing::Instrument;

/// How far before the newest written event a run without a cursor starts reading again.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(5 * 60);
/// Reads of the checkpoint after a commit whose answer was lost.
const READ_BACK_ATTEMPTS: u32 = 3;
/// A killed run's lease frees itself this long after the run's budget ends (the lease's own).
pub use crate::checkpoint::LEASE_GRACE;

#[derive(Debug, Clone)]
pub struct CollectorSettings {
    pub source_id: String,
    pub page_limit: u32,
    pub initial_lookback: Duration,
    pub overlap: Duration,
    /// Where a batch stops taking pages.
    pub batch_bounds: BatchBounds,
    /// How long after its budget a run's lease stays valid (a killed run's lease frees itself
    /// then).
    pub lease_grace: Duration,
    /// The events this task keeps ([`ProcessedWindow::ALL`] but for a registered source).
    pub window: ProcessedWindow,
    /// Where the first read (no checkpoint position yet) starts; `None`: `initial_lookback`
    /// before now.
    pub first_from_ms: Option<i64>,
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
    #[error(transparent)]
    LeaseEnding(#[from] LeaseEnding),
    #[error("could not read the key that seals the detection state ({0}); nothing was written, the next run tries again")]
    SealKey(crate::credentials::CredentialError),
    #[error(
        "{0}; the batch stays pending and the next run announces its alerts again (same alert ids)"
    )]
    Notify(#[from] NotifyError),
    #[error(
        "the staging object {key} is missing, though the checkpoint lists it: its late events are committed but not yet in logs/. \
         Someone deleted it: remove the delete marker (Object Lock kept its version; docs/operations.md, \"Errors that need you\") \
         and the next run carries it into logs/. Until then every run stops at the batch that carries"
    )]
    StagingMissing { key: String },
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
    detection: DetectStage,
    /// The OCSF copy, derived after the run's commits (off: `None`).
    ocsf: Option<Derivation>,
}

/// The OCSF copy of every batch committed so far (the checkpoint's `sequence` is the next
/// one's), starting none past the run's budget: the archive is done, and a failure here is
/// logged, counted and taken up by the next run.
async fn derive_ocsf(
    derivation: &Derivation,
    generation: &str,
    committed: u64,
    deadline: Instant,
) -> OcsfOutcome {
    match derivation
        .derive_committed(generation, committed, Some(deadline))
        .await
    {
        Ok(derived) => OcsfOutcome {
            derived,
            error: None,
        },
        Err(e) => {
            tracing::warn!(error = %e, "the OCSF copy is behind; the next run goes on with it");
            OcsfOutcome {
                derived: Default::default(),
                error: Some(e.to_string()),
            }
        }
    }
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
            detection: DetectStage::builtin(),
            ocsf: None,
        }
    }

    /// Derives the OCSF copy of each committed batch after the run ([`crate::ocsf`]).
    pub fn with_ocsf(mut self, derivation: Derivation) -> Self {
        self.ocsf = Some(derivation);
        self
    }

    /// The rules this collector applies to each batch, and where it announces their alerts.
    pub fn with_detection(mut self, detection: DetectStage) -> Self {
        self.detection = detection;
        self
    }

    /// One pass: reads until caught up or until `budget` is nearly spent. Every log line of
    /// the pass is in one span, `run`, with the source id and the run's id (its lease owner).
    pub async fn run(&self, budget: Duration) -> RunReport {
        let run_id = uuid::Uuid::new_v4().to_string();
        let span =
            tracing::info_span!("run", source_id = %self.settings.source_id, run_id = %run_id);
        // A longer budget would write a lease other runs take for forged.
        self.run_as(run_id, budget.min(MAX_RUN_BUDGET))
            .instrument(span)
            .await
    }

    async fn run_as(&self, owner: String, budget: Duration) -> RunReport {
        let started = Instant::now();
        let mut summary = RunSummary::new(&self.settings.source_id);
        let wire = Arc::new(WireCounters::default());
        let mut committed = None;
        let result = self
            .run_leased(
                owner,
                started,
                budget,
                &mut summary,
                wire.clone(),
                &mut committed,
            )
            .await;
        if let (Some(derivation), Some((generation, sequence))) = (&self.ocsf, committed) {
            summary.ocsf =
                Some(derive_ocsf(derivation, &generation, sequence, started + budget).await);
        }
        let on_wire = wire.read();
        summary.api_throttled = on_wire.throttled;
        summary.auth_failures = on_wire.auth_failures;
        summary.pages_fetched = on_wire.pages;
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
                summary.checkpoint_went_backwards =
                    matches!(e, RunError::Checkpoint(CheckpointError::WentBackwards(_)));
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
        owner: String,
        started: Instant,
        budget: Duration,
        summary: &mut RunSummary,
        wire: Arc<WireCounters>,
        committed: &mut Option<(String, u64)>,
    ) -> Result<StopReason, RunError> {
        let source_id = self.settings.source_id.as_str();
        let lease_span = (budget + self.settings.lease_grace).min(LONGEST_LEASE);
        // Taken before the wall clock is read, so the fence falls no later than the lease.
        let fence = Fence::new(Instant::now(), lease_span);
        let lease = Lease {
            owner: owner.clone(),
            until_ms: now_ms() + lease_span.as_millis() as i64,
        };
        let generation = uuid::Uuid::new_v4().simple().to_string();
        let checkpoint = self
            .checkpoints
            .acquire(AcquireRequest {
                source_id,
                lease: &lease,
                fence,
                now_ms: now_ms(),
                new_generation: &generation,
            })
            .await?;
        let fetch_deadline = started + budget - flush_reserve(budget);
        let mut pass = Pass::new(
            self,
            owner.clone(),
            checkpoint,
            fetch_deadline,
            fence,
            summary,
            wire,
        );
        let outcome = match pass.check_detect_state().await {
            Ok(()) => {
                let (outcome, checkpoint, committed_sequence) = pass.work().await;
                *committed = Some((checkpoint.generation.clone(), committed_sequence));
                summary.checkpoint_sequence = checkpoint.sequence;
                summary.resumes_with_cursor = checkpoint.cursor.is_some();
                summary.newest_processed_at_ms = checkpoint.newest_processed_at_ms;
                if let Some(newest) = checkpoint.newest_processed_at_ms {
                    summary.ingest_lag_seconds =
                        Some(((now_ms() - newest) as f64 / 1000.0).max(0.0));
                }
                outcome
            }
            Err(e) => Err(e),
        };
        // Give the lease back even after an error, so the next run need not wait for it to expire.
        if let Err(e) = self.checkpoints.release(source_id, &owner).await {
            tracing::warn!(error = %e, "could not release the lease; it expires by itself");
        }
        outcome
    }
}
