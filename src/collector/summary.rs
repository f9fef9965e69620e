//! What a run did: returned by the Lambda, printed by the CLI, rendered as metrics by
//! `metrics`.
use super::detection::DetectCounts;
use crate::detect::Alert;
use serde::Serialize;

/// Alerts a summary lists by title (all are counted, and all are in the archive).
pub const MAX_LISTED_ALERTS: usize = 50;

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Read up to the newest event the API had.
    CaughtUp,
    /// Stopped early enough to flush and checkpoint before the time budget ran out.
    Budget,
    /// The API's rate limit outlasted the budget; the next run continues.
    RateLimited,
    /// Another run holds the source's lease; this run left it alone.
    LeaseHeld,
    /// An error ended the run; `error` says which.
    Failed,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::CaughtUp => "caught up",
            StopReason::Budget => "time budget reached, the next run continues",
            StopReason::RateLimited => "rate limited past the budget, the next run continues",
            StopReason::LeaseHeld => "another run holds the lease",
            StopReason::Failed => "failed",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub source_id: String,
    pub run_succeeded: bool,
    pub stop_reason: StopReason,
    pub error: Option<String>,
    pub events_processed: u64,
    pub quarantined_events: u64,
    pub duplicates_dropped: u64,
    /// Events processed before the read's floor (a read by time's `from`, a read by cursor's
    /// window start: written by earlier runs), apart
    /// from the repeats dropped by id.
    pub dropped_before_window: u64,
    /// Events processed outside this task's window: the source's other task (live collection
    /// or backfill) writes them.
    pub dropped_outside_window: u64,
    /// The newest processedAt the checkpoint holds after the run, when one is known.
    pub newest_processed_at_ms: Option<i64>,
    /// Alerts the run's committed batches opened (an alert growing in a later batch is not
    /// raised again).
    pub alerts_raised: u64,
    /// Of those, the ones announced (at the minimum severity or above, to a target).
    pub alerts_announced: u64,
    /// Alerts of committed batches that could not be announced after the batch's
    /// announcement failed `MAX_ANNOUNCE_ATTEMPTS` times (they are in `alerts/`).
    pub alerts_undelivered: u64,
    /// Written events the detect stage could not evaluate (no id or time, or a rule failed).
    pub detections_skipped: u64,
    /// Events dated more than an hour past their processing: archived and matched by
    /// single-event rules, counted toward no threshold.
    pub future_dated_events: u64,
    /// Matches past a batch's cap of new alerts, told in its summary alert.
    pub alerts_over_cap: u64,
    /// The detection state found in the checkpoint was not sealed by this collector's key,
    /// and was discarded.
    pub detect_state_rejected: bool,
    /// The raised alerts, one line each ([`Alert::one_line`]), the first [`MAX_LISTED_ALERTS`].
    pub alerts: Vec<String>,
    pub api_throttled: u64,
    pub auth_failures: u64,
    pub pages_fetched: u64,
    pub objects_written: u64,
    pub bytes_written: u64,
    /// Now minus the newest processedAt written (this run, else the checkpoint's).
    pub ingest_lag_seconds: Option<f64>,
    pub checkpoint_sequence: u64,
    pub resumes_with_cursor: bool,
    /// Another run held the source's lease, so this one left it alone (alarmed on when it
    /// lasts: a lease that is never released stops collection).
    pub lease_held: bool,
    /// The checkpoint went backwards under this process (a lowered sequence, another
    /// generation), so the run refused it and wrote nothing.
    pub checkpoint_went_backwards: bool,
    pub duration_ms: u64,
    /// The OCSF copy derived after the run's commits, when it is on (src/ocsf/).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ocsf: Option<OcsfOutcome>,
}

/// What the OCSF derivation did after a run: never a reason for the run to fail.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OcsfOutcome {
    #[serde(flatten)]
    pub derived: crate::ocsf::DeriveReport,
    pub error: Option<String>,
}

impl RunSummary {
    /// Whether the run read to the end of the stream and committed everything it read.
    pub fn caught_up(&self) -> bool {
        self.run_succeeded && self.error.is_none() && self.stop_reason == StopReason::CaughtUp
    }

    pub fn new(source_id: impl Into<String>) -> Self {
        RunSummary {
            source_id: source_id.into(),
            run_succeeded: false,
            stop_reason: StopReason::Failed,
            error: None,
            events_processed: 0,
            quarantined_events: 0,
            duplicates_dropped: 0,
            dropped_before_window: 0,
            dropped_outside_window: 0,
            newest_processed_at_ms: None,
            alerts_undelivered: 0,
            detections_skipped: 0,
            future_dated_events: 0,
            alerts_over_cap: 0,
            detect_state_rejected: false,
            alerts_raised: 0,
            alerts_announced: 0,
            alerts: Vec::new(),
            api_throttled: 0,
            auth_failures: 0,
            pages_fetched: 0,
            objects_written: 0,
            bytes_written: 0,
            ingest_lag_seconds: None,
            checkpoint_sequence: 0,
            resumes_with_cursor: false,
            lease_held: false,
            checkpoint_went_backwards: false,
            duration_ms: 0,
            ocsf: None,
        }
    }

    /// Counts what the detect stage of a committed batch counted.
    pub fn detected(&mut self, counts: DetectCounts) {
        self.detections_skipped += counts.skipped as u64;
        self.future_dated_events += counts.future_dated as u64;
        self.alerts_over_cap += counts.over_cap as u64;
    }

    /// Counts the alerts a committed batch opened, of which `announced` were announced.
    pub fn raised(&mut self, alerts: &[Alert], announced: usize) {
        for alert in alerts.iter().filter(|a| !a.is_update) {
            self.alerts_raised += 1;
            if self.alerts.len() < MAX_LISTED_ALERTS {
                self.alerts.push(alert.one_line());
            }
        }
        self.alerts_announced += announced as u64;
    }
}
