//! The high-water mark: the furthest (generation, batch sequence) a source's checkpoint is
//! known to have reached, kept beside the archive (in the bucket, or the output directory),
//! not in the checkpoint's table. Whoever can write only the table cannot move it, so a
//! checkpoint rewound or replaced under the collector is refused even on a cold start.
//!
//! A mark is only ever written with a value the table itself held, after the table held it, so
//! honest operation never finds the table behind its mark; a write that is lost or lands late
//! leaves the mark behind, which weakens the check for a while but never refuses wrongly.
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

/// The port: read and replace one small record per source.
#[async_trait]
pub trait HighWaterMarks: Send + Sync {
    /// The mark, or `None` when none was ever written (a first run, or an upgrade).
    async fn read(&self, source_id: &str) -> Result<Option<Mark>, HighWaterError>;
    /// Replaces the mark.
    async fn write(&self, source_id: &str, mark: &Mark) -> Result<(), HighWaterError>;
    /// For messages: where the mark of `source_id` is kept.
    fn describe(&self, source_id: &str) -> String;
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
}
