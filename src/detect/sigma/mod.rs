//! Sigma rule files, the rule format (<https://sigmahq.io>): parsed by `rsigma-parser`, each
//! detection compiled and evaluated by `rsigma-eval`; correlations (`event_count`,
//! `value_count`) become thresholds counted in our state (`correlation`), which the checkpoint
//! carries between batches. A bad rule is a [`RuleError`] naming the file, the rule and the
//! field.

mod attributes;
mod correlation;
mod detection;
mod placeholders;
mod sidecar;
mod yaml;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use rsigma_parser::{Level, LogSource, RelationType, SigmaRule, Status};

use super::error::{scrub_sigma as scrub, RuleError};
use super::rule::{Matcher, Rule, RuleTests};
use super::severity::Severity;
use attributes::alert_attributes;
pub use placeholders::PackSettings;
pub use sidecar::sidecar_path;

/// The logsource every rule must name: what the collector's events are.
pub const PRODUCT: &str = "atlassian";
pub const SERVICE: &str = "audit";

/// What one file holds: its alerting rules, and the ids of rules its `related: obsolete`
/// entries replace (with the name of the rule that says so).
#[derive(Debug, Clone, PartialEq)]
pub struct SigmaFile {
    pub rules: Vec<Rule>,
    pub obsoletes: Vec<(String, String)>,
}

/// A rule as errors name it.
pub struct Label<'a> {
    file: &'a str,
    rule: String,
}

impl Label<'_> {
    pub fn error(&self, field: &str, message: impl Into<String>) -> RuleError {
        RuleError::invalid(self.file, &self.rule, field, message)
    }
}

/// The rules of the Sigma file `file` (its text), with the test cases of its sidecar (`tests`:
/// the sidecar's name and text) and the pack's placeholders filled from `settings`.
pub fn parse_sigma_file(
    file: &str,
    text: &str,
    tests: Option<(&str, &str)>,
    settings: &PackSettings,
) -> Result<SigmaFile, RuleError> {
    let syntax = |message: String| RuleError::Syntax {
        file: file.to_owned(),
        message,
    };
    yaml::refuse_anchors(text).map_err(syntax)?;
    let collection =
        rsigma_parser::parse_sigma_yaml(text).map_err(|e| syntax(scrub(&e.to_string())))?;
    if let Some(error) = collection.errors.first() {
        return Err(document_error(file, text).unwrap_or_else(|| syntax(scrub(error))));
    }
    if !collection.filters.is_empty() {
        return Err(syntax("Sigma filter documents are not supported: write the exclusion into the rule (`condition: selection and not filter`), or replace a built-in rule with your own (`related: [{id: <its id>, type: obsolete}]`)".into()));
    }
    let pipeline = settings.pipeline().map_err(syntax)?;
    let mut obsoletes = Vec::new();
    let mut detections = Vec::new();
    for (i, rule) in collection.rules.iter().enumerate() {
        let label = label_of(file, rule.name.as_deref(), i);
        obsoletes.extend(
            rule.related
                .iter()
                .filter(|r| r.relation_type == RelationType::Obsolete)
                .map(|r| (label.rule.clone(), r.id.clone())),
        );
        if rule.status == Some(Status::Unsupported) {
            continue;
        }
        detections.push(detection_rule(&label, rule, &pipeline)?);
    }
    let mut hidden = HashSet::new();
    let mut rules = Vec::new();
    for (i, corr) in collection.correlations.iter().enumerate() {
        let label = label_of(file, corr.name.as_deref(), collection.rules.len() + i);
        let (rule, bases) = correlation::correlation_rule(&label, corr, &detections)?;
        if !corr.generate {
            hidden.extend(bases);
        }
        rules.push(rule);
    }
    let mut all: Vec<Rule> = detections
        .into_iter()
        .filter(|d| !hidden.contains(&d.id))
        .collect();
    all.append(&mut rules);
    if let Some((tests_file, tests_text)) = tests {
        attach_tests(tests_file, tests_text, &mut all)?;
    }
    Ok(SigmaFile {
        rules: all,
        obsoletes,
    })
}

/// The parse error of the first document that fails on its own, naming its rule (its `name`)
/// and, when the parser says which, the field.
fn document_error(file: &str, text: &str) -> Option<RuleError> {
    use serde::Deserialize;
    for (i, document) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let value = yaml_serde::Value::deserialize(document).ok()?;
        let alone = yaml_serde::to_string(&value).ok()?;
        let parsed = rsigma_parser::parse_sigma_yaml(&alone);
        let error = match parsed {
            Err(e) => e.to_string(),
            Ok(c) => match c.errors.into_iter().next() {
                Some(e) => e,
                None => continue,
            },
        };
        let label = label_of(file, value.get("name").and_then(|n| n.as_str()), i);
        let field = error
            .strip_prefix("invalid ")
            .and_then(|rest| rest.split(':').next())
            .filter(|f| valid_id(f))
            .unwrap_or("-");
        return Some(label.error(field, scrub(&error)));
    }
    None
}

fn label_of<'a>(file: &'a str, name: Option<&str>, index: usize) -> Label<'a> {
    let rule = match name {
        Some(n) if valid_id(n) => n.to_owned(),
        _ => format!("#{} (no valid name)", index + 1),
    };
    Label { file, rule }
}

/// A rule's `name`, which is its id in alerts: 1 to 64 of a-z, 0-9, `_`, `.` and `-`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

/// The fields every rule and correlation must have: its `name`, its `id`, its `level`.
fn identity(
    label: &Label<'_>,
    name: Option<&str>,
    id: Option<&str>,
    level: Option<Level>,
) -> Result<(String, String, Severity), RuleError> {
    let name = name.filter(|n| valid_id(n)).ok_or_else(|| {
        label.error(
            "name",
            "is missing or not 1 to 64 of a-z, 0-9, '_', '.' and '-'; it is the rule's id in alerts",
        )
    })?;
    let id = id
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .ok_or_else(|| {
            label.error(
                "id",
                "is missing or not an identifier: every rule needs a stable id (a UUID: uuidgen)",
            )
        })?;
    let level = level.ok_or_else(|| {
        label.error(
            "level",
            "is missing: informational, low, medium, high or critical",
        )
    })?;
    Ok((name.to_owned(), id.to_owned(), severity_of(level)))
}

fn severity_of(level: Level) -> Severity {
    match level {
        Level::Informational => Severity::Info,
        Level::Low => Severity::Low,
        Level::Medium => Severity::Medium,
        Level::High => Severity::High,
        Level::Critical => Severity::Critical,
    }
}

fn check_logsource(label: &Label<'_>, logsource: &LogSource) -> Result<(), RuleError> {
    let ours = logsource.product.as_deref() == Some(PRODUCT)
        && logsource.service.as_deref() == Some(SERVICE)
        && logsource.category.is_none();
    if ours {
        Ok(())
    } else {
        Err(label.error(
            "logsource",
            "must be `product: atlassian` and `service: audit` (the collector's events), and nothing else",
        ))
    }
}

fn detection_rule(
    label: &Label<'_>,
    rule: &SigmaRule,
    pipeline: &rsigma_eval::Pipeline,
) -> Result<Rule, RuleError> {
    let (id, sigma_id, severity) =
        identity(label, rule.name.as_deref(), rule.id.as_deref(), rule.level)?;
    check_logsource(label, &rule.logsource)?;
    let mut filled = rule.clone();
    rsigma_eval::apply_pipelines(std::slice::from_ref(pipeline), &mut filled)
        .map_err(|e| label.error("detection", scrub(&e.to_string())))?;
    let detection_fields =
        detection::fields_of(&filled.detection).map_err(|e| label.error("detection", e))?;
    let compiled = rsigma_eval::compile_rule(&filled)
        .map_err(|e| label.error("detection", scrub(&e.to_string())))?;
    let alert = alert_attributes(
        label,
        &rule.custom_attributes,
        &rule.title,
        rule.description.as_deref(),
    )?;
    Ok(Rule {
        id,
        severity,
        description: rule.description.clone().unwrap_or_default(),
        origin: label.file.to_owned(),
        sigma_id,
        title: alert.title,
        runbook: alert.runbook,
        matcher: Matcher {
            detections: vec![Arc::new(compiled)],
        },
        actions: detection::actions_of(&filled.detection).map(|a| a.into_iter().collect()),
        needles: detection::needles_of(&filled.detection).map(|n| n.into_iter().collect()),
        action_only: detection::is_action_only(&filled.detection),
        detection_fields,
        threshold: None,
        dedup_key: alert.dedup_key,
        dedup_period_ms: alert.dedup_period_ms,
        tests: RuleTests::default(),
    })
}

/// Gives each rule its cases from the sidecar; a case list naming no rule of the file is an
/// error (a typo would silently test nothing).
fn attach_tests(file: &str, text: &str, rules: &mut [Rule]) -> Result<(), RuleError> {
    let mut by_name: BTreeMap<String, RuleTests> = sidecar::parse_tests(file, text)?;
    for rule in rules.iter_mut() {
        if let Some(tests) = by_name.remove(&rule.id) {
            rule.tests = tests;
        }
    }
    let unknown: BTreeSet<String> = by_name.into_keys().collect();
    match unknown.into_iter().next() {
        None => Ok(()),
        Some(name) => {
            let shown = if valid_id(&name) {
                name
            } else {
                "(a name not shown: not a valid rule name)".into()
            };
            Err(RuleError::invalid(
                file,
                &shown,
                "-",
                "no alerting rule of the rule file has this name (a correlation's base rules have no tests of their own)",
            ))
        }
    }
}
