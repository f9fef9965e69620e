//! A rule's own test events: each case fed to that rule alone, on a fresh state. A positive
//! case must raise at least one alert, a negative one none.

use chrono::{DateTime, SecondsFormat};
use serde_json::Value;

use super::engine::detect;
use super::pack::RulePack;
use super::rule::{Rule, TestCase};
use super::state::DetectState;

/// Where a test event without `attributes.time` is placed: 2026-01-01T00:00:00Z, one second
/// apart.
const TEST_BASE_MS: i64 = 1_767_225_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Alert,
    NoAlert,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    pub rule_id: String,
    pub origin: String,
    pub case: String,
    pub expect: Expect,
    pub alerts: usize,
    /// The rule has no case of this kind: a failure (every rule is tested both ways).
    pub missing: bool,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        !self.missing && (self.alerts > 0) == (self.expect == Expect::Alert)
    }

    /// `ok    rule  positive "name"` or `FAIL  rule  negative "name": 2 alerts, expected none`.
    pub fn line(&self) -> String {
        let kind = match self.expect {
            Expect::Alert => "positive",
            Expect::NoAlert => "negative",
        };
        if self.missing {
            return format!("FAIL  {}  {kind}: no test case (add one to the rule file's sidecar, <name>.tests.yaml)", self.rule_id);
        }
        let verdict = if self.passed() { "ok  " } else { "FAIL" };
        let detail = match (self.passed(), self.expect) {
            (true, _) => String::new(),
            (false, Expect::Alert) => ": no alert, expected one".into(),
            (false, Expect::NoAlert) => format!(": {} alert(s), expected none", self.alerts),
        };
        format!(
            "{verdict}  {}  {kind} \"{}\"{detail}",
            self.rule_id, self.case
        )
    }
}

/// Every case of every rule in the pack.
pub fn run_rule_tests(pack: &RulePack) -> Vec<CaseResult> {
    pack.rules()
        .iter()
        .flat_map(|rule| {
            let positive = rule
                .tests
                .positive
                .iter()
                .map(|c| run_case(rule, c, Expect::Alert));
            let negative = rule
                .tests
                .negative
                .iter()
                .map(|c| run_case(rule, c, Expect::NoAlert));
            let missing = [
                (Expect::Alert, rule.tests.positive.is_empty()),
                (Expect::NoAlert, rule.tests.negative.is_empty()),
            ]
            .into_iter()
            .filter(|(_, none)| *none)
            .map(|(expect, _)| missing_case(rule, expect));
            positive.chain(negative).chain(missing).collect::<Vec<_>>()
        })
        .collect()
}

fn missing_case(rule: &Rule, expect: Expect) -> CaseResult {
    CaseResult {
        rule_id: rule.id.clone(),
        origin: rule.origin.clone(),
        case: String::new(),
        expect,
        alerts: 0,
        missing: true,
    }
}

fn run_case(rule: &Rule, case: &TestCase, expect: Expect) -> CaseResult {
    let pack = RulePack::of(vec![rule.clone()]);
    let events = expand(case);
    let detection = detect(&pack, &DetectState::default(), &events);
    CaseResult {
        rule_id: rule.id.clone(),
        origin: rule.origin.clone(),
        case: case.name.clone(),
        expect,
        alerts: detection.alerts.len(),
        missing: false,
    }
}

/// The case's events, `repeat` times; each copy gets its own id and a time one second later.
/// Missing ids and times are filled in, so a test event needs only what its rule looks at.
pub fn expand(case: &TestCase) -> Vec<Value> {
    let mut out = Vec::new();
    for copy in 0..case.repeat {
        for (j, event) in case.events.iter().enumerate() {
            let n = i64::from(copy) * case.events.len() as i64 + j as i64;
            out.push(filled(event, copy, n));
        }
    }
    out
}

fn filled(event: &Value, copy: u32, n: i64) -> Value {
    let mut e = event.clone();
    let Some(obj) = e.as_object_mut() else {
        return e;
    };
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .map_or(format!("test-event-{n}"), |id| {
            if copy == 0 {
                id.to_owned()
            } else {
                format!("{id}-copy-{copy}")
            }
        });
    obj.insert("id".into(), Value::String(id));
    let attributes = obj
        .entry("attributes")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(attrs) = attributes.as_object_mut() {
        let given = attrs
            .get("time")
            .and_then(Value::as_str)
            .and_then(|t| crate::normalize::parse_timestamp(t).ok())
            .map(|t| t.timestamp_millis());
        let ms = given.map_or(TEST_BASE_MS + n * 1_000, |t| t + i64::from(copy) * 1_000);
        if let Some(t) = DateTime::from_timestamp_millis(ms) {
            attrs.insert(
                "time".into(),
                Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            );
        }
    }
    e
}
