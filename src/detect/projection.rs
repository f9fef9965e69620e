//! What the engine sees of an event: only the fields the rules read, taken from the JSON line
//! without building the rest as a tree. An event of many megabytes costs a parse that skips
//! what no rule reads, and at most [`MAX_ELEMENTS`] elements of an array, [`MAX_TEXT_CHARS`]
//! of a string and [`MAX_LEAF_NODES`] values under one field a rule reads whole: memory is
//! bounded whatever an event holds, and every evaluation goes through here (the pipeline,
//! `rules test`, `detect` over the archive), so all give the same alerts.

use std::fmt;

use hashbrown::HashMap;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::field_path::{FieldPath, Step, MAX_ELEMENTS, MAX_TEXT_CHARS};

/// Values kept under one field a rule reads whole (an object or array a template renders).
pub const MAX_LEAF_NODES: usize = 1_000;

/// The fields every evaluation needs: the id, the action and the times.
const ALWAYS: [&str; 6] = [
    "id",
    "attributes.action",
    "attributes.time",
    "attributes.processedAt",
    "p_event_time",
    "p_parse_time",
];

/// A tree of the paths the rules read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    root: Node,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    /// A path ends here: the value is kept whole (bounded).
    whole: bool,
    /// Every key of every object along the paths is looked up here, those no rule reads
    /// included: hashbrown's hasher, not SipHash.
    keys: HashMap<String, Node>,
    /// Through `[]` or `[i]`: the node for the array's elements.
    elements: Option<Box<Node>>,
}

impl Projection {
    pub fn of<'a>(paths: impl IntoIterator<Item = &'a FieldPath>) -> Projection {
        let mut root = Node::default();
        for path in paths {
            root.add(path.steps());
        }
        for text in ALWAYS {
            if let Ok(path) = FieldPath::parse(text) {
                root.add(path.steps());
            }
        }
        Projection { root }
    }

    /// The event's fields the rules read, as a JSON object; `None` when the line is not a
    /// JSON object.
    pub fn project(&self, line: &str) -> Option<Value> {
        let mut de = serde_json::Deserializer::from_str(line);
        let value = Seed::Node(&self.root).deserialize(&mut de).ok()?;
        de.end().ok()?;
        value.filter(Value::is_object)
    }

    /// [`Projection::project`] of an event held as a value (tests, the CLI).
    pub fn project_value(&self, event: &Value) -> Option<Value> {
        self.project(&serde_json::to_string(event).ok()?)
    }
}

impl Node {
    fn add(&mut self, steps: &[Step]) {
        let Some((first, rest)) = steps.split_first() else {
            self.whole = true;
            return;
        };
        let child = match first {
            Step::Key(k) => self.keys.entry(k.clone()).or_default(),
            Step::Each | Step::Index(_) => self.elements.get_or_insert_with(Default::default),
            Step::Flatten => {
                // The value itself, or each element if it is an array.
                self.add(rest);
                self.elements.get_or_insert_with(Default::default)
            }
        };
        child.add(rest);
    }
}

/// How one value is read: along the paths (`Node`), or whole within a budget (`Whole`).
enum Seed<'a> {
    Node(&'a Node),
    Whole(&'a mut usize),
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<Value>, D::Error> {
        match self {
            Seed::Node(node) if node.whole => {
                let mut budget = MAX_LEAF_NODES;
                de.deserialize_any(Along::Whole(&mut budget))
            }
            Seed::Node(node) => de.deserialize_any(Along::Node(node)),
            Seed::Whole(budget) if *budget == 0 => {
                IgnoredAny::deserialize(de)?;
                Ok(None)
            }
            Seed::Whole(budget) => {
                *budget -= 1;
                de.deserialize_any(Along::Whole(budget))
            }
        }
    }
}

enum Along<'a> {
    Node(&'a Node),
    Whole(&'a mut usize),
}

impl Along<'_> {
    fn keeps_scalars(&self) -> bool {
        matches!(self, Along::Whole(_))
    }
}

use serde::Deserialize;

impl<'de> Visitor<'de> for Along<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Option<Value>, E> {
        Ok(self.keeps_scalars().then_some(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Option<Value>, E> {
        Ok(self.keeps_scalars().then(|| Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Option<Value>, E> {
        Ok(self.keeps_scalars().then(|| Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Option<Value>, E> {
        Ok(self.keeps_scalars().then(|| Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Option<Value>, E> {
        Ok(self.keeps_scalars().then(|| Value::String(bounded_text(v))))
    }
    fn visit_string<E>(self, v: String) -> Result<Option<Value>, E> {
        Ok(self
            .keeps_scalars()
            .then(|| Value::String(bounded_text(&v))))
    }
    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(self.keeps_scalars().then_some(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        let element = match &self {
            Along::Node(node) => node.elements.as_deref(),
            Along::Whole(_) => None,
        };
        let mut out = Vec::new();
        let mut budget = match self {
            Along::Whole(b) => Some(b),
            Along::Node(_) => None,
        };
        let mut index = 0;
        loop {
            let keep = index < MAX_ELEMENTS;
            let next = match (&mut budget, element, keep) {
                (Some(b), _, true) => seq.next_element_seed(Seed::Whole(b))?,
                (None, Some(node), true) => seq.next_element_seed(Seed::Node(node))?,
                _ => seq.next_element::<IgnoredAny>()?.map(|_| None),
            };
            let Some(value) = next else { break };
            if keep {
                // Positions are kept (a path may say `[2]`): what is not read is null.
                out.push(value.unwrap_or(Value::Null));
            }
            index += 1;
        }
        let keep = budget.is_some() || element.is_some();
        Ok(keep.then_some(Value::Array(out)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let mut out = Map::new();
        match self {
            Along::Whole(budget) => {
                while let Some(key) = map.next_key::<String>()? {
                    if let Some(v) = map.next_value_seed(Seed::Whole(budget))? {
                        out.insert(bounded_text(&key), v);
                    }
                }
            }
            Along::Node(node) => {
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    match node.keys.get(key.as_ref()) {
                        Some(child) => {
                            if let Some(v) = map.next_value_seed(Seed::Node(child))? {
                                out.insert(key.into_owned(), v);
                            }
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
            }
        }
        Ok(Some(Value::Object(out)))
    }
}

/// A key of an object read along the paths: borrowed from the line when it holds no escape,
/// so the keys no rule reads are compared and skipped without a copy (serde's own `Cow<str>`
/// always copies).
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

/// The first [`MAX_TEXT_CHARS`] characters of a string.
fn bounded_text(text: &str) -> String {
    // No more bytes than the bound: no more characters either, and nothing to count.
    if text.len() <= MAX_TEXT_CHARS {
        return text.to_owned();
    }
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projection(paths: &[&str]) -> Projection {
        let parsed: Vec<FieldPath> = paths.iter().map(|p| FieldPath::parse(p).unwrap()).collect();
        Projection::of(parsed.iter())
    }

    #[test]
    fn only_the_fields_read_are_kept() {
        let p = projection(&[
            "attributes.actor.name",
            "attributes.context[].attributes.email",
        ]);
        let line = r#"{"id":"e1","big":{"a":[1,2,3]},"attributes":{"action":"x","actor":{"name":"Ann","id":"a1"},"context":[{"type":"users","attributes":{"email":"a@b"}},{"attributes":{"email":"c@d","x":1}},"text"]},"p_parse_time":"2024-01-01 00:00:00.000"}"#;
        let got = p.project(line).unwrap();
        let want: Value = serde_json::from_str(
            r#"{"id":"e1","attributes":{"action":"x","actor":{"name":"Ann"},"context":[{"attributes":{"email":"a@b"}},{"attributes":{"email":"c@d"}},null]},"p_parse_time":"2024-01-01 00:00:00.000"}"#,
        )
        .unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn arrays_strings_and_whole_values_are_bounded() {
        let p = projection(&["attributes.context[].v", "attributes.blob"]);
        let context: Vec<String> = (0..5_000).map(|i| format!(r#"{{"v":{i}}}"#)).collect();
        let blob: Vec<String> = (0..5_000).map(|i| i.to_string()).collect();
        let line = format!(
            r#"{{"id":"{}","attributes":{{"context":[{}],"blob":[{}]}}}}"#,
            "i".repeat(10_000),
            context.join(","),
            blob.join(",")
        );
        let got = p.project(&line).unwrap();
        assert_eq!(got["id"].as_str().unwrap().len(), MAX_TEXT_CHARS);
        assert_eq!(
            got["attributes"]["context"].as_array().unwrap().len(),
            MAX_ELEMENTS
        );
        assert_eq!(got["attributes"]["context"][999]["v"], 999);
        let blob = got["attributes"]["blob"].as_array().unwrap();
        assert!(blob.len() <= MAX_ELEMENTS);
        assert_eq!(blob.iter().filter(|v| !v.is_null()).count(), MAX_LEAF_NODES);
    }

    #[test]
    fn keys_written_with_escapes_are_read_as_their_text() {
        let p = projection(&["attributes.actor.name"]);
        let line = r#"{"\u0069d":"e1","attr\u0069butes":{"actor":{"na\u006de":"Ann","id":"a1"}}}"#;
        let want: Value =
            serde_json::from_str(r#"{"id":"e1","attributes":{"actor":{"name":"Ann"}}}"#).unwrap();
        assert_eq!(p.project(line), Some(want));
    }

    #[test]
    fn not_an_object_is_none() {
        let p = projection(&[]);
        for line in ["[1]", "\"x\"", "{", "{} {}"] {
            assert_eq!(p.project(line), None, "{line}");
        }
    }
}
