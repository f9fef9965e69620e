//! Many organizations in one deployment (`run --all-sources`, from the library): each source
//! exactly once under its own id and label, a failing source alone, a disabled source left
//! alone, concurrent runs, and a backfill beside live collection.
use crate::support::fleet::{FleetEnv, DAY_MS};
use crate::support::{all_file_contents, append_live, assert_absent};
use atlassian_audit::collector::StopReason;
use atlassian_audit::registry::{SourceRegistry, TaskKind};
use simulated_org::{generate_events_for_org, now_ms, Fault, SimulatedOrgConfig, TimeField};
use std::time::Duration;

const WEEK_MS: i64 = 7 * DAY_MS;

/// `valid` events of `org` dated over the last `days` days, processed as they happened.
fn history(env: &FleetEnv, org_id: &str, seed: u64, valid: usize, days: i64) {
    let now = now_ms();
    let events = generate_events_for_org(org_id, seed, valid, (now - days * DAY_MS, now - 60_000));
    env.org(org_id).append_backlog(events);
}

async fn three_orgs() -> FleetEnv {
    let env = FleetEnv::start(3, SimulatedOrgConfig::default()).await;
    for (n, org) in ["org-1", "org-2", "org-3"].into_iter().enumerate() {
        history(&env, org, n as u64, 300 + 100 * n, 2);
        env.add(&format!("src-{}", n + 1), org, None, WEEK_MS).await;
    }
    env
}

#[tokio::test]
async fn three_orgs_land_exactly_once_each_under_their_own_source_id_and_label() {
    let env = three_orgs().await;
    let outcomes = env.run_all(2).await;
    assert_eq!(outcomes.len(), 3);
    for o in &outcomes {
        assert!(o.succeeded(), "{}: {:?}", o.source_id, o.summary.error);
        assert_eq!(o.summary.stop_reason, StopReason::CaughtUp);
    }
    for (n, org) in ["org-1", "org-2", "org-3"].into_iter().enumerate() {
        append_live(env.org(org), 50 + n as u64, 40);
    }
    assert!(env.run_all(3).await.iter().all(|o| o.succeeded()));
    for n in 1..=3 {
        env.assert_exactly_once(&format!("src-{n}"), &format!("org-{n}"), 0);
    }
    for line in env.logs() {
        let id = line["p_source_id"].as_str().unwrap();
        assert_eq!(line["p_source_label"], format!("Label of {id}"));
    }
    // Each key went to its own organization only, and is nowhere in what was written.
    for org in &env.orgs {
        assert!(
            org.requests().iter().all(|r| r.authorized),
            "{}",
            org.org_id()
        );
    }
    let out = std::path::PathBuf::from(&env.settings[atlassian_audit::config::env::OUTPUT_DIR]);
    for (path, bytes) in all_file_contents(out.parent().unwrap()) {
        for org in &env.orgs {
            assert_absent(org.api_key(), &path, &bytes);
        }
    }
    let listed = env.registry.list().await.unwrap();
    assert!(listed
        .iter()
        .all(|s| s.last_run.as_ref().is_some_and(|r| r.succeeded)));
}

#[tokio::test]
async fn a_refused_key_fails_its_source_alone_named_and_loses_nothing_once_it_works() {
    let env = three_orgs().await;
    // Every answer of org-2 is a 401 for a while: its key was revoked.
    env.org("org-2")
        .push_faults(std::iter::repeat_n(Fault::Unauthorized, 50));
    let outcomes = env.run_all(3).await;
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.succeeded()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].source_id, "src-2");
    assert!(
        failed[0]
            .summary
            .error
            .as_deref()
            .unwrap_or("")
            .contains("401"),
        "{:?}",
        failed[0].summary.error
    );
    let noted = env.registry.get("src-2").await.unwrap().unwrap();
    assert!(noted
        .last_run
        .is_some_and(|r| !r.succeeded && r.error.is_some()));
    env.assert_exactly_once("src-1", "org-1", 0);
    env.assert_exactly_once("src-3", "org-3", 0);
    env.org("org-2").clear_faults();
    assert!(env.run_all(3).await.iter().all(|o| o.succeeded()));
    env.assert_exactly_once("src-2", "org-2", 0);
}

#[tokio::test]
async fn a_disabled_source_s_organization_receives_no_request() {
    let env = three_orgs().await;
    env.registry.set_enabled("src-3", false).await.unwrap();
    let outcomes = env.run_all(3).await;
    assert_eq!(outcomes.len(), 2);
    assert!(env.org("org-3").requests().is_empty());
    env.registry.set_enabled("src-3", true).await.unwrap();
    env.run_all(3).await;
    env.assert_exactly_once("src-3", "org-3", 0);
}

#[tokio::test]
async fn two_runs_of_every_source_at_once_stay_exactly_once() {
    let env = three_orgs().await;
    for _ in 0..2 {
        let (a, b) = tokio::join!(env.run_all(3), env.run_all(3));
        assert!(a.iter().chain(&b).all(|o| o.succeeded()));
        for (n, org) in ["org-1", "org-2", "org-3"].into_iter().enumerate() {
            append_live(env.org(org), 90 + n as u64, 30);
        }
    }
    let (a, b) = tokio::join!(env.run_all(2), env.run_all(2));
    assert!(a.iter().chain(&b).all(|o| o.succeeded()));
    env.run_all(3).await;
    for n in 1..=3 {
        env.assert_exactly_once(&format!("src-{n}"), &format!("org-{n}"), 0);
    }
}

/// A 30-day backfill beside live collection, under either reading of `from`: the old events
/// once, the live ones once, nothing twice at the boundary; a source without backfill keeps to
/// its lookback.
#[tokio::test]
async fn a_backfill_collects_its_days_exactly_once_beside_live_collection() {
    for bounds_on in [TimeField::ProcessedAt, TimeField::Time] {
        let env = FleetEnv::start(
            2,
            SimulatedOrgConfig {
                bounds_on,
                ..SimulatedOrgConfig::default()
            },
        )
        .await;
        history(&env, "org-1", 1, 1_500, 40);
        history(&env, "org-2", 2, 1_500, 40);
        let with = env.add("with-backfill", "org-1", Some(30), WEEK_MS).await;
        let without = env.add("without", "org-2", None, WEEK_MS).await;
        let mut rounds = 0;
        loop {
            append_live(env.org("org-1"), 100 + rounds, 25);
            append_live(env.org("org-2"), 200 + rounds, 25);
            let outcomes = env.run_all(4).await;
            assert!(outcomes.iter().all(|o| o.succeeded()), "{bounds_on:?}");
            rounds += 1;
            let done = env
                .registry
                .get("with-backfill")
                .await
                .unwrap()
                .and_then(|s| s.backfill)
                .and_then(|b| b.finished_ms)
                .is_some();
            if done {
                let backfill = outcomes.iter().find(|o| o.task == TaskKind::Backfill);
                assert!(backfill.is_none_or(|b| b.backfill_percent == Some(100.0)));
                break;
            }
            assert!(rounds < 5, "the backfill ends by itself ({bounds_on:?})");
        }
        // One more round: the finished backfill no longer runs.
        append_live(env.org("org-1"), 300, 25);
        let outcomes = env.run_all(4).await;
        assert!(outcomes.iter().all(|o| o.task == TaskKind::Live));
        let from = with.backfill.as_ref().unwrap().from_ms;
        // 30 of the 40 days, and the live rounds; 7 of them for the source without backfill.
        let written = env.written_by_source();
        assert!(written["with-backfill"].len() > 1_100, "{bounds_on:?}");
        assert!(
            (250..700).contains(&written["without"].len()),
            "{bounds_on:?}"
        );
        env.assert_exactly_once("with-backfill", "org-1", from);
        env.assert_exactly_once("without", "org-2", without.live_start_ms);
    }
}

/// `run --all-sources` killed at some instant (its tasks dropped wherever they were: fetching,
/// writing, committing), then run again once the leases it left have expired: every source
/// exactly once.
#[tokio::test]
async fn a_run_of_every_source_killed_midway_loses_and_duplicates_nothing() {
    let budget = Duration::from_secs(3);
    let cases = [30u64, 120, 400].map(|kill_after_ms| async move {
        let env = three_orgs().await;
        env.org("org-2")
            .push_faults(std::iter::repeat_n(Fault::Stall { millis: 100 }, 3));
        let killed = tokio::time::timeout(
            Duration::from_millis(kill_after_ms),
            env.run_all_within(3, budget),
        )
        .await;
        assert!(
            killed.is_err(),
            "the run was killed after {kill_after_ms} ms"
        );
        // The leases a killed run leaves expire after its budget and the lease grace.
        tokio::time::sleep(budget + atlassian_audit::collector::LEASE_GRACE).await;
        let outcomes = env.run_all(3).await;
        assert!(outcomes
            .iter()
            .all(|o| o.succeeded() && !o.summary.lease_held));
        for n in 1..=3 {
            env.assert_exactly_once(&format!("src-{n}"), &format!("org-{n}"), 0);
        }
    });
    futures::future::join_all(cases).await;
}
