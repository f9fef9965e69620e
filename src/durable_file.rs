//! Replacing a local file so that a crash or power loss leaves either the old or the new
//! content under its name, never half of it: write a temporary sibling, fsync it, rename it over
//! the target, then fsync the directory so the rename itself is on disk. The checkpoint may only
//! advance past data that is durable, so the local sink and the local checkpoint both use this.
//!
//! What it creates is private: files `0600`, directories `0700` (less whatever the umask takes
//! away), since the checkpoint and the objects are the audit log. The temporary name is random
//! and created exclusively without following a symbolic link, so nobody who can write the
//! directory can plant a link there and have the content written through it.
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Mode of the files created here.
pub const FILE_MODE: u32 = 0o600;
/// Mode of the directories created here.
pub const DIR_MODE: u32 = 0o700;

/// Writes `bytes` to `path` through a temporary sibling with a random name (on the same file
/// system). On failure the temporary file is removed, so a full disk does not also fill up with
/// debris.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temporary_sibling(path);
    let written = create_private(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_parent(path)
}

/// `<path without its last extension>.tmp-<128 random bits>`: not guessable ahead of time.
pub fn temporary_sibling(path: &Path) -> PathBuf {
    path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()))
}

/// Creates a new file `0600` for writing; fails if anything exists under that name, a symbolic
/// link included (which is not followed).
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Opens (creating it `0600` if missing) a file that is kept, such as a lock file, refusing a
/// symbolic link in its place.
pub fn open_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// `create_dir_all`, with each directory it creates `0700` and made durable in its parent: a new
/// hour partition must not vanish, with the object in it, after the checkpoint has moved past it.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
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

    use std::os::unix::fs::PermissionsExt;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn replaces_the_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.json");
        replace(&path, b"old").expect("first write");
        replace(&path, b"new").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        assert_eq!(entries(dir.path()), ["a.json"]);
    }

    #[test]
    fn a_failed_write_leaves_neither_the_file_nor_its_temporary() {
        let dir = tempfile::tempdir().expect("temp dir");
        // The target is a non-empty directory: the rename fails after the temporary was written.
        let path = dir.path().join("taken");
        std::fs::create_dir_all(path.join("inside")).expect("dir");
        assert!(replace(&path, b"x").is_err());
        assert_eq!(entries(dir.path()), ["taken"]);
        assert!(path.join("inside").is_dir());
    }

    /// Files 0600, directories 0700, whatever the process's umask allows beyond that.
    #[test]
    fn what_is_created_is_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let deep = dir.path().join("logs/year=2026/month=11");
        create_dir_all(&deep).expect("created");
        assert_eq!(mode(&dir.path().join("logs")), DIR_MODE);
        assert_eq!(mode(&deep), DIR_MODE);
        let file = deep.join("a.json.gz");
        replace(&file, b"x").expect("written");
        assert_eq!(mode(&file), FILE_MODE);
        let lock = dir.path().join("state.lock");
        drop(open_private(&lock).expect("lock file"));
        assert_eq!(mode(&lock), FILE_MODE);
    }

    /// A symbolic link planted where a temporary or lock file would go is never written
    /// through: temporary names are random and created exclusively, and no open follows a link.
    #[test]
    fn planted_symbolic_links_are_not_followed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"untouched").expect("victim");
        let path = dir.path().join("state.json");
        // The names a fixed scheme would use.
        for planted in ["state.tmp", "state.json.tmp"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(planted)).expect("symlink");
        }
        replace(&path, b"state").expect("written");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"untouched");
        assert_eq!(std::fs::read(&path).expect("state"), b"state");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).expect("symlink");
        assert!(
            create_private(&link).is_err(),
            "an existing name is refused"
        );
        let lock = dir.path().join("state.lock");
        std::os::unix::fs::symlink(&victim, &lock).expect("symlink");
        assert!(open_private(&lock).is_err(), "a link is not opened");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"untouched");

        let a = temporary_sibling(&path);
        let b = temporary_sibling(&path);
        assert_ne!(a, b);
        assert!(
            a.to_string_lossy().contains("state.tmp-"),
            "{}",
            a.display()
        );
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
        assert!(replace(&path, b"x").is_err());
        assert!(!path.exists());
    }
}
