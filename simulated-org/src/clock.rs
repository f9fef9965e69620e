//! Wall-clock helpers and the timestamp layouts the simulated API writes.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Latest instant the stamps support (9999-12-31T23:59:59.999Z): values are clamped into
/// `0..=MAX_MS` so formatting can never fail.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Milliseconds since the UNIX epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn clamp_ms(ms: i64) -> i64 {
    ms.clamp(0, MAX_MS)
}

/// `ms` (clamped) plus `extra_micros` (0..1000) as a UTC date-time.
pub(crate) fn datetime(ms: i64, extra_micros: u32) -> DateTime<Utc> {
    let ms = clamp_ms(ms);
    let nanos = (ms.rem_euclid(1000) as u32) * 1_000_000 + (extra_micros % 1000) * 1000;
    // Cannot fail after clamping; the epoch is a harmless fallback all the same.
    DateTime::from_timestamp(ms.div_euclid(1000), nanos).unwrap_or(DateTime::UNIX_EPOCH)
}

fn date_hour_minute(dt: DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute()
    )
}

/// Second precision without fraction: `2026-11-25T07:31:05Z`.
pub(crate) fn format_seconds(ms: i64) -> String {
    let dt = datetime(ms, 0);
    format!("{}:{:02}Z", date_hour_minute(dt), dt.second())
}

/// Millisecond precision, the layout of `attributes.processedAt`: `2026-11-25T07:30:01.123Z`.
pub fn format_millis(ms: i64) -> String {
    let dt = datetime(ms, 0);
    format!(
        "{}:{:02}.{:03}Z",
        date_hour_minute(dt),
        dt.second(),
        dt.timestamp_subsec_millis()
    )
}

/// Microsecond precision: `2021-04-03T06:12:11.117451Z`.
pub(crate) fn format_micros(ms: i64, extra_micros: u32) -> String {
    let dt = datetime(ms, extra_micros);
    format!(
        "{}:{:02}.{:06}Z",
        date_hour_minute(dt),
        dt.second(),
        dt.timestamp_subsec_micros()
    )
}

/// Minute precision, as Atlassian writes `X-RateLimit-Reset`: `2023-10-11T18:22Z`.
pub(crate) fn format_minute(ms: i64) -> String {
    format!("{}Z", date_hour_minute(datetime(ms, 0)))
}

/// The first minute boundary strictly after `ms`.
pub(crate) fn next_minute_boundary(ms: i64) -> i64 {
    (ms.div_euclid(60_000) + 1) * 60_000
}

/// Parses an RFC 3339 stamp (0–9 fractional digits) to epoch milliseconds.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    Some(DateTime::parse_from_rfc3339(s).ok()?.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        // 2023-10-11T18:21:30.045Z
        let ms = 1_697_048_490_045;
        assert_eq!(format_millis(ms), "2023-10-11T18:21:30.045Z");
        assert_eq!(format_seconds(ms), "2023-10-11T18:21:30Z");
        assert_eq!(format_minute(ms), "2023-10-11T18:21Z");
        assert_eq!(format_minute(next_minute_boundary(ms)), "2023-10-11T18:22Z");
        assert_eq!(format_micros(ms, 7), "2023-10-11T18:21:30.045007Z");
        assert_eq!(next_minute_boundary(1_697_048_460_000), 1_697_048_520_000);
        assert_eq!(parse_rfc3339_ms("2023-10-11T18:21:30.045Z"), Some(ms));
        assert_eq!(parse_rfc3339_ms("2023-10-11T18:21:30Z"), Some(ms - 45));
        assert_eq!(parse_rfc3339_ms("2023-10-11T18:21:30.045123Z"), Some(ms));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
        assert_eq!(format_millis(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
    }
}
