//! Alert delivery.
use super::*;
use crate::detect::Severity;

#[test]
fn alert_delivery_is_off_unless_named_and_refuses_what_aws_would() {
    let c = config(&[]).unwrap();
    assert_eq!(c.alerts.topic_arn, None);
    assert_eq!(c.alerts.event_bus, None);
    assert_eq!(c.alerts.min_severity, Severity::Low);
    let topic = "arn:aws:sns:eu-west-1:123456789012:atlassian-alerts";
    let c = config(&[
        (env::ALERTS_TOPIC_ARN, topic),
        (env::ALERTS_EVENT_BUS, "default"),
        (env::ALERTS_MIN_SEVERITY, "high"),
    ])
    .unwrap();
    assert_eq!(c.alerts.topic_arn.as_deref(), Some(topic));
    assert_eq!(c.alerts.event_bus.as_deref(), Some("default"));
    assert_eq!(c.alerts.min_severity, Severity::High);
    let table: [(&str, &str, bool); 16] = [
        (
            env::ALERTS_TOPIC_ARN,
            "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t.fifo",
            true,
        ),
        (env::ALERTS_TOPIC_ARN, "atlassian-alerts", false),
        (
            env::ALERTS_TOPIC_ARN,
            "arn:aws:sqs:eu-west-1:123456789012:q",
            false,
        ),
        (
            env::ALERTS_TOPIC_ARN,
            "arn:aws:sns:eu-west-1:12345:t",
            false,
        ),
        (
            env::ALERTS_TOPIC_ARN,
            "arn:aws:sns:eu-west-1:123456789012:a b",
            false,
        ),
        (
            env::ALERTS_TOPIC_ARN,
            "arn:aws:sns:eu-west-1:123456789012:t:sub-id",
            false,
        ),
        (env::ALERTS_EVENT_BUS, "security-alerts", true),
        (
            env::ALERTS_EVENT_BUS,
            "arn:aws:events:eu-west-1:123456789012:event-bus/default",
            true,
        ),
        (
            env::ALERTS_EVENT_BUS,
            "arn:aws:events:eu-west-1:123456789012:rule/x",
            false,
        ),
        (
            env::ALERTS_EVENT_BUS,
            "arn:aws:events:eu-west-1:1:event-bus/default",
            false,
        ),
        (env::ALERTS_EVENT_BUS, "my bus", false),
        (env::ALERTS_EVENT_BUS, "a/b", false),
        (env::ALERTS_MIN_SEVERITY, "Critical", true),
        (env::ALERTS_MIN_SEVERITY, "INFO", true),
        (env::ALERTS_MIN_SEVERITY, "severe", false),
        (env::ALERTS_MIN_SEVERITY, "3", false),
    ];
    for (name, value, valid) in table {
        match config(&[(name, value)]) {
            Ok(_) => assert!(valid, "{name}={value} was accepted"),
            Err(e) => {
                assert!(!valid, "{name}={value} was refused: {e}");
                let text = e.to_string();
                assert!(text.contains(name) && text.contains(value), "{text}");
            }
        }
    }
}
