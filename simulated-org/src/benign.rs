//! The organization's routine traffic only: what detections must stay quiet on.

use serde_json::Value;

use super::generator::generate_events_for_org;
use super::DEFAULT_ORG_ID;

/// The generator's actions that are everyday administration (group changes, invitations,
/// product access, logins, the odd removal), none of them alert-worthy on its own (a user added
/// to an admin group is left out: [`is_admin_grant`]).
pub const ROUTINE_ACTIONS: [&str; 13] = [
    "user_added_to_group",
    "user_removed_from_group",
    "group_created",
    "group_deleted",
    "user_login",
    "user_invited",
    "user_granted_product_access",
    "group_granted_product_access",
    "domain_added",
    "domain_verification_completed",
    "twosv_enabled_for_user",
    "user_removed_from_site",
    "managed_account_deactivated",
];

/// `count` events of routine traffic ([`ROUTINE_ACTIONS`]) over `time_range_ms`, in
/// processing order, deterministic for `seed`: the generator's events with the others left out.
pub fn generate_benign_events(seed: u64, count: usize, time_range_ms: (i64, i64)) -> Vec<Value> {
    generate_benign_events_for_org(DEFAULT_ORG_ID, seed, count, time_range_ms)
}

/// [`generate_benign_events`] for the org `org_id`.
pub fn generate_benign_events_for_org(
    org_id: &str,
    seed: u64,
    count: usize,
    time_range_ms: (i64, i64),
) -> Vec<Value> {
    let mut asked = count + count / 2 + 1;
    loop {
        let mut events: Vec<Value> = generate_events_for_org(org_id, seed, asked, time_range_ms)
            .into_iter()
            .filter(|e| {
                e["attributes"]["action"]
                    .as_str()
                    .is_some_and(|a| ROUTINE_ACTIONS.contains(&a))
                    && !is_admin_grant(e)
            })
            .collect();
        if events.len() >= count {
            events.truncate(count);
            return events;
        }
        asked *= 2;
    }
}

/// A user added to a group whose name makes its members admins (`*-administrators`,
/// `site-admins`, `org-admins`): a grant of admin rights, not routine.
pub fn is_admin_grant(event: &Value) -> bool {
    event["attributes"]["action"] == "user_added_to_group"
        && event["attributes"]["context"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["attributes"]["name"].as_str())
            .any(|g| g.ends_with("-administrators") || g == "site-admins" || g == "org-admins")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: (i64, i64) = (1_764_000_000_000, 1_764_604_800_000);

    #[test]
    fn only_routine_actions_and_exactly_count() {
        let events = generate_benign_events(4, 3000, WEEK);
        assert_eq!(events.len(), 3000);
        let mut actions = std::collections::HashSet::new();
        for e in &events {
            let action = e["attributes"]["action"].as_str().unwrap();
            assert!(ROUTINE_ACTIONS.contains(&action), "{action}");
            actions.insert(action);
        }
        assert_eq!(actions.len(), ROUTINE_ACTIONS.len(), "{actions:?}");
        assert_eq!(events, generate_benign_events(4, 3000, WEEK));
        assert!(!events.iter().any(is_admin_grant));
    }
}
