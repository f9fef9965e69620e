//! Secrets Manager: the key is read from the secret, a rotated key is picked up by a warm
//! process, and a secret that cannot be used stops the run before any request, named but never
//! quoted.
use crate::support::harness::TestEnv;
use crate::support::{append_live, fill_backlog};
use atlassian_audit::collector::RunError;
use atlassian_audit::source::SourceError;
use simulated_org::SimulatedOrgConfig;
use std::time::Duration;

#[tokio::test]
async fn a_rejected_key_stops_the_run_and_a_rotated_key_is_picked_up() {
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 24, 120, 0, 3);
    assert!(env.run().await.error.is_none());
    append_live(&env.org, 25, 10);
    let before = env.checkpoint().await.unwrap().checkpoint;

    // The key in the secret is revoked: replace it with one the org does not accept.
    env.put_credentials(env.org.org_id(), "revoked-key-000")
        .await;
    let backends = env.backends().await;
    let r = backends
        .collector(&env.config())
        .await
        .unwrap()
        .run(Duration::from_secs(30))
        .await;
    let err = r.error.expect("a 401 fails the run");
    assert!(
        matches!(err, RunError::Source(SourceError::Unauthorized { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("401") && text.contains("admin.atlassian.com"),
        "{text}"
    );
    assert!(
        text.contains(&env.moto().secret_id),
        "the message names the secret to update: {text}"
    );
    assert!(!r.summary.run_succeeded);
    assert_eq!(
        r.summary.auth_failures, 2,
        "the first 401, and the one after re-reading the secret"
    );
    crate::support::assert_checkpoint_unchanged(
        &env.checkpoint().await.unwrap().checkpoint,
        &before,
        "checkpoint untouched",
    );

    // The operator rotates the key; the same warm process picks it up on the next 401.
    env.put_credentials(env.org.org_id(), env.org.api_key())
        .await;
    let r = backends
        .collector(&env.config())
        .await
        .unwrap()
        .run(Duration::from_secs(30))
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 10);
    // Some runs here are the Lambda's own collector (Backends), announcing to no test target.
    env.assert_exactly_once_but_announcements().await;
}

#[tokio::test]
async fn a_secret_that_is_not_usable_is_named_without_its_content() {
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    env.put_secret("api_key=hunter2-secret-value").await;
    let r = env.run().await;
    let err = r
        .error
        .expect("a secret that is not JSON is refused")
        .to_string();
    assert!(
        err.contains(&env.moto().secret_id) && err.contains("org_id"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        env.org.requests().is_empty(),
        "no request without credentials"
    );
}

#[tokio::test]
async fn check_says_everything_looks_good_or_exactly_what_is_wrong() {
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    let report = atlassian_audit::check::run_checks(&env.config(), &env.backends().await).await;
    assert!(report.all_ok(), "{}", report.render());
    assert!(report.render().contains("Everything looks good"));
    // What it can say of the key's scope (the API reports none), and what the key should be.
    assert!(
        report
            .render()
            .contains(&format!("✓ {}", atlassian_audit::check::KEY_SCOPE_NOTE)),
        "{}",
        report.render()
    );

    env.put_credentials(env.org.org_id(), "expired-key").await;
    let report = atlassian_audit::check::run_checks(&env.config(), &env.backends().await).await;
    assert!(!report.all_ok());
    let text = report.render();
    assert!(text.contains("✗ the API key was rejected (401)"), "{text}");
    assert!(text.contains("1 problem"), "{text}");

    env.put_secret(r#"{"org_id":"REPLACE_ME","api_key":"REPLACE_ME"}"#)
        .await;
    let mut broken = env.config();
    broken.objects = atlassian_audit::config::ObjectLocation::S3 {
        bucket: "no-such-bucket-anywhere".into(),
        prefix: String::new(),
        force_path_style: true,
        expected_owner: None,
    };
    let text = atlassian_audit::check::run_checks(&broken, &env.backends_for(&broken).await)
        .await
        .render();
    assert!(text.contains("placeholder"), "{text}");
    assert!(text.contains("no-such-bucket-anywhere"), "{text}");
}

/// The secret holds `text`: the run stops before any request with a message naming the
/// secret and `what` is wrong, never the secret's content.
async fn an_unusable_secret(text: &str, what: &str) {
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    env.put_secret(text).await;
    let r = env.run().await;
    let err = r.error.expect("the run fails").to_string();
    assert!(
        err.contains(&env.moto().secret_id),
        "names the secret: {err}"
    );
    assert!(err.contains(what), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    assert!(env.org.requests().is_empty(), "nothing was sent");
    assert!(env
        .checkpoint()
        .await
        .is_none_or(|c| c.checkpoint.sequence == 0));
}

#[tokio::test]
async fn a_secret_without_an_api_key() {
    an_unusable_secret(
        r#"{"org_id":"sim-org-0001","apikey":"hunter2"}"#,
        "it has no \"api_key\" field",
    )
    .await;
}

#[tokio::test]
async fn a_secret_with_an_empty_org_id() {
    an_unusable_secret(
        r#"{"org_id":"  ","api_key":"hunter2"}"#,
        "its \"org_id\" field is not a non-empty string",
    )
    .await;
}

/// serde would read the array as positional fields and accept it.
#[tokio::test]
async fn a_secret_that_is_a_json_array() {
    an_unusable_secret(r#"["sim-org-0001","hunter2"]"#, "it is not a JSON object").await;
}

#[tokio::test]
async fn a_secret_whose_key_would_inject_a_header() {
    an_unusable_secret(
        r#"{"org_id":"sim-org-0001","api_key":"hunter2\r\nX-Evil: 1"}"#,
        "characters an HTTP header cannot carry",
    )
    .await;
}

fn secret_with_expiry(org_id: &str, api_key: &str, expires_at: &str) -> String {
    serde_json::json!({"org_id": org_id, "api_key": api_key, "expires_at": expires_at}).to_string()
}

/// The key's expiry, read from the secret: the check says how long is left, the run's metrics
/// carry `KeyDaysLeft`, and a warm process keeps the date of the key it uses until it reads the
/// secret again (the rotation runbook relies on it).
#[tokio::test]
async fn the_key_expiry_in_the_secret_reaches_the_check_and_the_metrics() {
    use atlassian_audit::credentials::key_days_left;
    use atlassian_audit::metrics::RunMetrics;
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    let in_days = |days: i64| {
        (chrono::Utc::now() + chrono::Duration::days(days))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    env.put_secret(secret_with_expiry(
        env.org.org_id(),
        env.org.api_key(),
        &in_days(10),
    ))
    .await;
    let backends = env.backends().await;
    let report = atlassian_audit::check::run_checks(&env.config(), &backends).await;
    let text = report.render();
    assert!(report.all_ok(), "{text}");
    assert!(
        text.contains("✓ the API key expires on") && text.contains("(in 9 days): rotate it now"),
        "{text}"
    );
    let run = backends
        .collector(&env.config())
        .await
        .unwrap()
        .run(Duration::from_secs(30))
        .await;
    assert!(run.error.is_none(), "{:?}", run.error);
    let days = key_days_left(backends.credentials.as_ref(), chrono::Utc::now())
        .await
        .expect("the expiry is known");
    assert!((9.99..10.0).contains(&days), "{days}");
    let line = RunMetrics::new(&run.summary)
        .with_key_days_left(Some(days))
        .to_emf("NS", 0);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    // Parsed back from text, the last bit may differ: compare as a measurement, not bit for bit.
    let emitted = v["KeyDaysLeft"].as_f64().expect("KeyDaysLeft is a number");
    assert!((emitted - days).abs() < 1e-9, "{emitted} vs {days}");
    assert!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["Name"] == "KeyDaysLeft"));

    // A new key with a later date: the warm process still reports the key it uses; a new one
    // (a new Lambda container) reports the new date.
    env.put_secret(secret_with_expiry(
        env.org.org_id(),
        env.org.api_key(),
        &in_days(300),
    ))
    .await;
    let warm = key_days_left(backends.credentials.as_ref(), chrono::Utc::now()).await;
    assert!(warm.is_some_and(|d| d < 10.0), "{warm:?}");
    let fresh = env.backends().await;
    let cold = key_days_left(fresh.credentials.as_ref(), chrono::Utc::now()).await;
    assert!(cold.is_some_and(|d| d > 299.0), "{cold:?}");

    // An expired key: the check says so and what to do.
    env.put_secret(secret_with_expiry(
        env.org.org_id(),
        env.org.api_key(),
        &in_days(-2),
    ))
    .await;
    let report = atlassian_audit::check::run_checks(&env.config(), &env.backends().await).await;
    let text = report.render();
    assert!(!report.all_ok(), "{text}");
    assert!(
        text.contains("✗ the API key expired on") && text.contains("2 days ago"),
        "{text}"
    );
}

#[tokio::test]
async fn a_secret_with_an_unreadable_expiry() {
    an_unusable_secret(
        r#"{"org_id":"sim-org-0001","api_key":"hunter2","expires_at":"next tuesday"}"#,
        "its \"expires_at\" is not a date or time",
    )
    .await;
}

/// A warm process re-reads the secret once its copy is older than the limit (15 minutes; here
/// shortened), so a key replaced in the secret stops being used even if Atlassian still accepts
/// the old one; and when the secret can no longer be read, the old key is not used either.
#[tokio::test]
async fn a_replaced_key_stops_being_used_after_the_cache_limit() {
    use atlassian_audit::credentials::{
        CredentialProvider, SecretsManagerCredentials, SECRET_MAX_AGE,
    };
    assert!(SECRET_MAX_AGE <= Duration::from_secs(15 * 60));
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    let moto = env.moto();
    env.put_credentials(env.org.org_id(), "first-key-0001")
        .await;
    let provider = SecretsManagerCredentials::new(moto.secrets.clone(), moto.secret_id.clone())
        .with_max_age(Duration::from_millis(600));
    assert_eq!(
        provider.get().await.unwrap().api_key.expose(),
        "first-key-0001"
    );

    env.put_credentials(env.org.org_id(), "second-key-0002")
        .await;
    assert_eq!(
        provider.get().await.unwrap().api_key.expose(),
        "first-key-0001",
        "within the limit the cached key is used (no read per run)"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        provider.get().await.unwrap().api_key.expose(),
        "second-key-0002",
        "past the limit the secret is read again"
    );

    moto.secrets
        .delete_secret()
        .secret_id(&moto.secret_id)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete the secret");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let err = provider.get().await.expect_err("no secret, no key");
    assert!(err.to_string().contains(&moto.secret_id), "{err}");
    assert!(!err.to_string().contains("second-key"), "{err}");
}
