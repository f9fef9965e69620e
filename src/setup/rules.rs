//! The rules a deployment runs: the built-in pack, changed by the user's rule file if the
//! configuration names one (DETECTION_RULES: a local path, or an S3 object). Read once, at
//! start (a Lambda's cold start), before any request to the API: a missing object or a bad rule
//! stops the process there, naming the file, the rule and the field.
use super::{Aws, SetupError};
use crate::config::{Config, RuleSource};
use crate::detect::{RuleError, RulePack};
use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use tokio::io::AsyncReadExt;

/// The largest rule file read (1 MiB): the built-in pack is about 27 KB, and a file read at
/// every cold start must not be able to hold the function's memory.
pub const MAX_RULE_FILE_BYTES: usize = 1024 * 1024;

/// What to do when the S3 object cannot be read.
const S3_HINT: &str = "upload the rule file to exactly this key, or fix DETECTION_RULES (the stack's DetectionRulesBucket and DetectionRulesKey); the reader needs s3:GetObject on this object (the stack's role has it on exactly this one), and the bucket must belong to EXPECTED_BUCKET_OWNER's account when that is set";

/// The rule pack in force.
pub async fn rule_pack(config: &Config, aws: &Aws) -> Result<RulePack, SetupError> {
    rule_pack_from(config.detection_rules.as_ref(), aws).await
}

/// The built-in pack, with the user's rule file at `source` applied when there is one.
pub async fn rule_pack_from(
    source: Option<&RuleSource>,
    aws: &Aws,
) -> Result<RulePack, SetupError> {
    let builtin = RulePack::builtin()?;
    let Some(source) = source else {
        return Ok(builtin);
    };
    if let RuleSource::Path(path) = source {
        if path.is_dir() {
            // A folder of Sigma files (the CLI): each read with its sidecar of tests.
            return Ok(builtin.with_user_path(path)?);
        }
    }
    let file = source.describe();
    let bytes = read_source(source, &file, aws).await?;
    let text = String::from_utf8(bytes).map_err(|_| read_error(&file, "it is not UTF-8 text"))?;
    // The sidecar of tests is for `rules test`, not needed to run the rules (and the
    // function's role may read only the rule file's object).
    Ok(builtin.with_user_rules(&file, &text, None)?)
}

async fn read_source(source: &RuleSource, file: &str, aws: &Aws) -> Result<Vec<u8>, RuleError> {
    match source {
        RuleSource::Path(path) => read_local(path, file).await,
        RuleSource::S3 {
            bucket,
            key,
            force_path_style,
            expected_owner,
        } => {
            let client = aws.s3(*force_path_style).await;
            let request = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .set_expected_bucket_owner(expected_owner.clone());
            read_s3(request, file).await
        }
    }
}

fn read_error(file: &str, reason: impl Into<String>) -> RuleError {
    RuleError::Read {
        file: file.to_string(),
        reason: reason.into(),
    }
}

fn too_large(file: &str) -> RuleError {
    read_error(
        file,
        format!("it is larger than {MAX_RULE_FILE_BYTES} bytes (1 MiB), the most a rule file may hold: split off what is not needed"),
    )
}

/// At most the cap plus one byte, so an oversized file is refused without reading it whole.
async fn read_local(path: &std::path::Path, file: &str) -> Result<Vec<u8>, RuleError> {
    let opened = tokio::fs::File::open(path).await.map_err(|e| {
        read_error(
            file,
            format!("{e}: fix DETECTION_RULES (the CLI's --rules) to name the rule file"),
        )
    })?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_RULE_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| read_error(file, e.to_string()))?;
    if bytes.len() > MAX_RULE_FILE_BYTES {
        return Err(too_large(file));
    }
    Ok(bytes)
}

async fn read_s3(request: GetObjectFluentBuilder, file: &str) -> Result<Vec<u8>, RuleError> {
    let answer = request.send().await.map_err(|e| {
        let reason = crate::aws_error::describe(&e);
        read_error(file, format!("{reason}: {S3_HINT}"))
    })?;
    let declared = answer.content_length().unwrap_or(0);
    if usize::try_from(declared).map_or(true, |n| n > MAX_RULE_FILE_BYTES) {
        return Err(too_large(file));
    }
    read_capped(answer.body, file).await
}

/// The body, refused past the cap whatever its declared length said.
async fn read_capped(mut body: ByteStream, file: &str) -> Result<Vec<u8>, RuleError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| read_error(file, format!("the object could not be read whole: {e}")))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_RULE_FILE_BYTES {
            return Err(too_large(file));
        }
    }
    Ok(bytes)
}
