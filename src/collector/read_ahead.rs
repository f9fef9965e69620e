//! The next page, fetched in the background while the current one is written.
use crate::source::{EventSource, Page, PageRequest, SourceError, SourceStats};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

type Fetched = (Result<Page, SourceError>, SourceStats);

/// A page request under way. Dropping it aborts the request: a run that stops (done, failed or
/// cut off at its deadline) leaves nothing running behind it.
pub(crate) struct ReadAhead {
    request: PageRequest,
    task: JoinHandle<Fetched>,
}

impl ReadAhead {
    pub fn start(source: Arc<dyn EventSource>, request: PageRequest, deadline: Instant) -> Self {
        let task = {
            let request = request.clone();
            tokio::spawn(async move {
                let mut stats = SourceStats::default();
                let result = source.fetch_page(&request, deadline, &mut stats).await;
                (result, stats)
            })
        };
        ReadAhead { request, task }
    }

    pub fn request(&self) -> &PageRequest {
        &self.request
    }

    /// The page (or the error that ended the fetch) and what the fetch saw on the wire.
    pub async fn finish(mut self) -> Fetched {
        match (&mut self.task).await {
            Ok(fetched) => fetched,
            // A panic in the fetch is a bug: surface it where the fetch would have panicked.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => (
                Err(SourceError::Unavailable {
                    attempts: 0,
                    last_problem: "the page read ahead was cancelled".into(),
                }),
                SourceStats::default(),
            ),
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}
