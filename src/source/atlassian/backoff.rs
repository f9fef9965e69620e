use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::time::Duration;

/// Capped exponential backoff with jitter for transient failures (5xx, timeouts, bad bodies).
pub struct RetryDelays(ExponentialBackoff);

impl RetryDelays {
    pub const MIN: Duration = Duration::from_millis(250);
    pub const MAX: Duration = Duration::from_secs(20);

    pub fn new() -> Self {
        RetryDelays(
            ExponentialBuilder::default()
                .with_min_delay(Self::MIN)
                .with_max_delay(Self::MAX)
                .with_factor(2.0)
                .with_jitter()
                .without_max_times()
                .build(),
        )
    }

    pub fn next_delay(&mut self) -> Duration {
        self.0.next().unwrap_or(Self::MAX)
    }
}

impl Default for RetryDelays {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let mut d = RetryDelays::new();
        let delays: Vec<Duration> = (0..20).map(|_| d.next_delay()).collect();
        assert!(
            delays[0] >= RetryDelays::MIN && delays[0] < RetryDelays::MIN * 3,
            "{delays:?}"
        );
        // Jitter adds at most one more delay's worth on top of the cap.
        assert!(
            delays.iter().all(|x| *x <= RetryDelays::MAX * 2),
            "{delays:?}"
        );
        assert!(delays[19] >= RetryDelays::MAX, "{delays:?}");
    }
}
