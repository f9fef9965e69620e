//! Reading what the collector wrote to a local directory (`make demo`'s
//! `demo-output/bucket/logs/…`): gzip NDJSON objects, one normalized event a line.

use std::path::{Path, PathBuf};

use crate::sink::{objects_under, read_text, LocalArchiveError};

use serde_json::Value;

use super::alert::{Alert, MAX_MATCHED_IDS};
use super::engine::detect;
use super::pack::RulePack;
use super::state::DetectState;

/// Folders of the bucket that hold no collected events.
const NOT_EVENTS: [&str; 2] = ["quarantine", "alerts"];

#[derive(Debug, thiserror::Error)]
pub enum CollectedError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path}, line {line}: not a JSON object: {reason}")]
    Json {
        path: String,
        line: usize,
        reason: String,
    },
}

fn io_error(path: &Path, e: std::io::Error) -> CollectedError {
    CollectedError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The `.json.gz` files at `paths` (files as given; folders walked, `quarantine/` and
/// `alerts/` left out), sorted by path, which for the collector's keys is by event-time hour.
pub fn collected_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CollectedError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files)?;
        } else {
            std::fs::metadata(path).map_err(|e| io_error(path, e))?;
            files.push(path.clone());
        }
    }
    files.sort();
    Ok(files)
}

/// The `.json.gz` objects under `dir` but those of its `quarantine/` and `alerts/` folders.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), CollectedError> {
    let objects = objects_under(dir).map_err(archive_error)?;
    files.extend(
        objects
            .into_iter()
            .filter(|o| o.key.ends_with(".json.gz"))
            .filter(|o| !o.key.split('/').any(|folder| NOT_EVENTS.contains(&folder)))
            .map(|o| o.path),
    );
    Ok(())
}

fn archive_error(e: LocalArchiveError) -> CollectedError {
    CollectedError::Io {
        path: e.path.display().to_string(),
        reason: e.source.to_string(),
    }
}

/// The events of one object: gunzipped (when named `.gz`), one JSON object a line.
pub fn read_events(path: &Path) -> Result<Vec<Value>, CollectedError> {
    let text = read_text(path).map_err(archive_error)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| CollectedError::Json {
                    path: path.display().to_string(),
                    line: i + 1,
                    reason: "each line must be one normalized event".into(),
                })
        })
        .collect()
}

/// What a run of the rules over collected files found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedDetection {
    /// Each alert once, at its final count, in the order first raised.
    pub alerts: Vec<Alert>,
    pub files: usize,
    pub events: usize,
    /// Events without an id or a readable time.
    pub skipped: usize,
}

/// The rules over the collected files at `paths`, file after file (one batch each, the state
/// carried over as the pipeline will carry it).
pub fn detect_collected(
    pack: &RulePack,
    paths: &[PathBuf],
) -> Result<CollectedDetection, CollectedError> {
    let files = collected_files(paths)?;
    let mut state = DetectState::default();
    let mut found = CollectedDetection {
        alerts: Vec::new(),
        files: files.len(),
        events: 0,
        skipped: 0,
    };
    for file in &files {
        let events = read_events(file)?;
        let d = detect(pack, &state, &events);
        found.events += events.len();
        found.skipped += d.skipped;
        for alert in d.alerts {
            match found.alerts.iter_mut().find(|a| a.id == alert.id) {
                Some(earlier) => grow(earlier, alert),
                None => found.alerts.push(alert),
            }
        }
        state = d.state;
    }
    Ok(found)
}

/// `earlier` at `later`'s count, keeping its own events first and whether it was new.
fn grow(earlier: &mut Alert, later: Alert) {
    let mut matched = std::mem::take(&mut earlier.matched_event_ids);
    for id in &later.matched_event_ids {
        if matched.len() < MAX_MATCHED_IDS && !matched.contains(id) {
            matched.push(id.clone());
        }
    }
    *earlier = Alert {
        matched_event_ids: matched,
        is_update: earlier.is_update,
        ..later
    };
}
