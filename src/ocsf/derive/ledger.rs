//! How far one generation's batches are derived: every batch below `derived_through`. It only
//! saves work: deriving a batch again writes the same objects (the keys and bytes depend on the
//! committed batch alone), so a ledger lost, stale or behind costs time, never a duplicate.
use crate::ocsf::layout::ledger_key;
use crate::ocsf::store::{BlobStore, StoreError, JSON};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub derived_through: u64,
}

/// The generation's ledger; a missing or unreadable one starts from batch 0 (redoing batches
/// is harmless).
pub async fn load(store: &dyn BlobStore, generation: &str) -> Result<Ledger, StoreError> {
    let Some(bytes) = store.get(&ledger_key(generation)).await? else {
        return Ok(Ledger::default());
    };
    Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the OCSF ledger is unreadable; deriving from batch 0 again");
        Ledger::default()
    }))
}

pub async fn save(
    store: &dyn BlobStore,
    generation: &str,
    ledger: Ledger,
) -> Result<(), StoreError> {
    let body = serde_json::to_vec(&ledger).unwrap_or_default();
    store.put(&ledger_key(generation), body.into(), JSON).await
}
