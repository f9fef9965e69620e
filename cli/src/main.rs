//! The CLI: the same pipeline as the Lambda, run by hand (`run`), a setup check (`check`), the
//! demo against the built-in simulated organization (`demo`), and that organization on its own
//! (`simulate`); the detection rules' own tests and list (`rules`) and the rules over collected
//! output (`detect`).
mod demo;
mod detections;
mod fleet_demo;
mod ocsf_copy;
mod progress;
mod sources;
mod written_alerts;

use anyhow::{Context, Result};
use atlassian_audit::check::{run_checks, setup_failed};
use atlassian_audit::config::{env, Config, Given};
use atlassian_audit::credentials::key_days_left;
use atlassian_audit::metrics::RunMetrics;
use atlassian_audit::progress::Progress;
use atlassian_audit::setup::{Aws, Backends};
use clap::{Args, Parser, Subcommand};
use demo::{run_demo, DemoOptions};
use progress::{AboveTheLine, ProgressLine};
use simulated_org::{
    serve_demo_scenarios, DemoScenario, DemoTraffic, SimulatedOrgConfig, TimeField,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "atlassian-audit",
    version,
    about = "Collects an Atlassian organization's audit log into S3 (or a directory), exactly once."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One collection pass, as the Lambda does (settings from the environment, flags override).
    Run(RunArgs),
    /// Checks the configuration, the secret, the API key and org, and the storage.
    Check(CheckArgs),
    /// Runs the collector against the built-in simulated organization into a local directory.
    Demo(DemoArgs),
    /// Serves the simulated organization on loopback until interrupted (for local invokes).
    Simulate(SimulateArgs),
    /// The detection rules: run their test events, or list them.
    Rules(RulesArgs),
    /// Runs the detection rules over collected output and prints the alerts, one line each.
    Detect(DetectArgs),
    /// The sources registry (SOURCES_TABLE): the organizations `run --all-sources` collects.
    Sources(sources::SourcesArgs),
}

#[derive(Args)]
struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Runs every rule's positive and negative test events (the built-in pack's, and FILE's);
    /// exits non-zero when any fails.
    Test {
        /// A user rule file (YAML), a path, s3://bucket/key or s3://bucket/prefix/: rules added, built-in rules
        /// disabled (default: DETECTION_RULES, if set).
        file: Option<String>,
    },
    /// Lists the rules in force: severity, id, what it means, where it comes from.
    List {
        /// A user rule file (YAML), a path, s3://bucket/key or s3://bucket/prefix/ (default: DETECTION_RULES, if set).
        file: Option<String>,
        /// The same, as a flag (as `detect --rules`).
        #[arg(long, conflicts_with = "file")]
        rules: Option<String>,
    },
    /// Writes the built-in pack as plain Sigma files into DIR (with the pipeline that fills
    /// its placeholders), for a SIEM's converter (`sigma convert`).
    Export {
        /// The folder to write into (created if missing).
        dir: PathBuf,
    },
}

#[derive(Args)]
struct DetectArgs {
    /// A user rule file (YAML), a path, s3://bucket/key or s3://bucket/prefix/: rules added, built-in rules disabled
    /// (default: DETECTION_RULES, if set).
    #[arg(long)]
    rules: Option<String>,
    /// One alert a line as JSON (NDJSON) instead of text.
    #[arg(long)]
    json: bool,
    /// Collected objects (`.json.gz` NDJSON) or folders of them, e.g. demo-output/bucket/logs.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// Each flag falls back to its environment variable (clap's `env`); the other settings are read
/// from the environment by `Config`.
#[derive(Args)]
struct StorageArgs {
    /// Write objects under this directory instead of S3 (OUTPUT_BUCKET).
    #[arg(long, env = env::OUTPUT_DIR)]
    out_dir: Option<PathBuf>,
    /// Keep the checkpoint in this JSON file instead of DynamoDB (CHECKPOINT_TABLE).
    #[arg(long, env = env::STATE_FILE)]
    state_file: Option<PathBuf>,
    /// The Atlassian API's base URL.
    #[arg(long, env = env::API_BASE_URL)]
    api_base_url: Option<String>,
    /// The source's id (default: the org id).
    #[arg(long, env = env::SOURCE_ID)]
    source_id: Option<String>,
    /// A user rule file, a path, s3://bucket/key or s3://bucket/prefix/ (default: the built-in pack alone).
    #[arg(long, env = env::DETECTION_RULES)]
    rules: Option<String>,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Checks every registered source (SOURCES_TABLE) instead: each one's secret and key, and
    /// the storage they share.
    #[arg(long)]
    all_sources: bool,
    /// With --all-sources: the registry's DynamoDB table (default: SOURCES_TABLE).
    #[arg(long, requires = "all_sources")]
    sources_table: Option<String>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Seconds the run may take (default 240, 10 to 86400): it stops early enough to flush.
    #[arg(long, env = env::RUN_BUDGET_SECONDS)]
    budget_seconds: Option<u64>,
    /// Events asked for a page (default 500; 1 to 500).
    #[arg(long, env = env::PAGE_LIMIT)]
    page_limit: Option<u32>,
    /// Also print the CloudWatch Embedded Metric Format line the Lambda emits.
    #[arg(long)]
    emf: bool,
    /// No progress line on stderr (it is shown only when stderr is a terminal).
    #[arg(long, short)]
    quiet: bool,
    /// Collects every enabled source of the registry (SOURCES_TABLE) once, each as its own run.
    #[arg(long, conflicts_with = "source_id")]
    all_sources: bool,
    /// With --all-sources: how many sources' runs go at once (1 to 64).
    #[arg(long, requires = "all_sources", default_value_t = atlassian_audit::fleet::DEFAULT_CONCURRENCY as u16,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// With --all-sources: the registry's DynamoDB table (default: SOURCES_TABLE).
    #[arg(long, requires = "all_sources")]
    sources_table: Option<String>,
}

#[derive(Args)]
struct DemoArgs {
    /// Where the demo writes (replaced on each demo run).
    #[arg(long, default_value = "demo-output")]
    out_dir: PathBuf,
    /// Seed of the simulated organization's events.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Routine events in the organization's audit log before the first run (the seeded
    /// incidents, one per built-in detection rule, come on top).
    #[arg(long, default_value_t = 1200)]
    events: usize,
    /// No progress line on stderr (it is shown only when stderr is a terminal).
    #[arg(long, short)]
    quiet: bool,
    /// Organizations (1 to 5): with more than one, each is a registered source (the last with
    /// a 30-day backfill) and both runs are `run --all-sources` into one output.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    orgs: u8,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BoundsOn {
    ProcessedAt,
    Time,
}

#[derive(Args)]
struct SimulateArgs {
    /// Port on 127.0.0.1 (0: any free port; the URL is printed).
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// Events in the backlog.
    #[arg(long, default_value_t = 1200)]
    events: usize,
    /// Invalid events among them.
    #[arg(long, default_value_t = 4)]
    invalid: usize,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// End the stream with `meta.next: null` instead of a resumable cursor.
    #[arg(long)]
    no_cursor_on_last_page: bool,
    /// Serve at most this many events a page, whatever `limit` asks for (default: `limit`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    page_cap: Option<u32>,
    /// Which time `from` and `to` filter on: `processed-at` (default) or `time` (event time).
    #[arg(long, value_enum, default_value_t = BoundsOn::ProcessedAt)]
    from_filters_on: BoundsOn,
    /// The organization's id.
    #[arg(long, default_value = simulated_org::DEFAULT_ORG_ID)]
    org_id: String,
    /// Organizations served behind the one address (1 to 20), as the real API serves every
    /// organization from one host: the first is ORG_ID with API_KEY, the n-th ORG_ID-n with
    /// API_KEY-n, each with its own events.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=20))]
    orgs: u16,
    /// Milliseconds every answer takes, like the real API across the internet (default 0).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The key the organization accepts (default: a fixed demo key, not a secret).
    #[arg(long, default_value = simulated_org::DEFAULT_API_KEY, hide_default_value = true)]
    api_key: String,
    /// Of every 1,000 events, about this many are processed 1–20 days late: their `time` lies
    /// that far before their processedAt (default 0; benches/e2e.sh serves 10, 1 %).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1000))]
    days_late_per_mille: u32,
}

fn init_logging(default_level: &str, writer: AboveTheLine) {
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_target(false)
        .init();
}

/// The configuration: the flags (each already falling back to its variable), then the rest of
/// the environment.
fn config(storage: &StorageArgs, given: Given) -> Result<Config> {
    let given = Given {
        api_base_url: storage.api_base_url.clone(),
        source_id: storage.source_id.clone(),
        state_file: storage.state_file.clone(),
        output_dir: storage.out_dir.clone(),
        detection_rules: storage.rules.clone(),
        ..given
    };
    Ok(Config::resolve(|name| std::env::var(name).ok(), &given)?)
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn main() -> ExitCode {
    atlassian_audit::malloc_tuning::tune();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(async_main()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn async_main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args).await,
        Command::Check(args) => check(args).await,
        Command::Demo(args) => demo(args).await,
        Command::Simulate(args) => simulate(args).await,
        Command::Rules(RulesArgs {
            command: RulesCommand::Test { file },
        }) => detections::rules_test(file.as_deref()).await,
        Command::Rules(RulesArgs {
            command: RulesCommand::List { file, rules },
        }) => detections::rules_list(file.or(rules).as_deref()).await,
        Command::Rules(RulesArgs {
            command: RulesCommand::Export { dir },
        }) => detections::rules_export(&dir),
        Command::Detect(args) => {
            detections::detect(args.rules.as_deref(), &args.paths, args.json).await
        }
        Command::Sources(args) => {
            init_logging("warn", AboveTheLine::default());
            sources::sources(args).await
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The progress line and the counters it shows, when the command shows one.
fn progress_line(quiet: bool) -> Option<(Arc<Progress>, ProgressLine)> {
    progress::wanted(quiet).then(|| {
        let counters = Progress::new();
        (counters.clone(), ProgressLine::start(counters))
    })
}

fn log_writer(line: &Option<(Arc<Progress>, ProgressLine)>) -> AboveTheLine {
    line.as_ref()
        .map(|(_, l)| l.log_writer())
        .unwrap_or_default()
}

async fn run(args: RunArgs) -> Result<ExitCode> {
    let line = progress_line(args.quiet);
    init_logging("info", log_writer(&line));
    let given = Given {
        page_limit: args.page_limit,
        run_budget_seconds: args.budget_seconds,
        ..Given::default()
    };
    let config = config(&args.storage, given)?;
    if args.all_sources {
        drop(line);
        return sources::run_all_sources(
            config,
            args.sources_table,
            usize::from(args.concurrency),
            args.emf,
        )
        .await;
    }
    let backends = Backends::from_config(&config, &Aws::for_config(&config)).await?;
    let collector = match &line {
        Some((counters, _)) => {
            backends
                .observed_collector(&config, counters.clone())
                .await?
        }
        None => backends.collector(&config).await?,
    };
    let report = collector.run(config.run_budget).await;
    drop(line);
    if args.emf {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let days_left = key_days_left(backends.credentials.as_ref(), chrono_now()).await;
        let metrics = RunMetrics::new(&report.summary).with_key_days_left(days_left);
        println!("{}", metrics.to_emf(&config.metrics_namespace, ts));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&report.summary).context("printing the summary")?
    );
    match report.error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn check(args: CheckArgs) -> Result<ExitCode> {
    init_logging("warn", AboveTheLine::default());
    let config = config(&args.storage, Given::default())?;
    if args.all_sources {
        return sources::check_all_sources(config, args.sources_table).await;
    }
    let report = match Backends::from_config(&config, &Aws::for_config(&config)).await {
        Ok(backends) => run_checks(&config, &backends).await,
        // A bad rule file (or any setup error) is the check's one finding.
        Err(e) => setup_failed(&e),
    };
    print!("{}", report.render());
    Ok(if report.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn demo(args: DemoArgs) -> Result<ExitCode> {
    if args.orgs > 1 {
        init_logging("error", AboveTheLine::default());
        let scenario = DemoScenario {
            seed: args.seed,
            backlog: args.events,
            ..DemoScenario::default()
        };
        let report =
            fleet_demo::run_fleet_demo(&args.out_dir, usize::from(args.orgs), &scenario).await?;
        print!("{}", report.render());
        return Ok(if report.all_exact() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let line = progress_line(args.quiet);
    init_logging("error", log_writer(&line));
    let options = DemoOptions {
        out_dir: args.out_dir,
        scenario: DemoScenario {
            seed: args.seed,
            backlog: args.events,
            ..DemoScenario::default()
        },
        progress: line.as_ref().map(|(counters, _)| counters.clone()),
    };
    let report = run_demo(&options).await;
    drop(line);
    let report = report?;
    print!("{}", report.render());
    let exact = report.lines_in_logs == report.distinct_ids_in_logs
        && report.distinct_ids_in_logs == report.served_valid_ids;
    Ok(if exact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn simulate(args: SimulateArgs) -> Result<ExitCode> {
    init_logging("info", AboveTheLine::default());
    let first = SimulatedOrgConfig {
        cursor_on_last_page: !args.no_cursor_on_last_page,
        page_cap: args.page_cap,
        bounds_on: match args.from_filters_on {
            BoundsOn::ProcessedAt => TimeField::ProcessedAt,
            BoundsOn::Time => TimeField::Time,
        },
        org_id: args.org_id,
        api_key: args.api_key,
        latency: std::time::Duration::from_millis(args.latency_ms),
        ..SimulatedOrgConfig::default()
    };
    let scenario = DemoScenario {
        seed: args.seed,
        backlog: args.events,
        invalid: args.invalid,
        traffic: DemoTraffic::Generated,
        days_late_per_mille: args.days_late_per_mille,
        ..DemoScenario::default()
    };
    let configs: Vec<SimulatedOrgConfig> = (1..=args.orgs)
        .map(|n| match n {
            1 => first.clone(),
            n => SimulatedOrgConfig {
                org_id: format!("{}-{n}", first.org_id),
                api_key: format!("{}-{n}", first.api_key),
                ..first.clone()
            },
        })
        .collect();
    let orgs = serve_demo_scenarios(configs, args.port, &scenario)
        .await
        .with_context(|| format!("could not listen on 127.0.0.1:{}", args.port))?;
    for org in &orgs {
        println!(
            "simulated Atlassian organization listening on {}",
            org.base_url()
        );
        println!("  {}={}", env::API_BASE_URL, org.base_url());
        println!("  {}={}", env::ORG_ID, org.org_id());
        println!(
            "  {}=<the simulated org's demo key: {}>",
            env::API_KEY,
            org.api_key()
        );
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    for org in &orgs {
        org.shutdown_and_wait().await;
    }
    Ok(ExitCode::SUCCESS)
}
