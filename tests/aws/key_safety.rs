//! The API key never appears in what the CLI prints when it reads the key from Secrets Manager
//! and writes to S3 and DynamoDB, at trace level (the AWS SDK logs too), nor in the objects.
use crate::support::harness::TestEnv;
use crate::support::{all_file_contents, assert_absent, distinctive_key, fill_backlog};
use simulated_org::SimulatedOrgConfig;

#[tokio::test]
async fn the_key_read_from_the_secret_appears_nowhere() {
    let key = distinctive_key();
    let env = TestEnv::on_moto(SimulatedOrgConfig {
        api_key: key.clone(),
        ..SimulatedOrgConfig::default()
    })
    .await;
    fill_backlog(&env.org, 60, 300, 2, 3);

    let out = env
        .cli(&["run", "--emf", "--budget-seconds", "30"])
        .env("RUST_LOG", "trace")
        .env("SOURCE_ID", "key-safety-aws")
        .output()
        .await
        .expect("run the CLI");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_absent(&key, "stdout (secret)", &out.stdout);
    assert_absent(&key, "stderr (secret)", &out.stderr);
    assert!(!out.stderr.is_empty(), "trace logging produced output");

    // `check` prints the org id, never the key.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = env
        .cli(&["check"])
        .arg("--out-dir")
        .arg(dir.path().join("out"))
        .arg("--state-file")
        .arg(dir.path().join("state.json"))
        .env("RUST_LOG", "trace")
        .env("SOURCE_ID", "key-safety")
        .output()
        .await
        .expect("run the CLI");
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
    let objects = env.objects().await;
    assert!(!objects.is_empty(), "the run wrote to S3");
    for o in objects {
        assert_absent(&key, &o.stored_key, o.text.as_bytes());
    }
    let requests = env.org.requests();
    assert!(
        requests.iter().any(|r| r.authorized),
        "the key was sent where it belongs"
    );
}
