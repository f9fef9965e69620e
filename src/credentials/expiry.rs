//! When the API key expires: the secret's optional `expires_at`. Atlassian keys expire one week
//! after creation by default and one year at most; admin.atlassian.com shows the date when the key
//! is created ("Expires on"), and the onboarding asks to copy it into the secret. From it `check`
//! says how long the key has left and every run emits `KeyDaysLeft`, which the key-expiry alarm
//! watches.
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// What `expires_at` may hold, for messages.
pub const EXPIRES_AT_FORMATS: &str =
    "YYYY-MM-DD as admin.atlassian.com shows it, or an RFC 3339 time such as 2027-01-15T00:00:00Z";

const SECONDS_PER_DAY: f64 = 86_400.0;

/// Days before expiry from which `check` says to rotate now: the key-expiry alarm's default
/// (`KeyExpiryAlarmDays` in template.yaml).
pub const KEY_EXPIRY_WARNING_DAYS: f64 = 14.0;

/// The instant the key stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyExpiry(DateTime<Utc>);

impl KeyExpiry {
    pub fn new(at: DateTime<Utc>) -> Self {
        KeyExpiry(at)
    }

    pub fn at(&self) -> DateTime<Utc> {
        self.0
    }

    /// Days (fractional) until the key expires; negative once it has.
    pub fn days_left(&self, now: DateTime<Utc>) -> f64 {
        (self.0 - now).num_milliseconds() as f64 / 1000.0 / SECONDS_PER_DAY
    }

    pub fn has_expired(&self, now: DateTime<Utc>) -> bool {
        self.0 <= now
    }

    /// The expiry as an operator reads it: the date alone when it is midnight UTC.
    pub fn date_shown(&self) -> String {
        if self.0.time() == NaiveTime::MIN {
            self.0.format("%Y-%m-%d").to_string()
        } else {
            self.0.format("%Y-%m-%d %H:%M UTC").to_string()
        }
    }

    /// How long is left ("in 43 days", "in 5 hours"), or how long ago it expired.
    pub fn time_left(&self, now: DateTime<Utc>) -> String {
        let seconds = (self.0 - now).num_seconds();
        let span = human_span(seconds.unsigned_abs());
        if seconds > 0 {
            format!("in {span}")
        } else {
            format!("{span} ago")
        }
    }
}

fn human_span(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match seconds {
        s if s >= 2 * 86_400 => plural(s / 86_400, "day"),
        s if s >= 2 * 3_600 => plural(s / 3_600, "hour"),
        s => plural((s / 60).max(1), "minute"),
    }
}

/// `YYYY-MM-DD` (taken as 00:00 UTC that day: the earliest reading of a date without a zone
/// that most operators mean) or an RFC 3339 time (any offset); surrounding blanks are ignored.
pub fn parse_expires_at(text: &str) -> Option<KeyExpiry> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(KeyExpiry(t.with_timezone(&Utc)));
    }
    // chrono's `%Y` takes signs and more than four digits: only the plain shape is a date here.
    let plain = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !plain {
        return None;
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(KeyExpiry(date.and_time(NaiveTime::MIN).and_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn days_left_count_down_and_go_negative_after_expiry() {
        let key = parse_expires_at("2027-01-15").unwrap();
        assert_eq!(key.days_left(at("2027-01-01T00:00:00Z")), 14.0);
        assert_eq!(key.days_left(at("2027-01-14T12:00:00Z")), 0.5);
        assert_eq!(key.days_left(at("2027-01-16T00:00:00Z")), -1.0);
        assert!(!key.has_expired(at("2027-01-14T23:59:59Z")));
        assert!(key.has_expired(at("2027-01-15T00:00:00Z")));
    }

    #[test]
    fn time_left_reads_like_a_person_would_say_it() {
        let key = parse_expires_at("2027-01-15").unwrap();
        assert_eq!(key.time_left(at("2026-12-03T10:00:00Z")), "in 42 days");
        assert_eq!(key.time_left(at("2027-01-13T00:00:00Z")), "in 2 days");
        assert_eq!(key.time_left(at("2027-01-13T00:00:01Z")), "in 47 hours");
        assert_eq!(key.time_left(at("2027-01-14T23:59:30Z")), "in 1 minute");
        assert_eq!(key.time_left(at("2027-01-18T01:00:00Z")), "3 days ago");
        assert_eq!(key.date_shown(), "2027-01-15");
        assert_eq!(
            parse_expires_at("2027-01-15T10:30:00Z")
                .unwrap()
                .date_shown(),
            "2027-01-15 10:30 UTC"
        );
    }

    #[test]
    fn only_a_date_or_an_rfc3339_time_is_an_expiry() {
        for good in [
            "2027-01-15",
            "2027-01-15T00:00:00Z",
            "2027-01-15T00:00:00.5-05:00",
        ] {
            assert!(parse_expires_at(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "2027-1-15",
            "+2027-01-15",
            "02027-01-15",
            "2027-13-01",
            "2027-02-29",
            "15.01.2027",
            "2027-01-15 10:00",
            "tomorrow",
            "2027-01-15T10:00:00",
        ] {
            assert!(parse_expires_at(bad).is_none(), "{bad}");
        }
        assert!(parse_expires_at("2028-02-29").is_some(), "a leap day");
    }
}
