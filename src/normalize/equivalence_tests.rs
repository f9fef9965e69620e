//! The optimized normalizer (one compaction pass, views read by scanning, `p_parse_time`
//! rendered once per page, digits written directly) gives exactly what the one before it
//! (`reference`, kept verbatim) gives: the same line, reason, dedupe key and times, byte for
//! byte, for real, generated, hostile and arbitrary events, compact or pretty-printed.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::Value;

use super::reference::{self, Reference};
use super::{
    compact_json_into, format_panther_timestamp, nesting_depth, push_json_string, scan, Normalizer,
    ParseTime, SourceInfo,
};

const REAL_PAGE: &str = include_str!("../../tests/fixtures/atlassian/events_page_real_2021.json");
const PANTHER_EVENT: &str =
    include_str!("../../tests/fixtures/atlassian/panther_user_logged_in_as_user.json");
const PARSE_TIME: DateTime<Utc> = NaiveDate::from_ymd_opt(2024, 5, 6)
    .expect("a date")
    .and_hms_nano_opt(7, 8, 9, 123_456_789)
    .expect("a time")
    .and_utc();

/// `year-month-day hour:minute:second.nanos` at `offset_minutes` east of UTC.
fn at(
    ymd: (i32, u32, u32),
    hms: (u32, u32, u32),
    nanos: u32,
    offset_minutes: i32,
) -> DateTime<FixedOffset> {
    let local = NaiveDate::from_ymd_opt(ymd.0, ymd.1, ymd.2)
        .and_then(|d| d.and_hms_nano_opt(hms.0, hms.1, hms.2, nanos))
        .expect("a valid date and time");
    FixedOffset::east_opt(offset_minutes * 60)
        .and_then(|o| o.from_local_datetime(&local).single())
        .expect("a valid offset")
}

fn source() -> SourceInfo {
    SourceInfo {
        source_id: "src-1".to_owned(),
        source_label: "Atlassian \"prod\" org".to_owned(),
    }
}

/// Both normalizers agree on `text`, through both entry points.
fn assert_same(text: &str) {
    let raw = RawValue::from_string(text.to_owned())
        .unwrap_or_else(|e| panic!("test input is not JSON ({e}): {text}"));
    let want = Reference::new(source()).normalize(&raw, PARSE_TIME);
    let normalizer = Normalizer::new(source());
    assert_eq!(normalizer.normalize(&raw, PARSE_TIME), want, "{text}");
    assert_eq!(
        normalizer.normalize_at(&raw, &ParseTime::new(PARSE_TIME)),
        want,
        "{text}"
    );
}

fn real_events() -> Vec<Value> {
    let page: Value = serde_json::from_str(REAL_PAGE).expect("the fixture page");
    let mut events = page["data"].as_array().expect("data").clone();
    events.push(serde_json::from_str(PANTHER_EVENT).expect("the Panther fixture"));
    events
}

fn quoted(s: &str) -> String {
    let mut out = String::new();
    push_json_string(&mut out, s);
    out
}

#[test]
fn real_generated_and_hostile_events_compact_and_pretty() {
    let window = (1_741_599_600_000, 1_741_599_600_000 + 3_600_000);
    let mut events = real_events();
    events.extend(simulated_org::generate_events(3, 300, window));
    events.extend(simulated_org::generate_invalid_events_in(3, 30, window));
    for event in &events {
        assert_same(&event.to_string());
        assert_same(&serde_json::to_string_pretty(event).expect("serializes"));
    }
    let hostile =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile/normalizer");
    for entry in std::fs::read_dir(hostile).expect("the hostile fixtures") {
        let bytes = std::fs::read(entry.expect("an entry").path()).expect("readable");
        if let Ok(raw) = serde_json::from_slice::<Box<RawValue>>(&bytes) {
            assert_same(raw.get());
        }
    }
}

/// Where a scan could read differently from serde: escaped names (which serde unescapes, even
/// to a name it reads), repeated names (which serde's derive refuses), at every level read.
#[test]
fn escaped_and_repeated_names_at_every_level() {
    let actor = r#"{"id":"a1","name":"Ann","email":"ann@example.com"}"#;
    let good_attrs = format!(
        r#""time":"2021-04-03T06:12:11Z","processedAt":"2021-04-03T06:12:12Z","actor":{actor},"location":{{"ip":"203.0.113.9"}},"context":[{{"links":{{"self":"https://x.example/a"}}}}]"#
    );
    let event = |attrs: &str| {
        format!(r#"{{"id":"e1","type":"events","attributes":{{{attrs}}},"links":{{}}}}"#)
    };
    let mut cases = vec![
        event(&good_attrs),
        // Top level.
        format!(
            r#"{{"i\u0064":"e1","type":"events","attributes":{{{good_attrs}}},"links":{{}}}}"#
        ),
        format!(
            r#"{{"id":"e1","id":"e2","type":"events","attributes":{{{good_attrs}}},"links":{{}}}}"#
        ),
        format!(
            r#"{{"id":"e1","type":"events","attributes":{{{good_attrs}}},"links":{{}},"x\ud800":1}}"#
        ),
        format!(
            r#"{{"id":"e1","type":"events","x":1,"x":2,"attributes":{{{good_attrs}}},"links":{{}}}}"#
        ),
        // Attributes.
        event(&format!(r#"{good_attrs},"tim\u0065":"2022-01-01T00:00:00Z""#)),
        event(&format!(r#"{good_attrs},"time":"2022-01-01T00:00:00Z""#)),
        event(&format!(r#"{good_attrs},"processedAt":null"#)),
        event(&format!(r#"{good_attrs},"\ud800":null"#)),
        // Actor, its principal, location, context items and their links.
        event(&good_attrs.replace(
            actor,
            r#"{"id":"a1","name":"Ann","n\u0061me":"Bob","email":"ann@example.com"}"#,
        )),
        event(&good_attrs.replace(
            actor,
            r#"{"id":"a1","name":"Ann","name":"Bob","email":"ann@example.com"}"#,
        )),
        event(&good_attrs.replace(
            actor,
            r#"{"id":"a1","onBehalfOf":{"name":"P","name":"Q","id":"p"},"email":"a@b.co"}"#,
        )),
        event(&good_attrs.replace(
            actor,
            r#"{"id":"a1","onBehalfOf":{"nam\u0065":"P","id":"p"},"email":"a@b.co"}"#,
        )),
        event(&good_attrs.replace(r#"{"ip":"203.0.113.9"}"#, r#"{"ip":"203.0.113.9","ip":"198.51.100.1"}"#)),
        event(&good_attrs.replace(r#"{"ip":"203.0.113.9"}"#, r#"{"\u0069p":"198.51.100.1"}"#)),
        event(&good_attrs.replace(
            r#"{"links":{"self":"https://x.example/a"}}"#,
            r#"{"links":{"self":"https://x.example/a"},"links":{"alt":"https://y.example"}}"#,
        )),
        event(&good_attrs.replace(
            r#"{"links":{"self":"https://x.example/a"}}"#,
            r#"{"lin\u006bs":{"self":"https://y.example/a"}}"#,
        )),
        event(&good_attrs.replace(
            r#"{"self":"https://x.example/a"}"#,
            r#"{"self":"https://x.example/a","\ud800":"https://z.example/","s\"":"https://w.example"}"#,
        )),
        event(&good_attrs.replace(
            r#"{"self":"https://x.example/a"}"#,
            r#"{"self":"https://x.example/a","self":"https://v.example/"}"#,
        )),
        // Escaped values.
        event(&good_attrs.replace(r#""a1""#, r#""a\u0031\n""#)),
        event(&good_attrs.replace(r#""Ann""#, r#""\u0041nn \"the\" admin""#)),
        event(&good_attrs.replace(
            r#""https://x.example/a""#,
            r#""https:\/\/X.EXAMPLE\/a""#,
        )),
    ];
    // Each case also pretty-printed by hand: blanks around every token.
    let spaced: Vec<String> = cases
        .iter()
        .map(|c| {
            c.replace("\":", "\" :\n ")
                .replace(",\"", " ,\t\"")
                .replace('{', "{ ")
                .replace('}', " }")
        })
        .collect();
    cases.extend(spaced);
    for case in &cases {
        assert_same(case);
    }
}

/// JSON text of any shape, names the normalizer reads (some escaped or repeated), values it
/// looks at closely, and blanks of any kind between tokens.
fn json_text() -> impl Strategy<Value = String> {
    let string = prop_oneof![
        any::<String>().prop_map(|s| quoted(&s)),
        prop::sample::select(vec![
            "2021-04-03T06:12:11.117451Z",
            "2021-04-03T06:12:19.008+02:00",
            "2021-04-03T23:59:60Z",
            "alice@example.com",
            "Atlassian Internal System",
            "https://admin.atlassian.com/o/x",
            "http://[2001:db8::1]:8080/",
            "HTTPS://Example.COM./p",
            "10.0.0.1",
            "events",
            "",
        ])
        .prop_map(quoted),
        prop::sample::select(vec![
            r#""\ud800""#,
            r#""a\u0000b""#,
            r#""https:\/\/x.example\/""#,
            "\"\u{7f}\u{85}\u{2028}\"",
        ])
        .prop_map(str::to_owned),
    ];
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1e400".to_owned()),
        string.clone(),
    ];
    let key = prop_oneof![
        4 => prop::sample::select(vec![
            "id", "type", "attributes", "links", "time", "processedAt", "actor", "name",
            "email", "onBehalfOf", "context", "location", "ip", "self", "alt",
        ])
        .prop_map(quoted),
        1 => prop::sample::select(vec![r#""i\u0064""#, r#""\u0074ime""#, r#""\ud800""#])
            .prop_map(str::to_owned),
        1 => string,
    ];
    let blank = prop::sample::select(vec!["", "", "", " ", "\n  ", "\t", "\r\n"]);
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), blank.clone())
                .prop_map(|(v, b)| { format!("[{b}{}{b}]", v.join(&format!("{b},{b}"))) }),
            (
                prop::collection::vec((key.clone(), inner), 0..6),
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

/// A real event with one node replaced by any JSON text (or removed), compact or pretty.
fn mutated_real_event() -> impl Strategy<Value = String> {
    let events = real_events();
    let count = events.len();
    (
        0..count,
        any::<prop::sample::Index>(),
        json_text(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(e, node, replacement, remove, pretty)| {
            let mut event = events[e].clone();
            let mut all = Vec::new();
            pointers(&event, String::new(), &mut all);
            let pointer = &all[node.index(all.len())];
            let (parent, member) = pointer.rsplit_once('/').expect("a pointer");
            let member = member.replace("~1", "/").replace("~0", "~");
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
            let text = if pretty {
                serde_json::to_string_pretty(&event).expect("serializes")
            } else {
                event.to_string()
            };
            text.replace(&quoted(MARK), &replacement)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_json_event_normalizes_as_before(text in json_text()) {
        assert_same(&text);
    }

    #[test]
    fn any_json_inside_a_real_event_normalizes_as_before(text in mutated_real_event()) {
        assert_same(&text);
    }

    #[test]
    fn any_json_as_attributes_normalizes_as_before(attrs in json_text(), top in json_text()) {
        assert_same(&format!(
            r#"{{"id":"e","type":"events","attributes":{attrs},"links":{{}},"x":{top}}}"#
        ));
    }

    /// Compaction and depth in one pass are the two passes they replace, for any text at all.
    #[test]
    fn one_pass_compaction_is_the_two_passes(
        text in prop_oneof![any::<String>(), json_text(), mutated_real_event()]
    ) {
        let mut want = String::from("prefix");
        compact_json_into(&text, &mut want);
        let mut got = String::from("prefix");
        let mut closers = scan::Closers::default();
        let depth = scan::compact_with_depth(&text, &mut got, &mut closers);
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(depth, nesting_depth(&text));
        prop_assert_eq!(depth, nesting_depth(&want));
        // Where valid JSON's arrays and objects close: every one, where a scan finds it.
        if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok() {
            let compact = &got.as_bytes()["prefix".len()..];
            let mut count = 0;
            for (open, close) in closers.pairs() {
                prop_assert!(matches!(compact[open], b'{' | b'['), "an opener at {}", open);
                prop_assert_eq!(close.map(|c| c + 1), Some(scan::value_end(compact, open)));
                count += 1;
            }
            let mut outside = String::new();
            let mut in_string = false;
            let mut escaped = false;
            for c in std::str::from_utf8(compact).expect("UTF-8").chars() {
                match (in_string, escaped, c) {
                    (true, true, _) => escaped = false,
                    (true, false, '\\') => escaped = true,
                    (true, false, '"') => in_string = false,
                    (true, false, _) => {}
                    (false, _, '"') => in_string = true,
                    (false, _, c) => outside.push(c),
                }
            }
            prop_assert_eq!(count, outside.matches(['{', '[']).count());
        }
    }

    #[test]
    fn panther_timestamps_as_before(
        seconds in -377_705_116_800i64..253_402_300_799i64,
        nanos in 0u32..1_000_000_000,
        offset_minutes in -(23 * 60 + 59)..=(23 * 60 + 59i32),
    ) {
        let offset = FixedOffset::east_opt(offset_minutes * 60).expect("valid");
        let t = DateTime::from_timestamp(seconds, nanos)
            .expect("in range")
            .with_timezone(&offset);
        prop_assert_eq!(format_panther_timestamp(t), reference::format_panther_timestamp(t));
    }
}

#[test]
fn panther_timestamps_at_the_edges() {
    for t in [
        DateTime::UNIX_EPOCH.fixed_offset(),
        at((0, 1, 1), (0, 0, 0), 0, 0),
        at((-1, 12, 31), (23, 59, 59), 999_999_999, 0),
        at((-9999, 1, 1), (0, 0, 0), 0, 0),
        at((9999, 12, 31), (23, 59, 59), 999_999_999, 0),
        at((9999, 12, 31), (23, 59, 59), 999_999_999, -(23 * 60 + 59)),
        at((-9999, 1, 1), (0, 0, 0), 0, 23 * 60 + 59),
        PARSE_TIME.fixed_offset(),
    ] {
        assert_eq!(
            format_panther_timestamp(t),
            reference::format_panther_timestamp(t),
            "{t}"
        );
    }
}
