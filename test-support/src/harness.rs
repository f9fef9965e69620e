//! A test environment: a simulated org on loopback, and storage of its own (tests run in
//! parallel), either
//! - [`TestEnv::local`]: the product's own local storage (a state file and a directory, in a
//!   temporary directory), credentials given as `ATLASSIAN_ORG_ID` + `ATLASSIAN_API_KEY`; or
//! - [`TestEnv::on_moto`]: in moto, a bucket, a checkpoint table and a secret holding the
//!   credentials, as the Lambda is deployed.
use crate::faults::Faults;
use atlassian_audit::checkpoint::{
    AcquireRequest, CheckpointStore, DynamoDbCheckpointStore, Fence, FileCheckpointStore, Mark,
    MonotonicCheckpoints, StoredCheckpoint,
};
use atlassian_audit::collector::{
    Collector, CollectorSettings, DetectStage, RunReport, DEFAULT_OVERLAP,
};
use atlassian_audit::config::{env, Config};
use atlassian_audit::detect::{detect, Alert, DetectState, RulePack};
use atlassian_audit::normalize::{Normalizer, SourceInfo};
use atlassian_audit::notify::{AlertNotifier, MemoryNotifier};
use atlassian_audit::registry::Task;
use atlassian_audit::setup::{self, Aws, Backends};
use atlassian_audit::sink::ObjectSink;
use atlassian_audit::source::EventSource;
use flate2::read::GzDecoder;
use serde_json::Value;
use simulated_org::{is_valid_event, SimulatedOrg, SimulatedOrgConfig};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const SOURCE_ID: &str = "test-source";
/// OUTPUT_PREFIX on moto: every object key in the bucket starts with it.
pub const PREFIX: &str = "lake/";
/// The budget of [`TestEnv::run`]: long enough for any run here to finish its work.
pub const BUDGET: Duration = Duration::from_secs(60);

/// Every setting the collector reads: a CLI child process inherits none of them.
const SETTINGS: [&str; 24] = [
    env::API_BASE_URL,
    env::SECRET_ID,
    env::ORG_ID,
    env::API_KEY,
    env::CHECKPOINT_TABLE,
    env::STATE_FILE,
    env::OUTPUT_BUCKET,
    env::OUTPUT_DIR,
    env::OUTPUT_PREFIX,
    env::S3_FORCE_PATH_STYLE,
    env::SOURCE_ID,
    env::SOURCE_LABEL,
    env::INITIAL_LOOKBACK,
    env::PAGE_LIMIT,
    env::BATCH_MAX_EVENTS,
    env::BATCH_MAX_MIB,
    env::METRICS_NAMESPACE,
    env::RUN_BUDGET_SECONDS,
    env::API_REQUEST_TIMEOUT,
    env::AWS_ATTEMPT_TIMEOUT,
    env::ALERTS_TOPIC_ARN,
    env::ALERTS_EVENT_BUS,
    env::ALERTS_MIN_SEVERITY,
    env::DETECTION_RULES,
];

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
/// no `CARGO_BIN_EXE_` for it: it sits next to the root package's binaries
/// ([`crate::workspace_binary`]). Plain `cargo test` on the workspace and `make test` build it;
/// `cargo test --test aws` alone does not.
pub fn cli_binary() -> PathBuf {
    crate::workspace_binary("atlassian-audit", "atlassian-audit-cli")
}

const NEEDS_MOTO: &str = "this test needs moto, the AWS emulator: run `make test`, or start it with `eval \"$(scripts/moto.sh start)\"` and run `cargo test --test aws`";

/// moto's endpoint (`AWS_ENDPOINT_URL`); fails the test at once when it is not set or nothing
/// answers there.
pub fn require_moto() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| panic!("{NEEDS_MOTO} (AWS_ENDPOINT_URL is not set)"));
    let url = url::Url::parse(&endpoint).unwrap_or_else(|e| {
        panic!("{NEEDS_MOTO} (AWS_ENDPOINT_URL={endpoint:?} is not a URL: {e})")
    });
    let addresses = url.socket_addrs(|| None).unwrap_or_default();
    let answers = addresses
        .iter()
        .any(|a| std::net::TcpStream::connect_timeout(a, Duration::from_secs(2)).is_ok());
    assert!(
        answers,
        "{NEEDS_MOTO} (nothing answers at AWS_ENDPOINT_URL={endpoint})"
    );
    endpoint
}

/// A test environment's resources in moto.
pub struct Moto {
    pub bucket: String,
    pub table: String,
    pub secret_id: String,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// Where a [`TestEnv`] keeps its checkpoint and objects.
enum Backing {
    /// A state file and a directory (the CLI's `--state-file` and `--out-dir`), in this
    /// temporary directory.
    Local(tempfile::TempDir),
    /// DynamoDB, S3 and Secrets Manager in moto.
    Moto(Moto),
}

pub struct TestEnv {
    pub org: SimulatedOrg,
    /// AWS as the collector reaches it (loaded only if something of AWS is used).
    pub aws: Aws,
    /// The settings `config()` reads and `cli()` passes on, as environment variables.
    pub settings: HashMap<&'static str, String>,
    /// Every alert any collector of this environment announced, repeats included.
    pub notified: Arc<MemoryNotifier>,
    /// Which task of the source the collectors run (live collection of everything, unless a
    /// test makes it a backfill).
    pub task: Task,
    backing: Backing,
}

impl TestEnv {
    /// A simulated org, and local storage in a temporary directory.
    pub async fn local(org_config: SimulatedOrgConfig) -> TestEnv {
        let org = start_org(org_config).await;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut settings = common_settings(&org);
        settings.insert(env::ORG_ID, org.org_id().to_string());
        settings.insert(env::API_KEY, org.api_key().to_string());
        let local = dir.path().display().to_string();
        settings.insert(env::OUTPUT_DIR, format!("{local}/out"));
        settings.insert(env::STATE_FILE, format!("{local}/state.json"));
        TestEnv {
            org,
            aws: Aws::default(),
            settings,
            notified: Arc::default(),
            task: Task::default(),
            backing: Backing::Local(dir),
        }
    }

    /// A simulated org, and a bucket, a checkpoint table and a secret in moto.
    pub async fn on_moto(org_config: SimulatedOrgConfig) -> TestEnv {
        require_moto();
        let org = start_org(org_config).await;
        let aws = Aws::default();
        let s3 = aws.s3(true).await;
        let ddb = aws.dynamodb().await;
        let secrets = aws.secrets_manager().await;
        let bucket = unique("bkt").to_lowercase();
        let table = unique("cp");
        let secret_id = unique("secret");
        create_bucket(&s3, &bucket).await;
        create_table(&ddb, &table).await;
        secrets
            .create_secret()
            .name(&secret_id)
            .secret_string(
                serde_json::json!({"org_id": org.org_id(), "api_key": org.api_key()}).to_string(),
            )
            .send()
            .await
            .expect("create secret");
        let mut settings = common_settings(&org);
        settings.insert(env::SECRET_ID, secret_id.clone());
        settings.insert(env::CHECKPOINT_TABLE, table.clone());
        settings.insert(env::OUTPUT_BUCKET, bucket.clone());
        settings.insert(env::OUTPUT_PREFIX, PREFIX.to_string());
        settings.insert(env::S3_FORCE_PATH_STYLE, "true".to_string());
        TestEnv {
            org,
            aws,
            settings,
            notified: Arc::default(),
            task: Task::default(),
            backing: Backing::Moto(Moto {
                bucket,
                table,
                secret_id,
                s3,
                secrets,
            }),
        }
    }

    /// The bucket, table and secret; only on moto.
    pub fn moto(&self) -> &Moto {
        match &self.backing {
            Backing::Moto(m) => m,
            Backing::Local(_) => panic!("this environment keeps its data locally, not in moto"),
        }
    }

    fn local_dir(&self) -> &Path {
        match &self.backing {
            Backing::Local(dir) => dir.path(),
            Backing::Moto(_) => panic!("this environment keeps its data in moto"),
        }
    }

    /// Where a local environment's objects go (`--out-dir`).
    pub fn out_dir(&self) -> PathBuf {
        self.local_dir().join("out")
    }

    /// Where a local environment's checkpoint goes (`--state-file`).
    pub(crate) fn state_file(&self) -> PathBuf {
        self.local_dir().join("state.json")
    }

    /// Requests the org received without a cursor (reads by `from`, or from the start).
    pub fn reads_by_time(&self) -> usize {
        self.org
            .requests()
            .iter()
            .filter(|q| q.query_value("cursor").is_none())
            .count()
    }

    /// Replaces the secret's content (a rotated, revoked or broken key); only on moto.
    pub async fn put_secret(&self, text: impl Into<String>) {
        let moto = self.moto();
        moto.secrets
            .put_secret_value()
            .secret_id(&moto.secret_id)
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

    /// The CLI as a child process with `args` (a subcommand first), configured exactly as
    /// `config()`, with this environment's storage; nothing of the developer's settings leaks in.
    pub fn cli(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(cli_binary());
        for name in SETTINGS {
            cmd.env_remove(name);
        }
        cmd.args(args);
        for (name, value) in &self.settings {
            cmd.env(name, value);
        }
        if let Backing::Local(_) = self.backing {
            cmd.arg("--out-dir")
                .arg(self.out_dir())
                .arg("--state-file")
                .arg(self.state_file());
        }
        cmd
    }

    pub fn config(&self) -> Config {
        let settings = self.settings.clone();
        let config = Config::from_lookup(move |name| settings.get(name).cloned())
            .expect("valid test config");
        Config {
            task: self.task.clone(),
            ..config
        }
    }

    /// The key of the checkpoint record (and high-water mark) of the task the collectors run.
    pub fn checkpoint_id(&self) -> String {
        self.task.checkpoint_id(SOURCE_ID)
    }

    pub async fn backends(&self) -> Backends {
        self.backends_for(&self.config()).await
    }

    pub async fn backends_for(&self, config: &Config) -> Backends {
        Backends::from_config(config, &self.aws)
            .await
            .expect("backends")
    }

    /// A collector exactly as the Lambda (on moto) or the CLI (locally) builds it, its alerts
    /// also announced to [`TestEnv::notified`].
    pub async fn collector(&self) -> Collector {
        let b = self.backends().await;
        let detection = self.detection(&b, self.notified.clone());
        b.collector(&self.config())
            .await
            .expect("collector")
            .with_detection(detection)
    }

    /// The configured rules and targets, plus `notifier`.
    fn detection(&self, b: &Backends, notifier: Arc<dyn AlertNotifier>) -> DetectStage {
        let mut detection = b.detection.clone();
        detection.notifiers = detection.notifiers.also_to(notifier);
        detection
    }

    /// A collector whose parts may be wrapped (fault injection) and whose lease grace is chosen.
    pub async fn collector_with(
        &self,
        wrap_sink: impl FnOnce(Arc<dyn ObjectSink>) -> Arc<dyn ObjectSink>,
        wrap_store: impl FnOnce(Arc<dyn CheckpointStore>) -> Arc<dyn CheckpointStore>,
        lease_grace: Duration,
    ) -> Collector {
        self.collector_wrapping(|s| s, wrap_sink, wrap_store, lease_grace)
            .await
    }

    /// A collector as [`TestEnv::collector`] builds it, announcing to `notifier` as well.
    pub async fn collector_announcing_to(&self, notifier: Arc<dyn AlertNotifier>) -> Collector {
        self.collector_of(
            |s| s,
            |s| s,
            |s| s,
            notifier,
            atlassian_audit::collector::LEASE_GRACE,
        )
        .await
    }

    /// [`TestEnv::collector_with`], the source wrapped too.
    async fn collector_wrapping(
        &self,
        wrap_source: impl FnOnce(Arc<dyn EventSource>) -> Arc<dyn EventSource>,
        wrap_sink: impl FnOnce(Arc<dyn ObjectSink>) -> Arc<dyn ObjectSink>,
        wrap_store: impl FnOnce(Arc<dyn CheckpointStore>) -> Arc<dyn CheckpointStore>,
        lease_grace: Duration,
    ) -> Collector {
        self.collector_of(
            wrap_source,
            wrap_sink,
            wrap_store,
            self.notified.clone(),
            lease_grace,
        )
        .await
    }

    async fn collector_of(
        &self,
        wrap_source: impl FnOnce(Arc<dyn EventSource>) -> Arc<dyn EventSource>,
        wrap_sink: impl FnOnce(Arc<dyn ObjectSink>) -> Arc<dyn ObjectSink>,
        wrap_store: impl FnOnce(Arc<dyn CheckpointStore>) -> Arc<dyn CheckpointStore>,
        notifier: Arc<dyn AlertNotifier>,
        lease_grace: Duration,
    ) -> Collector {
        let config = self.config();
        let b = self.backends().await;
        let detection = self.detection(&b, notifier);
        let source: Arc<dyn EventSource> = wrap_source(b.source.clone());
        Collector::new(
            source,
            wrap_store(b.checkpoints.clone()),
            wrap_sink(b.sink.clone()),
            Normalizer::new(SourceInfo {
                source_id: SOURCE_ID.into(),
                source_label: config.source_label.clone(),
            }),
            CollectorSettings {
                source_id: self.checkpoint_id(),
                page_limit: config.page_limit,
                initial_lookback: config.initial_lookback,
                overlap: DEFAULT_OVERLAP,
                batch_bounds: config.batch_bounds,
                lease_grace,
                window: config.task.window(),
                first_from_ms: config.task.first_from_ms(),
            },
        )
        .with_detection(detection)
    }

    /// A collector whose source, checkpoint table, high-water marks, sink and notifier all go
    /// through `faults` (the table and the marks each, under the check that joins them, so a
    /// crash can land between the two).
    pub async fn collector_with_faults(&self, faults: &Faults, lease_grace: Duration) -> Collector {
        let config = self.config();
        let checkpoints: Arc<dyn CheckpointStore> = Arc::new(MonotonicCheckpoints::new(
            faults.store(setup::checkpoint_table(&config, &self.aws).await),
            faults.marks(setup::high_water_marks(&config, &self.aws).await),
        ));
        self.collector_of(
            |s| faults.source(s),
            |s| faults.sink(s),
            // In place of the configured store, which is the same check over the same two.
            move |_| checkpoints,
            faults.notifier(self.notified.clone()),
            lease_grace,
        )
        .await
    }

    pub async fn run(&self) -> RunReport {
        self.run_for(BUDGET).await
    }

    pub async fn run_for(&self, budget: Duration) -> RunReport {
        self.collector().await.run(budget).await
    }

    /// The checkpoint store, read and written directly (not through a collector).
    pub async fn store(&self) -> Arc<dyn CheckpointStore> {
        match &self.backing {
            Backing::Local(_) => Arc::new(FileCheckpointStore::new(self.state_file())),
            Backing::Moto(m) => Arc::new(DynamoDbCheckpointStore::new(
                self.aws.dynamodb().await,
                m.table.clone(),
            )),
        }
    }

    /// The source's high-water mark, read directly.
    pub async fn mark(&self) -> Option<Mark> {
        setup::high_water_marks(&self.config(), &self.aws)
            .await
            .read(&self.checkpoint_id())
            .await
            .expect("read the high-water mark")
            .map(|stored| stored.mark)
    }

    /// Someone with write access to the table deletes the source's record.
    pub(crate) async fn delete_checkpoint(&self) {
        match &self.backing {
            Backing::Local(_) => std::fs::remove_file(self.state_file()).expect("delete the state"),
            Backing::Moto(m) => {
                self.aws
                    .dynamodb()
                    .await
                    .delete_item()
                    .table_name(&m.table)
                    .key(
                        "source_id",
                        aws_sdk_dynamodb::types::AttributeValue::S(SOURCE_ID.into()),
                    )
                    .send()
                    .await
                    .expect("delete the checkpoint item");
            }
        }
    }

    /// Someone with write access to the table replaces the source's record with `checkpoint`
    /// (no lease held).
    pub async fn overwrite_checkpoint(&self, checkpoint: &atlassian_audit::checkpoint::Checkpoint) {
        let table = self.store().await;
        let lease = atlassian_audit::checkpoint::Lease {
            owner: "tamper".into(),
            until_ms: simulated_org::now_ms() + 60_000,
        };
        let now = simulated_org::now_ms();
        let taken = table
            .acquire(AcquireRequest {
                source_id: SOURCE_ID,
                lease: &lease,
                fence: Fence::longest(),
                now_ms: now,
                new_generation: "tamper",
            })
            .await;
        taken.expect("take the lease to tamper");
        table
            .save(SOURCE_ID, "tamper", checkpoint)
            .await
            .expect("tamper");
        table.release(SOURCE_ID, "tamper").await.expect("release");
    }

    /// The operator deletes the high-water mark (to accept a table reset on purpose).
    pub(crate) async fn delete_mark(&self) {
        let key = atlassian_audit::checkpoint::high_water::mark_key(SOURCE_ID);
        match &self.backing {
            Backing::Local(_) => {
                std::fs::remove_file(self.out_dir().join(key)).expect("delete the mark")
            }
            Backing::Moto(m) => {
                m.s3.delete_object()
                    .bucket(&m.bucket)
                    .key(format!("{PREFIX}{key}"))
                    .send()
                    .await
                    .expect("delete the mark");
            }
        }
    }

    /// The mark never runs ahead of the checkpoint (the table would be refused); after a run
    /// that released its lease with no fault, it is the checkpoint.
    pub async fn assert_mark_follows_checkpoint(&self, released_cleanly: bool) {
        let Some(stored) = self.checkpoint().await else {
            assert_eq!(self.mark().await, None, "a mark without a checkpoint");
            return;
        };
        let at = Mark {
            generation: stored.checkpoint.generation.clone(),
            sequence: stored.checkpoint.sequence,
        };
        let mark = self.mark().await;
        assert!(
            at.follows(mark.as_ref()),
            "mark {mark:?} ahead of the checkpoint {at:?}"
        );
        if released_cleanly {
            assert_eq!(mark, Some(at), "the released run left the mark behind");
        }
    }

    pub async fn checkpoint(&self) -> Option<StoredCheckpoint> {
        self.store()
            .await
            .load(&self.checkpoint_id())
            .await
            .expect("load checkpoint")
    }

    /// Every object archived (logs, quarantine, alerts; not the high-water marks), in no
    /// particular order.
    pub async fn objects(&self) -> Vec<StoredObject> {
        match &self.backing {
            Backing::Local(_) => local_objects(&self.out_dir()),
            Backing::Moto(m) => s3_objects(m).await,
        }
    }

    /// Lines under logs/ and under quarantine/, parsed.
    pub async fn written(&self) -> (Vec<Value>, Vec<Value>) {
        let (logs, quarantine, _) = self.archive().await;
        (logs, quarantine)
    }

    /// The lines under logs/, by the sequence of the batch that read them: the end of the key,
    /// or, for a late event carried into a later batch's objects, the batch whose staging
    /// object holds it.
    async fn logs_by_batch(&self) -> BTreeMap<u64, Vec<Value>> {
        let objects = self.objects().await;
        let mut staged_by: HashMap<String, u64> = HashMap::new();
        for o in objects.iter().filter(|o| o.key.starts_with("staging/")) {
            let sequence = batch_sequence(&o.key);
            for (_, line) in o.text.lines().filter_map(|l| l.split_once('\t')) {
                let v: Value = serde_json::from_str(line).expect("JSON");
                let id = v["id"].as_str().expect("an id").to_string();
                staged_by.insert(id, sequence);
            }
        }
        let mut batches: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
        for o in objects.iter().filter(|o| o.key.starts_with("logs/")) {
            let sequence = batch_sequence(&o.key);
            for line in o.text.lines() {
                let v: Value = serde_json::from_str(line).expect("JSON");
                let read_by = v["id"].as_str().and_then(|id| staged_by.get(id));
                batches
                    .entry(*read_by.unwrap_or(&sequence))
                    .or_default()
                    .push(v);
            }
        }
        batches
    }

    /// Lines under logs/, quarantine/ and alerts/, parsed; nothing else may be written.
    pub async fn archive(&self) -> (Vec<Value>, Vec<Value>, Vec<Alert>) {
        let (mut logs, mut quarantine, mut alerts) = (Vec::new(), Vec::new(), Vec::new());
        for o in self.objects().await {
            // Late events staged by a batch: their copy under logs/ is the one that counts.
            if o.key.starts_with("staging/atlassian_audit/") {
                continue;
            }
            for line in o.text.lines() {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("a line of {} is not JSON: {e}", o.key));
                if o.key.starts_with("logs/atlassian_audit/") {
                    logs.push(v);
                } else if o.key.starts_with("quarantine/atlassian_audit/") {
                    quarantine.push(v);
                } else if o.key.starts_with("alerts/atlassian_audit/") {
                    let alert = serde_json::from_value(v)
                        .unwrap_or_else(|e| panic!("a line of {} is no alert: {e}", o.key));
                    alerts.push(alert);
                } else {
                    panic!("unexpected object {}", o.key);
                }
            }
        }
        (logs, quarantine, alerts)
    }

    /// The archive's alerts are what the rules raise over the org's events taken once each, in
    /// stream order: every alert opened exactly once, no line twice, each alert's last count
    /// the count of its events; and each alert worth announcing was announced, repeated at
    /// most `crashes` times in all. Returns the alerts opened.
    pub async fn assert_alerts_exactly_once(&self, crashes: usize) -> Vec<Alert> {
        let opened = self.archived_alerts_are_the_rules().await;
        self.assert_announced(&opened, crashes).await;
        opened
    }

    /// The archive's alerts (see [`TestEnv::assert_alerts_exactly_once`]); the alerts opened.
    async fn archived_alerts_are_the_rules(&self) -> Vec<Alert> {
        let audit = self.alert_audit().await;
        assert!(audit.problems.is_empty(), "alerts/: {:?}", audit.problems);
        audit.opened
    }

    /// The archive's alerts against the rules' over its events (see
    /// [`TestEnv::assert_alerts_exactly_once`]), as problems rather than panics (the fault
    /// campaign reports them).
    pub async fn alert_audit(&self) -> AlertAudit {
        let (_, _, archived) = self.archive().await;
        let want = reference_alerts(&self.org, self.logs_by_batch().await);
        let mut problems = Vec::new();
        let opened: Vec<Alert> = archived.iter().filter(|a| !a.is_update).cloned().collect();
        let mut opened_ids: Vec<&str> = opened.iter().map(|a| a.id.as_str()).collect();
        opened_ids.sort_unstable();
        let before = opened_ids.len();
        opened_ids.dedup();
        if before != opened_ids.len() {
            problems.push(format!("{} alerts opened twice", before - opened_ids.len()));
        }
        let mut lines: Vec<(&str, u64)> =
            archived.iter().map(|a| (a.id.as_str(), a.count)).collect();
        lines.sort_unstable();
        let before = lines.len();
        lines.dedup();
        if before != lines.len() {
            problems.push(format!(
                "{} alert lines written twice",
                before - lines.len()
            ));
        }
        // Sorted by count within an id: the last one kept is the alert's final count.
        let last_counts: HashMap<&str, u64> = lines.iter().copied().collect();
        let want_counts: HashMap<&str, u64> =
            want.iter().map(|a| (a.id.as_str(), a.count)).collect();
        let missing = want_counts
            .iter()
            .filter(|(id, n)| last_counts.get(*id) != Some(*n))
            .count();
        let foreign = last_counts
            .keys()
            .filter(|id| !want_counts.contains_key(*id))
            .count();
        if missing > 0 || foreign > 0 {
            problems.push(format!(
                "{missing} of the rules' {} alerts missing or miscounted, {foreign} not the rules'",
                want.len()
            ));
        }
        let mut want_opened: Vec<&str> = want.iter().map(|a| a.id.as_str()).collect();
        want_opened.sort_unstable();
        if opened_ids != want_opened {
            problems.push("the alerts opened are not the rules' (each once)".into());
        }
        AlertAudit {
            lines: archived.len(),
            opened,
            problems,
        }
    }

    /// Every opened alert worth announcing was announced, nothing else was, and none more
    /// often than once plus once per crash (a crash between announcing a batch's alerts and
    /// committing it announces them again when the batch is redone).
    async fn assert_announced(&self, opened: &[Alert], crashes: usize) {
        let announced = self.notified.published();
        let notifiers = self.backends().await.detection.notifiers;
        let worth: std::collections::BTreeSet<&str> = notifiers
            .worth_announcing(opened)
            .into_iter()
            .map(|a| a.id.as_str())
            .collect();
        let got: std::collections::BTreeSet<&str> =
            announced.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            got, worth,
            "the alerts announced are those worth announcing"
        );
        let mut times: HashMap<&str, usize> = HashMap::new();
        for a in &announced {
            *times.entry(a.id.as_str()).or_default() += 1;
        }
        for (id, n) in times {
            assert!(
                n <= 1 + crashes,
                "alert {id} announced {n} times after {crashes} crashes"
            );
        }
    }

    /// Every valid event the org holds is under logs/ exactly once and nothing else is; returns
    /// the quarantined lines.
    pub async fn assert_logs_exactly_once(&self) -> Vec<Value> {
        let (logs, quarantine) = self.written().await;
        self.assert_each_valid_event_once(&logs);
        quarantine
    }

    fn assert_each_valid_event_once(&self, logs: &[Value]) {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for v in logs {
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
    }

    /// Every valid event the org holds is under logs/ exactly once; every invalid one is under
    /// quarantine/ exactly once, with a reason; the alerts are the rules' over them, once;
    /// nothing else is written; the checkpoint is settled and agrees with the objects.
    pub async fn assert_exactly_once(&self) {
        self.assert_exactly_once_but_announcements().await;
        self.assert_alerts_exactly_once(0).await;
    }

    /// [`TestEnv::assert_exactly_once`] for runs of this process after `crashes` crashes (each
    /// may repeat a notification).
    pub async fn assert_exactly_once_after(&self, crashes: usize) {
        self.assert_exactly_once_but_announcements().await;
        self.assert_alerts_exactly_once(crashes).await;
    }

    /// [`TestEnv::assert_exactly_once`], but for what was announced, which only runs in this
    /// process can show (not the CLI's).
    pub async fn assert_exactly_once_but_announcements(&self) {
        let (logs, quarantine) = self.written().await;
        self.assert_each_valid_event_once(&logs);
        self.archived_alerts_are_the_rules().await;
        let invalid: Vec<Value> = self
            .org
            .events()
            .into_iter()
            .filter(|e| !is_valid_event(e))
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
        assert!(
            stored.checkpoint.staged.is_empty(),
            "late events were left staged: {:?}",
            stored.checkpoint.staged
        );
        assert_eq!(
            stored.checkpoint.events_written as usize,
            logs.len() + quarantine.len(),
            "the checkpoint's count disagrees with the objects"
        );
    }

    /// The checkpoint exists (the run took the lease) but never moved, and nothing is written.
    pub async fn assert_untouched(&self) {
        let cp = self
            .checkpoint()
            .await
            .expect("a checkpoint record")
            .checkpoint;
        assert_eq!(
            (cp.sequence, cp.events_written, &cp.cursor, &cp.pending),
            (0, 0, &None, &None),
            "the checkpoint moved"
        );
        assert!(cp.newest_processed_at_ms.is_none() && cp.window_start_ms.is_none());
        let objects = self.objects().await;
        assert!(
            objects.is_empty(),
            "something was written: {:?}",
            objects.iter().map(|o| &o.key).collect::<Vec<_>>()
        );
    }
}

async fn start_org(config: SimulatedOrgConfig) -> SimulatedOrg {
    SimulatedOrg::start(config, 0)
        .await
        .expect("start the simulated org")
}

fn common_settings(org: &SimulatedOrg) -> HashMap<&'static str, String> {
    let mut settings = HashMap::new();
    settings.insert(env::API_BASE_URL, org.base_url());
    settings.insert(env::SOURCE_ID, SOURCE_ID.to_string());
    settings.insert(env::PAGE_LIMIT, "200".to_string());
    settings
}

/// A bucket as template.yaml declares it: versioned, with Object Lock's default retention in
/// governance mode, so every write must carry a checksum (S3 refuses a PUT without one there)
/// and every overwrite or delete keeps the version it hides.
pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{
        DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
        ObjectLockRule,
    };
    s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create bucket");
    let retention = DefaultRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .days(1)
        .build();
    let lock = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(retention)
                .build(),
        )
        .build();
    s3.put_object_lock_configuration()
        .bucket(bucket)
        .object_lock_configuration(lock)
        .send()
        .await
        .expect("the bucket's Object Lock default retention");
}

/// A checkpoint table as template.yaml declares it (partition key `source_id`, type S).
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    ddb.create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("source_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("source_id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
}

/// The alerts the built-in rules raise over the archive's events, batch after batch (by the
/// sequence in their keys), each in the org's stream order, from a fresh state: what the
/// collector's batches must add up to. Each alert once, with its final count.
/// The batch sequence at the end of an object's key (`…-<sequence>.json.gz`).
fn batch_sequence(key: &str) -> u64 {
    key.strip_suffix(".json.gz")
        .and_then(|k| k.rsplit('-').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no batch sequence in {key}"))
}

fn reference_alerts(org: &SimulatedOrg, batches: BTreeMap<u64, Vec<Value>>) -> Vec<Alert> {
    let order: HashMap<String, usize> = org
        .events()
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Some((e["id"].as_str()?.to_string(), i)))
        .collect();
    let pack = RulePack::builtin().expect("the built-in pack");
    let mut state = DetectState::default();
    let mut alerts: BTreeMap<String, Alert> = BTreeMap::new();
    for (_, mut events) in batches {
        events.sort_by_key(|v| v["id"].as_str().and_then(|id| order.get(id)).copied());
        let found = detect(&pack, &state, &events);
        state = found.state;
        for alert in found.alerts {
            alerts.insert(alert.id.clone(), alert);
        }
    }
    alerts.into_values().collect()
}

/// What [`TestEnv::alert_audit`] found.
pub struct AlertAudit {
    /// Alerts opened (one line each), and lines in all (updates included).
    pub opened: Vec<Alert>,
    pub lines: usize,
    pub problems: Vec<String>,
}

/// One object as stored.
pub struct StoredObject {
    /// The key the collector wrote (`logs/…` or `quarantine/…`), without the bucket's prefix.
    pub key: String,
    /// Where it is: the bucket's key (with the prefix) on moto, the path under the directory
    /// locally.
    pub stored_key: String,
    /// Bytes stored (gzip).
    pub size: u64,
    /// S3's `event-count` metadata, content-encoding and content-type (moto only).
    pub event_count: Option<String>,
    pub encoding: Option<String>,
    pub content_type: Option<String>,
    /// The decompressed body.
    pub text: String,
}

/// Where the high-water marks are kept: the collector's bookkeeping, not archived objects
/// ([`TestEnv::mark`] reads them).
const MARKS: &str = "high-water/";

fn gunzip(key: &str, bytes: &[u8]) -> String {
    let mut text = String::new();
    GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{key} is not gzip text: {e}"));
    text
}

/// Every object under `dir`. The temporary files LocalDirSink renames into place are not
/// objects (a killed run may leave one behind).
pub(crate) fn local_objects(dir: &Path) -> Vec<StoredObject> {
    let objects = atlassian_audit::sink::objects_under(dir).expect("a readable folder");
    objects
        .into_iter()
        .filter(|o| !o.key.starts_with(MARKS))
        .map(|o| {
            let bytes = std::fs::read(&o.path).expect("read an object");
            StoredObject {
                text: gunzip(&o.key, &bytes),
                stored_key: o.key.clone(),
                key: o.key,
                size: bytes.len() as u64,
                event_count: None,
                encoding: None,
                content_type: None,
            }
        })
        .collect()
}

pub async fn s3_objects(moto: &Moto) -> Vec<StoredObject> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = moto
            .s3
            .list_objects_v2()
            .bucket(&moto.bucket)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("list");
        for obj in page.contents() {
            let stored_key = obj.key().unwrap_or_default().to_string();
            let key = stored_key
                .strip_prefix(PREFIX)
                .unwrap_or_else(|| panic!("{stored_key} is outside the prefix {PREFIX}"))
                .to_string();
            if key.starts_with(MARKS) {
                continue;
            }
            let got = moto
                .s3
                .get_object()
                .bucket(&moto.bucket)
                .key(&stored_key)
                .send()
                .await
                .expect("get");
            let event_count = got.metadata().and_then(|m| m.get("event-count")).cloned();
            let encoding = got.content_encoding().map(str::to_string);
            let content_type = got.content_type().map(str::to_string);
            let bytes = got.body.collect().await.expect("body").into_bytes();
            out.push(StoredObject {
                text: gunzip(&stored_key, &bytes),
                key,
                stored_key,
                size: bytes.len() as u64,
                event_count,
                encoding,
                content_type,
            });
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out
}
