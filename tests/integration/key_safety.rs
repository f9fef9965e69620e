//! The API key never appears in a log line (at any level), an error, a metric, the summary, an
//! object or the checkpoint: the real CLI is run as a child process and everything it left is
//! searched for the key. (Through Secrets Manager, with AWS storage: in the `aws` target.)
use crate::support::harness::TestEnv;
use crate::support::{all_file_contents, assert_absent, distinctive_key, fill_backlog};
use simulated_org::{Fault, SimulatedOrgConfig};
use tokio::process::Command;

fn cli() -> Command {
    Command::new(crate::support::harness::cli_binary())
}

#[tokio::test]
async fn the_key_appears_nowhere_on_success_and_on_every_failure() {
    let key = distinctive_key();
    let env = TestEnv::local(SimulatedOrgConfig {
        api_key: key.clone(),
        ..SimulatedOrgConfig::default()
    })
    .await;
    fill_backlog(&env.org, 60, 300, 2, 3);
    let dir = tempfile::tempdir().unwrap();

    // Each case: faults the org answers with, and the key the CLI is given.
    let wrong_key = format!("{key}-but-revoked");
    let cases: Vec<(&str, Vec<Fault>, &str)> = vec![
        (
            "success with throttling and errors",
            vec![
                Fault::RateLimited {
                    reset: simulated_org::ResetHeader::IsoSeconds { in_secs: 1 },
                    retry_after_secs: None,
                },
                Fault::ServerError { status: 500 },
                Fault::TruncatedBody,
            ],
            key.as_str(),
        ),
        (
            "403",
            vec![Fault::ServerError { status: 403 }],
            key.as_str(),
        ),
        ("401 from the org", vec![Fault::Unauthorized], key.as_str()),
        ("a key the org rejects", vec![], wrong_key.as_str()),
    ];
    for (name, faults, given_key) in cases {
        env.org.clear_faults();
        env.org.push_faults(faults);
        // Through the environment variable.
        let out = cli()
            .args(["run", "--emf", "--budget-seconds", "30"])
            .arg("--out-dir")
            .arg(dir.path().join("out"))
            .arg("--state-file")
            .arg(dir.path().join("state.json"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "trace")
            .env("ATLASSIAN_API_BASE_URL", env.org.base_url())
            .env("ATLASSIAN_ORG_ID", env.org.org_id())
            .env("ATLASSIAN_API_KEY", given_key)
            .env("SOURCE_ID", "key-safety")
            .output()
            .await
            .unwrap();
        assert_absent(&key, &format!("stdout ({name})"), &out.stdout);
        assert_absent(&key, &format!("stderr ({name})"), &out.stderr);
        assert!(
            !out.stderr.is_empty(),
            "trace logging produced output ({name})"
        );
    }

    // `check` prints the org id, never the key.
    let out = cli()
        .arg("check")
        .arg("--out-dir")
        .arg(dir.path().join("out"))
        .arg("--state-file")
        .arg(dir.path().join("state.json"))
        .env("RUST_LOG", "trace")
        .env("ATLASSIAN_API_BASE_URL", env.org.base_url())
        .env("ATLASSIAN_ORG_ID", env.org.org_id())
        .env("ATLASSIAN_API_KEY", &key)
        .env_remove("ATLASSIAN_SECRET_ID")
        .env("SOURCE_ID", "key-safety")
        .output()
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Everything looks good"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_absent(&key, "check's stdout", &out.stdout);
    assert_absent(&key, "check's stderr", &out.stderr);

    for (path, bytes) in all_file_contents(dir.path()) {
        assert_absent(&key, &path, &bytes);
    }
    let requests = env.org.requests();
    assert!(
        requests.iter().any(|r| r.authorized),
        "the key was sent where it belongs"
    );
}
