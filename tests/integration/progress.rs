//! The CLI's progress line is fed by the collector's source and sink wrapped in counters
//! (`atlassian_audit::progress`): over a real run they must add up to what the run reports.
use crate::support::fill_backlog;
use crate::support::harness::TestEnv;
use atlassian_audit::progress::Progress;
use simulated_org::{now_ms, SimulatedOrgConfig};
use std::time::Duration;

#[tokio::test]
async fn the_progress_counters_add_up_to_the_run_summary() {
    // Capped pages: many pages in one run, as in a backlog.
    let env = TestEnv::local(SimulatedOrgConfig {
        page_cap: Some(40),
        ..SimulatedOrgConfig::default()
    })
    .await;
    fill_backlog(&env.org, 31, 450, 3, 6);
    let progress = Progress::new();
    let report = env
        .backends()
        .await
        .observed_collector(&env.config(), progress.clone())
        .await
        .expect("a collector")
        .run(Duration::from_secs(60))
        .await;
    assert!(report.error.is_none(), "{:?}", report.error);
    let summary = &report.summary;
    let now = now_ms();
    let seen = progress.snapshot(now);
    assert_eq!(summary.events_processed, 450);
    assert_eq!(seen.events_written, summary.events_processed);
    assert_eq!(seen.pages, summary.pages_fetched);
    assert_eq!(
        seen.events_read, 453,
        "every event served, the invalid ones too"
    );
    // The position shown is the newest processedAt read, which the checkpoint now holds.
    let newest = env
        .checkpoint()
        .await
        .expect("a checkpoint")
        .checkpoint
        .newest_processed_at_ms
        .expect("a newest processedAt");
    let behind = seen.behind.expect("a position once pages were read");
    assert_eq!(behind, Duration::from_millis((now - newest) as u64));
    assert!(
        seen.line().starts_with("450 events written · "),
        "{}",
        seen.line()
    );
    // Its collector is the CLI's (observed), announcing nowhere.
    env.assert_exactly_once_but_announcements().await;

    // The same collector without the counters writes the same way (nothing new to write here).
    let plain = env.run().await;
    assert!(plain.error.is_none());
    assert_eq!(plain.summary.events_processed, 0);
    assert_eq!(
        progress.snapshot(now).pages,
        seen.pages,
        "nothing counts outside the wrapped run"
    );
}
