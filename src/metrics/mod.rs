//! A run's summary as one CloudWatch Embedded Metric Format line on stdout, which Lambda ships
//! to CloudWatch Logs, where the metrics declared in its directive become CloudWatch metrics.
//!
//! A custom metric costs 0.30 USD a month, prorated by the hours in which it receives data, so
//! the directive declares only what an alarm or the dashboard reads, and only when it carries a
//! signal: `EventsProcessed` on every run (0 included: the no-events alarm and the dashboard's
//! hourly count), `KeyDaysLeft` whenever the key's expiry is known, and `AuthFailures`,
//! `LeaseHeld`, `IngestLagSeconds`, `CheckpointWentBackwards`, `AlertsRaised`,
//! `AlertsUndelivered`, `DetectionsSkipped` and `DetectStateRejected` only on the runs
//! where they are not zero, which in a healthy month is never. Every other figure of the run is a plain field of the same line, searchable
//! in Logs Insights (the dashboard's pages, throttles and quarantine widgets read them there).
use crate::collector::{RunSummary, StopReason};
use serde_json::{json, Map, Value};

pub const DIMENSION: &str = "SourceId";

/// The metric names, as the template's alarms and dashboard spell them.
pub mod name {
    pub const EVENTS_PROCESSED: &str = "EventsProcessed";
    pub const AUTH_FAILURES: &str = "AuthFailures";
    pub const LEASE_HELD: &str = "LeaseHeld";
    pub const INGEST_LAG_SECONDS: &str = "IngestLagSeconds";
    pub const KEY_DAYS_LEFT: &str = "KeyDaysLeft";
    pub const CHECKPOINT_WENT_BACKWARDS: &str = "CheckpointWentBackwards";
    pub const ALERTS_RAISED: &str = "AlertsRaised";
    pub const ALERTS_UNDELIVERED: &str = "AlertsUndelivered";
    pub const DETECTIONS_SKIPPED: &str = "DetectionsSkipped";
    pub const DETECT_STATE_REJECTED: &str = "DetectStateRejected";
}

/// When a CloudWatch metric is declared in the directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// On every run, 0 included.
    Always,
    /// On the runs where it is above 0.
    WhenNonZero,
    /// On the runs where it is known (the field is absent otherwise).
    WhenKnown,
}

/// A CloudWatch metric the line can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSpec {
    pub name: &'static str,
    pub unit: &'static str,
    pub declared: Declared,
}

/// Every CloudWatch metric the collector can emit: what the alarms and the dashboard read.
pub const CLOUDWATCH_METRICS: [MetricSpec; 10] = [
    MetricSpec {
        name: name::EVENTS_PROCESSED,
        unit: "Count",
        declared: Declared::Always,
    },
    MetricSpec {
        name: name::AUTH_FAILURES,
        unit: "Count",
        declared: Declared::WhenNonZero,
    },
    MetricSpec {
        name: name::LEASE_HELD,
        unit: "Count",
        declared: Declared::WhenNonZero,
    },
    MetricSpec {
        name: name::INGEST_LAG_SECONDS,
        unit: "Seconds",
        declared: Declared::WhenKnown,
    },
    MetricSpec {
        name: name::KEY_DAYS_LEFT,
        unit: "None",
        declared: Declared::WhenKnown,
    },
    MetricSpec {
        name: name::CHECKPOINT_WENT_BACKWARDS,
        unit: "Count",
        declared: Declared::WhenNonZero,
    },
    MetricSpec {
        name: name::ALERTS_RAISED,
        unit: "Count",
        declared: Declared::WhenNonZero,
    },
    MetricSpec {
        name: name::ALERTS_UNDELIVERED,
        unit: "Count",
        declared: Declared::WhenNonZero,
    },
    MetricSpec {
        name: name::DETECTIONS_SKIPPED,
        unit: "Count",
        declared: Declared::WhenNonZero,
    },
    MetricSpec {
        name: name::DETECT_STATE_REJECTED,
        unit: "Count",
        declared: Declared::WhenNonZero,
    },
];

/// The plain fields of the line (never CloudWatch metrics), for Logs Insights.
pub const LOG_FIELDS: [&str; 14] = [
    "RunSucceeded",
    "StopReason",
    "QuarantinedEvents",
    "DuplicatesDropped",
    "ApiThrottled",
    "PagesFetched",
    "ObjectsWritten",
    "BytesWritten",
    "DurationMs",
    // Now minus the newest processedAt written, whether or not events are left to collect.
    "NewestWrittenAgeSeconds",
    "CheckpointSequence",
    // Events dated more than an hour past their processing; matches past a batch's alert cap;
    // events of a read by time from before its `from`.
    "FutureDatedEvents",
    "AlertsOverCap",
    "DroppedBeforeWindow",
];

/// What one run reports: its summary and, when the secret says when the key expires, the days
/// the key has left.
#[derive(Debug, Clone, Copy)]
pub struct RunMetrics<'a> {
    summary: &'a RunSummary,
    key_days_left: Option<f64>,
}

impl<'a> RunMetrics<'a> {
    pub fn new(summary: &'a RunSummary) -> Self {
        RunMetrics {
            summary,
            key_days_left: None,
        }
    }

    /// Days until the API key expires (negative once it has), when known.
    pub fn with_key_days_left(self, days: Option<f64>) -> Self {
        RunMetrics {
            key_days_left: days,
            ..self
        }
    }

    /// How far behind now the collector is while events are left to collect: now minus the
    /// newest `processedAt` written, for a run that stopped with the stream not drained (its
    /// budget ran out, or the rate limit outlasted it). `None` for a run that caught up (nothing
    /// was left to collect, however old the newest event is), failed (the function-errors alarm
    /// speaks for it), or found the lease held; and before the first event.
    pub fn ingest_lag_seconds(&self) -> Option<f64> {
        match self.summary.stop_reason {
            StopReason::Budget | StopReason::RateLimited => self.summary.ingest_lag_seconds,
            StopReason::CaughtUp | StopReason::Failed | StopReason::LeaseHeld => None,
        }
    }

    /// The values of [`CLOUDWATCH_METRICS`], in its order.
    fn metric_values(&self) -> [Option<f64>; 10] {
        let s = self.summary;
        [
            Some(s.events_processed as f64),
            Some(s.auth_failures as f64),
            Some(if s.lease_held { 1.0 } else { 0.0 }),
            self.ingest_lag_seconds(),
            self.key_days_left,
            Some(if s.checkpoint_went_backwards {
                1.0
            } else {
                0.0
            }),
            Some(s.alerts_raised as f64),
            Some(s.alerts_undelivered as f64),
            Some(s.detections_skipped as f64),
            Some(if s.detect_state_rejected { 1.0 } else { 0.0 }),
        ]
    }

    /// One EMF log line.
    pub fn to_emf(&self, namespace: &str, timestamp_ms: i64) -> String {
        let s = self.summary;
        let mut root = Map::new();
        root.insert(DIMENSION.into(), Value::from(s.source_id.clone()));
        let mut definitions = Vec::new();
        for (spec, value) in CLOUDWATCH_METRICS.iter().zip(self.metric_values()) {
            let Some(value) = value else {
                continue;
            };
            root.insert(spec.name.into(), json!(value));
            let declare = match spec.declared {
                Declared::Always | Declared::WhenKnown => true,
                Declared::WhenNonZero => value > 0.0,
            };
            if declare {
                definitions.push(json!({"Name": spec.name, "Unit": spec.unit}));
            }
        }
        let stop_reason = serde_json::to_value(s.stop_reason).unwrap_or(Value::Null);
        let fields: [(&str, Value); 14] = [
            ("RunSucceeded", json!(if s.run_succeeded { 1 } else { 0 })),
            ("StopReason", stop_reason),
            ("QuarantinedEvents", json!(s.quarantined_events)),
            ("DuplicatesDropped", json!(s.duplicates_dropped)),
            ("ApiThrottled", json!(s.api_throttled)),
            ("PagesFetched", json!(s.pages_fetched)),
            ("ObjectsWritten", json!(s.objects_written)),
            ("BytesWritten", json!(s.bytes_written)),
            ("DurationMs", json!(s.duration_ms)),
            ("NewestWrittenAgeSeconds", json!(s.ingest_lag_seconds)),
            ("CheckpointSequence", json!(s.checkpoint_sequence)),
            ("FutureDatedEvents", json!(s.future_dated_events)),
            ("AlertsOverCap", json!(s.alerts_over_cap)),
            ("DroppedBeforeWindow", json!(s.dropped_before_window)),
        ];
        debug_assert!(fields.iter().map(|(n, _)| *n).eq(LOG_FIELDS));
        for (name, value) in fields {
            if !value.is_null() {
                root.insert(name.into(), value);
            }
        }
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": definitions,
                }]
            }),
        );
        Value::Object(root).to_string()
    }
}

/// The `Task` dimension's value of a backfill's metrics.
pub const BACKFILL_TASK: &str = "backfill";
/// A backfill's progress, 0 to 100.
pub const BACKFILL_PROGRESS_PERCENT: &str = "BackfillProgressPercent";

/// The EMF line of a backfill's run: its events and progress under (`SourceId`, `Task`), apart
/// from the live metrics the alarms read (a backfill's newest event is days old by design, and
/// it stops running once done).
pub fn backfill_emf(
    source_id: &str,
    summary: &RunSummary,
    percent: f64,
    namespace: &str,
    timestamp_ms: i64,
) -> String {
    json!({
        DIMENSION: source_id,
        "Task": BACKFILL_TASK,
        "CheckpointId": summary.source_id,
        name::EVENTS_PROCESSED: summary.events_processed,
        BACKFILL_PROGRESS_PERCENT: percent,
        "RunSucceeded": if summary.run_succeeded && summary.error.is_none() { 1 } else { 0 },
        "StopReason": summary.stop_reason,
        "DroppedOutsideWindow": summary.dropped_outside_window,
        "DurationMs": summary.duration_ms,
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[DIMENSION, "Task"]],
                "Metrics": [
                    {"Name": name::EVENTS_PROCESSED, "Unit": "Count"},
                    {"Name": BACKFILL_PROGRESS_PERCENT, "Unit": "Percent"},
                ],
            }],
        },
    })
    .to_string()
}

impl RunSummary {
    /// The EMF line of a run whose key expiry is not known.
    pub fn to_emf(&self, namespace: &str, timestamp_ms: i64) -> String {
        RunMetrics::new(self).to_emf(namespace, timestamp_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(line: &str) -> Vec<String> {
        let v: Value = serde_json::from_str(line).unwrap();
        v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap().to_string())
            .collect()
    }

    fn caught_up() -> RunSummary {
        let mut s = RunSummary::new("org-1");
        s.run_succeeded = true;
        s.stop_reason = StopReason::CaughtUp;
        s.events_processed = 42;
        s.pages_fetched = 2;
        s.bytes_written = 1234;
        s.ingest_lag_seconds = Some(86_400.0);
        s
    }

    /// A healthy run declares one metric, two with a known expiry: what a month costs.
    #[test]
    fn a_healthy_run_declares_only_what_the_alarms_need_every_run() {
        let s = caught_up();
        let line = RunMetrics::new(&s)
            .with_key_days_left(Some(40.5))
            .to_emf("NS", 1_700_000_000_000);
        assert!(!line.contains('\n'));
        assert_eq!(declared(&line), ["EventsProcessed", "KeyDaysLeft"]);
        let v: Value = serde_json::from_str(&line).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "NS");
        assert_eq!(directive["Dimensions"], json!([["SourceId"]]));
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "KeyDaysLeft", "Unit": "None"})
        );
        assert_eq!(v["SourceId"], "org-1");
        assert_eq!(v["EventsProcessed"], 42.0);
        assert_eq!(v["KeyDaysLeft"], 40.5);
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        // The zeros are there to read in Logs Insights, but are no metrics.
        assert_eq!(v["AuthFailures"], 0.0);
        assert_eq!(v["LeaseHeld"], 0.0);
        // Caught up: nothing is left to collect, whatever the age of the newest event.
        assert!(v.get("IngestLagSeconds").is_none());
        assert_eq!(v["NewestWrittenAgeSeconds"], 86_400.0);
        for field in LOG_FIELDS {
            assert!(v.get(field).is_some(), "{field} missing");
        }
        assert_eq!(v["StopReason"], "caught_up");
        assert_eq!(v["PagesFetched"], 2);
        assert_eq!(v["BytesWritten"], 1234);
        assert_eq!(v["RunSucceeded"], 1);
        // Without a known expiry, one metric.
        assert_eq!(declared(&s.to_emf("NS", 0)), ["EventsProcessed"]);
    }

    #[test]
    fn trouble_declares_the_metric_its_alarm_reads() {
        let mut s = caught_up();
        s.run_succeeded = false;
        s.stop_reason = StopReason::Failed;
        s.auth_failures = 2;
        assert_eq!(
            declared(&s.to_emf("NS", 0)),
            ["EventsProcessed", "AuthFailures"]
        );

        let mut s = RunSummary::new("org-1");
        s.run_succeeded = true;
        s.stop_reason = StopReason::LeaseHeld;
        s.lease_held = true;
        let line = s.to_emf("NS", 0);
        assert_eq!(declared(&line), ["EventsProcessed", "LeaseHeld"]);
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap()["LeaseHeld"],
            1.0
        );
    }

    #[test]
    fn ingest_lag_is_declared_only_while_events_are_left_to_collect() {
        for (reason, lag) in [
            (StopReason::Budget, Some(9_000.0)),
            (StopReason::RateLimited, Some(9_000.0)),
            (StopReason::CaughtUp, None),
            (StopReason::Failed, None),
            (StopReason::LeaseHeld, None),
        ] {
            let mut s = caught_up();
            s.stop_reason = reason;
            s.ingest_lag_seconds = Some(9_000.0);
            let metrics = RunMetrics::new(&s);
            assert_eq!(metrics.ingest_lag_seconds(), lag, "{reason:?}");
            let line = metrics.to_emf("NS", 0);
            assert_eq!(
                declared(&line).contains(&"IngestLagSeconds".to_string()),
                lag.is_some(),
                "{reason:?}"
            );
        }
        // Before the first event there is no lag to tell, even on a budget stop.
        let mut s = caught_up();
        s.stop_reason = StopReason::Budget;
        s.ingest_lag_seconds = None;
        let line = s.to_emf("NS", 0);
        assert!(!line.contains("IngestLagSeconds"));
        assert!(!line.contains("NewestWrittenAgeSeconds"));
    }

    #[test]
    fn an_expired_key_reports_negative_days() {
        let s = caught_up();
        let line = RunMetrics::new(&s)
            .with_key_days_left(Some(-1.25))
            .to_emf("NS", 0);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["KeyDaysLeft"], -1.25);
        assert!(declared(&line).contains(&"KeyDaysLeft".to_string()));
    }
}
