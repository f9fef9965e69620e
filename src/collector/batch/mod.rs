//! Pages of raw events into the objects of one batch: valid events as gzip NDJSON, one object
//! per event-time hour, invalid ones into one quarantine object, repeats dropped. A batch grows
//! page by page until a bound ([`BatchBounds`]) and holds only compressed bytes, the lines staged
//! for compression (a few MB at most) and the page being added: never the pages.
mod bounds;
mod gzip_stream;
mod late;

pub use bounds::{BatchBounds, MAX_BATCH_HOURS, MAX_COMPRESSED_BYTES};

use super::detection::BatchDetection;
use crate::checkpoint::{key_hash, BatchObjects, BatchWritten, RecentEvents};
use crate::normalize::{Normalizer, Outcome, ParseTime};
use crate::registry::ProcessedWindow;
use crate::sink::EncodedObject;
use chrono::{DateTime, TimeDelta, Utc};
use gzip_stream::{Deflater, GzipStream};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashSet};

pub struct Batch {
    /// Keyed by the start of the event-time hour (unix seconds).
    pub hours: BTreeMap<i64, EncodedObject>,
    pub quarantine: Option<EncodedObject>,
    /// Its late events, staged for a later batch to carry ([`late`]); `None` once carried.
    pub staging: Option<EncodedObject>,
    /// Staged objects of earlier batches whose events its hour objects carry, and those events.
    pub carried: usize,
    pub carried_events: u64,
    /// The batch's alerts as NDJSON, keyed by the hour of their first event.
    pub alerts: BTreeMap<i64, EncodedObject>,
    /// Whether the alerts hold the summary of matches past the batch's cap of new alerts
    /// (`detect::OVER_CAP_RULE`): its id depends on exactly which events the batch holds.
    pub over_cap_summary: bool,
    /// Every event written, as (hash of its dedupe key, processedAt ms if believed), in stream
    /// order.
    pub written: Vec<(u64, Option<i64>)>,
    pub valid: u64,
    pub quarantined: u64,
    /// Events dropped as repeats: their id was written already.
    pub duplicates: u64,
    /// Events processed before the read's floor (a read by time's `from`, a read by cursor's
    /// window start): written by the runs before.
    pub before_window: u64,
    /// Events processed outside the task's [`ProcessedWindow`]: the other task of the source
    /// (its live collection, or its backfill) writes them.
    pub outside_window: u64,
    pub newest_processed_at_ms: Option<i64>,
    /// Events of the batch's last page, repeats included.
    pub last_page_events: usize,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.hours.is_empty()
            && self.quarantine.is_none()
            && self.staging.is_none()
            && self.alerts.is_empty()
    }

    /// The objects this batch writes.
    pub fn objects(&self) -> BatchObjects {
        BatchObjects {
            hours: self.hours.keys().copied().collect(),
            quarantine: self.quarantine.is_some(),
            staging: self.staging.is_some(),
            alert_hours: self.alerts.keys().copied().collect(),
            over_cap_summary: self.over_cap_summary,
        }
    }

    /// What committing this batch changes in the checkpoint.
    pub fn written(&self) -> BatchWritten<'_> {
        BatchWritten {
            events: self.valid + self.quarantined,
            newest_processed_at_ms: self.newest_processed_at_ms,
            written: &self.written,
            last_page_events: self.last_page_events,
            carried: self.carried,
            staging: self
                .staging
                .as_ref()
                .map(|o| (o.event_count as u64, o.body.len() as u64)),
        }
    }
}

/// gzip level of the objects. zlib-rs (the flate2 backend, Cargo.toml) at 6 was the best
/// trade-off measured (benches/PER_EVENT.md): 2.3x less CPU than miniz_oxide at 6 for 1.8% more
/// bytes; levels 1 and 3 save 2.1 and 0.9 ms a page but write 81% and 23% more.
const GZIP_LEVEL: u32 = 6;

/// An object's staged lines are compressed once they reach this much: segments this long
/// compress as well as one stream (deflate looks back 32 KB at most), and the compressor gets
/// few, large writes.
const SEGMENT_BYTES: usize = 256 * 1024;
/// Most bytes of lines all objects stage together; beyond it, the objects staging most are
/// compressed until half of it is left (a batch can span a thousand hours).
const MAX_STAGED_BYTES: usize = 4 * 1024 * 1024;

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

/// The batch of one page of `events`, skipping any whose dedupe key is in `recent` or repeats
/// in the page.
pub fn build_batch(
    normalizer: &Normalizer,
    events: &[Box<RawValue>],
    recent: &RecentEvents,
    parse_time: DateTime<Utc>,
) -> std::io::Result<Batch> {
    build_batch_after(normalizer, events, recent, None, parse_time)
}

/// As [`build_batch`], and also skips events processed before `written_before_ms` (see
/// [`BatchBuilder::new`]).
pub fn build_batch_after(
    normalizer: &Normalizer,
    events: &[Box<RawValue>],
    recent: &RecentEvents,
    written_before_ms: Option<i64>,
    parse_time: DateTime<Utc>,
) -> std::io::Result<Batch> {
    let mut builder = BatchBuilder::new(written_before_ms);
    builder.add_page(normalizer, events, recent, parse_time)?;
    builder.finish()
}

/// What the objects of a batch being built hold.
#[derive(Default)]
struct Sizes {
    /// Bytes of lines staged, not yet compressed, by all objects.
    staged: usize,
    /// Bytes compressed so far, by all objects.
    compressed: usize,
    /// Bytes of NDJSON (lines and newlines) the batch's objects hold, compressed or not.
    ndjson: u64,
}

/// A batch as it is built, page by page.
pub struct BatchBuilder {
    written_before_ms: Option<i64>,
    window: ProcessedWindow,
    /// An event processed at or after the window's end was read.
    passed_window_end: bool,
    newest_believable_ms: i64,
    /// Dedupe-key hashes of the events of this batch (the same 64-bit hash `recent` keeps).
    seen: HashSet<u64>,
    hours: BTreeMap<i64, GzipStream>,
    quarantine: Option<GzipStream>,
    /// Late events ([`late`]), and the newest event-hour they are judged against.
    staging: Option<GzipStream>,
    newest_hour: Option<i64>,
    deflater: Deflater,
    sizes: Sizes,
    /// Events of the pages added, repeats included, and the events and bytes of the last page.
    events_read: u32,
    pages: u32,
    last_page: (u32, u64),
    /// The detect stage, fed each written event's line.
    detection: Option<BatchDetection>,
    batch: Batch,
}

impl BatchBuilder {
    /// An empty batch. Events processed before `written_before_ms` are skipped: it is the
    /// `from` of a read by time, or the checkpoint's window start for a read by cursor, before
    /// which every event was written already (the stream is in processedAt order), so a page
    /// that reaches back past it (an API repeating events from before the position it was
    /// asked for) writes nothing twice; at and after it, repeats are dropped by id. `None`
    /// (nothing written yet) skips nothing.
    pub fn new(written_before_ms: Option<i64>) -> Self {
        BatchBuilder {
            written_before_ms,
            window: ProcessedWindow::ALL,
            passed_window_end: false,
            newest_believable_ms: i64::MAX,
            seen: HashSet::new(),
            hours: BTreeMap::new(),
            quarantine: None,
            staging: None,
            newest_hour: None,
            deflater: Deflater::new(GZIP_LEVEL),
            sizes: Sizes::default(),
            events_read: 0,
            pages: 0,
            last_page: (0, 0),
            detection: None,
            batch: Batch {
                hours: BTreeMap::new(),
                quarantine: None,
                staging: None,
                carried: 0,
                carried_events: 0,
                alerts: BTreeMap::new(),
                over_cap_summary: false,
                written: Vec::new(),
                valid: 0,
                quarantined: 0,
                duplicates: 0,
                before_window: 0,
                outside_window: 0,
                newest_processed_at_ms: None,
                last_page_events: 0,
            },
        }
    }

    /// Keeps only the events processed inside `window`; the others are counted, not written.
    pub fn within(mut self, window: ProcessedWindow) -> Self {
        self.window = window;
        self
    }

    /// Feeds every valid event written (in stream order, repeats dropped before) to the
    /// detect stage, as it is added: no page of parsed events is ever held.
    pub(in crate::collector) fn detecting(mut self, detection: BatchDetection) -> Self {
        self.detection = Some(detection);
        self
    }

    /// The detect stage fed so far.
    pub(in crate::collector) fn take_detection(&mut self) -> Option<BatchDetection> {
        self.detection.take()
    }

    /// Adds a page read at `parse_time`; repeats of events in `recent` or earlier in the batch
    /// are dropped.
    pub fn add_page(
        &mut self,
        normalizer: &Normalizer,
        events: &[Box<RawValue>],
        recent: &RecentEvents,
        parse_time: DateTime<Utc>,
    ) -> std::io::Result<()> {
        let newest_believable = parse_time
            .checked_add_signed(MAX_PROCESSED_AT_AHEAD)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.newest_believable_ms = to_ms(newest_believable);
        let page_parse_time = ParseTime::new(parse_time);
        let bytes_before = self.sizes.ndjson;
        self.seen.reserve(events.len());
        self.batch.written.reserve(events.len());
        for raw in events {
            self.add(normalizer.normalize_at(raw, &page_parse_time), recent)?;
        }
        let read = u32::try_from(events.len()).unwrap_or(u32::MAX);
        self.events_read = self.events_read.saturating_add(read);
        self.pages += 1;
        self.last_page = (read, self.sizes.ndjson - bytes_before);
        Ok(())
    }

    /// Whether an event processed at or after the window's end was read: nothing after it in
    /// the stream is this task's.
    pub fn passed_window_end(&self) -> bool {
        self.passed_window_end
    }

    /// Events of the pages added so far, repeats included.
    pub fn events_read(&self) -> u32 {
        self.events_read
    }

    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Whether another page (of `page_limit` events, as large as the last one in bytes) would
    /// take the batch past `bounds`, or the batch holds as much as any may.
    pub fn is_full(&self, bounds: &BatchBounds, page_limit: u32) -> bool {
        let (_, last_bytes) = self.last_page;
        u64::from(self.events_read) + u64::from(page_limit) > u64::from(bounds.max_events)
            || self.sizes.ndjson + last_bytes > bounds.max_bytes
            || self.sizes.compressed + self.sizes.staged >= MAX_COMPRESSED_BYTES
            || self.hours.len() >= MAX_BATCH_HOURS
    }

    fn add(&mut self, outcome: Outcome, recent: &RecentEvents) -> std::io::Result<()> {
        let (key, processed_at) = match &outcome {
            Outcome::Valid(e) => (&e.dedupe_key, e.processed_at),
            Outcome::Quarantined(q) => (&q.dedupe_key, q.processed_at),
        };
        let processed_ms = processed_at.map(to_ms);
        let hash = key_hash(key);
        if self.is_before_window(processed_ms) {
            self.batch.before_window += 1;
            return Ok(());
        }
        if !self.window.keeps(processed_ms) {
            self.batch.outside_window += 1;
            self.passed_window_end |= self.window.is_past_end(processed_ms);
            return Ok(());
        }
        if recent.contains_hash(hash) || !self.seen.insert(hash) {
            self.batch.duplicates += 1;
            return Ok(());
        }
        let believed_ms = self.believed(key, processed_ms);
        if let Some(ms) = believed_ms {
            let newest = &mut self.batch.newest_processed_at_ms;
            *newest = Some(newest.map_or(ms, |n| n.max(ms)));
        }
        self.batch.written.push((hash, believed_ms));
        self.push(outcome)?;
        self.bound_staged()
    }

    /// Processed before the `from` of a read by time: written by an earlier run.
    fn is_before_window(&self, processed_ms: Option<i64>) -> bool {
        matches!(
            (processed_ms, self.written_before_ms),
            (Some(ms), Some(floor)) if ms < floor
        )
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

    /// Stages the event's line in its object; an object staging a segment's worth compresses it.
    fn push(&mut self, outcome: Outcome) -> std::io::Result<()> {
        match outcome {
            Outcome::Valid(e) => {
                self.batch.valid += 1;
                self.keep_for_detection(&e.line);
                let hour = crate::sink::hour_start(e.event_time);
                let newest = *self
                    .newest_hour
                    .insert(self.newest_hour.map_or(hour, |n| n.max(hour)));
                if late::is_late(hour, newest) {
                    let stream = self.staging.get_or_insert_with(GzipStream::default);
                    Self::stage(
                        stream,
                        &late::staging_line(hour, &e.line),
                        &mut self.deflater,
                        &mut self.sizes,
                    )
                } else {
                    self.push_to_hour(hour, &e.line)
                }
            }
            Outcome::Quarantined(q) => {
                tracing::warn!(reason = %q.reason, key = %key_for_log(&q.dedupe_key), "event quarantined");
                self.batch.quarantined += 1;
                let stream = self.quarantine.get_or_insert_with(GzipStream::default);
                Self::stage(stream, &q.line, &mut self.deflater, &mut self.sizes)
            }
        }
    }

    fn push_to_hour(&mut self, hour: i64, line: &str) -> std::io::Result<()> {
        let stream = self.hours.entry(hour).or_default();
        Self::stage(stream, line, &mut self.deflater, &mut self.sizes)
    }

    /// Stages `line` in `stream`, compressing a segment once it stages a segment's worth.
    fn stage(
        stream: &mut GzipStream,
        line: &str,
        deflater: &mut Deflater,
        sizes: &mut Sizes,
    ) -> std::io::Result<()> {
        let bytes = line.len() + 1;
        stream.push_line(line);
        sizes.staged += bytes;
        sizes.ndjson += bytes as u64;
        if stream.staged() >= SEGMENT_BYTES {
            let before = stream.compressed();
            sizes.staged -= stream.compress_staged(deflater)?;
            sizes.compressed += stream.compressed() - before;
        }
        Ok(())
    }

    /// Puts the late events into their hour objects instead of a staging object: the batch
    /// is its run's last (or carries what is staged), so they are written once either way.
    pub fn carry_own_late(&mut self) -> std::io::Result<()> {
        let Some(stream) = self.staging.take() else {
            return Ok(());
        };
        let body = stream.finish(&mut self.deflater)?;
        self.carry_lines(&body).map(|_| ())
    }

    /// Adds the events of an earlier batch's staging object (`body`) to their hour objects.
    pub fn carry(&mut self, body: &[u8]) -> std::io::Result<()> {
        let events = self.carry_lines(body)?;
        self.batch.carried += 1;
        self.batch.carried_events += events;
        Ok(())
    }

    /// A staging object's events into their hour objects; how many.
    fn carry_lines(&mut self, body: &[u8]) -> std::io::Result<u64> {
        let mut events = 0;
        late::for_each_staged(body, |hour, line| {
            events += 1;
            self.push_to_hour(hour, line)?;
            self.bound_staged()
        })?;
        Ok(events)
    }

    fn keep_for_detection(&mut self, line: &str) {
        if let Some(detection) = &mut self.detection {
            detection.observe_line(line);
        }
    }

    /// Past [`MAX_STAGED_BYTES`] staged, the objects staging most are compressed until half of
    /// it is left.
    fn bound_staged(&mut self) -> std::io::Result<()> {
        if self.sizes.staged <= MAX_STAGED_BYTES {
            return Ok(());
        }
        let mut streams: Vec<&mut GzipStream> = self
            .hours
            .values_mut()
            .chain(self.quarantine.as_mut())
            .chain(self.staging.as_mut())
            .filter(|s| s.staged() > 0)
            .collect();
        streams.sort_unstable_by_key(|s| std::cmp::Reverse(s.staged()));
        for stream in streams {
            if self.sizes.staged <= MAX_STAGED_BYTES / 2 {
                break;
            }
            let before = stream.compressed();
            self.sizes.staged -= stream.compress_staged(&mut self.deflater)?;
            self.sizes.compressed += stream.compressed() - before;
        }
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<Batch> {
        self.batch.last_page_events = self.last_page.0 as usize;
        for (hour, stream) in std::mem::take(&mut self.hours) {
            let object = encoded(stream, &mut self.deflater)?;
            self.batch.hours.insert(hour, object);
        }
        self.batch.quarantine = match self.quarantine.take() {
            Some(stream) => Some(encoded(stream, &mut self.deflater)?),
            None => None,
        };
        self.batch.staging = match self.staging.take() {
            Some(stream) => Some(encoded(stream, &mut self.deflater)?),
            None => None,
        };
        Ok(self.batch)
    }
}

fn encoded(stream: GzipStream, deflater: &mut Deflater) -> std::io::Result<EncodedObject> {
    let event_count = stream.lines();
    Ok(EncodedObject {
        body: stream.finish(deflater)?.into(),
        event_count,
    })
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::SourceInfo;
    use crate::test_time::utc;

    fn normalizer() -> Normalizer {
        Normalizer::new(SourceInfo {
            source_id: "s".into(),
            source_label: "l".into(),
        })
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
        let normalizer = normalizer();
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
                (key_hash("a"), Some(to_ms(utc("2024-05-06T07:59:00Z")))),
                (key_hash("b"), None),
                (key_hash("c"), Some(to_ms(utc("2024-05-06T08:59:59Z")))),
                (key_hash("d"), None),
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

        let normalizer = normalizer();
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

    /// Pages join one batch until another page could take it past a bound; an event repeated
    /// on a later page of the same batch is written once.
    #[test]
    fn a_batch_takes_pages_until_the_next_could_pass_a_bound() {
        let normalizer = normalizer();
        let now = utc("2024-05-06T08:00:00Z");
        let page = |from: usize| -> Vec<Box<RawValue>> {
            (from..from + 10)
                .map(|i| event(&format!("e{i}"), "2024-05-06T07:30:00Z"))
                .collect()
        };
        let bounds = BatchBounds {
            max_events: 25,
            max_bytes: u64::MAX,
        };
        let mut builder = BatchBuilder::new(None);
        let recent = RecentEvents::default();
        builder
            .add_page(&normalizer, &page(0), &recent, now)
            .unwrap();
        assert!(!builder.is_full(&bounds, 10), "10 + 10 fit under 25");
        // The second page repeats the first page's last event.
        builder
            .add_page(&normalizer, &page(9), &recent, now)
            .unwrap();
        assert!(builder.is_full(&bounds, 10), "20 + 10 do not");
        assert!(!builder.is_full(&bounds, 5), "20 + 5 do");
        let bytes = BatchBounds {
            max_events: u32::MAX,
            max_bytes: 1,
        };
        assert!(builder.is_full(&bytes, 1), "the byte bound");
        assert_eq!((builder.pages(), builder.events_read()), (2, 20));
        let batch = builder.finish().unwrap();
        assert_eq!((batch.valid, batch.duplicates), (19, 1));
        assert_eq!(batch.hours.len(), 1, "one object for the hour");
        assert_eq!(batch.hours.values().next().map(|o| o.event_count), Some(19));
    }

    /// Events hours before the batch's newest so far are staged; the run's last batch puts
    /// them, and what earlier batches staged, into its hour objects instead.
    #[test]
    fn late_events_are_staged_or_carried_into_their_hours() {
        use flate2::read::GzDecoder;
        use std::io::Read;
        let normalizer = normalizer();
        let now = utc("2024-05-06T12:00:00Z");
        let at = |id: &str, time: &str| {
            RawValue::from_string(format!(
                r#"{{"id":"{id}","type":"events","attributes":{{"time":"{time}"}},"links":{{}}}}"#
            ))
            .unwrap()
        };
        // A late one before the newest hour is known is not late yet.
        let events = vec![
            at("old-first", "2024-05-01T03:00:00Z"),
            at("a", "2024-05-06T10:10:00Z"),
            at("late", "2024-05-06T07:59:00Z"),
            at("near", "2024-05-06T08:00:00Z"),
            at("older", "2024-05-02T01:00:00Z"),
        ];
        let hour = |t: &str| crate::sink::hour_start(utc(t));
        let build = |carry: bool, earlier: Option<&[u8]>| {
            let mut builder = BatchBuilder::new(None);
            builder
                .add_page(&normalizer, &events, &RecentEvents::default(), now)
                .unwrap();
            if carry {
                builder.carry_own_late().unwrap();
            }
            if let Some(body) = earlier {
                builder.carry(body).unwrap();
            }
            builder.finish().unwrap()
        };
        let staged = build(false, None);
        let hours: Vec<i64> = staged.hours.keys().copied().collect();
        let want = [
            "2024-05-01T03:00:00Z",
            "2024-05-06T08:00:00Z",
            "2024-05-06T10:00:00Z",
        ];
        assert_eq!(hours, want.map(hour).to_vec());
        let staging = staged.staging.as_ref().expect("a staging object");
        assert_eq!(staging.event_count, 2);
        assert_eq!(staged.valid, 5, "staged events are written events");
        assert_eq!(
            staged.written().staging,
            Some((2, staging.body.len() as u64))
        );

        let carried = build(true, Some(&staging.body));
        assert!(carried.staging.is_none());
        assert_eq!((carried.carried, carried.carried_events), (1, 2));
        let gunzip = |o: &EncodedObject| {
            let mut text = String::new();
            GzDecoder::new(&o.body[..])
                .read_to_string(&mut text)
                .unwrap();
            text.lines().count()
        };
        let counts: Vec<(i64, usize)> =
            carried.hours.iter().map(|(h, o)| (*h, gunzip(o))).collect();
        assert_eq!(
            counts,
            vec![
                (hour("2024-05-01T03:00:00Z"), 1),
                (hour("2024-05-02T01:00:00Z"), 2),
                (hour("2024-05-06T07:00:00Z"), 2),
                (hour("2024-05-06T08:00:00Z"), 1),
                (hour("2024-05-06T10:00:00Z"), 1),
            ],
            "its own late events, then the earlier batch's"
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
