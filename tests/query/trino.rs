//! The same proof on Trino, the engine of Athena's engine 3: the pinned Trino server
//! (`scripts/trino.sh`: the Hive connector over the local file system, a file metastore) reads the
//! tables and the view as the template stores them in Glue (`scripts/trino_query.py`), and every
//! saved query runs there untranspiled:
//! - over the security scenario written by the pipeline: exactly the rows each question states;
//! - over the OCSF scenarios of `tests/query/ocsf.rs`, the OCSF copy's five Parquet tables as the
//!   template gives them to Glue: each OCSF twin (`sql/ocsf/`) returns its saved query's rows, and
//!   both return what they return in DuckDB;
//! - over the demo's output (`atlassian-audit demo`): every query runs, and returns the rows
//!   DuckDB returns.
//!
//! Uses the server of `TRINO_URL`/`TRINO_STATE` when set (`scripts/test.sh` and
//! `make query-trino` start one), else starts one and stops it at the end.

use serde_json::json;

use super::*;

/// The Trino server of the test.
struct TrinoServer {
    url: String,
    state: PathBuf,
    owned: bool,
}

impl TrinoServer {
    fn get() -> Self {
        if let (Ok(url), Ok(state)) = (std::env::var("TRINO_URL"), std::env::var("TRINO_STATE")) {
            return TrinoServer {
                url,
                state: PathBuf::from(state),
                owned: false,
            };
        }
        let state = root().join("target/trino-query-test");
        let started = Instant::now();
        let out = Command::new(root().join("scripts/trino.sh"))
            .arg("start")
            .env("TRINO_STATE", &state)
            .output()
            .expect("scripts/trino.sh runs");
        assert!(
            out.status.success(),
            "scripts/trino.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let url = stdout
            .lines()
            .find_map(|l| l.strip_prefix("export TRINO_URL="))
            .expect("scripts/trino.sh start prints TRINO_URL")
            .to_string();
        eprintln!("Trino started at {url} in {:.1?}", started.elapsed());
        TrinoServer {
            url,
            state,
            owned: true,
        }
    }

    /// `python3 scripts/trino_query.py <verb> --bucket <bucket> --server … --state … <extra>`:
    /// its stdout, after checking it succeeded.
    fn run(&self, verb: &str, bucket: &Path, extra: &[String]) -> Vec<u8> {
        let out = Command::new("python3")
            .arg(root().join("scripts/trino_query.py"))
            .arg(verb)
            .arg("--bucket")
            .arg(bucket)
            .arg("--server")
            .arg(&self.url)
            .arg("--state")
            .arg(&self.state)
            .args(extra)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "scripts/trino_query.py {verb} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// `scripts/trino_query.py check` over `bucket`.
    fn check(&self, bucket: &Path, questions: &[Question]) -> Value {
        let params: Vec<String> = questions
            .iter()
            .filter(|q| !q.params.is_empty())
            .flat_map(|q| {
                [
                    "--param".to_string(),
                    format!("{}={}", q.query, q.params.join(",")),
                ]
            })
            .collect();
        let out = self.run("check", bucket, &params);
        serde_json::from_slice(&out).expect("JSON from scripts/trino_query.py check")
    }

    /// `scripts/trino_query.py twins` over `bucket`: each OCSF twin and its saved query, on Trino.
    fn twins(&self, bucket: &Path) -> Value {
        let out = self.run("twins", bucket, &[]);
        serde_json::from_slice(&out).expect("JSON from scripts/trino_query.py twins")
    }

    /// `scripts/trino_query.py sql` over `bucket`: the rows as JSON objects.
    fn sql(&self, bucket: &Path, statement: &str) -> Vec<Value> {
        let out = self.run("sql", bucket, &[statement.to_string()]);
        String::from_utf8_lossy(&out)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON row"))
            .collect()
    }
}

impl Drop for TrinoServer {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new(root().join("scripts/trino.sh"))
                .arg("stop")
                .env("TRINO_STATE", &self.state)
                .status();
        }
    }
}

/// Each query that Trino refused, with its error.
fn trino_errors(result: &Value) -> Vec<String> {
    result["queries"]
        .as_object()
        .expect("queries")
        .iter()
        .filter_map(|(name, q)| q["error"].as_str().map(|e| format!("{name}: {e}")))
        .collect()
}

/// A value as both engines can be compared on: timestamps to their shortest fraction
/// (DuckDB's `2026-03-09 10:00:00.120000` and Trino's `2026-03-09 10:00:00.120`), in UTC without
/// its suffix (DuckDB's `+00:00`, Trino's ` UTC`), and an object's path without Trino's `local://`
/// (which stands for `s3://`).
fn comparable(v: &Value) -> Value {
    if let Some(s) = v.as_str() {
        let s = s
            .strip_suffix(" UTC")
            .or_else(|| s.strip_suffix("+00:00"))
            .unwrap_or(s);
        if let Some(path) = s.strip_prefix("local://") {
            return json!(path);
        }
        let b = s.as_bytes();
        if b.len() >= 19 && b[4] == b'-' && b[10] == b' ' && b[13] == b':' && b[16] == b':' {
            if let Some((whole, fraction)) = s.split_once('.') {
                let fraction = fraction.trim_end_matches('0');
                return if fraction.is_empty() {
                    json!(whole)
                } else {
                    json!(format!("{whole}.{fraction}"))
                };
            }
            return json!(s);
        }
    }
    v.clone()
}

/// Where DuckDB's and Trino's answers to the same queries differ (rows compared as sorted lists:
/// ties may come in another order).
fn engines_disagree(duckdb: &Value, trino: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (name, d) in duckdb["queries"].as_object().expect("queries") {
        let t = &trino["queries"][name];
        if d["columns"] != t["columns"] {
            out.push(format!(
                "{name}: columns {} (DuckDB) vs {} (Trino)",
                d["columns"], t["columns"]
            ));
            continue;
        }
        let rows = |r: &Value| {
            let mut rows: Vec<String> = r["rows"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|row| {
                            let cells: Vec<Value> = row
                                .as_array()
                                .map(|c| c.iter().map(comparable).collect())
                                .unwrap_or_default();
                            serde_json::to_string(&cells).unwrap_or_default()
                        })
                        .collect()
                })
                .unwrap_or_default();
            rows.sort();
            rows
        };
        let (dr, tr) = (rows(d), rows(t));
        if dr != tr {
            let only_d: Vec<&String> = dr.iter().filter(|r| !tr.contains(r)).collect();
            let only_t: Vec<&String> = tr.iter().filter(|r| !dr.contains(r)).collect();
            let mut line = format!(
                "{name}: {} rows (DuckDB) vs {} (Trino); only DuckDB: {only_d:?}; only Trino: {only_t:?}",
                dr.len(),
                tr.len()
            );
            if line.len() > 3000 {
                line = format!("{}…", line.chars().take(3000).collect::<String>());
            }
            out.push(line);
        }
    }
    out
}

/// The parameters of "what one user did" over the demo: its busiest user with an e-mail, over
/// every day of the output.
fn demo_user_activity(bucket: &Path) -> Vec<Question> {
    let lines = lines_under(&bucket.join("logs"));
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &lines {
        if let Some(email) = l["attributes"]["actor"]["email"].as_str() {
            if email.contains('@') {
                *counts.entry(email).or_default() += 1;
            }
        }
    }
    let user = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(u, _)| u.to_string())
        .expect("the demo has users");
    let days: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l["p_event_time"].as_str().map(|t| t[..10].to_string()))
        .collect();
    vec![Question {
        query: "11_user_activity",
        params: vec![
            user,
            days.first().expect("a day").clone(),
            days.last().expect("a day").clone(),
        ],
        expected: Vec::new(),
        ordered: true,
        negatives: Vec::new(),
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_saved_query_runs_on_trino_and_returns_exactly_the_rows_its_question_states() {
    let trino = TrinoServer::get();
    let dir = tempfile::tempdir().expect("a temporary directory");

    // The security scenario, through the pipeline.
    let bucket = dir.path().join("bucket");
    let scenario =
        write_through_the_pipeline(&bucket, &dir.path().join("checkpoint.json"), now_ms()).await;
    let lines = lines_under(&bucket.join("logs"));
    let ids: BTreeSet<&str> = lines.iter().filter_map(|l| l["id"].as_str()).collect();
    let started = Instant::now();
    let result = trino.check(&bucket, &scenario.questions);
    eprintln!(
        "Trino: {} saved queries over the scenario's {} events in {:.1?}",
        result["queries"].as_object().map_or(0, |q| q.len()),
        lines.len(),
        started.elapsed()
    );
    let errors = trino_errors(&result);
    assert!(
        errors.is_empty(),
        "saved queries Trino refused:\n{}",
        errors.join("\n")
    );
    let failures = wrong_answers(&result, &scenario, &ids);
    assert!(
        failures.is_empty(),
        "saved queries that answer wrongly on Trino:\n{}",
        failures.join("\n")
    );

    // The view as Glue stores it, read by Trino: the documented columns, names and types exactly.
    assert_eq!(
        result["view"]["declared"], result["view"]["trino"],
        "the view's columns as declared (sql/atlassian_audit_flat.sql) and as Trino reads them"
    );

    // The hostile events, read back on Trino: unicode whole, every attribute's value as a string
    // (a nested one through Trino's JSON functions), and the event itself as received.
    let years: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l["p_event_time"].as_str().map(|t| format!("'{}'", &t[..4])))
        .collect();
    let years = years.into_iter().collect::<Vec<_>>().join(", ");
    let hostile = simulated_org::HOSTILE_ACTOR;
    let rows = trino.sql(
        &bucket,
        &format!(
            "SELECT f.actor_name, f.target_name, f.product, \
               json_extract_scalar(element_at(element_at(e.p_context, 1).attributes, 'nested'), '$.c.d') AS nested_d, \
               element_at(element_at(e.p_context, 1).attributes, 'flag') AS flag, \
               element_at(element_at(e.p_context, 1).attributes, 'nothing') AS nothing, \
               element_at(element_at(e.p_container, 2).attributes, 'list') AS list, \
               cardinality(e.attributes.context) AS context_entries \
             FROM atlassian_audit e JOIN atlassian_audit_flat f ON f.event_id = e.id \
             WHERE e.year IN ({years}) AND f.year IN ({years}) AND e.attributes.actor.id = '{}'",
            hostile.id
        ),
    );
    assert!(rows.len() >= 10, "the hostile events on Trino: {rows:?}");
    for row in &rows {
        assert_eq!(
            row,
            &json!({
                "actor_name": hostile.name,
                "target_name": "Équipe «sécurité» 安全 🛡️",
                "product": "Équipe «sécurité» 安全 🛡️",
                "nested_d": "e",
                "flag": "false",
                "nothing": null,
                "list": r#"["x",2,true]"#,
                "context_entries": 1,
            }),
            "a hostile event as Trino reads it"
        );
    }

    // The OCSF copy of the seeded scenarios (tests/query/ocsf.rs), its five Parquet tables as the
    // template gives them to Glue: each OCSF twin returns its saved query's rows on Trino, and
    // both return on Trino what they return in DuckDB.
    let phase = Instant::now();
    let ocsf_bucket = super::ocsf::write_ocsf_scenarios(&dir.path().join("ocsf")).await;
    let written = phase.elapsed();
    let mut disagreements = Vec::new();
    // As over the demo: one more try when an event lies at a window's edge between the runs.
    for _ in 0..2 {
        let started = Instant::now();
        let on_trino = trino.twins(&ocsf_bucket);
        eprintln!(
            "Trino: the OCSF twins and their saved queries in {:.1?} (the OCSF scenarios written in {written:.1?})",
            started.elapsed()
        );
        let wrong = super::ocsf::twin_disagreements(&on_trino);
        assert!(
            wrong.is_empty(),
            "OCSF twins that do not return their saved query's rows on Trino:\n{}",
            wrong.join("\n")
        );
        let as_queries = |r: &Value| {
            let mut queries = serde_json::Map::new();
            for (name, pair) in r["twins"].as_object().expect("twins") {
                for side in ["archive", "ocsf"] {
                    queries.insert(format!("{name} ({side})"), pair[side].clone());
                }
            }
            json!({ "queries": queries })
        };
        let duck = super::ocsf::duckdb_twins(&ocsf_bucket);
        disagreements = engines_disagree(&as_queries(&duck), &as_queries(&on_trino));
        if disagreements.is_empty() {
            break;
        }
    }
    assert!(
        disagreements.is_empty(),
        "DuckDB and Trino disagree on the OCSF twins or their saved queries:\n{}",
        disagreements.join("\n")
    );
    eprintln!(
        "The OCSF twins, written and run on Trino and in DuckDB, in {:.1?}",
        phase.elapsed()
    );

    // The demo's output, written by the CLI: every query runs on Trino, with DuckDB's answers.
    let demo = dir.path().join("demo");
    // (The CLI is the `cli` package's binary: cargo builds it, incrementally.)
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .current_dir(root())
        .args([
            "run",
            "--locked",
            "--quiet",
            "--bin",
            "atlassian-audit",
            "--",
        ])
        .args(["demo", "--orgs", "1", "--out-dir"])
        .arg(&demo)
        .output()
        .expect("the CLI runs");
    assert!(
        out.status.success(),
        "atlassian-audit demo failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let demo_bucket = demo.join("bucket");
    let params = demo_user_activity(&demo_bucket);
    let mut disagreements = Vec::new();
    // An event of the demo may lie within seconds of a window's edge between the two runs: one
    // more try, a little later, before calling a difference a disagreement.
    for _ in 0..2 {
        let duck = run_saved_queries(&demo_bucket, &params);
        let started = Instant::now();
        let result = trino.check(&demo_bucket, &params);
        eprintln!(
            "Trino: the saved queries over the demo in {:.1?}",
            started.elapsed()
        );
        let errors = trino_errors(&result);
        assert!(
            errors.is_empty(),
            "saved queries Trino refused over the demo:\n{}",
            errors.join("\n")
        );
        disagreements = engines_disagree(&duck, &result);
        if disagreements.is_empty() {
            break;
        }
    }
    assert!(
        disagreements.is_empty(),
        "DuckDB and Trino disagree over the demo:\n{}",
        disagreements.join("\n")
    );
}
