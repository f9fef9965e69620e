//! The collector function's handler, apart from the Lambda runtime so tests can reach it.
//!
//! Single-org mode (no `SOURCES_TABLE`): a scheduled event (or `{}`) is one collection pass of
//! the source `ATLASSIAN_SECRET_ID` names, with the time left before the deadline as its budget.
//!
//! Registry mode (`SOURCES_TABLE` set, no `ATLASSIAN_SECRET_ID`: each source has its own
//! secret): the function is fed by the task queue (an SQS event source mapping), one message
//! per task. Each record's task runs exactly as a single-source run ([`fleet::run_task`]);
//! a record whose task failed is answered in `batchItemFailures`, so SQS delivers it again
//! (and, after the queue's `maxReceiveCount`, moves it to the dead-letter queue) while the
//! others are deleted. A record that is not a task message fails the same way: it is not
//! dropped unseen, and it ends in the dead-letter queue, whose alarm shows it. A task the
//! registry no longer asks for (the source removed or disabled, the backfill finished) is
//! skipped as done. A scheduled event does nothing here: in registry mode the schedule
//! invokes the dispatcher, not this function.
//!
//! Either mode: `{"action": "check"}` runs the setup check (of every registered source, in
//! registry mode) and answers with its report.
mod check;
mod sqs;

pub use sqs::{SqsBatchResponse, SqsRecord, TASK_FAILED};

use crate::collector::RunSummary;
use crate::config::{env, CheckpointLocation, Config, ConfigError, ObjectLocation};
use crate::credentials::key_days_left;
use crate::fleet::{run_task, TaskOutcome};
use crate::metrics::RunMetrics;
use crate::registry::{RegisteredSource, SourceRegistry, Task};
use crate::setup::{source_registry, Aws, Backends, SetupError};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// Kept back from the Lambda deadline for returning the answer and emitting metrics.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(3);
pub const MIN_BUDGET: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum LambdaError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    RunFailed(String),
    #[error("unknown action {0:?}: send an EventBridge scheduled event or {{}} to collect, or {{\"action\": \"check\"}} to check the setup")]
    UnknownAction(String),
}

/// Runs one task of a registered source (the fleet's runner; tests stand in their own).
#[async_trait]
pub trait TaskRunner: Send + Sync {
    async fn run(&self, source: &RegisteredSource, task: Task, budget: Duration) -> TaskOutcome;
}

/// [`fleet::run_task`] over the function's configuration.
pub struct FleetRunner {
    pub config: Arc<Config>,
    pub aws: Arc<Aws>,
    pub registry: Arc<dyn SourceRegistry>,
}

#[async_trait]
impl TaskRunner for FleetRunner {
    async fn run(&self, source: &RegisteredSource, task: Task, budget: Duration) -> TaskOutcome {
        run_task(
            &self.config,
            &self.aws,
            self.registry.as_ref(),
            source,
            task,
            budget,
        )
        .await
    }
}

pub enum Mode {
    /// One source, its backends built at init.
    SingleOrg(Box<Backends>),
    /// Every registered source, each task from the queue.
    Registry {
        registry: Arc<dyn SourceRegistry>,
        runner: Arc<dyn TaskRunner>,
    },
}

pub struct App {
    pub config: Arc<Config>,
    pub aws: Arc<Aws>,
    pub mode: Mode,
}

impl App {
    /// The function's init: bad configuration fails here, before any request, with the setting
    /// named (the table and bucket are required: Lambda has no local storage).
    pub async fn from_config(config: Config) -> Result<App, LambdaError> {
        require_lambda_storage(&config)?;
        // The key goes to api.atlassian.com (or a host the stack lists), never anywhere else.
        config.require_allowed_api_host()?;
        // The rule file comes from S3: a path would name a file of the operator's, not the function's.
        config.require_rules_from_s3()?;
        let aws = Arc::new(Aws::for_config(&config));
        let mode = if config.sources_table.is_some() {
            if config.credentials.is_some() {
                return Err(LambdaError::Refused(format!(
                    "{} and {} are both set: in registry mode each source's secret is in the registry; unset {}",
                    env::SOURCES_TABLE,
                    env::SECRET_ID,
                    env::SECRET_ID
                )));
            }
            // The rule file is read (and a bad rule refused) here, as in single-org mode.
            crate::setup::rule_pack(&config, &aws).await?;
            let registry = source_registry(&config, &aws).await?;
            let config = Arc::new(config.clone());
            let runner = Arc::new(FleetRunner {
                config,
                aws: aws.clone(),
                registry: registry.clone(),
            });
            Mode::Registry { registry, runner }
        } else {
            // A missing rule object or a bad rule fails the init here, before any request to the API.
            Mode::SingleOrg(Box::new(Backends::from_config(&config, &aws).await?))
        };
        Ok(App {
            config: Arc::new(config),
            aws,
            mode,
        })
    }
}

fn require_lambda_storage(config: &Config) -> Result<(), LambdaError> {
    if !matches!(config.checkpoint, CheckpointLocation::DynamoDb { .. }) {
        return Err(LambdaError::Refused(format!(
            "{} is set: the Lambda keeps its checkpoint in DynamoDB ({}); unset {}",
            env::STATE_FILE,
            env::CHECKPOINT_TABLE,
            env::STATE_FILE
        )));
    }
    if !matches!(config.objects, ObjectLocation::S3 { .. }) {
        return Err(LambdaError::Refused(format!(
            "{} is set: the Lambda writes objects to S3 ({}); unset {}",
            env::OUTPUT_DIR,
            env::OUTPUT_BUCKET,
            env::OUTPUT_DIR
        )));
    }
    Ok(())
}

/// Runs a function's `main` to its end on a multi-threaded runtime, as both functions do. Not
/// `#[tokio::main]`: the collector limits malloc's arenas before the runtime starts its threads.
pub fn block_on<E: From<std::io::Error>>(
    main: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), E> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(main)
}

/// JSON log lines for CloudWatch Logs (Lambda stamps the time), `RUST_LOG` or `info`; one per
/// process, for the collector and the dispatcher alike.
pub fn init_json_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
}

/// The run's budget: the time left before `deadline_ms` (epoch ms), less a margin.
pub fn budget_until(deadline_ms: u64) -> Duration {
    let remaining = Duration::from_millis(deadline_ms.saturating_sub(now_ms() as u64));
    remaining.saturating_sub(DEADLINE_MARGIN).max(MIN_BUDGET)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One invocation: `payload` as the runtime gave it, `deadline_ms` the Lambda deadline.
pub async fn handle(app: &App, payload: &Value, deadline_ms: u64) -> Result<Value, LambdaError> {
    if let Some(records) = sqs::records_of(payload) {
        return Ok(json!(sqs::handle_records(app, records, deadline_ms).await));
    }
    log_trigger(payload);
    match payload.get("action").and_then(Value::as_str) {
        None | Some("collect") => match &app.mode {
            Mode::SingleOrg(backends) => {
                collect(app, backends, deadline_ms).await.map(|s| json!(s))
            }
            Mode::Registry { .. } => {
                tracing::warn!(
                    "registry mode: the schedule invokes the dispatcher, which queues each source's tasks for this function; nothing to do here"
                );
                Ok(json!({
                    "registry_mode": true,
                    "collected": false,
                    "note": "in registry mode this function collects the tasks of the task queue, one message at a time; the schedule invokes the dispatcher",
                }))
            }
        },
        Some("check") => Ok(match &app.mode {
            Mode::SingleOrg(backends) => check::single(app, backends).await,
            Mode::Registry { registry, .. } => check::registry(app, registry.as_ref()).await,
        }),
        Some(other) => Err(LambdaError::UnknownAction(other.to_string())),
    }
}

async fn collect(
    app: &App,
    backends: &Backends,
    deadline_ms: u64,
) -> Result<RunSummary, LambdaError> {
    let budget = budget_until(deadline_ms);
    let config = &app.config;
    let collector = match backends.collector(config).await {
        Ok(c) => c,
        Err(e) => {
            // No source id without credentials: report under the configured one, or "unknown".
            let mut summary = RunSummary::new(
                config
                    .source_id
                    .clone()
                    .unwrap_or_else(|| "unknown".to_string()),
            );
            summary.error = Some(e.to_string());
            println!(
                "{}",
                RunMetrics::new(&summary).to_emf(&config.metrics_namespace, now_ms())
            );
            return Err(e.into());
        }
    };
    let report = collector.run(budget).await;
    let days_left = key_days_left(backends.credentials.as_ref(), chrono::Utc::now()).await;
    println!(
        "{}",
        RunMetrics::new(&report.summary)
            .with_key_days_left(days_left)
            .to_emf(&config.metrics_namespace, now_ms())
    );
    match report.error {
        None => Ok(report.summary),
        Some(e) => {
            tracing::error!(error = %e, "run failed");
            Err(LambdaError::RunFailed(e.to_string()))
        }
    }
}

/// EventBridge scheduled events carry an id and time worth logging; any other input runs the same.
fn log_trigger(payload: &Value) {
    let field = |name: &str| payload.get(name).and_then(Value::as_str).unwrap_or("");
    tracing::info!(
        trigger = field("detail-type"),
        event_id = field("id"),
        scheduled_time = field("time"),
        "invoked"
    );
}

#[cfg(test)]
mod tests;
