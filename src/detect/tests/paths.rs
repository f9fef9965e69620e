use serde_json::json;

use crate::detect::field_path::FieldRef;
use crate::detect::template::Template;
use crate::detect::{detect, DetectState, PackSettings, RuleError, RulePack};

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

/// A one-rule pack whose detection is `detection` (YAML lines under `detection:`).
fn pack_of(detection: &str) -> Result<RulePack, RuleError> {
    let text = format!(
        "title: t\nid: 11111111-2222-4333-8444-555555555555\nname: r\nlogsource: {{product: atlassian, service: audit}}\nlevel: low\ndetection:\n{detection}"
    );
    RulePack::default().with_user_rules("r.yml", &text, None)
}

/// Whether the sample event (as the engine sees it: projected) raises the rule's alert.
fn fires(detection: &str) -> bool {
    let pack = pack_of(detection).unwrap_or_else(|e| panic!("{e}"));
    let mut e = sample();
    e["attributes"]["time"] = json!("2026-01-01T00:00:00Z");
    !detect(&pack, &DetectState::default(), &[e])
        .alerts
        .is_empty()
}

#[test]
fn sigma_detections_match_as_documented() {
    let cases = [
        ("  s: {attributes.actor.id: a1}\n  condition: s", true),
        ("  s: {attributes.actor.id: A1}\n  condition: s", true),
        ("  s: {attributes.actor.id: a2}\n  condition: s", false),
        ("  s: {attributes.actor.count: 3}\n  condition: s", true),
        // Dotted names look into every element of an array.
        ("  s: {attributes.context.type: users}\n  condition: s", true),
        ("  s: {attributes.context.attributes.name|endswith: -users}\n  condition: s", true),
        ("  s: {attributes.context.type: [sites, orgs]}\n  condition: s", false),
        ("  s: {attributes.actor.name|contains: ELLIS}\n  condition: s", true),
        ("  s: {attributes.actor.name: Jordan*}\n  condition: s", true),
        ("  s: {attributes.actor.id: a1}\n  f: {attributes.actor.name: Jordan Ellis}\n  condition: s and not f", false),
        ("  s: {attributes.missing|exists: false}\n  condition: s", true),
        // A placeholder takes the pack's settings (here the defaults).
        ("  s: {attributes.context.attributes.name|expand: '%admin_groups%'}\n  condition: s", false),
        ("  s: {attributes.actor.id|expand: '%system_actors%'}\n  condition: not s", true),
        // fieldref compares with another field of the same event.
        ("  s: {attributes.actor.id|fieldref: attributes.actor.id}\n  condition: s", true),
        ("  s: {attributes.actor.id|fieldref: attributes.actor.name}\n  condition: s", false),
    ];
    for (detection, want) in cases {
        assert_eq!(fires(detection), want, "{detection}");
    }
}

#[test]
fn admin_groups_come_from_the_settings() {
    let text = "title: t\nid: 11111111-2222-4333-8444-555555555555\nname: r\nlogsource: {product: atlassian, service: audit}\nlevel: low\ndetection:\n  s: {attributes.context.attributes.name|expand: '%admin_groups%'}\n  condition: s\n";
    let mut e = sample();
    e["attributes"]["time"] = json!("2026-01-01T00:00:00Z");
    for (extra, want) in [(None, false), (Some("jira-users, other"), true)] {
        let pack = RulePack::builtin_with(PackSettings::with_extra(extra, None))
            .unwrap()
            .with_user_rules("r.yml", text, None)
            .unwrap();
        let alerts = detect(&pack, &DetectState::default(), &[e.clone()]).alerts;
        assert_eq!(alerts.iter().any(|a| a.rule_id == "r"), want, "{extra:?}");
    }
}

#[test]
fn sigma_field_names_reach_through_arrays() {
    let e = sample();
    let cases: [(&str, Option<&str>); 4] = [
        ("attributes.actor.name", Some("Jordan Ellis")),
        ("attributes.context.type", Some("groups, users")),
        (
            "attributes.context.attributes.email",
            Some("finley.ng@example.com"),
        ),
        ("attributes.context.missing", None),
    ];
    for (path, want) in cases {
        assert_eq!(
            FieldRef::sigma(path).unwrap().render(&e).as_deref(),
            want,
            "{path}"
        );
    }
    for bad in ["a[0].b", "a..b", "a.b.c.d.e.f.g.h.i"] {
        assert!(FieldRef::sigma(bad).is_err(), "{bad}");
    }
}
