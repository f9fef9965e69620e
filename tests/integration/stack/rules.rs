//! The user's rule file: one named object the role may only read.
use super::*;

/// The user's rule file: two parameters, both or neither (a CloudFormation Rule), empty by
/// default (the built-in pack); when set, the function is told `s3://bucket/key` and its role
/// may `s3:GetObject` exactly that object, and nothing more.
#[test]
fn the_rule_file_is_one_named_object_the_role_may_only_read() {
    let t = template();
    for name in ["DetectionRulesBucket", "DetectionRulesKey"] {
        assert_eq!(parameter_default(&t, name), json!(""), "{name}");
        let pattern = t["Parameters"][name]["AllowedPattern"]
            .as_str()
            .unwrap_or("");
        assert!(pattern.starts_with("^$|"), "{name} may be empty: {pattern}");
        // No character class admits an IAM wildcard.
        let classes = pattern
            .split('[')
            .skip(1)
            .map(|c| c.split(']').next().unwrap_or(""));
        for class in classes {
            assert!(
                !class.contains('*') && !class.contains('?'),
                "{name}: [{class}]"
            );
        }
    }
    let assertion = &t["Rules"]["DetectionRulesBucketAndKeyTogether"]["Assertions"][0]["Assert"];
    let set = |bucket: &'static str, key: &'static str| {
        BTreeMap::from([("DetectionRulesBucket", bucket), ("DetectionRulesKey", key)])
    };
    let cases = [
        ("", "", true),
        ("rules-bkt", "r.yaml", true),
        ("rules-bkt", "", false),
        ("", "r.yaml", false),
    ];
    for (bucket, key, allowed) in cases {
        assert_eq!(
            holds(&t, assertion, &set(bucket, key)),
            allowed,
            "{bucket:?} {key:?}"
        );
    }
    let on = &t["Conditions"]["HasDetectionRules"];
    assert!(!holds(&t, on, &BTreeMap::new()), "off by default");
    let given = set("rules-bkt", "team/rules.yaml");
    assert!(holds(&t, on, &given));

    // The variable, resolved with both set, is the object the code reads.
    let var = &function_env(&t)[config::env::DETECTION_RULES]["Fn::If"];
    assert_eq!(var[0], "HasDetectionRules");
    assert_eq!(var[2], "", "unset (empty) otherwise");
    let uri = var[1]["Fn::Sub"]
        .as_str()
        .expect("a Sub")
        .replace("${DetectionRulesBucket}", given["DetectionRulesBucket"])
        .replace("${DetectionRulesKey}", given["DetectionRulesKey"]);
    let c = Config::from_lookup(|name| match name {
        config::env::CHECKPOINT_TABLE => Some("t".into()),
        config::env::OUTPUT_BUCKET => Some("audit-bucket".into()),
        config::env::DETECTION_RULES => Some(uri.clone()),
        _ => None,
    })
    .expect("the stack's DETECTION_RULES is a valid setting");
    assert!(matches!(
        c.detection_rules,
        Some(config::RuleSource::S3 { ref bucket, ref key, .. })
            if bucket == "rules-bkt" && key == "team/rules.yaml"
    ));
    c.require_rules_from_s3().expect("the Lambda accepts it");

    // The grant: only under the condition, s3:GetObject alone, on exactly that object.
    let policies = resource(&t, "CollectorRole")["Properties"]["Policies"]
        .as_array()
        .expect("policies")
        .clone();
    let mut grants = Vec::new();
    for p in &policies {
        let (condition, policy) = match p.get("Fn::If") {
            Some(args) => (args[0].as_str().unwrap_or(""), &args[1]),
            None => ("", p),
        };
        for st in policy["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements")
        {
            if st["Action"].to_string().contains("s3:GetObject") {
                grants.push((condition.to_string(), st.clone()));
            }
        }
    }
    // Besides the rule file, only the high-water marks (checked with the archive's grants), and
    // with the OCSF copy the archive's events and its own ledger and quarantine.
    let (marks, grants): (Vec<_>, Vec<_>) = grants
        .into_iter()
        .partition(|(_, st)| st["Sid"] == "KeepTheHighWaterMark");
    assert_eq!(marks.len(), 1, "{marks:?}");
    let (ocsf, grants): (Vec<_>, Vec<_>) = grants.into_iter().partition(|(c, _)| c == "OcsfOn");
    let ocsf_reads: Vec<String> = ocsf
        .iter()
        .map(|(_, st)| st["Resource"].to_string())
        .collect();
    assert_eq!(ocsf_reads.len(), 2, "{ocsf_reads:?}");
    assert!(ocsf_reads[0].contains("${OutputPrefix}logs/atlassian_audit/*"));
    assert!(ocsf_reads[1].contains("${OutputPrefix}ocsf-state/atlassian_audit/*"));
    assert_eq!(
        grants.len(),
        1,
        "s3:GetObject is granted once more: {grants:?}"
    );
    let (condition, st) = &grants[0];
    assert_eq!(condition, "HasDetectionRules");
    assert_eq!(st["Action"], "s3:GetObject");
    assert_eq!(
        st["Resource"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${DetectionRulesBucket}/${DetectionRulesKey}"})
    );
}
