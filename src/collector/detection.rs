//! The detect stage's parts: the rules a run applies to each batch, where the new alerts are
//! announced, and the key the detection state is sealed with.
//!
//! The archive never waits on this stage: an event the engine cannot evaluate (a panic in a
//! rule) is skipped and counted, not retried; announcing is retried by the next runs for at
//! most [`MAX_ANNOUNCE_ATTEMPTS`] attempts of a batch, then the batch is committed with the
//! alerts it could not announce counted (they are in `alerts/` either way).
use crate::credentials::{CredentialError, CredentialProvider};
use crate::detect::{ActionFilter, Alert, DetectRun, DetectState, RulePack, SealKey};
use crate::notify::Notifiers;
use crate::sink::{hour_start, EncodedObject};
use async_trait::async_trait;
use chrono::DateTime;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Attempts of one batch whose announcement may fail before the batch is committed without
/// it (each attempt already retries refused entries a few times).
pub const MAX_ANNOUNCE_ATTEMPTS: u32 = 5;

/// Where the key that seals the detection state comes from: a secret the checkpoint table's
/// writers do not hold.
#[async_trait]
pub trait SealKeys: Send + Sync {
    /// The key for this run. A run that cannot read it writes nothing: a state committed
    /// unsealed would be discarded by the next run, and its open alerts opened again.
    async fn seal_key(&self) -> Result<SealKey, CredentialError>;
}

/// The detection state's seal key, derived from the API key: whoever can write the checkpoint
/// table but not read the secret cannot forge a state the collector accepts. A replaced key
/// makes the state found in the table unsealed once (it is discarded and starts afresh).
pub struct ApiKeySeal(pub Arc<dyn CredentialProvider>);

#[async_trait]
impl SealKeys for ApiKeySeal {
    async fn seal_key(&self) -> Result<crate::detect::SealKey, CredentialError> {
        let credentials = self.0.get().await?;
        Ok(crate::detect::SealKey::derive(
            credentials.api_key.expose().as_bytes(),
        ))
    }
}

#[derive(Clone)]
pub struct DetectStage {
    pub pack: Arc<RulePack>,
    pub notifiers: Notifiers,
    /// The actions the pack's rules name: only events with one are read for detection.
    pub filter: ActionFilter,
    /// Seals the state committed with each batch; a state found unsealed is discarded.
    /// `None`: states are neither sealed nor checked (tests, tools over local files).
    pub seal: Option<Arc<dyn SealKeys>>,
}

impl DetectStage {
    pub fn new(pack: Arc<RulePack>, notifiers: Notifiers) -> Self {
        let filter = ActionFilter::of(&pack);
        DetectStage {
            pack,
            notifiers,
            filter,
            seal: None,
        }
    }

    /// States sealed with the keys of `seal`.
    pub fn sealed_by(mut self, seal: Arc<dyn SealKeys>) -> Self {
        self.seal = Some(seal);
        self
    }

    /// The built-in pack, announcing nothing: what a collector runs unless told otherwise.
    pub fn builtin() -> Self {
        // Compiled in and parsed by the tests (detect::tests::builtin): a failure is a bug.
        let pack = crate::detect::RulePack::builtin()
            .expect("the built-in rule pack parses (tested in detect::tests::builtin)");
        DetectStage::new(Arc::new(pack), Notifiers::none())
    }
}

/// What the detect stage did over one batch, for the run's summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DetectCounts {
    pub skipped: usize,
    pub future_dated: usize,
    pub over_cap: usize,
}

/// The detect stage over one batch: the state before the batch, fed line by line as the
/// batch is built, and the alerts the batch raised or grew.
pub(super) struct BatchDetection {
    filter: ActionFilter,
    pack: Arc<RulePack>,
    run: DetectRun,
}

impl BatchDetection {
    pub fn new(detection: &DetectStage, before: &DetectState) -> Self {
        BatchDetection {
            filter: detection.filter.clone(),
            pack: detection.pack.clone(),
            run: DetectRun::new(detection.pack.clone(), before.clone()),
        }
    }

    /// Runs the rules over one written event's line, if a rule may match it. Only the fields
    /// the rules read are taken from the line; a rule that panics skips the event.
    pub fn observe_line(&mut self, line: &str) {
        if self.filter.is_empty() || !self.filter.may_match(line) {
            return;
        }
        let Some(event) = self.pack.projection().project(line) else {
            self.run.skip(1);
            return;
        };
        let run = &mut self.run;
        if std::panic::catch_unwind(AssertUnwindSafe(|| run.observe(&event))).is_err() {
            tracing::error!("a detection rule failed on an event; the event is archived, its detections are skipped (DetectionsSkipped)");
            self.run.skip(1);
        }
    }

    /// The state to commit with the batch (pruned once, at the batch's end, so a batch gives
    /// the same alerts however its pages were cut), its alerts, and what was counted.
    pub fn finish(self) -> (DetectState, Vec<Alert>, DetectCounts) {
        let d = self.run.finish();
        let counts = DetectCounts {
            skipped: d.skipped,
            future_dated: d.future_dated,
            over_cap: d.over_cap,
        };
        (d.state, d.alerts, counts)
    }
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
