//! What a run did, as a summary (returned by the Lambda, printed by the CLI) and as CloudWatch
//! Embedded Metric Format lines on stdout, which Lambda ships to CloudWatch as metrics.
use serde::Serialize;
use serde_json::{json, Map, Value};

pub const DIMENSION: &str = "SourceId";

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
    pub duration_ms: u64,
}

impl RunSummary {
    pub fn new(source_id: impl Into<String>) -> Self {
        RunSummary {
            source_id: source_id.into(),
            run_succeeded: false,
            stop_reason: StopReason::Failed,
            error: None,
            events_processed: 0,
            quarantined_events: 0,
            duplicates_dropped: 0,
            api_throttled: 0,
            auth_failures: 0,
            pages_fetched: 0,
            objects_written: 0,
            bytes_written: 0,
            ingest_lag_seconds: None,
            checkpoint_sequence: 0,
            resumes_with_cursor: false,
            lease_held: false,
            duration_ms: 0,
        }
    }

    /// One EMF log line. Every metric is present in every run (0 included): the no-events alarm
    /// needs a data point to tell "nothing happened" from "the collector stopped".
    pub fn to_emf(&self, namespace: &str, timestamp_ms: i64) -> String {
        let counts: [(&str, &str, f64); 9] = [
            ("EventsProcessed", "Count", self.events_processed as f64),
            (
                "RunSucceeded",
                "Count",
                if self.run_succeeded { 1.0 } else { 0.0 },
            ),
            ("QuarantinedEvents", "Count", self.quarantined_events as f64),
            ("DuplicatesDropped", "Count", self.duplicates_dropped as f64),
            ("ApiThrottled", "Count", self.api_throttled as f64),
            ("AuthFailures", "Count", self.auth_failures as f64),
            ("PagesFetched", "Count", self.pages_fetched as f64),
            ("BytesWritten", "Bytes", self.bytes_written as f64),
            (
                "LeaseHeld",
                "Count",
                if self.lease_held { 1.0 } else { 0.0 },
            ),
        ];
        let mut definitions: Vec<Value> = counts
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
            .collect();
        let mut root = Map::new();
        root.insert(DIMENSION.into(), Value::from(self.source_id.clone()));
        for (name, _, value) in counts {
            root.insert(name.into(), json!(value));
        }
        if let Some(lag) = self.ingest_lag_seconds {
            definitions.push(json!({"Name": "IngestLagSeconds", "Unit": "Seconds"}));
            root.insert("IngestLagSeconds".into(), json!(lag));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_carries_every_metric_with_the_source_dimension() {
        let mut s = RunSummary::new("org-1");
        s.run_succeeded = true;
        s.events_processed = 0;
        s.bytes_written = 1234;
        s.ingest_lag_seconds = Some(12.5);
        let line = s.to_emf("NS", 1_700_000_000_000);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "NS");
        assert_eq!(directive["Dimensions"], json!([["SourceId"]]));
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in [
            "EventsProcessed",
            "RunSucceeded",
            "QuarantinedEvents",
            "DuplicatesDropped",
            "ApiThrottled",
            "AuthFailures",
            "PagesFetched",
            "BytesWritten",
            "LeaseHeld",
            "IngestLagSeconds",
        ] {
            assert!(names.contains(&name), "{name} missing");
            assert!(v[name].is_number(), "{name} has no value");
        }
        assert_eq!(v["EventsProcessed"], 0.0);
        assert_eq!(v["RunSucceeded"], 1.0);
        assert_eq!(v["SourceId"], "org-1");
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }

    #[test]
    fn lag_is_left_out_when_unknown() {
        let line = RunSummary::new("s").to_emf("NS", 0);
        assert!(!line.contains("IngestLagSeconds"));
    }
}
