//! Replacing a local file so that a crash or power loss leaves either the old or the new
//! content under its name, never half of it: write a temporary sibling, fsync it, rename it over
//! the target, then fsync the directory so the rename itself is on disk. The checkpoint may only
//! advance past data that is durable, so the local sink and the local checkpoint both use this.
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` through `tmp` (a sibling of `path`, on the same file system).
pub fn replace(path: &Path, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, path)?;
    sync_parent(path)
}

/// Makes a rename or delete in `path`'s directory durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.json");
        let tmp = dir.path().join("a.json.tmp");
        replace(&path, &tmp, b"old").expect("first write");
        replace(&path, &tmp, b"new").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        assert!(!tmp.exists());
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_partial_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing/a.json");
        let tmp = dir.path().join("missing/a.json.tmp");
        assert!(replace(&path, &tmp, b"x").is_err());
        assert!(!path.exists());
    }
}
