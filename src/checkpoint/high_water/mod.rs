//! The high-water mark: the furthest (generation, batch sequence) a source's checkpoint is
//! known to have reached, kept beside the archive (in the bucket, or the output directory),
//! not in the checkpoint's table. Whoever can write only the table cannot move it, so a
//! checkpoint rewound or replaced under the collector is refused even on a cold start.
//!
//! A mark is only ever written with a value the table itself held, after the table held it, so
//! honest operation never finds the table behind its mark; a write that is lost or lands late
//! leaves the mark behind, which weakens the check for a while but never refuses wrongly.
//!
//! Every write is a compare-and-swap on the version read ([`raise`]): it lands only if the mark
//! is still what the writer last saw, and a writer that finds it moved reads it again and writes
//! only if it is still ahead. So a run that lost the race (a stale one, held past its lease)
//! cannot put the mark back.
mod local_dir;
mod memory;
mod s3;

pub use local_dir::LocalDirHighWaterMarks;
pub use memory::MemoryHighWaterMarks;
pub use s3::S3HighWaterMarks;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Where a source's checkpoint stood: its generation and batch sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub generation: String,
    pub sequence: u64,
}

impl Mark {
    /// Whether a checkpoint at `self` may follow `known`: the same generation, and a sequence
    /// no lower (runs move it on; nothing honest moves it back).
    pub fn follows(&self, known: Option<&Mark>) -> bool {
        known.is_none_or(|k| k.generation == self.generation && self.sequence >= k.sequence)
    }

    /// Whether `self` is further on than `known` (so worth writing).
    pub fn is_ahead_of(&self, known: Option<&Mark>) -> bool {
        self.follows(known) && known != Some(self)
    }
}

/// `high-water/atlassian_audit/<source id>.json`, relative to the sink's root. The source id
/// is percent-encoded outside `[A-Za-z0-9._-]`, so it stays one plain key segment.
pub fn mark_key(source_id: &str) -> String {
    let mut segment = String::with_capacity(source_id.len());
    for b in source_id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => segment.push(b as char),
            b'.' if !source_id.chars().all(|c| c == '.') => segment.push('.'),
            _ => segment.push_str(&format!("%{b:02X}")),
        }
    }
    format!("high-water/{}/{segment}.json", crate::sink::TABLE)
}

#[derive(Debug, Error)]
#[error("the high-water mark of source {source_id} in {store} could not be {action}: {reason}")]
pub struct HighWaterError {
    pub source_id: String,
    pub store: String,
    pub action: &'static str,
    pub reason: String,
}

/// A mark as stored, with the version a conditional write names: the S3 object's ETag, a digest
/// of the file, a counter in memory. Opaque: only ever handed back to the store that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMark {
    pub mark: Mark,
    pub version: String,
}

/// What a conditional write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// Written; the mark's new version.
    Written { version: String },
    /// Not written: the mark is no longer at the version named (another run wrote it, or it was
    /// created or deleted since it was read).
    Moved,
}

/// What the high-water marks' calls return (the error type defaults to its own).
pub type Result<T, E = HighWaterError> = std::result::Result<T, E>;

/// The port: read one small record per source, and replace it only if unchanged.
#[async_trait]
pub trait HighWaterMarks: Send + Sync {
    /// The mark and its version, or `None` when none was ever written (a first run, or an
    /// upgrade).
    async fn read(&self, source_id: &str) -> Result<Option<StoredMark>>;
    /// Writes `mark` only if the stored mark is still at the version `seen` (`None`: only if
    /// there is no mark), atomically with respect to every other writer of the same store.
    async fn replace(&self, source_id: &str, mark: &Mark, seen: Option<&str>) -> Result<Replaced>;
    /// For messages: where the mark of `source_id` is kept.
    fn describe(&self, source_id: &str) -> String;
}

/// Conditional writes a raise tries before it gives up: each failed one means another writer
/// changed the mark between this run's read and its write.
pub const RAISE_ATTEMPTS: usize = 4;

/// What [`raise`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raised {
    /// The mark is now the one asked for, at this version.
    Written(StoredMark),
    /// Nothing written: the stored mark (as last seen) is not behind the one asked for.
    NotAhead(Option<StoredMark>),
}

/// Raises the mark of `source_id` to `mark` if `mark` is ahead of it ([`Mark::is_ahead_of`]),
/// starting from `known` (the mark as this process last read or wrote it). The write names the
/// version of `known`; when the mark moved meanwhile, it is read again and written only if
/// `mark` is still ahead, at most [`RAISE_ATTEMPTS`] times.
pub async fn raise(
    marks: &dyn HighWaterMarks,
    source_id: &str,
    mark: &Mark,
    known: Option<StoredMark>,
) -> Result<Raised> {
    let mut seen = known;
    for _ in 0..RAISE_ATTEMPTS {
        if !mark.is_ahead_of(seen.as_ref().map(|s| &s.mark)) {
            return Ok(Raised::NotAhead(seen));
        }
        let expected = seen.as_ref().map(|s| s.version.as_str());
        match marks.replace(source_id, mark, expected).await? {
            Replaced::Written { version } => {
                return Ok(Raised::Written(StoredMark {
                    mark: mark.clone(),
                    version,
                }));
            }
            Replaced::Moved => seen = marks.read(source_id).await?,
        }
    }
    Err(HighWaterError {
        source_id: source_id.to_string(),
        store: marks.describe(source_id),
        action: "raised",
        reason: format!(
            "it changed between this run's read and its write {RAISE_ATTEMPTS} times in a row, \
             so something else writes it at the same time. It is left as it is (the check is \
             weaker until a later run raises it); if this repeats, look for a second deployment \
             collecting the same source into the same place"
        ),
    })
}

/// The record as stored: the mark, in JSON.
fn encode(mark: &Mark) -> Vec<u8> {
    serde_json::to_vec(mark).unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Result<Mark, String> {
    serde_json::from_slice(bytes).map_err(|e| {
        format!("it is not a mark ({e}); delete it, and the next run writes a new one from the checkpoint")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(generation: &str, sequence: u64) -> Mark {
        Mark {
            generation: generation.into(),
            sequence,
        }
    }

    #[test]
    fn a_checkpoint_follows_its_mark_only_forward_in_the_same_generation() {
        let cases = [
            (None, mark("g", 0), true, true),
            (Some(mark("g", 5)), mark("g", 5), true, false),
            (Some(mark("g", 5)), mark("g", 9), true, true),
            (Some(mark("g", 5)), mark("g", 4), false, false),
            (Some(mark("g", 5)), mark("h", 5), false, false),
            (Some(mark("g", 5)), mark("h", 900), false, false),
            (Some(mark("g", 0)), mark("h", 0), false, false),
        ];
        for (known, found, follows, ahead) in cases {
            assert_eq!(
                found.follows(known.as_ref()),
                follows,
                "{known:?} → {found:?}"
            );
            assert_eq!(
                found.is_ahead_of(known.as_ref()),
                ahead,
                "{known:?} → {found:?}"
            );
        }
    }

    #[test]
    fn a_source_id_is_one_plain_key_segment() {
        let cases = [
            ("org-1_a.b", "high-water/atlassian_audit/org-1_a.b.json"),
            ("a/b", "high-water/atlassian_audit/a%2Fb.json"),
            ("..", "high-water/atlassian_audit/%2E%2E.json"),
            ("é", "high-water/atlassian_audit/%C3%A9.json"),
        ];
        for (id, key) in cases {
            assert_eq!(mark_key(id), key);
        }
    }

    #[test]
    fn a_mark_reads_back_and_garbage_says_what_to_do() {
        assert_eq!(decode(&encode(&mark("g", 3))).unwrap(), mark("g", 3));
        assert!(decode(b"{").unwrap_err().contains("delete it"));
    }

    /// A store where every conditional write finds the mark moved (and reads it as absent).
    struct AlwaysMoved(std::sync::atomic::AtomicUsize);

    #[async_trait]
    impl HighWaterMarks for AlwaysMoved {
        async fn read(&self, _: &str) -> Result<Option<StoredMark>> {
            Ok(None)
        }
        async fn replace(&self, _: &str, _: &Mark, _: Option<&str>) -> Result<Replaced> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Replaced::Moved)
        }
        fn describe(&self, _: &str) -> String {
            "always moved".into()
        }
    }

    #[tokio::test]
    async fn a_raise_that_keeps_losing_the_race_gives_up_and_says_why() {
        let marks = AlwaysMoved(Default::default());
        let e = raise(&marks, "s", &mark("g", 1), None).await.unwrap_err();
        assert_eq!(
            marks.0.load(std::sync::atomic::Ordering::SeqCst),
            RAISE_ATTEMPTS
        );
        let message = e.to_string();
        assert!(message.contains("could not be raised"), "{message}");
        assert!(message.contains("second deployment"), "{message}");
    }
}
