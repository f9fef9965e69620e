//! The reading half of a run: pages into a batch until it ends, the next page fetched while
//! one is normalized. It changes nothing, so a crash only discards what it read.
use super::super::batch::BatchBuilder;
use super::super::next_read::next_read;
use super::super::read_ahead::ReadAhead;
use super::super::{Collector, RunError};
use crate::checkpoint::{redo_limit, RecentEvents};
use crate::source::{Page, PageRequest, SourceError, StreamPosition, WireCounters};
use std::sync::Arc;
use tokio::time::Instant;

pub(super) struct Reader<'r> {
    pub parts: &'r Collector,
    /// No page is asked for after this; the time left is for writing the last batch.
    pub fetch_deadline: Instant,
    pub wire: Arc<WireCounters>,
    pub read_ahead: Option<ReadAhead>,
}

/// A batch being read: where it began, where its next page starts, and its pages so far.
pub(super) struct Reading {
    pub start: StreamPosition,
    pub next: StreamPosition,
    /// The cursor the checkpoint keeps once the batch is committed (`NextRead::cursor` of its
    /// last page).
    pub cursor: Option<String>,
    /// The batch's objects, and the detect stage over its events so far.
    pub builder: BatchBuilder,
    /// Ids written already: the checkpoint's, and those of a batch being written meanwhile.
    pub recent: RecentEvents,
    /// The events the batch reads at most: a redo's (`PendingBatch::redo_count`, exactly
    /// that many), or a fresh batch's under the checkpoint's `batch_cap`.
    pub redo_target: Option<u32>,
}

impl Reading {
    /// A batch read from `start`, nothing read yet.
    pub fn new(
        start: StreamPosition,
        builder: BatchBuilder,
        recent: RecentEvents,
        redo_target: Option<u32>,
    ) -> Self {
        Reading {
            next: start.clone(),
            start,
            cursor: None,
            builder,
            recent,
            redo_target,
        }
    }
}

/// Why a batch stopped growing.
pub(super) enum BatchEnd {
    /// A bound was reached, or a redo read as many events as it redoes: the next batch goes on.
    Full,
    /// The API ended the stream.
    CaughtUp,
    /// The fetch deadline passed.
    Deadline,
    /// Fetching the next page failed: handled once the pages read are committed.
    FetchFailed(SourceError),
}

impl Reader<'_> {
    /// Pages into the batch until it ends; the next page is fetched while one is normalized.
    pub async fn read_pages(&mut self, reading: &mut Reading) -> Result<BatchEnd, RunError> {
        loop {
            let request = self.request(reading, reading.builder.events_read());
            let page = match self.fetch(&request).await {
                Ok(page) => page,
                Err(e) => return Ok(BatchEnd::FetchFailed(e)),
            };
            // Never cut a page: the cursor points past all of it, so a cut would skip events.
            let next = next_read(
                &request.position,
                page.events.len(),
                page.next_cursor.as_deref(),
            );
            reading.cursor = next.cursor.clone();
            if let (false, Some(cursor)) = (next.stream_ended, &next.cursor) {
                reading.next = StreamPosition::Cursor(cursor.clone());
                self.read_ahead(reading, page.events.len());
            }
            self.add(reading, page)?;
            // Past its window's end (an event processed after it), a backfill has read all it
            // covers: the stream is in processing order.
            if next.stream_ended || reading.builder.passed_window_end() {
                return Ok(BatchEnd::CaughtUp);
            }
            if self.redo_done(reading) || self.full(reading) {
                return Ok(BatchEnd::Full);
            }
            if Instant::now() >= self.fetch_deadline {
                return Ok(BatchEnd::Deadline);
            }
        }
    }

    /// The batch's next page once it holds `read` events: where it starts, and as many events
    /// as a page holds (a redo: no more than the events it still has to read again).
    fn request(&self, reading: &Reading, read: u32) -> PageRequest {
        PageRequest {
            position: reading.next.clone(),
            limit: redo_limit(reading.redo_target, self.parts.settings.page_limit, read),
        }
    }

    /// The page read ahead while the previous one was handled, if it is the one wanted.
    async fn fetch(&mut self, request: &PageRequest) -> Result<Page, SourceError> {
        match self.read_ahead.take() {
            Some(ahead) if ahead.request() == request => ahead.finish().await,
            _ => {
                self.parts
                    .source
                    .fetch_page(request, self.fetch_deadline, &self.wire)
                    .await
            }
        }
    }

    /// Starts the request that follows a page of `page_len` events: the batch's next page, or,
    /// should the batch end here, the first page of the next batch (the same request unless a
    /// redo ends here).
    fn read_ahead(&mut self, reading: &Reading, page_len: usize) {
        let read = reading.builder.events_read() as usize + page_len;
        let request = self.request(reading, u32::try_from(read).unwrap_or(u32::MAX));
        self.read_ahead = Some(ReadAhead::start(
            self.parts.source.clone(),
            request,
            self.fetch_deadline,
            self.wire.clone(),
        ));
    }

    fn add(&self, reading: &mut Reading, page: Page) -> Result<(), RunError> {
        let events = page.events.len();
        reading.builder.add_page(
            &self.parts.normalizer,
            &page.events,
            &reading.recent,
            chrono::Utc::now(),
        )?;
        tracing::debug!(
            events,
            pages = reading.builder.pages(),
            "page read into the batch"
        );
        Ok(())
    }

    /// A redo has read as many events as it redoes.
    fn redo_done(&self, reading: &Reading) -> bool {
        reading
            .redo_target
            .is_some_and(|target| reading.builder.events_read() >= target)
    }

    /// Whether the next page (as large as it would be asked for: a redo's last page asks
    /// only for what it has left) could take the batch past its bounds.
    fn full(&self, reading: &Reading) -> bool {
        let next = redo_limit(
            reading.redo_target,
            self.parts.settings.page_limit,
            reading.builder.events_read(),
        );
        reading
            .builder
            .is_full(&self.parts.settings.batch_bounds, next)
    }

    /// Stops a page read ahead that the run no longer needs.
    pub async fn cancel_read_ahead(&mut self) {
        if let Some(unused) = self.read_ahead.take() {
            unused.cancel().await;
        }
    }
}
