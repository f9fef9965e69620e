//! Turns one page of raw events into the objects of one batch: valid events gzip-NDJSON per
//! event-time hour, invalid ones into a quarantine object, repeats dropped.
use crate::checkpoint::{BatchObjects, BatchWritten, RecentEvents};
use crate::normalize::{Normalizer, Outcome, ParseTime};
use crate::sink::EncodedObject;
use chrono::{DateTime, TimeDelta, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;

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

    /// The objects this batch writes.
    pub fn objects(&self) -> BatchObjects {
        BatchObjects {
            hours: self.hours.keys().copied().collect(),
            quarantine: self.quarantine.is_some(),
        }
    }

    /// What committing this batch changes in the checkpoint.
    pub fn written(&self) -> BatchWritten<'_> {
        BatchWritten {
            events: self.valid + self.quarantined,
            newest_processed_at_ms: self.newest_processed_at_ms,
            written: &self.written,
        }
    }
}

/// gzip level of the objects. zlib-rs (the flate2 backend, Cargo.toml) at 6 was the best
/// trade-off measured (benches/PER_EVENT.md): 2.3x less CPU than miniz_oxide at 6 for 1.8% more
/// bytes; levels 1 and 3 save 2.1 and 0.9 ms a page but write 81% and 23% more.
const GZIP_LEVEL: u32 = 6;

/// One object's lines, compressed when the batch is done: one object after another, each
/// through a small staging buffer, so one compressor at a time is in cache (a live compressor
/// per object cost 0.6 ms more on a 500-event page, benches/PER_EVENT.md) and it gets few large
/// writes. Lines held by all objects are capped at [`MAX_HELD_BYTES`]: beyond that, the object
/// holding most is compressed so far (a page can be 64 MB).
struct ObjectWriter {
    gz: Option<GzEncoder<Vec<u8>>>,
    lines: Vec<String>,
    held: usize,
    count: usize,
}

/// Lines are gathered into about this much before each write to the compressor.
const STAGING_BYTES: usize = 64 * 1024;
/// Most bytes of lines a batch holds before compressing some.
const MAX_HELD_BYTES: usize = 4 * 1024 * 1024;

impl ObjectWriter {
    fn new() -> Self {
        ObjectWriter {
            gz: None,
            lines: Vec::new(),
            held: 0,
            count: 0,
        }
    }

    fn push_line(&mut self, line: String) {
        self.held += line.len() + 1;
        self.count += 1;
        self.lines.push(line);
    }

    /// Compresses the lines held so far; returns how many bytes that freed.
    fn compress_held(&mut self, staging: &mut Vec<u8>) -> std::io::Result<usize> {
        let held = self.held;
        let gz = self.gz.get_or_insert_with(|| {
            // Compressed text is a few percent of the NDJSON (about 9% for real events).
            GzEncoder::new(
                Vec::with_capacity(held / 8 + 64),
                Compression::new(GZIP_LEVEL),
            )
        });
        staging.clear();
        for line in self.lines.drain(..) {
            staging.extend_from_slice(line.as_bytes());
            staging.push(b'\n');
            if staging.len() >= STAGING_BYTES {
                gz.write_all(staging)?;
                staging.clear();
            }
        }
        gz.write_all(staging)?;
        self.held = 0;
        Ok(held)
    }

    fn finish(mut self, staging: &mut Vec<u8>) -> std::io::Result<EncodedObject> {
        self.compress_held(staging)?;
        let gz = self.gz.expect("compress_held made the compressor");
        Ok(EncodedObject {
            body: gz.finish()?.into(),
            event_count: self.count,
        })
    }
}

/// Unix milliseconds, truncated toward zero (before 1970 too, as always).
fn to_ms(t: DateTime<Utc>) -> i64 {
    let (secs, nanos) = (t.timestamp(), t.timestamp_subsec_nanos());
    let ms = secs * 1000 + i64::from(nanos / 1_000_000);
    if secs < 0 && nanos % 1_000_000 != 0 {
        ms + 1
    } else {
        ms
    }
}

/// A processedAt further ahead of the collector's clock than this is not believed: the time
/// checkpoint would jump to it, and a later read by time (no cursor) would ask for events
/// processed after it, skipping everything before — silently, for as long as it lies ahead.
pub const MAX_PROCESSED_AT_AHEAD: TimeDelta = TimeDelta::hours(1);

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
    parse_time: DateTime<Utc>,
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
    parse_time: DateTime<Utc>,
) -> std::io::Result<Batch> {
    let page_parse_time = ParseTime::new(parse_time);
    let mut builder = Builder::new(events.len(), recent, written_before_ms, parse_time);
    for raw in events {
        builder.add(normalizer.normalize_at(raw, &page_parse_time))?;
    }
    builder.finish()
}

/// A batch as it is built, event by event.
struct Builder<'r> {
    recent: &'r RecentEvents,
    written_before_ms: Option<i64>,
    newest_believable_ms: i64,
    seen: HashSet<String>,
    hours: BTreeMap<i64, ObjectWriter>,
    quarantine: Option<ObjectWriter>,
    staging: Vec<u8>,
    /// Bytes of lines held, not yet compressed, by all objects.
    held: usize,
    batch: Batch,
}

impl<'r> Builder<'r> {
    fn new(
        events: usize,
        recent: &'r RecentEvents,
        written_before_ms: Option<i64>,
        parse_time: DateTime<Utc>,
    ) -> Self {
        let newest_believable = parse_time
            .checked_add_signed(MAX_PROCESSED_AT_AHEAD)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Builder {
            recent,
            written_before_ms,
            newest_believable_ms: to_ms(newest_believable),
            seen: HashSet::with_capacity(events),
            hours: BTreeMap::new(),
            quarantine: None,
            staging: Vec::with_capacity(STAGING_BYTES),
            held: 0,
            batch: Batch {
                hours: BTreeMap::new(),
                quarantine: None,
                written: Vec::with_capacity(events),
                valid: 0,
                quarantined: 0,
                duplicates: 0,
                newest_processed_at_ms: None,
            },
        }
    }

    fn add(&mut self, outcome: Outcome) -> std::io::Result<()> {
        let (key, processed_at) = match &outcome {
            Outcome::Valid(e) => (&e.dedupe_key, e.processed_at),
            Outcome::Quarantined(q) => (&q.dedupe_key, q.processed_at),
        };
        let processed_ms = processed_at.map(to_ms);
        if self.is_repeat(key, processed_ms) {
            self.batch.duplicates += 1;
            return Ok(());
        }
        let believed_ms = self.believed(key, processed_ms);
        if let Some(ms) = believed_ms {
            let newest = &mut self.batch.newest_processed_at_ms;
            *newest = Some(newest.map_or(ms, |n| n.max(ms)));
        }
        self.batch.written.push((key.clone(), believed_ms));
        self.held += self.push(outcome);
        self.bound_memory()
    }

    /// Written already: before the window, among the recent ids, or earlier in this page.
    fn is_repeat(&mut self, key: &str, processed_ms: Option<i64>) -> bool {
        let before_window = matches!(
            (processed_ms, self.written_before_ms),
            (Some(ms), Some(floor)) if ms < floor
        );
        before_window || self.recent.contains(key) || !self.seen.insert(key.to_owned())
    }

    /// The processing time, unless it lies too far ahead of this machine's clock to believe.
    fn believed(&self, key: &str, processed_ms: Option<i64>) -> Option<i64> {
        match processed_ms {
            Some(ms) if ms > self.newest_believable_ms => {
                tracing::warn!(
                    key = %key_for_log(key),
                    processed_at_ms = ms,
                    "the event's processedAt lies ahead of this machine's clock; it does not move the checkpoint"
                );
                None
            }
            other => other,
        }
    }

    /// Adds the event's line to its object; returns the bytes it holds.
    fn push(&mut self, outcome: Outcome) -> usize {
        match outcome {
            Outcome::Valid(e) => {
                let bytes = e.line.len() + 1;
                let hour = crate::sink::hour_start(e.event_time);
                self.hours
                    .entry(hour)
                    .or_insert_with(ObjectWriter::new)
                    .push_line(e.line);
                self.batch.valid += 1;
                bytes
            }
            Outcome::Quarantined(q) => {
                let bytes = q.line.len() + 1;
                tracing::warn!(reason = %q.reason, key = %key_for_log(&q.dedupe_key), "event quarantined");
                self.quarantine
                    .get_or_insert_with(ObjectWriter::new)
                    .push_line(q.line);
                self.batch.quarantined += 1;
                bytes
            }
        }
    }

    /// Past [`MAX_HELD_BYTES`] of lines, the object holding most is compressed so far.
    fn bound_memory(&mut self) -> std::io::Result<()> {
        if self.held > MAX_HELD_BYTES {
            let most = self
                .hours
                .values_mut()
                .chain(self.quarantine.as_mut())
                .max_by_key(|w| w.held)
                .expect("a line is held");
            self.held -= most.compress_held(&mut self.staging)?;
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<Batch> {
        for (hour, writer) in std::mem::take(&mut self.hours) {
            self.batch
                .hours
                .insert(hour, writer.finish(&mut self.staging)?);
        }
        self.batch.quarantine = self
            .quarantine
            .take()
            .map(|writer| writer.finish(&mut self.staging))
            .transpose()?;
        Ok(self.batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::SourceInfo;

    /// A UTC time written in RFC 3339, read by chrono (not by the code under test).
    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a valid test time")
            .to_utc()
    }

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
        let now = utc("2024-05-06T08:00:00Z");
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
                ("a".to_string(), Some(to_ms(utc("2024-05-06T07:59:00Z")))),
                ("b".to_string(), None),
                ("c".to_string(), Some(to_ms(utc("2024-05-06T08:59:59Z")))),
                ("d".to_string(), None),
            ]
        );
        assert_eq!(
            batch.newest_processed_at_ms,
            Some(to_ms(utc("2024-05-06T08:59:59Z")))
        );
    }

    /// Each object is the NDJSON of its events' lines in page order, whether the lines were all
    /// held to the end (a page of ordinary size) or some objects were compressed early to cap
    /// what is held (here 4.9 MB of lines across two hours, and the quarantine).
    #[test]
    fn objects_are_the_lines_in_page_order_however_they_were_compressed() {
        use flate2::read::GzDecoder;
        use std::io::Read;

        let normalizer = Normalizer::new(SourceInfo {
            source_id: "s".into(),
            source_label: "l".into(),
        });
        let now = utc("2024-05-06T12:00:00Z");
        let event = |i: usize, hour: u8, pad: usize| {
            RawValue::from_string(format!(
                r#"{{"id":"e{i}","type":"events","attributes":{{"time":"2024-05-06T{hour:02}:00:0{}Z"}},"links":{{}},"pad":"{}"}}"#,
                i % 10,
                "x".repeat(pad)
            ))
            .unwrap()
        };
        let quarantined = |i: usize| {
            RawValue::from_string(format!(
                r#"{{"id":"q{i}","pad":"{}"}}"#,
                "q".repeat(i * 1000)
            ))
            .unwrap()
        };
        for pad in [100, 700_000] {
            let events: Vec<Box<RawValue>> = (0..9)
                .map(|i| {
                    if i % 4 == 3 {
                        quarantined(i)
                    } else {
                        event(i, 7 + (i % 2) as u8, pad)
                    }
                })
                .collect();
            let batch = build_batch(&normalizer, &events, &RecentEvents::default(), now).unwrap();
            let mut want: BTreeMap<Option<i64>, String> = BTreeMap::new();
            for raw in &events {
                let (hour, line) = match normalizer.normalize(raw, now) {
                    Outcome::Valid(e) => (Some(crate::sink::hour_start(e.event_time)), e.line),
                    Outcome::Quarantined(q) => (None, q.line),
                };
                let text = want.entry(hour).or_default();
                text.push_str(&line);
                text.push('\n');
            }
            let gunzip = |o: &EncodedObject| {
                let mut text = String::new();
                GzDecoder::new(&o.body[..])
                    .read_to_string(&mut text)
                    .unwrap();
                text
            };
            let mut got: BTreeMap<Option<i64>, String> = batch
                .hours
                .iter()
                .map(|(h, o)| (Some(*h), gunzip(o)))
                .collect();
            got.extend(batch.quarantine.as_ref().map(|o| (None, gunzip(o))));
            assert_eq!(got.len(), 3);
            assert!(got == want, "pad {pad}: the objects differ from the lines");
            let counts: Vec<usize> = batch.hours.values().map(|o| o.event_count).collect();
            assert_eq!(counts, vec![5, 2]);
            assert_eq!(batch.quarantine.map(|q| q.event_count), Some(2));
        }
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
