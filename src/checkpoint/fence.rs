//! Fenced writes: a run writes nothing once its lease may have ended.
//!
//! The lease in the checkpoint ends at a wall-clock time; another run takes the source over
//! once its own clock passes it. A run held up inside an S3 or DynamoDB call (retries, a stalled
//! connection, a paused process) must not let that call land after the takeover, or it could
//! overwrite keys the next run has just written again. So every side effect of a run is judged
//! on the monotonic clock (a wall clock can be stepped) against the lease's end less a margin
//! (clock skew between hosts, a request already on the wire), and cut off there: an effect not
//! started by then is refused, one still in flight is dropped (its connection closed, the
//! request abandoned).
//!
//! It lives beside the lease it guards: the collector fences the archive's writes and the
//! checkpoint's saves with it, and [`super::MonotonicCheckpoints`] the high-water mark's.
use std::future::Future;
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;

/// The smallest and largest margin kept before the lease ends.
const MIN_MARGIN: Duration = Duration::from_millis(250);
const MAX_MARGIN: Duration = Duration::from_secs(10);

/// A run's side effects stopped because its lease may have ended.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "stopped before {what}: this run's lease ends in less than {margin_ms} ms, and another run may \
     take the source over, so this run writes nothing more (the batch stays pending and the next \
     run redoes it). If it repeats, S3 or DynamoDB calls are taking longer than the run's budget \
     allows: look at their latency, or give the run more time"
)]
pub struct LeaseEnding {
    pub what: &'static str,
    pub margin_ms: u64,
}

/// The instant after which a run makes no more side effects.
#[derive(Debug, Clone, Copy)]
pub struct Fence {
    until: Instant,
    margin: Duration,
}

/// What is kept back before a lease of `lease` ends: a tenth of it, within bounds.
fn margin(lease: Duration) -> Duration {
    (lease / 10).clamp(MIN_MARGIN, MAX_MARGIN)
}

impl Fence {
    /// For a lease of `lease` whose end was computed from the wall clock at `leased_at` (taken
    /// just before, so the fence is never later than the lease's true end).
    pub fn new(leased_at: Instant, lease: Duration) -> Self {
        let margin = margin(lease);
        Fence {
            until: leased_at + lease.saturating_sub(margin),
            margin,
        }
    }

    /// For a lease taken now for as long as any run may hold one ([`super::LONGEST_LEASE`]):
    /// for what takes a lease outside a run's budget (tests, tools).
    pub fn longest() -> Self {
        Fence::new(Instant::now(), super::LONGEST_LEASE)
    }

    /// Runs `effect` if the fence has not passed, and gives it until the fence to finish: a
    /// future still pending then is dropped.
    pub async fn within<T>(
        &self,
        what: &'static str,
        effect: impl Future<Output = T>,
    ) -> Result<T, LeaseEnding> {
        self.check(what)?;
        tokio::time::timeout_at(self.until, effect)
            .await
            .map_err(|_| self.ending(what))
    }

    /// An error if the fence has passed.
    fn check(&self, what: &'static str) -> Result<(), LeaseEnding> {
        if Instant::now() >= self.until {
            Err(self.ending(what))
        } else {
            Ok(())
        }
    }

    fn ending(&self, what: &'static str) -> LeaseEnding {
        LeaseEnding {
            what,
            margin_ms: self.margin.as_millis() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_a_tenth_of_the_lease_within_bounds() {
        let cases = [
            (Duration::from_secs(1), MIN_MARGIN),
            (Duration::from_secs(6), Duration::from_millis(600)),
            (Duration::from_secs(60), Duration::from_secs(6)),
            (Duration::from_secs(900 + 30), MAX_MARGIN),
            (Duration::ZERO, MIN_MARGIN),
        ];
        for (lease, want) in cases {
            assert_eq!(margin(lease), want, "lease {lease:?}");
        }
    }

    /// A fence that falls `left` from now (for a 10 s lease, margin 1 s).
    fn falling_in(left: Duration) -> Fence {
        let lease = Duration::from_secs(10);
        Fence::new(Instant::now() + left + margin(lease) - lease, lease)
    }

    #[tokio::test]
    async fn an_effect_runs_before_the_fence_and_is_cut_off_at_it() {
        let fence = falling_in(Duration::from_millis(200));
        let quick = fence.within("a write", async { Ok::<_, ()>(7) }).await;
        assert_eq!(quick, Ok(Ok(7)));
        // Still in flight when the fence falls: dropped there, not waited for.
        let slow = fence
            .within("a write", async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, ()>(())
            })
            .await;
        assert!(slow.is_err());
        // Past the fence, nothing starts.
        let ran = std::sync::atomic::AtomicBool::new(false);
        let late = fence
            .within("a write", async {
                ran.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, ()>(())
            })
            .await;
        assert!(matches!(late, Err(e) if e.what == "a write"));
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn an_effect_that_fails_keeps_its_own_error() {
        let fence = falling_in(Duration::from_secs(60));
        let failed = fence
            .within("a write", async { Err::<(), _>("denied") })
            .await;
        assert_eq!(failed, Ok(Err("denied")));
    }
}
