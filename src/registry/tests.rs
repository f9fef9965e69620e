use super::source::{backfill_span_ms, rfc3339};
use super::*;

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_800_000_000_000;

#[test]
fn source_ids_are_short_and_plain() {
    let cases = [
        ("prod", true),
        ("acme-prod_2.eu", true),
        ("", false),
        ("a#b", false),
        ("a/b", false),
        ("a b", false),
        ("ünicode", false),
        (&"x".repeat(MAX_SOURCE_ID_LEN), true),
        (&"x".repeat(MAX_SOURCE_ID_LEN + 1), false),
    ];
    for (id, ok) in cases {
        assert_eq!(validate_source_id(id).is_ok(), ok, "{id:?}");
    }
}

#[test]
fn backfill_days_are_one_to_one_hundred_eighty() {
    for (days, ok) in [(0, false), (1, true), (30, true), (180, true), (181, false)] {
        assert_eq!(backfill_span_ms(days).is_ok(), ok, "{days}");
    }
}

#[test]
fn live_collection_begins_now_with_a_backfill_and_a_lookback_ago_without() {
    let with = RegisteredSource::new("p", "sec", "P", Some(30), 7 * DAY, NOW).unwrap();
    assert_eq!(with.live_start_ms, NOW);
    let b = with.running_backfill().unwrap();
    assert_eq!((b.from_ms, b.to_ms), (NOW - 30 * DAY, NOW));
    let without = RegisteredSource::new("p", "sec", "P", None, 7 * DAY, NOW).unwrap();
    assert_eq!(without.live_start_ms, NOW - 7 * DAY);
    assert!(without.backfill.is_none());
    assert!(RegisteredSource::new("p", " ", "P", None, DAY, NOW).is_err());
    assert!(RegisteredSource::new("p#1", "s", "P", None, DAY, NOW).is_err());
    assert!(RegisteredSource::new("p", "s", "P", Some(181), DAY, NOW).is_err());
}

#[test]
fn a_later_backfill_reaches_back_to_where_collection_already_is() {
    let source = RegisteredSource::new("p", "s", "P", None, 7 * DAY, NOW).unwrap();
    // (days asked, days after NOW it is asked) → Ok((from, to)) or refused
    type Span = Option<(i64, i64)>;
    let cases: [(u32, i64, Span); 4] = [
        (30, 0, Some((NOW - 30 * DAY, NOW - 7 * DAY))),
        (7, 0, None),
        (3, 0, None),
        (10, 5, None),
    ];
    for (days, later, want) in cases {
        let got = source.next_backfill(days, NOW + later * DAY).ok();
        assert_eq!(
            got.map(|b| (b.from_ms, b.to_ms)),
            want,
            "{days} days, {later} later"
        );
    }
    let mut running = RegisteredSource::new("p", "s", "P", Some(10), 7 * DAY, NOW).unwrap();
    assert!(matches!(
        running.next_backfill(30, NOW),
        Err(RegistryError::BackfillRunning { .. })
    ));
    running.backfill.as_mut().unwrap().finished_ms = Some(NOW + 1);
    let next = running.next_backfill(30, NOW + DAY).unwrap();
    assert_eq!((next.from_ms, next.to_ms), (NOW - 29 * DAY, NOW - 10 * DAY));
}

#[test]
fn progress_runs_from_the_backfill_start_to_its_end() {
    let b = Backfill {
        from_ms: 0,
        to_ms: 1_000,
        requested_ms: 1_000,
        finished_ms: None,
    };
    let cases = [
        (None, 0.0),
        (Some(0), 0.0),
        (Some(250), 25.0),
        (Some(5_000), 99.9),
    ];
    for (newest, percent) in cases {
        assert_eq!(b.percent_done(newest), percent, "{newest:?}");
    }
    let done = Backfill {
        finished_ms: Some(2_000),
        ..b
    };
    assert_eq!(done.percent_done(None), 100.0);
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
}
