//! The pipeline against in-memory parts: a scripted source, the memory checkpoint store and
//! the memory sink. (The whole product against the simulated org and real storage is in
//! tests/.)
use super::*;
use crate::checkpoint::MemoryCheckpointStore;
use crate::normalize::SourceInfo;
use crate::sink::MemorySink;
use crate::source::{Page, PageRequest, StreamPosition, WireEvent};
use async_trait::async_trait;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashSet;

/// Serves `events` in order, at most `cap` a page; a cursor is the index of the next event,
/// and the last page carries the cursor past it. With `refuse_all`, every request is refused
/// as an invalid cursor.
struct ScriptedSource {
    events: Vec<Box<RawValue>>,
    cap: usize,
    refuse_all: bool,
}

impl ScriptedSource {
    fn new(count: usize, cap: usize) -> Self {
        let now = simulated_org::now_ms();
        let generated =
            simulated_org::generate_events_for_org("org-1", 7, count, (now - 7_200_000, now));
        let events = generated
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                let processed = now - 3_600_000 + i as i64;
                e["attributes"]["processedAt"] =
                    Value::String(simulated_org::format_processed_at(processed));
                RawValue::from_string(e.to_string()).expect("JSON")
            })
            .collect();
        ScriptedSource {
            events,
            cap,
            refuse_all: false,
        }
    }
}

#[async_trait]
impl EventSource for ScriptedSource {
    async fn fetch_page(
        &self,
        request: &PageRequest,
        _deadline: Instant,
        wire: &WireCounters,
    ) -> Result<Page, SourceError> {
        wire.count(WireEvent::Request);
        tracing::info!("serving a page");
        if self.refuse_all {
            return Err(SourceError::InvalidCursor);
        }
        let start = match &request.position {
            StreamPosition::Cursor(c) => c.parse::<usize>().expect("our cursor"),
            StreamPosition::From { .. } => 0,
        };
        let end = (start + self.cap.min(request.limit as usize)).min(self.events.len());
        wire.count(WireEvent::Page);
        Ok(Page {
            events: self.events[start..end].to_vec(),
            next_cursor: Some(end.to_string()),
            body_bytes: 0,
        })
    }

    async fn org_id(&self) -> Result<String, SourceError> {
        Ok("org-1".into())
    }
}

fn collector(
    source: ScriptedSource,
    store: Arc<MemoryCheckpointStore>,
    sink: Arc<MemorySink>,
) -> Collector {
    Collector::new(
        Arc::new(source),
        store,
        sink,
        Normalizer::new(SourceInfo {
            source_id: "src-1".into(),
            source_label: "atlassian-audit".into(),
        }),
        CollectorSettings {
            source_id: "src-1".into(),
            page_limit: 100,
            initial_lookback: Duration::from_secs(86_400),
            overlap: DEFAULT_OVERLAP,
            batch_bounds: Default::default(),
            lease_grace: LEASE_GRACE,
            window: crate::collector::ProcessedWindow::ALL,
            first_from_ms: None,
        },
    )
}

fn ids_written(sink: &MemorySink) -> Vec<String> {
    let mut ids = Vec::new();
    for (key, object) in sink.objects() {
        if key.starts_with("alerts/") {
            continue;
        }
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&object.body[..]),
            &mut text,
        )
        .expect("gzip");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("JSON line");
            ids.push(v["id"].as_str().expect("id").to_string());
        }
    }
    ids
}

#[tokio::test]
async fn a_backlog_in_short_pages_is_written_once_in_one_run() {
    let (store, sink) = (
        Arc::new(MemoryCheckpointStore::new()),
        Arc::new(MemorySink::new()),
    );
    let report = collector(ScriptedSource::new(230, 40), store.clone(), sink.clone())
        .run(Duration::from_secs(30))
        .await;
    assert!(report.error.is_none(), "{:?}", report.error);
    let s = &report.summary;
    assert_eq!(s.stop_reason, StopReason::CaughtUp);
    assert_eq!(s.events_processed, 230);
    // Six pages of events (the last one short) and the empty page that ends the stream.
    assert_eq!(s.pages_fetched, 7);
    let ids = ids_written(&sink);
    assert_eq!(ids.len(), 230);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 230, "no id twice");
    let stored = store.load("src-1").await.unwrap().expect("a checkpoint");
    assert_eq!(stored.checkpoint.events_written, 230);
    assert_eq!(stored.checkpoint.cursor.as_deref(), Some("230"));
    assert!(stored.checkpoint.pending.is_none());
    assert!(stored.lease.is_none(), "the lease is given back");

    // The next run finds nothing new and writes nothing.
    let again = collector(ScriptedSource::new(230, 40), store.clone(), sink.clone())
        .run(Duration::from_secs(30))
        .await;
    assert_eq!(again.summary.events_processed, 0);
    assert_eq!(ids_written(&sink).len(), 230);
}

#[tokio::test]
async fn a_refused_cursor_that_was_never_sent_fails_the_run_without_retrying() {
    let (store, sink) = (
        Arc::new(MemoryCheckpointStore::new()),
        Arc::new(MemorySink::new()),
    );
    let mut source = ScriptedSource::new(10, 10);
    source.refuse_all = true;
    let report = collector(source, store, sink.clone())
        .run(Duration::from_secs(30))
        .await;
    assert!(matches!(
        report.error,
        Some(RunError::Source(SourceError::CursorRefusedUnsent))
    ));
    assert_eq!(report.summary.stop_reason, StopReason::Failed);
    assert!(sink.keys().is_empty());
}
