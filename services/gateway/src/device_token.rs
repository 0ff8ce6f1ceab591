//! Access tokens for partner devices (OAuth2's client credentials grant,
//! the seed's "OAuth application" of a partner and its devices).
//!
//! The gateway is stateless, so a device token carries what it stands for
//! and is signed: `dt.<base64url(device name, expiry)>.<base64url(HMAC-SHA256)>`
//! under the key in `--device-token-key-file`, which every replica of the
//! gateway shares. A token is good until it expires and while its device is
//! still listed in the keys file; the device's API key is its client secret.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What starts a device token, so it is never taken for a member's.
pub const PREFIX: &str = "dt.";
/// Fewest bytes of key the file must hold.
pub const MIN_KEY_LEN: usize = 32;

/// Signs and checks device tokens.
#[derive(Clone)]
pub struct DeviceTokens {
    key: Vec<u8>,
    ttl: chrono::Duration,
}

impl std::fmt::Debug for DeviceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceTokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A token issued: the string and when it expires.
pub struct Issued {
    /// The token.
    pub token: String,
    /// Its expiry.
    pub expires_at: DateTime<Utc>,
}

impl DeviceTokens {
    /// Tokens signed with `key` (at least [`MIN_KEY_LEN`] bytes), living `ttl`.
    pub fn new(key: Vec<u8>, ttl: chrono::Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(
            key.len() >= MIN_KEY_LEN,
            "the device token key has {} bytes; at least {MIN_KEY_LEN} are needed",
            key.len()
        );
        Ok(Self { key, ttl })
    }

    /// Reads the key file (its bytes, trailing whitespace trimmed).
    pub fn load(path: &Path, ttl: chrono::Duration) -> anyhow::Result<Self> {
        let mut key = std::fs::read(path)
            .with_context(|| format!("reading the device token key {}", path.display()))?;
        while key.last().is_some_and(u8::is_ascii_whitespace) {
            key.pop();
        }
        Self::new(key, ttl)
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(PREFIX.as_bytes());
        mac.update(payload.as_bytes());
        mac
    }

    /// A token for the device `name`, issued `now`.
    pub fn issue(&self, name: &str, now: DateTime<Utc>) -> Issued {
        let expires_at = now + self.ttl;
        let payload = B64.encode(format!("{}:{name}", expires_at.timestamp()));
        let sig = B64.encode(self.mac(&payload).finalize().into_bytes());
        Issued {
            token: format!("{PREFIX}{payload}.{sig}"),
            expires_at,
        }
    }

    /// The device a token names, if the signature holds and it has not
    /// expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<String> {
        let (payload, sig) = token.strip_prefix(PREFIX)?.split_once('.')?;
        let sig = B64.decode(sig).ok()?;
        self.mac(payload).verify_slice(&sig).ok()?;
        let text = String::from_utf8(B64.decode(payload).ok()?).ok()?;
        let (expiry, name) = text.split_once(':')?;
        let expires_at = DateTime::from_timestamp(expiry.parse().ok()?, 0)?;
        (now < expires_at).then(|| name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> DeviceTokens {
        DeviceTokens::new(vec![7; 32], chrono::Duration::hours(1)).unwrap()
    }

    #[test]
    fn a_token_names_its_device_until_it_expires() {
        let t = tokens();
        let now = Utc::now();
        let issued = t.issue("eshop-1", now);
        assert_eq!(issued.expires_at, now + chrono::Duration::hours(1));
        assert_eq!(t.verify(&issued.token, now).as_deref(), Some("eshop-1"));
        let later = now + chrono::Duration::hours(1) + chrono::Duration::seconds(1);
        assert_eq!(t.verify(&issued.token, later), None);
    }

    #[test]
    fn a_changed_or_foreign_token_is_refused() {
        let t = tokens();
        let now = Utc::now();
        let issued = t.issue("eshop-1", now);
        let other = DeviceTokens::new(vec![8; 32], chrono::Duration::hours(1)).unwrap();
        assert_eq!(other.verify(&issued.token, now), None);
        // Another device's name under the first one's signature.
        let (_, sig) = issued.token.rsplit_once('.').unwrap();
        let forged = format!(
            "{PREFIX}{}.{sig}",
            B64.encode(format!(
                "{}:eshop-2",
                (now + chrono::Duration::hours(1)).timestamp()
            ))
        );
        assert_eq!(t.verify(&forged, now), None);
        for garbage in ["", "dt.", "dt.a.b", "x.y.z", &issued.token[3..]] {
            assert_eq!(t.verify(garbage, now), None, "{garbage}");
        }
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(DeviceTokens::new(vec![1; 31], chrono::Duration::hours(1)).is_err());
    }
}
