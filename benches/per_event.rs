//! Per-event CPU of the collector's page path (issue 4, benchmark item 1).
//!
//! One page of 500 events shaped like the real ones (the captured 2021 page's events, re-keyed
//! and re-timed, mixed with the simulated org's generator and 1% events that are quarantined),
//! serialized compactly as the API serves it. Measured:
//!
//! - `per_page/whole`: what the collector does with a page's bytes: `parse_page` then a
//!   `BatchBuilder` (normalize, dedupe, NDJSON, gzip per event-time hour, late events into their
//!   hours as the run's last batch puts them), as the collector calls them;
//! - `per_page/parse_normalize`: part of the above, for the breakdown: `parse_page` and every
//!   event normalized, nothing batched or compressed;
//! - `per_page/parse_floor`: serde_json alone reading the same bytes into the same shape
//!   (`data` as `Vec<Box<RawValue>>`), and `parse_value` (a full `serde_json::Value`) for scale;
//! - `per_page/compress_floor`: flate2 alone compressing the batch's own NDJSON (one gzip
//!   stream per object, as the batch has them) at the collector's level;
//! - `compress_level/N`: the same at levels 1, 3, 4, 5, 6 and 9 (sizes are printed up front).
//!   Build with `--features flate2/zlib` or `flate2/zlib-ng` (C backends take precedence over
//!   zlib-rs) to measure another backend.
//!
//! Throughput is in page (input) bytes. After criterion, an interleaved run prints the ratio
//! whole / (parse floor + compress floor) measured in that one run. `-- --test` runs every
//! benchmark once and checks the batch (the smoke form). See benches/PER_EVENT.md.

use atlassian_audit::checkpoint::RecentEvents;
use atlassian_audit::collector::{Batch, BatchBuilder};
use atlassian_audit::normalize::{parse_timestamp, Normalizer, Outcome, ParseTime, SourceInfo};
use atlassian_audit::source::atlassian::parse_page;
use chrono::{DateTime, Datelike, Timelike, Utc};
use criterion::{BenchmarkId, Criterion, Throughput};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use simulated_org::{format_processed_at, generate_events_for_org, generate_invalid_events_in};
use std::hint::black_box;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const EVENTS_PER_PAGE: usize = 500;
const FROM_REAL_PAGE: usize = 100;
const QUARANTINED: usize = 5;
const GENERATED: usize = EVENTS_PER_PAGE - FROM_REAL_PAGE - QUARANTINED;
/// The collector's level (`GZIP_LEVEL` in `src/collector/batch.rs`); the floor must use the same.
const COLLECTOR_LEVEL: u32 = 6;
const LEVELS: [u32; 6] = [1, 3, 4, 5, 6, 9];
/// The captured page's (obfuscated) org id, used for the generated events too.
const ORG_ID: &str = "9a1jj823-jac8-123d-jj01-63315k059cb2";
/// 2025-03-10T09:40:00Z: the page's 45 minutes cross an hour boundary, as most pages would.
const WINDOW_START_MS: i64 = 1_741_599_600_000;
const WINDOW_MS: i64 = 45 * 60 * 1000;

const REAL_PAGE: &str = include_str!("../tests/fixtures/atlassian/events_page_real_2021.json");
const PANTHER_EVENT: &str =
    include_str!("../tests/fixtures/atlassian/panther_user_logged_in_as_user.json");

struct Fixture {
    page: Vec<u8>,
    normalizer: Normalizer,
    recent: RecentEvents,
    parse_time: DateTime<Utc>,
    /// The batch's objects decompressed: the exact bytes the collector compressed.
    plain_objects: Vec<Vec<u8>>,
}

fn rfc3339(ms: i64, micros: u32, fraction_digits: usize) -> String {
    let t = DateTime::from_timestamp_millis(ms).expect("in range");
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    match fraction_digits {
        0 => format!("{base}Z"),
        6 => format!(
            "{base}.{:03}{:03}Z",
            t.timestamp_subsec_millis(),
            micros % 1000
        ),
        _ => format!("{base}.{:03}Z", t.timestamp_subsec_millis()),
    }
}

fn fraction_digits(ts: &str) -> usize {
    match ts.find('.') {
        Some(dot) => ts[dot + 1..].bytes().take_while(u8::is_ascii_digit).count(),
        None => 0,
    }
}

/// The captured events, cycled to `count`: each copy gets its own id (same shape) and a time in
/// the window written with the original's precision.
fn from_real_page(rng: &mut fastrand::Rng, count: usize) -> Vec<Value> {
    let page: Value = serde_json::from_str(REAL_PAGE).expect("fixture parses");
    let real = page["data"].as_array().expect("fixture has data").clone();
    (0..count)
        .map(|i| {
            let mut e = real[i % real.len()].clone();
            let id = e["id"].as_str().expect("real ids are strings").to_owned();
            e["id"] = Value::String(format!("{}{:012x}", &id[..24], rng.u64(..1 << 48)));
            let digits = fraction_digits(e["attributes"]["time"].as_str().unwrap_or(""));
            let ms = WINDOW_START_MS + rng.i64(0..WINDOW_MS);
            e["attributes"]["time"] = Value::String(rfc3339(ms, rng.u32(..1000), digits));
            e
        })
        .collect()
}

/// Events that are quarantined: the Panther fixture (no `type`, no `links`) and the generator's.
fn invalid(rng: &mut fastrand::Rng, count: usize) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(count);
    let mut panther: Value = serde_json::from_str(PANTHER_EVENT).expect("fixture parses");
    panther["id"] = Value::String(format!(
        "2508d209-3336-4763-89a0-{:012x}",
        rng.u64(..1 << 48)
    ));
    panther["attributes"]["time"] =
        Value::String(rfc3339(WINDOW_START_MS + rng.i64(0..WINDOW_MS), 0, 3));
    out.push(panther);
    out.extend(generate_invalid_events_in(
        7,
        count - 1,
        (WINDOW_START_MS, WINDOW_START_MS + WINDOW_MS),
    ));
    out
}

/// The page as the API serves it: in processing order, each event with its `processedAt`,
/// compact JSON, a cursor in `meta` and `links`.
fn build_page() -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(4);
    let window = (WINDOW_START_MS, WINDOW_START_MS + WINDOW_MS);
    let mut events = generate_events_for_org(ORG_ID, 1, GENERATED, window);
    events.extend(from_real_page(&mut rng, FROM_REAL_PAGE));
    events.extend(invalid(&mut rng, QUARANTINED));
    // Processing order: by event time, except that late events (time before the window, as the
    // generator makes about 1 in 20) were processed somewhere inside it.
    let mut keyed: Vec<(i64, Value)> = events
        .into_iter()
        .map(|e| {
            let t = e["attributes"]["time"]
                .as_str()
                .and_then(|s| parse_timestamp(s).ok())
                .map(|t| t.timestamp_millis());
            let key = match t {
                Some(ms) if ms >= window.0 => ms,
                _ => window.0 + rng.i64(0..WINDOW_MS),
            };
            (key, e)
        })
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    let mut last = 0i64;
    let data: Vec<Value> = keyed
        .into_iter()
        .map(|(k, mut e)| {
            last = last.max(k + rng.i64(500..5_000));
            if let Some(attrs) = e["attributes"].as_object_mut() {
                attrs.insert(
                    "processedAt".to_owned(),
                    Value::String(format_processed_at(last)),
                );
            }
            e
        })
        .collect();
    let cursor: String = (0..240)
        .map(|_| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[rng.usize(..62)],
            )
        })
        .collect();
    let base = format!("https://api.atlassian.com/admin/v1/orgs/{ORG_ID}/events-stream");
    json!({
        "data": data,
        "meta": {"next": cursor, "page_size": EVENTS_PER_PAGE},
        "links": {"self": format!("{base}?limit=500"), "next": format!("{base}?limit=500&cursor={cursor}")},
    })
    .to_string()
    .into_bytes()
}

/// Ids written by earlier pages: the checkpoint carries up to 4000 of them.
fn recent_from_earlier_pages() -> RecentEvents {
    let mut recent = RecentEvents::default();
    let mut rng = fastrand::Rng::with_seed(9);
    for i in 0..4000i64 {
        let id = format!("{:08x}-0000-4000-8000-{:012x}", i, rng.u64(..1 << 48));
        recent.insert(&id, WINDOW_START_MS - 60_000 + i);
    }
    recent
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("objects are valid gzip");
    out
}

impl Fixture {
    fn new() -> Self {
        let page = build_page();
        let normalizer = Normalizer::new(SourceInfo {
            source_id: "atlassian-org-1".into(),
            source_label: "Atlassian audit (prod)".into(),
        });
        let recent = recent_from_earlier_pages();
        let parse_time =
            DateTime::from_timestamp(WINDOW_START_MS / 1000 + 3600, 123_456_789).expect("in range");
        let batch = whole(&page, &normalizer, &recent, parse_time);
        let plain_objects = objects(&batch).map(gunzip).collect();
        Fixture {
            page,
            normalizer,
            recent,
            parse_time,
            plain_objects,
        }
    }

    fn plain_bytes(&self) -> usize {
        self.plain_objects.iter().map(Vec::len).sum()
    }

    /// The batch is what the collector would write: every event once, the invalid ones
    /// quarantined, every object valid gzip of NDJSON.
    fn check(&self) {
        let batch = whole(&self.page, &self.normalizer, &self.recent, self.parse_time);
        assert_eq!(batch.valid as usize, EVENTS_PER_PAGE - QUARANTINED);
        assert_eq!(batch.quarantined as usize, QUARANTINED);
        assert_eq!(batch.duplicates, 0);
        let mut lines = 0;
        for plain in &self.plain_objects {
            for line in plain.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                serde_json::from_slice::<Value>(line).expect("each line is JSON");
                lines += 1;
            }
        }
        assert_eq!(lines, EVENTS_PER_PAGE);
        for level in LEVELS {
            for (gz, plain) in compress_objects(&self.plain_objects, level)
                .iter()
                .zip(&self.plain_objects)
            {
                assert_eq!(&gunzip(gz), plain, "level {level} round-trips");
            }
        }
    }

    fn print_summary(&self) {
        let batch = whole(&self.page, &self.normalizer, &self.recent, self.parse_time);
        let plain = self.plain_bytes();
        eprintln!(
            "page: {} events, {} bytes ({} B/event); batch: {} hour objects + {} quarantine, {} NDJSON bytes",
            EVENTS_PER_PAGE,
            self.page.len(),
            self.page.len() / EVENTS_PER_PAGE,
            batch.hours.len(),
            usize::from(batch.quarantine.is_some()),
            plain,
        );
        for level in LEVELS {
            let gz: usize = compress_objects(&self.plain_objects, level)
                .iter()
                .map(Vec::len)
                .sum();
            eprintln!(
                "level {level}: {gz} gzip bytes, {:.2}% of the NDJSON ({:.1}x){}",
                100.0 * gz as f64 / plain as f64,
                plain as f64 / gz as f64,
                if level == COLLECTOR_LEVEL {
                    "  <- collector"
                } else {
                    ""
                }
            );
        }
    }
}

fn objects(batch: &Batch) -> impl Iterator<Item = &[u8]> {
    batch
        .hours
        .values()
        .chain(batch.quarantine.as_ref())
        .map(|o| &o.body[..])
}

/// The checkpoint's window start: the page's events were processed after it.
const WRITTEN_BEFORE_MS: i64 = WINDOW_START_MS - 5 * 60 * 1000;

/// (a) The collector's path for one page's bytes.
fn whole(
    page: &[u8],
    normalizer: &Normalizer,
    recent: &RecentEvents,
    parse_time: DateTime<Utc>,
) -> Batch {
    let page = parse_page(page).expect("the page parses");
    let mut builder = BatchBuilder::new(Some(WRITTEN_BEFORE_MS));
    builder
        .add_page(normalizer, &page.events, recent, parse_time)
        .expect("the page adds");
    // The page is its run's last batch (a scheduled run often reads one): its late events go
    // into their hour objects, not a staging object.
    builder.carry_own_late().expect("the late events carry");
    builder.finish().expect("the batch builds")
}

/// Part of (a), for the breakdown: the page parsed and every event normalized, nothing written.
fn parse_and_normalize(page: &[u8], normalizer: &Normalizer, parse_time: DateTime<Utc>) -> usize {
    let page = parse_page(page).expect("the page parses");
    let parse_time = ParseTime::new(parse_time);
    page.events
        .iter()
        .map(|raw| match normalizer.normalize_at(raw, &parse_time) {
            Outcome::Valid(e) => e.line.len(),
            Outcome::Quarantined(q) => q.line.len(),
        })
        .sum()
}

/// (b) serde_json alone, into the shape `parse_page` reads.
fn parse_floor(page: &[u8]) -> Vec<Box<RawValue>> {
    #[derive(Deserialize)]
    struct Body {
        data: Vec<Box<RawValue>>,
        #[allow(dead_code)]
        meta: Option<Box<RawValue>>,
    }
    serde_json::from_slice::<Body>(page)
        .expect("the page parses")
        .data
}

/// (c) flate2 alone: one gzip stream per object, as the batch has them.
fn compress_objects(plain_objects: &[Vec<u8>], level: u32) -> Vec<Vec<u8>> {
    plain_objects
        .iter()
        .map(|plain| {
            let mut gz = GzEncoder::new(Vec::new(), Compression::new(level));
            gz.write_all(plain).expect("writes to a Vec");
            gz.finish().expect("writes to a Vec")
        })
        .collect()
}

fn bench_per_page(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("per_page");
    group.throughput(Throughput::Bytes(f.page.len() as u64));
    group.bench_function("whole", |b| {
        b.iter(|| whole(black_box(&f.page), &f.normalizer, &f.recent, f.parse_time))
    });
    group.bench_function("parse_normalize", |b| {
        b.iter(|| parse_and_normalize(black_box(&f.page), &f.normalizer, f.parse_time))
    });
    group.bench_function("parse_floor", |b| {
        b.iter(|| parse_floor(black_box(&f.page)))
    });
    group.bench_function("parse_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&f.page)).expect("parses"))
    });
    group.bench_function("compress_floor", |b| {
        b.iter(|| compress_objects(black_box(&f.plain_objects), COLLECTOR_LEVEL))
    });
    group.finish();
}

fn bench_levels(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("compress_level");
    group.throughput(Throughput::Bytes(f.page.len() as u64));
    for level in LEVELS {
        group.bench_with_input(BenchmarkId::from_parameter(level), &level, |b, &level| {
            b.iter(|| compress_objects(black_box(&f.plain_objects), level))
        });
    }
    group.finish();
}

/// Median time of one call, over `reps` calls.
fn time_one(reps: u32, mut run: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..reps {
        run();
    }
    started.elapsed() / reps
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// The floors, the whole path and its parse + normalize part measured alternately, round by
/// round, so that the machine's noise hits them alike; medians of the rounds.
fn interleaved_ratio(f: &Fixture, rounds: usize, reps: u32) {
    let (mut w, mut n, mut p, mut z) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        w.push(time_one(reps, || {
            black_box(whole(
                black_box(&f.page),
                &f.normalizer,
                &f.recent,
                f.parse_time,
            ));
        }));
        n.push(time_one(reps, || {
            black_box(parse_and_normalize(
                black_box(&f.page),
                &f.normalizer,
                f.parse_time,
            ));
        }));
        p.push(time_one(reps, || {
            black_box(parse_floor(black_box(&f.page)));
        }));
        z.push(time_one(reps, || {
            black_box(compress_objects(
                black_box(&f.plain_objects),
                COLLECTOR_LEVEL,
            ));
        }));
    }
    let (w, n, p, z) = (
        median(&mut w),
        median(&mut n),
        median(&mut p),
        median(&mut z),
    );
    let per_event = |d: Duration| d.as_nanos() as f64 / EVENTS_PER_PAGE as f64 / 1000.0;
    let mb_s = |d: Duration| f.page.len() as f64 / d.as_secs_f64() / 1e6;
    eprintln!("interleaved, {rounds} rounds of {reps} pages, medians:");
    for (name, d) in [
        ("whole", w),
        ("parse+normalize", n),
        ("parse floor", p),
        ("compress floor", z),
        ("floors", p + z),
    ] {
        eprintln!(
            "  {name:<15} {:>9.1} µs/page {:>7.2} µs/event {:>7.1} MB/s",
            d.as_nanos() as f64 / 1000.0,
            per_event(d),
            mb_s(d)
        );
    }
    eprintln!(
        "  ratio whole / (parse floor + compress floor) = {:.2}",
        w.as_secs_f64() / (p + z).as_secs_f64()
    );
}

fn main() {
    // As criterion decides: without `--bench` (`cargo test --benches`) or with `--test`, each
    // benchmark runs once.
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let listing = has("--list");
    let smoke = has("--test") || !has("--bench");
    let profiling = args.iter().any(|a| a.starts_with("--profile-time"));
    let fixture = Fixture::new();
    if !listing {
        fixture.check();
        fixture.print_summary();
    }
    let mut c = Criterion::default().configure_from_args();
    bench_per_page(&mut c, &fixture);
    bench_levels(&mut c, &fixture);
    c.final_summary();
    if !listing && !profiling {
        if smoke {
            interleaved_ratio(&fixture, 1, 1);
        } else {
            interleaved_ratio(&fixture, 41, 20);
        }
    }
}
