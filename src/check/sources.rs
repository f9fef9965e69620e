//! The setup check of every registered source (registry mode): each source's secret and key
//! against the API, and the storage they share, several at once; each problem named with its
//! source. The Lambda's `{"action": "check"}` and the CLI's `check --all-sources` print it.
use super::{run_checks, setup_failed, CheckReport};
use crate::config::Config;
use crate::registry::{RegisteredSource, SourceRegistry, Task};
use crate::setup::{Aws, Backends};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Sources checked at once: each check calls the API and reads the secret, bucket and table.
const CHECK_CONCURRENCY: usize = 8;

/// What the check of every source found.
pub struct SourcesCheck {
    /// Where the registry is.
    pub registry: String,
    /// Why the registry could not be read, if it could not.
    pub unreadable: Option<String>,
    /// Each source with its report, in the registry's order.
    pub sources: Vec<(RegisteredSource, CheckReport)>,
}

impl SourcesCheck {
    pub fn all_ok(&self) -> bool {
        self.unreadable.is_none() && self.problems().is_empty()
    }

    /// (source id, what is wrong) for every failed line; the registry's own problem has no id.
    pub fn problems(&self) -> Vec<(Option<String>, String)> {
        let mut problems: Vec<(Option<String>, String)> = self
            .unreadable
            .iter()
            .map(|e| (None, format!("sources registry ({}): {e}", self.registry)))
            .collect();
        for (source, report) in &self.sources {
            for line in report.lines.iter().filter(|l| !l.ok) {
                problems.push((Some(source.source_id.clone()), line.what.clone()));
            }
        }
        problems
    }

    /// The report as lines: the registry, each source's check indented under its id, a verdict.
    pub fn lines(&self) -> Vec<String> {
        if let Some(e) = &self.unreadable {
            return vec![
                format!("  ✗ sources registry ({}): {e}", self.registry),
                "1 problem to fix before the collector can run.".to_string(),
            ];
        }
        let n = self.sources.len();
        let mut lines = vec![format!(
            "sources registry ({}): {n} source{} registered",
            self.registry,
            if n == 1 { "" } else { "s" }
        )];
        for (source, report) in &self.sources {
            let state = if source.enabled { "" } else { " (disabled)" };
            lines.push(format!("source {}{state}:", source.source_id));
            lines.extend(report.render().lines().map(|l| format!("  {l}")));
        }
        let problems = self.problems();
        if n == 0 {
            lines.push(
                "No source is registered yet: `atlassian-audit sources add` (docs/many-organizations.md)."
                    .into(),
            );
        } else if problems.is_empty() {
            lines.push("Everything looks good.".into());
        } else {
            let mut named: Vec<&str> = problems
                .iter()
                .filter_map(|(id, _)| id.as_deref())
                .collect();
            named.dedup();
            lines.push(format!(
                "{} problem{} to fix, in {}.",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                named.join(", ")
            ));
        }
        lines
    }
}

/// Checks every source of `registry` with `config`'s shared storage, rules and limits.
pub async fn check_sources(
    config: Arc<Config>,
    aws: Arc<Aws>,
    registry: &dyn SourceRegistry,
) -> SourcesCheck {
    let mut check = SourcesCheck {
        registry: registry.describe(),
        unreadable: None,
        sources: Vec::new(),
    };
    let sources = match registry.list().await {
        Ok(s) => s,
        Err(e) => {
            check.unreadable = Some(e.to_string());
            return check;
        }
    };
    let permits = Arc::new(Semaphore::new(CHECK_CONCURRENCY));
    let mut checks = JoinSet::new();
    for (order, source) in sources.iter().cloned().enumerate() {
        let (config, aws, permits) = (config.clone(), aws.clone(), permits.clone());
        checks.spawn(async move {
            // The semaphore is never closed, so a permit always comes.
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
    check.sources = reports
        .into_iter()
        .filter_map(|(order, report)| sources.get(order).cloned().map(|s| (s, report)))
        .collect();
    check
}
