//! The deployable stack (`template.yaml`) against the code it deploys: the names the function is
//! given are the names the code reads, the alarms watch metrics the code emits, and the
//! essentials (alarm semantics, one run at a time, least-privilege IAM) cannot drift. One file
//! per concern; the template readers they share are here.
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
mod alarms;
mod alerts;

use alerts::alerts_bus_name;
mod dashboard;
mod iam;
mod rules;
mod storage;

pub(super) fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(r.is_object(), "template.yaml has no resource {name}");
    r
}

pub(super) fn parameter_default(t: &Value, name: &str) -> Value {
    t["Parameters"][name]["Default"].clone()
}

pub(super) fn as_f64(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{v} is not a number"))
}

/// A value with parameters replaced by their defaults, conditions taken with the defaults, and
/// references to resources replaced by a stand-in name, as CloudFormation would resolve it.
pub(super) fn resolve(t: &Value, v: &Value) -> Value {
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
pub(super) fn condition(t: &Value, name: &str) -> bool {
    holds(t, &t["Conditions"][name], &BTreeMap::new())
}

pub(super) fn function_env(t: &Value) -> BTreeMap<String, Value> {
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
pub(super) fn emf_lines() -> Vec<Value> {
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
pub(super) fn emitted_metric_names() -> BTreeSet<String> {
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
pub(super) fn emitted_fields() -> BTreeSet<String> {
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
        config::ocsf_env::OCSF_SOURCE_LOCATIONS,
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

/// Keys of an existing bucket or secret are used through those services only, and each trust
/// policy names the service resources that may assume its role.
/// The resources of every role statement allowing `action`.
pub(super) fn statements_with(role: &Value, action: &str) -> Vec<Value> {
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

/// The statement of a policy document with this Sid.
pub(super) fn statement<'a>(document: &'a Value, sid: &str) -> &'a Value {
    document["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

/// "Everyone but the collector's role": the condition of a deny that spares that role alone.
pub(super) fn all_but_the_role() -> Value {
    json!({"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["CollectorRole", "Arn"]}}})
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

/// `!Sub [text, vars]` as CloudFormation resolves it with the parameters' defaults.
pub(super) fn resolve_sub(t: &Value, sub: &Value) -> String {
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

/// A value of a condition with the parameters `given`: a literal, a `Ref`, or the `Fn::Join`
/// and `Fn::Split` the conditions use (every other at its default).
fn value_of(t: &Value, v: &Value, given: &BTreeMap<&str, &str>) -> Value {
    let args = |f: &str| v.get(f).and_then(Value::as_array);
    if let Some(name) = v.get("Ref").and_then(Value::as_str) {
        return given
            .get(name)
            .map(|g| json!(g))
            .unwrap_or_else(|| parameter_default(t, name));
    }
    if let Some(a) = args("Fn::Join") {
        let parts = value_of(t, &a[1], given);
        let parts: Vec<&str> = parts
            .as_array()
            .map(|p| p.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        return json!(parts.join(a[0].as_str().unwrap_or("")));
    }
    if let Some(a) = args("Fn::Split") {
        let whole = value_of(t, &a[1], given);
        let whole = whole.as_str().unwrap_or("");
        return json!(whole.split(a[0].as_str().unwrap_or("")).collect::<Vec<_>>());
    }
    match v.as_array() {
        Some(items) => json!(items
            .iter()
            .map(|i| value_of(t, i, given))
            .collect::<Vec<_>>()),
        None => v.clone(),
    }
}

/// A condition or rule assertion with the parameters `given` (every other at its default).
pub(super) fn holds(t: &Value, c: &Value, given: &BTreeMap<&str, &str>) -> bool {
    let value = |v: &Value| value_of(t, v, given);
    let args = |f: &str| c.get(f).and_then(Value::as_array);
    if let Some(a) = args("Fn::Equals") {
        // CloudFormation compares as strings: 0 and "0" are equal.
        let text = |v: Value| v.as_str().map(str::to_string).unwrap_or(v.to_string());
        return text(value(&a[0])) == text(value(&a[1]));
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
