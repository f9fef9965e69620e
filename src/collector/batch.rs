//! Turns one page of raw events into the objects of one batch: valid events gzip-NDJSON per
//! event-time hour, invalid ones into a quarantine object, repeats dropped.
use crate::checkpoint::RecentEvents;
use crate::normalize::{Normalizer, Outcome};
use crate::sink::EncodedObject;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use time::OffsetDateTime;

pub struct Batch {
    /// Keyed by the start of the event-time hour (unix seconds).
    pub hours: BTreeMap<i64, EncodedObject>,
    pub quarantine: Option<EncodedObject>,
    /// Every event written, as (dedupe key, processedAt ms if known), in page order.
    pub written: Vec<(String, Option<i64>)>,
    pub valid: u64,
    pub quarantined: u64,
    pub duplicates: u64,
    pub newest_processed_at_ms: Option<i64>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.hours.is_empty() && self.quarantine.is_none()
    }
}

struct ObjectWriter {
    gz: GzEncoder<Vec<u8>>,
    count: usize,
}

impl ObjectWriter {
    fn new() -> Self {
        ObjectWriter {
            gz: GzEncoder::new(Vec::new(), Compression::default()),
            count: 0,
        }
    }

    fn push_line(&mut self, line: &str) -> std::io::Result<()> {
        self.gz.write_all(line.as_bytes())?;
        self.gz.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }

    fn finish(self) -> std::io::Result<EncodedObject> {
        Ok(EncodedObject {
            body: self.gz.finish()?.into(),
            event_count: self.count,
        })
    }
}

fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A processedAt further ahead of the collector's clock than this is not believed: the time
/// checkpoint would jump to it, and a later read by time (no cursor) would ask for events
/// processed after it, skipping everything before — silently, for as long as it lies ahead.
pub const MAX_PROCESSED_AT_AHEAD: time::Duration = time::Duration::hours(1);

/// Dedupe keys are event ids, which the API may make arbitrarily long: logs quote the start.
const MAX_LOGGED_KEY_CHARS: usize = 100;

/// A dedupe key as logs show it: at most [`MAX_LOGGED_KEY_CHARS`] characters, control
/// characters and line separators escaped so an id cannot forge or break log lines.
fn key_for_log(key: &str) -> String {
    let (shown, cut) = match key.char_indices().nth(MAX_LOGGED_KEY_CHARS) {
        Some((at, _)) => (&key[..at], true),
        None => (key, false),
    };
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    if cut {
        out.push_str(&format!("… ({} bytes)", key.len()));
    }
    out
}

/// Builds the batch for `events`, skipping any whose dedupe key is in `recent` or repeats in the page.
pub fn build_batch(
    normalizer: &Normalizer,
    events: &[Box<RawValue>],
    recent: &RecentEvents,
    parse_time: OffsetDateTime,
) -> std::io::Result<Batch> {
    build_batch_after(normalizer, events, recent, None, parse_time)
}

/// As [`build_batch`], and also skips events processed before `written_before_ms`: the
/// checkpoint's window start, before which every event was written already (the stream is in
/// processedAt order). A page that reaches back past the window (an API repeating events from
/// before the position it was asked for) then writes nothing twice.
pub fn build_batch_after(
    normalizer: &Normalizer,
    events: &[Box<RawValue>],
    recent: &RecentEvents,
    written_before_ms: Option<i64>,
    parse_time: OffsetDateTime,
) -> std::io::Result<Batch> {
    let mut seen: HashSet<String> = HashSet::with_capacity(events.len());
    let mut hours: BTreeMap<i64, ObjectWriter> = BTreeMap::new();
    let mut quarantine: Option<ObjectWriter> = None;
    let newest_believable_ms = to_ms(parse_time.saturating_add(MAX_PROCESSED_AT_AHEAD));
    let mut batch = Batch {
        hours: BTreeMap::new(),
        quarantine: None,
        written: Vec::with_capacity(events.len()),
        valid: 0,
        quarantined: 0,
        duplicates: 0,
        newest_processed_at_ms: None,
    };
    for raw in events {
        let outcome = normalizer.normalize(raw, parse_time);
        let (key, processed_at) = match &outcome {
            Outcome::Valid(e) => (&e.dedupe_key, e.processed_at),
            Outcome::Quarantined(q) => (&q.dedupe_key, q.processed_at),
        };
        let before_window = matches!(
            (processed_at.map(to_ms), written_before_ms),
            (Some(ms), Some(floor)) if ms < floor
        );
        if before_window || recent.contains(key) || !seen.insert(key.clone()) {
            batch.duplicates += 1;
            continue;
        }
        let processed_ms = match processed_at.map(to_ms) {
            Some(ms) if ms > newest_believable_ms => {
                tracing::warn!(
                    key = %key_for_log(key),
                    processed_at_ms = ms,
                    "the event's processedAt lies ahead of this machine's clock; it does not move the checkpoint"
                );
                None
            }
            other => other,
        };
        if let Some(ms) = processed_ms {
            batch.newest_processed_at_ms =
                Some(batch.newest_processed_at_ms.map_or(ms, |n| n.max(ms)));
        }
        batch.written.push((key.clone(), processed_ms));
        match outcome {
            Outcome::Valid(e) => {
                let hour = crate::sink::hour_start(e.event_time);
                hours
                    .entry(hour)
                    .or_insert_with(ObjectWriter::new)
                    .push_line(&e.line)?;
                batch.valid += 1;
            }
            Outcome::Quarantined(q) => {
                tracing::warn!(reason = %q.reason, key = %key_for_log(&q.dedupe_key), "event quarantined");
                quarantine
                    .get_or_insert_with(ObjectWriter::new)
                    .push_line(&q.line)?;
                batch.quarantined += 1;
            }
        }
    }
    for (hour, writer) in hours {
        batch.hours.insert(hour, writer.finish()?);
    }
    batch.quarantine = quarantine.map(ObjectWriter::finish).transpose()?;
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::SourceInfo;
    use time::macros::datetime;

    fn event(id: &str, processed_at: &str) -> Box<RawValue> {
        RawValue::from_string(format!(
            r#"{{"id":"{id}","type":"events","attributes":{{"time":"2024-05-06T07:00:00Z","processedAt":"{processed_at}"}},"links":{{}}}}"#
        ))
        .unwrap()
    }

    /// A processedAt far ahead (a broken or hostile API) must not become the time checkpoint:
    /// a later read by time would start after it and skip every real event until then.
    #[test]
    fn a_processed_at_ahead_of_the_clock_does_not_move_the_checkpoint() {
        let normalizer = Normalizer::new(SourceInfo {
            source_id: "s".into(),
            source_label: "l".into(),
        });
        let now = datetime!(2024-05-06 08:00 UTC);
        let events = vec![
            event("a", "2024-05-06T07:59:00Z"),
            event("b", "9999-12-31T23:59:59Z"),
            event("c", "2024-05-06T08:59:59Z"),
            event("d", "2024-05-06T09:00:01Z"),
        ];
        let batch = build_batch(&normalizer, &events, &RecentEvents::default(), now).unwrap();
        assert_eq!(batch.valid, 4, "the events themselves are written");
        assert_eq!(
            batch.written,
            vec![
                (
                    "a".to_string(),
                    Some(to_ms(datetime!(2024-05-06 07:59 UTC)))
                ),
                ("b".to_string(), None),
                (
                    "c".to_string(),
                    Some(to_ms(datetime!(2024-05-06 08:59:59 UTC)))
                ),
                ("d".to_string(), None),
            ]
        );
        assert_eq!(
            batch.newest_processed_at_ms,
            Some(to_ms(datetime!(2024-05-06 08:59:59 UTC)))
        );
    }

    #[test]
    fn logged_keys_are_clipped() {
        assert_eq!(key_for_log("abc"), "abc");
        let long = "é".repeat(5000);
        let shown = key_for_log(&long);
        assert!(shown.starts_with(&"é".repeat(100)), "{shown}");
        assert!(shown.ends_with("… (10000 bytes)"), "{shown}");
        assert_eq!(
            key_for_log("a\nb\u{1b}[2J\u{85}\u{2028}"),
            r"a\u{a}b\u{1b}[2J\u{85}\u{2028}"
        );
    }
}
