//! The CLI demo's scenario: what the org holds before the first run (the backlog) and what
//! happens before the second (the live events), as pure functions of a seed and a `now`, so a
//! test can rebuild exactly the stream the demo serves.

use serde_json::Value;

use super::benign::generate_benign_events_for_org;
use super::clock;
use super::generator::{generate_events_for_org, generate_invalid_events_in, process_days_late};
use super::incidents::incident_events;

const HOUR_MS: i64 = 3_600_000;

/// Which traffic the org holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoTraffic {
    /// The generator's mix, alert-worthy actions drawn at random among routine ones
    /// (`simulate` and the tests).
    Generated,
    /// Routine traffic only ([`crate::generate_benign_events`]) with [`incident_events`] among
    /// the backlog: every built-in detection rule raises one alert, and nothing else does (the
    /// demo's).
    Incidents,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoScenario {
    pub seed: u64,
    /// Valid events of the traffic over the 24 hours before the first run (incidents not counted).
    pub backlog: usize,
    /// Invalid events interleaved among them (the collector quarantines them).
    pub invalid: usize,
    /// Events that happen between the first and the second run, some late.
    pub live: usize,
    pub traffic: DemoTraffic,
    /// Of every 1,000 backlog events, about this many are processed 1–20 days late
    /// ([`process_days_late`]; 0 by default).
    pub days_late_per_mille: u32,
}

impl Default for DemoScenario {
    /// What `make demo` runs.
    fn default() -> Self {
        DemoScenario {
            seed: 2026,
            backlog: 1_200,
            invalid: 4,
            live: 37,
            traffic: DemoTraffic::Incidents,
            days_late_per_mille: 0,
        }
    }
}

impl DemoScenario {
    /// The backlog in processing order for the org `org_id`, times relative to `now_ms`;
    /// deterministic for a scenario and a `now_ms`.
    pub fn backlog_events(&self, org_id: &str, now_ms: i64) -> Vec<Value> {
        let range = (now_ms - 24 * HOUR_MS, now_ms - 60_000);
        let mut events = self.traffic_events(org_id, self.seed, self.backlog, range);
        if self.traffic == DemoTraffic::Incidents {
            events = merge_by_time(events, incident_events(org_id, self.seed, now_ms));
        }
        if self.days_late_per_mille > 0 {
            process_days_late(&mut events, self.seed, self.days_late_per_mille);
        }
        let bad = generate_invalid_events_in(self.seed, self.invalid, range);
        // Spread the invalid ones evenly through the backlog.
        let step = events.len() / (bad.len() + 1);
        for (i, e) in bad.into_iter().enumerate().rev() {
            events.insert((i + 1) * step, e);
        }
        events
    }

    /// The events of the two hours before `now_ms` that the org appends after the first run.
    pub fn live_events(&self, org_id: &str, now_ms: i64) -> Vec<Value> {
        let range = (now_ms - 2 * HOUR_MS, now_ms);
        self.traffic_events(org_id, self.seed.wrapping_add(1), self.live, range)
    }

    fn traffic_events(&self, org_id: &str, seed: u64, n: usize, range: (i64, i64)) -> Vec<Value> {
        match self.traffic {
            DemoTraffic::Generated => generate_events_for_org(org_id, seed, n, range),
            DemoTraffic::Incidents => generate_benign_events_for_org(org_id, seed, n, range),
        }
    }
}

/// `seeded` (in time order) slotted into `events` before the first later one, so both are
/// processed close to when they happened.
fn merge_by_time(events: Vec<Value>, seeded: Vec<Value>) -> Vec<Value> {
    let time = |e: &Value| {
        e.pointer("/attributes/time")
            .and_then(Value::as_str)
            .and_then(clock::parse_rfc3339_ms)
    };
    let mut out = Vec::with_capacity(events.len() + seeded.len());
    let mut seeded = seeded.into_iter().peekable();
    for e in events {
        while let Some(s) = seeded.next_if(|s| time(s) <= time(&e)) {
            out.push(s);
        }
        out.push(e);
    }
    out.extend(seeded);
    out
}
