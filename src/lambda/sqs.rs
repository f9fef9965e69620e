//! Registry mode: the task queue's records, one task each.
use super::{budget_until, now_ms, App, Mode, DEADLINE_MARGIN, MIN_BUDGET};
use crate::dispatch::TaskMessage;
use crate::registry::{RegisteredSource, Task, TaskKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The log line of a task that failed (the dashboard's failed-tasks widget reads it, with its
/// `message_id` and `error` fields).
pub const TASK_FAILED: &str = "task failed; SQS delivers it again";

/// The fields of an SQS record the handler reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsRecord {
    pub message_id: String,
    #[serde(default)]
    pub body: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// The partial batch response (`FunctionResponseTypes: [ReportBatchItemFailures]`): the
/// records listed are delivered again; the others are deleted from the queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SqsBatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

/// The records of an SQS event, when `payload` is one.
pub(super) fn records_of(payload: &Value) -> Option<Vec<Value>> {
    let records = payload.get("Records")?.as_array()?;
    let from_sqs = records
        .iter()
        .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"));
    (from_sqs && !records.is_empty()).then(|| records.clone())
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Handled {
    Done,
    Skipped(&'static str),
    Failed(String),
}

pub(super) async fn handle_records(
    app: &App,
    records: Vec<Value>,
    deadline_ms: u64,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (position, raw) in records.into_iter().enumerate() {
        let record: SqsRecord = match serde_json::from_value(raw) {
            Ok(r) => r,
            Err(e) => {
                // Without a message id there is nothing to name: SQS's answer to a response it
                // cannot match is to deliver the whole batch again.
                tracing::error!(error = %e, "an SQS record without a message id");
                continue;
            }
        };
        // A batch of several records (BatchSize above 1) may leave a later one too little time:
        // delivered again, it starts afresh. (The first always runs, with at least MIN_BUDGET, as
        // a single-org run does.)
        let left_ms = deadline_ms.saturating_sub(now_ms().max(0) as u64);
        let (source_id, handled) =
            if position > 0 && u128::from(left_ms) < (MIN_BUDGET + DEADLINE_MARGIN).as_millis() {
                let source_id = TaskMessage::from_body(&record.body)
                    .ok()
                    .map(|m| m.source_id);
                let late = format!(
                    "too little time left before the deadline to start the task ({left_ms} ms)"
                );
                (source_id, Handled::Failed(late))
            } else {
                handle_record(app, &record, deadline_ms).await
            };
        let source_id = source_id.unwrap_or_default();
        match &handled {
            Handled::Done => {}
            Handled::Skipped(why) => {
                tracing::info!(message_id = %record.message_id, %source_id, reason = why, "task skipped")
            }
            Handled::Failed(e) => {
                tracing::error!(message_id = %record.message_id, %source_id, error = %e, "{TASK_FAILED}");
                response.batch_item_failures.push(ItemFailure {
                    item_identifier: record.message_id.clone(),
                });
            }
        }
    }
    response
}

/// What became of the record, and the source it named (when it named one).
pub(super) async fn handle_record(
    app: &App,
    record: &SqsRecord,
    deadline_ms: u64,
) -> (Option<String>, Handled) {
    let source_id = TaskMessage::from_body(&record.body)
        .ok()
        .map(|m| m.source_id);
    (source_id, run_record(app, record, deadline_ms).await)
}

async fn run_record(app: &App, record: &SqsRecord, deadline_ms: u64) -> Handled {
    let Mode::Registry { registry, runner } = &app.mode else {
        return Handled::Failed(format!(
            "a task message reached the function in single-org mode ({} is not set): nothing here reads the task queue's registry",
            crate::config::env::SOURCES_TABLE
        ));
    };
    // Not a task message: failed, not dropped, so it ends in the dead-letter queue (and its
    // alarm) after the queue's maxReceiveCount deliveries instead of vanishing unseen.
    let message = match TaskMessage::from_body(&record.body) {
        Ok(m) => m,
        Err(e) => {
            return Handled::Failed(format!(
                "the message is not a task message ({e}): expected {{\"source_id\": \"…\", \"task\": \"live\"|\"backfill\"}}"
            ))
        }
    };
    let source = match registry.get(&message.source_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Handled::Skipped("the source is no longer registered"),
        Err(e) => return Handled::Failed(e.to_string()),
    };
    let Some(task) = task_of(&source, message.task) else {
        return Handled::Skipped(if source.enabled {
            "the source's backfill has finished"
        } else {
            "the source is disabled"
        });
    };
    let budget = budget_until(deadline_ms);
    let outcome = runner.run(&source, task, budget).await;
    println!(
        "{}",
        outcome.to_emf(&app.config.metrics_namespace, now_ms())
    );
    match (&outcome.summary.error, outcome.succeeded()) {
        (_, true) => Handled::Done,
        (Some(e), false) => Handled::Failed(e.clone()),
        (None, false) => Handled::Failed("the run failed".into()),
    }
}

/// The task a message asks for, as the registry has it now; `None` when the registry no longer
/// asks for it.
pub(super) fn task_of(source: &RegisteredSource, kind: TaskKind) -> Option<Task> {
    if !source.enabled {
        return None;
    }
    match kind {
        TaskKind::Live => Some(Task::live_of(source)),
        TaskKind::Backfill => source.running_backfill().map(Task::backfill_of),
    }
}
