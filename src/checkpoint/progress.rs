//! How a checkpoint moves between a run's writes: pure transitions, applied by the pipeline
//! and stored by a `CheckpointStore`.
use super::{Checkpoint, PendingBatch};
use crate::source::StreamPosition;
use std::collections::BTreeSet;

/// The objects a batch writes: the hours of event time it has events in, and whether it has a
/// quarantine object.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchObjects {
    pub hours: Vec<i64>,
    pub quarantine: bool,
}

/// What a batch whose objects are durable changes in the checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct BatchWritten<'a> {
    /// Events written, valid and quarantined.
    pub events: u64,
    pub newest_processed_at_ms: Option<i64>,
    /// (dedupe key, processedAt ms if known) of each event written, in page order.
    pub written: &'a [(String, Option<i64>)],
}

impl Checkpoint {
    /// Where the next page starts: the cursor, else the window start (everything before it
    /// was written), else `initial_from_ms` (a first run).
    pub fn position(&self, initial_from_ms: i64) -> StreamPosition {
        match &self.cursor {
            Some(c) => StreamPosition::Cursor(c.clone()),
            None => StreamPosition::From {
                from_ms: self.window_start_ms.unwrap_or(initial_from_ms),
            },
        }
    }

    /// How many events to ask for. A pending batch is redone with the count it was cut at, but
    /// never more than the API accepts (`max_limit`): a page may hold more events than asked
    /// for, and asking for that many would be refused on every later run. A redo that reads
    /// fewer events overwrites the same keys with them; the rest come in the next batch.
    pub fn limit(&self, page_limit: u32, max_limit: u32) -> u32 {
        self.pending
            .as_ref()
            .map(|p| p.event_count.clamp(1, max_limit))
            .unwrap_or(page_limit)
    }

    /// Write-ahead: records the batch about to be written (cut at `event_count` events) with
    /// its objects and any `previous` attempt of it may have left, before any object exists.
    pub fn record_pending(
        &mut self,
        event_count: u32,
        objects: &BatchObjects,
        previous: Option<&PendingBatch>,
    ) {
        let mut hours: BTreeSet<i64> = objects.hours.iter().copied().collect();
        if let Some(p) = previous {
            hours.extend(p.hours.iter().copied());
        }
        self.pending = Some(PendingBatch {
            event_count,
            hours: hours.into_iter().collect(),
            quarantine: objects.quarantine || previous.is_some_and(|p| p.quarantine),
        });
    }

    /// Moves past a batch read from `position` whose objects are all durable: it is no longer
    /// pending, the sequence and counts move on, the dedupe window takes its events, the cursor
    /// becomes `next_cursor`. Returns whether anything but the pending mark changed.
    pub fn advance(
        &mut self,
        batch: &BatchWritten,
        next_cursor: Option<String>,
        position: &StreamPosition,
        overlap_ms: i64,
        now_ms: i64,
    ) -> bool {
        self.pending = None;
        let mut changed = false;
        if batch.events > 0 {
            self.sequence += 1;
            self.events_written += batch.events;
            changed = true;
        }
        if let Some(newest) = batch.newest_processed_at_ms {
            if self.newest_processed_at_ms.is_none_or(|n| newest > n) {
                self.newest_processed_at_ms = Some(newest);
                changed = true;
            }
        }
        // Events without a processing time count as the newest known one for the window.
        let fallback = self.newest_processed_at_ms.unwrap_or(now_ms);
        for (key, processed_ms) in batch.written {
            self.recent.insert(key, processed_ms.unwrap_or(fallback));
        }
        if let Some(window) = self.window_after(batch.written.len(), position, overlap_ms) {
            if self.window_start_ms != Some(window) {
                self.window_start_ms = Some(window);
                changed = true;
            }
        }
        if self.cursor != next_cursor {
            self.cursor = next_cursor;
            changed = true;
        }
        changed
    }

    /// The window start after a batch of `written` events: `overlap_ms` before the newest
    /// event, never before what the window or the read by time already covered, moved up if
    /// the recent ids had to be trimmed.
    fn window_after(
        &mut self,
        written: usize,
        position: &StreamPosition,
        overlap_ms: i64,
    ) -> Option<i64> {
        let newest = self.newest_processed_at_ms?;
        let overlap_start = newest - overlap_ms;
        let floor = match (self.window_start_ms, position) {
            (Some(w), _) => w,
            (None, StreamPosition::From { from_ms }) => *from_ms,
            (None, StreamPosition::Cursor(_)) => overlap_start,
        };
        Some(self.recent.trim(overlap_start.max(floor), written))
    }
}

impl PendingBatch {
    /// Objects an earlier attempt of this batch may have written that the redo, writing
    /// `redo`, does not: they are deleted before the batch is committed.
    pub fn left_over(&self, redo: &BatchObjects) -> BatchObjects {
        BatchObjects {
            hours: self
                .hours
                .iter()
                .copied()
                .filter(|h| !redo.hours.contains(h))
                .collect(),
            quarantine: self.quarantine && !redo.quarantine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600;

    fn checkpoint() -> Checkpoint {
        Checkpoint::new("g".into())
    }

    fn pending(event_count: u32, hours: &[i64], quarantine: bool) -> PendingBatch {
        PendingBatch {
            event_count,
            hours: hours.to_vec(),
            quarantine,
        }
    }

    fn objects(hours: &[i64], quarantine: bool) -> BatchObjects {
        BatchObjects {
            hours: hours.to_vec(),
            quarantine,
        }
    }

    #[test]
    fn where_the_next_page_starts() {
        let cursor = Checkpoint {
            cursor: Some("c".into()),
            window_start_ms: Some(5),
            ..checkpoint()
        };
        let window = Checkpoint {
            window_start_ms: Some(5),
            ..checkpoint()
        };
        let cases = [
            (
                cursor,
                StreamPosition::Cursor("c".into()),
                "the cursor first",
            ),
            (
                window,
                StreamPosition::From { from_ms: 5 },
                "else the window",
            ),
            (
                checkpoint(),
                StreamPosition::From { from_ms: 9 },
                "else the lookback",
            ),
        ];
        for (c, want, what) in cases {
            assert_eq!(c.position(9), want, "{what}");
        }
    }

    #[test]
    fn how_many_events_to_ask_for() {
        let cases = [
            (None, 200, "no batch pending: the page limit"),
            (Some(37), 37, "a redo: the count it was cut at"),
            (Some(700), 500, "never more than the API accepts"),
            (Some(0), 1, "never nothing"),
        ];
        for (count, want, what) in cases {
            let c = Checkpoint {
                pending: count.map(|n| pending(n, &[], false)),
                ..checkpoint()
            };
            assert_eq!(c.limit(200, 500), want, "{what}");
        }
    }

    #[test]
    fn the_write_ahead_covers_every_object_an_attempt_may_have_left() {
        let cases = [
            (
                objects(&[H], false),
                None,
                pending(9, &[H], false),
                "first attempt",
            ),
            (
                objects(&[H], false),
                Some(pending(9, &[2 * H, H], true)),
                pending(9, &[H, 2 * H], true),
                "a redo keeps the earlier attempt's hours and quarantine",
            ),
            (
                objects(&[], true),
                Some(pending(9, &[H], false)),
                pending(9, &[H], true),
                "a redo that only quarantines",
            ),
        ];
        for (batch, previous, want, what) in cases {
            let mut c = checkpoint();
            c.record_pending(9, &batch, previous.as_ref());
            assert_eq!(c.pending, Some(want), "{what}");
        }
    }

    #[test]
    fn the_keys_a_redo_no_longer_needs() {
        let earlier = pending(9, &[H, 2 * H, 3 * H], true);
        let cases = [
            (
                objects(&[H, 2 * H, 3 * H], true),
                objects(&[], false),
                "same objects",
            ),
            (
                objects(&[2 * H], true),
                objects(&[H, 3 * H], false),
                "fewer hours",
            ),
            (
                objects(&[H, 2 * H, 3 * H], false),
                objects(&[], true),
                "no quarantine",
            ),
            (
                objects(&[], false),
                objects(&[H, 2 * H, 3 * H], true),
                "nothing at all",
            ),
            (
                objects(&[4 * H], true),
                objects(&[H, 2 * H, 3 * H], false),
                "new hour only",
            ),
        ];
        for (redo, want, what) in cases {
            assert_eq!(earlier.left_over(&redo), want, "{what}");
        }
    }

    struct Advance {
        what: &'static str,
        before: Checkpoint,
        events: u64,
        newest: Option<i64>,
        written: Vec<(String, Option<i64>)>,
        next_cursor: Option<&'static str>,
        position: StreamPosition,
        changed: bool,
        sequence: u64,
        newest_after: Option<i64>,
        window_after: Option<i64>,
    }

    fn written(keys: &[(&str, Option<i64>)]) -> Vec<(String, Option<i64>)> {
        keys.iter().map(|(k, ms)| (k.to_string(), *ms)).collect()
    }

    #[test]
    fn advancing_past_a_batch() {
        const OVERLAP: i64 = 300_000;
        let at_cursor = |c: &str| Checkpoint {
            cursor: Some(c.into()),
            ..checkpoint()
        };
        let cases = [
            Advance {
                what: "an empty page at the same cursor changes nothing",
                before: at_cursor("c1"),
                events: 0,
                newest: None,
                written: vec![],
                next_cursor: Some("c1"),
                position: StreamPosition::Cursor("c1".into()),
                changed: false,
                sequence: 0,
                newest_after: None,
                window_after: None,
            },
            Advance {
                what: "a page of repeats moves only the cursor",
                before: at_cursor("c1"),
                events: 0,
                newest: None,
                written: vec![],
                next_cursor: Some("c2"),
                position: StreamPosition::Cursor("c1".into()),
                changed: true,
                sequence: 0,
                newest_after: None,
                window_after: None,
            },
            Advance {
                what: "a batch read by cursor: the window is the overlap before its newest",
                before: at_cursor("c1"),
                events: 2,
                newest: Some(1_000_000),
                written: written(&[("a", Some(900_000)), ("b", Some(1_000_000))]),
                next_cursor: Some("c2"),
                position: StreamPosition::Cursor("c1".into()),
                changed: true,
                sequence: 1,
                newest_after: Some(1_000_000),
                window_after: Some(1_000_000 - OVERLAP),
            },
            Advance {
                what: "a batch read by time: the window never starts before its from",
                before: checkpoint(),
                events: 1,
                newest: Some(1_000_000),
                written: written(&[("a", Some(1_000_000))]),
                next_cursor: Some("c2"),
                position: StreamPosition::From { from_ms: 950_000 },
                changed: true,
                sequence: 1,
                newest_after: Some(1_000_000),
                window_after: Some(950_000),
            },
            Advance {
                what: "an older newest does not move the checkpoint back",
                before: Checkpoint {
                    newest_processed_at_ms: Some(2_000_000),
                    window_start_ms: Some(2_000_000 - OVERLAP),
                    ..at_cursor("c1")
                },
                events: 1,
                newest: Some(1_000_000),
                written: written(&[("a", None)]),
                next_cursor: Some("c2"),
                position: StreamPosition::Cursor("c1".into()),
                changed: true,
                sequence: 1,
                newest_after: Some(2_000_000),
                window_after: Some(2_000_000 - OVERLAP),
            },
            Advance {
                what: "the stream ended without a cursor: reads by time from the window next",
                before: at_cursor("c1"),
                events: 1,
                newest: Some(1_000_000),
                written: written(&[("a", Some(1_000_000))]),
                next_cursor: None,
                position: StreamPosition::Cursor("c1".into()),
                changed: true,
                sequence: 1,
                newest_after: Some(1_000_000),
                window_after: Some(1_000_000 - OVERLAP),
            },
        ];
        for case in cases {
            let mut c = Checkpoint {
                pending: Some(pending(3, &[H], false)),
                ..case.before
            };
            let batch = BatchWritten {
                events: case.events,
                newest_processed_at_ms: case.newest,
                written: &case.written,
            };
            let changed = c.advance(
                &batch,
                case.next_cursor.map(str::to_string),
                &case.position,
                OVERLAP,
                5_000_000,
            );
            let what = case.what;
            assert_eq!(changed, case.changed, "{what}: changed");
            assert_eq!(c.pending, None, "{what}: pending");
            assert_eq!(c.sequence, case.sequence, "{what}: sequence");
            assert_eq!(c.events_written, case.events, "{what}: events");
            assert_eq!(
                c.newest_processed_at_ms, case.newest_after,
                "{what}: newest"
            );
            assert_eq!(c.window_start_ms, case.window_after, "{what}: window");
            assert_eq!(c.cursor.as_deref(), case.next_cursor, "{what}: cursor");
            for (key, _) in &case.written {
                assert!(c.recent.contains(key), "{what}: {key} is remembered");
            }
        }
    }
}
