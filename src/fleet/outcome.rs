//! How one task of a registered source ended, as the CLI prints it and metrics count it.
use crate::collector::RunSummary;
use crate::metrics::RunMetrics;
use crate::registry::{RegisteredSource, Task, TaskKind};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct TaskOutcome {
    pub source_id: String,
    pub label: String,
    pub task: TaskKind,
    pub summary: RunSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_days_left: Option<f64>,
    /// A backfill's progress, 0 to 100 (100 once it has read everything it covers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill_percent: Option<f64>,
}

impl TaskOutcome {
    pub fn new(
        source: &RegisteredSource,
        task: Task,
        summary: RunSummary,
        key_days_left: Option<f64>,
    ) -> Self {
        let backfill_percent = match (&task, source.running_backfill()) {
            (Task::Backfill { .. }, Some(b)) => Some(if summary.caught_up() {
                100.0
            } else {
                b.percent_done(summary.newest_processed_at_ms)
            }),
            _ => None,
        };
        TaskOutcome {
            source_id: source.source_id.clone(),
            label: source.label.clone(),
            task: task.kind(),
            summary,
            key_days_left,
            backfill_percent,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.summary.run_succeeded && self.summary.error.is_none()
    }

    /// The task's EMF line: a live run's is a single-source run's, under the source's id; a
    /// backfill's has its own dimensions (`SourceId`, `Task`), so its age and its end never
    /// touch the live alarms.
    pub fn to_emf(&self, namespace: &str, timestamp_ms: i64) -> String {
        match self.task {
            TaskKind::Live => RunMetrics::new(&self.summary)
                .with_key_days_left(self.key_days_left)
                .to_emf(namespace, timestamp_ms),
            TaskKind::Backfill => crate::metrics::backfill_emf(
                &self.source_id,
                &self.summary,
                self.backfill_percent.unwrap_or(0.0),
                namespace,
                timestamp_ms,
            ),
        }
    }
}
