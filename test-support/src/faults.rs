//! One fault wrapper for any [`CheckpointStore`], [`HighWaterMarks`], [`ObjectSink`] and [`EventSource`]
//! (pages: never a side effect, but a run may crash while one is in flight or just arrived): a [`Faults`] plan says
//! which calls misbehave (at side effect N, or on any predicate over the call) and how: fail,
//! succeed but lose the answer, wait, or crash (never return, as if the process died just
//! before or just after the effect). The store and the sink of one collector share one plan,
//! so their side effects are counted in one sequence.
//!
//! ```ignore
//! let faults = Faults::new().at_step(6, StorageFault::CrashAfter);
//! let faults = Faults::new().when(|c| c.op == Op::Save && c.nth == 4, StorageFault::LoseAnswer);
//! let collector = env.collector_with_faults(&faults, Duration::ZERO).await;
//! ```
use async_trait::async_trait;
use atlassian_audit::checkpoint::{
    AcquireRequest, Checkpoint, CheckpointError, CheckpointStore, HighWaterError, HighWaterMarks,
    Mark, Replaced, StoredCheckpoint, StoredMark,
};
use atlassian_audit::detect::Alert;
use atlassian_audit::notify::{AlertNotifier, NotifyError};
use atlassian_audit::sink::{EncodedObject, ObjectSink, SinkError};
use atlassian_audit::source::{EventSource, Page, PageRequest, SourceError, WireCounters};
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// The reason given by an injected failure.
pub const INJECTED: &str = "injected by the test";
/// The reason given when an effect took place but its answer was "lost".
const LOST: &str = "the answer was lost (injected by the test)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Acquire,
    Save,
    Release,
    Load,
    Put,
    Delete,
    Probe,
    /// A staging object read back.
    Read,
    /// A page fetched from the source (the key is the request's `limit`).
    Fetch,
    /// Alerts announced (the key is their ids, `,`-joined).
    Publish,
    /// The source's high-water mark read (the key is the source id).
    ReadMark,
    /// The source's high-water mark raised (a conditional write on the version last read).
    WriteMark,
}

impl Op {
    /// Whether the call changes anything: only these are counted as steps.
    pub fn is_effect(self) -> bool {
        !matches!(
            self,
            Op::Load | Op::Probe | Op::Read | Op::Fetch | Op::ReadMark
        )
    }

    fn index(self) -> usize {
        self as usize
    }

    fn action(self) -> &'static str {
        match self {
            Op::Put => "write",
            Op::Delete => "delete",
            Op::Probe => "probe",
            Op::Read => "read",
            Op::Acquire => "acquire",
            Op::Save => "save",
            Op::Release => "release",
            Op::Load => "load",
            Op::Fetch => "fetch",
            Op::Publish => "publish",
            Op::ReadMark => "read",
            Op::WriteMark => "written",
        }
    }
}

/// One call through the wrapper, as a predicate sees it.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: Op,
    /// For side effects, which one this is (1-based) across the store and the sink together.
    pub step: Option<usize>,
    /// Which call of this operation it is (1-based).
    pub nth: usize,
    /// The object key, or the source id.
    pub key: String,
}

pub type Gate = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

#[derive(Clone)]
pub enum StorageFault {
    /// Wait this long, then go on.
    Delay(Duration),
    /// Wait until the future returns, then go on.
    Hold(Gate),
    /// Return an error without doing anything.
    Fail,
    /// Do it, then return an error as if the answer never came.
    LoseAnswer,
    /// Never return, without doing it: the process died just before the effect.
    CrashBefore,
    /// Do it, then never return: the process died just after the effect.
    CrashAfter,
}

impl StorageFault {
    /// [`StorageFault::Hold`] on `wait`.
    pub fn hold<F, Fut>(wait: F) -> StorageFault
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        StorageFault::Hold(Arc::new(move || Box::pin(wait())))
    }

    fn waits(&self) -> bool {
        matches!(self, StorageFault::Delay(_) | StorageFault::Hold(_))
    }
}

/// A call that went through to the wrapped store or sink.
#[derive(Debug, Clone)]
pub struct Done {
    pub op: Op,
    pub key: String,
    pub step: Option<usize>,
    pub ok: bool,
    /// When the wrapped call returned (epoch ms, as `simulated_org::now_ms`).
    pub ended_ms: i64,
}

type Predicate = Box<dyn Fn(&Call) -> bool + Send + Sync>;

struct Rule {
    applies: Predicate,
    fault: StorageFault,
}

#[derive(Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    steps: AtomicUsize,
    per_op: [AtomicUsize; 12],
    done: Mutex<Vec<Done>>,
    crashed: Notify,
}

/// A plan of faults, shared by the stores and sinks it wraps. Every matching rule applies:
/// waits first, in order, then the first failure or crash among them.
#[derive(Clone, Default)]
pub struct Faults {
    state: Arc<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Faults {
    /// A plan with no faults yet: everything goes through, counted.
    pub fn new() -> Self {
        Faults::default()
    }

    /// `fault` on the `n`th side effect (1-based).
    pub fn at_step(self, n: usize, fault: StorageFault) -> Self {
        self.when(move |c| c.step == Some(n), fault)
    }

    /// `fault` on every call `applies` accepts.
    pub fn when(
        self,
        applies: impl Fn(&Call) -> bool + Send + Sync + 'static,
        fault: StorageFault,
    ) -> Self {
        lock(&self.state.rules).push(Rule {
            applies: Box::new(applies),
            fault,
        });
        self
    }

    /// `store`, through this plan.
    pub(crate) fn store(&self, store: Arc<dyn CheckpointStore>) -> Arc<dyn CheckpointStore> {
        Arc::new(Faulty {
            inner: store,
            faults: self.clone(),
        })
    }

    /// `sink`, through this plan.
    pub(crate) fn sink(&self, sink: Arc<dyn ObjectSink>) -> Arc<dyn ObjectSink> {
        Arc::new(Faulty {
            inner: sink,
            faults: self.clone(),
        })
    }

    /// `marks`, through this plan.
    pub(crate) fn marks(&self, marks: Arc<dyn HighWaterMarks>) -> Arc<dyn HighWaterMarks> {
        Arc::new(Faulty {
            inner: marks,
            faults: self.clone(),
        })
    }

    /// `notifier`, through this plan.
    pub(crate) fn notifier(&self, notifier: Arc<dyn AlertNotifier>) -> Arc<dyn AlertNotifier> {
        Arc::new(Faulty {
            inner: notifier,
            faults: self.clone(),
        })
    }

    /// `source`, through this plan.
    pub(crate) fn source(&self, source: Arc<dyn EventSource>) -> Arc<dyn EventSource> {
        Arc::new(Faulty {
            inner: source,
            faults: self.clone(),
        })
    }

    /// Calls of `op` so far.
    pub fn calls(&self, op: Op) -> usize {
        self.state.per_op[op.index()].load(Ordering::SeqCst)
    }

    /// Side effects so far (including one a crash stopped).
    pub fn steps(&self) -> usize {
        self.state.steps.load(Ordering::SeqCst)
    }

    /// Resolves once a crash fault has fired.
    pub async fn crashed(&self) {
        self.state.crashed.notified().await;
    }

    /// Every call that reached the wrapped store or sink, in the order they returned.
    pub fn done(&self) -> Vec<Done> {
        lock(&self.state.done).clone()
    }

    fn begin(&self, op: Op, key: &str) -> (Call, Vec<StorageFault>) {
        let step = op
            .is_effect()
            .then(|| self.state.steps.fetch_add(1, Ordering::SeqCst) + 1);
        let nth = self.state.per_op[op.index()].fetch_add(1, Ordering::SeqCst) + 1;
        let call = Call {
            op,
            step,
            nth,
            key: key.to_string(),
        };
        let faults = lock(&self.state.rules)
            .iter()
            .filter(|r| (r.applies)(&call))
            .map(|r| r.fault.clone())
            .collect();
        (call, faults)
    }

    /// Runs `effect` under the plan; `error` makes the wrapped type's error from a reason.
    async fn apply<T, E>(
        &self,
        op: Op,
        key: &str,
        effect: impl Future<Output = Result<T, E>>,
        error: impl FnOnce(&'static str) -> E,
    ) -> Result<T, E> {
        let (call, faults) = self.begin(op, key);
        for fault in faults.iter().filter(|f| f.waits()) {
            match fault {
                StorageFault::Delay(d) => tokio::time::sleep(*d).await,
                StorageFault::Hold(gate) => gate().await,
                _ => {}
            }
        }
        let outcome = faults.into_iter().find(|f| !f.waits());
        if let Some(StorageFault::Fail) = outcome {
            return Err(error(INJECTED));
        }
        if let Some(StorageFault::CrashBefore) = outcome {
            return self.crash().await;
        }
        let result = effect.await;
        lock(&self.state.done).push(Done {
            op,
            key: call.key,
            step: call.step,
            ok: result.is_ok(),
            ended_ms: simulated_org::now_ms(),
        });
        match outcome {
            Some(StorageFault::CrashAfter) => self.crash().await,
            Some(StorageFault::LoseAnswer) => result.and_then(|_| Err(error(LOST))),
            _ => result,
        }
    }

    async fn crash<T>(&self) -> T {
        self.state.crashed.notify_one();
        std::future::pending().await
    }
}

/// A store or sink going through a [`Faults`] plan.
struct Faulty<T: ?Sized> {
    inner: Arc<T>,
    faults: Faults,
}

impl Faulty<dyn ObjectSink> {
    fn error(&self, op: Op, key: &str) -> impl FnOnce(&'static str) -> SinkError {
        let sink = self.inner.describe();
        let key = key.to_string();
        move |reason| SinkError {
            sink,
            action: op.action(),
            key,
            reason: reason.to_string(),
        }
    }
}

#[async_trait]
impl ObjectSink for Faulty<dyn ObjectSink> {
    async fn put(&self, key: &str, object: &EncodedObject) -> Result<(), SinkError> {
        let e = self.error(Op::Put, key);
        self.faults
            .apply(Op::Put, key, self.inner.put(key, object), e)
            .await
    }
    async fn read(&self, key: &str) -> Result<Option<bytes::Bytes>, SinkError> {
        let e = self.error(Op::Read, key);
        self.faults
            .apply(Op::Read, key, self.inner.read(key), e)
            .await
    }
    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        let e = self.error(Op::Delete, key);
        self.faults
            .apply(Op::Delete, key, self.inner.delete(key), e)
            .await
    }
    async fn probe(&self) -> Result<(), SinkError> {
        let e = self.error(Op::Probe, "");
        self.faults
            .apply(Op::Probe, "", self.inner.probe(), e)
            .await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

impl Faulty<dyn CheckpointStore> {
    fn error(&self) -> impl FnOnce(&'static str) -> CheckpointError {
        let store = self.inner.describe();
        move |reason| CheckpointError::Backend {
            store,
            reason: reason.to_string(),
        }
    }
}

#[async_trait]
impl CheckpointStore for Faulty<dyn CheckpointStore> {
    async fn acquire(&self, request: AcquireRequest<'_>) -> Result<Checkpoint, CheckpointError> {
        let effect = self.inner.acquire(request);
        self.faults
            .apply(Op::Acquire, request.source_id, effect, self.error())
            .await
    }
    async fn save(
        &self,
        source_id: &str,
        owner: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), CheckpointError> {
        let effect = self.inner.save(source_id, owner, checkpoint);
        self.faults
            .apply(Op::Save, source_id, effect, self.error())
            .await
    }
    async fn release(&self, source_id: &str, owner: &str) -> Result<(), CheckpointError> {
        let effect = self.inner.release(source_id, owner);
        self.faults
            .apply(Op::Release, source_id, effect, self.error())
            .await
    }
    async fn load(&self, source_id: &str) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let effect = self.inner.load(source_id);
        self.faults
            .apply(Op::Load, source_id, effect, self.error())
            .await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

impl Faulty<dyn HighWaterMarks> {
    fn error(&self, op: Op, source_id: &str) -> impl FnOnce(&'static str) -> HighWaterError {
        let store = self.inner.describe(source_id);
        let source_id = source_id.to_string();
        move |reason| HighWaterError {
            source_id,
            store,
            action: op.action(),
            reason: reason.to_string(),
        }
    }
}

#[async_trait]
impl HighWaterMarks for Faulty<dyn HighWaterMarks> {
    async fn read(&self, source_id: &str) -> Result<Option<StoredMark>, HighWaterError> {
        let e = self.error(Op::ReadMark, source_id);
        self.faults
            .apply(Op::ReadMark, source_id, self.inner.read(source_id), e)
            .await
    }
    async fn replace(
        &self,
        source_id: &str,
        mark: &Mark,
        seen: Option<&str>,
    ) -> Result<Replaced, HighWaterError> {
        let e = self.error(Op::WriteMark, source_id);
        self.faults
            .apply(
                Op::WriteMark,
                source_id,
                self.inner.replace(source_id, mark, seen),
                e,
            )
            .await
    }
    fn describe(&self, source_id: &str) -> String {
        self.inner.describe(source_id)
    }
}

#[async_trait]
impl AlertNotifier for Faulty<dyn AlertNotifier> {
    async fn publish(&self, alerts: &[Alert]) -> Result<(), NotifyError> {
        let ids: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
        let target = self.inner.describe();
        let error = |reason: &'static str| NotifyError {
            target,
            alerts: alerts.len(),
            reason: reason.to_string(),
        };
        self.faults
            .apply(
                Op::Publish,
                &ids.join(","),
                self.inner.publish(alerts),
                error,
            )
            .await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[async_trait]
impl EventSource for Faulty<dyn EventSource> {
    async fn fetch_page(
        &self,
        request: &PageRequest,
        deadline: tokio::time::Instant,
        wire: &WireCounters,
    ) -> Result<Page, SourceError> {
        let effect = self.inner.fetch_page(request, deadline, wire);
        let error = |reason: &'static str| SourceError::Unavailable {
            attempts: 1,
            last_problem: reason.to_string(),
        };
        self.faults
            .apply(Op::Fetch, &request.limit.to_string(), effect, error)
            .await
    }
    async fn org_id(&self) -> Result<String, SourceError> {
        self.inner.org_id().await
    }
}
