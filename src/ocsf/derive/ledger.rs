//! How far one generation's batches are derived: every batch below `derived_through`, and the
//! group being derived (`deriving`: the end of the batches from `derived_through`), recorded
//! before any of its objects is written. A group's keys name its batches, so a redo must derive
//! exactly the same group: the recorded one. A ledger lost or unreadable is rebuilt from the
//! objects' names (the last group found is derived again, whole), so it never costs a duplicate.
use crate::ocsf::layout::{ledger_key, parse_group_stem, quarantine_prefix};
use crate::ocsf::store::{BlobStore, StoreError, JSON};
use crate::ocsf::{OcsfClass, SourceFolders};
use crate::sink::generation_tag;
use serde::{Deserialize, Serialize};
use std::ops::Range;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub derived_through: u64,
    /// The end (exclusive) of the group under way from `derived_through`; ledgers of the copy's
    /// first version, one batch at a time, have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deriving: Option<u64>,
}

impl Ledger {
    /// The group to derive now: the one under way, else the next up to `most` batches below
    /// `committed`; `None` when everything committed is derived.
    pub fn next_group(&self, committed: u64, most: u64) -> Option<Range<u64>> {
        if let Some(end) = self.deriving {
            return Some(self.derived_through..end);
        }
        (self.derived_through < committed)
            .then(|| self.derived_through..committed.min(self.derived_through + most.max(1)))
    }

    /// Before the group's first write.
    pub fn started(self, group: &Range<u64>) -> Ledger {
        Ledger {
            derived_through: group.start,
            deriving: Some(group.end),
        }
    }

    /// After the group's last write.
    pub fn finished(self, group: &Range<u64>) -> Ledger {
        Ledger {
            derived_through: group.end,
            deriving: None,
        }
    }
}

/// Where the ledger is read and how a lost one is rebuilt.
pub struct LedgerPlaces<'a> {
    pub state: &'a dyn BlobStore,
    pub lake: &'a dyn BlobStore,
    pub folders: &'a SourceFolders,
}

/// The generation's ledger; a missing or unreadable one is rebuilt from the names of the objects
/// already derived ([`rebuilt`]).
pub async fn load(places: &LedgerPlaces<'_>, generation: &str) -> Result<Ledger, StoreError> {
    let read = places.state.get(&ledger_key(generation)).await?;
    match read.map(|bytes| serde_json::from_slice::<Ledger>(&bytes)) {
        Some(Ok(ledger)) => Ok(ledger),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "the OCSF ledger is unreadable; rebuilding it from the copy's objects");
            rebuilt(places, generation).await
        }
        None => rebuilt(places, generation).await,
    }
}

/// The ledger the objects' names imply: the group with the furthest end found (in the lake and
/// in the quarantine) is taken as under way, so that it is derived again whole (a crash may have
/// cut its writes short; the groups before it were finished before it began).
pub async fn rebuilt(places: &LedgerPlaces<'_>, generation: &str) -> Result<Ledger, StoreError> {
    let tag = generation_tag(generation);
    let mut last: Option<Range<u64>> = None;
    let lake = OcsfClass::ALL.map(|class| (places.lake, places.folders.folder(class)));
    let quarantine = [(places.state, quarantine_prefix())];
    for (store, prefix) in lake.into_iter().chain(quarantine) {
        for key in store.list(&prefix).await? {
            let name = key.rsplit('/').next().unwrap_or_default();
            if let Some((found, group)) = parse_group_stem(name) {
                if found == tag && last.as_ref().is_none_or(|l| group.end > l.end) {
                    last = Some(group);
                }
            }
        }
    }
    Ok(match last {
        Some(group) => Ledger::default().started(&group),
        None => Ledger::default(),
    })
}

pub async fn save(
    store: &dyn BlobStore,
    generation: &str,
    ledger: Ledger,
) -> Result<(), StoreError> {
    let body = serde_json::to_vec(&ledger).unwrap_or_default();
    store.put(&ledger_key(generation), body.into(), JSON).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next group, as a table: (ledger, committed, most) -> group.
    #[test]
    fn the_next_group_is_the_one_under_way_else_the_next_committed_batches() {
        let at = |derived_through, deriving| Ledger {
            derived_through,
            deriving,
        };
        let cases = [
            (at(0, None), 0, 8, None),
            (at(0, None), 3, 8, Some(0..3)),
            (at(0, None), 20, 8, Some(0..8)),
            (at(5, None), 5, 8, None),
            (at(5, None), 6, 0, Some(5..6)),
            // Under way: exactly that group, whatever is committed since.
            (at(5, Some(7)), 20, 8, Some(5..7)),
            (at(5, Some(7)), 7, 1, Some(5..7)),
        ];
        for (ledger, committed, most, want) in cases {
            assert_eq!(
                ledger.next_group(committed, most),
                want,
                "{ledger:?} {committed} {most}"
            );
        }
        assert_eq!(at(0, None).started(&(0..3)), at(0, Some(3)));
        assert_eq!(at(0, Some(3)).finished(&(0..3)), at(3, None));
    }

    /// A ledger of the first version (one batch at a time) reads as one with nothing under way.
    #[test]
    fn a_first_version_ledger_reads() {
        let ledger: Ledger = serde_json::from_str(r#"{"derived_through":4}"#).unwrap();
        assert_eq!(ledger, Ledger::default().finished(&(0..4)));
        let written = serde_json::to_string(&Ledger::default().finished(&(0..4))).unwrap();
        assert_eq!(written, r#"{"derived_through":4}"#);
    }
}
