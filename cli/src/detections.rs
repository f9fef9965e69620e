//! `rules test`, `rules list` and `detect`: the detection engine by hand. The logic is the
//! library's (`atlassian_audit::detect`); this prints it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use atlassian_audit::config::{pack_settings_from, rule_source_from};
use atlassian_audit::detect::{detect_collected, run_rule_tests, RulePack, BUILTIN};
use atlassian_audit::setup::{rule_pack_from, Aws};

/// The built-in pack, with the user's file (a path, s3://bucket/key or s3://bucket/prefix/) when one is given, else
/// the one DETECTION_RULES names: read as `run` reads it (the same size cap, S3 included).
async fn pack(user_file: Option<&str>) -> Result<RulePack> {
    let source = rule_source_from(
        |name| std::env::var(name).ok(),
        user_file.map(str::to_string),
    )?;
    let settings = pack_settings_from(|name| std::env::var(name).ok());
    Ok(rule_pack_from(source.as_ref(), settings, &Aws::default()).await?)
}

/// Every rule's test events; fails when any case fails.
pub async fn rules_test(user_file: Option<&str>) -> Result<ExitCode> {
    let pack = pack(user_file).await?;
    let results = run_rule_tests(&pack);
    for r in &results {
        println!("{}", r.line());
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    println!(
        "rule tests: {} rules, {} cases passed, {failed} failed",
        pack.rules().len(),
        results.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn rules_list(user_file: Option<&str>) -> Result<ExitCode> {
    for rule in pack(user_file).await?.rules() {
        println!(
            "{:<8} {:<30} {}  ({})",
            rule.severity.name(),
            rule.id,
            rule.description,
            rule.origin
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The built-in pack's Sigma files, as they are compiled in, and a pySigma pipeline giving its
/// placeholders the lists this deployment uses (DETECTION_ADMIN_GROUPS, ...).
pub fn rules_export(dir: &Path) -> Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for file in &BUILTIN {
        let path = dir.join(file.name);
        std::fs::write(&path, file.sigma)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    let settings = pack_settings_from(|name| std::env::var(name).ok());
    let path = dir.join(PLACEHOLDERS_PIPELINE);
    std::fs::write(&path, settings.pipeline_yaml())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// The pipeline's file name: not `*.yml`, so `sigma check DIR` reads only the rules.
const PLACEHOLDERS_PIPELINE: &str = "placeholders.pipeline.yaml";

/// The alerts the rules raise over collected output, one line each (or NDJSON).
pub async fn detect(user_file: Option<&str>, paths: &[PathBuf], json: bool) -> Result<ExitCode> {
    let pack = pack(user_file).await?;
    let found = detect_collected(&pack, paths)?;
    for alert in &found.alerts {
        if json {
            println!("{}", serde_json::to_string(alert)?);
        } else {
            println!("{}", alert.one_line());
        }
    }
    eprintln!(
        "{} alert(s) from {} event(s) in {} file(s){}",
        found.alerts.len(),
        found.events,
        found.files,
        match found.skipped {
            0 => String::new(),
            n => format!(" ({n} without an id or a time, skipped)"),
        }
    );
    Ok(ExitCode::SUCCESS)
}
