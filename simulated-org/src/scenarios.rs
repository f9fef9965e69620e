//! Security scenarios for the saved queries (`sql/queries/`): for each question a security team asks
//! of the audit log, events that must be found (the positive cases) and near misses that must not
//! (the negative cases: a look-alike action, the same action outside the query's window, a burst one
//! short of the threshold, a country seen before). Times are relative to a given `now`, and no event
//! lies within an hour of a window's edge (24 hours, 7, 30 and 31 days back), so a test may run the
//! queries minutes after writing the events.
//!
//! Each [`Question`] names its query by file stem and states the rows it must return, projected on a
//! few columns: written by hand from the events below (the busiest-actors question, whose answer is
//! every actor of the last day, is counted from the events themselves).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::clock;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const MINUTE_MS: i64 = 60_000;

/// Window edges of the saved queries, in hours before now; no scenario event lies within an hour of one.
const WINDOW_EDGES_HOURS: [i64; 4] = [24, 7 * 24, 30 * 24, 31 * 24];

/// Someone who acts in the audit log.
#[derive(Clone, Copy, Debug)]
pub struct Who {
    pub id: &'static str,
    pub name: &'static str,
    pub email: &'static str,
}

const fn who(id: &'static str, name: &'static str, email: &'static str) -> Who {
    Who { id, name, email }
}

pub const IMPERSONATOR: Who = who(
    "6a1b2c3d4e5f600071a1b2c3",
    "Robin Alvarez",
    "robin.alvarez@example.com",
);
pub const SECOND_ADMIN: Who = who(
    "6b2c3d4e5f60700072b2c3d4",
    "Kim Osei",
    "kim.osei@example.org",
);
pub const MASS_REMOVER: Who = who(
    "6c3d4e5f6071800073c3d4e5",
    "Devon Marsh",
    "devon.marsh@example.com",
);
pub const NINE_REMOVER: Who = who(
    "6d4e5f607182900074d4e5f6",
    "Ari Lindqvist",
    "ari.lindqvist@example.com",
);
pub const SLOW_REMOVER: Who = who(
    "6e5f60718293a00075e5f607",
    "Noa Peretz",
    "noa.peretz@example.org",
);
pub const BUSY_ADMIN: Who = who(
    "6f60718293a4b00076f60718",
    "Taylor Brooks",
    "taylor.brooks@example.com",
);
/// Atlassian's own system, as real events name it (the real page's `added_org_admin`).
pub const ATLASSIAN_SYSTEM: Who = who(
    "atlassian-internal-system",
    "Atlassian Internal System",
    "Atlassian Internal System",
);
/// The user of the "what one user did" question.
pub const WATCHED_USER: Who = who(
    "712020:5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
    "Quinn Harper",
    "quinn.harper@example.com",
);
/// An integration's service account, acting on behalf of [`WATCHED_USER`] once.
pub const INTEGRATION: Who = who(
    "7071829304a5c00077071829",
    "hr-sync",
    "7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d@connect.atlassian.com",
);
/// An actor whose every string is unicode, for the hostile shapes.
pub const HOSTILE_ACTOR: Who = who(
    "712020:0f1e2d3c-4b5a-4697-8877-665544332211",
    "Zoë Ñandú 李小龍 🚀 \u{202e}",
    "zoë.ñandú@exämple.com",
);
/// Users that actions are about.
const SUBJECTS: [Who; 4] = [
    who(
        "5c1d2e3f4a5b60006c7d8e9f",
        "Jesse Park",
        "jesse.park@example.com",
    ),
    who(
        "5d2e3f4a5b6c70006d8e9fa0",
        "Rowan Diaz",
        "rowan.diaz@example.org",
    ),
    who(
        "5e3f4a5b6c7d80006e9fa0b1",
        "Morgan Ito",
        "morgan.ito@example.com",
    ),
    who(
        "5f4a5b6c7d8e90006fa0b1c2",
        "Casey Novak",
        "casey.novak@example.net",
    ),
];

/// (ip, countryName, regionName, city), from the documentation address ranges.
type Place = (&'static str, &'static str, &'static str, &'static str);
const HOME: Place = ("203.0.113.40", "United States", "Oregon", "Portland");
const GERMANY: Place = ("198.51.100.90", "Germany", "Bavaria", "Munich");
const BRAZIL: Place = ("2001:db8:77::15", "Brazil", "São Paulo", "São Paulo");
const KENYA: Place = ("198.51.100.166", "Kenya", "Nairobi County", "Nairobi");
const NORWAY: Place = ("203.0.113.201", "Norway", "Oslo", "Oslo");

/// One question: the saved query, its parameters, and the rows it must return.
#[derive(Clone, Debug)]
pub struct Question {
    /// The file stem under `sql/queries/`.
    pub query: &'static str,
    /// The query's `?` parameters, in order.
    pub params: Vec<String>,
    /// The rows it must return, projected on these columns, in the query's order when `ordered`.
    pub expected: Vec<BTreeMap<&'static str, Value>>,
    pub ordered: bool,
    /// Event ids seeded as near misses: they are in the log, and in no expected row.
    pub negatives: Vec<String>,
}

/// The events of every question, in time order, and the questions.
#[derive(Clone, Debug)]
pub struct SecurityScenario {
    /// Valid events, ascending `attributes.time`, no `processedAt` (the org stamps it).
    pub events: Vec<Value>,
    /// Events the collector must quarantine (for the quarantine question).
    pub invalid_events: Vec<Value>,
    pub questions: Vec<Question>,
}

struct Builder {
    org_id: String,
    now_ms: i64,
    rng: fastrand::Rng,
    events: Vec<(i64, Value)>,
}

/// Where an event came from and what it was about.
struct Ev<'a> {
    action: &'a str,
    actor: Who,
    place: Option<Place>,
    context: Vec<Value>,
    message: String,
}

impl<'a> Ev<'a> {
    fn new(action: &'a str, actor: Who) -> Self {
        Ev {
            action,
            actor,
            place: Some(HOME),
            context: Vec::new(),
            message: String::new(),
        }
    }
    fn at_place(mut self, place: Option<Place>) -> Self {
        self.place = place;
        self
    }
    fn about(mut self, context: Value) -> Self {
        self.context.push(context);
        self
    }
    fn saying(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
}

fn user_context(org_id: &str, u: Who) -> Value {
    json!({
        "id": u.id,
        "type": "users",
        "attributes": {"name": u.email, "email": u.email, "accountType": "atlassian"},
        "links": {
            "alt": format!("https://admin.atlassian.com/o/{org_id}/users/{}", u.id),
            "self": format!("https://api.atlassian.com/users/{}/manage/profile", u.id)
        }
    })
}

/// The `i`-th of many distinct users (for the removal bursts).
fn numbered_user_context(org_id: &str, i: i64) -> Value {
    let id = format!("5a00000000000000000000{i:02}");
    let email = format!("leaver{i:02}@example.com");
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

/// Polymorphic attributes of every JSON shape, for the hostile events.
fn hostile_attributes() -> Value {
    json!({
        "name": "Équipe «sécurité» 安全 🛡️",
        "nested": {"a": [1, {"b": null}], "c": {"d": "e"}},
        "list": ["x", 2, true],
        "number": 1.5e3,
        "big": 12345678901234567890u64,
        "flag": false,
        "nothing": null,
        "quote\"key": "back\\slash \u{0007}"
    })
}

fn group_context(org_id: &str, name: &str, id: &str) -> Value {
    json!({
        "id": id,
        "type": "groups",
        "attributes": {"name": name, "groupName": name},
        "links": {"alt": format!("https://admin.atlassian.com/o/{org_id}/groups/{id}"), "self": null}
    })
}

fn domain_context(org_id: &str, domain: &str) -> Value {
    json!({
        "id": org_id,
        "type": "orgs",
        "attributes": {"name": "example-sim", "domain": domain},
        "links": {"alt": format!("https://admin.atlassian.com/o/{org_id}"), "self": null}
    })
}

fn policy_context(kind: &str, name: &str, id: &str) -> Value {
    json!({"id": id, "type": kind, "attributes": {"name": name}, "links": {"alt": null, "self": null}})
}

impl Builder {
    fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// Adds an event `ago_ms` before now; returns its id.
    fn push_event(&mut self, ago_ms: i64, ev: Ev<'_>) -> String {
        let hours_ago = ago_ms as f64 / HOUR_MS as f64;
        for edge in WINDOW_EDGES_HOURS {
            assert!(
                (hours_ago - edge as f64).abs() >= 1.0,
                "a scenario event {hours_ago:.2} h ago lies within an hour of a window edge ({edge} h)"
            );
        }
        let id = self.uuid();
        let org_id = self.org_id.clone();
        let time = self.now_ms - ago_ms;
        let mut actor = json!({
            "id": ev.actor.id,
            "name": ev.actor.name,
            "email": ev.actor.email,
            "links": {
                "alt": format!("https://admin.atlassian.com/o/{org_id}/users/{}", ev.actor.id),
                "self": format!("https://api.atlassian.com/users/{}/manage/profile", ev.actor.id)
            }
        });
        if ev.actor.id == INTEGRATION.id {
            actor["auth"] = json!({"authType": "api-token", "tokenId": "c4b3a2f1-0e9d-4c8b-a7f6-e5d4c3b2a190", "tokenLabel": "hr-sync"});
        }
        let mut attributes = json!({
            "time": clock::format_millis(time),
            "action": ev.action,
            "actor": actor,
            "context": ev.context,
            "container": [{
                "id": org_id,
                "type": "orgs",
                "attributes": {"name": "example-sim"},
                "links": {
                    "alt": format!("https://admin.atlassian.com/o/{org_id}"),
                    "self": format!("https://api.atlassian.com/admin/v1/orgs/{org_id}")
                }
            }]
        });
        if let Some((ip, country, region, city)) = ev.place {
            attributes["location"] =
                json!({"ip": ip, "countryName": country, "regionName": region, "city": city});
        }
        self.events.push((
            time,
            json!({
                "id": id,
                "type": "events",
                "attributes": attributes,
                "links": {"self": format!("https://api.atlassian.com/admin/v1/orgs/{org_id}/events/{id}")},
                "message": {"content": ev.message, "format": "simple"}
            }),
        ));
        id
    }

    /// Like [`Builder::push_event`], on behalf of someone.
    fn add_on_behalf_of(&mut self, ago_ms: i64, ev: Ev<'_>, person: Who) -> String {
        let id = self.push_event(ago_ms, ev);
        if let Some((_, last)) = self.events.last_mut() {
            last["attributes"]["actor"]["onBehalfOf"] =
                json!({"id": person.id, "name": person.name, "email": person.email});
        }
        id
    }

    fn day_of(&self, ago_ms: i64) -> String {
        clock::format_millis(self.now_ms - ago_ms)[..10].to_owned()
    }
}

fn ids(list: &[String]) -> Vec<BTreeMap<&'static str, Value>> {
    list.iter()
        .map(|id| BTreeMap::from([("event_id", json!(id))]))
        .collect()
}

fn question(query: &'static str, found: Vec<String>, negatives: Vec<String>) -> Question {
    Question {
        query,
        params: Vec::new(),
        expected: ids(&found),
        ordered: true,
        negatives,
    }
}

/// The scenario for the org `org_id`, with event times relative to `now_ms`. Deterministic for a
/// `seed` and a `now_ms`.
pub fn security_scenario(org_id: &str, seed: u64, now_ms: i64) -> SecurityScenario {
    let mut b = Builder {
        org_id: org_id.to_owned(),
        now_ms,
        rng: fastrand::Rng::with_seed(seed),
        events: Vec::new(),
    };
    let h = HOUR_MS;
    let d = DAY_MS;
    let o = org_id.to_owned();
    let s = SUBJECTS;
    let mut questions = Vec::new();

    // 01: an admin logging in as a user; an ordinary login and an old impersonation are not it.
    let late = b.push_event(
        2 * d,
        Ev::new("user_logged_in_as_user", IMPERSONATOR)
            .about(json!({"type": "users", "attributes": {"accountType": "atlassian", "email": s[0].email, "name": s[0].email, "profile": {"locale": "fr-FR", "groups": ["a", "b"]}, "age": 41, "active": true, "manager": null}}))
            .saying(format!("Logged in as {}", s[0].email)),
    );
    // Its site: attributes of every shape in a container entry too.
    if let Some((_, last)) = b.events.last_mut() {
        let mut site = hostile_attributes();
        site["siteName"] = json!("example-sim");
        if let Some(list) = last["attributes"]["container"].as_array_mut() {
            list.push(
                json!({"id": "0a1b2c3d-sites", "type": "sites", "attributes": site,
                             "links": {"alt": "https://example-sim.atlassian.net"}}),
            );
        }
    }
    let early = b.push_event(
        10 * d,
        Ev::new("user_logged_in_as_user", SECOND_ADMIN)
            .about(user_context(&o, s[1]))
            .saying(format!("Logged in as {}", s[1].email)),
    );
    let n1 = b.push_event(d - 3 * h, Ev::new("user_login", IMPERSONATOR));
    let n2 = b.push_event(
        35 * d,
        Ev::new("user_logged_in_as_user", IMPERSONATOR).about(user_context(&o, s[2])),
    );
    // The impersonated user is read from the polymorphic context attributes (a map).
    let mut q = question(
        "01_admin_logged_in_as_user",
        vec![late, early],
        vec![n1, n2],
    );
    for (row, user) in q.expected.iter_mut().zip([s[0], s[1]]) {
        row.insert("impersonated_email", json!(user.email));
    }
    questions.push(q);

    // 02: second factor switched off or unenforced; switched on, enforced, or long ago are not.
    let p1 = b.push_event(
        3 * d,
        Ev::new("twosv_disabled_for_user", SECOND_ADMIN).about(user_context(&o, s[1])),
    );
    let p2 = b.push_event(6 * d, Ev::new("twosv_unenforced", IMPERSONATOR));
    let n1 = b.push_event(
        2 * d,
        Ev::new("twosv_enabled_for_user", SECOND_ADMIN).about(user_context(&o, s[1])),
    );
    let n2 = b.push_event(4 * d, Ev::new("twosv_enforced", IMPERSONATOR));
    let n3 = b.push_event(
        33 * d,
        Ev::new("twosv_disabled_for_user", SECOND_ADMIN).about(user_context(&o, s[2])),
    );
    questions.push(question(
        "02_two_step_verification_weakened",
        vec![p1, p2],
        vec![n1, n2, n3],
    ));

    // 03: admin rights granted; revoked admin rights or product access are not.
    let p1 = b.push_event(
        d + 2 * h,
        Ev::new("added_org_admin", SECOND_ADMIN).about(user_context(&o, s[3])),
    );
    let p2 = b.push_event(
        5 * d,
        Ev::new("group_granted_admin_access", IMPERSONATOR).about(group_context(
            &o,
            "site-admins",
            "5a7c9e1a-3b4c-4d6e-bf8a-0b2c4d6e8f0a",
        )),
    );
    let n1 = b.push_event(
        2 * d,
        Ev::new("removed_org_admin", SECOND_ADMIN).about(user_context(&o, s[2])),
    );
    let n2 = b.push_event(
        3 * d + 4 * h,
        Ev::new("group_revoked_admin_access", IMPERSONATOR).about(group_context(
            &o,
            "site-admins",
            "5a7c9e1a-3b4c-4d6e-bf8a-0b2c4d6e8f0a",
        )),
    );
    let n3 = b.push_event(
        4 * d,
        Ev::new("user_granted_product_access", SECOND_ADMIN).about(user_context(&o, s[0])),
    );
    // A user added to an admin group (the rule admin_group_member_added); to another group, not.
    let p3 = b.push_event(
        6 * d,
        Ev::new("user_added_to_group", SECOND_ADMIN).about(group_context(
            &o,
            "jira-administrators",
            "3e5a7c9e-1f2a-4b4c-9d6e-8f0a2b4c6d8e",
        )),
    );
    let n4 = b.push_event(
        6 * d + h,
        Ev::new("user_added_to_group", SECOND_ADMIN).about(group_context(
            &o,
            "jira-administrators-system",
            "be9ba0ab-ecdc-445b-9ce6-b95202026c1a",
        )),
    );
    questions.push(question(
        "03_new_org_admins",
        vec![p1, p2, p3],
        vec![n1, n2, n3, n4],
    ));

    // 04: tokens created and revoked; a login through a token, or a token created long ago, are not.
    let p1 = b.push_event(
        d + 5 * h,
        Ev::new("api_token_revoked", IMPERSONATOR).saying("Revoked admin API key"),
    );
    let p2 = b.push_event(
        2 * d + 3 * h,
        Ev::new("api_token_created", IMPERSONATOR).saying("Created admin API key"),
    );
    let n1 = b.push_event(2 * d + 6 * h, Ev::new("user_login", INTEGRATION));
    let n2 = b.push_event(40 * d, Ev::new("api_token_created", SECOND_ADMIN));
    questions.push(question("04_api_tokens", vec![p1, p2], vec![n1, n2]));

    // 05: sign-in policy changes; a data-residency policy or a user's own password change are not.
    let p1 = b.push_event(
        7 * h,
        Ev::new("set_session_policy", SECOND_ADMIN)
            .saying("Set the idle session duration to 30 days"),
    );
    let p2 = b.push_event(
        d + 6 * h,
        Ev::new("auth_policy_updated", IMPERSONATOR).about(policy_context(
            "auth-policy",
            "default",
            "557d409a-0d24-4109-8cbd-3996bf152ca0",
        )),
    );
    let p3 = b.push_event(
        8 * d,
        Ev::new("saml_config_updated", SECOND_ADMIN).saying("Updated SAML configuration"),
    );
    let p4 = b.push_event(12 * d, Ev::new("password_policy_changed", IMPERSONATOR));
    let n1 = b.push_event(
        3 * d,
        Ev::new("policy_created", IMPERSONATOR).about(policy_context(
            "org-policy",
            "global-realm-policy",
            "eaffa6f0-eb42-4b09-b2fb-0c7932187783",
        )),
    );
    let n2 = b.push_event(4 * d + 2 * h, Ev::new("password_change", s[0]));
    questions.push(question(
        "05_authentication_policy_changes",
        vec![p1, p2, p3, p4],
        vec![n1, n2],
    ));

    // 06: domains, and a domain approved for self sign-up (the rule self_signup_domain_added); a
    // site renamed is not.
    let p1 = b.push_event(
        2 * d + 8 * h,
        Ev::new("domain_removed", SECOND_ADMIN).about(domain_context(&o, "old.example.net")),
    );
    let p2 = b.push_event(
        9 * d,
        Ev::new("domain_verification_completed", IMPERSONATOR)
            .about(domain_context(&o, "example.com")),
    );
    let p3 = b.push_event(
        9 * d + 3 * h,
        Ev::new("domain_claimed", IMPERSONATOR).about(domain_context(&o, "example.com")),
    );
    let n1 = b.push_event(5 * d, Ev::new("site_rename_event", SECOND_ADMIN));
    let p4 = b.push_event(
        6 * d + 2 * h,
        Ev::new("user_access_settings_domain_added", SECOND_ADMIN)
            .about(domain_context(&o, "partner.example.org")),
    );
    questions.push(question(
        "06_domain_changes",
        vec![p1, p4, p2, p3],
        vec![n1],
    ));

    // 07: exports; a migration, or an export long ago, are not.
    let p1 = b.push_event(
        h + 30 * MINUTE_MS,
        Ev::new("export_managed_account", SECOND_ADMIN),
    );
    let p2 = b.push_event(
        11 * d,
        Ev::new("export_audit_log", IMPERSONATOR).saying("Exported the audit log"),
    );
    let n1 = b.push_event(3 * d + 7 * h, Ev::new("migration_scheduled", IMPERSONATOR));
    let n2 = b.push_event(34 * d, Ev::new("export_audit_log", SECOND_ADMIN));
    questions.push(question("07_exports", vec![p1, p2], vec![n1, n2]));

    // 08: 12 removals within 44 minutes, across a clock hour; 9 within 24 minutes, 12 spread over 6
    // hours, 12 additions, and 12 removals 9 days ago are not.
    let start = {
        let t = now_ms - 2 * d;
        let hour = t - t.rem_euclid(h);
        now_ms - (hour - 20 * MINUTE_MS) // 20 minutes before a clock hour
    };
    for i in 0..12 {
        let action = if i % 2 == 0 {
            "user_removed_from_site"
        } else {
            "managed_account_deactivated"
        };
        b.push_event(
            start - i * 4 * MINUTE_MS,
            Ev::new(action, MASS_REMOVER).about(numbered_user_context(&o, i)),
        );
    }
    let mut negatives = Vec::new();
    // 9 distinct users within 24 minutes: one short.
    for i in 0..9 {
        negatives.push(b.push_event(
            3 * d - i * 3 * MINUTE_MS,
            Ev::new("user_removed_from_site", NINE_REMOVER).about(numbered_user_context(&o, i)),
        ));
    }
    // 12 removals within 44 minutes, of one user (a script retrying): not 10 users.
    for i in 0..12 {
        negatives.push(b.push_event(
            3 * d + 10 * h - i * 4 * MINUTE_MS,
            Ev::new("user_removed_from_site", IMPERSONATOR).about(user_context(&o, s[0])),
        ));
    }
    // 12 users within 44 minutes, removed from groups or products: not the rule's actions.
    for i in 0..12 {
        let action = if i % 2 == 0 {
            "user_removed_from_group"
        } else {
            "user_revoked_product_access"
        };
        negatives.push(b.push_event(
            6 * d - i * 4 * MINUTE_MS,
            Ev::new(action, SECOND_ADMIN).about(numbered_user_context(&o, i)),
        ));
    }
    for i in 0..12 {
        negatives.push(b.push_event(
            4 * d - i * 30 * MINUTE_MS,
            Ev::new("user_removed_from_org", SLOW_REMOVER).about(user_context(&o, s[1])),
        ));
    }
    for i in 0..12 {
        negatives.push(b.push_event(
            5 * d - i * MINUTE_MS,
            Ev::new("user_added_to_group", SECOND_ADMIN).about(user_context(&o, s[2])),
        ));
    }
    // 12 users deactivated within 44 minutes by Atlassian's own system (deprovisioning): left
    // out, as the rule leaves out its system actors.
    for i in 0..12 {
        negatives.push(
            b.push_event(
                2 * d + 5 * h - i * 4 * MINUTE_MS,
                Ev::new("managed_account_deactivated", ATLASSIAN_SYSTEM)
                    .about(numbered_user_context(&o, i)),
            ),
        );
    }
    for i in 0..12 {
        negatives.push(b.push_event(
            9 * d - i * MINUTE_MS,
            Ev::new("user_removed_from_site", SLOW_REMOVER).about(user_context(&o, s[3])),
        ));
    }
    questions.push(Question {
        query: "08_mass_removals",
        params: Vec::new(),
        expected: vec![BTreeMap::from([
            ("actor_id", json!(MASS_REMOVER.id)),
            ("most_removed_in_one_hour", json!(12)),
            ("users_removed_in_7_days", json!(12)),
            ("removals_in_7_days", json!(12)),
        ])],
        ordered: true,
        negatives,
    });

    // 09: logins of the last day from Brazil (last seen 40 days ago) and Kenya (never); Germany
    // (seen 10 days ago), Norway (3 days ago, not the last day), a Kenyan non-login, a login
    // without a location and logins from home are not.
    b.push_event(5 * d, Ev::new("group_created", IMPERSONATOR)); // home is seen before
    b.push_event(40 * d, Ev::new("user_login", s[2]).at_place(Some(BRAZIL)));
    b.push_event(10 * d, Ev::new("user_login", s[3]).at_place(Some(GERMANY)));
    let brazil = b.push_event(3 * h, Ev::new("user_login", s[2]).at_place(Some(BRAZIL)));
    let kenya = b.push_event(5 * h, Ev::new("user_login", s[1]).at_place(Some(KENYA)));
    let n1 = b.push_event(4 * h, Ev::new("user_login", s[3]).at_place(Some(GERMANY)));
    let n2 = b.push_event(3 * d, Ev::new("user_login", s[0]).at_place(Some(NORWAY)));
    let n3 = b.push_event(6 * h, Ev::new("group_created", s[1]).at_place(Some(KENYA)));
    let n4 = b.push_event(8 * h, Ev::new("user_login", s[0]).at_place(None));
    let n5 = b.push_event(9 * h, Ev::new("user_login", SECOND_ADMIN));
    // A login whose only container is its site (as in the real Panther event): no org_id, from a
    // country seen before.
    let n6 = b.push_event(10 * h, Ev::new("user_login", s[3]).at_place(Some(GERMANY)));
    if let Some((_, last)) = b.events.last_mut() {
        last["attributes"]["container"] = json!([{
            "id": "12345678-abcd-4012-8fgh-1234567890ab",
            "type": "sites",
            "attributes": {"siteHostName": "https://example-sim.atlassian.net", "siteName": "example-sim"},
            "links": {"alt": "https://example-sim.atlassian.net"}
        }]);
    }
    let mut q = question(
        "09_logins_from_new_countries",
        vec![brazil, kenya],
        vec![n1, n2, n3, n4, n5, n6],
    );
    for (row, place) in q.expected.iter_mut().zip([BRAZIL, KENYA]) {
        row.insert("country", json!(place.1));
    }
    questions.push(q);

    // 10: a busy day for one admin (30 events; 10 more the day before do not count).
    for i in 0..30 {
        b.push_event(
            2 * h + i * 20 * MINUTE_MS,
            Ev::new("user_added_to_group", BUSY_ADMIN)
                .about(group_context(
                    &o,
                    "jira-users",
                    "8cfb8956-6559-441e-94e9-f08955a61696",
                ))
                .saying(format!("Added {} to jira-users group", s[0].email)),
        );
    }
    let mut day_before = Vec::new();
    for i in 0..10 {
        day_before.push(b.push_event(
            26 * h + i * 10 * MINUTE_MS,
            Ev::new("group_created", BUSY_ADMIN),
        ));
    }
    // Its answer is every actor of the last day: counted below, once every event is in.

    // 11: what the watched user did between 5 days ago and yesterday (UTC days): their own actions
    // and an integration's on their behalf; today, 12 days ago, and actions about them are not.
    let u = WATCHED_USER;
    let p1 = b.push_event(
        4 * d + 3 * h,
        Ev::new("group_created", u).saying("Created hr-team group"),
    );
    let p2 = b.push_event(2 * d + 2 * h, Ev::new("user_login", u));
    let p3 = b.add_on_behalf_of(
        2 * d + h,
        Ev::new("user_added_to_group", INTEGRATION).about(user_context(&o, s[3])),
        u,
    );
    // Today's: halfway into the UTC day so far (two hours ago is yesterday just after midnight).
    let n1 = b.push_event((b.now_ms % d).min(4 * h) / 2, Ev::new("user_login", u));
    let n2 = b.push_event(12 * d, Ev::new("group_deleted", u));
    let n3 = b.push_event(
        3 * d,
        Ev::new("twosv_enabled_for_user", SECOND_ADMIN).about(user_context(&o, u)),
    );
    let first_day = b.day_of(5 * d);
    let last_day = b.day_of(d);
    let mut activity = Question {
        query: "11_user_activity",
        params: vec![u.email.to_owned(), first_day, last_day],
        expected: ids(&[p1, p2, p3]),
        ordered: true,
        negatives: vec![n1, n2, n3],
    };

    // Hostile shapes, read by every query that scans them (10 counts them): a unicode actor;
    // attributes of every JSON shape in context and container entries; `time` with 0 to 9
    // fractional digits; the last millisecond of a day and the first of the next (the edges of
    // the day and hour partitions), and of the month when that lies in the window.
    let hostile = |b: &mut Builder, ago: i64, fraction_digits: Option<usize>| {
        let id = b.push_event(
            ago,
            Ev::new("group_created", HOSTILE_ACTOR)
                .about(json!({"id": "hostile-group", "type": "groups", "attributes": hostile_attributes(),
                              "links": {"alt": null, "self": null}}))
                .saying("Créé «équipe» 👩‍💻 \\ \" \n\t"),
        );
        if let Some((_, last)) = b.events.last_mut() {
            if let Some(list) = last["attributes"]["container"].as_array_mut() {
                list.push(
                    json!({"id": "site-1", "type": "sites", "attributes": hostile_attributes(),
                                 "links": {"alt": "https://hostile.atlassian.net", "self": null}}),
                );
            }
            if let Some(n) = fraction_digits {
                let time = last["attributes"]["time"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let fraction = if n == 0 {
                    String::new()
                } else {
                    format!(".{}", &"123456789"[..n])
                };
                last["attributes"]["time"] = json!(format!("{}{fraction}Z", &time[..19]));
            }
        }
        id
    };
    let mut hostile_ids = Vec::new();
    // Every precision, at whole seconds plus the fraction's milliseconds (time order kept).
    for n in 0..=9usize {
        let ms = match n {
            0 => 0,
            1 => 100,
            2 => 120,
            _ => 123,
        };
        let base = (now_ms - 20 * h - n as i64 * MINUTE_MS).div_euclid(1000) * 1000;
        hostile_ids.push(hostile(&mut b, now_ms - (base + ms), Some(n)));
    }
    let far_from_edges = |ago: i64| {
        WINDOW_EDGES_HOURS
            .iter()
            .all(|e| (ago as f64 / h as f64 - *e as f64).abs() >= 1.0)
            && ago > 0
    };
    let midnight = (now_ms - 2 * d).div_euclid(d) * d;
    let month_start = {
        let today = clock::format_millis(now_ms);
        clock::parse_rfc3339_ms(&format!("{}-01T00:00:00Z", &today[..7])).unwrap_or(midnight)
    };
    for edge in [midnight, month_start] {
        for t in [edge - 1, edge] {
            if far_from_edges(now_ms - t) {
                hostile_ids.push(hostile(&mut b, now_ms - t, None));
            }
        }
    }

    // 12: quarantined events: one without links, one with an unreadable time.
    let mut invalid = Vec::new();
    let no_links = b.push_event(
        3 * h + 30 * MINUTE_MS,
        Ev::new("user_login", s[0]).at_place(None),
    );
    let bad_time = b.push_event(
        4 * h + 30 * MINUTE_MS,
        Ev::new("group_created", s[1]).at_place(None),
    );
    for (time, mut e) in std::mem::take(&mut b.events) {
        let id = e["id"].as_str().unwrap_or_default().to_owned();
        if id == no_links {
            if let Some(obj) = e.as_object_mut() {
                obj.remove("links");
            }
            invalid.push(e);
        } else if id == bad_time {
            e["attributes"]["time"] = json!("yesterday at noon");
            invalid.push(e);
        } else {
            b.events.push((time, e));
        }
    }
    let mut quarantined = vec![no_links, bad_time];
    quarantined.sort();

    b.events.sort_by_key(|(t, _)| *t);
    questions.push(busiest_actors(&b.events, now_ms, day_before));
    // The watched user's question sorts by time, then id.
    activity.expected.sort_by_key(|row| {
        let id = row["event_id"].as_str().unwrap_or_default();
        b.events
            .iter()
            .find(|(_, e)| e["id"] == id)
            .map(|(t, _)| *t)
    });
    questions.push(activity);
    questions.push(Question {
        query: "12_quarantined_events",
        params: Vec::new(),
        expected: ids(&quarantined),
        ordered: false,
        // Odd but valid: kept in logs/, not quarantined.
        negatives: hostile_ids,
    });
    questions.sort_by_key(|q| q.query);

    SecurityScenario {
        events: b.events.into_iter().map(|(_, e)| e).collect(),
        invalid_events: invalid,
        questions,
    }
}

/// The top 20 actors of the last 24 hours by number of events (ties by actor id), counted from
/// the events.
fn busiest_actors(events: &[(i64, Value)], now_ms: i64, negatives: Vec<String>) -> Question {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for (t, e) in events {
        if *t >= now_ms - DAY_MS {
            let actor = e["attributes"]["actor"]["id"].as_str().unwrap_or_default();
            *counts.entry(actor.to_owned()).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, i64)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(20);
    Question {
        query: "10_busiest_actors",
        params: Vec::new(),
        expected: ranked
            .into_iter()
            .map(|(actor, n)| BTreeMap::from([("actor_id", json!(actor)), ("events", json!(n))]))
            .collect(),
        ordered: true,
        negatives,
    }
}

#[cfg(test)]
mod tests {
    use super::super::is_valid_event;
    use super::*;

    const NOW: i64 = 1_767_225_600_000 + 13 * HOUR_MS + 17 * MINUTE_MS; // 2026-01-01T13:17Z

    #[test]
    fn every_question_has_positive_rows_and_seeded_negatives_and_nothing_is_invalid_by_accident() {
        let sc = security_scenario("org-q", 7, NOW);
        assert_eq!(sc.questions.len(), 12, "one question per saved query");
        let ids: std::collections::HashSet<&str> =
            sc.events.iter().filter_map(|e| e["id"].as_str()).collect();
        assert_eq!(ids.len(), sc.events.len(), "ids are unique");
        for e in &sc.events {
            assert!(is_valid_event(e), "{e}");
        }
        for e in &sc.invalid_events {
            assert!(!is_valid_event(e), "{e}");
        }
        for q in &sc.questions {
            assert!(!q.expected.is_empty(), "{}: no positive case", q.query);
            for n in &q.negatives {
                assert!(
                    ids.contains(n.as_str()),
                    "{}: negative {n} is not an event",
                    q.query
                );
            }
            assert!(!q.negatives.is_empty(), "{}: no negative case", q.query);
        }
        let times: Vec<i64> = sc
            .events
            .iter()
            .map(|e| clock::parse_rfc3339_ms(e["attributes"]["time"].as_str().unwrap()).unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
        assert!(times.iter().all(|t| *t <= NOW && *t >= NOW - 41 * DAY_MS));
    }

    #[test]
    fn deterministic_and_relative_to_now() {
        let a = security_scenario("org-q", 7, NOW);
        let b = security_scenario("org-q", 7, NOW);
        assert_eq!(a.events, b.events);
        let later = security_scenario("org-q", 7, NOW + DAY_MS);
        let t = |sc: &SecurityScenario| {
            clock::parse_rfc3339_ms(sc.events[0]["attributes"]["time"].as_str().unwrap()).unwrap()
        };
        assert_eq!(t(&later) - t(&a), DAY_MS);
    }

    #[test]
    fn the_busiest_actor_counts_only_the_last_day() {
        let sc = security_scenario("org-q", 7, NOW);
        let q = sc
            .questions
            .iter()
            .find(|q| q.query == "10_busiest_actors")
            .unwrap();
        assert_eq!(q.expected[0]["actor_id"], BUSY_ADMIN.id);
        assert_eq!(q.expected[0]["events"], 30);
        assert_eq!(q.negatives.len(), 10);
    }
}
