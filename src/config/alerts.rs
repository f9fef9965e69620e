//! Where alerts are announced (an SNS topic, an EventBridge bus) and from which severity on,
//! refused here when AWS would refuse it.
use super::{env, ConfigError};
use crate::detect::Severity;

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
    pub(super) fn from_settings(
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
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
pub(super) fn validate_topic_arn(value: &str) -> Result<(), ConfigError> {
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
pub(super) fn validate_event_bus(value: &str) -> Result<(), ConfigError> {
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

pub(super) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.chars().all(|c| c.is_ascii_digit())
}

/// A severity name, in any case (`high`, `High`, `HIGH`).
pub(super) fn parse_severity(value: &str) -> Result<Severity, ConfigError> {
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
