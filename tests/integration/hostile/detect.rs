//! The detect stage under hostile events and channels: whatever an event carries, whatever
//! alert it raises and whatever the channel does, the archive is written and committed, and
//! alerts still fire.
use crate::support::harness::TestEnv;
use async_trait::async_trait;
use atlassian_audit::collector::{SealKeys, MAX_ANNOUNCE_ATTEMPTS};
use atlassian_audit::credentials::CredentialError;
use atlassian_audit::detect::{
    Alert, SealKey, MAX_NEW_ALERTS_PER_BATCH, MAX_TITLE_CHARS, OVER_CAP_RULE,
};
use atlassian_audit::notify::{AlertNotifier, NotifyError};
use serde_json::{json, Value};
use simulated_org::SimulatedOrgConfig;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn event(id: &str, action: &str, actor: &str, time: &str) -> Value {
    json!({
        "id": id,
        "type": "events",
        "attributes": {
            "time": time,
            "action": action,
            "actor": {"id": actor, "name": format!("Name of {actor}")},
            "context": [{"type": "users", "id": format!("target-{id}"), "attributes": {"email": format!("{id}@example.com")}}]
        },
        "links": {}
    })
}

fn now_text() -> String {
    simulated_org::format_processed_at(simulated_org::now_ms())
}

/// A channel that refuses every call, as a deleted topic or a role without `sns:Publish` does.
#[derive(Default)]
struct RefusingNotifier {
    calls: AtomicUsize,
}

#[async_trait]
impl AlertNotifier for RefusingNotifier {
    async fn publish(&self, alerts: &[Alert]) -> Result<(), NotifyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(NotifyError {
            target: "refusing://".into(),
            alerts: alerts.len(),
            reason: "AuthorizationError: not authorized to perform sns:Publish".into(),
        })
    }
    fn describe(&self) -> String {
        "refusing://".into()
    }
}

/// A local environment whose org holds one API token created now (a rule's alert).
async fn env_with_one_token_created() -> TestEnv {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    env.org.append_events(vec![event(
        "tok-1",
        "api_token_created",
        "admin-1",
        &now_text(),
    )]);
    env
}

/// A channel that keeps refusing holds the batch for [`MAX_ANNOUNCE_ATTEMPTS`] runs at most:
/// then the batch is archived and committed, its alert is under `alerts/` and counted as
/// undelivered. (Without the bound every run failed on the same batch, for good.)
#[tokio::test]
async fn a_channel_that_keeps_refusing_holds_the_archive_a_bounded_number_of_runs() {
    let env = env_with_one_token_created().await;
    let refusing = Arc::new(RefusingNotifier::default());
    let collector = env.collector_announcing_to(refusing.clone()).await;
    let mut failed = 0;
    for _ in 0..MAX_ANNOUNCE_ATTEMPTS + 2 {
        let r = collector.run(std::time::Duration::from_secs(20)).await;
        if r.error.is_none() {
            assert_eq!(r.summary.events_processed, 1);
            assert_eq!(r.summary.alerts_undelivered, 1);
            assert_eq!(r.summary.alerts_raised, 1);
            break;
        }
        failed += 1;
        assert!(
            r.summary
                .error
                .as_deref()
                .unwrap_or("")
                .contains("not authorized"),
            "{:?}",
            r.summary.error
        );
    }
    assert_eq!(
        failed, MAX_ANNOUNCE_ATTEMPTS as usize,
        "then the archive goes on"
    );
    let quarantine = env.assert_logs_exactly_once().await;
    assert!(quarantine.is_empty(), "nothing quarantined");
    // Nothing reached a channel: the archive holds the alert, once.
    let (_, _, alerts) = env.archive().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(refusing.calls.load(Ordering::SeqCst) >= MAX_ANNOUNCE_ATTEMPTS as usize);
    assert_eq!(alerts[0].rule_id, "api_token_created");
    assert!(env
        .checkpoint()
        .await
        .expect("a checkpoint")
        .checkpoint
        .pending
        .is_none());
}

/// One event of several megabytes that a rule names (a context of 300,000 users): archived, and
/// its alert raised with a bounded title.
#[tokio::test]
async fn a_huge_rule_named_event_raises_its_alert_with_a_bounded_title() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let mut big = event("imp-1", "user_logged_in_as_user", "admin-1", &now_text());
    let context: Vec<Value> = (0..300_000)
        .map(|i| json!({"type": "users", "id": format!("u{i}"), "attributes": {"email": format!("user{i}@example.com")}}))
        .collect();
    big["attributes"]["context"] = Value::Array(context);
    env.org.append_events(vec![big]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 1);
    let alerts = env.assert_alerts_exactly_once(0).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].rule_id, "user_logged_in_as_user");
    assert!(alerts[0].title.chars().count() <= MAX_TITLE_CHARS);
    assert!(
        alerts[0].title.contains("user0@example.com"),
        "{}",
        alerts[0].title
    );
}

/// An event dated in year 9999 does not become detection's "now": an actor removing 15 users
/// within 30 minutes over three runs still raises the mass-removal alert. (Before, every real
/// match was pruned at the end of each batch, and nothing was raised.)
#[tokio::test]
async fn a_far_future_event_cannot_blind_the_threshold_rules() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    env.org.append_events(vec![event(
        "future-1",
        "api_token_created",
        "mallory",
        "9999-12-31T23:59:59Z",
    )]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.future_dated_events, 1);
    assert_eq!(
        r.summary.alerts_raised, 1,
        "single-event rules still match it"
    );
    let start = simulated_org::now_ms() - 30 * 60_000;
    for run in 0..3 {
        let removals = (0..5)
            .map(|i| {
                let n = run * 5 + i;
                let time = simulated_org::format_processed_at(start + n * 60_000);
                event(&format!("rm-{n}"), "user_removed_from_site", "eve", &time)
            })
            .collect();
        env.org.append_events(removals);
        let r = env.run().await;
        assert!(r.error.is_none(), "{:?}", r.error);
    }
    let alerts = env.assert_alerts_exactly_once(0).await;
    assert!(
        alerts.iter().any(|a| a.rule_id == "mass_user_removal"),
        "{:?}",
        alerts.iter().map(|a| &a.rule_id).collect::<Vec<_>>()
    );
}

/// A mass change that would open thousands of alerts opens at most the cap in a batch, and one
/// summary alert tells the rest.
#[tokio::test]
async fn a_batch_opens_at_most_the_cap_of_alerts_and_sums_up_the_rest() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let now = now_text();
    let events = (0..400)
        .map(|i| {
            event(
                &format!("tok-{i}"),
                "api_token_created",
                &format!("actor-{i}"),
                &now,
            )
        })
        .collect();
    env.org.append_events(events);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    let alerts = env.assert_alerts_exactly_once(0).await;
    let summaries: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.rule_id == OVER_CAP_RULE)
        .collect();
    assert!(!summaries.is_empty(), "a summary alert");
    let individual = alerts.iter().filter(|a| a.rule_id != OVER_CAP_RULE).count();
    let batches = r.summary.checkpoint_sequence as usize;
    assert!(individual <= MAX_NEW_ALERTS_PER_BATCH * batches.max(1));
    let summed: u64 = summaries.iter().map(|a| a.count).sum();
    assert_eq!(individual as u64 + summed, 400, "every match is told");
}

/// Someone who can write the checkpoint table plants an open alert for the next risky event's
/// key: the state is not sealed by the collector's key, so it is discarded and the event opens
/// (and announces) a new alert. (Without the seal the event joined the planted alert as an
/// update, which is never announced.)
#[tokio::test]
async fn a_rewritten_detection_state_cannot_silence_an_alert() {
    let env = env_with_one_token_created().await;
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(env.notified.published().len(), 1);

    // The table writer turns the open alert into one for the next event's dedup key (another
    // admin), without the key: that event would join it as an update, never announced.
    let mut stored = env.checkpoint().await.expect("a checkpoint").checkpoint;
    let mut state = serde_json::to_value(&stored.detect).expect("state as JSON");
    state["open"][0]["key"] = json!("Name of admin-2 created an API token: (no message.content)");
    stored.detect = serde_json::from_value(state).expect("a state");
    env.overwrite_checkpoint(&stored).await;

    env.org.append_events(vec![event(
        "tok-2",
        "api_token_created",
        "admin-2",
        &now_text(),
    )]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.summary.detect_state_rejected);
    assert_eq!(r.summary.alerts_raised, 1, "a new alert, not an update");
    assert_eq!(env.notified.published().len(), 2, "and it is announced");
}

/// A seal key whose secret cannot be read at the run's start the first time (a throttled or
/// failing Secrets Manager call), readable afterwards.
struct SealUnreadableOnce {
    calls: AtomicUsize,
}

#[async_trait]
impl SealKeys for SealUnreadableOnce {
    async fn seal_key(&self) -> Result<SealKey, CredentialError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(CredentialError::Unreadable {
                secret_id: "atlassian-audit/test".into(),
                reason: "throttled".into(),
            });
        }
        Ok(SealKey::derive(b"the API key"))
    }
}

/// A run that cannot read its seal key must not commit an unsealed detection state: the next
/// run would discard it and open the same alerts again (found by the fault campaign, seed
/// 1717171: 31 alerts opened twice). It ends before writing, and the next run collects.
#[tokio::test]
async fn a_run_that_cannot_read_its_seal_key_commits_nothing() {
    let env = env_with_one_token_created().await;
    let seal = Arc::new(SealUnreadableOnce {
        calls: AtomicUsize::new(0),
    });
    let sealed = || async {
        let detection = env.backends().await.detection.sealed_by(seal.clone());
        env.collector().await.with_detection(detection)
    };
    let r = sealed().await.run(Duration::from_secs(60)).await;
    let error = r
        .error
        .expect("the run ends without its seal key")
        .to_string();
    assert!(error.contains("seal"), "{error}");
    assert!(env.objects().await.is_empty(), "nothing written");

    env.org.append_events(vec![event(
        "tok-2",
        "api_token_created",
        "admin-1",
        &now_text(),
    )]);
    for _ in 0..2 {
        let r = sealed().await.run(Duration::from_secs(60)).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert!(!r.summary.detect_state_rejected);
    }
    let audit = env.alert_audit().await;
    assert!(audit.problems.is_empty(), "{:?}", audit.problems);
    assert_eq!(audit.opened.len(), 1, "one alert, opened once");
}
