//! A run as it goes, for a person at a terminal (the CLI's progress line): the collector's source
//! and sink are wrapped so that every page read and every object written is counted the moment it
//! happens. The pipeline itself is untouched: it sees an `EventSource` and an `ObjectSink` as
//! always. The Lambda never wraps anything.
use crate::sink::{EncodedObject, ObjectSink, SinkError};
use crate::source::{EventSource, Page, PageRequest, SourceError, WireCounters};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const UNKNOWN: i64 = i64::MIN;

/// Counters of one or more runs, shared by the wrapped source and sink and read by the display.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    pages: AtomicU64,
    events_read: AtomicU64,
    events_written: AtomicU64,
    /// The newest `processedAt` of the pages read (epoch ms): where the stream position is.
    newest_processed_at_ms: AtomicI64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            started: Instant::now(),
            pages: AtomicU64::new(0),
            events_read: AtomicU64::new(0),
            events_written: AtomicU64::new(0),
            newest_processed_at_ms: AtomicI64::new(UNKNOWN),
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressSnapshot {
    pub pages: u64,
    pub events_read: u64,
    /// Valid events in objects written under `logs/`.
    pub events_written: u64,
    /// How far behind now the stream position is, once a page with events was read.
    pub behind: Option<Duration>,
    pub elapsed: Duration,
}

impl Progress {
    pub fn new() -> Arc<Self> {
        Arc::new(Progress::default())
    }

    pub fn snapshot(&self, now_ms: i64) -> ProgressSnapshot {
        let newest = self.newest_processed_at_ms.load(Ordering::Relaxed);
        ProgressSnapshot {
            pages: self.pages.load(Ordering::Relaxed),
            events_read: self.events_read.load(Ordering::Relaxed),
            events_written: self.events_written.load(Ordering::Relaxed),
            behind: (newest != UNKNOWN)
                .then(|| Duration::from_millis(now_ms.saturating_sub(newest).max(0) as u64)),
            elapsed: self.started.elapsed(),
        }
    }

    fn page_read(&self, page: &Page) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.events_read
            .fetch_add(page.events.len() as u64, Ordering::Relaxed);
        // Pages are in processing order: the last event that says when it was processed is the
        // newest. Only it is parsed.
        if let Some(ms) = page
            .events
            .iter()
            .rev()
            .find_map(|e| processed_at_ms(e.get()))
        {
            self.newest_processed_at_ms.fetch_max(ms, Ordering::Relaxed);
        }
    }

    fn object_written(&self, key: &str, object: &EncodedObject) {
        if key.starts_with("logs/") {
            self.events_written
                .fetch_add(object.event_count as u64, Ordering::Relaxed);
        }
    }
}

fn processed_at_ms(raw: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct Event<'a> {
        #[serde(borrow)]
        attributes: Attributes<'a>,
    }
    #[derive(Deserialize)]
    struct Attributes<'a> {
        #[serde(rename = "processedAt", borrow)]
        processed_at: Option<std::borrow::Cow<'a, str>>,
    }
    let event: Event = serde_json::from_str(raw).ok()?;
    let t = chrono::DateTime::parse_from_rfc3339(event.attributes.processed_at?.as_ref()).ok()?;
    Some(t.timestamp_millis())
}

impl ProgressSnapshot {
    /// Events written per second since the start.
    pub fn rate_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            0.0
        } else {
            self.events_written as f64 / secs
        }
    }

    /// `12,345 events written · 26 pages · stream 3h 12m behind now · 4,120 events/s`
    pub fn line(&self) -> String {
        let behind = match self.behind {
            Some(d) => format!("stream {} behind now", short_duration(d)),
            None => "stream position not known yet".to_string(),
        };
        format!(
            "{} events written · {} page{} · {} · {} events/s",
            thousands(self.events_written),
            thousands(self.pages),
            if self.pages == 1 { "" } else { "s" },
            behind,
            thousands(self.rate_per_second().round() as u64)
        )
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `45s`, `12m 03s`, `3h 12m`, `6d 4h`.
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3_600 => format!("{}m {:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {:02}m", s / 3_600, s % 3_600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// The collector's source, counting each page it hands over.
pub struct ObservedSource {
    inner: Arc<dyn EventSource>,
    progress: Arc<Progress>,
}

impl ObservedSource {
    pub fn new(inner: Arc<dyn EventSource>, progress: Arc<Progress>) -> Self {
        ObservedSource { inner, progress }
    }
}

#[async_trait]
impl EventSource for ObservedSource {
    async fn fetch_page(
        &self,
        request: &PageRequest,
        deadline: tokio::time::Instant,
        wire: &WireCounters,
    ) -> Result<Page, SourceError> {
        let page = self.inner.fetch_page(request, deadline, wire).await?;
        self.progress.page_read(&page);
        Ok(page)
    }

    async fn org_id(&self) -> Result<String, SourceError> {
        self.inner.org_id().await
    }
}

/// The collector's sink, counting the events of each object once it is durable.
pub struct ObservedSink {
    inner: Arc<dyn ObjectSink>,
    progress: Arc<Progress>,
}

impl ObservedSink {
    pub fn new(inner: Arc<dyn ObjectSink>, progress: Arc<Progress>) -> Self {
        ObservedSink { inner, progress }
    }
}

#[async_trait]
impl ObjectSink for ObservedSink {
    async fn put(&self, key: &str, object: &EncodedObject) -> Result<(), SinkError> {
        self.inner.put(key, object).await?;
        self.progress.object_written(key, object);
        Ok(())
    }

    async fn read(&self, key: &str) -> Result<Option<bytes::Bytes>, SinkError> {
        self.inner.read(key).await
    }

    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        self.inner.delete(key).await
    }

    async fn probe(&self) -> Result<(), SinkError> {
        self.inner.probe().await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;
    use serde_json::value::RawValue;

    fn event(processed_at: Option<&str>) -> Box<RawValue> {
        let attributes = match processed_at {
            Some(t) => format!(r#"{{"processedAt":"{t}","time":"x"}}"#),
            None => r#"{"time":"x"}"#.to_string(),
        };
        RawValue::from_string(format!(r#"{{"id":"1","attributes":{attributes}}}"#)).unwrap()
    }

    struct Pages(std::sync::Mutex<Vec<Result<Page, SourceError>>>);

    #[async_trait]
    impl EventSource for Pages {
        async fn fetch_page(
            &self,
            _: &PageRequest,
            _: tokio::time::Instant,
            _: &WireCounters,
        ) -> Result<Page, SourceError> {
            self.0.lock().unwrap().remove(0)
        }
        async fn org_id(&self) -> Result<String, SourceError> {
            Ok("org".into())
        }
    }

    fn page(events: Vec<Box<RawValue>>) -> Page {
        Page {
            events,
            next_cursor: None,
            body_bytes: 0,
        }
    }

    #[tokio::test]
    async fn pages_move_the_position_forward_and_errors_count_nothing() {
        let progress = Progress::new();
        let source = ObservedSource::new(
            Arc::new(Pages(std::sync::Mutex::new(vec![
                Ok(page(vec![
                    event(Some("2026-12-03T10:00:00Z")),
                    event(Some("2026-12-03T11:00:00.123456Z")),
                    event(None),
                ])),
                Err(SourceError::RateLimited),
                Ok(page(vec![])),
                // An older position later (a read by time after a refused cursor) does not
                // move it back.
                Ok(page(vec![event(Some("2026-12-03T09:00:00Z"))])),
            ]))),
            progress.clone(),
        );
        let request = PageRequest {
            position: crate::source::StreamPosition::From { from_ms: 0 },
            limit: 10,
        };
        let wire = WireCounters::default();
        let deadline = tokio::time::Instant::now();
        source.fetch_page(&request, deadline, &wire).await.unwrap();
        let eleven = chrono::DateTime::parse_from_rfc3339("2026-12-03T11:00:00.123Z")
            .unwrap()
            .timestamp_millis();
        let snap = progress.snapshot(eleven + 3_600_000);
        assert_eq!((snap.pages, snap.events_read), (1, 3));
        assert_eq!(snap.behind, Some(Duration::from_secs(3600)));
        assert!(source.fetch_page(&request, deadline, &wire).await.is_err());
        source.fetch_page(&request, deadline, &wire).await.unwrap();
        source.fetch_page(&request, deadline, &wire).await.unwrap();
        let snap = progress.snapshot(eleven + 3_600_000);
        assert_eq!((snap.pages, snap.events_read), (3, 4));
        assert_eq!(snap.behind, Some(Duration::from_secs(3600)));
        assert_eq!(source.org_id().await.unwrap(), "org");
    }

    #[tokio::test]
    async fn only_events_written_under_logs_count_as_written() {
        let progress = Progress::new();
        let memory = Arc::new(MemorySink::default());
        let sink = ObservedSink::new(memory.clone(), progress.clone());
        let object = |n| EncodedObject {
            body: bytes::Bytes::from_static(b"x"),
            event_count: n,
        };
        sink.put("logs/atlassian_audit/a.json.gz", &object(7))
            .await
            .unwrap();
        sink.put("logs/atlassian_audit/b.json.gz", &object(5))
            .await
            .unwrap();
        sink.put("quarantine/atlassian_audit/q.json.gz", &object(2))
            .await
            .unwrap();
        sink.delete("logs/atlassian_audit/b.json.gz").await.unwrap();
        assert_eq!(progress.snapshot(0).events_written, 12);
        assert_eq!(progress.snapshot(0).behind, None);
        assert_eq!(sink.describe(), memory.describe());
    }

    #[test]
    fn the_line_says_what_a_person_wants_to_know() {
        let snap = ProgressSnapshot {
            pages: 26,
            events_read: 12_400,
            events_written: 12_345,
            behind: Some(Duration::from_secs(3 * 3600 + 12 * 60 + 5)),
            elapsed: Duration::from_secs(3),
        };
        assert_eq!(
            snap.line(),
            "12,345 events written · 26 pages · stream 3h 12m behind now · 4,115 events/s"
        );
        let start = ProgressSnapshot {
            pages: 1,
            events_read: 0,
            events_written: 0,
            behind: None,
            elapsed: Duration::ZERO,
        };
        assert_eq!(
            start.line(),
            "0 events written · 1 page · stream position not known yet · 0 events/s"
        );
        assert_eq!(short_duration(Duration::from_secs(45)), "45s");
        assert_eq!(short_duration(Duration::from_secs(723)), "12m 03s");
        assert_eq!(
            short_duration(Duration::from_secs(6 * 86_400 + 4 * 3_600)),
            "6d 4h"
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
