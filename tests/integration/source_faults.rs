//! The API misbehaving: throttling, server errors, bad bodies, refused cursors, a wrong org.
//! (Rejected and rotated keys in Secrets Manager are in the `aws` target.)
use crate::support::harness::TestEnv;
use crate::support::{append_live, fill_backlog};
use atlassian_audit::collector::RunError;
use atlassian_audit::collector::StopReason;
use atlassian_audit::config::env;
use atlassian_audit::source::SourceError;
use simulated_org::{Fault, ResetHeader, SimulatedOrgConfig};
use std::time::Duration;

#[tokio::test]
async fn throttling_and_server_errors_are_ridden_out() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
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
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
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
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
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
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
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
    // Read by time: those before its `from` are dropped as written, counted apart from the
    // repeats dropped by id.
    assert!(
        r.summary.duplicates_dropped + r.summary.dropped_before_window >= 50,
        "{} + {} dropped",
        r.summary.duplicates_dropped,
        r.summary.dropped_before_window
    );
    assert!(r.summary.dropped_before_window > 0);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_wrong_org_or_missing_rights_stop_at_once_with_what_to_do() {
    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 26, 10, 0, 1);
    let org_id = env.org.org_id().to_string();
    env.set(env::ORG_ID, "not-my-org");
    let r = env.run().await;
    let text = r.error.expect("404").to_string();
    assert!(
        text.contains("404") && text.contains("not-my-org"),
        "{text}"
    );
    assert_eq!(env.org.requests().len(), 1, "not retried");

    env.set(env::ORG_ID, org_id);
    env.org.push_faults([Fault::ServerError { status: 403 }]);
    let r = env.run().await;
    let text = r.error.expect("403").to_string();
    assert!(text.contains("403") && text.contains("Guard"), "{text}");
    assert!(env.checkpoint().await.unwrap().checkpoint.pending.is_none());
}

#[tokio::test]
async fn an_api_that_keeps_failing_fails_the_run_without_moving_the_checkpoint() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
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
