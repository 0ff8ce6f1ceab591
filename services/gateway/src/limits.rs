//! Abuse limits on the endpoints a stranger can hammer: registration,
//! login and confirm codes. Two keyed GCRA limiters (governor): one per
//! client address, one per login (phone, card, token). A request over
//! either limit is answered 429 with `Retry-After`; nothing reaches the
//! services. Keys are hashed, so no login or token is kept in memory as
//! text.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};

use crate::error::GatewayError;

/// Requests per minute one client address may make to the limited
/// endpoints (bursts up to the same number).
pub const PER_ADDRESS_PER_MINUTE: u32 = 60;
/// Requests per minute for one login (a phone, a card, a token).
pub const PER_LOGIN_PER_MINUTE: u32 = 10;

/// The limiters.
#[derive(Debug)]
pub struct Limits {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_login: DefaultKeyedRateLimiter<[u8; 16]>,
    clock: DefaultClock,
}

fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl Limits {
    /// Limiters allowing `per_address` and `per_login` requests a minute.
    pub fn new(per_address: u32, per_login: u32) -> Self {
        Self {
            per_address: DefaultKeyedRateLimiter::keyed(quota(per_address)),
            per_login: DefaultKeyedRateLimiter::keyed(quota(per_login)),
            clock: DefaultClock::default(),
        }
    }

    fn over(
        &self,
        not_until: governor::NotUntil<<DefaultClock as governor::clock::Clock>::Instant>,
    ) -> GatewayError {
        GatewayError::RateLimited {
            retry_after_secs: not_until.wait_time_from(self.clock.now()).as_secs().max(1),
        }
    }

    /// Lets one request from `address` through, or says when to retry.
    pub fn check_address(&self, address: IpAddr) -> Result<(), GatewayError> {
        self.per_address
            .check_key(&address)
            .map_err(|n| self.over(n))
    }

    /// Lets one request for `login` (a phone, a card, a token) through, or
    /// says when to retry; an empty login is not limited here (the service
    /// refuses it).
    pub fn check_login(&self, login: &str) -> Result<(), GatewayError> {
        let login = login.trim();
        if login.is_empty() {
            return Ok(());
        }
        let digest = Sha256::digest(login.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        self.per_login.check_key(&key).map_err(|n| self.over(n))
    }

    /// Forgets keys whose limits have fully recovered (run now and then so
    /// the maps do not grow with every address ever seen).
    pub fn shrink(&self) {
        self.per_address.retain_recent();
        self.per_login.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_over_its_limit_is_told_when_to_retry() {
        let limits = Limits::new(100, 2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        limits.check_login("79123487979").unwrap();
        limits.check_login("79123487979").unwrap();
        match limits.check_login("79123487979") {
            Err(GatewayError::RateLimited { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("{other:?}"),
        }
        // Another login from the same address still passes.
        limits.check_login("79000000000").unwrap();
        limits.check_address(ip).unwrap();
    }

    #[test]
    fn an_address_over_its_limit_is_refused() {
        let limits = Limits::new(1, 100);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        limits.check_address(ip).unwrap();
        assert!(limits.check_address(ip).is_err());
        limits.check_address("10.0.0.2".parse().unwrap()).unwrap();
    }
}
