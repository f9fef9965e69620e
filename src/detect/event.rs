//! What the engine needs of a normalized event: its id and its time.

use serde_json::Value;

use crate::normalize::parse_timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub id: &'a str,
    /// Milliseconds since the epoch, UTC.
    pub time_ms: i64,
    /// When the event is known to have existed: the earlier of its `attributes.processedAt`
    /// and the collector's `p_parse_time`, when either is readable.
    pub reference_ms: Option<i64>,
}

impl<'a> EventRef<'a> {
    /// `None` for an event without a non-empty `id` or a readable time (`attributes.time`, else
    /// `p_event_time` in Panther's `YYYY-MM-DD HH:MM:SS.fffffffff`).
    pub fn of(event: &'a Value) -> Option<EventRef<'a>> {
        let id = event.get("id")?.as_str().filter(|s| !s.is_empty())?;
        let rfc3339 = event
            .get("attributes")
            .and_then(|a| a.get("time"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let panther = || {
            let t = event.get("p_event_time")?.as_str()?;
            Some(format!("{}Z", t.replacen(' ', "T", 1)))
        };
        let time = rfc3339
            .and_then(|t| parse_timestamp(&t).ok())
            .or_else(|| panther().and_then(|t| parse_timestamp(&t).ok()))?;
        let processed = event
            .get("attributes")
            .and_then(|a| a.get("processedAt"))
            .and_then(Value::as_str)
            .and_then(|t| parse_timestamp(t).ok());
        let parsed = event
            .get("p_parse_time")
            .and_then(Value::as_str)
            .and_then(|t| parse_timestamp(&format!("{}Z", t.replacen(' ', "T", 1))).ok());
        let reference_ms = [processed, parsed]
            .into_iter()
            .flatten()
            .map(|t| t.timestamp_millis())
            .min();
        Some(EventRef {
            id,
            time_ms: time.timestamp_millis(),
            reference_ms,
        })
    }

    /// Dated more than `margin_ms` after it was processed or parsed: a clock gone wrong, or an
    /// event meant to move detection's sense of time.
    pub fn is_future_dated(&self, margin_ms: i64) -> bool {
        self.reference_ms
            .is_some_and(|r| self.time_ms > r.saturating_add(margin_ms))
    }
}
