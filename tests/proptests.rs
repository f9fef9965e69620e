//! Property-based fuzzing of the response parser and the normalizer: arbitrary bytes,
//! arbitrary JSON-shaped text (including what serde_json's `Value` cannot hold: duplicate
//! keys, lone surrogate escapes, numbers beyond f64) and mutated real fixtures. Whatever comes
//! in, a page is parsed or refused with a typed error, and every event is valid or quarantined
//! with a reason; nothing panics. Also replays the inputs the coverage-guided fuzzers found
//! (`tests/fixtures/hostile/`).
//!
//! Case counts are kept small so the whole set runs in seconds in a debug build; raise them
//! with `PROPTEST_CASES=…` for a longer session. Failures found are kept in
//! `proptest-regressions/tests/proptests.txt` and replayed first.

use atlassian_audit::normalize::{
    compact_json_into, nesting_depth, parse_timestamp, Normalizer, Outcome, ParseTime, SourceInfo,
    MAX_NESTING_DEPTH,
};
use atlassian_audit::source::atlassian::{parse_page, ErrorSummary, MAX_CURSOR_BYTES};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use serde_json::Value;

const REAL_PAGE: &str = include_str!("fixtures/atlassian/events_page_real_2021.json");
const PANTHER_EVENT: &str = include_str!("fixtures/atlassian/panther_user_logged_in_as_user.json");
/// Where proptest keeps its failures: by default it looks beside `src/`, which a test outside
/// it does not have.
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/tests/proptests.txt"
);

fn parse_time() -> ParseTime {
    ParseTime::new(parse_timestamp("2024-05-06T07:08:09.123Z").expect("a timestamp"))
}

fn normalizer() -> Normalizer {
    Normalizer::new(SourceInfo {
        source_id: "prop".to_owned(),
        source_label: "prop".to_owned(),
    })
}

/// Characters a log line must never carry raw.
fn breaks_a_log_line(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// What must hold for any event: valid (one JSON line: the event's own members, compacted,
/// then the `p_*` fields) or quarantined (a reason that is non-empty, short and safe to log,
/// and a JSON line keeping the event); the same outcome every time.
fn check_event(normalizer: &Normalizer, raw: &RawValue) {
    let parse_time = parse_time();
    let outcome = normalizer.normalize_at(raw, &parse_time);
    assert_eq!(
        outcome,
        normalizer.normalize(raw, parse_time.time()),
        "deterministic"
    );
    // The normalizer compacts and measures the nesting in one pass; these are the two passes
    // it stands for.
    let mut compact = String::new();
    compact_json_into(raw.get(), &mut compact);
    let depth = nesting_depth(raw.get());
    match outcome {
        Outcome::Valid(v) => {
            assert!(depth <= MAX_NESTING_DEPTH, "valid at depth {depth}");
            assert!(!v.dedupe_key.is_empty());
            assert!(compact.len() >= 2 && v.line.starts_with(&compact[..compact.len() - 1]));
            assert!(
                v.line
                    .contains(",\"p_log_type\":\"Atlassian.Audit\",\"p_row_id\":\""),
                "{}",
                v.line
            );
            assert!(v.line.ends_with('}') && !v.line.contains('\n'));
            assert!(nesting_depth(&v.line) <= MAX_NESTING_DEPTH);
            serde_json::from_str::<IgnoredAny>(&v.line).expect("a valid line is JSON");
        }
        Outcome::Quarantined(q) => {
            assert!(!q.dedupe_key.is_empty());
            assert!(!q.reason.is_empty(), "a reason");
            assert!(q.reason.len() < 2_000, "a short reason: {}", q.reason);
            assert!(
                !q.reason.chars().any(breaks_a_log_line),
                "safe to log: {:?}",
                q.reason
            );
            assert!(q.line.starts_with("{\"error\":") && !q.line.contains('\n'));
            // The event kept compacted: as JSON, or as a string when it nests too deep.
            let too_deep = depth > MAX_NESTING_DEPTH;
            let kept = if too_deep {
                format!(",\"raw_text\":{}}}", quoted(&compact))
            } else {
                format!(",\"raw\":{compact}}}")
            };
            assert!(q.line.ends_with(&kept), "{} keeps {kept}", q.line);
            assert_eq!(
                q.reason
                    .starts_with(&format!("event nests {depth} levels deep")),
                too_deep,
                "{}",
                q.reason
            );
            assert!(nesting_depth(&q.line) <= MAX_NESTING_DEPTH + 1);
            serde_json::from_str::<IgnoredAny>(&q.line).expect("a quarantine line is JSON");
        }
    }
}

/// What must hold for any body: a page (each event then checked) or a typed error with a
/// short one-line message; the error-body reader never panics and quotes briefly.
fn check_body(normalizer: &Normalizer, body: &[u8]) {
    match parse_page(body) {
        Ok(page) => {
            assert_eq!(page.body_bytes, body.len());
            if let Some(c) = &page.next_cursor {
                assert!(!c.is_empty() && c.len() <= MAX_CURSOR_BYTES);
            }
            for event in &page.events {
                check_event(normalizer, event);
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            assert!(message.chars().count() < 300, "{message}");
            assert!(!message.chars().any(breaks_a_log_line), "{message:?}");
        }
    }
    let summary = ErrorSummary::from_body(body, |s| s.to_string());
    for text in [&summary.code, &summary.detail].into_iter().flatten() {
        assert!(text.chars().count() <= 300);
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }
}

fn quoted(s: &str) -> String {
    let mut out = String::new();
    atlassian_audit::normalize::push_json_string(&mut out, s);
    out
}

/// JSON strings: any text, and values the normalizer looks at closely.
fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>().prop_map(|s| quoted(&s)),
        prop::sample::select(vec![
            "2021-04-03T06:12:11.117451Z",
            "2021-04-03T06:12:19.008+02:00",
            "2021-04-03T23:59:60Z",
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00-00:00",
            "2021-02-29T00:00:00Z",
            "alice@example.com",
            "Atlassian Internal System",
            "https://admin.atlassian.com/o/x",
            "http://[2001:db8::1]:8080/",
            "10.0.0.1",
            "::1",
            "events",
            "",
        ])
        .prop_map(quoted),
        // Escapes `Value` would refuse or rewrite: lone surrogates, an escaped NUL, DEL.
        prop::sample::select(vec![
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""a\u0000b""#,
            "\"\u{7f}\u{85}\u{9b}\u{2028}\"",
            r#""\/\b\f""#,
        ])
        .prop_map(str::to_owned),
    ]
}

fn json_number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        prop::sample::select(vec![
            "1e400",
            "-0",
            "123456789012345678901234567890",
            "5E-324"
        ])
        .prop_map(str::to_owned),
    ]
}

/// Member names: those the normalizer reads, and any other.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "id", "type", "attributes", "links", "time", "processedAt", "actor", "name",
            "email", "onBehalfOf", "context", "location", "ip", "self", "alt", "data", "meta",
            "next", "p_log_type",
        ])
        .prop_map(quoted),
        1 => json_string(),
    ]
}

/// JSON text of any shape, up to a few levels deep, with blanks of any kind between tokens.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        json_number(),
        json_string(),
    ];
    let blank = prop::sample::select(vec!["", "", "", " ", "\n  ", "\t", "\r\n"]);
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), blank.clone())
                .prop_map(|(v, b)| format!("[{b}{}{b}]", v.join(&format!("{b},{b}")))),
            (
                prop::collection::vec((json_key(), inner), 0..6),
                blank.clone()
            )
                .prop_map(|(members, b)| {
                    let body: Vec<String> = members
                        .iter()
                        .map(|(k, v)| format!("{k}{b}:{b}{v}"))
                        .collect();
                    format!("{{{b}{}{b}}}", body.join(&format!("{b},{b}")))
                }),
        ]
    })
}

/// The real events, each as a `Value`.
fn real_events() -> Vec<Value> {
    let page: Value = serde_json::from_str(REAL_PAGE).expect("the fixture page");
    let mut events = page["data"].as_array().expect("data").clone();
    events.push(serde_json::from_str(PANTHER_EVENT).expect("the Panther fixture"));
    events
}

/// JSON pointers of every node of `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

/// A real event with one node replaced by any JSON (or removed), as text.
fn mutated_real_event() -> impl Strategy<Value = String> {
    let events = real_events();
    let count = events.len();
    (
        0..count,
        any::<prop::sample::Index>(),
        json_text(),
        any::<bool>(),
    )
        .prop_map(move |(e, node, replacement, remove)| {
            let mut event = events[e].clone();
            let mut all = Vec::new();
            pointers(&event, String::new(), &mut all);
            let pointer = &all[node.index(all.len())];
            let (parent, member) = pointer.rsplit_once('/').expect("a pointer");
            let member = member.replace("~1", "/").replace("~0", "~");
            // Re-serialize with a marker in place, then splice the replacement text in, so
            // that text `Value` cannot hold survives.
            const MARK: &str = "\u{1}mutation\u{1}";
            match event.pointer_mut(parent) {
                Some(Value::Object(m)) if remove => {
                    m.remove(&member);
                }
                Some(Value::Object(m)) => {
                    m.insert(member, Value::String(MARK.to_owned()));
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = member.parse::<usize>() {
                        a[i] = Value::String(MARK.to_owned());
                    }
                }
                _ => {}
            }
            event.to_string().replace(&quoted(MARK), &replacement)
        })
}

/// The real page's text with a few bytes flipped, inserted, removed or cut.
fn mutated_real_page() -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), any::<u8>(), 0..4u8);
    prop::collection::vec(edit, 1..6).prop_map(|edits| {
        let mut bytes = REAL_PAGE.as_bytes().to_vec();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 => {
                    bytes.remove(i);
                }
                _ => bytes.truncate(i),
            }
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..ProptestConfig::with_cases(1024)
    })]

    #[test]
    fn any_bytes_are_a_page_or_a_typed_error(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_body(&normalizer(), &body);
    }

    #[test]
    fn any_json_is_a_page_or_a_typed_error(text in json_text()) {
        check_body(&normalizer(), text.as_bytes());
    }

    #[test]
    fn any_events_in_a_page_envelope(
        events in prop::collection::vec(json_text(), 0..5),
        next in prop_oneof![Just("null".to_owned()), json_text()],
        links in json_text(),
    ) {
        let body = format!(
            r#"{{"data":[{}],"meta":{{"next":{next},"page_size":{}}},"links":{links}}}"#,
            events.join(","),
            events.len()
        );
        check_body(&normalizer(), body.as_bytes());
    }

    #[test]
    fn any_json_event_is_valid_or_quarantined(text in json_text()) {
        let raw = RawValue::from_string(text).expect("the strategy writes valid JSON");
        check_event(&normalizer(), &raw);
    }

    #[test]
    fn any_string_as_the_times_and_the_id(
        id in json_string(),
        time in json_string(),
        processed_at in json_string(),
    ) {
        let text = format!(
            r#"{{"id":{id},"type":"events","attributes":{{"time":{time},"processedAt":{processed_at}}},"links":{{}}}}"#
        );
        let raw = RawValue::from_string(text).expect("valid JSON");
        check_event(&normalizer(), &raw);
    }

    #[test]
    fn any_json_inside_a_real_event(text in mutated_real_event()) {
        let raw = RawValue::from_string(text).expect("valid JSON after the splice");
        check_event(&normalizer(), &raw);
    }

    #[test]
    fn a_real_page_with_bytes_mutated(body in mutated_real_page()) {
        check_body(&normalizer(), &body);
    }

    #[test]
    fn any_bytes_as_an_event(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(raw) = serde_json::from_slice::<Box<RawValue>>(&body) {
            check_event(&normalizer(), &raw);
        }
    }
}

/// Every input the coverage-guided fuzzers (`fuzz/`) found a problem with, replayed.
#[test]
fn inputs_the_fuzzers_found_keep_the_invariants() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    let n = normalizer();
    let mut replayed = 0;
    for (dir, event) in [("normalizer", true), ("page_parser", false)] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let bytes = std::fs::read(&path).expect("read a fixture");
            if event {
                if let Ok(raw) = serde_json::from_slice::<Box<RawValue>>(&bytes) {
                    check_event(&n, &raw);
                }
            } else {
                check_body(&n, &bytes);
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 1, "the fixtures are there");
}

/// The first finding: a DEL in `attributes.time` went raw into the quarantine reason, and from
/// there into the logs; so would NEL (a line break to some log viewers) and CSI (a terminal
/// escape).
#[test]
fn control_characters_in_a_quoted_value_are_escaped() {
    for (time, escaped) in [
        ("\u{7f}", r"\u007f"),
        ("2021\u{85}", r"\u0085"),
        ("\u{9b}31m", r"\u009b"),
        ("a\u{2028}b", r"\u2028"),
        ("\u{1b}[31m", r"\u001b"),
    ] {
        let text = format!(
            r#"{{"id":"e","type":"events","attributes":{{"time":{}}},"links":{{}}}}"#,
            quoted(time)
        );
        let raw = RawValue::from_string(text).expect("JSON");
        match normalizer().normalize_at(&raw, &parse_time()) {
            Outcome::Quarantined(q) => {
                assert!(q.reason.contains(escaped), "{:?}", q.reason);
                assert!(!q.reason.chars().any(breaks_a_log_line), "{:?}", q.reason);
            }
            Outcome::Valid(v) => panic!("valid: {}", v.line),
        }
    }
}
