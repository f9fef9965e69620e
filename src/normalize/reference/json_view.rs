//! Borrowed, type-tolerant views into an event's JSON.
//!
//! Only the fields normalization reads are looked at, each kept as raw JSON text until
//! needed. A field of an unexpected JSON type therefore costs only that field, and the
//! rest of the event (numbers beyond `f64`, deep nesting, unknown fields) is never
//! parsed into values, only skipped.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A field's raw JSON, or nothing when absent. Unlike `Option<&RawValue>`, a JSON
/// `null` is kept (as `Some("null")`) so that "missing" and "null" can be told apart.
#[derive(Debug, Default, Clone, Copy)]
pub struct Field<'a>(pub Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(|raw| Field(Some(raw)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    pub fn of(raw: &RawValue) -> Kind {
        // A RawValue is valid JSON, so its first non-blank byte decides its type.
        match raw.get().trim_start().as_bytes().first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') | None => Kind::Null,
            Some(_) => Kind::Number,
        }
    }

    pub fn article_name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
        }
    }
}

impl<'a> Field<'a> {
    pub fn kind(self) -> Option<Kind> {
        self.0.map(Kind::of)
    }

    /// The string value, unescaped, when the field is a JSON string.
    pub fn as_string(self) -> Option<String> {
        let raw = self.0.filter(|r| Kind::of(r) == Kind::String)?;
        serde_json::from_str(raw.get()).ok()
    }

    /// Deserializes an object view, only when the field is a JSON object: serde's
    /// derived structs would otherwise also accept an array of positional fields.
    pub fn as_object<T: Deserialize<'a>>(self) -> Option<T> {
        let raw = self.0.filter(|r| Kind::of(r) == Kind::Object)?;
        serde_json::from_str(raw.get()).ok()
    }

    /// The elements, when the field is a JSON array.
    pub fn as_array(self) -> Option<Vec<Field<'a>>> {
        let raw = self.0.filter(|r| Kind::of(r) == Kind::Array)?;
        serde_json::from_str(raw.get()).ok()
    }

    /// The member values in document order, when the field is a JSON object.
    pub fn object_values(self) -> Option<Vec<Field<'a>>> {
        self.as_object::<ObjectValues<'a>>().map(|v| v.0)
    }
}

/// The values of a JSON object in document order, keys dropped.
struct ObjectValues<'a>(Vec<Field<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for ObjectValues<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ValuesVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ValuesVisitor<'a> {
            type Value = ObjectValues<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut values = Vec::new();
                while let Some((IgnoredAny, v)) = map.next_entry::<IgnoredAny, Field<'a>>()? {
                    values.push(v);
                }
                Ok(ObjectValues(values))
            }
        }
        d.deserialize_map(ValuesVisitor(std::marker::PhantomData))
    }
}

/// The top level of an event: the required fields.
#[derive(Debug, Deserialize)]
pub struct EventView<'a> {
    #[serde(borrow, default)]
    pub id: Field<'a>,
    #[serde(borrow, default, rename = "type")]
    pub kind: Field<'a>,
    #[serde(borrow, default)]
    pub attributes: Field<'a>,
    #[serde(borrow, default)]
    pub links: Field<'a>,
}

#[derive(Debug, Deserialize)]
pub struct AttributesView<'a> {
    #[serde(borrow, default)]
    pub time: Field<'a>,
    #[serde(borrow, default, rename = "processedAt")]
    pub processed_at: Field<'a>,
    #[serde(borrow, default)]
    pub actor: Field<'a>,
    #[serde(borrow, default)]
    pub context: Field<'a>,
    #[serde(borrow, default)]
    pub location: Field<'a>,
}

#[derive(Debug, Deserialize)]
pub struct ActorView<'a> {
    #[serde(borrow, default)]
    pub id: Field<'a>,
    #[serde(borrow, default)]
    pub name: Field<'a>,
    #[serde(borrow, default)]
    pub email: Field<'a>,
    #[serde(borrow, default, rename = "onBehalfOf")]
    pub on_behalf_of: Field<'a>,
}

#[derive(Debug, Deserialize)]
pub struct LocationView<'a> {
    #[serde(borrow, default)]
    pub ip: Field<'a>,
}

#[derive(Debug, Deserialize)]
pub struct ContextItemView<'a> {
    #[serde(borrow, default)]
    pub links: Field<'a>,
}
