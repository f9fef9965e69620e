//! A rule, compiled: what it matches, how it is titled, grouped and thresholded, and its own
//! test events.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::condition::Condition;
use super::field_path::FieldRef;
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
}

/// One test case: the events are fed to the rule alone, on a fresh state, `repeat` times.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub name: String,
    pub events: Vec<Value>,
    pub repeat: u32,
}

#[derive(Debug, Clone, PartialEq)]
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
    pub title: Template,
    pub runbook: Template,
    pub actions: Vec<String>,
    pub conditions: Vec<Condition>,
    pub threshold: Option<Threshold>,
    /// `None`: the group (threshold rules) or the title.
    pub dedup_key: Option<Template>,
    pub dedup_period_ms: i64,
    pub tests: RuleTests,
}

impl Rule {
    pub fn matches(&self, event: &Value) -> bool {
        let action = event
            .get("attributes")
            .and_then(|a| a.get("action"))
            .and_then(Value::as_str);
        action.is_some_and(|a| self.actions.iter().any(|x| x == a))
            && self.conditions.iter().all(|c| c.holds(event))
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

    /// Every field the rule reads (actions aside): conditions, templates, threshold groups.
    pub fn fields(&self) -> Vec<&FieldRef> {
        let mut fields: Vec<&FieldRef> = self.conditions.iter().map(Condition::field).collect();
        fields.extend(self.title.fields());
        fields.extend(self.runbook.fields());
        fields.extend(self.dedup_key.iter().flat_map(|t| t.fields()));
        fields.extend(self.threshold.iter().flat_map(|t| t.group_by.iter()));
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
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
