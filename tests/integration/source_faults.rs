//! The API misbehaving: throttling, server errors, bad bodies, refused cursors, rejected keys.
use crate::harness::TestEnv;
use crate::{append_live, fill_backlog};
use atlassian_audit::collector::RunError;
use atlassian_audit::metrics::StopReason;
use atlassian_audit::source::SourceError;
use simulated_org::{Fault, ResetHeader, SimulatedOrgConfig};
use std::time::Duration;

#[tokio::test]
async fn throttling_and_server_errors_are_ridden_out() {
    let env = TestEnv::new(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 20, 500, 1, 8);
    env.org.push_faults([
        Fault::RateLimited {
            reset: ResetHeader::IsoSeconds { in_secs: 1 },
            retry_after_secs: None,
        },
        Fault::ServerError { status: 500 },
        Fault::TruncatedBody,
        Fault::RateLimited {
            reset: ResetHeader::Absent,
            retry_after_secs: Some(1),
        },
        Fault::ServerError { status: 503 },
        Fault::NotJson,
        Fault::Stall { millis: 300 },
        Fault::ServerError { status: 502 },
    ]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.api_throttled, 2);
    assert_eq!(r.summary.events_processed, 500);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_budget_ends_the_run_softly() {
    let env = TestEnv::new(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 21, 50, 0, 2);
    env.org.push_faults([Fault::RateLimited {
        reset: ResetHeader::IsoSeconds { in_secs: 600 },
        retry_after_secs: None,
    }]);
    let r = env.collector().await.run(Duration::from_secs(10)).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.stop_reason, StopReason::RateLimited);
    assert!(r.summary.run_succeeded);
    assert_eq!(r.summary.events_processed, 0);
    assert!(
        r.summary.duration_ms < 9_000,
        "it did not sit out a wait it could not finish"
    );
    let r = env.run().await;
    assert_eq!(r.summary.events_processed, 50);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_refused_cursor_falls_back_to_the_time_checkpoint() {
    let env = TestEnv::new(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 22, 300, 1, 4);
    assert!(env.run().await.error.is_none());
    append_live(&env.org, 23, 40);
    env.org.push_faults([Fault::InvalidCursor]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 40);
    let requests = env.org.requests();
    let refused = requests
        .iter()
        .position(|q| q.status == 400)
        .expect("a 400");
    assert!(requests[refused].query_value("cursor").is_some());
    assert!(
        requests[refused + 1].query_value("from").is_some(),
        "the retry reads from the time checkpoint"
    );
    env.assert_exactly_once().await;
}

/// Found by the fault campaign: after a refused cursor the run reads by time from the window
/// start, and an API that then repeats events from before that `from` (older than the 5-minute
/// window, so no longer among the ids the checkpoint keeps) had them written a second time.
#[tokio::test]
async fn repeats_from_before_the_window_are_not_written_twice() {
    let env = TestEnv::new(SimulatedOrgConfig::default()).await;
    // Four hours of backlog in pages of 200, 200 and 10: the checkpoint keeps the last 10 ids
    // and those of the last 5 minutes; the 50 events before the window start reach further.
    fill_backlog(&env.org, 25, 410, 0, 4);
    assert!(env.run().await.error.is_none());
    append_live(&env.org, 26, 30);
    env.org
        .push_faults([Fault::InvalidCursor, Fault::RepeatPrevious { count: 50 }]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 30);
    assert!(
        r.summary.duplicates_dropped >= 50,
        "{} dropped",
        r.summary.duplicates_dropped
    );
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_rejected_key_stops_the_run_and_a_rotated_key_is_picked_up() {
    let env = TestEnv::new(SimulatedOrgConfig::default()).await;
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
        text.contains(&env.secret_id),
        "the message names the secret to update: {text}"
    );
    assert!(!r.summary.run_succeeded);
    assert_eq!(
        r.summary.auth_failures, 2,
        "the first 401, and the one after re-reading the secret"
    );
    assert_eq!(
        env.checkpoint().await.unwrap().checkpoint,
        before,
        "checkpoint untouched"
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
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_wrong_org_or_missing_rights_stop_at_once_with_what_to_do() {
    let env = TestEnv::new(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 26, 10, 0, 1);
    env.put_credentials("not-my-org", env.org.api_key()).await;
    let r = env.run().await;
    let text = r.error.expect("404").to_string();
    assert!(
        text.contains("404") && text.contains("not-my-org"),
        "{text}"
    );
    assert_eq!(env.org.requests().len(), 1, "not retried");

    env.put_credentials(env.org.org_id(), env.org.api_key())
        .await;
    env.org.push_faults([Fault::ServerError { status: 403 }]);
    let r = env.run().await;
    let text = r.error.expect("403").to_string();
    assert!(text.contains("403") && text.contains("Guard"), "{text}");
    assert!(env.checkpoint().await.unwrap().checkpoint.pending.is_none());
}

#[tokio::test]
async fn a_secret_that_is_not_usable_is_named_without_its_content() {
    let env = TestEnv::new(SimulatedOrgConfig::default()).await;
    env.put_secret("api_key=hunter2-secret-value").await;
    let r = env.run().await;
    let err = r
        .error
        .expect("a secret that is not JSON is refused")
        .to_string();
    assert!(
        err.contains(&env.secret_id) && err.contains("org_id"),
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
    let env = TestEnv::new(SimulatedOrgConfig::default()).await;
    let report = atlassian_audit::check::run_checks(&env.config(), &env.backends().await).await;
    assert!(report.all_ok(), "{}", report.render());
    assert!(report.render().contains("Everything looks good"));

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
    };
    let text = atlassian_audit::check::run_checks(&broken, &env.backends_for(&broken).await)
        .await
        .render();
    assert!(text.contains("placeholder"), "{text}");
    assert!(text.contains("no-such-bucket-anywhere"), "{text}");
}

#[tokio::test]
async fn an_api_that_keeps_failing_fails_the_run_without_moving_the_checkpoint() {
    let env = TestEnv::new(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 27, 80, 0, 2);
    env.org.set_random_faults(
        1.0,
        27,
        vec![Fault::ServerError { status: 500 }, Fault::NotJson],
    );
    let r = env.collector().await.run(Duration::from_secs(5)).await;
    let err = r.error.expect("the run fails");
    assert!(
        matches!(err, RunError::Source(SourceError::Unavailable { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("next run retries"), "{err}");
    assert!(!r.summary.run_succeeded);
    assert_eq!(r.summary.events_processed, 0);
    assert!(env.org.requests().len() >= 3, "it retried with backoff");
    assert!(env.org.requests().len() <= 20, "but did not hammer the API");
    assert_eq!(env.checkpoint().await.unwrap().checkpoint.sequence, 0);

    env.org.clear_faults();
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    env.assert_exactly_once().await;
}
