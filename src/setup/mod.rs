//! Wiring: turns a [`Config`] (which has chosen the storage) into a ready [`Collector`]. Shared by the
//! Lambda and the CLI so both run the very same pipeline.
use crate::checkpoint::{
    CheckpointStore, DynamoDbCheckpointStore, FileCheckpointStore, HighWaterMarks,
    LocalDirHighWaterMarks, MonotonicCheckpoints, S3HighWaterMarks,
};
use crate::collector::{ApiKeySeal, Collector, CollectorSettings, DetectStage, DEFAULT_OVERLAP};
use crate::config::{
    CheckpointLocation, Config, ConfigError, CredentialSource, LakeLocation, ObjectLocation,
    DEFAULT_AWS_ATTEMPT_TIMEOUT,
};
use crate::credentials::{CredentialProvider, SecretsManagerCredentials, StaticCredentials};
use crate::detect::RuleError;
use crate::normalize::{Normalizer, SourceInfo};
use crate::ocsf::store::{BlobStore, LocalDirStore, S3Store};
use crate::ocsf::Derivation;
use crate::progress::{ObservedSink, ObservedSource, Progress};
use crate::registry::{DynamoDbRegistry, SourceRegistry};
use crate::s3_location::S3Location;
use crate::sink::{LocalDirSink, ObjectSink, S3Sink};
use crate::source::atlassian::AtlassianClient;
use crate::source::{EventSource, SourceError};
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_s3::config::RequestChecksumCalculation;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::OnceCell;

mod notifiers;
mod rules;

pub use notifiers::notifiers;
pub use rules::{rule_pack, rule_pack_from, MAX_RULE_FILE_BYTES};

#[derive(Debug, Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Rules(#[from] RuleError),
}

/// Lazily loaded AWS configuration (region, credentials, `AWS_ENDPOINT_URL`), loaded only when
/// something of AWS is used, so purely local runs need no AWS settings.
pub struct Aws {
    config: OnceCell<SdkConfig>,
    attempt_timeout: Duration,
}

impl Default for Aws {
    fn default() -> Self {
        Aws::with_attempt_timeout(DEFAULT_AWS_ATTEMPT_TIMEOUT)
    }
}

impl Aws {
    /// AWS as the configuration asks for it (`AWS_ATTEMPT_TIMEOUT`).
    pub fn for_config(config: &Config) -> Self {
        Aws::with_attempt_timeout(config.aws_attempt_timeout)
    }

    pub fn with_attempt_timeout(attempt_timeout: Duration) -> Self {
        Aws {
            config: OnceCell::new(),
            attempt_timeout,
        }
    }

    pub async fn config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| async {
                // Every attempt is bounded, so a stalled connection is retried by the SDK
                // instead of holding the run until the Lambda deadline.
                let timeouts = TimeoutConfig::builder()
                    .operation_attempt_timeout(self.attempt_timeout)
                    .build();
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .timeout_config(timeouts)
                    .load()
                    .await
            })
            .await
    }

    pub async fn s3(&self, force_path_style: bool) -> aws_sdk_s3::Client {
        // The template's bucket has Object Lock, where S3 refuses a PUT without a checksum: every
        // upload carries one, whatever AWS_REQUEST_CHECKSUM_CALCULATION or a profile says.
        let conf = aws_sdk_s3::config::Builder::from(self.config().await)
            .force_path_style(force_path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenSupported)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(self.config().await)
    }

    pub async fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(self.config().await)
    }

    pub async fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(self.config().await)
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(self.config().await)
    }

    pub async fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(self.config().await)
    }
}

/// The credential provider the configuration names; create it once per process so the secret
/// cache lives as long as a warm Lambda container.
pub async fn credential_provider(
    config: &Config,
    aws: &Aws,
) -> Result<Arc<dyn CredentialProvider>, ConfigError> {
    Ok(match config.require_credentials()? {
        CredentialSource::SecretsManager { secret_id } => Arc::new(SecretsManagerCredentials::new(
            aws.secrets_manager().await,
            secret_id.clone(),
        )),
        CredentialSource::Static { org_id, api_key } => {
            Arc::new(StaticCredentials::new(org_id.clone(), api_key.clone()))
        }
    })
}

/// The checkpoint store the configuration chose, refusing checkpoints that went behind the
/// source's high-water mark.
pub async fn checkpoint_store(config: &Config, aws: &Aws) -> Arc<dyn CheckpointStore> {
    Arc::new(MonotonicCheckpoints::new(
        checkpoint_table(config, aws).await,
        high_water_marks(config, aws).await,
    ))
}

/// The checkpoint store the configuration chose, as it is (no high-water check).
pub async fn checkpoint_table(config: &Config, aws: &Aws) -> Arc<dyn CheckpointStore> {
    match &config.checkpoint {
        CheckpointLocation::File(path) => Arc::new(FileCheckpointStore::new(path.clone())),
        CheckpointLocation::DynamoDb { table } => {
            Arc::new(DynamoDbCheckpointStore::new(aws.dynamodb().await, table))
        }
    }
}

/// The sources registry (SOURCES_TABLE), for registry mode and the `sources` commands.
pub async fn source_registry(
    config: &Config,
    aws: &Aws,
) -> Result<Arc<dyn SourceRegistry>, ConfigError> {
    match &config.sources_table {
        Some(table) => Ok(Arc::new(DynamoDbRegistry::new(aws.dynamodb().await, table))),
        None => Err(ConfigError::Missing {
            name: crate::config::env::SOURCES_TABLE,
            hint: "name the DynamoDB table of the sources registry (partition key `source_id`, type S; it may be CHECKPOINT_TABLE itself)",
        }),
    }
}

/// The credentials in one source's secret.
pub async fn secret_credentials(secret_id: &str, aws: &Aws) -> Arc<dyn CredentialProvider> {
    Arc::new(SecretsManagerCredentials::new(
        aws.secrets_manager().await,
        secret_id.to_string(),
    ))
}

/// The high-water marks, beside the objects: in the bucket, or the output directory.
pub async fn high_water_marks(config: &Config, aws: &Aws) -> Arc<dyn HighWaterMarks> {
    match &config.objects {
        ObjectLocation::Directory(dir) => Arc::new(LocalDirHighWaterMarks::new(dir.clone())),
        ObjectLocation::S3 {
            bucket,
            prefix,
            force_path_style,
            expected_owner,
        } => Arc::new(S3HighWaterMarks::new(S3Location::new(
            aws.s3(*force_path_style).await,
            bucket,
            prefix.clone(),
            expected_owner.clone(),
        ))),
    }
}

/// The object sink the configuration chose.
pub async fn object_sink(config: &Config, aws: &Aws) -> Arc<dyn ObjectSink> {
    match &config.objects {
        ObjectLocation::Directory(dir) => Arc::new(LocalDirSink::new(dir.clone())),
        ObjectLocation::S3 {
            bucket,
            prefix,
            force_path_style,
            expected_owner,
        } => Arc::new(
            S3Sink::new(aws.s3(*force_path_style).await, bucket, prefix.clone())
                .with_expected_owner(expected_owner.clone()),
        ),
    }
}

/// The OCSF derivation the configuration asks for (OCSF_ENABLED), over the archive's storage.
pub async fn ocsf_derivation(config: &Config, aws: &Aws) -> Option<Derivation> {
    let settings = config.ocsf.as_ref()?;
    let (archive, lake): (Arc<dyn BlobStore>, Arc<dyn BlobStore>) = match &config.objects {
        ObjectLocation::Directory(dir) => {
            let store: Arc<dyn BlobStore> = Arc::new(LocalDirStore::new(dir.clone()));
            (store.clone(), store)
        }
        ObjectLocation::S3 {
            bucket,
            prefix,
            force_path_style,
            expected_owner,
        } => {
            let s3 = aws.s3(*force_path_style).await;
            let archive: Arc<dyn BlobStore> = Arc::new(S3Store::new(S3Location::new(
                s3.clone(),
                bucket,
                prefix.clone(),
                expected_owner.clone(),
            )));
            let lake: Arc<dyn BlobStore> =
                match &settings.lake {
                    LakeLocation::WithArchive => archive.clone(),
                    LakeLocation::Bucket { bucket, prefix } => Arc::new(S3Store::new(
                        S3Location::new(s3, bucket, prefix.clone(), expected_owner.clone()),
                    )),
                };
            (archive, lake)
        }
    };
    Some(Derivation {
        archive: archive.clone(),
        lake,
        state: archive,
        folders: settings.folders.clone(),
        partition: settings.partition.clone(),
    })
}

/// Everything a run needs besides the collector itself, built once per process.
pub struct Backends {
    pub source: Arc<AtlassianClient>,
    pub credentials: Arc<dyn CredentialProvider>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub sink: Arc<dyn ObjectSink>,
    /// The rules in force and where their alerts are announced.
    pub detection: DetectStage,
    /// The OCSF copy, when OCSF_ENABLED.
    pub ocsf: Option<Derivation>,
}

impl Backends {
    /// Checks every setting before any request is made.
    pub async fn from_config(config: &Config, aws: &Aws) -> Result<Self, SetupError> {
        let credentials = credential_provider(config, aws).await?;
        let checkpoints = checkpoint_store(config, aws).await;
        let sink = object_sink(config, aws).await;
        let detection = DetectStage::new(
            Arc::new(rule_pack(config, aws).await?),
            notifiers(config, aws).await?,
        )
        .sealed_by(Arc::new(ApiKeySeal(credentials.clone())));
        let source = Arc::new(
            AtlassianClient::new(config.api_base_url.clone(), credentials.clone())?
                .with_request_timeout(config.api_request_timeout),
        );
        Ok(Backends {
            source,
            credentials,
            checkpoints,
            sink,
            detection,
            ocsf: ocsf_derivation(config, aws).await,
        })
    }

    /// A collector for one run. The source id defaults to the org id, which may come from the
    /// secret, so this reads the (cached) credentials.
    pub async fn collector(&self, config: &Config) -> Result<Collector, SetupError> {
        self.collector_over(config, self.source.clone(), self.sink.clone())
            .await
    }

    /// A collector whose pages and objects are also counted in `progress` as they go (the
    /// CLI's progress line); otherwise the very same collector.
    pub async fn observed_collector(
        &self,
        config: &Config,
        progress: Arc<Progress>,
    ) -> Result<Collector, SetupError> {
        let source = Arc::new(ObservedSource::new(self.source.clone(), progress.clone()));
        let sink = Arc::new(ObservedSink::new(self.sink.clone(), progress));
        self.collector_over(config, source, sink).await
    }

    async fn collector_over(
        &self,
        config: &Config,
        source: Arc<dyn EventSource>,
        sink: Arc<dyn ObjectSink>,
    ) -> Result<Collector, SetupError> {
        let source_id = self.source_id(config).await?;
        let normalizer = Normalizer::new(SourceInfo {
            source_id: source_id.clone(),
            source_label: config.source_label.clone(),
        });
        // A backfill keeps its own checkpoint record; its events carry the source's id.
        let source_id = config.task.checkpoint_id(&source_id);
        let collector = Collector::new(
            source,
            self.checkpoints.clone(),
            sink,
            normalizer,
            CollectorSettings {
                source_id,
                page_limit: config.page_limit,
                initial_lookback: config.initial_lookback,
                overlap: DEFAULT_OVERLAP,
                batch_bounds: config.batch_bounds,
                lease_grace: config.lease_grace,
                window: config.task.window(),
                first_from_ms: config.task.first_from_ms(),
            },
        )
        .with_detection(self.detection.clone());
        Ok(match &self.ocsf {
            Some(derivation) => collector.with_ocsf(derivation.clone()),
            None => collector,
        })
    }

    /// The source id a run would use, without building a collector.
    pub async fn source_id(&self, config: &Config) -> Result<String, SetupError> {
        match &config.source_id {
            Some(id) => Ok(id.clone()),
            None => Ok(self.source.org_id().await?),
        }
    }
}
