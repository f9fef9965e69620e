//! The saved queries (`sql/queries/`) answer the questions they say they answer, on events written
//! by the real pipeline: the simulated organization serves its security scenarios (each question's
//! positive cases and near misses, relative to now), the collector writes them to a local directory
//! laid out like the bucket, and `scripts/query.py check` parses every query and the view as Trino
//! (sqlglot) and runs them in DuckDB, transpiled, over the tables of `sql/`. Each query must return
//! exactly the rows its question states.
//!
//! Needs the pinned duckdb and sqlglot (`scripts/tools.sh query`, .venv-query): run with
//! `cargo test --test query` (`make test` does).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use atlassian_audit::config::{env, Config, Given};
use atlassian_audit::setup::{Aws, Backends};
use serde_json::Value;
use simulated_org::{now_ms, security_scenario, Question, SimulatedOrg, SimulatedOrgConfig};

mod ocsf;
mod trino;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every line of every gzip object under `dir`.
fn lines_under(dir: &Path) -> Vec<Value> {
    let objects = atlassian_audit::sink::objects_under(dir).expect("a readable folder");
    let mut out = Vec::new();
    for object in objects.iter().filter(|o| o.key.ends_with(".gz")) {
        let text = object.text().expect("gzip text");
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("JSON")),
        );
    }
    out
}

/// One collector run with `settings`, writing into `bucket` with its checkpoint in `state`, as
/// the CLI's `run` does locally.
async fn run_locally(
    settings: &[(&str, String)],
    bucket: &Path,
    state: &Path,
) -> atlassian_audit::collector::RunReport {
    let given = Given {
        output_dir: Some(bucket.to_path_buf()),
        state_file: Some(state.to_path_buf()),
        ..Given::default()
    };
    let config = Config::resolve(
        |name| {
            settings
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        },
        &given,
    )
    .expect("a valid configuration");
    let backends = Backends::from_config(&config, &Aws::for_config(&config))
        .await
        .expect("local storage");
    backends
        .collector(&config)
        .await
        .expect("a collector")
        .run(Duration::from_secs(120))
        .await
}

/// The scenario, served by the simulated org and written by one collector run into `bucket`.
async fn write_through_the_pipeline(
    bucket: &Path,
    state: &Path,
    now: i64,
) -> simulated_org::SecurityScenario {
    let scenario = security_scenario(simulated_org::DEFAULT_ORG_ID, 2026, now);
    let org = SimulatedOrg::start(SimulatedOrgConfig::default(), 0)
        .await
        .expect("the simulated org starts");
    let mut events = scenario.events.clone();
    events.extend(scenario.invalid_events.iter().cloned());
    org.append_backlog(events);
    let settings = [
        (env::API_BASE_URL, org.base_url()),
        (env::ORG_ID, org.org_id().to_string()),
        (env::API_KEY, org.api_key().to_string()),
        (env::SOURCE_LABEL, "query-test".to_string()),
        // The scenario reaches 40 days back (countries seen before).
        (env::INITIAL_LOOKBACK, "60d".to_string()),
    ];
    let report = run_locally(&settings, bucket, state).await;
    org.shutdown();
    assert!(report.error.is_none(), "the run failed: {:?}", report.error);
    assert_eq!(
        report.summary.events_processed,
        scenario.events.len() as u64
    );
    assert_eq!(
        report.summary.quarantined_events,
        scenario.invalid_events.len() as u64
    );
    scenario
}

/// `scripts/query.py check` over `bucket`: every saved query and the view, parsed as Trino and
/// run in DuckDB.
fn run_saved_queries(bucket: &Path, questions: &[Question]) -> Value {
    let python = root().join(".venv-query/bin/python");
    assert!(
        python.exists(),
        "{} is missing: install the pinned duckdb and sqlglot with `scripts/tools.sh query`",
        python.display()
    );
    let mut cmd = Command::new(&python);
    cmd.arg(root().join("scripts/query.py"))
        .arg("check")
        .arg("--bucket")
        .arg(bucket);
    for q in questions.iter().filter(|q| !q.params.is_empty()) {
        assert!(
            q.params.iter().all(|p| !p.contains(',')),
            "{}: a comma in a parameter",
            q.query
        );
        cmd.arg("--param")
            .arg(format!("{}={}", q.query, q.params.join(",")));
    }
    let out = cmd.output().expect("python runs");
    assert!(
        out.status.success(),
        "scripts/query.py check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from scripts/query.py check")
}

/// The rows of one query's result, projected on `columns`.
fn projected(result: &Value, query: &str, columns: &[&str]) -> Vec<BTreeMap<String, Value>> {
    let names: Vec<&str> = result["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: no result"))
        .iter()
        .map(|c| c.as_str().expect("a column name"))
        .collect();
    let at: Vec<usize> = columns
        .iter()
        .map(|c| {
            names
                .iter()
                .position(|n| n == c)
                .unwrap_or_else(|| panic!("{query} returns no column {c} (it returns {names:?})"))
        })
        .collect();
    result["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            columns
                .iter()
                .zip(&at)
                .map(|(c, i)| (c.to_string(), row[*i].clone()))
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_saved_query_returns_exactly_the_rows_its_question_states() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bucket = dir.path().join("bucket");
    let started = Instant::now();
    let scenario =
        write_through_the_pipeline(&bucket, &dir.path().join("checkpoint.json"), now_ms()).await;
    let written = started.elapsed();
    let lines = lines_under(&bucket.join("logs"));
    let ids: BTreeSet<&str> = lines.iter().filter_map(|l| l["id"].as_str()).collect();
    assert_eq!(
        ids.len(),
        scenario.events.len(),
        "every scenario event is in logs/, once"
    );

    let started = Instant::now();
    let result = run_saved_queries(&bucket, &scenario.questions);
    eprintln!(
        "{} events written through the pipeline in {:.1?}; {} saved queries parsed and run in {:.1?}",
        lines.len(),
        written,
        result["queries"].as_object().map_or(0, |q| q.len()),
        started.elapsed()
    );

    // Every saved query has its question, and every question its saved query.
    let queries: BTreeSet<&str> = result["queries"]
        .as_object()
        .expect("queries")
        .keys()
        .map(String::as_str)
        .collect();
    let asked: BTreeSet<&str> = scenario.questions.iter().map(|q| q.query).collect();
    assert_eq!(
        queries, asked,
        "saved queries without a question, or questions without a query"
    );

    let failures = wrong_answers(&result, &scenario, &ids);
    assert!(
        failures.is_empty(),
        "saved queries that answer wrongly:\n{}",
        failures.join("\n")
    );

    // The view has the documented columns, under their names and types, in DuckDB as in Athena.
    let declared = result["view"]["declared"]
        .as_array()
        .expect("declared columns");
    let described = result["view"]["duckdb"]
        .as_array()
        .expect("DuckDB's columns");
    assert_eq!(declared.len(), described.len());
    for (d, got) in declared.iter().zip(described) {
        assert_eq!(d[0], got[0], "view column order");
        let duck = got[1].as_str().unwrap_or_default();
        match d[1].as_str().unwrap_or_default() {
            "varchar" => assert_eq!(duck, "VARCHAR", "{}", d[0]),
            "timestamp(3)" => assert!(duck.starts_with("TIMESTAMP"), "{}: {duck}", d[0]),
            other => panic!("view column type {other} not mapped in this test"),
        }
    }
}

/// What the saved queries answered wrongly, over the scenario's events: each question's rows (in
/// order when it says so), and no near miss among them.
fn wrong_answers(
    result: &Value,
    scenario: &simulated_org::SecurityScenario,
    ids: &BTreeSet<&str>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for q in &scenario.questions {
        let res = &result["queries"][q.query];
        let columns: Vec<&str> = q.expected[0].keys().copied().collect();
        let mut got = projected(res, q.query, &columns);
        let mut want: Vec<BTreeMap<String, Value>> = q
            .expected
            .iter()
            .map(|row| {
                row.iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect()
            })
            .collect();
        if !q.ordered {
            got.sort_by_key(|r| serde_json::to_string(r).unwrap_or_default());
            want.sort_by_key(|r| serde_json::to_string(r).unwrap_or_default());
        }
        if got != want {
            failures.push(format!(
                "{}: returned {got:?}\n  should return {want:?}",
                q.query
            ));
        }
        for n in &q.negatives {
            assert!(
                ids.contains(n.as_str()),
                "{}: the near miss {n} was not written",
                q.query
            );
        }
        if let Some(at) = res["columns"]
            .as_array()
            .and_then(|c| c.iter().position(|n| n == "event_id"))
        {
            for row in res["rows"].as_array().expect("rows") {
                if let Some(id) = row[at].as_str() {
                    if q.negatives.iter().any(|n| n == id) {
                        failures.push(format!("{}: found the near miss {id}", q.query));
                    }
                }
            }
        }
        assert!(
            res["finds"].as_str().is_some_and(|s| !s.is_empty())
                && res["on_hit"].as_str().is_some_and(|s| !s.is_empty()),
            "{}: its comment says what it finds and what to do about a hit",
            q.query
        );
    }
    failures
}
