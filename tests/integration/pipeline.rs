//! The happy paths, and the API's own quirks: both terminal-page styles, repeats across pages.
//! (The same pipeline on S3, with S3's object metadata, is in the `aws` target.)
use crate::support::faults::{self, Faults, Op, StorageFault};
use crate::support::harness::TestEnv;
use crate::support::{append_live, fill_backlog, scenario};
use atlassian_audit::collector::StopReason;
use atlassian_audit::config::env;
use simulated_org::{Fault, SimulatedOrgConfig};
use std::time::Duration;

#[tokio::test]
async fn backlog_then_live_events_land_exactly_once_in_hive_partitions() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let runs = scenario::backlog_then_live(&env).await;
    let objects = env.objects().await;
    scenario::assert_well_formed(&objects);
    let reported: u64 = runs.iter().map(|r| r.summary.bytes_written).sum();
    let stored: u64 = objects.iter().map(|o| o.size).sum();
    assert_eq!(
        reported, stored,
        "BytesWritten adds up to what the directory holds"
    );
}

#[tokio::test]
async fn a_stream_that_ends_with_null_resumes_from_its_last_cursor_and_drops_repeats() {
    for cap in [None, Some(70)] {
        let env = TestEnv::local(SimulatedOrgConfig {
            cursor_on_last_page: false,
            page_cap: cap,
            ..SimulatedOrgConfig::default()
        })
        .await;
        fill_backlog(&env.org, 3, 450, 2, 5);
        let mut written = 0;
        for round in 0..4 {
            let r = env.run().await;
            assert!(r.error.is_none(), "{:?}", r.error);
            assert_eq!(r.summary.stop_reason, StopReason::CaughtUp);
            written += r.summary.events_processed;
            let stored = env.checkpoint().await.unwrap();
            assert!(
                stored.checkpoint.cursor.is_some(),
                "the cursor of the last page is kept (cap {cap:?})"
            );
            append_live(&env.org, 10 + round, 25);
        }
        let last = env.run().await;
        assert!(last.error.is_none());
        written += last.summary.events_processed;
        // Every run re-read the last page by its cursor and dropped what it had written.
        assert!(last.summary.duplicates_dropped > 0);
        assert_eq!(written, 450 + 4 * 25, "cap {cap:?}");
        env.assert_exactly_once().await;
        // After the backlog, no run read by time again.
        let by_time = env.reads_by_time();
        assert_eq!(
            by_time, 1,
            "only the first run reads by `from` (cap {cap:?})"
        );
    }
}

#[tokio::test]
async fn events_the_api_serves_twice_are_written_once() {
    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    env.set(env::PAGE_LIMIT, "100");
    fill_backlog(&env.org, 4, 600, 0, 10);
    env.org.push_faults([
        Fault::RepeatPrevious { count: 5 },
        Fault::RepeatPrevious { count: 1 },
        Fault::RepeatPrevious { count: 30 },
    ]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    // The first request has nothing before it; the next two repeat 1 and 30 events.
    assert_eq!(r.summary.duplicates_dropped, 31);
    assert_eq!(r.summary.events_processed, 600);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn the_initial_lookback_bounds_the_first_run() {
    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    env.set(env::INITIAL_LOOKBACK, "2h");
    let now = simulated_org::now_ms();
    let org_id = env.org.org_id().to_string();
    // Old events, processed 5 hours ago, then recent ones.
    env.org.append_events_at(
        simulated_org::generate_events_for_org(
            &org_id,
            5,
            40,
            (now - 6 * 3_600_000, now - 5 * 3_600_000),
        ),
        now - 5 * 3_600_000,
    );
    env.org.append_events_at(
        simulated_org::generate_events_for_org(&org_id, 6, 15, (now - 3_600_000, now - 60_000)),
        now - 30 * 60_000,
    );
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        r.summary.events_processed, 15,
        "only events processed within INITIAL_LOOKBACK"
    );
    let first = env.org.requests().into_iter().next().unwrap();
    let from: i64 = first.query_value("from").unwrap().parse().unwrap();
    assert!(
        (now - 2 * 3_600_000 - from).abs() < 60_000,
        "from = now - 2h, in ms"
    );
    assert_eq!(first.query_value("sortOrder"), Some("asc"));
    assert_eq!(first.query_value("limit"), Some("200"));
}

#[tokio::test]
async fn a_backlog_larger_than_one_run_is_worked_off_over_several_runs() {
    // Also with pages capped below the limit: every run still reads on to its budget.
    for cap in [None, Some(30)] {
        let mut env = TestEnv::local(SimulatedOrgConfig {
            page_cap: cap,
            ..SimulatedOrgConfig::default()
        })
        .await;
        env.set(env::PAGE_LIMIT, "50");
        fill_backlog(&env.org, 7, 1_000, 1, 12);
        // Every page is slow; a 3-second budget cannot read 20 of them.
        env.org
            .set_random_faults(1.0, 7, vec![Fault::Stall { millis: 250 }]);
        let mut runs = 0;
        let mut written = 0;
        loop {
            runs += 1;
            let r = env.collector().await.run(Duration::from_secs(3)).await;
            assert!(r.error.is_none(), "{:?}", r.error);
            // Generous bound (shared machines are slow): the point is that it stops, not how fast.
            assert!(
                r.summary.duration_ms < 6_000,
                "the run stopped near its budget"
            );
            written += r.summary.events_processed;
            if r.summary.stop_reason == StopReason::CaughtUp {
                break;
            }
            assert_eq!(r.summary.stop_reason, StopReason::Budget);
            assert!(
                r.summary.pages_fetched > 1,
                "a run reads on past a short page (cap {cap:?})"
            );
            assert!(r.summary.events_processed > 0, "every run makes progress");
            assert!(runs < 30, "the backlog is never worked off");
        }
        assert!(runs >= 3, "it took {runs} runs");
        assert_eq!(written, 1_000);
        env.assert_exactly_once().await;
    }
}

#[tokio::test]
async fn the_next_page_is_fetched_while_a_batch_is_written() {
    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    // Pages of 100, batches of three pages.
    env.set(env::PAGE_LIMIT, "100");
    env.set(env::BATCH_MAX_EVENTS, "300");
    fill_backlog(&env.org, 7, 1_000, 0, 3);
    // Every write takes a while.
    let faults = Faults::new().when(
        |c| c.op == Op::Put,
        StorageFault::Delay(Duration::from_millis(100)),
    );
    let collector = env
        .collector_with_faults(&faults, Duration::from_secs(30))
        .await;
    let report = collector.run(Duration::from_secs(60)).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.summary.events_processed, 1_000);
    env.assert_exactly_once().await;

    let puts: Vec<(String, i64)> = faults
        .done()
        .into_iter()
        .filter(|d| d.op == Op::Put)
        .map(|d| (d.key, d.ended_ms))
        .collect();
    let fetched_at: Vec<i64> = env
        .org
        .requests()
        .iter()
        .map(|r| r.received_at_ms)
        .collect();
    // Batch b's objects carry sequence b at the end of their key; it holds pages 3b+1 to 3b+3.
    let first_put_of_batch = |b: usize| {
        let suffix = format!("-{b:010}.json.gz");
        puts.iter()
            .filter(|(k, _)| k.ends_with(&suffix))
            .map(|(_, t)| *t)
            .min()
            .unwrap_or_else(|| panic!("no object for batch {b} in {puts:?}"))
    };
    for batch in 0..2 {
        // The request for the next batch's first page reached the API before this batch's
        // first object was written (without reading ahead it would come after the last one).
        let next_page = 3 * (batch + 1);
        let written_at = first_put_of_batch(batch);
        assert!(
            fetched_at[next_page] < written_at,
            "page {} requested at {} ms, batch {batch}'s first object written at {written_at} ms",
            next_page + 1,
            fetched_at[next_page],
        );
    }
}

/// The partition (`year=…/hour=…/`) of an object's key.
fn hour_of(key: &str) -> &str {
    key.rsplit_once('/').map_or(key, |(dir, _)| dir)
}

/// A backlog read in one run becomes one object per event hour when it fits one batch, where
/// batches of one page (what the collector did before) write one per page and hour.
#[tokio::test]
async fn a_backlog_is_written_as_one_object_per_event_hour() {
    let mut objects = Vec::new();
    for batch_max_events in ["50000", "200"] {
        let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
        env.set(env::BATCH_MAX_EVENTS, batch_max_events);
        fill_backlog(&env.org, 8, 2_000, 3, 6);
        let r = env.run().await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.summary.events_processed, 2_000);
        assert!(
            r.summary.pages_fetched >= 10,
            "2,000 events in pages of 200"
        );
        env.assert_exactly_once().await;
        let written = env.objects().await;
        let logs: Vec<&str> = written
            .iter()
            .filter(|o| o.key.starts_with("logs/"))
            .map(|o| o.key.as_str())
            .collect();
        let hours: std::collections::BTreeSet<&str> = logs.iter().map(|k| hour_of(k)).collect();
        let quarantine = written
            .iter()
            .filter(|o| o.key.starts_with("quarantine/"))
            .count();
        objects.push((logs.len(), hours.len(), quarantine));
    }
    let [(one_batch, hours, quarantine), (page_batches, same_hours, page_quarantines)] =
        objects[..]
    else {
        unreachable!()
    };
    assert_eq!(one_batch, hours, "one object per event hour");
    assert_eq!(quarantine, 1, "one quarantine object");
    assert_eq!(hours, same_hours);
    assert!(
        page_batches > 2 * one_batch && page_quarantines == 3,
        "batches of one page: {page_batches} objects for {hours} hours"
    );
}

/// The page read ahead met a 429 and was waiting it out when the run failed: the run stops it,
/// and the throttle still reaches `ApiThrottled`.
#[tokio::test]
async fn a_throttle_met_by_an_unused_read_ahead_is_still_counted() {
    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    // A batch of one page, written while the next page is throttled.
    env.set(env::BATCH_MAX_EVENTS, "200");
    fill_backlog(&env.org, 7, 600, 0, 3);
    env.org.push_faults([
        Fault::Stall { millis: 0 },
        Fault::RateLimited {
            reset: simulated_org::ResetHeader::IsoSeconds { in_secs: 20 },
            retry_after_secs: Some(20),
        },
    ]);
    // Every write fails, once the API has answered the page read ahead.
    let org = env.org.clone();
    let read_ahead_answered = move || {
        let org = org.clone();
        async move {
            for _ in 0..200 {
                if org.requests().len() >= 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Time for the client to read the answer the server recorded.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let faults = Faults::new()
        .when(|c| c.op == Op::Put, StorageFault::hold(read_ahead_answered))
        .when(|c| c.op == Op::Put, StorageFault::Fail);
    let collector = env
        .collector_with_faults(&faults, Duration::from_secs(30))
        .await;
    let started = std::time::Instant::now();
    let report = collector.run(Duration::from_secs(60)).await;
    let error = report.error.expect("the write failed");
    assert!(error.to_string().contains(faults::INJECTED), "{error}");
    assert_eq!(env.org.requests()[1].status, 429);
    assert_eq!(report.summary.api_throttled, 1);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the run did not wait out the read-ahead's 429"
    );
}

/// A bulk change can stamp thousands of events with one processedAt: more than the dedupe
/// window holds ids for, cut across many pages and batches. The window must not move past
/// that millisecond while its events are still being read, nor forget the ones written when
/// the next run reads it again by time (a stream ending with `null` leaves no cursor to use).
#[tokio::test]
async fn thousands_of_events_processed_in_one_millisecond_are_all_written_once() {
    use atlassian_audit::checkpoint::MAX_RECENT_EVENTS;
    let tied = MAX_RECENT_EVENTS + 700;
    for (batch_max_events, cursor_on_last_page) in [("50", true), ("50", false), ("50000", false)] {
        let mut env = TestEnv::local(SimulatedOrgConfig {
            cursor_on_last_page,
            ..SimulatedOrgConfig::default()
        })
        .await;
        env.set(env::PAGE_LIMIT, "50");
        env.set(env::BATCH_MAX_EVENTS, batch_max_events);
        let now = simulated_org::now_ms();
        let what = format!(
            "batches of {batch_max_events}, cursor on the last page: {cursor_on_last_page}"
        );
        // One append: every event of it gets the same processedAt.
        env.org
            .append_events(simulated_org::generate_events_for_org(
                env.org.org_id(),
                41,
                tied,
                (now - 3 * 3_600_000, now - 60_000),
            ));
        let first = env.run().await;
        assert!(first.error.is_none(), "{:?} ({what})", first.error);
        assert_eq!(first.summary.events_processed, tied as u64, "{what}");
        // The next run starts where the first left off (by time, when the stream ended with
        // null and the first page had no cursor) and meets the same millisecond again.
        append_live(&env.org, 42, 30);
        let second = env.run().await;
        assert!(second.error.is_none(), "{:?} ({what})", second.error);
        assert_eq!(second.summary.events_processed, 30, "{what}");
        env.assert_exactly_once().await;
    }
}

#[tokio::test]
async fn a_tampered_state_file_is_refused_on_a_cold_start() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    scenario::tampered_table_is_refused_on_a_cold_start(&env).await;
}

/// The CLI, a new process each time, against a state file rewound by hand: it exits non-zero
/// and says why, and the directory is as it was.
#[tokio::test]
async fn the_cli_refuses_a_rewound_state_file() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    append_live(&env.org, 5, 30);
    let first = env.cli(&["run"]).output().await.expect("run the CLI");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mut rewound = env.checkpoint().await.expect("a checkpoint").checkpoint;
    rewound.sequence = 0;
    env.overwrite_checkpoint(&rewound).await;
    let before = env.objects().await.len();

    let refused = env.cli(&["run"]).output().await.expect("run the CLI");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("went backwards"), "{stderr}");
    assert_eq!(env.objects().await.len(), before, "no object written");
    crate::support::assert_checkpoint_unchanged(
        &env.checkpoint().await.expect("the record").checkpoint,
        &rewound,
        "the refused run changed the checkpoint",
    );
}

/// A quiet organization (an event a minute): after a refused cursor, a run resumes by time from
/// the window start, and the next run reads by the cursor that read left. An API repeating 20
/// events before that cursor reaches back past the recent ids the checkpoint keeps (five
/// minutes' worth): those repeats were written long ago and must be skipped by time, as a
/// read by time skips them, not written again.
#[tokio::test]
async fn repeats_from_before_the_window_are_skipped_on_a_read_by_cursor_too() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let now = simulated_org::now_ms();
    for minute in (1..=30).rev() {
        let at = now - minute * 60_000;
        env.org.append_events_at(
            simulated_org::generate_events_for_org(
                env.org.org_id(),
                minute as u64,
                1,
                (at - 1_000, at),
            ),
            at,
        );
    }
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 30);
    // Two more runs with a little activity each, so the recent ids shrink to the last minutes.
    for round in 0..2 {
        append_live(&env.org, 300 + round, 1);
        assert!(env.run().await.error.is_none());
    }
    // The cursor refused: the run reads by time from the window start, and keeps the cursor
    // of its last page.
    append_live(&env.org, 400, 1);
    env.org.push_faults([Fault::InvalidCursor]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    // The next read by that cursor starts with the 20 events before it.
    append_live(&env.org, 401, 1);
    env.org.push_faults([Fault::RepeatPrevious { count: 20 }]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    env.assert_exactly_once().await;
}
