//! The dispatcher function (registry mode): the schedule invokes it; it reads the sources
//! registry and queues one message per task of every enabled source for the collector
//! function (`atlassian_audit::dispatch`). It fails only when the registry cannot be read or
//! nothing could be queued; messages the queue refused are named in its log and answer.
use atlassian_audit::config::DispatchSettings;
use atlassian_audit::dispatch::{dispatch, SqsQueue};
use atlassian_audit::registry::DynamoDbRegistry;
use atlassian_audit::setup::Aws;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

struct App {
    registry: DynamoDbRegistry,
    queue: SqsQueue,
}

fn main() -> Result<(), Error> {
    atlassian_audit::lambda::block_on(async_main())
}

async fn async_main() -> Result<(), Error> {
    atlassian_audit::lambda::init_json_logging();

    let settings = DispatchSettings::from_lookup(|name| std::env::var(name).ok())?;
    let aws = Aws::with_attempt_timeout(settings.aws_attempt_timeout);
    let app = Arc::new(App {
        registry: DynamoDbRegistry::new(aws.dynamodb().await, &settings.sources_table),
        queue: SqsQueue::new(aws.sqs().await, settings.queue_url.clone()),
    });

    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            let started = Instant::now();
            let report = dispatch(&app.registry, &app.queue).await?;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let summary = json!({
                "sources": report.sources,
                "disabled": report.disabled,
                "sent": report.sent,
                "unsent": report.unsent,
                "elapsed_ms": elapsed_ms,
            });
            tracing::info!(
                sources = report.sources,
                disabled = report.disabled,
                sent = report.sent,
                unsent = report.unsent.len(),
                elapsed_ms,
                "dispatched"
            );
            if report.nothing_sent() {
                return Err(Error::from(format!(
                    "no task message could be queued ({} refused): {}",
                    report.unsent.len(),
                    report
                        .unsent
                        .first()
                        .map(|u| u.reason.as_str())
                        .unwrap_or("")
                )));
            }
            Ok::<Value, Error>(summary)
        }
    }))
    .await
}
