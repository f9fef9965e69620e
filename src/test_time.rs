//! Times for the unit tests, written in RFC 3339 and read by chrono (not by the code under test,
//! which may have its own parser), so that an expected value never depends on what it checks.
use chrono::{DateTime, FixedOffset, Utc};

/// `s` with the offset it is written with.
pub fn fixed(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("a valid test time")
}

/// `s`, in UTC.
pub fn utc(s: &str) -> DateTime<Utc> {
    fixed(s).to_utc()
}
