//! Realistic audit events, shaped like the real captured page and deterministic for a seed.

use serde_json::{json, Value};

use super::clock;
use super::DEFAULT_ORG_ID;

const ORG_NAME: &str = "example-sim";
const HOUR_MS: i64 = 3_600_000;
/// Invalid events need a `time`; without a range argument they use this fixed day (2025-01-01).
const INVALID_DAY_MS: (i64, i64) = (1_735_689_600_000, 1_735_775_999_999);

struct Person {
    name: &'static str,
    email: &'static str,
    id: &'static str,
    home: usize,
}

/// Org admins: the usual human actors.
const ADMINS: [Person; 5] = [
    Person {
        name: "Avery Quinn",
        email: "avery.quinn@example.com",
        id: "5b86be50b8e3cb5895860d6d",
        home: 0,
    },
    Person {
        name: "Jordan Ellis",
        email: "jordan.ellis@example.com",
        id: "5f0c3a8e2d1b4c0069a1f2e3",
        home: 1,
    },
    Person {
        name: "Priya Natarajan",
        email: "priya.natarajan@example.org",
        id: "60a7d21f9e4b3c006f8e2a71",
        home: 2,
    },
    Person {
        name: "Mateo García",
        email: "mateo.garcia@example.org",
        id: "712020:8b1f4c2e-6d3a-4f5b-9e7c-2a1d0b3c4e5f",
        home: 3,
    },
    Person {
        name: "Sam O'Neill",
        email: "sam.oneill@example.com",
        id: "5d2e8f1a7b6c4d0068e9f3a2",
        home: 4,
    },
];

/// Users that admin actions are about (context `users`).
const SUBJECTS: [(&str, &str); 8] = [
    ("alex.morgan@example.com", "603edd77ee117700705ec331"),
    ("casey.lee@example.com", "5c9e2b4a1d7f3e0068b2a9c4"),
    ("dana.kim@example.org", "61b3f0a2c9d84e0069f1d2b7"),
    ("eli.brown@example.org", "5e4a7c1b9f2d3e0070a8b6c5"),
    (
        "finley.ng@example.com",
        "712020:2c7d9e1f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
    ),
    ("gabriel.silva@example.com", "62f1e3d4c5b6a70068d9e0f1"),
    ("harper.jones@example.org", "5a1b2c3d4e5f60006a7b8c9d"),
    ("contractor+jira@example.net", "63a4b5c6d7e8f90071a2b3c4"),
];

const GROUPS: [(&str, &str); 7] = [
    ("jira-users", "8cfb8956-6559-441e-94e9-f08955a61696"),
    (
        "jira-software-users",
        "2d4f6a8c-0e1b-4c3d-8e5f-7a9b1c3d5e7f",
    ),
    (
        "jira-administrators",
        "3e5a7c9e-1f2a-4b4c-9d6e-8f0a2b4c6d8e",
    ),
    ("confluence-users", "4f6b8d0f-2a3b-4c5d-ae7f-9a1b3c5d7e9f"),
    ("site-admins", "5a7c9e1a-3b4c-4d6e-bf8a-0b2c4d6e8f0a"),
    ("security-team", "6b8d0f2b-4c5d-4e7f-8a9b-1c3d5e7f9a1b"),
    (
        "jira-servicemanagement-users",
        "7c9e1a3c-5d6e-4f8a-9bac-2d4e6f8a0b2c",
    ),
];

const DOMAINS: [&str; 3] = ["example.com", "example.org", "corp.example.net"];

/// (ip, countryName, regionName, city); IPs from the documentation ranges only.
const LOCATIONS: [(&str, &str, &str, &str); 7] = [
    (
        "203.0.113.24",
        "United States",
        "California",
        "San Francisco",
    ),
    ("198.51.100.77", "Germany", "Land Berlin", "Berlin"),
    (
        "2001:db8:85a3::8a2e:370:7334",
        "Australia",
        "New South Wales",
        "Sydney",
    ),
    (
        "203.0.113.201",
        "Costa Rica",
        "Provincia de San Jose",
        "San José",
    ),
    ("198.51.100.14", "Japan", "Tokyo", "Tokyo"),
    ("198.51.100.200", "United States", "Virginia", "Ashburn"),
    ("2001:db8:4006:812::200e", "Ireland", "Leinster", "Dublin"),
];

/// The integration's own API key: a service account acting through a token.
const BOT: Person = Person {
    name: "audit-sync-bot",
    email: "0d4c2b7e-9a61-4f3e-8b25-6c1e7a9f3d08@connect.atlassian.com",
    id: "63f1a9c2b7e40d006ab3c5d1",
    home: 5,
};
const BOT_TOKEN: (&str, &str) = ("b7d61c3e-2f4a-4e8b-9c1d-5a6f7e8d9c0b", "SIEM export");
const PERSONAL_TOKEN: (&str, &str) = ("e3a9f0c1-7b2d-4c6e-8f1a-9d0b2c4e6f8a", "jira-automation");

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Group,
    User,
    /// Like the Panther fixture: no id, no links.
    UserNoLinks,
    OrgPolicy,
    OrgDomain,
    AuthPolicy,
    Directory,
    Site,
}

struct ActionSpec {
    action: &'static str,
    weight: u32,
    context: &'static [Ctx],
    /// `{user}`, `{group}`, `{domain}`, `{site}` are replaced.
    message: &'static str,
    human_only: bool,
}

const fn spec(
    action: &'static str,
    weight: u32,
    context: &'static [Ctx],
    message: &'static str,
    human_only: bool,
) -> ActionSpec {
    ActionSpec {
        action,
        weight,
        context,
        message,
        human_only,
    }
}

const ACTIONS: &[ActionSpec] = &[
    spec("user_added_to_group", 12, &[Ctx::Group, Ctx::User], "Added {user} to {group} group", false),
    spec("user_removed_from_group", 6, &[Ctx::Group, Ctx::User], "Removed {user} from {group} group", false),
    spec("group_created", 6, &[Ctx::Group], "Created {group} group", false),
    spec("group_deleted", 3, &[Ctx::Group], "Deleted {group} group", false),
    spec("user_login", 10, &[], "", true),
    spec("api_token_created", 3, &[], "Created admin API key", true),
    spec("api_token_revoked", 2, &[], "Revoked admin API key", true),
    spec("added_org_admin", 2, &[Ctx::User], "Added {user} as an organization admin", true),
    spec("removed_org_admin", 1, &[Ctx::User], "Removed {user} as an organization admin", true),
    spec("policy_created", 1, &[Ctx::OrgPolicy], "", false),
    spec("policy_deleted", 1, &[Ctx::OrgPolicy], "", false),
    spec("user_logged_in_as_user", 2, &[Ctx::UserNoLinks], "Logged in as {user}", true),
    spec("twosv_disabled_for_user", 2, &[Ctx::User], "Disabled two-step verification for {user}", false),
    spec("twosv_enabled_for_user", 2, &[Ctx::User], "Enabled two-step verification for {user}", false),
    spec("domain_added", 1, &[Ctx::OrgDomain], "Added {domain} domain to verify", true),
    spec("domain_verification_completed", 1, &[Ctx::OrgDomain], "Verified {domain} domain", false),
    spec("domain_auth_policy_changed", 1, &[Ctx::AuthPolicy], "Changed authentication policy default for domain {domain}", false),
    spec("auth_policy_created", 1, &[Ctx::Directory, Ctx::AuthPolicy], "Added settings (SSO=None, two-step-verification=Optional, password strength=Weak, password expires=Never, idle session duration=30 days) for authentication policy default", true),
    spec("user_removed_from_site", 2, &[Ctx::User], "Removed {user} from site", false),
    spec("user_invited", 3, &[Ctx::Site, Ctx::User], "Invited {user} to {site}", false),
    spec("user_granted_product_access", 3, &[Ctx::Site, Ctx::User], "Granted {user} access to Jira Software on {site}", false),
    spec("group_granted_product_access", 1, &[Ctx::Group, Ctx::Site], "Granted {group} group access to {site}", false),
    spec("managed_account_deactivated", 1, &[Ctx::User], "Deactivated account {user}", false),
    spec("export_audit_log", 1, &[], "Exported the audit log", true),
    spec("saml_config_updated", 1, &[], "Updated SAML configuration", true),
];

/// Realistic events for the default org id ([`DEFAULT_ORG_ID`]); see [`generate_events_for_org`].
pub fn generate_events(seed: u64, count: usize, time_range_ms: (i64, i64)) -> Vec<Value> {
    generate_events_for_org(DEFAULT_ORG_ID, seed, count, time_range_ms)
}

/// `count` events in processing order, deterministic for `seed`. `time` values are spread over
/// `time_range_ms` in ascending order, except about 1 in 20 "late" events whose `time` lies 2–9
/// hours before (possibly before the range start): processed late, they test that a collector
/// keys on processing time. No `processedAt`: the simulated org stamps it on append.
pub fn generate_events_for_org(
    org_id: &str,
    seed: u64,
    count: usize,
    time_range_ms: (i64, i64),
) -> Vec<Value> {
    let (start, end) = if time_range_ms.0 <= time_range_ms.1 {
        time_range_ms
    } else {
        (time_range_ms.1, time_range_ms.0)
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut times: Vec<i64> = (0..count).map(|_| rng.i64(start..=end)).collect();
    times.sort_unstable();
    times
        .into_iter()
        .map(|t| {
            let late = rng.u32(..20) == 0;
            let t = if late {
                t - rng.i64(2 * HOUR_MS..=9 * HOUR_MS)
            } else {
                t
            };
            event(&mut rng, org_id, t)
        })
        .collect()
}

/// Makes about `per_mille` in 1,000 of `events` (never the first) processed 1–20 days late:
/// their `time` moves that far back while their place in the stream, and so their processedAt
/// (stamped on append, never decreasing), stays. A batch of such a stream touches a few hundred
/// old event-hours, as an organization's late-arriving events do (benches/e2e.sh). An event
/// without a readable `time` is left alone. Deterministic for `seed`.
pub fn process_days_late(events: &mut [Value], seed: u64, per_mille: u32) {
    const DAY_MS: i64 = 24 * HOUR_MS;
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x6c61_7465_5f64_6179);
    for e in events.iter_mut().skip(1) {
        if rng.u32(..1000) >= per_mille {
            continue;
        }
        let back = rng.i64(DAY_MS..=20 * DAY_MS);
        let Some(t) = e
            .pointer("/attributes/time")
            .and_then(Value::as_str)
            .and_then(clock::parse_rfc3339_ms)
        else {
            continue;
        };
        e["attributes"]["time"] = Value::String(format_time(&mut rng, t - back));
    }
}

/// A few invalid events (for quarantine), cycling through: no `type` nor `links` (like the
/// Panther fixture), an unparseable `attributes.time`, no `links`. Deterministic for `seed`.
pub fn generate_invalid_events(seed: u64, count: usize) -> Vec<Value> {
    generate_invalid_events_in(seed, count, INVALID_DAY_MS)
}

/// [`generate_invalid_events`] with `time` values in `time_range_ms`.
pub fn generate_invalid_events_in(
    seed: u64,
    count: usize,
    time_range_ms: (i64, i64),
) -> Vec<Value> {
    const BAD_TIMES: [&str; 5] = [
        "2022-13-45T25:61:00Z",
        "yesterday",
        "1671064515890",
        "2022-12-15 00:35:15.890",
        "",
    ];
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x1BAD_5EED);
    let (lo, hi) = (
        time_range_ms.0.min(time_range_ms.1),
        time_range_ms.0.max(time_range_ms.1),
    );
    (0..count)
        .map(|i| {
            let t = rng.i64(lo..=hi);
            match i % 3 {
                0 => panther_like(&mut rng, t),
                1 => {
                    let mut e = event(&mut rng, DEFAULT_ORG_ID, t);
                    let bad = BAD_TIMES[rng.usize(..BAD_TIMES.len())];
                    e["attributes"]["time"] = Value::String(bad.to_owned());
                    e
                }
                _ => {
                    let mut e = event(&mut rng, DEFAULT_ORG_ID, t);
                    if let Some(obj) = e.as_object_mut() {
                        obj.remove("links");
                    }
                    e
                }
            }
        })
        .collect()
}

/// Shaped like Panther's `user_logged_in_as_user` test event: lacks `type` and `links`.
fn panther_like(rng: &mut fastrand::Rng, t: i64) -> Value {
    let admin = &ADMINS[rng.usize(..ADMINS.len())];
    let (email, _) = SUBJECTS[rng.usize(..SUBJECTS.len())];
    json!({
        "attributes": {
            "action": "user_logged_in_as_user",
            "actor": {"email": admin.email, "id": admin.id, "name": admin.name},
            "container": [{
                "attributes": {"siteHostName": "https://example-sim.atlassian.net", "siteName": "example-sim"},
                "id": "12345678-abcd-4012-8fgh-1234567890ab",
                "links": {"alt": "https://example-sim.atlassian.net"},
                "type": "sites"
            }],
            "context": [{
                "attributes": {"accountType": "atlassian", "email": email, "name": email},
                "type": "users"
            }],
            "time": format_time(rng, t)
        },
        "id": uuid(rng),
        "message": {"content": format!("Logged in as {email}"), "format": "simple"}
    })
}

fn uuid(rng: &mut fastrand::Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Precision varies within a page as in the real one: 3 digits mostly, some 6, some none.
fn format_time(rng: &mut fastrand::Rng, ms: i64) -> String {
    match rng.u32(..20) {
        0..=2 => clock::format_micros(ms, rng.u32(..1000)),
        3..=4 => clock::format_seconds(ms),
        _ => clock::format_millis(ms),
    }
}

fn random_ip(rng: &mut fastrand::Rng) -> String {
    match rng.u32(..10) {
        0..=3 => format!("203.0.113.{}", rng.u8(1..=254)),
        4..=7 => format!("198.51.100.{}", rng.u8(1..=254)),
        _ => format!("2001:db8:{:x}::{:x}", rng.u16(..), rng.u16(1..)),
    }
}

fn location(rng: &mut fastrand::Rng, home: usize) -> Value {
    // Mostly from home; sometimes travelling, from another address of the ranges.
    let (ip, country, region, city) = if rng.u32(..100) < 85 {
        let (ip, c, r, city) = LOCATIONS[home % LOCATIONS.len()];
        (ip.to_owned(), c, r, city)
    } else {
        let (_, c, r, city) = LOCATIONS[rng.usize(..LOCATIONS.len())];
        (random_ip(rng), c, r, city)
    };
    json!({"ip": ip, "countryName": country, "regionName": region, "city": city})
}

fn person_json(org_id: &str, p: &Person) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "email": p.email,
        "links": {
            "alt": format!("https://admin.atlassian.com/o/{org_id}/users/{}", p.id),
            "self": format!("https://api.atlassian.com/users/{}/manage/profile", p.id)
        }
    })
}

fn token_auth(token: (&str, &str)) -> Value {
    json!({"authType": "api-token", "tokenId": token.0, "tokenLabel": token.1})
}

/// (actor, location if any).
fn actor(rng: &mut fastrand::Rng, org_id: &str, human_only: bool) -> (Value, Option<Value>) {
    let roll = if human_only {
        rng.u32(..66)
    } else {
        rng.u32(..100)
    };
    let admin = &ADMINS[rng.usize(..ADMINS.len())];
    match roll {
        // A human in the admin UI; older real events often lack a location.
        0..=65 => {
            let mut a = person_json(org_id, admin);
            if rng.u32(..7) == 0 {
                // Beyond the spec's enum, as seen by third parties: enums are open.
                a["auth"] = json!({"authType": "session"});
            }
            let loc = (rng.u32(..4) != 0).then(|| location(rng, admin.home));
            (a, loc)
        }
        66..=77 => (
            json!({
                "id": "atlassian-internal-system",
                "name": "Atlassian Internal System",
                "email": "Atlassian Internal System"
            }),
            None,
        ),
        // The service account's org API key, sometimes acting for a person.
        78..=91 => {
            let mut a = person_json(org_id, &BOT);
            a["auth"] = token_auth(BOT_TOKEN);
            if rng.bool() {
                a["onBehalfOf"] = json!({"id": admin.id, "name": admin.name, "email": admin.email});
            }
            (a, Some(location(rng, BOT.home)))
        }
        // A person's own API token.
        _ => {
            let mut a = person_json(org_id, admin);
            a["auth"] = token_auth(PERSONAL_TOKEN);
            (a, Some(location(rng, admin.home)))
        }
    }
}

fn pick_action(rng: &mut fastrand::Rng) -> &'static ActionSpec {
    let total: u32 = ACTIONS.iter().map(|a| a.weight).sum();
    let mut roll = rng.u32(..total);
    for a in ACTIONS {
        if roll < a.weight {
            return a;
        }
        roll -= a.weight;
    }
    &ACTIONS[0]
}

struct Picks {
    user: (&'static str, &'static str),
    group: (&'static str, &'static str),
    domain: &'static str,
    site: (String, String, String),
}

fn context_element(org_id: &str, ctx: Ctx, p: &Picks, rng: &mut fastrand::Rng) -> Value {
    match ctx {
        Ctx::Group => json!({
            "id": p.group.1,
            "type": "groups",
            "attributes": {"name": p.group.0, "groupName": p.group.0},
            "links": {"alt": format!("https://admin.atlassian.com/o/{org_id}/groups/{}", p.group.1), "self": null}
        }),
        Ctx::User => json!({
            "id": p.user.1,
            "type": "users",
            "attributes": {"name": p.user.0, "email": p.user.0, "accountType": "atlassian"},
            "links": {
                "alt": format!("https://admin.atlassian.com/o/{org_id}/users/{}", p.user.1),
                "self": format!("https://api.atlassian.com/users/{}/manage/profile", p.user.1)
            }
        }),
        Ctx::UserNoLinks => json!({
            "type": "users",
            "attributes": {"accountType": "atlassian", "email": p.user.0, "name": p.user.0}
        }),
        Ctx::OrgPolicy => json!({
            "id": uuid(rng),
            "type": "org-policy",
            "attributes": {"name": "global-realm-policy", "type": "data-residency", "status": "enabled"},
            "links": {"alt": null, "self": null}
        }),
        Ctx::OrgDomain => json!({
            "id": org_id,
            "type": "orgs",
            "attributes": {"name": ORG_NAME, "domain": p.domain},
            "links": {
                "alt": format!("https://admin.atlassian.com/o/{org_id}"),
                "self": format!("https://api.atlassian.com/admin/v1/orgs/{org_id}")
            }
        }),
        Ctx::AuthPolicy => {
            let id = uuid(rng);
            json!({
                "id": id,
                "type": "auth-policy",
                "attributes": {"name": "default", "domain": p.domain},
                "links": {
                    "alt": format!("https://admin.atlassian.com/o/{org_id}/authentication-policies/policy/{id}"),
                    "self": null
                }
            })
        }
        Ctx::Directory => json!({
            "id": "4582aa6f-edc5-4e82-ae27-8428c09edaa0",
            "type": "directory",
            "attributes": {"name": "default"},
            "links": {"alt": null, "self": null}
        }),
        Ctx::Site => json!({
            "id": p.site.0,
            "type": "sites",
            "attributes": {"siteName": p.site.1, "siteHostName": p.site.2},
            "links": {"alt": p.site.2, "self": null}
        }),
    }
}

fn event(rng: &mut fastrand::Rng, org_id: &str, time_ms: i64) -> Value {
    let id = uuid(rng);
    let spec = pick_action(rng);
    let (actor, location) = actor(rng, org_id, spec.human_only);
    let site = if rng.u32(..8) == 0 {
        // A self-hosted link: its host is an IP (an ip indicator, not a domain).
        let ip = format!("198.51.100.{}", rng.u8(1..=254));
        (
            "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e".to_owned(),
            "legacy-proxy".to_owned(),
            format!("https://{ip}/jira"),
        )
    } else {
        (
            "6c4aa501-ace5-401f-aa34-81147b376ed0".to_owned(),
            ORG_NAME.to_owned(),
            format!("https://{ORG_NAME}.atlassian.net"),
        )
    };
    let picks = Picks {
        user: SUBJECTS[rng.usize(..SUBJECTS.len())],
        group: GROUPS[rng.usize(..GROUPS.len())],
        domain: DOMAINS[rng.usize(..DOMAINS.len())],
        site,
    };
    let context: Vec<Value> = spec
        .context
        .iter()
        .map(|c| context_element(org_id, *c, &picks, rng))
        .collect();
    let message = spec
        .message
        .replace("{user}", picks.user.0)
        .replace("{group}", picks.group.0)
        .replace("{domain}", picks.domain)
        .replace("{site}", &picks.site.1);
    let mut attributes = json!({
        "time": format_time(rng, time_ms),
        "action": spec.action,
        "actor": actor,
        "context": context,
        "container": [{
            "id": org_id,
            "type": "orgs",
            "attributes": {"name": ORG_NAME},
            "links": {
                "alt": format!("https://admin.atlassian.com/o/{org_id}"),
                "self": format!("https://api.atlassian.com/admin/v1/orgs/{org_id}")
            }
        }]
    });
    if let Some(loc) = location {
        attributes["location"] = loc;
    }
    json!({
        "id": id,
        "type": "events",
        "attributes": attributes,
        "links": {"self": format!("https://api.atlassian.com/admin/v1/orgs/{org_id}/events/{id}")},
        "message": {"content": message, "format": "simple"}
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::super::is_valid_event;
    use super::*;

    const RANGE: (i64, i64) = (1_764_000_000_000, 1_764_086_400_000);

    #[test]
    fn deterministic_for_a_seed() {
        assert_eq!(
            generate_events(9, 300, RANGE),
            generate_events(9, 300, RANGE)
        );
        assert_ne!(
            generate_events(9, 300, RANGE),
            generate_events(10, 300, RANGE)
        );
        assert_eq!(generate_invalid_events(3, 6), generate_invalid_events(3, 6));
    }

    #[test]
    fn about_one_in_a_hundred_is_processed_days_late() {
        const DAY_MS: i64 = 24 * HOUR_MS;
        let time = |e: &Value| clock::parse_rfc3339_ms(e["attributes"]["time"].as_str().unwrap());
        let before = generate_events(4, 20_000, RANGE);
        let mut after = before.clone();
        process_days_late(&mut after, 4, 10);
        assert_eq!(after[0], before[0], "the first event stays");
        let mut moved = 0;
        for (a, b) in after.iter().zip(&before) {
            let (ta, tb) = (time(a).unwrap(), time(b).unwrap());
            assert_eq!(a["id"], b["id"], "the order stays");
            if ta != tb {
                moved += 1;
                // Within the 1–20 days, give or take the second a layout may drop.
                assert!(
                    (DAY_MS - 1_000..=20 * DAY_MS + 1_000).contains(&(tb - ta)),
                    "{ta} {tb}"
                );
            }
        }
        assert!((120..=280).contains(&moved), "moved: {moved}");
        let mut none = before.clone();
        process_days_late(&mut none, 4, 0);
        assert_eq!(none, before);
    }

    #[test]
    fn events_carry_the_real_fields() {
        let events = generate_events_for_org("org-x", 1, 2000, RANGE);
        assert_eq!(events.len(), 2000);
        let ids: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
        assert_eq!(ids.len(), 2000, "ids are unique");
        let mut precisions = HashMap::new();
        let (
            mut late,
            mut system,
            mut tokens,
            mut on_behalf,
            mut no_loc,
            mut empty_ctx,
            mut ip_link,
            mut v6,
        ) = (0, 0, 0, 0, 0, 0, 0, 0);
        let mut actions = HashSet::new();
        let mut prev_time: Option<i64> = None;
        for e in &events {
            assert!(is_valid_event(e), "{e}");
            let id = e["id"].as_str().unwrap();
            assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
            assert_eq!(e["type"], "events");
            assert_eq!(
                e["links"]["self"],
                format!("https://api.atlassian.com/admin/v1/orgs/org-x/events/{id}")
            );
            assert_eq!(e["message"]["format"], "simple");
            assert!(e["message"]["content"].is_string());
            let a = &e["attributes"];
            assert!(a.get("processedAt").is_none());
            let action = a["action"].as_str().unwrap();
            assert_eq!(action, action.to_lowercase());
            actions.insert(action.to_owned());
            let time = a["time"].as_str().unwrap();
            let frac = time.split_once('.').map_or(0, |(_, f)| f.len() - 1);
            *precisions.entry(frac).or_insert(0) += 1;
            let t = clock::parse_rfc3339_ms(time).unwrap();
            if prev_time.is_some_and(|p| t < p - HOUR_MS) {
                late += 1;
                assert!(t >= RANGE.0 - 10 * HOUR_MS);
            } else {
                assert!((RANGE.0..=RANGE.1).contains(&t));
                prev_time = Some(t);
            }
            assert_eq!(a["container"][0]["type"], "orgs");
            assert_eq!(a["container"][0]["id"], "org-x");
            let actor = &a["actor"];
            if actor["id"] == "atlassian-internal-system" {
                system += 1;
                assert_eq!(
                    *actor,
                    json!({"id": "atlassian-internal-system", "name": "Atlassian Internal System", "email": "Atlassian Internal System"})
                );
                assert!(a.get("location").is_none());
            } else {
                let email = actor["email"].as_str().unwrap();
                assert!(
                    email.ends_with("@example.com")
                        || email.ends_with("@example.org")
                        || email.ends_with("@connect.atlassian.com"),
                    "{email}"
                );
            }
            if actor["auth"]["authType"] == "api-token" {
                tokens += 1;
                assert!(
                    actor["auth"]["tokenId"].is_string() && actor["auth"]["tokenLabel"].is_string()
                );
            }
            on_behalf += usize::from(actor.get("onBehalfOf").is_some());
            match a.get("location") {
                None => no_loc += 1,
                Some(loc) => {
                    let ip = loc["ip"].as_str().unwrap();
                    assert!(
                        ip.starts_with("203.0.113.")
                            || ip.starts_with("198.51.100.")
                            || ip.starts_with("2001:db8:"),
                        "{ip}"
                    );
                    v6 += usize::from(ip.contains(':'));
                    assert!(loc["city"].is_string() && loc["countryName"].is_string());
                }
            }
            let ctx = a["context"].as_array().unwrap();
            empty_ctx += usize::from(ctx.is_empty());
            ip_link += usize::from(ctx.iter().any(|c| {
                c["links"]["alt"]
                    .as_str()
                    .is_some_and(|l| l.starts_with("https://198.51.100."))
            }));
        }
        for p in [0, 3, 6] {
            assert!(
                precisions.get(&p).copied().unwrap_or(0) > 50,
                "{precisions:?}"
            );
        }
        assert!((40..=170).contains(&late), "late: {late}");
        for (name, n) in [
            ("system", system),
            ("tokens", tokens),
            ("onBehalfOf", on_behalf),
            ("no location", no_loc),
            ("empty context", empty_ctx),
            ("ip link", ip_link),
            ("ipv6", v6),
        ] {
            assert!(n > 10, "{name}: {n}");
        }
        for a in [
            "user_added_to_group",
            "group_created",
            "api_token_created",
            "added_org_admin",
            "policy_deleted",
            "user_logged_in_as_user",
            "twosv_disabled_for_user",
        ] {
            assert!(actions.contains(a), "{a}");
        }
    }

    #[test]
    fn invalid_events_are_invalid() {
        let events = generate_invalid_events(5, 9);
        assert_eq!(events.len(), 9);
        for (i, e) in events.iter().enumerate() {
            assert!(!is_valid_event(e), "{e}");
            assert!(e["id"].is_string() && e["attributes"].is_object());
            match i % 3 {
                0 => assert!(e.get("type").is_none() && e.get("links").is_none()),
                1 => assert!(
                    clock::parse_rfc3339_ms(e["attributes"]["time"].as_str().unwrap()).is_none()
                ),
                _ => assert!(e.get("links").is_none() && e["type"] == "events"),
            }
        }
    }
}
