//! Reading a rule file: YAML in, compiled [`Rule`]s out, or a [`RuleError`] naming the file,
//! the rule and the field. Each field is read on its own, so the error can name it; unknown
//! fields are refused at every level.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use yaml_serde::{Mapping, Value as Yaml};

use super::condition::{Condition, ConditionSpec};
use super::error::{looks_like_a_name, scrub, RuleError};
use super::field_path::FieldRef;
use super::rule::{
    Rule, RuleTests, TestCase, Threshold, DEFAULT_DEDUP_PERIOD_MS, MAX_RUNBOOK_CHARS,
    MAX_TITLE_CHARS,
};
use super::severity::Severity;
use super::template::Template;

const RULE_FIELDS: [&str; 10] = [
    "id",
    "description",
    "severity",
    "title",
    "runbook",
    "actions",
    "conditions",
    "threshold",
    "dedup",
    "tests",
];
/// Longest window or dedup period: state older than this is of no use to any rule.
pub const MAX_SPAN_MS: i64 = 24 * 3_600_000;

/// What one file holds: its rules, and (user files) the ids of built-in rules to turn off.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    pub rules: Vec<Rule>,
    pub disable: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdSpec {
    count: u32,
    window: String,
    group_by: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DedupSpec {
    key: Option<String>,
    period: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestsSpec {
    positive: Vec<TestCaseSpec>,
    negative: Vec<TestCaseSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCaseSpec {
    name: String,
    events: Vec<serde_json::Value>,
    repeat: Option<u32>,
}

pub fn parse_rule_file(file: &str, text: &str) -> Result<RuleFile, RuleError> {
    let syntax = |message: String| RuleError::Syntax {
        file: file.to_owned(),
        message,
    };
    refuse_anchors(text).map_err(syntax)?;
    let doc: Yaml = yaml_serde::from_str(text).map_err(|e| syntax(scrub(&e.to_string())))?;
    let map = doc.as_mapping().ok_or_else(|| {
        syntax(
            "the file must be a mapping with a `rules:` list (and, in a user file, `disable:`)"
                .into(),
        )
    })?;
    for key in map.keys() {
        if !matches!(key.as_str(), Some("rules" | "disable")) {
            return Err(syntax(format!(
                "unknown top-level field {}; a rule file has `rules:` and `disable:`",
                shown(key)
            )));
        }
    }
    let disable = match map.get("disable") {
        None => Vec::new(),
        Some(v) => yaml_serde::from_value(v.clone())
            .map_err(|_| syntax("`disable:` must be a list of rule ids".into()))?,
    };
    let rules = match map.get("rules") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Sequence(list)) => list
            .iter()
            .enumerate()
            .map(|(i, v)| parse_rule(file, i, v))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(syntax("`rules:` must be a list of rules".into())),
    };
    Ok(RuleFile { rules, disable })
}

/// Refuses anchors (`&name`) and aliases (`*name`) before anything is expanded: a file of a
/// few kilobytes can alias its way to billions of nodes. The parser decides, so `&` and `*` in
/// quotes, block scalars, comments and plain text are fine. Loading into `IgnoredAny` follows
/// no alias. `&` and `*` mean the same everywhere but where a node begins (both are plain
/// characters elsewhere), so the text with every `&` made `*` loads exactly when the file has
/// no anchor: an anchor becomes an alias of nothing.
fn refuse_anchors(text: &str) -> Result<(), String> {
    let refused = |e: yaml_serde::Error| {
        let line = e
            .location()
            .map(|l| format!(" (line {})", l.line()))
            .unwrap_or_default();
        format!(
            "anchors and aliases (`&name`, `*name`) are not allowed in rule files{line}: write each value out in full"
        )
    };
    if let Err(e) = yaml_serde::from_str::<IgnoredAny>(text) {
        // An alias with no anchor; any other error is the file's syntax.
        return Err(if e.to_string().starts_with("unknown anchor") {
            refused(e)
        } else {
            scrub(&e.to_string())
        });
    }
    if text.contains('&') {
        yaml_serde::from_str::<IgnoredAny>(&text.replace('&', "*")).map_err(refused)?;
    }
    Ok(())
}

/// A YAML key as an error may show it: only when it looks like a field name.
fn shown(key: &Yaml) -> String {
    match key.as_str() {
        Some(k) if looks_like_a_name(k) => format!("`{k}`"),
        _ => "(a key not shown: it does not look like a field name)".into(),
    }
}

/// One rule's fields, with what an error needs to name them.
struct Fields<'a> {
    file: &'a str,
    rule: String,
    map: &'a Mapping,
}

impl Fields<'_> {
    fn error(&self, field: &str, message: impl Into<String>) -> RuleError {
        RuleError::invalid(self.file, &self.rule, field, message)
    }

    fn optional<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, RuleError> {
        match self.map.get(name) {
            None | Some(Yaml::Null) => Ok(None),
            Some(v) => yaml_serde::from_value(v.clone())
                .map(Some)
                .map_err(|e| self.error(name, scrub(&e.to_string()))),
        }
    }

    fn required<T: DeserializeOwned>(&self, name: &str) -> Result<T, RuleError> {
        self.optional(name)?
            .ok_or_else(|| self.error(name, "is missing; every rule needs it"))
    }

    /// A template that can render at most `max` characters (`None`: any, as a dedup key, which
    /// is hashed when long).
    fn template(&self, name: &str, text: &str, max: Option<usize>) -> Result<Template, RuleError> {
        let template = Template::parse(text).map_err(|e| self.error(name, e))?;
        match max {
            Some(max) if template.max_chars() > max => Err(self.error(
                name,
                format!(
                    "can render up to {} characters, over the {max}-character limit of a {name} (its text, plus {} per placeholder): shorten the text or use fewer placeholders",
                    template.max_chars(),
                    super::field_path::MAX_VALUE_CHARS
                ),
            )),
            _ => Ok(template),
        }
    }

    fn duration(&self, name: &str, text: &str) -> Result<i64, RuleError> {
        let ms = humantime::parse_duration(text)
            .ok()
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .filter(|ms| (1_000..=MAX_SPAN_MS).contains(ms));
        ms.ok_or_else(|| self.error(name, "write a duration like 1h or 30m, from 1s to 24h"))
    }
}

fn parse_rule(file: &str, index: usize, value: &Yaml) -> Result<Rule, RuleError> {
    let number = format!("#{} (no valid id)", index + 1);
    let map = value.as_mapping().ok_or_else(|| {
        RuleError::invalid(
            file,
            &number,
            "-",
            "a rule must be a mapping (id, severity, title, …)",
        )
    })?;
    let label = map
        .get("id")
        .and_then(Yaml::as_str)
        .filter(|id| valid_id(id))
        .map_or(number, str::to_owned);
    let fields = Fields {
        file,
        rule: label,
        map,
    };
    for key in map.keys() {
        if !key.as_str().is_some_and(|k| RULE_FIELDS.contains(&k)) {
            return Err(fields.error(
                &shown(key),
                format!("unknown field; a rule has: {}", RULE_FIELDS.join(", ")),
            ));
        }
    }
    compile(&fields)
}

pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

fn compile(f: &Fields<'_>) -> Result<Rule, RuleError> {
    let id: String = f.required("id")?;
    if !valid_id(&id) {
        return Err(f.error("id", "an id is 1 to 64 of a-z, 0-9, '_', '.' and '-'"));
    }
    let severity: String = f.required("severity")?;
    let severity = Severity::from_name(&severity).ok_or_else(|| {
        f.error(
            "severity",
            "must be one of Info, Low, Medium, High, Critical",
        )
    })?;
    let (title, runbook): (String, String) = (f.required("title")?, f.required("runbook")?);
    let dedup: Option<DedupSpec> = f.optional("dedup")?;
    let (dedup_key, dedup_period_ms) = compile_dedup(f, dedup)?;
    Ok(Rule {
        id,
        severity,
        description: f.required("description")?,
        origin: f.file.to_owned(),
        title: f.template("title", &title, Some(MAX_TITLE_CHARS))?,
        runbook: f.template("runbook", &runbook, Some(MAX_RUNBOOK_CHARS))?,
        actions: compile_actions(f)?,
        conditions: compile_conditions(f)?,
        threshold: compile_threshold(f)?,
        dedup_key,
        dedup_period_ms,
        tests: compile_tests(f)?,
    })
}

fn compile_actions(f: &Fields<'_>) -> Result<Vec<String>, RuleError> {
    let actions: Vec<String> = f.required("actions")?;
    if actions.is_empty() {
        return Err(f.error("actions", "list at least one action"));
    }
    for (i, a) in actions.iter().enumerate() {
        let ok = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(f.error(
                &format!("actions[{i}]"),
                "write action names in lower case, as events' attributes.action has them (the catalogue's ADDED_ORG_ADMIN is added_org_admin)",
            ));
        }
    }
    Ok(actions)
}

fn compile_conditions(f: &Fields<'_>) -> Result<Vec<Condition>, RuleError> {
    let list: Vec<Yaml> = f.optional("conditions")?.unwrap_or_default();
    list.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let field = format!("conditions[{i}]");
            let spec: ConditionSpec =
                yaml_serde::from_value(v).map_err(|e| f.error(&field, scrub(&e.to_string())))?;
            Condition::compile(spec).map_err(|e| f.error(&field, e))
        })
        .collect()
}

fn compile_threshold(f: &Fields<'_>) -> Result<Option<Threshold>, RuleError> {
    let Some(spec) = f.optional::<ThresholdSpec>("threshold")? else {
        return Ok(None);
    };
    if spec.count < 2 {
        return Err(f.error(
            "threshold.count",
            "a threshold counts 2 events or more (without one, every event alerts)",
        ));
    }
    if spec.group_by.is_empty() {
        return Err(f.error(
            "threshold.group_by",
            "list at least one field path to count by",
        ));
    }
    let group_by = spec
        .group_by
        .iter()
        .enumerate()
        .map(|(i, p)| {
            FieldRef::parse(p).map_err(|e| f.error(&format!("threshold.group_by[{i}]"), e))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Threshold {
        count: spec.count,
        window_ms: f.duration("threshold.window", &spec.window)?,
        group_by,
    }))
}

fn compile_dedup(
    f: &Fields<'_>,
    spec: Option<DedupSpec>,
) -> Result<(Option<Template>, i64), RuleError> {
    let Some(spec) = spec else {
        return Ok((None, DEFAULT_DEDUP_PERIOD_MS));
    };
    let key = match spec.key {
        Some(k) => Some(f.template("dedup.key", &k, None)?),
        None => None,
    };
    let period = match spec.period {
        Some(p) => f.duration("dedup.period", &p)?,
        None => DEFAULT_DEDUP_PERIOD_MS,
    };
    Ok((key, period))
}

fn compile_tests(f: &Fields<'_>) -> Result<RuleTests, RuleError> {
    let spec: TestsSpec = f.required("tests")?;
    let cases = |kind: &str, list: Vec<TestCaseSpec>| -> Result<Vec<TestCase>, RuleError> {
        if list.is_empty() {
            return Err(f.error(&format!("tests.{kind}"), "give at least one test case"));
        }
        list.into_iter()
            .enumerate()
            .map(|(i, c)| {
                let repeat = c.repeat.unwrap_or(1);
                if c.events.is_empty() || repeat == 0 {
                    return Err(f.error(
                        &format!("tests.{kind}[{i}]"),
                        "a test case needs at least one event and a repeat of 1 or more",
                    ));
                }
                Ok(TestCase {
                    name: c.name,
                    events: c.events,
                    repeat,
                })
            })
            .collect()
    };
    Ok(RuleTests {
        positive: cases("positive", spec.positive)?,
        negative: cases("negative", spec.negative)?,
    })
}
