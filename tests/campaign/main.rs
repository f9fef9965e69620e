//! The fault campaign: hundreds of collection passes against the simulated organization and moto,
//! with faults drawn at random from a printed seed, then an event-by-event audit of the bucket.
//!
//! Faults: the process killed at a random instant (a real child process and SIGKILL), the Lambda
//! deadline reached mid-page (the run's future dropped where it stands), S3/DynamoDB/Secrets
//! Manager answering 500 or throttling, losing answers or stalling past the attempt timeout (a
//! proxy in front of moto), the API answering 429 (with and without reset headers), 5xx,
//! truncated or non-JSON bodies, stalling past the client timeout, repeating events across
//! pages, refusing the cursor, and two or three passes started at once. New events keep
//! arriving, some of them late (old `time`, new `processedAt`).
//!
//! `cargo test --test campaign` runs the short form (CI); the long one:
//! `cargo test --test campaign -- --passes 1200 --backlog 20000 --seed <seed>` (needs moto:
//! `eval "$(scripts/moto.sh start)"`).
use atlassian_audit_test_support as support;

mod aws_proxy;
mod fleet;

use atlassian_audit::checkpoint::{CheckpointStore, DynamoDbCheckpointStore, Mark};
use atlassian_audit::collector::RunReport;
use atlassian_audit::collector::StopReason;
use atlassian_audit::config::env;
use atlassian_audit::detect::Alert;
use atlassian_audit::notify::{AlertNotifier, NotifyError};
use atlassian_audit::setup::Aws;
use aws_proxy::AwsProxy;
use clap::Parser;
use serde_json::{json, Value};
use simulated_org::{
    generate_events_for_org, generate_invalid_events_in, is_valid_event, now_ms, Fault,
    ResetHeader, SimulatedOrgConfig,
};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::harness::{TestEnv, SOURCE_ID};

/// Timeouts the passes run with: short, so stalls past them are cheap to inject.
const CLIENT_TIMEOUT: &str = "1s";
const STALL_PAST_TIMEOUT: Duration = Duration::from_millis(1_300);
/// Leases of in-process passes outlive their budget by this little, so a dropped pass does not
/// stall the campaign for long.
const LEASE_GRACE: Duration = Duration::from_millis(300);
const PAGE_LIMIT: &str = "50";

#[derive(Parser, Debug)]
#[command(ignore_errors = true)]
struct Args {
    /// Collection passes.
    #[arg(long, default_value_t = 80)]
    passes: usize,
    /// Seed of every random draw (default: a fresh one, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Events in the backlog at the start (new ones keep arriving during the campaign).
    #[arg(long, default_value_t = 1_200)]
    backlog: usize,
    /// Share of API requests that draw a fault.
    #[arg(long, default_value_t = 0.2)]
    api_fault_rate: f64,
    /// Share of S3, DynamoDB and Secrets Manager requests that draw a fault.
    #[arg(long, default_value_t = 0.06)]
    aws_fault_rate: f64,
    /// After every pass whose checkpoint has no batch pending, check that the bucket holds a
    /// prefix of the stream (no event missing before one written): finds the pass that loses.
    #[arg(long)]
    check_each_pass: bool,
    /// One line per pass: its kind, how each run ended, and the batch pending after it (events,
    /// redos, objects): finds why the checkpoint stalls.
    #[arg(long)]
    trace_passes: bool,
    /// Where the JSON report is written.
    /// Many organizations in one deployment: three sources (one with a 30-day backfill), every
    /// pass `run --all-sources` (tests/campaign/fleet.rs); `--backlog` is per organization.
    #[arg(long)]
    fleet: bool,
    #[arg(long, default_value = "target/campaign/report.json")]
    report: PathBuf,
    /// Test-name filters from `cargo test <filter>`: the campaign runs only when one matches.
    filters: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.filters.is_empty() && !args.filters.iter().any(|f| "campaign".contains(f.as_str())) {
        println!("test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out");
        return ExitCode::SUCCESS;
    }
    let Ok(moto) = std::env::var("AWS_ENDPOINT_URL") else {
        eprintln!("the campaign needs moto: run `make test`, or `eval \"$(scripts/moto.sh start)\"` first");
        return ExitCode::FAILURE;
    };
    // The collector reaches AWS only through the fault proxy: point the SDK's standard setting at
    // it before any thread exists.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let proxy_url = format!("http://{}", listener.local_addr().expect("its address"));
    std::env::set_var("AWS_ENDPOINT_URL", &proxy_url);

    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    println!(
        "campaign: seed {seed}, {} passes, backlog {} (replay: {})",
        args.passes,
        args.backlog,
        replay(seed, &args)
    );
    let logs = LogCapture::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let started = Instant::now();
    if args.fleet {
        let outcome = runtime.block_on(fleet::fleet_campaign(&args, seed, moto, listener, &logs));
        let report = outcome.report(seed, &args, started.elapsed());
        return conclude(
            &args,
            seed,
            report,
            outcome.problems(),
            "the fleet's sources each exactly once",
        );
    }
    let outcome = runtime.block_on(campaign(&args, seed, moto, listener, &logs));
    let report = outcome.report(seed, &args, started.elapsed());
    if let Some(dir) = args.report.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(
        &args.report,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    let problems = outcome.problems();
    if problems.is_empty() {
        println!(
            "campaign passed: 0 lost, 0 duplicated, 0 panics, 0 leaks, metrics add up, {} alerts each once",
            outcome.alerts_opened
        );
        println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("campaign FAILED: {p}");
        }
        eprintln!("replay: {}", replay(seed, &args));
        println!("test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out");
        ExitCode::FAILURE
    }
}

fn replay(seed: u64, args: &Args) -> String {
    format!(
        "cargo test --test campaign -- --seed {seed} --passes {} --backlog {} --api-fault-rate {} --aws-fault-rate {}{}",
        args.passes,
        args.backlog,
        args.api_fault_rate,
        args.aws_fault_rate,
        if args.fleet { " --fleet" } else { "" }
    )
}

/// Writes the report, prints the verdict and the test harness's line.
fn conclude(
    args: &Args,
    seed: u64,
    report: Value,
    problems: Vec<String>,
    passed: &str,
) -> ExitCode {
    if let Some(dir) = args.report.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    let _ = std::fs::write(&args.report, &text);
    println!("{text}");
    if problems.is_empty() {
        println!("campaign passed: {passed}, 0 lost, 0 duplicated, 0 panics, 0 leaks");
        println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("campaign FAILED: {p}");
        }
        eprintln!("replay: {}", replay(seed, args));
        println!("test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out");
        ExitCode::FAILURE
    }
}

/// Everything the collector logs in this process, searched for the key at the end.
#[derive(Clone, Default)]
struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    fn install() -> LogCapture {
        let capture = LogCapture::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        capture
    }

    fn contains(&self, needle: &str) -> bool {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PassKind {
    /// One run in this process with a small budget (it may stop softly mid-backlog).
    InProcess,
    /// The Lambda deadline: the run's future is dropped at a random instant, mid-page.
    Deadline,
    /// The CLI as a child process, SIGKILLed at a random instant (or left to finish).
    ChildProcess,
    /// Two or three runs started at once.
    Concurrent,
}

/// How one run ended.
enum RunEnd {
    /// Returned a summary: (events + quarantined it reported, whether the run succeeded, stop reason).
    Completed {
        written: u64,
        summary: Value,
    },
    /// Killed or dropped before it could report.
    Died,
    Panicked(String),
}

#[derive(Default)]
struct Outcome {
    passes: BTreeMap<&'static str, u64>,
    run_ends: BTreeMap<String, u64>,
    faults: BTreeMap<String, u64>,
    /// How the API paged, per pass (not faults: both are legitimate behaviours).
    conditions: BTreeMap<String, u64>,
    events_served_valid: usize,
    events_served_invalid: usize,
    lost: usize,
    duplicated: usize,
    foreign: usize,
    quarantine_missing: usize,
    quarantine_duplicated: usize,
    quarantine_foreign: usize,
    panics: Vec<String>,
    leaks: Vec<String>,
    metric_mismatches: Vec<String>,
    checkpoint_problems: Vec<String>,
    /// alerts/ against the rules over the archive's events.
    alert_problems: Vec<String>,
    alerts_opened: usize,
    alert_lines: usize,
    /// Announcements (in-process runs only: the CLI's announce nowhere), and how many of them
    /// repeated an alert announced before, against the runs that ended without finishing
    /// (died, or failed: both can fall between announcing a batch and committing it).
    announcements: usize,
    announcement_repeats: usize,
    announcements_foreign: usize,
    most_announcements_of_one_alert: usize,
    runs_ended_early: u64,
    reported_written: u64,
    checkpoint_written: u64,
    catch_up_runs: usize,
    /// How each fault-free catch-up run ended (its stop reason and error), so a campaign whose
    /// catch-up got stuck says why.
    catch_up_ends: Vec<String>,
    late_events: usize,
    /// Batches that staged late events (their staging objects), and the late events in them:
    /// all carried into logs/ by the end.
    staging_objects: usize,
    staged_events: usize,
    /// Hostile events among them: rule-named events of a megabyte (wide contexts) and events
    /// dated in year 9999.
    hostile_events: usize,
    /// Announcement calls the flaky channel refused, and alerts the runs reported undelivered
    /// (a batch whose announcement failed too often, committed without it).
    announcements_refused: usize,
    alerts_undelivered: u64,
    /// Runs (of those whose summary the campaign reads) that discarded the detection state as
    /// not sealed by the collector's key: nobody rewrites the table here, so any is a state
    /// committed unsealed (its alerts would open twice).
    detect_states_rejected: usize,
    /// Events in the checkpoint when the faulted passes ended (before the fault-free catch-up),
    /// and the most passes the checkpoint stood still during them (sampled every 20 passes).
    events_committed_under_faults: u64,
    longest_stall_passes: usize,
    aws_requests: u64,
    api_requests: usize,
    log_bytes: usize,
    setup_error: Option<String>,
}

impl Outcome {
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.longest_stall_passes >= MAX_STALL_PASSES {
            p.push(format!(
                "the checkpoint stood still for {} passes under faults (a batch whose writes keep failing must shrink until one gets through)",
                self.longest_stall_passes
            ));
        }
        if let Some(e) = &self.setup_error {
            p.push(format!("setup: {e}"));
        }
        let counts = [
            ("valid events lost", self.lost),
            ("valid events written twice", self.duplicated),
            ("events under logs/ the org never served", self.foreign),
            (
                "invalid events missing from quarantine/",
                self.quarantine_missing,
            ),
            (
                "invalid events quarantined twice",
                self.quarantine_duplicated,
            ),
            (
                "quarantined lines that were not invalid events",
                self.quarantine_foreign,
            ),
        ];
        for (what, n) in counts {
            if n > 0 {
                p.push(format!("{n} {what}"));
            }
        }
        p.extend(self.panics.iter().map(|e| format!("panic: {e}")));
        p.extend(self.leaks.iter().map(|e| format!("key leaked: {e}")));
        p.extend(
            self.metric_mismatches
                .iter()
                .map(|e| format!("metrics: {e}")),
        );
        p.extend(
            self.checkpoint_problems
                .iter()
                .map(|e| format!("checkpoint: {e}")),
        );
        p.extend(self.alert_problems.iter().map(|e| format!("alerts: {e}")));
        if self.detect_states_rejected > 0 {
            p.push(format!(
                "{} runs found the detection state unsealed (a run committed it without the seal key)",
                self.detect_states_rejected
            ));
        }
        if self.announcements_foreign > 0 {
            p.push(format!(
                "{} announcements of alerts the archive did not open (or not worth announcing)",
                self.announcements_foreign
            ));
        }
        if self.most_announcements_of_one_alert as u64 > 1 + self.runs_ended_early {
            p.push(format!(
                "an alert was announced {} times, with {} runs ended early",
                self.most_announcements_of_one_alert, self.runs_ended_early
            ));
        }
        p
    }

    fn report(&self, seed: u64, args: &Args, elapsed: Duration) -> Value {
        let total_faults: u64 = self.faults.values().sum();
        let mut report = json!({
            "seed": seed,
            "passes": args.passes,
            "initial_backlog": args.backlog,
            "api_fault_rate": args.api_fault_rate,
            "aws_fault_rate": args.aws_fault_rate,
            "replay": replay(seed, args),
            "wall_seconds": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
            "passes_by_kind": self.passes,
            "runs_by_end": self.run_ends,
            "faults_total": total_faults,
            "faults_by_kind": self.faults,
            "paging_conditions": self.conditions,
            "api_requests": self.api_requests,
            "aws_requests": self.aws_requests,
            "events_valid": self.events_served_valid,
            "events_invalid": self.events_served_invalid,
            "late_events_among_them": self.late_events,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "foreign": self.foreign,
            "quarantine_missing": self.quarantine_missing,
            "quarantine_duplicated": self.quarantine_duplicated,
            "quarantine_foreign": self.quarantine_foreign,
            "panics": self.panics.len(),
            "leaks": self.leaks.len(),
            "metric_mismatches": self.metric_mismatches.len(),
            "checkpoint_problems": self.checkpoint_problems,
            "alert_problems": self.alert_problems,
            "alerts_opened": self.alerts_opened,
            "alert_lines": self.alert_lines,
            "announcements": self.announcements,
            "announcement_repeats": self.announcement_repeats,
            "announcements_foreign": self.announcements_foreign,
            "most_announcements_of_one_alert": self.most_announcements_of_one_alert,
            "runs_ended_early": self.runs_ended_early,
            "events_reported_by_runs_that_completed": self.reported_written,
            "events_in_checkpoint": self.checkpoint_written,
            "catch_up_runs_after_the_faults": self.catch_up_runs,
            "catch_up_run_ends": self.catch_up_ends,
            "log_bytes_searched_for_the_key": self.log_bytes,
        });
        // The detect stage's hostile inputs and the flaky channel (kept out of the macro above,
        // which is at serde_json's recursion limit).
        report["hostile_events_among_them"] = json!(self.hostile_events);
        report["announcements_refused"] = json!(self.announcements_refused);
        report["alerts_undelivered"] = json!(self.alerts_undelivered);
        report["detect_states_rejected"] = json!(self.detect_states_rejected);
        report["events_committed_under_faults"] = json!(self.events_committed_under_faults);
        report["staging_objects"] = json!(self.staging_objects);
        report["staged_events"] = json!(self.staged_events);
        report["longest_stall_passes"] = json!(self.longest_stall_passes);
        report
    }
}

/// Passes the checkpoint may stand still under the campaign's faults (events keep arriving, so
/// standing still means no batch gets through).
const MAX_STALL_PASSES: usize = 300;

struct Campaign<'a> {
    env: TestEnv,
    proxy: AwsProxy,
    /// Checkpoint reads for the bookkeeping, straight to moto (never faulted).
    store: DynamoDbCheckpointStore,
    direct_ddb: aws_sdk_dynamodb::Client,
    rng: fastrand::Rng,
    key: String,
    child_output: Vec<u8>,
    errors: Vec<String>,
    out: Outcome,
    logs: &'a LogCapture,
    /// The in-process runs' channel: refuses some calls, passes the rest to `env.notified`.
    channel: Arc<FlakyChannel>,
}

/// A channel that refuses a share of its calls (a throttled or misconfigured topic), drawn from
/// the campaign's seed.
struct FlakyChannel {
    inner: Arc<atlassian_audit::notify::MemoryNotifier>,
    refuse_rate: f64,
    rng: std::sync::Mutex<fastrand::Rng>,
    refused: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl AlertNotifier for FlakyChannel {
    async fn publish(&self, alerts: &[Alert]) -> Result<(), NotifyError> {
        let refuse = self
            .rng
            .lock()
            .map(|mut r| r.f64() < self.refuse_rate)
            .unwrap_or(false);
        if refuse {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Err(NotifyError {
                target: "flaky://campaign".into(),
                alerts: alerts.len(),
                reason: "Throttling: rate exceeded (the campaign's flaky channel)".into(),
            });
        }
        self.inner.publish(alerts).await
    }
    fn describe(&self) -> String {
        "flaky://campaign".into()
    }
}

async fn campaign(
    args: &Args,
    seed: u64,
    moto: String,
    listener: std::net::TcpListener,
    logs: &LogCapture,
) -> Outcome {
    let proxy = AwsProxy::serve(listener, moto.clone(), seed ^ 0xa5a5, STALL_PAST_TIMEOUT);
    let key = format!("campaign-key-{seed:016x}-{}", uuid::Uuid::new_v4().simple());
    let mut env = TestEnv::on_moto(SimulatedOrgConfig {
        api_key: key.clone(),
        ..Default::default()
    })
    .await;
    env.aws = Aws::with_attempt_timeout(Duration::from_secs(1));
    env.set(env::PAGE_LIMIT, PAGE_LIMIT);
    env.set(env::API_REQUEST_TIMEOUT, CLIENT_TIMEOUT);
    env.set(env::AWS_ATTEMPT_TIMEOUT, CLIENT_TIMEOUT);
    env.set(env::RUN_BUDGET_SECONDS, "10");
    let direct = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto)
        .load()
        .await;
    let direct_ddb = aws_sdk_dynamodb::Client::new(&direct);
    let store = DynamoDbCheckpointStore::new(direct_ddb.clone(), env.moto().table.clone());
    let channel = Arc::new(FlakyChannel {
        inner: env.notified.clone(),
        refuse_rate: (args.aws_fault_rate / 2.0).min(0.5),
        rng: std::sync::Mutex::new(fastrand::Rng::with_seed(seed ^ 0x0a1e)),
        refused: Default::default(),
    });
    let mut c = Campaign {
        channel,
        env,
        proxy,
        store,
        direct_ddb,
        rng: fastrand::Rng::with_seed(seed),
        key,
        child_output: Vec::new(),
        errors: Vec::new(),
        out: Outcome::default(),
        logs,
    };
    c.run(args, seed).await;
    c.out
}

impl Campaign<'_> {
    async fn run(&mut self, args: &Args, seed: u64) {
        self.backlog(seed, args.backlog);
        self.env
            .org
            .set_random_faults(args.api_fault_rate, seed ^ 0x5a5a, api_faults());
        self.proxy.set_rate(args.aws_fault_rate);

        // (events in the checkpoint, the pass they were first seen at)
        let mut progress = (0, 0);
        for pass in 0..args.passes {
            self.new_activity();
            self.draw_paging();
            self.draw_batch_bounds();
            let kind = match self.rng.u32(..100) {
                0..=39 => PassKind::InProcess,
                40..=59 => PassKind::Deadline,
                60..=84 => PassKind::ChildProcess,
                _ => PassKind::Concurrent,
            };
            *self.out.passes.entry(name_of(kind)).or_default() += 1;
            let before = self.events_in_checkpoint().await;
            let errors_before = self.errors.len();
            let ends = match kind {
                PassKind::InProcess => {
                    let budget = Duration::from_millis(self.rng.u64(300..1_500));
                    vec![self.in_process(budget, None).await]
                }
                PassKind::Deadline => {
                    // Most runs here take well under a second: the deadline lands mid-run.
                    let budget = Duration::from_millis(self.rng.u64(500..1_500));
                    let deadline = Duration::from_millis(self.rng.u64(10..400));
                    vec![self.in_process(budget, Some(deadline)).await]
                }
                PassKind::ChildProcess => vec![self.child_process().await],
                PassKind::Concurrent => {
                    let n = self.rng.usize(2..=3);
                    *self
                        .out
                        .faults
                        .entry("concurrent_runs_started_at_once".into())
                        .or_default() += n as u64;
                    self.concurrent(n).await
                }
            };
            self.settle(kind, &ends, before, pass).await;
            if args.trace_passes {
                self.trace_pass(pass, kind, &ends, errors_before).await;
            }
            if args.check_each_pass && self.out.checkpoint_problems.is_empty() {
                self.proxy.set_rate(0.0);
                self.check_prefix(pass, kind).await;
                self.proxy.set_rate(args.aws_fault_rate);
            }
            if (pass + 1) % 20 == 0 {
                let committed = self.events_in_checkpoint().await;
                if committed != progress.0 {
                    progress = (committed, pass + 1);
                }
                self.out.longest_stall_passes =
                    self.out.longest_stall_passes.max(pass + 1 - progress.1);
                println!(
                    "  pass {:>5}: {} events in the checkpoint, {} faults so far",
                    pass + 1,
                    committed,
                    self.fault_total()
                );
            }
        }
        self.out.events_committed_under_faults = self.events_in_checkpoint().await;
        self.catch_up().await;
        self.audit().await;
    }

    /// How the API cuts and ends pages this pass: a page cap between 37 and 500 (half the time
    /// below PAGE_LIMIT, so pages come shorter than asked for), and either terminal style.
    fn draw_paging(&mut self) {
        let limit: u32 = PAGE_LIMIT.parse().unwrap_or(50);
        let cap = if self.rng.bool() {
            self.rng.u32(37..limit)
        } else {
            self.rng.u32(limit..=500)
        };
        self.env.org.set_page_cap(Some(cap));
        let null_style = self.rng.u32(..100) < 30;
        self.env.org.set_cursor_on_last_page(!null_style);
        if cap < limit {
            *self
                .out
                .conditions
                .entry("passes_with_pages_capped_below_the_limit".into())
                .or_default() += 1;
        }
        if null_style {
            *self
                .out
                .conditions
                .entry("passes_whose_stream_ends_with_null".into())
                .or_default() += 1;
        }
    }

    /// How many pages a batch takes this pass: one (as before batches spanned pages), a few,
    /// or as many as the run reads (the default bounds), sometimes bounded by bytes instead.
    fn draw_batch_bounds(&mut self) {
        let (events, condition) = match self.rng.u32(..100) {
            0..=19 => ("1".to_string(), "passes_with_one_page_batches"),
            20..=69 => (
                self.rng.u32(2..=600).to_string(),
                "passes_with_batches_of_a_few_pages",
            ),
            _ => (
                atlassian_audit::collector::BatchBounds::DEFAULT_MAX_EVENTS.to_string(),
                "passes_with_the_default_batch_bounds",
            ),
        };
        self.env.set(env::BATCH_MAX_EVENTS, events);
        // A small byte bound: a batch of a page or two of these events.
        let mib = if self.rng.u32(..10) == 0 { "1" } else { "64" };
        self.env.set(env::BATCH_MAX_MIB, mib);
        *self.out.conditions.entry(condition.into()).or_default() += 1;
    }

    fn fault_total(&self) -> u64 {
        self.out.faults.values().sum::<u64>()
            + self.proxy.faults().values().sum::<u64>()
            + self
                .env
                .org
                .requests()
                .iter()
                .filter(|r| r.fault.is_some())
                .count() as u64
    }

    fn backlog(&mut self, seed: u64, count: usize) {
        let now = now_ms();
        let range = (now - 48 * 3_600_000, now - 60_000);
        let mut events = generate_events_for_org(self.env.org.org_id(), seed, count, range);
        let bad = generate_invalid_events_in(seed, (count / 150).max(1), range);
        let step = events.len() / (bad.len() + 1);
        for (i, e) in bad.into_iter().enumerate().rev() {
            events.insert((i + 1) * step, e);
        }
        self.env.org.append_backlog(events);
    }

    /// Activity between two passes: a few new events, some of them late (their `time` hours old,
    /// processed now), now and then an invalid one.
    fn new_activity(&mut self) {
        let now = now_ms();
        let fresh = self.rng.usize(0..=30);
        if fresh > 0 {
            // Every draw its own seed: generated ids derive from it and must never repeat.
            let events = generate_events_for_org(
                self.env.org.org_id(),
                self.rng.u64(..),
                fresh,
                (now - 60_000, now),
            );
            self.env.org.append_events(events);
        }
        if self.rng.u32(..100) < 30 {
            let late = self.rng.usize(1..=4);
            let hours_ago = self.rng.i64(1..=36) * 3_600_000;
            let events = generate_events_for_org(
                self.env.org.org_id(),
                self.rng.u64(..),
                late,
                (now - hours_ago - 600_000, now - hours_ago),
            );
            self.env.org.append_events(events);
            self.out.late_events += late;
        }
        if self.rng.u32(..100) < 5 {
            let bad = generate_invalid_events_in(self.rng.u64(..), 1, (now - 60_000, now));
            self.env.org.append_events(bad);
        }
        if self.rng.u32(..100) < 6 {
            let hostile = self.hostile_event(now);
            self.env.org.append_events(vec![hostile]);
            self.out.hostile_events += 1;
        }
    }

    /// A rule-named event with a context of 20,000 users (about a megabyte), or one dated in
    /// year 9999: archived exactly once, and alerted on as the rules say.
    fn hostile_event(&mut self, now: i64) -> Value {
        let id = format!("hostile-{}", uuid::Uuid::new_v4());
        let time = simulated_org::format_processed_at(now - 1_000);
        let actor = json!({"id": format!("actor-{}", self.rng.u32(..5)), "name": "Hostile Admin"});
        if self.rng.bool() {
            let context: Vec<Value> = (0..20_000)
                .map(|i| json!({"type": "users", "id": format!("u{i}"), "attributes": {"email": format!("user{i}@example.com")}}))
                .collect();
            json!({"id": id, "type": "events", "attributes": {"time": time, "action": "user_logged_in_as_user", "actor": actor, "context": context}, "links": {}})
        } else {
            json!({"id": id, "type": "events", "attributes": {"time": "9999-12-31T23:59:59Z", "action": "api_token_created", "actor": actor}, "links": {}})
        }
    }

    async fn in_process(&mut self, budget: Duration, deadline: Option<Duration>) -> RunEnd {
        let collector = self.env.collector_announcing_to(self.channel.clone()).await;
        let task = tokio::spawn(async move {
            match deadline {
                Some(d) => tokio::time::timeout(d, collector.run(budget)).await.ok(),
                None => Some(collector.run(budget).await),
            }
        });
        match task.await {
            Ok(Some(report)) => self.completed(report),
            Ok(None) => {
                *self
                    .out
                    .faults
                    .entry("lambda_deadline_mid_run".into())
                    .or_default() += 1;
                RunEnd::Died
            }
            Err(e) if e.is_panic() => RunEnd::Panicked(format!("{e:?}")),
            Err(e) => RunEnd::Panicked(format!("task failed: {e}")),
        }
    }

    fn completed(&mut self, report: RunReport) -> RunEnd {
        if let Some(e) = &report.error {
            self.errors.push(e.to_string());
        }
        let s = &report.summary;
        self.out.alerts_undelivered += s.alerts_undelivered;
        self.out.detect_states_rejected += usize::from(s.detect_state_rejected);
        RunEnd::Completed {
            written: s.events_processed + s.quarantined_events,
            summary: serde_json::to_value(s).unwrap_or(Value::Null),
        }
    }

    async fn concurrent(&mut self, n: usize) -> Vec<RunEnd> {
        let mut tasks = Vec::new();
        for _ in 0..n {
            let collector = self.env.collector_announcing_to(self.channel.clone()).await;
            let budget = Duration::from_millis(self.rng.u64(500..2_500));
            tasks.push(tokio::spawn(async move { collector.run(budget).await }));
        }
        let mut ends = Vec::new();
        for t in tasks {
            ends.push(match t.await {
                Ok(report) => self.completed(report),
                Err(e) => RunEnd::Panicked(format!("{e:?}")),
            });
        }
        ends
    }

    async fn child_process(&mut self) -> RunEnd {
        let mut cmd = self.env.cli(&["run"]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return RunEnd::Panicked(format!("could not start the CLI: {e}")),
        };
        let out_task = tokio::spawn(read_pipe(child.stdout.take()));
        let err_task = tokio::spawn(read_pipe(child.stderr.take()));
        // Nine in ten children are killed at a random instant; the rest run to their end (up to
        // the CLI's smallest budget, 10 s).
        // (A child needs about 50 ms to start and read its secret; most passes end within 700 ms.)
        let kill_after =
            (self.rng.u32(..10) != 0).then(|| Duration::from_millis(self.rng.u64(50..700)));
        let status = match kill_after {
            Some(after) => match tokio::time::timeout(after, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    let _ = child.start_kill(); // SIGKILL
                    let _ = child.wait().await;
                    *self.out.faults.entry("process_sigkill".into()).or_default() += 1;
                    self.collect_child_output(out_task, err_task).await;
                    return RunEnd::Died;
                }
            },
            None => child.wait().await,
        };
        let (stdout, stderr) = self.collect_child_output(out_task, err_task).await;
        let Ok(status) = status else {
            return RunEnd::Panicked("could not wait for the CLI".into());
        };
        let text = String::from_utf8_lossy(&stdout);
        match (status.code(), serde_json::from_str::<Value>(&text)) {
            (Some(0 | 1), Ok(summary)) => {
                let n = |k: &str| summary[k].as_u64().unwrap_or(0);
                if let Some(e) = summary["error"].as_str() {
                    self.errors.push(e.to_string());
                }
                RunEnd::Completed {
                    written: n("events_processed") + n("quarantined_events"),
                    summary,
                }
            }
            (code, _) => RunEnd::Panicked(format!(
                "the CLI ended with {code:?} and no summary: {}",
                String::from_utf8_lossy(&stderr)
            )),
        }
    }

    async fn collect_child_output(
        &mut self,
        out: tokio::task::JoinHandle<Vec<u8>>,
        err: tokio::task::JoinHandle<Vec<u8>>,
    ) -> (Vec<u8>, Vec<u8>) {
        let out = out.await.unwrap_or_default();
        let err = err.await.unwrap_or_default();
        self.child_output.extend_from_slice(&out);
        self.child_output.extend_from_slice(&err);
        (out, err)
    }

    /// After a pass: panics recorded, the metrics of a pass whose runs all reported checked
    /// against what the checkpoint counted, and the lease of a dead run mostly fast-forwarded
    /// (as if its lease had run out) so the campaign does not wait it out.
    async fn settle(&mut self, kind: PassKind, ends: &[RunEnd], before: u64, pass: usize) {
        let mut died = false;
        let mut reported = 0;
        for end in ends {
            match end {
                RunEnd::Completed { written, summary } => {
                    reported += written;
                    let stop = summary["stop_reason"].as_str().unwrap_or("?").to_string();
                    *self
                        .out
                        .run_ends
                        .entry(format!("completed: {stop}"))
                        .or_default() += 1;
                }
                RunEnd::Died => {
                    died = true;
                    *self
                        .out
                        .run_ends
                        .entry("died (killed or deadline)".into())
                        .or_default() += 1;
                }
                RunEnd::Panicked(e) => {
                    died = true;
                    self.out.panics.push(format!("pass {pass}: {e}"));
                }
            }
        }
        if died {
            // A write already on its way to moto when the run died may still land: let it.
            tokio::time::sleep(Duration::from_millis(300)).await;
            // A killed CLI's lease would last its 10 s budget + 30 s: always let that time pass.
            // A dropped in-process run's lease (budget + 300 ms) is left to expire by itself
            // a third of the time, so that later passes meet a lease held by a dead run.
            if kind == PassKind::ChildProcess || self.rng.u32(..3) != 0 {
                self.expire_lease().await;
            }
            return;
        }
        let after = self.events_in_checkpoint().await;
        self.out.reported_written += reported;
        if after.checked_sub(before) != Some(reported) {
            self.out.metric_mismatches.push(format!(
                "pass {pass}: the runs reported {reported} events written, the checkpoint went from {before} to {after}"
            ));
        }
    }

    /// With no batch pending, what the bucket holds is a prefix of the stream: a valid event
    /// missing before one that is written was lost by this pass (or an earlier unchecked one).
    async fn check_prefix(&mut self, pass: usize, kind: PassKind) {
        let Ok(Some(stored)) = self.store.load(SOURCE_ID).await else {
            return;
        };
        if stored.checkpoint.pending.is_some() {
            return;
        }
        let (logs, _) = self.env.written().await;
        let seen: std::collections::HashSet<&str> =
            logs.iter().filter_map(|l| l["id"].as_str()).collect();
        let served = self.env.org.events();
        let present: Vec<bool> = served
            .iter()
            .map(|e| !is_valid_event(e) || e["id"].as_str().is_some_and(|id| seen.contains(id)))
            .collect();
        let last = (0..served.len())
            .rev()
            .find(|i| present[*i] && is_valid_event(&served[*i]))
            .unwrap_or(0);
        let missing: Vec<usize> = (0..last).filter(|i| !present[*i]).collect();
        if !missing.is_empty() {
            let c = &stored.checkpoint;
            eprintln!(
                "pass {pass} ({}): {} events missing before position {last} (first {}, last {}); checkpoint sequence {} cursor {:?} window {:?} written {}; settings {:?}",
                name_of(kind),
                missing.len(),
                missing[0],
                missing[missing.len() - 1],
                c.sequence,
                c.cursor,
                c.window_start_ms,
                c.events_written,
                (self.env.settings.get(env::BATCH_MAX_EVENTS), self.env.settings.get(env::BATCH_MAX_MIB)),
            );
            self.out.checkpoint_problems.push(format!(
                "after pass {pass}, {} events were missing before one written",
                missing.len()
            ));
        }
    }

    async fn trace_pass(&self, pass: usize, kind: PassKind, ends: &[RunEnd], errors_before: usize) {
        let ends: Vec<String> = ends
            .iter()
            .map(|end| match end {
                RunEnd::Completed { summary, .. } => format!(
                    "{}:{}",
                    summary["stop_reason"].as_str().unwrap_or("?"),
                    summary["events_processed"]
                ),
                RunEnd::Died => "died".into(),
                RunEnd::Panicked(_) => "panicked".into(),
            })
            .collect();
        let stored = self.store.load(SOURCE_ID).await.ok().flatten();
        let (committed, pending) = match &stored {
            Some(s) => (
                s.checkpoint.events_written,
                s.checkpoint.pending.as_ref().map_or("-".to_string(), |p| {
                    format!(
                        "{} events, {} redos, {} hours, {} alert hours, {} announce failures",
                        p.event_count,
                        p.redos,
                        p.hours.len(),
                        p.alert_hours.len(),
                        p.announce_failures
                    )
                }),
            ),
            None => (0, "-".into()),
        };
        let last_error = self.errors[errors_before.min(self.errors.len())..].join(" | ");
        println!(
            "  trace {pass:>5} {:<12} {:<40} committed {committed:>6} cap {:?} pending [{pending}] errors: {last_error:.300}",
            name_of(kind),
            ends.join(","),
            stored.as_ref().and_then(|s| s.checkpoint.batch_cap),
        );
    }

    async fn events_in_checkpoint(&self) -> u64 {
        for _ in 0..5 {
            if let Ok(stored) = self.store.load(SOURCE_ID).await {
                return stored.map(|s| s.checkpoint.events_written).unwrap_or(0);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto does not answer checkpoint reads");
    }

    /// Time passing for a dead run's lease: its expiry moved to now.
    async fn expire_lease(&mut self) {
        let result = self
            .direct_ddb
            .update_item()
            .table_name(&self.env.moto().table)
            .key(
                "source_id",
                aws_sdk_dynamodb::types::AttributeValue::S(SOURCE_ID.into()),
            )
            .update_expression("SET lease_until_ms = :now")
            .condition_expression("attribute_exists(lease_owner)")
            .expression_attribute_values(
                ":now",
                aws_sdk_dynamodb::types::AttributeValue::N((now_ms() - 1).to_string()),
            )
            .send()
            .await;
        if result.is_ok() {
            *self
                .out
                .faults
                .entry("lease_left_by_a_dead_run".into())
                .or_default() += 1;
        }
    }

    /// Faults off; runs until one catches up, as the next scheduled runs would.
    async fn catch_up(&mut self) {
        self.out.faults.extend(
            self.proxy
                .faults()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        for r in self.env.org.requests() {
            if let Some(f) = &r.fault {
                *self.out.faults.entry(api_fault_name(f)).or_default() += 1;
            }
        }
        self.out.api_requests = self.env.org.requests().len();
        self.out.aws_requests = self.proxy.requests();
        self.env.org.clear_faults();
        self.proxy.set_rate(0.0);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.expire_lease().await;
        for _ in 0..30 {
            self.out.catch_up_runs += 1;
            let collector = self.env.collector_with(|s| s, |c| c, LEASE_GRACE).await;
            let report = collector.run(Duration::from_secs(30)).await;
            let end = format!(
                "{:?} after {} events, {} pages: {}",
                report.summary.stop_reason,
                report.summary.events_processed,
                report.summary.pages_fetched,
                report
                    .error
                    .as_ref()
                    .map_or("no error".into(), |e| e.to_string())
            );
            eprintln!("catch-up run {}: {end}", self.out.catch_up_runs);
            self.out.catch_up_ends.push(end);
            if let Some(e) = &report.error {
                self.errors.push(e.to_string());
            }
            match report.summary.stop_reason {
                StopReason::CaughtUp if report.error.is_none() => return,
                StopReason::LeaseHeld => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    self.expire_lease().await;
                }
                _ => {}
            }
        }
        self.out
            .checkpoint_problems
            .push("30 fault-free runs did not catch up".into());
    }

    /// Every event, line by line.
    async fn audit(&mut self) {
        let (logs, quarantine) = self.env.written().await;
        for o in self.env.objects().await {
            if o.key.starts_with("staging/") {
                self.out.staging_objects += 1;
                self.out.staged_events += o.text.lines().count();
            }
        }
        let served = self.env.org.events();
        let (valid, invalid): (Vec<&Value>, Vec<&Value>) =
            served.iter().partition(|e| is_valid_event(e));
        self.out.events_served_valid = valid.len();
        self.out.events_served_invalid = invalid.len();

        let mut seen: HashMap<&str, usize> = HashMap::new();
        for line in &logs {
            *seen.entry(line["id"].as_str().unwrap_or("")).or_default() += 1;
        }
        let valid_ids: std::collections::HashSet<&str> =
            valid.iter().filter_map(|e| e["id"].as_str()).collect();
        if valid_ids.len() != valid.len() {
            // Two different events with one id would read as a duplicate: the test data is wrong.
            self.out.checkpoint_problems.push(format!(
                "the campaign's own data has {} valid events under {} ids",
                valid.len(),
                valid_ids.len()
            ));
        }
        self.out.lost = valid_ids
            .iter()
            .filter(|id| !seen.contains_key(*id))
            .count();
        // Where the lost events sit in the stream (runs of consecutive positions), to find them.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (i, e) in served.iter().enumerate() {
            let lost =
                is_valid_event(e) && e["id"].as_str().is_some_and(|id| !seen.contains_key(id));
            if lost {
                match runs.last_mut() {
                    Some((_, end)) if *end + 1 == i => *end = i,
                    _ => runs.push((i, i)),
                }
            }
        }
        if !runs.is_empty() {
            eprintln!("lost events at stream positions (first, last): {runs:?}");
        }
        self.out.duplicated = seen.values().filter(|n| **n > 1).map(|n| n - 1).sum();
        self.out.foreign = seen.keys().filter(|id| !valid_ids.contains(*id)).count();

        let mut quarantined: Vec<usize> = vec![0; invalid.len()];
        for q in &quarantine {
            match invalid.iter().position(|e| **e == q["raw"]) {
                Some(i) => quarantined[i] += 1,
                None => self.out.quarantine_foreign += 1,
            }
        }
        self.out.quarantine_missing = quarantined.iter().filter(|n| **n == 0).count();
        self.out.quarantine_duplicated =
            quarantined.iter().filter(|n| **n > 1).map(|n| n - 1).sum();

        match self.store.load(SOURCE_ID).await {
            Ok(Some(stored)) => {
                self.out.checkpoint_written = stored.checkpoint.events_written;
                if stored.checkpoint.pending.is_some() {
                    self.out
                        .checkpoint_problems
                        .push("a batch is still pending".into());
                }
                if !stored.checkpoint.staged.is_empty() {
                    self.out.checkpoint_problems.push(format!(
                        "late events are still staged: {:?}",
                        stored.checkpoint.staged
                    ));
                }
                if stored.lease.is_some() {
                    self.out
                        .checkpoint_problems
                        .push("the last run did not release its lease".into());
                }
                if stored.checkpoint.events_written as usize != logs.len() + quarantine.len() {
                    self.out.checkpoint_problems.push(format!(
                        "the checkpoint counts {} events, the bucket holds {}",
                        stored.checkpoint.events_written,
                        logs.len() + quarantine.len()
                    ));
                }
                // The cold-start guard's mark ends where the checkpoint ends, and no honest run
                // was ever refused as having gone backwards.
                let at = Mark {
                    generation: stored.checkpoint.generation.clone(),
                    sequence: stored.checkpoint.sequence,
                };
                let mark = self.env.mark().await;
                if mark.as_ref() != Some(&at) {
                    self.out.checkpoint_problems.push(format!(
                        "the high-water mark {mark:?} is not the checkpoint {at:?}"
                    ));
                }
                if let Some(e) = self.errors.iter().find(|e| e.contains("went backwards")) {
                    self.out
                        .checkpoint_problems
                        .push(format!("an honest run was refused: {e}"));
                }
                let text = format!("{stored:?}");
                if text.contains(&self.key) {
                    self.out.leaks.push("the checkpoint".into());
                }
            }
            Ok(None) => self
                .out
                .checkpoint_problems
                .push("no checkpoint at all".into()),
            Err(e) => self
                .out
                .checkpoint_problems
                .push(format!("unreadable: {e}")),
        }

        // The key: nowhere but in the requests to the org.
        let key = self.key.clone();
        let objects = self.env.objects().await;
        if let Some(o) = objects
            .iter()
            .find(|o| o.text.contains(&key) || o.key.contains(&key))
        {
            self.out.leaks.push(format!("object {}", o.key));
        }
        if self.logs.contains(&key) {
            self.out
                .leaks
                .push("the collector's logs (debug level)".into());
        }
        if self
            .child_output
            .windows(key.len())
            .any(|w| w == key.as_bytes())
        {
            self.out
                .leaks
                .push("a child process's stdout or stderr".into());
        }
        if let Some(e) = self.errors.iter().find(|e| e.contains(&key)) {
            self.out.leaks.push(format!("a run error: {e}"));
        }
        self.out.log_bytes = self.logs.len() + self.child_output.len();
        self.audit_alerts().await;
    }

    /// alerts/ exactly once (the rules' alerts over the archive's events), and what was
    /// announced: only those, each at most once plus once per run that ended early.
    async fn audit_alerts(&mut self) {
        self.out.announcements_refused = self
            .channel
            .refused
            .load(std::sync::atomic::Ordering::SeqCst);
        let audit = self.env.alert_audit().await;
        self.out.alert_problems = audit.problems;
        self.out.alerts_opened = audit.opened.len();
        self.out.alert_lines = audit.lines;
        let notifiers = self.env.backends().await.detection.notifiers;
        let worth: std::collections::HashSet<&str> = notifiers
            .worth_announcing(&audit.opened)
            .into_iter()
            .map(|a| a.id.as_str())
            .collect();
        let announced = self.env.notified.published();
        let mut times: HashMap<&str, usize> = HashMap::new();
        for a in &announced {
            *times.entry(a.id.as_str()).or_default() += 1;
        }
        self.out.announcements = announced.len();
        self.out.announcement_repeats = announced.len() - times.len();
        self.out.announcements_foreign = times.keys().filter(|id| !worth.contains(*id)).count();
        self.out.most_announcements_of_one_alert = times.values().copied().max().unwrap_or(0);
        let ended_early: u64 = self
            .out
            .run_ends
            .iter()
            .filter(|(end, _)| end.starts_with("died") || end.ends_with("failed"))
            .map(|(_, n)| n)
            .sum();
        self.out.runs_ended_early = ended_early + self.out.panics.len() as u64;
        if self.out.alerts_opened == 0 {
            self.out
                .alert_problems
                .push("the campaign's events raised no alert: alerts/ went untested".into());
        }
    }
}

async fn read_pipe<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut p) = pipe {
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut p, &mut buf).await;
    }
    buf
}

fn name_of(kind: PassKind) -> &'static str {
    match kind {
        PassKind::InProcess => "in_process",
        PassKind::Deadline => "lambda_deadline",
        PassKind::ChildProcess => "child_process",
        PassKind::Concurrent => "concurrent",
    }
}

/// The API's misbehaviours the campaign draws from.
fn api_faults() -> Vec<Fault> {
    vec![
        Fault::RateLimited {
            reset: ResetHeader::IsoSeconds { in_secs: 1 },
            retry_after_secs: None,
        },
        Fault::RateLimited {
            reset: ResetHeader::Absent,
            retry_after_secs: Some(1),
        },
        Fault::RateLimited {
            reset: ResetHeader::Absent,
            retry_after_secs: None,
        },
        Fault::RateLimited {
            reset: ResetHeader::IsoMinute,
            retry_after_secs: None,
        },
        Fault::ServerError { status: 500 },
        Fault::ServerError { status: 502 },
        Fault::ServerError { status: 503 },
        Fault::ServerError { status: 504 },
        Fault::TruncatedBody,
        Fault::NotJson,
        Fault::Stall {
            millis: STALL_PAST_TIMEOUT.as_millis() as u64,
        },
        Fault::Stall { millis: 200 },
        Fault::RepeatPrevious { count: 3 },
        Fault::RepeatPrevious { count: 20 },
        Fault::InvalidCursor,
    ]
}

fn api_fault_name(f: &Fault) -> String {
    match f {
        Fault::RateLimited {
            reset: ResetHeader::Absent,
            retry_after_secs: None,
        } => "api_429_without_headers".into(),
        Fault::RateLimited {
            reset: ResetHeader::Absent,
            ..
        } => "api_429_retry_after".into(),
        Fault::RateLimited { .. } => "api_429_with_reset".into(),
        Fault::ServerError { status } => format!("api_{status}"),
        Fault::TruncatedBody => "api_truncated_body".into(),
        Fault::NotJson => "api_html_body".into(),
        Fault::Stall { millis } if *millis >= 1_000 => "api_stall_past_timeout".into(),
        Fault::Stall { .. } => "api_slow_answer".into(),
        Fault::RepeatPrevious { .. } => "api_events_repeated_across_pages".into(),
        Fault::InvalidCursor => "api_cursor_refused".into(),
        Fault::Unauthorized => "api_401".into(),
        Fault::Respond(_) => "api_canned_answer".into(),
    }
}
