//! The collector function. Single-org mode: an EventBridge schedule invokes it; each invocation
//! is one collection pass with the time left before the Lambda deadline as its budget. Registry
//! mode (SOURCES_TABLE): the task queue invokes it, one source's task per message, answering
//! with the records that failed. `{"action": "check"}` runs the setup check instead and answers
//! with its report. The handler is `atlassian_audit::lambda`.
use atlassian_audit::config::Config;
use atlassian_audit::lambda::{handle, App};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;

fn main() -> Result<(), Error> {
    atlassian_audit::malloc_tuning::tune();
    atlassian_audit::lambda::block_on(async_main())
}

async fn async_main() -> Result<(), Error> {
    atlassian_audit::lambda::init_json_logging();

    // Bad configuration fails the init, before any request, with the setting named.
    // The errors' messages, not their debug form: the init log is what an operator reads.
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let app = Arc::new(App::from_config(config).await.map_err(|e| e.to_string())?);

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        async move {
            handle(&app, &event.payload, event.context.deadline)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
