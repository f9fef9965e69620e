//! What SNS and EventBridge have in common: batches of at most 10 entries and a total size, a batch
//! call that accepts some entries and refuses others, and a few retries of those refused. An
//! alert too large for one message is sent shortened, never refused: a refusal would repeat
//! on every redo of its batch and stop collection.
use super::{AlertNotifier, NotifyError};
use crate::detect::Alert;
use async_trait::async_trait;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::Value;
use std::time::Duration;

/// Entries of one PublishBatch / PutEvents call, at most.
pub(super) const MAX_ENTRIES: usize = 10;
/// Calls made for one entry before its refusal is an error.
pub(super) const ATTEMPTS: u32 = 3;
/// Wait before the second call; doubled before each further one.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(200);
/// Ends a text field cut to make an alert fit one message.
pub const CLIPPED: &str = "…[truncated]";
/// The fields of an alert's JSON shortened, in this order, until it fits: the ids the archived
/// alert keeps in full first, then the texts.
const SHORTENED_FIELDS: [&str; 6] = [
    "matched_event_ids",
    "runbook",
    "title",
    "dedup_key",
    "first_event_id",
    "last_event_id",
];

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
    /// What the service counts for an alert's entry besides its JSON.
    fn overhead(&self, alert: &Alert) -> usize;
    /// Most bytes of one entry, and of one call's entries together, as the service counts them.
    const MAX_BYTES: usize;
    /// What the operator checks when a call fails outright: the resource exists, the role may
    /// use it.
    const CHECK: &'static str;
    /// For messages: `sns://topic-arn`, `eventbridge://bus` (the notifier's `describe`).
    fn target(&self) -> String;

    /// An error of a call with `alerts` alerts.
    fn error(&self, alerts: usize, reason: String) -> NotifyError {
        NotifyError {
            target: self.target(),
            alerts,
            reason,
        }
    }

    /// A call with `alerts` alerts that failed outright: the service's answer, and what to check.
    fn failed<E>(&self, alerts: usize, e: &SdkError<E, HttpResponse>) -> NotifyError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (reason, check) = (crate::aws_error::describe(e), Self::CHECK);
        self.error(alerts, format!("{reason} ({check})"))
    }

    /// What an entry counts against [`BatchCall::MAX_BYTES`].
    fn size(&self, entry: &Entry<'_>) -> usize {
        self.overhead(entry.alert) + entry.json.len()
    }
}

/// A service called in batches announces alerts by [`deliver`]ing them.
#[async_trait]
impl<T: BatchCall + Send> AlertNotifier for T {
    async fn publish(&self, alerts: &[Alert]) -> Result<(), NotifyError> {
        deliver(self, alerts).await
    }

    fn describe(&self) -> String {
        self.target()
    }
}

/// Every alert as JSON, shortened where it would not fit one message.
pub(super) fn entries<'a, C: BatchCall>(
    call: &C,
    alerts: &'a [Alert],
) -> Result<Vec<Entry<'a>>, NotifyError> {
    let mut out = Vec::with_capacity(alerts.len());
    for (i, alert) in alerts.iter().enumerate() {
        let unwritable = |e: serde_json::Error| NotifyError {
            target: call.target(),
            alerts: alerts.len(),
            reason: format!("alert {} could not be written as JSON: {e}", alert.id),
        };
        let budget = C::MAX_BYTES.saturating_sub(call.overhead(alert));
        let json = if json_len(alert).map_err(unwritable)? > budget {
            shortened(alert, budget)
        } else {
            serde_json::to_string(alert)
        }
        .map_err(unwritable)?;
        out.push(Entry {
            id: i.to_string(),
            alert,
            json,
        });
    }
    Ok(out)
}

/// The alert's JSON with `"truncated": true` and its long fields cut, in the order of
/// [`SHORTENED_FIELDS`] (then any other text but the id and rule), until it is at most `budget` bytes: whole ids
/// dropped from the end of `matched_event_ids`, texts cut and ended with [`CLIPPED`].
fn shortened(alert: &Alert, budget: usize) -> Result<String, serde_json::Error> {
    let mut message = serde_json::to_value(alert)?;
    let Value::Object(fields) = &mut message else {
        return serde_json::to_string(&message);
    };
    fields.insert("truncated".into(), Value::Bool(true));
    // The alert's id and rule stay whole: subscribers drop repeats and route by them.
    let others: Vec<String> = fields
        .keys()
        .filter(|k| {
            !SHORTENED_FIELDS.contains(&k.as_str()) && !["id", "rule_id"].contains(&k.as_str())
        })
        .cloned()
        .collect();
    let order = SHORTENED_FIELDS.iter().map(|f| f.to_string()).chain(others);
    // Sizes are kept by difference: the whole message is written once more, at the end.
    let mut size = json_len(&*fields)?;
    for name in order {
        if size <= budget {
            break;
        }
        let excess = size - budget;
        let Some(value) = fields.get_mut(&name) else {
            continue;
        };
        let before = json_len(value)?;
        match value {
            Value::Array(ids) => drop_last(ids, excess)?,
            Value::String(text) => clip(text, excess),
            _ => continue,
        }
        size = size - before + json_len(value)?;
    }
    serde_json::to_string(&fields)
}

/// Bytes of `value` as JSON, without writing them anywhere.
fn json_len(value: &impl serde::Serialize) -> Result<usize, serde_json::Error> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value)?;
    Ok(count.0)
}

/// Drops items from the end until their JSON (and commas) freed `excess` bytes.
fn drop_last(items: &mut Vec<Value>, excess: usize) -> Result<(), serde_json::Error> {
    let mut freed = 0;
    while freed < excess {
        let Some(item) = items.pop() else { break };
        freed += json_len(&item)? + 1;
    }
    Ok(())
}

/// Cuts `text` so that its JSON is at least `excess` bytes shorter, marker included (each
/// byte cut frees at least one byte of JSON); a text no longer than the marker is kept.
fn clip(text: &mut String, excess: usize) {
    if text.len() <= CLIPPED.len() {
        return;
    }
    let mut keep = text
        .len()
        .saturating_sub(excess.saturating_add(CLIPPED.len()));
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    text.truncate(keep);
    text.push_str(CLIPPED);
}

/// Consecutive groups of at most [`MAX_ENTRIES`] entries and [`BatchCall::MAX_BYTES`] together.
pub(super) fn groups<'e, 'a, C: BatchCall>(
    call: &C,
    entries: &'e [Entry<'a>],
) -> Vec<Vec<&'e Entry<'a>>> {
    let mut groups: Vec<Vec<&Entry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = call.size(entry);
        let full = groups
            .last()
            .is_none_or(|g| g.len() == MAX_ENTRIES || bytes + size > C::MAX_BYTES);
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
            source_id: String::new(),
            source_label: String::new(),
        }
    }

    /// The limit of the fakes: SNS's.
    const MAX_BYTES: usize = 256 * 1024;

    /// Refuses entry `refuse` on its first `times` calls; records every call's entry ids, and
    /// each call's entries (their JSON) and total size.
    struct Fake {
        refuse: String,
        times: usize,
        overhead: usize,
        calls: Mutex<Vec<Vec<String>>>,
        sent: Mutex<Vec<(Vec<String>, usize)>>,
    }

    impl Fake {
        fn new(refuse: &str, times: usize) -> Self {
            Fake {
                refuse: refuse.into(),
                times,
                overhead: 0,
                calls: Mutex::new(Vec::new()),
                sent: Mutex::new(Vec::new()),
            }
        }
        fn calls(&self) -> Vec<Vec<String>> {
            self.calls.lock().expect("not poisoned").clone()
        }
        fn sent(&self) -> Vec<(Vec<String>, usize)> {
            self.sent.lock().expect("not poisoned").clone()
        }
    }

    #[async_trait]
    impl BatchCall for Fake {
        const MAX_BYTES: usize = MAX_BYTES;
        const CHECK: &'static str = "is the fake there?";
        async fn call(&self, entries: &[&Entry<'_>]) -> Result<Vec<Refusal>, NotifyError> {
            let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
            let total = entries.iter().map(|e| self.size(e)).sum();
            let jsons = entries.iter().map(|e| e.json.clone()).collect();
            self.sent.lock().expect("not poisoned").push((jsons, total));
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
        fn overhead(&self, _alert: &Alert) -> usize {
            self.overhead
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
        // Shortened alerts near the limit, and what the service counts besides the JSON.
        let mut fake = Fake::new("", 0);
        fake.overhead = 300;
        let huge: Vec<Alert> = (0..3).map(huge).collect();
        let huge = entries(&fake, &huge).expect("shortened");
        for group in groups(&fake, &huge) {
            let total: usize = group.iter().map(|e| e.json.len() + 300).sum();
            assert!(group.len() == 1 && total <= MAX_BYTES, "{total}");
        }
    }

    /// A 1 MB title, runbook and dedup key and 100 matched ids of 10 KB each.
    fn huge(n: usize) -> Alert {
        let mut a = alert(n, &"T".repeat(1_000_000));
        a.runbook = "R\n".repeat(500_000);
        a.dedup_key = "k".repeat(1_000_000);
        a.matched_event_ids = (0..100)
            .map(|i| format!("{i:03}{}", "e".repeat(10_000)))
            .collect();
        a.first_event_id = a.matched_event_ids[0].clone();
        a.last_event_id = a.matched_event_ids[99].clone();
        a
    }

    #[test]
    fn an_alert_over_the_limit_is_sent_shortened_within_it() {
        let mut fake = Fake::new("", 0);
        fake.overhead = 500;
        let alerts = [alert(0, "t"), huge(1), alert(2, "t"), huge(3), huge(4)];
        tokio_test(deliver(&fake, &alerts)).expect("sent, not refused");
        let sent = fake.sent();
        let mut jsons = Vec::new();
        for (call, total) in &sent {
            assert!(call.len() <= MAX_ENTRIES);
            assert!(*total <= MAX_BYTES, "a call of {total} bytes");
            jsons.extend(call.iter().cloned());
        }
        assert_eq!(jsons.len(), alerts.len(), "each alert once");
        for (json, original) in jsons.iter().zip(&alerts) {
            assert!(
                json.len() + fake.overhead <= MAX_BYTES,
                "{} bytes",
                json.len()
            );
            let message: Value = serde_json::from_str(json).expect("JSON");
            let big = original.title.len() > 1000;
            assert_eq!(
                message.get("truncated").is_some(),
                big,
                "only the large one"
            );
            let published: Alert = serde_json::from_value(message.clone()).expect("an alert");
            assert_eq!(published.id, original.id);
            assert_eq!(published.rule_id, original.rule_id);
            assert_eq!(published.count, original.count);
            if !big {
                assert_eq!(&published, original);
                continue;
            }
            assert_eq!(message["truncated"], true);
            // The ids went first, whole; the runbook was cut next, with the marker.
            let ids = &published.matched_event_ids;
            assert!(ids.len() < 100 && original.matched_event_ids.starts_with(ids));
            assert!(
                published.runbook.ends_with(CLIPPED),
                "the runbook was clipped"
            );
            assert!(original
                .runbook
                .starts_with(published.runbook.trim_end_matches(CLIPPED)));
        }
    }

    #[test]
    fn fields_are_shortened_in_order_and_only_as_needed() {
        let a = huge(0);
        let full = serde_json::to_string(&a).expect("JSON").len();
        // Just over: only the ids go, some of them.
        let json = shortened(&a, full - 15_000).expect("JSON");
        let s: Alert = serde_json::from_str(&json).expect("an alert");
        assert!(json.len() <= full - 15_000);
        assert!(
            (97..100).contains(&s.matched_event_ids.len()),
            "{}",
            s.matched_event_ids.len()
        );
        assert_eq!((&s.title, &s.runbook), (&a.title, &a.runbook));
        // Down to a few kilobytes: every long field ends with the marker.
        let json = shortened(&a, 4_000).expect("JSON");
        let s: Alert = serde_json::from_str(&json).expect("an alert");
        assert!(json.len() <= 4_000, "{}", json.len());
        assert!(s.matched_event_ids.is_empty());
        for text in [
            &s.runbook,
            &s.title,
            &s.dedup_key,
            &s.first_event_id,
            &s.last_event_id,
        ] {
            assert!(text.ends_with(CLIPPED), "{text}");
        }
        // Text of multi-byte characters is cut on a character boundary.
        let mut b = alert(1, &"é".repeat(200_000));
        b.runbook = "ü".repeat(10);
        let json = shortened(&b, 100_000).expect("JSON");
        let s: Alert = serde_json::from_str(&json).expect("an alert");
        assert!(json.len() <= 100_000 && s.title.ends_with(CLIPPED));
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
