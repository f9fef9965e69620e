//! How a checkpoint moves between a run's writes: pure transitions, applied by the pipeline
//! and stored by a `CheckpointStore`.
use super::{Checkpoint, PendingBatch, StagedLate};
use crate::source::StreamPosition;
use std::collections::BTreeSet;

/// The objects a batch writes: the hours of event time it has events in, and whether it has a
/// quarantine object.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchObjects {
    pub hours: Vec<i64>,
    pub quarantine: bool,
    /// Whether it has a staging object (its late events, [`Checkpoint::staged`]).
    pub staging: bool,
    /// Hours (of their first event) the batch's alerts are written under.
    pub alert_hours: Vec<i64>,
    /// Whether its alerts hold a summary of matches past the cap of new alerts a batch.
    pub over_cap_summary: bool,
}

/// What a batch whose objects are durable changes in the checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct BatchWritten<'a> {
    /// Events written, valid and quarantined.
    pub events: u64,
    pub newest_processed_at_ms: Option<i64>,
    /// (dedupe-key hash, processedAt ms if known) of each event written, in stream order.
    pub written: &'a [(u64, Option<i64>)],
    /// Events of the batch's last page, repeats included: a read by the cursor kept can serve
    /// that page again, so at least that many of the newest ids stay among the recent ones and
    /// a cursor read drops its repeats by id alone.
    pub last_page_events: usize,
    /// Staging objects (the oldest of [`Checkpoint::staged`]) whose events its hour objects
    /// carry.
    pub carried: usize,
    /// Its own staging object: (events, bytes).
    pub staging: Option<(u64, u64)>,
}

/// Bytes staged past which the next batch carries them even when more batches follow, and the
/// most one batch carries (a prefix of the staged objects, at least one): carried events are
/// held compressed in memory beside the batch's own objects. 16 MiB keeps a run of a million
/// events to one carry (benches/e2e.sh: about 10 MiB staged) and the peak under 64 MB.
pub const CARRY_STAGED_BYTES: u64 = 16 * 1024 * 1024;
/// Staging objects past which likewise: the checkpoint lists each.
pub const MAX_STAGED: usize = 32;

/// How many of the `staged` objects (oldest first) a batch carries into its hour objects, so
/// that the late hours of a run get one object each (from its last batch) instead of one per
/// batch: in the run's last batch, or once what is staged passes [`CARRY_STAGED_BYTES`] or
/// [`MAX_STAGED`], as many as fit in [`CARRY_STAGED_BYTES`] (at least one); none in other
/// batches. A redo that shrinks (attempts of it failed, and carrying writes up to hundreds of
/// hours) carries none, or half of those once past a bound: the batch itself gets through
/// first.
pub fn carried_count(staged: &[StagedLate], last_of_run: bool, shrunk: bool) -> usize {
    let bytes: u64 = staged.iter().map(|s| s.bytes).sum();
    let over = bytes >= CARRY_STAGED_BYTES || staged.len() >= MAX_STAGED;
    let mut sum = 0;
    let fits = staged
        .iter()
        .take_while(|s| {
            sum += s.bytes;
            sum <= CARRY_STAGED_BYTES
        })
        .count()
        .max(1)
        .min(staged.len());
    match (shrunk, over || last_of_run) {
        (true, _) if over => fits / 2,
        (true, _) | (false, false) => 0,
        (false, true) => fits,
    }
}

/// Events to ask for once a batch holds `read`: a page's worth, or, in a redo that reads
/// `redo_target` events again, no more than it still has to read.
pub fn redo_limit(redo_target: Option<u32>, page_limit: u32, read: u32) -> u32 {
    match redo_target {
        Some(target) if target > read => (target - read).min(page_limit),
        _ => page_limit,
    }
}

/// The cap on fresh batches once a batch of `events_read` events commits: set to twice what got
/// through when the batch was a `shrunk` redo (attempts before it failed:
/// [`PendingBatch::shrinks`]), doubled after any other batch that read events, dropped once it
/// reaches `bound` (the configured BATCH_MAX_EVENTS).
pub fn next_batch_cap(cap: Option<u32>, shrunk: bool, events_read: u32, bound: u32) -> Option<u32> {
    let doubled = if shrunk {
        events_read.max(1).saturating_mul(2)
    } else {
        match cap {
            Some(cap) if events_read > 0 => cap.saturating_mul(2),
            other => return other,
        }
    };
    (doubled < bound).then_some(doubled)
}

impl Checkpoint {
    /// Where the next batch starts: the cursor, else where a pending batch started by time,
    /// else the window start (everything before it was written), else `initial_from_ms` (a
    /// first run).
    pub fn position(&self, initial_from_ms: i64) -> StreamPosition {
        let pending_from = self.pending.as_ref().and_then(|p| p.from_ms);
        match &self.cursor {
            Some(c) => StreamPosition::Cursor(c.clone()),
            None => StreamPosition::From {
                from_ms: pending_from
                    .or(self.window_start_ms)
                    .unwrap_or(initial_from_ms),
            },
        }
    }

    /// How many events to ask for once the batch being read holds `read`. A pending batch is
    /// redone with the count it was cut at (halved for each attempt that failed since,
    /// [`PendingBatch::redo_count`]): its pages ask for no more than the events still to read
    /// again, so a redo reads the same events, or a prefix of them, however the API cuts its
    /// pages now. A redo that reads fewer (the stream ends, the deadline, the halving)
    /// overwrites the same keys with them and deletes the keys it no longer needs; the rest
    /// come in the next batch.
    // The run asks through `redo_limit` with the target it took from the pending batch;
    // this form, from the checkpoint itself, is what the tables below read.
    #[cfg(test)]
    pub fn limit(&self, page_limit: u32, read: u32) -> u32 {
        redo_limit(
            self.pending
                .as_ref()
                .map(|p| p.redo_count(self.lease_takes, page_limit)),
            page_limit,
            read,
        )
    }

    /// Write-ahead: records the batch about to be written (read from `start`, cut at
    /// `event_count` events over its pages) with its objects and any `previous` attempt of it
    /// may have left, before any object exists.
    pub fn record_pending(
        &mut self,
        event_count: u32,
        start: &StreamPosition,
        objects: &BatchObjects,
        previous: Option<&PendingBatch>,
    ) {
        let mut hours: BTreeSet<i64> = objects.hours.iter().copied().collect();
        let mut alert_hours: BTreeSet<i64> = objects.alert_hours.iter().copied().collect();
        if let Some(p) = previous {
            hours.extend(p.hours.iter().copied());
            alert_hours.extend(p.alert_hours.iter().copied());
        }
        let from_ms = match start {
            StreamPosition::From { from_ms } => Some(*from_ms),
            StreamPosition::Cursor(_) => None,
        };
        self.pending = Some(PendingBatch {
            event_count,
            from_ms,
            hours: hours.into_iter().collect(),
            quarantine: objects.quarantine || previous.is_some_and(|p| p.quarantine),
            staging: objects.staging || previous.is_some_and(|p| p.staging),
            alert_hours: alert_hours.into_iter().collect(),
            announce_failures: previous.map_or(0, |p| p.announce_failures),
            redos: previous.map_or(0, |p| p.redos.saturating_add(1)),
            at_lease_take: Some(self.lease_takes),
            over_cap_summary: objects.over_cap_summary,
        });
    }

    /// Moves past a batch read from `position` (where its first page started) whose objects are all durable: it is no longer
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
        if let Some((events, bytes)) = batch.staging {
            self.staged.push(StagedLate {
                sequence: self.sequence,
                events,
                bytes,
            });
        }
        let carried = batch.carried.min(self.staged.len());
        self.staged.drain(..carried);
        // A batch that only carries staged events still took its sequence for its keys.
        if batch.events > 0 || carried > 0 {
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
        for (hash, processed_ms) in batch.written {
            self.recent
                .insert_hash(*hash, processed_ms.unwrap_or(fallback));
        }
        let keep_last = batch.written.len().max(batch.last_page_events);
        if let Some(window) = self.window_after(keep_last, position, overlap_ms) {
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
    /// Runs that took the lease after this record was written and did not commit, the run
    /// redoing it not counted: each died or failed before it could write a record of its own
    /// (killed while reading, out of time, the API or the write-ahead failing).
    pub fn runs_failed_since(&self, lease_takes: u64) -> u64 {
        if self.over_cap_summary {
            // Its attempt may have announced the summary before failing to commit: a redo
            // reads the same events, so it archives the alert it announced.
            return 0;
        }
        self.at_lease_take
            .map_or(0, |at| lease_takes.saturating_sub(at).saturating_sub(1))
    }

    /// Events a redo of this batch reads, run with the checkpoint's `lease_takes` and the run's
    /// `page_limit`: all it was cut at when nothing failed since it was recorded (the attempt
    /// that wrote the record may only have crashed); half of it when the record is a redo's own
    /// (that redo failed after it read, so the batch itself may be what fails: halved down to
    /// one event); and half again for each run that failed since without writing a record, down
    /// to one page (such a run died or ran out of time before it wrote anything: a shorter read
    /// helps, a read shorter than a page does not).
    pub fn redo_count(&self, lease_takes: u64, page_limit: u32) -> u32 {
        let recorded = match self.redos {
            0 => self.event_count,
            _ => (self.event_count / 2).max(1),
        };
        match self.runs_failed_since(lease_takes) {
            0 => recorded,
            runs => (recorded >> runs.min(31)).max(page_limit.min(recorded)),
        }
    }

    /// Whether a redo reads fewer events than the record because attempts before it failed
    /// ([`PendingBatch::redo_count`]).
    pub fn shrinks(&self, lease_takes: u64, page_limit: u32) -> bool {
        self.redo_count(lease_takes, page_limit) < self.event_count
    }

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
            staging: self.staging && !redo.staging,
            alert_hours: self
                .alert_hours
                .iter()
                .copied()
                .filter(|h| !redo.alert_hours.contains(h))
                .collect(),
            over_cap_summary: false,
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
            from_ms: None,
            hours: hours.to_vec(),
            quarantine,
            staging: false,
            alert_hours: Vec::new(),
            announce_failures: 0,
            redos: 0,
            at_lease_take: None,
            over_cap_summary: false,
        }
    }

    fn objects(hours: &[i64], quarantine: bool) -> BatchObjects {
        BatchObjects {
            hours: hours.to_vec(),
            quarantine,
            ..BatchObjects::default()
        }
    }

    fn with_alerts<T>(mut value: T, hours: &[i64], field: impl Fn(&mut T) -> &mut Vec<i64>) -> T {
        *field(&mut value) = hours.to_vec();
        value
    }

    #[test]
    fn where_the_next_batch_starts() {
        let cursor = Checkpoint {
            cursor: Some("c".into()),
            window_start_ms: Some(5),
            ..checkpoint()
        };
        let window = Checkpoint {
            window_start_ms: Some(5),
            ..checkpoint()
        };
        let redo_by_time = |window_start_ms| Checkpoint {
            window_start_ms,
            pending: Some(PendingBatch {
                from_ms: Some(3),
                ..pending(40, &[H], false)
            }),
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
                redo_by_time(None),
                StreamPosition::From { from_ms: 3 },
                "a redo of a first run's batch: where it started, not a new lookback",
            ),
            (
                redo_by_time(Some(3)),
                StreamPosition::From { from_ms: 3 },
                "a redo by time",
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
        // (pending event count, events read into the batch so far, limit, what)
        let cases = [
            (None, 0, 200, "no batch pending: the page limit"),
            (None, 800, 200, "no batch pending, any page: the page limit"),
            (Some(37), 0, 37, "a redo of a short batch: its count"),
            (Some(700), 0, 200, "a redo of a long batch: page by page"),
            (Some(700), 600, 100, "its last page: only what is left"),
            (Some(700), 700, 200, "a redo read in full: the next batch"),
            (Some(700), 750, 200, "a redo served more than asked"),
            (Some(0), 0, 200, "a record of nothing"),
        ];
        for (count, read, want, what) in cases {
            let c = Checkpoint {
                pending: count.map(|n| pending(n, &[], false)),
                ..checkpoint()
            };
            assert_eq!(c.limit(200, read), want, "{what}");
        }
    }

    #[test]
    fn the_write_ahead_covers_every_object_an_attempt_may_have_left() {
        let by_cursor = StreamPosition::Cursor("c".into());
        let cases = [
            (
                objects(&[H], false),
                None,
                by_cursor.clone(),
                pending(9, &[H], false),
                "first attempt",
            ),
            (
                objects(&[H], false),
                Some(pending(9, &[2 * H, H], true)),
                by_cursor.clone(),
                pending(9, &[H, 2 * H], true),
                "a redo keeps the earlier attempt's hours and quarantine",
            ),
            (
                objects(&[], true),
                Some(pending(9, &[H], false)),
                by_cursor,
                pending(9, &[H], true),
                "a redo that only quarantines",
            ),
            (
                objects(&[H], false),
                None,
                StreamPosition::From { from_ms: 77 },
                PendingBatch {
                    from_ms: Some(77),
                    ..pending(9, &[H], false)
                },
                "a batch read by time keeps where it started",
            ),
            (
                with_alerts(objects(&[H], false), &[2 * H], |o| &mut o.alert_hours),
                Some(with_alerts(pending(9, &[H], false), &[3 * H], |p| {
                    &mut p.alert_hours
                })),
                StreamPosition::Cursor("c".into()),
                with_alerts(pending(9, &[H], false), &[2 * H, 3 * H], |p| {
                    &mut p.alert_hours
                }),
                "a redo keeps the earlier attempt's alert hours too",
            ),
        ];
        for (batch, previous, start, want, what) in cases {
            let mut c = Checkpoint {
                lease_takes: 6,
                ..checkpoint()
            };
            c.record_pending(9, &start, &batch, previous.as_ref());
            // Each redo counts one more (a redo after a redo reads half), and every record
            // keeps the lease take it was written at.
            let want = PendingBatch {
                redos: u32::from(previous.is_some()),
                at_lease_take: Some(6),
                ..want
            };
            assert_eq!(c.pending, Some(want), "{what}");
        }
    }

    /// What a redo reads: the whole batch the first time; half of it after a redo that failed
    /// once it had read (down to one event); half again for each run that took the lease since
    /// the record and died or failed before writing one, down to a page.
    #[test]
    fn a_batch_redone_more_than_once_shrinks() {
        const PAGE: u32 = 50;
        // (event count, redos, lease take of the record, lease takes now, redo count, what)
        let cases = [
            (
                400,
                0,
                Some(3),
                4,
                400,
                "the first redo: maybe only a crash",
            ),
            (
                400,
                0,
                Some(3),
                5,
                200,
                "a run failed since without writing: half",
            ),
            (400, 0, Some(3), 6, 100, "two did: a quarter"),
            (400, 0, Some(3), 9, 50, "more: down to a page"),
            (
                30,
                0,
                Some(3),
                9,
                30,
                "a batch shorter than a page: as it was",
            ),
            (400, 1, Some(3), 4, 200, "the record of a failed redo: half"),
            (40, 2, Some(3), 4, 20, "a redo's record: below a page"),
            (1, 5, Some(3), 4, 1, "at least one event"),
            (
                200,
                1,
                Some(3),
                5,
                50,
                "a failed redo's record, then a run failed: half again",
            ),
            (
                400,
                1,
                None,
                90,
                200,
                "a record from before lease takes: redos alone",
            ),
            (400, 0, None, 90, 400, "... the first redo of one"),
            (400, 0, Some(0), u64::MAX, 50, "never overflows"),
            (0, 0, Some(3), 4, 0, "a record of nothing: nothing"),
        ];
        for (event_count, redos, at_lease_take, lease_takes, want, what) in cases {
            let p = PendingBatch {
                redos,
                at_lease_take,
                ..pending(event_count, &[H], false)
            };
            // A batch whose alerts summarize matches past the cap: runs that failed since do
            // not shrink it (an attempt may have announced the summary, whose id depends on
            // exactly which events it holds); a failed redo's record still halves it.
            let summarizing = PendingBatch {
                over_cap_summary: true,
                ..p.clone()
            };
            let whole = if redos == 0 {
                event_count
            } else {
                (event_count / 2).max(1)
            };
            assert_eq!(
                summarizing.redo_count(lease_takes, PAGE),
                whole,
                "{what}, summarizing"
            );
            assert_eq!(p.redo_count(lease_takes, PAGE), want, "{what}");
            assert_eq!(p.shrinks(lease_takes, PAGE), want < event_count, "{what}");
            let c = Checkpoint {
                pending: Some(p),
                lease_takes,
                ..checkpoint()
            };
            if want > 0 {
                assert_eq!(
                    c.limit(PAGE, 0),
                    PAGE.min(want),
                    "{what}: the first page asks for it"
                );
            }
        }
    }

    /// After a batch that got through only once shrunk, fresh batches start small and double
    /// with each commit until they are back at the bound; good days never set a cap.
    #[test]
    fn fresh_batches_start_small_after_a_shrunk_one_and_grow_back() {
        const BOUND: u32 = 50_000;
        // (cap before, whether the committed batch was a shrunk redo, events it read, cap after)
        let cases = [
            (
                None,
                false,
                40_000,
                None,
                "a good day, or a redo of the whole batch: no cap",
            ),
            (
                None,
                true,
                100,
                Some(200),
                "shrunk to 100: fresh batches of 200",
            ),
            (None, true, 0, Some(2), "shrunk to nothing read: at least 2"),
            (
                Some(200),
                false,
                200,
                Some(400),
                "a capped batch got through: double",
            ),
            (Some(200), false, 0, Some(200), "nothing read: as it was"),
            (
                Some(30_000),
                false,
                30_000,
                None,
                "back past the bound: no cap",
            ),
            (
                Some(400),
                true,
                50,
                Some(100),
                "shrunk again: start over from what got through",
            ),
            (Some(u32::MAX), false, 10, None, "never overflows"),
        ];
        for (cap, shrunk, read, want, what) in cases {
            assert_eq!(next_batch_cap(cap, shrunk, read, BOUND), want, "{what}");
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
        let earlier = with_alerts(pending(9, &[H], false), &[H, 2 * H], |p| &mut p.alert_hours);
        let redo = with_alerts(objects(&[H], false), &[2 * H, 5 * H], |o| {
            &mut o.alert_hours
        });
        assert_eq!(
            earlier.left_over(&redo),
            with_alerts(objects(&[], false), &[H], |o| &mut o.alert_hours),
            "alerts the redo no longer raises under an hour are deleted"
        );
        let staging = |staging| BatchObjects {
            staging,
            ..objects(&[H], false)
        };
        let earlier = PendingBatch {
            staging: true,
            ..pending(9, &[H], false)
        };
        assert_eq!(earlier.left_over(&staging(true)), objects(&[], false));
        assert_eq!(
            earlier.left_over(&staging(false)),
            BatchObjects {
                staging: true,
                ..objects(&[], false)
            },
            "a redo that carries its late events deletes the staging object an attempt wrote"
        );
    }

    fn staged(bytes: &[u64]) -> Vec<StagedLate> {
        bytes
            .iter()
            .enumerate()
            .map(|(i, &bytes)| StagedLate {
                sequence: i as u64,
                events: 1,
                bytes,
            })
            .collect()
    }

    #[test]
    fn which_staged_objects_a_batch_carries() {
        let big = CARRY_STAGED_BYTES;
        let many = vec![1; MAX_STAGED];
        // (staged bytes, last of its run, a shrunk redo, carried, why)
        let cases: [(&[u64], bool, bool, usize, &str); 12] = [
            (&[], true, false, 0, "nothing staged"),
            (
                &[10, 20],
                false,
                false,
                0,
                "more batches follow in this run",
            ),
            (
                &[10, 20],
                true,
                false,
                2,
                "the run's last batch carries all",
            ),
            (&[big / 2, big / 2], false, false, 2, "past the byte bound"),
            (&many, false, false, MAX_STAGED, "past the count bound"),
            (&[10, 20], true, true, 0, "a shrunk redo carries nothing"),
            (
                &[1, 1, big - 2, 1],
                true,
                true,
                1,
                "a shrunk redo past a bound: half",
            ),
            (
                &many,
                false,
                true,
                MAX_STAGED / 2,
                "a shrunk redo, many: half",
            ),
            (&[big], false, true, 0, "half of one is none"),
            (
                &[big + 1],
                false,
                false,
                1,
                "one object past the byte bound",
            ),
            (
                &[big / 2, big / 2, 5],
                true,
                false,
                2,
                "no more than the bound",
            ),
            (&[big / 2, big / 2 + 1, 5], false, false, 1, "at least one"),
        ];
        for (bytes, last, shrunk, want, why) in cases {
            assert_eq!(carried_count(&staged(bytes), last, shrunk), want, "{why}");
        }
    }

    /// The commit adds the batch's staging object to the list and drops those it carried; a
    /// batch that only carries still takes its sequence (its keys hold events).
    #[test]
    fn committing_stages_and_carries() {
        // (events, staging objects carried, its own staging object, staged after, sequence after)
        type Case<'a> = (u64, usize, Option<(u64, u64)>, &'a [u64], u64, &'a str);
        let cases: [Case; 5] = [
            (5, 0, Some((2, 100)), &[0, 1, 2, 7], 8, "stages its own"),
            (5, 2, None, &[2], 8, "carries the two oldest"),
            (5, 3, Some((1, 10)), &[7], 8, "carries all, stages its own"),
            (0, 3, None, &[], 8, "carries only: the sequence moves"),
            (
                0,
                0,
                None,
                &[0, 1, 2],
                7,
                "nothing at all: the sequence stays",
            ),
        ];
        for (events, carried, staging, want, sequence, why) in cases {
            let mut c = Checkpoint {
                sequence: 7,
                staged: staged(&[1, 1, 1]),
                ..checkpoint()
            };
            let batch = BatchWritten {
                events,
                newest_processed_at_ms: None,
                written: &[],
                last_page_events: 0,
                carried,
                staging,
            };
            c.advance(&batch, None, &StreamPosition::Cursor("c".into()), 0, 0);
            let sequences: Vec<u64> = c.staged.iter().map(|s| s.sequence).collect();
            assert_eq!(
                (sequences.as_slice(), c.sequence),
                (want, sequence),
                "{why}"
            );
        }
    }

    struct Advance {
        what: &'static str,
        before: Checkpoint,
        events: u64,
        newest: Option<i64>,
        written: Vec<(u64, Option<i64>)>,
        next_cursor: Option<&'static str>,
        position: StreamPosition,
        changed: bool,
        sequence: u64,
        newest_after: Option<i64>,
        window_after: Option<i64>,
    }

    fn written(keys: &[(&str, Option<i64>)]) -> Vec<(u64, Option<i64>)> {
        keys.iter()
            .map(|(k, ms)| (crate::checkpoint::key_hash(k), *ms))
            .collect()
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
                last_page_events: case.written.len(),
                carried: 0,
                staging: None,
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
            for (hash, _) in &case.written {
                assert!(
                    c.recent.contains_hash(*hash),
                    "{what}: {hash} is remembered"
                );
            }
        }
    }
}
