//! CPU of the detect stage per event, as the collector runs it (`src/collector/detection.rs`):
//! each normalized line through the action prefilter, the projection of the lines it lets
//! through, the rules over each, one `finish` per batch of 5,000. Two sets of 50,000 events over
//! a week, normalized as the collector writes them: the simulated organization's whole traffic
//! (its alert-worthy actions included: a quarter to a third of the events are ones a rule
//! reads), and its routine traffic only. Uses only the detect API that issue 14's engine had
//! too, so the same file measures both engines: `cargo bench --bench detect` (BENCHMARKS.md,
//! "The detect stage").

use std::sync::Arc;
use std::time::Duration;

use atlassian_audit::detect::{ActionFilter, DetectRun, DetectState, RulePack};
use atlassian_audit::normalize::{Normalizer, Outcome, SourceInfo};
use chrono::{DateTime, Utc};

const EVENTS: usize = 50_000;
const BATCH: usize = 5_000;
const ROUNDS: usize = 7;
const WEEK: (i64, i64) = (1_764_000_000_000, 1_764_604_800_000);

fn lines(events: Vec<serde_json::Value>) -> Vec<String> {
    let normalizer = Normalizer::new(SourceInfo {
        source_id: "bench".into(),
        source_label: "bench".into(),
    });
    let parse_time = DateTime::<Utc>::from_timestamp(1_764_604_800, 0).expect("a time");
    events
        .iter()
        .filter_map(|e| {
            let raw = serde_json::value::to_raw_value(e).expect("JSON");
            match normalizer.normalize(&raw, parse_time) {
                Outcome::Valid(v) => Some(v.line),
                Outcome::Quarantined(_) => None,
            }
        })
        .collect()
}

/// This process's CPU time (user and system).
#[allow(unsafe_code)] // the one call into libc: clock_gettime
fn cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// One pass over the lines; the number of alerts (so the work is not optimized away).
fn pass(pack: &Arc<RulePack>, filter: &ActionFilter, lines: &[String]) -> usize {
    let mut state = DetectState::default();
    let mut alerts = 0;
    for batch in lines.chunks(BATCH) {
        let mut run = DetectRun::new(pack.clone(), state);
        for line in batch {
            if filter.is_empty() || !filter.may_match(line) {
                continue;
            }
            match pack.projection().project(line) {
                Some(event) => run.observe(&event),
                None => run.skip(1),
            }
        }
        let d = run.finish();
        alerts += d.alerts.len();
        state = d.state;
    }
    alerts
}

fn main() {
    // `cargo test --benches` runs this too: once, quickly.
    let smoke = std::env::args().all(|a| a != "--bench");
    let pack = Arc::new(RulePack::builtin().expect("the built-in pack"));
    let filter = ActionFilter::of(&pack);
    let sets = [
        (
            "whole traffic",
            simulated_org::generate_events(2026, EVENTS, WEEK),
        ),
        (
            "routine traffic",
            simulated_org::generate_benign_events(2026, EVENTS, WEEK),
        ),
    ];
    for (name, events) in sets {
        let lines = lines(events);
        let named = lines.iter().filter(|l| filter.may_match(l)).count();
        let mut per_event: Vec<f64> = Vec::new();
        let mut alerts = 0;
        for _ in 0..if smoke { 1 } else { ROUNDS } {
            let start = cpu();
            alerts = pass(&pack, &filter, &lines);
            per_event.push((cpu() - start).as_secs_f64() * 1e6 / lines.len() as f64);
        }
        per_event.sort_by(f64::total_cmp);
        println!(
            "detect, {name}: {} events ({named} let through by the prefilter), {} rules, {alerts} alerts; CPU µs/event: median {:.3}, min {:.3}, max {:.3} ({} rounds)",
            lines.len(),
            pack.rules().len(),
            per_event[per_event.len() / 2],
            per_event[0],
            per_event[per_event.len() - 1],
            per_event.len()
        );
    }
}
