//! Pacing of a network's calls per access token: VK allows 3 requests a
//! second per token, so a big poll (or several groups on one token) waits
//! its turn instead of meeting error 6.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Most tokens paced at once (the map is cleared of idle ones beyond).
const MAX_TOKENS: usize = 10_000;

/// Calls per token, spaced by an interval.
#[derive(Debug)]
pub struct Pacer {
    every: Duration,
    /// Token (hashed: the map never holds a token) → when its next call
    /// may start.
    next: Mutex<HashMap<u64, Instant>>,
}

impl Pacer {
    /// At most `per_second` calls a second per token.
    pub fn new(per_second: u32) -> Arc<Self> {
        Arc::new(Self {
            every: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::default(),
        })
    }

    fn key(token: &str) -> u64 {
        let mut h = DefaultHasher::new();
        token.hash(&mut h);
        h.finish()
    }

    /// Waits until `token` may make its next call (and books that turn).
    pub async fn pace(&self, token: &str) {
        let now = Instant::now();
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            if next.len() >= MAX_TOKENS {
                next.retain(|_, at| *at > now);
            }
            let slot = next.entry(Self::key(token)).or_insert(now);
            let at = (*slot).max(now);
            *slot = at + self.every;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn three_calls_a_second_per_token() {
        let pacer = Pacer::new(3);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..7 {
            pacer.pace("token-a").await;
            at.push(start.elapsed().as_millis());
        }
        // A third of a second apart (the timer rounds up to the ms).
        assert_eq!(at[0], 0);
        for (n, ms) in at.iter().enumerate() {
            let due = n as u128 * 1000 / 3;
            assert!((due..=due + 2).contains(ms), "call {n} at {ms} ms");
        }
        // Another token is not held back by the first.
        let other = Instant::now();
        pacer.pace("token-b").await;
        assert_eq!(other.elapsed(), Duration::ZERO);
    }
}
