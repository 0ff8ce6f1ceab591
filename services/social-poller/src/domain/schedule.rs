//! When a group is polled next: its interval with jitter after a poll,
//! an exponential back-off after a rate limit or a failure.

use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// The random draw of a jitter is in `[-JITTER_DRAW, JITTER_DRAW]`
/// (thousandths: -1 to 1).
pub const JITTER_DRAW: i32 = 1000;

/// Most of an interval the jitter may spread a poll by.
pub const MAX_JITTER: Decimal = Decimal::from_parts(5, 0, 0, false, 1);

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

/// The pause before the next poll. `draw` (random, in thousandths from
/// `-JITTER_DRAW` to `JITTER_DRAW`) spreads polls by up to `jitter_fraction`
/// of the interval, to the millisecond; a retry waits [`BACKOFF_BASE`]
/// doubled per failure in a row, never longer than the interval.
pub fn next_pause(
    interval: Duration,
    jitter_fraction: Decimal,
    draw: i32,
    ended: Ended,
) -> Duration {
    match ended {
        Ended::Polled => {
            let millis = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
            let spread = Decimal::from(millis)
                .checked_mul(jitter_fraction.clamp(Decimal::ZERO, MAX_JITTER))
                .and_then(|s| s.checked_mul(Decimal::from(draw.clamp(-JITTER_DRAW, JITTER_DRAW))))
                .and_then(|s| s.checked_div(Decimal::from(JITTER_DRAW)))
                .and_then(|s| s.round().to_i64())
                .unwrap_or(0);
            let total = millis.saturating_add(spread).max(1000);
            Duration::from_millis(u64::try_from(total).unwrap_or(1000))
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
        let tenth = Decimal::new(1, 1);
        assert_eq!(next_pause(hour, tenth, 0, Ended::Polled), hour);
        assert_eq!(
            next_pause(hour, tenth, JITTER_DRAW, Ended::Polled),
            Duration::from_secs(3960)
        );
        assert_eq!(
            next_pause(hour, tenth, -JITTER_DRAW, Ended::Polled),
            Duration::from_secs(3240)
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_interval() {
        let hour = Duration::from_secs(3600);
        let pauses: Vec<u64> = (1..=12)
            .map(|n| next_pause(hour, Decimal::new(1, 1), 0, Ended::Retry(n)).as_secs())
            .collect();
        assert_eq!(
            pauses,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
    }
}
