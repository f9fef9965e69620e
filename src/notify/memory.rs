use super::{AlertNotifier, NotifyError};
use crate::detect::Alert;
use async_trait::async_trait;
use std::sync::{Mutex, PoisonError};

/// Alerts kept in memory, in publish order, for tests and tools.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    published: Mutex<Vec<Alert>>,
}

impl MemoryNotifier {
    pub fn new() -> Self {
        MemoryNotifier::default()
    }

    /// Every alert published so far (repeats included), in order.
    pub fn published(&self) -> Vec<Alert> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl AlertNotifier for MemoryNotifier {
    async fn publish(&self, alerts: &[Alert]) -> Result<(), NotifyError> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(alerts.iter().cloned());
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}
