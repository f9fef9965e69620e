//! The ids of recently written events, so an event served twice is written once.
//!
//! Stored compactly (16 bytes an event: 8 bytes of SHA-256 of the id, 8 of processedAt) because
//! DynamoDB bills writes by item size and the checkpoint is written for every batch.
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Beyond this many ids, the oldest processing times are dropped and `window_start_ms` moves up.
pub const MAX_RECENT_EVENTS: usize = 4000;
/// Most ids kept when one millisecond alone holds more than [`MAX_RECENT_EVENTS`]: 256 KB in the
/// checkpoint item as base64, under DynamoDB's 400 KB with the rest of the record.
pub const MAX_TIED_RECENT_EVENTS: usize = 12_000;
const ENTRY_BYTES: usize = 16;

/// Where a list of more than [`MAX_RECENT_EVENTS`] entries is cut: the oldest processing time
/// such that the entries at or after it fit, counting whole milliseconds, but never past the
/// newest millisecond. `None` when the list fits.
fn cap_cut(entries: &[(u64, i64)]) -> Option<i64> {
    if entries.len() <= MAX_RECENT_EVENTS {
        return None;
    }
    let mut times: Vec<i64> = entries.iter().map(|(_, ms)| *ms).collect();
    times.sort_unstable();
    let first_kept = times.len() - MAX_RECENT_EVENTS;
    let at = times[first_kept];
    // A millisecond that straddles the cut is dropped whole: the next one after it.
    let cut = if times[first_kept - 1] < at {
        at
    } else {
        times[first_kept..]
            .iter()
            .copied()
            .find(|t| *t > at)
            .unwrap_or(at)
    };
    Some(cut)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentEvents {
    /// (id hash, processedAt ms), in the order written.
    entries: Vec<(u64, i64)>,
    index: HashSet<u64>,
}

/// The 64-bit hash an id is remembered by: the first 8 bytes of its SHA-256.
pub fn key_hash(dedupe_key: &str) -> u64 {
    let digest = Sha256::digest(dedupe_key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl RecentEvents {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, dedupe_key: &str) -> bool {
        self.contains_hash(key_hash(dedupe_key))
    }

    /// [`RecentEvents::contains`], given the key's [`key_hash`].
    pub fn contains_hash(&self, hash: u64) -> bool {
        self.index.contains(&hash)
    }

    pub fn insert(&mut self, dedupe_key: &str, processed_at_ms: i64) {
        self.insert_hash(key_hash(dedupe_key), processed_at_ms);
    }

    /// [`RecentEvents::insert`], given the key's [`key_hash`].
    pub fn insert_hash(&mut self, hash: u64, processed_at_ms: i64) {
        if self.index.insert(hash) {
            self.entries.push((hash, processed_at_ms));
        }
    }

    /// Keeps every id at or after `window_start_ms` plus the `keep_last` most recent ones, then
    /// caps the total at [`MAX_RECENT_EVENTS`] by dropping whole oldest milliseconds. Returns the
    /// window start that still holds: every kept id with processedAt >= it is present.
    ///
    /// The window never moves past the newest millisecond kept: the stream is in processedAt
    /// order, so every event processed before it has been read, but more events of that very
    /// millisecond may still follow (a bulk change can stamp thousands alike), and a window past
    /// it would drop them as written. When that one millisecond alone holds more than the cap,
    /// all of its ids are kept, up to [`MAX_TIED_RECENT_EVENTS`]; past that its oldest ids are
    /// forgotten, so a re-read of that millisecond by time could write them twice, never lose
    /// them.
    pub fn trim(&mut self, window_start_ms: i64, keep_last: usize) -> i64 {
        let keep_from = self.entries.len().saturating_sub(keep_last);
        let mut kept: Vec<(u64, i64)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(i, (_, ms))| *i >= keep_from || *ms >= window_start_ms)
            .map(|(_, e)| *e)
            .collect();
        let mut start = window_start_ms;
        if let Some(cut) = cap_cut(&kept) {
            kept.retain(|(_, ms)| *ms >= cut);
            let excess = kept.len().saturating_sub(MAX_TIED_RECENT_EVENTS);
            kept.drain(..excess);
            start = start.max(cut);
        }
        self.index = kept.iter().map(|(h, _)| *h).collect();
        self.entries = kept;
        start
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * ENTRY_BYTES);
        for (h, ms) in &self.entries {
            out.extend_from_slice(&h.to_be_bytes());
            out.extend_from_slice(&ms.to_be_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if !bytes.len().is_multiple_of(ENTRY_BYTES) {
            return Err(format!(
                "the recent-events list is {} bytes, not a multiple of {ENTRY_BYTES}",
                bytes.len()
            ));
        }
        let mut recent = RecentEvents::default();
        for chunk in bytes.chunks_exact(ENTRY_BYTES) {
            let mut h = [0u8; 8];
            let mut ms = [0u8; 8];
            h.copy_from_slice(&chunk[..8]);
            ms.copy_from_slice(&chunk[8..]);
            let h = u64::from_be_bytes(h);
            if recent.index.insert(h) {
                recent.entries.push((h, i64::from_be_bytes(ms)));
            }
        }
        Ok(recent)
    }
}

pub(crate) mod as_base64 {
    use super::RecentEvents;
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(r: &RecentEvents, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(r.to_bytes()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RecentEvents, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(text).map_err(serde::de::Error::custom)?;
        RecentEvents::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_bytes() {
        let mut r = RecentEvents::default();
        r.insert("a", 1);
        r.insert("b", 2);
        r.insert("a", 3);
        assert_eq!(r.len(), 2);
        let back = RecentEvents::from_bytes(&r.to_bytes()).unwrap();
        assert_eq!(back, r);
        assert!(back.contains("a") && back.contains("b") && !back.contains("c"));
        assert!(RecentEvents::from_bytes(&[1, 2, 3]).is_err());
    }

    #[test]
    fn trim_keeps_the_window_and_the_last_batch() {
        let mut r = RecentEvents::default();
        for i in 0..10 {
            r.insert(&format!("id{i}"), i * 1000);
        }
        let start = r.trim(7000, 2);
        assert_eq!(start, 7000);
        // 7000, 8000, 9000 by time; the last two are among them.
        assert_eq!(r.len(), 3);
        assert!(r.contains("id7") && r.contains("id9") && !r.contains("id6"));
        // The last batch is kept even when older than the window.
        let start = r.trim(100_000, 2);
        assert_eq!(start, 100_000);
        assert!(r.contains("id8") && r.contains("id9") && !r.contains("id7"));
    }

    #[test]
    fn trim_caps_by_whole_milliseconds_and_moves_the_window() {
        let mut r = RecentEvents::default();
        // Two ids share every millisecond.
        for i in 0..(MAX_RECENT_EVENTS as i64 + 10) {
            r.insert(&format!("x{i}"), i / 2);
        }
        let start = r.trim(0, 0);
        assert!(r.len() <= MAX_RECENT_EVENTS);
        assert!(start > 0);
        // Completeness: every inserted id at or after `start` is still known.
        for i in 0..(MAX_RECENT_EVENTS as i64 + 10) {
            if i / 2 >= start {
                assert!(r.contains(&format!("x{i}")), "x{i} lost");
            }
        }
    }

    /// (runs of (count, processedAt ms) in stream order, window asked for, start returned, ids
    /// kept, what).
    type TrimCase<'a> = (&'a [(i64, i64)], i64, i64, usize, &'a str);

    #[test]
    fn the_window_never_moves_past_the_newest_millisecond() {
        let cap = MAX_RECENT_EVENTS as i64;
        let cases: [TrimCase; 5] = [
            (&[(10, 5)], 0, 0, 10, "fits: nothing dropped"),
            (
                &[(cap - 10, 1), (20, 2), (cap - 10, 3)],
                0,
                3,
                MAX_RECENT_EVENTS - 10,
                "a millisecond straddling the cut is dropped whole",
            ),
            (
                &[(100, 1), (cap + 50, 7)],
                0,
                7,
                MAX_RECENT_EVENTS + 50,
                "the newest millisecond alone exceeds the cap: kept whole, the window stays on it",
            ),
            (
                &[(cap + 50, 7)],
                0,
                7,
                MAX_RECENT_EVENTS + 50,
                "everything in one millisecond",
            ),
            (
                &[(MAX_TIED_RECENT_EVENTS as i64 + 5, 9)],
                0,
                9,
                MAX_TIED_RECENT_EVENTS,
                "past the hard cap the oldest ids of the millisecond go (a repeat, never a loss)",
            ),
        ];
        for (runs, window, want_start, want_len, what) in cases {
            let mut r = RecentEvents::default();
            let mut n = 0;
            for (count, ms) in runs {
                for _ in 0..*count {
                    r.insert(&format!("id{n}"), *ms);
                    n += 1;
                }
            }
            let newest = runs.last().map(|(_, ms)| *ms).unwrap_or(0);
            assert_eq!(r.trim(window, 0), want_start, "{what}");
            assert!(want_start <= newest, "{what}");
            assert_eq!(r.len(), want_len, "{what}");
            assert!(
                r.contains(&format!("id{}", n - 1)),
                "the last id is kept: {what}"
            );
        }
    }
}
