//! `GET /admin/v1/orgs/{orgId}/events`, the older query endpoint, through real HTTP.

use super::*;

/// GET `/events?{query}` with the right key.
async fn qget(org: &SimulatedOrg, query: &str) -> HttpResponse {
    let target = format!("/admin/v1/orgs/{}/events?{query}", org.org_id());
    request(org, "GET", &target, Some(org.api_key())).await
}

async fn qpage(org: &SimulatedOrg, query: &str) -> Value {
    let r = qget(org, query).await;
    assert_eq!(
        r.status,
        200,
        "{query}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["meta"]["page_size"], v["data"].as_array().unwrap().len());
    v
}

/// Every page of a query, following `meta.next` with `extra` repeated on each request (as
/// Grove repeats `from`). Returns the ids in the order served and the number of pages.
async fn all_pages(org: &SimulatedOrg, extra: &str) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            None => extra.to_owned(),
            Some(c) => cursor_q(extra, c),
        };
        let p = qpage(org, &q).await;
        pages += 1;
        seen.extend(ids(&p));
        match next(&p) {
            Some(c) => cursor = Some(c),
            None => {
                assert_eq!(p["meta"]["next"], Value::Null);
                assert_eq!(p["links"].as_object().unwrap().len(), 1, "{}", p["links"]);
                return (seen, pages);
            }
        }
        assert!(pages < 10_000, "paging does not end");
    }
}

/// Epoch nanoseconds of an event's `attributes.time`.
fn time_nanos(e: &Value) -> i128 {
    let s = e["attributes"]["time"].as_str().unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(s).unwrap();
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

/// Ids of all stored events, newest `time` first, ties: last appended first.
fn newest_first(org: &SimulatedOrg) -> Vec<String> {
    let mut keyed: Vec<(i128, usize, String)> = org
        .events()
        .iter()
        .enumerate()
        .map(|(i, e)| (time_nanos(e), i, e["id"].as_str().unwrap().to_owned()))
        .collect();
    keyed.sort();
    keyed.into_iter().rev().map(|(_, _, id)| id).collect()
}

/// Events with ids "q0", "q1"... and the given `time`s, all processed at one instant (so the
/// processing order says nothing about the time order).
fn timed(org: &SimulatedOrg, times: &[&str]) -> Vec<String> {
    let mut events = generate_events(7, times.len(), RANGE);
    let mut out = Vec::new();
    for (i, (e, t)) in events.iter_mut().zip(times).enumerate() {
        e["id"] = json!(format!("q{i}"));
        e["attributes"]["time"] = json!(t);
        out.push(format!("q{i}"));
    }
    org.append_events_at(events, 1_800_000_000_000);
    out
}

#[tokio::test]
async fn pages_newest_first_by_time_each_event_once_then_ends() {
    let org = start(SimulatedOrgConfig::default()).await;
    // A backlog: processing order differs from time order (late events), and `time`
    // precision varies (µs, ms, s), so ties and sub-millisecond order both occur.
    org.append_backlog(generate_events(42, 1234, RANGE));
    let expected = newest_first(&org);
    // Not the processing order reversed: the time order is its own.
    let mut by_processing: Vec<String> = org
        .events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    by_processing.reverse();
    assert_ne!(expected, by_processing);

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            None => "limit=500".to_owned(),
            Some(c) => cursor_q("limit=500", c),
        };
        let p = qpage(&org, &q).await;
        sizes.push(ids(&p).len());
        seen.extend(ids(&p));
        let self_url = p["links"]["self"].as_str().unwrap();
        assert!(self_url.starts_with(&format!(
            "{}/admin/v1/orgs/sim-org-0001/events?",
            org.base_url()
        )));
        let Some(c) = next(&p) else {
            assert_eq!(p["meta"]["next"], Value::Null);
            assert!(p["links"].get("next").is_none());
            break;
        };
        let links_next = p["links"]["next"].as_str().unwrap();
        let enc: String = url::form_urlencoded::byte_serialize(c.as_bytes()).collect();
        assert_eq!(
            links_next,
            format!(
                "{}/admin/v1/orgs/sim-org-0001/events?limit=500&cursor={enc}",
                org.base_url()
            )
        );
        cursor = Some(c);
    }
    assert_eq!(sizes, vec![500, 500, 234], "no empty page at the end");
    assert_eq!(
        seen, expected,
        "newest first by time, ties newest appended first"
    );
    assert_eq!(org.served_ids().len(), 1234);

    // Default limit (200), and the same events on /events-stream.
    let (ids_default, pages) = all_pages(&org, "").await;
    assert_eq!(ids_default, expected);
    assert_eq!(pages, 7);
    let stream = page(&org, "limit=500").await;
    let first: HashSet<String> = ids(&stream).into_iter().collect();
    assert!(first.is_subset(&expected.iter().cloned().collect()));

    // An exactly full last page ends there too.
    let org = start(SimulatedOrgConfig::default()).await;
    numbered(&org, 8, |i| 1000 + i as i64);
    let p1 = qpage(&org, "limit=4").await;
    let p2 = qpage(&org, &cursor_q("limit=4", &next(&p1).unwrap())).await;
    assert_eq!(ids(&p2).len(), 4);
    assert_eq!(p2["meta"]["next"], Value::Null);
    // Without any event at all.
    let empty = start(SimulatedOrgConfig::default()).await;
    let p = qpage(&empty, "").await;
    let self_url = format!("{}/admin/v1/orgs/sim-org-0001/events?", empty.base_url());
    assert_eq!(
        p,
        json!({"data": [], "meta": {"next": null, "page_size": 0}, "links": {"self": self_url}})
    );
}

#[tokio::test]
async fn from_and_to_filter_on_time_inclusively_and_the_cursor_keeps_them() {
    let org = start(SimulatedOrgConfig::default()).await;
    let all = timed(
        &org,
        &[
            "1970-01-01T00:00:01Z",
            "1970-01-01T00:00:02.000Z",
            "1970-01-01T00:00:02.000999Z",
            "1970-01-01T00:00:03.5Z",
            "1970-01-01T00:00:04.000001Z",
            "1970-01-01T00:00:05Z",
        ],
    );
    let rev = |r: std::ops::Range<usize>| -> Vec<String> { all[r].iter().rev().cloned().collect() };
    assert_eq!(ids(&qpage(&org, "").await), rev(0..6));
    assert_eq!(ids(&qpage(&org, "from=2000&to=4000").await), rev(1..5));
    assert_eq!(ids(&qpage(&org, "from=2001").await), rev(3..6));
    assert_eq!(ids(&qpage(&org, "to=1999").await), rev(0..1));
    assert_eq!(ids(&qpage(&org, "from=2000&to=2000").await), rev(1..3));
    assert!(ids(&qpage(&org, "from=5001").await).is_empty());

    // Paging one by one through the bounds; the cursor carries them, so other bounds on
    // later requests change nothing (Grove repeats `from` on every request).
    let p1 = qpage(&org, "from=2000&to=4000&limit=1").await;
    assert_eq!(ids(&p1), rev(4..5));
    let p2 = qpage(
        &org,
        &cursor_q("from=4999&to=1000&limit=2", &next(&p1).unwrap()),
    )
    .await;
    assert_eq!(ids(&p2), rev(2..4));
    let p3 = qpage(&org, &cursor_q("limit=2", &next(&p2).unwrap())).await;
    assert_eq!(ids(&p3), rev(1..2));
    assert_eq!(p3["meta"]["next"], Value::Null, "`from` ends the query");
    let (grove_style, _) = all_pages(&org, "from=1000&limit=1").await;
    assert_eq!(grove_style, rev(0..6));

    for q in ["from=abc", "to=1.5", "from=", "from=3000&to=2000"] {
        let r = qget(&org, q).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.error_code(), "ADMIN-400-3", "{q}");
    }
    // With a cursor the order of the request's own bounds is not checked; their syntax is.
    let c = next(&qpage(&org, "limit=1").await).unwrap();
    assert_eq!(
        qget(&org, &cursor_q("from=3000&to=2000", &c)).await.status,
        200
    );
    assert_eq!(qget(&org, &cursor_q("from=x", &c)).await.status, 400);
}

#[tokio::test]
async fn ties_late_events_and_untimed_events() {
    let org = start(SimulatedOrgConfig::default()).await;
    // Five events in one second: newest appended first, and limit=1 never skips one.
    let tied = timed(&org, &["2025-01-01T00:00:00Z"; 5]);
    let mut rev = tied.clone();
    rev.reverse();
    assert_eq!(all_pages(&org, "limit=1").await, (rev.clone(), 5));
    assert_eq!(all_pages(&org, "limit=2").await.0, rev);

    // A late event (old `time`, processed now) sorts by its time, not its processing.
    let mut late = generate_events(3, 1, RANGE);
    late[0]["id"] = json!("late");
    late[0]["attributes"]["time"] = json!("2024-06-01T00:00:00Z");
    org.append_events(late);
    // An event whose `time` does not parse sorts by its processedAt (here: after the rest).
    let mut untimed = generate_events(4, 1, RANGE);
    untimed[0]["id"] = json!("untimed");
    untimed[0]["attributes"]["time"] = json!("not a time");
    org.append_events_at(
        untimed,
        clock::parse_rfc3339_ms("2026-01-01T00:00:00Z").unwrap(),
    );
    let (seen, _) = all_pages(&org, "").await;
    assert_eq!(seen[0], "untimed");
    assert_eq!(seen[1..6], rev[..]);
    assert_eq!(seen[6], "late");
    assert_eq!(seen.len(), 7);
    // Invalid events are served (they exist) but not counted as served valid ones.
    assert_eq!(org.served_ids().len(), 6);
}

#[tokio::test]
async fn request_errors_match_events_stream() {
    let org = start(SimulatedOrgConfig::default()).await;
    numbered(&org, 3, |_| 1000);
    let path = format!("/admin/v1/orgs/{}/events", org.org_id());

    // An /events-stream cursor is not an /events cursor, and the reverse.
    let stream_cursor = next(&page(&org, "limit=1").await).unwrap();
    let query_cursor = next(&qpage(&org, "limit=1").await).unwrap();
    let enc = |c: &str| -> String { url::form_urlencoded::byte_serialize(c.as_bytes()).collect() };
    for c in [
        "garbage".to_owned(),
        String::new(),
        "eyJwIjoxfQ".to_owned(),
        "%FF%FE".to_owned(),
        enc(&stream_cursor),
    ] {
        let r = qget(&org, &format!("cursor={c}")).await;
        assert_eq!(r.status, 400, "{c}");
        assert_eq!(r.error_code(), "ADMIN-400-1");
        assert_eq!(r.json()["errors"][0]["detail"], "Invalid cursor");
    }
    let r = get(&org, &format!("cursor={}", enc(&query_cursor))).await;
    assert_eq!(r.error_code(), "ADMIN-400-1");

    for q in ["limit=0", "limit=501", "limit=abc", "limit=", "limit=-1"] {
        let r = qget(&org, q).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.error_code(), "ADMIN-400-2", "{q}");
    }
    assert_eq!(ids(&qpage(&org, "limit=500").await).len(), 3);
    // Filters this simulation does not implement are accepted and ignored; sortOrder
    // is not a parameter of this endpoint.
    assert_eq!(
        ids(&qpage(&org, "q=x&action=user_created&sortOrder=bogus").await).len(),
        3
    );

    let r = request(&org, "GET", &path, Some("wrong-key")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "ADMIN-401-1");
    assert_eq!(request(&org, "GET", &path, None).await.status, 401);
    let r = request(
        &org,
        "GET",
        "/admin/v1/orgs/other-org/events",
        Some(org.api_key()),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "ADMIN-404-2");
    let r = request(&org, "POST", &path, Some(org.api_key())).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    assert_eq!(r.error_code(), "ADMIN-405-1");
    let r = request(&org, "GET", &format!("{path}/x/y"), Some(org.api_key())).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "ADMIN-404-1");

    // Every request recorded, the key never.
    let reqs = org.requests();
    assert!(!format!("{reqs:?}").contains(org.api_key()));
    let last = reqs.last().unwrap();
    assert_eq!(last.path, format!("{path}/x/y"));
    assert_eq!(last.status, 404);
    assert!(reqs
        .iter()
        .any(|r| r.path == path && r.query_value("limit") == Some("0") && r.status == 400));
}

#[tokio::test]
async fn faults_and_rate_limits_stay_on_events_stream() {
    let org = start(SimulatedOrgConfig {
        rate_limit_per_minute: Some(1),
        links_base_url: Some("https://elsewhere.example/".to_owned()),
        ..SimulatedOrgConfig::default()
    })
    .await;
    numbered(&org, 3, |i| 1000 + i as i64);
    org.push_faults([Fault::ServerError { status: 500 }]);
    for _ in 0..3 {
        let p = qpage(&org, "limit=2").await;
        let next_url = p["links"]["next"].as_str().unwrap();
        assert!(
            next_url.starts_with("https://elsewhere.example/admin/v1/orgs/sim-org-0001/events?")
        );
    }
    assert!(org.requests().iter().all(|r| r.fault.is_none()));
    // Neither the rate limit (1 per minute) nor the scripted fault was used up by /events.
    assert_eq!(get(&org, "").await.status, 500);
    assert_eq!(all_pages(&org, "").await.0, newest_first(&org));

    // Events appended after a query are seen by the next query.
    org.append_events_at(generate_events(9, 2, RANGE), 5000);
    assert_eq!(all_pages(&org, "").await.0.len(), 5);
}
