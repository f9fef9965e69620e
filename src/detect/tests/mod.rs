//! The detection engine's tests: field paths and templates, the rule format and its errors,
//! the engine's grouping, thresholds and state, and the built-in pack over real and simulated
//! events.
mod builtin;
mod engine;
mod paths;
mod rule_format;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::normalize::{Normalizer, Outcome, SourceInfo};

/// The valid ones of `raw`, normalized as the collector writes them.
fn normalized(raw: &[Value]) -> Vec<Value> {
    let normalizer = Normalizer::new(SourceInfo {
        source_id: "src-1".into(),
        source_label: "test".into(),
    });
    let parse_time = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap();
    raw.iter()
        .filter_map(|e| {
            let text = serde_json::value::to_raw_value(e).unwrap();
            match normalizer.normalize(&text, parse_time) {
                Outcome::Valid(v) => Some(serde_json::from_str(&v.line).unwrap()),
                Outcome::Quarantined(_) => None,
            }
        })
        .collect()
}

/// A minimal event: id, time (seconds after 2026-01-01T00:00:00Z), action, actor id.
fn event(id: &str, second: i64, action: &str, actor: &str) -> Value {
    let time = DateTime::<Utc>::from_timestamp(1_767_225_600 + second, 0).unwrap();
    json!({
        "id": id,
        "attributes": {
            "time": time.to_rfc3339(),
            "action": action,
            "actor": {"id": actor, "name": format!("Name of {actor}")},
            "location": {"ip": "198.51.100.7"}
        }
    })
}
