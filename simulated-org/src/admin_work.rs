//! Routine admin work that detections see but should mostly not alert on: sign-in policy
//! edits, users resetting their own two-step verification, API key rotation, data-security
//! policy edits. Mixed into the benign corpus, it measures the pack's false alerts.

use serde_json::{json, Value};

use super::benign::generate_benign_events_for_org;
use super::DEFAULT_ORG_ID;

/// The admin work's actions, in the order [`generate_admin_work`] cycles through them.
pub const ADMIN_WORK_ACTIONS: [&str; 6] = [
    "auth_policy_updated",
    "twosv_disabled_for_user",
    "twosv_enabled_for_user",
    "api_token_created",
    "api_token_revoked",
    "policy_updated",
];

/// `count` events of routine admin work over `time_range_ms`, deterministic for `seed`: the
/// routine traffic's events by people, recast as the actions of [`ADMIN_WORK_ACTIONS`] in turn
/// (their ids, times, actors and places kept).
pub fn generate_admin_work(seed: u64, count: usize, time_range_ms: (i64, i64)) -> Vec<Value> {
    generate_benign_events_for_org(DEFAULT_ORG_ID, seed, count * 4 + 16, time_range_ms)
        .into_iter()
        .filter(|e| e["attributes"]["actor"]["id"] != "atlassian-internal-system")
        .take(count)
        .enumerate()
        .map(|(i, e)| recast(e, ADMIN_WORK_ACTIONS[i % ADMIN_WORK_ACTIONS.len()]))
        .collect()
}

fn recast(mut event: Value, action: &str) -> Value {
    let actor = event["attributes"]["actor"].clone();
    let (context, message) = match action {
        "auth_policy_updated" => (
            json!([{"id": "557d409a-0d24-4109-8cbd-3996bf152ca0", "type": "auth-policy", "attributes": {"name": "default"}}]),
            "Updated authentication policy default (session duration 12 hours)",
        ),
        // The user's own second factor, reset and set up again.
        "twosv_disabled_for_user" | "twosv_enabled_for_user" => (
            json!([{"id": actor["id"], "type": "users", "attributes": {"email": actor["email"], "name": actor["email"]}}]),
            "Two-step verification reset",
        ),
        "api_token_created" => (json!([]), "Created admin API key"),
        "api_token_revoked" => (json!([]), "Revoked admin API key"),
        _ => (
            json!([{"id": "eaffa6f0-eb42-4b09-b2fb-0c7932187783", "type": "org-policy", "attributes": {"name": "global-realm-policy", "type": "data-residency", "status": "enabled"}}]),
            "",
        ),
    };
    event["attributes"]["action"] = json!(action);
    event["attributes"]["context"] = context;
    event["message"] = json!({"content": message, "format": "simple"});
    event
}
