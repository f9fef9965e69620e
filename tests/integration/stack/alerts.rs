//! Where alerts go: a bus and a topic of the stack's own that only the collector writes to.
use super::*;

/// The name the stack's alerts bus gets with the defaults (its `Ref`).
pub(super) fn alerts_bus_name(t: &Value) -> String {
    resolve_sub(
        t,
        &resource(t, "AlertsBus")["Properties"]["Name"]["Fn::Sub"],
    )
}

/// Alerts on EventBridge go, by default, to a bus of the stack's own on which only the
/// collector's role may put events (an event there with the collector's Source is the
/// collector's); `AlertsEventBus=default` keeps the account's default bus. The function and the
/// role's `events:PutEvents` name whichever bus is chosen.
#[test]
fn the_alerts_bus_takes_events_from_the_collector_only() {
    let t = template();
    let parameter = &t["Parameters"]["AlertsEventBus"];
    assert_eq!(parameter["AllowedValues"], json!(["stack", "default"]));
    assert_eq!(parameter["Default"], "stack");
    let on_stack_bus = &t["Conditions"]["AlertsOnStackBus"];
    assert!(
        holds(&t, on_stack_bus, &BTreeMap::new()),
        "the stack's bus by default"
    );
    let chose_default = BTreeMap::from([("AlertsEventBus", "default")]);
    assert!(!holds(&t, on_stack_bus, &chose_default));

    let bus = resource(&t, "AlertsBus");
    assert_eq!(bus["Type"], "AWS::Events::EventBus");
    assert_eq!(bus["Condition"], "AlertsOnStackBus");
    let name = alerts_bus_name(&t);
    assert_eq!(name, "atlassian-audit-alerts");
    let arn = format!("arn:aws:events:us-east-1:123456789012:event-bus/{name}");
    let policy = &bus["Properties"]["Policy"];
    let statements = policy["Statement"].as_array().expect("statements");
    let role = json!({"Fn::GetAtt": ["CollectorRole", "Arn"]});
    for st in statements {
        assert_eq!(st["Action"], "events:PutEvents", "{}", st["Sid"]);
        assert_eq!(
            resolve_sub(&t, &st["Resource"]["Fn::Sub"]),
            arn,
            "{}",
            st["Sid"]
        );
        if st["Effect"] == "Allow" {
            assert_eq!(
                st["Principal"],
                json!({"AWS": role}),
                "allowed to the role only"
            );
        }
    }
    let allowed = statements.iter().filter(|s| s["Effect"] == "Allow").count();
    assert_eq!(allowed, 1, "{statements:?}");
    let deny = statement(policy, "NobodyElsePutsEvents");
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Principal"], "*");
    assert_eq!(deny["Condition"], all_but_the_role());

    // The function is told the chosen bus; the role may put events on that bus and no other.
    let var = &function_env(&t)[config::env::ALERTS_EVENT_BUS]["Fn::If"];
    assert_eq!(
        *var,
        json!(["AlertsOnStackBus", {"Ref": "AlertsBus"}, "default"])
    );
    let role = &resource(&t, "CollectorRole")["Properties"];
    let grant = statements_with(role, "events:PutEvents");
    assert_eq!(grant.len(), 1, "{grant:?}");
    let branches = grant[0]["Fn::If"]
        .as_array()
        .expect("a grant by AlertsEventBus");
    assert_eq!(branches[0], "AlertsOnStackBus");
    assert_eq!(resolve_sub(&t, &branches[1]["Fn::Sub"]), arn);
    assert_eq!(
        resolve_sub(&t, &branches[2]["Fn::Sub"]),
        "arn:aws:events:us-east-1:123456789012:event-bus/default"
    );
    // The output names the bus to put rules on.
    assert_eq!(
        t["Outputs"]["AlertsEventBusName"]["Value"],
        json!({"Fn::If": ["AlertsOnStackBus", {"Ref": "AlertsBus"}, "default"]})
    );
}

#[test]
fn alerts_have_a_topic_of_their_own_encrypted_and_tls_only() {
    let t = template();
    let topic = &resource(&t, "AlertsTopic")["Properties"];
    assert_eq!(
        topic["KmsMasterKeyId"],
        json!({"Fn::If": ["UseCustomerKey", {"Ref": "EncryptionKey"}, "alias/aws/sns"]}),
        "always encrypted: the stack's key, else SNS's own"
    );
    let policy = &resource(&t, "AlertsTopicPolicy")["Properties"];
    assert_eq!(policy["Topics"], json!([{"Ref": "AlertsTopic"}]));
    let statements = policy["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements");
    assert!(
        statements.iter().all(|s| s["Effect"] == "Deny"),
        "denies only: the role's IAM allows"
    );
    let deny = statement(&policy["PolicyDocument"], "DenyPublishingWithoutTls");
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Action"], "sns:Publish");
    assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"], "false");
    // No one but the collector can forge an alert, whatever their IAM policies allow.
    let only = statement(&policy["PolicyDocument"], "OnlyTheCollectorPublishes");
    assert_eq!(only["Effect"], "Deny");
    assert_eq!(only["Principal"], "*");
    assert_eq!(only["Action"], "sns:Publish");
    assert_eq!(only["Resource"], json!({"Ref": "AlertsTopic"}));
    assert_eq!(only["Condition"], all_but_the_role());

    let subscription = resource(&t, "AlertsEmailSubscription");
    assert_eq!(subscription["Condition"], "HasAlertsEmail");
    assert_eq!(
        subscription["Properties"]["TopicArn"],
        json!({"Ref": "AlertsTopic"})
    );
    assert_eq!(subscription["Properties"]["Protocol"], "email");
    assert_eq!(
        subscription["Properties"]["Endpoint"],
        json!({"Ref": "AlertsEmail"})
    );
    assert!(
        !condition(&t, "HasAlertsEmail"),
        "nobody subscribed by default"
    );

    let severities = &t["Parameters"]["AlertsMinSeverity"];
    let names: Vec<&str> = Severity::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(severities["AllowedValues"], json!(names));
    assert_eq!(
        severities["Default"],
        config::DEFAULT_ALERTS_MIN_SEVERITY.name()
    );
    assert_eq!(
        function_env(&t)[config::env::ALERTS_MIN_SEVERITY],
        json!({"Ref": "AlertsMinSeverity"})
    );
    assert_eq!(parameter_default(&t, "AlertsEmail"), "");
    // With the stack's key, publishing encrypts through SNS only.
    let stack_key = resource(&t, "CollectorRole")["Properties"]["Policies"]
        .as_array()
        .expect("policies")
        .iter()
        .filter_map(|p| p.get("Fn::If"))
        .find(|args| args[0] == "UseCustomerKey")
        .expect("the stack-key policy");
    let via = &stack_key[1]["PolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
        ["kms:ViaService"];
    assert!(
        via.as_array()
            .expect("kms:ViaService")
            .contains(&json!({"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"})),
        "{via}"
    );
    // Not the alarms' topic: no alarm notifies it.
    for (name, r) in t["Resources"].as_object().expect("resources") {
        if r["Type"] == "AWS::CloudWatch::Alarm" {
            assert!(
                !r["Properties"]["AlarmActions"]
                    .to_string()
                    .contains("AlertsTopic"),
                "{name}"
            );
        }
    }
}
