//! The OCSF copy, exactly once under crashes: the collector's runs derive it after their
//! commits (as `OCSF_ENABLED` makes them), while crashes land before and after every side
//! effect of the archive (redone batches included) and at every write of the derivation itself.
//! After the runs that follow, every archived event is in exactly one OCSF Parquet object.
use crate::support::append_live;
use crate::support::faults::{Faults, StorageFault};
use crate::support::harness::TestEnv;
use async_trait::async_trait;
use atlassian_audit::collector::{Collector, RunReport};
use atlassian_audit::config::env;
use atlassian_audit::ocsf::parquet::event_uids;
use atlassian_audit::ocsf::store::{BlobStore, LocalDirStore, StoreError};
use atlassian_audit::ocsf::{Derivation, Partition};
use bytes::Bytes;
use simulated_org::{
    generate_events_for_org, generate_invalid_events_in, now_ms, SimulatedOrgConfig,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Long enough to reach any step on a loaded machine: twenty crashing runs share one thread,
/// and under the whole suite on 2 cores 10 s was once too short to reach a batch's first object
/// (the recovery waits the lease out, so this is also what each chunk of crashes costs).
const CRASHED_BUDGET: Duration = Duration::from_secs(15);
/// A run that must reach its derivation whatever the load.
const DERIVING_BUDGET: Duration = Duration::from_secs(120);

/// The budget of a run made to fail at a write: one whose lease release fails holds its lease
/// this long, and the recovery waits it out (ample for 100 events on a loaded machine).
const FAILING_BUDGET: Duration = Duration::from_secs(20);

/// 100 events (and 2 invalid) over the two hours before this one, pages of 40, batches of 80.
async fn scenario(seed: u64) -> TestEnv {
    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    env.set(env::PAGE_LIMIT, "40");
    env.set(env::BATCH_MAX_EVENTS, "80");
    let hour = 3_600_000;
    let this_hour = now_ms() / hour * hour;
    let range = (this_hour - 2 * hour, this_hour - 1);
    let mut events = generate_events_for_org(env.org.org_id(), seed, 100, range);
    events.extend(generate_invalid_events_in(seed, 2, range));
    env.org.append_backlog(events);
    env
}

/// Where the test keeps the OCSF copy, its ledger and quarantine: a directory of its own, so
/// that the harness's checks of the archive see the archive alone.
fn lake_dir(env: &TestEnv) -> std::path::PathBuf {
    env.out_dir().with_file_name("lake")
}

/// The derivation `OCSF_ENABLED` gives a local run, its writes through `lake` when given.
fn derivation(env: &TestEnv, lake: Option<Arc<dyn BlobStore>>) -> Derivation {
    let archive: Arc<dyn BlobStore> = Arc::new(LocalDirStore::new(env.out_dir()));
    let own: Arc<dyn BlobStore> = Arc::new(LocalDirStore::new(lake_dir(env)));
    Derivation {
        archive,
        lake: lake.clone().unwrap_or_else(|| own.clone()),
        state: lake.unwrap_or(own),
        folders: Default::default(),
        partition: Partition {
            region: "local".into(),
            account_id: "external".into(),
        },
    }
}

async fn collector(env: &TestEnv, faults: &Faults, lake: Option<Arc<dyn BlobStore>>) -> Collector {
    env.collector_with_faults(faults, Duration::ZERO)
        .await
        .with_ocsf(derivation(env, lake))
}

/// Every archived event id is in the OCSF copy exactly once, and nothing else is.
async fn assert_ocsf_exactly_once(env: &TestEnv, what: &str) {
    env.assert_logs_exactly_once().await;
    let (lines, _) = env.written().await;
    let mut want: Vec<String> = lines
        .iter()
        .filter_map(|l| l["id"].as_str().map(str::to_string))
        .collect();
    want.sort();
    let store = LocalDirStore::new(lake_dir(env));
    let mut got = Vec::new();
    for key in store.list("ext/").await.expect("a listing") {
        let body = store.get(&key).await.expect("readable").expect("there");
        got.extend(
            event_uids(body)
                .expect("Parquet")
                .into_iter()
                .map(|(_, id)| id),
        );
    }
    got.sort();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &got {
        *counts.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: in the OCSF copy twice: {twice:?}"
    );
    assert_eq!(got, want, "{what}: the OCSF copy is the archive, once");
}

/// The runs after a crash: the abandoned lease expires, then the work is finished, with more.
async fn recover(env: &TestEnv) {
    if let Some(lease) = env.checkpoint().await.and_then(|s| s.lease) {
        let wait = (lease.until_ms - now_ms()).max(0) as u64 + 100;
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    let clean = Faults::new();
    let r = collector(env, &clean, None)
        .await
        .run(DERIVING_BUDGET)
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    append_live(&env.org, 99, 7);
    let r = collector(env, &clean, None)
        .await
        .run(DERIVING_BUDGET)
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.ocsf.as_ref().and_then(|o| o.error.clone()), None);
}

/// The scenario of `seed` collected once without a fault (the faults' steps counted): the
/// reference a crash matrix replays.
async fn clean_run(seed: u64) -> (TestEnv, Faults, RunReport) {
    let reference = scenario(seed).await;
    let faults = Faults::new();
    let r = collector(&reference, &faults, None)
        .await
        .run(DERIVING_BUDGET)
        .await;
    assert!(r.error.is_none(), "{:?}", r.error);
    (reference, faults, r)
}

#[tokio::test]
async fn a_crash_at_any_archive_step_leaves_every_event_once_in_the_ocsf_copy() {
    let (reference, faults, r) = clean_run(40).await;
    let ocsf = r.summary.ocsf.clone().expect("derived");
    assert!(
        ocsf.derived.batches >= 2,
        "the scenario has batches: {ocsf:?}"
    );
    assert_ocsf_exactly_once(&reference, "no crash").await;
    let steps = faults.steps();
    let points: Vec<(usize, bool)> = (1..=steps).flat_map(|n| [(n, false), (n, true)]).collect();
    for chunk in points.chunks(20) {
        let runs = chunk.iter().map(|&(n, after)| async move {
            let env = scenario(40).await;
            let fault = if after {
                StorageFault::CrashAfter
            } else {
                StorageFault::CrashBefore
            };
            let faults = Faults::new().at_step(n, fault);
            let crashing = collector(&env, &faults, None).await;
            tokio::select! {
                report = crashing.run(CRASHED_BUDGET) => panic!("step {n} never reached: {:?}", report.error),
                _ = faults.crashed() => {}
            }
            recover(&env).await;
            assert_ocsf_exactly_once(&env, &format!("crash at step {n}, after: {after}")).await;
        });
        futures::future::join_all(runs).await;
    }
}

/// The lake, whose `n`-th write never returns: before it takes effect, or after.
struct CrashingLake {
    inner: LocalDirStore,
    n: usize,
    after: bool,
    writes: AtomicUsize,
    crashed: Arc<Notify>,
}

#[async_trait]
impl BlobStore for CrashingLake {
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), StoreError> {
        let nth = self.writes.fetch_add(1, Ordering::SeqCst);
        if nth == self.n {
            if self.after {
                self.inner.put(key, body.clone(), content_type).await?;
            }
            self.crashed.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner.put(key, body, content_type).await
    }
    fn describe(&self) -> String {
        "crashing lake".into()
    }
}

/// A run that fails at a write (not a crash: it goes on to derive what is committed, with a
/// batch left pending): the pending batch is not derived, and once redone and committed it is,
/// with what the redo wrote.
#[tokio::test]
async fn a_run_failing_at_any_archive_step_derives_only_what_it_committed() {
    let (_, faults, _) = clean_run(43).await;
    let runs = (1..=faults.steps()).map(|n| async move {
        let env = scenario(43).await;
        let faults = Faults::new().at_step(n, StorageFault::Fail);
        let failed = collector(&env, &faults, None)
            .await
            .run(FAILING_BUDGET)
            .await;
        let stored = env.checkpoint().await.map(|c| c.checkpoint);
        let pending = stored.as_ref().is_some_and(|c| c.pending.is_some());
        if let (Some(ocsf), true) = (&failed.summary.ocsf, pending) {
            // Derived up to the batch pending in the store, not into it (the run's own
            // checkpoint runs one batch ahead when the commit's write failed).
            let stored_sequence = stored.as_ref().map_or(0, |c| c.sequence);
            assert_eq!(ocsf.derived.batches, stored_sequence, "step {n}");
        }
        recover(&env).await;
        assert_ocsf_exactly_once(&env, &format!("failure at step {n}")).await;
    });
    futures::future::join_all(runs).await;
}

#[tokio::test]
async fn a_crash_at_any_write_of_the_derivation_leaves_every_event_once() {
    // 2 batches: per batch its objects (5 classes at most, one day) and its ledger write.
    let reference = scenario(42).await;
    let r = collector(&reference, &Faults::new(), None)
        .await
        .run(DERIVING_BUDGET)
        .await;
    let writes = {
        let o = r.summary.ocsf.expect("derived").derived;
        (o.objects + o.batches) as usize
    };
    assert!(writes >= 6, "{writes} writes");
    let cases: Vec<(usize, bool)> = (0..writes).flat_map(|n| [(n, false), (n, true)]).collect();
    let runs = cases.into_iter().map(|(n, after)| async move {
        let env = scenario(42).await;
        let crashed = Arc::new(Notify::new());
        let lake = Arc::new(CrashingLake {
            inner: LocalDirStore::new(lake_dir(&env)),
            n,
            after,
            writes: AtomicUsize::new(0),
            crashed: crashed.clone(),
        });
        let crashing = collector(&env, &Faults::new(), Some(lake)).await;
        // The derivation starts no batch past the run's budget: room enough on a loaded machine
        // (the crash comes after the lease is released, so nothing waits for this budget).
        tokio::select! {
            report = crashing.run(DERIVING_BUDGET) => panic!("write {n} never reached: {:?}", report.summary.ocsf),
            _ = crashed.notified() => {}
        }
        recover(&env).await;
        assert_ocsf_exactly_once(&env, &format!("derivation write {n}, after: {after}")).await;
    });
    futures::future::join_all(runs).await;
}
