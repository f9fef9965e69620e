//! `{"action": "check"}`: the setup check from inside the deployed function.
use super::App;
use crate::check::{check_sources, run_checks};
use crate::registry::SourceRegistry;
use crate::setup::Backends;
use serde_json::{json, Value};

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
    let check = check_sources(app.config.clone(), app.aws.clone(), registry).await;
    let problems: Vec<Value> = check
        .problems()
        .into_iter()
        .map(|(source_id, problem)| json!({"source_id": source_id, "problem": problem}))
        .collect();
    let per_source: Vec<Value> = check
        .sources
        .iter()
        .map(|(source, report)| {
            json!({
                "source_id": source.source_id,
                "enabled": source.enabled,
                "everything_looks_good": report.all_ok(),
            })
        })
        .collect();
    tracing::info!(
        everything_looks_good = check.all_ok(),
        sources = check.sources.len(),
        problems = problems.len(),
        "setup check"
    );
    json!({
        "everything_looks_good": check.all_ok(),
        "problems": problems,
        "sources": per_source,
        "report": check.lines(),
    })
}
