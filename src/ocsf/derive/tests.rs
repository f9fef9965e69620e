use super::*;
use crate::ocsf::parquet::event_uids;
use crate::ocsf::OcsfClass;
use crate::sink::{logs_key, MemorySink, ObjectSink};
use bytes::Bytes;
use flate2::write::GzEncoder;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

const GENERATION: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const HOUR: i64 = 1_772_359_200; // 2026-03-01T10:00:00Z

fn event(id: &str, hour: i64, action: &str) -> String {
    let time = chrono::DateTime::from_timestamp(hour + 60, 0)
        .unwrap()
        .to_rfc3339();
    json!({
        "id": id,
        "attributes": {
            "time": time,
            "action": action,
            "actor": {"id": "a", "name": "Avery", "email": "avery@example.com"},
            "context": [{"id": "g", "type": "groups", "attributes": {"groupName": "admins"}},
                        {"id": "u", "type": "users", "attributes": {"email": "casey@example.com"}}],
            "container": [{"id": "org-1", "type": "orgs", "attributes": {"name": "acme"}}]
        },
        "p_source_id": "prod"
    })
    .to_string()
}

fn gzip(lines: &[String]) -> Bytes {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for l in lines {
        writeln!(e, "{l}").unwrap();
    }
    Bytes::from(e.finish().unwrap())
}

/// An archive of `batches` batches, each with two hours (the second a day later) of
/// mixed-class events; ids are `b<seq>-<n>`.
async fn archive(batches: u64) -> (Arc<MemorySink>, Vec<String>) {
    let sink = Arc::new(MemorySink::new());
    let actions = [
        "user_login",
        "group_created",
        "added_org_admin",
        "policy_created",
        "user_created",
    ];
    let mut ids = Vec::new();
    for seq in 0..batches {
        for (h, hour) in [HOUR, HOUR + 86_400].into_iter().enumerate() {
            let lines: Vec<String> = (0..5)
                .map(|n| {
                    let id = format!("b{seq}-{h}-{n}");
                    ids.push(id.clone());
                    event(&id, hour, actions[n])
                })
                .collect();
            BlobStore::put(
                sink.as_ref(),
                &logs_key(hour, GENERATION, seq),
                gzip(&lines),
                "x",
            )
            .await
            .unwrap();
        }
    }
    (sink, ids)
}

fn derivation(archive: Arc<MemorySink>, lake: Arc<dyn BlobStore>) -> Derivation {
    Derivation {
        archive: archive.clone(),
        lake,
        state: archive,
        folders: Default::default(),
        partition: Partition {
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
        },
    }
}

/// Every event id in the OCSF objects under `ext/`, with repeats.
async fn lake_ids(lake: &dyn BlobStore) -> Vec<String> {
    let mut ids = Vec::new();
    for key in lake.list("ext/").await.unwrap() {
        let bytes = lake.get(&key).await.unwrap().unwrap();
        ids.extend(event_uids(bytes).unwrap().into_iter().map(|(_, id)| id));
    }
    ids.sort();
    ids
}

/// A source Security Lake placed under a version folder gets its objects there; the others keep
/// `ext/<source>/`, and every event is in the copy once.
#[tokio::test]
async fn each_class_goes_to_its_sources_folder() {
    let (sink, mut ids) = archive(1).await;
    let mut d = derivation(sink.clone(), sink.clone());
    d.folders = SourceFolders::default().with(
        OcsfClass::Authentication,
        "ext/atlassian_auth/1.0/".to_string(),
    );
    d.derive_committed(GENERATION, 1, None).await.unwrap();
    let auth = sink.list("ext/atlassian_auth/").await.unwrap();
    assert!(!auth.is_empty());
    assert!(
        auth.iter()
            .all(|k| k.starts_with("ext/atlassian_auth/1.0/region=eu-west-1/")),
        "{auth:?}"
    );
    let group = sink.list("ext/atlassian_group/").await.unwrap();
    assert!(!group.is_empty());
    assert!(
        group
            .iter()
            .all(|k| k.starts_with("ext/atlassian_group/region=")),
        "{group:?}"
    );
    ids.sort();
    assert_eq!(lake_ids(sink.as_ref()).await, ids);
}

/// A run's committed batches become one group: one object per class and event day however many
/// batches wrote to the day (here both batches wrote to the same two hours).
#[tokio::test]
async fn committed_batches_become_one_object_per_class_and_day() {
    let (sink, mut ids) = archive(3).await;
    let d = derivation(sink.clone(), sink.clone());
    // Batch 2 is still pending: not derived.
    let report = d.derive_committed(GENERATION, 2, None).await.unwrap();
    assert_eq!(report.batches, 2);
    assert_eq!(report.events, 20);
    // 5 classes × 2 event days, for both batches together.
    assert_eq!(report.objects, 10);
    ids.retain(|id| !id.starts_with("b2-"));
    ids.sort();
    assert_eq!(lake_ids(sink.as_ref()).await, ids);
    let keys = sink.list("ext/atlassian_auth/").await.unwrap();
    assert_eq!(
        keys,
        vec![
            "ext/atlassian_auth/region=eu-west-1/accountId=123456789012/eventDay=20260301/0f1e2d3c4b5a-0000000000-0000000001.zstd.parquet",
            "ext/atlassian_auth/region=eu-west-1/accountId=123456789012/eventDay=20260302/0f1e2d3c4b5a-0000000000-0000000001.zstd.parquet",
        ]
    );
    // Nothing more until the next commit; then only the new batch.
    assert_eq!(
        d.derive_committed(GENERATION, 2, None)
            .await
            .unwrap()
            .batches,
        0
    );
    assert_eq!(
        d.derive_committed(GENERATION, 3, None)
            .await
            .unwrap()
            .batches,
        1
    );
    assert_eq!(lake_ids(sink.as_ref()).await.len(), 30);
}

#[tokio::test]
async fn deriving_again_writes_the_same_bytes_under_the_same_keys() {
    let (sink, _) = archive(2).await;
    let d = derivation(sink.clone(), sink.clone());
    d.derive_committed(GENERATION, 2, None).await.unwrap();
    let first: BTreeMap<String, Bytes> = sink
        .objects()
        .into_iter()
        .filter(|(k, _)| k.starts_with("ext/"))
        .map(|(k, o)| (k, o.body))
        .collect();
    // The ledger unreadable: rebuilt from the objects' names, the last group (here the only
    // one) is derived again, to the same objects.
    BlobStore::put(
        sink.as_ref(),
        "ocsf-state/atlassian_audit/0f1e2d3c4b5a.json",
        Bytes::from("{}"),
        "x",
    )
    .await
    .unwrap();
    let again = d.derive_committed(GENERATION, 2, None).await.unwrap();
    assert_eq!(again.batches, 2);
    let second: BTreeMap<String, Bytes> = sink
        .objects()
        .into_iter()
        .filter(|(k, _)| k.starts_with("ext/"))
        .map(|(k, o)| (k, o.body))
        .collect();
    assert_eq!(first, second);
}

#[tokio::test]
async fn an_unmappable_line_is_quarantined_with_its_reason() {
    let (sink, _) = archive(0).await;
    let lines = vec![
        event("good", HOUR, "user_login"),
        // A group change naming no group, in no organization: nothing to name.
        json!({"id": "noentity", "attributes": {"time": "2026-03-01T10:01:00Z", "action": "group_created"}})
            .to_string(),
        "{\"id\": 1}".to_string(),
    ];
    BlobStore::put(
        sink.as_ref(),
        &logs_key(HOUR, GENERATION, 0),
        gzip(&lines),
        "x",
    )
    .await
    .unwrap();
    let d = derivation(sink.clone(), sink.clone());
    let report = d.derive_committed(GENERATION, 1, None).await.unwrap();
    assert_eq!((report.events, report.quarantined), (3, 2));
    assert_eq!(lake_ids(sink.as_ref()).await, vec!["good"]);
    let q = MemorySink::get(
        &sink,
        "ocsf-quarantine/atlassian_audit/0f1e2d3c4b5a-0000000000.json.gz",
    )
    .expect("a quarantine object");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&q.body[..]), &mut text)
        .unwrap();
    let reasons: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        reasons[0]["error"],
        "Entity Management needs the entity changed, and the event has no context or container"
    );
    assert_eq!(reasons[1]["error"], "the event has no id");
    assert!(reasons[1]["line"].as_str().unwrap().contains("\"id\": 1"));
}

#[tokio::test]
async fn other_generations_are_left_to_their_own_task() {
    let (sink, _) = archive(1).await;
    let d = derivation(sink.clone(), sink.clone());
    let report = d
        .derive_committed("another-generation", 5, None)
        .await
        .unwrap();
    assert_eq!((report.batches, report.events), (MAX_GROUP_BATCHES, 0));
    assert!(lake_ids(sink.as_ref()).await.is_empty());
}

/// A store whose `n`-th write fails, before or after it takes effect: what a crash leaves.
struct FailingWrite {
    inner: Arc<MemorySink>,
    n: usize,
    after: bool,
    writes: AtomicUsize,
}

#[async_trait::async_trait]
impl BlobStore for FailingWrite {
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        BlobStore::get(self.inner.as_ref(), key).await
    }
    async fn put(&self, key: &str, body: Bytes, t: &str) -> Result<(), StoreError> {
        let nth = self.writes.fetch_add(1, Ordering::SeqCst);
        if nth == self.n && !self.after {
            return Err(crash(key));
        }
        BlobStore::put(self.inner.as_ref(), key, body, t).await?;
        if nth == self.n {
            return Err(crash(key));
        }
        Ok(())
    }
    fn describe(&self) -> String {
        "failing store".into()
    }
}

fn crash(key: &str) -> StoreError {
    StoreError {
        store: "test".into(),
        action: "write",
        key: key.into(),
        reason: "crashed".into(),
    }
}

/// The crash matrix of one group: a crash before or after each of its writes (the ledger's
/// record of the group, its 10 objects, the ledger's end), then, with the ledger kept or lost,
/// more batches committed and derivations until all is derived: every event exactly once.
#[tokio::test]
async fn a_crash_at_any_write_leaves_every_event_exactly_once_after_the_next_derivation() {
    let (_, mut expected) = archive(5).await;
    expected.sort();
    // The first group (MAX_GROUP_BATCHES of the 3 committed): its record in the ledger, 5 classes
    // × 2 days (every batch writes to the same two hours), the ledger's end.
    let writes = 12;
    for n in 0..writes {
        for (after, ledger_lost) in [(false, false), (true, false), (false, true), (true, true)] {
            let (sink, _) = archive(5).await;
            let failing = Arc::new(FailingWrite {
                inner: sink.clone(),
                n,
                after,
                writes: AtomicUsize::new(0),
            });
            let crashed = Derivation {
                archive: sink.clone(),
                lake: failing.clone(),
                state: failing,
                folders: Default::default(),
                partition: derivation(sink.clone(), sink.clone()).partition,
            };
            assert!(
                crashed.derive_committed(GENERATION, 3, None).await.is_err(),
                "write {n} failed"
            );
            if ledger_lost {
                ObjectSink::delete(
                    sink.as_ref(),
                    "ocsf-state/atlassian_audit/0f1e2d3c4b5a.json",
                )
                .await
                .unwrap();
            }
            // Two more batches committed since: the group under way first, then the rest.
            let d = derivation(sink.clone(), sink.clone());
            while d
                .derive_committed(GENERATION, 5, None)
                .await
                .unwrap()
                .batches
                > 0
            {}
            assert_eq!(
                lake_ids(sink.as_ref()).await,
                expected,
                "crash at write {n} (after: {after}, ledger lost: {ledger_lost})"
            );
        }
    }
}

/// A backlog is derived a group of at most MAX_GROUP_BATCHES a run.
#[tokio::test]
async fn a_run_derives_at_most_one_group() {
    let (sink, ids) = archive(MAX_GROUP_BATCHES + 2).await;
    let d = derivation(sink.clone(), sink.clone());
    let first = d
        .derive_committed(GENERATION, MAX_GROUP_BATCHES + 2, None)
        .await
        .unwrap();
    assert_eq!((first.batches, first.objects), (MAX_GROUP_BATCHES, 10));
    let second = d
        .derive_committed(GENERATION, MAX_GROUP_BATCHES + 2, None)
        .await
        .unwrap();
    assert_eq!((second.batches, second.objects), (2, 10));
    assert_eq!(lake_ids(sink.as_ref()).await.len(), ids.len());
}

#[tokio::test]
async fn a_deadline_stops_before_a_group() {
    let (sink, _) = archive(3).await;
    let d = derivation(sink.clone(), sink.clone());
    let report = d
        .derive_committed(GENERATION, 3, Some(Instant::now()))
        .await
        .unwrap();
    assert_eq!(report.batches, 0);
    assert_eq!(
        d.derive_committed(GENERATION, 3, None)
            .await
            .unwrap()
            .batches,
        MAX_GROUP_BATCHES.min(3)
    );
}
