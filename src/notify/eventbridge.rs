//! Alerts as EventBridge events: `Source` [`EVENT_SOURCE`], `DetailType` [`DETAIL_TYPE`], the
//! alert's JSON as `Detail`, so one rule pattern can route them by severity or rule.
use super::batch::{BatchCall, Entry, Refusal};
use super::{NotifyError, DETAIL_TYPE, EVENT_SOURCE};
use crate::detect::Alert;
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// The bus of every account, and the one the stack grants.
pub const DEFAULT_EVENT_BUS: &str = "default";

/// EventBridge's limit for one entry, and for a PutEvents call's entries together: "less than
/// 256KB", read as decimal kilobytes to be safe.
pub const MAX_ENTRY_BYTES: usize = 256_000 - 1;

pub struct EventBridgeNotifier {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeNotifier {
    /// `bus`: a name or an ARN.
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        EventBridgeNotifier {
            client,
            bus: bus.into(),
        }
    }

    fn request_entry(&self, entry: &Entry<'_>) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .source(EVENT_SOURCE)
            .detail_type(DETAIL_TYPE)
            .detail(&entry.json)
            .event_bus_name(&self.bus)
            .build()
    }
}

/// PutEvents answers entry by entry, in request order: an entry with an error code was refused.
fn refusals(
    entries: &[&Entry<'_>],
    output: &aws_sdk_eventbridge::operation::put_events::PutEventsOutput,
) -> Vec<Refusal> {
    let results = output.entries();
    let mut refused: Vec<Refusal> = entries
        .iter()
        .zip(results)
        .filter_map(|(entry, result)| {
            result.error_code().map(|code| Refusal {
                id: entry.id.clone(),
                reason: format!("{code}: {}", result.error_message().unwrap_or("no message")),
            })
        })
        .collect();
    // A count of failures without per-entry results: retry them all rather than lose one.
    if refused.is_empty() && output.failed_entry_count() > 0 {
        refused = entries
            .iter()
            .map(|e| Refusal {
                id: e.id.clone(),
                reason: format!(
                    "{} entries failed, without details",
                    output.failed_entry_count()
                ),
            })
            .collect();
    }
    refused
}

#[async_trait]
impl BatchCall for EventBridgeNotifier {
    const MAX_BYTES: usize = MAX_ENTRY_BYTES;
    const CHECK: &'static str =
        "does the bus exist, and may the function's role events:PutEvents on it?";

    async fn call(&self, entries: &[&Entry<'_>]) -> Result<Vec<Refusal>, NotifyError> {
        let request: Vec<PutEventsRequestEntry> =
            entries.iter().map(|e| self.request_entry(e)).collect();
        let output = self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| self.failed(entries.len(), &e))?;
        Ok(refusals(entries, &output))
    }

    /// EventBridge's own count: source, detail type and detail (UTF-8 bytes); time and
    /// resources count only when given, and entries here give neither.
    fn overhead(&self, _alert: &Alert) -> usize {
        EVENT_SOURCE.len() + DETAIL_TYPE.len()
    }

    fn target(&self) -> String {
        format!("eventbridge://{}", self.bus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::batch;
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;

    fn entries(alert: &Alert, n: usize) -> Vec<Entry<'_>> {
        (0..n)
            .map(|i| Entry {
                id: i.to_string(),
                alert,
                json: "{}".into(),
            })
            .collect()
    }

    fn alert() -> Alert {
        serde_json::from_value(serde_json::json!({
            "id": "a1", "rule_id": "r", "severity": "High", "title": "t", "runbook": "",
            "dedup_key": "", "count": 1, "first_event_time": "", "last_event_time": "",
            "first_event_id": "", "last_event_id": "", "matched_event_ids": [],
            "is_update": false
        }))
        .expect("an alert")
    }

    #[test]
    fn refused_entries_are_those_with_an_error_code_in_request_order() {
        let alert = alert();
        let sent = entries(&alert, 3);
        let sent: Vec<&Entry> = sent.iter().collect();
        let output = PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(PutEventsResultEntry::builder().event_id("e0").build())
            .entries(
                PutEventsResultEntry::builder()
                    .error_code("ThrottlingException")
                    .error_message("slow down")
                    .build(),
            )
            .entries(PutEventsResultEntry::builder().event_id("e2").build())
            .build();
        let refused = refusals(&sent, &output);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].id, "1");
        assert_eq!(refused[0].reason, "ThrottlingException: slow down");
    }

    #[test]
    fn a_failure_count_without_details_retries_every_entry() {
        let alert = alert();
        let sent = entries(&alert, 2);
        let sent: Vec<&Entry> = sent.iter().collect();
        let output = PutEventsOutput::builder().failed_entry_count(2).build();
        assert_eq!(refusals(&sent, &output).len(), 2);
        let fine = PutEventsOutput::builder().failed_entry_count(0).build();
        assert!(refusals(&sent, &fine).is_empty());
    }

    /// A 1 MB title and runbook and 100 matched ids of 10 KB each: every entry and every
    /// PutEvents call is under 256 KB as EventBridge counts a built entry.
    #[test]
    fn a_huge_alert_fits_one_entry_and_one_call() {
        let conf = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
            .build();
        let bus = EventBridgeNotifier::new(aws_sdk_eventbridge::Client::from_conf(conf), "default");
        let mut huge = alert();
        huge.title = "t".repeat(1_000_000);
        huge.runbook = "r".repeat(1_000_000);
        huge.matched_event_ids = (0..100)
            .map(|i| format!("{i}{}", "e".repeat(10_000)))
            .collect();
        let alerts = vec![huge.clone(), alert(), huge];
        let entries = batch::entries(&bus, &alerts).expect("shortened, not refused");
        for group in batch::groups(&bus, &entries) {
            // EventBridge's count: source, detail type, detail (no time, no resources given).
            let counted: Vec<usize> = group
                .iter()
                .map(|e| bus.request_entry(e))
                .map(|r| {
                    assert!(r.time().is_none() && r.resources().is_empty());
                    r.source().unwrap_or("").len()
                        + r.detail_type().unwrap_or("").len()
                        + r.detail().unwrap_or("").len()
                })
                .collect();
            let total: usize = counted.iter().sum();
            assert!(total < 256_000, "a call of {total} bytes");
            for (entry, n) in group.iter().zip(&counted) {
                assert_eq!(bus.size(entry), *n);
            }
        }
    }
}
