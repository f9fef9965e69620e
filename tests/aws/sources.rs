//! The `sources` commands and `run --all-sources` as an operator runs them: the CLI as a child
//! process against the registry, secrets, table and bucket in moto, two organizations behind
//! one simulated API.
use crate::support::fleet::{start_orgs, without_single_org_settings};
use crate::support::harness::{
    cli_binary, create_bucket, create_table, require_moto, s3_objects, unique, Moto, PREFIX,
};
use atlassian_audit::config::env;
use atlassian_audit::setup::Aws;
use simulated_org::{generate_events_for_org, now_ms, SimulatedOrg, SimulatedOrgConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;

struct Deployment {
    orgs: Vec<SimulatedOrg>,
    moto: Moto,
    secrets: Vec<String>,
}

impl Deployment {
    async fn new() -> Deployment {
        require_moto();
        let orgs = start_orgs("org", 2, SimulatedOrgConfig::default()).await;
        let aws = Aws::default();
        let (s3, ddb, secrets) = (
            aws.s3(true).await,
            aws.dynamodb().await,
            aws.secrets_manager().await,
        );
        let bucket = unique("bkt").to_lowercase();
        let table = unique("reg");
        create_bucket(&s3, &bucket).await;
        create_table(&ddb, &table).await;
        let mut names = Vec::new();
        for org in &orgs {
            let now = now_ms();
            org.append_backlog(generate_events_for_org(
                org.org_id(),
                7,
                250,
                (now - 40 * 86_400_000, now - 60_000),
            ));
            let name = unique(&format!("atlassian-audit/{}", org.org_id()));
            secrets
                .create_secret()
                .name(&name)
                .secret_string(
                    serde_json::json!({"org_id": org.org_id(), "api_key": org.api_key()})
                        .to_string(),
                )
                .send()
                .await
                .expect("create secret");
            names.push(name);
        }
        Deployment {
            orgs,
            moto: Moto {
                bucket,
                table,
                secret_id: names[0].clone(),
                s3,
                secrets,
            },
            secrets: names,
        }
    }

    async fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(cli_binary());
        for (name, value) in [
            (env::SOURCES_TABLE, self.moto.table.as_str()),
            (env::CHECKPOINT_TABLE, &self.moto.table),
            (env::OUTPUT_BUCKET, &self.moto.bucket),
            (env::OUTPUT_PREFIX, PREFIX),
            (env::S3_FORCE_PATH_STYLE, "true"),
            (env::PAGE_LIMIT, "100"),
        ] {
            cmd.env(name, value);
        }
        without_single_org_settings(&mut cmd);
        cmd.env(env::API_BASE_URL, self.orgs[0].base_url());
        let out = cmd.args(args).output().await.expect("the CLI runs");
        for org in &self.orgs {
            for stream in [&out.stdout, &out.stderr] {
                assert!(
                    !String::from_utf8_lossy(stream).contains(org.api_key()),
                    "{args:?} printed a key"
                );
            }
        }
        out
    }

    /// Event ids under logs/ per `p_source_id`, with their counts.
    async fn archived(&self) -> BTreeMap<String, BTreeMap<String, usize>> {
        let mut by: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for o in s3_objects(&self.moto).await {
            if !o.key.starts_with("logs/") {
                continue;
            }
            for line in o.text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
                let source = v["p_source_id"].as_str().unwrap_or("").to_string();
                let id = v["id"].as_str().unwrap_or("").to_string();
                *by.entry(source).or_default().entry(id).or_default() += 1;
            }
        }
        by
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn sources_are_added_checked_listed_run_disabled_and_removed_from_the_cli() {
    let d = Deployment::new().await;
    let (s1, s2) = (d.secrets[0].as_str(), d.secrets[1].as_str());

    let added = d
        .cli(&[
            "sources",
            "add",
            "prod",
            "--secret-id",
            s1,
            "--label",
            "Production",
        ])
        .await;
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert!(
        text(&added.stdout).contains("org-1"),
        "{}",
        text(&added.stdout)
    );

    // Refused, each with a reason: the id exists, the backfill is out of range, the secret is bad.
    let again = d.cli(&["sources", "add", "prod", "--secret-id", s2]).await;
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("registered already"),
        "{}",
        text(&again.stderr)
    );
    for days in ["0", "181"] {
        let out = d
            .cli(&[
                "sources",
                "add",
                "x",
                "--secret-id",
                s2,
                "--backfill-days",
                days,
            ])
            .await;
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("1 to 180"),
            "{}",
            text(&out.stderr)
        );
    }
    let missing = d
        .cli(&["sources", "add", "x", "--secret-id", "no-such-secret"])
        .await;
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("no-such-secret"),
        "{}",
        text(&missing.stderr)
    );
    let bad_id = d.cli(&["sources", "add", "a/b", "--secret-id", s2]).await;
    assert!(!bad_id.status.success());

    let added = d
        .cli(&[
            "sources",
            "add",
            "sandbox",
            "--secret-id",
            s2,
            "--backfill-days",
            "30",
        ])
        .await;
    assert!(added.status.success(), "{}", text(&added.stderr));

    let ran = d
        .cli(&["run", "--all-sources", "--emf", "--concurrency", "2"])
        .await;
    assert!(ran.status.success(), "{}", text(&ran.stderr));
    let emf: Vec<serde_json::Value> = text(&ran.stdout)
        .lines()
        .filter(|l| l.starts_with("{\"") && l.contains("\"_aws\""))
        .map(|l| serde_json::from_str(l).expect("EMF JSON"))
        .collect();
    let ids: BTreeSet<&str> = emf.iter().filter_map(|v| v["SourceId"].as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["prod", "sandbox"]));
    assert_eq!(
        emf.len(),
        3,
        "live prod, live sandbox, the sandbox's backfill"
    );

    let archived = d.archived().await;
    assert!(archived["prod"].len() > 30, "7 days of 40 for prod");
    assert!(
        archived["sandbox"].len() > archived["prod"].len(),
        "30 days for the backfill"
    );
    assert!(archived
        .values()
        .flat_map(|ids| ids.values())
        .all(|n| *n == 1));

    let listed = d.cli(&["sources", "list", "--json"]).await;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let sources = v["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 2);
    let sandbox = sources
        .iter()
        .find(|s| s["source_id"] == "sandbox")
        .unwrap();
    assert_eq!(sandbox["backfill_state"], "finished");
    assert_eq!(sandbox["backfill_percent"], 100.0);
    assert_eq!(sandbox["enabled"], true);
    assert!(sandbox["checkpoint"]["events_written"].is_u64());
    assert!(sandbox["last_run"]["succeeded"].as_bool().unwrap());
    let table = d.cli(&["sources", "list"]).await;
    assert!(
        text(&table.stdout).contains("finished (100.0%)"),
        "{}",
        text(&table.stdout)
    );

    let checked = d.cli(&["check", "--all-sources"]).await;
    let out = text(&checked.stdout);
    assert!(checked.status.success(), "{out}{}", text(&checked.stderr));
    assert!(
        out.contains("source prod:") && out.contains("source sandbox:"),
        "{out}"
    );
    assert!(out.contains("Everything looks good."), "{out}");

    // Disabled: its organization receives no request.
    assert!(d
        .cli(&["sources", "disable", "sandbox"])
        .await
        .status
        .success());
    let before = d.orgs[1].requests().len();
    assert!(d.cli(&["run", "--all-sources"]).await.status.success());
    assert_eq!(d.orgs[1].requests().len(), before);

    // A revoked key fails its source alone, named, and the exit code says so.
    d.moto
        .secrets
        .put_secret_value()
        .secret_id(s1)
        .secret_string(r#"{"org_id": "org-1", "api_key": "ATATT3-revoked"}"#)
        .send()
        .await
        .expect("put");
    assert!(d
        .cli(&["sources", "enable", "sandbox"])
        .await
        .status
        .success());
    let failed = d.cli(&["run", "--all-sources"]).await;
    assert!(!failed.status.success());
    let stderr = text(&failed.stderr);
    assert!(
        stderr.contains("source prod") && stderr.contains("401"),
        "{stderr}"
    );
    assert!(!stderr.contains("source sandbox"), "{stderr}");
    let checked = d.cli(&["check", "--all-sources"]).await;
    let out = text(&checked.stdout);
    assert!(!checked.status.success());
    assert!(out.contains("to fix, in prod."), "{out}");

    let removed = d.cli(&["sources", "remove", "prod"]).await;
    assert!(removed.status.success());
    assert!(
        text(&removed.stdout).contains("stays"),
        "{}",
        text(&removed.stdout)
    );
    let listed = d.cli(&["sources", "list", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(v["sources"].as_array().unwrap().len(), 1);
    assert!(d.archived().await.contains_key("prod"), "the archive stays");
}
