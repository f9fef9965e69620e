//! What one run of a registered source collects: its live stream, or its backfill.
use super::ProcessedWindow;
use super::{Backfill, RegisteredSource};

/// How far before its window live collection's first read starts ([`Task::first_from_ms`]).
pub const LIVE_REREAD_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Live,
    Backfill,
}

/// One of a source's tasks: each has its own checkpoint record (and lease and high-water
/// mark), and keeps the events processed inside its own window, so the two never write an
/// event twice between them and never wait for each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// The source's live collection, keeping what was processed from `start_ms` on (`None`:
    /// everything, as a single-org collector does).
    Live { start_ms: Option<i64> },
    /// Its history in `[from_ms, to_ms)`.
    Backfill { from_ms: i64, to_ms: i64 },
}

impl Default for Task {
    fn default() -> Self {
        Task::Live { start_ms: None }
    }
}

impl Task {
    pub fn live_of(source: &RegisteredSource) -> Self {
        Task::Live {
            start_ms: Some(source.live_start_ms),
        }
    }

    pub fn backfill_of(backfill: &Backfill) -> Self {
        Task::Backfill {
            from_ms: backfill.from_ms,
            to_ms: backfill.to_ms,
        }
    }

    pub fn kind(&self) -> TaskKind {
        match self {
            Task::Live { .. } => TaskKind::Live,
            Task::Backfill { .. } => TaskKind::Backfill,
        }
    }

    /// The events this task keeps; its first read starts at the window's start.
    pub fn window(&self) -> ProcessedWindow {
        match *self {
            Task::Live { start_ms } => ProcessedWindow {
                start_ms,
                end_ms: None,
            },
            Task::Backfill { from_ms, to_ms } => ProcessedWindow {
                start_ms: Some(from_ms),
                end_ms: Some(to_ms),
            },
        }
    }

    /// Where the task's first read starts. A backfill: its start. Live collection: a day before
    /// its window, so that should `from` filter on event time rather than processing time,
    /// events dated before the window but processed inside it (processed late) are read too;
    /// what that day holds of earlier processing is read once and dropped by the window.
    pub fn first_from_ms(&self) -> Option<i64> {
        match *self {
            Task::Live { start_ms } => start_ms.map(|s| s - LIVE_REREAD_MS),
            Task::Backfill { from_ms, .. } => Some(from_ms),
        }
    }

    /// The key of the task's checkpoint record: the source id for live collection (so a
    /// single-org deployment's checkpoint is its live checkpoint), the id and the backfill's
    /// start for a backfill (each backfill starts afresh).
    pub fn checkpoint_id(&self, source_id: &str) -> String {
        match self {
            Task::Live { .. } => source_id.to_string(),
            Task::Backfill { from_ms, .. } => format!("{source_id}#backfill-{from_ms}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_and_backfill_have_their_own_records_and_meeting_windows() {
        let live = Task::Live {
            start_ms: Some(500),
        };
        let backfill = Task::Backfill {
            from_ms: 100,
            to_ms: 500,
        };
        assert_eq!(live.checkpoint_id("prod"), "prod");
        assert_eq!(backfill.checkpoint_id("prod"), "prod#backfill-100");
        assert_eq!(live.window().start_ms, backfill.window().end_ms);
        assert_eq!(Task::default().window(), ProcessedWindow::ALL);
        assert_eq!(backfill.first_from_ms(), Some(100));
        assert_eq!(live.first_from_ms(), Some(500 - LIVE_REREAD_MS));
        assert_eq!(Task::default().first_from_ms(), None);
    }
}
