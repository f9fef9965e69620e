//! The user's rules: one named object, or the files directly under one prefix, that the role
//! may only read.
use super::*;

/// The user's rule file: two parameters, both or neither (a CloudFormation Rule), empty by
/// default (the built-in pack); when set, the function is told `s3://bucket/key` and its role
/// may `s3:GetObject` exactly that object, or, for a key ending in '/', list that prefix one
/// level down and read under it, and nothing more.
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
        ("rules-bkt", "detections/", true),
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
    let file = &t["Conditions"]["HasDetectionRulesFile"];
    let prefix = &t["Conditions"]["HasDetectionRulesPrefix"];
    assert!(!holds(&t, file, &BTreeMap::new()) && !holds(&t, prefix, &BTreeMap::new()));
    let pattern = regex::Regex::new(
        t["Parameters"]["DetectionRulesKey"]["AllowedPattern"]
            .as_str()
            .unwrap_or(""),
    )
    .expect("a pattern");
    for (key, is_prefix) in [
        ("team/rules.yaml", false),
        ("r", false),
        ("team/", true),
        ("a/b.c/", true),
    ] {
        let given = set("rules-bkt", key);
        assert!(pattern.is_match(key), "{key}");
        assert!(holds(&t, on, &given), "{key}");
        assert_eq!(holds(&t, prefix, &given), is_prefix, "{key}");
        assert_eq!(holds(&t, file, &given), !is_prefix, "{key}");

        // The variable, resolved, is what the code reads: the object, or the prefix.
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
        let source = c.detection_rules.clone().expect("rules");
        assert!(matches!(
            source,
            config::RuleSource::S3 { ref bucket, key: ref k, .. } if bucket == "rules-bkt" && k == key
        ));
        assert_eq!(source.s3_prefix().is_some(), is_prefix, "{key}");
        c.require_rules_from_s3().expect("the Lambda accepts it");
    }
    for refused in ["team//", "/team/", "team/*", "a?/"] {
        assert!(!pattern.is_match(refused), "{refused}");
    }

    // The grants: only under the conditions, s3:GetObject alone on exactly that object, or
    // s3:ListBucket of that prefix alone and s3:GetObject under it.
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
            let action = st["Action"].to_string();
            if action.contains("s3:GetObject") || action.contains("s3:ListBucket") {
                grants.push((condition.to_string(), st.clone()));
            }
        }
    }
    let (rules, others): (Vec<_>, Vec<_>) = grants
        .into_iter()
        .partition(|(c, _)| c.starts_with("HasDetectionRules"));
    // Besides the rules, the high-water marks (checked with the archive's grants), and with the
    // OCSF copy the archive's events and its own ledger and quarantine: none under these
    // conditions, none on the rules' bucket.
    for (condition, st) in &others {
        assert!(
            !st["Resource"].to_string().contains("DetectionRules"),
            "{condition}: {st}"
        );
    }
    let sub = |s: &str| json!({ "Fn::Sub": s });
    let want = [
        (
            "HasDetectionRulesFile",
            json!("s3:GetObject"),
            sub("arn:${AWS::Partition}:s3:::${DetectionRulesBucket}/${DetectionRulesKey}"),
        ),
        (
            "HasDetectionRulesPrefix",
            json!("s3:ListBucket"),
            sub("arn:${AWS::Partition}:s3:::${DetectionRulesBucket}"),
        ),
        (
            "HasDetectionRulesPrefix",
            json!("s3:GetObject"),
            sub("arn:${AWS::Partition}:s3:::${DetectionRulesBucket}/${DetectionRulesKey}*"),
        ),
    ];
    let got: Vec<_> = rules
        .iter()
        .map(|(c, st)| (c.as_str(), st["Action"].clone(), st["Resource"].clone()))
        .collect();
    assert_eq!(got, want);
    // The listing is of the prefix alone, one level down: what the code requests.
    let listing = &rules[1].1["Condition"]["StringEquals"];
    assert_eq!(listing["s3:prefix"], json!({"Ref": "DetectionRulesKey"}));
    assert_eq!(listing["s3:delimiter"], "/");
    for (c, st) in &rules {
        if st["Action"] == "s3:GetObject" {
            assert!(st.get("Condition").is_none(), "{c}: {st}");
        }
    }
}
