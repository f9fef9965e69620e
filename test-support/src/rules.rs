//! The user rule files of tests/fixtures/rules, and what a pack with one applied must raise.
use atlassian_audit::detect::{detect, DetectState, RulePack};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Replaces `api_token_revoked` (makes it obsolete), adds the threshold rule `group_churn` (3
/// groups an hour).
pub const USER_RULES: &str = include_str!("../../tests/fixtures/rules/user-rules.yaml");
/// One mistake: rule `group_churn`'s `level` is `urgent`.
pub const BAD_SEVERITY: &str = include_str!("../../tests/fixtures/rules/bad-severity.yaml");
pub const ADDED: &str = "group_churn";
pub const DISABLED: &str = "api_token_revoked";

pub fn fixture(name: &str) -> PathBuf {
    crate::repo_root().join("tests/fixtures/rules").join(name)
}

fn event(n: u32, action: &str) -> Value {
    json!({
        "id": format!("rules-event-{n}"),
        "attributes": {
            "time": format!("2026-12-03T10:00:{n:02}.000Z"),
            "action": action,
            "actor": {"id": "a1", "name": "Ann"},
        },
    })
}

/// The rule ids `pack` raises alerts for over three groups created, a token created and a
/// token revoked.
fn alerted_rules(pack: &RulePack) -> BTreeSet<String> {
    let mut events: Vec<Value> = (0..3).map(|n| event(n, "group_created")).collect();
    events.push(event(10, "api_token_created"));
    events.push(event(11, "api_token_revoked"));
    detect(pack, &DetectState::default(), &events)
        .alerts
        .into_iter()
        .map(|a| a.rule_id)
        .collect()
}

/// The user file is in force: its rule raises, the rule it disabled does not, the built-in
/// rules it left alone still do.
pub fn assert_user_rules_applied(pack: &RulePack) {
    let ids: BTreeSet<&str> = pack.rules().iter().map(|r| r.id.as_str()).collect();
    assert!(ids.contains(ADDED), "{ids:?}");
    assert!(!ids.contains(DISABLED), "{ids:?}");
    let alerted = alerted_rules(pack);
    let want: BTreeSet<String> = [ADDED, "api_token_created"].map(String::from).into();
    assert_eq!(alerted, want);
}
