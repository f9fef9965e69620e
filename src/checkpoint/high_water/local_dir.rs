use super::Result;
use super::{decode, encode, mark_key, HighWaterError, HighWaterMarks, Mark, Replaced, StoredMark};
use crate::durable_file;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Marks as files under the output directory (`high-water/atlassian_audit/<source>.json`),
/// beside the objects: a state file rewound or replaced is refused by the next CLI process.
/// A mark's version is the SHA-256 of the file; a conditional write compares it and replaces
/// the file under an exclusive lock on `<source>.lock` beside it, so two processes writing the
/// same mark take turns.
pub struct LocalDirHighWaterMarks {
    root: PathBuf,
}

impl LocalDirHighWaterMarks {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDirHighWaterMarks { root: root.into() }
    }

    fn path(&self, source_id: &str) -> PathBuf {
        self.root.join(mark_key(source_id))
    }

    fn version(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn error(&self, source_id: &str, action: &'static str, reason: String) -> HighWaterError {
        HighWaterError {
            source_id: source_id.to_string(),
            store: self.describe(source_id),
            action,
            reason,
        }
    }
}

#[async_trait]
impl HighWaterMarks for LocalDirHighWaterMarks {
    async fn read(&self, source_id: &str) -> Result<Option<StoredMark>> {
        match tokio::fs::read(self.path(source_id)).await {
            Ok(bytes) => decode(&bytes)
                .map(|mark| {
                    Some(StoredMark {
                        mark,
                        version: Self::version(&bytes),
                    })
                })
                .map_err(|reason| self.error(source_id, "read", reason)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(source_id, "read", e.to_string())),
        }
    }

    async fn replace(&self, source_id: &str, mark: &Mark, seen: Option<&str>) -> Result<Replaced> {
        let path = self.path(source_id);
        let bytes = encode(mark);
        let seen = seen.map(str::to_string);
        tokio::task::spawn_blocking(move || replace_if(&path, &bytes, seen.as_deref()))
            .await
            .map_err(|e| self.error(source_id, "written", e.to_string()))?
            .map_err(|reason| self.error(source_id, "written", reason))
    }

    fn describe(&self, source_id: &str) -> String {
        self.path(source_id).display().to_string()
    }
}

/// Replaces the file at `path` with `bytes` if its version is still `expected` (`None`: if
/// there is none), under the lock beside it.
fn replace_if(path: &Path, bytes: &[u8], expected: Option<&str>) -> Result<Replaced, String> {
    if let Some(dir) = path.parent() {
        durable_file::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let lock_path = path.with_extension("lock");
    let lock = durable_file::open_private(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let current = match std::fs::read(path) {
        Ok(found) => Some(LocalDirHighWaterMarks::version(&found)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read it before replacing it: {e}")),
    };
    if current.as_deref() != expected {
        return Ok(Replaced::Moved);
    }
    durable_file::replace(path, bytes).map_err(|e| {
        format!("cannot replace the file (through a temporary file beside it): {e}")
    })?;
    Ok(Replaced::Written {
        version: LocalDirHighWaterMarks::version(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_mark_is_absent_then_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let marks = LocalDirHighWaterMarks::new(dir.path());
        assert_eq!(marks.read("s").await.unwrap(), None);
        let mark = Mark {
            generation: "g".into(),
            sequence: 9,
        };
        let written = marks.replace("s", &mark, None).await.unwrap();
        let read = marks.read("s").await.unwrap().unwrap();
        assert_eq!(read.mark, mark);
        assert_eq!(
            written,
            Replaced::Written {
                version: read.version
            }
        );
        std::fs::write(dir.path().join(mark_key("s")), b"nonsense").unwrap();
        let e = marks.read("s").await.unwrap_err().to_string();
        assert!(e.contains("delete it"), "{e}");
    }
}
