//! Hostile input, case by case: what a broken proxy, a buggy or malicious API or a careless
//! operator can hand the collector. Each case asserts its outcome — normalized, quarantined
//! with a reason, or refused as a bad page that is retried (the run then fails or stops softly
//! without moving the checkpoint) — and, where a run is involved, that nothing is lost or
//! written twice. These need no AWS: the collector runs in-process with local storage. (A
//! hostile secret in Secrets Manager: the `aws` target.)
//!
//! By what is attacked: the page ([`pages`]: refused and retried, or an odd envelope that is
//! fine), the events in it ([`events`]), the rate-limit headers ([`throttling`]), where the
//! key is sent ([`hosts`]), and the configuration ([`config`]).
mod config;
mod detect;
mod echoed_key;
mod events;
mod hosts;
mod pages;
mod throttling;

use std::time::Duration;

/// Short: for runs meant to run out of time while retrying.
const SHORT_BUDGET: Duration = Duration::from_secs(3);

fn nested_arrays(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}
