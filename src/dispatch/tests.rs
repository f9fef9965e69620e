use super::memory::Fault;
use super::*;
use crate::registry::{Backfill, MemoryRegistry, RegisteredSource};

const NOW: i64 = 1_800_000_000_000;

async fn registry(n: usize) -> MemoryRegistry {
    let registry = MemoryRegistry::new();
    for i in 0..n {
        let mut s = RegisteredSource::new(
            &format!("org-{i:04}"),
            &format!("atlassian-audit/stack/org-{i:04}"),
            "",
            None,
            0,
            NOW,
        )
        .unwrap();
        // Every third source has a backfill running, every fifth is disabled.
        if i % 3 == 0 {
            s.backfill = Some(Backfill {
                from_ms: NOW - 1_000,
                to_ms: NOW,
                requested_ms: NOW,
                finished_ms: None,
            });
        }
        s.enabled = i % 5 != 0;
        registry.add(&s).await.unwrap();
    }
    registry
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn expected(registry: &MemoryRegistry) -> Vec<String> {
    let (messages, _) = task_messages(registry).await.unwrap();
    sorted(messages.iter().map(TaskMessage::to_body).collect())
}

#[test]
fn a_message_is_the_source_and_the_task_kind_and_nothing_else() {
    let m = TaskMessage {
        source_id: "prod".into(),
        task: TaskKind::Backfill,
    };
    assert_eq!(m.to_body(), r#"{"source_id":"prod","task":"backfill"}"#);
    assert_eq!(TaskMessage::from_body(&m.to_body()).unwrap(), m);
    for bad in [
        "",
        "{}",
        r#"{"source_id":"prod"}"#,
        r#"{"source_id":"prod","task":"other"}"#,
        r#"{"source_id":"prod","task":"live","secret_id":"x"}"#,
    ] {
        assert!(TaskMessage::from_body(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn one_message_per_task_of_each_enabled_source_in_batches_of_ten() {
    let registry = registry(23).await;
    let queue = MemoryQueue::new();
    let report = dispatch(&registry, &queue).await.unwrap();
    // 23 sources, 5 disabled (0, 5, 10, 15, 20); backfills on the enabled 3, 6, 9, 12, 18, 21.
    assert_eq!((report.sources, report.disabled), (23, 5));
    assert_eq!(report.sent, 18 + 6);
    assert!(report.unsent.is_empty());
    assert_eq!(queue.calls(), 3);
    assert_eq!(sorted(queue.bodies()), expected(&registry).await);
    assert!(queue
        .bodies()
        .contains(&r#"{"source_id":"org-0003","task":"backfill"}"#.to_string()));
}

#[tokio::test]
async fn refused_entries_and_failed_calls_are_sent_again() {
    let registry = registry(23).await;
    let queue = MemoryQueue::new();
    // Batch 1 loses two entries, then its retry fails as a whole; batch 2 fails once.
    queue.script([
        Some(Fault::Entries(vec![0, 7])),
        Some(Fault::Call),
        None,
        Some(Fault::Call),
    ]);
    let report = dispatch_with_pause(&registry, &queue, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.sent, 24);
    assert!(report.unsent.is_empty());
    assert_eq!(sorted(queue.bodies()), expected(&registry).await);
}

#[tokio::test]
async fn an_entry_refused_every_time_is_reported_the_rest_still_go() {
    let registry = registry(12).await;
    let queue = MemoryQueue::new();
    queue.refuse_always(r#"{"source_id":"org-0001","task":"live"}"#);
    let report = dispatch_with_pause(&registry, &queue, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.unsent.len(), 1);
    assert_eq!(report.unsent[0].source_id, "org-0001");
    assert_eq!(report.sent + 1, report.messages());
    assert!(!report.nothing_sent());
}

/// The crash matrix's dispatcher row: the queue goes down midway (the dispatcher's invocation
/// ends with part of the messages sent); the next dispatch sends every message, so each task
/// is queued at least once. The duplicates it queues are harmless: each task holds a lease on
/// its own checkpoint record, so a second run of it waits or finds nothing new.
#[tokio::test]
async fn a_dispatch_cut_short_midway_is_made_whole_by_the_next() {
    let registry = registry(40).await;
    let want = expected(&registry).await;
    let queue = MemoryQueue::new();
    // Two batches go through, then SQS refuses everything.
    queue.script([None, None]);
    queue.script((0..100).map(|_| Some(Fault::Call)));
    let cut = dispatch_with_pause(&registry, &queue, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(cut.sent, 2 * MAX_BATCH);
    assert_eq!(cut.messages(), want.len());
    let before = queue.bodies();
    assert!(before.len() < want.len());

    let queue_again = MemoryQueue::new();
    let whole = dispatch(&registry, &queue_again).await.unwrap();
    assert!(whole.unsent.is_empty());
    assert_eq!(sorted(queue_again.bodies()), want);
    // Together, every task at least once; the ones sent twice are each a whole task message.
    let mut union = before.clone();
    union.extend(queue_again.bodies());
    union.sort();
    union.dedup();
    assert_eq!(union, want);
}

/// The dispatcher killed midway (its Lambda timing out while SQS hangs): whatever it sent stays
/// sent, and the next dispatch sends every task again.
#[tokio::test]
async fn a_dispatch_killed_midway_is_made_whole_by_the_next() {
    let registry = registry(40).await;
    let want = expected(&registry).await;
    for sent_before_the_kill in [0, 1, 2] {
        let queue = MemoryQueue::new();
        let mut script: Vec<Option<Fault>> = vec![None; sent_before_the_kill];
        script.extend((0..100).map(|_| Some(Fault::Hang)));
        queue.script(script);
        let killed = tokio::time::timeout(
            Duration::from_millis(50),
            dispatch_with_pause(&registry, &queue, Duration::ZERO),
        )
        .await;
        assert!(killed.is_err(), "the dispatch was cut short");
        assert_eq!(queue.bodies().len(), sent_before_the_kill * MAX_BATCH);

        let again = MemoryQueue::new();
        let whole = dispatch(&registry, &again).await.unwrap();
        assert!(whole.unsent.is_empty());
        assert_eq!(
            sorted(again.bodies()),
            want,
            "killed after {sent_before_the_kill}"
        );
    }
}

#[tokio::test]
async fn a_queue_that_is_down_sends_nothing_and_says_so() {
    let registry = registry(3).await;
    let queue = MemoryQueue::new();
    queue.set_down(true);
    let report = dispatch_with_pause(&registry, &queue, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.nothing_sent());
    assert_eq!(queue.calls(), SEND_ATTEMPTS as usize);
    assert!(report.unsent[0].reason.contains("refused the batch"));
}

#[tokio::test]
async fn an_empty_registry_sends_nothing_and_is_no_failure() {
    let registry = MemoryRegistry::new();
    let queue = MemoryQueue::new();
    let report = dispatch(&registry, &queue).await.unwrap();
    assert_eq!(report, DispatchReport::default());
    assert!(!report.nothing_sent());
    assert_eq!(queue.calls(), 0);
}
