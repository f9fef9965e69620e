//! The next page, fetched in the background while the current one is written.
use crate::source::{EventSource, Page, PageRequest, SourceError, SourceStats};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::task::JoinHandle;
use tokio::time::Instant;

type Fetched = (Result<Page, SourceError>, SourceStats);

/// A page request under way. Dropping it aborts the request: a run that stops (done, failed or
/// cut off at its deadline) leaves nothing running behind it.
pub(crate) struct ReadAhead {
    request: PageRequest,
    task: JoinHandle<Result<Page, SourceError>>,
    /// What the fetch saw on the wire, kept even when it is cancelled halfway.
    stats: Arc<Mutex<SourceStats>>,
}

/// The fetch's own counters, handed over when the fetch ends or is dropped by an abort.
struct StatsHandOver {
    stats: SourceStats,
    to: Arc<Mutex<SourceStats>>,
}

impl Drop for StatsHandOver {
    fn drop(&mut self) {
        self.to
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(&self.stats);
    }
}

impl ReadAhead {
    pub fn start(source: Arc<dyn EventSource>, request: PageRequest, deadline: Instant) -> Self {
        let stats = Arc::new(Mutex::new(SourceStats::default()));
        let task = {
            let request = request.clone();
            let hand_over = StatsHandOver {
                stats: SourceStats::default(),
                to: stats.clone(),
            };
            tokio::spawn(async move {
                // Moved in whole: naming only its (Copy) field would capture a copy of the
                // counters, and the hand-over would run at once, empty.
                let mut hand_over = hand_over;
                source
                    .fetch_page(&request, deadline, &mut hand_over.stats)
                    .await
            })
        };
        ReadAhead {
            request,
            task,
            stats,
        }
    }

    pub fn request(&self) -> &PageRequest {
        &self.request
    }

    /// The page (or the error that ended the fetch) and what the fetch saw on the wire.
    pub async fn finish(mut self) -> Fetched {
        let result = match (&mut self.task).await {
            Ok(result) => result,
            // A panic in the fetch is a bug: surface it where the fetch would have panicked.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(SourceError::Unavailable {
                attempts: 0,
                last_problem: "the page read ahead was cancelled".into(),
            }),
        };
        (result, self.take_stats())
    }

    /// Stops the fetch and returns what it saw on the wire until then.
    pub async fn cancel(mut self) -> SourceStats {
        self.task.abort();
        // The task's future, and with it the counters, is dropped before the handle resolves.
        let _ = (&mut self.task).await;
        self.take_stats()
    }

    fn take_stats(&self) -> SourceStats {
        std::mem::take(&mut *self.stats.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}
