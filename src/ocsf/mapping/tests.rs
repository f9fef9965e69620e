use super::*;
use serde_json::json;

/// A normalized line as `logs/` holds it, with `action` and `context` given.
fn line(action: &str, context: Value) -> Value {
    json!({
        "id": "e-1",
        "type": "events",
        "attributes": {
            "time": "2026-03-01T10:00:00.5Z",
            "processedAt": "2026-03-01T10:00:02Z",
            "action": action,
            "actor": {"id": "a-1", "name": "Avery", "email": "avery@example.com"},
            "context": context,
            "container": [{"id": "org-1", "type": "orgs", "attributes": {"name": "acme"}}],
            "location": {"ip": "198.51.100.7", "countryName": "Norway", "city": "Oslo"}
        },
        "links": {"self": "https://api.atlassian.com/x"},
        "message": {"content": "did a thing", "format": "simple"},
        "p_log_type": "Atlassian.Audit",
        "p_source_id": "prod",
        "p_source_label": "Production"
    })
}

fn user_ctx() -> Value {
    json!([{"id": "u-9", "type": "users", "attributes": {"email": "casey@example.com", "name": "casey@example.com"}}])
}

fn group_ctx() -> Value {
    json!([{"id": "g-1", "type": "groups", "attributes": {"groupName": "admins"}},
           {"id": "u-9", "type": "users", "attributes": {"email": "casey@example.com"}}])
}

#[test]
fn common_fields_of_every_record() {
    let m = map_event(&line("policy_created", json!([]))).expect("maps");
    let r = &m.record;
    assert_eq!(m.class, OcsfClass::EntityManagement);
    assert_eq!(m.time_ms, 1_772_359_200_500);
    assert_eq!(r["time"], 1_772_359_200_500i64);
    assert_eq!(r["class_uid"], 3004);
    assert_eq!(r["category_uid"], 3);
    assert_eq!(r["type_uid"], 300401);
    assert_eq!(r["activity_name"], "Create");
    assert_eq!(r["type_name"], "Entity Management: Create");
    assert_eq!(r["status_id"], 1);
    assert_eq!(r["severity_id"], 1);
    assert_eq!(r["message"], "did a thing");
    assert_eq!(r["metadata"]["uid"], "e-1");
    assert_eq!(r["metadata"]["version"], "1.3.0");
    assert_eq!(r["metadata"]["product"]["vendor_name"], "Atlassian");
    assert_eq!(r["metadata"]["tenant_uid"], "org-1");
    assert_eq!(r["metadata"]["logged_time"], 1_772_359_202_000i64);
    assert_eq!(r["metadata"]["original_time"], "2026-03-01T10:00:00.5Z");
    assert_eq!(
        r["metadata"]["labels"],
        json!(["source_id=prod", "source_label=Production"])
    );
    assert_eq!(r["cloud"]["account"]["uid"], "org-1");
    assert_eq!(r["actor"]["user"]["email_addr"], "avery@example.com");
    assert_eq!(r["src_endpoint"]["ip"], "198.51.100.7");
    // The entity: with no context, the organization.
    assert_eq!(
        r["entity"],
        json!({"uid": "org-1", "name": "acme", "type": "orgs"})
    );
    // raw_data: the event as received, without the normalizer's fields.
    let raw: Value = serde_json::from_str(r["raw_data"].as_str().unwrap()).unwrap();
    assert_eq!(raw["attributes"]["action"], "policy_created");
    assert!(raw.get("p_source_id").is_none());
}

#[test]
fn class_fields_by_action() {
    // (action, context, class, activity id, the field that must be there, its expected value)
    let cases: Vec<(&str, Value, OcsfClass, i32, &str, Value)> = vec![
        (
            "user_login",
            json!([]),
            OcsfClass::Authentication,
            1,
            "/user/uid",
            json!("a-1"),
        ),
        (
            "user_logout",
            json!([]),
            OcsfClass::Authentication,
            2,
            "/user/uid",
            json!("a-1"),
        ),
        (
            "user_logged_in_as_user",
            user_ctx(),
            OcsfClass::Authentication,
            1,
            "/user/uid",
            json!("u-9"),
        ),
        (
            "user_created",
            user_ctx(),
            OcsfClass::AccountChange,
            1,
            "/user/uid",
            json!("u-9"),
        ),
        (
            "api_token_created",
            json!([]),
            OcsfClass::AccountChange,
            99,
            "/user/uid",
            json!("a-1"),
        ),
        (
            "twosv_disabled_for_user",
            user_ctx(),
            OcsfClass::AccountChange,
            11,
            "/severity_id",
            json!(3),
        ),
        (
            "user_added_to_group",
            group_ctx(),
            OcsfClass::GroupManagement,
            3,
            "/group/name",
            json!("admins"),
        ),
        (
            "user_added_to_group",
            group_ctx(),
            OcsfClass::GroupManagement,
            3,
            "/user/uid",
            json!("u-9"),
        ),
        (
            "group_granted_product_access",
            group_ctx(),
            OcsfClass::GroupManagement,
            1,
            "/privileges",
            json!(["product-access"]),
        ),
        (
            "added_org_admin",
            user_ctx(),
            OcsfClass::UserAccessManagement,
            1,
            "/privileges",
            json!(["org-admin"]),
        ),
        (
            "user_revoked_role",
            user_ctx(),
            OcsfClass::UserAccessManagement,
            2,
            "/user/uid",
            json!("u-9"),
        ),
        (
            "user_auth_policy_failed",
            user_ctx(),
            OcsfClass::AccountChange,
            7,
            "/status",
            json!("Failure"),
        ),
        (
            "export_audit_log",
            json!([]),
            OcsfClass::EntityManagement,
            2,
            "/type_uid",
            json!(300402),
        ),
        (
            "brand_new_action",
            json!([]),
            OcsfClass::EntityManagement,
            99,
            "/activity_name",
            json!("Other"),
        ),
    ];
    for (action, context, class, activity, pointer, want) in cases {
        let m = map_event(&line(action, context)).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(m.class, class, "{action}");
        assert_eq!(m.record["activity_id"], activity, "{action}");
        assert_eq!(m.record.pointer(pointer), Some(&want), "{action} {pointer}");
    }
}

#[test]
fn every_catalogue_action_maps_with_a_fitting_context() {
    for (action, how) in CATALOGUE {
        let context = match how.class {
            OcsfClass::GroupManagement => group_ctx(),
            _ => user_ctx(),
        };
        let m = map_event(&line(action, context)).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(m.class, how.class, "{action}");
        assert_eq!(m.record["metadata"]["event_code"], *action);
    }
}

#[test]
fn an_event_without_its_class_subject_is_an_entity_management_other() {
    // Group Management needs the group, User Access Management the user whose access changed.
    for (action, context) in [
        ("group_created", json!([])),
        ("user_added_to_group", user_ctx()),
        ("added_org_admin", json!([])),
    ] {
        let m = map_event(&line(action, context.clone())).expect("maps");
        assert_eq!(m.class, OcsfClass::EntityManagement, "{action}");
        assert_eq!(m.record["activity_id"], 99, "{action}");
        assert_eq!(m.record["type_uid"], 300499, "{action}");
        assert_eq!(m.record["metadata"]["event_code"], action);
        let entity = if context == json!([]) { "org-1" } else { "u-9" };
        assert_eq!(m.record["entity"]["uid"], entity, "{action}");
        assert!(m.record.get("privileges").is_none(), "{action}");
    }
    // With no container either, there is nothing to name: quarantined, with the reason.
    let mut bare = line("group_created", json!([]));
    bare["attributes"]["container"] = json!([]);
    assert_eq!(map_event(&bare), Err(MappingError::NoEntity));
}

#[test]
fn unmappable_events_say_why() {
    let mut no_id = line("user_login", json!([]));
    no_id.as_object_mut().unwrap().remove("id");
    assert_eq!(map_event(&no_id), Err(MappingError::NoId));

    let mut no_time = line("user_login", json!([]));
    no_time["attributes"]["time"] = json!("yesterday");
    assert_eq!(map_event(&no_time), Err(MappingError::NoTime));
    // The normalizer's p_event_time stands in for an unreadable attributes.time.
    no_time["p_event_time"] = json!("2026-03-01 10:00:00.250000000");
    assert_eq!(map_event(&no_time).unwrap().time_ms, 1_772_359_200_250);

    let mut no_entity = line("policy_created", json!([]));
    no_entity["attributes"]["container"] = json!([]);
    assert_eq!(map_event(&no_entity), Err(MappingError::NoEntity));
    assert!(matches!(
        map_line("{not json"),
        Err(MappingError::NotJson(_))
    ));
    assert!(matches!(map_line("[1]"), Err(MappingError::NotJson(_))));
}

#[test]
fn the_real_page_maps_whole() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/atlassian/events_page_real_2021.json"
    );
    let page: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for event in page["data"].as_array().unwrap() {
        let m = map_event(event).unwrap_or_else(|e| panic!("{}: {e}", event["id"]));
        assert_eq!(m.record["metadata"]["uid"], event["id"]);
    }
}
