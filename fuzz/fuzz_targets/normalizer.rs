//! Any JSON value as one event: valid (one line, the input's members first, then the p_*
//! fields) or quarantined with a non-empty one-line reason; the same every time; never a panic.
#![no_main]
use atlassian_audit::normalize::{
    compact_json_into, nesting_depth, Normalizer, Outcome, SourceInfo, MAX_NESTING_DEPTH,
};
use chrono::{DateTime, NaiveDate, Utc};
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// 2024-05-06T07:08:09Z
const PARSE_TIME: DateTime<Utc> = NaiveDate::from_ymd_opt(2024, 5, 6)
    .expect("a date")
    .and_hms_opt(7, 8, 9)
    .expect("a time")
    .and_utc();

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = serde_json::from_slice::<Box<RawValue>>(data) else {
        return;
    };
    let normalizer = Normalizer::new(SourceInfo {
        source_id: "fuzz".into(),
        source_label: "fuzz".into(),
    });
    let parse_time = PARSE_TIME;
    let outcome = normalizer.normalize(&raw, parse_time);
    assert_eq!(
        outcome,
        normalizer.normalize(&raw, parse_time),
        "deterministic"
    );
    let mut compact = String::new();
    compact_json_into(raw.get(), &mut compact);
    match outcome {
        Outcome::Valid(v) => {
            assert!(!v.dedupe_key.is_empty());
            assert!(v.line.starts_with(&compact[..compact.len() - 1]));
            assert!(v
                .line
                .contains(",\"p_log_type\":\"Atlassian.Audit\",\"p_row_id\":\""));
            assert!(v.line.ends_with('}') && !v.line.contains('\n'));
            assert!(nesting_depth(&v.line) <= MAX_NESTING_DEPTH);
            serde_json::from_str::<IgnoredAny>(&v.line).expect("a valid line is JSON");
        }
        Outcome::Quarantined(q) => {
            assert!(!q.dedupe_key.is_empty());
            assert!(
                !q.reason.is_empty() && q.reason.len() < 2000,
                "{}",
                q.reason
            );
            assert!(
                !q.reason
                    .chars()
                    .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
                "{:?}",
                q.reason
            );
            assert!(q.line.starts_with("{\"error\":") && !q.line.contains('\n'));
            assert!(nesting_depth(&q.line) <= MAX_NESTING_DEPTH + 1);
            serde_json::from_str::<IgnoredAny>(&q.line).expect("a quarantine line is JSON");
        }
    }
});
