//! The rules a deployment runs: the built-in pack, changed by the user's rule file if the
//! configuration names one (DETECTION_RULES: a local path, an S3 object or prefix). Read once, at
//! start (a Lambda's cold start), before any request to the API: a missing object or a bad rule
//! stops the process there, naming the file, the rule and the field.
use super::{Aws, SetupError};
use crate::config::{Config, RuleSource};
use crate::detect::{is_rule_file, sidecar_path, PackSettings, RuleError, RulePack};
use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use std::path::Path;
use tokio::io::AsyncReadExt;

/// The largest rule file read (1 MiB): the built-in pack is about 27 KB, and a file read at
/// every cold start must not be able to hold the function's memory.
pub const MAX_RULE_FILE_BYTES: usize = 1024 * 1024;

/// The most rule files read under an S3 prefix: each is one request at every cold start.
pub const MAX_RULE_FILES_UNDER_PREFIX: usize = 100;

/// What to do when the S3 object cannot be read.
const S3_HINT: &str = "upload the rule file to exactly this key, or fix DETECTION_RULES (the stack's DetectionRulesBucket and DetectionRulesKey); the reader needs s3:GetObject on this object (the stack's role has it on exactly this one), and the bucket must belong to EXPECTED_BUCKET_OWNER's account when that is set";

/// What to do when the S3 prefix cannot be listed.
const S3_PREFIX_HINT: &str = "fix DETECTION_RULES (the stack's DetectionRulesBucket and DetectionRulesKey ending in '/'); the reader needs s3:ListBucket on the bucket for this prefix and s3:GetObject under it (the stack's role has both), and the bucket must belong to EXPECTED_BUCKET_OWNER's account when that is set";

/// The rule pack in force.
pub async fn rule_pack(config: &Config, aws: &Aws) -> Result<RulePack, SetupError> {
    rule_pack_from(
        config.detection_rules.as_ref(),
        config.detection_settings.clone(),
        aws,
    )
    .await
}

/// The built-in pack (its placeholders filled from `settings`), with the user's rules at
/// `source` applied when there are some.
pub async fn rule_pack_from(
    source: Option<&RuleSource>,
    settings: PackSettings,
    aws: &Aws,
) -> Result<RulePack, SetupError> {
    let builtin = RulePack::builtin_with(settings)?;
    let Some(source) = source else {
        return Ok(builtin);
    };
    match source {
        RuleSource::Path(path) if path.is_dir() => Ok(with_local_folder(builtin, path).await?),
        RuleSource::Path(path) => Ok(with_local_file(builtin, path).await?),
        RuleSource::S3 { .. } if source.s3_prefix().is_some() => {
            Ok(with_s3_prefix(builtin, source, aws).await?)
        }
        RuleSource::S3 { .. } => {
            let file = source.describe();
            let text = text_of(read_source(source, &file, aws).await?, &file)?;
            // The sidecar of tests is for `rules test`, not needed to run the rules (and the
            // function's role may read only the rule file's object).
            Ok(builtin.with_user_rules(&file, &text, None)?)
        }
    }
}

/// Every Sigma file directly under an S3 prefix (not the sidecars), in key order, read as one
/// object is; together at most [`MAX_RULE_FILE_BYTES`], as a single file may hold.
async fn with_s3_prefix(
    mut pack: RulePack,
    source: &RuleSource,
    aws: &Aws,
) -> Result<RulePack, RuleError> {
    let RuleSource::S3 {
        bucket,
        key: prefix,
        force_path_style,
        expected_owner,
    } = source
    else {
        return Ok(pack);
    };
    let client = aws.s3(*force_path_style).await;
    let listed = source.describe();
    let keys = rule_keys_under(&client, bucket, prefix, expected_owner, &listed).await?;
    let mut total = 0;
    for key in keys {
        let file = format!("s3://{bucket}/{key}");
        let request = client
            .get_object()
            .bucket(bucket)
            .key(&key)
            .set_expected_bucket_owner(expected_owner.clone());
        let text = text_of(read_s3(request, &file).await?, &file)?;
        total += text.len();
        if total > MAX_RULE_FILE_BYTES {
            return Err(read_error(&listed, format!("its rule files hold more than {MAX_RULE_FILE_BYTES} bytes (1 MiB) together, the most one pack may hold: remove what is not needed")));
        }
        pack = pack.with_user_rules(&file, &text, None)?;
    }
    Ok(pack)
}

/// The keys of the rule files directly under `prefix` (the delimiter keeps deeper "folders"
/// out, as a local folder's sub-folders are), in key order; none is an error, since the
/// operator named a prefix to read rules from.
async fn rule_keys_under(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    expected_owner: &Option<String>,
    listed: &str,
) -> Result<Vec<String>, RuleError> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .set_expected_bucket_owner(expected_owner.clone())
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| {
                let reason = crate::aws_error::describe(&e);
                read_error(listed, format!("{reason}: {S3_PREFIX_HINT}"))
            })?;
        let names = page.contents().iter().filter_map(|o| o.key());
        keys.extend(names.filter(|k| is_rule_file(k)).map(str::to_string));
        if keys.len() > MAX_RULE_FILES_UNDER_PREFIX {
            return Err(read_error(listed, format!("it holds more than {MAX_RULE_FILES_UNDER_PREFIX} rule files: put several rules in one file (YAML documents separated by '---')")));
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
            _ => break,
        }
    }
    if keys.is_empty() {
        return Err(read_error(listed, "no rule file (*.yml or *.yaml but *.tests.yaml) is directly under this prefix: upload one, or fix DETECTION_RULES"));
    }
    keys.sort();
    Ok(keys)
}

/// Every Sigma file of a folder (not the sidecars), in name order, each with its sidecar.
async fn with_local_folder(mut pack: RulePack, dir: &Path) -> Result<RulePack, RuleError> {
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| read_error(&dir.display().to_string(), e.to_string()))?;
    let mut files = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| read_error(&dir.display().to_string(), e.to_string()))?
    {
        if is_rule_file(&entry.file_name().to_string_lossy()) {
            files.push(entry.path());
        }
    }
    files.sort();
    for file in files {
        pack = with_local_file(pack, &file).await?;
    }
    Ok(pack)
}

/// A local Sigma file and, if there is one, its sidecar of tests (`<stem>.tests.yaml`).
async fn with_local_file(pack: RulePack, path: &Path) -> Result<RulePack, RuleError> {
    let file = path.display().to_string();
    let text = text_of(read_local(path, &file).await?, &file)?;
    let tests_file = sidecar_path(&file);
    let tests_path = Path::new(&tests_file);
    let tests = match tests_path.is_file() {
        true => Some(text_of(
            read_local(tests_path, &tests_file).await?,
            &tests_file,
        )?),
        false => None,
    };
    let tests = tests.as_deref().map(|t| (tests_file.as_str(), t));
    pack.with_user_rules(&file, &text, tests)
}

fn text_of(bytes: Vec<u8>, file: &str) -> Result<String, RuleError> {
    String::from_utf8(bytes).map_err(|_| read_error(file, "it is not UTF-8 text"))
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

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "title: My rule\nid: 11111111-2222-4333-8444-555555555555\nname: my_rule\nlogsource: {product: atlassian, service: audit}\ndetection: {selection: {attributes.action: thing_done}, condition: selection}\nlevel: high\n";
    const TESTS: &str = "my_rule:\n  positive: [{name: p, events: [{attributes: {action: thing_done}}]}]\n  negative: [{name: n, events: [{attributes: {action: other}}]}]\n";

    async fn load_path(path: &Path) -> Result<RulePack, SetupError> {
        let source = RuleSource::Path(path.to_path_buf());
        rule_pack_from(Some(&source), PackSettings::default(), &Aws::default()).await
    }

    /// A folder of Sigma files: each with its sidecar of tests; a sidecar naming no rule is an
    /// error naming it.
    #[tokio::test]
    async fn user_rules_are_read_from_a_file_or_a_folder_with_their_tests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.yml");
        std::fs::write(&path, RULE).unwrap();
        std::fs::write(dir.path().join("mine.tests.yaml"), TESTS).unwrap();
        for given in [path.clone(), dir.path().to_path_buf()] {
            let pack = load_path(&given).await.unwrap();
            let mine: Vec<_> = pack.rules().iter().filter(|r| r.id == "my_rule").collect();
            assert_eq!(mine.len(), 1);
            assert_eq!(mine[0].origin, path.display().to_string());
            assert_eq!(mine[0].tests.positive.len(), 1);
        }
        std::fs::write(
            dir.path().join("mine.tests.yaml"),
            TESTS.replace("my_rule:", "my_rul:"),
        )
        .unwrap();
        let typo = load_path(&path).await.unwrap_err();
        assert!(
            matches!(&typo, SetupError::Rules(RuleError::Invalid { rule, file, .. }) if rule == "my_rul" && file.ends_with("mine.tests.yaml")),
            "{typo}"
        );
        let missing = load_path(&dir.path().join("nope.yml")).await.unwrap_err();
        assert!(
            matches!(missing, SetupError::Rules(RuleError::Read { .. })),
            "{missing}"
        );
    }
}
