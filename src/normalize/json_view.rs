//! Borrowed, type-tolerant views into an event's JSON.
//!
//! Only the fields normalization reads are looked at, each kept as raw JSON text until
//! needed. A field of an unexpected JSON type therefore costs only that field, and the
//! rest of the event (numbers beyond `f64`, deep nesting, unknown fields) is never
//! parsed into values, only skipped.
//!
//! Views are read by [`scan`](super::scan) (the text is valid JSON already), giving what serde's
//! derived `Deserialize` gives; where the two could differ (a member name with an escape, which
//! serde compares unescaped) serde reads it, and a repeated member makes the view unreadable,
//! as serde's derive refuses repeats.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::scan::{self, Doc, Skip};

/// A field's raw JSON, or nothing when absent. Unlike `Option<&RawValue>`, a JSON
/// `null` is kept (as `Some("null")`) so that "missing" and "null" can be told apart.
#[derive(Debug, Default, Clone, Copy)]
pub struct Field<'a> {
    pub raw: Option<&'a str>,
    /// The compacted event the text is a piece of, when it was read from one.
    pub(super) doc: Option<Doc<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(|raw| Field {
            raw: Some(raw.get()),
            doc: None,
        })
    }
}

/// Why a scanned view might not be what serde's derived one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusual {
    /// A member name has an escape: serde compares names unescaped.
    EscapedName,
    /// A member the view reads appears twice: serde's derive refuses that.
    Repeated,
}

/// The values of the members named `names` in the object `text` (a piece of `doc` if that is
/// given), by scanning; each absent one is `raw: None`. Stops at the first member that makes
/// it [`Unusual`].
pub fn pick<'a, const N: usize>(
    text: &'a str,
    doc: Option<Doc<'a>>,
    names: [&str; N],
) -> Result<[Field<'a>; N], Unusual> {
    let mut fields = [Field { raw: None, doc }; N];
    for member in scan::members(text, Skip::new(doc, text)) {
        if member.name_escaped {
            return Err(Unusual::EscapedName);
        }
        if let Some(k) = names.iter().position(|n| *n == member.name) {
            if fields[k].raw.is_some() {
                return Err(Unusual::Repeated);
            }
            fields[k].raw = Some(member.value);
        }
    }
    Ok(fields)
}

/// An object view that can be read by scanning.
pub trait View<'a>: Sized + Deserialize<'a> {
    /// Reads the object `text`, a piece of `doc` if that is given.
    fn scan(text: &'a str, doc: Option<Doc<'a>>) -> Result<Self, Unusual>;
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
    pub fn of(raw: &str) -> Kind {
        // The text is valid JSON, so its first non-blank byte decides its type.
        match raw.trim_start().as_bytes().first() {
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
        self.raw.map(Kind::of)
    }

    /// The string value, unescaped, when the field is a JSON string.
    pub fn as_string(self) -> Option<String> {
        self.as_str().map(Cow::into_owned)
    }

    /// [`as_string`](Self::as_string), borrowed from the text when it has no escape.
    pub fn as_str(self) -> Option<Cow<'a, str>> {
        let raw = self.raw.filter(|r| Kind::of(r) == Kind::String)?;
        // Without an escape, the value is the text between the quotes (the text is a whole,
        // valid JSON string, so it has no other quote and no control character).
        match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) if !inner.as_bytes().contains(&b'\\') => Some(Cow::Borrowed(inner)),
            _ => serde_json::from_str::<String>(raw).ok().map(Cow::Owned),
        }
    }

    /// Reads an object view, only when the field is a JSON object: serde's derived
    /// structs would otherwise also accept an array of positional fields.
    pub fn as_object<T: View<'a>>(self) -> Option<T> {
        let raw = self.raw.filter(|r| Kind::of(r) == Kind::Object)?;
        match T::scan(raw, self.doc) {
            Ok(view) => Some(view),
            Err(Unusual::Repeated) => None,
            Err(Unusual::EscapedName) => serde_json::from_str(raw).ok(),
        }
    }

    /// The elements, when the field is a JSON array.
    pub fn as_array(self) -> Option<Vec<Field<'a>>> {
        let raw = self.raw.filter(|r| Kind::of(r) == Kind::Array)?;
        let doc = self.doc;
        Some(
            scan::elements(raw, Skip::new(doc, raw))
                .map(|e| Field { raw: Some(e), doc })
                .collect(),
        )
    }

    /// The member values in document order, when the field is a JSON object.
    pub fn object_values(self) -> Option<Vec<Field<'a>>> {
        let raw = self.raw.filter(|r| Kind::of(r) == Kind::Object)?;
        let doc = self.doc;
        let mut values = Vec::new();
        for member in scan::members(raw, Skip::new(doc, raw)) {
            if member.name_escaped {
                // serde unescapes even names it ignores, and refuses some (lone surrogates).
                return serde_json::from_str::<ObjectValues>(raw).ok().map(|v| v.0);
            }
            values.push(Field {
                raw: Some(member.value),
                doc,
            });
        }
        Some(values)
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
    pub container: Field<'a>,
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

impl<'a> View<'a> for EventView<'a> {
    fn scan(text: &'a str, doc: Option<Doc<'a>>) -> Result<Self, Unusual> {
        let [id, kind, attributes, links] = pick(text, doc, ["id", "type", "attributes", "links"])?;
        Ok(EventView {
            id,
            kind,
            attributes,
            links,
        })
    }
}

impl<'a> View<'a> for AttributesView<'a> {
    fn scan(text: &'a str, doc: Option<Doc<'a>>) -> Result<Self, Unusual> {
        let [time, processed_at, actor, context, container, location] = pick(
            text,
            doc,
            [
                "time",
                "processedAt",
                "actor",
                "context",
                "container",
                "location",
            ],
        )?;
        Ok(AttributesView {
            time,
            processed_at,
            actor,
            context,
            container,
            location,
        })
    }
}

impl<'a> View<'a> for ActorView<'a> {
    fn scan(text: &'a str, doc: Option<Doc<'a>>) -> Result<Self, Unusual> {
        let [id, name, email, on_behalf_of] =
            pick(text, doc, ["id", "name", "email", "onBehalfOf"])?;
        Ok(ActorView {
            id,
            name,
            email,
            on_behalf_of,
        })
    }
}

impl<'a> View<'a> for LocationView<'a> {
    fn scan(text: &'a str, doc: Option<Doc<'a>>) -> Result<Self, Unusual> {
        let [ip] = pick(text, doc, ["ip"])?;
        Ok(LocationView { ip })
    }
}

impl<'a> View<'a> for ContextItemView<'a> {
    fn scan(text: &'a str, doc: Option<Doc<'a>>) -> Result<Self, Unusual> {
        let [links] = pick(text, doc, ["links"])?;
        Ok(ContextItemView { links })
    }
}
