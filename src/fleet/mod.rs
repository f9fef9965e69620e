//! Many organizations in one deployment: the tasks the registry asks for (each enabled source's
//! live collection, and its backfill while one runs), each run exactly as a single-source run
//! (its own credentials, lease, checkpoint, high-water mark, budget and metrics), several at
//! once. A task that fails or hangs costs only its own run: the others neither stop nor wait.
mod admin;
mod outcome;
mod secrets;

pub use admin::{add_source, status_of, AdminError, CheckpointStatus, SourceStatus};
pub use outcome::TaskOutcome;
pub use secrets::{SecretsManagerSecrets, SourceSecrets, StaticSecrets};

use crate::collector::{RunSummary, StopReason};
use crate::config::Config;
use crate::credentials::key_days_left;
use crate::registry::{LastRun, RegisteredSource, SourceRegistry, Task};
use crate::setup::{Aws, Backends};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Tasks run at once by `run --all-sources` unless told otherwise: enough to hide one
/// organization's API latency behind the others', few enough for a small machine.
pub const DEFAULT_CONCURRENCY: usize = 4;
pub const MAX_CONCURRENCY: usize = 64;

/// The tasks of a source: none when disabled; its live collection, and its backfill while
/// one is unfinished.
pub fn tasks_of(source: &RegisteredSource) -> Vec<Task> {
    if !source.enabled {
        return Vec::new();
    }
    let mut tasks = vec![Task::live_of(source)];
    tasks.extend(source.running_backfill().map(Task::backfill_of));
    tasks
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs one task of `source` within `budget`, its credentials from the secret the registry
/// names, then tells the registry how it went (the live run's end; the backfill's end once it
/// has read everything it covers).
pub async fn run_task(
    base: &Config,
    aws: &Aws,
    registry: &dyn SourceRegistry,
    source: &RegisteredSource,
    task: Task,
    budget: Duration,
) -> TaskOutcome {
    run_task_with(
        base,
        aws,
        registry,
        &SecretsManagerSecrets,
        source,
        task,
        budget,
    )
    .await
}

/// [`run_task`], the source's credentials from `secrets`.
pub async fn run_task_with(
    base: &Config,
    aws: &Aws,
    registry: &dyn SourceRegistry,
    secrets: &dyn SourceSecrets,
    source: &RegisteredSource,
    task: Task,
    budget: Duration,
) -> TaskOutcome {
    let span = tracing::info_span!("source", source_id = %source.source_id, task = ?task.kind());
    let outcome = match secrets.credentials_of(source) {
        Ok(credentials) => {
            let config = base.for_source_with(source, task.clone(), credentials);
            run_configured(&config, aws, source, &task, budget)
                .instrument(span)
                .await
        }
        Err(e) => failed(source, &task, e),
    };
    record(registry, source, &task, &outcome).await;
    outcome
}

async fn run_configured(
    config: &Config,
    aws: &Aws,
    source: &RegisteredSource,
    task: &Task,
    budget: Duration,
) -> TaskOutcome {
    let backends = match Backends::from_config(config, aws).await {
        Ok(b) => b,
        Err(e) => return failed(source, task, e.to_string()),
    };
    let collector = match backends.collector(config).await {
        Ok(c) => c,
        Err(e) => return failed(source, task, e.to_string()),
    };
    let report = collector.run(budget).await;
    let days_left = key_days_left(backends.credentials.as_ref(), chrono::Utc::now()).await;
    TaskOutcome::new(source, task.clone(), report.summary, days_left)
}

/// A task that could not start: its setup's error, as a failed run.
fn failed(source: &RegisteredSource, task: &Task, error: String) -> TaskOutcome {
    let mut summary = RunSummary::new(task.checkpoint_id(&source.source_id));
    summary.error = Some(error);
    TaskOutcome::new(source, task.clone(), summary, None)
}

/// Best effort: the registry's note of a run is for `sources list`, never a reason to fail it.
async fn record(
    registry: &dyn SourceRegistry,
    source: &RegisteredSource,
    task: &Task,
    outcome: &TaskOutcome,
) {
    let id = &source.source_id;
    let result = match task {
        Task::Live { .. } => {
            let run = LastRun {
                ended_ms: now_ms(),
                succeeded: outcome.succeeded(),
                error: outcome.summary.error.clone(),
            };
            registry.record_run(id, &run).await
        }
        Task::Backfill { from_ms, .. } => {
            let done = outcome.succeeded() && outcome.summary.stop_reason == StopReason::CaughtUp;
            if !done {
                return;
            }
            tracing::info!(source_id = %id, "backfill finished: every event it covers is written");
            registry.finish_backfill(id, *from_ms, now_ms()).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(source_id = %id, error = %e, "could not note the run in the registry");
    }
}

/// Every task of every enabled source in `sources`, at most `concurrency` at once, each with
/// `budget` from its own start. The outcomes come back in source order, live before backfill.
pub async fn run_all(
    base: Arc<Config>,
    aws: Arc<Aws>,
    registry: Arc<dyn SourceRegistry>,
    secrets: Arc<dyn SourceSecrets>,
    sources: Vec<RegisteredSource>,
    concurrency: usize,
    budget: Duration,
) -> Vec<TaskOutcome> {
    let permits = Arc::new(Semaphore::new(concurrency.clamp(1, MAX_CONCURRENCY)));
    let mut runs = JoinSet::new();
    let mut order = 0usize;
    for source in sources {
        for task in tasks_of(&source) {
            let (base, aws, registry) = (base.clone(), aws.clone(), registry.clone());
            let (source, permits, secrets) = (source.clone(), permits.clone(), secrets.clone());
            runs.spawn(async move {
                // The semaphore is never closed, so a permit always comes.
                let _permit = permits.acquire_owned().await.ok();
                let outcome = run_task_with(
                    &base,
                    &aws,
                    registry.as_ref(),
                    secrets.as_ref(),
                    &source,
                    task,
                    budget,
                )
                .await;
                (order, outcome)
            });
            order += 1;
        }
    }
    let mut outcomes = Vec::with_capacity(order);
    while let Some(joined) = runs.join_next().await {
        match joined {
            Ok(done) => outcomes.push(done),
            // A panicking task is a bug; the others' outcomes still count.
            Err(e) => tracing::error!(error = %e, "a source's run panicked"),
        }
    }
    outcomes.sort_by_key(|(order, _)| *order);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

#[cfg(test)]
mod tests;
