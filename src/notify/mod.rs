//! Where alerts are announced once they are durable in the archive: an SNS topic and an
//! EventBridge bus in production, memory in tests, nowhere when unconfigured. The pipeline
//! publishes a batch's new alerts after its objects (the alerts' own included) are written and
//! before the checkpoint moves past it, so a crash in between repeats a notification (same alert
//! id) and never loses one.
mod batch;
mod eventbridge;
mod memory;
mod sns;

pub use eventbridge::{EventBridgeNotifier, DEFAULT_EVENT_BUS};
pub use memory::MemoryNotifier;
pub use sns::{subject, SnsNotifier, MAX_SUBJECT_CHARS};

use crate::detect::{Alert, Severity};
use async_trait::async_trait;
use std::sync::Arc;
use thiserror::Error;

/// `Source` of the EventBridge events and the name alerts are announced under.
pub const EVENT_SOURCE: &str = "atlassian-audit-collector";
/// `DetailType` of the EventBridge events: one rule can route every alert.
pub const DETAIL_TYPE: &str = "Atlassian Audit Alert";

#[derive(Debug, Error)]
#[error("{target} could not publish {alerts} alert(s): {reason}")]
pub struct NotifyError {
    /// `sns://topic-arn`, `eventbridge://bus`, …
    pub target: String,
    pub alerts: usize,
    pub reason: String,
}

#[async_trait]
pub trait AlertNotifier: Send + Sync {
    /// Announces every alert of `alerts`; returns once each is accepted. A retry after an
    /// error may announce some twice: each carries its deterministic id.
    async fn publish(&self, alerts: &[Alert]) -> Result<(), NotifyError>;
    /// For messages: the topic, the bus.
    fn describe(&self) -> String;
}

/// The notifiers of a deployment, and the least severity worth announcing. Every alert is
/// archived; only those at `min_severity` or above are announced, to every target.
#[derive(Clone)]
pub struct Notifiers {
    targets: Vec<Arc<dyn AlertNotifier>>,
    min_severity: Severity,
}

impl Notifiers {
    pub fn new(targets: Vec<Arc<dyn AlertNotifier>>, min_severity: Severity) -> Self {
        Notifiers {
            targets,
            min_severity,
        }
    }

    /// Announces nothing (alerts are still archived).
    pub fn none() -> Self {
        Notifiers::new(Vec::new(), Severity::Info)
    }

    /// These targets and `target` too.
    pub fn also_to(mut self, target: Arc<dyn AlertNotifier>) -> Self {
        self.targets.push(target);
        self
    }

    /// The alerts of a batch that get announced: new ones (an alert growing in a later batch
    /// was announced when it opened) at the minimum severity or above.
    pub fn worth_announcing<'a>(&self, alerts: &'a [Alert]) -> Vec<&'a Alert> {
        alerts
            .iter()
            .filter(|a| !a.is_update && a.severity >= self.min_severity)
            .collect()
    }

    /// Publishes to every target in turn; the first failure stops it.
    pub async fn publish(&self, alerts: &[Alert]) -> Result<usize, NotifyError> {
        let announced: Vec<Alert> = self.worth_announcing(alerts).into_iter().cloned().collect();
        if announced.is_empty() || self.targets.is_empty() {
            return Ok(0);
        }
        for target in &self.targets {
            target.publish(&announced).await?;
        }
        Ok(announced.len())
    }

    /// Publishes to every target, going on past a target that fails: (announced, undelivered),
    /// where an alert is undelivered when a target refused it (all of a failed call's alerts
    /// count, since which were accepted is not known). Used when a batch's announcement has
    /// failed too often to hold up the archive any longer.
    pub async fn publish_what_can_be(&self, alerts: &[Alert]) -> (usize, usize) {
        let announced: Vec<Alert> = self.worth_announcing(alerts).into_iter().cloned().collect();
        if announced.is_empty() || self.targets.is_empty() {
            return (0, 0);
        }
        let mut undelivered = 0;
        for target in &self.targets {
            if let Err(e) = target.publish(&announced).await {
                tracing::error!(error = %e, "alerts not announced");
                undelivered = announced.len();
            }
        }
        (announced.len() - undelivered, undelivered)
    }

    pub fn describe(&self) -> String {
        if self.targets.is_empty() {
            return "no notification target".into();
        }
        let names: Vec<String> = self.targets.iter().map(|t| t.describe()).collect();
        format!("{} (at {} or above)", names.join(", "), self.min_severity)
    }
}
