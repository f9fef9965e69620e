//! The plain values: durations, counts and flags, each parsed and bounded with a message that
//! names the variable.
use super::{env, ConfigError, MAX_INITIAL_LOOKBACK, MAX_RUN_BUDGET};
use crate::collector::BatchBounds;
use crate::source::atlassian::MAX_PAGE_LIMIT;
use std::time::Duration;

pub(super) fn parse_lookback(value: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(value).map_err(|e| ConfigError::Invalid {
        name: env::INITIAL_LOOKBACK,
        value: value.to_string(),
        reason: format!("{e}; use a duration such as 7d, 36h or 90m"),
    })?;
    if d > MAX_INITIAL_LOOKBACK {
        return Err(ConfigError::Invalid {
            name: env::INITIAL_LOOKBACK,
            value: value.to_string(),
            reason: "at most 180d: Atlassian keeps audit events for 180 days".into(),
        });
    }
    Ok(d)
}

pub(super) fn parse_page_limit(value: &str) -> Result<u32, ConfigError> {
    let n: i64 = value.parse().map_err(|_| ConfigError::Invalid {
        name: env::PAGE_LIMIT,
        value: value.to_string(),
        reason: "a whole number of events per page, 1 to 500".into(),
    })?;
    // Out-of-range values are clamped, as documented: the API accepts 1..=500.
    Ok(n.clamp(1, i64::from(MAX_PAGE_LIMIT)) as u32)
}

/// BATCH_MAX_EVENTS and BATCH_MAX_MIB, each within what keeps a run's memory bounded.
pub(super) fn batch_bounds(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<BatchBounds, ConfigError> {
    let defaults = BatchBounds::default();
    let max_events = match get(env::BATCH_MAX_EVENTS) {
        None => defaults.max_events,
        Some(v) => parse_bound(
            env::BATCH_MAX_EVENTS,
            &v,
            BatchBounds::LARGEST_MAX_EVENTS.into(),
            "events a batch reads before it is written (pages are never cut, so a batch holds at least one)",
        )? as u32,
    };
    let max_bytes = match get(env::BATCH_MAX_MIB) {
        None => defaults.max_bytes,
        Some(v) => {
            parse_bound(
                env::BATCH_MAX_MIB,
                &v,
                BatchBounds::LARGEST_MAX_MIB,
                "MiB of NDJSON (before compression) a batch writes",
            )? * 1024
                * 1024
        }
    };
    Ok(BatchBounds {
        max_events,
        max_bytes,
    })
}

pub(super) fn parse_bound(
    name: &'static str,
    value: &str,
    largest: u64,
    what: &str,
) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if (1..=largest).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            name,
            value: value.to_string(),
            reason: format!(
                "a whole number from 1 to {largest}: the {what}; larger batches would not fit the memory a run is given"
            ),
        }),
    }
}

pub(super) fn parse_budget(value: &str) -> Result<Duration, ConfigError> {
    match value.parse::<u64>() {
        Ok(s) if (10..=MAX_RUN_BUDGET.as_secs()).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(ConfigError::Invalid {
            name: env::RUN_BUDGET_SECONDS,
            value: value.to_string(),
            reason: "whole seconds, 10 to 86400".into(),
        }),
    }
}

/// A request timeout: 100 ms to 5 minutes, as a duration (`30s`, `500ms`).
pub(super) fn parse_timeout(name: &'static str, value: &str) -> Result<Duration, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name,
        value: value.to_string(),
        reason,
    };
    let d = humantime::parse_duration(value)
        .map_err(|e| invalid(format!("{e}; use a duration such as 30s or 500ms")))?;
    if d < Duration::from_millis(100) || d > Duration::from_secs(300) {
        return Err(invalid("between 100ms and 5m".into()));
    }
    Ok(d)
}

pub(super) fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name,
            value: value.to_string(),
            reason: "use true or false".into(),
        }),
    }
}
