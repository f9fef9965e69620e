//! `demo --orgs N`: N simulated organizations behind one address, registered as sources (the
//! last with a 30-day backfill), collected by `run --all-sources` twice into one output, each
//! source's events checked exactly once under its own id.
use crate::demo::{gzip_objects, prepare_dir, DemoError};
use crate::ocsf_copy::OcsfCopy;
use crate::written_alerts::read_written_alerts;
use atlassian_audit::config::{ocsf_env, Config, Given};
use atlassian_audit::credentials::ApiKey;
use atlassian_audit::fleet::{run_all, StaticSecrets, TaskOutcome};
use atlassian_audit::registry::{MemoryRegistry, RegisteredSource, SourceRegistry, TaskKind};
use atlassian_audit::setup::Aws;
use simulated_org::{now_ms, serve_demo_scenarios, DemoScenario, SimulatedOrg, SimulatedOrgConfig};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const NAMES: [(&str, &str); 5] = [
    ("acme-prod", "Acme production"),
    ("acme-sandbox", "Acme sandbox"),
    ("globex", "Globex (acquired)"),
    ("initech", "Initech"),
    ("umbrella", "Umbrella"),
];

/// Each source's events in the output, against what its organization served.
pub struct SourceCheck {
    pub source_id: String,
    pub label: String,
    pub served: usize,
    pub lines: usize,
    pub distinct: usize,
}

impl SourceCheck {
    pub fn exact(&self) -> bool {
        self.lines == self.distinct && self.distinct == self.served
    }
}

pub struct FleetDemoReport {
    pub runs: [Vec<TaskOutcome>; 2],
    pub checks: Vec<SourceCheck>,
    pub alerts: String,
    pub ocsf: OcsfCopy,
    pub out_dir: PathBuf,
}

impl FleetDemoReport {
    pub fn all_exact(&self) -> bool {
        self.checks.iter().all(SourceCheck::exact)
            && self.runs.iter().flatten().all(TaskOutcome::succeeded)
            && self.ocsf.exact(self.lines_in_logs())
    }

    /// Every line under `logs/`, all sources together.
    pub fn lines_in_logs(&self) -> usize {
        self.checks.iter().map(|c| c.lines).sum()
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "{} simulated Atlassian organizations → run --all-sources → one local S3-style directory\n",
            self.checks.len()
        );
        for (n, (run, title)) in self
            .runs
            .iter()
            .zip(["backlogs, and a 30-day backfill", "new events, some late"])
            .enumerate()
        {
            out.push_str(&format!("\nRun {} ({title}):\n", n + 1));
            for o in run {
                let s = &o.summary;
                let task = match (o.task, o.backfill_percent) {
                    (TaskKind::Backfill, Some(p)) => format!("backfill {p:.0}%"),
                    (TaskKind::Backfill, None) => "backfill".to_string(),
                    (TaskKind::Live, _) => "live".to_string(),
                };
                let result = match &s.error {
                    None => format!("{}", s.stop_reason),
                    Some(e) => format!("FAILED: {e}"),
                };
                out.push_str(&format!(
                    "  {:<14} {:<13} {:>5} events written, {:>3} quarantined, {:>3} pages; {result}\n",
                    o.source_id, task, s.events_processed, s.quarantined_events, s.pages_fetched
                ));
            }
        }
        out.push_str("\nExactly once, per source (p_source_id, p_source_label):\n");
        for c in &self.checks {
            out.push_str(&format!(
                "  {:<14} {:<20} served {:>5} valid events; {:>5} lines under logs/, {:>5} distinct ids {}\n",
                c.source_id,
                c.label,
                c.served,
                c.lines,
                c.distinct,
                if c.exact() { "✓" } else { "✗ MISMATCH" }
            ));
        }
        out.push_str(&self.ocsf.render(self.lines_in_logs()));
        out.push('\n');
        out.push_str(&self.alerts);
        out.push_str(&format!(
            "\nEverything is under {}/bucket; `make query` asks the saved queries across every source.\n",
            self.out_dir.display()
        ));
        out
    }
}

pub async fn run_fleet_demo(
    out_dir: &Path,
    orgs: usize,
    scenario: &DemoScenario,
) -> Result<FleetDemoReport, DemoError> {
    prepare_dir(out_dir)?;
    let configs = (1..=orgs)
        .map(|n| SimulatedOrgConfig {
            org_id: format!("sim-org-{n:04}"),
            api_key: format!("ATCTT3xFfGN0-simulated-demo-key-{n}-not-a-secret"),
            ..SimulatedOrgConfig::default()
        })
        .collect();
    let served = serve_demo_scenarios(configs, 0, scenario)
        .await
        .map_err(|source| DemoError::Io {
            path: out_dir.to_path_buf(),
            source,
        })?;
    let result = collect(out_dir, &served, scenario).await;
    for org in &served {
        org.shutdown();
    }
    result
}

async fn collect(
    out_dir: &Path,
    orgs: &[SimulatedOrg],
    scenario: &DemoScenario,
) -> Result<FleetDemoReport, DemoError> {
    let bucket = out_dir.join("bucket");
    let given = Given {
        output_dir: Some(bucket.clone()),
        state_file: Some(out_dir.join("checkpoint.json")),
        api_base_url: Some(orgs[0].base_url()),
        ..Given::default()
    };
    // The OCSF copy for Security Lake beside the archive, as a deployment with it on writes it.
    let config = Arc::new(Config::resolve(
        |name| (name == ocsf_env::OCSF_ENABLED).then(|| "true".to_string()),
        &given,
    )?);
    let registry = Arc::new(MemoryRegistry::new());
    let mut secrets = StaticSecrets::new();
    let lookback = config.initial_lookback.as_millis() as i64;
    let mut owners = Vec::new();
    for (n, org) in orgs.iter().enumerate() {
        let (id, label) = NAMES.get(n).copied().unwrap_or(("source", "Source"));
        let id = if n < NAMES.len() {
            id.to_string()
        } else {
            format!("{id}-{n}")
        };
        let secret = format!("atlassian-audit/{id}");
        secrets = secrets.with(&secret, org.org_id(), ApiKey::new(org.api_key()));
        // The last organization is added with its history fetched by a backfill.
        let backfill = (n + 1 == orgs.len() && orgs.len() > 1).then_some(30);
        let source = RegisteredSource::new(&id, &secret, label, backfill, lookback, now_ms())
            .map_err(|e| DemoError::Run {
                run: 0,
                message: e.to_string(),
            })?;
        registry.add(&source).await.map_err(|e| DemoError::Run {
            run: 0,
            message: e.to_string(),
        })?;
        owners.push((source, org));
    }
    let secrets = Arc::new(secrets);
    let run = |n: u8| {
        let (config, registry, secrets) = (config.clone(), registry.clone(), secrets.clone());
        async move {
            let sources = registry.list().await.map_err(|e| DemoError::Run {
                run: n,
                message: e.to_string(),
            })?;
            Ok::<_, DemoError>(
                run_all(
                    config,
                    Arc::new(Aws::default()),
                    registry,
                    secrets,
                    sources,
                    orgs_concurrency(orgs.len()),
                    Duration::from_secs(120),
                )
                .await,
            )
        }
    };
    let first = run(1).await?;
    for org in orgs {
        org.append_events(scenario.live_events(org.org_id(), now_ms()));
    }
    let second = run(2).await?;
    let checks = check_sources(&bucket, &owners)?;
    let alerts = read_written_alerts(&bucket)?.render(&bucket);
    Ok(FleetDemoReport {
        runs: [first, second],
        checks,
        alerts,
        ocsf: OcsfCopy::read(&bucket),
        out_dir: out_dir.to_path_buf(),
    })
}

fn orgs_concurrency(orgs: usize) -> usize {
    orgs.clamp(1, atlassian_audit::fleet::DEFAULT_CONCURRENCY)
}

/// Lines and distinct ids under logs/ per `p_source_id`, against each organization's valid
/// events (every one of them is in a source's window: the backlog is younger than the lookback
/// and the backfill).
fn check_sources(
    bucket: &Path,
    owners: &[(RegisteredSource, &SimulatedOrg)],
) -> Result<Vec<SourceCheck>, DemoError> {
    let mut by_source: HashMap<String, (usize, HashSet<String>)> = HashMap::new();
    for object in gzip_objects(&bucket.join("logs"))? {
        for line in object.text()?.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let source = v["p_source_id"].as_str().unwrap_or("").to_string();
            let entry = by_source.entry(source).or_default();
            entry.0 += 1;
            if let Some(id) = v["id"].as_str() {
                entry.1.insert(id.to_string());
            }
        }
    }
    Ok(owners
        .iter()
        .map(|(s, org)| {
            let (lines, ids) = by_source.remove(&s.source_id).unwrap_or_default();
            SourceCheck {
                source_id: s.source_id.clone(),
                label: s.label.clone(),
                served: org.valid_event_ids().len(),
                lines,
                distinct: ids.len(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn three_organizations_land_once_each_with_their_alerts_named() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = DemoScenario {
            backlog: 300,
            ..DemoScenario::default()
        };
        let report = run_fleet_demo(&dir.path().join("demo"), 3, &scenario)
            .await
            .unwrap();
        assert!(report.all_exact(), "{}", report.render());
        assert_eq!(report.checks.len(), 3);
        assert!(report.checks.iter().all(|c| c.served > 300));
        // The last source's history came by its backfill, beside its live collection.
        let backfill = report.runs[0]
            .iter()
            .find(|o| o.task == TaskKind::Backfill)
            .expect("a backfill ran");
        assert_eq!(backfill.source_id, "globex");
        assert_eq!(backfill.backfill_percent, Some(100.0));
        for id in ["acme-prod", "acme-sandbox", "globex"] {
            assert!(
                report.alerts.contains(&format!("[{id}]")),
                "{id}'s alerts are named"
            );
        }
    }
}
