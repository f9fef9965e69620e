//! One run over one source, as a value: a reading half ([`reader`]: pages into batches, the
//! next page fetched while one is normalized) and a writing half ([`writer`]: objects, pending
//! record, announcements, commit). While batch N is written, batch N+1 is read: its pages are
//! fetched and normalized into compressed objects in memory, and it is recorded as pending
//! only after N commits, so what is recorded, what a redo reads and which keys are written are
//! as if the batches followed each other. A crash discards N+1's reading like any read.
mod reader;
mod writer;

use super::batch::BatchBuilder;
use super::detection::BatchDetection;
use super::{now_ms, Collector, RunError, RunSummary, StopReason};
use crate::checkpoint::{Checkpoint, Fence};
use crate::detect::DetectState;
use crate::source::{StreamPosition, WireCounters};
use reader::{BatchEnd, Reader, Reading};
use std::sync::Arc;
use tokio::time::Instant;
use writer::{AfterError, Prepared, Writer};

pub(super) struct Pass<'r> {
    reader: Reader<'r>,
    writer: Writer<'r>,
    /// Where a first run (no checkpoint position yet) starts reading.
    initial_from_ms: i64,
}

impl<'r> Pass<'r> {
    pub fn new(
        parts: &'r Collector,
        owner: String,
        checkpoint: Checkpoint,
        fetch_deadline: Instant,
        fence: Fence,
        summary: &'r mut RunSummary,
        wire: Arc<WireCounters>,
    ) -> Self {
        let initial_from_ms = parts
            .settings
            .first_from_ms
            .unwrap_or_else(|| now_ms() - parts.settings.initial_lookback.as_millis() as i64);
        Pass {
            reader: Reader {
                parts,
                fetch_deadline,
                wire,
                read_ahead: None,
            },
            writer: Writer {
                parts,
                owner,
                committed_sequence: checkpoint.sequence,
                checkpoint,
                fence,
                summary,
                seal: None,
            },
            initial_from_ms,
        }
    }

    /// See [`Writer::check_detect_state`].
    pub async fn check_detect_state(&mut self) -> Result<(), RunError> {
        self.writer.check_detect_state().await
    }

    /// Reads, writes and commits batch after batch until the stream ends or the time is up;
    /// the checkpoint as it stands when it stops.
    /// The checkpoint as it stands when it stops, and the sequence below which its batches are
    /// committed in the store.
    pub async fn work(mut self) -> (Result<StopReason, RunError>, Checkpoint, u64) {
        let outcome = self.batches().await;
        // A page read ahead that the run no longer needs: stop it before the counters are read.
        self.reader.cancel_read_ahead().await;
        (
            outcome,
            self.writer.checkpoint,
            self.writer.committed_sequence,
        )
    }

    async fn batches(&mut self) -> Result<StopReason, RunError> {
        // A batch read while the one before it was written.
        let mut read_ahead: Option<(Reading, BatchEnd)> = None;
        loop {
            let (reading, end) = match read_ahead.take() {
                Some(read) => read,
                None => {
                    if Instant::now() >= self.reader.fetch_deadline {
                        return Ok(StopReason::Budget);
                    }
                    let mut reading = self.reading_from_checkpoint();
                    let end = self.reader.read_pages(&mut reading).await?;
                    (reading, end)
                }
            };
            if reading.builder.pages() > 0 {
                let goes_on =
                    matches!(end, BatchEnd::Full) && Instant::now() < self.reader.fetch_deadline;
                let prepared = self.writer.prepare(reading, !goes_on).await?;
                let following = match goes_on {
                    true => self.reading_after(&prepared),
                    false => None,
                };
                match following {
                    Some(mut following) => {
                        let end = self.write_while_reading(prepared, &mut following).await?;
                        read_ahead = Some((following, end));
                    }
                    None => self.writer.write(prepared).await?,
                }
            }
            let stop = match end {
                BatchEnd::Full => None,
                BatchEnd::CaughtUp => Some(StopReason::CaughtUp),
                BatchEnd::Deadline => Some(StopReason::Budget),
                BatchEnd::FetchFailed(e) => match self.writer.after_fetch_error(e)? {
                    AfterError::ReadAgain => None,
                    AfterError::Stop(reason) => Some(reason),
                },
            };
            if let Some(stop) = stop {
                return Ok(stop);
            }
        }
    }

    /// The batch the checkpoint says comes next (a redo of its pending batch, if any).
    fn reading_from_checkpoint(&self) -> Reading {
        let checkpoint = &self.writer.checkpoint;
        let start = checkpoint.position(self.initial_from_ms);
        // A read by time skips what was processed before its `from`, a read by cursor what was
        // processed before the window start: written already, and past the recent ids (a page
        // repeating events from before its cursor can reach back that far).
        let written_before = match &start {
            StreamPosition::From { from_ms } => Some(*from_ms),
            StreamPosition::Cursor(_) => checkpoint.window_start_ms,
        };
        let redo_target = match &checkpoint.pending {
            Some(pending) => {
                let page_limit = self.reader.parts.settings.page_limit;
                Some(pending.redo_count(checkpoint.lease_takes, page_limit))
            }
            None => checkpoint.batch_cap,
        };
        let builder = self.builder(written_before, &checkpoint.detect);
        Reading::new(start, builder, checkpoint.recent.clone(), redo_target)
    }

    /// The objects of a batch, of the events not written before `written_before`, and its
    /// detect stage going on from `detect_state`.
    fn builder(&self, written_before: Option<i64>, detect_state: &DetectState) -> BatchBuilder {
        let detection = BatchDetection::new(&self.reader.parts.detection, detect_state);
        BatchBuilder::new(written_before)
            .within(self.reader.parts.settings.window)
            .detecting(detection)
    }

    /// The batch after `prepared`, read while `prepared` is written: from its cursor, with its
    /// ids among those written and the detection state it leaves. `None` when it ended
    /// without a cursor to go on from.
    fn reading_after(&self, prepared: &Prepared) -> Option<Reading> {
        let start = StreamPosition::Cursor(prepared.cursor.clone()?);
        let mut recent = self.writer.checkpoint.recent.clone();
        for (hash, processed_ms) in &prepared.batch.written {
            recent.insert_hash(*hash, processed_ms.unwrap_or(i64::MAX));
        }
        // Every id at or after the checkpoint's window start is in `recent` (the checkpoint's, and
        // the prepared batch's): what a repeat brings from before it was written already.
        let written_before = self.writer.checkpoint.window_start_ms;
        let builder = self.builder(written_before, &prepared.detect_state);
        Some(Reading::new(start, builder, recent, prepared.batch_cap))
    }

    /// Writes `prepared` and reads `following` at the same time; once the write is done, the
    /// reading goes on to its end. A failed write ends both (what was read is discarded).
    async fn write_while_reading(
        &mut self,
        prepared: Prepared,
        following: &mut Reading,
    ) -> Result<BatchEnd, RunError> {
        let write = self.writer.write(prepared);
        let read = self.reader.read_pages(following);
        tokio::pin!(write, read);
        let mut read_end = None;
        let written = loop {
            tokio::select! {
                written = &mut write => break written,
                end = &mut read, if read_end.is_none() => read_end = Some(end),
            }
        };
        written?;
        match read_end {
            Some(end) => end,
            None => read.await,
        }
    }
}
