//! The deployable stack (`template.yaml`) against the code it deploys: the names the function is
//! given are the names the code reads, the alarms watch metrics the code emits, and the
//! essentials (alarm semantics, one run at a time, least-privilege IAM) cannot drift.
use atlassian_audit::collector::{RunSummary, StopReason};
use atlassian_audit::config::{self, Config};
use atlassian_audit::credentials::KEY_EXPIRY_WARNING_DAYS;
use atlassian_audit::credentials::{parse_secret, CredentialError, PLACEHOLDER};
use atlassian_audit::detect::Severity;
use atlassian_audit::metrics::{RunMetrics, CLOUDWATCH_METRICS, DIMENSION, LOG_FIELDS};
use atlassian_audit::sink::TABLE;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::template::template;

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(r.is_object(), "template.yaml has no resource {name}");
    r
}

fn parameter_default(t: &Value, name: &str) -> Value {
    t["Parameters"][name]["Default"].clone()
}

fn as_f64(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{v} is not a number"))
}

/// A value with parameters replaced by their defaults, conditions taken with the defaults, and
/// references to resources replaced by a stand-in name, as CloudFormation would resolve it.
fn resolve(t: &Value, v: &Value) -> Value {
    if let Some(name) = v.get("Ref").and_then(Value::as_str) {
        if t["Parameters"].get(name).is_some() {
            return parameter_default(t, name);
        }
        return match name {
            // A property or variable set to it is absent.
            "AWS::NoValue" => Value::Null,
            "AWS::StackName" => json!("atlassian-audit"),
            "AWS::Region" => json!("us-east-1"),
            "AWS::AccountId" => json!("123456789012"),
            "AWS::Partition" => json!("aws"),
            // CloudFormation-generated physical names are lowercase for buckets.
            _ => json!(format!("stand-in-{}", name.to_lowercase())),
        };
    }
    if let Some(args) = v.get("Fn::If").and_then(Value::as_array) {
        let branch = if condition(t, args[0].as_str().expect("condition name")) {
            &args[1]
        } else {
            &args[2]
        };
        return resolve(t, branch);
    }
    v.clone()
}

/// A condition evaluated with every parameter at its default.
fn condition(t: &Value, name: &str) -> bool {
    evaluate(t, &t["Conditions"][name])
}

fn evaluate(t: &Value, c: &Value) -> bool {
    if let Some(args) = c.get("Fn::Equals").and_then(Value::as_array) {
        let (a, b) = (resolve(t, &args[0]), resolve(t, &args[1]));
        return a.to_string().trim_matches('"') == b.to_string().trim_matches('"');
    }
    if let Some(args) = c.get("Fn::Not").and_then(Value::as_array) {
        return !evaluate(t, &args[0]);
    }
    if let Some(args) = c.get("Fn::And").and_then(Value::as_array) {
        return args.iter().all(|a| evaluate(t, a));
    }
    if let Some(name) = c.get("Condition").and_then(Value::as_str) {
        return condition(t, name);
    }
    if let Some(args) = c.get("Fn::Join").and_then(Value::as_array) {
        panic!("unexpected Fn::Join in a condition position: {args:?}");
    }
    panic!("condition form not understood by this test: {c}");
}

fn function_env(t: &Value) -> BTreeMap<String, Value> {
    resource(t, "CollectorFunction")["Properties"]["Environment"]["Variables"]
        .as_object()
        .expect("the function has environment variables")
        .iter()
        .filter(|(_, v)| !resolve(t, v).is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// EMF lines of runs of every kind: a healthy one, a failed one with 401s, one that found the
/// lease held, one stopped by its budget while behind, each with and without a known key expiry.
fn emf_lines() -> Vec<Value> {
    let mut runs = Vec::new();
    for reason in [
        StopReason::CaughtUp,
        StopReason::Budget,
        StopReason::RateLimited,
        StopReason::LeaseHeld,
        StopReason::Failed,
    ] {
        let mut s = RunSummary::new("s");
        s.stop_reason = reason;
        s.run_succeeded = reason != StopReason::Failed;
        s.lease_held = reason == StopReason::LeaseHeld;
        s.auth_failures = u64::from(reason == StopReason::Failed);
        s.ingest_lag_seconds = Some(9_000.0);
        runs.push(s);
    }
    let mut rewound = RunSummary::new("s");
    rewound.checkpoint_went_backwards = true;
    runs.push(rewound);
    let mut alerted = RunSummary::new("s");
    alerted.alerts_raised = 2;
    runs.push(alerted);
    let mut degraded = RunSummary::new("s");
    degraded.alerts_undelivered = 1;
    degraded.detections_skipped = 1;
    degraded.detect_state_rejected = true;
    runs.push(degraded);
    let mut lines = Vec::new();
    for s in &runs {
        for days in [None, Some(3.5)] {
            let line = RunMetrics::new(s).with_key_days_left(days).to_emf("NS", 0);
            lines.push(serde_json::from_str(&line).expect("EMF is JSON"));
        }
    }
    lines
}

/// The CloudWatch metrics the code declares on some run, checked against the code's own list.
fn emitted_metric_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for v in emf_lines() {
        for m in v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("metric definitions")
        {
            let name = m["Name"].as_str().expect("metric name");
            assert!(v[name].is_number(), "{name} declared without a value");
            names.insert(name.to_string());
        }
    }
    let listed: BTreeSet<String> = CLOUDWATCH_METRICS
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    assert_eq!(
        names, listed,
        "CLOUDWATCH_METRICS lists what the EMF lines declare"
    );
    names
}

/// The plain fields the EMF lines carry (what Logs Insights can read), metrics' values included.
fn emitted_fields() -> BTreeSet<String> {
    let mut fields = BTreeSet::new();
    for v in emf_lines() {
        fields.extend(v.as_object().expect("object").keys().cloned());
    }
    fields
}

#[test]
fn the_function_is_given_exactly_the_settings_the_code_reads() {
    let t = template();
    let env = function_env(&t);
    let known = [
        config::env::API_BASE_URL,
        config::env::API_ALLOWED_HOSTS,
        config::env::EXPECTED_BUCKET_OWNER,
        config::env::SECRET_ID,
        config::env::ORG_ID,
        config::env::API_KEY,
        config::env::CHECKPOINT_TABLE,
        config::env::OUTPUT_BUCKET,
        config::env::OUTPUT_PREFIX,
        config::env::S3_FORCE_PATH_STYLE,
        config::env::SOURCE_ID,
        config::env::SOURCE_LABEL,
        config::env::INITIAL_LOOKBACK,
        config::env::PAGE_LIMIT,
        config::env::METRICS_NAMESPACE,
        config::env::RUN_BUDGET_SECONDS,
        config::env::ALERTS_TOPIC_ARN,
        config::env::ALERTS_EVENT_BUS,
        config::env::ALERTS_MIN_SEVERITY,
        config::env::DETECTION_RULES,
        config::env::SOURCES_TABLE,
        config::ocsf_env::OCSF_ENABLED,
        config::ocsf_env::OCSF_BUCKET,
        "RUST_LOG",
    ];
    for name in env.keys() {
        assert!(
            known.contains(&name.as_str()),
            "template.yaml sets {name}, which the code does not read"
        );
    }
    for required in [
        config::env::SECRET_ID,
        config::env::CHECKPOINT_TABLE,
        config::env::OUTPUT_BUCKET,
        config::env::SOURCE_ID,
        config::env::METRICS_NAMESPACE,
        config::env::ALERTS_TOPIC_ARN,
        config::env::ALERTS_EVENT_BUS,
        config::env::ALERTS_MIN_SEVERITY,
    ] {
        assert!(
            env.contains_key(required),
            "template.yaml does not set {required}"
        );
    }
    // The key only ever comes from the secret.
    assert!(!env.contains_key(config::env::API_KEY));
    assert!(!env.contains_key(config::env::ORG_ID));

    // With the parameters' defaults, the environment is a valid configuration.
    let resolved: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| {
            let v = resolve(&t, v);
            (
                k.clone(),
                v.as_str().map(str::to_string).unwrap_or(v.to_string()),
            )
        })
        .collect();
    // The topic's ARN is CloudFormation's to make: stand in a valid one. The bus's `Ref` is its name.
    let topic = "arn:aws:sns:us-east-1:123456789012:atlassian-audit-AlertsTopic-1";
    let bus = alerts_bus_name(&t);
    let config = Config::from_lookup(|name| match name {
        config::env::ALERTS_TOPIC_ARN => Some(topic.to_string()),
        config::env::ALERTS_EVENT_BUS => Some(bus.clone()),
        _ => resolved.get(name).cloned(),
    })
    .expect("the template's default environment is a valid configuration");
    assert_eq!(
        env[config::env::ALERTS_TOPIC_ARN],
        json!({"Ref": "AlertsTopic"})
    );
    assert_eq!(config.alerts.topic_arn.as_deref(), Some(topic));
    assert_eq!(
        env[config::env::ALERTS_EVENT_BUS],
        json!({"Fn::If": ["AlertsOnStackBus", {"Ref": "AlertsBus"}, "default"]})
    );
    assert_eq!(
        config.alerts.event_bus.as_deref(),
        Some("atlassian-audit-alerts"),
        "the stack's own bus by default"
    );
    assert_eq!(
        config.alerts.min_severity,
        config::DEFAULT_ALERTS_MIN_SEVERITY
    );
    assert_eq!(config.metrics_namespace, config::DEFAULT_METRICS_NAMESPACE);
    assert_eq!(config.initial_lookback, config::DEFAULT_INITIAL_LOOKBACK);
    assert_eq!(config.source_id.as_deref(), Some("atlassian-audit"));
    // The key goes to Atlassian only, and writes name the account that owns the bucket.
    assert_eq!(config.api_base_url.as_str(), "https://api.atlassian.com/");
    config
        .require_allowed_api_host()
        .expect("the default base URL passes the Lambda's host check");
    assert!(matches!(
        config.objects,
        config::ObjectLocation::S3 { expected_owner: Some(ref o), .. } if o == "123456789012"
    ));
    assert_eq!(config.detection_rules, None, "the built-in pack by default");
}

#[test]
fn the_no_events_alarm_fires_on_silence_and_on_a_stopped_collector() {
    let t = template();
    let alarm = &resource(&t, "NoEventsAlarm")["Properties"];
    assert_eq!(alarm["MetricName"], "EventsProcessed");
    assert!(emitted_metric_names().contains("EventsProcessed"));
    assert_eq!(alarm["Statistic"], "Sum");
    assert_eq!(alarm["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(as_f64(&alarm["Threshold"]), 1.0);
    // Missing data (the collector not running at all) must alarm too.
    assert_eq!(alarm["TreatMissingData"], "breaching");
    // Every hour of the timeframe must be empty: the sum over the whole window is below 1.
    let period = as_f64(&alarm["Period"]);
    let evaluation = as_f64(&resolve(&t, &alarm["EvaluationPeriods"]));
    let datapoints = as_f64(&resolve(&t, &alarm["DatapointsToAlarm"]));
    assert_eq!(evaluation, datapoints);
    assert_eq!(
        period * evaluation,
        24.0 * 3600.0,
        "default timeframe is 24 h"
    );
    // CloudWatch allows at most 7 days of evaluation for periods of an hour or more.
    assert!(period >= 3600.0);
    assert!(as_f64(&t["Parameters"]["NoEventsAlarmHours"]["MaxValue"]) * period <= 7.0 * 86400.0);
    // It can be turned off, and it re-notifies while it lasts.
    assert_eq!(
        resource(&t, "NoEventsAlarm")["Condition"],
        "NoEventsAlarmOn"
    );
    assert!(condition(&t, "NoEventsAlarmOn"), "on by default");
    let reminder = &resource(&t, "NoEventsReminder")["Properties"]["Target"];
    assert!(reminder["Arn"]
        .to_string()
        .contains("cloudwatch:setAlarmState"));
    assert!(
        condition(&t, "NoEventsReminderOn"),
        "reminders on by default"
    );
}

/// The alarms on the detect stage running degraded (the archive never waits on it): a batch
/// archived without announcing its alerts, or without evaluating some of its events.
///
/// And the state the detect stage keeps found rewritten under it. Each metric is one the code
/// emits (`emitted_metric_names`).
const DETECT_STAGE_ALARMS: [(&str, &str); 3] = [
    ("AlertsUndeliveredAlarm", "AlertsUndelivered"),
    ("DetectionsSkippedAlarm", "DetectionsSkipped"),
    ("DetectStateRejectedAlarm", "DetectStateRejected"),
];

#[test]
fn a_degraded_detect_stage_alarms() {
    let t = template();
    let source_id = resolve(&t, &function_env(&t)[config::env::SOURCE_ID]);
    let namespace = resolve(&t, &function_env(&t)[config::env::METRICS_NAMESPACE]);
    let emitted = emitted_metric_names();
    for (name, metric) in DETECT_STAGE_ALARMS {
        let alarm = &resource(&t, name)["Properties"];
        assert_eq!(alarm["MetricName"], metric, "{name}");
        assert!(emitted.contains(metric), "{name}: the code emits {metric}");
        assert_eq!(resolve(&t, &alarm["Namespace"]), namespace, "{name}");
        let dims = alarm["Dimensions"].as_array().expect("dimensions");
        assert_eq!(dims.len(), 1, "{name}: the EMF line has one dimension");
        assert_eq!(dims[0]["Name"], DIMENSION, "{name}");
        assert_eq!(resolve(&t, &dims[0]["Value"]), source_id, "{name}");
        // Declared only when not zero: any count in a period alarms, no data is fine.
        assert_eq!(alarm["Statistic"], "Sum", "{name}");
        assert_eq!(
            alarm["ComparisonOperator"], "GreaterThanThreshold",
            "{name}"
        );
        assert_eq!(as_f64(&alarm["Threshold"]), 0.0, "{name}");
        assert_eq!(as_f64(&alarm["EvaluationPeriods"]), 1.0, "{name}");
        assert_eq!(as_f64(&alarm["Period"]), 300.0, "{name}");
        assert_eq!(alarm["TreatMissingData"], "notBreaching", "{name}");
        assert_eq!(
            alarm["AlarmActions"],
            json!([{"Ref": "AlarmTopic"}]),
            "{name}"
        );
        assert_eq!(alarm["OKActions"], json!([{"Ref": "AlarmTopic"}]), "{name}");
        let output = name.to_string() + "Name";
        assert_eq!(t["Outputs"][&output]["Value"], json!({"Ref": name}));
        // Not one of the other alarms' metrics.
        for other in CUSTOM_METRIC_ALARMS {
            assert_ne!(resource(&t, other)["Properties"]["MetricName"], metric);
        }
    }
}

/// The alarms on the collector's own metrics.
const CUSTOM_METRIC_ALARMS: [&str; 6] = [
    "NoEventsAlarm",
    "AuthFailuresAlarm",
    "IngestLagAlarm",
    "LeaseHeldAlarm",
    "KeyExpiryAlarm",
    "CheckpointWentBackwardsAlarm",
];

#[test]
fn every_alarm_watches_this_source_and_notifies_the_topic() {
    let t = template();
    let source_id = resolve(&t, &function_env(&t)[config::env::SOURCE_ID]);
    let namespace = resolve(&t, &function_env(&t)[config::env::METRICS_NAMESPACE]);
    let emitted = emitted_metric_names();
    for name in CUSTOM_METRIC_ALARMS {
        let alarm = &resource(&t, name)["Properties"];
        assert_eq!(resolve(&t, &alarm["Namespace"]), namespace, "{name}");
        assert!(
            emitted.contains(alarm["MetricName"].as_str().expect("metric name")),
            "{name} watches a metric the collector does not emit"
        );
        let dims = alarm["Dimensions"].as_array().expect("dimensions");
        assert_eq!(
            dims.len(),
            1,
            "{name}: the EMF line has exactly one dimension"
        );
        assert_eq!(dims[0]["Name"], DIMENSION, "{name}");
        assert_eq!(resolve(&t, &dims[0]["Value"]), source_id, "{name}");
    }
    let auth = &resource(&t, "AuthFailuresAlarm")["Properties"];
    assert_eq!(auth["MetricName"], "AuthFailures");
    assert_eq!(auth["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(as_f64(&auth["Threshold"]), 1.0, "alarm on the first 401");

    let errors = &resource(&t, "FunctionErrorsAlarm")["Properties"];
    assert_eq!(errors["Namespace"], "AWS/Lambda");
    assert_eq!(errors["MetricName"], "Errors");
    assert_eq!(
        errors["Dimensions"][0]["Value"],
        json!({"Ref": "CollectorFunction"})
    );

    for name in CUSTOM_METRIC_ALARMS.iter().chain(&["FunctionErrorsAlarm"]) {
        assert_eq!(
            resource(&t, name)["Properties"]["AlarmActions"],
            json!([{"Ref": "AlarmTopic"}]),
            "{name}"
        );
    }
}

#[test]
fn one_run_at_a_time_and_no_overlapping_retries() {
    let t = template();
    let f = resource(&t, "CollectorFunction");
    let p = &f["Properties"];
    // Single-org mode (the default): one run at a time. Registry mode's bound is the mapping's.
    assert_eq!(
        as_f64(&resolve(&t, &p["ReservedConcurrentExecutions"])),
        1.0
    );
    assert_eq!(as_f64(&p["EventInvokeConfig"]["MaximumRetryAttempts"]), 0.0);
    assert_eq!(p["Runtime"], "provided.al2023");
    assert_eq!(p["Architectures"], json!(["arm64"]));
    assert_eq!(p["LoggingConfig"]["LogFormat"], "JSON");
    assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda");
    // The binary SAM builds is the Lambda binary of this crate (renaming it breaks this line).
    let bin = Path::new(env!("CARGO_BIN_EXE_atlassian-audit-lambda"));
    assert_eq!(
        f["Metadata"]["BuildProperties"]["Binary"],
        bin.file_name()
            .and_then(|n| n.to_str())
            .expect("binary name")
    );
    // The timeout stays within the default interval, so scheduled runs do not queue.
    let timeout = as_f64(&resolve(&t, &p["Timeout"]));
    assert!(timeout < 300.0, "default timeout {timeout} s");
    let schedule = &p["Events"]["Schedule"];
    assert_eq!(schedule["Type"], "Schedule");
    assert_eq!(
        resolve(&t, &schedule["Properties"]["Schedule"]),
        "rate(5 minutes)"
    );
    assert_eq!(resolve(&t, &schedule["Properties"]["State"]), "ENABLED");
    let log_group = &resource(&t, "CollectorLogGroup")["Properties"];
    assert!(as_f64(&resolve(&t, &log_group["RetentionInDays"])) > 0.0);
}

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
    // Objects may be written only under the three prefixes the collector writes, and the
    // high-water mark.
    // With the OCSF copy (OcsfCopy), its ledger and quarantine beside the archive, and the five
    // custom sources' folders (in Security Lake's bucket, or the stack's).
    assert_eq!(object_resources.len(), 7);
    assert!(object_resources[0].contains(&format!("${{OutputPrefix}}logs/{TABLE}/*")));
    assert!(object_resources[1].contains(&format!("${{OutputPrefix}}quarantine/{TABLE}/*")));
    assert!(object_resources[2].contains(&format!("${{OutputPrefix}}alerts/{TABLE}/*")));
    let mark = format!("${{OutputPrefix}}high-water/{TABLE}/*");
    assert!(object_resources[3].contains(&mark));
    assert!(object_resources[4].contains(&format!("${{OutputPrefix}}ocsf-state/{TABLE}/*")));
    assert!(object_resources[5].contains(&format!("${{OutputPrefix}}ocsf-quarantine/{TABLE}/*")));
    for class in atlassian_audit::ocsf::OcsfClass::ALL {
        let folder = format!("ext/{}/*", class.source_name());
        assert_eq!(
            object_resources[6].matches(&folder).count(),
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
    // A missing mark answers 404, not 403, only with ListBucket on its prefix.
    let listing = role_statement(role, "CheckReachesTheBucket");
    let prefixes = listing["Condition"]["StringLike"]["s3:prefix"].to_string();
    assert!(prefixes.contains(&mark), "{prefixes}");
    assert!(prefixes.contains("${OutputPrefix}logs/*"), "{prefixes}");
}

fn role_statement<'a>(role: &'a Value, sid: &str) -> &'a Value {
    role["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["PolicyDocument"]["Statement"].as_array())
        .flatten()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("statement {sid}"))
}

#[test]
fn storage_is_private_encrypted_versioned_and_recoverable() {
    let t = template();
    let bucket = &resource(&t, "OutputBucket")["Properties"];
    let sse = &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        ["ServerSideEncryptionByDefault"];
    // Both branches of the Encryption parameter encrypt.
    assert_eq!(
        sse["SSEAlgorithm"],
        json!({"Fn::If": ["UseCustomerKey", "aws:kms", "AES256"]})
    );
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][setting],
            json!(true),
            "{setting}"
        );
    }
    let deny = &resource(&t, "OutputBucketPolicy")["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(deny["Effect"], "Deny");
    // A boolean, as the AWS Guard rule compares it.
    assert_eq!(
        deny["Condition"]["Bool"]["aws:SecureTransport"],
        json!(false)
    );

    let table = &resource(&t, "CheckpointTable")["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["KeySchema"],
        json!([{"AttributeName": "source_id", "KeyType": "HASH"}])
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        json!(true)
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"], json!(true));
    assert_eq!(table["DeletionProtectionEnabled"], json!(true));
}

/// Object Lock on the new bucket (governance by default, a retention parameter, compliance as
/// an option), and a policy that leaves the removal of versions and every loosening of what
/// keeps them to one named admin. Overwrites and deletes (what a redone batch needs) stay
/// allowed: on a locked, versioned bucket they add a version or a delete marker.
#[test]
fn the_archive_cannot_be_quietly_erased() {
    let t = template();
    let bucket = &resource(&t, "OutputBucket")["Properties"];
    assert_eq!(bucket["ObjectLockEnabled"], json!(true));
    let lock = &bucket["ObjectLockConfiguration"];
    assert_eq!(lock["ObjectLockEnabled"], "Enabled");
    let retention = &lock["Rule"]["DefaultRetention"];
    assert_eq!(resolve(&t, &retention["Mode"]), "GOVERNANCE");
    assert_eq!(
        t["Parameters"]["ObjectLockMode"]["AllowedValues"],
        json!(["GOVERNANCE", "COMPLIANCE"])
    );
    assert!(as_f64(&resolve(&t, &retention["Days"])) >= 1.0);

    let statements = resource(&t, "OutputBucketPolicy")["Properties"]["PolicyDocument"]
        ["Statement"]
        .as_array()
        .expect("statements")
        .clone();
    let admin_only = statements
        .iter()
        .find(|s| s["Sid"] == "OnlyTheArchiveAdminRemovesVersionsOrLoosensRetention")
        .expect("the admin-only statement");
    assert_eq!(admin_only["Effect"], "Deny");
    assert_eq!(admin_only["Principal"], "*");
    let actions: BTreeSet<&str> = admin_only["Action"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for needed in [
        "s3:DeleteObjectVersion",
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketVersioning",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketObjectLockConfiguration",
        "s3:PutObjectRetention",
        "s3:BypassGovernanceRetention",
    ] {
        assert!(actions.contains(needed), "{needed} is not denied");
    }
    // What the collector does to repair a batch is not denied.
    for repair in ["s3:PutObject", "s3:DeleteObject"] {
        assert!(!actions.contains(repair), "{repair} must stay allowed");
    }
    // The exception is the named admin, and only when one is named.
    assert_eq!(
        admin_only["Condition"]["Fn::If"][1]["ArnNotEquals"]["aws:PrincipalArn"],
        json!({"Ref": "ArchiveAdminPrincipalArn"})
    );
    assert_eq!(
        admin_only["Condition"]["Fn::If"][2],
        json!({"Ref": "AWS::NoValue"})
    );

    // Nor may anyone else open the bucket up or copy it away: ACLs back on (ownership), the
    // public access block lifted, a replication rule to a bucket of theirs.
    let opens = statements
        .iter()
        .find(|s| s["Sid"] == "OnlyTheArchiveAdminOpensOrCopiesTheBucket")
        .expect("the statement on access and copies");
    assert_eq!(opens["Effect"], "Deny");
    assert_eq!(opens["Principal"], "*");
    assert_eq!(
        opens["Action"],
        json!([
            "s3:PutBucketOwnershipControls",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutReplicationConfiguration"
        ])
    );
    assert_eq!(
        opens["Resource"],
        json!({"Fn::GetAtt": ["OutputBucket", "Arn"]})
    );
    assert_eq!(opens["Condition"], admin_only["Condition"]);
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

/// Keys of an existing bucket or secret are used through those services only, and each trust
/// policy names the service resources that may assume its role.
/// The resources of every role statement allowing `action`.
fn statements_with(role: &Value, action: &str) -> Vec<Value> {
    let mut resources = Vec::new();
    for policy in role["Policies"].as_array().expect("inline policies") {
        let policy = policy.get("Fn::If").map_or(policy, |args| &args[1]);
        for st in policy["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements")
        {
            let allows = match &st["Action"] {
                Value::String(a) => a == action,
                Value::Array(a) => a.iter().any(|x| x == action),
                _ => false,
            };
            if allows {
                match &st["Resource"] {
                    Value::Array(r) => resources.extend(r.iter().cloned()),
                    r => resources.push(r.clone()),
                }
            }
        }
    }
    resources
}

/// The name the stack's alerts bus gets with the defaults (its `Ref`).
fn alerts_bus_name(t: &Value) -> String {
    resolve_sub(
        t,
        &resource(t, "AlertsBus")["Properties"]["Name"]["Fn::Sub"],
    )
}

/// The statement of a policy document with this Sid.
fn statement<'a>(document: &'a Value, sid: &str) -> &'a Value {
    document["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

/// "Everyone but the collector's role": the condition of a deny that spares that role alone.
fn all_but_the_role() -> Value {
    json!({"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["CollectorRole", "Arn"]}}})
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

/// Every AWS Guard rule the template does not follow is suppressed on its resource with a
/// reason next to it (the rules themselves are run by scripts/template-check.sh).
#[test]
fn guard_suppressions_carry_their_reasons() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml");
    let lines: Vec<&str> = text.lines().collect();
    let mut in_suppressed = false;
    let mut seen = 0;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed == "SuppressedRules:" {
            in_suppressed = true;
            continue;
        }
        if in_suppressed && trimmed.starts_with("- ") {
            seen += 1;
            let reason_above = lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.trim().starts_with('#') || l.trim().starts_with("- "))
                .any(|l| l.trim().starts_with('#'));
            assert!(reason_above, "line {}: {trimmed} has no reason", i + 1);
        } else if in_suppressed && !trimmed.starts_with('#') {
            in_suppressed = false;
        }
    }
    assert!(seen >= 9, "{seen} suppressions found");
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

#[test]
fn the_outputs_name_what_an_operator_needs() {
    let t = template();
    for output in [
        "BucketName",
        "CheckpointTableName",
        "SecretArn",
        "FunctionName",
        "NoEventsAlarmName",
        "AuthFailuresAlarmName",
        "FunctionErrorsAlarmName",
        "IngestLagAlarmName",
        "LeaseHeldAlarmName",
        "KeyExpiryAlarmName",
        "CheckpointWentBackwardsAlarmName",
        "DashboardName",
        "AlertsTopicArn",
        "AlertsEventBusName",
        "AlertsUndeliveredAlarmName",
        "DetectionsSkippedAlarmName",
    ] {
        assert!(t["Outputs"].get(output).is_some(), "output {output}");
    }
}

#[test]
fn falling_behind_a_held_lease_and_an_expiring_key_each_alarm() {
    let t = template();
    let emitted = emitted_metric_names();
    let props = |name: &str| resource(&t, name)["Properties"].clone();

    // Ingest lag: over 2 hours (the default), on runs that had events left to collect; runs that
    // caught up emit nothing, so missing data is fine.
    let lag = props("IngestLagAlarm");
    assert_eq!(lag["MetricName"], "IngestLagSeconds");
    assert_eq!(lag["Statistic"], "Maximum");
    assert_eq!(lag["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(as_f64(&resolve(&t, &lag["Threshold"])), 2.0 * 3600.0);
    assert_eq!(lag["TreatMissingData"], "notBreaching");
    let caught_up = emf_lines()
        .into_iter()
        .filter(|v| v["StopReason"] == "caught_up")
        .collect::<Vec<_>>();
    assert!(!caught_up.is_empty());
    for v in caught_up {
        assert!(
            v.get("IngestLagSeconds").is_none(),
            "a caught-up run is not behind"
        );
    }

    // Lease held: runs skipped for longer than two intervals of the default 5-minute schedule.
    let lease = props("LeaseHeldAlarm");
    assert_eq!(lease["MetricName"], "LeaseHeld");
    assert_eq!(lease["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(as_f64(&lease["Threshold"]), 1.0);
    assert_eq!(lease["TreatMissingData"], "notBreaching");
    let period = as_f64(&lease["Period"]);
    assert_eq!(period, 300.0, "one period per run of the default schedule");
    let datapoints = as_f64(&lease["DatapointsToAlarm"]);
    assert!(datapoints > 2.0, "more than two schedule intervals");
    assert!(as_f64(&lease["EvaluationPeriods"]) >= datapoints);

    // Key expiry: under 14 days by default, as the check says; no expiry known, no data, no alarm.
    let key = props("KeyExpiryAlarm");
    assert_eq!(key["MetricName"], "KeyDaysLeft");
    assert_eq!(key["Statistic"], "Minimum");
    assert_eq!(key["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(
        as_f64(&resolve(&t, &key["Threshold"])),
        KEY_EXPIRY_WARNING_DAYS
    );
    assert_eq!(key["TreatMissingData"], "notBreaching");
    for name in ["IngestLagAlarm", "LeaseHeldAlarm", "KeyExpiryAlarm"] {
        let p = props(name);
        assert!(
            emitted.contains(p["MetricName"].as_str().unwrap()),
            "{name}"
        );
        assert_eq!(p["OKActions"], json!([{"Ref": "AlarmTopic"}]), "{name}");
    }
}

/// `!Sub [text, vars]` as CloudFormation resolves it with the parameters' defaults.
fn resolve_sub(t: &Value, sub: &Value) -> String {
    let (text, vars) = match sub {
        Value::Array(a) => (a[0].as_str().expect("Sub text"), a[1].clone()),
        Value::String(s) => (s.as_str(), json!({})),
        other => panic!("Fn::Sub form {other}"),
    };
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        let name = &rest[start + 2..end];
        let value = match vars.get(name) {
            Some(v) => resolve(t, v),
            None => resolve(t, &json!({ "Ref": name })),
        };
        out.push_str(
            value
                .as_str()
                .map(str::to_string)
                .unwrap_or(value.to_string())
                .as_str(),
        );
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_dashboard_reads_what_the_code_emits_and_draws_each_alarm() {
    let t = template();
    let dashboard = resource(&t, "Dashboard");
    assert_eq!(dashboard["Condition"], "DashboardOn");
    assert!(condition(&t, "DashboardOn"), "on by default");
    let body = resolve_sub(&t, &dashboard["Properties"]["DashboardBody"]["Fn::Sub"]);
    let body: Value = serde_json::from_str(&body).expect("the dashboard body is JSON");
    let source_id = resolve(&t, &function_env(&t)[config::env::SOURCE_ID]);
    let namespace = resolve(&t, &function_env(&t)[config::env::METRICS_NAMESPACE]);
    let function = resolve(&t, &json!({"Ref": "CollectorFunction"}));
    let log_group = resolve(&t, &json!({"Ref": "CollectorLogGroup"}));
    let emitted = emitted_metric_names();
    let fields = emitted_fields();

    // Each metric's alarm line: the threshold of the alarm that watches it.
    let threshold = |alarm: &str| {
        as_f64(&resolve(
            &t,
            &resource(&t, alarm)["Properties"]["Threshold"],
        ))
    };
    let timeout_ms = as_f64(&parameter_default(&t, "FunctionTimeout")) * 1000.0;
    let alarm_line: BTreeMap<&str, f64> = [
        ("EventsProcessed", threshold("NoEventsAlarm")),
        ("IngestLagSeconds", threshold("IngestLagAlarm")),
        ("AuthFailures", threshold("AuthFailuresAlarm")),
        ("LeaseHeld", threshold("LeaseHeldAlarm")),
        ("KeyDaysLeft", threshold("KeyExpiryAlarm")),
        ("Errors", threshold("FunctionErrorsAlarm")),
        ("Duration", timeout_ms),
    ]
    .into_iter()
    .collect();

    let mut read = BTreeSet::new();
    let mut titles = Vec::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        let p = &widget["properties"];
        match widget["type"].as_str().expect("widget type") {
            "text" => continue,
            "metric" => {
                let metrics = p["metrics"].as_array().expect("metrics");
                assert_eq!(metrics.len(), 1, "one metric a widget: {}", p["title"]);
                let m = metrics[0].as_array().expect("metric row");
                let name = m[1].as_str().expect("metric name");
                if m[0] == "AWS/Lambda" {
                    assert!(["Duration", "Errors"].contains(&name), "{name}");
                    assert_eq!(m[2], "FunctionName");
                    assert_eq!(m[3], function);
                } else {
                    assert_eq!(m[0], namespace, "{name}");
                    assert!(
                        emitted.contains(name),
                        "the dashboard reads {name}, which the code does not emit"
                    );
                    assert_eq!(m[2], DIMENSION, "{name}");
                    assert_eq!(m[3], source_id, "{name}");
                    read.insert(name.to_string());
                }
                // Alerts are delivered on their own topic: that widget has no alarm to draw.
                if name == "AlertsRaised" {
                    assert!(p["annotations"].is_null(), "no alarm watches AlertsRaised");
                } else {
                    let lines = p["annotations"]["horizontal"]
                        .as_array()
                        .expect("an alarm line");
                    assert_eq!(
                        as_f64(&lines[0]["value"]),
                        alarm_line[name],
                        "the alarm line of {name}"
                    );
                }
            }
            "log" => {
                let query = p["query"].as_str().expect("query");
                assert!(
                    query.starts_with(&format!("SOURCE '{}' |", log_group.as_str().unwrap())),
                    "{query}"
                );
                // Every field a query reads is a field of the EMF line, and no CloudWatch metric.
                let read_fields = ["ispresent(", "sum("].iter().flat_map(|f| {
                    query.match_indices(f).map(move |(at, _)| {
                        let rest = &query[at + f.len()..];
                        &rest[..rest.find(')').expect("closed call")]
                    })
                });
                for part in read_fields {
                    assert!(
                        LOG_FIELDS.contains(&part) && fields.contains(part),
                        "the query reads {part}, which the EMF line does not carry as a plain field"
                    );
                    assert!(!emitted.contains(part));
                }
            }
            other => panic!("widget type {other}"),
        }
        assert_eq!(p["region"], "us-east-1");
        titles.push(p["title"].as_str().expect("title").to_lowercase());
    }
    for wanted in [
        "events written per hour",
        "ingest lag",
        "pages fetched and throttled",
        "auth failures",
        "run duration against the timeout",
        "quarantined events",
        "days left",
        "alerts raised",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no widget for {wanted}: {titles:?}"
        );
    }

    // Only what an alarm or the dashboard reads is a CloudWatch metric.
    for alarm in CUSTOM_METRIC_ALARMS
        .into_iter()
        .chain(DETECT_STAGE_ALARMS.map(|(alarm, _)| alarm))
    {
        read.insert(
            resource(&t, alarm)["Properties"]["MetricName"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        read, emitted,
        "every declared metric is read, and nothing else is declared"
    );
}

/// A condition or rule assertion with the parameters `given` (every other at its default).
fn holds(t: &Value, c: &Value, given: &BTreeMap<&str, &str>) -> bool {
    let value = |v: &Value| match v.get("Ref").and_then(Value::as_str) {
        Some(name) => given
            .get(name)
            .map(|g| json!(g))
            .unwrap_or_else(|| parameter_default(t, name)),
        None => v.clone(),
    };
    let args = |f: &str| c.get(f).and_then(Value::as_array);
    if let Some(a) = args("Fn::Equals") {
        return value(&a[0]) == value(&a[1]);
    }
    if let Some(a) = args("Fn::Not") {
        return !holds(t, &a[0], given);
    }
    if let Some(a) = args("Fn::And") {
        return a.iter().all(|x| holds(t, x, given));
    }
    if let Some(a) = args("Fn::Or") {
        return a.iter().any(|x| holds(t, x, given));
    }
    if let Some(name) = c.get("Condition").and_then(Value::as_str) {
        return holds(t, &t["Conditions"][name], given);
    }
    panic!("form not understood by this test: {c}");
}

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
