//! AWS itself misbehaving. (The fault campaign, `tests/campaign/`, covers errors, throttling and
//! lost answers at random; this is the regression test for the stall it found.)
use crate::support::fill_backlog;
use atlassian_audit::config::env;
use simulated_org::{SimulatedOrg, SimulatedOrgConfig};
use std::time::{Duration, Instant};

/// An endpoint that accepts connections and never answers: before AWS calls had an attempt
/// timeout, a run writing to it hung until its whole budget (in Lambda: the deadline) was gone,
/// holding the lease all along.
#[tokio::test]
async fn a_stalled_aws_endpoint_fails_the_run_instead_of_holding_it() {
    let org = SimulatedOrg::start(SimulatedOrgConfig::default(), 0)
        .await
        .expect("org");
    fill_backlog(&org, 31, 120, 0, 2);
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let endpoint = format!("http://{}", black_hole.local_addr().expect("addr"));
    // Accept and hold every connection, answering nothing.
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in black_hole.incoming().take(16).flatten() {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("checkpoint.json");

    let started = Instant::now();
    let out = tokio::process::Command::new(crate::support::harness::cli_binary())
        .args(["run", "--state-file"])
        .arg(&state)
        .env(env::API_BASE_URL, org.base_url())
        .env(env::ORG_ID, org.org_id())
        .env(env::API_KEY, org.api_key())
        .env_remove(env::SECRET_ID)
        .env(env::OUTPUT_BUCKET, "stalled-bucket")
        .env(env::S3_FORCE_PATH_STYLE, "true")
        .env(env::AWS_ATTEMPT_TIMEOUT, "500ms")
        .env(env::RUN_BUDGET_SECONDS, "120")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .expect("run the CLI");
    let took = started.elapsed();
    drop(holder);

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the run cannot succeed: {stderr}");
    assert!(
        stderr.contains("stalled-bucket"),
        "the error names the bucket: {stderr}"
    );
    // Three attempts of 500 ms plus backoff, not the 120 s budget.
    assert!(
        took < Duration::from_secs(60),
        "the run held on for {took:?} against a stalled endpoint"
    );
    // Nothing was committed: the checkpoint did not move past the unwritten page.
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the summary is printed");
    assert_eq!(summary["events_processed"], 0);
}
