//! What detection remembers between batches: a plain serde value, meant to be stored with the
//! checkpoint and committed with the batch that produced it.
//!
//! - **Idempotent.** Every event a rule matched is remembered by (rule, event id); an event
//!   seen again (a redone batch, an overlap re-read) changes nothing: it counts once.
//! - **Bounded.** At most [`MAX_MATCHES`] remembered matches and [`MAX_OPEN_ALERTS`] open
//!   alerts; past a cap the oldest (by event time) are dropped. Entries older than the rules'
//!   longest window or dedup period plus [`LATE_MARGIN_MS`], counted back from the newest
//!   matched event, are dropped too. At the caps, with long actor ids, the state serializes to
//!   about 170 KB; past [`MAX_STATE_BYTES`] of JSON (long titles, long ids) the oldest tenth of
//!   both is dropped until it fits. What is forgotten can count again: an event re-fed after more than
//!   [`MAX_MATCHES`] newer matches, or older than the horizon, is taken as new.
//! - **Clock-free.** Only event times are used, so feeding the same events gives the same state.

use serde::{Deserialize, Serialize};

pub const MAX_MATCHES: usize = 1_000;
pub const MAX_OPEN_ALERTS: usize = 100;
/// Most bytes of JSON the state may take: it lives in the checkpoint's DynamoDB item (400 KB
/// with everything else: the recent ids alone may take 192 KB), so long titles and ids must not
/// make it outgrow the caps' usual 170 KB.
pub const MAX_STATE_BYTES: usize = 128 * 1024;
/// How far behind the newest match an event may arrive and still be recognized (the
/// simulated org sends some 2–9 hours late).
pub const LATE_MARGIN_MS: i64 = 12 * 3_600_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectState {
    #[serde(default)]
    matches: Vec<MatchRecord>,
    #[serde(default)]
    open: Vec<OpenAlert>,
}

/// One event one rule matched. `group`: a hash of the threshold group ("" without threshold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MatchRecord {
    pub rule: String,
    pub group: String,
    pub event: String,
    pub time_ms: i64,
}

/// An alert still within its dedup period: events of its rule and key join it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OpenAlert {
    pub id: String,
    pub rule: String,
    pub key: String,
    pub title: String,
    pub runbook: String,
    pub opened_ms: i64,
    pub first_ms: i64,
    pub first_event: String,
    pub last_ms: i64,
    pub last_event: String,
    pub count: u64,
}

impl OpenAlert {
    pub fn add(&mut self, time_ms: i64, event: &str) {
        self.count += 1;
        if time_ms < self.first_ms {
            (self.first_ms, self.first_event) = (time_ms, event.to_owned());
        }
        if time_ms >= self.last_ms {
            (self.last_ms, self.last_event) = (time_ms, event.to_owned());
        }
    }
}

impl DetectState {
    pub fn is_empty(&self) -> bool {
        self.matches.is_empty() && self.open.is_empty()
    }

    /// (remembered matches, open alerts): what the caps bound.
    pub fn sizes(&self) -> (usize, usize) {
        (self.matches.len(), self.open.len())
    }

    pub(super) fn has_seen(&self, rule: &str, event: &str) -> bool {
        self.matches
            .iter()
            .any(|m| m.event == event && m.rule == rule)
    }

    pub(super) fn record(&mut self, record: MatchRecord) {
        self.matches.push(record);
    }

    /// (time, event id) of the rule's matches in `group` with time in `(from, to]`, oldest first.
    pub(super) fn window(&self, rule: &str, group: &str, from: i64, to: i64) -> Vec<(i64, String)> {
        let mut found: Vec<(i64, String)> = self
            .matches
            .iter()
            .filter(|m| m.rule == rule && m.group == group && m.time_ms > from && m.time_ms <= to)
            .map(|m| (m.time_ms, m.event.clone()))
            .collect();
        found.sort();
        found
    }

    /// The open alert of `rule` and `key` that an event at `time_ms` joins: one opened less
    /// than `period_ms` before it (or after it, for an event arriving late).
    pub(super) fn open_alert(
        &mut self,
        rule: &str,
        key: &str,
        time_ms: i64,
        period_ms: i64,
    ) -> Option<&mut OpenAlert> {
        self.open
            .iter_mut()
            .find(|a| a.rule == rule && a.key == key && (time_ms - a.opened_ms).abs() < period_ms)
    }

    pub(super) fn open_new(&mut self, alert: OpenAlert) {
        self.open.push(alert);
    }

    pub(super) fn alert_by_id(&self, id: &str) -> Option<&OpenAlert> {
        self.open.iter().find(|a| a.id == id)
    }

    /// Drops what `pack`'s rules no longer need and the oldest past the caps (see the module
    /// docs).
    pub fn prune_for(&mut self, pack: &super::RulePack) {
        self.prune(pack.retention_ms());
    }

    /// Drops what is older than `retention_ms` before the newest match, then the oldest past
    /// the caps.
    pub(super) fn prune(&mut self, retention_ms: i64) {
        let Some(newest) = self.matches.iter().map(|m| m.time_ms).max() else {
            return;
        };
        let horizon = newest.saturating_sub(retention_ms);
        self.matches.retain(|m| m.time_ms >= horizon);
        self.open.retain(|a| a.last_ms >= horizon);
        self.matches.sort_by_key(|m| m.time_ms);
        let extra = self.matches.len().saturating_sub(MAX_MATCHES);
        self.matches.drain(..extra);
        self.open.sort_by_key(|a| a.last_ms);
        let extra = self.open.len().saturating_sub(MAX_OPEN_ALERTS);
        self.open.drain(..extra);
        self.shrink_to(MAX_STATE_BYTES);
    }

    /// Drops the oldest tenth of the matches and of the open alerts until the JSON takes at
    /// most `max_bytes` (a function of the state alone, so a redone batch shrinks alike).
    fn shrink_to(&mut self, max_bytes: usize) {
        while serde_json::to_vec(self).map_or(0, |v| v.len()) > max_bytes {
            if self.matches.is_empty() && self.open.is_empty() {
                return;
            }
            let matches = self.matches.len().div_ceil(10);
            self.matches.drain(..matches);
            let open = self.open.len().div_ceil(10);
            self.open.drain(..open);
        }
    }
}
