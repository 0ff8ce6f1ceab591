//! When a group is polled next: its interval with jitter after a poll,
//! an exponential back-off after a rate limit or a failure.

use std::time::Duration;

/// First pause after a rate limit or failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);

/// How the last poll ended, for the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Polled.
    Polled,
    /// Rate-limited or failed: the `n`-th time in a row (from 1).
    Retry(u32),
}

/// The pause before the next poll. `jitter` in `[-1, 1]` (random) spreads
/// polls by up to `jitter_fraction` of the interval; a retry waits
/// [`BACKOFF_BASE`] doubled per failure in a row, never longer than the
/// interval.
pub fn next_pause(interval: Duration, jitter_fraction: f64, jitter: f64, ended: Ended) -> Duration {
    match ended {
        Ended::Polled => {
            let spread =
                interval.as_secs_f64() * jitter_fraction.clamp(0.0, 0.5) * jitter.clamp(-1.0, 1.0);
            Duration::from_secs_f64((interval.as_secs_f64() + spread).max(1.0))
        }
        Ended::Retry(n) => {
            let factor = 2u32.saturating_pow(n.saturating_sub(1).min(16));
            BACKOFF_BASE
                .saturating_mul(factor)
                .min(interval.max(BACKOFF_BASE))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_keep_their_interval_within_the_jitter() {
        let hour = Duration::from_secs(3600);
        assert_eq!(next_pause(hour, 0.1, 0.0, Ended::Polled), hour);
        assert_eq!(
            next_pause(hour, 0.1, 1.0, Ended::Polled),
            Duration::from_secs(3960)
        );
        assert_eq!(
            next_pause(hour, 0.1, -1.0, Ended::Polled),
            Duration::from_secs(3240)
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_interval() {
        let hour = Duration::from_secs(3600);
        let pauses: Vec<u64> = (1..=12)
            .map(|n| next_pause(hour, 0.1, 0.0, Ended::Retry(n)).as_secs())
            .collect();
        assert_eq!(
            pauses,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
    }
}
