//! What every checkpoint store and every object sink must do, written once and run against each
//! of them: `store_contract!(subject)` and `sink_contract!(subject)` expand to one test a case,
//! where `subject` (evaluated in each test, `.await` allowed) is a fresh [`StoreUnderTest`] or
//! [`SinkUnderTest`].
use atlassian_audit::checkpoint::{CheckpointStore, HighWaterMarks};
use atlassian_audit::sink::ObjectSink;
use futures::future::BoxFuture;
use std::any::Any;
use std::sync::Arc;

/// A store to test, and whatever must live as long as it (a temporary directory).
pub struct StoreUnderTest {
    pub store: Arc<dyn CheckpointStore>,
    _keep: Box<dyn Any + Send>,
}

impl StoreUnderTest {
    pub fn new(store: Arc<dyn CheckpointStore>, keep: impl Any + Send) -> Self {
        StoreUnderTest {
            store,
            _keep: Box::new(keep),
        }
    }
}

/// Reads an object back from where the sink keeps it, by key: `None` when there is none.
pub type ReadBack = Box<dyn Fn(&str) -> BoxFuture<'static, Option<Vec<u8>>> + Send + Sync>;

/// A sink to test, how to read its objects back, and whatever must live as long as it.
pub struct SinkUnderTest {
    pub sink: Arc<dyn ObjectSink>,
    pub read: ReadBack,
    _keep: Box<dyn Any + Send>,
}

impl SinkUnderTest {
    pub fn new(sink: Arc<dyn ObjectSink>, read: ReadBack, keep: impl Any + Send) -> Self {
        SinkUnderTest {
            sink,
            read,
            _keep: Box::new(keep),
        }
    }
}

/// One test for each case of [`store`], on the store `$subject` makes.
#[macro_export]
macro_rules! store_contract {
    ($subject:expr) => {
        $crate::store_contract!(@cases $subject;
            the_first_acquire_creates_the_record_with_the_new_generation,
            a_second_owner_is_refused_while_the_lease_is_held,
            an_expired_lease_is_taken_over,
            a_lease_expiring_later_than_any_run_may_hold_one_is_taken_over,
            a_save_without_the_lease_is_refused_as_lease_lost,
            a_full_checkpoint_round_trips,
            a_release_by_another_owner_changes_nothing,
            a_release_frees_the_lease,
            every_lease_taken_is_counted_by_the_store_alone,
        );
    };
    (@cases $subject:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let subject: $crate::contract::StoreUnderTest = $subject;
            $crate::contract::store::$case(subject.store.clone()).await;
        }
    )*};
}
pub use crate::store_contract;

/// One test for each case of [`sink`], on the sink `$subject` makes.
#[macro_export]
macro_rules! sink_contract {
    ($subject:expr) => {
        $crate::sink_contract!(@cases $subject;
            a_put_object_reads_back_byte_for_byte,
            a_put_over_an_object_replaces_it,
            a_delete_removes_the_object_and_only_it,
            deleting_an_absent_object_is_fine,
            the_probe_succeeds,
            hive_partitioned_keys_are_kept_as_given,
        );
    };
    (@cases $subject:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let subject: $crate::contract::SinkUnderTest = $subject;
            $crate::contract::sink::$case(subject.sink.clone(), &subject.read).await;
        }
    )*};
}
pub use crate::sink_contract;

/// One test for each case of [`marks`], on the high-water marks `$subject` makes (a
/// `(Arc<dyn HighWaterMarks>, keep)` pair).
#[macro_export]
macro_rules! marks_contract {
    ($subject:expr) => {
        $crate::marks_contract!(@cases $subject;
            an_absent_mark_reads_as_none,
            a_mark_reads_back_and_a_later_one_replaces_it,
            each_source_has_its_own_mark,
            a_stale_writer_cannot_lower_the_mark,
        );
    };
    (@cases $subject:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let (marks, _keep) = $subject;
            $crate::contract::marks::$case(marks).await;
        }
    )*};
}
pub use crate::marks_contract;

/// The high-water marks' rules: what was written is what is read, one mark a source, and a write
/// lands only on the version it names.
pub mod marks {
    use super::{Arc, HighWaterMarks};
    use atlassian_audit::checkpoint::high_water::raise;
    use atlassian_audit::checkpoint::{Mark, Raised, Replaced, StoredMark};

    fn mark(generation: &str, sequence: u64) -> Mark {
        Mark {
            generation: generation.into(),
            sequence,
        }
    }

    async fn read(marks: &Arc<dyn HighWaterMarks>, source_id: &str) -> Option<Mark> {
        let stored = marks.read(source_id).await.expect("read");
        stored.map(|s| s.mark)
    }

    async fn written(marks: &Arc<dyn HighWaterMarks>, m: &Mark, expected: Option<&str>) -> String {
        match marks.replace("s", m, expected).await.expect("write") {
            Replaced::Written { version } => version,
            Replaced::Moved => panic!("{m:?} on version {expected:?} was refused"),
        }
    }

    pub async fn an_absent_mark_reads_as_none(marks: Arc<dyn HighWaterMarks>) {
        assert_eq!(marks.read("never-written").await.expect("read"), None);
    }

    pub async fn a_mark_reads_back_and_a_later_one_replaces_it(marks: Arc<dyn HighWaterMarks>) {
        let first = written(&marks, &mark("g1", 3), None).await;
        let stored = marks.read("s").await.expect("read").expect("a mark");
        assert_eq!(
            stored,
            StoredMark {
                mark: mark("g1", 3),
                version: first.clone()
            }
        );
        let second = written(&marks, &mark("g2", 0), Some(&first)).await;
        let stored = marks.read("s").await.expect("read").expect("a mark");
        assert_eq!(
            stored,
            StoredMark {
                mark: mark("g2", 0),
                version: second
            }
        );
    }

    pub async fn each_source_has_its_own_mark(marks: Arc<dyn HighWaterMarks>) {
        for (source, m) in [("a", mark("ga", 1)), ("b", mark("gb", 7))] {
            let w = marks.replace(source, &m, None).await.expect("write");
            assert!(matches!(w, Replaced::Written { .. }), "{source}: {w:?}");
        }
        assert_eq!(read(&marks, "a").await, Some(mark("ga", 1)));
        assert_eq!(read(&marks, "b").await, Some(mark("gb", 7)));
        assert!(marks.describe("a") != marks.describe("b"));
    }

    /// Two runs read the mark at 3; one raises it to 9. The other, stale, can neither replace
    /// the version it read nor create the mark anew, and its raise reads the mark again and
    /// leaves it at 9 (a raise still ahead once read again lands).
    pub async fn a_stale_writer_cannot_lower_the_mark(marks: Arc<dyn HighWaterMarks>) {
        let at_3 = raise(marks.as_ref(), "s", &mark("g", 3), None).await;
        assert!(matches!(at_3, Ok(Raised::Written(_))), "{at_3:?}");
        let seen = marks.read("s").await.expect("read").expect("a mark");
        let raised = raise(marks.as_ref(), "s", &mark("g", 9), Some(seen.clone())).await;
        let Ok(Raised::Written(at_9)) = raised else {
            panic!("not raised to 9: {raised:?}");
        };

        let stale = marks.replace("s", &mark("g", 5), Some(&seen.version)).await;
        assert_eq!(stale.expect("a stale write"), Replaced::Moved);
        let create = marks.replace("s", &mark("g", 5), None).await;
        assert_eq!(create.expect("a stale creation"), Replaced::Moved);
        let lower = raise(marks.as_ref(), "s", &mark("g", 5), Some(seen.clone())).await;
        assert_eq!(
            lower.expect("a stale raise"),
            Raised::NotAhead(Some(at_9.clone()))
        );
        assert_eq!(read(&marks, "s").await, Some(mark("g", 9)));

        let further = raise(marks.as_ref(), "s", &mark("g", 12), Some(seen)).await;
        let Ok(Raised::Written(at_12)) = further else {
            panic!("not raised to 12: {further:?}");
        };
        assert_eq!(marks.read("s").await.expect("read"), Some(at_12));
    }
}

/// The checkpoint store's rules: the lease decides who may move a checkpoint.
pub mod store {
    use crate::harness::unique;
    use atlassian_audit::checkpoint::{
        AcquireRequest, Checkpoint, CheckpointError, CheckpointStore, Fence, Lease, PendingBatch,
        RecentEvents, StagedLate, LONGEST_LEASE,
    };
    use std::sync::Arc;

    /// "Now" for every case: the stores take the time as an argument.
    const NOW: i64 = 1_700_000_000_000;
    const MINUTE: i64 = 60_000;

    fn lease(owner: &str, until_ms: i64) -> Lease {
        Lease {
            owner: owner.into(),
            until_ms,
        }
    }

    async fn take(store: &Arc<dyn CheckpointStore>, id: &str, l: Lease) -> Checkpoint {
        store
            .acquire(AcquireRequest {
                source_id: id,
                lease: &l,
                fence: Fence::longest(),
                now_ms: NOW,
                new_generation: "gen-1",
            })
            .await
            .unwrap_or_else(|e| panic!("{}: the lease on a free source: {e}", store.describe()))
    }

    /// Asks for lease `l` at `now_ms` (a record created now gets generation `gen-2`).
    async fn take_at(
        store: &Arc<dyn CheckpointStore>,
        id: &str,
        l: &Lease,
        now_ms: i64,
    ) -> Result<Checkpoint, CheckpointError> {
        store
            .acquire(AcquireRequest {
                source_id: id,
                lease: l,
                fence: Fence::longest(),
                now_ms,
                new_generation: "gen-2",
            })
            .await
    }

    async fn stored_lease(store: &Arc<dyn CheckpointStore>, id: &str) -> Option<Lease> {
        store
            .load(id)
            .await
            .expect("load")
            .expect("the record")
            .lease
    }

    fn assert_lease_lost(result: Result<(), CheckpointError>, id: &str, what: &str) {
        match result {
            Err(CheckpointError::LeaseLost { source_id }) => assert_eq!(source_id, id, "{what}"),
            other => panic!("{what}: {other:?}, not LeaseLost"),
        }
    }

    pub async fn the_first_acquire_creates_the_record_with_the_new_generation(
        store: Arc<dyn CheckpointStore>,
    ) {
        let id = unique("source");
        assert!(
            store.load(&id).await.expect("load").is_none(),
            "no record before the first acquire"
        );
        let cp = take(&store, &id, lease("a", NOW + MINUTE)).await;
        let first = Checkpoint {
            lease_takes: 1,
            ..Checkpoint::new("gen-1".into())
        };
        assert_eq!(cp, first);
        let stored = store.load(&id).await.expect("load").expect("the record");
        assert_eq!(stored.checkpoint, first);
        assert_eq!(stored.lease, Some(lease("a", NOW + MINUTE)));

        // The owner renews: the record keeps its generation, the lease its new expiry.
        let again = store
            .acquire(AcquireRequest {
                source_id: &id,
                lease: &lease("a", NOW + 2 * MINUTE),
                fence: Fence::longest(),
                now_ms: NOW + 1_000,
                new_generation: "gen-2",
            })
            .await
            .expect("the owner takes its own lease again");
        assert_eq!(again.generation, "gen-1", "the generation is the record's");
        assert_eq!(
            stored_lease(&store, &id).await,
            Some(lease("a", NOW + 2 * MINUTE))
        );
    }

    pub async fn a_second_owner_is_refused_while_the_lease_is_held(
        store: Arc<dyn CheckpointStore>,
    ) {
        let id = unique("source");
        let longest = LONGEST_LEASE.as_millis() as i64;
        // Held for a minute, and for as long as any run may hold it.
        for until in [NOW + MINUTE, NOW + longest] {
            store
                .acquire(AcquireRequest {
                    source_id: &id,
                    lease: &lease("a", until),
                    fence: Fence::longest(),
                    now_ms: NOW,
                    new_generation: "gen-1",
                })
                .await
                .expect("the owner takes its lease");
            // Up to and including the millisecond it expires.
            for now in [NOW, NOW + MINUTE / 2, NOW + MINUTE] {
                let err = store
                    .acquire(AcquireRequest {
                        source_id: &id,
                        lease: &lease("b", now + MINUTE),
                        fence: Fence::longest(),
                        now_ms: now,
                        new_generation: "gen-2",
                    })
                    .await
                    .expect_err("b takes a held lease");
                match err {
                    CheckpointError::LeaseHeld {
                        source_id,
                        until_ms,
                    } => {
                        assert_eq!(source_id, id);
                        assert_eq!(until_ms, until, "the refusal says until when");
                    }
                    other => panic!("{other:?}, not LeaseHeld"),
                }
            }
            assert_eq!(stored_lease(&store, &id).await, Some(lease("a", until)));
        }
    }

    pub async fn an_expired_lease_is_taken_over(store: Arc<dyn CheckpointStore>) {
        let id = unique("source");
        let mut cp = take(&store, &id, lease("a", NOW + 1_000)).await;
        cp.sequence = 3;
        store.save(&id, "a", &cp).await.expect("the owner saves");

        let taken = take_at(&store, &id, &lease("b", NOW + MINUTE), NOW + 1_001)
            .await
            .expect("an expired lease is free");
        let as_it_was = Checkpoint {
            lease_takes: 2,
            ..cp.clone()
        };
        assert_eq!(
            taken, as_it_was,
            "the new owner gets the checkpoint as it was"
        );
        assert_eq!(
            stored_lease(&store, &id).await,
            Some(lease("b", NOW + MINUTE))
        );
        cp.sequence = 4;
        assert_lease_lost(store.save(&id, "a", &cp).await, &id, "the old owner saves");
        store
            .save(&id, "b", &cp)
            .await
            .expect("the new owner saves");
    }

    pub async fn a_lease_expiring_later_than_any_run_may_hold_one_is_taken_over(
        store: Arc<dyn CheckpointStore>,
    ) {
        let latest = Lease::latest_valid_until_ms(NOW);
        for forged in [latest + 1, NOW + 10 * 86_400_000, i64::MAX] {
            let id = unique("source");
            take(&store, &id, lease("forged", forged)).await;
            store
                .acquire(AcquireRequest {
                    source_id: &id,
                    lease: &lease("b", NOW + MINUTE),
                    fence: Fence::longest(),
                    now_ms: NOW,
                    new_generation: "gen-2",
                })
                .await
                .unwrap_or_else(|e| panic!("a lease until {forged} stops b: {e}"));
            assert_eq!(
                stored_lease(&store, &id).await,
                Some(lease("b", NOW + MINUTE))
            );
        }
    }

    pub async fn a_save_without_the_lease_is_refused_as_lease_lost(
        store: Arc<dyn CheckpointStore>,
    ) {
        let id = unique("source");
        let mut cp = Checkpoint::new("gen-1".into());
        cp.sequence = 9;
        assert_lease_lost(
            store.save(&id, "a", &cp).await,
            &id,
            "a save with no record",
        );
        assert!(
            store.load(&id).await.expect("load").is_none(),
            "a refused save creates no record"
        );

        take(&store, &id, lease("a", NOW + MINUTE)).await;
        assert_lease_lost(
            store.save(&id, "b", &cp).await,
            &id,
            "a save by a non-owner",
        );
        store.release(&id, "a").await.expect("release");
        assert_lease_lost(
            store.save(&id, "a", &cp).await,
            &id,
            "a save after the release",
        );
        let stored = store.load(&id).await.expect("load").expect("the record");
        assert_eq!(
            stored.checkpoint,
            Checkpoint {
                lease_takes: 1,
                ..Checkpoint::new("gen-1".into())
            },
            "refused saves changed the checkpoint"
        );
    }

    /// What detection keeps after one API token was created: a match and an open alert.
    fn detect_state_with_an_open_alert() -> atlassian_audit::detect::DetectState {
        let pack = atlassian_audit::detect::RulePack::builtin().expect("the built-in pack");
        let event = serde_json::json!({"id": "e1", "attributes": {
            "action": "api_token_created", "time": "2023-11-14T21:00:00Z",
            "actor": {"id": "a1", "name": "Ann"}}});
        atlassian_audit::detect::detect(&pack, &Default::default(), &[event]).state
    }

    pub async fn a_full_checkpoint_round_trips(store: Arc<dyn CheckpointStore>) {
        let id = unique("source");
        let taken = take(&store, &id, lease("a", NOW + MINUTE)).await;
        let mut recent = RecentEvents::default();
        for i in 0..50 {
            recent.insert(&format!("event-{i}"), NOW - 300_000 + i * 1_000);
        }
        let full = Checkpoint {
            generation: "gen-1".into(),
            sequence: 42,
            cursor: Some("eyJwYWdlIjoyfQ==/+ and &odd=chars".into()),
            window_start_ms: Some(NOW - 300_000),
            newest_processed_at_ms: Some(NOW - 1),
            recent,
            pending: Some(PendingBatch {
                event_count: 500,
                from_ms: Some(NOW - 600_000),
                hours: vec![1_699_995_600, 1_699_999_200],
                quarantine: true,
                staging: true,
                alert_hours: vec![1_699_995_600],
                announce_failures: 2,
                redos: 1,
                at_lease_take: Some(7),
                over_cap_summary: true,
            }),
            events_written: 123_456,
            detect: detect_state_with_an_open_alert(),
            batch_cap: Some(200),
            lease_takes: taken.lease_takes,
            staged: vec![
                StagedLate {
                    sequence: 40,
                    events: 12,
                    bytes: 3_456,
                },
                StagedLate {
                    sequence: 41,
                    events: 1,
                    bytes: 700,
                },
            ],
        };
        assert!(!full.detect.is_empty());
        store.save(&id, "a", &full).await.expect("save");
        let stored = store.load(&id).await.expect("load").expect("the record");
        assert_eq!(stored.checkpoint, full);
        assert_eq!(stored.lease, Some(lease("a", NOW + MINUTE)), "still held");

        // And back to empty fields: nothing of the full one is left.
        let cleared = Checkpoint {
            sequence: 43,
            events_written: 123_456,
            lease_takes: taken.lease_takes,
            ..Checkpoint::new("gen-1".into())
        };
        store.save(&id, "a", &cleared).await.expect("save");
        let stored = store.load(&id).await.expect("load").expect("the record");
        assert_eq!(stored.checkpoint, cleared);
    }

    pub async fn a_release_by_another_owner_changes_nothing(store: Arc<dyn CheckpointStore>) {
        let id = unique("source");
        take(&store, &id, lease("a", NOW + MINUTE)).await;
        store
            .release(&id, "b")
            .await
            .expect("releasing what one does not hold is no error");
        assert_eq!(
            stored_lease(&store, &id).await,
            Some(lease("a", NOW + MINUTE))
        );
        let unknown = unique("source");
        store
            .release(&unknown, "a")
            .await
            .expect("releasing an unknown source is no error");
        assert!(
            store.load(&unknown).await.expect("load").is_none(),
            "a release creates no record"
        );
    }

    pub async fn a_release_frees_the_lease(store: Arc<dyn CheckpointStore>) {
        let id = unique("source");
        let mut cp = take(&store, &id, lease("a", NOW + MINUTE)).await;
        cp.sequence = 1;
        store.save(&id, "a", &cp).await.expect("save");
        store.release(&id, "a").await.expect("release");
        let stored = store.load(&id).await.expect("load").expect("the record");
        assert!(stored.lease.is_none(), "{:?}", stored.lease);
        assert_eq!(stored.checkpoint, cp, "the checkpoint stays");
        // Long before the released lease would have expired, another run takes it.
        let taken = take_at(&store, &id, &lease("b", NOW + MINUTE), NOW + 1)
            .await
            .expect("a released lease is free");
        let counted = Checkpoint {
            lease_takes: cp.lease_takes + 1,
            ..cp
        };
        assert_eq!(taken, counted);
    }

    /// The store counts the leases it grants (what shrinks a pending batch whose runs keep dying
    /// before they write anything): a refused take does not count, and no save changes it.
    pub async fn every_lease_taken_is_counted_by_the_store_alone(store: Arc<dyn CheckpointStore>) {
        let id = unique("source");
        let takes = |store: Arc<dyn CheckpointStore>, id: String| async move {
            let stored = store.load(&id).await.expect("load").expect("the record");
            stored.checkpoint.lease_takes
        };
        let mut cp = take(&store, &id, lease("a", NOW + 1_000)).await;
        assert_eq!(cp.lease_takes, 1, "the first take");
        let refused = take_at(&store, &id, &lease("b", NOW + MINUTE), NOW + 500).await;
        assert!(refused.is_err(), "b took a held lease");
        assert_eq!(takes(store.clone(), id.clone()).await, 1, "a refused take");
        cp.lease_takes = 99;
        cp.sequence = 5;
        store.save(&id, "a", &cp).await.expect("the owner saves");
        assert_eq!(takes(store.clone(), id.clone()).await, 1, "a save");
        // The owner taking its lease again, then another run once it expired.
        for (owner, now, want) in [("a", NOW + 600, 2), ("b", NOW + 1_601, 3)] {
            let taken = take_at(&store, &id, &lease(owner, now + 1_000), now)
                .await
                .unwrap_or_else(|e| panic!("{owner} takes the lease: {e}"));
            assert_eq!((taken.lease_takes, taken.sequence), (want, 5), "{owner}");
        }
    }
}

/// The object sink's rules: what is put can be read back as it was, until deleted.
pub mod sink {
    use super::ReadBack;
    use atlassian_audit::sink::{logs_key, quarantine_key, EncodedObject, ObjectSink};
    use std::io::Write;
    use std::sync::Arc;

    /// A gzip NDJSON object of `lines` lines mentioning `tag`.
    fn object(tag: &str, lines: usize) -> EncodedObject {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..lines {
            writeln!(gz, r#"{{"id":"{tag}-{i}","n":{i}}}"#).expect("gzip");
        }
        EncodedObject {
            body: gz.finish().expect("gzip").into(),
            event_count: lines,
        }
    }

    async fn put(sink: &Arc<dyn ObjectSink>, key: &str, o: &EncodedObject) {
        sink.put(key, o)
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
    }

    async fn assert_holds(read: &ReadBack, key: &str, o: &EncodedObject, what: &str) {
        let got = read(key)
            .await
            .unwrap_or_else(|| panic!("{what}: {key} is absent"));
        assert!(got == o.body[..], "{what}: {key} holds other bytes");
    }

    const KEY: &str =
        "logs/atlassian_audit/year=2024/month=02/day=29/hour=23/20240229T230000Z-gen-0000000001.json.gz";

    pub async fn a_put_object_reads_back_byte_for_byte(sink: Arc<dyn ObjectSink>, read: &ReadBack) {
        assert!(read(KEY).await.is_none(), "absent before the put");
        let o = object("a", 300);
        put(&sink, KEY, &o).await;
        assert_holds(read, KEY, &o, "after the put").await;
    }

    pub async fn a_put_over_an_object_replaces_it(sink: Arc<dyn ObjectSink>, read: &ReadBack) {
        let (long, short) = (object("first", 500), object("second", 3));
        put(&sink, KEY, &long).await;
        // Shorter than the first: a sink that wrote over it in place would leave its tail.
        put(&sink, KEY, &short).await;
        assert_holds(read, KEY, &short, "after the second put").await;
    }

    pub async fn a_delete_removes_the_object_and_only_it(
        sink: Arc<dyn ObjectSink>,
        read: &ReadBack,
    ) {
        let other = KEY.replace("0000000001", "0000000002");
        let (a, b) = (object("a", 5), object("b", 5));
        put(&sink, KEY, &a).await;
        put(&sink, &other, &b).await;
        sink.delete(KEY).await.expect("delete");
        assert!(read(KEY).await.is_none(), "{KEY} is still there");
        assert_holds(read, &other, &b, "beside the deleted one").await;
    }

    pub async fn deleting_an_absent_object_is_fine(sink: Arc<dyn ObjectSink>, read: &ReadBack) {
        sink.delete(KEY)
            .await
            .expect("deleting what was never written");
        put(&sink, KEY, &object("a", 1)).await;
        sink.delete(KEY).await.expect("delete");
        sink.delete(KEY).await.expect("deleting it a second time");
        assert!(read(KEY).await.is_none());
    }

    pub async fn the_probe_succeeds(sink: Arc<dyn ObjectSink>, read: &ReadBack) {
        sink.probe()
            .await
            .unwrap_or_else(|e| panic!("the probe of a fresh sink: {e}"));
        put(&sink, KEY, &object("a", 1)).await;
        sink.probe()
            .await
            .unwrap_or_else(|e| panic!("the probe of a sink holding an object: {e}"));
        assert!(read(KEY).await.is_some());
    }

    pub async fn hive_partitioned_keys_are_kept_as_given(
        sink: Arc<dyn ObjectSink>,
        read: &ReadBack,
    ) {
        let generation = "3f2a9c1b-77aa-4d00-9e11-0123456789ab";
        // Hours in two years, before 1970 and at the end of a day, and the quarantine.
        let mut keys: Vec<String> = [1_709_247_600, 1_704_067_200 - 3_600, -3_600, 0]
            .into_iter()
            .enumerate()
            .map(|(i, hour)| logs_key(hour, generation, i as u64))
            .collect();
        keys.push(quarantine_key(generation, 7));
        assert!(keys[0].contains("/year=2024/month=02/day=29/hour=23/"));
        assert!(keys[1].contains("/year=2023/month=12/day=31/hour=23/"));
        let objects: Vec<_> = keys.iter().map(|k| object(k, 2)).collect();
        for (k, o) in keys.iter().zip(&objects) {
            put(&sink, k, o).await;
        }
        for (k, o) in keys.iter().zip(&objects) {
            assert_holds(read, k, o, "among five partitions").await;
        }
    }
}
