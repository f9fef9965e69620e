//! Hostile input, case by case: what a broken proxy, a buggy or malicious API or a careless
//! operator can hand the collector. Each case asserts its outcome — normalized, quarantined
//! with a reason, or refused as a bad page that is retried (the run then fails or stops softly
//! without moving the checkpoint) — and, where a run is involved, that nothing is lost or
//! written twice. These need no AWS: the collector runs in-process with local storage.
use crate::{append_live, fill_backlog};
use atlassian_audit::checkpoint::{Checkpoint, CheckpointStore, FileCheckpointStore};
use atlassian_audit::collector::{
    Collector, CollectorSettings, RunError, RunReport, DEFAULT_OVERLAP, LEASE_GRACE,
};
use atlassian_audit::config::{env, ApiKey, Config, CredentialSource};
use atlassian_audit::credentials::parse_secret;
use atlassian_audit::metrics::StopReason;
use atlassian_audit::normalize::{Normalizer, SourceInfo};
use atlassian_audit::setup::{Aws, Backends};
use atlassian_audit::sink::{EncodedObject, ObjectSink, SinkError};
use atlassian_audit::source::SourceError;
use flate2::read::GzDecoder;
use serde_json::{json, Value};
use simulated_org::{is_valid_event, CannedResponse, Fault, SimulatedOrg, SimulatedOrgConfig};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const SOURCE: &str = "hostile";
/// Long enough for any run here to finish its work.
const BUDGET: Duration = Duration::from_secs(60);
/// Short: for runs meant to run out of time while retrying.
const SHORT_BUDGET: Duration = Duration::from_secs(3);

/// A simulated org, and a collector writing to a temporary directory and state file.
struct Local {
    org: SimulatedOrg,
    dir: tempfile::TempDir,
    page_limit: u32,
    api_key: Option<String>,
}

impl Local {
    async fn new() -> Local {
        Local::with(SimulatedOrgConfig::default()).await
    }

    async fn with(config: SimulatedOrgConfig) -> Local {
        Local {
            org: SimulatedOrg::start(config, 0)
                .await
                .expect("start the simulated org"),
            dir: tempfile::tempdir().expect("a temporary directory"),
            page_limit: 200,
            api_key: None,
        }
    }

    fn out_dir(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn state_file(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    fn config(&self) -> Config {
        let mut settings: HashMap<&'static str, String> = HashMap::new();
        settings.insert(env::API_BASE_URL, self.org.base_url());
        settings.insert(env::ORG_ID, self.org.org_id().to_owned());
        settings.insert(
            env::API_KEY,
            self.api_key
                .clone()
                .unwrap_or_else(|| self.org.api_key().to_owned()),
        );
        settings.insert(env::SOURCE_ID, SOURCE.to_owned());
        settings.insert(env::PAGE_LIMIT, self.page_limit.to_string());
        settings.insert(env::OUTPUT_DIR, self.out_dir().display().to_string());
        settings.insert(env::STATE_FILE, self.state_file().display().to_string());
        Config::from_lookup(move |name| settings.get(name).cloned()).expect("a valid config")
    }

    async fn collector(&self) -> Collector {
        let config = self.config();
        Backends::from_config(&config, &Aws::default())
            .await
            .expect("backends")
            .collector(&config)
            .await
            .expect("a collector")
    }

    async fn run(&self, budget: Duration) -> RunReport {
        self.collector().await.run(budget).await
    }

    /// The same collector, writing through `sink`.
    async fn collector_with_sink(&self, sink: Arc<dyn ObjectSink>) -> Collector {
        let config = self.config();
        let b = Backends::from_config(&config, &Aws::default())
            .await
            .expect("backends");
        Collector::new(
            b.source.clone(),
            b.checkpoints.clone(),
            sink,
            Normalizer::new(SourceInfo {
                source_id: SOURCE.to_owned(),
                source_label: config.source_label.clone(),
            }),
            CollectorSettings {
                source_id: SOURCE.to_owned(),
                page_limit: config.page_limit,
                initial_lookback: config.initial_lookback,
                overlap: DEFAULT_OVERLAP,
                lease_grace: LEASE_GRACE,
            },
        )
    }

    async fn checkpoint(&self) -> Option<Checkpoint> {
        FileCheckpointStore::new(self.state_file())
            .load(SOURCE)
            .await
            .expect("the state file reads")
            .map(|s| s.checkpoint)
    }

    /// Lines under logs/ and under quarantine/, parsed (serde_json's default reader).
    fn written(&self) -> (Vec<Value>, Vec<Value>) {
        let (mut logs, mut quarantine) = (Vec::new(), Vec::new());
        for (key, text) in files(&self.out_dir()) {
            for line in text.lines() {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("a line of {key} is not JSON: {e}"));
                if key.starts_with("logs/atlassian_audit/") {
                    logs.push(v);
                } else if key.starts_with("quarantine/atlassian_audit/") {
                    quarantine.push(v);
                } else {
                    panic!("unexpected object {key}");
                }
            }
        }
        (logs, quarantine)
    }

    /// Every valid event the org holds is under logs/ exactly once, nothing else is.
    fn assert_logs_exactly_once(&self) -> Vec<Value> {
        let (logs, quarantine) = self.written();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for v in &logs {
            *counts
                .entry(v["id"].as_str().expect("an id").to_owned())
                .or_default() += 1;
        }
        let valid = self.org.valid_event_ids();
        let missing = valid.iter().filter(|id| !counts.contains_key(*id)).count();
        assert_eq!(missing, 0, "{missing} valid events missing");
        let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(doubled.is_empty(), "written twice: {doubled:?}");
        let foreign: Vec<_> = counts.keys().filter(|id| !valid.contains(*id)).collect();
        assert!(foreign.is_empty(), "never in the org: {foreign:?}");
        quarantine
    }

    /// Logs exactly once; every invalid event of the org quarantined exactly once with a
    /// reason; the checkpoint settled and agreeing with the objects.
    async fn assert_exactly_once(&self) {
        let quarantine = self.assert_logs_exactly_once();
        let invalid: Vec<Value> = self
            .org
            .events()
            .into_iter()
            .filter(|e| !is_valid_event(e))
            .collect();
        assert_eq!(quarantine.len(), invalid.len(), "quarantined lines");
        for q in &quarantine {
            assert!(q["error"].as_str().is_some_and(|e| !e.is_empty()), "{q}");
            assert!(invalid.contains(&q["raw"]), "not an invalid event: {q}");
        }
        let cp = self.checkpoint().await.expect("a checkpoint");
        assert!(cp.pending.is_none(), "a batch was left pending");
        assert_eq!(
            cp.events_written as usize,
            self.written().0.len() + quarantine.len()
        );
    }

    /// The checkpoint exists (the run took the lease) but never moved, and nothing is written.
    async fn assert_untouched(&self) {
        let cp = self.checkpoint().await.expect("a checkpoint record");
        assert_eq!(
            (cp.sequence, cp.events_written, &cp.cursor, &cp.pending),
            (0, 0, &None, &None),
            "the checkpoint moved"
        );
        assert!(cp.newest_processed_at_ms.is_none() && cp.window_start_ms.is_none());
        assert!(files(&self.out_dir()).is_empty(), "something was written");
    }
}

/// Every object under `dir`: (key relative to `dir`, decompressed text).
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let key = path
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).expect("read an object");
            let mut text = String::new();
            GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap_or_else(|e| panic!("{key} is not gzip text: {e}"));
            out.push((key, text));
        }
    }
    out
}

fn nested_arrays(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

fn distinctive_key() -> String {
    format!("ATATT3xFfGF0-{}-KEYMATERIAL", uuid::Uuid::new_v4().simple())
}

// ---------- bad pages: refused, retried, never moving the checkpoint ----------

/// Every request of a first run gets `answer`: each is refused and retried with backoff, and
/// the run fails saying `problem`, without writing or moving the checkpoint. When `answer`
/// comes once only, the retry gets the page and everything arrives exactly once.
async fn refused_and_retried(answer: CannedResponse, problem: &str) {
    let env = Local::new().await;
    fill_backlog(&env.org, 90, 30, 1, 2);
    env.org
        .set_random_faults(1.0, 90, vec![Fault::Respond(answer.clone())]);
    let r = env.run(SHORT_BUDGET).await;
    let err = r.error.expect("the run fails");
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
    let r = env.run(BUDGET).await;
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
    /// A valid page padded past the 64 MiB the client reads.
    a_body_over_64_mib:
        CannedResponse::json({
            let mut body = br#"{"data":[],"meta":{"next":null}}"#.to_vec();
            body.resize(65 << 20, b' ');
            body
        })
        => "the answer is larger than 67108864 bytes";
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

// ---------- odd but usable envelopes: normalized ----------

/// The org's own events, served once in an odd but usable envelope that ends the stream
/// (`meta.next` null or absent): written once; the next run reads on by time and writes
/// nothing twice.
async fn accepted_envelope(make: impl Fn(&[Value]) -> String) {
    let env = Local::new().await;
    fill_backlog(&env.org, 95, 12, 1, 1);
    let body = make(&env.org.events());
    env.org
        .push_faults([Fault::Respond(CannedResponse::json(body))]);
    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        (r.summary.events_processed, r.summary.quarantined_events),
        (12, 1)
    );
    assert_eq!(r.summary.stop_reason, StopReason::CaughtUp);
    assert_eq!(env.org.requests().len(), 1, "the page ended the stream");
    let r = env.run(BUDGET).await;
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

// ---------- hostile events: normalized or quarantined, never lost ----------

/// Deep nesting inside an event and as an event: quarantined whole (as text, so the
/// quarantine line stays readable), no stack overflow, the valid events of the page written.
#[tokio::test]
async fn deeply_nested_events_are_quarantined_whole() {
    let env = Local::new().await;
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
    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        (r.summary.events_processed, r.summary.quarantined_events),
        (10, 2)
    );
    let quarantine = env.assert_logs_exactly_once();
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
    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 0);
    assert_eq!(env.assert_logs_exactly_once().len(), 2);
}

/// 5 MB in one field, wherever it is: kept whole where the event is valid, quoted briefly in
/// the reason where it is the offending field.
#[tokio::test]
async fn five_megabyte_fields_are_kept_or_quarantined() {
    let env = Local::new().await;
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

    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        (r.summary.events_processed, r.summary.quarantined_events),
        (4, 1)
    );
    env.assert_exactly_once().await;
    let (logs, quarantine) = env.written();
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
    let reason = quarantine[0]["error"].as_str().expect("a reason");
    assert!(reason.starts_with("attributes.time \"xxxx"), "{reason}");
    assert!(reason.len() < 200, "{} bytes", reason.len());
}

/// A page of 10 MB (500 events of 20 KB): read whole, written once.
#[tokio::test]
async fn a_ten_megabyte_page_is_read_whole() {
    let mut env = Local::new().await;
    env.page_limit = 500;
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
    let r = env.run(BUDGET).await;
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

/// Each field the normalizer reads, with a value of each JSON type, through a whole run.
#[tokio::test]
async fn every_field_of_every_json_type_is_kept_or_quarantined_exactly_once() {
    let env = Local::new().await;
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
    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, total - invalid);
    assert_eq!(r.summary.quarantined_events, invalid);
    env.assert_exactly_once().await;
}

/// An event processed "in year 9999" must not push the time checkpoint there: the stream
/// ends without a cursor, so the next run reads by time and must still see what comes next.
#[tokio::test]
async fn a_processed_at_in_year_9999_does_not_hide_later_events() {
    let env = Local::with(SimulatedOrgConfig {
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
    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.events_processed, 20);
    let cp = env.checkpoint().await.expect("a checkpoint");
    let newest = cp.newest_processed_at_ms.expect("a processing time");
    assert!(
        newest <= simulated_org::now_ms(),
        "the checkpoint went to {newest}"
    );

    append_live(&env.org, 99, 15);
    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(
        r.summary.events_processed, 15,
        "later events are still read"
    );
    env.assert_exactly_once().await;
}

/// Storage that refuses every write: the run dies with its batch pending.
struct RefusingSink;

#[async_trait::async_trait]
impl ObjectSink for RefusingSink {
    async fn put(&self, key: &str, _object: &EncodedObject) -> Result<(), SinkError> {
        Err(SinkError {
            sink: self.describe(),
            action: "write",
            key: key.to_owned(),
            reason: "refused by the test".to_owned(),
        })
    }
    async fn delete(&self, _key: &str) -> Result<(), SinkError> {
        Ok(())
    }
    async fn probe(&self) -> Result<(), SinkError> {
        Ok(())
    }
    fn describe(&self) -> String {
        "a refusing sink".to_owned()
    }
}

/// The API answers more events than the 500 asked for, and the run dies before that batch is
/// committed. The redo must still ask for no more than the API accepts (500): asking for the
/// 501 events the batch was cut at would be refused (400) on every later run, for ever.
#[tokio::test]
async fn a_page_larger_than_asked_for_is_redone_within_the_api_limit() {
    let mut env = Local::new().await;
    env.page_limit = 500;
    fill_backlog(&env.org, 89, 501, 0, 2);
    let served = env.org.events();
    assert_eq!(served.len(), 501);
    env.org.push_faults([Fault::Respond(CannedResponse::json(
        json!({"data": served, "meta": {"next": null}}).to_string(),
    ))]);
    let r = env
        .collector_with_sink(Arc::new(RefusingSink))
        .await
        .run(BUDGET)
        .await;
    assert!(matches!(r.error, Some(RunError::Sink(_))), "{:?}", r.error);
    let pending = env.checkpoint().await.and_then(|c| c.pending);
    assert_eq!(pending.map(|p| p.event_count), Some(501));

    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    let requests = env.org.requests();
    let limits: Vec<Option<&str>> = requests[1..]
        .iter()
        .map(|q| q.query_value("limit"))
        .collect();
    assert!(
        limits.iter().all(|l| *l == Some("500")),
        "asked within the API's limit: {limits:?}"
    );
    env.assert_exactly_once().await;
}

// ---------- throttling with garbage headers: back off, do not trust them ----------

/// One 429 with these headers, then the API: the collector backs off briefly (it neither
/// waits what a nonsensical header asks nor hammers), then collects everything once.
async fn throttled_once_with(headers: &[(&str, String)]) {
    let env = Local::new().await;
    fill_backlog(&env.org, 91, 30, 0, 2);
    let mut answer = CannedResponse::new(
        429,
        r#"{"errors":[{"id":"x","status":"429","code":"ADMIN-429-1","title":"Too Many Requests","detail":"Rate limit exceeded"}]}"#,
    )
    .header("content-type", "application/json");
    for (name, value) in headers {
        answer = answer.header(*name, value.clone());
    }
    env.org.push_faults([Fault::Respond(answer)]);
    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.api_throttled, 1);
    assert_eq!(r.summary.events_processed, 30);
    let requests = env.org.requests();
    assert_eq!(requests[0].status, 429);
    let waited = requests[1].received_at_ms - requests[0].received_at_ms;
    assert!(
        (100..5_000).contains(&waited),
        "backed off briefly: {waited} ms"
    );
    env.assert_exactly_once().await;
}

fn iso_minute_in(secs: i64) -> String {
    simulated_org::format_processed_at(simulated_org::now_ms() + secs * 1000)[..16].to_owned() + "Z"
}

#[tokio::test]
async fn a_rate_limit_reset_that_is_garbage() {
    throttled_once_with(&[("x-ratelimit-reset", "soon".into())]).await;
}

#[tokio::test]
async fn a_rate_limit_reset_a_year_away() {
    let reset = iso_minute_in(365 * 86_400);
    assert!(reset.ends_with('Z') && reset.len() == 17, "{reset}");
    throttled_once_with(&[("x-ratelimit-reset", reset)]).await;
}

#[tokio::test]
async fn a_rate_limit_reset_that_is_not_ascii() {
    throttled_once_with(&[("x-ratelimit-reset", format!("{}é", iso_minute_in(30)))]).await;
}

#[tokio::test]
async fn a_negative_retry_after() {
    throttled_once_with(&[("retry-after", "-5".into())]).await;
}

#[tokio::test]
async fn a_retry_after_beyond_u64() {
    throttled_once_with(&[("retry-after", "99999999999999999999999".into())]).await;
}

#[tokio::test]
async fn a_retry_after_of_a_year() {
    throttled_once_with(&[("retry-after", "31536000".into())]).await;
}

#[tokio::test]
async fn a_fractional_retry_after_and_an_epoch_reset() {
    throttled_once_with(&[
        ("retry-after", "1.5".into()),
        ("x-ratelimit-reset", "1697048520".into()),
    ])
    .await;
}

/// Throttled on every request with headers that say nothing usable: the run backs off until
/// its budget is spent and stops softly, the checkpoint where it was.
#[tokio::test]
async fn endless_throttling_with_garbage_headers_stops_softly() {
    let env = Local::new().await;
    fill_backlog(&env.org, 92, 10, 0, 1);
    env.org.set_random_faults(
        1.0,
        92,
        vec![Fault::Respond(
            CannedResponse::new(429, "slow down")
                .header("x-ratelimit-reset", "never")
                .header("retry-after", "-1"),
        )],
    );
    let r = env.run(SHORT_BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.summary.run_succeeded);
    assert!(
        matches!(
            r.summary.stop_reason,
            StopReason::RateLimited | StopReason::Budget
        ),
        "{:?}",
        r.summary.stop_reason
    );
    assert!(r.summary.api_throttled >= 2, "backed off and retried");
    assert!(
        r.summary.api_throttled <= 12,
        "did not hammer: {}",
        r.summary.api_throttled
    );
    env.assert_untouched().await;
}

// ---------- the key goes to the configured host only ----------

/// The org's `links` point at a second listener that accepts the same key: across pages and
/// polling, that listener receives no request at all.
#[tokio::test]
async fn links_next_pointing_at_another_host_is_never_followed() {
    let key = distinctive_key();
    let elsewhere = SimulatedOrg::start(
        SimulatedOrgConfig {
            api_key: key.clone(),
            ..SimulatedOrgConfig::default()
        },
        0,
    )
    .await
    .expect("a second listener");
    let env = Local::with(SimulatedOrgConfig {
        api_key: key.clone(),
        links_base_url: Some(elsewhere.base_url()),
        ..SimulatedOrgConfig::default()
    })
    .await;
    fill_backlog(&env.org, 93, 450, 2, 3);
    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.summary.pages_fetched >= 3);
    append_live(&env.org, 94, 10);
    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.summary.resumes_with_cursor, "polled with the cursor");

    let here = env.org.requests();
    assert!(here.len() >= 4 && here.iter().all(|q| q.authorized));
    assert!(
        elsewhere.requests().is_empty(),
        "the other host was contacted: {:?}",
        elsewhere.requests()
    );
    env.assert_exactly_once().await;
}

/// A redirect to another host (which would accept the key) is not followed, not retried, and
/// the run fails naming the setting to check; the Location, which here even carries the
/// key, is quoted without it.
async fn a_redirect_is_not_followed(status: u16) {
    let key = distinctive_key();
    let elsewhere = SimulatedOrg::start(
        SimulatedOrgConfig {
            api_key: key.clone(),
            ..SimulatedOrgConfig::default()
        },
        0,
    )
    .await
    .expect("a second listener");
    let env = Local::with(SimulatedOrgConfig {
        api_key: key.clone(),
        ..SimulatedOrgConfig::default()
    })
    .await;
    fill_backlog(&env.org, 94, 20, 0, 1);
    let location = format!(
        "{}/admin/v1/orgs/{}/events-stream?token={key}",
        elsewhere.base_url(),
        env.org.org_id()
    );
    env.org.push_faults([Fault::Respond(
        CannedResponse::new(status, "").header("location", location),
    )]);
    let r = env.run(BUDGET).await;
    let err = r.error.expect("a redirect fails the run");
    assert!(
        matches!(err, RunError::Source(SourceError::Redirected { status: s, .. }) if s == status),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("redirect ({status})")) && text.contains("ATLASSIAN_API_BASE_URL"),
        "{text}"
    );
    assert!(text.contains(&elsewhere.base_url()), "says where: {text}");
    assert!(!text.contains(&key), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    assert!(
        elsewhere.requests().is_empty(),
        "the other host was contacted"
    );
    assert_eq!(env.org.requests().len(), 1, "not retried");
    env.assert_untouched().await;

    let r = env.run(BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_301_to_another_host_is_not_followed() {
    a_redirect_is_not_followed(301).await;
}

#[tokio::test]
async fn a_302_to_another_host_is_not_followed() {
    a_redirect_is_not_followed(302).await;
}

#[tokio::test]
async fn a_307_to_another_host_is_not_followed() {
    a_redirect_is_not_followed(307).await;
}

#[tokio::test]
async fn a_308_to_another_host_is_not_followed() {
    a_redirect_is_not_followed(308).await;
}

/// A key with a line break would inject a header: it is refused before anything is sent,
/// with a message saying where the key came from and never what it is.
#[tokio::test]
async fn a_key_that_cannot_be_a_header_is_never_sent() {
    let mut env = Local::new().await;
    fill_backlog(&env.org, 95, 5, 0, 1);
    env.api_key = Some("ATATT3xFfGF0-injected\r\nX-Forwarded-Host: evil.example".to_owned());
    let r = env.run(BUDGET).await;
    let err = r.error.expect("the run fails");
    assert!(
        matches!(err, RunError::Source(SourceError::KeyUnusable { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("ATLASSIAN_API_KEY")
            && text.contains("characters an HTTP header cannot carry")
            && text.contains("it was not sent"),
        "{text}"
    );
    assert!(
        !text.contains("injected") && !text.contains("evil"),
        "{text}"
    );
    assert!(env.org.requests().is_empty(), "nothing was sent");
    env.assert_untouched().await;
}

// ---------- configuration and secrets ----------

/// Plain http to a host that is not this machine is refused at start, before any request,
/// storage or checkpoint, with a message saying what to do.
#[tokio::test]
async fn plain_http_to_another_host_is_refused_at_start() {
    let key = distinctive_key();
    let dir = tempfile::tempdir().expect("a temporary directory");
    for base in [
        "http://api.atlassian.com",
        "http://10.0.0.1:8080",
        "http://[2001:db8::1]/",
        "http://127.0.0.1.example.com",
    ] {
        let out = tokio::process::Command::new(crate::harness::cli_binary())
            .args(["run", "--budget-seconds", "10"])
            .arg("--out-dir")
            .arg(dir.path().join("out"))
            .arg("--state-file")
            .arg(dir.path().join("state.json"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(env::API_BASE_URL, base)
            .env(env::ORG_ID, "org-1")
            .env(env::API_KEY, &key)
            .output()
            .await
            .expect("run the CLI");
        assert!(!out.status.success(), "{base} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("ATLASSIAN_API_BASE_URL")
                && stderr.contains("plain http is allowed only for loopback hosts")
                && stderr.contains("use https"),
            "{base}: {stderr}"
        );
        assert!(!stderr.contains(&key) && !String::from_utf8_lossy(&out.stdout).contains(&key));
        assert!(
            !dir.path().join("out").exists() && !dir.path().join("state.json").exists(),
            "nothing was set up for {base}"
        );
    }
}

/// `Debug` of everything that holds the key, as a panic or a `{:?}` in a log would print it.
#[tokio::test]
async fn debug_output_never_shows_the_key() {
    let key = distinctive_key();
    let config = Config::from_lookup(|name| match name {
        env::ORG_ID => Some("org-1".to_owned()),
        env::API_KEY => Some(key.clone()),
        _ => None,
    })
    .expect("a config");
    let credentials = parse_secret(
        "my/secret",
        &json!({"org_id": "org-1", "api_key": key}).to_string(),
    )
    .expect("a secret");
    let org = SimulatedOrg::start(
        SimulatedOrgConfig {
            api_key: key.clone(),
            ..SimulatedOrgConfig::default()
        },
        0,
    )
    .await
    .expect("an org");
    let source = config.credentials.clone().expect("credentials");
    assert!(matches!(source, CredentialSource::Static { .. }));
    let shown = [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{source:?}"),
        format!("{credentials:?}"),
        format!("{credentials:#?}"),
        format!("{:?}", ApiKey::new(key.clone())),
        format!("{}", ApiKey::new(key.clone())),
        format!("{:?}", org.config()),
        format!("{org:?}"),
        format!("{:?}", Some(Ok::<_, ()>(credentials.clone()))),
    ];
    for text in &shown {
        assert!(!text.contains(&key), "{text}");
        assert!(!text.contains(&key[..20]), "part of the key: {text}");
    }
    assert!(shown[0].contains("redacted"), "{}", shown[0]);
    assert!(
        shown[3].contains("org-1"),
        "the rest is shown: {}",
        shown[3]
    );
}

// ---------- secrets (Secrets Manager, through moto) ----------

/// The secret holds `text`: the run stops before any request with a message naming the
/// secret and `what` is wrong, never the secret's content.
async fn an_unusable_secret(text: &str, what: &str) {
    let env = crate::harness::TestEnv::new(SimulatedOrgConfig::default()).await;
    env.put_secret(text).await;
    let r = env.run().await;
    let err = r.error.expect("the run fails").to_string();
    assert!(err.contains(&env.secret_id), "names the secret: {err}");
    assert!(err.contains(what), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    assert!(env.org.requests().is_empty(), "nothing was sent");
    assert!(env
        .checkpoint()
        .await
        .is_none_or(|c| c.checkpoint.sequence == 0));
}

#[tokio::test]
async fn a_secret_without_an_api_key() {
    an_unusable_secret(
        r#"{"org_id":"sim-org-0001","apikey":"hunter2"}"#,
        "it has no \"api_key\" field",
    )
    .await;
}

#[tokio::test]
async fn a_secret_with_an_empty_org_id() {
    an_unusable_secret(
        r#"{"org_id":"  ","api_key":"hunter2"}"#,
        "its \"org_id\" field is not a non-empty string",
    )
    .await;
}

/// serde would read the array as positional fields and accept it.
#[tokio::test]
async fn a_secret_that_is_a_json_array() {
    an_unusable_secret(r#"["sim-org-0001","hunter2"]"#, "it is not a JSON object").await;
}

#[tokio::test]
async fn a_secret_whose_key_would_inject_a_header() {
    an_unusable_secret(
        r#"{"org_id":"sim-org-0001","api_key":"hunter2\r\nX-Evil: 1"}"#,
        "characters an HTTP header cannot carry",
    )
    .await;
}
