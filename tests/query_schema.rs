//! The query layer's SQL (`sql/`) against the code and the template, with no AWS and no Python:
//! - every field of every line the normalizer writes has a column of a compatible type in the
//!   events table, as the Hive JSON SerDe reads it (a new field without a column fails here);
//! - the partition projection yields exactly the keys the sink writes;
//! - template.yaml carries the very text of the SQL files (tables, view, saved queries);
//! - the query layer has its off switch, its own encrypted results, and the collector gains nothing;
//! - the README documents every column of the view.
//!
//! The saved queries themselves run in `tests/query/` (DuckDB, through the real pipeline).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use atlassian_audit::normalize::{Normalizer, Outcome, SourceInfo};
use atlassian_audit::sink::logs_key;
use atlassian_audit_test_support::template::template;
use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use serde_json::value::RawValue;
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    let p = root().join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---- Hive types, as the table's DDL declares them ------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Hive {
    String,
    Int,
    BigInt,
    Timestamp,
    Array(Box<Hive>),
    Map(Box<Hive>, Box<Hive>),
    Struct(Vec<(String, Hive)>),
}

impl Hive {
    /// As Glue stores the type (`struct<a:string>`), field names as written.
    fn glue(&self) -> String {
        match self {
            Hive::String => "string".into(),
            Hive::Int => "int".into(),
            Hive::BigInt => "bigint".into(),
            Hive::Timestamp => "timestamp".into(),
            Hive::Array(t) => format!("array<{}>", t.glue()),
            Hive::Map(k, v) => format!("map<{},{}>", k.glue(), v.glue()),
            Hive::Struct(fields) => format!(
                "struct<{}>",
                fields
                    .iter()
                    .map(|(n, t)| format!("{n}:{}", t.glue()))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if "<>,:".contains(c) {
            out.push(c.to_string());
        } else {
            assert!(
                c.is_whitespace() || c == '`',
                "unexpected {c:?} in a Hive type: {text}"
            );
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn parse_hive(text: &str) -> Hive {
    fn parse(t: &[String], i: &mut usize) -> Hive {
        let name = t[*i].to_lowercase();
        *i += 1;
        let open = |i: &mut usize| {
            assert_eq!(t[*i], "<", "`<` after {name}");
            *i += 1;
        };
        match name.as_str() {
            "string" => Hive::String,
            "int" => Hive::Int,
            "bigint" => Hive::BigInt,
            "timestamp" => Hive::Timestamp,
            "array" => {
                open(i);
                let e = parse(t, i);
                assert_eq!(t[*i], ">");
                *i += 1;
                Hive::Array(Box::new(e))
            }
            "map" => {
                open(i);
                let k = parse(t, i);
                assert_eq!(t[*i], ",");
                *i += 1;
                let v = parse(t, i);
                assert_eq!(t[*i], ">");
                *i += 1;
                Hive::Map(Box::new(k), Box::new(v))
            }
            "struct" => {
                open(i);
                let mut fields = Vec::new();
                loop {
                    let field = t[*i].clone();
                    assert_eq!(t[*i + 1], ":", "struct field {field}");
                    *i += 2;
                    fields.push((field, parse(t, i)));
                    *i += 1;
                    match t[*i - 1].as_str() {
                        "," => continue,
                        ">" => break,
                        other => panic!("unexpected {other} in a struct"),
                    }
                }
                Hive::Struct(fields)
            }
            other => panic!("Hive type {other} is not known to this test: add it"),
        }
    }
    let t = tokens(text);
    let mut i = 0;
    let ty = parse(&t, &mut i);
    assert_eq!(i, t.len(), "trailing text after the type {text}");
    ty
}

/// Splits at commas outside `<>` and `()`.
fn split_top_level(text: &str) -> Vec<String> {
    let (mut parts, mut depth, mut cur) = (Vec::new(), 0i32, String::new());
    for c in text.chars() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// One `CREATE EXTERNAL TABLE` of `sql/`, read as Athena would.
#[derive(Debug)]
struct Ddl {
    name: String,
    columns: Vec<(String, Hive)>,
    partitions: Vec<(String, Hive)>,
    serde: String,
    input_format: String,
    output_format: String,
    location: String,
    properties: BTreeMap<String, String>,
}

fn quoted_after<'a>(text: &'a str, keyword: &str) -> &'a str {
    let at = text
        .find(&format!("{keyword} '"))
        .unwrap_or_else(|| panic!("no {keyword} '…'"));
    let rest = &text[at + keyword.len() + 2..];
    &rest[..rest.find('\'').expect("closing quote")]
}

fn columns_of(block: &str) -> Vec<(String, Hive)> {
    split_top_level(block)
        .iter()
        .map(|part| {
            let (name, ty) = part.split_once(' ').expect("`name type`");
            (name.trim_matches('`').to_string(), parse_hive(ty))
        })
        .collect()
}

fn ddl(path: &str) -> Ddl {
    let text: String = read(path)
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let head = "CREATE EXTERNAL TABLE ";
    let start = text.find(head).expect("CREATE EXTERNAL TABLE") + head.len();
    let open = start + text[start..].find('(').expect("(");
    let name = text[start..open].trim().to_string();
    let (mut depth, mut close) = (0, open);
    for (i, c) in text[open..].char_indices() {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        if depth == 0 {
            close = open + i;
            break;
        }
    }
    let rest = &text[close + 1..];
    let partitions = rest
        .find("PARTITIONED BY (")
        .map(|at| {
            let inner = &rest[at + "PARTITIONED BY (".len()..];
            columns_of(&inner[..inner.find(')').expect(")")])
        })
        .unwrap_or_default();
    let mut properties = BTreeMap::new();
    if let Some(at) = rest.find("TBLPROPERTIES (") {
        for line in rest[at..].lines().skip(1) {
            let line = line.trim().trim_end_matches(',');
            if let Some((k, v)) = line.split_once(" = ") {
                properties.insert(
                    k.trim_matches('\'').to_string(),
                    v.trim_matches('\'').to_string(),
                );
            }
        }
    }
    Ddl {
        name,
        columns: columns_of(&text[open + 1..close]),
        partitions,
        serde: quoted_after(rest, "ROW FORMAT SERDE").to_string(),
        input_format: quoted_after(rest, "STORED AS INPUTFORMAT").to_string(),
        output_format: quoted_after(rest, "OUTPUTFORMAT").to_string(),
        location: quoted_after(rest, "LOCATION").to_string(),
        properties,
    }
}

fn events_table() -> Ddl {
    ddl("sql/atlassian_audit.sql")
}

// ---- the Hive JSON SerDe's reading of one line ----------------------------------------------------

/// What reading `value` into a column of type `ty` would do, the way the Hive JSON SerDe reads JSON
/// (as Trino's bug-compatible reader, which Athena engine 3 is built on, documents it): keys match
/// fields whatever their case, keys without a field are skipped (reported here as `undeclared`), a
/// null fits any type, a scalar column needs a JSON scalar, a struct or map an object, an array an
/// array; a value of the wrong shape fails the whole query (reported as `incompatible`).
fn read_as(
    value: &Value,
    ty: &Hive,
    path: &str,
    undeclared: &mut BTreeSet<String>,
    incompatible: &mut Vec<String>,
) {
    let mut wrong = |what: &str| incompatible.push(format!("{path}: {what}, found {value}"));
    match (ty, value) {
        (_, Value::Null) => {}
        (Hive::String, Value::String(_) | Value::Number(_) | Value::Bool(_)) => {}
        (Hive::String, _) => wrong("a string column takes a JSON scalar"),
        (Hive::Int, Value::Number(n)) if n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()) => {}
        (Hive::BigInt, Value::Number(n)) if n.as_i64().is_some() => {}
        (Hive::Int | Hive::BigInt, _) => wrong("an integer column takes a JSON integer"),
        (Hive::Timestamp, Value::String(s)) if is_hive_timestamp(s) => {}
        (Hive::Timestamp, _) => wrong("a timestamp column takes `YYYY-MM-DD HH:MM:SS[.f…]`"),
        (Hive::Array(element), Value::Array(items)) => {
            for item in items {
                read_as(
                    item,
                    element,
                    &format!("{path}[]"),
                    undeclared,
                    incompatible,
                );
            }
        }
        (Hive::Array(_), _) => wrong("an array column takes a JSON array"),
        (Hive::Map(_, v), Value::Object(members)) => {
            for (k, item) in members {
                read_as(item, v, &format!("{path}{{{k}}}"), undeclared, incompatible);
            }
        }
        (Hive::Map(..), _) => wrong("a map column takes a JSON object"),
        (Hive::Struct(fields), Value::Object(members)) => {
            for (k, item) in members {
                let at = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match fields.iter().find(|(f, _)| f.eq_ignore_ascii_case(k)) {
                    Some((_, fty)) => read_as(item, fty, &at, undeclared, incompatible),
                    None => {
                        undeclared.insert(at);
                    }
                }
            }
        }
        (Hive::Struct(_), _) => wrong("a struct column takes a JSON object"),
    }
}

/// Every path of a JSON value down to struct fields (`attributes.actor.auth.authType`), lowercase;
/// array elements add `[]`; map keys are not descended into.
fn paths_of(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if path.ends_with(".attributes")
                && (path.contains("context[]") || path.contains("container[]"))
            {
                return;
            }
            for (k, item) in m {
                let at = if path.is_empty() {
                    k.to_lowercase()
                } else {
                    format!("{path}.{}", k.to_lowercase())
                };
                out.insert(at.clone());
                paths_of(item, &at, out);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| paths_of(i, &format!("{path}[]"), out)),
        _ => {}
    }
}

fn declared_paths(ty: &Hive, path: &str, out: &mut BTreeSet<String>) {
    match ty {
        Hive::Struct(fields) => {
            for (name, fty) in fields {
                let at = if path.is_empty() {
                    name.to_lowercase()
                } else {
                    format!("{path}.{}", name.to_lowercase())
                };
                out.insert(at.clone());
                declared_paths(fty, &at, out);
            }
        }
        Hive::Array(element) => declared_paths(element, &format!("{path}[]"), out),
        _ => {}
    }
}

/// `java.sql.Timestamp.valueOf`'s layout, the Hive JSON SerDe's default: `yyyy-mm-dd hh:mm:ss[.f…]`.
fn is_hive_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let base = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    base && (b.len() == 19
        || (b[19] == b'.' && (21..=29).contains(&b.len()) && digits(20..b.len())))
}

/// Every line the normalizer writes for `events`, as JSON.
fn normalized_lines(events: &[Box<RawValue>]) -> Vec<Value> {
    let normalizer = Normalizer::new(SourceInfo {
        source_id: "query-schema".into(),
        source_label: "Ünïcode «label» 🚀".into(),
    });
    let parse_time = Utc
        .with_ymd_and_hms(2026, 3, 9, 0, 0, 0)
        .single()
        .expect("a time");
    events
        .iter()
        .filter_map(|raw| match normalizer.normalize(raw, parse_time) {
            Outcome::Valid(v) => Some(serde_json::from_str(&v.line).expect("a line is JSON")),
            Outcome::Quarantined(_) => None,
        })
        .collect()
}

fn raw(v: &Value) -> Box<RawValue> {
    RawValue::from_string(v.to_string()).expect("JSON")
}

/// The golden inputs (the real captured events, the generated ones), as the normalizer receives them.
fn golden_inputs() -> Vec<Box<RawValue>> {
    let mut out = Vec::new();
    for set in ["real", "real_pretty", "generated", "generated_pretty"] {
        let text = read(&format!("tests/golden/{set}.input"));
        for event in serde_json::Deserializer::from_str(&text).into_iter::<Box<RawValue>>() {
            out.push(event.expect("a golden input event"));
        }
    }
    out
}

/// Generated events, then the same with what the field tests also need: unicode everywhere,
/// `time` with 0 to 9 fractional digits, a location with only an IPv6 address, none at all, and
/// null links.
fn generated_variants() -> Vec<Value> {
    let mut events =
        simulated_org::generate_events(13, 3000, (1_767_225_600_000, 1_767_830_400_000));
    let base = events.clone();
    for (i, e) in base.iter().take(200).enumerate() {
        let mut v = e.clone();
        let digits = i % 10;
        let fraction = if digits == 0 {
            String::new()
        } else {
            format!(".{}", &"123456789"[..digits])
        };
        v["attributes"]["time"] = json!(format!("2026-02-28T23:59:59{fraction}Z"));
        // As the org stamps it on /events-stream (the golden inputs come from the older endpoint).
        v["attributes"]["processedAt"] = json!(format!("2026-03-01T00:00:0{}.123Z", i % 10));
        v["attributes"]["actor"]["name"] = json!("Zoë Ångström 李小龍 🚀 \u{202e}");
        v["message"]["content"] = json!("Ajouté « équipe » 👩‍💻 \\ \" \n");
        // The polymorphic attributes of context and container entries holding every JSON shape:
        // the event keeps them, its p_context/p_container copies hold them as strings.
        let hostile = json!({"nested": {"a": [1, {"b": null}]}, "list": ["x", 2], "n": 1.5,
                             "big": 12345678901234567890u64, "t": true, "f": false, "z": null,
                             "uni": "Zoë 李 🚀 \u{202e}"});
        for list in ["context", "container"] {
            if let Some(entry) = v["attributes"][list].get_mut(0) {
                if let Some(attrs) = entry["attributes"].as_object_mut() {
                    for (k, val) in hostile.as_object().expect("an object") {
                        attrs.insert(k.clone(), val.clone());
                    }
                }
            }
        }
        match i % 3 {
            0 => v["attributes"]["location"] = json!({"ip": "2001:db8::1"}),
            1 => {
                if let Some(a) = v["attributes"].as_object_mut() {
                    a.remove("location");
                }
            }
            _ => v["attributes"]["actor"]["links"] = json!({"alt": null, "self": null}),
        }
        events.push(v);
    }
    events
}

/// The polymorphic `attributes` of context and container entries have no column: a nested value
/// there would fail the SerDe. The table reads their copies, `p_context` and `p_container`, whose
/// attributes values are all strings (src/normalize/string_attributes.rs).
const DELIBERATELY_UNDECLARED: [&str; 2] = [
    "attributes.context[].attributes",
    "attributes.container[].attributes",
];

#[test]
fn every_field_the_normalizer_writes_has_a_column_of_a_compatible_type() {
    let table = events_table();
    let row = Hive::Struct(table.columns.clone());
    let mut inputs = golden_inputs();
    inputs.extend(generated_variants().iter().map(raw));
    let lines = normalized_lines(&inputs);
    assert!(lines.len() > 3000, "{} lines", lines.len());
    let (mut undeclared, mut incompatible) = (BTreeSet::new(), Vec::new());
    for line in &lines {
        read_as(line, &row, "", &mut undeclared, &mut incompatible);
    }
    for path in DELIBERATELY_UNDECLARED {
        undeclared.remove(path);
    }
    assert!(
        undeclared.is_empty(),
        "fields the normalizer writes without a column in sql/atlassian_audit.sql: {undeclared:?}"
    );
    assert!(
        incompatible.is_empty(),
        "values the Hive JSON SerDe could not read into their column: {:?}",
        &incompatible[..incompatible.len().min(5)]
    );
    // Every declared column and struct field is written by the normalizer somewhere (no column
    // for nothing, none of a guessed shape).
    let mut written = BTreeSet::new();
    for line in &lines {
        paths_of(line, "", &mut written);
    }
    let mut declared = BTreeSet::new();
    declared_paths(&row, "", &mut declared);
    let never: Vec<&String> = declared.difference(&written).collect();
    assert!(never.is_empty(), "declared but never written: {never:?}");
}

#[test]
fn a_field_without_a_column_or_of_another_shape_is_caught() {
    let table = events_table();
    let row = Hive::Struct(table.columns.clone());
    let mut event =
        simulated_org::generate_events(5, 1, (1_767_225_600_000, 1_767_229_200_000)).remove(0);
    // Fields Atlassian could add: unknown to the table, or of a shape its column cannot take.
    event["riskScore"] = json!(7);
    event["attributes"]["actor"]["department"] = json!("security");
    event["attributes"]["container"][0]["attributes"]["plan"] = json!({"name": "enterprise"});
    event["attributes"]["location"] = json!({"ip": "203.0.113.9", "countryName": {"en": "Chile"}});
    let lines = normalized_lines(&[raw(&event)]);
    assert_eq!(lines.len(), 1, "still a valid event");
    let (mut undeclared, mut incompatible) = (BTreeSet::new(), Vec::new());
    read_as(&lines[0], &row, "", &mut undeclared, &mut incompatible);
    for path in DELIBERATELY_UNDECLARED {
        undeclared.remove(path);
    }
    assert_eq!(
        undeclared,
        BTreeSet::from([
            "riskScore".to_string(),
            "attributes.actor.department".to_string()
        ])
    );
    // The nested value in the container's attributes is kept in the event, and read as a string
    // from the copy: not a shape the table cannot take.
    assert_eq!(
        lines[0]["attributes"]["container"][0]["attributes"]["plan"],
        json!({"name": "enterprise"})
    );
    assert_eq!(
        lines[0]["p_container"][0]["attributes"]["plan"],
        json!(r#"{"name":"enterprise"}"#)
    );
    assert_eq!(incompatible.len(), 1, "{incompatible:?}");
    assert!(
        incompatible[0].starts_with("attributes.location.countryName: a string column"),
        "{incompatible:?}"
    );
}

// ---- partition projection ---------------------------------------------------------------------

/// The partition values the table's projection enumerates for one column, zero-padded by `digits`.
fn projected_values(props: &BTreeMap<String, String>, column: &str) -> Vec<String> {
    let get = |k: &str| {
        props
            .get(&format!("projection.{column}.{k}"))
            .unwrap_or_else(|| panic!("projection.{column}.{k}"))
    };
    assert_eq!(get("type"), "integer", "{column}");
    let (lo, hi) = get("range").split_once(',').expect("range lo,hi");
    let (lo, hi): (i64, i64) = (lo.trim().parse().unwrap(), hi.trim().parse().unwrap());
    let digits: usize = get("digits").parse().unwrap();
    (lo..=hi).map(|v| format!("{v:0digits$}")).collect()
}

/// The location Athena projects for a partition: the template with each `${column}` replaced.
fn projected_location(props: &BTreeMap<String, String>, values: &[(&str, String)]) -> String {
    let mut location = props["storage.location.template"].clone();
    for (column, value) in values {
        location = location.replace(&format!("${{{column}}}"), value);
    }
    location
}

#[test]
fn the_partition_projection_yields_exactly_the_sinks_keys() {
    let table = events_table();
    let props = &table.properties;
    assert_eq!(props["projection.enabled"], "true");
    let names: Vec<&str> = table.partitions.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["year", "month", "day", "hour"]);
    assert!(table.partitions.iter().all(|(_, t)| *t == Hive::String));
    let base = "s3://{{bucket}}/{{prefix}}";
    assert_eq!(table.location, format!("{base}logs/atlassian_audit/"));
    let utc = |y, mo, d, h| {
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0)
            .single()
            .expect("a time")
    };
    let mut edges: Vec<DateTime<Utc>> = vec![
        utc(2026, 3, 9, 0),
        utc(2026, 3, 9, 23),
        utc(2026, 1, 1, 0),
        utc(2025, 12, 31, 23),
        utc(2026, 1, 31, 12),
        utc(2026, 2, 1, 0),
        utc(2026, 2, 28, 23),
        utc(2026, 4, 30, 23),
        utc(2024, 2, 29, 0),
        utc(2024, 2, 29, 23),
        utc(2028, 2, 29, 12),
        utc(2020, 1, 1, 0),
        utc(2099, 12, 31, 23),
    ];
    edges.push(Utc::now());
    let years = projected_values(props, "year");
    let months = projected_values(props, "month");
    let days = projected_values(props, "day");
    let hours = projected_values(props, "hour");
    for t in edges {
        let key = logs_key(
            t.timestamp() - t.timestamp().rem_euclid(3600),
            "generation",
            1,
        );
        let dir = &key[..key.rfind('/').expect("a directory")];
        let values = [
            ("year", format!("{:04}", t.year())),
            ("month", format!("{:02}", t.month())),
            ("day", format!("{:02}", t.day())),
            ("hour", format!("{:02}", t.hour())),
        ];
        for ((column, value), list) in values.iter().zip([&years, &months, &days, &hours]) {
            assert!(
                list.contains(value),
                "{t}: {column}={value} is outside the projected range"
            );
        }
        assert_eq!(
            projected_location(props, &values),
            format!("{base}{dir}"),
            "{t}: Athena would look elsewhere than the sink writes"
        );
    }
    // The range is the documented one: the API's history (180 days) is after 2020, and it runs to 2099.
    assert_eq!(
        (
            years.first().unwrap().as_str(),
            years.last().unwrap().as_str()
        ),
        ("2020", "2099")
    );
    assert_eq!(months.len(), 12);
    assert_eq!((days.len(), hours.len()), (31, 24));
    assert!(
        years.len() * 12 * 31 * 24 < 1_000_000,
        "under Athena's projected-partition limit"
    );
}

// ---- template.yaml ------------------------------------------------------------------------------

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(r.is_object(), "template.yaml has no resource {name}");
    r
}

/// A DDL location (`{{bucket}}`, `{{prefix}}`, projection `${x}`) as the template's `Fn::Sub` writes it.
fn as_sub(ddl_value: &str) -> String {
    ddl_value
        .replace("${", "${!")
        .replace("{{bucket}}", "${Bucket}")
        .replace("{{prefix}}", "${OutputPrefix}")
}

fn bucket_sub(v: &Value, what: &str) -> String {
    let args = v["Fn::Sub"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: a Fn::Sub [text, vars]"));
    assert_eq!(
        args[1]["Bucket"],
        json!({"Fn::If": ["CreateBucket", {"Ref": "OutputBucket"}, {"Ref": "ExistingBucketName"}]}),
        "{what}: the collector's bucket"
    );
    args[0].as_str().expect("text").to_string()
}

fn check_table(t: &Value, logical: &str, ddl: &Ddl) {
    let r = resource(t, logical);
    assert_eq!(r["Type"], "AWS::Glue::Table");
    assert_eq!(r["Condition"], "QueryLayerOn");
    assert_eq!(
        r["Properties"]["DatabaseName"],
        json!({"Ref": "QueryDatabase"})
    );
    let input = &r["Properties"]["TableInput"];
    assert_eq!(input["Name"], ddl.name.as_str());
    assert_eq!(input["TableType"], "EXTERNAL_TABLE");
    let sd = &input["StorageDescriptor"];
    let columns: Vec<(String, String)> = sd["Columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["Name"].as_str().unwrap().into(),
                c["Type"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = ddl
        .columns
        .iter()
        .map(|(n, ty)| (n.clone(), ty.glue()))
        .collect();
    assert_eq!(columns, want, "{logical}: columns differ from the DDL");
    let partitions: Vec<(String, String)> = input["PartitionKeys"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["Name"].as_str().unwrap().into(),
                        c["Type"].as_str().unwrap().into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let want: Vec<(String, String)> = ddl
        .partitions
        .iter()
        .map(|(n, ty)| (n.clone(), ty.glue()))
        .collect();
    assert_eq!(partitions, want, "{logical}: partitions");
    assert_eq!(sd["SerdeInfo"]["SerializationLibrary"], ddl.serde.as_str());
    assert_eq!(sd["InputFormat"], ddl.input_format.as_str());
    assert_eq!(sd["OutputFormat"], ddl.output_format.as_str());
    assert_eq!(bucket_sub(&sd["Location"], logical), as_sub(&ddl.location));
    let mut params = BTreeMap::new();
    for (k, v) in input["Parameters"].as_object().expect("parameters") {
        let v = match v.as_str() {
            Some(s) => s.to_string(),
            None => bucket_sub(v, k),
        };
        params.insert(k.clone(), v);
    }
    let want: BTreeMap<String, String> = ddl
        .properties
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if v.contains("{{") {
                    as_sub(v)
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    assert_eq!(
        params, want,
        "{logical}: table properties differ from the DDL"
    );
}

#[test]
fn the_template_carries_the_tables_of_sql() {
    let t = template();
    check_table(&t, "AtlassianAuditTable", &events_table());
    let quarantine = ddl("sql/atlassian_audit_quarantine.sql");
    assert_eq!(quarantine.columns, vec![("line".to_string(), Hive::String)]);
    assert_eq!(
        quarantine.location,
        "s3://{{bucket}}/{{prefix}}quarantine/atlassian_audit/"
    );
    check_table(&t, "AtlassianAuditQuarantineTable", &quarantine);
}

/// The view file: its column table (name, Trino type, meaning) and the query after `AS`.
fn view_file() -> (String, Vec<(String, String, String)>, String) {
    let text = read("sql/atlassian_audit_flat.sql");
    let head = "CREATE OR REPLACE VIEW ";
    let at = text.find(head).expect("CREATE OR REPLACE VIEW");
    let line_end = at + text[at..].find('\n').expect("a line");
    let name = text[at + head.len()..line_end]
        .trim_end_matches(" AS")
        .to_string();
    let columns = text[..at]
        .lines()
        .filter_map(|l| l.strip_prefix("-- | "))
        .filter(|l| !l.starts_with("column |") && !l.starts_with("---"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_end_matches(" |").splitn(3, " | ").collect();
            (
                cells[0].to_string(),
                cells[1].to_string(),
                cells[2].to_string(),
            )
        })
        .collect();
    (
        name,
        columns,
        text[line_end + 1..].trim_end_matches('\n').to_string(),
    )
}

#[test]
fn the_template_carries_the_view_of_sql() {
    let t = template();
    let (name, columns, select) = view_file();
    assert!(columns.len() >= 25, "{} documented columns", columns.len());
    let r = resource(&t, "AtlassianAuditFlatView");
    assert_eq!(r["Condition"], "QueryLayerOn");
    let input = &r["Properties"]["TableInput"];
    assert_eq!(input["Name"], name.as_str());
    assert_eq!(input["TableType"], "VIRTUAL_VIEW");
    assert_eq!(input["Parameters"]["presto_view"], "true");
    assert_eq!(input["ViewExpandedText"], "/* Presto View */");
    let parts = input["ViewOriginalText"]["Fn::Join"][1]
        .as_array()
        .expect("Join parts");
    assert_eq!(parts[0], "/* Presto View: ");
    assert_eq!(parts[2], " */");
    let sub = parts[1]["Fn::Base64"]["Fn::Sub"]
        .as_array()
        .expect("Base64 of a Sub");
    let sql_json = sub[1]["Sql"].as_str().expect("Sql variable");
    let definition = sub[0]
        .as_str()
        .expect("text")
        .replace("${QueryDatabase}", "db")
        .replace("${Sql}", sql_json);
    assert!(
        !definition.contains("${"),
        "unresolved variable in {definition}"
    );
    let view: Value = serde_json::from_str(&definition).expect("the view definition is JSON");
    assert_eq!(
        view["originalSql"],
        select.as_str(),
        "the view's SQL differs from the file"
    );
    assert_eq!(view["catalog"], "awsdatacatalog");
    assert_eq!(view["schema"], "db");
    assert_eq!(view["runAsInvoker"], false);
    let declared: Vec<Value> = columns
        .iter()
        .map(|(n, ty, _)| json!({"name": n, "type": ty}))
        .collect();
    assert_eq!(view["columns"], Value::Array(declared));
    let hive = |ty: &str| match ty {
        "varchar" => "string",
        "timestamp(3)" => "timestamp",
        other => panic!("view column type {other} is not mapped here"),
    };
    let glue: Vec<Value> = columns
        .iter()
        .map(|(n, ty, _)| json!({"Name": n, "Type": hive(ty)}))
        .collect();
    assert_eq!(input["StorageDescriptor"]["Columns"], Value::Array(glue));
    // Each column is selected, under its name, in the documented order.
    let selected: Vec<String> = select
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            let l = l.trim_end_matches(',');
            if l.starts_with("FROM ") || l == "SELECT" || l.starts_with("coalesce(") {
                return None;
            }
            l.rsplit_once(" AS ")
                .map(|(_, n)| n.to_string())
                .or_else(|| {
                    (l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !l.is_empty())
                        .then(|| l.to_string())
                })
        })
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    let documented: Vec<String> = columns.iter().map(|(n, ..)| n.clone()).collect();
    assert_eq!(
        selected, documented,
        "the SELECT list and the column table differ"
    );
}

/// Every saved query: (file stem, text).
fn saved_query_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(root().join("sql/queries"))
        .expect("sql/queries")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).expect("readable"),
            )
        })
        .collect();
    files.sort();
    files
}

fn camel(stem: &str) -> String {
    stem.split('_')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn the_template_carries_every_saved_query_with_its_comment() {
    let t = template();
    let files = saved_query_files();
    assert!(files.len() >= 10, "{} saved queries", files.len());
    let in_template: BTreeSet<String> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Athena::NamedQuery")
        .map(|(k, _)| k.clone())
        .collect();
    let from_files: BTreeSet<String> = files
        .iter()
        .map(|(s, _)| format!("SavedQuery{}", camel(s)))
        .collect();
    assert_eq!(
        in_template, from_files,
        "named queries and sql/queries/ differ"
    );
    for (stem, text) in &files {
        let r = resource(&t, &format!("SavedQuery{}", camel(stem)));
        assert_eq!(r["Condition"], "QueryLayerOn");
        let p = &r["Properties"];
        assert_eq!(
            p["QueryString"],
            text.as_str(),
            "{stem}: the template's text differs from the file"
        );
        assert_eq!(p["Database"], json!({"Ref": "QueryDatabase"}));
        assert_eq!(p["WorkGroup"], json!({"Ref": "QueryWorkGroup"}));
        let title = text.lines().next().unwrap().trim_start_matches("-- ");
        assert_eq!(p["Name"], format!("Atlassian audit: {title}"));
        assert!(
            p["Name"].as_str().unwrap().len() <= 128,
            "{stem}: Name too long"
        );
        let comment: Vec<&str> = text.lines().take_while(|l| l.starts_with("--")).collect();
        for label in ["-- Finds: ", "-- On a hit: "] {
            assert!(
                comment.iter().any(|l| l.starts_with(label)),
                "{stem}: no `{label}` comment"
            );
        }
        let description = p["Description"].as_str().expect("a description");
        assert!(!description.is_empty() && description.len() <= 1024);
        let flat = comment
            .iter()
            .map(|l| l.trim_start_matches("-- ").trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            flat.contains(description),
            "{stem}: the description is not the comment's"
        );
    }
}

// ---- the stack: an off switch, encrypted results of its own, least privilege --------------------

#[test]
fn one_parameter_turns_the_query_layer_off_and_the_collector_gains_nothing() {
    let t = template();
    assert_eq!(
        t["Parameters"]["QueryLayerEnabled"]["AllowedValues"],
        json!(["true", "false"])
    );
    assert_eq!(
        t["Conditions"]["QueryLayerOn"],
        json!({"Fn::Equals": [{"Ref": "QueryLayerEnabled"}, "true"]})
    );
    let query_types = ["AWS::Glue::", "AWS::Athena::"];
    let mut query_resources = BTreeSet::new();
    for (name, r) in t["Resources"].as_object().unwrap() {
        let typ = r["Type"].as_str().unwrap();
        if query_types.iter().any(|p| typ.starts_with(p)) || name.starts_with("Query") {
            // The OCSF copy's tables need the query layer too (OcsfTablesOn: StackBucket and it).
            let condition = if name.starts_with("Ocsf") {
                "OcsfTablesOn"
            } else {
                "QueryLayerOn"
            };
            assert_eq!(
                r["Condition"], condition,
                "{name} stays when the query layer is off"
            );
            query_resources.insert(name.clone());
        }
    }
    assert!(query_resources.len() >= 18, "{query_resources:?}");
    assert_eq!(
        t["Conditions"]["OcsfTablesOn"],
        json!({"Fn::And": [{"Condition": "OcsfToStackBucket"}, {"Condition": "QueryLayerOn"}]})
    );
    for (name, o) in t["Outputs"].as_object().unwrap() {
        if name.starts_with("Query") {
            assert_eq!(o["Condition"], "QueryLayerOn", "output {name}");
        }
    }
    // The collector's role names none of them and no Athena or Glue action.
    let role = resource(&t, "CollectorRole").to_string();
    for name in &query_resources {
        assert!(
            !role.contains(&format!("\"{name}\"")),
            "the collector's role refers to {name}"
        );
    }
    assert!(!role.contains("athena:") && !role.contains("glue:"));
    let function = resource(&t, "CollectorFunction").to_string();
    assert!(
        !function.contains("Query"),
        "the function is given something of the query layer"
    );
}

#[test]
fn the_workgroup_enforces_encrypted_results_in_the_stacks_bucket() {
    let t = template();
    let wg = &resource(&t, "QueryWorkGroup")["Properties"];
    let c = &wg["WorkGroupConfiguration"];
    assert_eq!(c["EnforceWorkGroupConfiguration"], true);
    assert_eq!(
        c["EngineVersion"]["SelectedEngineVersion"],
        "Athena engine version 3"
    );
    assert!(c["BytesScannedCutoffPerQuery"].is_object(), "a scan limit");
    assert_eq!(wg["RecursiveDeleteOption"], true);
    let r = &c["ResultConfiguration"];
    assert_eq!(
        r["OutputLocation"],
        json!({"Fn::Sub": "s3://${QueryResultsBucket}/results/"})
    );
    assert_eq!(
        r["EncryptionConfiguration"]["EncryptionOption"],
        json!({"Fn::If": ["UseCustomerKey", "SSE_KMS", "SSE_S3"]})
    );
    let bucket = &resource(&t, "QueryResultsBucket")["Properties"];
    assert_eq!(
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        json!({"Fn::If": ["UseCustomerKey", "aws:kms", "AES256"]})
    );
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][setting], true,
            "{setting}"
        );
    }
    assert!(bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"].is_object());
    let deny =
        &resource(&t, "QueryResultsBucketPolicy")["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"], "false");
}

#[test]
fn the_query_policy_reads_only_the_audit_prefixes_and_writes_only_results() {
    let t = template();
    let doc = &resource(&t, "QueryUserPolicy")["Properties"]["PolicyDocument"];
    for st in doc["Statement"].as_array().unwrap() {
        let st = st.get("Fn::If").map_or(st, |args| &args[1]);
        assert_eq!(st["Effect"], "Allow");
        let actions: Vec<String> = match &st["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            other => panic!("action {other}"),
        };
        assert!(
            actions.iter().all(|a| !a.contains('*')),
            "wildcard action in {st}"
        );
        let text = st["Resource"].to_string();
        assert!(
            !text.contains("\"*\""),
            "a statement on every resource: {st}"
        );
        if actions.iter().any(|a| a == "s3:PutObject") {
            assert_eq!(
                st["Resource"],
                json!({"Fn::Sub": "${QueryResultsBucket.Arn}/results/*"})
            );
        }
        if actions == ["s3:GetObject"] {
            let resources = st["Resource"].as_array().unwrap();
            // The three audit prefixes, and the OCSF copy's tables when they exist.
            assert_eq!(resources.len(), 4);
            assert_eq!(resources[3]["Fn::If"][0], "OcsfTablesOn");
            assert!(resources[3]
                .to_string()
                .contains("${OutputPrefix}ext/atlassian_*/*"));
            assert!(resources[0]
                .to_string()
                .contains("${OutputPrefix}logs/atlassian_audit/*"));
            assert!(resources[1]
                .to_string()
                .contains("${OutputPrefix}quarantine/atlassian_audit/*"));
            assert!(resources[2]
                .to_string()
                .contains("${OutputPrefix}alerts/atlassian_audit/*"));
        }
    }
}

#[test]
fn the_readme_documents_every_column_of_the_view() {
    let readme = read("README.md");
    let section = readme
        .find("## Querying")
        .map(|at| &readme[at..])
        .expect("README has a `## Querying` section");
    for (name, ty, meaning) in view_file().1 {
        let row = format!("| `{name}` | {ty} | {meaning} |");
        assert!(
            section.contains(&row),
            "README lacks the row of {name}:\n{row}"
        );
    }
    assert!(Path::new(&root().join("sql/queries")).is_dir());
}
