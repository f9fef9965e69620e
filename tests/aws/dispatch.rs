//! Registry mode's dispatcher against moto: the registry in DynamoDB, the task queue in SQS.
use crate::support::harness::{create_table, require_moto, unique};
use atlassian_audit::dispatch::{dispatch, task_messages, SqsQueue, TaskMessage};
use atlassian_audit::registry::{Backfill, DynamoDbRegistry, RegisteredSource, SourceRegistry};
use atlassian_audit::setup::Aws;
use std::time::Instant;

const NOW: i64 = 1_800_000_000_000;

async fn registry_of(n: usize) -> DynamoDbRegistry {
    let ddb = Aws::default().dynamodb().await;
    let table = unique("dispatch");
    create_table(&ddb, &table).await;
    let registry = DynamoDbRegistry::new(ddb, table);
    for i in 0..n {
        let id = format!("org-{i:04}");
        let mut s =
            RegisteredSource::new(&id, &format!("atlassian-audit/t/{id}"), "", None, 0, NOW)
                .expect("a valid source");
        s.enabled = i % 7 != 3;
        if i % 4 == 0 {
            s.backfill = Some(Backfill {
                from_ms: NOW - 86_400_000,
                to_ms: NOW,
                requested_ms: NOW,
                finished_ms: None,
            });
        }
        registry.add(&s).await.expect("registered");
    }
    registry
}

async fn queue_url(sqs: &aws_sdk_sqs::Client) -> String {
    sqs.create_queue()
        .queue_name(unique("tasks"))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("a queue url")
}

/// Every message of the queue, read until it is empty, deleted as read.
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            bodies.push(m.body.clone().expect("a body"));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.expect("a handle"))
                .send()
                .await
                .expect("delete");
        }
    }
    bodies.sort();
    bodies
}

#[tokio::test]
async fn the_queue_holds_one_message_per_task_of_each_enabled_source() {
    require_moto();
    let registry = registry_of(25).await;
    let sqs = Aws::default().sqs().await;
    let url = queue_url(&sqs).await;
    let report = dispatch(&registry, &SqsQueue::new(sqs.clone(), url.clone()))
        .await
        .expect("dispatched");
    let (messages, _) = task_messages(&registry).await.expect("listed");
    let mut want: Vec<String> = messages.iter().map(TaskMessage::to_body).collect();
    want.sort();
    assert_eq!(report.sources, 25);
    assert_eq!(report.disabled, 4);
    assert_eq!(report.sent, want.len());
    assert!(report.unsent.is_empty(), "{:?}", report.unsent);
    let got = drain(&sqs, &url).await;
    assert_eq!(got, want);
    for body in &got {
        TaskMessage::from_body(body).expect("each message is a task message");
    }
}

#[tokio::test]
async fn a_queue_that_is_gone_is_reported_with_nothing_sent() {
    require_moto();
    let registry = registry_of(3).await;
    let sqs = Aws::default().sqs().await;
    let url = queue_url(&sqs).await;
    sqs.delete_queue()
        .queue_url(&url)
        .send()
        .await
        .expect("deleted");
    let report = dispatch(&registry, &SqsQueue::new(sqs, url))
        .await
        .expect("the registry was read");
    assert!(report.nothing_sent(), "{report:?}");
    assert!(
        report.unsent[0].reason.contains("could not send"),
        "{:?}",
        report.unsent[0]
    );
}

/// The dispatcher's time for a registry of 1,000 sources (BENCHMARKS): `cargo test --test aws
/// dispatch_time -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement: run by hand"]
async fn dispatch_time_for_a_thousand_sources() {
    require_moto();
    let n = 1_000;
    let registry = registry_of(n).await;
    let sqs = Aws::default().sqs().await;
    let url = queue_url(&sqs).await;
    let queue = SqsQueue::new(sqs.clone(), url.clone());
    let listing = Instant::now();
    task_messages(&registry).await.expect("listed");
    let list_ms = listing.elapsed().as_millis();
    let started = Instant::now();
    let report = dispatch(&registry, &queue).await.expect("dispatched");
    let ms = started.elapsed().as_millis();
    println!(
        "dispatch of {n} sources ({} messages) against moto: {ms} ms (reading the registry alone: {list_ms} ms)",
        report.sent
    );
    assert!(report.unsent.is_empty());
}
