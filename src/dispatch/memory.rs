use super::{QueueEntry, QueueError, RejectedEntry, TaskQueue};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What the memory queue does with one `send_batch` call, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The whole call fails; nothing is taken.
    Call,
    /// The entries at these positions of the batch are refused; the others are taken.
    Entries(Vec<usize>),
    /// The call never returns (the process is killed while it waits).
    Hang,
}

#[derive(Debug, Default)]
struct State {
    bodies: Vec<String>,
    calls: usize,
    faults: VecDeque<Option<Fault>>,
    refused: Vec<String>,
    down: bool,
}

/// Messages in memory, for tests: what was sent, in order, and scripted
/// faults.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    state: Mutex<State>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        MemoryQueue::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bodies sent so far, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.state().bodies.clone()
    }

    /// `send_batch` calls so far.
    pub fn calls(&self) -> usize {
        self.state().calls
    }

    /// The next calls meet these faults in turn (`None`: that call goes through).
    pub fn script(&self, faults: impl IntoIterator<Item = Option<Fault>>) {
        self.state().faults.extend(faults);
    }

    /// Every entry with this body is refused, however often it is sent.
    pub fn refuse_always(&self, body: &str) {
        self.state().refused.push(body.to_string());
    }

    /// While down, every call fails as a whole.
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }
}

#[async_trait]
impl TaskQueue for MemoryQueue {
    async fn send_batch(&self, entries: &[QueueEntry]) -> Result<Vec<RejectedEntry>, QueueError> {
        let fault = {
            let mut state = self.state();
            state.calls += 1;
            state.faults.pop_front().flatten()
        };
        if fault == Some(Fault::Hang) {
            std::future::pending::<()>().await;
        }
        let mut state = self.state();
        if state.down || fault == Some(Fault::Call) {
            return Err(QueueError::Backend {
                queue: self.describe(),
                reason: "the queue refused the batch".into(),
            });
        }
        let refused = match fault {
            Some(Fault::Entries(positions)) => positions,
            _ => Vec::new(),
        };
        let mut rejected = Vec::new();
        for (pos, entry) in entries.iter().enumerate() {
            if refused.contains(&pos) || state.refused.contains(&entry.body) {
                rejected.push(RejectedEntry {
                    id: entry.id.clone(),
                    reason: "InternalError: refused".into(),
                });
            } else {
                state.bodies.push(entry.body.clone());
            }
        }
        Ok(rejected)
    }

    fn describe(&self) -> String {
        "the memory queue".into()
    }
}
