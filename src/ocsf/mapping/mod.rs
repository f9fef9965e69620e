//! One archived line (an `Atlassian.Audit` event as `logs/` holds it) to one OCSF 1.3 record of
//! its class. Pure: the same line always maps to the same record. A line that cannot be mapped
//! says why ([`MappingError`]), and the derivation quarantines it.
mod catalogue;
mod objects;

pub use catalogue::{action_mapping, ActionMapping, CATALOGUE, UNKNOWN_ACTION};

use crate::ocsf::class::{OcsfClass, CATEGORY_NAME, CATEGORY_UID};
use chrono::{DateTime, NaiveDateTime};
use objects::{text, MetadataParts};
use serde_json::{json, Map, Value};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MappingError {
    #[error("the line is not a JSON object: {0}")]
    NotJson(String),
    #[error("the event has no id")]
    NoId,
    #[error("the event has no readable time (attributes.time or p_event_time)")]
    NoTime,
    #[error(
        "{class} needs the user it is about, and the event names none (no actor, no context user)"
    )]
    NoUser { class: &'static str },
    #[error("Group Management needs a group, and the event's context has none")]
    NoGroup,
    #[error(
        "Entity Management needs the entity changed, and the event has no context or container"
    )]
    NoEntity,
}

/// A mapped event: its class, its time (ms since the epoch, UTC) and the OCSF record.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub class: OcsfClass,
    pub time_ms: i64,
    pub record: Value,
}

/// Maps one line of an archive object.
pub fn map_line(line: &str) -> Result<Mapped, MappingError> {
    let event: Value =
        serde_json::from_str(line).map_err(|e| MappingError::NotJson(e.to_string()))?;
    if !event.is_object() {
        return Err(MappingError::NotJson("not an object".into()));
    }
    map_event(&event)
}

/// Maps one event (a line of `logs/`, parsed).
pub fn map_event(event: &Value) -> Result<Mapped, MappingError> {
    let id = event["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or(MappingError::NoId)?;
    let time_ms = event_time_ms(event).ok_or(MappingError::NoTime)?;
    let attributes = &event["attributes"];
    let action = attributes["action"].as_str().unwrap_or_default();
    let (how, specific) = match class_fields(&action_mapping(action), attributes) {
        Ok(fields) => (action_mapping(action), fields),
        // The class's subject is not named (a group change with no group): the event stays in
        // the OCSF copy as what it can be, an Entity Management "Other" of what it names.
        Err(MappingError::NoUser { .. } | MappingError::NoGroup) => {
            let fallback = ActionMapping {
                class: OcsfClass::EntityManagement,
                activity_id: 99,
                privilege: None,
                ..action_mapping(action)
            };
            (fallback, class_fields(&fallback, attributes)?)
        }
        Err(e) => return Err(e),
    };
    let mut record = common_fields(event, id, action, time_ms, &how);
    if let (Value::Object(record), Value::Object(specific)) = (&mut record, specific) {
        record.extend(specific);
    }
    Ok(Mapped {
        class: how.class,
        time_ms,
        record,
    })
}

/// `attributes.time` (RFC 3339, 0 to 9 fractional digits), else the normalizer's
/// `p_event_time` (`YYYY-MM-DD HH:MM:SS.fffffffff`, UTC).
fn event_time_ms(event: &Value) -> Option<i64> {
    let rfc3339 = event["attributes"]["time"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis());
    rfc3339.or_else(|| {
        event["p_event_time"]
            .as_str()
            .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").ok())
            .map(|t| t.and_utc().timestamp_millis())
    })
}

fn processed_ms(attributes: &Value) -> Option<i64> {
    attributes["processedAt"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
}

/// The event as the API sent it: the line without the normalizer's `p_*` fields.
fn raw_data(event: &Value) -> String {
    let original: Map<String, Value> = event
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with("p_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(original).to_string()
}

fn common_fields(
    event: &Value,
    id: &str,
    action: &str,
    time_ms: i64,
    how: &ActionMapping,
) -> Value {
    let a = &event["attributes"];
    let class = how.class;
    let (status_id, status) = if how.failed {
        (2, "Failure")
    } else {
        (1, "Success")
    };
    let severity = if how.severity_id == catalogue::MEDIUM {
        "Medium"
    } else {
        "Informational"
    };
    let activity_name = class.activity_name(how.activity_id);
    let metadata = objects::metadata(MetadataParts {
        event_id: id,
        action,
        original_time: text(&a["time"]),
        processed_ms: processed_ms(a),
        tenant_uid: objects::cloud(&a["container"])["account"]["uid"]
            .as_str()
            .map(|s| json!(s)),
        source_id: text(&event["p_source_id"]),
        source_label: text(&event["p_source_label"]),
    });
    let message = event["message"]["content"]
        .as_str()
        .filter(|m| !m.is_empty());
    objects::object(&[
        ("activity_id", Some(json!(how.activity_id))),
        ("activity_name", Some(json!(activity_name))),
        ("category_uid", Some(json!(CATEGORY_UID))),
        ("category_name", Some(json!(CATEGORY_NAME))),
        ("class_uid", Some(json!(class.uid()))),
        ("class_name", Some(json!(class.name()))),
        (
            "type_uid",
            Some(json!(
                i64::from(class.uid()) * 100 + i64::from(how.activity_id)
            )),
        ),
        (
            "type_name",
            Some(json!(format!("{}: {activity_name}", class.name()))),
        ),
        ("severity_id", Some(json!(how.severity_id))),
        ("severity", Some(json!(severity))),
        ("status_id", Some(json!(status_id))),
        ("status", Some(json!(status))),
        ("time", Some(json!(time_ms))),
        ("message", message.map(|m| json!(m))),
        ("metadata", Some(metadata)),
        ("cloud", Some(objects::cloud(&a["container"]))),
        (
            "actor",
            objects::actor_user(&a["actor"]).map(|u| json!({"user": u})),
        ),
        ("src_endpoint", objects::src_endpoint(&a["location"])),
        ("raw_data", Some(json!(raw_data(event)))),
    ])
    .unwrap_or_default()
}

/// The fields only the event's class has: who or what it is about.
fn class_fields(how: &ActionMapping, attributes: &Value) -> Result<Value, MappingError> {
    let context = &attributes["context"];
    let first_user = objects::context_users(context).into_iter().next();
    let actor = objects::actor_user(&attributes["actor"]);
    let privileges = how.privilege.map(|p| json!([p]));
    let no_user = MappingError::NoUser {
        class: how.class.name(),
    };
    let fields = match how.class {
        // Who logged on: the actor, or the user an admin logged in as; into Atlassian's
        // cloud (OCSF asks for the service or the destination).
        OcsfClass::Authentication => {
            let user = first_user.or(actor).ok_or(no_user)?;
            objects::object(&[
                ("user", Some(user)),
                ("service", Some(json!({"name": objects::VENDOR}))),
            ])
        }
        OcsfClass::AccountChange => {
            let user = first_user.or(actor).ok_or(no_user)?;
            objects::object(&[("user", Some(user))])
        }
        OcsfClass::UserAccessManagement => {
            let user = first_user.ok_or(no_user)?;
            objects::object(&[
                ("user", Some(user)),
                ("privileges", privileges),
                ("resource", objects::resource(context)),
            ])
        }
        OcsfClass::GroupManagement => {
            let group = objects::context_groups(context)
                .into_iter()
                .next()
                .ok_or(MappingError::NoGroup)?;
            // OCSF 1.3 wants a member or privileges: a group created, deleted or renamed
            // names neither, so it carries an empty list of privileges.
            let privileges = match (&first_user, privileges) {
                (None, None) => Some(json!([])),
                (_, p) => p,
            };
            objects::object(&[
                ("group", Some(group)),
                ("user", first_user),
                ("privileges", privileges),
            ])
        }
        OcsfClass::EntityManagement => {
            let entity = objects::managed_entity(context, &attributes["container"])
                .ok_or(MappingError::NoEntity)?;
            objects::object(&[("entity", Some(entity))])
        }
    };
    Ok(fields.unwrap_or_default())
}

#[cfg(test)]
mod tests;
