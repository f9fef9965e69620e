//! The OCSF copy, derived from the archive after the fact. The unit is one committed archive
//! batch (generation, sequence): its objects under `logs/` never change once the checkpoint has
//! moved past it (a redo only ever rewrites a batch still pending), so its OCSF objects are a
//! function of it alone, under keys derived from it. Deriving a batch once, twice, or
//! concurrently writes the same keys with the same bytes: every archived event is in the OCSF
//! copy exactly once, whatever crashed when. The ledger only says where to go on from.
//!
//! The archive never waits for this: it runs after the run's last commit, its failure is
//! counted and logged, and the next run takes it up where the ledger says.
mod batch;
mod ledger;

pub use ledger::Ledger;

use crate::ocsf::layout::{logs_prefix, parse_logs_key, ArchiveObject, Partition, SourceFolders};
use crate::ocsf::parquet::ParquetError;
use crate::ocsf::store::{BlobStore, StoreError};
use crate::sink::generation_tag;
use batch::{derive_batch, BatchInput};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;
use tokio::time::Instant;

#[derive(Debug, Error)]
pub enum DeriveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    #[error("the archive object {0} was listed and is gone (only a committed batch is derived, and those are never deleted)")]
    ArchiveObjectMissing(String),
    #[error("the archive object {key} is not gzip text: {reason}")]
    ArchiveObjectUnreadable { key: String, reason: String },
    #[error("could not compress the OCSF quarantine: {0}")]
    Encode(std::io::Error),
}

/// What a derivation wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeriveReport {
    pub batches: u64,
    /// Archive lines read (mapped or quarantined).
    pub events: u64,
    pub objects: u64,
    pub bytes: u64,
    pub quarantined: u64,
}

impl DeriveReport {
    fn add(&mut self, other: DeriveReport) {
        self.batches += other.batches;
        self.events += other.events;
        self.objects += other.objects;
        self.bytes += other.bytes;
        self.quarantined += other.quarantined;
    }
}

/// Where the archive is read and the OCSF copy written.
#[derive(Clone)]
pub struct Derivation {
    /// The archive's root (`logs/` under it).
    pub archive: Arc<dyn BlobStore>,
    /// Where `ext/` goes: the Security Lake bucket, or the stack's own.
    pub lake: Arc<dyn BlobStore>,
    /// The ledger and the OCSF quarantine: beside the archive.
    pub state: Arc<dyn BlobStore>,
    /// Each class's folder under `lake` (`ext/<source name>/` by default).
    pub folders: SourceFolders,
    pub partition: Partition,
}

impl Derivation {
    /// Derives every batch of `generation` below `committed` (the checkpoint's next sequence)
    /// that the ledger does not count yet, in order, starting none past `deadline`.
    pub async fn derive_committed(
        &self,
        generation: &str,
        committed: u64,
        deadline: Option<Instant>,
    ) -> Result<DeriveReport, DeriveError> {
        let mut ledger = ledger::load(self.state.as_ref(), generation).await?;
        let mut report = DeriveReport::default();
        if ledger.derived_through >= committed {
            return Ok(report);
        }
        let mut batches = self
            .archive_batches(generation, ledger.derived_through..committed)
            .await?;
        for sequence in ledger.derived_through..committed {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let input = BatchInput {
                generation,
                sequence,
                objects: batches.remove(&sequence).unwrap_or_default(),
            };
            let done = derive_batch(
                self.archive.as_ref(),
                self.lake.as_ref(),
                self.state.as_ref(),
                &self.folders,
                &self.partition,
                input,
            )
            .await?;
            report.add(done);
            ledger.derived_through = sequence + 1;
            ledger::save(self.state.as_ref(), generation, ledger).await?;
        }
        Ok(report)
    }

    /// The archive objects of `generation`'s batches in `range`, by sequence.
    async fn archive_batches(
        &self,
        generation: &str,
        range: std::ops::Range<u64>,
    ) -> Result<BTreeMap<u64, Vec<ArchiveObject>>, DeriveError> {
        let tag = generation_tag(generation);
        let mut batches: BTreeMap<u64, Vec<ArchiveObject>> = BTreeMap::new();
        for key in self.archive.list(&logs_prefix()).await? {
            if let Some(object) = parse_logs_key(&key) {
                if object.generation_tag == tag && range.contains(&object.sequence) {
                    batches.entry(object.sequence).or_default().push(object);
                }
            }
        }
        Ok(batches)
    }
}

#[cfg(test)]
mod tests;
