//! Exactly once under crashes at every step, concurrent runs and abandoned leases.
//!
//! A crash is modelled as the run's future being dropped at an instant: no code of the run
//! executes after it, its lease is not released, and an operation it had started either took
//! effect (crash after) or did not (crash before) — what SIGKILL does to a process.
use crate::append_live;
use crate::harness::{TestEnv, SOURCE_ID};
use async_trait::async_trait;
use atlassian_audit::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, Lease, StoredCheckpoint,
};
use atlassian_audit::config::env;
use atlassian_audit::metrics::StopReason;
use atlassian_audit::sink::{EncodedObject, ObjectSink, SinkError};
use simulated_org::{
    generate_events_for_org, generate_invalid_events_in, now_ms, SimulatedOrgConfig,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Clone, Copy, Debug)]
enum When {
    Before,
    After,
}

/// Counts the run's side effects; at step `at` the run "dies" before or after that effect.
struct Tripwire {
    steps: AtomicUsize,
    at: usize,
    when: When,
    fired: Notify,
}

impl Tripwire {
    fn new(at: usize, when: When) -> Arc<Self> {
        Arc::new(Tripwire {
            steps: AtomicUsize::new(0),
            at,
            when,
            fired: Notify::new(),
        })
    }

    async fn step<T>(&self, effect: impl std::future::Future<Output = T>) -> T {
        let n = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
        if n != self.at {
            return effect.await;
        }
        if let When::After = self.when {
            let _ = effect.await;
        }
        self.fired.notify_one();
        std::future::pending().await
    }

    fn count(&self) -> usize {
        self.steps.load(Ordering::SeqCst)
    }
}

struct CrashingSink(Arc<dyn ObjectSink>, Arc<Tripwire>);
struct CrashingStore(Arc<dyn CheckpointStore>, Arc<Tripwire>);

#[async_trait]
impl ObjectSink for CrashingSink {
    async fn put(&self, key: &str, object: &EncodedObject) -> Result<(), SinkError> {
        self.1.step(self.0.put(key, object)).await
    }
    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        self.1.step(self.0.delete(key)).await
    }
    async fn probe(&self) -> Result<(), SinkError> {
        self.0.probe().await
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

#[async_trait]
impl CheckpointStore for CrashingStore {
    async fn acquire(
        &self,
        s: &str,
        l: &Lease,
        now: i64,
        g: &str,
    ) -> Result<Checkpoint, CheckpointError> {
        self.1.step(self.0.acquire(s, l, now, g)).await
    }
    async fn save(&self, s: &str, o: &str, c: &Checkpoint) -> Result<(), CheckpointError> {
        self.1.step(self.0.save(s, o, c)).await
    }
    async fn release(&self, s: &str, o: &str) -> Result<(), CheckpointError> {
        self.1.step(self.0.release(s, o)).await
    }
    async fn load(&self, s: &str) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        self.0.load(s).await
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

/// Long enough for a crashed run to reach any step even on a loaded machine; recovery waits
/// for its lease to expire, so the cases run in parallel.
const CRASHED_BUDGET: Duration = Duration::from_secs(6);

/// A collector whose every side effect goes through `trip`, with no lease grace.
async fn crashing_collector(
    env: &TestEnv,
    trip: &Arc<Tripwire>,
) -> atlassian_audit::collector::Collector {
    let (t1, t2) = (trip.clone(), trip.clone());
    env.collector_with(
        move |s| Arc::new(CrashingSink(s, t1)),
        move |c| Arc::new(CrashingStore(c, t2)),
        Duration::ZERO,
    )
    .await
}

/// Runs once with a crash at step `at`; returns whether the crash happened.
async fn run_crashing(env: &TestEnv, at: usize, when: When) -> bool {
    let trip = Tripwire::new(at, when);
    let collector = crashing_collector(env, &trip).await;
    tokio::select! {
        report = collector.run(CRASHED_BUDGET) => {
            assert!(report.error.is_none(), "{:?}", report.error);
            false
        }
        _ = trip.fired.notified() => true,
    }
}

/// Side effects of one clean pass over the scenario (to know how many crash points there are).
async fn count_steps(env: &TestEnv) -> usize {
    let trip = Tripwire::new(usize::MAX, When::Before);
    let r = crashing_collector(env, &trip)
        .await
        .run(Duration::from_secs(30))
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    trip.count()
}

/// 100 events (and 2 invalid ones) over the two whole hours before this one, so every
/// environment built from the same seed has the same pages, objects and steps.
async fn scenario(seed: u64) -> TestEnv {
    scenario_capped(seed, None).await
}

/// [`scenario`], with pages capped at `cap` events whatever `limit` (40) asks for.
async fn scenario_capped(seed: u64, cap: Option<u32>) -> TestEnv {
    let mut env = TestEnv::new(SimulatedOrgConfig {
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

#[tokio::test]
async fn a_run_killed_with_sigkill_mid_backlog_loses_and_duplicates_nothing() {
    let mut env = TestEnv::new(SimulatedOrgConfig::default()).await;
    env.set(env::PAGE_LIMIT, "25");
    crate::fill_backlog(&env.org, 44, 400, 2, 6);
    // Slow pages, so the kill lands while batches are being written.
    env.org
        .set_random_faults(1.0, 44, vec![simulated_org::Fault::Stall { millis: 60 }]);
    let mut child = env
        .cli()
        .args(["run", "--budget-seconds", "10"])
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
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "the run was killed, not finished");
    let stored = env.checkpoint().await.unwrap();
    let lease = stored.lease.expect("a killed run leaves its lease");
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

/// A store whose `nth` save takes effect but whose answer is lost: the caller sees an error.
struct LostAnswerStore(Arc<dyn CheckpointStore>, usize, AtomicUsize);

#[async_trait]
impl CheckpointStore for LostAnswerStore {
    async fn acquire(
        &self,
        s: &str,
        l: &Lease,
        now: i64,
        g: &str,
    ) -> Result<Checkpoint, CheckpointError> {
        self.0.acquire(s, l, now, g).await
    }
    async fn save(&self, s: &str, o: &str, c: &Checkpoint) -> Result<(), CheckpointError> {
        self.0.save(s, o, c).await?;
        if self.2.fetch_add(1, Ordering::SeqCst) + 1 == self.1 {
            return Err(CheckpointError::Backend {
                store: self.0.describe(),
                reason: "the answer was lost".into(),
            });
        }
        Ok(())
    }
    async fn release(&self, s: &str, o: &str) -> Result<(), CheckpointError> {
        self.0.release(s, o).await
    }
    async fn load(&self, s: &str) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        self.0.load(s).await
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

/// Found by the fault campaign: when the write that commits a batch took effect but its answer
/// was lost, the run failed without counting the batch, and no later run counts it either, so
/// EventsProcessed fell short of what was written. The run now reads the checkpoint back.
#[tokio::test]
async fn a_commit_whose_answer_was_lost_is_still_counted() {
    let env = scenario(44).await;
    // Saves: 1 pending page 1, 2 commit page 1, 3 pending page 2, 4 commit page 2.
    let collector = env
        .collector_with(
            |s| s,
            |c| Arc::new(LostAnswerStore(c, 4, AtomicUsize::new(0))),
            Duration::ZERO,
        )
        .await;
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
