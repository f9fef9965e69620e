//! DETECTION_RULES: where the user's rule file comes from, if anywhere. Unset, the built-in
//! pack runs alone; a local path (the CLI only) or `s3://bucket/key` (the CLI and the Lambda),
//! where a key ending in `/` is a prefix: every rule file directly under it.
use super::{env, parse_bool, Config, ConfigError, Given};
use crate::detect::PackSettings;
use std::path::PathBuf;

/// Longest S3 object key (S3's own limit, in bytes).
const MAX_KEY_BYTES: usize = 1024;

/// The user's rule file: its `disable:` ids turn built-in rules off, its `rules:` are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// A file on this machine (the CLI's `--rules`; refused by the Lambda).
    Path(PathBuf),
    /// An S3 object, or every rule file directly under a prefix when `key` ends with `/`. The
    /// requests name `expected_owner` (EXPECTED_BUCKET_OWNER) when set, so rules are never read
    /// from a bucket of another account; path-style as S3_FORCE_PATH_STYLE.
    S3 {
        bucket: String,
        key: String,
        force_path_style: bool,
        expected_owner: Option<String>,
    },
}

impl RuleSource {
    /// The path, or `s3://bucket/key`: the file name rule errors and the check show.
    pub fn describe(&self) -> String {
        match self {
            RuleSource::Path(path) => path.display().to_string(),
            RuleSource::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
        }
    }

    /// The prefix whose rule files are read, when this names a prefix rather than one object.
    pub fn s3_prefix(&self) -> Option<&str> {
        match self {
            RuleSource::S3 { key, .. } if key.ends_with('/') => Some(key),
            _ => None,
        }
    }
}

impl Config {
    /// What the Lambda demands of DETECTION_RULES: an S3 object, since a function has no
    /// file of the operator's to read.
    pub fn require_rules_from_s3(&self) -> Result<(), ConfigError> {
        match &self.detection_rules {
            Some(RuleSource::Path(path)) => Err(ConfigError::Invalid {
                name: env::DETECTION_RULES,
                value: path.display().to_string(),
                reason: "the Lambda reads its rule file from S3 only: upload it and set s3://bucket/key (the stack's DetectionRulesBucket and DetectionRulesKey)".into(),
            }),
            _ => Ok(()),
        }
    }
}

/// The rule pack's lists: the defaults extended by DETECTION_ADMIN_GROUPS and
/// DETECTION_SYSTEM_ACTORS (comma-separated).
pub(super) fn pack_settings(get: &impl Fn(&str) -> Option<String>) -> PackSettings {
    PackSettings::with_extra(
        get(env::DETECTION_ADMIN_GROUPS).as_deref(),
        get(env::DETECTION_SYSTEM_ACTORS).as_deref(),
    )
}

/// [`pack_settings`] read through `lookup`, without the rest of the configuration (the CLI's
/// `rules` and `detect`).
pub fn pack_settings_from(lookup: impl Fn(&str) -> Option<String>) -> PackSettings {
    pack_settings(&|name: &str| lookup(name))
}

/// The rule file `given` (a path or `s3://bucket/key`), else the one DETECTION_RULES names,
/// read through `lookup`, without the rest of the configuration (the CLI's `rules` and `detect`).
pub fn rule_source_from(
    lookup: impl Fn(&str) -> Option<String>,
    given: Option<String>,
) -> Result<Option<RuleSource>, ConfigError> {
    let get = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let given = Given {
        detection_rules: given,
        ..Given::default()
    };
    rule_source(&get, &given)
}

/// The rule file given (`--rules`) or named by DETECTION_RULES; `None`: the built-in pack alone.
pub(super) fn rule_source(
    get: &impl Fn(&str) -> Option<String>,
    given: &Given,
) -> Result<Option<RuleSource>, ConfigError> {
    // A blank flag counts as unset, as a blank variable does.
    let flag = given
        .detection_rules
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let Some(value) = flag.or_else(|| get(env::DETECTION_RULES)) else {
        return Ok(None);
    };
    let Some(rest) = value.strip_prefix("s3://") else {
        return parse_path(&value).map(Some);
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let invalid = |reason: &str| ConfigError::Invalid {
        name: env::DETECTION_RULES,
        value: value.clone(),
        reason: reason.to_string(),
    };
    check_bucket(bucket).map_err(invalid)?;
    check_key(key).map_err(invalid)?;
    let force_path_style = match get(env::S3_FORCE_PATH_STYLE) {
        None => false,
        Some(v) => parse_bool(env::S3_FORCE_PATH_STYLE, &v)?,
    };
    Ok(Some(RuleSource::S3 {
        bucket: bucket.to_string(),
        key: key.to_string(),
        force_path_style,
        // Already checked with the output bucket's settings.
        expected_owner: get(env::EXPECTED_BUCKET_OWNER),
    }))
}

/// A local path; another URL scheme is a mistake, not a file name.
fn parse_path(value: &str) -> Result<RuleSource, ConfigError> {
    if value.contains("://") {
        return Err(ConfigError::Invalid {
            name: env::DETECTION_RULES,
            value: value.to_string(),
            reason: "a rule file is a local path or s3://bucket/key; no other scheme is read"
                .into(),
        });
    }
    Ok(RuleSource::Path(PathBuf::from(value)))
}

fn check_bucket(bucket: &str) -> Result<(), &'static str> {
    let edges_ok =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edges_ok(bucket.chars().next())
        && edges_ok(bucket.chars().last());
    if ok {
        Ok(())
    } else {
        Err("the bucket is not an S3 bucket name (3-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit): use s3://bucket/key")
    }
}

fn check_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("names no object key: use s3://bucket/key, the key of the uploaded rule file (or s3://bucket/prefix/ for every rule file under the prefix)");
    }
    if key.len() > MAX_KEY_BYTES {
        return Err("the key is longer than S3's 1024 bytes");
    }
    if key.chars().any(char::is_control) {
        return Err("the key holds a control character");
    }
    // One trailing '/' makes a prefix; what is before it is checked as a key.
    let named = key.strip_suffix('/').unwrap_or(key);
    if named
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("the key has an empty, '.' or '..' segment (a leading or doubled '/'?): name the object, or the prefix ending in one '/'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(pairs: &[(&str, &str)], given: &Given) -> Result<Config, ConfigError> {
        let mut map: HashMap<&str, &str> = [
            (env::CHECKPOINT_TABLE, "checkpoints"),
            (env::OUTPUT_BUCKET, "audit-bucket"),
        ]
        .into_iter()
        .collect();
        map.extend(pairs.iter().copied());
        Config::resolve(|name| map.get(name).map(|v| v.to_string()), given)
    }

    fn rules(value: &str) -> Result<Option<RuleSource>, ConfigError> {
        resolve(&[(env::DETECTION_RULES, value)], &Given::default()).map(|c| c.detection_rules)
    }

    fn s3(bucket: &str, key: &str) -> Option<RuleSource> {
        Some(RuleSource::S3 {
            bucket: bucket.into(),
            key: key.into(),
            force_path_style: false,
            expected_owner: None,
        })
    }

    #[test]
    fn unset_or_blank_means_the_built_in_pack_alone() {
        assert_eq!(
            resolve(&[], &Given::default()).unwrap().detection_rules,
            None
        );
        assert_eq!(rules("  ").unwrap(), None);
        let blank_flag = Given {
            detection_rules: Some(" ".into()),
            ..Given::default()
        };
        assert_eq!(resolve(&[], &blank_flag).unwrap().detection_rules, None);
    }

    #[test]
    fn a_path_or_an_s3_object_is_read() {
        let ok = [
            (
                "my-rules.yaml",
                Some(RuleSource::Path("my-rules.yaml".into())),
            ),
            (
                "/etc/x/r.yml",
                Some(RuleSource::Path("/etc/x/r.yml".into())),
            ),
            ("s3://rules-bkt/r.yaml", s3("rules-bkt", "r.yaml")),
            (
                "s3://a.b-c/team/x/rules.yaml",
                s3("a.b-c", "team/x/rules.yaml"),
            ),
            (" s3://abc/k ", s3("abc", "k")),
            ("s3://rules-bkt/detections/", s3("rules-bkt", "detections/")),
        ];
        for (value, want) in ok {
            assert_eq!(rules(value).unwrap(), want, "{value}");
        }
    }

    #[test]
    fn malformed_values_are_refused_naming_the_variable_and_the_fix() {
        let long_key = format!("s3://bkt/{}", "k".repeat(1025));
        let refused = [
            ("s3://", "bucket name"),
            ("s3://bkt", "names no object key"),
            ("s3://bkt/", "names no object key"),
            ("s3://Bkt/k", "bucket name"),
            ("s3://b/k", "bucket name"),
            ("s3://-bkt/k", "bucket name"),
            ("s3://bkt_x/k", "bucket name"),
            ("s3://bkt//k", "segment"),
            ("s3://bkt/dir//", "segment"),
            ("s3://bkt//", "segment"),
            ("s3://bkt/a/../k", "segment"),
            ("s3://bkt/a\u{7}b", "control character"),
            (long_key.as_str(), "1024"),
            ("https://example.com/rules.yaml", "no other scheme"),
        ];
        for (value, reason) in refused {
            let err = rules(value).unwrap_err().to_string();
            assert!(err.contains(env::DETECTION_RULES), "{value}: {err}");
            assert!(err.contains(reason), "{value}: {err}");
        }
    }

    #[test]
    fn the_rule_file_alone_is_read_without_storage_settings() {
        let lookup = |name: &str| (name == env::DETECTION_RULES).then(|| "s3://bkt/k".to_string());
        assert_eq!(rule_source_from(lookup, None).unwrap(), s3("bkt", "k"));
        assert_eq!(
            rule_source_from(lookup, Some("mine.yaml".into())).unwrap(),
            Some(RuleSource::Path("mine.yaml".into()))
        );
        assert_eq!(rule_source_from(|_| None, None).unwrap(), None);
        assert!(rule_source_from(|_| None, Some("s3://bkt/".into())).is_err());
    }

    #[test]
    fn an_s3_object_takes_the_path_style_and_owner_settings() {
        let c = resolve(
            &[
                (env::DETECTION_RULES, "s3://rules-bkt/r.yaml"),
                (env::S3_FORCE_PATH_STYLE, "true"),
                (env::EXPECTED_BUCKET_OWNER, "123456789012"),
            ],
            &Given::default(),
        )
        .unwrap();
        assert_eq!(
            c.detection_rules,
            Some(RuleSource::S3 {
                bucket: "rules-bkt".into(),
                key: "r.yaml".into(),
                force_path_style: true,
                expected_owner: Some("123456789012".into()),
            })
        );
        assert!(c.require_rules_from_s3().is_ok());
    }

    #[test]
    fn the_flag_wins_and_the_lambda_refuses_a_local_path() {
        let given = Given {
            detection_rules: Some("flag.yaml".into()),
            ..Given::default()
        };
        let c = resolve(&[(env::DETECTION_RULES, "s3://bkt/env.yaml")], &given).unwrap();
        assert_eq!(
            c.detection_rules,
            Some(RuleSource::Path("flag.yaml".into()))
        );
        let err = c.require_rules_from_s3().unwrap_err().to_string();
        assert!(
            err.contains(env::DETECTION_RULES) && err.contains("DetectionRulesBucket"),
            "{err}"
        );
        assert!(resolve(&[], &Given::default())
            .unwrap()
            .require_rules_from_s3()
            .is_ok());
        let object = rules("s3://bkt/a/b.yaml").unwrap().unwrap();
        assert_eq!(object.describe(), "s3://bkt/a/b.yaml");
        assert_eq!(object.s3_prefix(), None);
        let prefix = rules("s3://bkt/a/").unwrap().unwrap();
        assert_eq!(prefix.s3_prefix(), Some("a/"));
        assert!(
            resolve(&[(env::DETECTION_RULES, "s3://bkt/a/")], &Given::default())
                .unwrap()
                .require_rules_from_s3()
                .is_ok()
        );
    }
}
