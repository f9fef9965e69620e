//! Registry mode on AWS: the scheduled dispatcher reads the registry and queues one message per
//! task of every enabled source; the collector function takes them one at a time from the queue
//! (an SQS event source mapping), so a stuck or failing source costs only its own invocation.
//! A message says which source and which of its tasks; everything else (the secret, the
//! windows) is read from the registry when the message is taken, so a message that waited in the
//! queue never runs a task the registry no longer asks for. Sending a message twice is harmless:
//! each task holds a lease on its checkpoint record, and a second run of it finds the work done.
pub mod memory;
mod sqs;

pub use memory::{Fault, MemoryQueue};
pub use sqs::SqsQueue;

use crate::fleet::tasks_of;
use crate::registry::{SourceRegistry, TaskKind};
use async_trait::async_trait;
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use thiserror::Error;

/// SendMessageBatch takes at most ten entries.
pub const MAX_BATCH: usize = 10;
/// Attempts per entry (the first included) before it is reported as not sent.
pub const SEND_ATTEMPTS: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Batches sent at once, so a large registry's calls overlap their round trips. (Against moto,
/// which answers one request at a time, 1,000 sources take about 10 s either way.)
pub const BATCHES_IN_FLIGHT: usize = 8;

/// One task of one source, as queued: `{"source_id": "…", "task": "live"|"backfill"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskMessage {
    pub source_id: String,
    pub task: TaskKind,
}

impl TaskMessage {
    pub fn to_body(&self) -> String {
        // Two strings and an enum: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_body(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

/// One message of a batch; `id` is unique within the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: String,
    pub body: String,
}

/// An entry of a batch the queue did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Error)]
pub enum QueueError {
    #[error("could not send to {queue}: {reason}")]
    Backend { queue: String, reason: String },
}

/// Where the dispatcher's messages go.
#[async_trait]
pub trait TaskQueue: Send + Sync {
    /// Sends up to [`MAX_BATCH`] entries at once; the entries the queue refused come back (an
    /// `Err` means none was taken).
    async fn send_batch(&self, entries: &[QueueEntry]) -> Result<Vec<RejectedEntry>, QueueError>;
    /// Where the queue is, for messages.
    fn describe(&self) -> String;
}

#[derive(Debug, Error)]
pub enum DispatchError {
    #[error("could not read the sources registry: {0}")]
    Registry(#[from] crate::registry::RegistryError),
}

/// A message that could not be queued, with the last reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsent {
    pub source_id: String,
    pub task: TaskKind,
    pub reason: String,
}

/// What one dispatch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    /// Sources in the registry.
    pub sources: usize,
    /// Of which disabled (no message).
    pub disabled: usize,
    /// Messages queued.
    pub sent: usize,
    /// Messages the queue refused after every attempt.
    pub unsent: Vec<Unsent>,
}

impl DispatchReport {
    /// Messages it meant to queue.
    pub fn messages(&self) -> usize {
        self.sent + self.unsent.len()
    }

    /// Something was to be sent and none of it was: the dispatch failed as a whole.
    pub fn nothing_sent(&self) -> bool {
        self.sent == 0 && !self.unsent.is_empty()
    }
}

/// The messages for every task of every enabled source of the registry, in source order.
pub async fn task_messages(
    registry: &dyn SourceRegistry,
) -> Result<(Vec<TaskMessage>, DispatchReport), DispatchError> {
    let sources = registry.list().await?;
    let mut report = DispatchReport {
        sources: sources.len(),
        ..DispatchReport::default()
    };
    let mut messages = Vec::new();
    for source in &sources {
        if !source.enabled {
            report.disabled += 1;
        }
        messages.extend(tasks_of(source).into_iter().map(|t| TaskMessage {
            source_id: source.source_id.clone(),
            task: t.kind(),
        }));
    }
    Ok((messages, report))
}

/// Queues one message per task of every enabled source, in batches of ten, [`BATCHES_IN_FLIGHT`]
/// at a time; the entries a batch
/// loses (or a whole batch that fails) are sent again, up to [`SEND_ATTEMPTS`] times, then
/// reported. Fails only when the registry cannot be read.
pub async fn dispatch(
    registry: &dyn SourceRegistry,
    queue: &dyn TaskQueue,
) -> Result<DispatchReport, DispatchError> {
    dispatch_with_pause(registry, queue, RETRY_PAUSE).await
}

pub(crate) async fn dispatch_with_pause(
    registry: &dyn SourceRegistry,
    queue: &dyn TaskQueue,
    pause: Duration,
) -> Result<DispatchReport, DispatchError> {
    let (messages, mut report) = task_messages(registry).await?;
    let batches: Vec<(usize, &[TaskMessage])> = messages
        .chunks(MAX_BATCH)
        .enumerate()
        .map(|(n, chunk)| (n * MAX_BATCH, chunk))
        .collect();
    let mut results: Vec<(usize, Vec<(usize, String)>)> = stream::iter(batches)
        .map(|(first, chunk)| send_batch(queue, first, chunk, pause))
        .buffer_unordered(BATCHES_IN_FLIGHT)
        .collect()
        .await;
    results.sort_by_key(|(first, _)| *first);
    for (first, unsent) in results {
        let size = messages[first..].len().min(MAX_BATCH);
        report.sent += size - unsent.len();
        for (i, reason) in unsent {
            let m = &messages[i];
            tracing::warn!(source_id = %m.source_id, task = ?m.task, %reason, "task message not sent");
            report.unsent.push(Unsent {
                source_id: m.source_id.clone(),
                task: m.task,
                reason,
            });
        }
    }
    Ok(report)
}

/// One batch (the messages from `first` on), sent until the queue has taken every entry or
/// [`SEND_ATTEMPTS`] attempts were made; the entries it never took come back, with the last
/// reason.
async fn send_batch(
    queue: &dyn TaskQueue,
    first: usize,
    chunk: &[TaskMessage],
    pause: Duration,
) -> (usize, Vec<(usize, String)>) {
    let mut pending: Vec<(usize, String)> = (first..first + chunk.len())
        .map(|i| (i, "not sent".to_string()))
        .collect();
    for attempt in 1..=SEND_ATTEMPTS {
        if attempt > 1 {
            tokio::time::sleep(pause * (attempt - 1)).await;
        }
        let entries: Vec<QueueEntry> = pending
            .iter()
            .map(|(i, _)| QueueEntry {
                id: i.to_string(),
                body: chunk[i - first].to_body(),
            })
            .collect();
        pending = match queue.send_batch(&entries).await {
            Ok(rejected) => pending
                .into_iter()
                .filter_map(|(i, _)| {
                    let id = i.to_string();
                    rejected
                        .iter()
                        .find(|r| r.id == id)
                        .map(|r| (i, r.reason.clone()))
                })
                .collect(),
            Err(e) => pending
                .into_iter()
                .map(|(i, _)| (i, e.to_string()))
                .collect(),
        };
        if pending.is_empty() {
            break;
        }
    }
    (first, pending)
}

#[cfg(test)]
mod tests;
