//! The detect stage's parts: the rules a run applies to each batch and where the new alerts are
//! announced.
use crate::detect::{detect_unpruned, ActionFilter, Alert, DetectState, RulePack, MAX_MATCHED_IDS};
use crate::notify::Notifiers;
use crate::sink::{hour_start, EncodedObject};
use chrono::DateTime;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

#[derive(Clone)]
pub struct Detection {
    pub pack: Arc<RulePack>,
    pub notifiers: Notifiers,
    /// The actions the pack's rules name: only events with one are parsed for detection.
    pub filter: ActionFilter,
}

impl Detection {
    pub fn new(pack: Arc<RulePack>, notifiers: Notifiers) -> Self {
        let filter = ActionFilter::of(&pack);
        Detection {
            pack,
            notifiers,
            filter,
        }
    }

    /// The built-in pack, announcing nothing: what a collector runs unless told otherwise.
    pub fn builtin() -> Self {
        // Compiled in and parsed by the tests (detect::tests::builtin): a failure is a bug.
        let pack = crate::detect::RulePack::builtin()
            .expect("the built-in rule pack parses (tested in detect::tests::builtin)");
        Detection::new(Arc::new(pack), Notifiers::none())
    }
}

/// The detect stage over one batch: the state before the batch, fed page by page, and the
/// alerts the batch raised or grew (one entry per alert, its latest count).
pub(super) struct BatchDetection {
    pack: Arc<RulePack>,
    state: DetectState,
    alerts: Vec<Alert>,
}

impl BatchDetection {
    pub fn new(pack: Arc<RulePack>, before: &DetectState) -> Self {
        BatchDetection {
            pack,
            state: before.clone(),
            alerts: Vec::new(),
        }
    }

    /// Runs the rules over a page's candidate events (stream order).
    pub fn observe(&mut self, events: &[Value]) {
        if events.is_empty() {
            return;
        }
        let found = detect_unpruned(&self.pack, &self.state, events);
        self.state = found.state;
        for alert in found.alerts {
            merge(&mut self.alerts, alert);
        }
    }

    /// The state to commit with the batch (pruned once, at the batch's end, so a batch gives
    /// the same alerts however its pages were cut), and its alerts.
    pub fn finish(mut self) -> (DetectState, Vec<Alert>) {
        self.state.prune_for(&self.pack);
        (self.state, self.alerts)
    }
}

/// An alert seen on an earlier page of the batch takes its newer count and times, keeps the
/// event ids both pages added, and stays new if it opened in this batch.
fn merge(alerts: &mut Vec<Alert>, newer: Alert) {
    let Some(known) = alerts.iter_mut().find(|a| a.id == newer.id) else {
        alerts.push(newer);
        return;
    };
    let mut matched = std::mem::take(&mut known.matched_event_ids);
    for id in &newer.matched_event_ids {
        if matched.len() < MAX_MATCHED_IDS && !matched.contains(id) {
            matched.push(id.clone());
        }
    }
    let is_update = known.is_update;
    *known = newer;
    known.matched_event_ids = matched;
    known.is_update = is_update;
}

/// The batch's alerts as gzip NDJSON, one object per hour of their first event.
pub(super) fn alert_objects(alerts: &[Alert]) -> std::io::Result<BTreeMap<i64, EncodedObject>> {
    let mut lines: BTreeMap<i64, Vec<&Alert>> = BTreeMap::new();
    for alert in alerts {
        lines.entry(first_hour(alert)).or_default().push(alert);
    }
    lines
        .into_iter()
        .map(|(hour, alerts)| Ok((hour, encode(&alerts)?)))
        .collect()
}

fn encode(alerts: &[&Alert]) -> std::io::Result<EncodedObject> {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    for alert in alerts {
        serde_json::to_writer(&mut gzip, alert)?;
        gzip.write_all(b"\n")?;
    }
    Ok(EncodedObject {
        body: gzip.finish()?.into(),
        event_count: alerts.len(),
    })
}

/// The hour an alert is filed under: that of its first event (so every line of one alert
/// lands in the same partition); 1970 for a time the engine could not render.
fn first_hour(alert: &Alert) -> i64 {
    DateTime::parse_from_rfc3339(&alert.first_event_time)
        .map(|t| hour_start(t.to_utc()))
        .unwrap_or(0)
}
