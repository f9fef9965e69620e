//! Which events a task keeps, by processing time. A registered source is collected by up to two
//! tasks: its live collection keeps what was processed from the moment it began, its backfill
//! what was processed before that moment. The windows meet without overlap and neither task
//! needs the other's state, so each event is written by exactly one of them, whichever of the
//! two the API served it to. A backfill ends at the first event processed past its window (the
//! stream is in processing order), so it sends no `to`, whose meaning is undocumented.

/// Events processed at `start_ms` or later and before `end_ms` (epoch ms); an open end keeps
/// everything on that side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessedWindow {
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
}

impl ProcessedWindow {
    /// Every event: a source collected by one task alone.
    pub const ALL: ProcessedWindow = ProcessedWindow {
        start_ms: None,
        end_ms: None,
    };

    /// Whether an event processed at `processed_ms` is this task's. An event whose processedAt
    /// cannot be read (it goes to quarantine) is kept by whichever task was served it: a
    /// quarantined line twice is better than an event lost.
    pub fn keeps(&self, processed_ms: Option<i64>) -> bool {
        let Some(ms) = processed_ms else {
            return true;
        };
        self.start_ms.is_none_or(|start| ms >= start) && self.end_ms.is_none_or(|end| ms < end)
    }
}

impl ProcessedWindow {
    /// Whether an event processed at `processed_ms` lies at or after the window's end.
    pub fn is_past_end(&self, processed_ms: Option<i64>) -> bool {
        matches!((processed_ms, self.end_ms), (Some(ms), Some(end)) if ms >= end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_and_backfill_windows_split_every_processing_time_once() {
        let split = 1_000;
        let live = ProcessedWindow {
            start_ms: Some(split),
            end_ms: None,
        };
        let backfill = ProcessedWindow {
            start_ms: Some(0),
            end_ms: Some(split),
        };
        // (processedAt, kept by live, kept by the backfill)
        let cases = [
            (Some(split - 1), false, true),
            (Some(split), true, false),
            (Some(split + 1), true, false),
            (Some(0), false, true),
            (Some(-1), false, false),
            (Some(i64::MAX), true, false),
            (None, true, true),
        ];
        for (at, by_live, by_backfill) in cases {
            assert_eq!(live.keeps(at), by_live, "live, processed at {at:?}");
            assert_eq!(backfill.keeps(at), by_backfill, "backfill, at {at:?}");
            assert!(ProcessedWindow::ALL.keeps(at));
            assert_eq!(backfill.is_past_end(at), at.is_some_and(|ms| ms >= split));
            assert!(!live.is_past_end(at));
        }
    }
}
