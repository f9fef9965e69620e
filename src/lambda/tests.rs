use super::*;
use crate::config::env;
use crate::registry::{Backfill, MemoryRegistry, TaskKind};
use std::collections::HashMap;
use std::sync::Mutex;

const NOW: i64 = 1_800_000_000_000;

/// Runs nothing: records what it was asked, fails the sources listed.
#[derive(Default)]
struct FakeRunner {
    ran: Mutex<Vec<(String, Task)>>,
    failing: Vec<String>,
}

#[async_trait]
impl TaskRunner for FakeRunner {
    async fn run(&self, source: &RegisteredSource, task: Task, _budget: Duration) -> TaskOutcome {
        self.ran
            .lock()
            .unwrap()
            .push((source.source_id.clone(), task.clone()));
        let mut summary = RunSummary::new(task.checkpoint_id(&source.source_id));
        summary.run_succeeded = !self.failing.contains(&source.source_id);
        if !summary.run_succeeded {
            summary.error = Some("Atlassian rejected the API key (401)".into());
        }
        TaskOutcome::new(source, task, summary, None)
    }
}

fn config() -> Config {
    let map: HashMap<&str, &str> = [
        (env::CHECKPOINT_TABLE, "checkpoints"),
        (env::OUTPUT_BUCKET, "audit-bucket"),
        (env::SOURCES_TABLE, "checkpoints"),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|n| map.get(n).map(|v| v.to_string())).unwrap()
}

async fn app(failing: &[&str]) -> (App, Arc<FakeRunner>, Arc<MemoryRegistry>) {
    let registry = Arc::new(MemoryRegistry::new());
    for (id, enabled, backfill) in [
        ("alpha", true, Some(None)),
        ("beta", true, Some(Some(NOW))),
        ("off", false, None),
    ] {
        let mut s = RegisteredSource::new(id, &format!("atlassian-audit/x/{id}"), id, None, 0, NOW)
            .unwrap();
        s.enabled = enabled;
        s.backfill = backfill.map(|finished_ms| Backfill {
            from_ms: NOW - 1_000,
            to_ms: NOW,
            requested_ms: NOW,
            finished_ms,
        });
        registry.add(&s).await.unwrap();
    }
    let runner = Arc::new(FakeRunner {
        failing: failing.iter().map(|s| s.to_string()).collect(),
        ..FakeRunner::default()
    });
    let app = App {
        config: Arc::new(config()),
        aws: Arc::new(Aws::default()),
        mode: Mode::Registry {
            registry: registry.clone(),
            runner: runner.clone(),
        },
    };
    (app, runner, registry)
}

fn sqs_event(bodies: &[(&str, &str)]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .map(|(id, body)| {
            json!({"messageId": id, "receiptHandle": "h", "body": body, "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tasks", "attributes": {}})
        })
        .collect();
    json!({ "Records": records })
}

fn deadline() -> u64 {
    (now_ms() + 900_000) as u64
}

fn failures(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .expect("a partial batch response")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn each_record_runs_its_task_and_only_failures_are_returned() {
    let (app, runner, _) = app(&["alpha"]).await;
    let event = sqs_event(&[
        ("m1", r#"{"source_id":"alpha","task":"live"}"#),
        ("m2", r#"{"source_id":"alpha","task":"backfill"}"#),
        ("m3", r#"{"source_id":"beta","task":"live"}"#),
    ]);
    let answer = handle(&app, &event, deadline()).await.unwrap();
    assert_eq!(failures(&answer), ["m1", "m2"]);
    let ran = runner.ran.lock().unwrap().clone();
    assert_eq!(ran.len(), 3);
    assert_eq!(
        ran[0],
        (
            "alpha".into(),
            Task::Live {
                start_ms: Some(NOW)
            }
        )
    );
    assert_eq!(ran[1].1.kind(), TaskKind::Backfill);
    assert_eq!(ran[2].0, "beta");
}

#[tokio::test]
async fn tasks_the_registry_no_longer_asks_for_are_skipped_as_done() {
    let (app, runner, registry) = app(&[]).await;
    registry.remove("alpha").await.unwrap();
    let event = sqs_event(&[
        ("gone", r#"{"source_id":"alpha","task":"live"}"#),
        ("disabled", r#"{"source_id":"off","task":"live"}"#),
        ("finished", r#"{"source_id":"beta","task":"backfill"}"#),
    ]);
    let answer = handle(&app, &event, deadline()).await.unwrap();
    assert!(failures(&answer).is_empty());
    assert!(runner.ran.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_record_that_is_not_a_task_message_fails_toward_the_dead_letter_queue() {
    let (app, runner, _) = app(&[]).await;
    let event = sqs_event(&[
        ("junk", "not json"),
        ("unknown-task", r#"{"source_id":"beta","task":"history"}"#),
        ("ok", r#"{"source_id":"beta","task":"live"}"#),
    ]);
    let answer = handle(&app, &event, deadline()).await.unwrap();
    assert_eq!(failures(&answer), ["junk", "unknown-task"]);
    assert_eq!(runner.ran.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_later_record_left_too_little_time_is_delivered_again_unstarted() {
    let (app, runner, _) = app(&[]).await;
    let event = sqs_event(&[
        ("first", r#"{"source_id":"beta","task":"live"}"#),
        ("late", r#"{"source_id":"alpha","task":"live"}"#),
    ]);
    let answer = handle(&app, &event, (now_ms() + 2_000) as u64)
        .await
        .unwrap();
    // The first runs whatever the deadline says (as a single-org run does); the next waits.
    assert_eq!(failures(&answer), ["late"]);
    assert_eq!(runner.ran.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_scheduled_event_in_registry_mode_collects_nothing() {
    let (app, runner, _) = app(&[]).await;
    let scheduled = json!({"detail-type": "Scheduled Event", "source": "aws.events", "id": "x"});
    let answer = handle(&app, &scheduled, deadline()).await.unwrap();
    assert_eq!(answer["collected"], false);
    assert!(runner.ran.lock().unwrap().is_empty());
    let unknown = handle(&app, &json!({"action": "nope"}), deadline()).await;
    assert!(matches!(unknown, Err(LambdaError::UnknownAction(_))));
}

#[tokio::test]
async fn registry_mode_refuses_a_secret_of_its_own() {
    let map: HashMap<&str, &str> = [
        (env::CHECKPOINT_TABLE, "checkpoints"),
        (env::OUTPUT_BUCKET, "audit-bucket"),
        (env::SOURCES_TABLE, "checkpoints"),
        (env::SECRET_ID, "one-secret"),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|n| map.get(n).map(|v| v.to_string())).unwrap();
    let err = App::from_config(config).await.err().expect("refused");
    assert!(err.to_string().contains(env::SECRET_ID), "{err}");
}
