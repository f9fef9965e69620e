//! The OCSF copy, validated against OCSF itself: events of every action in the real catalogue
//! (and the real captured page, and the security scenario) go through the real pipeline for two
//! sources into one local bucket, with the OCSF copy on; `scripts/ocsf_validate.py` (.venv-ocsf:
//! the OCSF project's ocsf-lib and the OCSF 1.3.0 schema export of ocsf-json-schema, pinned) reads
//! every Parquet object back and checks every event. Each source has as many OCSF rows as archive
//! lines, no (org, id) twice, none invalid.
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
use std::path::Path;
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
    let report = run_locally(&settings, bucket, state).await;
    org.shutdown();
    assert!(report.error.is_none(), "the run failed: {:?}", report.error);
    let ocsf = report.summary.ocsf.expect("the OCSF copy was derived");
    assert_eq!(ocsf.error, None);
    assert_eq!(
        ocsf.derived.events, report.summary.events_processed,
        "{source_id}: every archived event derived"
    );
}

fn validate(bucket: &Path) -> Value {
    let python = root().join(".venv-ocsf/bin/python");
    assert!(
        python.exists(),
        "{} is missing: install the pinned OCSF tools with `scripts/tools.sh ocsf`",
        python.display()
    );
    let out = Command::new(&python)
        .arg(root().join("scripts/ocsf_validate.py"))
        .arg("--bucket")
        .arg(bucket)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "scripts/ocsf_validate.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from scripts/ocsf_validate.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_archived_event_is_one_valid_ocsf_1_3_event() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bucket = dir.path().join("bucket");
    let now = now_ms();
    let prod = "sim-org-prod";
    let mut events = catalogue_tour(prod, now);
    events.extend(real_page());
    events.extend(security_scenario(prod, 2026, now).events);
    collect(&bucket, &dir.path().join("prod.json"), "prod", prod, events).await;
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
        &dir.path().join("sandbox.json"),
        "sandbox",
        sandbox,
        events,
    )
    .await;

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
