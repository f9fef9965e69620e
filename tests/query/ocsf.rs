//! The OCSF copy, validated against OCSF itself: events of every action in the real catalogue
//! (and the real captured page, and the security scenario) go through the real pipeline for two
//! sources into one local bucket, with the OCSF copy on; `scripts/ocsf_validate.py` (.venv-ocsf:
//! the OCSF project's ocsf-lib and the OCSF 1.3.0 schema export of ocsf-json-schema, pinned) reads
//! every Parquet object back and checks every event. Each source has as many OCSF rows as archive
//! lines, no (org, id) twice, none invalid. Over the same events, each OCSF twin (`sql/ocsf/`)
//! returns its saved query's rows in DuckDB (`tests/query/trino.rs` runs them on Trino).
use crate::{lines_under, root, run_locally};
use atlassian_audit::config::{env, ocsf_env};
use atlassian_audit::ocsf::mapping::action_mapping;
use atlassian_audit::ocsf::parquet::ClassWriter;
use atlassian_audit::ocsf::OcsfClass;
use serde_json::{json, Value};
use simulated_org::{
    generate_events_for_org, now_ms, security_scenario, SimulatedOrg, SimulatedOrgConfig,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every action id of the real catalogue, lower-cased as events carry them.
fn catalogue_actions() -> Vec<String> {
    let text = std::fs::read_to_string(
        root().join("tests/fixtures/atlassian/event_actions_real_2021.json"),
    )
    .expect("the catalogue fixture");
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    let mut ids: Vec<String> = doc["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_ascii_lowercase))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// One event of each catalogue action, shaped as the generator shapes events (its actor,
/// location, container), with the context such an action names: a group and a member for
/// group changes, a user and a site otherwise.
fn catalogue_tour(org_id: &str, now: i64) -> Vec<Value> {
    let actions = catalogue_actions();
    let templates =
        generate_events_for_org(org_id, 34, actions.len(), (now - 3_600_000, now - 60_000));
    let user = json!({"id": "603edd77ee117700705ec331", "type": "users",
        "attributes": {"name": "alex.morgan@example.com", "email": "alex.morgan@example.com", "accountType": "atlassian"},
        "links": {"alt": null, "self": null}});
    let group = json!({"id": "7c9e1a3c-5d6e-4f8a-9bac-2d4e6f8a0b2c", "type": "groups",
        "attributes": {"name": "contractors", "groupName": "contractors"}, "links": {"alt": null, "self": null}});
    let site = json!({"id": "6c4aa501-ace5-401f-aa34-81147b376ed0", "type": "sites",
        "attributes": {"siteName": "example-sim", "siteHostName": "https://example-sim.atlassian.net"},
        "links": {"alt": null, "self": null}});
    actions
        .iter()
        .zip(templates)
        .map(|(action, mut event)| {
            event["attributes"]["action"] = json!(action);
            event["attributes"]["context"] = match action_mapping(action).class {
                OcsfClass::GroupManagement => json!([group, user]),
                _ => json!([user, site]),
            };
            event
        })
        .collect()
}

/// The real captured page's events, for the org `org_id` (their container is the real org's).
fn real_page() -> Vec<Value> {
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/atlassian/events_page_real_2021.json"))
            .expect("the real page");
    let page: Value = serde_json::from_str(&text).expect("JSON");
    page["data"].as_array().expect("data").clone()
}

/// `events` served by a simulated org and collected by one run into `bucket`, OCSF copy on.
async fn collect(bucket: &Path, state: &Path, source_id: &str, org_id: &str, events: Vec<Value>) {
    let org = SimulatedOrg::start(
        SimulatedOrgConfig {
            org_id: org_id.to_string(),
            ..SimulatedOrgConfig::default()
        },
        0,
    )
    .await
    .expect("the simulated org starts");
    org.append_backlog(events);
    let settings = [
        (env::API_BASE_URL, org.base_url()),
        (env::ORG_ID, org.org_id().to_string()),
        (env::API_KEY, org.api_key().to_string()),
        (env::SOURCE_ID, source_id.to_string()),
        (env::INITIAL_LOOKBACK, "60d".to_string()),
        // Several batches, so several derivations.
        (env::BATCH_MAX_EVENTS, "400".to_string()),
        (ocsf_env::OCSF_ENABLED, "true".to_string()),
    ];
    // A run derives at most one group of batches (`ocsf::derive::MAX_GROUP_BATCHES`): runs
    // with nothing new to read go on with the copy. The last batch of the first run carries
    // the late events (the real page's, from 2021) into its own objects, so it is one more.
    let (mut processed, mut derived) = (0, 0);
    for _ in 0..4 {
        let report = run_locally(&settings, bucket, state).await;
        assert!(report.error.is_none(), "the run failed: {:?}", report.error);
        let ocsf = report.summary.ocsf.expect("the OCSF copy was derived");
        assert_eq!(ocsf.error, None);
        processed += report.summary.events_processed;
        derived += ocsf.derived.events;
        if derived >= processed {
            break;
        }
    }
    org.shutdown();
    assert_eq!(
        derived, processed,
        "{source_id}: every archived event derived"
    );
}

fn validate(bucket: &Path) -> Value {
    pinned_python_json(
        (".venv-ocsf", "the pinned OCSF tools", "ocsf"),
        &["scripts/ocsf_validate.py"],
        bucket,
    )
}

/// `<venv>/bin/python <script and args> --bucket <bucket>`, its stdout read as JSON; `venv` is
/// (folder, what it holds, the `scripts/tools.sh` argument that installs it).
fn pinned_python_json(venv: (&str, &str, &str), script: &[&str], bucket: &Path) -> Value {
    let (folder, holds, installer) = venv;
    let python = root().join(folder).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: install {holds} with `scripts/tools.sh {installer}`",
        python.display()
    );
    let what = script.join(" ");
    let out = Command::new(&python)
        .arg(root().join(script[0]))
        .args(&script[1..])
        .arg("--bucket")
        .arg(bucket)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON from {what}: {e}"))
}

/// The seeded scenarios, through the real pipeline with the OCSF copy on, for two sources into
/// `dir`/bucket: every catalogue action once per source, the real page and the security scenario
/// (source `prod`), 500 generated events (source `sandbox`). Returns the bucket.
pub(crate) async fn write_ocsf_scenarios(dir: &Path) -> PathBuf {
    let bucket = dir.join("bucket");
    let now = now_ms();
    let prod = "sim-org-prod";
    let mut events = catalogue_tour(prod, now);
    events.extend(real_page());
    events.extend(security_scenario(prod, 2026, now).events);
    collect(&bucket, &dir.join("prod.json"), "prod", prod, events).await;
    let sandbox = "sim-org-sandbox";
    let mut events = catalogue_tour(sandbox, now);
    events.extend(generate_events_for_org(
        sandbox,
        7,
        500,
        (now - 86_400_000 * 3, now - 60_000),
    ));
    collect(
        &bucket,
        &dir.join("sandbox.json"),
        "sandbox",
        sandbox,
        events,
    )
    .await;
    bucket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_archived_event_is_one_valid_ocsf_1_3_event() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bucket = write_ocsf_scenarios(dir.path()).await;

    let mut archived: BTreeMap<String, u64> = BTreeMap::new();
    for line in lines_under(&bucket.join("logs")) {
        *archived
            .entry(line["p_source_id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    if let Ok(keep) = std::env::var("OCSF_TEST_KEEP") {
        let _ = std::fs::remove_dir_all(&keep);
        let _ = Command::new("cp")
            .arg("-r")
            .arg(&bucket)
            .arg(&keep)
            .status();
    }
    let report = validate(&bucket);
    eprintln!(
        "OCSF copy: {} objects, {} rows, by class {}",
        report["objects"], report["rows"], report["by_class"]
    );
    assert_eq!(report["ocsf_version"], "1.3.0");
    assert_eq!(
        report["invalid_count"], 0,
        "events OCSF 1.3.0 refuses: {:#}",
        report["invalid"]
    );
    assert_eq!(
        report["repeated"],
        json!([]),
        "an event twice in the OCSF copy"
    );
    let by_source: BTreeMap<String, u64> =
        serde_json::from_value(report["by_source"].clone()).expect("rows by source");
    assert_eq!(
        by_source, archived,
        "OCSF rows per source = archive lines per source"
    );
    assert_eq!(archived.len(), 2);
    let codes = report["event_codes"].as_object().expect("actions");
    for action in catalogue_actions() {
        assert!(
            codes.contains_key(&action),
            "{action} is not in the OCSF copy"
        );
    }
    // Every class has its objects.
    for class in OcsfClass::ALL {
        assert!(
            report["by_class"][class.uid().to_string()]
                .as_u64()
                .unwrap_or(0)
                > 0,
            "{class:?}"
        );
    }

    // The OCSF twins (sql/ocsf/) return their saved query's rows, in DuckDB (tests/query/trino.rs
    // runs them on Trino).
    let twins = duckdb_twins(&bucket);
    let wrong = twin_disagreements(&twins);
    assert!(
        wrong.is_empty(),
        "OCSF twins that do not return their saved query's rows (DuckDB):\n{}",
        wrong.join("\n")
    );
}

/// `scripts/query.py twins` over `bucket`: each OCSF twin and its saved query, run in DuckDB.
pub(crate) fn duckdb_twins(bucket: &Path) -> Value {
    pinned_python_json(
        (".venv-query", "the pinned duckdb and sqlglot", "query"),
        &["scripts/query.py", "twins"],
        bucket,
    )
}

/// A timestamp cell as milliseconds since the epoch, whichever engine wrote it: DuckDB's
/// `2026-03-09 10:00:00.120000` or `…+00:00`, Trino's `2026-03-09 10:00:00.120` or `… UTC`.
fn timestamp_ms(s: &str) -> Option<i64> {
    let s = s
        .trim_end_matches(" UTC")
        .trim_end_matches("+00:00")
        .trim_end_matches("+00");
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let date = chrono::NaiveDate::parse_from_str(whole.get(..10)?, "%Y-%m-%d").ok()?;
    let time = chrono::NaiveTime::parse_from_str(whole.get(11..)?, "%H:%M:%S").ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: i64 = format!("{fraction:0<3}").get(..3)?.parse().ok()?;
    Some(date.and_time(time).and_utc().timestamp_millis() + ms)
}

/// A cell as the two queries are compared on: a timestamp as its milliseconds; an empty string as
/// null (the OCSF mapping leaves out an empty `message`, the archive keeps it: docs/security-lake.md).
fn cell(v: &Value) -> Value {
    match v.as_str() {
        Some("") => Value::Null,
        Some(s) => timestamp_ms(s).map_or_else(|| v.clone(), |ms| json!(ms)),
        None => v.clone(),
    }
}

/// Where an OCSF twin does not return its saved query's rows (`result`: `scripts/query.py twins` or
/// `scripts/trino_query.py twins`): each twin column is one the saved query returns, by name, and
/// the two return the same rows on those columns, none empty. One allowance, on `event_time`: the
/// archive's is the source's time rounded to milliseconds by the engine (`timestamp(3)`), the OCSF
/// `time` is the same time cut to milliseconds (OCSF's `timestamp_t`), so for a source time with
/// sub-millisecond digits the twin's may be one millisecond earlier.
pub(crate) fn twin_disagreements(result: &Value) -> Vec<String> {
    let twins = result["twins"].as_object().expect("twins");
    let mut out = Vec::new();
    if twins.is_empty() {
        out.push("no OCSF twin in sql/ocsf/".to_string());
    }
    for (name, pair) in twins {
        let (archive, ocsf) = (&pair["archive"], &pair["ocsf"]);
        for side in [archive, ocsf] {
            if let Some(e) = side["error"].as_str() {
                out.push(format!("{name}: refused: {e}"));
            }
        }
        let names = |side: &Value| -> Vec<String> {
            side["columns"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|n| n.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (archive_columns, twin_columns) = (names(archive), names(ocsf));
        let Some(at): Option<Vec<usize>> = twin_columns
            .iter()
            .map(|c| archive_columns.iter().position(|a| a == c))
            .collect()
        else {
            out.push(format!(
                "{name}: the twin returns columns {twin_columns:?}, not all among the saved query's {archive_columns:?}"
            ));
            continue;
        };
        let time = twin_columns.iter().position(|c| c == "event_time");
        let rows = |side: &Value, at: Option<&[usize]>| -> Vec<Vec<Value>> {
            side["rows"]
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|row| match at {
                            Some(at) => at.iter().map(|i| cell(&row[*i])).collect(),
                            None => row
                                .as_array()
                                .map(|r| r.iter().map(cell).collect())
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut unmatched = rows(archive, Some(&at));
        let twin_rows = rows(ocsf, None);
        if twin_rows.is_empty() {
            out.push(format!(
                "{name}: no rows (the scenarios hold events it finds)"
            ));
        }
        let mut extra = Vec::new();
        for row in twin_rows {
            let same = |a: &Vec<Value>| {
                a.len() == row.len()
                    && a.iter().zip(&row).enumerate().all(|(i, (a, t))| {
                        a == t
                            || (Some(i) == time
                                && a.as_i64().zip(t.as_i64()).is_some_and(|(a, t)| a - t == 1))
                    })
            };
            match unmatched.iter().position(same) {
                Some(i) => {
                    unmatched.swap_remove(i);
                }
                None => extra.push(row),
            }
        }
        if !unmatched.is_empty() || !extra.is_empty() {
            let mut line = format!(
                "{name}: rows only the saved query returns: {unmatched:?}; only the twin: {extra:?}"
            );
            if line.len() > 3000 {
                line = format!("{}…", line.chars().take(3000).collect::<String>());
            }
            out.push(line);
        }
    }
    out
}

/// The validator is no rubber stamp: records OCSF refuses, written as the pipeline writes them,
/// are reported, each for its own reason.
#[test]
fn the_validator_refuses_what_ocsf_refuses() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let good = atlassian_audit::ocsf::mapping::map_event(&json!({
        "id": "e-1",
        "attributes": {"time": "2026-03-01T10:00:00Z", "action": "user_login",
            "actor": {"id": "a", "name": "Avery"},
            "container": [{"id": "o", "type": "orgs", "attributes": {"name": "acme"}}]}
    }))
    .expect("maps")
    .record;
    let mut bad_activity = good.clone();
    bad_activity["activity_id"] = json!(42);
    let mut bad_caption = good.clone();
    bad_caption["class_name"] = json!("Login");
    let mut no_user = good.clone();
    no_user.as_object_mut().expect("an object").remove("user");
    let records = [good, bad_activity, bad_caption, no_user];
    let mut writer = ClassWriter::new(OcsfClass::Authentication).expect("a writer");
    writer.append(&records).expect("written");
    let key = "ext/atlassian_auth/region=local/accountId=external/eventDay=20260301/x.zstd.parquet";
    let path = dir.path().join(key);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
    std::fs::write(&path, writer.finish().expect("bytes")).expect("written");

    let report = validate(dir.path());
    assert_eq!(report["rows"], 4);
    assert_eq!(report["invalid_count"], 3, "{:#}", report["invalid"]);
    let errors: Vec<String> = report["invalid"]
        .as_array()
        .expect("invalid rows")
        .iter()
        .map(|r| r["errors"].to_string())
        .collect();
    assert!(errors[0].contains("activity_id"), "{}", errors[0]);
    assert!(errors[1].contains("class_name"), "{}", errors[1]);
    assert!(
        errors[2].contains("'user' is a required property"),
        "{}",
        errors[2]
    );
}
