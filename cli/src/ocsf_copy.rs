//! The demos' account of the OCSF copy beside the archive: its Parquet objects under `ext/`,
//! read back, and their rows against the lines under `logs/`.
use atlassian_audit::ocsf::parquet::event_uids;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What `ext/` holds.
#[derive(Debug, Default)]
pub struct OcsfCopy {
    /// Custom source (class) → (objects, rows).
    pub by_source: BTreeMap<String, (usize, usize)>,
    pub rows: usize,
    pub distinct: usize,
    pub error: Option<String>,
}

impl OcsfCopy {
    /// Reads every Parquet object under `bucket/ext/`.
    pub fn read(bucket: &Path) -> OcsfCopy {
        let mut copy = OcsfCopy::default();
        let mut ids = BTreeSet::new();
        let mut stack = vec![bucket.join("ext")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for path in entries.flatten().map(|e| e.path()) {
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "parquet") {
                    continue;
                }
                let uids = std::fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| event_uids(b.into()).map_err(|e| e.to_string()));
                match uids {
                    Ok(uids) => {
                        let source = path
                            .strip_prefix(bucket.join("ext"))
                            .ok()
                            .and_then(|p| p.iter().next())
                            .map(|s| s.to_string_lossy().to_string())
                            .unwrap_or_default();
                        let entry = copy.by_source.entry(source).or_default();
                        entry.0 += 1;
                        entry.1 += uids.len();
                        copy.rows += uids.len();
                        ids.extend(uids);
                    }
                    Err(e) => copy.error = Some(format!("{}: {e}", path.display())),
                }
            }
        }
        copy.distinct = ids.len();
        copy
    }

    /// Each archived line once: as many rows as lines under `logs/`, no id twice in one org.
    pub fn exact(&self, lines_in_logs: usize) -> bool {
        self.error.is_none() && self.rows == self.distinct && self.rows == lines_in_logs
    }

    pub fn render(&self, lines_in_logs: usize) -> String {
        let mut out = format!(
            "\nOCSF 1.3 copy for Security Lake (ext/<custom source>/region=…/accountId=…/eventDay=…/, Parquet): {} rows, {} distinct (org, event id), {} lines under logs/{}\n",
            self.rows,
            self.distinct,
            lines_in_logs,
            if self.exact(lines_in_logs) { " ✓" } else { " ✗ MISMATCH" }
        );
        for (source, (objects, rows)) in &self.by_source {
            out.push_str(&format!(
                "  {source:<36} {objects:>3} object(s), {rows:>6} rows\n"
            ));
        }
        if let Some(e) = &self.error {
            out.push_str(&format!("  unreadable: {e}\n"));
        }
        out
    }
}
