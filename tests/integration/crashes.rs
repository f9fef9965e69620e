//! Exactly once under crashes at every step, concurrent runs and abandoned leases.
//!
//! A crash is modelled as the run's future being dropped at an instant: no code of the run
//! executes after it, its lease is not released, and an operation it had started either took
//! effect (crash after) or did not (crash before) — what SIGKILL does to a process.
use crate::support::append_live;
use crate::support::faults::{Faults, Op, StorageFault};
use crate::support::harness::{TestEnv, SOURCE_ID};
use atlassian_audit::checkpoint::Lease;
use atlassian_audit::collector::StopReason;
use atlassian_audit::config::env;
use simulated_org::{
    generate_events_for_org, generate_invalid_events_in, now_ms, SimulatedOrgConfig,
};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum When {
    Before,
    After,
}

/// The run "dies" before or after its side effect number `at` (of the store and sink together).
fn crash_at(at: usize, when: When) -> Faults {
    let crash = match when {
        When::Before => StorageFault::CrashBefore,
        When::After => StorageFault::CrashAfter,
    };
    Faults::new().at_step(at, crash)
}

/// Long enough for a crashed run to reach any step even on a loaded machine; recovery waits
/// for its lease to expire, so the cases run in parallel.
const CRASHED_BUDGET: Duration = Duration::from_secs(6);

/// Runs once with a crash at step `at` (no lease grace); returns whether the crash happened.
async fn run_crashing(env: &TestEnv, at: usize, when: When) -> bool {
    let faults = crash_at(at, when);
    let collector = env.collector_with_faults(&faults, Duration::ZERO).await;
    tokio::select! {
        report = collector.run(CRASHED_BUDGET) => {
            assert!(report.error.is_none(), "{:?}", report.error);
            false
        }
        _ = faults.crashed() => true,
    }
}

/// Side effects of one clean pass over the scenario (to know how many crash points there are).
async fn count_steps(env: &TestEnv) -> usize {
    let faults = Faults::new();
    let r = env
        .collector_with_faults(&faults, Duration::ZERO)
        .await
        .run(Duration::from_secs(30))
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    faults.steps()
}

/// 100 events (and 2 invalid ones) over the two whole hours before this one, so every
/// environment built from the same seed has the same pages, objects and steps.
async fn scenario(seed: u64) -> TestEnv {
    scenario_capped(seed, None).await
}

/// [`scenario`], with pages capped at `cap` events whatever `limit` (40) asks for.
async fn scenario_capped(seed: u64, cap: Option<u32>) -> TestEnv {
    let mut env = TestEnv::local(SimulatedOrgConfig {
        page_cap: cap,
        ..SimulatedOrgConfig::default()
    })
    .await;
    env.set(env::PAGE_LIMIT, "40");
    let hour = 3_600_000;
    let this_hour = now_ms() / hour * hour;
    let range = (this_hour - 2 * hour, this_hour - 1);
    let mut events = generate_events_for_org(env.org.org_id(), seed, 100, range);
    for (i, bad) in generate_invalid_events_in(seed, 2, range)
        .into_iter()
        .enumerate()
    {
        events.insert(30 + 40 * i, bad);
    }
    env.org.append_backlog(events);
    env
}

/// After the crash: the abandoned lease expires, the next runs finish the work.
/// Waits until the lease a crashed run left behind (if any) has expired.
async fn wait_for_abandoned_lease(env: &TestEnv) {
    if let Some(lease) = env.checkpoint().await.and_then(|s| s.lease) {
        let wait = (lease.until_ms - now_ms()).max(0) as u64 + 100;
        assert!(
            wait <= CRASHED_BUDGET.as_millis() as u64 + 100,
            "lease outlives budget + grace"
        );
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

async fn recover_and_check(env: &TestEnv) {
    wait_for_abandoned_lease(env).await;
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    append_live(&env.org, 99, 7);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_crash_at_any_step_loses_nothing_and_duplicates_nothing() {
    crash_matrix(None).await;
}

#[tokio::test]
async fn a_crash_at_any_step_with_pages_capped_below_the_limit_loses_nothing() {
    crash_matrix(Some(27)).await;
}

async fn crash_matrix(cap: Option<u32>) {
    let reference = scenario_capped(40, cap).await;
    let steps = count_steps(&reference).await;
    assert!(steps >= 10, "the scenario has {steps} steps");
    eprintln!("crash matrix (cap {cap:?}): {steps} side effects, each crashed before and after");
    // Every step, crashing before and after its effect, each in its own environment, in parallel.
    let mut cases = Vec::new();
    for at in 1..=steps {
        for when in [When::Before, When::After] {
            cases.push((at, when));
        }
    }
    for chunk in cases.chunks(20) {
        let runs = chunk.iter().map(|&(at, when)| async move {
            let env = scenario_capped(40, cap).await;
            let crashed = run_crashing(&env, at, when).await;
            assert!(crashed, "step {at} was never reached");
            recover_and_check(&env).await;
        });
        futures::future::join_all(runs).await;
    }
}

#[tokio::test]
async fn a_batch_redone_after_a_crash_keeps_its_size_when_the_page_limit_changes() {
    // Crash after the first object of the second page, then resume with a smaller PAGE_LIMIT:
    // the pending batch is redone with the size it was cut at.
    let mut env = scenario(41).await;
    let crashed = run_crashing(&env, 6, When::After).await;
    assert!(crashed);
    let pending = env.checkpoint().await.unwrap().checkpoint.pending;
    assert!(pending.is_some(), "the crash left a pending batch");
    wait_for_abandoned_lease(&env).await;
    env.set(env::PAGE_LIMIT, "7");
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    let first_redo = env
        .org
        .requests()
        .into_iter()
        .rev()
        .find(|q| q.status == 200 && q.query_value("limit") != Some("7"))
        .expect("the redo request");
    assert_eq!(
        first_redo.query_value("limit"),
        Some(pending.unwrap().event_count.to_string().as_str())
    );
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_batch_redone_under_a_smaller_page_cap_writes_each_event_once() {
    // Crash after the first object of the second page (40 events), then the API caps pages at
    // 15: the redo reads fewer events than recorded, rewrites the same keys, deletes the rest.
    let env = scenario(45).await;
    assert!(run_crashing(&env, 6, When::After).await);
    let pending = env.checkpoint().await.unwrap().checkpoint.pending;
    assert_eq!(pending.map(|p| p.event_count), Some(40));
    wait_for_abandoned_lease(&env).await;
    env.org.set_page_cap(Some(15));
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.stop_reason, StopReason::CaughtUp);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_lease_expiring_further_ahead_than_any_run_is_taken_over() {
    let env = scenario(46).await;
    let now = now_ms();
    env.store()
        .await
        .acquire(
            SOURCE_ID,
            &Lease {
                owner: "forged".into(),
                until_ms: now + 10 * 86_400_000,
            },
            now,
            "gen",
        )
        .await
        .unwrap();
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(!r.summary.lease_held);
    assert_eq!(r.summary.stop_reason, StopReason::CaughtUp);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn runs_started_at_once_never_write_an_event_twice() {
    let env = scenario(42).await;
    // Built first, so the three runs reach for the lease together.
    let (x, y, z) = (
        env.collector().await,
        env.collector().await,
        env.collector().await,
    );
    let budget = Duration::from_secs(60);
    let (a, b, c) = tokio::join!(x.run(budget), y.run(budget), z.run(budget));
    let reports = [a, b, c];
    for r in &reports {
        assert!(r.error.is_none(), "{:?}", r.error);
    }
    let held = reports
        .iter()
        .filter(|r| r.summary.stop_reason == StopReason::LeaseHeld)
        .count();
    let written: u64 = reports.iter().map(|r| r.summary.events_processed).sum();
    assert!(held >= 1, "at least one run found the lease taken");
    assert_eq!(written, 100);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_lease_left_by_a_killed_run_frees_itself_after_its_budget_and_grace() {
    let env = scenario(43).await;
    let store = env.store().await;
    let now = now_ms();
    store
        .acquire(
            SOURCE_ID,
            &Lease {
                owner: "killed-run".into(),
                until_ms: now + 1500,
            },
            now,
            "gen",
        )
        .await
        .unwrap();
    let r = env.run().await;
    assert_eq!(r.summary.stop_reason, StopReason::LeaseHeld);
    assert!(r.summary.lease_held, "LeaseHeld is reported");
    assert_eq!(r.summary.events_processed, 0);
    assert!(
        env.org.requests().is_empty(),
        "no request while another run holds the source"
    );
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let r = env.run().await;
    assert_eq!(r.summary.stop_reason, StopReason::CaughtUp);
    assert_eq!(r.summary.events_processed, 100);
    env.assert_exactly_once().await;
}

/// Starts a CLI run and SIGKILLs it at a random instant once it has committed a few batches;
/// returns the lease it left.
async fn kill_once_it_has_committed_batches(env: &TestEnv) -> Lease {
    let mut child = env
        .cli(&["run", "--budget-seconds", "10"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the CLI");
    // Kill it once it has committed a few batches, at a random instant after that.
    let started = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("the run ended by itself ({status}) before it could be killed");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run made no progress"
        );
        let written = env
            .checkpoint()
            .await
            .map(|s| s.checkpoint.sequence)
            .unwrap_or(0);
        if written >= 3 {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(fastrand::u64(0..150))).await;
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.expect("wait for the CLI");
    assert!(!status.success(), "the run was killed, not finished");
    let stored = env.checkpoint().await.expect("a checkpoint");
    stored.lease.expect("a killed run leaves its lease")
}

#[tokio::test]
async fn a_run_killed_with_sigkill_mid_backlog_loses_and_duplicates_nothing() {
    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    env.set(env::PAGE_LIMIT, "25");
    crate::support::fill_backlog(&env.org, 44, 400, 2, 6);
    // Slow pages, so the kill lands while batches are being written.
    env.org
        .set_random_faults(1.0, 44, vec![simulated_org::Fault::Stall { millis: 60 }]);
    let lease = kill_once_it_has_committed_batches(&env).await;
    env.org.clear_faults();

    // The next scheduled run is turned away while the lease lasts (budget + 30 s at most)…
    let r = env.run().await;
    assert_eq!(r.summary.stop_reason, StopReason::LeaseHeld);
    let wait = lease.until_ms - now_ms();
    assert!(
        wait <= 40_000,
        "the lease frees itself within the budget plus 30 s"
    );
    // …and the one after it finishes the work.
    tokio::time::sleep(Duration::from_millis(wait.max(0) as u64 + 200)).await;
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.stop_reason, StopReason::CaughtUp);
    env.assert_exactly_once().await;
}

/// Found by the fault campaign: when the write that commits a batch took effect but its answer
/// was lost, the run failed without counting the batch, and no later run counts it either, so
/// EventsProcessed fell short of what was written. The run now reads the checkpoint back.
#[tokio::test]
async fn a_commit_whose_answer_was_lost_is_still_counted() {
    let env = scenario(44).await;
    // Saves: 1 pending page 1, 2 commit page 1, 3 pending page 2, 4 commit page 2.
    let faults = Faults::new().when(|c| c.op == Op::Save && c.nth == 4, StorageFault::LoseAnswer);
    let collector = env.collector_with_faults(&faults, Duration::ZERO).await;
    let r = collector.run(Duration::from_secs(30)).await;
    assert!(r.error.is_some(), "the lost answer fails the run");
    let stored = env.checkpoint().await.expect("a checkpoint");
    assert_eq!(
        r.summary.events_processed + r.summary.quarantined_events,
        stored.checkpoint.events_written,
        "the run counts exactly what it committed"
    );
    assert!(stored.checkpoint.events_written > 0);
    // The next run carries on: every event once, and the two runs' counts add up.
    let next = env.run().await;
    assert!(next.error.is_none(), "{:?}", next.error);
    env.assert_exactly_once().await;
    let stored = env.checkpoint().await.expect("a checkpoint");
    assert_eq!(
        r.summary.events_processed
            + r.summary.quarantined_events
            + next.summary.events_processed
            + next.summary.quarantined_events,
        stored.checkpoint.events_written
    );
}
