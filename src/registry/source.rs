//! One registered source, as the registry keeps it.
use super::RegistryError;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Atlassian keeps audit events for 180 days: a longer backfill asks for nothing.
pub const MAX_BACKFILL_DAYS: u32 = 180;
pub const MAX_SOURCE_ID_LEN: usize = 64;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredSource {
    pub source_id: String,
    /// The Secrets Manager secret holding `{"org_id", "api_key", "expires_at"}`.
    pub secret_id: String,
    pub label: String,
    pub enabled: bool,
    pub added_ms: i64,
    /// Where live collection began: its first read starts here, and it keeps only events
    /// processed from here on (what was processed before is the backfills').
    pub live_start_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill: Option<Backfill>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
}

/// A source's history, read as a task of its own: events processed in `[from_ms, to_ms)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backfill {
    pub from_ms: i64,
    pub to_ms: i64,
    pub requested_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<i64>,
}

/// How the latest run of a source's live collection ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRun {
    pub ended_ms: i64,
    pub succeeded: bool,
    /// The error, scrubbed and clipped as every run error is, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Source ids name checkpoint records, high-water marks and metrics: letters, digits, `.`, `_`
/// and `-` only (a backfill's record adds `#backfill-…`, which no source id can collide with).
pub fn validate_source_id(id: &str) -> Result<(), RegistryError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > MAX_SOURCE_ID_LEN || !id.chars().all(ok_char) {
        return Err(RegistryError::Invalid(format!(
            "source id {id:?} is not valid: use 1 to {MAX_SOURCE_ID_LEN} letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(())
}

/// Days of a backfill, checked: 1 to [`MAX_BACKFILL_DAYS`].
pub fn backfill_span_ms(days: u32) -> Result<i64, RegistryError> {
    if !(1..=MAX_BACKFILL_DAYS).contains(&days) {
        return Err(RegistryError::Invalid(format!(
            "a backfill of {days} days is not possible: give 1 to {MAX_BACKFILL_DAYS} days (Atlassian keeps audit events for {MAX_BACKFILL_DAYS} days)"
        )));
    }
    Ok(i64::from(days) * DAY_MS)
}

impl RegisteredSource {
    /// A new source. With a backfill of `backfill_days`, live collection begins now and the
    /// backfill reads the days before; without one, live collection begins `lookback` ago, as
    /// a single-org collector's first run does.
    pub fn new(
        source_id: &str,
        secret_id: &str,
        label: &str,
        backfill_days: Option<u32>,
        lookback_ms: i64,
        now_ms: i64,
    ) -> Result<Self, RegistryError> {
        validate_source_id(source_id)?;
        if secret_id.trim().is_empty() {
            return Err(RegistryError::Invalid(
                "the secret id is empty: give the name or ARN of the source's Secrets Manager secret".into(),
            ));
        }
        let backfill = backfill_days
            .map(|days| {
                Ok::<_, RegistryError>(Backfill {
                    from_ms: now_ms - backfill_span_ms(days)?,
                    to_ms: now_ms,
                    requested_ms: now_ms,
                    finished_ms: None,
                })
            })
            .transpose()?;
        let live_start_ms = if backfill.is_some() {
            now_ms
        } else {
            now_ms - lookback_ms
        };
        Ok(RegisteredSource {
            source_id: source_id.to_string(),
            secret_id: secret_id.trim().to_string(),
            label: label.to_string(),
            enabled: true,
            added_ms: now_ms,
            live_start_ms,
            backfill,
            last_run: None,
        })
    }

    /// The earliest processing time collected or being collected: where a new backfill ends.
    pub fn covered_from_ms(&self) -> i64 {
        match &self.backfill {
            Some(b) => b.from_ms.min(self.live_start_ms),
            None => self.live_start_ms,
        }
    }

    /// A backfill of the `days` before now, up to where collection already reaches; refused
    /// while one runs, or when collection already covers those days.
    pub fn next_backfill(&self, days: u32, now_ms: i64) -> Result<Backfill, RegistryError> {
        let span = backfill_span_ms(days)?;
        if let Some(b) = self.backfill.as_ref().filter(|b| b.finished_ms.is_none()) {
            return Err(RegistryError::BackfillRunning {
                source_id: self.source_id.clone(),
                from: rfc3339(b.from_ms),
            });
        }
        let (from_ms, to_ms) = (now_ms - span, self.covered_from_ms());
        if from_ms >= to_ms {
            return Err(RegistryError::Invalid(format!(
                "source {:?} is collected from {} already, which is within the last {days} days: give more days to reach further back",
                self.source_id,
                rfc3339(to_ms)
            )));
        }
        Ok(Backfill {
            from_ms,
            to_ms,
            requested_ms: now_ms,
            finished_ms: None,
        })
    }

    /// The backfill still to run, if any.
    pub fn running_backfill(&self) -> Option<&Backfill> {
        self.backfill.as_ref().filter(|b| b.finished_ms.is_none())
    }
}

impl Backfill {
    /// How far the backfill has come, 0 to 100, given the newest processing time it wrote.
    pub fn percent_done(&self, newest_processed_ms: Option<i64>) -> f64 {
        if self.finished_ms.is_some() {
            return 100.0;
        }
        let span = (self.to_ms - self.from_ms).max(1) as f64;
        match newest_processed_ms {
            None => 0.0,
            Some(ms) => (((ms - self.from_ms) as f64 / span) * 100.0).clamp(0.0, 99.9),
        }
    }
}

/// Epoch ms as RFC 3339 (UTC, seconds), for messages and listings.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}
