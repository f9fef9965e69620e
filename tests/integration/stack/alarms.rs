//! The alarms: each watches a metric the code emits, with the semantics an operator needs.
use super::*;

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
pub(super) const DETECT_STAGE_ALARMS: [(&str, &str); 3] = [
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
pub(super) const CUSTOM_METRIC_ALARMS: [&str; 6] = [
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
