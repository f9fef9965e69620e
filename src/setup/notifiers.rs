//! Where alerts are announced, as the configuration says (ALERTS_TOPIC_ARN, ALERTS_EVENT_BUS,
//! ALERTS_MIN_SEVERITY). No AWS client is made unless a target is named.
use super::{Aws, SetupError};
use crate::config::Config;
use crate::notify::{AlertNotifier, EventBridgeNotifier, Notifiers, SnsNotifier};
use std::sync::Arc;

/// The notification targets in force: the topic, then the bus.
pub async fn notifiers(config: &Config, aws: &Aws) -> Result<Notifiers, SetupError> {
    let delivery = &config.alerts;
    let mut targets: Vec<Arc<dyn AlertNotifier>> = Vec::new();
    if let Some(topic) = &delivery.topic_arn {
        targets.push(Arc::new(SnsNotifier::new(aws.sns().await, topic)));
    }
    if let Some(bus) = &delivery.event_bus {
        targets.push(Arc::new(EventBridgeNotifier::new(
            aws.eventbridge().await,
            bus,
        )));
    }
    Ok(Notifiers::new(targets, delivery.min_severity))
}
