//! The engine: normalized events and the state before them in; alerts and the state after
//! them out. A pure function of its inputs (no clock, no I/O).
//!
//! What no event can do to it:
//! - **Outgrow memory**: rules see the event through its [`Projection`] (the pack's fields,
//!   bounded), and lookups go through the state's indexes (no work quadratic in the matches).
//! - **Flood the channels**: one batch opens at most [`MAX_NEW_ALERTS_PER_BATCH`] alerts; the
//!   matches that would open more are told in one summary alert ([`OVER_CAP_RULE`]).
//! - **Move time**: an event dated more than [`MAX_AHEAD_MS`] past when it was processed (or
//!   parsed) is matched by single-event rules, each match its own alert, but is not remembered:
//!   it counts toward no threshold and never becomes the newest match the state is pruned by.

use std::collections::BTreeSet;

use hashbrown::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::alert::{time_text, Alert, MAX_MATCHED_IDS};
use super::event::EventRef;
use super::pack::RulePack;
use super::rule::{short_hash, Rule};
use super::severity::Severity;
use super::state::{DetectState, MatchRecord, OpenAlert};

/// New alerts one batch opens, at most; past it, one summary alert tells the rest.
pub const MAX_NEW_ALERTS_PER_BATCH: usize = 100;
/// The rule id of the summary alert of a batch that reached [`MAX_NEW_ALERTS_PER_BATCH`].
pub const OVER_CAP_RULE: &str = "alerts_over_batch_cap";
/// How far past its processing (or parse) time an event may be dated and still count.
pub const MAX_AHEAD_MS: i64 = 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The alerts raised or grown by these events, in the order they were first touched (the
    /// batch's summary alert last).
    pub alerts: Vec<Alert>,
    pub state: DetectState,
    /// Events without an id or a readable time, or not a JSON object: no rule can count them.
    pub skipped: usize,
    /// Events dated more than [`MAX_AHEAD_MS`] past their processing time.
    pub future_dated: usize,
    /// Matches that would have opened an alert past the batch's cap.
    pub over_cap: usize,
}

/// The rules over `events` (one batch) after `state`; the state after them, pruned to its
/// bounds.
pub fn detect(pack: &RulePack, state: &DetectState, events: &[Value]) -> Detection {
    let mut run = DetectRun::new(Arc::new(pack.clone()), state.clone());
    for event in events {
        match pack.projection().project_value(event) {
            Some(projected) => run.observe(&projected),
            None => run.skipped += 1,
        }
    }
    run.finish()
}

/// An alert these events touched: its id, the ids they added, whether it was open before.
struct Touched {
    alert: String,
    matched: Vec<String>,
    is_update: bool,
}

/// The matches past the batch's cap.
#[derive(Default)]
struct OverCap {
    count: usize,
    rules: BTreeSet<String>,
    severity: Option<Severity>,
    first: Option<(i64, String)>,
    last: Option<(i64, String)>,
    ids: Vec<String>,
}

/// One batch through the rules, event by event (the pipeline feeds a page at a time and
/// finishes once, when the batch ends, so the alerts do not depend on how pages were cut).
pub struct DetectRun {
    pack: Arc<RulePack>,
    state: DetectState,
    touched: Vec<Touched>,
    touched_at: HashMap<String, usize>,
    /// Alerts of future-dated events: raised, never kept open.
    loose: Vec<Alert>,
    opens_left: usize,
    over_cap: OverCap,
    skipped: usize,
    future_dated: usize,
    /// The latest time an event may be dated and be believed, over the batch's events.
    newest_believable_ms: Option<i64>,
}

impl DetectRun {
    pub fn new(pack: Arc<RulePack>, state: DetectState) -> Self {
        DetectRun {
            pack,
            state,
            touched: Vec::new(),
            touched_at: HashMap::new(),
            loose: Vec::new(),
            opens_left: MAX_NEW_ALERTS_PER_BATCH,
            over_cap: OverCap::default(),
            skipped: 0,
            future_dated: 0,
            newest_believable_ms: None,
        }
    }

    /// Counts an event the detect stage could not look at (not JSON, or its evaluation
    /// failed).
    pub fn skip(&mut self, events: usize) {
        self.skipped += events;
    }

    /// One event, as [`Projection::project`](super::Projection::project) gave it.
    pub fn observe(&mut self, value: &Value) {
        let Some(event) = EventRef::of(value) else {
            self.skipped += 1;
            return;
        };
        if let Some(reference) = event.reference_ms {
            let believable = reference.saturating_add(MAX_AHEAD_MS);
            self.newest_believable_ms = Some(
                self.newest_believable_ms
                    .map_or(believable, |n| n.max(believable)),
            );
        }
        let future = event.is_future_dated(MAX_AHEAD_MS);
        if future {
            self.future_dated += 1;
        }
        let pack = self.pack.clone();
        let action = value
            .get("attributes")
            .and_then(|a| a.get("action"))
            .and_then(Value::as_str);
        for rule in pack.matching(action, value) {
            if future {
                self.observe_future(rule, &event, value);
            } else {
                self.observe_rule(rule, &event, value);
            }
        }
    }

    /// A match of a well-dated event: remembered, then counted into an alert when it (with
    /// its threshold group) is alert-worthy.
    fn observe_rule(&mut self, rule: &Rule, event: &EventRef<'_>, value: &Value) {
        let state = &mut self.state;
        if state.has_seen(&rule.id, event.id) {
            return;
        }
        // An event lacking a group-by field (or the value a value_count counts) counts nowhere.
        let (group, counted) = match &rule.threshold {
            Some(t) => match (t.group(value), t.counted_value(value)) {
                (Some(g), Some(v)) => (Some(g), v),
                _ => return,
            },
            None => (None, String::new()),
        };
        let group_hash = group.as_deref().map_or(String::new(), |g| short_hash(&[g]));
        state.record(MatchRecord {
            rule: rule.id.clone(),
            group: group_hash.clone(),
            event: event.id.to_owned(),
            time_ms: event.time_ms,
            value: (!counted.is_empty()).then_some(counted),
        });
        let key = rule.dedup_key_of(value, group.as_deref());
        if let Some(open) = state.open_alert(&rule.id, &key, event.time_ms, rule.dedup_period_ms) {
            open.add(event.time_ms, event.id);
            let id = open.id.clone();
            self.note(id, [event.id], true);
            return;
        }
        // A threshold's window, read before the cap is asked (a count short of it opens
        // nothing and is not over the cap).
        let window = match &rule.threshold {
            Some(t) => {
                let from = event.time_ms - t.window_ms;
                let count = match t.distinct {
                    Some(_) => state.distinct_in_window(&rule.id, &group_hash, from, event.time_ms),
                    None => state.count_in_window(&rule.id, &group_hash, from, event.time_ms),
                };
                if count < t.count as usize {
                    return;
                }
                Some(state.window(&rule.id, &group_hash, from, event.time_ms))
            }
            None => None,
        };
        if !self.take_slot(rule, event) {
            return;
        }
        let seeds = window.unwrap_or_else(|| vec![(event.time_ms, event.id.to_owned())]);
        let alert = open_alert(rule, &key, value, event.time_ms, &seeds);
        let id = alert.id.clone();
        self.state.open_new(alert);
        self.note(id, seeds.iter().map(|(_, e)| e.as_str()), false);
    }

    /// A match of a future-dated event: single-event rules raise an alert of its own; it counts
    /// toward no threshold and nothing of it is remembered.
    fn observe_future(&mut self, rule: &Rule, event: &EventRef<'_>, value: &Value) {
        if rule.threshold.is_some() {
            return;
        }
        let key = rule.dedup_key_of(value, None);
        let seeds = [(event.time_ms, event.id.to_owned())];
        let open = open_alert(rule, &key, value, event.time_ms, &seeds);
        if self.loose.iter().any(|a| a.id == open.id) || !self.take_slot(rule, event) {
            return;
        }
        self.loose.push(Alert::of(
            &open,
            rule.severity,
            vec![event.id.to_owned()],
            false,
        ));
    }

    /// Whether the batch may open one more alert; if not, the match joins the summary.
    fn take_slot(&mut self, rule: &Rule, event: &EventRef<'_>) -> bool {
        if self.opens_left > 0 {
            self.opens_left -= 1;
            return true;
        }
        let over = &mut self.over_cap;
        over.count += 1;
        // Past the cap every match comes here: strings are copied only when kept.
        if !over.rules.contains(&rule.id) {
            over.rules.insert(rule.id.clone());
        }
        over.severity = over.severity.max(Some(rule.severity));
        let at = (event.time_ms, event.id);
        if borrowed(&over.first).is_none_or(|f| at < f) {
            over.first = Some((at.0, at.1.to_owned()));
        }
        if borrowed(&over.last).is_none_or(|l| at >= l) {
            over.last = Some((at.0, at.1.to_owned()));
        }
        if over.ids.len() < MAX_MATCHED_IDS {
            over.ids.push(event.id.to_owned());
        }
        false
    }

    /// Counts `added` into the alert's touched entry; an id is copied only when kept.
    fn note<'e>(
        &mut self,
        alert: String,
        added: impl IntoIterator<Item = &'e str>,
        was_open: bool,
    ) {
        let at = match self.touched_at.get(&alert) {
            Some(at) => *at,
            None => {
                self.touched.push(Touched {
                    alert: alert.clone(),
                    matched: Vec::new(),
                    is_update: was_open,
                });
                self.touched_at.insert(alert, self.touched.len() - 1);
                self.touched.len() - 1
            }
        };
        let entry = &mut self.touched[at];
        for id in added {
            if entry.matched.len() < MAX_MATCHED_IDS && !entry.matched.iter().any(|m| m == id) {
                entry.matched.push(id.to_owned());
            }
        }
    }

    /// The batch's alerts, and the state to commit with it (pruned once, here).
    pub fn finish(mut self) -> Detection {
        let mut alerts: Vec<Alert> = Vec::with_capacity(self.touched.len() + self.loose.len() + 1);
        for t in std::mem::take(&mut self.touched) {
            let Some(open) = self.state.alert_by_id(&t.alert).cloned() else {
                continue;
            };
            let Some(rule) = self.pack.rules().iter().find(|r| r.id == open.rule) else {
                continue;
            };
            alerts.push(Alert::of(&open, rule.severity, t.matched, t.is_update));
        }
        alerts.append(&mut self.loose);
        let over_cap = self.over_cap.count;
        if let Some(summary) = self.over_cap.summary() {
            alerts.push(summary);
        }
        self.state.prune_for(&self.pack, self.newest_believable_ms);
        Detection {
            alerts,
            state: self.state,
            skipped: self.skipped,
            future_dated: self.future_dated,
            over_cap,
        }
    }
}

impl OverCap {
    /// One alert for every match past the cap: its id from the matches, so a redone batch
    /// gives the same one.
    fn summary(&self) -> Option<Alert> {
        let ((first_ms, first), (last_ms, last)) = (self.first.clone()?, self.last.clone()?);
        let mut rules: Vec<&str> = self.rules.iter().map(String::as_str).take(10).collect();
        if self.rules.len() > 10 {
            rules.push("…");
        }
        Some(Alert {
            id: short_hash(&[OVER_CAP_RULE, &first, &last, &self.count.to_string()]),
            rule_id: OVER_CAP_RULE.to_owned(),
            severity: self.severity.unwrap_or(Severity::High),
            title: format!(
                "{} more matches in one batch opened no alert of their own (over {MAX_NEW_ALERTS_PER_BATCH} new alerts; rules {})",
                self.count,
                rules.join(", ")
            ),
            runbook: format!("One batch of events raised more than {MAX_NEW_ALERTS_PER_BATCH} new alerts: a mass change, or an attack that wants to flood the channel. The first {MAX_NEW_ALERTS_PER_BATCH} were raised one by one; the matches after them are listed here (event ids, at most {MAX_MATCHED_IDS}). Query the archive's events of these rules' actions between the first and last event times to see them all."),
            dedup_key: OVER_CAP_RULE.to_owned(),
            count: self.count as u64,
            first_event_time: time_text(first_ms),
            last_event_time: time_text(last_ms),
            first_event_id: first,
            last_event_id: last,
            matched_event_ids: self.ids.clone(),
            is_update: false,
            source_id: String::new(),
            source_label: String::new(),
        })
    }
}

/// A (time, event id) held, borrowed: compared with a match's without copying it.
fn borrowed(held: &Option<(i64, String)>) -> Option<(i64, &str)> {
    held.as_ref().map(|(t, e)| (*t, e.as_str()))
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
        title: rule.title_of(value),
        runbook: rule.runbook_of(value),
        opened_ms: now_ms,
        first_ms,
        first_event,
        last_ms,
        last_event,
        count: seeds.len() as u64,
    }
}
