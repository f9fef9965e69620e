//! The OCSF conversion alone, for BENCHMARKS.md: derives the OCSF copy of every batch of a local
//! archive (`logs/` under the directory given, as `make demo` or `atlassian-audit run --output-dir`
//! writes it) into a fresh directory, and prints what it read and wrote and how long it took.
//! Run under `/usr/bin/time -v` for CPU and peak RSS:
//!
//!     cargo bench --bench ocsf_derive -- <bucket dir> [<lake dir>]
//!
//! (`cargo test --all-targets` runs it with no directory: it then says so and measures nothing.)
use atlassian_audit::ocsf::layout::{logs_prefix, parse_logs_key};
use atlassian_audit::ocsf::store::{BlobStore, LocalDirStore};
use atlassian_audit::ocsf::{Derivation, Partition};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

fn dir_bytes(root: &std::path::Path, sub: &str) -> (u64, u64) {
    let mut stack = vec![root.join(sub)];
    let (mut objects, mut bytes) = (0, 0);
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(m) = p.metadata() {
                objects += 1;
                bytes += m.len();
            }
        }
    }
    (objects, bytes)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(bucket) = args.first().map(PathBuf::from) else {
        eprintln!(
            "ocsf_derive: no archive directory given; nothing measured (see the file's header)"
        );
        return;
    };
    let lake = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| bucket.with_file_name("ocsf-bench-lake"));
    let _ = std::fs::remove_dir_all(&lake);
    let archive: Arc<dyn BlobStore> = Arc::new(LocalDirStore::new(&bucket));
    let out: Arc<dyn BlobStore> = Arc::new(LocalDirStore::new(&lake));
    // Every generation in the archive, and its batches.
    let mut generations: BTreeMap<String, u64> = BTreeMap::new();
    for key in archive
        .list(&logs_prefix())
        .await
        .expect("the archive lists")
    {
        if let Some(o) = parse_logs_key(&key) {
            let next = generations.entry(o.generation_tag).or_default();
            *next = (*next).max(o.sequence + 1);
        }
    }
    let derivation = Derivation {
        archive,
        lake: out.clone(),
        state: out,
        folders: Default::default(),
        partition: Partition {
            region: "local".into(),
            account_id: "external".into(),
        },
    };
    let started = Instant::now();
    let mut events = 0;
    for (generation, committed) in &generations {
        // One group a call, as one run derives: call until everything committed is derived.
        loop {
            let r = derivation
                .derive_committed(generation, *committed, None)
                .await
                .expect("derived");
            events += r.events;
            if r.batches == 0 {
                break;
            }
        }
    }
    let took = started.elapsed();
    let (logs_objects, logs_bytes) = dir_bytes(&bucket, "logs");
    let (ext_objects, ext_bytes) = dir_bytes(&lake, "ext");
    println!(
        "{events} events: logs/ {logs_objects} objects {logs_bytes} bytes (gzip NDJSON); ext/ {ext_objects} objects {ext_bytes} bytes (Parquet, zstd); derived in {:.3} s, {:.1} µs/event",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / events.max(1) as f64
    );
}
