//! A run's summary as CloudWatch Embedded Metric Format lines on stdout, which Lambda ships to
//! CloudWatch as metrics.
use crate::collector::RunSummary;
use serde_json::{json, Map, Value};

pub const DIMENSION: &str = "SourceId";

impl RunSummary {
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
