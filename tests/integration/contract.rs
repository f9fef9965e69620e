//! The checkpoint store and object sink contracts (test-support/src/contract.rs) on the stores and
//! sinks that need no AWS: the state file and the directory the CLI uses, and the in-memory
//! test doubles. (DynamoDB and S3: in the `aws` target.)
use crate::support::contract::{
    marks_contract, sink_contract, store_contract, SinkUnderTest, StoreUnderTest,
};
use atlassian_audit::checkpoint::{
    FileCheckpointStore, HighWaterMarks, LocalDirHighWaterMarks, MemoryCheckpointStore,
    MemoryHighWaterMarks,
};
use atlassian_audit::sink::{LocalDirSink, MemorySink};
use futures::future::BoxFuture;
use std::sync::Arc;

fn file_store() -> StoreUnderTest {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // In a directory that does not exist yet, as a first run finds it.
    let store = FileCheckpointStore::new(dir.path().join("state/checkpoint.json"));
    StoreUnderTest::new(Arc::new(store), dir)
}

fn memory_store() -> StoreUnderTest {
    StoreUnderTest::new(Arc::new(MemoryCheckpointStore::new()), ())
}

/// A directory sink (in a directory that does not exist yet), read back from the files.
fn directory_sink() -> SinkUnderTest {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("out");
    let sink = Arc::new(LocalDirSink::new(root.clone()));
    let read = Box::new(move |key: &str| {
        let path = root.join(key);
        Box::pin(async move {
            match std::fs::read(&path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => panic!("read {}: {e}", path.display()),
            }
        }) as BoxFuture<'static, Option<Vec<u8>>>
    });
    SinkUnderTest::new(sink, read, dir)
}

/// The in-memory sink, read back through what it says it holds.
fn memory_sink() -> SinkUnderTest {
    let sink = Arc::new(MemorySink::new());
    let held = sink.clone();
    let read = Box::new(move |key: &str| {
        let got = held.get(key).map(|o| o.body.to_vec());
        // What it lists agrees with what it holds.
        assert_eq!(held.keys().contains(&key.to_string()), got.is_some());
        assert_eq!(held.objects().len(), held.keys().len());
        Box::pin(async move { got }) as BoxFuture<'static, Option<Vec<u8>>>
    });
    SinkUnderTest::new(sink, read, ())
}

mod file_store {
    super::store_contract!(super::file_store());
}

mod memory_store {
    super::store_contract!(super::memory_store());
}

mod directory_sink {
    super::sink_contract!(super::directory_sink());
}

mod memory_sink {
    super::sink_contract!(super::memory_sink());
}

/// Marks under an output directory that does not exist yet, as a first run finds it.
fn directory_marks() -> (Arc<dyn HighWaterMarks>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let marks = LocalDirHighWaterMarks::new(dir.path().join("out"));
    (Arc::new(marks), dir)
}

mod directory_marks {
    super::marks_contract!(super::directory_marks());
}

fn memory_marks() -> (Arc<dyn HighWaterMarks>, ()) {
    (Arc::new(MemoryHighWaterMarks::new()), ())
}

mod memory_marks {
    super::marks_contract!(super::memory_marks());
}
