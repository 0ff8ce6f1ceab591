//! The one injectable clock every service and test uses: business time
//! (expiry, cooldowns, operation dates) comes from a [`Clock`], never from
//! `Utc::now()` directly, so tests move time instead of sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// The current time, as the service sees it.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system() -> Clock {
    Arc::new(Utc::now)
}

/// A clock that stands still until moved (for tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// What the clock shows.
    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the clock forward (or back) by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// This clock as a [`Clock`] to inject.
    pub fn clock(&self) -> Clock {
        let me = self.clone();
        Arc::new(move || me.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let manual = ManualClock::new(start);
        let clock = manual.clock();
        assert_eq!(clock(), start);
        manual.advance(chrono::Duration::minutes(30));
        assert_eq!(clock(), start + chrono::Duration::minutes(30));
        manual.set(start);
        assert_eq!(clock(), start);
        assert!(system()() > start - chrono::Duration::days(36_500));
    }
}
