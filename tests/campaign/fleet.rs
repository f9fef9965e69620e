//! The fault campaign for many organizations in one deployment (`--fleet`): three simulated
//! organizations behind one address, registered in a DynamoDB registry with their keys in
//! Secrets Manager, one of them with a 30-day backfill beside its live collection; every pass
//! is `run --all-sources` (in process, killed at a random instant, two at once, or the CLI as a
//! child process killed with SIGKILL) through the same AWS fault proxy and API faults as the
//! single-source campaign. Then a catch-up without faults, and an audit event by event: each
//! source's window of its organization's events under logs/ exactly once, under its own id.
use super::aws_proxy::AwsProxy;
use super::{
    api_faults, read_pipe, Args, LogCapture, CLIENT_TIMEOUT, LEASE_GRACE, STALL_PAST_TIMEOUT,
};
use crate::support::fleet::{processed_since, start_orgs, without_single_org_settings};
use crate::support::harness::{
    cli_binary, create_bucket, create_table, s3_objects, unique, Moto, PREFIX,
};
use atlassian_audit::checkpoint::{CheckpointStore, DynamoDbCheckpointStore};
use atlassian_audit::config::{env, Config};
use atlassian_audit::fleet::{run_all, SecretsManagerSecrets, TaskOutcome};
use atlassian_audit::registry::{DynamoDbRegistry, RegisteredSource, SourceRegistry, Task};
use atlassian_audit::setup::Aws;
use serde_json::{json, Value};
use simulated_org::{generate_events_for_org, now_ms, SimulatedOrg, SimulatedOrgConfig};
use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;
const SOURCES: [(&str, Option<u32>); 3] = [("alpha", None), ("beta", None), ("gamma", Some(30))];

#[derive(Default)]
pub struct FleetOutcome {
    pub passes: BTreeMap<&'static str, u64>,
    pub faults: BTreeMap<String, u64>,
    pub tasks: BTreeMap<String, u64>,
    pub per_source: BTreeMap<String, Value>,
    pub lost: usize,
    pub duplicated: usize,
    pub foreign: usize,
    pub leaks: Vec<String>,
    pub panics: Vec<String>,
    pub problems: Vec<String>,
    pub events_committed_under_faults: u64,
    pub backfill_finished_at_pass: Option<usize>,
}

impl FleetOutcome {
    pub fn fault_total(&self) -> u64 {
        self.faults.values().sum()
    }

    pub fn problems(&self) -> Vec<String> {
        let mut p = self.problems.clone();
        if self.lost + self.duplicated + self.foreign > 0 {
            p.push(format!(
                "{} lost, {} duplicated, {} foreign",
                self.lost, self.duplicated, self.foreign
            ));
        }
        p.extend(self.leaks.iter().map(|l| format!("key leaked: {l}")));
        p.extend(self.panics.iter().map(|l| format!("panic: {l}")));
        p
    }

    pub fn report(&self, seed: u64, args: &Args, elapsed: Duration) -> Value {
        json!({
            "mode": "fleet",
            "seed": seed,
            "passes": args.passes,
            "backlog_per_org": args.backlog,
            "api_fault_rate": args.api_fault_rate,
            "aws_fault_rate": args.aws_fault_rate,
            "elapsed_seconds": elapsed.as_secs(),
            "pass_kinds": self.passes,
            "faults": self.faults,
            "faults_total": self.fault_total(),
            "task_runs": self.tasks,
            "events_committed_under_faults": self.events_committed_under_faults,
            "backfill_finished_at_pass": self.backfill_finished_at_pass,
            "sources": self.per_source,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "foreign": self.foreign,
            "leaks": self.leaks,
            "panics": self.panics,
            "problems": self.problems,
        })
    }
}

struct Fleet<'a> {
    orgs: Vec<SimulatedOrg>,
    moto: Moto,
    /// The registry as the runs reach it (through the fault proxy).
    registry: Arc<dyn SourceRegistry>,
    /// The same table straight to moto, for the audit.
    direct_registry: DynamoDbRegistry,
    direct_store: DynamoDbCheckpointStore,
    config: Config,
    settings: Vec<(&'static str, String)>,
    aws: Arc<Aws>,
    proxy: AwsProxy,
    rng: fastrand::Rng,
    child_output: Vec<u8>,
    logs: &'a LogCapture,
    out: FleetOutcome,
}

pub async fn fleet_campaign(
    args: &Args,
    seed: u64,
    moto_url: String,
    listener: std::net::TcpListener,
    logs: &LogCapture,
) -> FleetOutcome {
    let proxy = AwsProxy::serve(
        listener,
        moto_url.clone(),
        seed ^ 0xf1ee7,
        STALL_PAST_TIMEOUT,
    );
    let direct = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto_url)
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&direct)
            .force_path_style(true)
            .build(),
    );
    let ddb = aws_sdk_dynamodb::Client::new(&direct);
    let secrets = aws_sdk_secretsmanager::Client::new(&direct);
    let (bucket, table) = (unique("fleet").to_lowercase(), unique("fleet-reg"));
    create_bucket(&s3, &bucket).await;
    create_table(&ddb, &table).await;

    let orgs = start_orgs("fleet-org", SOURCES.len(), SimulatedOrgConfig::default()).await;
    let direct_registry = DynamoDbRegistry::new(ddb.clone(), &table);
    for (org, (id, backfill)) in orgs.iter().zip(SOURCES) {
        let now = now_ms();
        org.append_backlog(generate_events_for_org(
            org.org_id(),
            seed ^ now as u64,
            args.backlog,
            (now - 40 * DAY_MS, now - 60_000),
        ));
        let secret = unique(&format!("atlassian-audit/{id}"));
        secrets
            .create_secret()
            .name(&secret)
            .secret_string(json!({"org_id": org.org_id(), "api_key": org.api_key()}).to_string())
            .send()
            .await
            .expect("create secret");
        let source = RegisteredSource::new(id, &secret, id, backfill, 7 * DAY_MS, now_ms())
            .expect("a source");
        direct_registry.add(&source).await.expect("registered");
    }
    let settings = vec![
        (env::API_BASE_URL, orgs[0].base_url()),
        (env::SOURCES_TABLE, table.clone()),
        (env::CHECKPOINT_TABLE, table.clone()),
        (env::OUTPUT_BUCKET, bucket.clone()),
        (env::OUTPUT_PREFIX, PREFIX.to_string()),
        (env::S3_FORCE_PATH_STYLE, "true".to_string()),
        (env::PAGE_LIMIT, "50".to_string()),
        (env::API_REQUEST_TIMEOUT, CLIENT_TIMEOUT.to_string()),
        (env::AWS_ATTEMPT_TIMEOUT, CLIENT_TIMEOUT.to_string()),
        (env::RUN_BUDGET_SECONDS, "10".to_string()),
    ];
    let lookup = settings.clone();
    let config = Config {
        lease_grace: LEASE_GRACE,
        ..Config::from_lookup(move |n| lookup.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
            .expect("a valid configuration")
    };
    let aws = Arc::new(Aws::with_attempt_timeout(Duration::from_secs(1)));
    let registry: Arc<dyn SourceRegistry> =
        Arc::new(DynamoDbRegistry::new(aws.dynamodb().await, &table));
    let direct_store = DynamoDbCheckpointStore::new(ddb.clone(), &table);
    let mut fleet = Fleet {
        orgs,
        moto: Moto {
            bucket,
            table,
            secret_id: String::new(),
            s3,
            secrets,
        },
        registry,
        direct_registry,
        direct_store,
        config,
        settings,
        aws,
        proxy,
        rng: fastrand::Rng::with_seed(seed),
        child_output: Vec::new(),
        logs,
        out: FleetOutcome::default(),
    };
    fleet.run(args, seed).await;
    fleet.out
}

impl Fleet<'_> {
    async fn run(&mut self, args: &Args, seed: u64) {
        for (n, org) in self.orgs.iter().enumerate() {
            org.set_random_faults(
                args.api_fault_rate,
                seed ^ (0x5a5a + n as u64),
                api_faults(),
            );
        }
        self.proxy.set_rate(args.aws_fault_rate);
        for pass in 0..args.passes {
            self.new_activity();
            let kind = match self.rng.u32(..100) {
                0..=49 => "in_process",
                50..=71 => "killed_mid_run",
                72..=75 => "child_process",
                _ => "concurrent",
            };
            *self.out.passes.entry(kind).or_default() += 1;
            match kind {
                "in_process" => {
                    let budget = Duration::from_millis(self.rng.u64(300..1_000));
                    let concurrency = self.rng.usize(2..=4);
                    if let Some(outcomes) = self.run_all(budget, concurrency).await {
                        self.count(&outcomes);
                    }
                }
                "killed_mid_run" => {
                    let budget = Duration::from_millis(self.rng.u64(500..1_500));
                    let kill = Duration::from_millis(self.rng.u64(10..400));
                    let concurrency = self.rng.usize(2..=4);
                    if tokio::time::timeout(kill, self.run_all(budget, concurrency))
                        .await
                        .is_err()
                    {
                        self.fault("run_all_killed_mid_run");
                    }
                }
                "child_process" => self.child_process().await,
                _ => {
                    let budget = Duration::from_millis(self.rng.u64(500..2_000));
                    self.fault("run_all_twice_at_once");
                    let (c1, c2) = (self.rng.usize(2..=4), self.rng.usize(2..=4));
                    let (a, b) = tokio::join!(self.run_all(budget, c1), self.run_all(budget, c2));
                    for outcomes in [a, b].into_iter().flatten() {
                        self.count(&outcomes);
                    }
                }
            }
            if self.out.backfill_finished_at_pass.is_none() && self.backfill_finished().await {
                self.out.backfill_finished_at_pass = Some(pass + 1);
            }
            if (pass + 1) % 50 == 0 {
                println!(
                    "  fleet pass {:>5}: {} events in the checkpoints, {} faults so far",
                    pass + 1,
                    self.events_in_checkpoints().await,
                    self.faults_so_far()
                );
            }
        }
        self.out.events_committed_under_faults = self.events_in_checkpoints().await;
        for org in &self.orgs {
            org.clear_faults();
        }
        self.proxy.set_rate(0.0);
        self.catch_up().await;
        self.audit().await;
    }

    fn fault(&mut self, what: &str) {
        *self.out.faults.entry(what.to_string()).or_default() += 1;
    }

    fn faults_so_far(&self) -> u64 {
        self.out.fault_total() + self.api_faults() + self.proxy.faults().values().sum::<u64>()
    }

    fn api_faults(&self) -> u64 {
        self.orgs
            .iter()
            .map(|o| o.requests().iter().filter(|r| r.fault.is_some()).count() as u64)
            .sum()
    }

    /// New activity in every organization: a few events now, some dated hours back.
    fn new_activity(&mut self) {
        let now = now_ms();
        for org in &self.orgs {
            let fresh = self.rng.usize(0..=10);
            if fresh > 0 {
                let events = generate_events_for_org(
                    org.org_id(),
                    self.rng.u64(..),
                    fresh,
                    (now - 60_000, now),
                );
                org.append_events(events);
            }
            if self.rng.u32(..100) < 20 {
                let hours_ago = self.rng.i64(1..=36) * 3_600_000;
                let events = generate_events_for_org(
                    org.org_id(),
                    self.rng.u64(..),
                    2,
                    (now - hours_ago - 600_000, now - hours_ago),
                );
                org.append_events(events);
            }
            let cap = self.rng.u32(20..=200);
            org.set_page_cap(Some(cap));
            org.set_cursor_on_last_page(self.rng.u32(..100) >= 30);
        }
    }

    /// One `run --all-sources` in this process; `None` when the registry could not be read.
    async fn run_all(&self, budget: Duration, concurrency: usize) -> Option<Vec<TaskOutcome>> {
        let sources = self.registry.list().await.ok()?;
        Some(
            run_all(
                Arc::new(self.config.clone()),
                self.aws.clone(),
                self.registry.clone(),
                Arc::new(SecretsManagerSecrets),
                sources,
                concurrency,
                budget,
            )
            .await,
        )
    }

    fn count(&mut self, outcomes: &[TaskOutcome]) {
        for o in outcomes {
            let end = if o.succeeded() {
                format!("{:?}_{}", o.task, o.summary.stop_reason)
            } else {
                format!("{:?}_failed", o.task)
            };
            *self.out.tasks.entry(end).or_default() += 1;
        }
    }

    /// `atlassian-audit run --all-sources` as a child process, killed with SIGKILL half the time.
    async fn child_process(&mut self) {
        let mut cmd = tokio::process::Command::new(cli_binary());
        without_single_org_settings(&mut cmd);
        for (name, value) in &self.settings {
            cmd.env(name, value);
        }
        cmd.args(["run", "--all-sources", "--emf"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let Ok(mut child) = cmd.spawn() else {
            self.out.panics.push("could not start the CLI".into());
            return;
        };
        let out = tokio::spawn(read_pipe(child.stdout.take()));
        let err = tokio::spawn(read_pipe(child.stderr.take()));
        let kill = self
            .rng
            .bool()
            .then(|| Duration::from_millis(self.rng.u64(50..700)));
        let status = match kill {
            Some(after) => match tokio::time::timeout(after, child.wait()).await {
                Ok(s) => s.ok(),
                Err(_) => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    self.fault("process_sigkill");
                    None
                }
            },
            None => child.wait().await.ok(),
        };
        let (out, err) = (out.await.unwrap_or_default(), err.await.unwrap_or_default());
        if let Some(code) = status.and_then(|s| s.code()) {
            if code > 1 {
                self.out.panics.push(format!(
                    "the CLI ended with {code}: {}",
                    String::from_utf8_lossy(&err)
                ));
            }
        }
        self.child_output.extend_from_slice(&out);
        self.child_output.extend_from_slice(&err);
    }

    async fn backfill_finished(&self) -> bool {
        self.direct_registry
            .get("gamma")
            .await
            .ok()
            .flatten()
            .and_then(|s| s.backfill)
            .is_some_and(|b| b.finished_ms.is_some())
    }

    async fn events_in_checkpoints(&self) -> u64 {
        let mut ids: Vec<String> = SOURCES.iter().map(|(id, _)| id.to_string()).collect();
        if let Ok(Some(g)) = self.direct_registry.get("gamma").await {
            ids.extend(
                g.backfill
                    .as_ref()
                    .map(|b| Task::backfill_of(b).checkpoint_id("gamma")),
            );
        }
        let mut total = 0;
        for id in ids {
            if let Ok(Some(s)) = self.direct_store.load(&id).await {
                total += s.checkpoint.events_written;
            }
        }
        total
    }

    /// Without faults, until every task caught up and the backfill ended (the leases killed
    /// runs left expire within their budget and grace: the CLI's are the longest, 10 s + 30 s).
    async fn catch_up(&mut self) {
        for _ in 0..30 {
            let Some(outcomes) = self.run_all(Duration::from_secs(30), 3).await else {
                continue;
            };
            let settled = outcomes
                .iter()
                .all(|o| o.summary.caught_up() && !o.summary.lease_held)
                && self.backfill_finished().await;
            if settled {
                return;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        self.out.problems.push("the catch-up never settled".into());
    }

    async fn audit(&mut self) {
        let mut written: BTreeMap<String, HashMap<String, usize>> = BTreeMap::new();
        for o in s3_objects(&self.moto).await {
            if !o.key.starts_with("logs/") {
                continue;
            }
            for line in o.text.lines() {
                let Ok(v) = serde_json::from_str::<Value>(line) else {
                    self.out
                        .problems
                        .push(format!("a line of {} is not JSON", o.key));
                    continue;
                };
                let source = v["p_source_id"].as_str().unwrap_or("").to_string();
                let id = v["id"].as_str().unwrap_or("").to_string();
                *written.entry(source).or_default().entry(id).or_default() += 1;
            }
        }
        let registered = self.direct_registry.list().await.unwrap_or_default();
        for (org, source) in self.orgs.iter().zip(&registered) {
            let from = source
                .backfill
                .as_ref()
                .map_or(source.live_start_ms, |b| b.from_ms);
            let expected = processed_since(org, from);
            let got = written.remove(&source.source_id).unwrap_or_default();
            let lost = expected.iter().filter(|id| !got.contains_key(*id)).count();
            let duplicated = got.values().filter(|n| **n > 1).count();
            let foreign = got.keys().filter(|id| !expected.contains(*id)).count();
            self.out.lost += lost;
            self.out.duplicated += duplicated;
            self.out.foreign += foreign;
            self.out.per_source.insert(
                source.source_id.clone(),
                json!({
                    "org": org.org_id(),
                    "expected": expected.len(),
                    "written": got.len(),
                    "lost": lost,
                    "duplicated": duplicated,
                    "foreign": foreign,
                    "backfill": source.backfill.is_some(),
                    "api_requests": org.requests().len(),
                    "api_faults": org.requests().iter().filter(|r| r.fault.is_some()).count(),
                }),
            );
        }
        self.out.foreign += written.values().map(HashMap::len).sum::<usize>();
        let proxy_faults: Vec<(String, u64)> = self
            .proxy
            .faults()
            .into_iter()
            .map(|(k, v)| (format!("aws_{k}"), v))
            .collect();
        for (k, v) in proxy_faults {
            *self.out.faults.entry(k).or_default() += v;
        }
        let api = self.api_faults();
        *self.out.faults.entry("api_faults".into()).or_default() += api;
        let child = String::from_utf8_lossy(&self.child_output).into_owned();
        for org in &self.orgs {
            if self.logs.contains(org.api_key()) {
                self.out
                    .leaks
                    .push(format!("{}'s key in the logs", org.org_id()));
            }
            if child.contains(org.api_key()) {
                self.out
                    .leaks
                    .push(format!("{}'s key in the CLI's output", org.org_id()));
            }
        }
    }
}
