//! Behaviour through real HTTP, with a tiny HTTP/1.1 client over a raw TcpStream.
//! The `/events` query endpoint's tests are in `tests/events_query.rs`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

mod events_query;

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn error_code(&self) -> String {
        let v = self.json();
        let e = &v["errors"][0];
        assert_eq!(e["status"], self.status.to_string(), "{v}");
        assert!(
            uuid::Uuid::parse_str(e["id"].as_str().unwrap()).is_ok(),
            "{v}"
        );
        assert!(e["title"].is_string() && e["detail"].is_string(), "{v}");
        e["code"].as_str().unwrap().to_owned()
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = body.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&body[..i]).to_string();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[i + 2..i + 2 + size]);
        body = &body[i + 2 + size + 2..];
    }
    out
}

async fn send_raw(base_url: &str, request: &[u8]) -> HttpResponse {
    let addr = base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

async fn request(
    org: &SimulatedOrg,
    method: &str,
    target: &str,
    key: Option<&str>,
) -> HttpResponse {
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n{auth}Connection: close\r\n\r\n"
    );
    send_raw(&org.base_url(), req.as_bytes()).await
}

/// GET `/events-stream?{query}` with the right key.
async fn get(org: &SimulatedOrg, query: &str) -> HttpResponse {
    let target = format!("/admin/v1/orgs/{}/events-stream?{query}", org.org_id());
    request(org, "GET", &target, Some(org.api_key())).await
}

async fn page(org: &SimulatedOrg, query: &str) -> Value {
    let r = get(org, query).await;
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

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

fn next(page: &Value) -> Option<String> {
    page["meta"]["next"].as_str().map(str::to_owned)
}

fn cursor_q(extra: &str, cursor: &str) -> String {
    let enc: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
    format!("{extra}&cursor={enc}")
}

async fn start(config: SimulatedOrgConfig) -> SimulatedOrg {
    SimulatedOrg::start(config, 0).await.expect("start")
}

const RANGE: (i64, i64) = (1_764_000_000_000, 1_764_086_400_000);

/// `n` events numbered in their `id` ("e0000"...), processed at `p(i)`.
fn numbered(org: &SimulatedOrg, n: usize, p: impl Fn(usize) -> i64) -> Vec<String> {
    let events = generate_events(1, n, RANGE);
    let mut out = Vec::new();
    for (i, mut e) in events.into_iter().enumerate() {
        let id = format!("e{i:04}");
        e["id"] = json!(id);
        org.append_events_at(vec![e], p(i));
        out.push(id);
    }
    out
}

#[tokio::test]
async fn paging_1234_events_visits_each_once_then_polling_sees_new_ones() {
    let org = start(SimulatedOrgConfig::default()).await;
    let events = generate_events(42, 1234, RANGE);
    let expected: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    // Batches of 7 share a processedAt: ties must not break paging.
    for (i, chunk) in events.chunks(7).enumerate() {
        org.append_events_at(chunk.to_vec(), 1_764_100_000_000 + i as i64 * 1000);
    }
    assert_eq!(org.event_count(), 1234);

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut last_p = String::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            None => "limit=500".to_owned(),
            Some(c) => cursor_q("limit=500", c),
        };
        let p = page(&org, &q).await;
        for e in p["data"].as_array().unwrap() {
            let pa = e["attributes"]["processedAt"].as_str().unwrap().to_owned();
            assert!(pa >= last_p, "processedAt is non-decreasing");
            last_p = pa;
        }
        let n = ids(&p).len();
        sizes.push(n);
        seen.extend(ids(&p));
        let c = next(&p).expect("a cursor on every page, the last one included");
        let links_next = p["links"]["next"].as_str().unwrap();
        assert!(links_next.starts_with(&format!(
            "{}/admin/v1/orgs/sim-org-0001/events-stream?",
            org.base_url()
        )));
        assert!(links_next.contains("limit=500"));
        assert!(p["links"]["self"]
            .as_str()
            .unwrap()
            .starts_with(&org.base_url()));
        cursor = Some(c);
        if n < 500 {
            break;
        }
    }
    assert_eq!(sizes, vec![500, 500, 234]);
    assert_eq!(
        seen, expected,
        "each event exactly once, in processing order"
    );
    assert_eq!(org.served_ids().len(), 1234);

    // Polling the last cursor: nothing yet, and the cursor stays usable.
    let c = cursor.unwrap();
    let empty = page(&org, &cursor_q("limit=500", &c)).await;
    assert!(ids(&empty).is_empty());
    let c2 = next(&empty).expect("empty last page still has a cursor");

    // New events, one of them late (old `time`), appear after the cursor.
    let mut fresh = generate_events(43, 3, RANGE);
    fresh[1]["attributes"]["time"] = json!("2021-04-01T22:55:18Z");
    let fresh_ids: Vec<String> = fresh
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    org.append_events(fresh);
    let p = page(&org, &cursor_q("limit=500", &c2)).await;
    assert_eq!(ids(&p), fresh_ids);
    let pa = p["data"][0]["attributes"]["processedAt"].as_str().unwrap();
    let pa_ms = clock::parse_rfc3339_ms(pa).unwrap();
    assert!((now_ms() - pa_ms).abs() < 60_000, "stamped now: {pa}");
    assert_eq!(pa.len(), "2026-11-25T07:30:01.123Z".len());
    // The old cursor (before the empty poll) sees them too.
    assert_eq!(
        ids(&page(&org, &cursor_q("limit=500", &c)).await),
        fresh_ids
    );
    assert_eq!(org.served_ids().len(), 1237);
}

#[tokio::test]
async fn null_cursor_style_ends_with_null_and_empty_links() {
    let org = start(SimulatedOrgConfig {
        cursor_on_last_page: false,
        ..SimulatedOrgConfig::default()
    })
    .await;
    let all = numbered(&org, 10, |i| 1000 + i as i64);
    let p1 = page(&org, "limit=4").await;
    let p2 = page(&org, &cursor_q("limit=4", &next(&p1).unwrap())).await;
    let p3 = page(&org, &cursor_q("limit=4", &next(&p2).unwrap())).await;
    assert_eq!([ids(&p1), ids(&p2), ids(&p3)].concat(), all);
    assert_eq!(p3["meta"]["next"], Value::Null);
    assert_eq!(p3["links"], json!({}));

    // A full last page still has a cursor; the page after it is empty with null.
    let org = start(SimulatedOrgConfig {
        cursor_on_last_page: false,
        ..SimulatedOrgConfig::default()
    })
    .await;
    numbered(&org, 8, |i| 1000 + i as i64);
    let p1 = page(&org, "limit=4").await;
    let p2 = page(&org, &cursor_q("limit=4", &next(&p1).unwrap())).await;
    assert_eq!(ids(&p2).len(), 4);
    let p3 = page(&org, &cursor_q("limit=4", &next(&p2).unwrap())).await;
    assert!(ids(&p3).is_empty());
    assert_eq!(p3["meta"]["next"], Value::Null);
    assert_eq!(p3["links"], json!({}));
    // Without any event at all.
    let empty = start(SimulatedOrgConfig {
        cursor_on_last_page: false,
        ..SimulatedOrgConfig::default()
    })
    .await;
    let p = page(&empty, "").await;
    assert_eq!(
        p,
        json!({"data": [], "meta": {"next": null, "page_size": 0}, "links": {}})
    );
}

#[tokio::test]
async fn from_and_to_filter_on_processed_at_inclusively() {
    let org = start(SimulatedOrgConfig::default()).await;
    // Two events at each of 1000, 2000, 3000, 4000 ms.
    let all = numbered(&org, 8, |i| 1000 * (1 + i as i64 / 2));
    assert_eq!(ids(&page(&org, "from=2000&to=3000").await), all[2..6]);
    assert_eq!(ids(&page(&org, "from=2001").await), all[4..]);
    assert_eq!(ids(&page(&org, "to=1999").await), all[..2]);
    assert_eq!(ids(&page(&org, "from=4001").await), Vec::<String>::new());
    assert_eq!(ids(&page(&org, "from=3000&to=3000").await), all[4..6]);

    // With a cursor `from` is ignored, `to` still applies.
    let p1 = page(&org, "from=2000&to=3000&limit=1").await;
    assert_eq!(ids(&p1), all[2..3]);
    let p2 = page(
        &org,
        &cursor_q("from=3999&to=3000&limit=10", &next(&p1).unwrap()),
    )
    .await;
    assert_eq!(ids(&p2), all[3..6]);
    // An empty first page's cursor resumes at `from`.
    let org2 = start(SimulatedOrgConfig::default()).await;
    let p = page(&org2, "from=5000").await;
    let c = next(&p).unwrap();
    org2.append_events_at(generate_events(1, 1, RANGE), 4999);
    org2.append_events_at(generate_events(2, 1, RANGE), 5000);
    let p = page(&org2, &cursor_q("", &c)).await;
    assert_eq!(ids(&p).len(), 1);
    assert_eq!(
        p["data"][0]["attributes"]["processedAt"],
        "1970-01-01T00:00:05.000Z"
    );

    for q in ["from=abc", "to=1.5", "from=", "from=3000&to=2000"] {
        let r = get(&org, q).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.error_code(), "ADMIN-400-3", "{q}");
    }
}

#[tokio::test]
async fn desc_order_and_the_cursor_keeps_its_order() {
    let org = start(SimulatedOrgConfig::default()).await;
    let all = numbered(&org, 10, |i| 1000 + 10 * i as i64);
    let mut rev = all.clone();
    rev.reverse();
    let p1 = page(&org, "sortOrder=desc&limit=4").await;
    assert_eq!(ids(&p1), rev[..4]);
    // The cursor says desc: a request asking asc follows the cursor.
    let p2 = page(
        &org,
        &cursor_q("sortOrder=asc&limit=4", &next(&p1).unwrap()),
    )
    .await;
    assert_eq!(ids(&p2), rev[4..8]);
    let p3 = page(&org, &cursor_q("limit=4", &next(&p2).unwrap())).await;
    assert_eq!(ids(&p3), rev[8..]);
    // Desc with bounds.
    assert_eq!(
        ids(&page(&org, "sortOrder=desc&from=1020&to=1050").await),
        rev[4..8]
    );
    // Default order is asc.
    assert_eq!(ids(&page(&org, "sortOrder=asc").await), all);
    assert_eq!(ids(&page(&org, "").await), all);
}

#[tokio::test]
async fn request_errors() {
    let org = start(SimulatedOrgConfig::default()).await;
    numbered(&org, 3, |_| 1000);
    let path = format!("/admin/v1/orgs/{}/events-stream", org.org_id());

    for c in ["garbage", "", "eyJwIjoxfQ", "%FF%FE"] {
        let r = get(&org, &format!("cursor={c}")).await;
        assert_eq!(r.status, 400, "{c}");
        assert_eq!(r.error_code(), "ADMIN-400-1");
        assert_eq!(r.json()["errors"][0]["detail"], "Invalid cursor");
        assert_eq!(r.json()["errors"][0]["title"], "Bad Request");
    }
    for q in [
        "limit=0",
        "limit=501",
        "limit=abc",
        "limit=-1",
        "limit=",
        "limit=99999999999999999999",
    ] {
        let r = get(&org, q).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.error_code(), "ADMIN-400-2", "{q}");
    }
    assert_eq!(ids(&page(&org, "limit=500").await).len(), 3);
    assert_eq!(ids(&page(&org, "limit=1").await).len(), 1);
    for q in ["sortOrder=up", "sortOrder=DESC", "sortOrder="] {
        assert_eq!(get(&org, q).await.status, 400, "{q}");
    }

    let r = request(&org, "GET", &path, Some("wrong-key")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "ADMIN-401-1");
    assert_eq!(request(&org, "GET", &path, None).await.status, 401);
    let basic = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
        org.api_key()
    );
    assert_eq!(
        send_raw(&org.base_url(), basic.as_bytes()).await.status,
        401
    );

    let r = request(
        &org,
        "GET",
        "/admin/v1/orgs/other-org/events-stream",
        Some(org.api_key()),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "ADMIN-404-2");
    assert_eq!(r.json()["errors"][0]["detail"], "Org not found");
    for other in [
        "/",
        "/admin/v1/orgs/sim-org-0001/event",
        "/admin/v1/orgs/sim-org-0001/events/x/y",
        "/admin/v1/orgs/sim-org-0001/events-stream/x",
    ] {
        let r = request(&org, "GET", other, Some(org.api_key())).await;
        assert_eq!(r.status, 404, "{other}");
        r.error_code();
    }
    let r = request(&org, "POST", &path, Some(org.api_key())).await;
    assert_eq!(r.status, 405);

    // Everything was recorded, the key never.
    let reqs = org.requests();
    assert!(reqs.len() >= 20);
    assert!(!format!("{reqs:?}").contains(org.api_key()));
    let unauth: Vec<_> = reqs.iter().filter(|r| !r.authorized).collect();
    assert_eq!(unauth.len(), 3);
    assert!(unauth.iter().all(|r| r.status == 401));
    let first = &reqs[0];
    assert_eq!(first.method, "GET");
    assert_eq!(first.path, path);
    assert_eq!(first.query_value("cursor"), Some("garbage"));
    assert_eq!(first.status, 400);
    assert!(first.authorized && first.fault.is_none());
    assert!(org.served_ids().len() == 3);
}

#[tokio::test]
async fn malformed_requests_never_break_the_server() {
    let org = start(SimulatedOrgConfig::default()).await;
    numbered(&org, 5, |i| 1000 + i as i64);
    let huge = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!(r#"{{"p":{},"s":{},"o":"asc"}}"#, i64::MAX, u64::MAX),
    );
    let tiny = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!(r#"{{"p":{},"s":0,"o":"desc"}}"#, i64::MIN),
    );
    let targets = [
        "/admin/v1/orgs/%ZZ%/events-stream?limit=%FF%FE&cursor=%00".to_owned(),
        "/admin/v1/orgs/sim-org-0001/events-stream?from=-9223372036854775808&to=9223372036854775807".to_owned(),
        "/admin/v1/orgs/sim-org-0001/events-stream?sortOrder=desc&to=9223372036854775807&from=-9223372036854775808".to_owned(),
        format!("/admin/v1/orgs/sim-org-0001/events-stream?cursor={huge}"),
        format!("/admin/v1/orgs/sim-org-0001/events-stream?cursor={tiny}"),
        format!("/admin/v1/orgs/sim-org-0001/events-stream?cursor={}", "A".repeat(5000)),
        "/admin/v1/orgs/sim-org-0001/events-stream?&&=&limit&limit=2&limit=abc".to_owned(),
        "/admin/v1/orgs/sim%2Dorg%2D0001/events-stream".to_owned(),
    ];
    let mut statuses = Vec::new();
    for t in &targets {
        statuses.push(request(&org, "GET", t, Some(org.api_key())).await.status);
    }
    // The first `limit` (empty) is the one read.
    assert_eq!(statuses, vec![404, 200, 200, 200, 200, 400, 400, 200]);
    // Garbage on the wire: hyper answers or closes; the server lives on.
    let mut s = TcpStream::connect(org.base_url().trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"\x00\xff GARBAGE\r\n\r\n").await.unwrap();
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink).await;
    assert_eq!(ids(&page(&org, "").await).len(), 5);
}

/// The control path scripts a 429 from outside the process, for the org's key holder only.
#[tokio::test]
async fn a_429_can_be_scripted_over_http() {
    let org = start(SimulatedOrgConfig::default()).await;
    numbered(&org, 3, |i| 1000 + i as i64);
    let target = format!("{CONTROL_THROTTLE_PATH}?reset_in_secs=120");
    assert_eq!(
        request(&org, "POST", &target, Some("wrong")).await.status,
        401
    );
    assert_eq!(
        request(&org, "GET", &target, Some(org.api_key()))
            .await
            .status,
        405
    );
    assert_eq!(
        get(&org, "").await.status,
        200,
        "nothing scripted by refused calls"
    );
    let r = request(&org, "POST", &target, Some(org.api_key())).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["reset_in_secs"], 120);
    let before = now_ms();
    let r = get(&org, "").await;
    assert_eq!(r.status, 429);
    let reset = r.header("x-ratelimit-reset").unwrap();
    let reset_ms = chrono::DateTime::parse_from_rfc3339(reset)
        .unwrap()
        .timestamp_millis();
    assert!(
        (before + 119_000..=before + 122_000).contains(&reset_ms),
        "{reset}"
    );
    assert_eq!(get(&org, "").await.status, 200, "one request only");
}

#[tokio::test]
async fn each_fault_kind() {
    let org = start(SimulatedOrgConfig::default()).await;
    let all = numbered(&org, 20, |i| 1000 + i as i64);

    // RateLimited, minute precision reset and Retry-After.
    org.push_faults([Fault::RateLimited {
        reset: ResetHeader::IsoMinute,
        retry_after_secs: Some(7),
    }]);
    let before = now_ms();
    let r = get(&org, "").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.error_code(), "ADMIN-429-1");
    assert_eq!(r.header("x-ratelimit-limit"), Some("100"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(r.header("retry-after"), Some("7"));
    let reset = r.header("x-ratelimit-reset").unwrap();
    assert_eq!(reset.len(), "2023-10-11T18:22Z".len(), "{reset}");
    let reset_ms = clock::parse_rfc3339_ms(&reset.replace('Z', ":00Z")).unwrap();
    assert_eq!(reset_ms % 60_000, 0);
    assert!(
        reset_ms > before && reset_ms <= now_ms() + 60_000,
        "{reset}"
    );

    org.push_faults([
        Fault::RateLimited {
            reset: ResetHeader::IsoSeconds { in_secs: 30 },
            retry_after_secs: None,
        },
        Fault::RateLimited {
            reset: ResetHeader::Absent,
            retry_after_secs: None,
        },
    ]);
    let r = get(&org, "").await;
    assert_eq!(r.status, 429);
    let reset = r.header("x-ratelimit-reset").unwrap();
    assert_eq!(reset.len(), "2026-11-25T07:31:05Z".len(), "{reset}");
    let delta = clock::parse_rfc3339_ms(reset).unwrap() - now_ms();
    assert!((28_000..=31_000).contains(&delta), "{reset}");
    assert_eq!(r.header("retry-after"), None);
    let r = get(&org, "").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-ratelimit-reset"), None);

    // Server errors: JSON from the API, HTML from the proxy.
    org.push_faults([500, 502, 503, 504].map(|status| Fault::ServerError { status }));
    let r = get(&org, "").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.error_code(), "ADMIN-500-1");
    for (status, reason) in [
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Timeout"),
    ] {
        let r = get(&org, "").await;
        assert_eq!(r.status, status);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(String::from_utf8_lossy(&r.body).contains(&format!("{status} {reason}")));
    }

    // Truncated: the real page cut in half, and not counted as served.
    org.push_faults([Fault::TruncatedBody]);
    let cut = get(&org, "limit=5").await;
    assert_eq!(cut.status, 200);
    assert!(serde_json::from_slice::<Value>(&cut.body).is_err());
    assert!(org.served_ids().is_empty());
    let full = get(&org, "limit=5").await;
    assert_eq!(cut.body.len(), full.body.len() / 2);
    assert!(full.body.starts_with(&cut.body));
    assert_eq!(org.served_ids().len(), 5);

    // Not JSON.
    org.push_faults([Fault::NotJson]);
    let r = get(&org, "").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.body.starts_with(b"<!DOCTYPE html>"));

    // Stall, then a normal answer.
    org.push_faults([Fault::Stall { millis: 300 }]);
    let t = Instant::now();
    let p = page(&org, "limit=2").await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(ids(&p), all[..2]);

    // API-side duplicates at the head of the page; nothing skipped after them.
    let p1 = page(&org, "limit=5").await;
    assert_eq!(ids(&p1), all[..5]);
    org.push_faults([Fault::RepeatPrevious { count: 3 }]);
    let p2 = page(&org, &cursor_q("limit=5", &next(&p1).unwrap())).await;
    assert_eq!(ids(&p2), [&all[2..5], &all[5..7]].concat());
    let p3 = page(&org, &cursor_q("limit=5", &next(&p2).unwrap())).await;
    assert_eq!(ids(&p3), all[7..12]);

    // Invalid cursor and Unauthorized whatever the request.
    org.push_faults([
        Fault::InvalidCursor,
        Fault::InvalidCursor,
        Fault::Unauthorized,
    ]);
    let r = get(&org, "").await;
    assert_eq!((r.status, r.error_code()), (400, "ADMIN-400-1".to_owned()));
    let r = get(&org, &cursor_q("", &next(&p3).unwrap())).await;
    assert_eq!(r.status, 400);
    let r = get(&org, "").await;
    assert_eq!((r.status, r.error_code()), (401, "ADMIN-401-1".to_owned()));
    assert_eq!(get(&org, "").await.status, 200, "the queue is used up");

    let faults: Vec<Option<Fault>> = org.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(faults.iter().flatten().count(), 14);
    assert_eq!(
        faults[0],
        Some(Fault::RateLimited {
            reset: ResetHeader::IsoMinute,
            retry_after_secs: Some(7)
        })
    );
    assert_eq!(faults.last(), Some(&None));
}

#[tokio::test]
async fn random_faults_follow_the_seed() {
    async fn run(seed: u64) -> Vec<(u16, Option<Fault>)> {
        let org = start(SimulatedOrgConfig::default()).await;
        numbered(&org, 3, |_| 1000);
        org.set_random_faults(
            0.5,
            seed,
            vec![Fault::ServerError { status: 503 }, Fault::NotJson],
        );
        for _ in 0..30 {
            get(&org, "").await;
        }
        org.requests()
            .into_iter()
            .map(|r| (r.status, r.fault))
            .collect()
    }
    let a = run(11).await;
    assert_eq!(a, run(11).await);
    assert_ne!(a, run(12).await);
    let faulted = a.iter().filter(|(_, f)| f.is_some()).count();
    assert!((5..=25).contains(&faulted), "{faulted}");
    for (status, fault) in &a {
        match fault {
            Some(Fault::ServerError { .. }) => assert_eq!(*status, 503),
            _ => assert_eq!(*status, 200),
        }
    }
}

#[tokio::test]
async fn configured_rate_limit_per_minute() {
    for _attempt in 0..3 {
        let org = start(SimulatedOrgConfig {
            rate_limit_per_minute: Some(3),
            ..SimulatedOrgConfig::default()
        })
        .await;
        let minute = now_ms() / 60_000;
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(get(&org, "").await.status);
        }
        org.push_faults([Fault::NotJson]);
        let r = get(&org, "").await;
        if now_ms() / 60_000 != minute {
            continue; // Crossed a minute boundary: the window reset, try again.
        }
        assert_eq!(statuses, vec![200, 200, 200]);
        assert_eq!(r.status, 429);
        assert_eq!(r.error_code(), "ADMIN-429-1");
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(r.header("retry-after"), None);
        assert_eq!(
            r.header("x-ratelimit-reset"),
            Some(clock::format_minute((minute + 1) * 60_000).as_str())
        );
        // A throttled request does not use up the scripted fault.
        assert_eq!(org.requests()[3].fault, None);
        return;
    }
    panic!("three attempts straddled a minute boundary");
}

#[tokio::test]
async fn links_use_the_configured_base_but_cursors_work_here() {
    let org = start(SimulatedOrgConfig {
        links_base_url: Some("https://evil.example.net/".to_owned()),
        ..SimulatedOrgConfig::default()
    })
    .await;
    let all = numbered(&org, 3, |i| 1000 + i as i64);
    let p1 = page(&org, "limit=2&from=0").await;
    assert_eq!(
        p1["links"]["self"],
        "https://evil.example.net/admin/v1/orgs/sim-org-0001/events-stream?limit=2&from=0"
    );
    let c = next(&p1).unwrap();
    let links_next = p1["links"]["next"].as_str().unwrap();
    assert!(links_next.starts_with(
        "https://evil.example.net/admin/v1/orgs/sim-org-0001/events-stream?limit=2&from=0&cursor="
    ));
    let from_link = url::Url::parse(links_next).unwrap();
    let link_cursor = from_link
        .query_pairs()
        .find(|(k, _)| k == "cursor")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(link_cursor, c);
    assert_eq!(ids(&page(&org, &cursor_q("limit=2", &c)).await), all[2..]);
}

#[tokio::test]
async fn stored_as_given_invalid_events_included() {
    let org = start(SimulatedOrgConfig::default()).await;
    let panther: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/atlassian/panther_user_logged_in_as_user.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let valid = generate_events(5, 2, RANGE);
    let invalid = generate_invalid_events(5, 3);
    org.append_events_at(
        vec![json!(42), json!("text"), json!({"id": "no-attributes"})],
        5000,
    );
    org.append_events_at(vec![panther.clone()], 1000); // earlier: clamped to 5000
    org.append_events_at(valid.clone(), 6000);
    org.append_events_at(invalid.clone(), 7000);
    assert_eq!(org.event_count(), 9);
    assert_eq!(org.last_processed_at_ms(), Some(7000));

    let p = page(&org, "").await;
    let data = p["data"].as_array().unwrap();
    assert_eq!(data.len(), 9);
    assert_eq!(data[0], json!(42));
    assert_eq!(data[1], json!("text"));
    assert_eq!(data[2], json!({"id": "no-attributes"}));
    let mut stamped = panther.clone();
    stamped["attributes"]["processedAt"] = json!("1970-01-01T00:00:05.000Z");
    assert_eq!(data[3], stamped, "only processedAt is added");
    assert_eq!(
        data[4]["attributes"]["processedAt"],
        "1970-01-01T00:00:06.000Z"
    );
    assert_eq!(
        data[8]["attributes"]["processedAt"],
        "1970-01-01T00:00:07.000Z"
    );
    let valid_ids: HashSet<String> = valid
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(org.served_ids(), valid_ids);
    assert_eq!(org.valid_event_ids(), valid_ids);
    assert_eq!(org.events().len(), 9);
}

#[tokio::test]
async fn backlog_demo_and_shutdown() {
    let org = serve_demo_org(SimulatedOrgConfig::default(), 0, 3, 450, 4)
        .await
        .unwrap();
    assert_eq!(org.event_count(), 454);
    assert_eq!(org.valid_event_ids().len(), 450);
    // processedAt follows `time` for timely events, and is late for late ones.
    let events = org.events();
    let mut late = 0;
    for e in &events {
        let (Some(t), Some(p)) = (
            e["attributes"]["time"]
                .as_str()
                .and_then(clock::parse_rfc3339_ms),
            e["attributes"]["processedAt"]
                .as_str()
                .and_then(clock::parse_rfc3339_ms),
        ) else {
            continue;
        };
        assert!(p >= t + BACKLOG_PROCESSING_LAG_MS);
        late += usize::from(p - t > 3_600_000);
    }
    assert!(late > 5, "{late}");
    let mut seen = HashSet::new();
    let mut q = String::new();
    loop {
        let p = page(&org, &q).await;
        seen.extend(ids(&p));
        if ids(&p).len() < 200 {
            break;
        }
        q = cursor_q("", &next(&p).unwrap());
    }
    assert_eq!(seen.len(), 454);
    assert_eq!(org.served_ids().len(), 450);

    let base = org.base_url();
    org.shutdown_and_wait().await;
    org.shutdown();
    assert!(TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .is_err());
}

#[tokio::test]
async fn a_canned_response_is_served_exactly_once() {
    let org = start(SimulatedOrgConfig::default()).await;
    let all = numbered(&org, 3, |i| 1000 + i as i64);
    org.push_faults([
        Fault::Respond(
            CannedResponse::new(307, "")
                .header("Location", "https://elsewhere.example/x")
                .header("x-dup", "1")
                .header("x-dup", "2")
                .header("bad header name", "dropped"),
        ),
        Fault::Respond(CannedResponse::json(&b"{\"data\":[\xff]}"[..])),
        Fault::Respond(CannedResponse::new(1000, "odd status")),
    ]);
    // Served whatever the request: no key, wrong org.
    let r = request(&org, "GET", "/admin/v1/orgs/other/events-stream", None).await;
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some("https://elsewhere.example/x"));
    let dup: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "x-dup")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(dup, ["1", "2"]);
    assert!(r.headers.iter().all(|(k, _)| !k.contains(' ')));
    assert_eq!(r.header("content-type"), None);
    assert!(r.body.is_empty());

    let r = get(&org, "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, b"{\"data\":[\xff]}");

    let r = get(&org, "").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, b"odd status");

    assert_eq!(ids(&page(&org, "").await), all, "then the API again");
    let faults: Vec<bool> = org
        .requests()
        .iter()
        .map(|r| matches!(r.fault, Some(Fault::Respond(_))))
        .collect();
    assert_eq!(faults, [true, true, true, false]);
    let shown = format!("{:?}", org.requests()[1].fault);
    assert!(shown.contains("body_len: 12"), "{shown}");
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let org = start(SimulatedOrgConfig {
        latency: std::time::Duration::from_millis(150),
        ..SimulatedOrgConfig::default()
    })
    .await;
    numbered(&org, 3, |i| 1000 + i as i64);
    let started = std::time::Instant::now();
    let p = page(&org, "limit=10").await;
    assert_eq!(ids(&p).len(), 3);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn a_page_cap_serves_fewer_events_than_limit_and_keeps_the_stream_whole() {
    let org = start(SimulatedOrgConfig {
        page_cap: Some(3),
        ..SimulatedOrgConfig::default()
    })
    .await;
    let all = numbered(&org, 8, |i| 1000 + i as i64);
    let p1 = page(&org, "limit=500").await;
    assert_eq!(ids(&p1), all[..3], "capped at 3 whatever limit says");
    assert_eq!(p1["meta"]["page_size"], 3);
    let p2 = page(&org, &cursor_q("limit=500", &next(&p1).unwrap())).await;
    let p3 = page(&org, &cursor_q("limit=2", &next(&p2).unwrap())).await;
    assert_eq!(
        ids(&p3).len(),
        2,
        "a limit below the cap is served as asked"
    );
    let p4 = page(&org, &cursor_q("limit=500", &next(&p3).unwrap())).await;
    assert_eq!([ids(&p1), ids(&p2), ids(&p3), ids(&p4)].concat(), all);

    // Changed live; in the null style a full capped page still carries a cursor.
    org.set_page_cap(Some(4));
    org.set_cursor_on_last_page(false);
    let q1 = page(&org, "limit=500").await;
    assert_eq!(ids(&q1), all[..4]);
    let q2 = page(&org, &cursor_q("limit=500", &next(&q1).unwrap())).await;
    assert_eq!(ids(&q2), all[4..]);
    let q3 = page(&org, &cursor_q("limit=500", &next(&q2).unwrap())).await;
    assert!(ids(&q3).is_empty());
    assert_eq!(q3["meta"]["next"], Value::Null);
    org.set_page_cap(None);
    assert_eq!(ids(&page(&org, "limit=500").await), all);
}

#[tokio::test]
async fn from_and_to_can_filter_on_event_time_while_the_stream_stays_in_processing_order() {
    let org = start(SimulatedOrgConfig {
        bounds_on: TimeField::Time,
        ..SimulatedOrgConfig::default()
    })
    .await;
    // Processed one after the other; the third happened an hour before the others (late).
    let hour = 3_600_000;
    let base = RANGE.0 + 10 * hour;
    let times = [base, base + 1_000, base - hour, base + 2_000];
    let mut all = Vec::new();
    for (i, t) in times.iter().enumerate() {
        let mut e = generate_events(3, 1, (*t, *t)).remove(0);
        e["id"] = json!(format!("t{i}"));
        org.append_events_at(vec![e], base + 10_000 + i as i64);
        all.push(format!("t{i}"));
    }
    // `from` on time leaves the late event out, and the order is processing order.
    let from = page(&org, &format!("from={base}")).await;
    assert_eq!(ids(&from), ["t0", "t1", "t3"]);
    let to = page(&org, &format!("to={}", base - 1)).await;
    assert_eq!(ids(&to), ["t2"]);
    let desc = page(&org, &format!("from={base}&sortOrder=desc")).await;
    assert_eq!(ids(&desc), ["t3", "t1", "t0"]);
    // A cursor is a position: from it on, every later event, the late one included.
    let first = page(&org, &format!("from={base}&limit=1")).await;
    let rest = page(&org, &cursor_q("limit=10", &next(&first).unwrap())).await;
    assert_eq!(ids(&rest), all[1..]);
    // On processing time (the default) the same `from` keeps everything processed after it.
    org.set_bounds_on(TimeField::ProcessedAt);
    assert_eq!(ids(&page(&org, &format!("from={base}")).await), all);
}
