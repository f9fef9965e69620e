//! Our custom attributes of a Sigma rule (top-level keys the Sigma specification leaves to the
//! user): `alert_title`, `alert_runbook`, `alert_dedup_key` (templates over the event) and
//! `alert_dedup_period` (a duration). Without them the title is the rule's `title` and the
//! runbook its `description`.

use std::collections::HashMap;

use yaml_serde::Value as Yaml;

use super::Label;
use crate::detect::error::RuleError;
use crate::detect::field_path::MAX_VALUE_CHARS;
use crate::detect::rule::{DEFAULT_DEDUP_PERIOD_MS, MAX_RUNBOOK_CHARS, MAX_TITLE_CHARS};
use crate::detect::template::Template;

/// Longest window or dedup period: state older than this is of no use to any rule.
pub const MAX_SPAN_MS: i64 = 24 * 3_600_000;

pub struct AlertAttributes {
    pub title: Template,
    pub runbook: Template,
    pub dedup_key: Option<Template>,
    pub dedup_period_ms: i64,
}

pub fn alert_attributes(
    label: &Label<'_>,
    custom: &HashMap<String, Yaml>,
    sigma_title: &str,
    description: Option<&str>,
) -> Result<AlertAttributes, RuleError> {
    let text = |name: &str| -> Result<Option<&str>, RuleError> {
        match custom.get(name) {
            None | Some(Yaml::Null) => Ok(None),
            Some(Yaml::String(s)) => Ok(Some(s)),
            Some(_) => Err(label.error(name, "must be a string")),
        }
    };
    let title = match text("alert_title")? {
        Some(t) => template(label, "alert_title", t, Some(MAX_TITLE_CHARS))?,
        None => literal(label, "title", sigma_title, MAX_TITLE_CHARS)?,
    };
    let runbook = match text("alert_runbook")? {
        Some(t) => template(label, "alert_runbook", t, Some(MAX_RUNBOOK_CHARS))?,
        None => literal(
            label,
            "description",
            description.unwrap_or(""),
            MAX_RUNBOOK_CHARS,
        )?,
    };
    let dedup_key = text("alert_dedup_key")?
        .map(|t| template(label, "alert_dedup_key", t, None))
        .transpose()?;
    let dedup_period_ms = text("alert_dedup_period")?
        .map(|t| duration(label, "alert_dedup_period", t))
        .transpose()?
        .unwrap_or(DEFAULT_DEDUP_PERIOD_MS);
    Ok(AlertAttributes {
        title,
        runbook,
        dedup_key,
        dedup_period_ms,
    })
}

/// A template that can render at most `max` characters (`None`: any, as a dedup key, which is
/// hashed when long).
fn template(
    label: &Label<'_>,
    name: &str,
    text: &str,
    max: Option<usize>,
) -> Result<Template, RuleError> {
    let template = Template::parse(text).map_err(|e| label.error(name, e))?;
    match max {
        Some(max) if template.max_chars() > max => Err(label.error(
            name,
            format!(
                "can render up to {} characters, over the {max}-character limit (its text, plus {} per placeholder): shorten the text or use fewer placeholders",
                template.max_chars(),
                MAX_VALUE_CHARS + 1
            ),
        )),
        _ => Ok(template),
    }
}

/// Plain text as a template (its braces literal).
fn literal(label: &Label<'_>, name: &str, text: &str, max: usize) -> Result<Template, RuleError> {
    let escaped = text.replace('{', "{{").replace('}', "}}");
    template(label, name, &escaped, Some(max))
}

pub fn duration(label: &Label<'_>, name: &str, text: &str) -> Result<i64, RuleError> {
    let ms = humantime::parse_duration(text)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .filter(|ms| (1_000..=MAX_SPAN_MS).contains(ms));
    ms.ok_or_else(|| label.error(name, "write a duration like 1h or 30m, from 1s to 24h"))
}
