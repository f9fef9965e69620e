//! The demo's organization (`DemoScenario::default()`, what `make demo` serves), normalized as
//! the collector writes it and run through the built-in rules: every rule raises exactly one
//! alert, from the seeded incidents, and the routine traffic raises nothing.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use atlassian_audit::detect::{detect, Alert, DetectState, RulePack};
use atlassian_audit::normalize::{Normalizer, Outcome, SourceInfo};
use chrono::{DateTime, Utc};
use serde_json::Value;
use simulated_org::{incident_events, now_ms, DemoScenario, DEFAULT_ORG_ID};

/// 2026-12-03T17:23:20Z, and a time 37 minutes past another hour: alerts do not depend on
/// where the clock hours fall.
const NOWS: [i64; 2] = [1_796_318_600_000, 1_796_407_220_000];

/// Events each rule's incident holds: one for each rule but the threshold ones.
const EXPECTED: [(&str, u64); 32] = [
    ("account_reenabled", 1),
    ("account_unmanaged", 1),
    ("admin_group_member_added", 1),
    ("admin_removed", 1),
    ("admin_role_granted", 1),
    ("api_token_created", 1),
    ("api_token_revoked", 1),
    ("auth_policy_changed", 1),
    ("auth_policy_deleted", 1),
    ("brute_force_by_ip", 24),
    ("brute_force_by_user", 22),
    ("bulk_export", 1),
    ("data_security_policy_changed", 1),
    ("data_security_policy_removed", 1),
    ("domain_claimed", 1),
    ("domain_removed", 1),
    ("google_sso_disabled", 1),
    ("group_granted_admin_access", 1),
    ("group_made_default", 1),
    ("identity_sync_changed", 1),
    ("managed_email_changed", 1),
    ("managed_passwords_reset_all", 1),
    ("mass_user_removal", 12),
    ("org_admin_added", 1),
    ("scim_directory_deleted", 1),
    ("scim_directory_token_rotated", 1),
    ("scim_log_cleared", 1),
    ("self_signup_domain_added", 1),
    ("site_transferred", 1),
    ("twosv_disabled_for_user", 1),
    ("twosv_unenforced", 1),
    ("user_logged_in_as_user", 1),
];

/// The valid ones of `raw`, as the collector writes them under `logs/`.
/// The events as a run parsing them at `parse_ms` writes them (an event dated more than an hour
/// past its parse time counts toward no threshold, so the parse time is the scenario's `now`).
fn normalized(raw: &[Value], parse_ms: i64) -> Vec<Value> {
    let normalizer = Normalizer::new(SourceInfo {
        source_id: "demo-source".into(),
        source_label: "demo".into(),
    });
    let parse_time = DateTime::<Utc>::from_timestamp_millis(parse_ms).expect("a valid time");
    raw.iter()
        .filter_map(|e| {
            let text = serde_json::value::to_raw_value(e).expect("serializable");
            match normalizer.normalize(&text, parse_time) {
                Outcome::Valid(v) => Some(serde_json::from_str(&v.line).expect("a JSON line")),
                Outcome::Quarantined(_) => None,
            }
        })
        .collect()
}

/// The demo's two runs as two batches, the state carried: each batch's alerts.
fn demo_alerts(scenario: &DemoScenario, now: i64) -> (Vec<Alert>, Vec<Alert>) {
    let pack = RulePack::builtin().expect("the built-in pack parses");
    let backlog = normalized(&scenario.backlog_events(DEFAULT_ORG_ID, now), now);
    let live = normalized(
        &scenario.live_events(DEFAULT_ORG_ID, now + 60_000),
        now + 60_000,
    );
    assert_eq!(live.len(), scenario.live);
    let first = detect(&pack, &DetectState::default(), &backlog);
    assert_eq!(first.skipped, 0);
    let second = detect(&pack, &first.state, &live);
    (first.alerts, second.alerts)
}

#[test]
fn every_builtin_rule_raises_one_alert_from_the_incidents_and_nothing_else_fires() {
    let scenario = DemoScenario::default();
    let rules: BTreeSet<String> = RulePack::builtin()
        .expect("the built-in pack parses")
        .rules()
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let expected: BTreeMap<String, u64> =
        EXPECTED.iter().map(|(r, n)| (r.to_string(), *n)).collect();
    assert_eq!(expected.keys().cloned().collect::<BTreeSet<_>>(), rules);
    for now in NOWS.into_iter().chain([now_ms()]) {
        let seeded: HashSet<String> = incident_events(DEFAULT_ORG_ID, scenario.seed, now)
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(seeded.len(), expected.values().sum::<u64>() as usize);
        let (backlog, live) = demo_alerts(&scenario, now);
        assert!(live.is_empty(), "the live events are routine: {live:#?}");
        let fired: BTreeMap<String, u64> = backlog
            .iter()
            .map(|a| (a.rule_id.clone(), a.count))
            .collect();
        assert_eq!(backlog.len(), rules.len(), "one alert a rule: {fired:#?}");
        assert_eq!(fired, expected, "now = {now}");
        for alert in &backlog {
            for id in &alert.matched_event_ids {
                assert!(seeded.contains(id), "{}: {id} is not seeded", alert.rule_id);
            }
        }
    }
}

#[test]
fn without_the_incidents_the_demo_traffic_raises_nothing() {
    let scenario = DemoScenario::default();
    let routine = normalized(&scenario.backlog_events(DEFAULT_ORG_ID, NOWS[0]), NOWS[0]);
    let seeded = incident_events(DEFAULT_ORG_ID, scenario.seed, NOWS[0]);
    let seeded_ids: HashSet<&str> = seeded.iter().filter_map(|e| e["id"].as_str()).collect();
    let routine: Vec<Value> = routine
        .into_iter()
        .filter(|e| !e["id"].as_str().is_some_and(|id| seeded_ids.contains(id)))
        .collect();
    assert_eq!(routine.len(), scenario.backlog);
    let pack = RulePack::builtin().expect("the built-in pack parses");
    let d = detect(&pack, &DetectState::default(), &routine);
    assert!(d.alerts.is_empty(), "{:#?}", d.alerts);
}
