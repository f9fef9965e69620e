//! The configuration as a whole (defaults, precedence, credentials, registry mode); each topic's
//! own checks beside it in this folder.
mod alerts;
mod api_url;
mod storage;
mod values;

use super::*;
use crate::source::atlassian::MAX_PAGE_LIMIT;
use std::collections::HashMap;

/// The settings in `pairs`, over a table and a bucket (storage must be chosen).
pub(super) fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
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

pub(super) fn prefix_of(c: &Config) -> &str {
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
