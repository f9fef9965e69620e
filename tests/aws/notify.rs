//! The SNS and EventBridge notifiers against moto, read back as a subscriber would: an SQS queue
//! subscribed to the topic, an SQS queue targeted by a rule on the bus.
use crate::support::harness::{require_moto, unique, TestEnv};
use crate::support::{assert_absent, distinctive_key, fill_backlog};
use atlassian_audit::config::{env, Config};
use atlassian_audit::detect::{Alert, Severity};
use atlassian_audit::notify::{
    subject, AlertNotifier, EventBridgeNotifier, SnsNotifier, DETAIL_TYPE, EVENT_SOURCE,
};
use atlassian_audit::setup::{notifiers, Aws};
use serde_json::{json, Value};
use simulated_org::SimulatedOrgConfig;
use std::time::{Duration, Instant};

fn alert(n: usize, rule_id: &str, severity: Severity, title: &str) -> Alert {
    Alert {
        id: format!("{n:032x}"),
        rule_id: rule_id.into(),
        severity,
        title: title.into(),
        runbook: "Check who added them; remove the admin if nobody did.".into(),
        dedup_key: format!("key-{n}"),
        count: 1,
        first_event_time: "2026-12-03T10:00:00.000Z".into(),
        last_event_time: "2026-12-03T10:00:00.000Z".into(),
        first_event_id: format!("event-{n}"),
        last_event_id: format!("event-{n}"),
        matched_event_ids: vec![format!("event-{n}")],
        is_update: false,
        source_id: String::new(),
        source_label: String::new(),
    }
}

struct Queue {
    url: String,
    arn: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client) -> Queue {
    let url = sqs
        .create_queue()
        .queue_name(unique("alerts"))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("a queue url");
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    let arn = attributes
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("the queue's ARN");
    Queue { url, arn }
}

/// Waits for `expected` messages (10 s at most), then makes sure no more come; their bodies.
async fn receive(sqs: &aws_sdk_sqs::Client, queue: &Queue, expected: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while bodies.len() < expected && Instant::now() < deadline {
        bodies.extend(receive_once(sqs, queue).await);
    }
    bodies.extend(receive_once(sqs, queue).await);
    assert_eq!(bodies.len(), expected, "messages read back: {bodies:#?}");
    bodies
}

async fn receive_once(sqs: &aws_sdk_sqs::Client, queue: &Queue) -> Vec<String> {
    let out = sqs
        .receive_message()
        .queue_url(&queue.url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive");
    let mut bodies = Vec::new();
    for m in out.messages.unwrap_or_default() {
        if let Some(handle) = &m.receipt_handle {
            sqs.delete_message()
                .queue_url(&queue.url)
                .receipt_handle(handle)
                .send()
                .await
                .expect("delete message");
        }
        bodies.push(m.body.unwrap_or_default());
    }
    bodies
}

/// A topic and a queue subscribed to it (the SNS envelope, not raw delivery).
async fn subscribed_topic(aws: &Aws, sqs: &aws_sdk_sqs::Client) -> (String, Queue) {
    let sns = aws.sns().await;
    let topic = sns
        .create_topic()
        .name(unique("alerts"))
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("a topic ARN");
    let q = queue(sqs).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&q.arn)
        .send()
        .await
        .expect("subscribe the queue");
    (topic, q)
}

/// A rule with `pattern` on `bus` whose target is a new queue.
async fn routed_bus(aws: &Aws, sqs: &aws_sdk_sqs::Client, bus: &str, pattern: Value) -> Queue {
    let events = aws.eventbridge().await;
    let rule = unique("alerts");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("put rule");
    let q = queue(sqs).await;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(&q.arn)
        .build()
        .expect("a target");
    let out = events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .expect("put targets");
    assert_eq!(out.failed_entry_count, 0);
    q
}

async fn new_bus(aws: &Aws) -> String {
    let name = unique("bus");
    aws.eventbridge()
        .await
        .create_event_bus()
        .name(&name)
        .send()
        .await
        .expect("create event bus");
    name
}

async fn sqs(aws: &Aws) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(aws.config().await)
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn sns_messages_are_the_alerts_json_with_a_subject_and_attributes() {
    require_moto();
    let aws = Aws::default();
    let sqs = sqs(&aws).await;
    let (topic, q) = subscribed_topic(&aws, &sqs).await;
    // More than one PublishBatch holds, and a title SNS would refuse as a subject.
    let mut alerts: Vec<Alert> = (0..12)
        .map(|n| {
            alert(
                n,
                "org_admin_added",
                Severity::High,
                &format!("Admin {n} added"),
            )
        })
        .collect();
    alerts[3].title = "Zoë logged in as «bob»\nagain".into();
    SnsNotifier::new(aws.sns().await, &topic)
        .publish(&alerts)
        .await
        .expect("published");

    let mut seen = Vec::new();
    for body in receive(&sqs, &q, alerts.len()).await {
        let envelope = parse(&body);
        let message = envelope["Message"].as_str().expect("a Message");
        let published: Alert = serde_json::from_str(message).expect("the body is an alert");
        let original = alerts
            .iter()
            .find(|a| a.id == published.id)
            .expect("one of the alerts");
        assert_eq!(&published, original);
        assert_eq!(envelope["Subject"], subject(original));
        let attributes = &envelope["MessageAttributes"];
        assert_eq!(attributes["severity"]["Value"], "High");
        assert_eq!(attributes["rule_id"]["Value"], "org_admin_added");
        assert_eq!(attributes["alert_id"]["Value"], original.id.as_str());
        seen.push(published.id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), alerts.len(), "each alert once");
    assert_eq!(subject(&alerts[3]), "[High] Zo? logged in as ?bob??again");
}

#[tokio::test]
async fn events_on_the_default_bus_match_the_readme_pattern() {
    require_moto();
    let aws = Aws::default();
    let sqs = sqs(&aws).await;
    // Other tests share the default bus: this rule also names this test's own rule id.
    let rule_id = unique("rule");
    let pattern = json!({
        "source": [EVENT_SOURCE],
        "detail-type": [DETAIL_TYPE],
        "detail": {"severity": ["High", "Critical"], "rule_id": [rule_id]}
    });
    let q = routed_bus(&aws, &sqs, "default", pattern).await;
    let alerts: Vec<Alert> = [Severity::Low, Severity::High, Severity::Critical]
        .into_iter()
        .enumerate()
        .map(|(n, s)| alert(n, &rule_id, s, "Admin added"))
        .collect();
    EventBridgeNotifier::new(aws.eventbridge().await, "default")
        .publish(&alerts)
        .await
        .expect("put");

    let mut severities = Vec::new();
    for body in receive(&sqs, &q, 2).await {
        let event = parse(&body);
        assert_eq!(event["source"], EVENT_SOURCE);
        assert_eq!(event["detail-type"], DETAIL_TYPE);
        let detail: Alert = serde_json::from_value(event["detail"].clone()).expect("an alert");
        assert!(alerts.contains(&detail), "{detail:?}");
        severities.push(detail.severity);
    }
    severities.sort();
    assert_eq!(severities, [Severity::High, Severity::Critical]);
}

#[tokio::test]
async fn more_events_than_one_call_takes_all_arrive_on_a_bus_by_name() {
    require_moto();
    let aws = Aws::default();
    let sqs = sqs(&aws).await;
    let bus = new_bus(&aws).await;
    let q = routed_bus(&aws, &sqs, &bus, json!({"source": [EVENT_SOURCE]})).await;
    let alerts: Vec<Alert> = (0..13)
        .map(|n| alert(n, "api_token_created", Severity::Medium, "Token"))
        .collect();
    EventBridgeNotifier::new(aws.eventbridge().await, &bus)
        .publish(&alerts)
        .await
        .expect("put");
    let mut ids: Vec<String> = receive(&sqs, &q, alerts.len())
        .await
        .iter()
        .map(|b| parse(b)["detail"]["id"].as_str().unwrap_or("").to_string())
        .collect();
    ids.sort();
    let expected: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_missing_topic_is_an_error_saying_what_to_check() {
    require_moto();
    let aws = Aws::default();
    let topic = format!("arn:aws:sns:us-east-1:123456789012:{}", unique("gone"));
    let alerts = [alert(0, "org_admin_added", Severity::High, "Admin added")];
    let err = SnsNotifier::new(aws.sns().await, &topic)
        .publish(&alerts)
        .await
        .expect_err("no such topic");
    assert_eq!(err.target, format!("sns://{topic}"));
    assert_eq!(err.alerts, 1);
    let text = err.to_string();
    assert!(text.contains("NotFound"), "{text}");
    assert!(text.contains("does the topic exist"), "{text}");
}

/// Settings naming a topic and a bus, over storage that is never reached.
fn config_with(topic: &str, bus: &str, min_severity: &str) -> Config {
    let settings = [
        (env::CHECKPOINT_TABLE, "unused"),
        (env::OUTPUT_BUCKET, "unused-bucket"),
        (env::ALERTS_TOPIC_ARN, topic),
        (env::ALERTS_EVENT_BUS, bus),
        (env::ALERTS_MIN_SEVERITY, min_severity),
    ];
    Config::from_lookup(|name| {
        settings
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    })
    .expect("a valid configuration")
}

#[tokio::test]
async fn the_configured_targets_announce_only_from_the_minimum_severity() {
    require_moto();
    let aws = Aws::default();
    let sqs = sqs(&aws).await;
    let (topic, topic_queue) = subscribed_topic(&aws, &sqs).await;
    let bus = new_bus(&aws).await;
    let bus_queue = routed_bus(&aws, &sqs, &bus, json!({"source": [EVENT_SOURCE]})).await;
    let config = config_with(&topic, &bus, "high");
    let targets = notifiers(&config, &aws).await.expect("notifiers");
    assert!(
        targets.describe().contains(&topic),
        "{}",
        targets.describe()
    );

    let mut alerts: Vec<Alert> = Severity::ALL
        .into_iter()
        .enumerate()
        .map(|(n, s)| alert(n, "org_admin_added", s, "Admin added"))
        .collect();
    // An alert growing in a later batch was announced when it opened.
    let mut grown = alert(9, "org_admin_added", Severity::Critical, "Admin added");
    grown.is_update = true;
    alerts.push(grown);
    assert_eq!(targets.publish(&alerts).await.expect("published"), 2);

    for (queue, what) in [(&topic_queue, "topic"), (&bus_queue, "bus")] {
        let mut severities: Vec<String> = receive(&sqs, queue, 2)
            .await
            .iter()
            .map(|b| {
                let v = parse(b);
                let alert = match what {
                    "topic" => parse(v["Message"].as_str().unwrap_or("")),
                    _ => v["detail"].clone(),
                };
                assert_eq!(alert["is_update"], false, "{what}");
                alert["severity"].as_str().unwrap_or("").to_string()
            })
            .collect();
        severities.sort();
        assert_eq!(severities, ["Critical", "High"], "{what}");
    }
}

#[tokio::test]
async fn the_api_key_appears_in_no_notification() {
    let key = distinctive_key();
    let mut env = TestEnv::on_moto(SimulatedOrgConfig {
        api_key: key.clone(),
        ..SimulatedOrgConfig::default()
    })
    .await;
    fill_backlog(&env.org, 61, 400, 0, 3);
    let sqs = sqs(&env.aws).await;
    let (topic, topic_queue) = subscribed_topic(&env.aws, &sqs).await;
    let bus = new_bus(&env.aws).await;
    let bus_queue = routed_bus(&env.aws, &sqs, &bus, json!({"source": [EVENT_SOURCE]})).await;
    env.set(env::ALERTS_TOPIC_ARN, topic);
    env.set(env::ALERTS_EVENT_BUS, bus);
    env.set(env::ALERTS_MIN_SEVERITY, "Info");

    // The run collects with the key (read from the secret) and announces its alerts itself.
    let report = env.run().await;
    assert!(report.error.is_none(), "{:?}", report.error);
    let announced = report.summary.alerts_announced as usize;
    assert!(announced > 0, "the backlog raises alerts");
    assert_eq!(
        announced,
        env.alert_audit().await.opened.len(),
        "every alert opened is announced (minimum severity Info)"
    );
    for (queue, what) in [(&topic_queue, "SNS message"), (&bus_queue, "event")] {
        for body in receive(&sqs, queue, announced).await {
            assert_absent(&key, what, body.as_bytes());
        }
    }
}

/// An alert with a 1 MB title and runbook and 100 matched ids of 10 KB each is announced on
/// both channels, shortened to fit and marked so, beside small alerts sent whole; every call
/// is accepted (moto checks one message's size, not a call's total).
#[tokio::test]
async fn an_alert_too_large_for_one_message_is_announced_shortened() {
    require_moto();
    let aws = Aws::default();
    let sqs = sqs(&aws).await;
    let (topic, topic_queue) = subscribed_topic(&aws, &sqs).await;
    let bus = new_bus(&aws).await;
    let bus_queue = routed_bus(&aws, &sqs, &bus, json!({"source": [EVENT_SOURCE]})).await;
    let mut alerts: Vec<Alert> = (0..4)
        .map(|n| alert(n, "org_admin_added", Severity::High, "Admin added"))
        .collect();
    for huge in &mut alerts[1..3] {
        huge.title = "t".repeat(1_000_000);
        huge.runbook = "r".repeat(1_000_000);
        huge.matched_event_ids = (0..100)
            .map(|i| format!("{i}-{}", "e".repeat(10_000)))
            .collect();
    }
    SnsNotifier::new(aws.sns().await, &topic)
        .publish(&alerts)
        .await
        .expect("published, not refused for its size");
    EventBridgeNotifier::new(aws.eventbridge().await, &bus)
        .publish(&alerts)
        .await
        .expect("put, not refused for its size");

    let sns: Vec<Value> = receive(&sqs, &topic_queue, alerts.len())
        .await
        .iter()
        .map(|body| parse(parse(body)["Message"].as_str().expect("a Message")))
        .collect();
    let events: Vec<Value> = receive(&sqs, &bus_queue, alerts.len())
        .await
        .iter()
        .map(|body| parse(body)["detail"].clone())
        .collect();
    // Limits: an SNS message 256 KiB, an EventBridge entry under 256 KB (both less overhead).
    let limited = sns
        .iter()
        .map(|m| (m, 256 * 1024))
        .chain(events.iter().map(|m| (m, 256_000)));
    for (message, limit) in limited {
        let published: Alert = serde_json::from_value(message.clone()).expect("an alert");
        let original = alerts
            .iter()
            .find(|a| a.id == published.id)
            .expect("one of the alerts");
        if original.title.len() < 100 {
            assert_eq!(&published, original);
            assert!(message.get("truncated").is_none());
        } else {
            assert_eq!(message["truncated"], true);
            assert!(message.to_string().len() < limit);
            assert!(published.runbook.ends_with("…[truncated]"));
            assert!(original
                .matched_event_ids
                .starts_with(&published.matched_event_ids));
        }
    }
}
