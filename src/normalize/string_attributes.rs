//! `p_context` and `p_container`: copies of `attributes.context` and `attributes.container` in
//! which every value of an entry's polymorphic `attributes` is a JSON string (or `null`), so that
//! the Hive JSON SerDe of Athena and Trino reads them as `map<string, string>`.
//!
//! Those `attributes` hold whatever the entity's type calls for: strings so far, but nothing stops
//! Atlassian from sending a number, a boolean or an object there, and the SerDe refuses a nested
//! value in a `map<string, string>` ("value must be a scalar json value"), failing every query over
//! the partition. The event itself stays exactly as received; the copy is appended with the other
//! `p_*` members, and the table reads the copy (sql/atlassian_audit.sql):
//! - a string stays the same JSON string (same escapes);
//! - `null` stays `null`;
//! - a number, a boolean, an object or an array becomes a JSON string holding its compact JSON
//!   text (`1.5` → `"1.5"`, `{"a":1}` → `"{\"a\":1}"`), readable with Trino's JSON functions;
//! - a key repeated in one `attributes` object is written once, with its last value (a map
//!   cannot hold it twice, and Trino refuses duplicate map keys).
//!
//! Every other member of an entry is copied as it is. An `attributes` that is not an object is
//! written as `null`; a `context` or `container` that is not an array gets no copy.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

use super::compact_json::{compact_json_into, push_json_string};
use super::json_view::{Field, Kind};
use super::scan::{self, Skip};

/// The members of a JSON object, in order, repeats included.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'a RawValue>()? {
                    members.push((k, v));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor(std::marker::PhantomData))
    }
}

/// A `context` or `container` longer than this gets no copy: real ones are a few KB, and a
/// hostile one of megabytes (a rule-named event at the body cap) copied whole would double the
/// largest line a run holds, past the memory the archive-first bound allows. The event itself
/// stays whole in the line; the view's context or container columns are empty for it.
pub const MAX_COPIED_BYTES: usize = 1024 * 1024;

/// Appends `,"p_context":[…]` and `,"p_container":[…]` for `attributes.context` and
/// `attributes.container` (absent, not an array, or over [`MAX_COPIED_BYTES`]: no member).
///
/// Read with the normalizer's scanner (over the compacted event, stepping over nested values with
/// its closers); an object with an escaped member name goes through serde instead, which compares
/// names unescaped (two spellings of one key are one map key).
pub fn write_members(context: Field<'_>, container: Field<'_>, out: &mut String) {
    for (name, list) in [("p_context", context), ("p_container", container)] {
        if list.raw.is_some_and(|raw| raw.len() > MAX_COPIED_BYTES) {
            continue;
        }
        let Some(items) = list.as_array() else {
            continue;
        };
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":[");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_entry(item, out);
        }
        out.push(']');
    }
}

fn write_entry(item: Field<'_>, out: &mut String) {
    let Some(raw) = item.raw else { return };
    if Kind::of(raw) != Kind::Object {
        compact_json_into(raw, out);
        return;
    }
    let members: Vec<scan::Member> = scan::members(raw, Skip::new(item.doc, raw)).collect();
    if members.iter().any(|m| m.name_escaped) {
        return write_entry_by_serde(raw, out);
    }
    out.push('{');
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(m.name);
        out.push_str("\":");
        if m.name == "attributes" {
            write_string_map(
                Field {
                    raw: Some(m.value),
                    doc: item.doc,
                },
                out,
            );
        } else {
            compact_json_into(m.value, out);
        }
    }
    out.push('}');
}

fn write_string_map(attributes: Field<'_>, out: &mut String) {
    let Some(raw) = attributes.raw.filter(|r| Kind::of(r) == Kind::Object) else {
        out.push_str("null");
        return;
    };
    let members: Vec<scan::Member> = scan::members(raw, Skip::new(attributes.doc, raw)).collect();
    if members.iter().any(|m| m.name_escaped) {
        return write_string_map_by_serde(raw, out);
    }
    let repeated = |i: usize| members[i + 1..].iter().any(|m| m.name == members[i].name);
    // The usual case: strings and nulls only, no repeats, already compact: the text as it is.
    if attributes.doc.is_some()
        && members
            .iter()
            .enumerate()
            .all(|(i, m)| matches!(m.value.as_bytes()[0], b'"' | b'n') && !repeated(i))
    {
        out.push_str(raw);
        return;
    }
    out.push('{');
    let mut first = true;
    for (i, m) in members.iter().enumerate() {
        if repeated(i) {
            continue; // a later value of the same key wins
        }
        if !first {
            out.push(',');
        }
        first = false;
        out.push('"');
        out.push_str(m.name);
        out.push_str("\":");
        push_as_string(m.value, out);
    }
    out.push('}');
}

/// A value as a map<string, string> holds it: a string as it is, null, else its JSON text.
fn push_as_string(value: &str, out: &mut String) {
    match value.as_bytes().first() {
        Some(b'"') => out.push_str(value),
        Some(b'n') => out.push_str("null"),
        _ => {
            let mut compact = String::with_capacity(value.len());
            compact_json_into(value, &mut compact);
            push_json_string(out, &compact);
        }
    }
}

fn write_entry_by_serde(raw: &str, out: &mut String) {
    let Ok(Members(members)) = serde_json::from_str::<Members>(raw) else {
        compact_json_into(raw, out);
        return;
    };
    out.push('{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, key);
        out.push(':');
        if key == "attributes" {
            if Kind::of(value.get()) == Kind::Object {
                write_string_map_by_serde(value.get(), out);
            } else {
                out.push_str("null");
            }
        } else {
            compact_json_into(value.get(), out);
        }
    }
    out.push('}');
}

fn write_string_map_by_serde(raw: &str, out: &mut String) {
    let Ok(Members(members)) = serde_json::from_str::<Members>(raw) else {
        out.push_str("null");
        return;
    };
    out.push('{');
    let mut first = true;
    for (i, (key, value)) in members.iter().enumerate() {
        if members[i + 1..].iter().any(|(k, _)| k == key) {
            continue; // a later value of the same key wins
        }
        if !first {
            out.push(',');
        }
        first = false;
        push_json_string(out, key);
        out.push(':');
        push_as_string(value.get(), out);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(raw: &str) -> Field<'_> {
        Field {
            raw: Some(raw),
            doc: None,
        }
    }

    /// Through the scanner without a document (as for an event serde read), and over the
    /// compacted text with its closers (as the normalizer reads most events): the same output.
    fn members(context: &str) -> String {
        let mut out = String::new();
        write_members(field(context), Field::default(), &mut out);
        let mut compact = String::new();
        let mut closers = scan::Closers::default();
        scan::compact_with_depth(context, &mut compact, &mut closers);
        let doc = scan::Doc {
            text: &compact,
            closers: &closers,
        };
        let mut scanned = String::new();
        write_members(
            Field {
                raw: Some(&compact),
                doc: Some(doc),
            },
            Field::default(),
            &mut scanned,
        );
        assert_eq!(out, scanned, "with and without the document");
        out
    }

    #[test]
    fn every_attribute_value_becomes_a_string_or_null() {
        let got = members(
            r#"[{"id":"1","type":"users","attributes":{"s":"a\"b\u00e9","n":1.50,"b":true,"z":null,"o":{"x": [1, {"y":null}]},"a":[],"s":"last"},"links":{"alt":null}}]"#,
        );
        assert_eq!(
            got,
            r#","p_context":[{"id":"1","type":"users","attributes":{"n":"1.50","b":"true","z":null,"o":"{\"x\":[1,{\"y\":null}]}","a":"[]","s":"last"},"links":{"alt":null}}]"#
        );
        let back: serde_json::Value =
            serde_json::from_str(&got[1..].replace("\"p_context\":", "")).expect("valid JSON");
        assert!(back[0]["attributes"]
            .as_object()
            .expect("an object")
            .values()
            .all(|v| v.is_string() || v.is_null()));
    }

    #[test]
    fn odd_shapes_are_copied_or_nulled_never_dropped() {
        assert_eq!(
            members(r#"[{"attributes":"text"},7,null,{"type":"sites"}]"#),
            r#","p_context":[{"attributes":null},7,null,{"type":"sites"}]"#
        );
        assert_eq!(members(r#"{"not":"an array"}"#), "");
        assert_eq!(members("[]"), r#","p_context":[]"#);
        let mut out = String::new();
        write_members(Field::default(), field(r#"[{"attributes":{}}]"#), &mut out);
        assert_eq!(out, r#","p_container":[{"attributes":{}}]"#);
    }

    #[test]
    fn strings_only_are_copied_as_they_are_and_escaped_names_read_unescaped() {
        let plain = r#"[{"id":"1","attributes":{"email":"a@b.c","x":null},"links":{"alt":null}}]"#;
        assert_eq!(members(plain), format!(",\"p_context\":{plain}"));
        // "\u0061" is "a": one key, the later value.
        assert_eq!(
            members(r#"[{"attributes":{"a":1,"\u0061":{"b":2}}}]"#),
            r#","p_context":[{"attributes":{"a":"{\"b\":2}"}}]"#
        );
    }

    #[test]
    fn a_context_of_megabytes_is_not_copied() {
        let big = format!(
            "[{}]",
            vec![r#"{"id":"u","type":"users","attributes":{"email":"a@b.c"}}"#; 20_000].join(",")
        );
        assert!(big.len() > MAX_COPIED_BYTES);
        let field = |raw: &'static str| Field {
            raw: Some(raw),
            doc: None,
        };
        let big: &'static str = Box::leak(big.into_boxed_str());
        let mut out = String::new();
        write_members(field(big), field("[]"), &mut out);
        assert_eq!(out, r#","p_container":[]"#);
    }
}
