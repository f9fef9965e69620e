//! Every log line of a run is in one span, `run`, with the source id and the run's id: the
//! lines of the page read ahead and of the object writes (their own tasks) included. Its own
//! test binary, so the process-wide subscriber it installs sees no other test's lines.
use atlassian_audit::checkpoint::MemoryCheckpointStore;
use atlassian_audit::collector::{Collector, CollectorSettings, DEFAULT_OVERLAP, LEASE_GRACE};
use atlassian_audit::credentials::ApiKey;
use atlassian_audit::credentials::StaticCredentials;
use atlassian_audit::normalize::{Normalizer, SourceInfo};
use atlassian_audit::sink::MemorySink;
use atlassian_audit::source::atlassian::AtlassianClient;
use serde_json::Value;
use simulated_org::{generate_events_for_org, now_ms, SimulatedOrg, SimulatedOrgConfig};
use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_of_a_run_is_in_its_span() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .init();

    let org = SimulatedOrg::start(
        SimulatedOrgConfig {
            page_cap: Some(50),
            ..SimulatedOrgConfig::default()
        },
        0,
    )
    .await
    .expect("the simulated org");
    let now = now_ms();
    org.append_backlog(generate_events_for_org(
        org.org_id(),
        3,
        180,
        (now - 3_600_000, now - 60_000),
    ));
    let source = AtlassianClient::new(
        org.base_url().parse().expect("a URL"),
        Arc::new(StaticCredentials::new(
            org.org_id().to_owned(),
            ApiKey::new(org.api_key()),
        )),
    )
    .expect("a client");
    let collector = Collector::new(
        Arc::new(source),
        Arc::new(MemoryCheckpointStore::new()),
        Arc::new(MemorySink::new()),
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
            window: atlassian_audit::collector::ProcessedWindow::ALL,
            first_from_ms: None,
        },
    );
    let report = collector.run(Duration::from_secs(30)).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.summary.events_processed, 180);
    org.shutdown();

    let text = String::from_utf8(
        captured
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    )
    .expect("UTF-8 logs");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON log line"))
        .collect();
    // Pages 2 on are requested by the read-ahead, on its own task.
    let requests = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "requesting page")
        .count();
    assert!(requests >= 4, "{requests} page requests logged:\n{text}");
    let run_ids: HashSet<&str> = lines
        .iter()
        .filter(|l| {
            l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("atlassian_audit"))
        })
        .map(|l| {
            assert_eq!(
                l["span"]["name"], "run",
                "a line outside the run's span: {l}"
            );
            assert_eq!(l["span"]["source_id"], "src-1", "{l}");
            l["span"]["run_id"].as_str().expect("a run_id")
        })
        .collect();
    assert_eq!(run_ids.len(), 1, "one run, one id: {run_ids:?}");
}
