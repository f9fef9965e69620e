//! A rule file's test events: the sidecar `<name>.tests.yaml` beside `<name>.yml`, a mapping
//! from each rule's `name` to its positive (must alert) and negative (must not) cases. Sigma has
//! no place for test events in the rule itself, so they live beside it and the rule file stays
//! plain Sigma.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::yaml::refuse_anchors;
use crate::detect::error::{scrub, RuleError};
use crate::detect::rule::{RuleTests, TestCase};

/// The sidecar of the rule file `path`: `x.yml` → `x.tests.yaml`.
pub fn sidecar_path(path: &str) -> String {
    let stem = path
        .strip_suffix(".yml")
        .or_else(|| path.strip_suffix(".yaml"))
        .unwrap_or(path);
    format!("{stem}.tests.yaml")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestsSpec {
    #[serde(default)]
    positive: Vec<TestCaseSpec>,
    #[serde(default)]
    negative: Vec<TestCaseSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCaseSpec {
    name: String,
    events: Vec<serde_json::Value>,
    repeat: Option<u32>,
}

/// The cases of each rule, by rule name.
pub fn parse_tests(file: &str, text: &str) -> Result<BTreeMap<String, RuleTests>, RuleError> {
    let syntax = |message: String| RuleError::Syntax {
        file: file.to_owned(),
        message,
    };
    refuse_anchors(text).map_err(syntax)?;
    let specs: BTreeMap<String, TestsSpec> = yaml_serde::from_str(text).map_err(|e| {
        syntax(format!(
            "a tests file maps each rule's name to `positive:` and `negative:` cases ({})",
            scrub(&e.to_string())
        ))
    })?;
    Ok(specs
        .into_iter()
        .map(|(name, spec)| {
            let tests = RuleTests {
                positive: spec.positive.into_iter().map(case).collect(),
                negative: spec.negative.into_iter().map(case).collect(),
            };
            (name, tests)
        })
        .collect())
}

fn case(spec: TestCaseSpec) -> TestCase {
    TestCase {
        name: spec.name,
        events: spec.events,
        repeat: spec.repeat.unwrap_or(1),
    }
}
