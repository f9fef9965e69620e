//! Configuration read from the environment, validated before any request is made.
mod alerts;
mod api_url;
mod ocsf;
mod rules;
mod storage;
mod values;

pub use alerts::{AlertDelivery, DEFAULT_ALERTS_MIN_SEVERITY};
pub use api_url::parse_base_url;
pub use rules::{pack_settings_from, rule_source_from, RuleSource};
pub use storage::{CheckpointLocation, ObjectLocation};

use api_url::parse_allowed_hosts;
pub use ocsf::{names as ocsf_env, LakeLocation, OcsfSettings};
use storage::{checkpoint_location, object_location};
use values::{
    batch_bounds, parse_bool, parse_budget, parse_lookback, parse_page_limit, parse_timeout,
};

use crate::collector::BatchBounds;
use crate::credentials::ApiKey;
use crate::registry::{RegisteredSource, Task};
pub use crate::source::atlassian::is_loopback_url;
use crate::source::atlassian::DEFAULT_API_REQUEST_TIMEOUT;

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
/// The longest `RUN_BUDGET_SECONDS` accepted: the lease's bound.
pub use crate::checkpoint::MAX_RUN_BUDGET;
pub const DEFAULT_SOURCE_LABEL: &str = "atlassian-audit";
/// How long one attempt of an S3, DynamoDB or Secrets Manager call may take before the SDK
/// retries it: a stalled call must not hold the run (and its lease) until the Lambda deadline.
pub const DEFAULT_AWS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Names of the environment variables, shared with `template.yaml` and docs/configuration.md.
pub mod env;

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
    /// The rule pack's placeholders (DETECTION_ADMIN_GROUPS, DETECTION_SYSTEM_ACTORS).
    pub detection_settings: crate::detect::PackSettings,
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
            detection_settings: rules::pack_settings(&get),
            sources_table: get(env::SOURCES_TABLE),
            ocsf: ocsf::settings(&get)?,
            task: Task::default(),
            lease_grace: crate::checkpoint::LEASE_GRACE,
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

fn validate_org_id(org_id: &str, from: &'static str) -> Result<(), ConfigError> {
    if crate::credentials::is_org_id(org_id) {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        name: from,
        value: org_id.to_string(),
        reason: "an org id is letters, digits and dashes (admin.atlassian.com/o/<org id>/…)".into(),
    })
}

#[cfg(test)]
mod tests;
