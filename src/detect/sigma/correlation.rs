//! Sigma correlation rules as thresholds: `event_count` (that many matches) and `value_count`
//! (that many distinct values of a field) with `gte` or `gt`, over a sliding `timespan`, per
//! `group-by`. The matches are counted in our state (`state.rs`), not in rsigma's correlation
//! engine: ours remembers each match by event id, so an event fed twice (a redone batch, the
//! overlap re-read) counts once, and it is bounded rule by rule and sealed in the checkpoint.

use std::collections::BTreeSet;

use rsigma_parser::{
    ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType, WindowMode,
};

use super::attributes::{alert_attributes, MAX_SPAN_MS};
use super::{identity, Label};
use crate::detect::error::RuleError;
use crate::detect::field_path::FieldRef;
use crate::detect::rule::{Matcher, Rule, RuleTests, Threshold};

/// The rule a correlation is, and the names of the detection rules it counts.
pub fn correlation_rule(
    label: &Label<'_>,
    corr: &CorrelationRule,
    detections: &[Rule],
) -> Result<(Rule, Vec<String>), RuleError> {
    let (id, sigma_id, severity) =
        identity(label, corr.name.as_deref(), corr.id.as_deref(), corr.level)?;
    let bases = referenced(label, corr, detections)?;
    let threshold = threshold(label, corr)?;
    let alert = alert_attributes(
        label,
        &corr.custom_attributes,
        &corr.title,
        corr.description.as_deref(),
    )?;
    let actions = union_of(bases.iter().map(|b| b.actions.clone()));
    let needles = union_of(bases.iter().map(|b| b.needles.clone()));
    let rule = Rule {
        id,
        severity,
        description: corr.description.clone().unwrap_or_default(),
        origin: label.file.to_owned(),
        sigma_id,
        title: alert.title,
        runbook: alert.runbook,
        matcher: Matcher {
            detections: bases
                .iter()
                .flat_map(|b| b.matcher.detections.iter().cloned())
                .collect(),
        },
        action_only: bases.iter().all(|b| b.action_only),
        actions,
        needles,
        detection_fields: bases
            .iter()
            .flat_map(|b| b.detection_fields.iter().cloned())
            .collect(),
        threshold: Some(threshold),
        dedup_key: alert.dedup_key,
        dedup_period_ms: alert.dedup_period_ms,
        tests: RuleTests::default(),
    };
    Ok((rule, bases.iter().map(|b| b.id.clone()).collect()))
}

/// The detection rules of the same file the correlation names (by `name` or `id`).
fn referenced<'a>(
    label: &Label<'_>,
    corr: &CorrelationRule,
    detections: &'a [Rule],
) -> Result<Vec<&'a Rule>, RuleError> {
    if corr.rules.is_empty() {
        return Err(label.error("correlation.rules", "names no rule"));
    }
    corr.rules
        .iter()
        .map(|r| {
            detections
                .iter()
                .find(|d| &d.id == r || &d.sigma_id == r)
                .ok_or_else(|| {
                    label.error(
                        "correlation.rules",
                        "names a rule that is not in the same file (give the detection rule's name or id, in this file)",
                    )
                })
        })
        .collect()
}

fn threshold(label: &Label<'_>, corr: &CorrelationRule) -> Result<Threshold, RuleError> {
    if !corr.aliases.is_empty() {
        return Err(label.error("correlation.aliases", "field aliases are not supported: the rules of one correlation read the same normalized event, so name the field itself"));
    }
    if corr.window != WindowMode::Sliding {
        return Err(label.error(
            "correlation.window",
            "only the sliding window (the default) is supported",
        ));
    }
    let window_ms = i64::try_from(corr.timespan.seconds.saturating_mul(1_000))
        .ok()
        .filter(|ms| (1_000..=MAX_SPAN_MS).contains(ms))
        .ok_or_else(|| label.error("correlation.timespan", "must be from 1s to 24h"))?;
    let CorrelationCondition::Threshold {
        predicates, field, ..
    } = &corr.condition
    else {
        return Err(label.error("correlation.condition", "write a threshold (`gte: 10`)"));
    };
    let count = match predicates.as_slice() {
        [(ConditionOperator::Gte, n)] => *n,
        [(ConditionOperator::Gt, n)] => n.saturating_add(1),
        _ => return Err(label.error(
            "correlation.condition",
            "only one `gte` or `gt` bound is supported (an alert opens when the count reaches it)",
        )),
    };
    let count = u32::try_from(count)
        .ok()
        .filter(|c| (1..=10_000).contains(c))
        .ok_or_else(|| label.error("correlation.condition", "the bound must be from 1 to 10000"))?;
    let distinct = match (corr.correlation_type, field.as_deref()) {
        (CorrelationType::EventCount, _) => None,
        (CorrelationType::ValueCount, Some([one])) => {
            Some(sigma_field(label, "correlation.condition.field", one)?)
        }
        (CorrelationType::ValueCount, _) => {
            return Err(label.error(
                "correlation.condition.field",
                "a value_count names exactly one field",
            ))
        }
        _ => {
            return Err(label.error(
                "correlation.type",
                "only event_count and value_count are supported",
            ))
        }
    };
    if corr.group_by.is_empty() {
        return Err(label.error("correlation.group-by", "name at least one field (the actor, the address): a threshold over all events is refused, one flood would set it off"));
    }
    let group_by = corr
        .group_by
        .iter()
        .map(|g| sigma_field(label, "correlation.group-by", g))
        .collect::<Result<_, _>>()?;
    Ok(Threshold {
        count,
        window_ms,
        group_by,
        distinct,
    })
}

fn sigma_field(label: &Label<'_>, name: &str, text: &str) -> Result<FieldRef, RuleError> {
    FieldRef::sigma(text).map_err(|e| label.error(name, e))
}

/// The sorted union of the base rules' lists; `None` when any base has none (it reads every
/// action, or needs no text).
fn union_of(lists: impl Iterator<Item = Option<Vec<String>>>) -> Option<Vec<String>> {
    let lists: Vec<Vec<String>> = lists.collect::<Option<_>>()?;
    let union: BTreeSet<String> = lists.into_iter().flatten().collect();
    Some(union.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use rsigma_eval::event::JsonEvent;
    use rsigma_eval::{CorrelationConfig, CorrelationEngine};
    use serde_json::json;

    use crate::detect::{detect, DetectState, RulePack};

    const RULES: &str = "title: Login failed\nid: 11111111-2222-4333-8444-555555555555\nname: failed_event\nlogsource: {product: atlassian, service: audit}\ndetection: {selection: {attributes.action: user_login_failed}, condition: selection}\nlevel: low\n---\ntitle: Failures\nid: 11111111-2222-4333-8444-666666666666\nname: failures\ncorrelation: {type: event_count, rules: [failed_event], group-by: [attributes.actor.id], timespan: 1h, condition: {gte: 3}}\nlevel: low\n";

    fn event(id: &str, second: i64) -> serde_json::Value {
        let time = chrono::DateTime::from_timestamp(1_767_225_600 + second, 0).unwrap();
        json!({"id": id, "attributes": {"action": "user_login_failed", "actor": {"id": "u1"}, "time": time.to_rfc3339()}})
    }

    /// Why the thresholds are counted in our state and not in rsigma's correlation engine: fed
    /// the same two events twice (the overlap re-read, a redone batch), rsigma's engine counts
    /// four and fires; ours remembers each event by id, counts two, and does not.
    #[test]
    fn a_refed_event_counts_once_here_and_twice_in_rsigmas_correlation_engine() {
        let events = [event("e1", 0), event("e2", 10)];
        let refed: Vec<_> = events.iter().chain(&events).cloned().collect();

        let collection = rsigma_parser::parse_sigma_yaml(RULES).unwrap();
        let mut engine = CorrelationEngine::new(CorrelationConfig::default());
        engine.add_collection(&collection).unwrap();
        let fired = refed
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                engine.process_event_at(&JsonEvent::borrow(e), 1_767_225_600 + i as i64)
            })
            .filter(|r| r.is_correlation())
            .count();
        assert!(
            fired > 0,
            "rsigma counts the repeated events: it fires at the third"
        );

        let pack = RulePack::default()
            .with_user_rules("t.yml", RULES, None)
            .unwrap();
        let first = detect(&pack, &DetectState::default(), &events);
        let again = detect(&pack, &first.state, &events);
        assert!(first.alerts.is_empty() && again.alerts.is_empty());
    }
}
