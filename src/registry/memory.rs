use super::Result;
use super::{Backfill, LastRun, RegisteredSource, RegistryError, SourceRegistry};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Sources in memory (the demo's three organizations, tests): the same rules as the DynamoDB
/// registry, nothing kept past the process.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    sources: Mutex<BTreeMap<String, RegisteredSource>>,
}

impl MemoryRegistry {
    pub fn new() -> Self {
        MemoryRegistry::default()
    }

    fn sources(&self) -> MutexGuard<'_, BTreeMap<String, RegisteredSource>> {
        // Each change is one assignment after its checks: a panic elsewhere leaves none half done.
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn change(
        &self,
        source_id: &str,
        f: impl FnOnce(&mut RegisteredSource) -> Result<()>,
    ) -> Result<()> {
        let mut sources = self.sources();
        let source = sources
            .get_mut(source_id)
            .ok_or_else(|| RegistryError::NotFound(source_id.to_string()))?;
        let mut changed = source.clone();
        f(&mut changed)?;
        *source = changed;
        Ok(())
    }
}

#[async_trait]
impl SourceRegistry for MemoryRegistry {
    async fn add(&self, source: &RegisteredSource) -> Result<()> {
        let mut sources = self.sources();
        if sources.contains_key(&source.source_id) {
            return Err(RegistryError::Exists(source.source_id.clone()));
        }
        sources.insert(source.source_id.clone(), source.clone());
        Ok(())
    }

    async fn get(&self, source_id: &str) -> Result<Option<RegisteredSource>> {
        Ok(self.sources().get(source_id).cloned())
    }

    async fn list(&self) -> Result<Vec<RegisteredSource>> {
        Ok(self.sources().values().cloned().collect())
    }

    async fn set_enabled(&self, source_id: &str, enabled: bool) -> Result<()> {
        self.change(source_id, |s| {
            s.enabled = enabled;
            Ok(())
        })
    }

    async fn remove(&self, source_id: &str) -> Result<()> {
        self.sources()
            .remove(source_id)
            .map(|_| ())
            .ok_or_else(|| RegistryError::NotFound(source_id.to_string()))
    }

    async fn start_backfill(&self, source_id: &str, backfill: &Backfill) -> Result<()> {
        self.change(source_id, |s| {
            if let Some(running) = s.running_backfill() {
                return Err(RegistryError::BackfillRunning {
                    source_id: source_id.to_string(),
                    from: super::source::rfc3339(running.from_ms),
                });
            }
            s.backfill = Some(backfill.clone());
            Ok(())
        })
    }

    async fn finish_backfill(&self, source_id: &str, from_ms: i64, at_ms: i64) -> Result<()> {
        self.change(source_id, |s| {
            if let Some(b) = s.backfill.as_mut().filter(|b| b.from_ms == from_ms) {
                b.finished_ms.get_or_insert(at_ms);
            }
            Ok(())
        })
    }

    async fn record_run(&self, source_id: &str, run: &LastRun) -> Result<()> {
        self.change(source_id, |s| {
            s.last_run = Some(run.clone());
            Ok(())
        })
    }

    fn describe(&self) -> String {
        "the in-memory registry".to_string()
    }
}
