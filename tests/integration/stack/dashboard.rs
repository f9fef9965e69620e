//! The dashboard: what it reads is what the code emits, and every alarm is drawn.
use super::alarms::{CUSTOM_METRIC_ALARMS, DETECT_STAGE_ALARMS};
use super::*;

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
