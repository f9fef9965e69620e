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

/// Builds the batch for `events`, skipping any whose dedupe key is in `recent` or repeats in the page.
pub fn build_batch(
    normalizer: &Normalizer,
    events: &[Box<RawValue>],
    recent: &RecentEvents,
    parse_time: OffsetDateTime,
) -> std::io::Result<Batch> {
    let mut seen: HashSet<String> = HashSet::with_capacity(events.len());
    let mut hours: BTreeMap<i64, ObjectWriter> = BTreeMap::new();
    let mut quarantine: Option<ObjectWriter> = None;
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
        if recent.contains(key) || !seen.insert(key.clone()) {
            batch.duplicates += 1;
            continue;
        }
        let processed_ms = processed_at.map(to_ms);
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
                tracing::warn!(reason = %q.reason, key = %q.dedupe_key, "event quarantined");
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
