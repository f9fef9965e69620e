//! The OCSF objects an audit event's parts become: users, groups, the managed entity, the source
//! endpoint, the cloud (the Atlassian organization) and the metadata.
use crate::ocsf::class::OCSF_VERSION;
use serde_json::{json, Map, Value};

pub const VENDOR: &str = "Atlassian";
pub const PRODUCT: &str = "Atlassian Organization Audit Log";

/// An object with only the fields that have a value: OCSF leaves absent what it does not know.
pub fn object(fields: &[(&str, Option<Value>)]) -> Option<Value> {
    let map: Map<String, Value> = fields
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
        .collect();
    (!map.is_empty()).then_some(Value::Object(map))
}

pub fn text(value: &Value) -> Option<Value> {
    value
        .as_str()
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.to_string()))
}

/// `email_addr` only for what OCSF's `email_t` accepts: the system actor's "email" is its
/// name, and an internationalized address (`zoë@exämple.com`) is not one (it stays in
/// `raw_data`, and in the user's name where that is all there is).
fn email(value: &Value) -> Option<Value> {
    text(value).filter(|v| v.as_str().is_some_and(is_ocsf_email))
}

/// OCSF 1.3's `email_t`: `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`.
fn is_ocsf_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+,-./=?^_`{|}~".contains(c);
    let Some((first, rest)) = domain.split_once('.') else {
        return false;
    };
    !local.is_empty()
        && local.chars().all(local_ok)
        && !first.is_empty()
        && first.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The acting user: `attributes.actor`.
pub fn actor_user(actor: &Value) -> Option<Value> {
    object(&[
        ("uid", text(&actor["id"])),
        ("name", text(&actor["name"])),
        ("email_addr", email(&actor["email"])),
    ])
}

/// The users an event is about: its `context` entries of type `users`.
pub fn context_users(context: &Value) -> Vec<Value> {
    entries_of(context, "users")
        .filter_map(|e| {
            let a = &e["attributes"];
            object(&[
                ("uid", text(&e["id"])),
                ("name", text(&a["name"]).or_else(|| text(&a["email"]))),
                ("email_addr", email(&a["email"])),
            ])
        })
        .collect()
}

/// The groups an event is about: its `context` entries of type `groups`.
pub fn context_groups(context: &Value) -> Vec<Value> {
    entries_of(context, "groups")
        .filter_map(|e| {
            let a = &e["attributes"];
            object(&[
                ("uid", text(&e["id"])),
                ("name", text(&a["groupName"]).or_else(|| text(&a["name"]))),
            ])
        })
        .collect()
}

fn entries_of<'a>(list: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(move |e| e["type"].as_str() == Some(kind))
}

/// The entity an Entity Management event changed: its first context entry (a policy, a
/// domain, a site…), else the organization it happened in.
pub fn managed_entity(context: &Value, container: &Value) -> Option<Value> {
    let entry = context
        .as_array()
        .and_then(|c| c.first())
        .or_else(|| container.as_array().and_then(|c| c.first()))?;
    let a = &entry["attributes"];
    let name = ["name", "domain", "siteName", "groupName", "email"]
        .iter()
        .find_map(|k| text(&a[*k]));
    object(&[
        ("uid", text(&entry["id"])),
        ("name", name),
        ("type", text(&entry["type"])),
    ])
}

/// The site or product an access change is about: the first context entry of type `sites`
/// (`resource` of User Access Management).
pub fn resource(context: &Value) -> Option<Value> {
    let site = entries_of(context, "sites").next()?;
    let a = &site["attributes"];
    object(&[
        ("uid", text(&site["id"])),
        (
            "name",
            text(&a["siteName"]).or_else(|| text(&a["siteHostName"])),
        ),
        ("type", Some(json!("site"))),
    ])
}

/// Where the actor was: `attributes.location`. OCSF's `country` is an ISO code, and the log
/// gives a country's name, so the name goes to `desc`.
pub fn src_endpoint(location: &Value) -> Option<Value> {
    let geo = object(&[
        ("city", text(&location["city"])),
        ("region", text(&location["regionName"])),
        ("desc", text(&location["countryName"])),
    ]);
    object(&[("ip", text(&location["ip"])), ("location", geo)])
}

/// The organization (the event's `orgs` container) as the cloud tenant: OCSF's `cloud` is the
/// provider and account an event happened in.
pub fn cloud(container: &Value) -> Value {
    let org = entries_of(container, "orgs").next();
    let uid = org.and_then(|o| text(&o["id"]));
    let name = org.and_then(|o| text(&o["attributes"]["name"]));
    // An account is named or has an id (OCSF's at-least-one), or is left out.
    let account = object(&[("uid", uid.clone()), ("name", name.clone())]).map(|mut a| {
        a["type"] = json!("Atlassian Organization");
        a
    });
    let org = object(&[("uid", uid), ("name", name)]);
    object(&[
        ("provider", Some(json!(VENDOR))),
        ("account", account),
        ("org", org),
    ])
    .unwrap_or_else(|| json!({"provider": VENDOR}))
}

/// The event's metadata: the product, its id, its times, its tenant and source.
pub struct MetadataParts<'a> {
    pub event_id: &'a str,
    pub action: &'a str,
    pub original_time: Option<Value>,
    pub processed_ms: Option<i64>,
    pub tenant_uid: Option<Value>,
    pub source_id: Option<Value>,
    pub source_label: Option<Value>,
}

pub fn metadata(parts: MetadataParts) -> Value {
    let labels: Vec<Value> = [
        ("source_id", &parts.source_id),
        ("source_label", &parts.source_label),
    ]
    .iter()
    .filter_map(|(k, v)| {
        v.as_ref()
            .and_then(Value::as_str)
            .map(|v| json!(format!("{k}={v}")))
    })
    .collect();
    let product = json!({"name": PRODUCT, "vendor_name": VENDOR});
    object(&[
        ("version", Some(json!(OCSF_VERSION))),
        ("product", Some(product)),
        ("uid", Some(json!(parts.event_id))),
        ("event_code", Some(json!(parts.action))),
        ("original_time", parts.original_time),
        ("logged_time", parts.processed_ms.map(|t| json!(t))),
        ("tenant_uid", parts.tenant_uid),
        ("log_name", Some(json!(crate::sink::TABLE))),
        (
            "log_provider",
            Some(json!("Atlassian Admin API events stream")),
        ),
        // `cloud`: the organization as the tenant; `host`: brings `actor` to every IAM class.
        ("profiles", Some(json!(["cloud", "host"]))),
        ("labels", (!labels.is_empty()).then(|| Value::Array(labels))),
    ])
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_actor_has_no_email() {
        let system = json!({"id": "atlassian-internal-system", "name": "Atlassian Internal System", "email": "Atlassian Internal System"});
        assert_eq!(
            actor_user(&system),
            Some(json!({"uid": "atlassian-internal-system", "name": "Atlassian Internal System"}))
        );
        let person = json!({"id": "u1", "name": "Avery", "email": "avery@example.com"});
        assert_eq!(
            actor_user(&person).unwrap()["email_addr"],
            "avery@example.com"
        );
        assert_eq!(actor_user(&json!({})), None);
    }

    #[test]
    fn only_what_ocsf_calls_an_email_is_one() {
        for ok in [
            "a@example.com",
            "first.last+tag@sub.example.org",
            "x@a-b.co",
        ] {
            assert!(is_ocsf_email(ok), "{ok}");
        }
        for not in [
            "zoë.ñandú@exämple.com",
            "Atlassian Internal System",
            "a@localhost",
            "@x.com",
            "a@.com",
            "a b@x.com",
        ] {
            assert!(!is_ocsf_email(not), "{not}");
        }
    }

    #[test]
    fn context_entries_become_users_groups_and_entities() {
        let context = json!([
            {"id": "g1", "type": "groups", "attributes": {"groupName": "admins"}},
            {"id": "u1", "type": "users", "attributes": {"email": "a@example.com"}},
        ]);
        assert_eq!(
            context_groups(&context),
            vec![json!({"uid": "g1", "name": "admins"})]
        );
        assert_eq!(
            context_users(&context),
            vec![json!({"uid": "u1", "name": "a@example.com", "email_addr": "a@example.com"})]
        );
        assert_eq!(
            managed_entity(&context, &json!([])),
            Some(json!({"uid": "g1", "name": "admins", "type": "groups"}))
        );
        let orgs = json!([{"id": "o1", "type": "orgs", "attributes": {"name": "acme"}}]);
        assert_eq!(
            managed_entity(&json!([]), &orgs),
            Some(json!({"uid": "o1", "name": "acme", "type": "orgs"}))
        );
        assert_eq!(managed_entity(&json!([]), &json!([])), None);
    }

    #[test]
    fn location_names_stay_out_of_iso_fields() {
        let loc = json!({"ip": "201.202.14.26", "countryName": "Costa Rica", "regionName": "Cartago", "city": "Cartago"});
        assert_eq!(
            src_endpoint(&loc),
            Some(
                json!({"ip": "201.202.14.26", "location": {"city": "Cartago", "region": "Cartago", "desc": "Costa Rica"}})
            )
        );
        assert_eq!(src_endpoint(&Value::Null), None);
    }

    #[test]
    fn the_org_is_the_cloud_account() {
        let orgs = json!([{"id": "o1", "type": "orgs", "attributes": {"name": "acme"}}]);
        assert_eq!(
            cloud(&orgs),
            json!({"provider": "Atlassian", "account": {"uid": "o1", "name": "acme", "type": "Atlassian Organization"}, "org": {"uid": "o1", "name": "acme"}})
        );
        assert_eq!(cloud(&Value::Null), json!({"provider": "Atlassian"}));
    }
}
