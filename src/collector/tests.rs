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

/// `count` events processed in order over the last hour, their event times spread over the
/// two hours before now, but every tenth (the 6th, 16th, …) happened 6 to 13 hours ago: late.
fn with_late_events(count: usize, cap: usize) -> ScriptedSource {
    let mut source = ScriptedSource::new(count, cap);
    let now = simulated_org::now_ms();
    for (i, raw) in source.events.iter_mut().enumerate() {
        let mut e: Value = serde_json::from_str(raw.get()).expect("JSON");
        let time = match i % 10 {
            5 => now - (6 + (i as i64 / 10) % 8) * 3_600_000,
            _ => now - 7_200_000 + i as i64 * 7_200_000 / count as i64,
        };
        e["attributes"]["time"] = Value::String(simulated_org::format_processed_at(time));
        *raw = RawValue::from_string(e.to_string()).expect("JSON");
    }
    source
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
        if key.starts_with("alerts/") || key.starts_with("staging/") {
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

/// Batches that more follow stage their late events; the run's last batch carries them all:
/// each old hour gets one `logs/` object from the run, not one per batch.
#[tokio::test]
async fn a_run_writes_each_late_hour_once() {
    let (store, sink) = (
        Arc::new(MemoryCheckpointStore::new()),
        Arc::new(MemorySink::new()),
    );
    let mut run = collector(with_late_events(600, 50), store.clone(), sink.clone());
    run.settings.batch_bounds.max_events = 100;
    let report = run.run(Duration::from_secs(30)).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.summary.events_processed, 600);
    let ids = ids_written(&sink);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 600);
    assert_eq!(ids.len(), 600, "no id twice");
    let keys = sink.keys();
    let staging = keys.iter().filter(|k| k.starts_with("staging/")).count();
    // A batch of one page each (50 events: another page of PAGE_LIMIT would pass 100), each
    // followed by another, so each staged; the last read the empty page that ends the stream
    // and carried them all, with no event of its own.
    assert_eq!(staging, 12);
    assert_eq!(report.summary.checkpoint_sequence, 13);
    let now_hour = simulated_org::now_ms() / 3_600_000 * 3_600;
    let old: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("logs/"))
        .filter(|k| {
            let hour = k.rsplit('/').next().and_then(|f| {
                chrono::NaiveDateTime::parse_from_str(&f[..16], "%Y%m%dT%H%M%SZ").ok()
            });
            hour.is_some_and(|h| h.and_utc().timestamp() < now_hour - 5 * 3_600)
        })
        .collect();
    assert_eq!(
        old.len(),
        8,
        "one object for each of the 8 late hours: {old:?}"
    );
    let last = report.summary.checkpoint_sequence - 1;
    assert!(old
        .iter()
        .all(|k| k.ends_with(&format!("-{last:010}.json.gz"))));
    let stored = store.load("src-1").await.unwrap().expect("a checkpoint");
    assert!(stored.checkpoint.staged.is_empty(), "all carried");
    assert_eq!(stored.checkpoint.events_written, 600);
}

/// A staging object the checkpoint lists but someone deleted: the batch that would carry it
/// stops the run with an error saying so, and nothing moves.
#[tokio::test]
async fn a_missing_staging_object_stops_the_run_that_would_carry_it() {
    use crate::checkpoint::{AcquireRequest, Fence, Lease, StagedLate};
    let (store, sink) = (
        Arc::new(MemoryCheckpointStore::new()),
        Arc::new(MemorySink::new()),
    );
    let lease = Lease {
        owner: "someone".into(),
        until_ms: simulated_org::now_ms() + 60_000,
    };
    let request = AcquireRequest {
        source_id: "src-1",
        lease: &lease,
        fence: Fence::longest(),
        now_ms: simulated_org::now_ms(),
        new_generation: "gen",
    };
    let mut checkpoint = store.acquire(request).await.expect("acquire");
    checkpoint.staged = vec![StagedLate {
        sequence: 0,
        events: 3,
        bytes: 100,
    }];
    checkpoint.sequence = 1;
    store
        .save("src-1", "someone", &checkpoint)
        .await
        .expect("save");
    store.release("src-1", "someone").await.expect("release");

    let report = collector(ScriptedSource::new(30, 50), store.clone(), sink.clone())
        .run(Duration::from_secs(30))
        .await;
    let error = report.error.expect("the run fails").to_string();
    assert!(
        error.contains("staging/atlassian_audit/gen-0000000000.json.gz is missing"),
        "{error}"
    );
    assert!(sink.keys().iter().all(|k| !k.starts_with("logs/")));
    let stored = store.load("src-1").await.unwrap().expect("a checkpoint");
    assert_eq!(stored.checkpoint.staged, checkpoint.staged);
    assert_eq!(stored.checkpoint.events_written, 0);
}
