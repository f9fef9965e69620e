//! Where the checkpoint and the objects are kept: one choice, made here (a table or a file, a
//! bucket or a directory), with the bucket name and key prefix checked.
use super::values::parse_bool;
use super::{env, ConfigError, Given};
use std::path::PathBuf;

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

/// A state file (given, or STATE_FILE) wins over CHECKPOINT_TABLE: it is the local choice.
pub(super) fn checkpoint_location(
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
pub(super) fn object_location(
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

pub(super) fn normalize_prefix(value: &str) -> Result<String, ConfigError> {
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

pub(super) fn validate_bucket(bucket: &str) -> Result<(), ConfigError> {
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
