//! Object keys. Derived only from the batch's identity (generation, sequence) and the event-time
//! hour, never from the clock, so redoing a batch writes the very same keys.
use chrono::{DateTime, Datelike, Timelike, Utc};

/// Panther's table name for `Atlassian.Audit`.
pub const TABLE: &str = "atlassian_audit";

/// `logs/atlassian_audit/year=YYYY/month=MM/day=DD/hour=HH/YYYYMMDDTHH0000Z-<gen>-<seq>.json.gz`
/// for events whose event time falls in the hour starting at `hour_start_unix` (seconds).
pub fn logs_key(hour_start_unix: i64, generation: &str, sequence: u64) -> String {
    let t = DateTime::from_timestamp(hour_start_unix, 0).unwrap_or(DateTime::UNIX_EPOCH);
    let (y, mo, d, h) = (t.year(), t.month(), t.day(), t.hour());
    format!(
        "logs/{TABLE}/year={y:04}/month={mo:02}/day={d:02}/hour={h:02}/{y:04}{mo:02}{d:02}T{h:02}0000Z-{}-{sequence:010}.json.gz",
        generation_tag(generation)
    )
}

/// `alerts/atlassian_audit/year=YYYY/month=MM/day=DD/hour=HH/YYYYMMDDTHH0000Z-<gen>-<seq>.json.gz`:
/// the alerts of one batch whose first event falls in the hour starting at `hour_start_unix`.
pub fn alerts_key(hour_start_unix: i64, generation: &str, sequence: u64) -> String {
    let logs = logs_key(hour_start_unix, generation, sequence);
    format!("alerts/{}", logs.strip_prefix("logs/").unwrap_or(&logs))
}

/// `quarantine/atlassian_audit/<gen>-<seq>.json.gz`: the invalid events of one batch.
pub fn quarantine_key(generation: &str, sequence: u64) -> String {
    format!(
        "quarantine/{TABLE}/{}-{sequence:010}.json.gz",
        generation_tag(generation)
    )
}

/// `staging/atlassian_audit/<gen>-<seq>.json.gz`: the late events of one committed batch
/// (event-hours well before the batch's newest), held outside `logs/` until a later batch of
/// the same run carries them into its hour objects. Internal: gzip, each line the event-hour
/// (unix seconds), a tab, and the event's line as `logs/` holds it.
pub fn staging_key(generation: &str, sequence: u64) -> String {
    format!(
        "staging/{TABLE}/{}-{sequence:010}.json.gz",
        generation_tag(generation)
    )
}

/// The part of a generation the keys carry: its first 12 letters and digits.
pub fn generation_tag(generation: &str) -> String {
    generation
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(12)
        .collect()
}

/// The start (unix seconds) of the UTC hour holding `t`.
pub fn hour_start(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600) * 3600
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::utc;

    #[test]
    fn keys_are_hive_partitioned_by_event_hour() {
        let hour = hour_start(utc("2021-04-03T06:12:11.117451Z"));
        assert_eq!(
            logs_key(hour, "3f2a9c1b-77aa-4d00-9e11-0123456789ab", 42),
            "logs/atlassian_audit/year=2021/month=04/day=03/hour=06/20210403T060000Z-3f2a9c1b77aa-0000000042.json.gz"
        );
        assert_eq!(
            alerts_key(hour, "3f2a9c1b-77aa-4d00-9e11-0123456789ab", 42),
            "alerts/atlassian_audit/year=2021/month=04/day=03/hour=06/20210403T060000Z-3f2a9c1b77aa-0000000042.json.gz"
        );
        assert_eq!(
            quarantine_key("3f2a9c1b-77aa-4d00-9e11-0123456789ab", 7),
            "quarantine/atlassian_audit/3f2a9c1b77aa-0000000007.json.gz"
        );
        assert_eq!(
            staging_key("3f2a9c1b-77aa-4d00-9e11-0123456789ab", 7),
            "staging/atlassian_audit/3f2a9c1b77aa-0000000007.json.gz"
        );
    }

    #[test]
    fn hours_before_1970_do_not_break_the_layout() {
        let hour = hour_start(utc("1969-12-31T23:30:00Z"));
        assert_eq!(hour, -3600);
        assert!(logs_key(hour, "g", 1).contains("year=1969/month=12/day=31/hour=23/"));
    }
}
