//! The roles and keys: the calls the code makes on named resources, and nothing else.
use super::*;

#[test]
fn the_role_allows_only_the_calls_the_code_makes_on_named_resources() {
    let t = template();
    let role = &resource(&t, "CollectorRole")["Properties"];
    let mut actions = BTreeSet::new();
    let mut object_resources = Vec::new();
    for policy in role["Policies"].as_array().expect("inline policies") {
        // Optional policies are `!If [cond, policy, AWS::NoValue]`.
        let policy = match policy.get("Fn::If") {
            Some(args) => &args[1],
            None => policy,
        };
        for st in policy["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements")
        {
            // Optional statements too: `!If [cond, statement, AWS::NoValue]`.
            let st = st.get("Fn::If").map_or(st, |args| &args[1]);
            assert_eq!(st["Effect"], "Allow");
            let stmt_actions: Vec<String> = match &st["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect(),
                other => panic!("action {other}"),
            };
            for a in &stmt_actions {
                assert!(!a.contains('*'), "wildcard action {a}");
                actions.insert(a.clone());
            }
            let resources = match &st["Resource"] {
                Value::Array(r) => r.clone(),
                r => vec![r.clone()],
            };
            for r in &resources {
                assert_ne!(r, "*", "statement {} names no resource", st["Sid"]);
                if stmt_actions.iter().any(|a| a == "s3:PutObject") {
                    object_resources.push(r.to_string());
                }
            }
        }
    }
    let expected: BTreeSet<String> = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "s3:GetObject",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "sns:Publish",
        "events:PutEvents",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(actions, expected);
    // Alerts go to the stack's own topic and the bus AlertsEventBus chooses, nowhere else (the
    // bus: `the_alerts_bus_takes_events_from_the_collector_only`).
    assert_eq!(
        statements_with(role, "sns:Publish"),
        [json!({"Ref": "AlertsTopic"})]
    );
    assert_eq!(statements_with(role, "events:PutEvents").len(), 1);
    // Objects may be written only under the four prefixes the collector writes (the staging
    // of late events the fourth), and the high-water mark.
    // With the OCSF copy (OcsfCopy), its ledger and quarantine beside the archive, and the five
    // custom sources' folders (in Security Lake's bucket, or the stack's).
    assert_eq!(object_resources.len(), 8);
    assert!(object_resources[0].contains(&format!("${{OutputPrefix}}logs/{TABLE}/*")));
    assert!(object_resources[1].contains(&format!("${{OutputPrefix}}quarantine/{TABLE}/*")));
    assert!(object_resources[2].contains(&format!("${{OutputPrefix}}alerts/{TABLE}/*")));
    let staging = format!("${{OutputPrefix}}staging/{TABLE}/*");
    assert!(object_resources[3].contains(&staging));
    let mark = format!("${{OutputPrefix}}high-water/{TABLE}/*");
    assert!(object_resources[4].contains(&mark));
    assert!(object_resources[5].contains(&format!("${{OutputPrefix}}ocsf-state/{TABLE}/*")));
    assert!(object_resources[6].contains(&format!("${{OutputPrefix}}ocsf-quarantine/{TABLE}/*")));
    for class in atlassian_audit::ocsf::OcsfClass::ALL {
        let folder = format!("ext/{}/*", class.source_name());
        assert_eq!(
            object_resources[7].matches(&folder).count(),
            2,
            "{folder}: in Security Lake's bucket and in the stack's"
        );
    }
    // The mark can be read and raised, never deleted: a role that could delete it could
    // rewind the table and the mark together.
    let deletable = statements_with(role, "s3:DeleteObject");
    assert!(
        deletable
            .iter()
            .all(|r| !r.to_string().contains("high-water")),
        "{deletable:?}"
    );
    let readable = statements_with(role, "s3:GetObject");
    assert!(readable.iter().any(|r| r.to_string().contains(&mark)));
    // The run's last batch reads the staged late events back to carry them into logs/.
    assert!(readable.iter().any(|r| r.to_string().contains(&staging)));
    // A missing mark answers 404, not 403, only with ListBucket on its prefix.
    let listing = role_statement(role, "CheckReachesTheBucket");
    let prefixes = listing["Condition"]["StringLike"]["s3:prefix"].to_string();
    assert!(prefixes.contains(&mark), "{prefixes}");
    assert!(prefixes.contains("${OutputPrefix}logs/*"), "{prefixes}");
    // The OCSF copy lists its ledger, its quarantine and the copy's folders (a lost ledger is
    // rebuilt from the names), nothing else.
    let ocsf = role_statement(role, "ListTheOcsfLedgerAndQuarantine");
    let prefixes = ocsf["Condition"]["StringLike"]["s3:prefix"].to_string();
    for prefix in [
        format!("${{OutputPrefix}}ocsf-state/{TABLE}/*"),
        format!("${{OutputPrefix}}ocsf-quarantine/{TABLE}/*"),
        "${OutputPrefix}ext/atlassian_*".to_string(),
    ] {
        assert!(prefixes.contains(&prefix), "{prefix}: {prefixes}");
    }
    let lake = role_statement(role, "ListTheOcsfCopyInSecurityLake");
    assert_eq!(
        lake["Condition"]["StringLike"]["s3:prefix"],
        "ext/atlassian_*"
    );
}

pub(super) fn role_statement<'a>(role: &'a Value, sid: &str) -> &'a Value {
    role["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.get("Fn::If").map_or(p, |args| &args[1]))
        .filter_map(|p| p["PolicyDocument"]["Statement"].as_array())
        .flatten()
        .map(|s| s.get("Fn::If").map_or(s, |args| &args[1]))
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("statement {sid}"))
}

/// With `customer-managed-kms`, CloudWatch Logs may use the stack's key for the one log group
/// the stack creates and encrypts with it, the function's, and for no other log group.
#[test]
fn the_stack_key_encrypts_the_function_logs_only() {
    let t = template();
    let log_groups: Vec<&String> = t["Resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Logs::LogGroup")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(log_groups, ["CollectorLogGroup"], "the stack's log groups");
    let group = &resource(&t, "CollectorLogGroup")["Properties"];
    assert_eq!(
        group["KmsKeyId"],
        json!({"Fn::If": ["UseCustomerKey", {"Fn::GetAtt": ["EncryptionKey", "Arn"]}, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(
        resource(&t, "CollectorFunction")["Properties"]["LoggingConfig"]["LogGroup"],
        json!({"Ref": "CollectorLogGroup"})
    );
    let name = resolve_sub(&t, &group["LogGroupName"]["Fn::Sub"]);
    assert_eq!(name, "/aws/lambda/atlassian-audit-collector");

    let policy = &resource(&t, "EncryptionKey")["Properties"]["KeyPolicy"];
    let logs = statement(policy, "CloudWatchLogsEncryptsTheFunctionLogs");
    assert_eq!(
        logs["Principal"],
        json!({"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}})
    );
    let condition = logs["Condition"].as_object().expect("a condition");
    assert_eq!(condition.len(), 1, "{condition:?}");
    let context = &condition["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"];
    assert_eq!(
        resolve_sub(&t, &context["Fn::Sub"]),
        format!("arn:aws:logs:us-east-1:123456789012:log-group:{name}"),
        "the function's log group, and no other"
    );
}

/// The created secret can be read by the collector's role (and a break-glass principal, when
/// named) only.
#[test]
fn only_the_collector_reads_the_key() {
    let t = template();
    let policy = &resource(&t, "ApiSecretPolicy")["Properties"];
    assert_eq!(policy["SecretId"], json!({"Ref": "ApiSecret"}));
    assert_eq!(policy["BlockPublicPolicy"], json!(true));
    let st = &policy["ResourcePolicy"]["Statement"][0];
    assert_eq!(st["Effect"], "Deny");
    assert_eq!(st["Principal"], "*");
    assert_eq!(st["Action"], "secretsmanager:GetSecretValue");
    let allowed = &st["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]["Fn::If"];
    assert_eq!(allowed[0], "HasSecretBreakGlass");
    let role = json!({"Fn::GetAtt": ["CollectorRole", "Arn"]});
    assert_eq!(
        allowed[1],
        json!([role, {"Ref": "SecretBreakGlassPrincipalArn"}])
    );
    assert_eq!(allowed[2], json!([role]));
}

#[test]
fn keys_and_roles_are_used_only_through_what_needs_them() {
    let t = template();
    let role = &resource(&t, "CollectorRole")["Properties"];
    let existing = role["Policies"]
        .as_array()
        .expect("policies")
        .iter()
        .filter_map(|p| p.get("Fn::If"))
        .find(|args| args[0] == "HasExistingKmsKeys")
        .expect("the existing-keys policy");
    let st = &existing[1]["PolicyDocument"]["Statement"][0];
    let via: Vec<String> = st["Condition"]["StringEquals"]["kms:ViaService"]
        .as_array()
        .expect("kms:ViaService")
        .iter()
        .map(|v| v["Fn::Sub"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        via,
        [
            "s3.${AWS::Region}.amazonaws.com",
            "secretsmanager.${AWS::Region}.amazonaws.com"
        ]
    );
    for name in ["CollectorRole", "NoEventsReminderRole"] {
        let st = &resource(&t, name)["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
        let conditions = st["Condition"].as_object().expect("conditions");
        assert!(
            conditions
                .values()
                .any(|c| c.get("aws:SourceArn").is_some()),
            "{name}'s trust policy has no aws:SourceArn"
        );
        assert_eq!(
            st["Condition"]["StringEquals"]["aws:SourceAccount"],
            json!({"Ref": "AWS::AccountId"})
        );
    }
}

#[test]
fn the_created_secret_holds_the_placeholder_the_code_recognizes() {
    let t = template();
    let text = resource(&t, "ApiSecret")["Properties"]["SecretString"]
        .as_str()
        .expect("a literal SecretString");
    let v: Value = serde_json::from_str(text).expect("the placeholder is JSON");
    assert_eq!(v["org_id"], PLACEHOLDER);
    assert_eq!(v["api_key"], PLACEHOLDER);
    assert!(matches!(
        parse_secret("stack-secret", text),
        Err(CredentialError::Placeholder { .. })
    ));
}
