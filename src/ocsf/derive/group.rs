//! A group of consecutive committed archive batches to their OCSF objects: their hour objects
//! read in time order (an hour several batches wrote to, late events, read as one), each line
//! mapped, each class's records of each event day into one Parquet object, the lines that could
//! not be mapped into the group's OCSF quarantine object.
use super::{DeriveError, DeriveReport};
use crate::ocsf::class::OcsfClass;
use crate::ocsf::layout::{
    event_day, lake_key, quarantine_key, ArchiveObject, Partition, SourceFolders,
};
use crate::ocsf::mapping::map_line;
use crate::ocsf::parquet::ClassWriter;
use crate::ocsf::store::{BlobStore, NDJSON_GZIP, PARQUET};
use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::ops::Range;

/// What one group becomes before it is written.
#[derive(Default)]
struct Derived {
    writers: BTreeMap<(OcsfClass, String), ClassWriter>,
    quarantine: Vec<Value>,
    events: u64,
}

pub struct GroupInput<'a> {
    pub generation: &'a str,
    pub batches: Range<u64>,
    /// The batches' archive objects (one per batch and event hour).
    pub objects: Vec<ArchiveObject>,
}

/// Derives one group: reads, maps and writes. Returns what it wrote.
pub async fn derive_group(
    archive: &dyn BlobStore,
    lake: &dyn BlobStore,
    state: &dyn BlobStore,
    folders: &SourceFolders,
    partition: &Partition,
    mut input: GroupInput<'_>,
) -> Result<DeriveReport, DeriveError> {
    input.objects.sort();
    let mut derived = Derived::default();
    for hour in input.objects.chunk_by(|a, b| a.hour == b.hour) {
        let mut lines = Vec::with_capacity(hour.len());
        for object in hour {
            let Some(body) = archive.get(&object.key).await? else {
                return Err(DeriveError::ArchiveObjectMissing(object.key.clone()));
            };
            lines.push((object.key.as_str(), gunzip(&object.key, &body)?));
        }
        add_hour(&mut derived, &lines)?;
    }
    let mut report = DeriveReport {
        batches: input.batches.end - input.batches.start,
        events: derived.events,
        quarantined: derived.quarantine.len() as u64,
        ..DeriveReport::default()
    };
    for ((class, day), writer) in derived.writers {
        let key = lake_key(
            class,
            folders,
            partition,
            &day,
            input.generation,
            &input.batches,
        );
        let bytes = writer.finish()?;
        report.bytes += bytes.len() as u64;
        lake.put(&key, Bytes::from(bytes), PARQUET).await?;
        report.objects += 1;
    }
    if !derived.quarantine.is_empty() {
        let key = quarantine_key(input.generation, &input.batches);
        state
            .put(&key, gzip_lines(&derived.quarantine)?, NDJSON_GZIP)
            .await?;
    }
    Ok(report)
}

/// One event hour's lines (of each object the group holds for it, with its key): mapped, sorted
/// by time within each class (the hours come in time order, so each class's object is in time
/// order), appended to their writers.
fn add_hour(derived: &mut Derived, objects: &[(&str, String)]) -> Result<(), DeriveError> {
    let mut by_class: BTreeMap<(OcsfClass, String), Vec<(i64, Value)>> = BTreeMap::new();
    let lines = objects
        .iter()
        .flat_map(|(key, text)| text.lines().map(move |line| (*key, line)));
    for (key, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        derived.events += 1;
        match map_line(line) {
            Ok(m) => by_class
                .entry((m.class, event_day(m.time_ms)))
                .or_default()
                .push((m.time_ms, m.record)),
            Err(e) => derived.quarantine.push(json!({
                "error": e.to_string(),
                "archive_key": key,
                "line": line,
            })),
        }
    }
    for (slot, mut records) in by_class {
        records.sort_by_key(|(t, _)| *t);
        let records: Vec<Value> = records.into_iter().map(|(_, r)| r).collect();
        let writer = match derived.writers.entry(slot) {
            std::collections::btree_map::Entry::Occupied(w) => w.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let class = v.key().0;
                v.insert(ClassWriter::new(class)?)
            }
        };
        writer.append(&records)?;
    }
    Ok(())
}

fn gunzip(key: &str, body: &[u8]) -> Result<String, DeriveError> {
    let mut text = String::new();
    MultiGzDecoder::new(body)
        .read_to_string(&mut text)
        .map_err(|e| DeriveError::ArchiveObjectUnreadable {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
    Ok(text)
}

fn gzip_lines(lines: &[Value]) -> Result<Bytes, DeriveError> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    for line in lines {
        writeln!(encoder, "{line}").map_err(DeriveError::Encode)?;
    }
    Ok(Bytes::from(encoder.finish().map_err(DeriveError::Encode)?))
}
