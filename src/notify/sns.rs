//! Alerts as SNS messages: one per alert, the alert's JSON as the body, a short subject for
//! e-mail, and the severity, rule and alert id as message attributes for subscription filters.
use super::batch::{BatchCall, Entry, Refusal};
use super::NotifyError;
use crate::detect::Alert;
use async_trait::async_trait;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use std::collections::HashMap;

/// SNS's longest subject.
pub const MAX_SUBJECT_CHARS: usize = 100;
/// SNS's largest message (body and attributes), and largest PublishBatch (all its messages).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// FIFO topics need a group (the rule: its alerts stay in order) and take the alert id as
    /// the deduplication id, so a repeated notification is dropped by SNS itself.
    fn is_fifo(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }

    fn request_entry(&self, entry: &Entry<'_>) -> Result<PublishBatchRequestEntry, NotifyError> {
        let alert = entry.alert;
        let fifo = self.is_fifo();
        PublishBatchRequestEntry::builder()
            .id(&entry.id)
            .message(&entry.json)
            .subject(subject(alert))
            .set_message_attributes(Some(attributes(alert).map_err(|e| self.error(1, e))?))
            .set_message_group_id(fifo.then(|| alert.rule_id.clone()))
            .set_message_deduplication_id(fifo.then(|| alert.id.clone()))
            .build()
            .map_err(|e| self.error(1, format!("the message could not be built: {e}")))
    }
}

/// `[High] <title>`, printable ASCII only (SNS refuses anything else), at most 100 characters.
pub fn subject(alert: &Alert) -> String {
    let full = format!("[{}] {}", alert.severity, alert.title);
    let printable: String = full
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    let cut: String = printable.chars().take(MAX_SUBJECT_CHARS).collect();
    cut.trim_end().to_string()
}

fn attributes(alert: &Alert) -> Result<HashMap<String, MessageAttributeValue>, String> {
    let pairs = [
        ("severity", alert.severity.name()),
        ("rule_id", alert.rule_id.as_str()),
        ("alert_id", alert.id.as_str()),
    ];
    let mut out = HashMap::new();
    for (name, value) in pairs {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| format!("message attribute {name} could not be built: {e}"))?;
        out.insert(name.to_string(), attribute);
    }
    Ok(out)
}

#[async_trait]
impl BatchCall for SnsNotifier {
    /// One message, and a PublishBatch call's messages together: 256 KiB.
    const MAX_BYTES: usize = MAX_MESSAGE_BYTES;
    const CHECK: &'static str =
        "does the topic exist, and may the function's role sns:Publish to it and use its KMS key?";

    async fn call(&self, entries: &[&Entry<'_>]) -> Result<Vec<Refusal>, NotifyError> {
        let request: Vec<PublishBatchRequestEntry> = entries
            .iter()
            .map(|e| self.request_entry(e))
            .collect::<Result<_, _>>()?;
        let output = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(request))
            .send()
            .await
            .map_err(|e| self.failed(entries.len(), &e))?;
        Ok(output
            .failed()
            .iter()
            .map(|f| Refusal {
                id: f.id().to_string(),
                reason: format!("{}: {}", f.code(), f.message().unwrap_or("no message")),
            })
            .collect())
    }

    /// Attributes (name, type and value) count against SNS's limits with the body; the subject
    /// is counted too, to be safe.
    fn overhead(&self, alert: &Alert) -> usize {
        let attributes = "severity".len()
            + alert.severity.name().len()
            + "rule_id".len()
            + alert.rule_id.len()
            + "alert_id".len()
            + alert.id.len()
            + 3 * "String".len();
        subject(alert).len() + attributes
    }

    fn target(&self) -> String {
        format!("sns://{}", self.topic_arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Severity;
    use crate::notify::batch;

    fn titled(title: &str, severity: Severity) -> Alert {
        let json = serde_json::json!({
            "id": "0123456789abcdef0123456789abcdef", "rule_id": "r", "severity": severity,
            "title": title, "runbook": "", "dedup_key": "", "count": 1,
            "first_event_time": "", "last_event_time": "", "first_event_id": "",
            "last_event_id": "", "matched_event_ids": [], "is_update": false
        });
        serde_json::from_value(json).expect("an alert")
    }

    #[test]
    fn the_subject_is_short_printable_ascii() {
        let a = titled("Org admin added: jane@example.com", Severity::High);
        assert_eq!(subject(&a), "[High] Org admin added: jane@example.com");
        let a = titled("Zoë\nlogged in as «bob»\t", Severity::Critical);
        assert_eq!(subject(&a), "[Critical] Zo??logged in as ?bob??");
        let long = subject(&titled(&"é".repeat(300), Severity::Low));
        assert_eq!(long.chars().count(), MAX_SUBJECT_CHARS);
        assert!(long.chars().all(|c| c == ' ' || c.is_ascii_graphic()));
    }

    fn notifier() -> SnsNotifier {
        let conf = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .build();
        SnsNotifier::new(
            aws_sdk_sns::Client::from_conf(conf),
            "arn:aws:sns:us-east-1:123456789012:alerts",
        )
    }

    /// What SNS counts of a built request entry: the body and each attribute's name, type and
    /// value (and here the subject, counted to be safe).
    fn counted(entry: &PublishBatchRequestEntry) -> usize {
        let attributes: usize = entry
            .message_attributes()
            .into_iter()
            .flatten()
            .map(|(name, v)| {
                name.len() + v.data_type().len() + v.string_value().unwrap_or("").len()
            })
            .sum();
        entry.message().len() + entry.subject().unwrap_or("").len() + attributes
    }

    /// A 1 MB title and runbook and 100 matched ids of 10 KB each: every message and every
    /// PublishBatch fits 256 KiB as SNS counts it, the alert shortened and marked so.
    #[test]
    fn a_huge_alert_fits_one_message_and_one_call() {
        let sns = notifier();
        let mut alerts: Vec<Alert> = (0..3)
            .map(|_| titled(&"t".repeat(1_000_000), Severity::High))
            .collect();
        for (n, a) in alerts.iter_mut().enumerate() {
            a.id = format!("{n:032x}");
            a.runbook = "r".repeat(1_000_000);
            a.matched_event_ids = (0..100)
                .map(|i| format!("{i}{}", "e".repeat(10_000)))
                .collect();
        }
        alerts.push(titled("small", Severity::Low));
        let entries = batch::entries(&sns, &alerts).expect("shortened, not refused");
        for group in batch::groups(&sns, &entries) {
            let built: Vec<PublishBatchRequestEntry> = group
                .iter()
                .map(|e| sns.request_entry(e).expect("an entry"))
                .collect();
            let total: usize = built.iter().map(counted).sum();
            assert!(total <= MAX_MESSAGE_BYTES, "a call of {total} bytes");
            for (entry, request) in group.iter().zip(&built) {
                assert_eq!(sns.size(entry), counted(request));
                let message: serde_json::Value =
                    serde_json::from_str(request.message()).expect("JSON");
                assert_eq!(message["truncated"] == true, entry.alert.title.len() > 5);
            }
        }
    }
}
