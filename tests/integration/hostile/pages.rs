//! The page itself: an envelope that is not what the API promises is refused and retried with
//! backoff, never moving the checkpoint; an odd but usable one is read; a page larger than
//! asked for is redone within the API's limit.
use super::{nested_arrays, SHORT_BUDGET};
use crate::support::faults::{Faults, Op, StorageFault};
use crate::support::fill_backlog;
use crate::support::harness::{TestEnv, BUDGET};
use atlassian_audit::collector::StopReason;
use atlassian_audit::collector::{RunError, LEASE_GRACE};
use atlassian_audit::config::env;
use atlassian_audit::source::atlassian::MAX_BODY_BYTES;
use atlassian_audit::source::SourceError;
use serde_json::{json, Value};
use simulated_org::{generate_events_for_org, CannedResponse, Fault, SimulatedOrgConfig};

/// The run failed because the page was bad (`problem`), after retrying, and says so briefly.
fn assert_a_bad_page_that_the_next_run_retries(err: RunError, problem: &str) {
    match &err {
        RunError::Source(SourceError::Unavailable {
            attempts,
            last_problem,
        }) => {
            assert!(*attempts >= 2, "retried: {err}");
            assert!(last_problem.contains(problem), "{last_problem}");
        }
        other => panic!("not a bad page: {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("the next run retries"), "{text}");
    assert!(text.len() < 800, "a short message: {} bytes", text.len());
    assert!(!text.contains('\n'), "{text}");
}

/// Every request of a first run gets `answer`: each is refused and retried with backoff, and
/// the run fails saying `problem`, without writing or moving the checkpoint. When `answer`
/// comes once only, the retry gets the page and everything arrives exactly once.
async fn refused_and_retried(answer: CannedResponse, problem: &str) {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 90, 30, 1, 2);
    env.org
        .set_random_faults(1.0, 90, vec![Fault::Respond(answer.clone())]);
    let r = env.run_for(SHORT_BUDGET).await;
    assert_a_bad_page_that_the_next_run_retries(r.error.expect("the run fails"), problem);
    assert!(!r.summary.run_succeeded);
    assert_eq!(r.summary.events_processed + r.summary.quarantined_events, 0);
    env.assert_untouched().await;
    let requests = env.org.requests();
    assert!(requests.len() >= 2, "retried");
    assert!(requests
        .iter()
        .all(|q| matches!(q.fault, Some(Fault::Respond(_)))));
    assert!(
        requests.windows(2).all(|w| w[0].query == w[1].query),
        "the same page was asked for again"
    );

    env.org.clear_faults();
    env.org.push_faults([Fault::Respond(answer)]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 30);
    assert_eq!(r.summary.quarantined_events, 1);
    env.assert_exactly_once().await;
}

macro_rules! refused_pages {
    ($($(#[$doc:meta])* $name:ident: $answer:expr => $problem:expr;)*) => {$(
        $(#[$doc])*
        #[tokio::test]
        async fn $name() {
            refused_and_retried($answer, $problem).await;
        }
    )*};
}

refused_pages! {
    page_data_is_an_object:
        CannedResponse::json(r#"{"data":{"0":{"id":"a"}},"meta":{"next":null}}"#)
        => "HTTP 200: the page is not the expected JSON (invalid type: map, expected a sequence";
    page_data_is_a_string:
        CannedResponse::json(r#"{"data":"events","meta":{"next":null}}"#)
        => "the page is not the expected JSON (invalid type: string \"events\", expected a sequence";
    page_data_is_a_number:
        CannedResponse::json(r#"{"data":200,"meta":{"next":null}}"#)
        => "the page is not the expected JSON (invalid type: integer `200`, expected a sequence";
    page_data_is_null:
        CannedResponse::json(r#"{"data":null,"meta":{"next":"c"}}"#)
        => "the page has no `data` array";
    page_data_is_missing:
        CannedResponse::json(r#"{"meta":{"next":null},"links":{}}"#)
        => "the page has no `data` array";
    page_meta_is_a_string:
        CannedResponse::json(r#"{"data":[],"meta":"next"}"#)
        => "the page's `meta` is a string, not an object";
    /// serde would read `["c"]` as a Meta whose `next` is "c".
    page_meta_is_a_positional_array:
        CannedResponse::json(r#"{"data":[],"meta":["c"]}"#)
        => "the page's `meta` is an array, not an object";
    page_meta_next_is_a_number:
        CannedResponse::json(r#"{"data":[],"meta":{"next":12345}}"#)
        => "the page's `meta.next` is a number, not a string or null";
    page_meta_next_is_an_object:
        CannedResponse::json(r#"{"data":[],"meta":{"next":{"cursor":"c"}}}"#)
        => "the page's `meta.next` is an object, not a string or null";
    page_meta_next_is_an_array:
        CannedResponse::json(r#"{"data":[],"meta":{"next":["c"]}}"#)
        => "the page's `meta.next` is an array, not a string or null";
    page_meta_next_is_a_boolean:
        CannedResponse::json(r#"{"data":[],"meta":{"next":true}}"#)
        => "the page's `meta.next` is a boolean, not a string or null";
    /// serde would read this as a page of one event with cursor "c".
    page_is_a_positional_array:
        CannedResponse::json(r#"[[{"id":"a"}],{"next":"c"}]"#)
        => "the page is an array, not a JSON object";
    page_is_a_json_string:
        CannedResponse::json(r#""{\"data\":[]}""#)
        => "the page is a string, not a JSON object";
    page_is_null:
        CannedResponse::json("null")
        => "the page is null, not a JSON object";
    page_is_empty:
        CannedResponse::json("")
        => "the page was cut short after 0 bytes";
    page_has_duplicate_data:
        CannedResponse::json(r#"{"data":[],"data":[{"id":"a"}],"meta":{"next":null}}"#)
        => "duplicate field `data`";
    non_utf8_bytes_inside_an_event:
        CannedResponse::json(&b"{\"data\":[{\"id\":\"\xc3\x28\"}],\"meta\":{\"next\":null}}"[..])
        => "the page is not JSON (invalid unicode code point";
    non_utf8_bytes_after_the_page:
        CannedResponse::json(&b"{\"data\":[],\"meta\":{\"next\":null}}\xff\xfe"[..])
        => "the page is not JSON (trailing characters";
    a_utf16_page_with_a_byte_order_mark:
        CannedResponse::json(
            "\u{feff}{\"data\":[],\"meta\":{\"next\":null}}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
        )
        => "the page is not JSON (expected value at line 1 column 1)";
    a_gzip_body_nobody_asked_for:
        CannedResponse::json(gzip(br#"{"data":[],"meta":{"next":null}}"#))
            .header("content-encoding", "gzip")
        => "the page is not JSON (expected value at line 1 column 1)";
    /// A proxy's page, claiming to be JSON.
    html_from_a_proxy_with_200:
        CannedResponse::json("<!DOCTYPE html><html><head><title>Access denied</title></head><body>{\"data\":[]}</body></html>")
        => "the page is not JSON (expected value at line 1 column 1)";
    html_from_a_proxy_with_502:
        CannedResponse::new(502, "<html><body><h1>502 Bad Gateway</h1>{\"errors\":[{\"detail\":\"x\"}]</body></html>")
            .header("content-type", "text/html")
            .header("retry-after", "garbage")
        => "HTTP 502";
    /// 100 000 nested arrays as the cursor: refused, no stack overflow.
    deep_nesting_as_the_cursor:
        CannedResponse::json(format!(r#"{{"data":[],"meta":{{"next":{}}}}}"#, nested_arrays(100_000)))
        => "the page's `meta.next` is an array, not a string or null";
    /// 100 000 arrays opened and never closed.
    deep_nesting_never_closed:
        CannedResponse::json(format!(r#"{{"data":[{}"#, "[".repeat(100_000)))
        => "the page was cut short after 100009 bytes";
    /// A cursor that could neither be sent back in a URL nor stored in a checkpoint item.
    a_one_megabyte_cursor:
        CannedResponse::json(format!(r#"{{"data":[],"meta":{{"next":"{}"}}}}"#, "c".repeat(1 << 20)))
        => "the page's `meta.next` is 1048576 bytes long; a cursor is at most 8192";
    /// A valid page padded past the 24 MiB the client reads: refused unread, by its length.
    a_body_over_the_cap:
        CannedResponse::json(padded_past_the_cap())
        => "the answer is larger than 25165824 bytes";
    /// The same, chunked with no length: refused as soon as it grows past the cap.
    a_chunked_body_over_the_cap:
        CannedResponse::json(padded_past_the_cap()).chunked()
        => "the answer is larger than 25165824 bytes";
    /// More than twice the 200 events asked for: refused while `data` is read.
    a_page_of_more_than_twice_the_limit:
        CannedResponse::json(format!(r#"{{"data":[{}],"meta":{{"next":"c"}}}}"#, vec!["{}"; 401].join(",")))
        => "the page's `data` holds more than 400 events, twice the limit asked for";
}

fn padded_past_the_cap() -> Vec<u8> {
    let mut body = br#"{"data":[],"meta":{"next":null}}"#.to_vec();
    body.resize(MAX_BODY_BYTES + 1, b' ');
    body
}

/// `{"data":[0,0,0,…]}`, exactly `MAX_BODY_BYTES` long: 12 million events of one byte.
fn zeros_at_the_cap() -> Vec<u8> {
    let mut body = b"{\"data\":[".to_vec();
    let zeros = (MAX_BODY_BYTES - body.len() - 2).div_ceil(2);
    body.extend(std::iter::repeat_n(&b"0,"[..], zeros).flatten());
    body.pop();
    body.extend_from_slice(b"]}");
    assert_eq!(body.len(), MAX_BODY_BYTES);
    body
}

/// A hostile API answers `{"data":[0,0,0,…]}` at the body cap to every request, chunked (so
/// the client cannot size it up front): the real CLI refuses each answer, retries until its
/// budget is spent, writes nothing, and its peak memory (the kernel's high-water mark of the
/// child's resident memory) stays under 64 MB. Held whole as events, those 12 million events
/// would take hundreds of megabytes.
#[tokio::test]
async fn zeros_at_the_body_cap_keep_a_run_under_64_mb() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 91, 30, 0, 1);
    env.org.set_random_faults(
        1.0,
        91,
        vec![Fault::Respond(
            CannedResponse::json(zeros_at_the_cap()).chunked(),
        )],
    );
    let (status, max_rss_kib) = peak_memory_of(&env, &["run", "--budget-seconds", "10"]).await;
    assert!(
        !status.success() && status.code().is_some(),
        "the run fails on the bad pages ({status})"
    );
    let requests = env.org.requests();
    assert!(
        requests.len() >= 2,
        "{} requests: refused and retried",
        requests.len()
    );
    assert!(
        max_rss_kib > 10_000 && max_rss_kib < 62_500,
        "peak memory {max_rss_kib} KiB, not under 64 MB (62,500 KiB)"
    );
    eprintln!(
        "peak memory {max_rss_kib} KiB over {} answers of {MAX_BODY_BYTES} bytes",
        requests.len()
    );
    env.assert_untouched().await;
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// The org's own events, served once in an odd but usable envelope that ends the stream
/// (`meta.next` null or absent): written once; the next run reads on by time and writes
/// nothing twice.
async fn accepted_envelope(make: impl Fn(&[Value]) -> String) {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 95, 12, 1, 1);
    let body = make(&env.org.events());
    env.org
        .push_faults([Fault::Respond(CannedResponse::json(body))]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        (r.summary.events_processed, r.summary.quarantined_events),
        (12, 1)
    );
    assert_eq!(r.summary.stop_reason, StopReason::CaughtUp);
    assert_eq!(env.org.requests().len(), 1, "the page ended the stream");
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        (r.summary.events_processed, r.summary.quarantined_events),
        (0, 0)
    );
    assert!(r.summary.duplicates_dropped > 0, "read again by time");
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn links_next_as_an_object_is_ignored() {
    accepted_envelope(|events| {
        json!({"data": events, "meta": {"next": null}, "links": {"next": {"href": "https://evil.example/x"}}})
            .to_string()
    })
    .await;
}

#[tokio::test]
async fn links_as_a_number_and_meta_without_next_are_fine() {
    accepted_envelope(|events| json!({"links": 7, "meta": {}, "data": events}).to_string()).await;
}

#[tokio::test]
async fn a_page_without_meta_ends_the_stream() {
    accepted_envelope(|events| json!({"data": events}).to_string()).await;
}

/// Members the collector does not read may be of any type and depth, in any order, pretty
/// printed with CRLF and tabs.
#[tokio::test]
async fn unknown_and_ignored_members_may_hold_anything() {
    accepted_envelope(|events| {
        let data = serde_json::to_string_pretty(events).expect("events");
        format!(
            "{{\r\n\t\"meta\" : {{ \"page_size\": \"lots\", \"x\": {deep}, \"next\": null }},\r\n\t\"extra\": {deep},\r\n\t\"links\": [],\r\n\t\"data\": {data}\r\n}}\r\n",
            deep = nested_arrays(100_000)
        )
    })
    .await;
}

/// The API answers more events than the 500 asked for, and the run dies before that batch is
/// committed. The redo must still ask for no more than the API accepts (500) in any page:
/// asking for the 501 events the batch was cut at would be refused (400) on every later run,
/// for ever.
#[tokio::test]
async fn a_page_larger_than_asked_for_is_redone_within_the_api_limit() {
    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    env.set(env::PAGE_LIMIT, "500");
    fill_backlog(&env.org, 89, 501, 0, 2);
    let served = env.org.events();
    assert_eq!(served.len(), 501);
    env.org.push_faults([Fault::Respond(CannedResponse::json(
        json!({"data": served, "meta": {"next": null}}).to_string(),
    ))]);
    // Storage that refuses every write: the run dies with its batch pending.
    let refusing = Faults::new().when(|c| c.op == Op::Put, StorageFault::Fail);
    let r = env
        .collector_with_faults(&refusing, LEASE_GRACE)
        .await
        .run(BUDGET)
        .await;
    assert!(matches!(r.error, Some(RunError::Sink(_))), "{:?}", r.error);
    let pending = env.checkpoint().await.and_then(|s| s.checkpoint.pending);
    assert_eq!(pending.map(|p| p.event_count), Some(501));

    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    let requests = env.org.requests();
    let limits: Vec<Option<&str>> = requests[1..]
        .iter()
        .map(|q| q.query_value("limit"))
        .collect();
    assert!(
        limits.iter().all(|l| l
            .and_then(|l| l.parse::<u32>().ok())
            .is_some_and(|l| (1..=500).contains(&l))),
        "asked within the API's limit: {limits:?}"
    );
    env.assert_exactly_once().await;
}

/// Runs the real CLI with `args` and samples its peak resident memory (the kernel's
/// high-water mark, VmHWM: only the memory of the program the child became; getrusage's
/// ru_maxrss of a child also counts what it shared with this test process before exec) every
/// 5 ms until it exits. (exit status, peak KiB)
async fn peak_memory_of(env: &TestEnv, args: &[&str]) -> (std::process::ExitStatus, u64) {
    let cmd = env.cli(args);
    let cmd = cmd.as_std();
    let mut std_cmd = std::process::Command::new(cmd.get_program());
    std_cmd.args(cmd.get_args());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(v) => std_cmd.env(name, v),
            None => std_cmd.env_remove(name),
        };
    }
    std_cmd
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = std_cmd.spawn().expect("start the CLI");
    let status_path = format!("/proc/{}/status", child.id());
    tokio::task::spawn_blocking(move || {
        let mut max_kib = 0u64;
        loop {
            if let Ok(text) = std::fs::read_to_string(&status_path) {
                let hwm = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                max_kib = max_kib.max(hwm.unwrap_or(0));
            }
            if let Some(status) = child.try_wait().expect("poll the CLI") {
                return (status, max_kib);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    })
    .await
    .expect("wait for the CLI")
}

/// One valid event that a rule names (an admin logged in as a user), its context 330,000 users
/// long, on a page just under the body cap: the real CLI archives it and raises its alert, and
/// the memory it takes over the binary's own stays under 110 MB, so the release binary (a small run
/// peaks at about 18 MB) stays under 128 MB (the detect stage reads only the fields the rules use; parsed whole,
/// such an event took 322 MB). The figure is in BENCHMARKS.md.
#[tokio::test]
async fn a_rule_named_event_at_the_body_cap_keeps_a_run_under_128_mb() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    let now = simulated_org::format_processed_at(simulated_org::now_ms());
    let head = format!(
        r#"{{"data":[{{"id":"huge-1","type":"events","attributes":{{"time":"{now}","processedAt":"{now}","action":"user_logged_in_as_user","actor":{{"id":"a1","name":"Admin"}},"context":["#
    );
    let tail = r#"]},"links":{}}],"meta":{"next":null}}"#;
    let mut body = head.into_bytes();
    let mut i = 0;
    loop {
        let element = format!(
            r#"{{"type":"users","id":"u{i}","attributes":{{"email":"user{i}@example.com"}}}},"#
        );
        if body.len() + element.len() + tail.len() >= MAX_BODY_BYTES - 1024 {
            break;
        }
        body.extend_from_slice(element.as_bytes());
        i += 1;
    }
    body.pop();
    body.extend_from_slice(tail.as_bytes());
    env.org
        .push_faults([Fault::Respond(CannedResponse::json(body))]);
    let (status, max_rss_kib) = peak_memory_of(&env, &["run", "--budget-seconds", "30"]).await;
    assert!(status.success(), "the run succeeds ({status})");
    // The same binary on a page of one ordinary event: its code and runtime, which the debug
    // build this test runs makes several times the release binary's (a small run of the release
    // binary peaks at about 18 MB, BENCHMARKS.md, "Against Grove").
    let small = TestEnv::local(SimulatedOrgConfig::default()).await;
    small.org.append_events(generate_events_for_org(
        small.org.org_id(),
        3,
        1,
        (simulated_org::now_ms() - 60_000, simulated_org::now_ms()),
    ));
    let (status, baseline_kib) = peak_memory_of(&small, &["run", "--budget-seconds", "30"]).await;
    assert!(status.success(), "the baseline run succeeds ({status})");
    let grown_kib = max_rss_kib.saturating_sub(baseline_kib);
    eprintln!("peak memory {max_rss_kib} KiB ({grown_kib} KiB over the binary's own {baseline_kib} KiB) for one event of {i} context elements");
    // 110 MB over the binary's own: with the release binary's 18 MB, under 128 MB. The
    // detect stage reads only the fields the rules use; parsed whole, the event took 322 MB.
    assert!(
        grown_kib < 110_000,
        "the event took {grown_kib} KiB over the binary's own {baseline_kib} KiB, not under 110 MB"
    );
    let (logs, _, alerts) = env.archive().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].rule_id, "user_logged_in_as_user");
}
