//! Where a source stopped, and who may move it: the checkpoint and the lease that guards it.
mod dynamodb;
mod fence;
mod file;
pub mod high_water;
mod lease;
mod memory;
mod monotonic;
mod transitions;
mod recent;

pub use dynamodb::DynamoDbCheckpointStore;
pub use fence::{Fence, LeaseEnding};
pub use file::FileCheckpointStore;
pub use high_water::{
    HighWaterError, HighWaterMarks, LocalDirHighWaterMarks, Mark, MemoryHighWaterMarks, Raised,
    Replaced, S3HighWaterMarks, StoredMark,
};
pub use lease::{Lease, LEASE_GRACE, LONGEST_LEASE, MAX_RUN_BUDGET};
pub use memory::MemoryCheckpointStore;
pub use monotonic::MonotonicCheckpoints;
pub use recent::{key_hash, RecentEvents, MAX_RECENT_EVENTS};
pub use transitions::{carried_count, next_batch_cap, redo_limit, BatchObjects, BatchWritten};

use crate::detect::DetectState;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The state of one source between batches.
///
/// `sequence` numbers the batches; object keys are derived from (`generation`, `sequence`), so a
/// batch redone after a crash overwrites its own objects instead of adding new ones. A batch
/// spans pages. `pending` is written before a batch's objects and cleared when the batch is
/// committed: a run that finds it set redoes that batch from the same position with the same
/// event count, then removes objects the redo no longer needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Random, fixed when the record is created: a recreated table never reuses object names.
    pub generation: String,
    pub sequence: u64,
    pub cursor: Option<String>,
    /// Every event written with processedAt at or after this is in `recent`: the safe place to
    /// resume from when there is no cursor.
    pub window_start_ms: Option<i64>,
    pub newest_processed_at_ms: Option<i64>,
    #[serde(with = "recent::as_base64")]
    pub recent: RecentEvents,
    pub pending: Option<PendingBatch>,
    pub events_written: u64,
    /// What detection remembers between batches (matches counting toward thresholds, alerts
    /// still open to dedup), committed with the batch whose events it has seen.
    #[serde(default, skip_serializing_if = "DetectState::is_empty")]
    pub detect: DetectState,
    /// Events the next fresh batch may read, after a batch got through only once shrunk (its
    /// writes kept failing): each batch committed since doubles it, and it is dropped once back
    /// at the configured bound ([`next_batch_cap`]). On a bad day small batches keep getting
    /// through instead of each fresh batch failing at full size and shrinking again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_cap: Option<u32>,
    /// Times a run has taken the lease, counted by the store as it grants it (never by a save):
    /// the runs that tried a pending batch since it was recorded, including those that died or
    /// failed before they could write anything ([`PendingBatch::redo_count`]).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub lease_takes: u64,
    /// Committed batches whose late events (event-hours well before the batch's newest) wait
    /// in their staging object (`sink::staging_key`), oldest first, until a later batch
    /// carries them into its hour objects ([`carried_count`]): a run writes its late hours once,
    /// not once per batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub staged: Vec<StagedLate>,
}

/// One committed batch's staging object: its sequence (its key), and its events and bytes
/// (what carrying it costs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedLate {
    pub sequence: u64,
    pub events: u64,
    pub bytes: u64,
}

impl Checkpoint {
    pub fn new(generation: String) -> Self {
        Checkpoint {
            generation,
            sequence: 0,
            cursor: None,
            window_start_ms: None,
            newest_processed_at_ms: None,
            recent: RecentEvents::default(),
            pending: None,
            events_written: 0,
            detect: DetectState::default(),
            batch_cap: None,
            lease_takes: 0,
            staged: Vec::new(),
        }
    }
}

/// A batch whose objects may be partly written: what a redo needs to read the same events (the
/// number of events it was cut at, over all its pages, and where it started when that was a
/// read by time; a read by cursor starts at the checkpoint's cursor), and the objects it was
/// going to write (hours of event time, and whether a quarantine object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingBatch {
    pub event_count: u32,
    /// The `from` of a batch that started with a read by time (a first run, or no cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<i64>,
    pub hours: Vec<i64>,
    pub quarantine: bool,
    /// Whether the batch (an attempt of it) writes a staging object of its late events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub staging: bool,
    /// Hours of the batch's alert objects (none before detection ran in the pipeline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_hours: Vec<i64>,
    /// Attempts of this batch whose announcement failed: past
    /// `collector::MAX_ANNOUNCE_ATTEMPTS` the batch is committed with its alerts archived and
    /// counted as undelivered, so a channel that keeps refusing cannot stop the archive.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub announce_failures: u32,
    /// Times this batch has been redone: after a redo that did not commit either, the next
    /// reads half as many events ([`PendingBatch::redo_count`]), so a batch whose writes keep
    /// failing shrinks until some attempt gets through.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redos: u32,
    /// The checkpoint's `lease_takes` when this record was written: every run that took the
    /// lease since, and did not commit, halves the redo again, whether or not it got as far as
    /// writing (none in a record written before lease takes were counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_lease_take: Option<u64>,
    /// Whether the batch's alerts hold the summary of matches past its cap of new alerts: the
    /// summary's id depends on exactly which events the batch holds, and an attempt may have
    /// announced it before failing to commit, so runs that failed since do not shrink it
    /// ([`PendingBatch::runs_failed_since`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_cap_summary: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// A checkpoint as stored, with the lease on it, for status displays and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub checkpoint: Checkpoint,
    pub lease: Option<Lease>,
}

/// A checkpoint found behind the source's high-water mark: what the table says, and what the
/// mark says it reached.
#[derive(Debug, Error)]
#[error(
    "the checkpoint for source {source_id} in {store} went backwards: it now says generation \
     {found_generation}, batch sequence {found_sequence}, but the collector's high-water mark \
     ({mark}) says it reached generation {known_generation}, sequence {known_sequence}. \
     Someone rewrote, replaced or deleted the record, and writing under it could put new \
     versions over archived objects, so this run writes nothing. Find who changed the table \
     (CloudTrail's DynamoDB data events) and put the record back (point-in-time recovery), \
     or, if you reset it on purpose, delete the mark (the function's role cannot): the next \
     run takes the table as it is and writes a new mark"
)]
pub struct WentBackwards {
    pub source_id: String,
    pub store: String,
    pub mark: String,
    pub known_generation: String,
    pub known_sequence: u64,
    pub found_generation: String,
    pub found_sequence: u64,
}

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("another run holds the lease on source {source_id} until {until_ms} (epoch ms); this run leaves the source to it")]
    LeaseHeld { source_id: String, until_ms: i64 },
    #[error("this run's lease on source {source_id} was taken over by another run; it stops without moving the checkpoint")]
    LeaseLost { source_id: String },
    /// Boxed: the details are large and the error is rare.
    #[error(transparent)]
    WentBackwards(Box<WentBackwards>),
    #[error("the checkpoint store {store} failed: {reason}")]
    Backend { store: String, reason: String },
    #[error(transparent)]
    HighWater(#[from] high_water::HighWaterError),
    #[error("the checkpoint for source {source_id} in {store} is unreadable: {reason}; fix or delete that record (deleting it restarts from INITIAL_LOOKBACK)")]
    Corrupt {
        source_id: String,
        store: String,
        reason: String,
    },
}

/// What a run asks of [`CheckpointStore::acquire`]; one struct, so that every store and wrapper
/// names the request once rather than restating five parameters.
#[derive(Debug, Clone, Copy)]
pub struct AcquireRequest<'a> {
    pub source_id: &'a str,
    /// The lease to take: its owner (the run) and its end.
    pub lease: &'a Lease,
    /// Where the run's writes stop ([`Fence`]: the lease's end less a margin, on the monotonic
    /// clock): anything a store writes for the run besides the record itself (the high-water
    /// mark), up to and including [`CheckpointStore::release`], it writes only before the fence.
    pub fence: Fence,
    /// The wall clock, against which the current lease is judged.
    pub now_ms: i64,
    /// The generation of a record created now.
    pub new_generation: &'a str,
}

/// What a checkpoint store's calls return (the error type defaults to its own).
pub type Result<T, E = CheckpointError> = std::result::Result<T, E>;

#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Takes the lease on the request's source when [`Lease::may_take`] allows it (free,
    /// expired, ours, or expiring further ahead than any run may hold one), creating the record
    /// (with `new_generation`) if there is none; returns the checkpoint.
    async fn acquire(&self, request: AcquireRequest<'_>) -> Result<Checkpoint>;

    /// Stores `checkpoint`, only while `owner` still holds the lease.
    async fn save(&self, source_id: &str, owner: &str, checkpoint: &Checkpoint) -> Result<()>;

    /// Gives the lease up, if `owner` still holds it.
    async fn release(&self, source_id: &str, owner: &str) -> Result<()>;

    async fn load(&self, source_id: &str) -> Result<Option<StoredCheckpoint>>;

    /// For messages: `dynamodb://table` or the file path.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch left pending by a version whose batches were one page (no `from_ms`) is redone
    /// as it was: from the checkpoint's position.
    #[test]
    fn a_pending_batch_written_before_batches_spanned_pages_still_reads() {
        let old: PendingBatch =
            serde_json::from_str(r#"{"event_count":40,"hours":[3600],"quarantine":false}"#)
                .expect("the old record");
        assert_eq!(
            old,
            PendingBatch {
                event_count: 40,
                from_ms: None,
                hours: vec![3600],
                quarantine: false,
                staging: false,
                alert_hours: vec![],
                announce_failures: 0,
                redos: 0,
                at_lease_take: None,
                over_cap_summary: false,
            }
        );
    }
}
