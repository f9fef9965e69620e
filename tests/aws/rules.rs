//! The user's rule file as the Lambda reads it: an S3 object (DETECTION_RULES=s3://bucket/key)
//! or every rule file under a prefix (s3://bucket/prefix/),
//! read once by `Backends::from_config` and applied; a missing object or a bad rule stops the
//! process there, before any request to the API, naming the object, the rule and the field,
//! and never showing the API key.
use crate::support::harness::{TestEnv, PREFIX};
use crate::support::rules::{assert_user_rules_applied, BAD_SEVERITY, USER_RULES};
use crate::support::{assert_absent, distinctive_key};
use atlassian_audit::config::env;
use atlassian_audit::setup::Backends;
use simulated_org::SimulatedOrgConfig;

/// Puts `text` under `key` in the environment's bucket; returns its `s3://` URI.
async fn upload(env: &TestEnv, key: &str, text: &str) -> String {
    let moto = env.moto();
    moto.s3
        .put_object()
        .bucket(&moto.bucket)
        .key(key)
        .body(text.as_bytes().to_vec().into())
        .send()
        .await
        .expect("put the rule file");
    format!("s3://{}/{key}", moto.bucket)
}

fn missing_uri(env: &TestEnv) -> String {
    format!("s3://{}/{PREFIX}detections/missing.yaml", env.moto().bucket)
}

/// `Backends::from_config` with DETECTION_RULES=`uri`: the backends, or the error's text.
async fn backends_with_rules(env: &mut TestEnv, uri: &str) -> Result<Backends, String> {
    env.set(env::DETECTION_RULES, uri);
    Backends::from_config(&env.config(), &env.aws)
        .await
        .map_err(|e| e.to_string())
}

/// Setup with DETECTION_RULES=`uri` fails naming the object `bad` (BAD_SEVERITY), its rule and
/// the field.
async fn assert_refused_naming_the_bad_rule(env: &mut TestEnv, uri: &str, bad: &str) {
    let err = backends_with_rules(env, uri).await.err().expect("refused");
    assert_eq!(
        err,
        format!("{bad}: rule group_churn: field level: invalid level: 'urgent'")
    );
}

#[tokio::test]
async fn an_s3_rule_file_is_read_at_setup_and_applied() {
    let mut env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    let uri = upload(&env, "detections/rules.yaml", USER_RULES).await;
    let backends = backends_with_rules(&mut env, &uri).await.expect("read");
    assert_user_rules_applied(&backends.detection.pack);
    let added = backends
        .detection
        .pack
        .rules()
        .iter()
        .find(|r| r.id == "group_churn");
    assert_eq!(added.map(|r| r.origin.as_str()), Some(uri.as_str()));

    // The CLI's `rules list` reads the same object, as DETECTION_RULES or as its FILE.
    for out in [
        env.cli(&["rules", "list"])
            .env(env::DETECTION_RULES, &uri)
            .output()
            .await,
        env.cli(&["rules", "list", &uri]).output().await,
    ] {
        let out = out.expect("run the CLI");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(&format!("({uri})")), "{stdout}");
        assert!(!stdout.contains("api_token_revoked"), "{stdout}");
    }
}

#[tokio::test]
async fn a_missing_object_or_a_bad_rule_fails_before_any_request() {
    let mut env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    let missing = missing_uri(&env);
    let err = backends_with_rules(&mut env, &missing)
        .await
        .err()
        .expect("refused");
    assert!(
        err.starts_with(&format!("{missing}: cannot read the rule file")),
        "{err}"
    );
    assert!(
        err.contains("NoSuchKey") && err.contains("upload the rule file"),
        "{err}"
    );

    let bad = upload(&env, "detections/bad.yaml", BAD_SEVERITY).await;
    assert_refused_naming_the_bad_rule(&mut env, &bad, &bad).await;
    let oversized = format!("{USER_RULES}#{}\n", "x".repeat(1024 * 1024));
    let big = upload(&env, "detections/big.yaml", &oversized).await;
    let err = backends_with_rules(&mut env, &big)
        .await
        .err()
        .expect("refused");
    assert!(err.contains("larger than 1048576 bytes"), "{err}");
    assert!(
        env.org.requests().is_empty(),
        "nothing was asked of the API"
    );
}

/// A prefix (DETECTION_RULES=s3://bucket/prefix/): every rule file directly under it, in key
/// order; sidecars and deeper keys are not read; an empty prefix or a bad file stops setup
/// there, naming it.
#[tokio::test]
async fn every_rule_file_under_an_s3_prefix_is_read_and_applied() {
    let mut env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    let extra = "title: Group deleted\nid: 0d9a8b7c-6e5f-4a3b-8c2d-1e0f9a8b7c6d\nname: group_deleted_seen\nlogsource: {product: atlassian, service: audit}\ndetection: {selection: {attributes.action: group_deleted}, condition: selection}\nlevel: low\n";
    upload(&env, "team-rules/a.yml", USER_RULES).await;
    let second = upload(&env, "team-rules/b.yaml", extra).await;
    upload(&env, "team-rules/a.tests.yaml", "not: [read").await;
    upload(&env, "team-rules/README.txt", "not a rule").await;
    upload(&env, "team-rules/old/bad.yaml", BAD_SEVERITY).await;
    let prefix = format!("s3://{}/team-rules/", env.moto().bucket);
    let backends = backends_with_rules(&mut env, &prefix).await.expect("read");
    let pack = &backends.detection.pack;
    assert_user_rules_applied(pack);
    let origin = |id: &str| {
        pack.rules()
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.origin.clone())
    };
    assert_eq!(origin("group_deleted_seen"), Some(second));
    assert_eq!(
        origin("group_churn"),
        Some(format!("s3://{}/team-rules/a.yml", env.moto().bucket))
    );

    let empty = format!("s3://{}/no-rules-here/", env.moto().bucket);
    let err = backends_with_rules(&mut env, &empty)
        .await
        .err()
        .expect("refused");
    assert!(
        err.starts_with(&empty) && err.contains("no rule file"),
        "{err}"
    );

    let bad = upload(&env, "bad-rules/x.yaml", BAD_SEVERITY).await;
    let bad_prefix = format!("s3://{}/bad-rules/", env.moto().bucket);
    assert_refused_naming_the_bad_rule(&mut env, &bad_prefix, &bad).await;
    assert!(
        env.org.requests().is_empty(),
        "nothing was asked of the API"
    );
}

/// The Lambda's init reads the object: missing, the process stops there, naming it, with no
/// request to the API (the base URL is the simulated org's, listed as allowed).
#[tokio::test]
async fn the_lambda_init_fails_on_a_missing_rule_object_before_any_request() {
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    let missing = missing_uri(&env);
    let mut lambda = tokio::process::Command::new(env!("CARGO_BIN_EXE_atlassian-audit-lambda"));
    lambda.envs(&env.settings);
    let out = lambda
        .env(env::API_ALLOWED_HOSTS, "127.0.0.1")
        .env(env::DETECTION_RULES, &missing)
        // Nothing listens here: a Lambda that got past its init would fail otherwise.
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .await
        .expect("run the Lambda binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&missing) && stderr.contains("NoSuchKey"),
        "{stderr}"
    );
    assert!(
        env.org.requests().is_empty(),
        "nothing was asked of the API"
    );
}

/// A bad rule file, even one with the key pasted into it, fails the CLI's run without the key
/// from the secret appearing anywhere, at trace level (the AWS SDK logs too).
#[tokio::test]
async fn a_rule_error_never_shows_the_api_key() {
    let key = distinctive_key();
    let env = TestEnv::on_moto(SimulatedOrgConfig {
        api_key: key.clone(),
        ..SimulatedOrgConfig::default()
    })
    .await;
    let pasted = BAD_SEVERITY.replace("level: urgent", &format!("level: {key}"));
    assert_ne!(pasted, BAD_SEVERITY);
    for (name, text) in [("bad.yaml", BAD_SEVERITY), ("pasted.yaml", pasted.as_str())] {
        let uri = upload(&env, &format!("detections/{name}"), text).await;
        let out = env
            .cli(&["run", "--budget-seconds", "30"])
            .env("RUST_LOG", "trace")
            .env(env::DETECTION_RULES, &uri)
            .output()
            .await
            .expect("run the CLI");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let error = stderr
            .lines()
            .rfind(|l| l.starts_with("error: "))
            .unwrap_or("");
        assert!(!out.status.success(), "{stderr}");
        assert!(
            error.contains(&uri) && error.contains("field level"),
            "{error}"
        );
        assert_absent(&key, "the rule error", error.as_bytes());
        assert_absent(&key, "stdout", &out.stdout);
        assert_absent(&key, "stderr", &out.stderr);
    }
    // The key in the secret was never read, let alone sent.
    assert!(
        env.org.requests().is_empty(),
        "nothing was asked of the API"
    );
}
