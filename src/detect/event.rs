//! What the engine needs of a normalized event: its id and its time.

use serde_json::Value;

use chrono::{DateTime, Utc};

use crate::normalize::parse_timestamp;

/// Longest Panther time read (`YYYY-MM-DD HH:MM:SS.fffffffff` is 29 characters).
const MAX_PANTHER_CHARS: usize = 40;

/// A Panther time (`YYYY-MM-DD HH:MM:SS.fff`, UTC) read as RFC 3339: its first space becomes
/// `T` and a `Z` is added, in a buffer on the stack (every event read has one: two `String`s per
/// event otherwise).
fn panther_time(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    if bytes.len() >= MAX_PANTHER_CHARS {
        return parse_timestamp(&format!("{}Z", text.replacen(' ', "T", 1))).ok();
    }
    let mut buf = [0u8; MAX_PANTHER_CHARS];
    buf[..bytes.len()].copy_from_slice(bytes);
    if let Some(space) = bytes.iter().position(|&b| b == b' ') {
        buf[space] = b'T';
    }
    buf[bytes.len()] = b'Z';
    let rfc3339 = std::str::from_utf8(&buf[..=bytes.len()]).ok()?;
    parse_timestamp(rfc3339).ok()
}

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
        let attributes = event.get("attributes");
        let text = |v: Option<&'a Value>| v.and_then(Value::as_str);
        let time = text(attributes.and_then(|a| a.get("time")))
            .and_then(|t| parse_timestamp(t).ok())
            .or_else(|| text(event.get("p_event_time")).and_then(panther_time))?;
        let processed = text(attributes.and_then(|a| a.get("processedAt")))
            .and_then(|t| parse_timestamp(t).ok());
        let parsed = text(event.get("p_parse_time")).and_then(panther_time);
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
