//! What `sources add` and `sources list` do beyond the registry itself: a source is registered
//! only once its secret reads as a usable key for an organization, and a listing joins each
//! source with where its checkpoints stand.
use crate::checkpoint::{CheckpointError, CheckpointStore, StoredCheckpoint};
use crate::credentials::{CredentialError, CredentialProvider};
use crate::registry::{RegisteredSource, RegistryError, SourceRegistry, Task};
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AdminError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}; the source was not added")]
    Secret(#[from] CredentialError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("source {0:?} has a checkpoint already (it was removed earlier, or a single-org deployment collects under this id): its archive and checkpoint are kept, and adding it again would collect some events twice; pick another id")]
    CheckpointExists(String),
}

/// Registers `source` after reading its secret (the key is checked for shape, never shown);
/// the organization's id, as the secret names it.
pub async fn add_source(
    registry: &dyn SourceRegistry,
    checkpoints: &dyn CheckpointStore,
    secret: &dyn CredentialProvider,
    source: &RegisteredSource,
) -> Result<String, AdminError> {
    if registry.get(&source.source_id).await?.is_some() {
        return Err(RegistryError::Exists(source.source_id.clone()).into());
    }
    let credentials = secret.get().await?;
    if checkpoints.load(&source.source_id).await?.is_some() {
        return Err(AdminError::CheckpointExists(source.source_id.clone()));
    }
    registry.add(source).await?;
    Ok(credentials.org_id)
}

/// One source as `sources list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    #[serde(flatten)]
    pub source: RegisteredSource,
    pub checkpoint: Option<CheckpointStatus>,
    /// Now minus the newest processedAt written by live collection.
    pub lag_seconds: Option<f64>,
    pub backfill_state: Option<&'static str>,
    pub backfill_percent: Option<f64>,
    pub backfill_checkpoint: Option<CheckpointStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckpointStatus {
    pub sequence: u64,
    pub events_written: u64,
    pub newest_processed_at_ms: Option<i64>,
    pub resumes_with_cursor: bool,
    pub batch_pending: bool,
    pub lease_until_ms: Option<i64>,
}

impl CheckpointStatus {
    fn of(stored: &StoredCheckpoint) -> Self {
        let c = &stored.checkpoint;
        CheckpointStatus {
            sequence: c.sequence,
            events_written: c.events_written,
            newest_processed_at_ms: c.newest_processed_at_ms,
            resumes_with_cursor: c.cursor.is_some(),
            batch_pending: c.pending.is_some(),
            lease_until_ms: stored.lease.as_ref().map(|l| l.until_ms),
        }
    }
}

/// Where `source`'s live collection and backfill stand, at `now_ms`.
pub async fn status_of(
    checkpoints: &dyn CheckpointStore,
    source: RegisteredSource,
    now_ms: i64,
) -> Result<SourceStatus, CheckpointError> {
    let live = checkpoints.load(&source.source_id).await?;
    let checkpoint = live.as_ref().map(CheckpointStatus::of);
    let lag_seconds = checkpoint
        .as_ref()
        .and_then(|c| c.newest_processed_at_ms)
        .map(|newest| ((now_ms - newest) as f64 / 1000.0).max(0.0));
    let (mut backfill_state, mut backfill_percent, mut backfill_checkpoint) = (None, None, None);
    if let Some(b) = &source.backfill {
        let id = Task::backfill_of(b).checkpoint_id(&source.source_id);
        let stored = checkpoints.load(&id).await?;
        let status = stored.as_ref().map(CheckpointStatus::of);
        backfill_percent =
            Some(b.percent_done(status.as_ref().and_then(|s| s.newest_processed_at_ms)));
        backfill_state = Some(match (b.finished_ms, &status) {
            (Some(_), _) => "finished",
            (None, Some(_)) => "running",
            (None, None) => "waiting for its first run",
        });
        backfill_checkpoint = status;
    }
    Ok(SourceStatus {
        source,
        checkpoint,
        lag_seconds,
        backfill_state,
        backfill_percent,
        backfill_checkpoint,
    })
}
