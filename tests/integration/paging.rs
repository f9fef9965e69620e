//! Pages shorter than `limit` are not the end of the stream: a run reads on until the API ends
//! it (no events, no cursor, or the same cursor), within its budget.
use crate::support::append_live;
use crate::support::harness::TestEnv;
use atlassian_audit::collector::StopReason;
use atlassian_audit::config::env;
use simulated_org::{generate_events_for_org, now_ms, Fault, SimulatedOrgConfig, TimeField};

#[tokio::test]
async fn a_backlog_served_in_pages_shorter_than_the_limit_is_collected_in_one_run() {
    for cursor_on_last_page in [true, false] {
        let mut env = TestEnv::local(SimulatedOrgConfig {
            page_cap: Some(100),
            cursor_on_last_page,
            ..SimulatedOrgConfig::default()
        })
        .await;
        env.set(env::PAGE_LIMIT, "500");
        crate::support::fill_backlog(&env.org, 61, 3_000, 0, 20);
        let r = env.run().await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.summary.stop_reason, StopReason::CaughtUp);
        assert_eq!(r.summary.events_processed, 3_000, "in one run");
        assert!(r.summary.pages_fetched >= 30);
        env.assert_exactly_once().await;
    }
}

#[tokio::test]
async fn a_refused_cursor_with_more_events_in_the_overlap_than_a_page_recovers_in_one_run() {
    let mut env = TestEnv::local(SimulatedOrgConfig {
        page_cap: Some(100),
        ..SimulatedOrgConfig::default()
    })
    .await;
    env.set(env::PAGE_LIMIT, "500");
    // 1,500 events processed within the last four minutes: all inside the 5-minute overlap.
    let now = now_ms();
    let events = generate_events_for_org(env.org.org_id(), 62, 1_500, (now - 600_000, now));
    for (i, e) in events.into_iter().enumerate() {
        env.org
            .append_events_at(vec![e], now - 240_000 + i as i64 * 100);
    }
    let first = env.run().await;
    assert!(first.error.is_none(), "{:?}", first.error);
    assert_eq!(first.summary.events_processed, 1_500);
    append_live(&env.org, 63, 40);
    env.org.push_faults([Fault::InvalidCursor]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.stop_reason, StopReason::CaughtUp);
    assert_eq!(r.summary.events_processed, 40, "recovered in one run");
    assert!(
        r.summary.duplicates_dropped >= 1_500,
        "{} dropped",
        r.summary.duplicates_dropped
    );
    env.assert_exactly_once().await;
}

/// If `from` filtered on event time, resuming a `null`-terminated stream by `from` lost every
/// event processed late; resumed from its last cursor, none is lost.
#[tokio::test]
async fn a_null_terminated_stream_whose_from_is_on_event_time_loses_no_late_event() {
    let env = TestEnv::local(SimulatedOrgConfig {
        cursor_on_last_page: false,
        bounds_on: TimeField::Time,
        page_cap: Some(60),
        ..SimulatedOrgConfig::default()
    })
    .await;
    crate::support::fill_backlog(&env.org, 64, 300, 1, 6);
    let mut written = env.run().await.summary.events_processed;
    for round in 0..4u64 {
        // Late: happened 2 to 3 hours ago, processed now (a `from` on time would skip them).
        let now = now_ms();
        let late = generate_events_for_org(
            env.org.org_id(),
            700 + round,
            15,
            (now - 3 * 3_600_000, now - 2 * 3_600_000),
        );
        env.org.append_events(late);
        append_live(&env.org, 800 + round, 20);
        let r = env.run().await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.summary.events_processed, 35, "round {round}");
        written += r.summary.events_processed;
    }
    assert_eq!(written, 300 + 4 * 35);
    let by_time = env.reads_by_time();
    assert_eq!(by_time, 1, "only the first run reads by `from`");
    env.assert_exactly_once().await;
}
