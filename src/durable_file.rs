//! Replacing a local file so that a crash or power loss leaves either the old or the new
//! content under its name, never half of it: write a temporary sibling, fsync it, rename it over
//! the target, then fsync the directory so the rename itself is on disk. The checkpoint may only
//! advance past data that is durable, so the local sink and the local checkpoint both use this.
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` through `tmp` (a sibling of `path`, on the same file system). On
/// failure the temporary file is removed, so a full disk does not also fill up with debris.
pub fn replace(path: &Path, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let written = File::create(tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(tmp, path)) {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    sync_parent(path)
}

/// `create_dir_all`, with each directory it creates made durable in its parent: a new hour
/// partition must not vanish, with the object in it, after the checkpoint has moved past it.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    std::fs::create_dir_all(dir)?;
    // Outermost first, so each parent is on disk before its child's entry is synced.
    for created in missing.iter().rev() {
        sync_parent(created)?;
    }
    Ok(())
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
    fn a_failed_write_leaves_neither_the_file_nor_its_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        // The target is a non-empty directory: the rename fails after the temporary was written.
        let path = dir.path().join("taken");
        std::fs::create_dir_all(path.join("inside")).expect("dir");
        let tmp = dir.path().join("taken.tmp");
        assert!(replace(&path, &tmp, b"x").is_err());
        assert!(!tmp.exists());
        assert!(path.join("inside").is_dir());
    }

    #[test]
    fn creates_every_missing_level_and_accepts_existing_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let deep = dir.path().join("year=2026/month=11/day=25/hour=05");
        create_dir_all(&deep).expect("created");
        assert!(deep.is_dir());
        create_dir_all(&deep).expect("already there");
        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").expect("file");
        assert!(create_dir_all(&file.join("below")).is_err());
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
