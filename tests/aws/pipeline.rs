//! The whole pipeline exactly as the Lambda builds it (Secrets Manager, DynamoDB, S3), and what
//! S3 holds: every object gzip NDJSON with its content type, encoding and event count.
use crate::support::harness::TestEnv;
use crate::support::scenario;
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
