//! OCSF_*: the OCSF copy for Amazon Security Lake (docs/security-lake.md). Off unless
//! OCSF_ENABLED; then every run derives the OCSF copy of the batches it committed.
use super::storage::validate_bucket;
use super::values::parse_bool;
use super::ConfigError;
use crate::ocsf::layout::default_folder;
use crate::ocsf::{OcsfClass, Partition, SourceFolders};

pub mod names {
    pub const OCSF_ENABLED: &str = "OCSF_ENABLED";
    /// The bucket `ext/` goes to: Security Lake's. Unset: the archive's own bucket (or directory).
    pub const OCSF_BUCKET: &str = "OCSF_BUCKET";
    /// The prefix before `ext/` in OCSF_BUCKET (default none); in the archive's bucket, the
    /// archive's OUTPUT_PREFIX.
    pub const OCSF_PREFIX: &str = "OCSF_PREFIX";
    /// The `region=` partition: the Region the objects are uploaded to (default AWS_REGION).
    pub const OCSF_REGION: &str = "OCSF_REGION";
    /// The `accountId=` partition (default EXPECTED_BUCKET_OWNER, else `external`).
    pub const OCSF_ACCOUNT_ID: &str = "OCSF_ACCOUNT_ID";
    /// Where Security Lake placed each custom source (`name=s3://bucket/key/;...`, the stack's
    /// custom resource's answer): each class is written there (default `ext/<name>/`).
    pub const OCSF_SOURCE_LOCATIONS: &str = "OCSF_SOURCE_LOCATIONS";
}

/// Where the OCSF copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    /// Beside the archive: its bucket and prefix, or its directory.
    WithArchive,
    /// Another bucket (Security Lake's), under `prefix`.
    Bucket { bucket: String, prefix: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcsfSettings {
    pub lake: LakeLocation,
    pub folders: SourceFolders,
    pub partition: Partition,
}

/// The OCSF settings, `None` when OCSF_ENABLED is not true.
pub fn settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<OcsfSettings>, ConfigError> {
    let enabled = get(names::OCSF_ENABLED)
        .map(|v| parse_bool(names::OCSF_ENABLED, &v))
        .transpose()?
        .unwrap_or(false);
    if !enabled {
        return Ok(None);
    }
    let lake = match get(names::OCSF_BUCKET) {
        None => LakeLocation::WithArchive,
        Some(bucket) => {
            validate_bucket(&bucket)?;
            let prefix = get(names::OCSF_PREFIX).unwrap_or_default();
            let prefix = match prefix.trim_matches('/') {
                "" => String::new(),
                p => format!("{p}/"),
            };
            LakeLocation::Bucket { bucket, prefix }
        }
    };
    let region = get(names::OCSF_REGION)
        .or_else(|| get("AWS_REGION"))
        .unwrap_or_else(|| "local".to_string());
    let account_id = get(names::OCSF_ACCOUNT_ID)
        .or_else(|| get(super::env::EXPECTED_BUCKET_OWNER))
        .unwrap_or_else(|| "external".to_string());
    for (name, value) in [
        (names::OCSF_REGION, &region),
        (names::OCSF_ACCOUNT_ID, &account_id),
    ] {
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::Invalid {
                name,
                value: value.clone(),
                reason: "a partition value: letters, digits, '-' and '_' only".into(),
            });
        }
    }
    let folders = match (&lake, get(names::OCSF_SOURCE_LOCATIONS)) {
        (_, None) => SourceFolders::default(),
        (LakeLocation::Bucket { bucket, prefix }, Some(text)) => {
            source_folders(&text, bucket, prefix)?
        }
        (LakeLocation::WithArchive, Some(text)) => {
            return Err(invalid_locations(&text, "it names Security Lake's locations, but OCSF_BUCKET (Security Lake's bucket) is not set"));
        }
    };
    Ok(Some(OcsfSettings {
        lake,
        folders,
        partition: Partition { region, account_id },
    }))
}

fn invalid_locations(value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: names::OCSF_SOURCE_LOCATIONS,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// `name=s3://bucket/<prefix>ext/<name>/…/;…`: each named source's folder, relative to the lake's
/// prefix. A source with no location (`name=`) keeps the default. Each must be in OCSF_BUCKET,
/// under the source's own `ext/<name>/` (where the role may write); a missing final `/` is added.
fn source_folders(text: &str, bucket: &str, prefix: &str) -> Result<SourceFolders, ConfigError> {
    let mut folders = SourceFolders::default();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = |reason: &str| invalid_locations(text, format!("{entry}: {reason}"));
        let (name, location) = entry
            .split_once('=')
            .ok_or_else(|| bad("not name=s3://bucket/folder/"))?;
        let class = OcsfClass::ALL
            .into_iter()
            .find(|c| c.source_name() == name)
            .ok_or_else(|| bad("not one of the OCSF copy's custom sources"))?;
        if location.is_empty() {
            continue;
        }
        let key = location
            .strip_prefix("s3://")
            .and_then(|rest| rest.strip_prefix(bucket))
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| bad(&format!("not in OCSF_BUCKET ({bucket})")))?;
        let folder = key.strip_prefix(prefix).map(|f| match f.ends_with('/') {
            true => f.to_string(),
            false => format!("{f}/"),
        });
        let folder = folder
            .filter(|f| f.starts_with(&default_folder(class)))
            .filter(|f| !f.split('/').any(|s| s == "." || s == ".."))
            .filter(|f| !f.contains("//") && !f.chars().any(char::is_control))
            .ok_or_else(|| {
                bad(&format!(
                    "not a folder under {prefix}{}",
                    default_folder(class)
                ))
            })?;
        folders = folders.with(class, folder);
    }
    Ok(folders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Option<OcsfSettings>, ConfigError> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        settings(&|name: &str| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn off_unless_enabled() {
        assert_eq!(from(&[]).unwrap(), None);
        assert_eq!(from(&[("OCSF_ENABLED", "false")]).unwrap(), None);
        assert!(from(&[("OCSF_ENABLED", "maybe")]).is_err());
    }

    #[test]
    fn beside_the_archive_by_default_with_the_regions_and_accounts_defaults() {
        let s = from(&[("OCSF_ENABLED", "true")]).unwrap().unwrap();
        assert_eq!(s.lake, LakeLocation::WithArchive);
        assert_eq!(
            s.partition,
            Partition {
                region: "local".into(),
                account_id: "external".into()
            }
        );
        let s = from(&[
            ("OCSF_ENABLED", "true"),
            ("AWS_REGION", "eu-west-1"),
            ("EXPECTED_BUCKET_OWNER", "123456789012"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            s.partition,
            Partition {
                region: "eu-west-1".into(),
                account_id: "123456789012".into()
            }
        );
    }

    #[test]
    fn security_lakes_bucket_and_checked_partitions() {
        let s = from(&[
            ("OCSF_ENABLED", "true"),
            ("OCSF_BUCKET", "aws-security-data-lake-eu-west-1-abc"),
            ("OCSF_PREFIX", "/"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            s.lake,
            LakeLocation::Bucket {
                bucket: "aws-security-data-lake-eu-west-1-abc".into(),
                prefix: String::new()
            }
        );
        assert!(from(&[("OCSF_ENABLED", "true"), ("OCSF_REGION", "eu/west")]).is_err());
        assert!(from(&[("OCSF_ENABLED", "true"), ("OCSF_BUCKET", "Not A Bucket")]).is_err());
    }

    /// The locations the stack's custom resource answered: each class goes where Security Lake
    /// placed its source (a version folder included); anything outside the source's own folder
    /// in Security Lake's bucket is refused, naming the entry.
    #[test]
    fn security_lakes_source_locations_place_each_class() {
        const LAKE: &str = "aws-security-data-lake-eu-west-1-abc";
        let with = |locations: &str| {
            from(&[
                ("OCSF_ENABLED", "true"),
                ("OCSF_BUCKET", LAKE),
                ("OCSF_SOURCE_LOCATIONS", locations),
            ])
        };
        let s = with(&format!(
            "atlassian_auth=s3://{LAKE}/ext/atlassian_auth/1.0/;atlassian_group=s3://{LAKE}/ext/atlassian_group;atlassian_entity="
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            s.folders.folder(OcsfClass::Authentication),
            "ext/atlassian_auth/1.0/"
        );
        assert_eq!(
            s.folders.folder(OcsfClass::GroupManagement),
            "ext/atlassian_group/"
        );
        assert_eq!(
            s.folders.folder(OcsfClass::EntityManagement),
            "ext/atlassian_entity/"
        );
        let refused = [
            (
                "atlassian_auth=s3://other-bucket/ext/atlassian_auth/".to_string(),
                "not in OCSF_BUCKET",
            ),
            (
                format!("atlassian_auth=s3://{LAKE}/ext/atlassian_group/"),
                "not a folder under ext/atlassian_auth/",
            ),
            (
                format!("atlassian_auth=s3://{LAKE}/ext/atlassian_auth/../x/"),
                "not a folder",
            ),
            (
                format!("atlassian_nope=s3://{LAKE}/ext/atlassian_nope/"),
                "not one of",
            ),
            ("atlassian_auth".to_string(), "not name=s3://"),
        ];
        for (value, reason) in refused {
            let err = with(&value).unwrap_err().to_string();
            assert!(
                err.contains("OCSF_SOURCE_LOCATIONS") && err.contains(reason),
                "{value}: {err}"
            );
        }
        let beside_the_archive = from(&[
            ("OCSF_ENABLED", "true"),
            ("OCSF_SOURCE_LOCATIONS", "atlassian_auth="),
        ]);
        assert!(beside_the_archive
            .unwrap_err()
            .to_string()
            .contains("OCSF_BUCKET"));
    }
}
