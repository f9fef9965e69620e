use super::Result;
use super::{
    AcquireRequest, Checkpoint, CheckpointError, CheckpointStore, Lease, StoredCheckpoint,
};
use crate::durable_file;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The checkpoint in a local JSON file, for the CLI. Same rules as the DynamoDB store: every
/// change happens under an exclusive lock on `<file>.lock` and checks the lease owner, and the
/// file is replaced atomically (write, fsync, rename), so a crash leaves the old or the new state.
/// The file and its lock are created `0600`, missing directories `0700` (`durable_file`).
pub struct FileCheckpointStore {
    path: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileContents {
    sources: BTreeMap<String, Record>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    checkpoint: Checkpoint,
    lease_owner: Option<String>,
    lease_until_ms: Option<i64>,
}

impl FileCheckpointStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileCheckpointStore { path: path.into() }
    }

    fn backend(&self, reason: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Backend {
            store: self.describe(),
            reason: reason.to_string(),
        }
    }

    /// Runs `change` on the file's contents under the lock; writes back when it returns true.
    async fn with_locked<T, F>(&self, change: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut FileContents) -> Result<(T, bool)> + Send + 'static,
    {
        let path = self.path.clone();
        let describe = self.describe();
        tokio::task::spawn_blocking(move || locked_change(&path, &describe, change))
            .await
            .map_err(|e| self.backend(format!("the file task failed: {e}")))?
    }
}

fn locked_change<T, F>(path: &Path, describe: &str, change: F) -> Result<T>
where
    F: FnOnce(&mut FileContents) -> Result<(T, bool)>,
{
    let backend = |reason: String| CheckpointError::Backend {
        store: describe.to_string(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        durable_file::create_dir_all(dir)
            .map_err(|e| backend(format!("cannot create {}: {e}", dir.display())))?;
    }
    let lock_path = path.with_extension("lock");
    let lock = durable_file::open_private(&lock_path)
        .map_err(|e| backend(format!("cannot open {}: {e}", lock_path.display())))?;
    lock.lock()
        .map_err(|e| backend(format!("cannot lock {}: {e}", lock_path.display())))?;

    let mut contents = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<FileContents>(&bytes).map_err(|e| {
            CheckpointError::Corrupt {
                source_id: "*".into(),
                store: describe.to_string(),
                reason: e.to_string(),
            }
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileContents::default(),
        Err(e) => return Err(backend(format!("cannot read: {e}"))),
    };
    let (value, write) = change(&mut contents)?;
    if write {
        let text = serde_json::to_vec_pretty(&contents).map_err(|e| backend(e.to_string()))?;
        durable_file::replace(path, &text).map_err(|e| {
            backend(format!(
                "cannot replace the file (through a temporary file beside it): {e}"
            ))
        })?;
    }
    Ok(value)
}

#[async_trait]
impl CheckpointStore for FileCheckpointStore {
    async fn acquire(&self, request: AcquireRequest<'_>) -> Result<Checkpoint> {
        let source_id = request.source_id.to_string();
        let lease = request.lease.clone();
        let generation = request.new_generation.to_string();
        let now_ms = request.now_ms;
        self.with_locked(move |contents| {
            let record = contents
                .sources
                .entry(source_id.clone())
                .or_insert_with(|| Record {
                    checkpoint: Checkpoint::new(generation),
                    lease_owner: None,
                    lease_until_ms: None,
                });
            let held = match (&record.lease_owner, record.lease_until_ms) {
                (Some(owner), Some(until_ms)) => Some(Lease {
                    owner: owner.clone(),
                    until_ms,
                }),
                _ => None,
            };
            if !Lease::may_take(held.as_ref(), &lease.owner, now_ms) {
                return Err(CheckpointError::LeaseHeld {
                    source_id,
                    until_ms: record.lease_until_ms.unwrap_or(0),
                });
            }
            record.lease_owner = Some(lease.owner);
            record.lease_until_ms = Some(lease.until_ms);
            record.checkpoint.lease_takes += 1;
            Ok((record.checkpoint.clone(), true))
        })
        .await
    }

    async fn save(&self, source_id: &str, owner: &str, checkpoint: &Checkpoint) -> Result<()> {
        let source_id = source_id.to_string();
        let owner = owner.to_string();
        let checkpoint = checkpoint.clone();
        self.with_locked(move |contents| match contents.sources.get_mut(&source_id) {
            Some(r) if r.lease_owner.as_deref() == Some(owner.as_str()) => {
                // Lease takes are the store's count, never a run's.
                let lease_takes = r.checkpoint.lease_takes;
                r.checkpoint = Checkpoint {
                    lease_takes,
                    ..checkpoint
                };
                Ok(((), true))
            }
            _ => Err(CheckpointError::LeaseLost { source_id }),
        })
        .await
    }

    async fn release(&self, source_id: &str, owner: &str) -> Result<()> {
        let source_id = source_id.to_string();
        let owner = owner.to_string();
        self.with_locked(move |contents| match contents.sources.get_mut(&source_id) {
            Some(r) if r.lease_owner.as_deref() == Some(owner.as_str()) => {
                r.lease_owner = None;
                r.lease_until_ms = None;
                Ok(((), true))
            }
            _ => Ok(((), false)),
        })
        .await
    }

    async fn load(&self, source_id: &str) -> Result<Option<StoredCheckpoint>> {
        let source_id = source_id.to_string();
        self.with_locked(move |contents| {
            let stored = contents.sources.get(&source_id).map(|r| StoredCheckpoint {
                checkpoint: r.checkpoint.clone(),
                lease: match (&r.lease_owner, r.lease_until_ms) {
                    (Some(owner), Some(until_ms)) => Some(Lease {
                        owner: owner.clone(),
                        until_ms,
                    }),
                    _ => None,
                },
            });
            Ok((stored, false))
        })
        .await
    }

    fn describe(&self) -> String {
        format!("state file {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Fence;

    fn lease(owner: &str, until_ms: i64) -> Lease {
        Lease {
            owner: owner.into(),
            until_ms,
        }
    }

    /// A request for source "s" at `now_ms`, with no fence to speak of.
    fn request<'a>(lease: &'a Lease, now_ms: i64, new_generation: &'a str) -> AcquireRequest<'a> {
        AcquireRequest {
            source_id: "s",
            lease,
            fence: Fence::longest(),
            now_ms,
            new_generation,
        }
    }

    #[tokio::test]
    async fn the_lease_excludes_others_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::new(dir.path().join("state.json"));
        let cp = store
            .acquire(request(&lease("a", 1000), 0, "gen-a"))
            .await
            .unwrap();
        assert_eq!(cp.generation, "gen-a");
        let err = store
            .acquire(request(&lease("b", 2000), 500, "gen-b"))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            CheckpointError::LeaseHeld { until_ms: 1000, .. }
        ));
        // Expired: b takes over, and a can no longer save.
        let cp = store
            .acquire(request(&lease("b", 2000), 1001, "gen-b"))
            .await
            .unwrap();
        assert_eq!(cp.generation, "gen-a", "the generation is kept");
        let mut next = cp.clone();
        next.sequence = 1;
        assert!(matches!(
            store.save("s", "a", &next).await.unwrap_err(),
            CheckpointError::LeaseLost { .. }
        ));
        store.save("s", "b", &next).await.unwrap();
        store.release("s", "a").await.unwrap();
        assert!(store.load("s").await.unwrap().unwrap().lease.is_some());
        store.release("s", "b").await.unwrap();
        let stored = store.load("s").await.unwrap().unwrap();
        assert_eq!(stored.checkpoint.sequence, 1);
        assert!(stored.lease.is_none());
    }
}
