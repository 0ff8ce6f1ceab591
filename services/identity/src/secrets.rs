//! Secrets: the server key (HMAC of confirm codes and PANs), confirm codes
//! from the OS CSPRNG, opaque tokens stored as SHA-256 hashes, argon2id
//! password hashes. Nothing here logs a secret.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::domain::model::Channel;

/// Digits in a confirm code (the seed's `confirmCodeLength`).
pub const CODE_LENGTH: u32 = 6;

/// The server key and the operations that use it.
#[derive(Clone)]
pub struct Secrets {
    key: [u8; 32],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

#[allow(
    clippy::expect_used,
    reason = "without the OS random source no secret can be made safely: stopping is right"
)]
fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng
        .try_fill_bytes(&mut b)
        .expect("the OS random source works");
    b
}

impl Secrets {
    /// Secrets with the given key.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// Reads the key from `path` (64 hex digits), creating it with a new
    /// random key (mode 0600) if missing.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).context("creating the key's directory")?;
            }
            let key: [u8; 32] = random();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(path).context("creating the server key")?;
            std::io::Write::write_all(&mut f, hex::encode(key).as_bytes())?;
            f.sync_all()?;
        }
        let text = std::fs::read_to_string(path).context("reading the server key")?;
        let bytes = hex::decode(text.trim()).context("the server key is not hex")?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("the server key must be 32 bytes (64 hex digits)"))?;
        Ok(Self { key })
    }

    #[allow(clippy::expect_used, reason = "HMAC accepts a key of any length")]
    fn mac(&self, parts: &[&str]) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p.as_bytes());
        }
        m.finalize().into_bytes().to_vec()
    }

    /// A new confirm code: `CODE_LENGTH` digits, uniformly random.
    pub fn new_code(&self) -> String {
        let bound = 10u32.pow(CODE_LENGTH);
        // Rejection sampling keeps the digits uniform.
        let zone = u32::MAX - u32::MAX % bound;
        loop {
            let v = u32::from_be_bytes(random());
            if v < zone {
                return format!("{:0width$}", v % bound, width = CODE_LENGTH as usize);
            }
        }
    }

    /// MAC of a confirm code, bound to the member, channel and contact.
    pub fn code_mac(
        &self,
        member_id: &str,
        channel: Channel,
        contact: &str,
        code: &str,
    ) -> Vec<u8> {
        // The channel's number is part of what recorded MACs were computed
        // over (SMS 1, e-mail 2): it never changes.
        let channel = match channel {
            Channel::Sms => "1",
            Channel::Email => "2",
        };
        self.mac(&["confirm-code", member_id, channel, contact, code.trim()])
    }

    /// Keyed hash of a PAN (hex), the only form a PAN is kept in.
    pub fn pan_mac(&self, pan: &str) -> String {
        hex::encode(self.mac(&["pan", pan]))
    }

    /// A binding id for a PAN MAC (stable, not reversible).
    pub fn binding_id(&self, pan_mac: &str) -> String {
        let mac = self.mac(&["binding", pan_mac]);
        format!("bc_{}", &hex::encode(mac)[..24])
    }
}

/// A freshly issued token: the string given to the client and what is kept.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token string (shown once, never stored).
    pub token: String,
    /// Public id.
    pub token_id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
}

/// A new token for `member_id`: `<base64url(token id)>.<base64url(32
/// random bytes)>`. The id names the member and the session.
pub fn new_token(member_id: &str, seq: u64) -> IssuedToken {
    let token_id = format!("{member_id}:{seq}:{}", hex::encode(random::<4>()));
    let secret: [u8; 32] = random();
    IssuedToken {
        token: format!("{}.{}", B64.encode(token_id.as_bytes()), B64.encode(secret)),
        secret_hash: Sha256::digest(secret).to_vec(),
        token_id,
    }
}

/// A token taken apart: (token id, member id, SHA-256 of the secret).
pub fn parse_token(token: &str) -> Option<(String, String, Vec<u8>)> {
    let token = token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    let (id, secret) = token.split_once('.')?;
    let id = String::from_utf8(B64.decode(id).ok()?).ok()?;
    let secret = B64.decode(secret).ok()?;
    if secret.len() != 32 {
        return None;
    }
    let member = id.split(':').next()?.to_owned();
    Some((id, member, Sha256::digest(&secret).to_vec()))
}

/// Whether two hashes are equal, in constant time.
pub fn same_hash(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

/// What starts a refresh token, so it is never taken for a token.
const REFRESH_PREFIX: &str = "rt.";

/// A refresh token for the token `token_id`: `rt.<base64url(token id)>.<base64url(32
/// random bytes)>`, and the SHA-256 of its secret (what is kept).
pub fn new_refresh(token_id: &str) -> (String, Vec<u8>) {
    let secret: [u8; 32] = random();
    (
        format!(
            "{REFRESH_PREFIX}{}.{}",
            B64.encode(token_id.as_bytes()),
            B64.encode(secret)
        ),
        Sha256::digest(secret).to_vec(),
    )
}

/// A refresh token taken apart: (token id, member id, SHA-256 of the secret).
pub fn parse_refresh(refresh: &str) -> Option<(String, String, Vec<u8>)> {
    parse_token(refresh.trim().strip_prefix(REFRESH_PREFIX)?)
}

/// argon2id hash (PHC string) of a password. Slow on purpose: call it off
/// the async threads.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(&random::<16>()).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?
        .to_string())
}

/// Checks a password against its argon2id hash (constant time).
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_token_names_its_token_and_is_no_token() {
        let t = new_token("m1", 3);
        let (refresh, hash) = new_refresh(&t.token_id);
        let (id, member, parsed) = parse_refresh(&refresh).expect("parses");
        assert_eq!((id.as_str(), member.as_str()), (t.token_id.as_str(), "m1"));
        assert_eq!(parsed, hash);
        assert_ne!(hash, t.secret_hash);
        assert!(parse_refresh(&t.token).is_none());
        let (_, _, as_token) = parse_token(&refresh).unwrap_or_default();
        assert_ne!(as_token, t.secret_hash);
    }

    #[test]
    fn codes_are_six_digits_and_vary() {
        let s = Secrets::new([7; 32]);
        let codes: std::collections::BTreeSet<String> = (0..200).map(|_| s.new_code()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(codes.len() > 190);
    }

    #[test]
    fn macs_bind_member_channel_contact_and_code() {
        let s = Secrets::new([1; 32]);
        let a = s.code_mac("m1", Channel::Sms, "79123487979", "123456");
        assert_eq!(a, s.code_mac("m1", Channel::Sms, "79123487979", "123456"));
        // The channel's number, as recorded MACs were computed.
        let recorded = s.mac(&["confirm-code", "m1", "1", "79123487979", "123456"]);
        assert_eq!(a, recorded);
        assert_ne!(a, s.code_mac("m2", Channel::Sms, "79123487979", "123456"));
        assert_ne!(a, s.code_mac("m1", Channel::Email, "79123487979", "123456"));
        assert_ne!(a, s.code_mac("m1", Channel::Sms, "79123487978", "123456"));
        assert_ne!(
            a,
            Secrets::new([2; 32]).code_mac("m1", Channel::Sms, "79123487979", "123456")
        );
    }

    #[test]
    fn tokens_parse_back_to_their_hash_and_reject_garbage() {
        let t = new_token("0193-member", 3);
        let (id, member, hash) = parse_token(&format!("Bearer {}", t.token)).unwrap();
        assert_eq!(
            (id, member, hash),
            (t.token_id.clone(), "0193-member".to_owned(), t.secret_hash)
        );
        assert!(parse_token("garbage").is_none());
        assert!(parse_token("a.b").is_none());
        assert_ne!(new_token("m", 1).token, new_token("m", 1).token);
    }

    #[test]
    fn passwords_verify_only_with_the_right_one() {
        let h = hash_password("111111").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "111111"));
        assert!(!verify_password(&h, "111112"));
    }

    #[test]
    fn the_key_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/secret.key");
        let a = Secrets::load_or_create(&path).unwrap();
        let b = Secrets::load_or_create(&path).unwrap();
        assert_eq!(a.pan_mac("4111111111111111"), b.pan_mac("4111111111111111"));
    }
}
