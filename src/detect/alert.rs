//! An alert: what a rule raised, over one or more events grouped by its dedup key.

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use super::severity::Severity;
use super::state::OpenAlert;

/// Most event ids an alert lists (`count` has them all).
pub const MAX_MATCHED_IDS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// 32 hex digits of SHA-256 over (rule id, dedup key, id of the event that opened it): the
    /// same events always give the same id, so a repeated notification can be recognized.
    pub id: String,
    pub rule_id: String,
    pub severity: Severity,
    pub title: String,
    pub runbook: String,
    pub dedup_key: String,
    /// Events in the alert so far (earlier batches included).
    pub count: u64,
    pub first_event_time: String,
    pub last_event_time: String,
    pub first_event_id: String,
    pub last_event_id: String,
    /// The events this batch added to the alert (at most [`MAX_MATCHED_IDS`]).
    pub matched_event_ids: Vec<String>,
    /// The alert was raised by an earlier batch (same id); this is its new count.
    pub is_update: bool,
    /// The source whose events raised it (`p_source_id`, `p_source_label`): a deployment may
    /// collect many organizations.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_label: String,
}

impl Alert {
    pub(super) fn of(
        open: &OpenAlert,
        severity: Severity,
        matched: Vec<String>,
        is_update: bool,
    ) -> Alert {
        Alert {
            id: open.id.clone(),
            rule_id: open.rule.clone(),
            severity,
            title: open.title.clone(),
            runbook: open.runbook.clone(),
            dedup_key: open.key.clone(),
            count: open.count,
            first_event_time: time_text(open.first_ms),
            last_event_time: time_text(open.last_ms),
            first_event_id: open.first_event.clone(),
            last_event_id: open.last_event.clone(),
            matched_event_ids: matched,
            is_update,
            source_id: String::new(),
            source_label: String::new(),
        }
    }

    /// `High  user_logged_in_as_user  <title>  (3 events, <first> … <last>)  id <id>`
    pub fn one_line(&self) -> String {
        let span = if self.count == 1 {
            format!("1 event, {}", self.first_event_time)
        } else {
            format!(
                "{} events, {} … {}",
                self.count, self.first_event_time, self.last_event_time
            )
        };
        let source = match self.source_id.as_str() {
            "" => String::new(),
            id => format!("  [{id}]"),
        };
        format!(
            "{:<8} {}  {}  ({span})  id {}{source}",
            self.severity.name(),
            self.rule_id,
            self.title,
            self.id
        )
    }
}

pub(super) fn time_text(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}
