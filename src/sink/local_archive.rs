//! Reading back what [`super::LocalDirSink`] wrote: the objects under a folder of the local
//! bucket, by key, and their text. The one reader of a local archive, for the CLI (the demo's
//! report, `detect` over collected output, the alerts written) and the tests.
use std::io::Read;
use std::path::{Path, PathBuf};

/// A file under the archive's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalObject {
    /// Its key relative to the folder read, `/`-separated, as S3 would name it.
    pub key: String,
    pub path: PathBuf,
}

impl LocalObject {
    /// Its text: gunzipped when its name ends in `.gz`.
    pub fn text(&self) -> Result<String, LocalArchiveError> {
        read_text(&self.path)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct LocalArchiveError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LocalArchiveError + '_ {
    move |source| LocalArchiveError {
        path: path.to_path_buf(),
        source,
    }
}

/// Every file under `dir`, by key; a missing `dir` holds none. LocalDirSink's temporary files
/// (`*.tmp-<random>`, which a killed run may leave) are listed too: what searches every byte
/// written (for the API key) wants them.
pub fn files_under(dir: &Path) -> Result<Vec<LocalObject>, LocalArchiveError> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            entries => entries.map_err(io(&folder))?,
        };
        for entry in entries {
            let path = entry.map_err(io(&folder))?.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(LocalObject {
                    key: key_of(dir, &path),
                    path,
                });
            }
        }
    }
    files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(files)
}

/// The objects under `dir`, by key (in the collector's layout: by hour, then by batch): every
/// file but LocalDirSink's temporary ones.
pub fn objects_under(dir: &Path) -> Result<Vec<LocalObject>, LocalArchiveError> {
    let mut files = files_under(dir)?;
    files.retain(|f| !is_temporary(&f.path));
    Ok(files)
}

/// A file's text: gunzipped when its name ends in `.gz`.
pub fn read_text(path: &Path) -> Result<String, LocalArchiveError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let mut text = String::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .map_err(io(path))?;
    } else {
        text = String::from_utf8(bytes)
            .map_err(|e| io(path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    }
    Ok(text)
}

fn key_of(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn is_temporary(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.starts_with("tmp-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{EncodedObject, LocalDirSink, ObjectSink};
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(text: &str) -> bytes::Bytes {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).expect("in memory");
        gz.finish().expect("in memory").into()
    }

    #[tokio::test]
    async fn reads_back_what_the_local_sink_wrote_by_key_without_its_temporaries() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let sink = LocalDirSink::new(dir.path());
        for (key, text) in [
            ("logs/t/hour=02/b-2.json.gz", "{\"id\":\"2\"}\n"),
            ("logs/t/hour=01/b-1.json.gz", "{\"id\":\"1\"}\n"),
            ("high-water/t/s.json", "{}"),
        ] {
            let body = if key.ends_with(".gz") {
                gzip(text)
            } else {
                text.as_bytes().to_vec().into()
            };
            let object = EncodedObject {
                body,
                event_count: 1,
            };
            sink.put(key, &object).await.expect("written");
        }
        let leftover = dir.path().join("logs/t/hour=01/b-9.json.tmp-0123");
        std::fs::write(&leftover, "half").expect("planted");

        let objects = objects_under(dir.path()).expect("readable");
        let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "high-water/t/s.json",
                "logs/t/hour=01/b-1.json.gz",
                "logs/t/hour=02/b-2.json.gz"
            ]
        );
        assert_eq!(objects[1].text().expect("gzip"), "{\"id\":\"1\"}\n");
        assert_eq!(objects[0].text().expect("plain"), "{}");
        assert_eq!(files_under(dir.path()).expect("readable").len(), 4);
        let logs = objects_under(&dir.path().join("logs")).expect("readable");
        assert_eq!(logs[0].key, "t/hour=01/b-1.json.gz");
        assert!(objects_under(&dir.path().join("absent"))
            .expect("empty")
            .is_empty());
        std::fs::write(dir.path().join("bad.gz"), "not gzip").expect("planted");
        let error = read_text(&dir.path().join("bad.gz")).expect_err("not gzip");
        assert!(error.to_string().contains("bad.gz"), "{error}");
    }
}
