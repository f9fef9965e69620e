//! `rules test`, `rules list` and `detect`: the detection engine by hand. The logic is the
//! library's (`atlassian_audit::detect`); this prints it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use atlassian_audit::detect::{detect_collected, run_rule_tests, RulePack};

/// The built-in pack, with the user's file when one is given.
fn pack(user_file: Option<&Path>) -> Result<RulePack> {
    let pack = RulePack::builtin()?;
    Ok(match user_file {
        Some(path) => pack.with_user_file(path)?,
        None => pack,
    })
}

/// Every rule's test events; fails when any case fails.
pub fn rules_test(user_file: Option<&Path>) -> Result<ExitCode> {
    let pack = pack(user_file)?;
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

pub fn rules_list(user_file: Option<&Path>) -> Result<ExitCode> {
    for rule in pack(user_file)?.rules() {
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

/// The alerts the rules raise over collected output, one line each (or NDJSON).
pub fn detect(user_file: Option<&Path>, paths: &[PathBuf], json: bool) -> Result<ExitCode> {
    let pack = pack(user_file)?;
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
