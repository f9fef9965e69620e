use crate::detect::{RuleError, RulePack};

const KEY: &str = "ATATT3xFfGF0-0123456789abcdef0123456789abcdef-KEYMATERIAL";

/// A valid Sigma rule.
const RULE: &str = "title: My rule
id: 11111111-2222-4333-8444-555555555555
name: my_rule
description: d
logsource:
  product: atlassian
  service: audit
detection:
  selection:
    attributes.action: thing_done
  condition: selection
level: high
alert_title: \"{attributes.actor.name} did it\"
alert_runbook: r
";

/// A correlation over `my_rule` (appended to [`RULE`]).
const CORRELATION: &str = "---
title: Many
id: 11111111-2222-4333-8444-666666666666
name: many_done
correlation:
  type: event_count
  rules: [my_rule]
  group-by: [attributes.actor.id]
  timespan: 1h
  condition: {gte: 3}
level: medium
";

/// [`RULE`] with `replace` substitutions made and `extra` lines added.
fn rule_yaml(replace: &[(&str, &str)], extra: &str) -> String {
    let mut text = String::from(RULE);
    for (from, to) in replace {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    text + extra
}

fn load(text: &str) -> Result<RulePack, RuleError> {
    RulePack::default().with_user_rules("my-rules.yml", text, None)
}

#[test]
fn a_valid_rule_loads() {
    let pack = load(&rule_yaml(&[], "")).unwrap();
    assert_eq!(pack.rules().len(), 1);
    let rule = &pack.rules()[0];
    assert_eq!(rule.origin, "my-rules.yml");
    assert_eq!(rule.sigma_id, "11111111-2222-4333-8444-555555555555");
    assert_eq!(
        rule.actions.as_deref(),
        Some(&["thing_done".to_owned()][..])
    );
}

/// A correlation with `generate: false` (the default) hides the rule it counts: only the
/// correlation alerts.
#[test]
fn a_correlation_counts_its_rule_and_hides_it() {
    let pack = load(&rule_yaml(&[], CORRELATION)).unwrap();
    let ids: Vec<&str> = pack.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["many_done"]);
    let threshold = pack.rules()[0].threshold.as_ref().unwrap();
    assert_eq!((threshold.count, threshold.window_ms), (3, 3_600_000));
    let shown = rule_yaml(
        &[],
        &CORRELATION.replace("level: medium", "level: medium\ngenerate: true"),
    );
    assert_eq!(load(&shown).unwrap().rules().len(), 2);
}

#[test]
fn a_bad_rule_names_file_rule_and_field() {
    let correlated = |from: &str, to: &str| rule_yaml(&[], &CORRELATION.replace(from, to));
    let cases: Vec<(String, &str, &str, &str)> = vec![
        (
            rule_yaml(&[("level: high\n", "")], ""),
            "my_rule",
            "level",
            "missing",
        ),
        (
            rule_yaml(&[("name: my_rule", "name: My Rule")], ""),
            "#1 (no valid name)",
            "name",
            "a-z",
        ),
        (
            rule_yaml(&[("id: 11111111-2222-4333-8444-555555555555\n", "")], ""),
            "my_rule",
            "id",
            "UUID",
        ),
        (
            rule_yaml(&[("product: atlassian", "product: windows")], ""),
            "my_rule",
            "logsource",
            "product: atlassian",
        ),
        (
            rule_yaml(&[("did it\"", "did it}\"")], ""),
            "my_rule",
            "alert_title",
            "'}'",
        ),
        (
            rule_yaml(&[], "alert_dedup_period: 48h\n"),
            "my_rule",
            "alert_dedup_period",
            "24h",
        ),
        (
            rule_yaml(
                &[
                    (
                        "  selection:\n    attributes.action: thing_done\n",
                        "  keywords: [thing_done]\n",
                    ),
                    ("condition: selection", "condition: keywords"),
                ],
                "",
            ),
            "my_rule",
            "detection",
            "keyword detections",
        ),
        (
            correlated("timespan: 1h", "timespan: 2d"),
            "many_done",
            "correlation.timespan",
            "24h",
        ),
        (
            correlated("group-by: [attributes.actor.id]", "group-by: []"),
            "many_done",
            "correlation.group-by",
            "at least one",
        ),
        (
            correlated("condition: {gte: 3}", "condition: {lte: 3}"),
            "many_done",
            "correlation.condition",
            "gte",
        ),
        (
            correlated("rules: [my_rule]", "rules: [other_rule]"),
            "many_done",
            "correlation.rules",
            "same file",
        ),
        (
            correlated("type: event_count", "type: value_count"),
            "many_done",
            "correlation.condition.field",
            "exactly one field",
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
            panic!("{err}\n{yaml}");
        };
        assert_eq!(
            (file.as_str(), r.as_str(), f.as_str()),
            ("my-rules.yml", rule, field),
            "{err}"
        );
        assert!(message.contains(hint), "{err}");
        assert!(err.to_string().starts_with("my-rules.yml: rule "), "{err}");
    }
}

#[test]
fn a_bad_file_is_a_syntax_error_naming_it() {
    let no_detection = rule_yaml(&[("  condition: selection\n", "")], "");
    let unknown_modifier = rule_yaml(
        &[(
            "attributes.action: thing_done",
            "attributes.action|sometimes: thing_done",
        )],
        "",
    );
    for yaml in [
        "title: [",
        "- just a list",
        no_detection.as_str(),
        unknown_modifier.as_str(),
    ] {
        let err = load(yaml).unwrap_err();
        assert!(
            matches!(&err, RuleError::Syntax { file, .. } if file == "my-rules.yml")
                || matches!(&err, RuleError::Invalid { file, .. } if file == "my-rules.yml"),
            "{err}"
        );
    }
}

/// A user rule with `related: obsolete` replaces the built-in rule it names (by id), and a
/// name already in force is refused.
#[test]
fn a_user_rule_replaces_a_builtin_rule_it_makes_obsolete() {
    let builtin = RulePack::builtin().unwrap();
    let n = builtin.rules().len();
    let revoked = builtin
        .rules()
        .iter()
        .find(|r| r.id == "api_token_revoked")
        .unwrap()
        .sigma_id
        .clone();
    let text = rule_yaml(
        &[],
        &format!("related:\n  - id: {revoked}\n    type: obsolete\n"),
    );
    let pack = builtin
        .clone()
        .with_user_rules("u.yml", &text, None)
        .unwrap();
    let ids: Vec<&str> = pack.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), n);
    assert!(ids.contains(&"my_rule") && !ids.contains(&"api_token_revoked"));

    let unknown = rule_yaml(
        &[],
        "related:\n  - id: 99999999-2222-4333-8444-555555555555\n    type: obsolete\n",
    );
    let unknown = builtin
        .clone()
        .with_user_rules("u.yml", &unknown, None)
        .unwrap_err();
    assert!(
        matches!(&unknown, RuleError::Invalid { field, .. } if field == "related"),
        "{unknown}"
    );
    let dup = rule_yaml(&[("name: my_rule", "name: org_admin_added")], "");
    let dup = builtin.with_user_rules("u.yml", &dup, None).unwrap_err();
    assert!(
        matches!(&dup, RuleError::Invalid { rule, field, .. } if rule == "org_admin_added" && field == "name"),
        "{dup}"
    );
}

#[test]
fn the_key_appears_in_no_rule_error() {
    let cases = [
        rule_yaml(&[("level: high", &format!("level: {KEY}"))], ""),
        rule_yaml(&[("name: my_rule", &format!("name: {KEY}"))], ""),
        rule_yaml(
            &[(
                "id: 11111111-2222-4333-8444-555555555555",
                &format!("id: {KEY}!"),
            )],
            "",
        ),
        rule_yaml(&[("product: atlassian", &format!("product: {KEY}"))], ""),
        rule_yaml(
            &[("condition: selection", &format!("condition: {KEY}"))],
            "",
        ),
        rule_yaml(
            &[(
                "attributes.action: thing_done",
                &format!("attributes.action|{KEY}: x"),
            )],
            "",
        ),
        rule_yaml(&[], &format!("alert_dedup_period: {KEY}\n")),
        rule_yaml(&[("did it\"", &format!("{{{KEY}\""))], ""),
        rule_yaml(
            &[],
            &CORRELATION.replace("timespan: 1h", &format!("timespan: {KEY}")),
        ),
        rule_yaml(
            &[],
            &CORRELATION.replace("rules: [my_rule]", &format!("rules: [{KEY}]")),
        ),
        format!("title: \"{KEY}\n"),
        format!("{KEY}: []\n"),
    ];
    for yaml in cases {
        let err = RulePack::builtin()
            .unwrap()
            .with_user_rules("my-rules.yml", &yaml, None)
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
            "alert_title",
        ),
        (
            rule_yaml(
                &[(
                    "alert_runbook: r",
                    &format!("alert_runbook: {long_runbook}"),
                )],
                "",
            ),
            "alert_runbook",
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
    let mut text = rule_yaml(&[("description: d", "description: &l0 lol")], "");
    for level in 1..=9 {
        let aliases = vec![format!("*l{}", level - 1); 9].join(", ");
        text.push_str(&format!("x{level}: &l{level} [{aliases}]\n"));
    }
    text
}

/// Anchors and aliases anywhere (a value, a key, a list item, flow or block, a lone alias
/// with no anchor, a later document) are refused before anything is expanded, naming the file.
#[test]
fn anchors_and_aliases_are_refused_naming_the_file() {
    let cases = [
        billion_laughs(),
        rule_yaml(&[("alert_runbook: r", "alert_runbook: &r r")], ""),
        rule_yaml(&[("description: d", "description: &d d\nx: *d")], ""),
        rule_yaml(&[("alert_runbook: r\n", "")], "alert_runbook: *nowhere\n"),
        rule_yaml(&[("thing_done", "[&a thing_done]")], ""),
        rule_yaml(
            &[],
            &CORRELATION.replace("rules: [my_rule]", "rules: [&r my_rule]"),
        ),
        rule_yaml(
            &[("alert_runbook: r\n", "alert_runbook: r\n<<: *base\n")],
            "",
        ),
    ];
    for text in cases {
        let started = std::time::Instant::now();
        let err = load(&text).expect_err("refused").to_string();
        assert!(err.starts_with("my-rules.yml: "), "{err}");
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
            &[(
                "alert_runbook: r",
                "alert_runbook: \"use * and & here; *x &y\"",
            )],
            "",
        ),
        rule_yaml(&[("alert_runbook: r", "alert_runbook: '*x and &y'")], ""),
        rule_yaml(
            &[(
                "alert_runbook: r",
                "alert_runbook: use * and & R&D *bold* a*b",
            )],
            "",
        ),
        rule_yaml(
            &[(
                "alert_runbook: r",
                "alert_runbook: |\n  *Never* remove an admin\n  &then ask\n  - *x",
            )],
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
    ];
    for text in cases {
        let pack = load(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(pack.rules().len(), 1);
    }
    let pack = load(&rule_yaml(
        &[("alert_runbook: r", "alert_runbook: \"use * and &\"")],
        "",
    ))
    .unwrap();
    assert_eq!(
        pack.rules()[0].runbook.render(&serde_json::json!({})),
        "use * and &"
    );
}
