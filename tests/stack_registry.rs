//! The stack in registry mode (`SourcesRegistry=Enabled`) against the code it deploys: the
//! dispatcher and the collector are given the settings the code reads, the queue feeds the
//! collector as its handler answers, each alarm reads a metric the code emits grouped by the
//! dimension the code writes, and the roles allow only what registry mode calls.
//! (Single-org mode: tests/integration/stack.rs.)
use atlassian_audit::config::{self, Config, DispatchSettings};
use atlassian_audit::dispatch::TaskMessage;
use atlassian_audit::lambda::{SqsBatchResponse, TASK_FAILED};
use atlassian_audit::metrics::{BACKFILL_PROGRESS_PERCENT, CLOUDWATCH_METRICS, DIMENSION};
use atlassian_audit::registry::TaskKind;
use atlassian_audit_test_support::template::template;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The template with `SourcesRegistry=Enabled` and every other parameter at its default.
struct Registry {
    t: Value,
}

impl Registry {
    fn new() -> Self {
        Registry { t: template() }
    }

    fn parameter(&self, name: &str) -> Value {
        if name == "SourcesRegistry" {
            return json!("Enabled");
        }
        self.t["Parameters"][name]["Default"].clone()
    }

    fn resource(&self, name: &str) -> &Value {
        let r = &self.t["Resources"][name];
        assert!(r.is_object(), "template.yaml has no resource {name}");
        r
    }

    /// Whether the resource exists in registry mode.
    fn deployed(&self, name: &str) -> bool {
        match self.resource(name).get("Condition").and_then(Value::as_str) {
            None => true,
            Some(c) => self.condition(c),
        }
    }

    fn condition(&self, name: &str) -> bool {
        self.evaluate(&self.t["Conditions"][name])
    }

    fn evaluate(&self, c: &Value) -> bool {
        if let Some(args) = c.get("Fn::Equals").and_then(Value::as_array) {
            let (a, b) = (self.resolve(&args[0]), self.resolve(&args[1]));
            let plain = |v: Value| v.to_string().trim_matches('"').to_string();
            return plain(a) == plain(b);
        }
        if let Some(args) = c.get("Fn::Not").and_then(Value::as_array) {
            return !self.evaluate(&args[0]);
        }
        if let Some(args) = c.get("Fn::And").and_then(Value::as_array) {
            return args.iter().all(|a| self.evaluate(a));
        }
        if let Some(args) = c.get("Fn::Or").and_then(Value::as_array) {
            return args.iter().any(|a| self.evaluate(a));
        }
        if let Some(name) = c.get("Condition").and_then(Value::as_str) {
            return self.condition(name);
        }
        if let Some(args) = c.get("Fn::Join").and_then(Value::as_array) {
            let parts = self.resolve(&args[1]);
            return parts.as_array().is_none_or(|p| p.is_empty());
        }
        panic!("condition form not understood by this test: {c}");
    }

    /// A value as CloudFormation would resolve it in registry mode (`None`: AWS::NoValue).
    fn resolve(&self, v: &Value) -> Value {
        if let Some(name) = v.get("Ref").and_then(Value::as_str) {
            if self.t["Parameters"].get(name).is_some() {
                return self.parameter(name);
            }
            return match name {
                "AWS::StackName" => json!("atlassian-audit"),
                "AWS::Region" => json!("us-east-1"),
                "AWS::AccountId" => json!("123456789012"),
                "AWS::NoValue" => Value::Null,
                _ => json!(format!("stand-in-{}", name.to_lowercase())),
            };
        }
        if let Some(args) = v.get("Fn::If").and_then(Value::as_array) {
            let cond = self.condition(args[0].as_str().expect("condition name"));
            return self.resolve(if cond { &args[1] } else { &args[2] });
        }
        v.clone()
    }

    /// `${Name}` of a `!Sub` string replaced by parameters and pseudo parameters.
    fn sub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in [
            ("AWS::StackName", json!("atlassian-audit")),
            ("AWS::Region", json!("us-east-1")),
            ("AWS::AccountId", json!("123456789012")),
            ("AWS::Partition", json!("aws")),
        ]
        .into_iter()
        .chain(
            self.t["Parameters"]
                .as_object()
                .expect("parameters")
                .keys()
                .map(|k| (k.as_str(), self.parameter(k))),
        ) {
            let value = value
                .as_str()
                .map(str::to_string)
                .unwrap_or(value.to_string());
            out = out.replace(&format!("${{{name}}}"), &value);
        }
        out
    }

    fn env(&self, function: &str) -> BTreeMap<String, String> {
        self.resource(function)["Properties"]["Environment"]["Variables"]
            .as_object()
            .expect("environment variables")
            .iter()
            .filter_map(|(k, v)| {
                let v = self.resolve(v);
                (!v.is_null()).then(|| {
                    (
                        k.clone(),
                        v.as_str().map(str::to_string).unwrap_or(v.to_string()),
                    )
                })
            })
            .collect()
    }
}

fn actions_of(statements: &Value) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for st in statements.as_array().expect("statements") {
        assert_eq!(st["Effect"], "Allow");
        match &st["Action"] {
            Value::String(a) => {
                actions.insert(a.clone());
            }
            Value::Array(a) => {
                actions.extend(a.iter().map(|x| x.as_str().unwrap_or("").to_string()))
            }
            other => panic!("action {other}"),
        }
        assert_ne!(st["Resource"], "*", "{} names no resource", st["Sid"]);
    }
    assert!(actions.iter().all(|a| !a.contains('*')), "{actions:?}");
    actions
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_dispatcher_is_given_exactly_what_it_reads_and_is_the_dispatcher_binary() {
    let r = Registry::new();
    for name in [
        "DispatcherFunction",
        "DispatcherRole",
        "TaskQueue",
        "TaskDeadLetterQueue",
        "TaskEventSourceMapping",
        "CollectorRegistryPolicy",
        "TaskDeadLetterAlarm",
    ] {
        assert!(r.deployed(name), "{name} is deployed in registry mode");
        assert_eq!(
            r.resource(name)["Condition"],
            "RegistryMode",
            "{name} is registry mode's alone"
        );
    }
    let f = r.resource("DispatcherFunction");
    let env = r.env("DispatcherFunction");
    let keys: BTreeSet<String> = env.keys().cloned().collect();
    assert_eq!(
        keys,
        set(&[
            config::env::SOURCES_TABLE,
            config::env::DISPATCH_QUEUE_URL,
            "RUST_LOG"
        ])
    );
    assert_eq!(
        f["Properties"]["Environment"]["Variables"][config::env::SOURCES_TABLE],
        json!({"Ref": "CheckpointTable"})
    );
    assert_eq!(
        f["Properties"]["Environment"]["Variables"][config::env::DISPATCH_QUEUE_URL],
        json!({"Ref": "TaskQueue"})
    );
    // The queue's Ref is its URL; a stand-in URL makes the settings valid.
    let settings = DispatchSettings::from_lookup(|name| match name {
        config::env::DISPATCH_QUEUE_URL => {
            Some("https://sqs.us-east-1.amazonaws.com/123456789012/tasks".into())
        }
        _ => env.get(name).cloned(),
    })
    .expect("the dispatcher's environment is valid");
    assert_eq!(settings.sources_table, "stand-in-checkpointtable");
    let bin = Path::new(env!("CARGO_BIN_EXE_atlassian-audit-dispatcher"));
    assert_eq!(
        f["Metadata"]["BuildProperties"]["Binary"],
        bin.file_name().and_then(|n| n.to_str()).expect("name")
    );
    let p = &f["Properties"];
    assert_eq!(
        p["ReservedConcurrentExecutions"],
        json!(1),
        "one dispatch at a time"
    );
    assert_eq!(
        p["EventInvokeConfig"]["MaximumRetryAttempts"],
        json!(0),
        "the next schedule is the retry"
    );
    assert_eq!(
        p["Events"]["Schedule"]["Properties"]["Schedule"],
        json!({"Ref": "ScheduleExpression"})
    );
    assert_eq!(
        r.resolve(&p["Events"]["Schedule"]["Properties"]["State"]),
        "ENABLED"
    );
    // The collector's own schedule is off: the dispatcher's runs instead.
    let collector = &r.resource("CollectorFunction")["Properties"];
    assert_eq!(
        r.resolve(&collector["Events"]["Schedule"]["Properties"]["State"]),
        "DISABLED"
    );
}

#[test]
fn the_collector_reads_the_registry_and_no_stack_secret() {
    let r = Registry::new();
    let env = r.env("CollectorFunction");
    assert!(
        !env.contains_key(config::env::SECRET_ID),
        "each source has its own secret"
    );
    assert_eq!(
        env[config::env::SOURCES_TABLE],
        env[config::env::CHECKPOINT_TABLE],
        "the registry is the checkpoint table"
    );
    let topic = "arn:aws:sns:us-east-1:123456789012:atlassian-audit-AlertsTopic-1";
    let config = Config::from_lookup(|name| match name {
        config::env::ALERTS_TOPIC_ARN => Some(topic.to_string()),
        _ => env.get(name).cloned(),
    })
    .expect("the collector's registry-mode environment is valid");
    assert!(config.sources_table.is_some() && config.credentials.is_none());
    assert!(
        !r.deployed("ApiSecret") && !r.deployed("ApiSecretPolicy"),
        "no stack secret in registry mode"
    );
}

#[test]
fn the_queue_feeds_one_task_at_a_time_and_takes_back_only_the_failed_ones() {
    let r = Registry::new();
    let esm = &r.resource("TaskEventSourceMapping")["Properties"];
    assert_eq!(
        esm["EventSourceArn"],
        json!({"Fn::GetAtt": ["TaskQueue", "Arn"]})
    );
    assert_eq!(esm["FunctionName"], json!({"Ref": "CollectorFunction"}));
    assert_eq!(esm["BatchSize"], json!(1));
    assert_eq!(
        esm["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(
        esm["ScalingConfig"]["MaximumConcurrency"],
        json!({"Ref": "MaximumConcurrency"})
    );
    assert!(
        r.t["Parameters"]["MaximumConcurrency"]["MinValue"].as_f64() >= Some(2.0),
        "SQS's minimum"
    );
    // The function may run as many at once as the mapping starts (else throttled messages
    // would count towards the dead-letter queue).
    let collector = &r.resource("CollectorFunction")["Properties"];
    assert_eq!(
        r.resolve(&collector["ReservedConcurrentExecutions"]),
        r.parameter("MaximumConcurrency")
    );

    // What the handler answers is what ReportBatchItemFailures reads.
    let answer = serde_json::to_value(SqsBatchResponse {
        batch_item_failures: vec![
            serde_json::from_value(json!({"itemIdentifier": "m1"})).expect("an item")
        ],
    })
    .expect("JSON");
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]})
    );
    // The message the dispatcher sends is the one the collector reads.
    let m = TaskMessage {
        source_id: "prod".into(),
        task: TaskKind::Live,
    };
    assert_eq!(m.to_body(), r#"{"source_id":"prod","task":"live"}"#);

    let queue = &r.resource("TaskQueue")["Properties"];
    let timeout_max = r.t["Parameters"]["FunctionTimeout"]["MaxValue"]
        .as_f64()
        .expect("a number");
    let visibility = queue["VisibilityTimeout"].as_f64().expect("a number");
    assert!(
        visibility >= 6.0 * timeout_max,
        "AWS: at least 6 times the function's timeout"
    );
    let receives = queue["RedrivePolicy"]["maxReceiveCount"]
        .as_f64()
        .expect("a number");
    assert!(receives >= 5.0, "AWS: at least 5 for a Lambda event source");
    assert_eq!(
        queue["RedrivePolicy"]["deadLetterTargetArn"],
        json!({"Fn::GetAtt": ["TaskDeadLetterQueue", "Arn"]})
    );
    assert!(
        queue["MessageRetentionPeriod"].as_f64().expect("a number") > visibility * receives,
        "a failing message reaches the dead-letter queue before it expires"
    );
    let dlq = &r.resource("TaskDeadLetterQueue")["Properties"];
    assert!(dlq["MessageRetentionPeriod"].as_f64() > queue["MessageRetentionPeriod"].as_f64());
    for q in [queue, dlq] {
        assert!(!r.resolve(&q["KmsMasterKeyId"]).is_null(), "encrypted");
    }
    let alarm = &r.resource("TaskDeadLetterAlarm")["Properties"];
    assert_eq!(alarm["Namespace"], "AWS/SQS");
    assert_eq!(alarm["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(
        alarm["Dimensions"][0]["Value"],
        json!({"Fn::GetAtt": ["TaskDeadLetterQueue", "QueueName"]})
    );
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(alarm["Threshold"], json!(0));
}

#[test]
fn each_alarm_evaluates_every_source_apart_with_one_alarm_for_any_number() {
    let r = Registry::new();
    let emitted: BTreeSet<&str> = CLOUDWATCH_METRICS.iter().map(|m| m.name).collect();
    let schema = format!(
        "FROM SCHEMA(\"${{MetricsNamespace}}\", {DIMENSION}) GROUP BY {DIMENSION} ORDER BY"
    );
    let mut per_source = BTreeSet::new();
    for (name, res) in r.t["Resources"].as_object().expect("resources") {
        if res["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let p = &res["Properties"];
        let single_source = p["Dimensions"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["Name"] == DIMENSION));
        if single_source {
            assert!(
                !r.deployed(name),
                "{name} watches one SourceId: single-org mode's alone"
            );
            let twin = format!("Sources{name}");
            let twin_p = &r.resource(&twin)["Properties"];
            let expression = twin_p["Metrics"][0]["Expression"]["Fn::Sub"]
                .as_str()
                .expect("a !Sub query");
            assert!(
                expression.contains(&format!("({})", p["MetricName"].as_str().expect("a name"))),
                "{twin}: {expression}"
            );
            assert_eq!(
                twin_p["ComparisonOperator"], p["ComparisonOperator"],
                "{twin}"
            );
            continue;
        }
        if !name.starts_with("Sources") || !r.deployed(name) {
            continue;
        }
        let q = &p["Metrics"][0];
        let expression = q["Expression"]["Fn::Sub"].as_str().expect("a !Sub query");
        assert!(expression.contains(&schema), "{name}: {expression}");
        let metric = expression
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(m, _)| m)
            .expect("SELECT FN(metric)");
        assert!(
            emitted.contains(metric),
            "{name} reads {metric}, which the collector does not emit"
        );
        // A Metrics Insights alarm evaluates at most the last 3 hours.
        let window = q["Period"].as_f64().expect("period")
            * p["EvaluationPeriods"].as_f64().expect("periods");
        assert!(window <= 3.0 * 3600.0, "{name}: {window} s");
        assert_eq!(p["AlarmActions"], json!([{"Ref": "AlarmTopic"}]), "{name}");
        per_source.insert(metric.to_string());
    }
    for m in [
        "EventsProcessed",
        "AuthFailures",
        "KeyDaysLeft",
        "IngestLagSeconds",
    ] {
        assert!(per_source.contains(m), "no per-source alarm on {m}");
    }
}

#[test]
fn the_secrets_the_collector_reads_are_named_under_the_stack_prefix() {
    let r = Registry::new();
    let role = &r.resource("CollectorRole")["Properties"];
    let statement = role["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["Sid"] == "ReadTheApiKey")
        .expect("ReadTheApiKey");
    let resource = r.resolve(&statement["Resource"]);
    let arn = r.sub(resource["Fn::Sub"].as_str().expect("a !Sub ARN"));
    assert_eq!(
        arn,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:atlassian-audit/atlassian-audit/*"
    );
    let prefix = r.sub(
        r.t["Outputs"]["SecretNamePrefix"]["Value"]["Fn::Sub"]
            .as_str()
            .expect("a !Sub"),
    );
    assert_eq!(
        format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{prefix}*"),
        arn
    );
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/many-organizations.md"
    ))
    .expect("docs/many-organizations.md");
    assert!(
        doc.contains("`atlassian-audit/<stack name>/`"),
        "the operator's page names the prefix"
    );
}

#[test]
fn the_roles_allow_only_what_registry_mode_calls() {
    let r = Registry::new();
    let collector = &r.resource("CollectorRegistryPolicy")["Properties"];
    assert_eq!(collector["RoleName"], json!({"Ref": "CollectorRole"}));
    assert_eq!(
        actions_of(&collector["PolicyDocument"]["Statement"]),
        set(&[
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "dynamodb:Scan"
        ])
    );
    let dispatcher = &r.resource("DispatcherRole")["Properties"];
    let mut actions = BTreeSet::new();
    for policy in dispatcher["Policies"].as_array().expect("policies") {
        let policy = policy.get("Fn::If").map_or(policy, |args| &args[1]);
        actions.extend(actions_of(&policy["PolicyDocument"]["Statement"]));
    }
    assert_eq!(
        actions,
        set(&[
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "dynamodb:Scan",
            "sqs:SendMessage",
            "kms:Decrypt",
            "kms:GenerateDataKey"
        ])
    );
}

#[test]
fn the_dashboard_draws_one_line_per_source_of_what_the_code_emits() {
    let r = Registry::new();
    assert!(r.deployed("SourcesDashboard") && !r.deployed("Dashboard"));
    let body = r.resource("SourcesDashboard")["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("a !Sub body")
        .to_string();
    let body = r
        .sub(&body)
        .replace("${TaskQueue.QueueName}", "tasks")
        .replace("${TaskDeadLetterQueue.QueueName}", "dead")
        .replace("${CollectorFunction}", "collector")
        .replace("${DispatcherFunction}", "dispatcher")
        .replace(
            "${CollectorLogGroup}",
            "/aws/lambda/atlassian-audit-collector",
        )
        .replace("${!PROP", "${PROP");
    let dashboard: Value = serde_json::from_str(&body).expect("the dashboard body is JSON");
    let emitted: BTreeSet<&str> = CLOUDWATCH_METRICS
        .iter()
        .map(|m| m.name)
        .chain([BACKFILL_PROGRESS_PERCENT])
        .collect();
    let mut searches = 0;
    for w in dashboard["widgets"].as_array().expect("widgets") {
        for line in w["properties"]["metrics"].as_array().into_iter().flatten() {
            let Some(expression) = line[0]["expression"].as_str() else {
                continue;
            };
            searches += 1;
            assert!(
                expression.contains(&format!("{{AtlassianAuditCollector,{DIMENSION}")),
                "{expression}"
            );
            let metric = expression
                .split("MetricName=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .expect("a metric name");
            assert!(emitted.contains(metric), "{metric} is not emitted");
            assert_eq!(
                line[0]["label"], "${PROP('Dim.SourceId')}",
                "one line per source, labelled with it"
            );
        }
        if let Some(query) = w["properties"]["query"].as_str() {
            assert!(query.contains(TASK_FAILED), "{query}");
        }
    }
    assert!(searches >= 5, "{searches}");
}
