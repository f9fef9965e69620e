//! Golden files of the normalizer: each event of `tests/golden/<set>.input` normalized, compared
//! byte for byte with the record of it in `tests/golden/<set>.expected.ndjson`, with the source
//! and parse time of `tests/golden/golden.json`. What the sets hold and how they were made:
//! `tests/golden/README.md`.
//!
//! After a deliberate change of output, rewrite the expected files and review the diff:
//! `UPDATE_GOLDEN=1 cargo test -p atlassian-audit-collector --test normalize_golden`.

use std::path::{Path, PathBuf};

use atlassian_audit::normalize::{
    format_panther_timestamp, parse_timestamp, Normalizer, Outcome, ParseTime, SourceInfo,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

const INPUT: &str = ".input";
const EXPECTED: &str = ".expected.ndjson";

#[derive(Deserialize)]
struct Manifest {
    /// RFC 3339.
    parse_time: String,
    source_id: String,
    source_label: String,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// One line of an expected file: what the normalizer gave for one event, its line embedded as
/// it is.
fn record(outcome: &Outcome) -> String {
    let optional_time =
        |t: Option<_>| t.map_or("null".to_owned(), |t| quoted(&format_panther_timestamp(t)));
    match outcome {
        Outcome::Valid(v) => format!(
            r#"{{"outcome":"valid","dedupe_key":{},"event_time":{},"processed_at":{},"line":{}}}"#,
            quoted(&v.dedupe_key),
            quoted(&format_panther_timestamp(v.event_time)),
            optional_time(v.processed_at),
            v.line
        ),
        Outcome::Quarantined(q) => format!(
            r#"{{"outcome":"quarantined","dedupe_key":{},"processed_at":{},"reason":{},"line":{}}}"#,
            quoted(&q.dedupe_key),
            optional_time(q.processed_at),
            quoted(&q.reason),
            q.line
        ),
    }
}

/// Where two JSON values first differ, as a path (`line.attributes.actor.name`), with both sides.
fn value_difference(path: &str, want: &Value, got: &Value) -> Option<String> {
    let at = |member: &str| {
        if path.is_empty() {
            member.to_owned()
        } else {
            format!("{path}.{member}")
        }
    };
    let here = if path.is_empty() { "the record" } else { path };
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (i, ((wk, wv), (gk, gv))) in w.iter().zip(g).enumerate() {
                if wk != gk {
                    return Some(format!("`{here}`: member {i} should be `{wk}`, is `{gk}`"));
                }
                if let Some(d) = value_difference(&at(wk), wv, gv) {
                    return Some(d);
                }
            }
            (w.len() != g.len()).then(|| {
                let keys =
                    |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
                format!(
                    "`{here}`: members should be {:?}, are {:?}",
                    keys(w),
                    keys(g)
                )
            })
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                if let Some(d) = value_difference(&at(&i.to_string()), wv, gv) {
                    return Some(d);
                }
            }
            (w.len() != g.len())
                .then(|| format!("`{here}`: {} elements expected, {} found", w.len(), g.len()))
        }
        _ => (want != got).then(|| format!("`{here}`: expected {want}, got {got}")),
    }
}

/// Where two records first differ: the field, when both read as JSON and differ in value; the
/// byte otherwise (text `Value` cannot hold, such as a lone surrogate, or the same value
/// written differently).
fn difference(want: &str, got: &str) -> String {
    if let (Ok(w), Ok(g)) = (
        serde_json::from_str::<Value>(want),
        serde_json::from_str::<Value>(got),
    ) {
        if let Some(d) = value_difference("", &w, &g) {
            return d;
        }
    }
    let at = want
        .bytes()
        .zip(got.bytes())
        .position(|(w, g)| w != g)
        .unwrap_or(want.len().min(got.len()));
    let around = |s: &str| {
        let from = (0..=at.saturating_sub(40))
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        let to = (at + 40..=s.len())
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(s.len());
        s[from..to].to_owned()
    };
    format!(
        "at byte {at}: expected …{}…, got …{}…",
        around(want),
        around(got)
    )
}

/// The events of an input file (JSON texts separated by blanks) with the line each starts on.
fn events(path: &Path, text: &str) -> Vec<(usize, Box<RawValue>)> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Box<RawValue>>();
    let mut out = Vec::new();
    loop {
        let start = stream.byte_offset();
        let Some(next) = stream.next() else {
            return out;
        };
        let raw = next.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let blanks = text[start..].len() - text[start..].trim_start().len();
        let line = 1 + text[..start + blanks].matches('\n').count();
        out.push((line, raw));
    }
}

#[test]
fn normalized_events_match_the_golden_files() {
    let dir = golden_dir();
    let manifest: Manifest = serde_json::from_str(
        &std::fs::read_to_string(dir.join("golden.json")).expect("tests/golden/golden.json"),
    )
    .expect("the manifest");
    let time = parse_timestamp(&manifest.parse_time).expect("an RFC 3339 parse time");
    let parse_time = ParseTime::new(time);
    let normalizer = Normalizer::new(SourceInfo {
        source_id: manifest.source_id,
        source_label: manifest.source_label,
    });
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");

    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/golden") {
        let file = entry
            .expect("an entry")
            .file_name()
            .into_string()
            .expect("UTF-8");
        if let Some(name) = file.strip_suffix(INPUT) {
            names.push(name.to_owned());
        } else if let Some(name) = file.strip_suffix(EXPECTED) {
            assert!(
                dir.join(format!("{name}{INPUT}")).is_file(),
                "tests/golden/{file} has no {name}{INPUT}"
            );
        }
    }
    names.sort();
    assert!(!names.is_empty(), "no tests/golden/*{INPUT}");

    let mut failures = Vec::new();
    let mut compared = 0;
    for name in &names {
        let input_path = dir.join(format!("{name}{INPUT}"));
        let expected_path = dir.join(format!("{name}{EXPECTED}"));
        let input = std::fs::read_to_string(&input_path).expect("a UTF-8 input file");
        let events = events(&input_path, &input);
        assert!(
            !events.is_empty(),
            "{} holds no event",
            input_path.display()
        );
        let records: Vec<String> = events
            .iter()
            .map(|(_, raw)| {
                let outcome = normalizer.normalize_at(raw, &parse_time);
                assert_eq!(
                    outcome,
                    normalizer.normalize(raw, time),
                    "both entry points agree on {}",
                    raw.get()
                );
                record(&outcome)
            })
            .collect();
        if update {
            let mut body = records.join("\n");
            body.push('\n');
            std::fs::write(&expected_path, body).expect("the expected file written");
            eprintln!("wrote {}", expected_path.display());
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
            panic!(
                "{} ({e}); write it with UPDATE_GOLDEN=1",
                expected_path.display()
            )
        });
        let expected: Vec<&str> = expected.lines().collect();
        let mut differ = 0;
        let mut first = String::new();
        for (i, ((line, _), got)) in events.iter().zip(&records).enumerate() {
            compared += 1;
            match expected.get(i) {
                Some(want) if *want == got.as_str() => {}
                want => {
                    if differ == 0 {
                        first = match want {
                            Some(want) => difference(want, got),
                            None => "no expected record".to_owned(),
                        };
                        first = format!(
                            "tests/golden/{name}{EXPECTED}:{} (event {} of {name}{INPUT}, line {line}): {first}",
                            i + 1,
                            i + 1
                        );
                    }
                    differ += 1;
                }
            }
        }
        if expected.len() > records.len() {
            differ += expected.len() - records.len();
            if first.is_empty() {
                first = format!(
                    "tests/golden/{name}{EXPECTED}: {} records for {} events",
                    expected.len(),
                    records.len()
                );
            }
        }
        if differ > 0 {
            failures.push(format!(
                "{first}\n  ({differ} of {} records differ)",
                records.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "normalized output differs from the golden files:\n{}\nIf the change is meant, rewrite them with \
         UPDATE_GOLDEN=1 cargo test -p atlassian-audit-collector --test normalize_golden \
         and review the diff.",
        failures.join("\n")
    );
    assert!(update || compared > 0);
}
