//! `sources`: the registry of organizations one deployment collects (add, list, enable,
//! disable, remove, backfill), and `run --all-sources`, every enabled source once.
use anyhow::{Context, Result};
use atlassian_audit::check::check_sources;
use atlassian_audit::checkpoint::DynamoDbCheckpointStore;
use atlassian_audit::config::{Config, RegistrySettings};
use atlassian_audit::fleet::{
    add_source, run_all, status_of, SecretsManagerSecrets, SourceStatus, TaskOutcome,
};
use atlassian_audit::registry::{
    rfc3339, DynamoDbRegistry, RegisteredSource, SourceRegistry, MAX_BACKFILL_DAYS,
};
use atlassian_audit::setup::{secret_credentials, source_registry, Aws};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args)]
pub struct SourcesArgs {
    /// The registry's DynamoDB table (SOURCES_TABLE); CHECKPOINT_TABLE (default: the same
    /// table) shows where each source stands.
    #[arg(long, global = true)]
    sources_table: Option<String>,
    #[command(subcommand)]
    command: SourcesCommand,
}

#[derive(Subcommand)]
enum SourcesCommand {
    /// Registers an organization: its secret is read and checked (the key is never shown).
    Add {
        source_id: String,
        /// The Secrets Manager secret holding {"org_id", "api_key", "expires_at"}. The stack's
        /// functions read only secrets named atlassian-audit/<stack name>/…
        #[arg(long)]
        secret_id: String,
        /// The label its events carry as p_source_label (default: the source id).
        #[arg(long)]
        label: Option<String>,
        /// Also collect the N days before now (1 to 180), beside live collection.
        #[arg(long, value_name = "N")]
        backfill_days: Option<u32>,
    },
    /// Every registered source: enabled, checkpoint, last run, lag, backfill.
    List {
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Collects the source again from where it stopped.
    Enable { source_id: String },
    /// Stops collecting the source (its organization receives no request) until enabled.
    Disable { source_id: String },
    /// Unregisters the source; its archive and checkpoint stay.
    Remove { source_id: String },
    /// Collects the N days before now, up to where the source's collection already reaches.
    Backfill {
        source_id: String,
        #[arg(long, value_name = "N")]
        days: u32,
    },
}

/// Where the stack's role may read secrets (template.yaml): `atlassian-audit/<stack name>/`.
const SECRET_PREFIX: &str = "atlassian-audit/";

/// A secret's name, from a name or an ARN (`arn:aws:secretsmanager:…:secret:<name>-<6 chars>`).
fn secret_name(secret_id: &str) -> &str {
    match secret_id.split_once(":secret:") {
        Some((_, name)) => name,
        None => secret_id,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

struct Registry {
    settings: RegistrySettings,
    registry: DynamoDbRegistry,
    checkpoints: DynamoDbCheckpointStore,
    aws: Aws,
}

async fn open(sources_table: Option<String>) -> Result<Registry> {
    let settings = RegistrySettings::resolve(|n| std::env::var(n).ok(), sources_table)?;
    let aws = Aws::default();
    let ddb = aws.dynamodb().await;
    Ok(Registry {
        registry: DynamoDbRegistry::new(ddb.clone(), &settings.sources_table),
        checkpoints: DynamoDbCheckpointStore::new(ddb, &settings.checkpoint_table),
        settings,
        aws,
    })
}

pub async fn sources(args: SourcesArgs) -> Result<ExitCode> {
    let r = open(args.sources_table).await?;
    match args.command {
        SourcesCommand::Add {
            source_id,
            secret_id,
            label,
            backfill_days,
        } => add(&r, &source_id, &secret_id, label, backfill_days).await,
        SourcesCommand::List { json } => list(&r, json).await,
        SourcesCommand::Enable { source_id } => {
            r.registry.set_enabled(&source_id, true).await?;
            println!("source {source_id} enabled: the next run collects it from where it stopped");
            Ok(ExitCode::SUCCESS)
        }
        SourcesCommand::Disable { source_id } => {
            r.registry.set_enabled(&source_id, false).await?;
            println!("source {source_id} disabled: no run sends its organization a request until `sources enable {source_id}`");
            Ok(ExitCode::SUCCESS)
        }
        SourcesCommand::Remove { source_id } => {
            r.registry.remove(&source_id).await?;
            println!("source {source_id} removed from the registry; everything it archived stays in the bucket, and its checkpoint stays in {} (the id is not reused)", r.settings.checkpoint_table);
            Ok(ExitCode::SUCCESS)
        }
        SourcesCommand::Backfill { source_id, days } => backfill(&r, &source_id, days).await,
    }
}

async fn add(
    r: &Registry,
    source_id: &str,
    secret_id: &str,
    label: Option<String>,
    backfill_days: Option<u32>,
) -> Result<ExitCode> {
    let lookback_ms = r.settings.initial_lookback.as_millis() as i64;
    let label = label.unwrap_or_else(|| source_id.to_string());
    let source = RegisteredSource::new(
        source_id,
        secret_id,
        &label,
        backfill_days,
        lookback_ms,
        now_ms(),
    )?;
    let secret = secret_credentials(secret_id, &r.aws).await;
    let org_id = add_source(&r.registry, &r.checkpoints, secret.as_ref(), &source).await?;
    if !secret_name(secret_id).starts_with(SECRET_PREFIX) {
        eprintln!("warning: secret {secret_id} is not named {SECRET_PREFIX}<stack name>/…: the stack's collector may read only secrets under that prefix, so its runs of {source_id} would fail until the secret is moved there");
    }
    println!(
        "source {source_id} added: organization {org_id}, label {label:?}, secret {secret_id}"
    );
    match source.running_backfill() {
        Some(b) => println!(
            "live collection starts at {}; a backfill collects {} to {} beside it",
            rfc3339(source.live_start_ms),
            rfc3339(b.from_ms),
            rfc3339(b.to_ms)
        ),
        None => println!(
            "its first run collects from {} (INITIAL_LOOKBACK) on",
            rfc3339(source.live_start_ms)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn backfill(r: &Registry, source_id: &str, days: u32) -> Result<ExitCode> {
    let source =
        r.registry.get(source_id).await?.ok_or_else(|| {
            atlassian_audit::registry::RegistryError::NotFound(source_id.to_string())
        })?;
    let backfill = source.next_backfill(days, now_ms())?;
    r.registry.start_backfill(source_id, &backfill).await?;
    println!(
        "backfill of {source_id} started: {} to {}, beside live collection (at most {MAX_BACKFILL_DAYS} days)",
        rfc3339(backfill.from_ms),
        rfc3339(backfill.to_ms)
    );
    Ok(ExitCode::SUCCESS)
}

async fn list(r: &Registry, json: bool) -> Result<ExitCode> {
    let now = now_ms();
    let mut statuses = Vec::new();
    for source in r.registry.list().await? {
        statuses.push(status_of(&r.checkpoints, source, now).await?);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "sources": statuses }))?
        );
    } else {
        print!("{}", table(&statuses));
    }
    Ok(ExitCode::SUCCESS)
}

fn table(statuses: &[SourceStatus]) -> String {
    let mut out = format!(
        "{:<24} {:<8} {:>10} {:<21} {:<28} {:>10} {}\n",
        "SOURCE", "ENABLED", "EVENTS", "NEWEST PROCESSED", "LAST RUN", "LAG", "BACKFILL"
    );
    if statuses.is_empty() {
        out.push_str("(no sources registered: `sources add SOURCE_ID --secret-id SECRET`)\n");
    }
    for s in statuses {
        let c = s.checkpoint.as_ref();
        let newest = c
            .and_then(|c| c.newest_processed_at_ms)
            .map(rfc3339)
            .unwrap_or_else(|| "-".into());
        let last_run = s
            .source
            .last_run
            .as_ref()
            .map(|r| {
                let end = rfc3339(r.ended_ms);
                if r.succeeded {
                    format!("{end} ok")
                } else {
                    format!("{end} FAILED")
                }
            })
            .unwrap_or_else(|| "never".into());
        let lag = s
            .lag_seconds
            .map(|l| duration_shown(l as u64))
            .unwrap_or_else(|| "-".into());
        let backfill = match (s.backfill_state, s.backfill_percent) {
            (Some(state), Some(p)) => format!("{state} ({p:.1}%)"),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<24} {:<8} {:>10} {:<21} {:<28} {:>10} {}\n",
            s.source.source_id,
            if s.source.enabled { "yes" } else { "no" },
            c.map(|c| c.events_written).unwrap_or(0),
            newest,
            last_run,
            lag,
            backfill
        ));
        if let Some(error) = s.source.last_run.as_ref().and_then(|r| r.error.as_ref()) {
            out.push_str(&format!("    last error: {error}\n"));
        }
    }
    out
}

/// Seconds as the largest whole units: 3d4h, 2h5m, 40s.
fn duration_shown(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// `run --all-sources`: every task of every enabled source, `concurrency` at once; with
/// `emf`, each task's own EMF line. Exit 0 only when every task succeeded; each failing one is
/// named on stderr with its reason.
pub async fn run_all_sources(
    config: Config,
    sources_table: Option<String>,
    concurrency: usize,
    emf: bool,
) -> Result<ExitCode> {
    let config = Config {
        sources_table: sources_table.or(config.sources_table.clone()),
        ..config
    };
    let aws = Arc::new(Aws::for_config(&config));
    let registry = source_registry(&config, &aws).await?;
    let sources = registry
        .list()
        .await
        .context("reading the sources registry")?;
    if !sources.iter().any(|s| s.enabled) {
        eprintln!(
            "no enabled source in {}: `sources add SOURCE_ID --secret-id SECRET` registers one",
            registry.describe()
        );
    }
    let budget = config.run_budget;
    let outcomes = run_all(
        Arc::new(config.clone()),
        aws,
        registry,
        Arc::new(SecretsManagerSecrets),
        sources,
        concurrency,
        budget,
    )
    .await;
    if emf {
        let ts = now_ms();
        for o in &outcomes {
            println!("{}", o.to_emf(&config.metrics_namespace, ts));
        }
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({ "sources": outcomes }))?
    );
    let failed: Vec<&TaskOutcome> = outcomes.iter().filter(|o| !o.succeeded()).collect();
    for o in &failed {
        eprintln!(
            "error: source {} ({:?}) failed: {}",
            o.source_id,
            o.task,
            o.summary.error.as_deref().unwrap_or("no reason given")
        );
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `check --all-sources`: every registered source's check, each problem named with its source;
/// exit 0 only when everything looks good.
pub async fn check_all_sources(config: Config, sources_table: Option<String>) -> Result<ExitCode> {
    let config = Config {
        sources_table: sources_table.or(config.sources_table.clone()),
        ..config
    };
    let aws = Arc::new(Aws::for_config(&config));
    let registry = source_registry(&config, &aws).await?;
    let check = check_sources(Arc::new(config), aws, registry.as_ref()).await;
    for line in check.lines() {
        println!("{line}");
    }
    Ok(if check.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
