//! What SNS and EventBridge have in common: batches of at most 10 entries and 256 KB, a batch
//! call that accepts some entries and refuses others, and a few retries of those refused.
use super::NotifyError;
use crate::detect::Alert;
use async_trait::async_trait;
use std::time::Duration;

/// Entries of one PublishBatch / PutEvents call, at most.
pub(super) const MAX_ENTRIES: usize = 10;
/// Bytes of one message or event, and of one call's entries together, at most (256 KiB).
pub(super) const MAX_BYTES: usize = 256 * 1024;
/// Calls made for one entry before its refusal is an error.
pub(super) const ATTEMPTS: u32 = 3;
/// Wait before the second call; doubled before each further one.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(200);

/// One alert ready to send: its id within the call and its JSON.
pub(super) struct Entry<'a> {
    /// Unique within one call (the alert's position in what was published).
    pub id: String,
    pub alert: &'a Alert,
    pub json: String,
}

/// An entry the service did not accept, and why.
pub(super) struct Refusal {
    pub id: String,
    pub reason: String,
}

#[async_trait]
pub(super) trait BatchCall: Sync {
    /// Sends `entries` in one call; returns those refused. An error fails them all.
    async fn call(&self, entries: &[&Entry<'_>]) -> Result<Vec<Refusal>, NotifyError>;
    /// What an entry counts against the 256 KB limits.
    fn size(&self, entry: &Entry<'_>) -> usize;
    /// For errors.
    fn target(&self) -> String;
}

/// Every alert as JSON, refused whole (before anything is sent) if one is over the limit.
pub(super) fn entries<'a>(
    call: &impl BatchCall,
    alerts: &'a [Alert],
) -> Result<Vec<Entry<'a>>, NotifyError> {
    let mut out = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.iter().enumerate() {
        let json = serde_json::to_string(alert).map_err(|e| NotifyError {
            target: call.target(),
            alerts: alerts.len(),
            reason: format!("alert {} could not be written as JSON: {e}", alert.id),
        })?;
        let entry = Entry {
            id: i.to_string(),
            alert,
            json,
        };
        let size = call.size(&entry);
        if size > MAX_BYTES {
            return Err(NotifyError {
                target: call.target(),
                alerts: alerts.len(),
                reason: format!(
                    "alert {} of rule {} is {size} bytes, over the {MAX_BYTES}-byte limit of one message: shorten the rule's title or runbook",
                    alert.id, alert.rule_id
                ),
            });
        }
        out.push(entry);
    }
    Ok(out)
}

/// Consecutive groups of at most [`MAX_ENTRIES`] entries and [`MAX_BYTES`] together.
pub(super) fn groups<'e, 'a>(
    call: &impl BatchCall,
    entries: &'e [Entry<'a>],
) -> Vec<Vec<&'e Entry<'a>>> {
    let mut groups: Vec<Vec<&Entry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = call.size(entry);
        let full = groups
            .last()
            .is_none_or(|g| g.len() == MAX_ENTRIES || bytes + size > MAX_BYTES);
        if full {
            groups.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(group) = groups.last_mut() {
            group.push(entry);
        }
    }
    groups
}

/// Sends every alert, group by group, calling again for the entries refused, up to
/// [`ATTEMPTS`] times; then the refusals are the error.
pub(super) async fn deliver(call: &impl BatchCall, alerts: &[Alert]) -> Result<(), NotifyError> {
    let entries = entries(call, alerts)?;
    for group in groups(call, &entries) {
        deliver_group(call, group, alerts.len()).await?;
    }
    Ok(())
}

async fn deliver_group(
    call: &impl BatchCall,
    mut pending: Vec<&Entry<'_>>,
    total: usize,
) -> Result<(), NotifyError> {
    let mut delay = FIRST_RETRY_DELAY;
    for attempt in 1..=ATTEMPTS {
        let refused = call.call(&pending).await?;
        if refused.is_empty() {
            return Ok(());
        }
        if attempt == ATTEMPTS {
            return Err(refusal_error(call, &pending, &refused, total));
        }
        pending.retain(|e| refused.iter().any(|r| r.id == e.id));
        if pending.is_empty() {
            // Refusals naming no entry sent: nothing sensible to retry.
            return Err(refusal_error(call, &pending, &refused, total));
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    Ok(())
}

fn refusal_error(
    call: &impl BatchCall,
    pending: &[&Entry<'_>],
    refused: &[Refusal],
    total: usize,
) -> NotifyError {
    let first = &refused[0];
    let alert = pending
        .iter()
        .find(|e| e.id == first.id)
        .map_or("?", |e| e.alert.id.as_str());
    NotifyError {
        target: call.target(),
        alerts: total,
        reason: format!(
            "{} alert(s) refused after {ATTEMPTS} attempts (alert {alert}: {}); check the target exists and the function's role may publish to it; the run stops before its checkpoint, so the next run announces them again",
            refused.len(),
            first.reason
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Severity;
    use std::sync::Mutex;

    fn alert(n: usize, title: &str) -> Alert {
        Alert {
            id: format!("{n:032x}"),
            rule_id: "org_admin_added".into(),
            severity: Severity::High,
            title: title.into(),
            runbook: "look".into(),
            dedup_key: "k".into(),
            count: 1,
            first_event_time: "2026-12-03T00:00:00.000Z".into(),
            last_event_time: "2026-12-03T00:00:00.000Z".into(),
            first_event_id: "e1".into(),
            last_event_id: "e1".into(),
            matched_event_ids: vec!["e1".into()],
            is_update: false,
        }
    }

    /// Refuses entry `refuse` on its first `times` calls; records every call's entry ids.
    struct Fake {
        refuse: String,
        times: usize,
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl Fake {
        fn new(refuse: &str, times: usize) -> Self {
            Fake {
                refuse: refuse.into(),
                times,
                calls: Mutex::new(Vec::new()),
            }
        }
        fn calls(&self) -> Vec<Vec<String>> {
            self.calls.lock().expect("not poisoned").clone()
        }
    }

    #[async_trait]
    impl BatchCall for Fake {
        async fn call(&self, entries: &[&Entry<'_>]) -> Result<Vec<Refusal>, NotifyError> {
            let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
            let mut calls = self.calls.lock().expect("not poisoned");
            let refusing = calls.iter().filter(|c| c.contains(&self.refuse)).count() < self.times;
            calls.push(ids.clone());
            Ok(ids
                .into_iter()
                .filter(|id| refusing && *id == self.refuse)
                .map(|id| Refusal {
                    id,
                    reason: "InternalFailure: try again".into(),
                })
                .collect())
        }
        fn size(&self, entry: &Entry<'_>) -> usize {
            entry.json.len()
        }
        fn target(&self) -> String {
            "fake".into()
        }
    }

    #[test]
    fn groups_hold_ten_entries_and_256_kb_at_most() {
        let fake = Fake::new("", 0);
        let small: Vec<Alert> = (0..23).map(|n| alert(n, "t")).collect();
        let small = entries(&fake, &small).expect("small alerts");
        let sizes: Vec<usize> = groups(&fake, &small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 3]);
        let big: Vec<Alert> = (0..5).map(|n| alert(n, &"x".repeat(100_000))).collect();
        let big = entries(&fake, &big).expect("each under the limit");
        let sizes: Vec<usize> = groups(&fake, &big).iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
    }

    #[test]
    fn an_alert_over_the_limit_is_refused_before_anything_is_sent() {
        let fake = Fake::new("", 0);
        let alerts = [alert(0, "t"), alert(1, &"x".repeat(MAX_BYTES))];
        let err = tokio_test(deliver(&fake, &alerts)).unwrap_err();
        assert!(err.reason.contains("over the"), "{err}");
        assert!(err.reason.contains(&alerts[1].id), "{err}");
        assert!(fake.calls().is_empty());
    }

    #[test]
    fn refused_entries_are_sent_again_and_only_they() {
        let fake = Fake::new("3", ATTEMPTS as usize - 1);
        let alerts: Vec<Alert> = (0..5).map(|n| alert(n, "t")).collect();
        tokio_test(deliver(&fake, &alerts)).expect("accepted on the last attempt");
        let calls = fake.calls();
        assert_eq!(calls[0], ["0", "1", "2", "3", "4"]);
        assert_eq!(calls[1..], [vec!["3".to_string()], vec!["3".to_string()]]);
    }

    #[test]
    fn an_entry_refused_every_time_is_an_error_naming_it() {
        let fake = Fake::new("1", usize::MAX);
        let alerts: Vec<Alert> = (0..3).map(|n| alert(n, "t")).collect();
        let err = tokio_test(deliver(&fake, &alerts)).unwrap_err();
        assert_eq!(fake.calls().len(), ATTEMPTS as usize);
        assert!(err.reason.contains(&alerts[1].id), "{err}");
        assert!(err.reason.contains("InternalFailure"), "{err}");
        assert_eq!(err.alerts, 3);
    }

    fn tokio_test<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(f)
    }
}
