//! Integration tests: the whole pipeline against the simulated organization and moto's S3,
//! DynamoDB and Secrets Manager (started by `make test`).
mod aws_faults;
mod crashes;
mod harness;
mod hostile;
mod key_safety;
mod paging;
mod pipeline;
mod source_faults;
mod stack;

use simulated_org::{generate_events_for_org, generate_invalid_events_in, now_ms, SimulatedOrg};

/// Appends a backlog of `valid` realistic events (and `invalid` ones spread through it) whose
/// event times span the last `hours` hours.
pub fn fill_backlog(org: &SimulatedOrg, seed: u64, valid: usize, invalid: usize, hours: i64) {
    let now = now_ms();
    let range = (now - hours * 3_600_000, now - 60_000);
    let mut events = generate_events_for_org(org.org_id(), seed, valid, range);
    let bad = generate_invalid_events_in(seed, invalid, range);
    let step = events.len() / (bad.len() + 1);
    for (i, e) in bad.into_iter().enumerate().rev() {
        events.insert((i + 1) * step, e);
    }
    org.append_backlog(events);
}

/// New activity, as it happens: processed now, some of it late (old `time`).
pub fn append_live(org: &SimulatedOrg, seed: u64, count: usize) {
    let now = now_ms();
    org.append_events(generate_events_for_org(
        org.org_id(),
        seed,
        count,
        (now - 3_600_000, now),
    ));
}
