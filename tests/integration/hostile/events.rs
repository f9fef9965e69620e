//! The events in a page: deep, huge, of every JSON type in every field, or processed "in year
//! 9999". Each is normalized or quarantined with a reason, and none is lost or written twice.
use super::nested_arrays;
use crate::support::harness::TestEnv;
use crate::support::{append_live, fill_backlog};
use atlassian_audit::config::env;
use serde_json::{json, Value};
use simulated_org::{is_valid_event, CannedResponse, Fault, SimulatedOrgConfig};

/// Deep nesting inside an event and as an event: quarantined whole (as text, so the
/// quarantine line stays readable), no stack overflow, the valid events of the page written.
#[tokio::test]
async fn deeply_nested_events_are_quarantined_whole() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 96, 10, 0, 1);
    let served: Vec<String> = env.org.events().iter().map(Value::to_string).collect();
    let deep_inside = format!(
        r#"{{"id":"deep-1","type":"events","attributes":{{"time":"2024-01-01T00:00:00Z","x":{}}},"links":{{}}}}"#,
        nested_arrays(100_000)
    );
    let deep_bare = nested_arrays(100_000);
    let body = format!(
        r#"{{"data":[{},{deep_inside},{deep_bare}],"meta":{{"next":null}}}}"#,
        served.join(",")
    );
    env.org
        .push_faults([Fault::Respond(CannedResponse::json(body))]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        (r.summary.events_processed, r.summary.quarantined_events),
        (10, 2)
    );
    let quarantine = env.assert_logs_exactly_once().await;
    assert_eq!(quarantine.len(), 2);
    assert_eq!(
        quarantine[0]["error"],
        "event nests 100002 levels deep, more than the 100 allowed"
    );
    assert_eq!(quarantine[0]["raw_text"], deep_inside.as_str());
    assert!(quarantine[1]["error"]
        .as_str()
        .expect("a reason")
        .starts_with("event nests 100000 levels deep"));
    assert_eq!(quarantine[1]["raw_text"], deep_bare.as_str());

    // Read again by time: the repeats are dropped.
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 0);
    assert_eq!(env.assert_logs_exactly_once().await.len(), 2);
}

/// Five events with 5 MB in one field (a note, a member name, the actor, the id) or 1 MB as the
/// time, collected: four written, the one whose time is not a time quarantined; each once.
/// Returns the big value and what was written.
async fn collect_five_megabyte_fields(env: &TestEnv) -> (String, Vec<Value>, Vec<Value>) {
    let big = "x".repeat(5 << 20);
    let now = simulated_org::format_processed_at(simulated_org::now_ms());
    let base = |id: &str| json!({"id": id, "type": "events", "attributes": {"time": now, "actor": {"name": "n"}}, "links": {}});
    let mut note = base("big-note");
    note["attributes"]["note"] = json!(big);
    let mut member = base("big-member-name");
    member["attributes"][big.as_str()] = json!(1);
    let mut actor = base("big-actor");
    actor["attributes"]["actor"] =
        json!({"name": &big[..1 << 20], "email": format!("{}@example.com", &big[..1 << 20])});
    let id = base(&big);
    let mut time = base("big-time");
    time["attributes"]["time"] = json!(&big[..1 << 20]);
    env.org.append_events(vec![note, member, actor, id, time]);

    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        (r.summary.events_processed, r.summary.quarantined_events),
        (4, 1)
    );
    env.assert_exactly_once().await;
    let (logs, quarantine) = env.written().await;
    (big, logs, quarantine)
}

/// 5 MB in a field of a valid event, wherever it is: kept whole.
#[tokio::test]
async fn five_megabyte_fields_of_valid_events_are_kept_whole() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let (big, logs, _) = collect_five_megabyte_fields(&env).await;
    let by_id = |id: &str| {
        logs.iter()
            .find(|v| v["id"] == id)
            .unwrap_or_else(|| panic!("{id} written"))
    };
    assert_eq!(by_id("big-note")["attributes"]["note"], big.as_str());
    assert_eq!(
        by_id("big-actor")["p_any_usernames"][0]
            .as_str()
            .map(str::len),
        Some(1 << 20)
    );
    assert_eq!(
        by_id("big-actor")["p_any_emails"].as_array().map(Vec::len),
        Some(1)
    );
}

/// A megabyte where the time should be: quarantined, the value quoted briefly in the reason.
#[tokio::test]
async fn a_megabyte_time_is_quarantined_with_a_brief_reason() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let (_, _, quarantine) = collect_five_megabyte_fields(&env).await;
    let reason = quarantine[0]["error"].as_str().expect("a reason");
    assert!(reason.starts_with("attributes.time \"xxxx"), "{reason}");
    assert!(reason.len() < 200, "{} bytes", reason.len());
}

/// A page of 10 MB (500 events of 20 KB): read whole, written once.
#[tokio::test]
async fn a_ten_megabyte_page_is_read_whole() {
    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    env.set(env::PAGE_LIMIT, "500");
    let now = simulated_org::now_ms();
    let mut events = simulated_org::generate_events_for_org(
        env.org.org_id(),
        97,
        500,
        (now - 3_600_000, now - 60_000),
    );
    for (i, e) in events.iter_mut().enumerate() {
        e["attributes"]["padding"] = json!(format!("{i:05}").repeat(4_000));
    }
    env.org.append_backlog(events);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 500);
    assert_eq!(
        r.summary.pages_fetched, 2,
        "one full page, then the empty end"
    );
    let first_page_bytes: usize = env.org.events().iter().map(|e| e.to_string().len()).sum();
    assert!(first_page_bytes > 10_000_000, "{first_page_bytes} bytes");
    env.assert_exactly_once().await;
}

/// One event for each field the normalizer reads (19) with a value of each JSON type (6) in
/// its place, the rest of it valid: ids `m-<field>-<type>`.
fn every_field_of_every_json_type() -> Vec<Value> {
    let now = simulated_org::format_processed_at(simulated_org::now_ms());
    let base = json!({
        "type": "events",
        "attributes": {
            "time": now, "action": "user_added_to_group",
            "actor": {"id": "a", "name": "n", "email": "n@example.com", "onBehalfOf": {"id": "b"}, "links": {"self": "https://x.example"}},
            "context": [{"id": "c", "type": "groups", "links": {"self": "https://y.example", "alt": null}}],
            "container": [{"id": "o", "type": "orgs"}],
            "location": {"ip": "10.1.2.3", "countryName": "X"}
        },
        "links": {"self": "https://api.example/e"},
        "message": {"content": "m", "format": "simple"}
    });
    let kinds = [
        json!(null),
        json!(false),
        json!(7),
        json!(now),
        json!([now, 1]),
        json!({"time": now}),
    ];
    let paths = [
        "/id",
        "/type",
        "/attributes",
        "/links",
        "/message",
        "/attributes/time",
        "/attributes/action",
        "/attributes/actor",
        "/attributes/actor/id",
        "/attributes/actor/name",
        "/attributes/actor/email",
        "/attributes/actor/onBehalfOf",
        "/attributes/context",
        "/attributes/context/0",
        "/attributes/context/0/links",
        "/attributes/context/0/links/self",
        "/attributes/container",
        "/attributes/location",
        "/attributes/location/ip",
    ];
    let mut events = Vec::new();
    for (p, path) in paths.iter().enumerate() {
        for (k, value) in kinds.iter().enumerate() {
            let mut e = base.clone();
            e["id"] = json!(format!("m-{p}-{k}"));
            let (parent, member) = path.rsplit_once('/').expect("a path");
            match e.pointer_mut(parent).expect("the parent exists") {
                Value::Object(m) => {
                    m.insert(member.to_owned(), value.clone());
                }
                Value::Array(a) => a[0] = value.clone(),
                _ => unreachable!("parents are containers"),
            }
            events.push(e);
        }
    }
    events
}

/// Each field the normalizer reads, with a value of each JSON type, through a whole run.
#[tokio::test]
async fn every_field_of_every_json_type_is_kept_or_quarantined_exactly_once() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let events = every_field_of_every_json_type();
    let total = events.len() as u64;
    env.org.append_events(events);
    let invalid = env
        .org
        .events()
        .iter()
        .filter(|e| !is_valid_event(e))
        .count() as u64;
    // id, type, attributes, links and attributes.time: each of the wrong type 5 times of 6.
    assert_eq!(invalid, 25, "the required fields decide");
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, total - invalid);
    assert_eq!(r.summary.quarantined_events, invalid);
    env.assert_exactly_once().await;
}

/// An event processed "in year 9999" must not push the time checkpoint there: the stream
/// ends without a cursor, so the next run reads by time and must still see what comes next.
#[tokio::test]
async fn a_processed_at_in_year_9999_does_not_hide_later_events() {
    let env = TestEnv::local(SimulatedOrgConfig {
        cursor_on_last_page: false,
        ..SimulatedOrgConfig::default()
    })
    .await;
    fill_backlog(&env.org, 98, 20, 0, 1);
    let mut served = env.org.events();
    served[19]["attributes"]["processedAt"] = json!("9999-12-31T23:59:59.999Z");
    env.org.push_faults([Fault::Respond(CannedResponse::json(
        json!({"data": served, "meta": {"next": null}, "links": {}}).to_string(),
    ))]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 20);
    let cp = env.checkpoint().await.expect("a checkpoint").checkpoint;
    let newest = cp.newest_processed_at_ms.expect("a processing time");
    assert!(
        newest <= simulated_org::now_ms(),
        "the checkpoint went to {newest}"
    );

    append_live(&env.org, 99, 15);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        r.summary.events_processed, 15,
        "later events are still read"
    );
    env.assert_exactly_once().await;
}
