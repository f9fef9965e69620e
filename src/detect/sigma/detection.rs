//! What a Sigma detection reads, read off its syntax tree: the fields (the projection keeps
//! them) and the actions every match has (the prefilter passes only those lines). What this
//! engine cannot bound is refused here, naming the rule.

use std::collections::{BTreeSet, HashMap};

use rsigma_parser::{ConditionExpr, Detection, Detections, Modifier, SigmaValue};

use crate::detect::field_path::FieldPath;

/// The field every event carries its action in.
pub const ACTION_FIELD: &str = "attributes.action";

/// The fields `detections` reads; an error (what to change) for a construct whose reads
/// cannot be bounded.
pub fn fields_of(detections: &Detections) -> Result<Vec<FieldPath>, String> {
    let mut names = BTreeSet::new();
    for detection in detections.named.values() {
        collect_fields(detection, &mut names)?;
    }
    names.iter().map(|n| FieldPath::sigma(n)).collect()
}

fn collect_fields(detection: &Detection, names: &mut BTreeSet<String>) -> Result<(), String> {
    match detection {
        Detection::AllOf(items) => {
            for item in items {
                let name = item.field.name.as_ref().ok_or(KEYWORDS)?;
                names.insert(name.clone());
                if item.field.has_modifier(Modifier::FieldRef) {
                    // The values name the other fields compared with.
                    names.extend(item.values.iter().map(|v| v.to_string()));
                }
            }
            Ok(())
        }
        Detection::AnyOf(subs) | Detection::And(subs) => {
            subs.iter().try_for_each(|d| collect_fields(d, names))
        }
        Detection::Keywords(_) => Err(KEYWORDS.into()),
        Detection::ArrayMatch { .. } | Detection::Conditional { .. } => Err(
            "array blocks (`field[any]:`) are not supported: write the element's fields as dotted names (attributes.context.type), which look into every element".into(),
        ),
    }
}

const KEYWORDS: &str = "keyword detections (values without a field) are not supported: they read the whole event, which this engine does not hold; name the field (message.content|contains: …)";

/// The actions (lower case) every event the detections match has, when the condition and its
/// selections say so; `None` when they do not (some match may have any action).
pub fn actions_of(detections: &Detections) -> Option<BTreeSet<String>> {
    let per_condition: Option<Vec<_>> = detections
        .conditions
        .iter()
        .map(|c| condition_actions(c, &detections.named))
        .collect();
    union(per_condition?)
}

fn condition_actions(
    expr: &ConditionExpr,
    named: &HashMap<String, Detection>,
) -> Option<BTreeSet<String>> {
    match expr {
        ConditionExpr::Identifier(name) => detection_actions(named.get(name)?),
        // Any conjunct that bounds the actions bounds the whole.
        ConditionExpr::And(parts) => parts
            .iter()
            .filter_map(|p| condition_actions(p, named))
            .reduce(|a, b| a.intersection(&b).cloned().collect()),
        ConditionExpr::Or(parts) => union(
            parts
                .iter()
                .map(|p| condition_actions(p, named))
                .collect::<Option<Vec<_>>>()?,
        ),
        // Negations and selectors (`1 of selection_*`) are not read: no bound.
        ConditionExpr::Not(_) | ConditionExpr::Selector { .. } => None,
    }
}

fn detection_actions(detection: &Detection) -> Option<BTreeSet<String>> {
    match detection {
        Detection::AllOf(items) => items
            .iter()
            .filter(|i| i.field.name.as_deref() == Some(ACTION_FIELD))
            .filter(|i| i.field.modifiers.is_empty())
            .find_map(|i| plain_values(&i.values)),
        Detection::AnyOf(subs) => union(
            subs.iter()
                .map(detection_actions)
                .collect::<Option<Vec<_>>>()?,
        ),
        Detection::And(subs) => subs.iter().find_map(detection_actions),
        _ => None,
    }
}

/// The values, lower-cased, when every one is a plain string (no wildcard).
fn plain_values(values: &[SigmaValue]) -> Option<BTreeSet<String>> {
    values
        .iter()
        .map(|v| match v {
            SigmaValue::String(s) => s.as_plain().map(|p| p.to_lowercase()),
            _ => None,
        })
        .collect()
}

fn union(sets: Vec<BTreeSet<String>>) -> Option<BTreeSet<String>> {
    sets.into_iter().reduce(|mut a, b| {
        a.extend(b);
        a
    })
}

/// Shortest text worth looking for in a line: shorter ones are in most lines anyway.
const MIN_NEEDLE_CHARS: usize = 4;

/// Texts one of which the JSON line of every event the detections match contains (ignoring
/// ASCII case), beside its action: the prefilter reads only such lines. `None` when the
/// detections give none (the action alone decides).
pub fn needles_of(detections: &Detections) -> Option<BTreeSet<String>> {
    let per_condition: Option<Vec<_>> = detections
        .conditions
        .iter()
        .map(|c| condition_needles(c, &detections.named))
        .collect();
    union(per_condition?)
}

fn condition_needles(
    expr: &ConditionExpr,
    named: &HashMap<String, Detection>,
) -> Option<BTreeSet<String>> {
    match expr {
        ConditionExpr::Identifier(name) => detection_needles(named.get(name)?),
        // Any conjunct's needles will do: the first that has some.
        ConditionExpr::And(parts) => parts.iter().find_map(|p| condition_needles(p, named)),
        ConditionExpr::Or(parts) => union(
            parts
                .iter()
                .map(|p| condition_needles(p, named))
                .collect::<Option<Vec<_>>>()?,
        ),
        ConditionExpr::Not(_) | ConditionExpr::Selector { .. } => None,
    }
}

fn detection_needles(detection: &Detection) -> Option<BTreeSet<String>> {
    match detection {
        Detection::AllOf(items) => items
            .iter()
            .filter(|i| i.field.name.as_deref() != Some(ACTION_FIELD))
            .find_map(item_needles),
        Detection::AnyOf(subs) => union(
            subs.iter()
                .map(detection_needles)
                .collect::<Option<Vec<_>>>()?,
        ),
        Detection::And(subs) => subs.iter().find_map(detection_needles),
        _ => None,
    }
}

/// The item's values as texts a matching line holds: only for the plain comparisons (equal,
/// contains, starts or ends with; `expand` once its placeholders are filled), and of a wildcard
/// value its longest plain part.
fn item_needles(item: &rsigma_parser::DetectionItem) -> Option<BTreeSet<String>> {
    let plain = item.field.modifiers.iter().all(|m| {
        matches!(
            m,
            Modifier::Contains
                | Modifier::StartsWith
                | Modifier::EndsWith
                | Modifier::Cased
                | Modifier::Expand
        )
    });
    if !plain || item.values.is_empty() {
        return None;
    }
    item.values
        .iter()
        .map(|v| match v {
            SigmaValue::String(s) => longest_plain_part(s),
            _ => None,
        })
        .collect()
}

fn longest_plain_part(s: &rsigma_parser::SigmaString) -> Option<String> {
    let part = s
        .parts
        .iter()
        .filter_map(|p| match p {
            rsigma_parser::StringPart::Plain(text) => Some(text),
            rsigma_parser::StringPart::Special(_) => None,
        })
        .max_by_key(|t| t.len())?;
    // JSON writes these escaped, and other scripts change case in ways ASCII folding misses.
    let findable = part.chars().count() >= MIN_NEEDLE_CHARS
        && part
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' && c != '%');
    findable.then(|| part.to_owned())
}

/// Whether the detections are the action alone (`selection: {attributes.action: [...]}`,
/// `condition: selection`, plain ASCII values): then an event the action index offers is a
/// match, and evaluating it again would only repeat the index's lookup.
pub fn is_action_only(detections: &Detections) -> bool {
    let [ConditionExpr::Identifier(name)] = detections.conditions.as_slice() else {
        return false;
    };
    let Some(Detection::AllOf(items)) = detections.named.get(name) else {
        return false;
    };
    let [item] = items.as_slice() else {
        return false;
    };
    item.field.name.as_deref() == Some(ACTION_FIELD)
        && item.field.modifiers.is_empty()
        && plain_values(&item.values).is_some_and(|v| v.iter().all(|a| a.is_ascii()))
}
