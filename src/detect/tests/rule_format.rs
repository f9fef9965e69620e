use crate::detect::{RuleError, RulePack};

const KEY: &str = "ATATT3xFfGF0-0123456789abcdef0123456789abcdef-KEYMATERIAL";

/// A valid rule with `extra` lines added and `replace` substitutions made.
fn rule_yaml(replace: &[(&str, &str)], extra: &str) -> String {
    let mut text = String::from(
        "rules:\n  - id: my_rule\n    description: d\n    severity: High\n    actions: [thing_done]\n    title: \"{attributes.actor.name} did it\"\n    runbook: r\n    tests:\n      positive: [{name: p, events: [{attributes: {action: thing_done}}]}]\n      negative: [{name: n, events: [{attributes: {action: other}}]}]\n",
    );
    for (from, to) in replace {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    text + extra
}

fn load(text: &str) -> Result<RulePack, RuleError> {
    RulePack::default().with_user_rules("my-rules.yaml", text)
}

#[test]
fn a_valid_rule_loads() {
    let pack = load(&rule_yaml(&[], "")).unwrap();
    assert_eq!(pack.rules().len(), 1);
    assert_eq!(pack.rules()[0].origin, "my-rules.yaml");
}

#[test]
fn a_bad_rule_names_file_rule_and_field() {
    let cases: Vec<(String, &str, &str, &str)> = vec![
        (
            rule_yaml(&[("severity: High", "severity: Severe")], ""),
            "my_rule",
            "severity",
            "Info, Low, Medium, High, Critical",
        ),
        (
            rule_yaml(&[("severity: High", "severty: High")], ""),
            "my_rule",
            "`severty`",
            "unknown field",
        ),
        (
            rule_yaml(&[("    severity: High\n", "")], ""),
            "my_rule",
            "severity",
            "missing",
        ),
        (
            rule_yaml(&[("[thing_done]", "[THING_DONE]")], ""),
            "my_rule",
            "actions[0]",
            "lower case",
        ),
        (
            rule_yaml(&[("[thing_done]", "[]")], ""),
            "my_rule",
            "actions",
            "at least one",
        ),
        (
            rule_yaml(&[("did it\"", "did it}\"")], ""),
            "my_rule",
            "title",
            "'}'",
        ),
        (
            rule_yaml(&[("id: my_rule", "id: My Rule")], ""),
            "#1 (no valid id)",
            "id",
            "a-z",
        ),
        (
            rule_yaml(
                &[],
                "    conditions: [{field: attributes.actor.id, equals: a}, {field: x, is: y}]\n",
            ),
            "my_rule",
            "conditions[1]",
            "unknown field `is`",
        ),
        (
            rule_yaml(&[], "    conditions: [{field: a}]\n"),
            "my_rule",
            "conditions[0]",
            "one operator",
        ),
        (
            rule_yaml(
                &[],
                "    threshold: {count: 20, window: 1 fortnight, group_by: [a]}\n",
            ),
            "my_rule",
            "threshold.window",
            "1h or 30m",
        ),
        (
            rule_yaml(
                &[],
                "    threshold: {count: 20, window: 1h, group_by: []}\n",
            ),
            "my_rule",
            "threshold.group_by",
            "at least one",
        ),
        (
            rule_yaml(
                &[],
                "    threshold: {count: 20, window: 1h, group_by: [a], by: b}\n",
            ),
            "my_rule",
            "threshold",
            "unknown field `by`",
        ),
        (
            rule_yaml(&[], "    dedup: {period: 48h}\n"),
            "my_rule",
            "dedup.period",
            "24h",
        ),
        (
            rule_yaml(
                &[(
                    "      negative: [{name: n, events: [{attributes: {action: other}}]}]\n",
                    "      negative: []\n",
                )],
                "",
            ),
            "my_rule",
            "tests.negative",
            "at least one",
        ),
    ];
    for (yaml, rule, field, hint) in cases {
        let err = load(&yaml).unwrap_err();
        let RuleError::Invalid {
            file,
            rule: r,
            field: f,
            message,
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(
            (file.as_str(), r.as_str(), f.as_str()),
            ("my-rules.yaml", rule, field),
            "{err}"
        );
        assert!(message.contains(hint), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("my-rules.yaml: rule ") && text.contains(field),
            "{text}"
        );
    }
}

#[test]
fn a_bad_file_is_a_syntax_error_naming_it() {
    for yaml in ["rules: [", "- just a list", "rule: []", "rules: 3"] {
        let err = load(yaml).unwrap_err();
        assert!(
            matches!(&err, RuleError::Syntax { file, .. } if file == "my-rules.yaml"),
            "{err}"
        );
    }
}

#[test]
fn a_user_file_disables_and_adds_rules() {
    let builtin = RulePack::builtin().unwrap();
    let n = builtin.rules().len();
    let text = rule_yaml(&[], "disable: [api_token_revoked, bulk_export]\n");
    let pack = builtin.clone().with_user_rules("u.yaml", &text).unwrap();
    let ids: Vec<&str> = pack.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), n - 1);
    assert!(
        ids.contains(&"my_rule")
            && !ids.contains(&"api_token_revoked")
            && !ids.contains(&"bulk_export")
    );

    let unknown = builtin
        .clone()
        .with_user_rules("u.yaml", "disable: [no_such_rule]\n")
        .unwrap_err();
    assert!(
        matches!(&unknown, RuleError::Invalid { rule, field, .. } if rule == "no_such_rule" && field == "disable[0]"),
        "{unknown}"
    );
    let dup = rule_yaml(&[("id: my_rule", "id: org_admin_added")], "");
    let dup = builtin.with_user_rules("u.yaml", &dup).unwrap_err();
    assert!(
        matches!(&dup, RuleError::Invalid { rule, field, .. } if rule == "org_admin_added" && field == "id"),
        "{dup}"
    );
}

#[test]
fn a_user_file_is_read_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, rule_yaml(&[], "")).unwrap();
    let pack = RulePack::default().with_user_file(&path).unwrap();
    assert_eq!(pack.rules()[0].origin, path.display().to_string());
    let missing = RulePack::default()
        .with_user_file(&dir.path().join("nope.yaml"))
        .unwrap_err();
    assert!(matches!(missing, RuleError::Read { .. }));
}

#[test]
fn the_key_appears_in_no_rule_error() {
    let cases = [
        rule_yaml(&[("severity: High", &format!("severity: {KEY}"))], ""),
        rule_yaml(&[("severity: High", &format!("{KEY}: High"))], ""),
        rule_yaml(&[("[thing_done]", &format!("[{KEY}]"))], ""),
        rule_yaml(
            &[],
            &format!("    threshold: {{count: {KEY}, window: 1h, group_by: [a]}}\n"),
        ),
        rule_yaml(
            &[],
            &format!("    threshold: {{count: 2, window: \"{KEY}\", group_by: [a]}}\n"),
        ),
        rule_yaml(
            &[],
            &format!("    conditions: [{{field: a, equals: {{k: {KEY}}}}}]\n"),
        ),
        rule_yaml(
            &[],
            &format!("    dedup: {{key: \"{{{KEY}}}\", period: {KEY}}}\n"),
        ),
        rule_yaml(&[("did it\"", &format!("{{{KEY}\""))], ""),
        rule_yaml(&[("id: my_rule", &format!("id: {KEY}"))], ""),
        format!("rules: [{{id: \"{KEY}\n"),
        format!("{KEY}: []\n"),
        format!("disable: [{KEY}]\n"),
        format!("disable: {KEY}\n"),
    ];
    for yaml in cases {
        let err = RulePack::builtin()
            .unwrap()
            .with_user_rules("my-rules.yaml", &yaml)
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(KEY) && !text.contains(&KEY[..24]), "{text}");
    }
}

/// A title or runbook that could render past its cap is refused at load, naming the rule and
/// the field; one just under it loads.
#[test]
fn templates_that_could_render_past_their_caps_are_refused() {
    let placeholders = "{attributes.actor.name} ".repeat(5);
    let long_runbook = "x".repeat(8_001);
    let cases = [
        (
            rule_yaml(
                &[(
                    "\"{attributes.actor.name} did it\"",
                    &format!("\"{placeholders}\""),
                )],
                "",
            ),
            "title",
        ),
        (
            rule_yaml(&[("runbook: r", &format!("runbook: {long_runbook}"))], ""),
            "runbook",
        ),
    ];
    for (text, field) in cases {
        let e = load(&text).expect_err(field).to_string();
        assert!(e.contains("my_rule") && e.contains(field), "{e}");
        assert!(e.contains("characters"), "{e}");
    }
    let four = "{attributes.actor.name} ".repeat(4);
    assert!(load(&rule_yaml(
        &[("\"{attributes.actor.name} did it\"", &format!("\"{four}\""))],
        ""
    ))
    .is_ok());
}

/// The classic "billion laughs": nine levels of nine aliases, about a billion nodes.
fn billion_laughs() -> String {
    let mut text = String::from("rules:\n  - id: my_rule\n    description: &l0 lol\n");
    for level in 1..=9 {
        let aliases = vec![format!("*l{}", level - 1); 9].join(", ");
        text.push_str(&format!("    x{level}: &l{level} [{aliases}]\n"));
    }
    text
}

/// Anchors and aliases anywhere (a value, a key, a list item, flow or block, a lone alias
/// with no anchor) are refused before anything is expanded, naming the file and the rule.
#[test]
fn anchors_and_aliases_are_refused_naming_the_file() {
    let cases = [
        billion_laughs(),
        rule_yaml(&[("runbook: r", "runbook: &r r")], ""),
        rule_yaml(&[("description: d", "description: &d d\n    x: *d")], ""),
        rule_yaml(&[("    runbook: r\n", "")], "    runbook: *nowhere\n"),
        rule_yaml(&[("[thing_done]", "[&a thing_done]")], ""),
        rule_yaml(&[("  - id: my_rule", "  - &rule\n    id: my_rule")], ""),
        rule_yaml(
            &[("{action: thing_done}", "{action: &t thing_done, b: *t}")],
            "",
        ),
        format!("{}disable: &d []\n", rule_yaml(&[], "")),
        // A merge key needs an alias too.
        rule_yaml(
            &[("    runbook: r\n", "    runbook: r\n    <<: *base\n")],
            "",
        ),
    ];
    for text in cases {
        let started = std::time::Instant::now();
        let err = load(&text).expect_err("refused").to_string();
        assert!(err.starts_with("my-rules.yaml: "), "{err}");
        assert!(
            err.contains("anchors and aliases (`&name`, `*name`) are not allowed in rule files"),
            "{err}\n{text}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}

/// `&` and `*` as text are not anchors: quoted, in a block scalar, in plain text, in a
/// comment, in a title template.
#[test]
fn ampersands_and_stars_in_text_still_load() {
    let cases = [
        rule_yaml(
            &[("runbook: r", "runbook: \"use * and & here; *x &y\"")],
            "",
        ),
        rule_yaml(&[("runbook: r", "runbook: '*x and &y'")], ""),
        rule_yaml(&[("runbook: r", "runbook: use * and & R&D *bold* a*b")], ""),
        rule_yaml(
            &[(
                "runbook: r",
                "runbook: |\n      *Never* remove an admin\n      &then ask\n      - *x",
            )],
            "",
        ),
        rule_yaml(&[("runbook: r", "runbook: >-\n      &a *b\n      c")], ""),
        rule_yaml(
            &[("runbook: r", "runbook: first line\n      *continued* &here")],
            "",
        ),
        rule_yaml(&[("description: d", "description: d # &a *b")], ""),
        rule_yaml(
            &[(
                "\"{attributes.actor.name} did it\"",
                "\"*{attributes.actor.name}* & co\"",
            )],
            "",
        ),
        rule_yaml(
            &[("{action: other}", "{action: other, note: \"&x\", n: '*y'}")],
            "",
        ),
    ];
    for text in cases {
        let pack = load(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(pack.rules().len(), 1);
    }
    let pack = load(&rule_yaml(
        &[("runbook: r", "runbook: \"use * and &\"")],
        "",
    ))
    .unwrap();
    assert_eq!(
        pack.rules()[0].runbook.render(&serde_json::json!({})),
        "use * and &"
    );
}
