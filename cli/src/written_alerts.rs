//! The alerts a run wrote to a local output directory: gzip NDJSON objects under
//! `alerts/atlassian_audit/` (the layout of `logs/`), one `Alert` JSON a line.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use atlassian_audit::detect::Alert;
use atlassian_audit::sink::{objects_under, read_text, LocalArchiveError};
use chrono::DateTime;
use thiserror::Error;

/// Where the pipeline writes alerts, relative to the output directory.
pub const ALERTS_DIR: &str = "alerts/atlassian_audit";

#[derive(Debug, Error)]
pub enum WrittenAlertsError {
    #[error("reading alerts: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: not an alert: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// What the output directory holds of alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrittenAlerts {
    /// No alerts folder: the pipeline that wrote the directory raises none.
    NoneWritten,
    /// Each alert once, at its latest count, by first event time.
    Found(Vec<Alert>),
}

impl From<LocalArchiveError> for WrittenAlertsError {
    fn from(e: LocalArchiveError) -> Self {
        WrittenAlertsError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

/// The alerts under `out_dir`'s [`ALERTS_DIR`].
pub fn read_written_alerts(out_dir: &Path) -> Result<WrittenAlerts, WrittenAlertsError> {
    let dir = out_dir.join(ALERTS_DIR);
    if !dir.is_dir() {
        return Ok(WrittenAlerts::NoneWritten);
    }
    // Key order is batch order within an hour: a later line of one alert is a later count.
    let objects = objects_under(&dir)?;
    let mut alerts: Vec<Alert> = Vec::new();
    for object in objects.iter().filter(|o| o.key.ends_with(".json.gz")) {
        for alert in read_file(&object.path)? {
            match alerts.iter_mut().find(|a| a.id == alert.id) {
                Some(earlier) if earlier.count <= alert.count => *earlier = alert,
                Some(_) => {}
                None => alerts.push(alert),
            }
        }
    }
    alerts.sort_by(by_first_event_time);
    Ok(WrittenAlerts::Found(alerts))
}

/// One object's alerts, in line order; blank lines are skipped.
fn read_file(path: &Path) -> Result<Vec<Alert>, WrittenAlertsError> {
    let text = read_text(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| WrittenAlertsError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// By first event time as a time (an unreadable one last), then by id.
fn by_first_event_time(a: &Alert, b: &Alert) -> Ordering {
    let time = |x: &Alert| DateTime::parse_from_rfc3339(&x.first_event_time).ok();
    match (time(a), time(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.first_event_time.cmp(&b.first_event_time),
    }
    .then_with(|| a.id.cmp(&b.id))
}

impl WrittenAlerts {
    /// The demo's account: a heading and one line an alert, or why there are none.
    pub fn render(&self, out_dir: &Path) -> String {
        let alerts = match self {
            WrittenAlerts::NoneWritten => {
                let dir = out_dir.display();
                return format!(
                    "no alerts were written (nothing under {dir}/{ALERTS_DIR}/: this build's pipeline has no detect stage; `atlassian-audit detect {dir}` runs the rules over logs/)\n"
                );
            }
            WrittenAlerts::Found(alerts) => alerts,
        };
        if alerts.is_empty() {
            return "0 alerts raised: no rule matched the collected events\n".to_owned();
        }
        let mut out = format!(
            "{} alert{} raised ({ALERTS_DIR}/):\n",
            alerts.len(),
            if alerts.len() == 1 { "" } else { "s" }
        );
        for alert in alerts {
            out.push_str("  ");
            out.push_str(&alert.one_line());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlassian_audit::detect::Severity;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn alert(id: &str, count: u64, first: &str) -> Alert {
        Alert {
            id: id.into(),
            rule_id: "org_admin_added".into(),
            severity: Severity::High,
            title: format!("title of {id}"),
            runbook: "r".into(),
            dedup_key: "k".into(),
            count,
            first_event_time: first.into(),
            last_event_time: first.into(),
            first_event_id: "e1".into(),
            last_event_id: "e2".into(),
            matched_event_ids: vec!["e1".into()],
            is_update: count > 1,
            source_id: String::new(),
            source_label: String::new(),
        }
    }

    fn write_gz(dir: &Path, key: &str, text: &str) {
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        std::fs::write(path, gz.finish().unwrap()).unwrap();
    }

    fn line(a: &Alert) -> String {
        serde_json::to_string(a).unwrap() + "\n"
    }

    const HOUR_13: &str = "alerts/atlassian_audit/year=2026/month=12/day=03/hour=13";
    const HOUR_09: &str = "alerts/atlassian_audit/year=2026/month=12/day=03/hour=09";

    #[test]
    fn alerts_are_read_once_at_their_latest_count_by_first_event_time() {
        let dir = tempfile::tempdir().unwrap();
        let late = alert("b", 1, "2026-12-03T13:05:00.000Z");
        let early = alert("a", 3, "2026-12-03T09:15:00.000Z");
        let early_grown = alert("a", 5, "2026-12-03T09:15:00.000Z");
        // An offset time sorts as a time: 10:00+02:00 is 08:00Z, before both.
        let offset = alert("c", 1, "2026-12-03T10:00:00+02:00");
        let first = format!("{}\n{}", line(&late), line(&early));
        write_gz(
            dir.path(),
            &format!("{HOUR_13}/20261203T130000Z-g-1.json.gz"),
            &first,
        );
        let second = line(&early_grown) + &line(&offset);
        write_gz(
            dir.path(),
            &format!("{HOUR_13}/20261203T130000Z-g-2.json.gz"),
            &second,
        );
        std::fs::write(dir.path().join(HOUR_13).join("notes.txt"), "not an object").unwrap();
        let read = read_written_alerts(dir.path()).unwrap();
        assert_eq!(read, WrittenAlerts::Found(vec![offset, early_grown, late]));
        let text = read.render(dir.path());
        assert!(
            text.starts_with("3 alerts raised (alerts/atlassian_audit/):\n"),
            "{text}"
        );
        assert!(
            text.contains("(5 events, 2026-12-03T09:15:00.000Z"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 4, "{text}");
    }

    #[test]
    fn a_malformed_line_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let ok = line(&alert("a", 1, "2026-12-03T09:15:00.000Z"));
        let key = format!("{HOUR_09}/20261203T090000Z-g-7.json.gz");
        write_gz(dir.path(), &key, &format!("{ok}\n{{\"id\": \"x\"}}\n"));
        let err = read_written_alerts(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("20261203T090000Z-g-7.json.gz, line 3: not an alert"),
            "{err}"
        );
        // Not gzip at all: an I/O error naming the file.
        let bad = dir.path().join(HOUR_09).join("broken.json.gz");
        std::fs::write(&bad, "plain text").unwrap();
        std::fs::remove_file(dir.path().join(key)).unwrap();
        let err = read_written_alerts(dir.path()).unwrap_err().to_string();
        assert!(err.contains("broken.json.gz"), "{err}");
    }

    #[test]
    fn no_alerts_folder_and_an_empty_one_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let none = read_written_alerts(dir.path()).unwrap();
        assert_eq!(none, WrittenAlerts::NoneWritten);
        assert!(none
            .render(dir.path())
            .starts_with("no alerts were written ("));
        std::fs::create_dir_all(dir.path().join(ALERTS_DIR)).unwrap();
        let empty = read_written_alerts(dir.path()).unwrap();
        assert_eq!(empty, WrittenAlerts::Found(Vec::new()));
        assert!(empty.render(dir.path()).starts_with("0 alerts raised"));
    }
}
