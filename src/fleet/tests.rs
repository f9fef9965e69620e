use super::*;
use crate::registry::{Backfill, RegisteredSource};

fn source(enabled: bool, backfill: Option<Option<i64>>) -> RegisteredSource {
    RegisteredSource {
        source_id: "prod".into(),
        secret_id: "s".into(),
        label: "Prod".into(),
        enabled,
        added_ms: 1_000,
        live_start_ms: 1_000,
        backfill: backfill.map(|finished_ms| Backfill {
            from_ms: 10,
            to_ms: 1_000,
            requested_ms: 1_000,
            finished_ms,
        }),
        last_run: None,
    }
}

#[test]
fn a_source_runs_its_live_task_and_its_unfinished_backfill_when_enabled() {
    let live = Task::Live {
        start_ms: Some(1_000),
    };
    let backfill = Task::Backfill {
        from_ms: 10,
        to_ms: 1_000,
    };
    // (enabled, backfill: None = none, Some(None) = running, Some(Some) = finished) → tasks
    let cases = [
        (true, None, vec![live.clone()]),
        (true, Some(None), vec![live.clone(), backfill.clone()]),
        (true, Some(Some(2_000)), vec![live.clone()]),
        (false, Some(None), vec![]),
        (false, None, vec![]),
    ];
    for (enabled, b, want) in cases {
        assert_eq!(tasks_of(&source(enabled, b)), want, "{enabled} {b:?}");
    }
}
