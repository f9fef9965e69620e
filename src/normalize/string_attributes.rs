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

/// Appends `,"p_context":[…]` and `,"p_container":[…]` for the raw `attributes.context` and
/// `attributes.container` (absent: no member).
pub fn write_members(context: Option<&str>, container: Option<&str>, out: &mut String) {
    for (name, raw) in [("p_context", context), ("p_container", container)] {
        let Some(raw) = raw else { continue };
        let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw) else {
            continue;
        };
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_entry(item.get(), out);
        }
        out.push(']');
    }
}

fn write_entry(raw: &str, out: &mut String) {
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
            write_string_map(value.get(), out);
        } else {
            compact_json_into(value.get(), out);
        }
    }
    out.push('}');
}

fn write_string_map(raw: &str, out: &mut String) {
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
        let text = value.get();
        match text.as_bytes().first() {
            Some(b'"') => out.push_str(text),
            Some(b'n') => out.push_str("null"),
            _ => {
                let mut compact = String::with_capacity(text.len());
                compact_json_into(text, &mut compact);
                push_json_string(out, &compact);
            }
        }
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(context: &str) -> String {
        let mut out = String::new();
        write_members(Some(context), None, &mut out);
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
        write_members(None, Some(r#"[{"attributes":{}}]"#), &mut out);
        assert_eq!(out, r#","p_container":[{"attributes":{}}]"#);
    }
}
