//! The whole pipeline exactly as the Lambda builds it (Secrets Manager, DynamoDB, S3), and what
//! S3 holds: every object gzip NDJSON with its content type, encoding and event count.
use crate::support::harness::TestEnv;
use crate::support::scenario;
use atlassian_audit::collector::RunReport;
use simulated_org::SimulatedOrgConfig;

#[tokio::test]
async fn backlog_then_live_events_land_exactly_once_in_s3_with_their_metadata() {
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    let runs = scenario::backlog_then_live(&env).await;
    let objects = env.objects().await;
    scenario::assert_well_formed(&objects);

    let moto = env.moto();
    let mut stored_bytes = 0;
    for o in &objects {
        let head = moto
            .s3
            .head_object()
            .bucket(&moto.bucket)
            .key(&o.stored_key)
            .send()
            .await
            .expect("head object");
        stored_bytes += head.content_length().unwrap_or(0) as u64;
    }
    let total_bytes: u64 = runs.iter().map(|r| r.summary.bytes_written).sum();
    assert_eq!(
        total_bytes, stored_bytes,
        "BytesWritten adds up to what S3 holds"
    );

    for o in &objects {
        assert!(o.stored_key.starts_with("lake/"), "{}", o.stored_key);
        assert_eq!(o.encoding.as_deref(), Some("gzip"), "{}", o.key);
        assert_eq!(
            o.content_type.as_deref(),
            Some("application/x-ndjson"),
            "{}",
            o.key
        );
        assert_eq!(
            o.event_count,
            Some(o.text.lines().count().to_string()),
            "{}",
            o.key
        );
    }
}

#[tokio::test]
async fn a_tampered_table_is_refused_on_a_cold_start() {
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    scenario::tampered_table_is_refused_on_a_cold_start(&env).await;
}

/// Someone with write access to the table lowers `batch_sequence` between two scheduled runs of
/// a warm function (the same process, so the same backends): the next run refuses the
/// checkpoint, says what to do, reports `CheckpointWentBackwards`, writes no object and gives
/// the lease back; once the record is put back, collection goes on.
#[tokio::test]
async fn a_checkpoint_rewound_under_a_warm_function_is_refused_and_nothing_written() {
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    crate::support::append_live(&env.org, 5, 30);
    let backends = env.backends().await;
    let first = run(&env, &backends).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    let honest = env.checkpoint().await.expect("a checkpoint").checkpoint;
    assert!(honest.sequence >= 1);

    // The tampering, straight into the table.
    let mut rewound = honest.clone();
    rewound.sequence = 0;
    env.overwrite_checkpoint(&rewound).await;
    crate::support::append_live(&env.org, 6, 10);
    let (objects_before, requests_before) = (env.objects().await.len(), env.org.requests().len());

    let refused = run(&env, &backends).await;
    scenario::assert_reports_went_backwards(&refused);
    assert_eq!(
        env.objects().await.len(),
        objects_before,
        "no object written"
    );
    let stored = env.checkpoint().await.expect("a checkpoint");
    assert_eq!(stored.checkpoint, rewound, "the checkpoint was not moved");
    assert_eq!(stored.lease, None, "the lease was given back");
    assert_eq!(
        env.org.requests().len(),
        requests_before,
        "no request to the API"
    );

    // The record put back: the same process collects again, every event once.
    env.overwrite_checkpoint(&honest).await;
    let resumed = run(&env, &backends).await;
    assert!(resumed.error.is_none(), "{:?}", resumed.error);
    // Some runs here are the Lambda's own collector (Backends), announcing to no test target.
    env.assert_exactly_once_but_announcements().await;
}

async fn run(env: &TestEnv, backends: &atlassian_audit::setup::Backends) -> RunReport {
    let collector = backends.collector(&env.config()).await.expect("collector");
    collector.run(std::time::Duration::from_secs(30)).await
}
