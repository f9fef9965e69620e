use super::{decode, encode, mark_key, HighWaterError, HighWaterMarks, Mark};
use crate::durable_file;
use async_trait::async_trait;
use std::path::PathBuf;

/// Marks as files under the output directory (`high-water/atlassian_audit/<source>.json`),
/// beside the objects: a state file rewound or replaced is refused by the next CLI process.
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
    async fn read(&self, source_id: &str) -> Result<Option<Mark>, HighWaterError> {
        match tokio::fs::read(self.path(source_id)).await {
            Ok(bytes) => decode(&bytes)
                .map(Some)
                .map_err(|reason| self.error(source_id, "read", reason)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(source_id, "read", e.to_string())),
        }
    }

    async fn write(&self, source_id: &str, mark: &Mark) -> Result<(), HighWaterError> {
        let path = self.path(source_id);
        let bytes = encode(mark);
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                durable_file::create_dir_all(dir)?;
            }
            durable_file::replace(&path, &bytes)
        })
        .await
        .map_err(|e| self.error(source_id, "written", e.to_string()))?
        .map_err(|e| self.error(source_id, "written", e.to_string()))
    }

    fn describe(&self, source_id: &str) -> String {
        self.path(source_id).display().to_string()
    }
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
        marks.write("s", &mark).await.unwrap();
        assert_eq!(marks.read("s").await.unwrap(), Some(mark));
        std::fs::write(dir.path().join(mark_key("s")), b"nonsense").unwrap();
        let e = marks.read("s").await.unwrap_err().to_string();
        assert!(e.contains("delete it"), "{e}");
    }
}
