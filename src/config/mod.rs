//! Configuration read from the environment, validated before any request is made.
mod api_key;
mod ocsf;
mod rules;

pub use api_key::ApiKey;
pub use ocsf::{names as ocsf_env, LakeLocation, OcsfSettings};
pub use rules::{rule_source_from, RuleSource};

use crate::collector::BatchBounds;
use crate::detect::Severity;
use crate::registry::{RegisteredSource, Task};
use crate::source::atlassian::{DEFAULT_API_REQUEST_TIMEOUT, MAX_PAGE_LIMIT};

use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;
use url::Url;

pub const DEFAULT_API_BASE_URL: &str = "https://api.atlassian.com";
/// The one host the Lambda sends the key to unless `ATLASSIAN_API_ALLOWED_HOSTS` names others.
pub const ATLASSIAN_API_HOST: &str = "api.atlassian.com";
pub const DEFAULT_INITIAL_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);
/// Atlassian keeps audit events for 180 days; looking further back asks for nothing.
pub const MAX_INITIAL_LOOKBACK: Duration = Duration::from_secs(180 * 24 * 3600);
pub const DEFAULT_PAGE_LIMIT: u32 = 500;
pub const DEFAULT_METRICS_NAMESPACE: &str = "AtlassianAuditCollector";
pub const DEFAULT_RUN_BUDGET: Duration = Duration::from_secs(240);
/// The longest `RUN_BUDGET_SECONDS` accepted (a day); no run holds its lease longer than this
/// plus the lease grace.
pub const MAX_RUN_BUDGET: Duration = Duration::from_secs(86_400);
pub const DEFAULT_SOURCE_LABEL: &str = "atlassian-audit";
/// How long one attempt of an S3, DynamoDB or Secrets Manager call may take before the SDK
/// retries it: a stalled call must not hold the run (and its lease) until the Lambda deadline.
pub const DEFAULT_AWS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Names of the environment variables, shared with `template.yaml` and docs/configuration.md.
pub mod env {
    pub const API_BASE_URL: &str = "ATLASSIAN_API_BASE_URL";
    pub const API_ALLOWED_HOSTS: &str = "ATLASSIAN_API_ALLOWED_HOSTS";
    pub const SECRET_ID: &str = "ATLASSIAN_SECRET_ID";
    pub const ORG_ID: &str = "ATLASSIAN_ORG_ID";
    pub const API_KEY: &str = "ATLASSIAN_API_KEY";
    pub const CHECKPOINT_TABLE: &str = "CHECKPOINT_TABLE";
    pub const STATE_FILE: &str = "STATE_FILE";
    pub const OUTPUT_BUCKET: &str = "OUTPUT_BUCKET";
    pub const OUTPUT_DIR: &str = "OUTPUT_DIR";
    pub const OUTPUT_PREFIX: &str = "OUTPUT_PREFIX";
    pub const S3_FORCE_PATH_STYLE: &str = "S3_FORCE_PATH_STYLE";
    pub const EXPECTED_BUCKET_OWNER: &str = "EXPECTED_BUCKET_OWNER";
    pub const SOURCE_ID: &str = "SOURCE_ID";
    pub const SOURCE_LABEL: &str = "SOURCE_LABEL";
    pub const INITIAL_LOOKBACK: &str = "INITIAL_LOOKBACK";
    pub const PAGE_LIMIT: &str = "PAGE_LIMIT";
    pub const BATCH_MAX_EVENTS: &str = "BATCH_MAX_EVENTS";
    pub const BATCH_MAX_MIB: &str = "BATCH_MAX_MIB";
    pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
    pub const RUN_BUDGET_SECONDS: &str = "RUN_BUDGET_SECONDS";
    pub const API_REQUEST_TIMEOUT: &str = "API_REQUEST_TIMEOUT";
    pub const AWS_ATTEMPT_TIMEOUT: &str = "AWS_ATTEMPT_TIMEOUT";
    pub const ALERTS_TOPIC_ARN: &str = "ALERTS_TOPIC_ARN";
    pub const ALERTS_EVENT_BUS: &str = "ALERTS_EVENT_BUS";
    pub const ALERTS_MIN_SEVERITY: &str = "ALERTS_MIN_SEVERITY";
    /// The user's rule file (config/rules.rs).
    pub const DETECTION_RULES: &str = "DETECTION_RULES";
    /// The sources registry's DynamoDB table (registry mode; may be the checkpoint table).
    pub const SOURCES_TABLE: &str = "SOURCES_TABLE";
    /// The SQS queue the dispatcher sends task messages to (registry mode on AWS).
    pub const DISPATCH_QUEUE_URL: &str = "DISPATCH_QUEUE_URL";
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{name} is not set: {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "{name} is set but {other} is not: set both {name} and {other}, or set {secret} instead",
        secret = env::SECRET_ID
    )]
    HalfCredentials {
        name: &'static str,
        other: &'static str,
    },
    #[error(
        "{name}={url} names host {host:?}: the Lambda sends the API key only to https://{ATLASSIAN_API_HOST} and the hosts of {allowed} (now {listed}); fix {name}, or add the host to {allowed} (the stack's ApiAllowedHosts)",
        name = env::API_BASE_URL,
        allowed = env::API_ALLOWED_HOSTS,
        listed = if .listed.is_empty() { "empty".to_string() } else { .listed.join(",") }
    )]
    HostNotAllowed {
        url: String,
        host: String,
        listed: Vec<String>,
    },
}

/// Where the org id and API key come from.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// A Secrets Manager secret whose SecretString is `{"org_id": "...", "api_key": "..."}`.
    SecretsManager { secret_id: String },
    /// Given directly (local runs); the key is redacted in `Debug`.
    Static { org_id: String, api_key: ApiKey },
}

/// Where the checkpoint is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointLocation {
    /// A DynamoDB table, partition key `source_id` (CHECKPOINT_TABLE).
    DynamoDb { table: String },
    /// A JSON file on this machine (STATE_FILE, `--state-file`).
    File(PathBuf),
}

/// Where objects are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectLocation {
    /// An S3 bucket, keys under `prefix` (OUTPUT_BUCKET, OUTPUT_PREFIX, S3_FORCE_PATH_STYLE); every
    /// request carries `expected_owner` (EXPECTED_BUCKET_OWNER) when set, so S3 refuses it if
    /// the bucket belongs to another account.
    S3 {
        bucket: String,
        prefix: String,
        force_path_style: bool,
        expected_owner: Option<String>,
    },
    /// A directory on this machine, laid out like the bucket (OUTPUT_DIR, `--out-dir`).
    Directory(PathBuf),
}

/// What the `sources` commands need: the registry's table, the checkpoint table (to show where
/// each source stands; by default the registry's), and the lookback a source added without a
/// backfill starts at.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub sources_table: String,
    pub checkpoint_table: String,
    pub initial_lookback: Duration,
}

impl RegistrySettings {
    /// From `lookup` (the environment), `sources_table` (a flag) winning over SOURCES_TABLE.
    pub fn resolve(
        lookup: impl Fn(&str) -> Option<String>,
        sources_table: Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let sources_table = sources_table
            .filter(|t| !t.trim().is_empty())
            .or_else(|| get(env::SOURCES_TABLE))
            .ok_or(ConfigError::Missing {
                name: env::SOURCES_TABLE,
                hint: "name the DynamoDB table of the sources registry (partition key `source_id`, type S; it may be CHECKPOINT_TABLE itself), or pass --sources-table",
            })?;
        let initial_lookback = match get(env::INITIAL_LOOKBACK) {
            None => DEFAULT_INITIAL_LOOKBACK,
            Some(v) => parse_lookback(&v)?,
        };
        Ok(RegistrySettings {
            checkpoint_table: get(env::CHECKPOINT_TABLE).unwrap_or_else(|| sources_table.clone()),
            sources_table,
            initial_lookback,
        })
    }
}

/// What the dispatcher needs (registry mode on AWS): the registry's table and the queue the
/// task messages go to. Nothing of the collector's storage, credentials or API.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    pub sources_table: String,
    pub queue_url: String,
    pub aws_attempt_timeout: Duration,
}

impl DispatchSettings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let sources_table = get(env::SOURCES_TABLE).ok_or(ConfigError::Missing {
            name: env::SOURCES_TABLE,
            hint: "name the DynamoDB table of the sources registry (the stack sets it to its checkpoint table)",
        })?;
        let queue_url = get(env::DISPATCH_QUEUE_URL).ok_or(ConfigError::Missing {
            name: env::DISPATCH_QUEUE_URL,
            hint: "give the URL of the SQS queue the collector function consumes (the stack's TaskQueue)",
        })?;
        if !queue_url.starts_with("https://") && !queue_url.starts_with("http://") {
            return Err(ConfigError::Invalid {
                name: env::DISPATCH_QUEUE_URL,
                value: queue_url,
                reason:
                    "an SQS queue URL starts with https:// (QueueUrl, not the queue's ARN or name)"
                        .into(),
            });
        }
        let aws_attempt_timeout = match get(env::AWS_ATTEMPT_TIMEOUT) {
            None => DEFAULT_AWS_ATTEMPT_TIMEOUT,
            Some(v) => parse_timeout(env::AWS_ATTEMPT_TIMEOUT, &v)?,
        };
        Ok(DispatchSettings {
            sources_table,
            queue_url,
            aws_attempt_timeout,
        })
    }
}

/// Settings given as typed values (the CLI's flags) instead of environment variables; each
/// one given wins over its variable, and is checked the same way.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub api_base_url: Option<String>,
    pub source_id: Option<String>,
    pub page_limit: Option<u32>,
    pub run_budget_seconds: Option<u64>,
    pub state_file: Option<PathBuf>,
    pub output_dir: Option<PathBuf>,
    /// The user's rule file (the CLI's `--rules`): a path or `s3://bucket/key`.
    pub detection_rules: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub api_base_url: Url,
    /// Hosts besides api.atlassian.com the Lambda may send the key to (ATLASSIAN_API_ALLOWED_HOSTS).
    pub api_allowed_hosts: Vec<String>,
    pub credentials: Option<CredentialSource>,
    pub checkpoint: CheckpointLocation,
    pub objects: ObjectLocation,
    /// `None` means "the org id", known once the credentials are read.
    pub source_id: Option<String>,
    pub source_label: String,
    pub initial_lookback: Duration,
    pub page_limit: u32,
    pub batch_bounds: BatchBounds,
    pub metrics_namespace: String,
    pub run_budget: Duration,
    pub api_request_timeout: Duration,
    pub aws_attempt_timeout: Duration,
    /// Where alerts are announced (ALERTS_*).
    pub alerts: AlertDelivery,
    /// The user's rule file (DETECTION_RULES); `None`: the built-in pack alone.
    pub detection_rules: Option<RuleSource>,
    /// The sources registry's table (SOURCES_TABLE): set, the deployment collects every
    /// registered source; unset, the one source the credentials name.
    pub sources_table: Option<String>,
    /// The OCSF copy for Security Lake (config/ocsf.rs); `None`: off.
    pub ocsf: Option<OcsfSettings>,
    /// Which of its source's tasks a run is (live collection, unless the registry says
    /// otherwise).
    pub task: Task,
    /// How long a run's lease outlives its budget (a killed run's lease frees itself then);
    /// not a setting: tests that kill runs by the hundred shorten it.
    pub lease_grace: Duration,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::resolve(lookup, &Given::default())
    }

    /// Reads settings through `lookup`, those in `given` taking precedence; every choice (the
    /// credentials, where the checkpoint and the objects go) is made here, once.
    pub fn resolve(
        lookup: impl Fn(&str) -> Option<String>,
        given: &Given,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let api_base_url = parse_base_url(
            &given
                .api_base_url
                .clone()
                .or_else(|| get(env::API_BASE_URL))
                .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_string()),
        )?;

        let api_allowed_hosts = get(env::API_ALLOWED_HOSTS)
            .map(|v| parse_allowed_hosts(&v))
            .transpose()?
            .unwrap_or_default();

        let credentials = match (get(env::SECRET_ID), get(env::ORG_ID), get(env::API_KEY)) {
            (Some(secret_id), _, _) => Some(CredentialSource::SecretsManager { secret_id }),
            (None, Some(org_id), Some(key)) => {
                validate_org_id(&org_id, env::ORG_ID)?;
                Some(CredentialSource::Static {
                    org_id,
                    api_key: ApiKey::new(key),
                })
            }
            (None, Some(_), None) => {
                return Err(ConfigError::HalfCredentials {
                    name: env::ORG_ID,
                    other: env::API_KEY,
                })
            }
            (None, None, Some(_)) => {
                return Err(ConfigError::HalfCredentials {
                    name: env::API_KEY,
                    other: env::ORG_ID,
                })
            }
            (None, None, None) => None,
        };

        let checkpoint = checkpoint_location(&get, given)?;
        let objects = object_location(&get, given)?;

        let initial_lookback = match get(env::INITIAL_LOOKBACK) {
            None => DEFAULT_INITIAL_LOOKBACK,
            Some(v) => parse_lookback(&v)?,
        };

        let page_limit = match (given.page_limit, get(env::PAGE_LIMIT)) {
            (Some(n), _) => parse_page_limit(&n.to_string())?,
            (None, Some(v)) => parse_page_limit(&v)?,
            (None, None) => DEFAULT_PAGE_LIMIT,
        };

        let batch_bounds = batch_bounds(&get)?;

        let run_budget = match (given.run_budget_seconds, get(env::RUN_BUDGET_SECONDS)) {
            (Some(n), _) => parse_budget(&n.to_string())?,
            (None, Some(v)) => parse_budget(&v)?,
            (None, None) => DEFAULT_RUN_BUDGET,
        };

        let api_request_timeout = match get(env::API_REQUEST_TIMEOUT) {
            None => DEFAULT_API_REQUEST_TIMEOUT,
            Some(v) => parse_timeout(env::API_REQUEST_TIMEOUT, &v)?,
        };
        let aws_attempt_timeout = match get(env::AWS_ATTEMPT_TIMEOUT) {
            None => DEFAULT_AWS_ATTEMPT_TIMEOUT,
            Some(v) => parse_timeout(env::AWS_ATTEMPT_TIMEOUT, &v)?,
        };

        Ok(Config {
            api_base_url,
            api_allowed_hosts,
            credentials,
            checkpoint,
            objects,
            source_id: given.source_id.clone().or_else(|| get(env::SOURCE_ID)),
            source_label: get(env::SOURCE_LABEL)
                .unwrap_or_else(|| DEFAULT_SOURCE_LABEL.to_string()),
            initial_lookback,
            page_limit,
            batch_bounds,
            metrics_namespace: get(env::METRICS_NAMESPACE)
                .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_string()),
            run_budget,
            api_request_timeout,
            aws_attempt_timeout,
            alerts: AlertDelivery::from_settings(&get)?,
            detection_rules: rules::rule_source(&get, given)?,
            sources_table: get(env::SOURCES_TABLE),
            ocsf: ocsf::settings(&get)?,
            task: Task::default(),
            lease_grace: crate::collector::LEASE_GRACE,
        })
    }

    /// The configuration of one task of a registered source: its secret, id and label, the
    /// rest (storage, rules, alerts, limits) shared by every source.
    pub fn for_source(&self, source: &RegisteredSource, task: Task) -> Config {
        let secret = CredentialSource::SecretsManager {
            secret_id: source.secret_id.clone(),
        };
        self.for_source_with(source, task, secret)
    }

    /// [`Config::for_source`], with the source's credentials given.
    pub fn for_source_with(
        &self,
        source: &RegisteredSource,
        task: Task,
        credentials: CredentialSource,
    ) -> Config {
        Config {
            credentials: Some(credentials),
            source_id: Some(source.source_id.clone()),
            source_label: source.label.clone(),
            task,
            ..self.clone()
        }
    }

    /// What the Lambda demands on top of a valid configuration: the key goes to
    /// api.atlassian.com or a host of `ATLASSIAN_API_ALLOWED_HOSTS`, nowhere else. (The CLI also
    /// reaches loopback hosts over plain http, for tests and the demo.)
    pub fn require_allowed_api_host(&self) -> Result<(), ConfigError> {
        let host = self
            .api_base_url
            .host_str()
            .unwrap_or("")
            .to_ascii_lowercase();
        let allowed = (host == ATLASSIAN_API_HOST && self.api_base_url.scheme() == "https")
            || self.api_allowed_hosts.contains(&host);
        if allowed {
            Ok(())
        } else {
            Err(ConfigError::HostNotAllowed {
                url: self.api_base_url.to_string(),
                host,
                listed: self.api_allowed_hosts.clone(),
            })
        }
    }

    pub fn require_credentials(&self) -> Result<&CredentialSource, ConfigError> {
        self.credentials.as_ref().ok_or(ConfigError::Missing {
            name: env::SECRET_ID,
            hint: "set ATLASSIAN_SECRET_ID to the Secrets Manager secret holding {\"org_id\", \"api_key\"}, or set ATLASSIAN_ORG_ID and ATLASSIAN_API_KEY",
        })
    }
}

/// A state file (given, or STATE_FILE) wins over CHECKPOINT_TABLE: it is the local choice.
fn checkpoint_location(
    get: &impl Fn(&str) -> Option<String>,
    given: &Given,
) -> Result<CheckpointLocation, ConfigError> {
    let file = given
        .state_file
        .clone()
        .or_else(|| get(env::STATE_FILE).map(PathBuf::from));
    // In registry mode the registry's table keeps the checkpoints too, unless told otherwise.
    let table = get(env::CHECKPOINT_TABLE).or_else(|| get(env::SOURCES_TABLE));
    match (file, table) {
        (Some(path), _) => Ok(CheckpointLocation::File(path)),
        (None, Some(table)) => Ok(CheckpointLocation::DynamoDb { table }),
        (None, None) => Err(ConfigError::Missing {
            name: env::CHECKPOINT_TABLE,
            hint: "name the DynamoDB table (partition key `source_id`, type S) that keeps the checkpoint, or set STATE_FILE (the CLI's --state-file) to keep it in a local JSON file",
        }),
    }
}

/// An output directory (given, or OUTPUT_DIR) wins over OUTPUT_BUCKET: it is the local choice.
fn object_location(
    get: &impl Fn(&str) -> Option<String>,
    given: &Given,
) -> Result<ObjectLocation, ConfigError> {
    let dir = given
        .output_dir
        .clone()
        .or_else(|| get(env::OUTPUT_DIR).map(PathBuf::from));
    // Checked even when a directory wins, so a mistake in them is not found only in production.
    let prefix = match get(env::OUTPUT_PREFIX) {
        None => String::new(),
        Some(p) => normalize_prefix(&p)?,
    };
    let force_path_style = match get(env::S3_FORCE_PATH_STYLE) {
        None => false,
        Some(v) => parse_bool(env::S3_FORCE_PATH_STYLE, &v)?,
    };
    let bucket = get(env::OUTPUT_BUCKET);
    if let Some(b) = &bucket {
        validate_bucket(b)?;
    }
    let expected_owner = get(env::EXPECTED_BUCKET_OWNER);
    if let Some(owner) = &expected_owner {
        if owner.len() != 12 || !owner.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Invalid {
                name: env::EXPECTED_BUCKET_OWNER,
                value: owner.clone(),
                reason: "the 12-digit AWS account id that owns OUTPUT_BUCKET".into(),
            });
        }
    }
    match (dir, bucket) {
        (Some(path), _) => Ok(ObjectLocation::Directory(path)),
        (None, Some(bucket)) => Ok(ObjectLocation::S3 {
            bucket,
            prefix,
            force_path_style,
            expected_owner,
        }),
        (None, None) => Err(ConfigError::Missing {
            name: env::OUTPUT_BUCKET,
            hint: "name the S3 bucket the events are written to, or set OUTPUT_DIR (the CLI's --out-dir) to write them under a local directory",
        }),
    }
}

/// `https` anywhere; plain `http` only to this machine, so the key never crosses a network in clear.
pub fn parse_base_url(value: &str) -> Result<Url, ConfigError> {
    // The value is quoted in the error: never with a password or token someone put in it.
    let invalid = |reason: String| ConfigError::Invalid {
        name: env::API_BASE_URL,
        value: without_userinfo(value),
        reason,
    };
    let url = Url::parse(value).map_err(|e| invalid(format!("not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment".into()));
    }
    let host = url
        .host()
        .ok_or_else(|| invalid("has no host".to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => return Err(invalid(
            "plain http is allowed only for loopback hosts (127.0.0.1, ::1, localhost); use https"
                .into(),
        )),
        other => return Err(invalid(format!("scheme {other:?} is not http(s)"))),
    }
    Ok(url)
}

/// `value` with anything between `scheme://` and the authority's last '@' replaced, so that
/// credentials written into a URL (even one that does not parse) are never repeated.
fn without_userinfo(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return value.to_string();
    };
    let authority_start = scheme_end + 3;
    let rest = &value[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => format!("{}[redacted]{}", &value[..authority_start], &rest[at..]),
        None => value.to_string(),
    }
}

/// Hosts as a comma-separated list, lowercased; each a plain DNS name or IP address.
fn parse_allowed_hosts(value: &str) -> Result<Vec<String>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            let ok = h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if ok {
                Ok(h.to_ascii_lowercase())
            } else {
                Err(ConfigError::Invalid {
                    name: env::API_ALLOWED_HOSTS,
                    value: value.to_string(),
                    reason: format!("{h:?} is not a host name; list hosts separated by commas, without scheme, port or path"),
                })
            }
        })
        .collect()
}

/// Whether `url` names this machine (127.0.0.0/8, ::1 or `localhost`).
pub fn is_loopback_url(url: &Url) -> bool {
    url.host().is_some_and(|h| is_loopback(&h))
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

pub(crate) fn validate_org_id(org_id: &str, from: &'static str) -> Result<(), ConfigError> {
    let ok = !org_id.is_empty()
        && org_id.len() <= 128
        && org_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            name: from,
            value: org_id.to_string(),
            reason: "an org id is letters, digits and dashes (admin.atlassian.com/o/<org id>/…)"
                .into(),
        })
    }
}

fn normalize_prefix(value: &str) -> Result<String, ConfigError> {
    let trimmed = value.trim_matches('/');
    if trimmed
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        && !trimmed.is_empty()
    {
        return Err(ConfigError::Invalid {
            name: env::OUTPUT_PREFIX,
            value: value.to_string(),
            reason: "segments must not be empty, '.' or '..'".into(),
        });
    }
    if trimmed.contains('*') {
        return Err(ConfigError::Invalid {
            name: env::OUTPUT_PREFIX,
            value: value.to_string(),
            reason: "must not contain '*': in the role's policy it would grant writes beyond the collector's own prefixes".into(),
        });
    }
    Ok(if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    })
}

fn parse_lookback(value: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(value).map_err(|e| ConfigError::Invalid {
        name: env::INITIAL_LOOKBACK,
        value: value.to_string(),
        reason: format!("{e}; use a duration such as 7d, 36h or 90m"),
    })?;
    if d > MAX_INITIAL_LOOKBACK {
        return Err(ConfigError::Invalid {
            name: env::INITIAL_LOOKBACK,
            value: value.to_string(),
            reason: "at most 180d: Atlassian keeps audit events for 180 days".into(),
        });
    }
    Ok(d)
}

fn parse_page_limit(value: &str) -> Result<u32, ConfigError> {
    let n: i64 = value.parse().map_err(|_| ConfigError::Invalid {
        name: env::PAGE_LIMIT,
        value: value.to_string(),
        reason: "a whole number of events per page, 1 to 500".into(),
    })?;
    // Out-of-range values are clamped, as documented: the API accepts 1..=500.
    Ok(n.clamp(1, i64::from(MAX_PAGE_LIMIT)) as u32)
}

/// BATCH_MAX_EVENTS and BATCH_MAX_MIB, each within what keeps a run's memory bounded.
fn batch_bounds(get: &impl Fn(&str) -> Option<String>) -> Result<BatchBounds, ConfigError> {
    let defaults = BatchBounds::default();
    let max_events = match get(env::BATCH_MAX_EVENTS) {
        None => defaults.max_events,
        Some(v) => parse_bound(
            env::BATCH_MAX_EVENTS,
            &v,
            BatchBounds::LARGEST_MAX_EVENTS.into(),
            "events a batch reads before it is written (pages are never cut, so a batch holds at least one)",
        )? as u32,
    };
    let max_bytes = match get(env::BATCH_MAX_MIB) {
        None => defaults.max_bytes,
        Some(v) => {
            parse_bound(
                env::BATCH_MAX_MIB,
                &v,
                BatchBounds::LARGEST_MAX_MIB,
                "MiB of NDJSON (before compression) a batch writes",
            )? * 1024
                * 1024
        }
    };
    Ok(BatchBounds {
        max_events,
        max_bytes,
    })
}

fn parse_bound(
    name: &'static str,
    value: &str,
    largest: u64,
    what: &str,
) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if (1..=largest).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            name,
            value: value.to_string(),
            reason: format!(
                "a whole number from 1 to {largest}: the {what}; larger batches would not fit the memory a run is given"
            ),
        }),
    }
}

fn parse_budget(value: &str) -> Result<Duration, ConfigError> {
    match value.parse::<u64>() {
        Ok(s) if (10..=MAX_RUN_BUDGET.as_secs()).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(ConfigError::Invalid {
            name: env::RUN_BUDGET_SECONDS,
            value: value.to_string(),
            reason: "whole seconds, 10 to 86400".into(),
        }),
    }
}

/// A request timeout: 100 ms to 5 minutes, as a duration (`30s`, `500ms`).
fn parse_timeout(name: &'static str, value: &str) -> Result<Duration, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name,
        value: value.to_string(),
        reason,
    };
    let d = humantime::parse_duration(value)
        .map_err(|e| invalid(format!("{e}; use a duration such as 30s or 500ms")))?;
    if d < Duration::from_millis(100) || d > Duration::from_secs(300) {
        return Err(invalid("between 100ms and 5m".into()));
    }
    Ok(d)
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name,
            value: value.to_string(),
            reason: "use true or false".into(),
        }),
    }
}

fn validate_bucket(bucket: &str) -> Result<(), ConfigError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            name: env::OUTPUT_BUCKET,
            value: bucket.to_string(),
            reason: "an S3 bucket name (3-63 lowercase letters, digits, '-' or '.'), without s3:// or a prefix; put the prefix in OUTPUT_PREFIX".into(),
        })
    }
}

// ---- Alert delivery (ALERTS_TOPIC_ARN, ALERTS_EVENT_BUS, ALERTS_MIN_SEVERITY) ----

/// The least severity announced when ALERTS_MIN_SEVERITY is unset: Info alerts are archived only.
pub const DEFAULT_ALERTS_MIN_SEVERITY: Severity = Severity::Low;

/// Where alerts are announced; each target is off when its variable is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDelivery {
    /// An SNS topic ARN (ALERTS_TOPIC_ARN).
    pub topic_arn: Option<String>,
    /// An EventBridge bus name or ARN (ALERTS_EVENT_BUS); the stack sets its own bus (or `default`).
    pub event_bus: Option<String>,
    pub min_severity: Severity,
}

impl AlertDelivery {
    fn from_settings(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let topic_arn = get(env::ALERTS_TOPIC_ARN)
            .map(|v| validate_topic_arn(&v).map(|()| v))
            .transpose()?;
        let event_bus = get(env::ALERTS_EVENT_BUS)
            .map(|v| validate_event_bus(&v).map(|()| v))
            .transpose()?;
        let min_severity = match get(env::ALERTS_MIN_SEVERITY) {
            None => DEFAULT_ALERTS_MIN_SEVERITY,
            Some(v) => parse_severity(&v)?,
        };
        Ok(AlertDelivery {
            topic_arn,
            event_bus,
            min_severity,
        })
    }
}

/// `arn:<partition>:sns:<region>:<account>:<name>`, the name as SNS allows it (`.fifo` included).
fn validate_topic_arn(value: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = value.split(':').collect();
    let name_ok = |n: &str| {
        let base = n.strip_suffix(".fifo").unwrap_or(n);
        (1..=256).contains(&n.len())
            && !base.is_empty()
            && base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && is_account_id(parts[4])
        && name_ok(parts[5]);
    if ok {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        name: env::ALERTS_TOPIC_ARN,
        value: value.to_string(),
        reason: "an SNS topic ARN (arn:aws:sns:<region>:<account id>:<topic name>, the stack's AlertsTopicArn output); unset it to announce nothing by SNS".into(),
    })
}

/// A bus name (`default`, letters, digits, `.`, `-`, `_`, `/`) or a bus ARN
/// (`arn:<partition>:events:<region>:<account>:event-bus/<name>`).
fn validate_event_bus(value: &str) -> Result<(), ConfigError> {
    let name_ok = |n: &str| {
        (1..=256).contains(&n.len())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
    };
    let ok = match value.strip_prefix("arn:") {
        None => name_ok(value) && !value.contains('/'),
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').collect();
            parts.len() == 5
                && parts[0].starts_with("aws")
                && parts[1] == "events"
                && !parts[2].is_empty()
                && is_account_id(parts[3])
                && parts[4].strip_prefix("event-bus/").is_some_and(name_ok)
        }
    };
    if ok {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        name: env::ALERTS_EVENT_BUS,
        value: value.to_string(),
        reason: "an EventBridge bus name (default, or letters, digits, '.', '-', '_') or a bus ARN (arn:aws:events:<region>:<account id>:event-bus/<name>); unset it to send no events".into(),
    })
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.chars().all(|c| c.is_ascii_digit())
}

/// A severity name, in any case (`high`, `High`, `HIGH`).
fn parse_severity(value: &str) -> Result<Severity, ConfigError> {
    Severity::from_name(value)
        .or_else(|| {
            Severity::ALL
                .into_iter()
                .find(|s| s.name().eq_ignore_ascii_case(value))
        })
        .ok_or_else(|| ConfigError::Invalid {
            name: env::ALERTS_MIN_SEVERITY,
            value: value.to_string(),
            reason: "one of Info, Low, Medium, High, Critical (the least severity announced)"
                .into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The settings in `pairs`, over a table and a bucket (storage must be chosen).
    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> = [
            (env::CHECKPOINT_TABLE, "checkpoints"),
            (env::OUTPUT_BUCKET, "audit-bucket"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        map.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_lookup(|name| map.get(name).cloned())
    }

    fn prefix_of(c: &Config) -> &str {
        match &c.objects {
            ObjectLocation::S3 { prefix, .. } => prefix,
            ObjectLocation::Directory(_) => panic!("not S3"),
        }
    }

    #[test]
    fn the_registry_s_table_keeps_the_checkpoints_unless_told_otherwise() {
        let resolve = |sources: Option<&str>, checkpoints: Option<&str>| {
            Config::from_lookup(|n| match n {
                env::OUTPUT_DIR => Some("/tmp/out".to_string()),
                env::SOURCES_TABLE => sources.map(str::to_string),
                env::CHECKPOINT_TABLE => checkpoints.map(str::to_string),
                _ => None,
            })
        };
        let table = |t: &str| CheckpointLocation::DynamoDb { table: t.into() };
        assert_eq!(resolve(Some("reg"), None).unwrap().checkpoint, table("reg"));
        assert_eq!(
            resolve(Some("reg"), Some("cp")).unwrap().checkpoint,
            table("cp")
        );
        assert!(matches!(
            resolve(None, None),
            Err(ConfigError::Missing {
                name: env::CHECKPOINT_TABLE,
                ..
            })
        ));
    }

    #[test]
    fn the_dispatcher_needs_the_registry_and_a_queue_url_only() {
        let of = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            DispatchSettings::from_lookup(|name| map.get(name).cloned())
        };
        let url = "https://sqs.us-east-1.amazonaws.com/123456789012/tasks";
        let ok = of(&[(env::SOURCES_TABLE, "t"), (env::DISPATCH_QUEUE_URL, url)]).unwrap();
        assert_eq!(
            (ok.sources_table.as_str(), ok.queue_url.as_str()),
            ("t", url)
        );
        let missing = of(&[(env::SOURCES_TABLE, "t")]).unwrap_err().to_string();
        assert!(missing.contains(env::DISPATCH_QUEUE_URL), "{missing}");
        let missing = of(&[(env::DISPATCH_QUEUE_URL, url)])
            .unwrap_err()
            .to_string();
        assert!(missing.contains(env::SOURCES_TABLE), "{missing}");
        let arn = of(&[
            (env::SOURCES_TABLE, "t"),
            (
                env::DISPATCH_QUEUE_URL,
                "arn:aws:sqs:us-east-1:123456789012:tasks",
            ),
        ])
        .unwrap_err()
        .to_string();
        assert!(arn.contains("QueueUrl"), "{arn}");
    }

    #[test]
    fn storage_is_one_choice_made_here() {
        let none = Config::from_lookup(|_| None).unwrap_err().to_string();
        assert!(
            none.contains("CHECKPOINT_TABLE") && none.contains("STATE_FILE"),
            "{none}"
        );
        let c = config(&[]).unwrap();
        assert_eq!(
            c.checkpoint,
            CheckpointLocation::DynamoDb {
                table: "checkpoints".into()
            }
        );
        assert_eq!(
            c.objects,
            ObjectLocation::S3 {
                bucket: "audit-bucket".into(),
                prefix: String::new(),
                force_path_style: false,
                expected_owner: None,
            }
        );
        let local = config(&[(env::STATE_FILE, "s.json"), (env::OUTPUT_DIR, "out")]).unwrap();
        assert_eq!(local.checkpoint, CheckpointLocation::File("s.json".into()));
        assert_eq!(local.objects, ObjectLocation::Directory("out".into()));
        let no_bucket =
            Config::from_lookup(|name| (name == env::CHECKPOINT_TABLE).then(|| "t".to_string()))
                .unwrap_err()
                .to_string();
        assert!(
            no_bucket.contains("OUTPUT_BUCKET") && no_bucket.contains("OUTPUT_DIR"),
            "{no_bucket}"
        );
    }

    #[test]
    fn given_settings_win_over_the_environment_and_are_checked_alike() {
        let env_map = |name: &str| match name {
            env::CHECKPOINT_TABLE => Some("t".to_string()),
            env::OUTPUT_BUCKET => Some("audit-bucket".to_string()),
            env::PAGE_LIMIT => Some("50".to_string()),
            env::SOURCE_ID => Some("from-env".to_string()),
            _ => None,
        };
        let given = Given {
            page_limit: Some(700),
            run_budget_seconds: Some(60),
            source_id: Some("from-flag".into()),
            state_file: Some("s.json".into()),
            output_dir: Some("out".into()),
            ..Given::default()
        };
        let c = Config::resolve(env_map, &given).unwrap();
        assert_eq!(
            c.page_limit, MAX_PAGE_LIMIT,
            "clamped as from the environment"
        );
        assert_eq!(c.run_budget, Duration::from_secs(60));
        assert_eq!(c.source_id.as_deref(), Some("from-flag"));
        assert_eq!(c.checkpoint, CheckpointLocation::File("s.json".into()));
        assert_eq!(c.objects, ObjectLocation::Directory("out".into()));
        let too_short = Given {
            run_budget_seconds: Some(5),
            ..Given::default()
        };
        assert!(Config::resolve(env_map, &too_short).is_err());
        let plain_http = Given {
            api_base_url: Some("http://example.com".into()),
            ..Given::default()
        };
        assert!(Config::resolve(env_map, &plain_http).is_err());
    }

    #[test]
    fn defaults_apply_when_only_storage_is_set() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.api_base_url.as_str(), "https://api.atlassian.com/");
        assert_eq!(c.page_limit, 500);
        assert_eq!(c.initial_lookback, Duration::from_secs(7 * 86_400));
        assert_eq!(c.metrics_namespace, "AtlassianAuditCollector");
        assert_eq!(c.run_budget, Duration::from_secs(240));
        assert!(c.credentials.is_none());
        assert!(c.require_credentials().is_err());
    }

    #[test]
    fn plain_http_only_for_loopback() {
        assert!(config(&[(env::API_BASE_URL, "http://127.0.0.1:8080")]).is_ok());
        assert!(config(&[(env::API_BASE_URL, "http://localhost:1")]).is_ok());
        assert!(config(&[(env::API_BASE_URL, "http://[::1]:1")]).is_ok());
        let err = config(&[(env::API_BASE_URL, "http://api.atlassian.com")]).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        assert!(config(&[(env::API_BASE_URL, "ftp://x")]).is_err());
        assert!(config(&[(env::API_BASE_URL, "https://u:p@x")]).is_err());
    }

    /// Credentials pasted into the base URL are refused without being repeated, even when
    /// the URL does not parse.
    #[test]
    fn a_base_url_with_credentials_is_refused_without_quoting_them() {
        for (value, shown) in [
            (
                "https://admin:hunter2-secret@api.atlassian.com",
                "https://[redacted]@api.atlassian.com",
            ),
            (
                "https://hunter2-secret@api.atlassian.com/x?y",
                "https://[redacted]@api.atlassian.com/x?y",
            ),
            (
                "http://u:hunter2-secret@10.0.0.1",
                "http://[redacted]@10.0.0.1",
            ),
            // Not a URL (a space in the host), still redacted.
            (
                "https://u:hunter2-secret@api atlassian.com",
                "https://[redacted]@api atlassian.com",
            ),
            ("https://a@b:hunter2-secret@x/", "https://[redacted]@x/"),
        ] {
            let err = config(&[(env::API_BASE_URL, value)])
                .unwrap_err()
                .to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains(shown), "{err}");
            assert!(err.contains(env::API_BASE_URL), "{err}");
        }
        assert_eq!(without_userinfo("https://x/a@b"), "https://x/a@b");
        assert_eq!(without_userinfo("no scheme@all"), "no scheme@all");
    }

    /// The Lambda sends the key to api.atlassian.com, or a listed host, and nowhere else.
    #[test]
    fn the_lambda_sends_the_key_only_to_atlassian_or_a_listed_host() {
        assert!(config(&[]).unwrap().require_allowed_api_host().is_ok());
        assert!(config(&[(env::API_BASE_URL, "https://API.atlassian.com/")])
            .unwrap()
            .require_allowed_api_host()
            .is_ok());
        for url in [
            "https://api.atlassian.com.evil.example",
            "https://evil.example",
            "http://127.0.0.1:8080",
            "http://localhost:1",
        ] {
            let err = config(&[(env::API_BASE_URL, url)])
                .unwrap()
                .require_allowed_api_host()
                .unwrap_err()
                .to_string();
            assert!(err.contains(env::API_ALLOWED_HOSTS), "{err}");
            assert!(err.contains(env::API_BASE_URL), "{err}");
        }
        let listed = config(&[
            (env::API_BASE_URL, "https://gateway.example.com/atlassian"),
            (env::API_ALLOWED_HOSTS, " Gateway.example.com , 127.0.0.1"),
        ])
        .unwrap();
        assert_eq!(
            listed.api_allowed_hosts,
            ["gateway.example.com", "127.0.0.1"]
        );
        assert!(listed.require_allowed_api_host().is_ok());
        let local = config(&[
            (env::API_BASE_URL, "http://127.0.0.1:9"),
            (env::API_ALLOWED_HOSTS, "127.0.0.1"),
        ])
        .unwrap();
        assert!(local.require_allowed_api_host().is_ok());
        assert!(config(&[(env::API_ALLOWED_HOSTS, "https://x/")]).is_err());
    }

    #[test]
    fn the_expected_bucket_owner_is_an_account_id() {
        let c = config(&[(env::EXPECTED_BUCKET_OWNER, "123456789012")]).unwrap();
        assert!(matches!(
            c.objects,
            ObjectLocation::S3 { expected_owner: Some(ref o), .. } if o == "123456789012"
        ));
        assert!(config(&[(env::EXPECTED_BUCKET_OWNER, "12345")]).is_err());
        assert!(config(&[(env::EXPECTED_BUCKET_OWNER, "arn:aws:iam::1")]).is_err());
    }

    #[test]
    fn page_limit_is_clamped_but_garbage_is_refused() {
        assert_eq!(
            config(&[(env::PAGE_LIMIT, "9000")]).unwrap().page_limit,
            500
        );
        assert_eq!(config(&[(env::PAGE_LIMIT, "0")]).unwrap().page_limit, 1);
        assert_eq!(config(&[(env::PAGE_LIMIT, "200")]).unwrap().page_limit, 200);
        let err = config(&[(env::PAGE_LIMIT, "many")]).unwrap_err();
        assert!(err.to_string().contains("PAGE_LIMIT"), "{err}");
    }

    #[test]
    fn batch_bounds_have_defaults_and_refuse_what_memory_cannot_hold() {
        const MIB: u64 = 1024 * 1024;
        // (settings, events bound, bytes bound) or the variable an error names.
        let ok = [
            (vec![], 50_000, 64 * MIB),
            (vec![(env::BATCH_MAX_EVENTS, "1")], 1, 64 * MIB),
            (vec![(env::BATCH_MAX_EVENTS, "200000")], 200_000, 64 * MIB),
            (vec![(env::BATCH_MAX_MIB, "1024")], 50_000, 1024 * MIB),
            (vec![(env::BATCH_MAX_MIB, " 8 ")], 50_000, 8 * MIB),
        ];
        for (settings, events, bytes) in ok {
            let b = config(&settings).unwrap().batch_bounds;
            assert_eq!((b.max_events, b.max_bytes), (events, bytes), "{settings:?}");
        }
        let refused = [
            (env::BATCH_MAX_EVENTS, "0"),
            (env::BATCH_MAX_EVENTS, "200001"),
            (env::BATCH_MAX_EVENTS, "-5"),
            (env::BATCH_MAX_EVENTS, "lots"),
            (env::BATCH_MAX_MIB, "0"),
            (env::BATCH_MAX_MIB, "1025"),
            (env::BATCH_MAX_MIB, "1.5"),
        ];
        for (name, value) in refused {
            let err = config(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("memory"), "{err}");
        }
    }

    #[test]
    fn lookback_accepts_durations_up_to_retention() {
        assert_eq!(
            config(&[(env::INITIAL_LOOKBACK, "36h")])
                .unwrap()
                .initial_lookback,
            Duration::from_secs(36 * 3600)
        );
        assert!(config(&[(env::INITIAL_LOOKBACK, "180d")]).is_ok());
        assert!(config(&[(env::INITIAL_LOOKBACK, "181d")]).is_err());
        assert!(config(&[(env::INITIAL_LOOKBACK, "a week")]).is_err());
    }

    #[test]
    fn credentials_come_from_a_secret_or_both_variables() {
        let c = config(&[(env::SECRET_ID, "arn:aws:secretsmanager:x")]).unwrap();
        assert!(matches!(
            c.credentials,
            Some(CredentialSource::SecretsManager { .. })
        ));
        let c = config(&[(env::ORG_ID, "org-1"), (env::API_KEY, "k")]).unwrap();
        assert!(matches!(
            c.credentials,
            Some(CredentialSource::Static { .. })
        ));
        assert!(config(&[(env::ORG_ID, "org-1")]).is_err());
        assert!(config(&[(env::API_KEY, "k")]).is_err());
        assert!(config(&[(env::ORG_ID, "../x"), (env::API_KEY, "k")]).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let c = config(&[
            (env::ORG_ID, "org-1"),
            (env::API_KEY, "super-secret-key-123"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("super-secret-key-123"), "{shown}");
    }

    #[test]
    fn prefix_is_normalized_and_bucket_checked() {
        assert_eq!(
            prefix_of(&config(&[(env::OUTPUT_PREFIX, "/a/b")]).unwrap()),
            "a/b/"
        );
        assert_eq!(
            prefix_of(&config(&[(env::OUTPUT_PREFIX, "a/")]).unwrap()),
            "a/"
        );
        assert!(config(&[(env::OUTPUT_PREFIX, "a//b")]).is_err());
        for bad in ["a/./b", "../a", "a/..", "*", "a*/", "logs/*/x"] {
            let err = config(&[(env::OUTPUT_PREFIX, bad)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(env::OUTPUT_PREFIX), "{bad}: {err}");
        }
        assert_eq!(
            prefix_of(&config(&[(env::OUTPUT_PREFIX, "a.b/c..d/")]).unwrap()),
            "a.b/c..d/",
            "dots inside a segment are fine"
        );
        assert!(config(&[(env::OUTPUT_BUCKET, "s3://bucket/x")]).is_err());
        assert!(config(&[(env::OUTPUT_BUCKET, "my-bucket")]).is_ok());
        assert!(config(&[(env::S3_FORCE_PATH_STYLE, "maybe")]).is_err());
        assert!(config(&[(env::RUN_BUDGET_SECONDS, "5")]).is_err());
    }

    #[test]
    fn timeouts_default_and_are_bounded() {
        let c = config(&[]).unwrap();
        assert_eq!(c.api_request_timeout, DEFAULT_API_REQUEST_TIMEOUT);
        assert_eq!(c.aws_attempt_timeout, DEFAULT_AWS_ATTEMPT_TIMEOUT);
        let c = config(&[
            (env::API_REQUEST_TIMEOUT, "750ms"),
            (env::AWS_ATTEMPT_TIMEOUT, "2s"),
        ])
        .unwrap();
        assert_eq!(c.api_request_timeout, Duration::from_millis(750));
        assert_eq!(c.aws_attempt_timeout, Duration::from_secs(2));
        for bad in ["0s", "10ms", "1h", "soon", "-1s"] {
            let err = config(&[(env::API_REQUEST_TIMEOUT, bad)]).unwrap_err();
            assert!(err.to_string().contains(env::API_REQUEST_TIMEOUT), "{err}");
        }
        assert!(config(&[(env::AWS_ATTEMPT_TIMEOUT, "6m")]).is_err());
    }

    #[test]
    fn alert_delivery_is_off_unless_named_and_refuses_what_aws_would() {
        let c = config(&[]).unwrap();
        assert_eq!(c.alerts.topic_arn, None);
        assert_eq!(c.alerts.event_bus, None);
        assert_eq!(c.alerts.min_severity, Severity::Low);
        let topic = "arn:aws:sns:eu-west-1:123456789012:atlassian-alerts";
        let c = config(&[
            (env::ALERTS_TOPIC_ARN, topic),
            (env::ALERTS_EVENT_BUS, "default"),
            (env::ALERTS_MIN_SEVERITY, "high"),
        ])
        .unwrap();
        assert_eq!(c.alerts.topic_arn.as_deref(), Some(topic));
        assert_eq!(c.alerts.event_bus.as_deref(), Some("default"));
        assert_eq!(c.alerts.min_severity, Severity::High);
        let table: [(&str, &str, bool); 16] = [
            (
                env::ALERTS_TOPIC_ARN,
                "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t.fifo",
                true,
            ),
            (env::ALERTS_TOPIC_ARN, "atlassian-alerts", false),
            (
                env::ALERTS_TOPIC_ARN,
                "arn:aws:sqs:eu-west-1:123456789012:q",
                false,
            ),
            (
                env::ALERTS_TOPIC_ARN,
                "arn:aws:sns:eu-west-1:12345:t",
                false,
            ),
            (
                env::ALERTS_TOPIC_ARN,
                "arn:aws:sns:eu-west-1:123456789012:a b",
                false,
            ),
            (
                env::ALERTS_TOPIC_ARN,
                "arn:aws:sns:eu-west-1:123456789012:t:sub-id",
                false,
            ),
            (env::ALERTS_EVENT_BUS, "security-alerts", true),
            (
                env::ALERTS_EVENT_BUS,
                "arn:aws:events:eu-west-1:123456789012:event-bus/default",
                true,
            ),
            (
                env::ALERTS_EVENT_BUS,
                "arn:aws:events:eu-west-1:123456789012:rule/x",
                false,
            ),
            (
                env::ALERTS_EVENT_BUS,
                "arn:aws:events:eu-west-1:1:event-bus/default",
                false,
            ),
            (env::ALERTS_EVENT_BUS, "my bus", false),
            (env::ALERTS_EVENT_BUS, "a/b", false),
            (env::ALERTS_MIN_SEVERITY, "Critical", true),
            (env::ALERTS_MIN_SEVERITY, "INFO", true),
            (env::ALERTS_MIN_SEVERITY, "severe", false),
            (env::ALERTS_MIN_SEVERITY, "3", false),
        ];
        for (name, value, valid) in table {
            match config(&[(name, value)]) {
                Ok(_) => assert!(valid, "{name}={value} was accepted"),
                Err(e) => {
                    assert!(!valid, "{name}={value} was refused: {e}");
                    let text = e.to_string();
                    assert!(text.contains(name) && text.contains(value), "{text}");
                }
            }
        }
    }
}
