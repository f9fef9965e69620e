//! The whole pipeline exactly as the Lambda builds it (Secrets Manager, DynamoDB, S3), and what
//! S3 holds: every object gzip NDJSON with its content type, encoding and event count.
use crate::support::harness::{TestEnv, PREFIX};
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

/// In a bucket locked as the template's is (Object Lock, governance default retention), every
/// write the collector makes is accepted (S3 refuses a PUT without a checksum there), every
/// version it leaves is locked and cannot be deleted, and each raise of the high-water mark
/// keeps the mark it replaced.
#[tokio::test]
async fn in_a_locked_bucket_every_version_written_is_locked_and_kept() {
    use aws_sdk_s3::types::ObjectLockMode;
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    let runs = scenario::backlog_then_live(&env).await;
    assert!(runs.iter().all(|r| r.error.is_none()), "a run failed");
    let moto = env.moto();
    let listing = moto
        .s3
        .list_object_versions()
        .bucket(&moto.bucket)
        .prefix(PREFIX)
        .send()
        .await
        .expect("list object versions");
    assert_ne!(
        listing.is_truncated(),
        Some(true),
        "more versions than one listing"
    );
    let versions = listing.versions();
    assert!(!versions.is_empty(), "no version written");
    let now = aws_sdk_s3::primitives::DateTime::from(std::time::SystemTime::now());
    for v in versions {
        let (key, id) = (
            v.key().unwrap_or_default(),
            v.version_id().unwrap_or_default(),
        );
        let head = moto
            .s3
            .head_object()
            .bucket(&moto.bucket)
            .key(key)
            .version_id(id)
            .send()
            .await
            .expect("head object version");
        assert_eq!(
            head.object_lock_mode(),
            Some(&ObjectLockMode::Governance),
            "{key}"
        );
        let until = head
            .object_lock_retain_until_date()
            .expect("a retain-until date");
        assert!(until.secs() > now.secs(), "{key} is locked until {until}");
        let delete = moto
            .s3
            .delete_object()
            .bucket(&moto.bucket)
            .key(key)
            .version_id(id)
            .send()
            .await;
        assert!(delete.is_err(), "{key} version {id} could be deleted");
    }
    let mark_key = format!(
        "{PREFIX}{}",
        atlassian_audit::checkpoint::high_water::mark_key(crate::support::harness::SOURCE_ID)
    );
    let marks: Vec<_> = versions
        .iter()
        .filter(|v| v.key() == Some(mark_key.as_str()))
        .collect();
    assert!(marks.len() >= 2, "{} versions of {mark_key}", marks.len());
    // The mark's writes are conditional (If-None-Match, then If-Match): each still carried the
    // checksum a locked bucket asks for.
    for v in marks {
        let head = moto
            .s3
            .head_object()
            .bucket(&moto.bucket)
            .key(&mark_key)
            .version_id(v.version_id().unwrap_or_default())
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .expect("head the mark's version");
        let checksums = [
            head.checksum_crc32(),
            head.checksum_crc32_c(),
            head.checksum_crc64_nvme(),
            head.checksum_sha1(),
            head.checksum_sha256(),
        ];
        assert!(
            checksums.iter().any(Option::is_some),
            "version {:?} of the mark was written without a checksum",
            v.version_id()
        );
    }
}

/// S3 refuses a PUT without a checksum into a bucket with Object Lock. The collector asks for
/// one itself, so an SDK told to send checksums only where an operation requires them
/// (`AWS_REQUEST_CHECKSUM_CALCULATION=when_required`, as older SDKs did) still writes.
#[tokio::test]
async fn writes_to_a_locked_bucket_carry_a_checksum_whatever_the_sdk_is_told() {
    let env = TestEnv::on_moto(SimulatedOrgConfig::default()).await;
    crate::support::fill_backlog(&env.org, 70, 300, 2, 3);
    let out = env
        .cli(&["run", "--budget-seconds", "30"])
        .env("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
        .output()
        .await
        .expect("run the CLI");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.assert_exactly_once_but_announcements().await;
    assert!(
        env.mark().await.is_some(),
        "the high-water mark was written"
    );
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
    crate::support::assert_checkpoint_unchanged(
        &stored.checkpoint,
        &rewound,
        "the checkpoint was not moved",
    );
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
