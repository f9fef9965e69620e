//! Conditions on field paths: every condition of a rule must hold. A path through `[]`
//! reaches several values; a condition holds when any of them satisfies it (`not_one_of`: when
//! none is in the list). Values are compared as text, so `equals: 5` matches `5` and `"5"`.

use serde::Deserialize;
use serde_json::Value;

use super::field_path::{scalar_text, FieldRef};

/// A condition as the YAML writes it: `field` and exactly one operator.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    field: String,
    equals: Option<Value>,
    one_of: Option<Vec<Value>>,
    not_one_of: Option<Vec<Value>>,
    contains: Option<String>,
    exists: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    OneOf(Vec<String>),
    NotOneOf(Vec<String>),
    /// Lower-cased: `contains` ignores case.
    Contains(String),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    field: FieldRef,
    test: Test,
}

const OPERATORS: &str = "equals, one_of, not_one_of, contains or exists";

impl Condition {
    /// The compiled condition, or what to fix (never quoting the rule's values).
    pub fn compile(spec: ConditionSpec) -> Result<Condition, String> {
        let field = FieldRef::parse(&spec.field)?;
        let mut tests = Vec::new();
        if let Some(v) = spec.equals {
            tests.push(Test::OneOf(vec![scalar(&v)?]));
        }
        if let Some(list) = spec.one_of {
            tests.push(Test::OneOf(scalars(&list)?));
        }
        if let Some(list) = spec.not_one_of {
            tests.push(Test::NotOneOf(scalars(&list)?));
        }
        if let Some(s) = spec.contains {
            tests.push(Test::Contains(s.to_lowercase()));
        }
        if let Some(b) = spec.exists {
            tests.push(Test::Exists(b));
        }
        match (tests.pop(), tests.is_empty()) {
            (Some(test), true) => Ok(Condition { field, test }),
            (None, _) => Err(format!("a condition needs one operator: {OPERATORS}")),
            (Some(_), false) => Err(format!(
                "a condition has more than one operator; write one condition per operator ({OPERATORS})"
            )),
        }
    }

    pub fn field(&self) -> &FieldRef {
        &self.field
    }

    pub fn holds(&self, event: &Value) -> bool {
        let values = self.field.values(event);
        let texts = || values.iter().filter_map(|v| scalar_text(v));
        match &self.test {
            Test::OneOf(list) => texts().any(|t| list.contains(&t)),
            Test::NotOneOf(list) => !texts().any(|t| list.contains(&t)),
            Test::Contains(needle) => texts().any(|t| t.to_lowercase().contains(needle)),
            Test::Exists(wanted) => values.is_empty() != *wanted,
        }
    }
}

fn scalar(v: &Value) -> Result<String, String> {
    scalar_text(v).ok_or_else(|| {
        "a condition compares with a string, number or boolean, not a list or mapping".into()
    })
}

fn scalars(list: &[Value]) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err("a one_of / not_one_of list is empty".into());
    }
    list.iter().map(scalar).collect()
}
