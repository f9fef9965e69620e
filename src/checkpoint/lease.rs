//! The lease on a source's checkpoint and its bounds: no run holds one longer than the
//! longest budget plus the grace a killed run's lease outlives it by.
use std::time::Duration;

/// The longest `RUN_BUDGET_SECONDS` accepted (a day).
pub const MAX_RUN_BUDGET: Duration = Duration::from_secs(86_400);

/// A killed run's lease frees itself this long after the run's budget ends.
pub const LEASE_GRACE: Duration = Duration::from_secs(30);

/// No run holds a lease longer than the longest budget plus the grace a killed run's lease
/// outlives it by. A lease expiring further ahead than this from now was forged, or written by
/// a clock gone wrong: it counts as expired, so it cannot stop collection for good.
pub const LONGEST_LEASE: Duration =
    Duration::from_secs(MAX_RUN_BUDGET.as_secs() + LEASE_GRACE.as_secs());

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until_ms: i64,
}

impl Lease {
    /// The latest expiry a lease taken at `now_ms` can honestly have.
    pub fn latest_valid_until_ms(now_ms: i64) -> i64 {
        now_ms.saturating_add(LONGEST_LEASE.as_millis() as i64)
    }

    /// Whether `owner` may take the lease at `now_ms` over `held`: none is held, it is ours,
    /// it expired, or it expires later than any run may hold one.
    pub fn may_take(held: Option<&Lease>, owner: &str, now_ms: i64) -> bool {
        match held {
            None => true,
            Some(l) => {
                l.owner == owner
                    || l.until_ms < now_ms
                    || l.until_ms > Lease::latest_valid_until_ms(now_ms)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_take_a_lease() {
        let now = 1_000_000;
        let longest = LONGEST_LEASE.as_millis() as i64;
        let held = |owner: &str, until_ms: i64| Lease {
            owner: owner.into(),
            until_ms,
        };
        let cases = [
            (None, true, "no lease"),
            (Some(held("me", now + 5_000)), true, "our own"),
            (Some(held("other", now - 1)), true, "expired"),
            (Some(held("other", now)), false, "expires this millisecond"),
            (Some(held("other", now + 5_000)), false, "held"),
            (
                Some(held("other", now + longest)),
                false,
                "the longest budget",
            ),
            (
                Some(held("other", now + longest + 1)),
                true,
                "longer than any run",
            ),
            (Some(held("other", i64::MAX)), true, "forged"),
        ];
        for (lease, free, what) in cases {
            assert_eq!(Lease::may_take(lease.as_ref(), "me", now), free, "{what}");
        }
    }
}
