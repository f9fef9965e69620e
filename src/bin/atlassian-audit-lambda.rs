//! The Lambda entry point: an EventBridge schedule invokes it; each invocation is one collection
//! pass with the time left before the Lambda deadline as its budget. `{"action": "check"}` runs
//! the setup check instead and answers with its report.
use atlassian_audit::check::run_checks;
use atlassian_audit::collector::RunSummary;
use atlassian_audit::config::{env, CheckpointLocation, Config, ObjectLocation};
use atlassian_audit::credentials::key_days_left;
use atlassian_audit::metrics::RunMetrics;
use atlassian_audit::setup::{Aws, Backends};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Kept back from the Lambda deadline for returning the summary and emitting metrics.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);
const MIN_BUDGET: Duration = Duration::from_secs(10);

struct App {
    config: Config,
    backends: Backends,
}

fn main() -> Result<(), Error> {
    atlassian_audit::malloc_arenas::limit();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async_main())
}

async fn async_main() -> Result<(), Error> {
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

    // Bad configuration fails the init, before any request, with the setting named (the
    // table and bucket are required: Lambda has no local storage).
    let config = Config::from_env()?;
    if !matches!(config.checkpoint, CheckpointLocation::DynamoDb { .. }) {
        return Err(format!(
            "{} is set: the Lambda keeps its checkpoint in DynamoDB ({}); unset {}",
            env::STATE_FILE,
            env::CHECKPOINT_TABLE,
            env::STATE_FILE
        )
        .into());
    }
    if !matches!(config.objects, ObjectLocation::S3 { .. }) {
        return Err(format!(
            "{} is set: the Lambda writes objects to S3 ({}); unset {}",
            env::OUTPUT_DIR,
            env::OUTPUT_BUCKET,
            env::OUTPUT_DIR
        )
        .into());
    }
    // The key goes to api.atlassian.com (or a host the stack lists), never anywhere else.
    config
        .require_allowed_api_host()
        .map_err(|e| e.to_string())?;
    // The rule file comes from S3: a path would name a file of the operator's, not the function's.
    config.require_rules_from_s3().map_err(|e| e.to_string())?;
    // A missing rule object or a bad rule fails the init here, before any request to the API.
    let aws = Aws::for_config(&config);
    let backends = Backends::from_config(&config, &aws)
        .await
        .map_err(|e| e.to_string())?;
    let app = Arc::new(App { config, backends });

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move { handle(&app, event).await }
    }))
    .await
}

async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, Error> {
    log_trigger(&event.payload);
    match event.payload.get("action").and_then(Value::as_str) {
        None | Some("collect") => collect(app, event).await.map(|s| json!(s)),
        Some("check") => Ok(check(app).await),
        Some(other) => Err(format!(
            "unknown action {other:?}: send an EventBridge scheduled event or {{}} to collect, or {{\"action\": \"check\"}} to check the setup"
        )
        .into()),
    }
}

/// The setup check, from inside the deployed function: its role, its secret, its bucket and table.
async fn check(app: &App) -> Value {
    let report = run_checks(&app.config, &app.backends).await;
    let text = report.render();
    tracing::info!(everything_looks_good = report.all_ok(), "setup check");
    json!({
        "everything_looks_good": report.all_ok(),
        "report": text.lines().collect::<Vec<_>>(),
    })
}

async fn collect(app: &App, event: LambdaEvent<Value>) -> Result<RunSummary, Error> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let remaining = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
    let budget = remaining.saturating_sub(DEADLINE_MARGIN).max(MIN_BUDGET);

    let collector = match app.backends.collector(&app.config).await {
        Ok(c) => c,
        Err(e) => {
            // No source id without credentials: report under the configured one, or "unknown".
            let mut summary = RunSummary::new(
                app.config
                    .source_id
                    .clone()
                    .unwrap_or_else(|| "unknown".to_string()),
            );
            summary.error = Some(e.to_string());
            emit(&app.config, RunMetrics::new(&summary));
            return Err(e.into());
        }
    };
    let report = collector.run(budget).await;
    let days_left = key_days_left(app.backends.credentials.as_ref(), chrono::Utc::now()).await;
    emit(
        &app.config,
        RunMetrics::new(&report.summary).with_key_days_left(days_left),
    );
    match report.error {
        None => Ok(report.summary),
        Some(e) => {
            tracing::error!(error = %e, "run failed");
            Err(e.into())
        }
    }
}

fn emit(config: &Config, metrics: RunMetrics<'_>) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    println!("{}", metrics.to_emf(&config.metrics_namespace, ts));
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
