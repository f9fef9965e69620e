//! `demo`: the whole pipeline against the built-in simulated organization, into a local
//! directory. No AWS account and no Atlassian key needed; nothing in it is faked but the org.
use crate::ocsf_copy::OcsfCopy;
use atlassian_audit::checkpoint::StoredCheckpoint;
use atlassian_audit::collector::Collector;
use atlassian_audit::collector::RunSummary;
use atlassian_audit::config::{env, ocsf_env, Config, ConfigError, Given};
use atlassian_audit::progress::Progress;
use atlassian_audit::setup::{Aws, Backends, SetupError};
use atlassian_audit::sink::{objects_under, LocalArchiveError, LocalObject};
use simulated_org::{
    now_ms, serve_demo_scenario, DemoScenario, Fault, ResetHeader, SimulatedOrg, SimulatedOrgConfig,
};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

use crate::written_alerts::{read_written_alerts, WrittenAlerts, WrittenAlertsError};

/// Marks a directory as the demo's own, so a later demo may wipe it and nothing else.
const MARKER: &str = ".atlassian-audit-demo";

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub out_dir: PathBuf,
    /// What the org holds and what happens between the two runs.
    pub scenario: DemoScenario,
    /// Counts both runs as they go, for the progress line.
    pub progress: Option<Arc<Progress>>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            out_dir: PathBuf::from("demo-output"),
            scenario: DemoScenario::default(),
            progress: None,
        }
    }
}

#[derive(Debug, Error)]
pub enum DemoError {
    #[error("{0} exists and was not made by the demo; choose another --out-dir or remove it")]
    ForeignDirectory(PathBuf),
    #[error("demo I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Alerts(#[from] WrittenAlertsError),
    #[error("demo run {run} failed: {message}")]
    Run { run: u8, message: String },
}

impl From<LocalArchiveError> for DemoError {
    fn from(e: LocalArchiveError) -> Self {
        DemoError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the demo did, for printing and for tests.
#[derive(Debug)]
pub struct DemoReport {
    pub backlog_run: RunSummary,
    pub live_run: RunSummary,
    pub served_valid_ids: usize,
    /// Relative object key → number of lines, for every object written.
    pub objects: BTreeMap<String, usize>,
    pub distinct_ids_in_logs: usize,
    pub lines_in_logs: usize,
    pub lines_in_quarantine: usize,
    pub sample_event: Option<serde_json::Value>,
    pub checkpoint: Option<StoredCheckpoint>,
    /// What the runs wrote under `alerts/`.
    pub alerts: WrittenAlerts,
    /// The OCSF copy beside `logs/`.
    pub ocsf: OcsfCopy,
    pub out_dir: PathBuf,
}

pub async fn run_demo(options: &DemoOptions) -> Result<DemoReport, DemoError> {
    prepare_dir(&options.out_dir)?;
    let org = serve_demo_scenario(SimulatedOrgConfig::default(), 0, &options.scenario)
        .await
        .map_err(io(&options.out_dir))?;
    // Real APIs throttle and fail now and then: the demo shows both being ridden out.
    org.push_faults([
        Fault::RateLimited {
            reset: ResetHeader::IsoSeconds { in_secs: 1 },
            retry_after_secs: Some(1),
        },
        Fault::ServerError { status: 503 },
    ]);

    let result = collect_twice(&org, options).await;
    org.shutdown();
    result
}

async fn collect_twice(org: &SimulatedOrg, options: &DemoOptions) -> Result<DemoReport, DemoError> {
    let settings = [
        (env::API_BASE_URL, org.base_url()),
        (env::ORG_ID, org.org_id().to_string()),
        (env::API_KEY, org.api_key().to_string()),
        (env::SOURCE_LABEL, "demo".to_string()),
        (ocsf_env::OCSF_ENABLED, "true".to_string()),
    ];
    let bucket_dir = options.out_dir.join("bucket");
    let local = Given {
        output_dir: Some(bucket_dir.clone()),
        state_file: Some(options.out_dir.join("checkpoint.json")),
        ..Given::default()
    };
    let config = Config::resolve(
        |name| {
            settings
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        },
        &local,
    )?;
    let backends = Backends::from_config(&config, &Aws::for_config(&config)).await?;
    let budget = Duration::from_secs(120);

    let backlog_run = collector(&backends, &config, &options.progress)
        .await?
        .run(budget)
        .await;
    if let Some(e) = backlog_run.error {
        return Err(DemoError::Run {
            run: 1,
            message: e.to_string(),
        });
    }

    // New activity, some of it late (an old `time` processed now), then the next scheduled run.
    org.append_events(options.scenario.live_events(org.org_id(), now_ms()));
    let live_run = collector(&backends, &config, &options.progress)
        .await?
        .run(budget)
        .await;
    if let Some(e) = live_run.error {
        return Err(DemoError::Run {
            run: 2,
            message: e.to_string(),
        });
    }

    let mut report = DemoReport {
        backlog_run: backlog_run.summary,
        live_run: live_run.summary,
        served_valid_ids: org.valid_event_ids().len(),
        objects: BTreeMap::new(),
        distinct_ids_in_logs: 0,
        lines_in_logs: 0,
        lines_in_quarantine: 0,
        sample_event: None,
        checkpoint: backends
            .checkpoints
            .load(&backends.source_id(&config).await?)
            .await
            .ok()
            .flatten(),
        alerts: read_written_alerts(&bucket_dir)?,
        ocsf: OcsfCopy::read(&bucket_dir),
        out_dir: options.out_dir.clone(),
    };
    let mut ids = HashSet::new();
    for object in gzip_objects(&bucket_dir)? {
        let key = object.key.clone();
        if key.starts_with("alerts/") || key.starts_with("ocsf-") {
            continue; // read as alerts, or the OCSF copy's own
        }
        let text = object.text()?;
        let lines: Vec<&str> = text.lines().collect();
        report.objects.insert(key.clone(), lines.len());
        if key.starts_with("logs/") {
            report.lines_in_logs += lines.len();
            for line in &lines {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                    if let Some(id) = v.get("id").and_then(|i| i.as_str()) {
                        ids.insert(id.to_string());
                    }
                    if report.sample_event.is_none()
                        && v.pointer("/attributes/actor/email").is_some()
                        && v.get("p_any_ip_addresses").is_some()
                    {
                        report.sample_event = Some(v);
                    }
                }
            }
        } else if key.starts_with("quarantine/") {
            report.lines_in_quarantine += lines.len();
        }
    }
    report.distinct_ids_in_logs = ids.len();
    Ok(report)
}

/// The run's collector, counted for the progress line when there is one.
async fn collector(
    backends: &Backends,
    config: &Config,
    progress: &Option<Arc<Progress>>,
) -> Result<Collector, SetupError> {
    match progress {
        Some(progress) => backends.observed_collector(config, progress.clone()).await,
        None => backends.collector(config).await,
    }
}

pub(crate) fn prepare_dir(dir: &Path) -> Result<(), DemoError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).map_err(io(dir))?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            return Err(DemoError::ForeignDirectory(dir.to_path_buf()));
        }
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::write(
        dir.join(MARKER),
        "made by `atlassian-audit demo`; the next demo replaces this directory\n",
    )
    .map_err(io(dir))?;
    Ok(())
}

/// The gzip objects under `dir`, by key.
pub(crate) fn gzip_objects(dir: &Path) -> Result<Vec<LocalObject>, DemoError> {
    let mut objects = objects_under(dir)?;
    objects.retain(|o| o.key.ends_with(".gz"));
    Ok(objects)
}

impl DemoReport {
    /// The human-readable account the CLI prints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let run = |name: &str, s: &RunSummary| {
            format!(
                "{name}: {} events written, {} quarantined, {} duplicates dropped, {} pages, {} throttled (429) and waited out, {} objects, {} bytes gzip; {}\n",
                s.events_processed,
                s.quarantined_events,
                s.duplicates_dropped,
                s.pages_fetched,
                s.api_throttled,
                s.objects_written,
                s.bytes_written,
                s.stop_reason
            )
        };
        out.push_str("Simulated Atlassian organization → collector → local S3-style directory\n\n");
        out.push_str(&run("Run 1 (backlog)", &self.backlog_run));
        out.push_str(&run("Run 2 (new events, some late)", &self.live_run));
        out.push_str(&format!(
            "\nExactly once: the org served {} valid events; {} lines under logs/, {} distinct ids{}\n",
            self.served_valid_ids,
            self.lines_in_logs,
            self.distinct_ids_in_logs,
            if self.lines_in_logs == self.distinct_ids_in_logs
                && self.distinct_ids_in_logs == self.served_valid_ids
            {
                " ✓"
            } else {
                " ✗ MISMATCH"
            }
        ));
        out.push_str(&format!(
            "Quarantined: {} events under quarantine/ (each line: {{\"error\", \"raw\"}})\n",
            self.lines_in_quarantine
        ));
        out.push_str(&self.ocsf.render(self.lines_in_logs));
        let mut partitions: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (key, lines) in &self.objects {
            let dir = key
                .rsplit_once('/')
                .map(|(d, _)| d)
                .unwrap_or(key)
                .to_string();
            let e = partitions.entry(dir).or_default();
            e.0 += 1;
            e.1 += lines;
        }
        out.push_str(&format!(
            "\n{} objects in {} partitions under {}/bucket/:\n",
            self.objects.len(),
            partitions.len(),
            self.out_dir.display()
        ));
        let shown = 8;
        for (dir, (objects, lines)) in partitions.iter().take(shown) {
            out.push_str(&format!("  {dir}/  {objects} object(s), {lines} events\n"));
        }
        if partitions.len() > shown {
            out.push_str(&format!(
                "  … and {} more partitions\n",
                partitions.len() - shown
            ));
        }
        if let Some(sample) = &self.sample_event {
            out.push_str("\nOne normalized event (Panther Atlassian.Audit):\n");
            out.push_str(&serde_json::to_string_pretty(sample).unwrap_or_default());
            out.push('\n');
        }
        if let Some(stored) = &self.checkpoint {
            let c = &stored.checkpoint;
            out.push_str(&format!(
                "\nCheckpoint ({}/checkpoint.json): batch sequence {}, {} events written in all, resumes with cursor: {}, newest processedAt (ms): {}, ids kept for de-duplication: {}\n",
                self.out_dir.display(),
                c.sequence,
                c.events_written,
                if c.cursor.is_some() { "yes" } else { "no (time checkpoint)" },
                c.newest_processed_at_ms.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                c.recent.len()
            ));
        }
        out.push('\n');
        out.push_str(&self.alerts.render(&self.out_dir.join("bucket")));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simulated_org::DEFAULT_ORG_ID;

    #[tokio::test]
    async fn the_demo_writes_every_event_once_with_local_storage() {
        let dir = tempfile::tempdir().unwrap();
        let options = DemoOptions {
            out_dir: dir.path().join("demo"),
            scenario: DemoScenario {
                backlog: 700,
                ..DemoScenario::default()
            },
            ..Default::default()
        };
        let sc = &options.scenario;
        // The incidents come on top of the routine backlog.
        let incidents = simulated_org::incident_events(DEFAULT_ORG_ID, sc.seed, now_ms()).len();
        let report = run_demo(&options).await.unwrap();
        assert_eq!(
            report.backlog_run.events_processed,
            (700 + incidents) as u64
        );
        assert_eq!(report.backlog_run.quarantined_events, sc.invalid as u64);
        assert_eq!(
            report.backlog_run.api_throttled, 1,
            "the demo shows a 429 being waited out"
        );
        assert_eq!(report.live_run.events_processed, sc.live as u64);
        assert_eq!(report.lines_in_logs, 700 + incidents + sc.live);
        assert_eq!(report.distinct_ids_in_logs, report.lines_in_logs);
        assert_eq!(report.served_valid_ids, report.lines_in_logs);
        assert_eq!(report.lines_in_quarantine, sc.invalid);
        assert!(report.sample_event.is_some());
        let text = report.render();
        assert!(text.contains("✓") && !text.contains("MISMATCH"), "{text}");
        let WrittenAlerts::Found(alerts) = &report.alerts else {
            panic!("the pipeline's detect stage wrote no alerts: {text}");
        };
        let rules: HashSet<&str> = alerts.iter().map(|a| a.rule_id.as_str()).collect();
        let builtin = atlassian_audit::detect::RulePack::builtin()
            .unwrap()
            .rules()
            .len();
        assert_eq!(rules.len(), builtin, "every built-in rule: {text}");
        assert_eq!(
            alerts.len(),
            builtin,
            "one alert per seeded incident: {text}"
        );
        assert!(text.contains(&format!("{builtin} alerts raised")), "{text}");
        // Running it again replaces its own directory; a foreign directory is refused.
        run_demo(&options).await.unwrap();
        let foreign = dir.path().join("mine");
        std::fs::create_dir_all(&foreign).unwrap();
        std::fs::write(foreign.join("precious.txt"), "keep").unwrap();
        let err = run_demo(&DemoOptions {
            out_dir: foreign.clone(),
            ..options.clone()
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("not made by the demo"), "{err}");
        assert!(foreign.join("precious.txt").exists());
    }
}
