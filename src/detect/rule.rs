//! A rule, compiled: what it matches (Sigma detections, evaluated by rsigma), how it is titled,
//! grouped and thresholded, and its own test events.

use std::sync::Arc;

use std::borrow::Cow;

use rsigma_eval::event::{Event, EventValue, JsonEvent};
use rsigma_eval::CompiledRule;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::field_path::{FieldPath, FieldRef};
use super::severity::Severity;
use super::template::Template;

/// Longest alert title: a rule whose title could render longer is refused at load, and a
/// rendering is cut to it anyway.
pub const MAX_TITLE_CHARS: usize = 1_000;
/// Longest runbook, likewise.
pub const MAX_RUNBOOK_CHARS: usize = 8_000;
/// Longest dedup key kept as it is; a longer one is replaced by a hash of it (same key, same
/// hash), so the state and the alerts stay small whatever the events hold.
pub const MAX_DEDUP_KEY_CHARS: usize = 200;

/// Panther's default dedup period: alerts of one rule and key within an hour are one alert.
pub const DEFAULT_DEDUP_PERIOD_MS: i64 = 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    pub count: u32,
    pub window_ms: i64,
    pub group_by: Vec<FieldRef>,
    /// Sigma's `value_count`: the count is of the distinct values of this field among the
    /// group's matches (an event without it does not count); `None`: of the matches.
    pub distinct: Option<FieldRef>,
}

impl Threshold {
    /// The group's values, ` / `-joined; `None` when a group-by field is absent (such an event
    /// cannot be attributed to a group, so it does not count).
    pub fn group(&self, event: &Value) -> Option<String> {
        let parts = self
            .group_by
            .iter()
            .map(|f| f.render(event))
            .collect::<Option<Vec<_>>>()?;
        Some(parts.join(" / "))
    }

    /// The value a `value_count` threshold counts, hashed; `Some("")` for an event count.
    /// `None`: the event lacks the field, and does not count.
    pub fn counted_value(&self, event: &Value) -> Option<String> {
        match &self.distinct {
            None => Some(String::new()),
            Some(field) => field.render(event).map(|v| short_hash(&[&v])),
        }
    }
}

/// The Sigma detections an event must satisfy (any of them, for a correlation over several
/// rules), compiled by rsigma.
#[derive(Clone)]
pub struct Matcher {
    pub detections: Vec<Arc<CompiledRule>>,
}

impl Matcher {
    /// Whether a condition of one of the detections holds: rsigma's evaluation, without the
    /// match report it would build.
    pub fn matches(&self, event: &Value) -> bool {
        let event = Fields::of(event);
        let mut selections = Vec::new();
        self.detections.iter().any(|d| {
            d.conditions.iter().any(|c| {
                selections.clear();
                rsigma_eval::compiler::eval_condition(c, &d.detections, &event, &mut selections)
            })
        })
    }
}

/// An event as rsigma reads it: rsigma's own [`JsonEvent`], but a field named by a plain
/// dotted path (no `[`, no `\\`: every field of the built-in pack) is looked up without
/// parsing the path into a `Vec` of steps and without a `Vec` for the values found, which
/// `JsonEvent` allocates at every lookup. Same answers: the whole path as one key first,
/// then key by key, each key over every element of an array it meets.
struct Fields<'a> {
    value: &'a Value,
    json: JsonEvent<'a>,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value) -> Self {
        Fields {
            value,
            json: JsonEvent::borrow(value),
        }
    }
}

/// Values found along a path: none, one (no allocation), or several.
enum Found<'a> {
    None,
    One(EventValue<'a>),
    Many(Vec<EventValue<'a>>),
}

impl<'a> Found<'a> {
    fn push(&mut self, value: EventValue<'a>) {
        *self = match std::mem::replace(self, Found::None) {
            Found::None => Found::One(value),
            Found::One(first) => Found::Many(vec![first, value]),
            Found::Many(mut all) => {
                all.push(value);
                Found::Many(all)
            }
        };
    }
}

/// `map.get(key)`, by comparing the keys of a small map (a projected event's objects hold a
/// few): no SipHash of the key, the same answer (keys are unique).
fn member<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() > 8 {
        return map.get(key);
    }
    map.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
}

/// rsigma's `collect_by_ops` for keys only: a key distributes over an array's elements.
fn collect_keys<'a>(current: &'a Value, path: &str, out: &mut Found<'a>) {
    let (key, rest) = match path.split_once('.') {
        Some((key, rest)) => (key, Some(rest)),
        None => (path, None),
    };
    match current {
        Value::Object(map) => {
            if let Some(next) = member(map, key) {
                match rest {
                    Some(rest) => collect_keys(next, rest, out),
                    None => out.push(EventValue::from(next)),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_keys(item, path, out);
            }
        }
        _ => {}
    }
}

impl Event for Fields<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        let Value::Object(map) = self.value else {
            return self.json.get_field(path);
        };
        if path.contains(['[', '\\']) {
            return self.json.get_field(path);
        }
        if let Some(v) = member(map, path) {
            return Some(EventValue::from(v));
        }
        if !path.contains('.') {
            return None;
        }
        let mut found = Found::None;
        collect_keys(self.value, path, &mut found);
        match found {
            Found::None => None,
            Found::One(v) => Some(v),
            Found::Many(all) => Some(EventValue::Array(all)),
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.json.any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.json.all_string_values()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.json.visit_string_values(visit)
    }

    fn to_json(&self) -> Value {
        self.json.to_json()
    }

    fn field_keys(&self) -> Vec<Cow<'_, str>> {
        self.json.field_keys()
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        self.json.top_level_keys()
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        self.json.visit_top_level_keys(visit)
    }
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<_> = self.detections.iter().map(|d| &d.id).collect();
        write!(f, "Matcher({ids:?})")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.detections.len() == other.detections.len()
            && self
                .detections
                .iter()
                .zip(&other.detections)
                .all(|(a, b)| a.id == b.id && a.title == b.title)
    }
}

/// One test case: the events are fed to the rule alone, on a fresh state, `repeat` times.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub name: String,
    pub events: Vec<Value>,
    pub repeat: u32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleTests {
    pub positive: Vec<TestCase>,
    pub negative: Vec<TestCase>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    pub severity: Severity,
    pub description: String,
    /// The file the rule came from (`builtin:rules/…` for the compiled-in pack).
    pub origin: String,
    /// The Sigma rule's id (a UUID), for `rules list` and `related:` references.
    pub sigma_id: String,
    pub title: Template,
    pub runbook: Template,
    pub matcher: Matcher,
    /// The `attributes.action` values every match has (lower case), when the detection says so;
    /// `None`: any action may match (the prefilter lets every event through).
    pub actions: Option<Vec<String>>,
    /// Texts one of which every matching event's line holds (ignoring ASCII case), beside its
    /// action; `None`: the action alone decides what the prefilter lets through.
    pub needles: Option<Vec<String>>,
    /// The detection is the action alone: an event the pack's action index offers matches
    /// (`RulePack::candidates`), without evaluating it again.
    pub action_only: bool,
    /// Fields the detections read (Sigma names), for the projection.
    pub detection_fields: Vec<FieldPath>,
    pub threshold: Option<Threshold>,
    /// `None`: the group (threshold rules) or the title.
    pub dedup_key: Option<Template>,
    pub dedup_period_ms: i64,
    pub tests: RuleTests,
}

impl Rule {
    pub fn matches(&self, event: &Value) -> bool {
        self.matcher.matches(event)
    }

    pub fn dedup_key_of(&self, event: &Value, group: Option<&str>) -> String {
        let key = match (&self.dedup_key, group) {
            (Some(t), _) => t.render(event),
            (None, Some(g)) => g.to_owned(),
            (None, None) => self.title.render(event),
        };
        if key.chars().nth(MAX_DEDUP_KEY_CHARS).is_some() {
            format!("sha256:{}", short_hash(&[&key]))
        } else {
            key
        }
    }

    pub fn title_of(&self, event: &Value) -> String {
        self.title.render_capped(event, MAX_TITLE_CHARS)
    }

    pub fn runbook_of(&self, event: &Value) -> String {
        self.runbook.render_capped(event, MAX_RUNBOOK_CHARS)
    }

    /// Every field path the rule reads: detections, templates, threshold groups and values.
    pub fn paths(&self) -> Vec<&FieldPath> {
        let mut paths: Vec<&FieldPath> = self.detection_fields.iter().collect();
        paths.extend(self.fields().into_iter().flat_map(|f| f.paths()));
        paths
    }

    /// The templates' and the threshold's fields.
    fn fields(&self) -> Vec<&FieldRef> {
        let mut fields: Vec<&FieldRef> = self.title.fields().collect();
        fields.extend(self.runbook.fields());
        fields.extend(self.dedup_key.iter().flat_map(|t| t.fields()));
        fields.extend(self.threshold.iter().flat_map(|t| t.group_by.iter()));
        fields.extend(self.threshold.iter().flat_map(|t| t.distinct.iter()));
        fields
    }
}

/// The first 16 bytes of SHA-256 over the parts, NUL-separated, in hex.
pub fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize()[..16])
}

/// Lower-case hex of `bytes` (one `String`, not one per byte).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_answer_as_rsigma_json_event_does() {
        let event: Value = serde_json::from_str(
            r#"{"id":"e1","a.b":"flat","a":{"b":"nested","c":[{"d":"x"},{"d":"y"},{"e":1},[{"d":"z"}]],"n":null,"o":{"p":true}},"":{"":"empty"},"s":"text"}"#,
        )
        .unwrap();
        // Every kind of path: plain, flat key, through arrays, absent, odd dots (the empty
        // path last), and those handed to rsigma as they are (`[`, `\\`).
        let paths = "id a.b a a.c a.c.d a.c.e a.c.f a.n a.o a.o.p a.o.q missing missing.x s s.x \
                     id.x . a. .a .. a.c[0].d a.c[-1] a\\.b a.c[x] ";
        let ours = Fields::of(&event);
        let theirs = JsonEvent::borrow(&event);
        for path in paths.split(' ') {
            assert_eq!(ours.get_field(path), theirs.get_field(path), "{path}");
        }
        for root in [serde_json::json!([{"a": 1}]), serde_json::json!("a")] {
            for path in ["a", "a.b", "0"] {
                assert_eq!(
                    Fields::of(&root).get_field(path),
                    JsonEvent::borrow(&root).get_field(path),
                    "{path}"
                );
            }
        }
    }
}
