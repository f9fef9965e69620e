//! OCSF_*: the OCSF copy for Amazon Security Lake (docs/security-lake.md). Off unless
//! OCSF_ENABLED; then every run derives the OCSF copy of the batches it committed.
use super::storage::validate_bucket;
use super::values::parse_bool;
use super::ConfigError;
use crate::ocsf::Partition;

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
    Ok(Some(OcsfSettings {
        lake,
        partition: Partition { region, account_id },
    }))
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
}
