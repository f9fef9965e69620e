//! Test code shared by the root package's test targets: `integration` (no AWS), `aws` (moto) and
//! `campaign` (moto) use all of it, each with `use atlassian_audit_test_support as support;` at
//! its root; `ocsf_tables`, `query_schema` and `stack_registry` use [`template`]:
//! - [`harness`]: a test environment (a simulated org, and local or moto storage);
//! - [`faults`]: one fault wrapper for any checkpoint store and object sink;
//! - [`contract`]: the cases every checkpoint store and every object sink must pass;
//! - [`fleet`]: many simulated organizations collected as one registry;
//! - [`rules`]: the user rule files of the detection tests, and what they must raise;
//! - [`template`]: `template.yaml` as JSON.
//!
//! A crate of its own, not a module each target includes under `allow(dead_code)`: what only
//! this crate uses is private to it, and a warning once unused.
pub mod contract;
pub mod fleet;
pub mod faults;
pub mod harness;
pub mod rules;
pub mod template;

use simulated_org::{generate_events_for_org, generate_invalid_events_in, now_ms, SimulatedOrg};
use std::path::{Path, PathBuf};

/// The repository's root (the workspace's, where `template.yaml` and `tests/` are): this
/// crate's folder is `test-support/` in it.
pub(crate) fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support/ is a folder of the repository")
}

/// A binary of another package of the workspace (`package` builds it). Cargo sets
/// `CARGO_BIN_EXE_<name>` only for the binaries of the package under test, and only when it
/// compiles that package's tests, so this crate finds it where cargo puts every binary: in
/// `target/<profile>/`, the folder above the running test's executable
/// (`target/<profile>/deps/<test>-<hash>`).
pub(crate) fn workspace_binary(name: &str, package: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the running test's executable");
    let deps = test.parent().expect("the test executable's folder");
    let profile_dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("target/<profile>/")
    } else {
        deps
    };
    let binary = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "the binary {name} ({}) is missing: run `cargo build -p {package}` first (plain `cargo test` on the whole workspace builds it)",
        binary.display()
    );
    binary
}

/// Appends a backlog of `valid` realistic events (and `invalid` ones spread through it) whose
/// event times span the last `hours` hours.
pub fn fill_backlog(org: &SimulatedOrg, seed: u64, valid: usize, invalid: usize, hours: i64) {
    let now = now_ms();
    let range = (now - hours * 3_600_000, now - 60_000);
    let mut events = generate_events_for_org(org.org_id(), seed, valid, range);
    let bad = generate_invalid_events_in(seed, invalid, range);
    let step = events.len() / (bad.len() + 1);
    for (i, e) in bad.into_iter().enumerate().rev() {
        events.insert((i + 1) * step, e);
    }
    org.append_backlog(events);
}

/// New activity, as it happens: processed now, some of it late (old `time`).
pub fn append_live(org: &SimulatedOrg, seed: u64, count: usize) {
    let now = now_ms();
    org.append_events(generate_events_for_org(
        org.org_id(),
        seed,
        count,
        (now - 3_600_000, now),
    ));
}

/// An API key no test data contains by chance, to search output for.
pub fn distinctive_key() -> String {
    format!("ATATT3xFfGF0-{}-KEYMATERIAL", uuid::Uuid::new_v4().simple())
}

/// Every file under `dir`, temporary ones included, as bytes (gzip objects decompressed).
pub fn all_file_contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    atlassian_audit::sink::files_under(dir)
        .expect("a readable folder")
        .into_iter()
        .map(|file| {
            let bytes = std::fs::read(&file.path).expect("a readable file");
            let bytes = if file.key.ends_with(".gz") {
                let mut text = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&bytes[..]),
                    &mut text,
                )
                .expect("a gzip object");
                text
            } else {
                bytes
            };
            (file.path.display().to_string(), bytes)
        })
        .collect()
}

/// Asserts `stored` is `before` but for its lease takes: a run that took the lease and was then
/// refused or failed was counted by the store, and changed nothing else.
pub fn assert_checkpoint_unchanged(
    stored: &atlassian_audit::checkpoint::Checkpoint,
    before: &atlassian_audit::checkpoint::Checkpoint,
    what: &str,
) {
    let counted = atlassian_audit::checkpoint::Checkpoint {
        lease_takes: before.lease_takes,
        ..stored.clone()
    };
    assert_eq!(&counted, before, "{what}");
}

pub fn assert_absent(key: &str, what: &str, haystack: &[u8]) {
    let text = String::from_utf8_lossy(haystack);
    assert!(!text.contains(key), "the API key appears in {what}");
    // Not even a large piece of it.
    assert!(
        !text.contains(&key[..24]),
        "part of the API key appears in {what}"
    );
}

/// Scenarios both storages run.
pub mod scenario {
    use super::harness::{StoredObject, TestEnv};
    use super::{append_live, fill_backlog};
    use atlassian_audit::checkpoint::Checkpoint;
    use atlassian_audit::collector::RunReport;
    use atlassian_audit::collector::StopReason;
    use atlassian_audit::metrics::RunMetrics;

    /// 1,234 events (and 3 invalid ones) over 30 hours, collected; 57 new ones, collected; then
    /// a run with nothing new, which still reports. Every event lands exactly once.
    pub async fn backlog_then_live(env: &TestEnv) -> [RunReport; 3] {
        fill_backlog(&env.org, 1, 1_234, 3, 30);
        let first = env.run().await;
        assert!(first.error.is_none(), "{:?}", first.error);
        let s = &first.summary;
        assert!(s.run_succeeded);
        assert_eq!(s.stop_reason, StopReason::CaughtUp);
        assert_eq!(s.events_processed, 1_234);
        assert_eq!(s.quarantined_events, 3);
        assert_eq!(
            s.pages_fetched, 8,
            "1,237 events in pages of 200, then the empty page that ends the stream"
        );
        assert!(s.bytes_written > 0 && s.objects_written > 0);
        assert!(s.ingest_lag_seconds.is_some());

        append_live(&env.org, 2, 57);
        let second = env.run().await;
        assert!(second.error.is_none(), "{:?}", second.error);
        assert_eq!(second.summary.events_processed, 57);

        // Nothing new: a run that writes nothing still reports (the no-events alarm needs it).
        let third = env.run().await;
        assert!(third.error.is_none());
        assert_eq!(third.summary.events_processed, 0);
        assert!(third.summary.run_succeeded);

        env.assert_exactly_once().await;
        let stored = env.checkpoint().await.expect("a checkpoint");
        assert!(
            stored.lease.is_none(),
            "the lease is released after each run"
        );
        assert!(stored.checkpoint.cursor.is_some());
        [first, second, third]
    }

    /// Someone with write access to the table rewinds the checkpoint, or deletes it, between two
    /// scheduled runs, and each run is a cold start (a new process, nothing remembered): the run
    /// reads the high-water mark beside the archive, refuses the table, says so, reports
    /// `CheckpointWentBackwards`, gives the lease back and writes nothing, not even a request to
    /// the API. The honest record put back, collection goes on exactly once; an operator who
    /// resets the table on purpose deletes the mark, and the next run starts afresh without
    /// touching the archived objects.
    pub async fn tampered_table_is_refused_on_a_cold_start(env: &TestEnv) {
        append_live(&env.org, 5, 30);
        let first = env.run().await;
        assert!(first.error.is_none(), "{:?}", first.error);
        let honest = env.checkpoint().await.expect("a checkpoint").checkpoint;
        assert!(honest.sequence >= 1);
        env.assert_mark_follows_checkpoint(true).await;
        append_live(&env.org, 6, 10);

        let mut rewound = honest.clone();
        rewound.sequence = 0;
        env.overwrite_checkpoint(&rewound).await;
        assert_refused(env, Some(&rewound)).await;
        let mut other_generation = honest.clone();
        other_generation.generation = "a-generation-never-seen".into();
        env.overwrite_checkpoint(&other_generation).await;
        assert_refused(env, Some(&other_generation)).await;
        env.delete_checkpoint().await;
        assert_refused(env, None).await;

        env.overwrite_checkpoint(&honest).await;
        let resumed = env.run().await;
        assert!(resumed.error.is_none(), "{:?}", resumed.error);
        assert_eq!(resumed.summary.events_processed, 10);
        env.assert_exactly_once().await;
        env.assert_mark_follows_checkpoint(true).await;

        // A reset on purpose: the record and the mark deleted; the archive stays as it was.
        let before = env.objects().await;
        env.delete_checkpoint().await;
        env.delete_mark().await;
        let fresh = env.run().await;
        assert!(fresh.error.is_none(), "{:?}", fresh.error);
        assert!(!fresh.summary.checkpoint_went_backwards);
        let after = env.objects().await;
        for old in &before {
            let kept = after.iter().find(|o| o.key == old.key);
            assert_eq!(
                kept.map(|o| &o.text),
                Some(&old.text),
                "{} was kept",
                old.key
            );
        }
        let restarted = env.checkpoint().await.expect("a new checkpoint").checkpoint;
        assert_ne!(restarted.generation, honest.generation, "a new generation");
        env.assert_mark_follows_checkpoint(true).await;
    }

    /// A run refused as having gone backwards says so, with what to do, and reports it.
    pub fn assert_reports_went_backwards(refused: &RunReport) {
        let message = refused
            .error
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.contains("went backwards") && message.contains("writes nothing"),
            "{message}"
        );
        assert!(refused.summary.checkpoint_went_backwards);
        assert!(!refused.summary.run_succeeded);
        let line = RunMetrics::new(&refused.summary).to_emf("NS", 0);
        let line: serde_json::Value = serde_json::from_str(&line).expect("an EMF line");
        assert_eq!(line["CheckpointWentBackwards"], 1.0);
    }

    /// One cold-start run against a tampered table: refused, nothing written, nothing asked.
    async fn assert_refused(env: &TestEnv, table_holds: Option<&Checkpoint>) {
        let (objects, requests) = (env.objects().await, env.org.requests().len());
        let mark = env.mark().await;
        assert_reports_went_backwards(&env.run().await);
        assert_eq!(
            env.objects().await.len(),
            objects.len(),
            "no object written"
        );
        assert_eq!(env.org.requests().len(), requests, "no request to the API");
        assert_eq!(env.mark().await, mark, "the mark was not moved");
        let stored = env.checkpoint().await;
        if let Some(want) = table_holds {
            let stored = stored.expect("the tampered record");
            crate::assert_checkpoint_unchanged(
                &stored.checkpoint,
                want,
                "the checkpoint was not moved",
            );
            assert_eq!(stored.lease, None, "the lease was given back");
        }
    }

    /// Every line is newline-terminated; every event under logs/ is in the partition of the hour
    /// of its p_event_time, normalized for Panther with its fields kept.
    pub fn assert_well_formed(objects: &[StoredObject]) {
        assert!(!objects.is_empty());
        for o in objects {
            assert!(o.text.ends_with('\n'), "every line is newline-terminated");
            if !o.key.starts_with("logs/") {
                continue;
            }
            for line in o.text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                let t = v["p_event_time"].as_str().expect("p_event_time");
                let want = format!(
                    "year={}/month={}/day={}/hour={}/",
                    &t[0..4],
                    &t[5..7],
                    &t[8..10],
                    &t[11..13]
                );
                assert!(o.key.contains(&want), "{} holds an event at {t}", o.key);
                assert_eq!(v["p_log_type"], "Atlassian.Audit");
                assert_eq!(v["p_source_id"], super::harness::SOURCE_ID);
                assert!(
                    v["attributes"]["processedAt"].is_string(),
                    "fields are kept"
                );
            }
        }
    }
}
