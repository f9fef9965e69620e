use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::*;
use crate::test_time::{fixed, utc};

const REAL_PAGE: &str = include_str!("../../tests/fixtures/atlassian/events_page_real_2021.json");
const PANTHER_EVENT: &str =
    include_str!("../../tests/fixtures/atlassian/panther_user_logged_in_as_user.json");

/// 2024-05-06T07:08:09.123Z
const PARSE_TIME: DateTime<Utc> = NaiveDate::from_ymd_opt(2024, 5, 6)
    .expect("a date")
    .and_hms_milli_opt(7, 8, 9, 123)
    .expect("a time")
    .and_utc();

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    data: Vec<&'a RawValue>,
}

fn real_events() -> Vec<&'static RawValue> {
    serde_json::from_str::<Page>(REAL_PAGE)
        .expect("fixture page parses")
        .data
}

fn normalizer() -> Normalizer {
    Normalizer::new(SourceInfo {
        source_id: "src-1".to_owned(),
        source_label: "Atlassian \"prod\" org".to_owned(),
    })
}

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).expect("test input is valid JSON")
}

fn run(text: &str) -> Outcome {
    normalizer().normalize(&raw(text), PARSE_TIME)
}

fn valid(outcome: Outcome) -> NormalizedEvent {
    match outcome {
        Outcome::Valid(v) => v,
        Outcome::Quarantined(q) => panic!("unexpectedly quarantined: {}", q.reason),
    }
}

fn quarantined(outcome: Outcome) -> QuarantinedEvent {
    match outcome {
        Outcome::Quarantined(q) => q,
        Outcome::Valid(v) => panic!("unexpectedly valid: {}", v.line),
    }
}

/// Parses an output line, checking it is one line of one JSON object.
fn parse_line(line: &str) -> serde_json::Map<String, Value> {
    assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => m,
        other => panic!("not a JSON object: {other:?} from {line}"),
    }
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn event_with_time(time: &str) -> &'static RawValue {
    real_events()
        .into_iter()
        .find(|e| e.get().contains(&format!("\"time\": \"{time}\"")))
        .unwrap_or_else(|| panic!("no fixture event at {time}"))
}

/// A minimal valid event whose attributes are `attrs`.
fn event(attrs: Value) -> String {
    json!({"id": "e-1", "type": "events", "attributes": attrs, "links": {"self": null}}).to_string()
}

// ---------- the real page ----------

#[test]
fn every_real_event_is_valid_and_keeps_every_field() {
    let n = normalizer();
    let events = real_events();
    assert_eq!(events.len(), 38);
    for raw in events {
        let input: Value = serde_json::from_str(raw.get()).expect("fixture event parses");
        let out = valid(n.normalize(raw, PARSE_TIME));
        assert_eq!(out.dedupe_key, input["id"].as_str().expect("id"));
        assert_eq!(
            out.processed_at, None,
            "the /events page has no processedAt"
        );
        let mut m = parse_line(&out.line);
        assert_eq!(m["p_log_type"], "Atlassian.Audit");
        assert_eq!(m["p_schema_version"], json!(0));
        assert_eq!(m["p_source_id"], "src-1");
        assert_eq!(m["p_source_label"], "Atlassian \"prod\" org");
        assert_eq!(m["p_parse_time"], "2024-05-06 07:08:09.123000000");
        assert_eq!(
            m["p_event_time"],
            format_panther_timestamp(out.event_time).as_str()
        );
        let row_id = m["p_row_id"].as_str().expect("row id");
        assert_eq!(row_id.len(), 32);
        assert!(row_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        m.retain(|k, _| !k.starts_with("p_"));
        assert_eq!(
            Value::Object(m),
            input,
            "fields changed in {}",
            out.dedupe_key
        );
        // Key order is kept too: the line starts with the compacted input.
        let mut compact = String::new();
        compact_json_into(raw.get(), &mut compact);
        assert!(out.line.starts_with(&compact[..compact.len() - 1]));
    }
}

#[test]
fn p_fields_are_appended_in_order() {
    let out = valid(normalizer().normalize(real_events()[2], PARSE_TIME));
    let tail = &out.line[out.line.find(",\"p_log_type\"").expect("p_log_type")..];
    let order = [
        "p_log_type",
        "p_row_id",
        "p_event_time",
        "p_parse_time",
        "p_source_id",
        "p_source_label",
        "p_schema_version",
        "p_any_ip_addresses",
        "p_any_domain_names",
        "p_any_emails",
        "p_any_usernames",
        "p_any_actor_ids",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| tail.find(&format!("\"{k}\":")).expect(k))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{tail}");
    assert!(out.line.ends_with("]}"));
}

#[test]
fn event_times_of_every_precision() {
    let n = normalizer();
    for (time, want) in [
        (
            "2021-04-03T06:12:11.117451Z",
            "2021-04-03 06:12:11.117451000",
        ),
        ("2021-04-01T22:55:18Z", "2021-04-01 22:55:18.000000000"),
        ("2021-04-01T22:55:19.008Z", "2021-04-01 22:55:19.008000000"),
    ] {
        let out = valid(n.normalize(event_with_time(time), PARSE_TIME));
        assert_eq!(parse_line(&out.line)["p_event_time"], want);
        assert_eq!(format_panther_timestamp(out.event_time), want);
        assert_eq!(out.event_time.timezone(), Utc);
    }
}

#[test]
fn indicators_of_a_normal_user() {
    let out =
        valid(normalizer().normalize(event_with_time("2021-04-01T22:55:19.008Z"), PARSE_TIME));
    let m = parse_line(&out.line);
    assert_eq!(strings(m.get("p_any_emails")), ["ctreminiom079@gmail.com"]);
    assert_eq!(strings(m.get("p_any_usernames")), ["Carlos Treminio"]);
    assert_eq!(strings(m.get("p_any_ip_addresses")), ["201.202.14.26"]);
    assert_eq!(
        strings(m.get("p_any_actor_ids")),
        ["5b86be50b8e3cb5895860d6d"]
    );
    // From context[].links, alt before self as in the document; not from actor/container links.
    assert_eq!(
        strings(m.get("p_any_domain_names")),
        ["admin.atlassian.com", "api.atlassian.com"]
    );
}

#[test]
fn system_actor_has_no_email() {
    let out = valid(normalizer().normalize(event_with_time("2021-04-01T22:55:18Z"), PARSE_TIME));
    let m = parse_line(&out.line);
    assert!(!m.contains_key("p_any_emails"), "{}", out.line);
    assert!(
        !m.contains_key("p_any_ip_addresses"),
        "no location on system events"
    );
    assert_eq!(
        strings(m.get("p_any_usernames")),
        ["Atlassian Internal System"]
    );
    assert_eq!(
        strings(m.get("p_any_actor_ids")),
        ["atlassian-internal-system"]
    );
    // Context links: alt set, self null.
    assert_eq!(
        strings(m.get("p_any_domain_names")),
        ["admin.atlassian.com"]
    );
}

#[test]
fn null_context_links_yield_no_domains() {
    let out = valid(normalizer().normalize(real_events()[0], PARSE_TIME));
    let m = parse_line(&out.line);
    assert!(!m.contains_key("p_any_domain_names"), "{}", out.line);
    assert_eq!(
        strings(m.get("p_any_emails")),
        ["4fc5c52a-2c28-48f2-8cd2-4d27d1cccc80@connect.atlassian.com"]
    );
}

#[test]
fn row_id_is_stable_and_per_source() {
    let first = real_events()[0];
    let a = valid(normalizer().normalize(first, PARSE_TIME));
    let again = valid(normalizer().normalize(first, utc("2030-01-01T00:00:00Z")));
    let row = |e: &NormalizedEvent| parse_line(&e.line)["p_row_id"].clone();
    // SHA-256("src-1\0" + id)[..16], computed independently.
    assert_eq!(row(&a), "008db585dcad84955dccf38db05cca9a");
    assert_eq!(row(&a), row(&again));
    let other = Normalizer::new(SourceInfo {
        source_id: "src-2".to_owned(),
        source_label: "x".to_owned(),
    });
    let b = valid(other.normalize(first, PARSE_TIME));
    assert_ne!(row(&a), row(&b));
    // A different event of the same source differs too.
    let c = valid(normalizer().normalize(real_events()[1], PARSE_TIME));
    assert_ne!(row(&a), row(&c));
}

// ---------- quarantine ----------

#[test]
fn panther_event_without_type_and_links_is_quarantined() {
    let q = quarantined(run(PANTHER_EVENT));
    assert!(
        q.reason.contains("`type`") && q.reason.contains("`links`"),
        "{}",
        q.reason
    );
    assert_eq!(q.reason, "missing required fields `type`, `links`");
    assert_eq!(q.dedupe_key, "2508d209-3336-4763-89a0-aceaf1322fcf");
    let m = parse_line(&q.line);
    assert_eq!(m["error"], q.reason.as_str());
    let input: Value = serde_json::from_str(PANTHER_EVENT).expect("fixture parses");
    assert_eq!(m["raw"], input);
    assert_eq!(m.len(), 2);
    // Deterministic: nothing time-dependent in it.
    let again =
        quarantined(normalizer().normalize(&raw(PANTHER_EVENT), utc("2000-01-01T00:00:00Z")));
    assert_eq!(again, q);
}

#[test]
fn one_missing_field_is_named() {
    let mut v: Value = serde_json::from_str(real_events()[0].get()).expect("parses");
    v.as_object_mut().expect("object").remove("links");
    let q = quarantined(run(&v.to_string()));
    assert_eq!(q.reason, "missing required field `links`");
    assert_eq!(q.dedupe_key, "25e4c3e7-7f0d-4b84-8028-330fed144a51");
}

#[test]
fn bad_or_missing_time_is_quarantined() {
    let q = quarantined(run(&event(json!({"time": "yesterday"}))));
    assert!(
        q.reason
            .starts_with("attributes.time \"yesterday\" is not an RFC 3339 timestamp"),
        "{}",
        q.reason
    );
    let q = quarantined(run(&event(json!({"action": "x"}))));
    assert_eq!(q.reason, "missing required field `attributes.time`");
    let q = quarantined(run(&event(
        json!({"time": "2021-04-01T22:55:19.0123456789Z"}),
    )));
    assert!(q.reason.contains("more than 9 fractional"), "{}", q.reason);
    let q = quarantined(run(&event(json!({"time": 1617317719}))));
    assert_eq!(
        q.reason,
        "field `attributes.time` must be a string, found a number"
    );
    // A huge value is quoted only in part.
    let q = quarantined(run(&event(json!({"time": "x".repeat(10_000)}))));
    assert!(q.reason.len() < 200, "{}", q.reason);
}

#[test]
fn wrong_types_never_panic() {
    let cases: &[(&str, Option<&str>)] = &[
        (
            r#"{"id":5,"type":"events","attributes":{"time":"2021-01-01T00:00:00Z"},"links":{}}"#,
            Some("field `id` must be a string, found a number"),
        ),
        (
            r#"{"id":"","type":"events","attributes":{"time":"2021-01-01T00:00:00Z"},"links":{}}"#,
            Some("field `id` is an empty string"),
        ),
        (
            r#"{"id":null,"type":"events","attributes":{"time":"2021-01-01T00:00:00Z"},"links":{}}"#,
            Some("field `id` must be a string, found null"),
        ),
        (
            r#"{"id":"a","type":["events"],"attributes":{"time":"2021-01-01T00:00:00Z"},"links":{}}"#,
            Some("field `type` must be a string, found an array"),
        ),
        (
            r#"{"id":"a","type":"events","attributes":[],"links":{}}"#,
            Some("field `attributes` must be an object, found an array"),
        ),
        (
            r#"{"id":"a","type":"events","attributes":{"time":"2021-01-01T00:00:00Z"},"links":"x"}"#,
            Some("field `links` must be an object, found a string"),
        ),
        (
            r#"{"id":"a","type":"events","attributes":{"time":{"t":1}},"links":{}}"#,
            Some("field `attributes.time` must be a string, found an object"),
        ),
        (
            r#"{"id":"a","type":"events","attributes":{"time":"2021-01-01T00:00:00Z","time":"x"},"links":{}}"#,
            None,
        ),
        (
            r#"{"id":"a","id":"b","type":"events","attributes":{"time":"2021-01-01T00:00:00Z"},"links":{}}"#,
            None,
        ),
        (r#"[1,2]"#, Some("event is an array, not a JSON object")),
        (r#""event""#, Some("event is a string, not a JSON object")),
        (r#"12"#, Some("event is a number, not a JSON object")),
        (r#"null"#, Some("event is null, not a JSON object")),
        (
            r#"{}"#,
            Some("missing required fields `id`, `type`, `attributes`, `links`"),
        ),
        // An array in place of the object must not be read as positional fields.
        (
            r#"["a","events",{"time":"2021-01-01T00:00:00Z"},{}]"#,
            Some("event is an array, not a JSON object"),
        ),
    ];
    for (text, want) in cases {
        let q = quarantined(run(text));
        if let Some(want) = want {
            assert_eq!(&q.reason, want, "for {text}");
        }
        assert!(!q.reason.is_empty());
        parse_line(&q.line);
    }
    // Non-required fields of the wrong types: valid, no indicators from them.
    for attrs in [
        json!({"time": "2021-01-01T00:00:00Z", "actor": 5, "context": "ctx", "location": {"ip": {"v": 4}}}),
        json!({"time": "2021-01-01T00:00:00Z", "actor": "alice", "context": {"links": {"self": "https://a.example"}}, "location": []}),
        json!({"time": "2021-01-01T00:00:00Z", "actor": [1, "n", "e@x.io"], "context": [1, null, "x", {"links": "https://a.example"}, {"links": [1]}], "location": "1.2.3.4"}),
        json!({"time": "2021-01-01T00:00:00Z", "actor": {"id": 7, "name": ["n"], "email": null, "onBehalfOf": "x"}, "processedAt": 5}),
    ]
    .into_iter()
    .map(event)
    .chain([
        r#"{"id":"a","type":"events","attributes":{"time":"2021-01-01T00:00:00Z","actor":{"onBehalfOf":{"id":{},"name":1e400}},"big":1e400},"links":{}}"#.to_owned(),
    ]) {
        let out = valid(run(&attrs));
        // Not parsed back: serde_json's Value refuses 1e400, though it is valid JSON.
        assert!(!out.line.contains("\"p_any_"), "{attrs} gave {}", out.line);
        assert_eq!(out.processed_at, None);
    }
}

#[test]
fn numbers_beyond_f64_are_kept_verbatim() {
    let text = r#"{"id":"a","type":"events","attributes":{"time":"2021-01-01T00:00:00Z","n":1e400,"m":123456789012345678901234567890},"links":{}}"#;
    let out = valid(run(text));
    assert!(out
        .line
        .contains(r#""n":1e400,"m":123456789012345678901234567890"#));
}

#[test]
fn event_without_id_gets_a_stable_content_hash_key() {
    let text = r#"{"type":"events","attributes":{"time":"2021-01-01T00:00:00Z"},"links":{}}"#;
    let pretty = "{\n  \"type\": \"events\",\n  \"attributes\": { \"time\": \"2021-01-01T00:00:00Z\" },\n  \"links\": {}\n}";
    let q1 = quarantined(run(text));
    let q2 = quarantined(run(text));
    let q3 = quarantined(run(pretty));
    assert_eq!(q1.reason, "missing required field `id`");
    assert_eq!(q1.dedupe_key, q2.dedupe_key);
    // Whitespace does not change the key: it hashes the compacted text.
    assert_eq!(q1.dedupe_key, q3.dedupe_key);
    assert_eq!(q1.line, q3.line);
    let hex = q1
        .dedupe_key
        .strip_prefix("sha256:")
        .expect("sha256: prefix");
    assert_eq!(hex.len(), 64);
    assert!(hex
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let other = quarantined(run(
        r#"{"type":"events","attributes":{"time":"2021-01-01T00:00:01Z"},"links":{}}"#,
    ));
    assert_ne!(other.dedupe_key, q1.dedupe_key);
}

#[test]
fn processed_at_is_parsed_but_never_required() {
    let out = valid(run(&event(
        json!({"time": "2021-01-01T00:00:00Z", "processedAt": "2021-01-01T02:00:00.5+02:00"}),
    )));
    assert_eq!(out.processed_at, Some(utc("2021-01-01T00:00:00.5Z")));
    let out = valid(run(&event(
        json!({"time": "2021-01-01T00:00:00Z", "processedAt": "soon"}),
    )));
    assert_eq!(out.processed_at, None);
    // Carried on quarantined events too, so the checkpoint can still advance.
    let q = quarantined(run(
        r#"{"id":"x","attributes":{"time":"2021-01-01T00:00:00Z","processedAt":"2021-01-01T00:00:03Z"}}"#,
    ));
    assert_eq!(q.processed_at, Some(utc("2021-01-01T00:00:03Z")));
}

// ---------- output shape ----------

#[test]
fn pretty_printed_input_becomes_one_line() {
    let pretty = "{\r\n\t\"id\" : \"e-1\" ,\n \"type\":\"events\",\n \"attributes\": {\n   \"time\": \"2021-01-01T00:00:00Z\",\n   \"note\": \"two  spaces\\nand an escaped newline\"\n },\n \"links\": { }\n}\n";
    let out = valid(run(pretty));
    assert!(out.line.starts_with(
        r#"{"id":"e-1","type":"events","attributes":{"time":"2021-01-01T00:00:00Z","note":"two  spaces\nand an escaped newline"},"links":{},"p_log_type":"#
    ), "{}", out.line);
    assert!(!out.line.ends_with('\n'));
    let m = parse_line(&out.line);
    assert_eq!(
        m["attributes"]["note"],
        "two  spaces\nand an escaped newline"
    );
}

#[test]
fn existing_p_keys_still_give_valid_json() {
    let text = r#"{"p_log_type":"x","id":"a","type":"events","attributes":{"time":"2021-01-01T00:00:00Z"},"links":{}}"#;
    let out = valid(run(text));
    assert!(out.line.starts_with(r#"{"p_log_type":"x","id":"a""#));
    serde_json::from_str::<Value>(&out.line).expect("valid JSON");
}

#[test]
fn compaction_preserves_strings() {
    let cases = [
        (
            r#"{ "a" : "x \" y" , "b":[ 1 , 2 ] }"#,
            r#"{"a":"x \" y","b":[1,2]}"#,
        ),
        (
            r#"{"a":"back\\" , "b" : "\\\" {\t} "}"#,
            r#"{"a":"back\\","b":"\\\" {\t} "}"#,
        ),
        (
            "{\"é\" : \"日本 語\\u00e9\\ud83d\\ude00 😀\" }",
            "{\"é\":\"日本 語\\u00e9\\ud83d\\ude00 😀\"}",
        ),
        (
            " [ true , false , null , -1.5e+3 ] ",
            "[true,false,null,-1.5e+3]",
        ),
        ("\"  only a string  \"", "\"  only a string  \""),
        ("{\"k\":\"\\\\\\\"\"}", "{\"k\":\"\\\\\\\"\"}"),
    ];
    for (input, want) in cases {
        let mut out = String::from("prefix:");
        compact_json_into(input, &mut out);
        assert_eq!(out, format!("prefix:{want}"));
        let a: Value = serde_json::from_str(input).expect("input");
        let b: Value = serde_json::from_str(want).expect("output");
        assert_eq!(a, b);
    }
}

#[test]
fn json_string_escaping_matches_serde_json() {
    for s in [
        "",
        "plain",
        "quote \" backslash \\ slash /",
        "\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}",
        "unicode é 日本 😀 \u{2028}",
    ] {
        let mut out = String::new();
        push_json_string(&mut out, s);
        assert_eq!(out, serde_json::to_string(s).expect("serializes"));
    }
}

// ---------- indicators ----------

#[test]
fn ip_hosts_ipv6_and_dedupe() {
    let attrs = json!({
        "time": "2021-01-01T00:00:00Z",
        "actor": {
            "id": "u1", "name": "Alice", "email": "alice@example.com",
            "onBehalfOf": {"id": "u2", "name": "Alice", "email": "bob@Example.com"}
        },
        "location": {"ip": "2001:db8::1"},
        "context": [
            {"links": {"self": "https://10.1.2.3:8443/x", "alt": "https://[2001:DB8::2]/y"}},
            {"links": {"self": "https://API.Example.COM/a", "alt": "https://api.example.com/b"}},
            {"links": {"self": "https://[2001:db8::1]/", "alt": "not a url", "other": "custom://Host.Example/p"}},
            {"links": {"self": null, "x": 5, "y": "mailto:a@b.c", "z": "file:///etc/passwd"}},
            {"id": "no links"}
        ]
    });
    let out = valid(run(&event(attrs)));
    let m = parse_line(&out.line);
    // Links are read in document order: each `self` before its `alt` here.
    assert_eq!(
        strings(m.get("p_any_ip_addresses")),
        ["2001:db8::1", "10.1.2.3", "2001:db8::2"]
    );
    assert_eq!(
        strings(m.get("p_any_domain_names")),
        ["api.example.com", "host.example"]
    );
    assert_eq!(strings(m.get("p_any_usernames")), ["Alice"]);
    assert_eq!(
        strings(m.get("p_any_emails")),
        ["alice@example.com", "bob@Example.com"]
    );
    assert_eq!(strings(m.get("p_any_actor_ids")), ["u1", "u2"]);
}

#[test]
fn location_ip_must_parse_exactly() {
    for (ip, want) in [
        ("201.202.14.26", Some("201.202.14.26")),
        ("::ffff:10.0.0.1", Some("::ffff:10.0.0.1")),
        (" 1.2.3.4", None),
        ("1.2.3.4:80", None),
        ("[::1]", None),
        ("1.2.3", None),
        ("", None),
    ] {
        let out = valid(run(&event(
            json!({"time": "2021-01-01T00:00:00Z", "location": {"ip": ip}}),
        )));
        let m = parse_line(&out.line);
        assert_eq!(
            strings(m.get("p_any_ip_addresses")).first().copied(),
            want,
            "{ip}"
        );
    }
}

#[test]
fn email_recognition() {
    for good in [
        "a@b.co",
        "first.last+tag@sub.example.com",
        "4fc5c52a@connect.atlassian.com",
    ] {
        assert!(is_email(good), "{good}");
    }
    for bad in [
        "Atlassian Internal System",
        "",
        "@example.com",
        "a@b@c.com",
        "a@localhost",
        "a b@c.com",
        "a@c.com ",
        "plain",
    ] {
        assert!(!is_email(bad), "{bad}");
    }
}

// ---------- timestamps ----------

#[test]
fn timestamps_with_0_to_9_fractional_digits() {
    let base = utc("2021-04-01T22:55:19Z");
    let digits = "123456789";
    assert_eq!(parse_timestamp("2021-04-01T22:55:19Z"), Ok(base));
    for n in 1..=9 {
        let s = format!("2021-04-01T22:55:19.{}Z", &digits[..n]);
        let nanos: i64 = format!("{:0<9}", &digits[..n]).parse().expect("digits");
        assert_eq!(
            parse_timestamp(&s),
            Ok(base + chrono::TimeDelta::nanoseconds(nanos)),
            "{s}"
        );
    }
    assert_eq!(
        parse_timestamp("2021-04-01T22:55:19.1234567890Z"),
        Err(TimestampError::TooManyFractionalDigits)
    );
}

#[test]
fn offsets_are_converted_to_utc() {
    let t = parse_timestamp("2021-04-01T00:30:00.5+02:00").expect("parses");
    assert_eq!(t, utc("2021-03-31T22:30:00.5Z"));
    assert_eq!(t.timezone(), Utc);
    assert_eq!(format_panther_timestamp(t), "2021-03-31 22:30:00.500000000");
    assert_eq!(
        parse_timestamp("2021-12-31T20:00:00-05:30"),
        Ok(utc("2022-01-01T01:30:00Z"))
    );
    assert_eq!(
        parse_timestamp("2021-01-01t00:00:00z"),
        Ok(utc("2021-01-01T00:00:00Z"))
    );
    assert_eq!(
        parse_timestamp("2021-01-01T00:00:00-00:00"),
        Ok(utc("2021-01-01T00:00:00Z"))
    );
    // Formatting converts a non-UTC value too.
    let local = fixed("2021-01-01T01:00:00.000000001+01:00");
    assert_eq!(
        format_panther_timestamp(local),
        "2021-01-01 00:00:00.000000001"
    );
    // A leap second becomes the last representable instant of that second.
    assert_eq!(
        parse_timestamp("2016-12-31T23:59:60Z"),
        Ok(utc("2016-12-31T23:59:59.999999999Z"))
    );
}

#[test]
fn garbage_timestamps_are_rejected() {
    for s in [
        "",
        "yesterday",
        "2021-04-01",
        "2021-04-01T22:55:19",
        "2021-04-01 22:55:19Z",
        "2021-04-01T22:55:19.Z",
        "2021-04-01T22:55:19.123",
        "2021-04-01T22:55:19+0200",
        "2021-04-01T22:55:19+02",
        "2021-04-01T22:55:19Z ",
        " 2021-04-01T22:55:19Z",
        "2021-04-01T22:55:19ZZ",
        "2021-13-01T22:55:19Z",
        "2021-02-29T22:55:19Z",
        "2021-04-01T24:00:00Z",
        "2021-04-01T22:60:00Z",
        "2021-04-01T12:59:60Z",
        "2021-04-01T22:55:19+24:00",
        "2021-04-01T22:55:19+02:60",
        "9999-12-31T23:59:59-01:00",
        "21-04-01T22:55:19Z",
        "２０２１-04-01T22:55:19Z",
        "2021-04-01T22:55:19.１Z",
        "1617317719",
    ] {
        assert!(parse_timestamp(s).is_err(), "{s:?} accepted");
    }
    assert_eq!(
        parse_timestamp("2021-04-01T22:55:19"),
        Err(TimestampError::Syntax {
            expected: "'Z' or a numeric offset",
            at: 19
        })
    );
    assert_eq!(
        parse_timestamp("2021-02-30T00:00:00Z"),
        Err(TimestampError::OutOfRange { component: "day" })
    );
}

/// Each refusal names the first bad component, in the order month, day, hour, minute, second,
/// then the UTC year (after 9999) and a leap second that is not 23:59:60 UTC.
#[test]
fn out_of_range_refusals_name_the_component() {
    for (s, component) in [
        ("2021-00-01T00:00:00Z", "month"),
        ("2021-13-45T25:61:61Z", "month"),
        ("2021-04-31T25:61:61Z", "day"),
        ("2021-04-00T00:00:00Z", "day"),
        ("2021-04-30T24:61:61Z", "hour"),
        ("2021-04-30T23:60:61Z", "minute"),
        ("2021-04-30T23:59:61Z", "second"),
        ("2021-04-01T12:59:60Z", "second"),
        ("2016-12-31T23:59:60+01:00", "second"),
        ("9999-12-31T23:59:59-01:00", "year"),
        ("9999-12-31T23:59:60-00:01", "year"),
        ("2021-04-01T22:55:19+24:00", "offset hour"),
        ("2021-04-01T22:55:19+02:60", "offset minute"),
    ] {
        assert_eq!(
            parse_timestamp(s),
            Err(TimestampError::OutOfRange { component }),
            "{s}"
        );
    }
    // The edges that are accepted: the first and last UTC instants, and leap seconds that are
    // 23:59:60 in UTC whatever the offset.
    assert_eq!(
        parse_timestamp("0000-01-01T00:00:00+23:59"),
        Ok(utc("0000-01-01T00:00:00Z") - chrono::TimeDelta::minutes(23 * 60 + 59))
    );
    assert_eq!(
        parse_timestamp("9999-12-31T23:59:59.999999999Z").map(format_panther_timestamp),
        Ok("9999-12-31 23:59:59.999999999".to_owned())
    );
    assert_eq!(
        parse_timestamp("2017-01-01T00:59:60+01:00"),
        Ok(utc("2016-12-31T23:59:59.999999999Z"))
    );
}

// ---------- hostile events ----------

/// `[[[…]]]` nested `levels` deep.
fn nested_arrays(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

#[test]
fn nesting_depth_counts_brackets_outside_strings_only() {
    assert_eq!(nesting_depth("1"), 0);
    assert_eq!(nesting_depth(r#""[[[""#), 0);
    assert_eq!(nesting_depth(r#"{"a":[1,{"b":"]]\"[["}]}"#), 3);
    assert_eq!(nesting_depth(&nested_arrays(100_000)), 100_000);
}

/// An event nested deeper than any common JSON reader goes is quarantined, whole, as text: the
/// quarantine line stays readable by serde_json's default (128-level) reader, and the event
/// keeps its id and processedAt for de-duplication and the checkpoint. No stack overflow.
#[test]
fn deeply_nested_events_are_quarantined_as_text() {
    let deep = nested_arrays(100_000);
    let text = format!(
        r#"{{"id":"e-deep","type":"events","attributes":{{"time":"2021-01-01T00:00:00Z","processedAt":"2021-01-01T00:00:05Z","extra":{deep}}},"links":{{}}}}"#
    );
    let q = quarantined(run(&text));
    assert_eq!(
        q.reason,
        "event nests 100002 levels deep, more than the 100 allowed"
    );
    assert_eq!(q.dedupe_key, "e-deep");
    assert_eq!(q.processed_at, Some(utc("2021-01-01T00:00:05Z")));
    let m = parse_line(&q.line);
    assert_eq!(m["error"], q.reason.as_str());
    assert_eq!(m["raw_text"], text.as_str(), "kept whole, as received");
    assert!(!m.contains_key("raw"));

    // Other problems are named too; a bare array gets a content-hash key.
    let q = quarantined(run(&format!(r#"{{"id":7,"x":{deep}}}"#)));
    assert!(
        q.reason
            .starts_with("event nests 100001 levels deep, more than the 100 allowed; missing required fields `type`, `attributes`, `links`"),
        "{}",
        q.reason
    );
    assert!(
        q.reason.contains("field `id` must be a string"),
        "{}",
        q.reason
    );
    assert!(q.dedupe_key.starts_with("sha256:"));
    let q = quarantined(run(&deep));
    assert_eq!(
        q.reason,
        "event nests 100000 levels deep, more than the 100 allowed; event is an array, not a JSON object"
    );
    parse_line(&q.line);
}

#[test]
fn nesting_up_to_the_limit_is_normal() {
    // The event object and `attributes` are two levels.
    let at_limit = event_with_extra(&nested_arrays(MAX_NESTING_DEPTH - 2));
    let out = valid(run(&at_limit));
    parse_line(&out.line);
    let over = event_with_extra(&nested_arrays(MAX_NESTING_DEPTH - 1));
    let q = quarantined(run(&over));
    assert!(
        q.reason.starts_with("event nests 101 levels"),
        "{}",
        q.reason
    );
    // Brackets inside strings are text, not nesting.
    let text = event_with_extra(&format!("\"{}\"", "[{".repeat(10_000)));
    valid(run(&text));
}

fn event_with_extra(extra: &str) -> String {
    format!(
        r#"{{"id":"e-1","type":"events","attributes":{{"time":"2021-01-01T00:00:00Z","extra":{extra}}},"links":{{}}}}"#
    )
}

/// A 5 MB value in any field: kept whole where it belongs, quoted only briefly in a reason.
#[test]
fn huge_strings_are_kept_or_quoted_briefly() {
    let huge = "x".repeat(5 << 20);
    let out = valid(run(&event(json!({
        "time": "2021-01-01T00:00:00Z",
        "actor": {"name": huge, "email": format!("{huge}@example.com")},
        "note": huge,
    }))));
    let m = parse_line(&out.line);
    assert_eq!(
        m["attributes"]["note"].as_str().map(str::len),
        Some(5 << 20)
    );
    assert_eq!(strings(m.get("p_any_usernames")), [huge.as_str()]);
    assert_eq!(strings(m.get("p_any_emails")).len(), 1);

    let q = quarantined(run(&event(json!({"time": huge}))));
    assert!(q.reason.len() < 200, "{} bytes", q.reason.len());
    assert!(
        q.reason.starts_with("attributes.time \"xxx"),
        "{}",
        q.reason
    );
    let m = parse_line(&q.line);
    assert_eq!(
        m["raw"]["attributes"]["time"].as_str().map(str::len),
        Some(5 << 20)
    );

    let huge_id = format!(
        r#"{{"id":"{huge}","type":"events","attributes":{{"time":"2021-01-01T00:00:00Z"}},"links":{{}}}}"#
    );
    let out = valid(run(&huge_id));
    assert_eq!(out.dedupe_key.len(), 5 << 20);
}

/// One event with 200 000 context items, each linking to its own host: collecting the hosts
/// must stay linear (a linear scan per value made this take minutes).
#[test]
fn many_indicator_values_are_collected_in_linear_time() {
    let items: Vec<Value> = (0..200_000)
        .map(|i| json!({"links": {"self": format!("https://h{}.example.com/x", i % 150_000)}}))
        .collect();
    let text = event(json!({"time": "2021-01-01T00:00:00Z", "context": items}));
    let started = std::time::Instant::now();
    let out = valid(run(&text));
    let took = started.elapsed();
    let m = parse_line(&out.line);
    let domains = strings(m.get("p_any_domain_names"));
    assert_eq!(domains.len(), 150_000, "de-duplicated");
    assert_eq!(domains[0], "h0.example.com");
    assert_eq!(domains[149_999], "h149999.example.com", "first-seen order");
    assert!(
        took < std::time::Duration::from_secs(20),
        "took {took:?} for 200k links"
    );
}

/// Every field the normalizer reads, with a value of each JSON type in turn: a required
/// field of the wrong type quarantines the event naming that field; any other field of the
/// wrong type only loses its indicator. Never a panic, never a dropped event.
#[test]
fn every_field_of_every_json_type() {
    let base: Value = serde_json::from_str(real_events()[0].get()).expect("fixture");
    let kinds = [
        ("null", json!(null)),
        ("a boolean", json!(true)),
        ("a number", json!(-1.5e300)),
        ("a string", json!("2021-04-03T06:12:11Z")),
        ("an array", json!(["x", 1, {}])),
        ("an object", json!({"k": [null]})),
    ];
    // (path, the kind it must be, whether the event needs it)
    let fields: &[(&str, &str, bool)] = &[
        ("/id", "a string", true),
        ("/type", "a string", true),
        ("/attributes", "an object", true),
        ("/links", "an object", true),
        ("/attributes/time", "a string", true),
        ("/attributes/processedAt", "a string", false),
        ("/attributes/action", "a string", false),
        ("/attributes/actor", "an object", false),
        ("/attributes/actor/id", "a string", false),
        ("/attributes/actor/name", "a string", false),
        ("/attributes/actor/email", "a string", false),
        ("/attributes/actor/onBehalfOf", "an object", false),
        ("/attributes/actor/links", "an object", false),
        ("/attributes/context", "an array", false),
        ("/attributes/context/0", "an object", false),
        ("/attributes/context/0/links", "an object", false),
        ("/attributes/context/0/links/self", "a string", false),
        ("/attributes/container", "an array", false),
        ("/attributes/location", "an object", false),
        ("/attributes/location/ip", "a string", false),
        ("/message", "an object", false),
        ("/links/self", "a string", false),
    ];
    let n = normalizer();
    for (path, want, required) in fields {
        for (kind, value) in &kinds {
            let mut e = base.clone();
            let (parent, member) = path.rsplit_once('/').expect("a path");
            let slot = e.pointer_mut(parent).unwrap_or_else(|| panic!("{parent}"));
            match slot {
                Value::Object(m) => {
                    m.insert(member.to_owned(), value.clone());
                }
                Value::Array(a) => a[0] = value.clone(),
                _ => panic!("{parent} holds no members"),
            }
            let text = e.to_string();
            let outcome = n.normalize(&raw(&text), PARSE_TIME);
            let label = format!("{path} as {kind}");
            let fits = kind == want;
            if *path == "/attributes" && fits {
                // An object, but the stand-in lacks `time`.
                let q = quarantined(outcome);
                assert_eq!(q.reason, "missing required field `attributes.time`");
                continue;
            }
            match outcome {
                Outcome::Valid(v) => {
                    assert!(!required || fits, "{label} was accepted");
                    parse_line(&v.line);
                }
                Outcome::Quarantined(q) => {
                    assert!(*required && !fits, "{label} was quarantined: {}", q.reason);
                    let field = path.trim_start_matches('/').replace('/', ".");
                    assert!(
                        q.reason.contains(&format!("`{field}`")),
                        "{label}: {}",
                        q.reason
                    );
                    assert!(q.reason.contains(kind), "{label}: {}", q.reason);
                    parse_line(&q.line);
                }
            }
        }
    }
}
