//! Exactly once under crashes at every step, concurrent runs and abandoned leases.
//!
//! A crash is modelled as the run's future being dropped at an instant: no code of the run
//! executes after it, its lease is not released, and an operation it had started either took
//! effect (crash after) or did not (crash before) — what SIGKILL does to a process. Batches in
//! these scenarios span two pages, and crashes land at every side effect and at every page
//! fetch (before it is sent, and once its answer is in: pages read ahead included).
use crate::support::append_live;
use crate::support::faults::{Call, Faults, Op, StorageFault};
use crate::support::harness::{TestEnv, SOURCE_ID};
use atlassian_audit::checkpoint::{AcquireRequest, Fence, Lease};
use atlassian_audit::collector::{RunError, StopReason};
use atlassian_audit::config::env;
use atlassian_audit::registry::Task;
use serde_json::{json, Value};
use simulated_org::{
    generate_events_for_org, generate_invalid_events_in, now_ms, SimulatedOrgConfig,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum When {
    Before,
    After,
}

/// Where a run "dies": before or after its side effect number `n` (of the store and sink
/// together), or before or after its page fetch number `n`.
#[derive(Clone, Copy, Debug)]
enum CrashPoint {
    Step(usize, When),
    Fetch(usize, When),
}

/// The fault that stops a run before or after the effect it lands on.
fn crash_fault(when: When) -> StorageFault {
    match when {
        When::Before => StorageFault::CrashBefore,
        When::After => StorageFault::CrashAfter,
    }
}

/// Runs once through `faults` (no lease grace) until one of its crashes fires; a run that ends
/// first fails the test.
async fn run_until_crash(env: &TestEnv, faults: &Faults) {
    let collector = env.collector_with_faults(faults, Duration::ZERO).await;
    tokio::select! {
        report = collector.run(CRASHED_BUDGET) => panic!("the run ended: {:?}", report.error),
        _ = faults.crashed() => {}
    }
}

fn crash_at(point: CrashPoint) -> Faults {
    let fault = crash_fault;
    match point {
        CrashPoint::Step(n, when) => Faults::new().at_step(n, fault(when)),
        CrashPoint::Fetch(n, when) => {
            Faults::new().when(move |c: &Call| c.op == Op::Fetch && c.nth == n, fault(when))
        }
    }
}

/// Long enough for a crashed run to reach any step even on a loaded machine (6 s was not, with
/// the suite, a campaign and builds sharing 2 cores: a run stopped at its fetch deadline before
/// the step it was to crash at); recovery waits
/// for its lease to expire, so the cases run in parallel.
const CRASHED_BUDGET: Duration = Duration::from_secs(10);

/// Every crash point of a run of `steps` side effects and `fetches` page fetches, before and
/// after each.
fn crash_points(steps: usize, fetches: usize) -> Vec<CrashPoint> {
    let mut cases = Vec::new();
    for when in [When::Before, When::After] {
        cases.extend((1..=steps).map(|n| CrashPoint::Step(n, when)));
        cases.extend((1..=fetches).map(|n| CrashPoint::Fetch(n, when)));
    }
    cases
}

/// Runs once with a crash at `point` (no lease grace); returns whether the crash happened.
async fn run_crashing(env: &TestEnv, point: CrashPoint) -> bool {
    let faults = crash_at(point);
    let collector = env.collector_with_faults(&faults, Duration::ZERO).await;
    tokio::select! {
        report = collector.run(CRASHED_BUDGET) => {
            assert!(report.error.is_none(), "{:?}", report.error);
            false
        }
        _ = faults.crashed() => true,
    }
}

/// Side effects and page fetches of one clean pass over the scenario (to know how many crash
/// points there are), and the batches it committed.
/// (side effects, fetches, batches, staging objects written)
async fn count_steps(env: &TestEnv) -> (usize, usize, u64, usize) {
    let faults = Faults::new();
    let r = env
        .collector_with_faults(&faults, Duration::ZERO)
        .await
        .run(Duration::from_secs(30))
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    // The mark is read once and raised twice (to the new generation, then at release): both
    // raises are crash points of their own.
    assert_eq!(faults.calls(Op::ReadMark), 1);
    assert_eq!(faults.calls(Op::WriteMark), 2);
    // Each raise is a conditional write on the version last seen, the first one right after the
    // read: crashing before step 2 dies between the read of the version (S3's ETag) and the
    // write that names it.
    let done = faults.done();
    let read = done.iter().position(|d| d.op == Op::ReadMark);
    let write = done.iter().position(|d| d.op == Op::WriteMark);
    assert_eq!(write, read.map(|r| r + 1), "{done:?}");
    assert_eq!(write.and_then(|w| done[w].step), Some(2), "{done:?}");
    // Late events (hours before their batch's newest): a batch that more follow stages them,
    // the run's last batch reads them back and carries them into its hour objects.
    let staged = done
        .iter()
        .filter(|d| d.op == Op::Put && d.key.starts_with("staging/"))
        .count();
    assert_eq!(
        faults.calls(Op::Read),
        staged,
        "each staging object is carried once"
    );
    (
        faults.steps(),
        faults.calls(Op::Fetch),
        r.summary.checkpoint_sequence,
        staged,
    )
}

/// 100 events (and 2 invalid ones) over the two whole hours before this one, read in pages of
/// 40 and batches of two pages (80 events), so every environment built from the same seed has
/// the same pages, batches, objects and steps.
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
    env.set(env::BATCH_MAX_EVENTS, "80");
    let hour = 3_600_000;
    let this_hour = now_ms() / hour * hour;
    let range = (this_hour - 2 * hour, this_hour - 1);
    let mut events = generate_events_for_org(env.org.org_id(), seed, 100, range);
    make_alert_worthy(&mut events);
    for (i, bad) in generate_invalid_events_in(seed, 2, range)
        .into_iter()
        .enumerate()
    {
        events.insert(30 + 40 * i, bad);
    }
    env.org.append_backlog(events);
    env
}

/// Turns some of the scenario's events into admin actions the built-in rules alert on: an
/// impersonation in the first batch repeated in the second (one alert, grown by the second
/// batch), and ten users removed by one actor across the two batches (a threshold crossed in
/// the second batch by the count the first one left in the state).
fn make_alert_worthy(events: &mut [Value]) {
    let admin = json!({"id": "crash-admin", "name": "Jordan Ellis"});
    let impersonated = json!([{"type": "users", "attributes": {"email": "finley.ng@example.com"}}]);
    for i in [45, 85] {
        let attributes = &mut events[i]["attributes"];
        attributes["action"] = json!("user_logged_in_as_user");
        attributes["actor"] = admin.clone();
        attributes["context"] = impersonated.clone();
    }
    // Ten distinct users: the rule counts users removed, not removals.
    for (n, event) in events[72..82].iter_mut().enumerate() {
        let attributes = &mut event["attributes"];
        attributes["action"] = json!("user_removed_from_site");
        attributes["actor"] = admin.clone();
        attributes["context"] = json!([{"type": "users", "id": format!("removed-{n}")}]);
    }
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
    // Wherever the run died, its mark is not ahead of the table (or the recovery is refused).
    env.assert_mark_follows_checkpoint(false).await;
    wait_for_abandoned_lease(env).await;
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    append_live(&env.org, 99, 7);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    env.assert_exactly_once_after(1).await;
    env.assert_mark_follows_checkpoint(true).await;
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
    let (steps, fetches, batches, staged) = count_steps(&reference).await;
    assert!(steps >= 10, "the scenario has {steps} steps");
    assert!(
        staged > 0,
        "a batch stages late events, the last carries them"
    );
    assert!(batches >= 2, "the scenario has {batches} batches");
    assert!(
        fetches > batches as usize,
        "batches span pages: {fetches} fetches, {batches} batches"
    );
    let alerts = reference.assert_alerts_exactly_once(0).await;
    let (_, _, lines) = reference.archive().await;
    for (rule, count) in [("user_logged_in_as_user", 2), ("mass_user_removal", 10)] {
        assert!(
            alerts
                .iter()
                .any(|a| a.rule_id == rule && a.dedup_key.contains("finley.ng") == (count == 2)),
            "the scenario raises {rule}"
        );
    }
    assert!(
        lines.iter().any(|a| a.is_update),
        "an alert opened in one batch grows in the next"
    );
    eprintln!(
        "crash matrix (cap {cap:?}): {steps} side effects ({staged} staging objects) and {fetches} fetches over {batches} batches, each crashed before and after"
    );
    // Every crash point, before and after, each in its own environment, in parallel.
    for chunk in crash_points(steps, fetches).chunks(20) {
        let runs = chunk.iter().map(|&point| async move {
            let env = scenario_capped(40, cap).await;
            let crashed = run_crashing(&env, point).await;
            assert!(crashed, "{point:?} was never reached");
            recover_and_check(&env).await;
        });
        futures::future::join_all(runs).await;
    }
}

/// Side effects of the scenario: 1 acquire, 2 the high-water mark set to the new generation;
/// then, for the first batch (pages 1 and 2, 80 events), 3 its write-ahead, 4 to 6 its objects
/// (two hours and the quarantine), 7 its commit.
const FIRST_OBJECT_OF_THE_FIRST_BATCH: usize = 4;

#[tokio::test]
async fn a_batch_redone_after_a_crash_reads_the_same_events_when_the_page_limit_changes() {
    // Crash after the first object of the first batch (two pages of 40), then resume with a
    // smaller PAGE_LIMIT: the redo reads the 80 events again in pages of at most 7, its last
    // page asking only for what is left.
    let mut env = scenario(41).await;
    let crashed = run_crashing(
        &env,
        CrashPoint::Step(FIRST_OBJECT_OF_THE_FIRST_BATCH, When::After),
    )
    .await;
    assert!(crashed);
    let pending = env.checkpoint().await.unwrap().checkpoint.pending;
    assert_eq!(pending.map(|p| p.event_count), Some(80));
    wait_for_abandoned_lease(&env).await;
    let before = env.org.requests().len();
    env.set(env::PAGE_LIMIT, "7");
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    let limits: Vec<String> = env.org.requests()[before..]
        .iter()
        .filter(|q| q.status == 200)
        .take(12)
        .map(|q| q.query_value("limit").unwrap_or_default().to_string())
        .collect();
    let mut want = vec!["7".to_string(); 11];
    want.push("3".into());
    assert_eq!(limits, want, "the redo's pages: 11 x 7 + 3 = 80 events");
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_batch_redone_under_a_smaller_page_cap_writes_each_event_once() {
    // Crash after the first object of the first batch (80 events), then the API caps pages at
    // 15: the redo reads the same 80 events in more, shorter pages, rewrites the same keys.
    let env = scenario(45).await;
    assert!(
        run_crashing(
            &env,
            CrashPoint::Step(FIRST_OBJECT_OF_THE_FIRST_BATCH, When::After)
        )
        .await
    );
    let pending = env.checkpoint().await.unwrap().checkpoint.pending;
    assert_eq!(pending.map(|p| p.event_count), Some(80));
    wait_for_abandoned_lease(&env).await;
    env.org.set_page_cap(Some(15));
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.stop_reason, StopReason::CaughtUp);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_batch_redone_under_a_larger_page_cap_writes_each_event_once() {
    // The first attempt read pages capped at 27 (a batch of 54 events); the redo meets pages
    // of 40 and reads the same 54 (40, then 14).
    let env = scenario_capped(47, Some(27)).await;
    assert!(
        run_crashing(
            &env,
            CrashPoint::Step(FIRST_OBJECT_OF_THE_FIRST_BATCH, When::After)
        )
        .await
    );
    let pending = env.checkpoint().await.unwrap().checkpoint.pending;
    assert_eq!(pending.map(|p| p.event_count), Some(54));
    wait_for_abandoned_lease(&env).await;
    env.org.set_page_cap(None);
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
        .acquire(AcquireRequest {
            source_id: SOURCE_ID,
            lease: &Lease {
                owner: "forged".into(),
                until_ms: now + 10 * 86_400_000,
            },
            fence: Fence::longest(),
            now_ms: now,
            new_generation: "gen",
        })
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

/// A run held inside an S3 write past its lease while a second run takes the source over: the
/// held write is dropped at the fence (the lease less its margin), so it never lands on top of
/// what the second run wrote, the first run says why it stopped, and the bucket is exactly once.
#[tokio::test]
async fn a_run_held_inside_a_write_past_its_lease_writes_nothing_after_it() {
    let env = scenario(47).await;
    let (open, opened) = tokio::sync::watch::channel(false);
    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let in_write = entered.clone();
    let held_key = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen_key = held_key.clone();
    let faults = Faults::new().when(
        move |c| {
            let hold = c.op == Op::Put && c.nth == 1;
            if hold {
                *seen_key.lock().unwrap() = c.key.clone();
            }
            hold
        },
        StorageFault::hold(move || {
            let (mut opened, in_write) = (opened.clone(), in_write.clone());
            async move {
                in_write.notify_one();
                let _ = opened.wait_for(|open| *open).await;
            }
        }),
    );
    let held = env.collector_with_faults(&faults, Duration::ZERO).await;
    let takeover = async {
        entered.notified().await;
        wait_for_abandoned_lease(&env).await;
        let taken_over_ms = now_ms();
        let second = env.run().await;
        let _ = open.send(true);
        (second, taken_over_ms)
    };
    let (first, (second, taken_over_ms)) = tokio::join!(held.run(Duration::from_secs(3)), takeover);
    assert!(second.error.is_none(), "{:?}", second.error);
    assert_eq!(second.summary.stop_reason, StopReason::CaughtUp);
    assert!(
        matches!(first.error, Some(RunError::LeaseEnding(_))),
        "{:?}",
        first.error
    );
    let message = first.error.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("writes nothing more"), "{message}");
    // The other objects of the batch were written before the fence; the held one never was,
    // and nothing of the first run's landed once the second had started.
    let (done, held_key) = (faults.done(), held_key.lock().unwrap().clone());
    assert!(!held_key.is_empty(), "a write was held");
    assert!(
        done.iter().all(|d| d.key != held_key),
        "the held write went through: {done:?}"
    );
    assert!(
        done.iter()
            .filter(|d| d.op.is_effect() && d.op != Op::Release)
            .all(|d| d.ended_ms < taken_over_ms),
        "the first run wrote after the takeover: {done:?}"
    );
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_lease_left_by_a_killed_run_frees_itself_after_its_budget_and_grace() {
    let env = scenario(43).await;
    let store = env.store().await;
    let now = now_ms();
    store
        .acquire(AcquireRequest {
            source_id: SOURCE_ID,
            lease: &Lease {
                owner: "killed-run".into(),
                until_ms: now + 1500,
            },
            fence: Fence::longest(),
            now_ms: now,
            new_generation: "gen",
        })
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
    env.set(env::BATCH_MAX_EVENTS, "50");
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
    env.assert_exactly_once_but_announcements().await;
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

/// The new step of a failed announcement: the channel refuses the batch's alerts and the run
/// records the failure in the pending batch (one more checkpoint save). A crash before or after
/// that save, then runs whose channel works: every event and alert once, each alert announced,
/// and the batch's record counts one failure at most.
#[tokio::test]
async fn a_crash_around_recording_a_failed_announcement_loses_nothing() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    for when in [When::Before, When::After] {
        let env = scenario(40).await;
        let refused = Arc::new(AtomicBool::new(false));
        let seen = refused.clone();
        let crash = crash_fault(when);
        let faults = Faults::new()
            .when(
                move |c: &Call| {
                    let publish = c.op == Op::Publish;
                    if publish {
                        seen.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    publish
                },
                StorageFault::Fail,
            )
            .when(
                move |c: &Call| {
                    c.op == Op::Save && refused.load(std::sync::atomic::Ordering::SeqCst)
                },
                crash,
            );
        run_until_crash(&env, &faults).await;
        let stored = env.checkpoint().await.expect("a checkpoint").checkpoint;
        let pending = stored.pending.expect("the batch is pending");
        let wanted = match when {
            When::Before => 0,
            When::After => 1,
        };
        assert_eq!(pending.announce_failures, wanted, "{when:?}");
        recover_and_check(&env).await;
        let announced: std::collections::HashSet<String> =
            env.notified.published().into_iter().map(|a| a.id).collect();
        let (_, _, lines) = env.archive().await;
        let notifiers = env.backends().await.detection.notifiers;
        for alert in notifiers.worth_announcing(&lines) {
            assert!(
                announced.contains(&alert.id),
                "{when:?}: {} announced",
                alert.rule_id
            );
        }
    }
}

/// A run that takes the lease and dies at its first fetch, before it writes anything (a short
/// budget, so its lease expires soon); returns once that lease has.
async fn die_while_reading(env: &TestEnv) {
    let dying = crash_at(CrashPoint::Fetch(1, When::Before));
    let collector = env.collector_with_faults(&dying, Duration::ZERO).await;
    tokio::select! {
        report = collector.run(Duration::from_secs(2)) => panic!("the run ended: {:?}", report.error),
        _ = dying.crashed() => {}
    }
    wait_for_abandoned_lease(env).await;
}

/// A backlog of 400 events over the 8 hours before now (generated from `seed`), and the faults
/// that fail every write of the newest event's hour (read from the events themselves: the
/// clock's hour may have none yet, a minute past the hour, and then no write would ever fail).
fn newest_hour_failing(env: &TestEnv, seed: u64) -> Faults {
    let now = now_ms();
    let events = generate_events_for_org(
        env.org.org_id(),
        seed,
        400,
        (now - 8 * 3_600_000, now - 60_000),
    );
    let newest_hour = events
        .iter()
        .filter_map(|e| e.pointer("/attributes/time").and_then(Value::as_str))
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .max()
        .expect("events with a time")
        .with_timezone(&chrono::Utc)
        .format("%Y%m%dT%H0000Z")
        .to_string();
    env.org.append_backlog(events);
    Faults::new().when(
        move |c: &Call| c.op == Op::Put && c.key.contains(&newest_hour),
        StorageFault::Fail,
    )
}

/// Progress under faults: the writes of the newest hour's object fail on every attempt (an S3
/// incident on one prefix). The first attempt and the first redo read the whole batch and fail;
/// the next redo reads half of it, which leaves that hour out, and commits; once the fault is
/// gone the rest follows, every event once. (Before, every redo read the whole batch again and
/// nothing was ever committed while the fault lasted.)
#[tokio::test]
async fn a_batch_whose_writes_keep_failing_shrinks_until_it_commits() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let faults = newest_hour_failing(&env, 77);
    let collector = env.collector_with_faults(&faults, Duration::ZERO).await;
    let mut committed = Vec::new();
    for _ in 0..4 {
        let r = collector.run(Duration::from_secs(20)).await;
        let stored = env.checkpoint().await.expect("a checkpoint").checkpoint;
        committed.push((r.error.is_none(), stored.events_written));
    }
    assert_eq!(
        committed[..2],
        [(false, 0), (false, 0)],
        "the whole batch, then its first redo, fail"
    );
    assert!(
        committed[2].1 > 0 && committed[2].1 < 400,
        "the next redo commits a prefix: {committed:?}"
    );
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        env.checkpoint()
            .await
            .expect("a checkpoint")
            .checkpoint
            .events_written,
        400
    );
    env.assert_exactly_once().await;
}

/// Progress when the runs after a failed attempt die before they write anything (killed while
/// reading, a Lambda timeout): each took the lease, so each halves the redo, though none could
/// record an attempt of its own. The first attempt fails on the newest hour's object; a run
/// dies at its first fetch; the next reads half the batch, which leaves that hour out, and
/// commits while the fault lasts. (Before lease takes were counted, it read the whole batch
/// again and failed.) Once the fault is gone, every event once.
#[tokio::test]
async fn runs_that_die_before_writing_shrink_the_pending_batch_too() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let failing = newest_hour_failing(&env, 79);
    let collector = env.collector_with_faults(&failing, Duration::ZERO).await;
    let r = collector.run(Duration::from_secs(20)).await;
    assert!(r.error.is_some(), "the first attempt fails");
    let recorded = env.checkpoint().await.expect("a checkpoint").checkpoint;
    let pending = recorded.pending.clone().expect("the batch is pending");
    assert_eq!((recorded.events_written, pending.event_count), (0, 400));

    die_while_reading(&env).await;
    let died = env.checkpoint().await.expect("a checkpoint").checkpoint;
    assert_eq!(died.pending, recorded.pending, "it wrote nothing");
    assert_eq!(
        died.lease_takes,
        recorded.lease_takes + 1,
        "but it took the lease"
    );

    let collector = env.collector_with_faults(&failing, Duration::ZERO).await;
    collector.run(Duration::from_secs(20)).await;
    let written = env
        .checkpoint()
        .await
        .expect("a checkpoint")
        .checkpoint
        .events_written;
    assert!(
        written > 0 && written < 400,
        "half the batch commits while the fault lasts: {written}"
    );
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    env.assert_exactly_once().await;
}

/// A batch opening more alerts than a batch may (a mass change) sums the rest up in one alert
/// whose id depends on exactly which events the batch holds. Its first attempt announces that
/// summary and then fails to commit; a run dies while reading; the next must not shrink the
/// batch (it would archive another summary, and the one announced would be in no archive): every
/// alert announced is one the archive opened.
#[tokio::test]
async fn a_batch_whose_summary_alert_was_announced_is_redone_whole() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let tokens = (0..400).map(|i| {
        json!({"id": format!("tok-{i}"), "type": "events", "links": {}, "attributes": {
            "time": now, "action": "api_token_created",
            "actor": {"id": format!("actor-{i}"), "name": format!("Actor {i}")}}})
    });
    env.org.append_events(tokens.collect());
    // The write-ahead is the first save, the commit the second.
    let commit_fails = Faults::new().when(
        |c: &Call| c.op == Op::Save && c.nth == 2,
        StorageFault::Fail,
    );
    let collector = env
        .collector_with_faults(&commit_fails, Duration::ZERO)
        .await;
    let r = collector.run(Duration::from_secs(20)).await;
    assert!(r.error.is_some(), "the commit fails");
    let announced: Vec<String> = env
        .notified
        .published()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    assert!(
        !announced.is_empty(),
        "the attempt announced before its commit"
    );

    die_while_reading(&env).await;
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    // The failed commit announced once more than the archive needs.
    let archived = env.assert_alerts_exactly_once(1).await;
    for id in &announced {
        assert!(
            archived.iter().any(|a| &a.id == id),
            "announced {id}, which no archived alert is"
        );
    }
}

/// A bad day that lets only a few writes of each run through (at most 3 objects a run):
/// whole batches keep failing and shrink until one commits. The fresh batch after it (read while
/// the shrunk one is written, or by the next run from the checkpoint's `batch_cap`) reads at most
/// twice what got through, not the whole backlog, which would fail and shrink all over again
/// (969 events without the cap); once the writes work, every event is written once.
#[tokio::test]
async fn after_a_shrunk_batch_fresh_batches_start_small() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let now = now_ms();
    let events = generate_events_for_org(
        env.org.org_id(),
        78,
        1_000,
        (now - 20 * 3_600_000, now - 60_000),
    );
    env.org.append_backlog(events);
    let puts = Arc::new(AtomicUsize::new(0));
    // How many writes a run gets through: 3 on the bad day, none for the probe, all after.
    let allowed = Arc::new(AtomicUsize::new(3));
    let (counted, limit) = (puts.clone(), allowed.clone());
    let faults = Faults::new().when(
        move |c: &Call| {
            c.op == Op::Put
                && counted.fetch_add(1, Ordering::SeqCst) >= limit.load(Ordering::SeqCst)
        },
        StorageFault::Fail,
    );
    let collector = env.collector_with_faults(&faults, Duration::ZERO).await;
    let run = || async {
        puts.store(0, Ordering::SeqCst);
        collector.run(Duration::from_secs(20)).await;
        env.checkpoint().await.expect("a checkpoint").checkpoint
    };
    let mut stored = run().await;
    for _ in 0..12 {
        if stored.events_written > 0 {
            break;
        }
        stored = run().await;
    }
    let written = stored.events_written;
    assert!(
        written > 0 && written < 1_000,
        "a shrunk batch got through: {written}"
    );
    let cap = stored
        .batch_cap
        .expect("fresh batches capped after a shrunk one");
    assert!(u64::from(cap) <= 2 * written, "cap {cap} after {written}");

    // The fresh batch is the one left pending by the same run, else the next run's first,
    // which a run allowed no write at all leaves pending. (A fresh batch that commits doubles
    // the cap for the one after it, so counting a whole run's reads would measure that one.)
    let fresh = match &stored.pending {
        Some(pending) => pending.event_count,
        None => {
            allowed.store(0, Ordering::SeqCst);
            let next = run().await;
            next.pending.expect("a batch left pending").event_count
        }
    };
    assert!(
        fresh <= cap && u64::from(fresh) < 1_000 - written,
        "the fresh batch read {fresh}, the cap is {cap}, {} were left",
        1_000 - written
    );

    allowed.store(usize::MAX, Ordering::SeqCst);
    for _ in 0..20 {
        if run().await.events_written == 1_000 {
            break;
        }
    }
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    env.assert_exactly_once().await;
}

/// The overlapped steps: while the first batch's objects are written (each write held 300 ms),
/// the second batch's pages are fetched, before the first batch commits; a crash while both
/// are under way (after the first batch's first object, with the second batch's page in
/// flight) loses and duplicates nothing.
#[tokio::test]
async fn the_next_batch_is_read_while_one_is_written() {
    let slow_puts = || {
        Faults::new().when(
            |c: &Call| c.op == Op::Put,
            StorageFault::Delay(Duration::from_millis(300)),
        )
    };
    let env = scenario(42).await;
    let faults = slow_puts();
    let r = env
        .collector_with_faults(&faults, Duration::ZERO)
        .await
        .run(Duration::from_secs(30))
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    let done = faults.done();
    // Batch 1 is pages 1 and 2 (page 3 was always read ahead); page 4 belongs to batch 2 and
    // is fetched while batch 1 is written: before its commit, the second checkpoint save.
    let fourth_fetch = done
        .iter()
        .enumerate()
        .filter(|(_, d)| d.op == Op::Fetch)
        .nth(3)
        .map(|(at, _)| at);
    let first_commit = done
        .iter()
        .enumerate()
        .filter(|(_, d)| d.op == Op::Save)
        .nth(1)
        .map(|(at, _)| at);
    assert!(
        fourth_fetch.is_some() && fourth_fetch < first_commit,
        "page 4 at {fourth_fetch:?}, batch 1's commit at {first_commit:?}"
    );
    env.assert_exactly_once().await;

    for when in [When::Before, When::After] {
        let env = scenario(42).await;
        let crash = crash_fault(when);
        let faults = slow_puts().at_step(FIRST_OBJECT_OF_THE_FIRST_BATCH + 1, crash);
        run_until_crash(&env, &faults).await;
        assert!(
            faults.calls(Op::Fetch) >= 4,
            "{when:?}: batch 2 was being read"
        );
        recover_and_check(&env).await;
    }
}

/// The step a shrunk redo adds: once it has deleted what earlier attempts left, it records
/// that in the pending batch (a checkpoint save) before writing its own objects. Two attempts
/// die after their first object, so the third reads half the batch and has earlier objects to
/// delete; it dies before or after recording their deletion; then every event is once.
#[tokio::test]
async fn a_crash_around_forgetting_what_earlier_attempts_left_loses_nothing() {
    // The two cases wait out their crashed runs' leases side by side.
    let cases = [When::Before, When::After].map(|when| async move {
        let env = scenario(43).await;
        for _ in 0..2 {
            let crashed = run_crashing(
                &env,
                CrashPoint::Step(FIRST_OBJECT_OF_THE_FIRST_BATCH, When::After),
            )
            .await;
            assert!(crashed);
            wait_for_abandoned_lease(&env).await;
        }
        let checkpoint = env.checkpoint().await.expect("a checkpoint").checkpoint;
        let pending = checkpoint.pending.expect("the batch is pending");
        // The next run takes the lease once more.
        let next_run = checkpoint.lease_takes + 1;
        assert_eq!(
            (pending.redos, pending.redo_count(next_run, 40)),
            (1, 40),
            "{when:?}"
        );
        let left = pending.hours.len();
        // The third attempt: its write-ahead is its first save, the record of the deletions
        // its second.
        let crash = crash_fault(when);
        let faults = Faults::new().when(|c: &Call| c.op == Op::Save && c.nth == 2, crash);
        run_until_crash(&env, &faults).await;
        let pending = env
            .checkpoint()
            .await
            .expect("a checkpoint")
            .checkpoint
            .pending;
        let pending = pending.expect("still pending");
        match when {
            When::Before => assert!(pending.hours.len() >= left, "{pending:?}"),
            When::After => assert!(
                pending.hours.len() < left || !pending.quarantine,
                "{pending:?}"
            ),
        }
        recover_and_check(&env).await;
    });
    futures::future::join_all(cases).await;
}

/// The scenario read by a backfill whose window ends just after the 70th event (the events
/// after it are live collection's): it ends by itself at the first of them.
async fn backfill_scenario() -> (TestEnv, i64) {
    let mut env = scenario(41).await;
    let processed_at = |e: &Value| {
        let at = e["attributes"]["processedAt"]
            .as_str()
            .expect("processedAt");
        chrono::DateTime::parse_from_rfc3339(at)
            .expect("RFC 3339")
            .timestamp_millis()
    };
    let times: Vec<i64> = env.org.events().iter().map(processed_at).collect();
    // The first processing time after the 70th event's: events may share one.
    let to_ms = *times[70..]
        .iter()
        .find(|t| **t > times[69])
        .expect("events processed after the 70th");
    env.task = Task::Backfill {
        from_ms: now_ms() - 30 * 86_400_000,
        to_ms,
    };
    (env, to_ms)
}

/// Every valid event processed before `to_ms` is under logs/ once, nothing else is.
async fn assert_backfill_exactly_once(env: &TestEnv, to_ms: i64) {
    let (logs, _) = env.written().await;
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    for line in &logs {
        *counts
            .entry(line["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let valid = env.org.valid_event_ids();
    let expected: std::collections::HashSet<String> = env
        .org
        .events()
        .iter()
        .filter(|e| {
            let at = e["attributes"]["processedAt"].as_str().unwrap_or("");
            chrono::DateTime::parse_from_rfc3339(at).is_ok_and(|t| t.timestamp_millis() < to_ms)
        })
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .filter(|id| valid.contains(id))
        .collect();
    assert!(
        expected.len() >= 60,
        "the window holds {} events",
        expected.len()
    );
    assert!(counts.values().all(|n| *n == 1), "an event written twice");
    let written: std::collections::HashSet<String> = counts.into_keys().collect();
    assert_eq!(written, expected, "the backfill wrote exactly its window");
}

/// The crash matrix on a backfill: every side effect and fetch, before and after; the next
/// runs end the backfill with its window written exactly once, at the same event.
#[tokio::test]
async fn a_crash_at_any_step_of_a_backfill_loses_nothing_and_ends_at_its_window() {
    let (reference, to_ms) = backfill_scenario().await;
    let (steps, fetches, batches, _) = count_steps(&reference).await;
    assert!(
        steps >= 7 && batches >= 1,
        "{steps} steps, {batches} batches"
    );
    assert_backfill_exactly_once(&reference, to_ms).await;
    eprintln!("backfill crash matrix: {steps} side effects and {fetches} fetches, each crashed before and after");
    for chunk in crash_points(steps, fetches).chunks(20) {
        let runs = chunk.iter().map(|&point| async move {
            let (env, to_ms) = backfill_scenario().await;
            assert!(
                run_crashing(&env, point).await,
                "{point:?} was never reached"
            );
            env.assert_mark_follows_checkpoint(false).await;
            wait_for_abandoned_lease(&env).await;
            let r = env.run().await;
            assert!(r.error.is_none(), "{point:?}: {:?}", r.error);
            assert_eq!(r.summary.stop_reason, StopReason::CaughtUp, "{point:?}");
            assert_backfill_exactly_once(&env, to_ms).await;
            env.assert_mark_follows_checkpoint(true).await;
        });
        futures::future::join_all(runs).await;
    }
}
