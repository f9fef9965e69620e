//! How long a 429 asks us to wait: `X-RateLimit-Reset` (an ISO-8601 UTC time, seen at minute
//! precision) or `Retry-After` (seconds), whichever is present and sane.
use chrono::{DateTime, NaiveDateTime, Utc};
use std::time::Duration;

/// Longest wait a header can ask for before we call it absurd and fall back to backoff.
const MAX_SANE_WAIT: Duration = Duration::from_secs(3600);

/// Parses `2023-10-11T18:22Z`, `2023-10-11T18:22:05Z`, `2023-10-11T18:22:05.123Z` or with an offset.
pub fn parse_rate_limit_reset(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.to_utc());
    }
    let minute = value
        .strip_suffix('Z')
        .or_else(|| value.strip_suffix('z'))?;
    NaiveDateTime::parse_from_str(minute, "%Y-%m-%dT%H:%M")
        .ok()
        .map(|t| t.and_utc())
}

/// The wait a 429 asks for, or `None` when neither header gives a usable one (then back off).
/// A reset in the past means "now"; one more than an hour away is treated as garbage.
pub fn rate_limit_wait(
    reset: Option<&str>,
    retry_after: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    // A reset in the past: a negative difference, which `to_std` refuses.
    let from_reset = reset
        .and_then(parse_rate_limit_reset)
        .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO));
    let from_retry_after = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    from_reset
        .into_iter()
        .chain(from_retry_after)
        .filter(|d| *d <= MAX_SANE_WAIT)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::utc;

    #[test]
    fn minute_and_second_precision_resets_parse() {
        assert_eq!(
            parse_rate_limit_reset("2023-10-11T18:22Z"),
            Some(utc("2023-10-11T18:22:00Z"))
        );
        assert_eq!(
            parse_rate_limit_reset("2023-10-11T18:22:05Z"),
            Some(utc("2023-10-11T18:22:05Z"))
        );
        assert_eq!(
            parse_rate_limit_reset("2023-10-11T20:22:05.5+02:00"),
            Some(utc("2023-10-11T18:22:05.5Z"))
        );
        assert_eq!(parse_rate_limit_reset("soon"), None);
        assert_eq!(parse_rate_limit_reset("1697048520"), None);
    }

    #[test]
    fn wait_comes_from_the_reset_or_retry_after() {
        let now = utc("2023-10-11T18:21:30Z");
        assert_eq!(
            rate_limit_wait(Some("2023-10-11T18:22Z"), None, now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            rate_limit_wait(None, Some("7"), now),
            Some(Duration::from_secs(7))
        );
        // Both: the longer one, so neither limit is violated.
        assert_eq!(
            rate_limit_wait(Some("2023-10-11T18:22Z"), Some("40"), now),
            Some(Duration::from_secs(40))
        );
        // A reset in the past: go now.
        assert_eq!(
            rate_limit_wait(Some("2023-10-11T18:20Z"), None, now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn garbage_and_absurd_values_fall_back_to_backoff() {
        let now = utc("2023-10-11T18:21:30Z");
        assert_eq!(rate_limit_wait(Some("garbage"), Some("-5"), now), None);
        assert_eq!(rate_limit_wait(Some("2024-10-11T18:22Z"), None, now), None);
        assert_eq!(rate_limit_wait(None, Some("99999999999"), now), None);
        assert_eq!(rate_limit_wait(None, None, now), None);
    }
}
