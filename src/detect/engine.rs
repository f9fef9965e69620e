//! The engine: normalized events and the state before them in; alerts and the state after
//! them out. A pure function of its inputs (no clock, no I/O).

use serde_json::Value;

use super::alert::{Alert, MAX_MATCHED_IDS};
use super::event::EventRef;
use super::pack::RulePack;
use super::rule::{short_hash, Rule};
use super::state::{DetectState, MatchRecord, OpenAlert};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The alerts raised or grown by these events, in the order they were first touched.
    pub alerts: Vec<Alert>,
    pub state: DetectState,
    /// Events without an id or a readable time: no rule can count them.
    pub skipped: usize,
}

/// An alert these events touched: its id, the ids they added, whether it was open before.
struct Touched {
    alert: String,
    matched: Vec<String>,
    is_update: bool,
}

/// The rules over `events` after `state`; the state after them, pruned to its bounds.
pub fn detect(pack: &RulePack, state: &DetectState, events: &[Value]) -> Detection {
    let mut found = detect_unpruned(pack, state, events);
    found.state.prune_for(pack);
    found
}

/// [`detect`] without pruning the state at the end: calls over consecutive slices of events
/// then give what one call over them all gives (the pipeline feeds a batch page by page and
/// prunes once, with [`DetectState::prune_for`], when the batch ends).
pub fn detect_unpruned(pack: &RulePack, state: &DetectState, events: &[Value]) -> Detection {
    let mut state = state.clone();
    let mut touched: Vec<Touched> = Vec::new();
    let mut skipped = 0;
    for value in events {
        let Some(event) = EventRef::of(value) else {
            skipped += 1;
            continue;
        };
        for rule in pack.rules().iter().filter(|r| r.matches(value)) {
            if let Some((alert, added, opened)) = observe(&mut state, rule, &event, value) {
                note(&mut touched, alert, added, !opened);
            }
        }
    }
    let alerts = touched
        .into_iter()
        .filter_map(|t| {
            let open = state.alert_by_id(&t.alert)?;
            let rule = pack.rules().iter().find(|r| r.id == open.rule)?;
            Some(Alert::of(open, rule.severity, t.matched, t.is_update))
        })
        .collect();
    Detection {
        alerts,
        state,
        skipped,
    }
}

fn note(touched: &mut Vec<Touched>, alert: String, added: Vec<String>, was_open: bool) {
    let entry = match touched.iter().position(|t| t.alert == alert) {
        Some(i) => &mut touched[i],
        None => {
            touched.push(Touched {
                alert,
                matched: Vec::new(),
                is_update: was_open,
            });
            let last = touched.len() - 1;
            &mut touched[last]
        }
    };
    for id in added {
        if entry.matched.len() < MAX_MATCHED_IDS && !entry.matched.contains(&id) {
            entry.matched.push(id);
        }
    }
}

/// One matched event: remembered, then counted into an alert when it (with its threshold
/// group) is alert-worthy. Returns the alert's id, the event ids it gained, and whether this
/// event opened it. `None`: seen before, or under its threshold.
fn observe(
    state: &mut DetectState,
    rule: &Rule,
    event: &EventRef<'_>,
    value: &Value,
) -> Option<(String, Vec<String>, bool)> {
    if state.has_seen(&rule.id, event.id) {
        return None;
    }
    let group = match &rule.threshold {
        Some(t) => Some(t.group(value)?),
        None => None,
    };
    let group_hash = group.as_deref().map_or(String::new(), |g| short_hash(&[g]));
    state.record(MatchRecord {
        rule: rule.id.clone(),
        group: group_hash.clone(),
        event: event.id.to_owned(),
        time_ms: event.time_ms,
    });
    let key = rule.dedup_key_of(value, group.as_deref());
    if let Some(open) = state.open_alert(&rule.id, &key, event.time_ms, rule.dedup_period_ms) {
        open.add(event.time_ms, event.id);
        return Some((open.id.clone(), vec![event.id.to_owned()], false));
    }
    let seeds = match &rule.threshold {
        Some(t) => {
            let window = state.window(
                &rule.id,
                &group_hash,
                event.time_ms - t.window_ms,
                event.time_ms,
            );
            if window.len() < t.count as usize {
                return None;
            }
            window
        }
        None => vec![(event.time_ms, event.id.to_owned())],
    };
    let alert = open_alert(rule, &key, value, event.time_ms, &seeds);
    let id = alert.id.clone();
    state.open_new(alert);
    Some((id, seeds.into_iter().map(|(_, e)| e).collect(), true))
}

/// A new alert over `seeds` (oldest first, never empty): its id comes from the oldest.
fn open_alert(
    rule: &Rule,
    key: &str,
    value: &Value,
    now_ms: i64,
    seeds: &[(i64, String)],
) -> OpenAlert {
    let (first_ms, first_event) = seeds.first().cloned().unwrap_or((now_ms, String::new()));
    let (last_ms, last_event) = seeds.last().cloned().unwrap_or((now_ms, String::new()));
    OpenAlert {
        id: short_hash(&[&rule.id, key, &first_event]),
        rule: rule.id.clone(),
        key: key.to_owned(),
        title: rule.title.render(value),
        runbook: rule.runbook.render(value),
        opened_ms: now_ms,
        first_ms,
        first_event,
        last_ms,
        last_event,
        count: seeds.len() as u64,
    }
}
