use serde_json::json;

use crate::detect::condition::{Condition, ConditionSpec};
use crate::detect::field_path::FieldRef;
use crate::detect::template::Template;

fn sample() -> serde_json::Value {
    json!({
        "id": "e1",
        "attributes": {
            "actor": {"name": "Jordan Ellis", "id": "a1", "count": 3, "admin": true},
            "context": [
                {"type": "groups", "attributes": {"name": "jira-users"}},
                {"type": "users", "attributes": {"email": "finley.ng@example.com", "name": "finley.ng@example.com"}}
            ],
            "note": "line one\nline two",
            "nothing": null
        }
    })
}

#[test]
fn field_paths_reach_values() {
    let e = sample();
    let cases: [(&str, Option<&str>); 10] = [
        ("attributes.actor.name", Some("Jordan Ellis")),
        ("attributes.actor.count", Some("3")),
        ("attributes.actor.admin", Some("true")),
        ("attributes.context[].type", Some("groups, users")),
        (
            "attributes.context[1].attributes.email",
            Some("finley.ng@example.com"),
        ),
        ("attributes.context[5].type", None),
        ("attributes.missing", None),
        ("attributes.nothing", None),
        ("attributes.actor.email|attributes.actor.id", Some("a1")),
        ("attributes.note", Some("line one line two")),
    ];
    for (path, want) in cases {
        let got = FieldRef::parse(path).unwrap().render(&e);
        assert_eq!(got.as_deref(), want, "{path}");
    }
}

#[test]
fn bad_field_paths_are_refused() {
    for path in ["", "a..b", "a.[]", "a[x]", "a[", "a b", "a|"] {
        assert!(FieldRef::parse(path).is_err(), "{path:?}");
    }
}

#[test]
fn templates_fill_placeholders_and_fall_back() {
    let e = sample();
    let cases = [
        (
            "{attributes.actor.name} logged in as {attributes.context[].attributes.email}",
            "Jordan Ellis logged in as finley.ng@example.com",
        ),
        ("no fields", "no fields"),
        (
            "{attributes.actor.email} did it",
            "(no attributes.actor.email) did it",
        ),
        ("{{literal}} {attributes.actor.id}", "{literal} a1"),
        ("{ATLASSIAN_API_KEY}", "(no ATLASSIAN_API_KEY)"),
    ];
    for (template, want) in cases {
        assert_eq!(
            Template::parse(template).unwrap().render(&e),
            want,
            "{template}"
        );
    }
    let long = json!({"a": "x".repeat(500)});
    let rendered = Template::parse("{a}").unwrap().render(&long);
    assert_eq!(
        rendered.chars().count(),
        201,
        "200 characters and an ellipsis"
    );
    for bad in ["{unclosed", "stray }", "{a b}", "{}"] {
        assert!(Template::parse(bad).is_err(), "{bad}");
    }
}

fn condition(yaml: &str) -> Result<Condition, String> {
    let spec: ConditionSpec = yaml_serde::from_str(yaml).map_err(|e| e.to_string())?;
    Condition::compile(spec)
}

#[test]
fn conditions_hold_as_documented() {
    let e = sample();
    let cases = [
        ("{field: attributes.actor.id, equals: a1}", true),
        ("{field: attributes.actor.id, equals: a2}", false),
        ("{field: attributes.actor.count, equals: 3}", true),
        ("{field: attributes.actor.admin, equals: true}", true),
        ("{field: 'attributes.context[].type', equals: users}", true),
        (
            "{field: 'attributes.context[].type', one_of: [sites, groups]}",
            true,
        ),
        (
            "{field: 'attributes.context[].type', not_one_of: [sites]}",
            true,
        ),
        (
            "{field: 'attributes.context[].type', not_one_of: [users]}",
            false,
        ),
        ("{field: attributes.missing, not_one_of: [x]}", true),
        ("{field: attributes.actor.name, contains: ELLIS}", true),
        ("{field: attributes.actor.name, contains: quinn}", false),
        ("{field: attributes.missing, exists: false}", true),
        ("{field: attributes.nothing, exists: true}", false),
        ("{field: attributes.actor, exists: true}", true),
    ];
    for (yaml, want) in cases {
        assert_eq!(condition(yaml).unwrap().holds(&e), want, "{yaml}");
    }
}

#[test]
fn conditions_need_exactly_one_operator() {
    for yaml in [
        "{field: a}",
        "{field: a, equals: x, contains: y}",
        "{field: a, one_of: []}",
        "{field: a, equals: [x]}",
        "{field: a, equal: x}",
    ] {
        assert!(condition(yaml).is_err(), "{yaml}");
    }
}
