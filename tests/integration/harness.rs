//! A test environment: a simulated org on loopback and, in moto, a bucket, a checkpoint table
//! and a secret of its own (tests run in parallel against one moto).
use atlassian_audit::checkpoint::{CheckpointStore, DynamoDbCheckpointStore, StoredCheckpoint};
use atlassian_audit::collector::{Collector, CollectorSettings, RunReport};
use atlassian_audit::config::{env, Config};
use atlassian_audit::normalize::{Normalizer, SourceInfo};
use atlassian_audit::setup::{Aws, Backends};
use atlassian_audit::sink::ObjectSink;
use atlassian_audit::source::EventSource;
use flate2::read::GzDecoder;
use serde_json::Value;
use simulated_org::{SimulatedOrg, SimulatedOrgConfig};
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const SOURCE_ID: &str = "test-source";

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}-{}-{}-{n}",
        std::process::id(),
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..8)
            .unwrap_or("x")
    )
}

/// The CLI's binary. It belongs to the workspace's `atlassian-audit-cli` package, so cargo sets
/// no `CARGO_BIN_EXE_` for it here: it sits next to this package's binaries (`cargo test` on the
/// workspace builds it).
pub fn cli_binary() -> std::path::PathBuf {
    let lambda = std::path::Path::new(env!("CARGO_BIN_EXE_atlassian-audit-lambda"));
    let cli = lambda.with_file_name(format!("atlassian-audit{}", std::env::consts::EXE_SUFFIX));
    assert!(
        cli.exists(),
        "the CLI binary {} is missing: run `cargo build -p atlassian-audit-cli` first (`cargo test` on the whole workspace builds it)",
        cli.display()
    );
    cli
}

pub fn require_moto() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("integration tests need moto: run `make test` (it starts moto and sets AWS_ENDPOINT_URL)")
    })
}

pub struct TestEnv {
    pub org: SimulatedOrg,
    pub bucket: String,
    pub table: String,
    pub secret_id: String,
    pub aws: Aws,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub settings: HashMap<&'static str, String>,
}

impl TestEnv {
    pub async fn new(org_config: SimulatedOrgConfig) -> TestEnv {
        require_moto();
        let org = SimulatedOrg::start(org_config, 0)
            .await
            .expect("start the simulated org");
        let aws = Aws::default();
        let s3 = aws.s3(true).await;
        let ddb = aws.dynamodb().await;
        let secrets = aws.secrets_manager().await;
        let bucket = unique("bkt").to_lowercase();
        let table = unique("cp");
        let secret_id = unique("secret");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        ddb.create_table()
            .table_name(&table)
            .attribute_definitions(
                aws_sdk_dynamodb::types::AttributeDefinition::builder()
                    .attribute_name("source_id")
                    .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                    .build()
                    .expect("attribute"),
            )
            .key_schema(
                aws_sdk_dynamodb::types::KeySchemaElement::builder()
                    .attribute_name("source_id")
                    .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create table");
        secrets
            .create_secret()
            .name(&secret_id)
            .secret_string(
                serde_json::json!({"org_id": org.org_id(), "api_key": org.api_key()}).to_string(),
            )
            .send()
            .await
            .expect("create secret");
        let mut settings = HashMap::new();
        settings.insert(env::API_BASE_URL, org.base_url());
        settings.insert(env::SECRET_ID, secret_id.clone());
        settings.insert(env::CHECKPOINT_TABLE, table.clone());
        settings.insert(env::OUTPUT_BUCKET, bucket.clone());
        settings.insert(env::OUTPUT_PREFIX, "lake/".to_string());
        settings.insert(env::S3_FORCE_PATH_STYLE, "true".to_string());
        settings.insert(env::SOURCE_ID, SOURCE_ID.to_string());
        settings.insert(env::PAGE_LIMIT, "200".to_string());
        TestEnv {
            org,
            bucket,
            table,
            secret_id,
            aws,
            s3,
            secrets,
            settings,
        }
    }

    /// Requests the org received without a cursor (reads by `from`, or from the start).
    pub fn reads_by_time(&self) -> usize {
        self.org
            .requests()
            .iter()
            .filter(|q| q.query_value("cursor").is_none())
            .count()
    }

    /// Replaces the secret's content (a rotated, revoked or broken key).
    pub async fn put_secret(&self, text: impl Into<String>) {
        self.secrets
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(text)
            .send()
            .await
            .expect("put secret value");
    }

    pub async fn put_credentials(&self, org_id: &str, api_key: &str) {
        self.put_secret(serde_json::json!({"org_id": org_id, "api_key": api_key}).to_string())
            .await;
    }

    pub fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.settings.insert(name, value.into());
    }

    /// The CLI as a child process, configured exactly as `config()` (the secret, moto storage).
    pub fn cli(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(cli_binary());
        cmd.env_remove(env::API_KEY).env_remove(env::ORG_ID);
        for (name, value) in &self.settings {
            cmd.env(name, value);
        }
        cmd
    }

    pub fn config(&self) -> Config {
        let settings = self.settings.clone();
        Config::from_lookup(move |name| settings.get(name).cloned()).expect("valid test config")
    }

    pub async fn backends(&self) -> Backends {
        self.backends_for(&self.config()).await
    }

    pub async fn backends_for(&self, config: &Config) -> Backends {
        Backends::from_config(config, &self.aws)
            .await
            .expect("backends")
    }

    /// A collector exactly as the Lambda builds it.
    pub async fn collector(&self) -> Collector {
        self.backends()
            .await
            .collector(&self.config())
            .await
            .expect("collector")
    }

    /// A collector whose parts may be wrapped (fault injection) and whose lease grace is short.
    pub async fn collector_with(
        &self,
        wrap_sink: impl FnOnce(Arc<dyn ObjectSink>) -> Arc<dyn ObjectSink>,
        wrap_store: impl FnOnce(Arc<dyn CheckpointStore>) -> Arc<dyn CheckpointStore>,
        lease_grace: Duration,
    ) -> Collector {
        let config = self.config();
        let b = self.backends().await;
        let source: Arc<dyn EventSource> = b.source.clone();
        Collector::new(
            source,
            wrap_store(b.checkpoints.clone()),
            wrap_sink(b.sink.clone()),
            Normalizer::new(SourceInfo {
                source_id: SOURCE_ID.into(),
                source_label: config.source_label.clone(),
            }),
            CollectorSettings {
                source_id: SOURCE_ID.into(),
                page_limit: config.page_limit,
                initial_lookback: config.initial_lookback,
                overlap: atlassian_audit::collector::DEFAULT_OVERLAP,
                lease_grace,
            },
        )
    }

    pub async fn run(&self) -> RunReport {
        self.collector().await.run(Duration::from_secs(60)).await
    }

    pub async fn store(&self) -> DynamoDbCheckpointStore {
        DynamoDbCheckpointStore::new(self.aws.dynamodb().await, self.table.clone())
    }

    pub async fn checkpoint(&self) -> Option<StoredCheckpoint> {
        self.store()
            .await
            .load(SOURCE_ID)
            .await
            .expect("load checkpoint")
    }

    /// Every object in the bucket: (key, metadata event-count, content-encoding, lines).
    pub async fn objects(&self) -> Vec<StoredObject> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .set_continuation_token(token.clone())
                .send()
                .await
                .expect("list");
            for obj in page.contents() {
                let key = obj.key().unwrap_or_default().to_string();
                let got = self
                    .s3
                    .get_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .send()
                    .await
                    .expect("get");
                let event_count = got.metadata().and_then(|m| m.get("event-count")).cloned();
                let encoding = got.content_encoding().map(str::to_string);
                let content_type = got.content_type().map(str::to_string);
                let bytes = got.body.collect().await.expect("body").into_bytes();
                let mut text = String::new();
                GzDecoder::new(&bytes[..])
                    .read_to_string(&mut text)
                    .expect("gzip");
                out.push(StoredObject {
                    key,
                    event_count,
                    encoding,
                    content_type,
                    text,
                });
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        out
    }

    /// Lines under logs/ and under quarantine/, parsed.
    pub async fn written(&self) -> (Vec<Value>, Vec<Value>) {
        let mut logs = Vec::new();
        let mut quarantine = Vec::new();
        for o in self.objects().await {
            for line in o.text.lines() {
                let v: Value = serde_json::from_str(line).expect("each line is JSON");
                if o.key.starts_with("lake/logs/atlassian_audit/") {
                    logs.push(v);
                } else if o.key.starts_with("lake/quarantine/atlassian_audit/") {
                    quarantine.push(v);
                } else {
                    panic!("unexpected key {}", o.key);
                }
            }
        }
        (logs, quarantine)
    }

    /// Every valid event the org holds is under logs/ exactly once; every invalid one is under
    /// quarantine/ exactly once; nothing else is written; the checkpoint is settled.
    pub async fn assert_exactly_once(&self) {
        let (logs, quarantine) = self.written().await;
        let mut counts: HashMap<String, usize> = HashMap::new();
        for v in &logs {
            let id = v["id"].as_str().expect("id").to_string();
            *counts.entry(id).or_default() += 1;
        }
        let valid = self.org.valid_event_ids();
        let missing: Vec<&String> = valid
            .iter()
            .filter(|id| !counts.contains_key(*id))
            .collect();
        let doubled: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
        let foreign: Vec<&String> = counts.keys().filter(|id| !valid.contains(*id)).collect();
        assert!(
            missing.is_empty(),
            "{} valid events missing, e.g. {:?}",
            missing.len(),
            missing.first()
        );
        assert!(
            doubled.is_empty(),
            "{} events written twice, e.g. {:?}",
            doubled.len(),
            doubled.first()
        );
        assert!(
            foreign.is_empty(),
            "events under logs/ the org never had: {foreign:?}"
        );

        let invalid: Vec<Value> = self
            .org
            .events()
            .into_iter()
            .filter(|e| !simulated_org::is_valid_event(e))
            .collect();
        assert_eq!(
            quarantine.len(),
            invalid.len(),
            "quarantine holds {} lines for {} invalid events",
            quarantine.len(),
            invalid.len()
        );
        for q in &quarantine {
            assert!(q["error"].as_str().is_some_and(|e| !e.is_empty()), "{q}");
            assert!(
                invalid.contains(&q["raw"]),
                "quarantined something that was not invalid: {q}"
            );
        }
        let stored = self.checkpoint().await.expect("a checkpoint");
        assert!(
            stored.checkpoint.pending.is_none(),
            "a batch was left pending"
        );
        assert_eq!(
            stored.checkpoint.events_written as usize,
            logs.len() + quarantine.len(),
            "the checkpoint's count disagrees with the objects"
        );
    }
}

pub struct StoredObject {
    pub key: String,
    pub event_count: Option<String>,
    pub encoding: Option<String>,
    pub content_type: Option<String>,
    pub text: String,
}
