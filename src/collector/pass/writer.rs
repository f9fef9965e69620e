//! The writing half of a run: a batch read becomes its objects, its pending record, its
//! announcements and its commit, each step of the exactly-once protocol (module docs of
//! `collector`) a method, every side effect inside the fence.
use super::super::batch::{Batch, BatchBuilder};
use super::super::detection::{alert_objects, DetectCounts, MAX_ANNOUNCE_ATTEMPTS};
use super::super::{now_ms, Collector, RunError, RunSummary, StopReason, READ_BACK_ATTEMPTS};
use super::reader::Reading;
use crate::checkpoint::{carried_count, next_batch_cap, Checkpoint, Fence, PendingBatch};
use crate::detect::{Alert, DetectState, SealKey, OVER_CAP_RULE};
use crate::sink::{alerts_key, logs_key, quarantine_key, staging_key, EncodedObject, SinkError};
use crate::source::{SourceError, StreamPosition};
use std::time::Duration;
use tracing::Instrument;

/// Objects of one batch written at once.
const MAX_CONCURRENT_PUTS: usize = 8;

pub(super) struct Writer<'r> {
    pub parts: &'r Collector,
    pub owner: String,
    pub checkpoint: Checkpoint,
    /// No side effect after this: the lease may have ended.
    pub fence: Fence,
    pub summary: &'r mut RunSummary,
    /// The key the detection state is checked and sealed with this run, if any.
    pub seal: Option<SealKey>,
    /// Batches below this sequence are committed in the store: the checkpoint's own sequence
    /// runs ahead of it when a commit's write fails (what derives from committed batches, the
    /// OCSF copy, must not take a batch still pending there).
    pub committed_sequence: u64,
}

/// A batch read and encoded, ready to be written: its objects, its alerts and the detection
/// state after it.
pub(super) struct Prepared {
    pub batch: Batch,
    pub alerts: Vec<Alert>,
    pub counts: DetectCounts,
    pub detect_state: DetectState,
    pub start: StreamPosition,
    pub cursor: Option<String>,
    pub pages: u32,
    pub events_read: u32,
    /// The checkpoint's `batch_cap` once this batch commits.
    pub batch_cap: Option<u32>,
}

/// What a fetch error means for the run.
pub(super) enum AfterError {
    /// The stored cursor was refused and dropped: read again, by time.
    ReadAgain,
    Stop(StopReason),
}

impl Writer<'_> {
    /// Takes the run's seal key, and discards a detection state that it did not seal: whoever
    /// rewrote it (a writer of the table) must not be able to keep an alert from opening.
    pub async fn check_detect_state(&mut self) -> Result<(), RunError> {
        let Some(keys) = &self.parts.detection.seal else {
            return Ok(());
        };
        let key = keys.seal_key().await.map_err(RunError::SealKey)?;
        let context = self.seal_context();
        let state = &mut self.checkpoint.detect;
        if !state.is_empty() && !state.is_sealed_by(&key, &context) {
            tracing::warn!(
                "the detection state in the checkpoint was not sealed by this collector's key (rewritten by someone who can write the table, or the API key was replaced): discarding it; open alerts and threshold counts start afresh (DetectStateRejected)"
            );
            *state = DetectState::default();
            self.summary.detect_state_rejected = true;
        }
        self.seal = Some(key);
        Ok(())
    }

    pub fn seal_context(&self) -> String {
        format!(
            "{}\0{}",
            self.parts.settings.source_id, self.checkpoint.generation
        )
    }

    /// The batch `reading` holds, encoded: its objects (carrying staged late events into them
    /// when it is the run's last, [`carried_count`]), its alerts, the detection state after it
    /// (sealed). Changes nothing.
    pub async fn prepare(&self, reading: Reading, last_of_run: bool) -> Result<Prepared, RunError> {
        let mut builder = reading.builder;
        let (pages, events_read) = (builder.pages(), builder.events_read());
        // A redo read fewer events than its record because attempts before it failed.
        let (takes, page_limit) = (self.checkpoint.lease_takes, self.parts.settings.page_limit);
        let pending = self.checkpoint.pending.as_ref();
        let shrunk = pending.is_some_and(|p| p.shrinks(takes, page_limit));
        self.carry_late(&mut builder, last_of_run, shrunk).await?;
        let detection = builder.take_detection();
        let mut batch = builder.finish()?;
        let (mut detect_state, mut alerts, counts) = match detection {
            Some(d) => d.finish(),
            None => (
                self.checkpoint.detect.clone(),
                Vec::new(),
                DetectCounts::default(),
            ),
        };
        if let Some(key) = &self.seal {
            detect_state.seal(key, &self.seal_context());
        }
        let source = self.parts.normalizer.source();
        for alert in &mut alerts {
            alert.source_id.clone_from(&source.source_id);
            alert.source_label.clone_from(&source.source_label);
        }
        batch.alerts = alert_objects(&alerts)?;
        batch.over_cap_summary = alerts.iter().any(|a| a.rule_id == OVER_CAP_RULE);
        let batch_cap = next_batch_cap(
            self.checkpoint.batch_cap,
            shrunk,
            events_read,
            self.parts.settings.batch_bounds.max_events,
        );
        Ok(Prepared {
            batch,
            alerts,
            counts,
            detect_state,
            start: reading.start,
            cursor: reading.cursor,
            pages,
            events_read,
            batch_cap,
        })
    }

    /// Puts late events into the batch's hour objects instead of a staging object when it is
    /// the run's last (or what is staged passed a bound, [`carried_count`]): its own, and
    /// those the batches before it staged, read back (oldest first).
    async fn carry_late(
        &self,
        builder: &mut BatchBuilder,
        last_of_run: bool,
        shrunk: bool,
    ) -> Result<(), RunError> {
        let carried = carried_count(&self.checkpoint.staged, last_of_run, shrunk);
        if carried > 0 || (last_of_run && !shrunk) {
            builder.carry_own_late()?;
        }
        for staged in &self.checkpoint.staged[..carried] {
            let key = staging_key(&self.checkpoint.generation, staged.sequence);
            let read = self.parts.sink.read(&key);
            let body = self
                .fence
                .within("reading a staging object", read)
                .await??;
            builder.carry(&body.ok_or(RunError::StagingMissing { key })?)?;
        }
        Ok(())
    }

    /// Writes the batch read (its events and its alerts), announces its new alerts, and moves
    /// the checkpoint past it.
    pub async fn write(&mut self, prepared: Prepared) -> Result<(), RunError> {
        let Prepared {
            batch,
            alerts,
            counts,
            detect_state,
            start,
            cursor,
            pages,
            events_read,
            batch_cap,
        } = prepared;
        let previous = self.checkpoint.pending.take();
        if batch.is_empty() {
            if let Some(p) = &previous {
                self.delete_left_over(p, &batch).await?;
            }
        } else {
            self.write_ahead(&batch, events_read, &start, previous.as_ref())
                .await?;
            // A redo first deletes what earlier attempts left and records that they are gone,
            // so a redo that fails later does not leave them all to delete again: a batch that
            // shrank after failed attempts costs a shrunk redo.
            if let Some(p) = &previous {
                if self.delete_left_over(p, &batch).await? > 0 {
                    self.forget_left_over(&batch).await?;
                }
            }
            self.write_objects(&batch).await?;
        }
        let (announced, undelivered) = self.announce(&alerts).await?;
        self.checkpoint.detect = detect_state;
        let capped = self.checkpoint.batch_cap != batch_cap;
        self.checkpoint.batch_cap = batch_cap;
        let must_save =
            previous.is_some() || capped || batch.carried > 0 || batch.staging.is_some();
        self.commit(&batch, cursor, &start, must_save).await?;
        self.summary.raised(&alerts, announced);
        self.summary.alerts_undelivered += undelivered as u64;
        self.summary.detected(counts);
        self.summary.duplicates_dropped += batch.duplicates;
        self.summary.dropped_before_window += batch.before_window;
        self.summary.dropped_outside_window += batch.outside_window;
        tracing::info!(
            pages,
            events = events_read,
            written = batch.valid,
            quarantined = batch.quarantined,
            duplicates = batch.duplicates,
            alerts = alerts.len(),
            staged_late = batch.staging.as_ref().map_or(0, |o| o.event_count),
            carried_late = batch.carried_events,
            objects = batch.hours.len()
                + usize::from(batch.quarantine.is_some())
                + usize::from(batch.staging.is_some())
                + batch.alerts.len(),
            sequence = self.checkpoint.sequence,
            "batch done"
        );
        Ok(())
    }

    pub fn after_fetch_error(&mut self, error: SourceError) -> Result<AfterError, RunError> {
        match error {
            // Refusing a cursor we did not send: retrying would only repeat it.
            SourceError::InvalidCursor if self.checkpoint.cursor.is_none() => {
                Err(SourceError::CursorRefusedUnsent.into())
            }
            SourceError::InvalidCursor => {
                tracing::warn!(
                    "the API refused the stored cursor; resuming from the time checkpoint, repeats are dropped by id"
                );
                self.checkpoint.cursor = None;
                Ok(AfterError::ReadAgain)
            }
            SourceError::RateLimited => Ok(AfterError::Stop(StopReason::RateLimited)),
            SourceError::BudgetSpent => Ok(AfterError::Stop(StopReason::Budget)),
            e => Err(e.into()),
        }
    }

    /// Records the batch (where it starts, how many events it was cut at, its objects and any
    /// keys a previous attempt may have left) before its objects exist.
    async fn write_ahead(
        &mut self,
        batch: &Batch,
        events_read: u32,
        start: &StreamPosition,
        previous: Option<&PendingBatch>,
    ) -> Result<(), RunError> {
        self.checkpoint
            .record_pending(events_read, start, &batch.objects(), previous);
        self.save().await
    }

    /// A batch's objects (one per event hour, and the quarantine) are independent: they are
    /// written a few at a time. Unfinished writes are aborted if one fails (the batch is
    /// pending, so the next run redoes it).
    async fn write_objects(&mut self, batch: &Batch) -> Result<(), RunError> {
        let mut objects = self.keyed(batch).into_iter();
        let mut puts = tokio::task::JoinSet::new();
        loop {
            while puts.len() < MAX_CONCURRENT_PUTS {
                let Some((key, object)) = objects.next() else {
                    break;
                };
                let (sink, object) = (self.parts.sink.clone(), object.clone());
                puts.spawn(
                    async move { sink.put(&key, &object).await.map(|()| object.body.len()) }
                        .in_current_span(),
                );
            }
            // Returning drops the set, which aborts the writes still in flight.
            let Some(joined) = self
                .fence
                .within("writing the batch's objects", puts.join_next())
                .await?
            else {
                return Ok(());
            };
            let bytes = match joined {
                Ok(written) => written?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => return Err(self.cancelled_write(e).into()),
            };
            self.summary.objects_written += 1;
            self.summary.bytes_written += bytes as u64;
        }
    }

    /// The batch's objects under the keys of this checkpoint's generation and sequence.
    fn keyed<'b>(&self, batch: &'b Batch) -> Vec<(String, &'b EncodedObject)> {
        let (generation, sequence) = (&self.checkpoint.generation, self.checkpoint.sequence);
        let mut objects: Vec<(String, &EncodedObject)> = batch
            .hours
            .iter()
            .map(|(hour, object)| (logs_key(*hour, generation, sequence), object))
            .collect();
        if let Some(q) = &batch.quarantine {
            objects.push((quarantine_key(generation, sequence), q));
        }
        if let Some(staging) = &batch.staging {
            objects.push((staging_key(generation, sequence), staging));
        }
        objects.extend(
            batch
                .alerts
                .iter()
                .map(|(hour, object)| (alerts_key(*hour, generation, sequence), object)),
        );
        objects
    }

    /// Announces the batch's new alerts, now that they are durable in the archive and before
    /// the checkpoint moves past them: a crash in between announces them again (same ids), and
    /// none is lost while the channel works. A failure is recorded in the pending batch; after
    /// [`MAX_ANNOUNCE_ATTEMPTS`] failed attempts the batch goes on without what cannot be
    /// announced. (announced, undelivered).
    async fn announce(&mut self, alerts: &[Alert]) -> Result<(usize, usize), RunError> {
        let notifiers = &self.parts.detection.notifiers;
        let failures = self
            .checkpoint
            .pending
            .as_ref()
            .map_or(0, |p| p.announce_failures);
        if failures >= MAX_ANNOUNCE_ATTEMPTS {
            let (announced, undelivered) = self
                .fence
                .within(
                    "announcing the batch's alerts",
                    notifiers.publish_what_can_be(alerts),
                )
                .await?;
            if undelivered > 0 {
                tracing::error!(
                    undelivered,
                    attempts = failures,
                    "alerts could not be announced after {MAX_ANNOUNCE_ATTEMPTS} attempts of their batch: the batch is committed, the alerts are in alerts/ (AlertsUndelivered)"
                );
            }
            return Ok((announced, undelivered));
        }
        let publish = notifiers.publish(alerts);
        match self
            .fence
            .within("announcing the batch's alerts", publish)
            .await?
        {
            Ok(announced) => Ok((announced, 0)),
            Err(e) => {
                self.record_announce_failure().await;
                Err(e.into())
            }
        }
    }

    /// Counts a failed announcement in the pending batch, so that a channel refusing every
    /// attempt stops the batch only [`MAX_ANNOUNCE_ATTEMPTS`] times. A failure to record it
    /// only means one more attempt.
    async fn record_announce_failure(&mut self) {
        let Some(pending) = self.checkpoint.pending.as_mut() else {
            return;
        };
        pending.announce_failures += 1;
        if let Err(e) = self.save().await {
            tracing::warn!(error = %e, "could not record the failed announcement in the checkpoint; the next run tries again");
        }
    }

    fn cancelled_write(&self, e: tokio::task::JoinError) -> SinkError {
        SinkError {
            sink: self.parts.sink.describe(),
            action: "write",
            key: "an object of the batch".into(),
            reason: format!("the write was cancelled: {e}"),
        }
    }

    /// The pending record lists only this attempt's objects, now that those of earlier attempts
    /// are deleted.
    async fn forget_left_over(&mut self, batch: &Batch) -> Result<(), RunError> {
        if let Some(pending) = self.checkpoint.pending.as_mut() {
            let objects = batch.objects();
            pending.hours = objects.hours;
            pending.quarantine = objects.quarantine;
            pending.staging = objects.staging;
            pending.alert_hours = objects.alert_hours;
        }
        self.save().await
    }

    /// Deletes keys a previous attempt of this batch wrote that this attempt does not need;
    /// how many.
    async fn delete_left_over(
        &self,
        previous: &PendingBatch,
        batch: &Batch,
    ) -> Result<usize, RunError> {
        let left_over = previous.left_over(&batch.objects());
        let (generation, sequence) = (&self.checkpoint.generation, self.checkpoint.sequence);
        let mut keys: Vec<String> = left_over
            .hours
            .into_iter()
            .map(|hour| logs_key(hour, generation, sequence))
            .collect();
        if left_over.quarantine {
            keys.push(quarantine_key(generation, sequence));
        }
        if left_over.staging {
            keys.push(staging_key(generation, sequence));
        }
        keys.extend(
            left_over
                .alert_hours
                .into_iter()
                .map(|hour| alerts_key(hour, generation, sequence)),
        );
        // A few at a time, as the objects are written: on a bad day (stalls, throttling) a
        // redo's deletions one after another could outlast its lease on their own.
        let count = keys.len();
        let mut keys = keys.into_iter();
        let mut deletes = tokio::task::JoinSet::new();
        loop {
            while deletes.len() < MAX_CONCURRENT_PUTS {
                let Some(key) = keys.next() else {
                    break;
                };
                let sink = self.parts.sink.clone();
                deletes.spawn(async move { sink.delete(&key).await }.in_current_span());
            }
            // Returning drops the set, which aborts the deletions still in flight.
            let Some(joined) = self
                .fence
                .within("deleting what an earlier attempt left", deletes.join_next())
                .await?
            else {
                return Ok(count);
            };
            match joined {
                Ok(deleted) => deleted?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => return Err(self.cancelled_write(e).into()),
            }
        }
    }

    /// Every object of the batch is durable: moves the checkpoint past it and stores that.
    async fn commit(
        &mut self,
        batch: &Batch,
        next_cursor: Option<String>,
        start: &StreamPosition,
        must_save: bool,
    ) -> Result<(), RunError> {
        let overlap_ms = self.parts.settings.overlap.as_millis() as i64;
        let moved =
            self.checkpoint
                .advance(&batch.written(), next_cursor, start, overlap_ms, now_ms());
        if moved || must_save {
            if let Err(e) = self.save().await {
                // The write may have taken effect though its answer was lost. If it did, this
                // run wrote the batch and no other run will count it: count it here.
                if self.committed().await {
                    self.count(batch);
                    self.committed_sequence = self.checkpoint.sequence;
                }
                return Err(e);
            }
        }
        self.count(batch);
        self.committed_sequence = self.checkpoint.sequence;
        Ok(())
    }

    fn count(&mut self, batch: &Batch) {
        self.summary.events_processed += batch.valid;
        self.summary.quarantined_events += batch.quarantined;
    }

    async fn save(&self) -> Result<(), RunError> {
        let source_id = &self.parts.settings.source_id;
        let save = self
            .parts
            .checkpoints
            .save(source_id, &self.owner, &self.checkpoint);
        Ok(self.fence.within("saving the checkpoint", save).await??)
    }

    /// Whether the store holds the checkpoint as this run left it, under this run's lease:
    /// read back after a write whose outcome is unknown.
    async fn committed(&self) -> bool {
        // The store that lost the answer may still be failing: a failed read-back is tried
        // again (each load already retries inside the SDK), else the batch goes uncounted.
        for attempt in 0..READ_BACK_ATTEMPTS {
            match self
                .parts
                .checkpoints
                .load(&self.parts.settings.source_id)
                .await
            {
                Ok(Some(stored)) => {
                    return stored.lease.as_ref().is_some_and(|l| l.owner == self.owner)
                        && stored.checkpoint.generation == self.checkpoint.generation
                        && stored.checkpoint.sequence == self.checkpoint.sequence
                        && stored.checkpoint.pending.is_none()
                }
                Ok(None) => return false,
                Err(e) if attempt + 1 < READ_BACK_ATTEMPTS => {
                    tracing::debug!(error = %e, "reading the checkpoint back failed; trying again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the checkpoint back: the batch may go uncounted in EventsProcessed");
                }
            }
        }
        false
    }
}
