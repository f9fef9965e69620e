use serde_json::{json, Value};

use super::event;
use crate::detect::rule::short_hash;
use crate::detect::state::{MAX_MATCHES, MAX_OPEN_ALERTS, MAX_STATE_BYTES};
use crate::detect::{detect, DetectState, RulePack};

/// One plain rule (`deleted`, dedup by actor within 1h) and one threshold rule (`failed`, 3
/// within 10 minutes per actor).
const PACK: &str = r#"
title: Deleted
id: 00000000-0000-4000-8000-000000000001
name: deleted
logsource: {product: atlassian, service: audit}
detection:
  selection: {attributes.action: thing_deleted}
  condition: selection
level: high
alert_title: "{attributes.actor.name} deleted a thing"
alert_runbook: r
alert_dedup_key: "{attributes.actor.id}"
alert_dedup_period: 1h
---
title: Failed login
id: 00000000-0000-4000-8000-000000000002
name: failed_event
logsource: {product: atlassian, service: audit}
detection:
  selection: {attributes.action: login_failed}
  condition: selection
level: low
---
title: Failures
id: 00000000-0000-4000-8000-000000000003
name: failed
correlation:
  type: event_count
  rules: [failed_event]
  group-by: [attributes.actor.id]
  timespan: 10m
  condition: {gte: 3}
level: low
alert_title: "failures for {attributes.actor.id}"
alert_runbook: r
"#;

fn pack() -> RulePack {
    RulePack::default()
        .with_user_rules("test.yml", PACK, None)
        .unwrap()
}

/// (rule, dedup key, count) of each alert.
fn summary(events: &[Value]) -> Vec<(String, String, u64)> {
    let d = detect(&pack(), &DetectState::default(), events);
    d.alerts
        .into_iter()
        .map(|a| (a.rule_id, a.dedup_key, a.count))
        .collect()
}

/// (case name, events, the alerts expected as (rule, key, count)).
type Case = (
    &'static str,
    Vec<Value>,
    Vec<(&'static str, &'static str, u64)>,
);

fn owned(rows: &[(&str, &str, u64)]) -> Vec<(String, String, u64)> {
    rows.iter()
        .map(|(r, k, c)| (r.to_string(), k.to_string(), *c))
        .collect()
}

#[test]
fn alerts_group_by_rule_key_and_period() {
    let cases: Vec<Case> = vec![
        (
            "nothing matches",
            vec![event("e1", 0, "other", "a")],
            vec![],
        ),
        (
            "one event",
            vec![event("e1", 0, "thing_deleted", "a")],
            vec![("deleted", "a", 1)],
        ),
        (
            "three by one actor within the hour: one alert",
            vec![
                event("e1", 0, "thing_deleted", "a"),
                event("e2", 60, "thing_deleted", "a"),
                event("e3", 3000, "thing_deleted", "a"),
            ],
            vec![("deleted", "a", 3)],
        ),
        (
            "two actors: two alerts",
            vec![
                event("e1", 0, "thing_deleted", "a"),
                event("e2", 1, "thing_deleted", "b"),
            ],
            vec![("deleted", "a", 1), ("deleted", "b", 1)],
        ),
        (
            "past the period: a second alert",
            vec![
                event("e1", 0, "thing_deleted", "a"),
                event("e2", 3600, "thing_deleted", "a"),
            ],
            vec![("deleted", "a", 1), ("deleted", "a", 1)],
        ),
        (
            "threshold: two failures are not enough",
            vec![
                event("f1", 0, "login_failed", "u"),
                event("f2", 1, "login_failed", "u"),
            ],
            vec![],
        ),
        (
            "threshold: the third opens an alert over all three, the fourth joins it",
            (1..=4)
                .map(|i| event(&format!("f{i}"), i, "login_failed", "u"))
                .collect(),
            vec![("failed", "u", 4)],
        ),
        (
            "threshold: three failures over three actors",
            vec![
                event("f1", 0, "login_failed", "u"),
                event("f2", 1, "login_failed", "v"),
                event("f3", 2, "login_failed", "w"),
            ],
            vec![],
        ),
        (
            "threshold: three failures outside the window",
            vec![
                event("f1", 0, "login_failed", "u"),
                event("f2", 400, "login_failed", "u"),
                event("f3", 800, "login_failed", "u"),
            ],
            vec![],
        ),
    ];
    for (name, events, want) in cases {
        assert_eq!(summary(&events), owned(&want), "{name}");
    }
}

#[test]
fn an_alert_carries_its_events_and_a_deterministic_id() {
    let events = vec![
        event("e2", 60, "thing_deleted", "a"),
        event("e1", 0, "thing_deleted", "a"),
    ];
    let d = detect(&pack(), &DetectState::default(), &events);
    let alert = &d.alerts[0];
    assert_eq!(
        alert.id,
        short_hash(&["deleted", "a", "e2"]),
        "the event that opened it"
    );
    assert_eq!(
        (alert.first_event_id.as_str(), alert.last_event_id.as_str()),
        ("e1", "e2")
    );
    assert_eq!(alert.first_event_time, "2026-01-01T00:00:00.000Z");
    assert_eq!(alert.last_event_time, "2026-01-01T00:01:00.000Z");
    assert_eq!(alert.matched_event_ids, ["e2", "e1"]);
    assert_eq!(alert.title, "Name of a deleted a thing");
    assert!(!alert.is_update);
    let again = detect(&pack(), &DetectState::default(), &events);
    assert_eq!(again, d, "the same input gives the same alerts and state");
}

#[test]
fn feeding_a_batch_twice_counts_it_once() {
    let batch: Vec<Value> = (0..25)
        .map(|i| event(&format!("f{i}"), i, "login_failed", "u"))
        .chain([event("e1", 0, "thing_deleted", "a")])
        .collect();
    let first = detect(&pack(), &DetectState::default(), &batch);
    assert_eq!(first.alerts.len(), 2);
    let second = detect(&pack(), &first.state, &batch);
    assert!(second.alerts.is_empty(), "{:?}", second.alerts);
    assert_eq!(second.state, first.state, "counts unchanged");
    let json = serde_json::to_string(&first.state).unwrap();
    let back: DetectState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, first.state, "the state round-trips through JSON");
    let third = detect(&pack(), &back, &batch);
    assert!(third.alerts.is_empty());
}

#[test]
fn a_redone_batch_gives_the_same_alerts_and_a_later_batch_updates_them() {
    let batch1: Vec<Value> = (1..=3)
        .map(|i| event(&format!("f{i}"), i, "login_failed", "u"))
        .collect();
    let batch2: Vec<Value> = vec![
        event("f3", 3, "login_failed", "u"), // overlap re-read
        event("f4", 4, "login_failed", "u"),
    ];
    let state0 = DetectState::default();
    let one = detect(&pack(), &state0, &batch1);
    let redo = detect(&pack(), &state0, &batch1);
    assert_eq!(
        redo, one,
        "a crash before the commit redoes the batch from the old state"
    );
    let two = detect(&pack(), &one.state, &batch2);
    assert_eq!(two.alerts.len(), 1);
    let (a1, a2) = (&one.alerts[0], &two.alerts[0]);
    assert_eq!((a1.count, a2.count), (3, 4));
    assert_eq!(a2.id, a1.id, "the same alert, grown");
    assert!(a2.is_update && !a1.is_update);
    assert_eq!(a2.matched_event_ids, ["f4"]);
}

#[test]
fn the_state_stays_bounded() {
    // Many keys and many threshold groups, all matching, over two days.
    let events: Vec<Value> = (0..5_000)
        .flat_map(|i| {
            let actor = format!(
                "actor-with-a-long-identifier-{:06}-{}",
                i % 700,
                "x".repeat(40)
            );
            [
                event(
                    &format!("d-{i:05}-6c4aa501-ace5-401f-aa34-81147b376ed0"),
                    i * 30,
                    "thing_deleted",
                    &actor,
                ),
                event(
                    &format!("f-{i:05}-6c4aa501-ace5-401f-aa34-81147b376ed0"),
                    i * 30,
                    "login_failed",
                    &actor,
                ),
            ]
        })
        .collect();
    let mut state = DetectState::default();
    for chunk in events.chunks(500) {
        state = detect(&pack(), &state, chunk).state;
        let (matches, open) = state.sizes();
        assert!(
            matches <= MAX_MATCHES && open <= MAX_OPEN_ALERTS,
            "{matches} {open}"
        );
    }
    let (matches, open) = state.sizes();
    // Each of the two rules keeps up to its share: the caps are used, not passed.
    assert!(
        matches > MAX_MATCHES / 2 && open > MAX_OPEN_ALERTS / 4,
        "{matches} {open}"
    );
    let bytes = serde_json::to_vec(&state).unwrap().len();
    assert!(bytes <= MAX_STATE_BYTES, "{bytes} bytes");
}

#[test]
fn events_without_id_or_time_are_skipped() {
    let mut no_id = event("x", 0, "thing_deleted", "a");
    no_id.as_object_mut().unwrap().remove("id");
    let mut no_time = event("y", 0, "thing_deleted", "a");
    no_time["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("time");
    let mut panther_time = event("z", 0, "thing_deleted", "a");
    panther_time["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("time");
    panther_time["p_event_time"] = "2026-01-01 00:00:05.000000000".into();
    let d = detect(
        &pack(),
        &DetectState::default(),
        &[no_id, no_time, panther_time],
    );
    assert_eq!(d.skipped, 2);
    assert_eq!(d.alerts.len(), 1);
    assert_eq!(d.alerts[0].first_event_time, "2026-01-01T00:00:05.000Z");
}

#[test]
fn a_late_event_joins_the_open_alert() {
    let state = detect(
        &pack(),
        &DetectState::default(),
        &[event("e1", 1000, "thing_deleted", "a")],
    )
    .state;
    let d = detect(&pack(), &state, &[event("e0", 10, "thing_deleted", "a")]);
    assert_eq!(d.alerts.len(), 1);
    assert_eq!(
        (d.alerts[0].count, d.alerts[0].first_event_id.as_str()),
        (2, "e0")
    );
    assert_eq!(
        d.alerts[0].id,
        short_hash(&["deleted", "a", "e1"]),
        "its id does not change"
    );
}

/// A flood of one rule's matches (here 5,000 deletions) does not evict another rule's
/// threshold counts: two failures before the flood and one after still open the alert.
/// (With one cap shared by all rules, the flood pushed the failures out.)
#[test]
fn a_flood_of_one_rule_keeps_another_rules_counts() {
    let mut state = DetectState::default();
    let before = [
        event("f1", 0, "login_failed", "u"),
        event("f2", 1, "login_failed", "u"),
    ];
    state = detect(&pack(), &state, &before).state;
    for chunk in 0..10 {
        let flood: Vec<Value> = (0..500)
            .map(|i| {
                let n = chunk * 500 + i;
                event(
                    &format!("d{n}"),
                    2 + n as i64 / 100,
                    "thing_deleted",
                    &format!("a{n}"),
                )
            })
            .collect();
        state = detect(&pack(), &state, &flood).state;
    }
    let after = detect(&pack(), &state, &[event("f3", 120, "login_failed", "u")]);
    let failed: Vec<_> = after
        .alerts
        .iter()
        .filter(|a| a.rule_id == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", after.alerts);
    assert_eq!(failed[0].count, 3);
}

/// A dedup key longer than its cap is replaced by its hash: the same key, the same hash, so
/// dedup still groups; the state stays small.
#[test]
fn long_dedup_keys_are_hashed() {
    let long = "a".repeat(5_000);
    let d = detect(
        &pack(),
        &DetectState::default(),
        &[
            event("e1", 0, "thing_deleted", &long),
            event("e2", 5, "thing_deleted", &long),
        ],
    );
    assert_eq!(d.alerts.len(), 1);
    assert!(
        d.alerts[0].dedup_key.starts_with("sha256:"),
        "{}",
        d.alerts[0].dedup_key
    );
    assert_eq!(d.alerts[0].count, 2);
}

/// An event dated a day after its processing counts toward no threshold and does not become
/// the newest match: matches an hour old are still there after it.
#[test]
fn a_future_dated_event_neither_counts_nor_moves_time() {
    let mut future = event("f9", 86_400 * 365, "login_failed", "u");
    future["attributes"]["processedAt"] = json!("2026-01-01T00:00:10Z");
    let mut far = event("d9", 86_400 * 365, "thing_deleted", "z");
    far["attributes"]["processedAt"] = json!("2026-01-01T00:00:10Z");
    let d = detect(
        &pack(),
        &DetectState::default(),
        &[
            event("f1", 0, "login_failed", "u"),
            event("f2", 1, "login_failed", "u"),
            future,
            far,
        ],
    );
    assert_eq!(d.future_dated, 2);
    assert!(
        d.alerts.iter().all(|a| a.rule_id == "deleted"),
        "{:?}",
        d.alerts
    );
    let d = detect(&pack(), &d.state, &[event("f3", 100, "login_failed", "u")]);
    assert_eq!(d.alerts.len(), 1, "f1 and f2 were kept: {:?}", d.alerts);
}

/// A sealed state verifies under its key and context only, and not once anything in it
/// changed.
#[test]
fn a_sealed_state_verifies_only_as_sealed() {
    use crate::detect::SealKey;
    let key = SealKey::derive(b"api-key");
    let mut state = detect(
        &pack(),
        &DetectState::default(),
        &[event("e1", 0, "thing_deleted", "a")],
    )
    .state;
    state.seal(&key, "src\0gen");
    assert!(state.is_sealed_by(&key, "src\0gen"));
    assert!(!state.is_sealed_by(&SealKey::derive(b"other-key"), "src\0gen"));
    assert!(!state.is_sealed_by(&key, "src\0other-generation"));
    let json = serde_json::to_string(&state).unwrap();
    let back: DetectState = serde_json::from_str(&json).unwrap();
    assert!(
        back.is_sealed_by(&key, "src\0gen"),
        "it survives the round trip"
    );
    let forged: DetectState =
        serde_json::from_str(&json.replace("Name of a", "Name of b")).unwrap();
    assert!(!forged.is_sealed_by(&key, "src\0gen"));
}
