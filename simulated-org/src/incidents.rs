//! Incidents the demo organization seeds among its routine traffic: for every built-in detection
//! rule, the events that raise it, threshold rules included (a credential-stuffing burst from one
//! address, a password-guessing burst against one user, a mass removal). The people in them never
//! act in the generator's traffic, so each incident is its own alert, never merged into another.
//!
//! The story, hours before now: an address tries the passwords of many employees (20 h); a domain
//! is claimed (18 h); someone guesses one employee's password from many addresses (14 h); an admin
//! account is taken over and used (6–4 h); the security team responds (2 h).

use serde_json::{json, Value};

use super::clock;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Failed logins of each burst: over the rules' threshold of 20, so the alerts grow after opening.
const STUFFING_ATTEMPTS: i64 = 24;
const GUESSING_ATTEMPTS: i64 = 22;
/// Most an incident event's time moves from its schedule (less than half the closest spacing).
const JITTER_MS: i64 = 15_000;
/// Users the taken-over account removes: over the threshold of 10.
const REMOVALS: usize = 12;

/// Someone in the incidents: (account id, name, email).
type Who = (&'static str, &'static str, &'static str);

/// The admin account taken over.
const ROGUE: Who = (
    "6f1e2d3c4b5a690078a1b2c3",
    "Riley Chen",
    "riley.chen@example.com",
);
/// The security admin: the domain claim and the response.
const RESPONDER: Who = (
    "6e0d1c2b3a49580077f0e1d2",
    "Morgan Blake",
    "morgan.blake@example.org",
);
/// The employee whose password is guessed.
const TARGET: Who = (
    "712020:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
    "Lena Fischer",
    "lena.fischer@example.com",
);

/// Employees the incidents are about: removed, tried, impersonated.
const STAFF: [Who; REMOVALS] = [
    (
        "64a1b2c3d4e5f60079a1b2c3",
        "Omar Haddad",
        "omar.haddad@example.com",
    ),
    (
        "64b2c3d4e5f6070079b2c3d4",
        "Sofia Rossi",
        "sofia.rossi@example.org",
    ),
    (
        "64c3d4e5f607180079c3d4e5",
        "Kenji Sato",
        "kenji.sato@example.com",
    ),
    (
        "64d4e5f60718290079d4e5f6",
        "Amara Okafor",
        "amara.okafor@example.org",
    ),
    (
        "64e5f607182930007ae5f607",
        "Lucas Moreau",
        "lucas.moreau@example.com",
    ),
    (
        "64f607182930a1007af60718",
        "Ingrid Berg",
        "ingrid.berg@example.org",
    ),
    (
        "6407182930a1b2007a071829",
        "Diego Ramos",
        "diego.ramos@example.com",
    ),
    (
        "64182930a1b2c3007a182930",
        "Hana Novak",
        "hana.novak@example.net",
    ),
    (
        "642930a1b2c3d4007a2930a1",
        "Tomasz Wójcik",
        "tomasz.wojcik@example.com",
    ),
    (
        "6430a1b2c3d4e5007a30a1b2",
        "Aisha Rahman",
        "aisha.rahman@example.org",
    ),
    (
        "64a1b2c3d4e5f6107aa1b2c3",
        "Felix Wagner",
        "felix.wagner@example.com",
    ),
    (
        "64b2c3d4e5f607107ab2c3d4",
        "Chloé Martin",
        "chloe.martin@example.org",
    ),
];

/// (ip, countryName, regionName, city), from the documentation address ranges.
type Place = (&'static str, &'static str, &'static str, &'static str);
const OFFICE: Place = (
    "203.0.113.24",
    "United States",
    "California",
    "San Francisco",
);
const STUFFER: Place = (
    "198.51.100.233",
    "Netherlands",
    "North Holland",
    "Amsterdam",
);
/// Where the guessing addresses are (each attempt has its own address).
const BOTNET: Place = ("", "Brazil", "São Paulo", "São Paulo");
const ROGUE_PLACE: Place = ("2001:db8:bad:1::66", "Romania", "Bucharest", "Bucharest");

/// The events of every incident for the org `org_id`, in `time` order, `time`s relative to
/// `now_ms` (the earliest 20 hours before). Deterministic for `seed` and `now_ms`.
pub fn incident_events(org_id: &str, seed: u64, now_ms: i64) -> Vec<Value> {
    let mut b = Incidents {
        org_id,
        now_ms,
        rng: fastrand::Rng::with_seed(seed ^ 0x1AC1_DE27),
        events: Vec::new(),
    };
    b.credential_stuffing(20 * HOUR_MS);
    b.domain_claim(18 * HOUR_MS);
    b.password_guessing(14 * HOUR_MS);
    b.takeover(6 * HOUR_MS);
    b.response(2 * HOUR_MS);
    b.events.sort_by_key(|(t, _)| *t);
    b.events.into_iter().map(|(_, e)| e).collect()
}

struct Incidents<'a> {
    org_id: &'a str,
    now_ms: i64,
    rng: fastrand::Rng,
    events: Vec<(i64, Value)>,
}

/// One event before it gets its id and time.
struct Ev {
    action: &'static str,
    actor: Who,
    place: Place,
    /// The address, when not the place's usual one.
    ip: Option<String>,
    context: Vec<Value>,
    message: String,
}

fn ev(action: &'static str, actor: Who, place: Place) -> Ev {
    Ev {
        action,
        actor,
        place,
        ip: None,
        context: Vec::new(),
        message: String::new(),
    }
}

impl Ev {
    fn about(mut self, context: Value) -> Ev {
        self.context.push(context);
        self
    }
    fn saying(mut self, message: impl Into<String>) -> Ev {
        self.message = message.into();
        self
    }
    fn at_ip(mut self, ip: String) -> Ev {
        self.ip = Some(ip);
        self
    }
}

impl Incidents<'_> {
    /// One address tries the password of one employee after another.
    fn credential_stuffing(&mut self, ago: i64) {
        for i in 0..STUFFING_ATTEMPTS {
            let who = STAFF[self.rng.usize(..STAFF.len())];
            self.push(ago - i * 35_000, ev("user_login_failed", who, STUFFER));
        }
    }

    /// One employee's password guessed from a new address each time (a botnet).
    fn password_guessing(&mut self, ago: i64) {
        for i in 0..GUESSING_ATTEMPTS {
            let e = ev("user_login_failed", TARGET, BOTNET).at_ip(format!("203.0.113.{}", 100 + i));
            self.push(ago - i * 2 * MINUTE_MS, e);
        }
    }

    fn domain_claim(&mut self, ago: i64) {
        let e = ev("domain_claimed", RESPONDER, OFFICE)
            .about(self.domain("acquired.example.net"))
            .saying("Claimed acquired.example.net domain");
        self.push(ago, e);
    }

    /// The taken-over admin account: a foothold, weakened sign-in, data out, then sabotage.
    fn takeover(&mut self, ago: i64) {
        let victim = STAFF[0];
        let mut steps = vec![
            ev("user_logged_in_as_user", ROGUE, ROGUE_PLACE)
                .about(json!({"type": "users", "attributes": {"accountType": "atlassian", "email": victim.2, "name": victim.2}}))
                .saying(format!("Logged in as {}", victim.2)),
            ev("api_token_created", ROGUE, ROGUE_PLACE).saying("Created admin API key"),
            ev("added_org_admin", ROGUE, ROGUE_PLACE)
                .about(self.user(victim))
                .saying(format!("Added {} as an organization admin", victim.2)),
            ev("group_granted_admin_access", ROGUE, ROGUE_PLACE)
                .about(group("contractors", "9d0e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a", self.org_id))
                .saying("Granted admin access to contractors group"),
            ev("user_granted_role", ROGUE, ROGUE_PLACE)
                .about(self.user(STAFF[1]))
                .saying(format!("Granted {} the Jira Administrator role", STAFF[1].2)),
            ev("twosv_disabled_for_user", ROGUE, ROGUE_PLACE)
                .about(self.user(victim))
                .saying(format!("Disabled two-step verification for {}", victim.2)),
            ev("twosv_unenforced", ROGUE, ROGUE_PLACE)
                .saying("Two-step verification is no longer enforced"),
            ev("set_session_policy", ROGUE, ROGUE_PLACE)
                .saying("Set the idle session duration to 90 days"),
            ev("saml_config_deleted", ROGUE, ROGUE_PLACE).saying("Deleted SAML configuration"),
            ev("policy_disabled", ROGUE, ROGUE_PLACE)
                .about(org_policy(self.uuid(), "data-security"))
                .saying("Disabled data security policy"),
            ev("export_managed_account", ROGUE, ROGUE_PLACE)
                .saying("Exported managed accounts"),
            ev("scim_directory_deleted", ROGUE, ROGUE_PLACE)
                .about(directory())
                .saying("Deleted SCIM directory Okta"),
            ev("domain_verification_removed", ROGUE, ROGUE_PLACE)
                .about(self.domain("example.org"))
                .saying("Removed verification of example.org domain"),
            ev("user_added_to_group", ROGUE, ROGUE_PLACE)
                .about(group("jira-administrators", "3e5a7c9e-1f2a-4b4c-9d6e-8f0a2b4c6d8e", self.org_id))
                .saying(format!("Added {} to jira-administrators group", victim.2)),
            ev("group_added_as_product_default", ROGUE, ROGUE_PLACE)
                .about(group("contractors", "9d0e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a", self.org_id))
                .saying("Made contractors a default group of Jira"),
            ev("email_change", ROGUE, ROGUE_PLACE)
                .about(self.user(victim))
                .saying(format!("Changed the email address of {}", victim.2)),
            ev("removed_org_admin", ROGUE, ROGUE_PLACE)
                .about(self.user(RESPONDER))
                .saying(format!("Removed {} as an organization admin", RESPONDER.2)),
            ev("scim_user_unlinked_from_aa", ROGUE, ROGUE_PLACE)
                .about(self.user(STAFF[2]))
                .saying(format!("Unlinked {} from its Atlassian account", STAFF[2].2)),
            ev("scim_sync_disabled", ROGUE, ROGUE_PLACE)
                .about(directory())
                .saying("Disabled sync of SCIM directory Okta"),
            ev("gsync_sso_disabled", ROGUE, ROGUE_PLACE).saying("Disabled Google Workspace SSO"),
            ev("scim_troubleshooting_log_cleared", ROGUE, ROGUE_PLACE)
                .about(directory())
                .saying("Cleared the troubleshooting log of SCIM directory Okta"),
            ev("policy_updated", ROGUE, ROGUE_PLACE)
                .about(org_policy(self.uuid(), "data-security"))
                .saying("Updated data security policy"),
            ev("user_access_settings_domain_added", ROGUE, ROGUE_PLACE)
                .saying("Approved rogue.example.net for self sign-up"),
            ev("site_transferred", ROGUE, ROGUE_PLACE)
                .about(json!({"type": "sites", "attributes": {"siteName": "example-sim", "siteHostName": "example-sim.atlassian.net"}}))
                .saying("Transferred site example-sim"),
        ];
        steps.extend(self.removals());
        for (i, step) in steps.into_iter().enumerate() {
            self.push(ago - i as i64 * 4 * MINUTE_MS, step);
        }
    }

    /// Every employee removed or deactivated, one a few minutes after another.
    fn removals(&self) -> Vec<Ev> {
        const HOW: [(&str, &str); 3] = [
            ("user_removed_from_org", "Removed {} from the organization"),
            ("managed_account_deactivated", "Deactivated account {}"),
            ("user_disabled_site_access", "Disabled site access of {}"),
        ];
        STAFF
            .iter()
            .enumerate()
            .map(|(i, who)| {
                let (action, message) = HOW[i % HOW.len()];
                ev(action, ROGUE, ROGUE_PLACE)
                    .about(self.user(*who))
                    .saying(message.replace("{}", who.2))
            })
            .collect()
    }

    /// The security team: the attacker's key revoked, the directory token rotated, passwords reset.
    fn response(&mut self, ago: i64) {
        let steps = [
            ev("api_token_revoked", RESPONDER, OFFICE).saying("Revoked admin API key"),
            ev("scim_directory_token_rotated", RESPONDER, OFFICE)
                .about(directory())
                .saying("Rotated the token of SCIM directory Okta"),
            ev("reset_all_managed_account_passwords", RESPONDER, OFFICE)
                .saying("Reset passwords of all managed accounts"),
            ev("managed_account_reactivated", RESPONDER, OFFICE)
                .about(self.user(STAFF[0]))
                .saying(format!("Reactivated account {}", STAFF[0].2)),
        ];
        for (i, step) in steps.into_iter().enumerate() {
            self.push(ago - i as i64 * 6 * MINUTE_MS, step);
        }
    }

    fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    fn user(&self, (id, _, email): Who) -> Value {
        let org_id = self.org_id;
        json!({
            "id": id,
            "type": "users",
            "attributes": {"name": email, "email": email, "accountType": "atlassian"},
            "links": {
                "alt": format!("https://admin.atlassian.com/o/{org_id}/users/{id}"),
                "self": format!("https://api.atlassian.com/users/{id}/manage/profile")
            }
        })
    }

    fn domain(&self, domain: &str) -> Value {
        let org_id = self.org_id;
        json!({
            "id": org_id,
            "type": "orgs",
            "attributes": {"name": "example-sim", "domain": domain},
            "links": {"alt": format!("https://admin.atlassian.com/o/{org_id}"), "self": null}
        })
    }

    /// Adds `e` at `ago_ms` before now, shaped like the generator's events.
    fn push(&mut self, ago_ms: i64, e: Ev) {
        // A few seconds either way: people do not act on the millisecond of a schedule.
        let jitter = self.rng.i64(-JITTER_MS..=JITTER_MS);
        let (org_id, time) = (self.org_id, self.now_ms - ago_ms + jitter);
        let id = self.uuid();
        let (actor_id, name, email) = e.actor;
        let (usual_ip, country, region, city) = e.place;
        let ip = e.ip.as_deref().unwrap_or(usual_ip);
        let event = json!({
            "id": id,
            "type": "events",
            "attributes": {
                "time": clock::format_millis(time),
                "action": e.action,
                "actor": {
                    "id": actor_id,
                    "name": name,
                    "email": email,
                    "links": {
                        "alt": format!("https://admin.atlassian.com/o/{org_id}/users/{actor_id}"),
                        "self": format!("https://api.atlassian.com/users/{actor_id}/manage/profile")
                    }
                },
                "context": e.context,
                "container": [{
                    "id": org_id,
                    "type": "orgs",
                    "attributes": {"name": "example-sim"},
                    "links": {
                        "alt": format!("https://admin.atlassian.com/o/{org_id}"),
                        "self": format!("https://api.atlassian.com/admin/v1/orgs/{org_id}")
                    }
                }],
                "location": {"ip": ip, "countryName": country, "regionName": region, "city": city}
            },
            "links": {"self": format!("https://api.atlassian.com/admin/v1/orgs/{org_id}/events/{id}")},
            "message": {"content": e.message, "format": "simple"}
        });
        self.events.push((time, event));
    }
}

fn group(name: &str, id: &str, org_id: &str) -> Value {
    json!({
        "id": id,
        "type": "groups",
        "attributes": {"name": name, "groupName": name},
        "links": {"alt": format!("https://admin.atlassian.com/o/{org_id}/groups/{id}"), "self": null}
    })
}

/// An organization policy, shaped like the real data-residency one.
fn org_policy(id: String, kind: &str) -> Value {
    json!({
        "id": id,
        "type": "org-policy",
        "attributes": {"name": "global-realm-policy", "type": kind, "status": "disabled"},
        "links": {"alt": null, "self": null}
    })
}

fn directory() -> Value {
    json!({
        "id": "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b",
        "type": "directory",
        "attributes": {"name": "Okta"},
        "links": {"alt": null, "self": null}
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::is_valid_event;
    use super::*;

    const NOW: i64 = 1_796_318_600_000;

    #[test]
    fn incidents_are_valid_unique_deterministic_and_within_the_day() {
        let events = incident_events("org-i", 5, NOW);
        assert_eq!(events, incident_events("org-i", 5, NOW));
        assert_ne!(events, incident_events("org-i", 6, NOW));
        let ids: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
        assert_eq!(ids.len(), events.len());
        let mut last = i64::MIN;
        for e in &events {
            assert!(is_valid_event(e), "{e}");
            let t = clock::parse_rfc3339_ms(e["attributes"]["time"].as_str().unwrap()).unwrap();
            assert!(t >= last, "in time order");
            assert!((NOW - 23 * HOUR_MS..NOW - MINUTE_MS).contains(&t));
            last = t;
        }
    }

    #[test]
    fn the_bursts_cross_their_thresholds_only_where_meant() {
        let events = incident_events("org-i", 5, NOW);
        let failed: Vec<&Value> = events
            .iter()
            .filter(|e| e["attributes"]["action"] == "user_login_failed")
            .collect();
        assert_eq!(failed.len() as i64, STUFFING_ATTEMPTS + GUESSING_ATTEMPTS);
        let count = |path: &str, value: &str| {
            failed
                .iter()
                .filter(|e| e.pointer(path).and_then(Value::as_str) == Some(value))
                .count()
        };
        assert_eq!(
            count("/attributes/location/ip", STUFFER.0) as i64,
            STUFFING_ATTEMPTS
        );
        assert_eq!(
            count("/attributes/actor/id", TARGET.0) as i64,
            GUESSING_ATTEMPTS
        );
        // Nobody else reaches 20 failures, no other address either.
        for (id, _, _) in STAFF {
            assert!(count("/attributes/actor/id", id) < 20, "{id}");
        }
        // The removal actions of the mass-removal rule.
        let removal = [
            "user_removed_from_org",
            "managed_account_deactivated",
            "user_disabled_site_access",
        ];
        let removed = events
            .iter()
            .filter(|e| removal.iter().any(|a| e["attributes"]["action"] == *a))
            .inspect(|e| assert_eq!(e["attributes"]["actor"]["id"], ROGUE.0))
            .count();
        assert_eq!(removed, REMOVALS);
    }
}
