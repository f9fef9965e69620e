//! The next page, fetched in the background while the current one is written.
use crate::source::{EventSource, Page, PageRequest, SourceError, WireCounters};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

/// A page request under way. It counts what it does on the wire in the run's own counters, so
/// stopping it loses nothing. Dropping it aborts the request: a run that stops (done, failed or
/// cut off at its deadline) leaves nothing running behind it.
pub(crate) struct ReadAhead {
    request: PageRequest,
    task: JoinHandle<Result<Page, SourceError>>,
}

impl ReadAhead {
    pub fn start(
        source: Arc<dyn EventSource>,
        request: PageRequest,
        deadline: Instant,
        wire: Arc<WireCounters>,
    ) -> Self {
        let task = {
            let request = request.clone();
            // In the run's span, like every other line of the run.
            tokio::spawn(
                async move { source.fetch_page(&request, deadline, &wire).await }.in_current_span(),
            )
        };
        ReadAhead { request, task }
    }

    pub fn request(&self) -> &PageRequest {
        &self.request
    }

    /// The page, or the error that ended the fetch.
    pub async fn finish(mut self) -> Result<Page, SourceError> {
        match (&mut self.task).await {
            Ok(result) => result,
            // A panic in the fetch is a bug: surface it where the fetch would have panicked.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(SourceError::Unavailable {
                attempts: 0,
                last_problem: "the page read ahead was cancelled".into(),
            }),
        }
    }

    /// Stops the fetch and waits until it has stopped, so it counts nothing after this returns.
    pub async fn cancel(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}
