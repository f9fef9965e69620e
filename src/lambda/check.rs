//! `{"action": "check"}`: the setup check from inside the deployed function.
use super::App;
use crate::check::{run_checks, setup_failed, CheckReport};
use crate::registry::{SourceRegistry, Task};
use crate::setup::Backends;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Sources checked at once: each check calls the API and reads the secret, bucket and table.
const CHECK_CONCURRENCY: usize = 8;

/// Single-org mode: its role, its secret, its bucket and table.
pub(super) async fn single(app: &App, backends: &Backends) -> Value {
    let report = run_checks(&app.config, backends).await;
    let text = report.render();
    tracing::info!(everything_looks_good = report.all_ok(), "setup check");
    json!({
        "everything_looks_good": report.all_ok(),
        "report": text.lines().collect::<Vec<_>>(),
    })
}

/// Registry mode: every registered source's check (its secret and key, the shared storage),
/// each problem named with its source.
pub(super) async fn registry(app: &App, registry: &dyn SourceRegistry) -> Value {
    let sources = match registry.list().await {
        Ok(s) => s,
        Err(e) => {
            let line = format!("sources registry ({}): {e}", registry.describe());
            tracing::info!(everything_looks_good = false, "setup check");
            return json!({
                "everything_looks_good": false,
                "problems": [{"source_id": null, "problem": line}],
                "report": [format!("  ✗ {line}"), "1 problem to fix before the collector can run.".to_string()],
            });
        }
    };
    let permits = Arc::new(Semaphore::new(CHECK_CONCURRENCY));
    let mut checks = JoinSet::new();
    for (order, source) in sources.iter().cloned().enumerate() {
        let (config, aws, permits) = (app.config.clone(), app.aws.clone(), permits.clone());
        checks.spawn(async move {
            let _permit = permits.acquire_owned().await.ok();
            let config = config.for_source(&source, Task::live_of(&source));
            let report = match Backends::from_config(&config, &aws).await {
                Ok(backends) => run_checks(&config, &backends).await,
                Err(e) => setup_failed(&e),
            };
            (order, report)
        });
    }
    let mut reports: Vec<(usize, CheckReport)> = Vec::with_capacity(sources.len());
    while let Some(done) = checks.join_next().await {
        match done {
            Ok(r) => reports.push(r),
            Err(e) => tracing::error!(error = %e, "a source's check panicked"),
        }
    }
    reports.sort_by_key(|(order, _)| *order);

    let mut lines = vec![format!(
        "sources registry ({}): {} source{} registered",
        registry.describe(),
        sources.len(),
        if sources.len() == 1 { "" } else { "s" }
    )];
    let mut problems = Vec::new();
    let mut per_source = Vec::new();
    for (order, report) in &reports {
        let source = &sources[*order];
        let state = if source.enabled { "" } else { " (disabled)" };
        lines.push(format!("source {}{state}:", source.source_id));
        lines.extend(report.render().lines().map(|l| format!("  {l}")));
        for line in report.lines.iter().filter(|l| !l.ok) {
            problems.push(json!({"source_id": source.source_id, "problem": line.what}));
        }
        per_source.push(json!({
            "source_id": source.source_id,
            "enabled": source.enabled,
            "everything_looks_good": report.all_ok(),
        }));
    }
    let all_ok = problems.is_empty() && reports.len() == sources.len();
    if sources.is_empty() {
        lines.push("No source is registered yet: `atlassian-audit sources add` (README, Many organizations).".into());
    } else if all_ok {
        lines.push("Everything looks good.".into());
    } else {
        let mut named: Vec<&str> = problems
            .iter()
            .filter_map(|p| p["source_id"].as_str())
            .collect();
        named.dedup();
        lines.push(format!(
            "{} problem{} to fix, in {}.",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            named.join(", ")
        ));
    }
    tracing::info!(
        everything_looks_good = all_ok,
        sources = sources.len(),
        problems = problems.len(),
        "setup check"
    );
    json!({
        "everything_looks_good": all_ok,
        "problems": problems,
        "sources": per_source,
        "report": lines,
    })
}
