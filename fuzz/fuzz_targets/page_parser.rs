//! Any bytes as the body of a 2xx events-stream answer, and as the body of an error answer:
//! a page or a typed error, never a panic; every event of a page normalizes to a valid line
//! or a quarantined one with a reason; messages stay short and on one line.
#![no_main]
use atlassian_audit::normalize::{
    nesting_depth, Normalizer, Outcome, SourceInfo, MAX_NESTING_DEPTH,
};
use atlassian_audit::source::atlassian::{parse_page, ErrorSummary, MAX_CURSOR_BYTES};
use chrono::{DateTime, NaiveDate, Utc};
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;

/// 2024-05-06T07:08:09Z
const PARSE_TIME: DateTime<Utc> = NaiveDate::from_ymd_opt(2024, 5, 6)
    .expect("a date")
    .and_hms_opt(7, 8, 9)
    .expect("a time")
    .and_utc();

fuzz_target!(|data: &[u8]| {
    match parse_page(data) {
        Ok(page) => {
            assert_eq!(page.body_bytes, data.len());
            if let Some(c) = &page.next_cursor {
                assert!(!c.is_empty() && c.len() <= MAX_CURSOR_BYTES);
            }
            let normalizer = Normalizer::new(SourceInfo {
                source_id: "fuzz".into(),
                source_label: "fuzz".into(),
            });
            for event in &page.events {
                match normalizer.normalize(event, PARSE_TIME) {
                    Outcome::Valid(v) => {
                        assert!(v.line.starts_with('{') && v.line.ends_with('}'));
                        assert!(!v.line.contains('\n'));
                        assert!(nesting_depth(&v.line) <= MAX_NESTING_DEPTH);
                        serde_json::from_str::<IgnoredAny>(&v.line).expect("a valid line is JSON");
                    }
                    Outcome::Quarantined(q) => {
                        assert!(!q.reason.is_empty() && q.reason.len() < 2000);
                        assert!(!q
                            .reason
                            .chars()
                            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'));
                        assert!(!q.line.contains('\n'));
                        serde_json::from_str::<IgnoredAny>(&q.line)
                            .expect("a quarantine line is JSON");
                    }
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            assert!(message.chars().count() < 300, "{message}");
            assert!(!message.chars().any(char::is_control), "{message}");
        }
    }
    let summary = ErrorSummary::from_body(data, |s| s.to_string());
    for text in [&summary.code, &summary.detail].into_iter().flatten() {
        assert!(text.chars().count() <= 300);
        assert!(!text.chars().any(char::is_control));
    }
});
