//! Async locks by key (an idempotency key, a purchase id) whose map holds
//! only the keys in use: a key's lock is forgotten when its last holder or
//! waiter lets go, so a million keys used once leave nothing behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Locks = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// Locks by key; holders of one key run one at a time.
#[derive(Default, Clone)]
pub struct KeyLocks {
    locks: Locks,
}

/// Holds one key; releases it on drop, and forgets the key's lock when
/// nobody else waits for it.
pub struct KeyGuard {
    locks: Locks,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        // Unlock first: the guard holds a reference to the lock too.
        drop(self.guard.take());
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // The map and this guard hold the only references: nobody waits
        // (a waiter clones the lock under the map's mutex, held here).
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.key);
        }
    }
}

impl KeyLocks {
    /// Waits until nobody else holds `key`, then holds it until the guard
    /// is dropped. A waiter that is cancelled leaves nothing behind.
    pub async fn lock(&self, key: &str) -> KeyGuard {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(key.to_owned()).or_default())
        };
        // Built before waiting: a waiter that is cancelled still forgets
        // the key when it is the last one using it.
        let mut held = KeyGuard {
            locks: Arc::clone(&self.locks),
            key: key.to_owned(),
            lock: Arc::clone(&lock),
            guard: None,
        };
        held.guard = Some(lock.lock_owned().await);
        held
    }

    /// Number of keys currently held or waited for.
    pub fn in_use(&self) -> usize {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_holder_per_key_and_nothing_left_behind() {
        let locks = KeyLocks::default();
        let a = locks.lock("a").await;
        let _b = locks.lock("b").await;
        // A second holder of "a" waits; cancelling it leaves the map as is.
        let waited = tokio::time::timeout(Duration::from_millis(20), locks.lock("a")).await;
        assert!(waited.is_err(), "a second holder of one key got in");
        assert_eq!(locks.in_use(), 2);
        drop(a);
        drop(_b);
        assert_eq!(locks.in_use(), 0);
        for i in 0..10_000 {
            drop(locks.lock(&format!("k{i}")).await);
        }
        assert_eq!(locks.in_use(), 0);
    }
}
