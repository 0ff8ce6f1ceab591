//! Who is calling: a member with a bearer token (identity's), a partner
//! device or an operator with an API key.
//!
//! Keys are listed in a TOML file (`--api-keys-file`): a `[[device]]` table
//! per partner device (tills, e-shops, payment gateways: the processing
//! methods) and an `[[operator]]` table per operator tool (batch balance
//! changes, certificates):
//!
//! ```toml
//! [[device]]
//! name = "eshop-1"                 # for the logs
//! key_sha256 = "9f86d0…"           # SHA-256 (hex) of the API key
//! partner_id = "shop"
//! location_id = "web"              # optional
//!
//! [[operator]]
//! name = "back-office"
//! key_sha256 = "…"
//! ```
//!
//! A caller sends its key in `X-Api-Key`, or as the password of HTTP Basic
//! authentication (SOAP clients). A device may also trade its name and key
//! for a short-lived token at the token endpoint (OAuth2's client
//! credentials grant, [`crate::device_token`]) and send that as `Bearer`. Only the key's hash is kept; the key never
//! reaches a log. The partner and location of a device go on every
//! purchase it makes, so one partner's device cannot act as another's; a
//! device's key opens no operator endpoint and an operator's no processing.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::device_token::{self, DeviceTokens, Issued};
use crate::error::GatewayError;

/// Header carrying a partner device's API key.
pub const API_KEY_HEADER: &str = "x-api-key";
/// Longest credential the gateway reads from a header.
pub const MAX_CREDENTIAL_LEN: usize = 1024;

/// A partner device the gateway knows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Its name in the logs.
    pub name: String,
    /// SHA-256 of its API key, hex.
    pub key_sha256: String,
    /// The partner it belongs to.
    pub partner_id: String,
    /// Its location (shop, web site); empty when not tied to one.
    #[serde(default)]
    pub location_id: String,
}

/// An operator tool the gateway knows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// Its name in the logs (and as the operator of manual operations).
    pub name: String,
    /// SHA-256 of its API key, hex.
    pub key_sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    device: Vec<Device>,
    #[serde(default)]
    operator: Vec<Operator>,
}

/// Who a key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holder {
    Device(Device),
    Operator(Operator),
}

/// The API keys, by their hash, and the devices' tokens.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    by_hash: HashMap<[u8; 32], Holder>,
    /// Devices by name (for their tokens).
    devices: HashMap<String, Device>,
    tokens: Option<DeviceTokens>,
}

fn key_hash_of(name: &str, hex_hash: &str) -> anyhow::Result<[u8; 32]> {
    anyhow::ensure!(!name.is_empty(), "every key has a name");
    hex::decode(hex_hash)
        .ok()
        .and_then(|h| h.try_into().ok())
        .with_context(|| format!("{name}: key_sha256 is not 64 hex digits"))
}

impl ApiKeys {
    /// Parses a keys file's text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: KeysFile = toml::from_str(text).context("the API keys file")?;
        let mut keys = HashMap::new();
        let mut devices = HashMap::new();
        let holders = file
            .device
            .into_iter()
            .map(|d| (d.name.clone(), d.key_sha256.clone(), Holder::Device(d)))
            .chain(
                file.operator
                    .into_iter()
                    .map(|o| (o.name.clone(), o.key_sha256.clone(), Holder::Operator(o))),
            );
        for (name, hash, holder) in holders {
            let hash = key_hash_of(&name, &hash)?;
            if let Holder::Device(d) = &holder {
                anyhow::ensure!(!d.partner_id.is_empty(), "device {name} has no partner_id");
                anyhow::ensure!(
                    devices.insert(name.clone(), d.clone()).is_none(),
                    "device {name} is listed twice"
                );
            }
            anyhow::ensure!(
                keys.insert(hash, holder).is_none(),
                "{name}: its key is listed twice"
            );
        }
        Ok(Self {
            by_hash: keys,
            devices,
            tokens: None,
        })
    }

    /// Lets devices trade their key for a token ([`crate::device_token`]).
    pub fn with_device_tokens(mut self, tokens: DeviceTokens) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Whether devices can get tokens (a key file is configured).
    pub fn issues_device_tokens(&self) -> bool {
        self.tokens.is_some()
    }

    /// A token for the device `client_id` whose key is `secret` (OAuth2's
    /// client credentials); `None` when they do not match or tokens are
    /// not configured.
    pub fn device_token(&self, client_id: &str, secret: &str) -> Option<Issued> {
        let tokens = self.tokens.as_ref()?;
        let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        match self.by_hash.get(&hash)? {
            Holder::Device(d) if d.name == client_id => {
                Some(tokens.issue(&d.name, chrono::Utc::now()))
            }
            Holder::Device(_) | Holder::Operator(_) => None,
        }
    }

    /// Reads the keys file; `None` → no keys (processing and operator
    /// endpoints answer 401).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the API keys file {}", path.display()))?;
        Self::parse(&text)
    }

    /// Whether no key is listed.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The device a device token names (`None`: not a device token).
    fn token_device(&self, headers: &HeaderMap) -> Option<Result<&Device, GatewayError>> {
        let token = header(headers, AUTHORIZATION)?
            .strip_prefix("Bearer ")?
            .trim();
        if !token.starts_with(device_token::PREFIX) {
            return None;
        }
        let refused = GatewayError::Unauthorized("unknown or expired device token");
        let device = self
            .tokens
            .as_ref()
            .and_then(|t| t.verify(token, chrono::Utc::now()))
            .and_then(|name| self.devices.get(&name));
        Some(device.ok_or(refused))
    }

    fn holder(&self, headers: &HeaderMap) -> Result<&Holder, GatewayError> {
        let key = api_key(headers).ok_or(GatewayError::Unauthorized(
            "an API key is required (X-Api-Key)",
        ))?;
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        self.by_hash
            .get(&hash)
            .ok_or(GatewayError::Unauthorized("unknown API key"))
    }

    /// The partner device whose key the request carries.
    pub fn device(&self, headers: &HeaderMap) -> Result<&Device, GatewayError> {
        if let Some(device) = self.token_device(headers) {
            return device;
        }
        match self.holder(headers)? {
            Holder::Device(d) => Ok(d),
            Holder::Operator(_) => Err(GatewayError::Forbidden(
                "this key is an operator's, not a partner device's",
            )),
        }
    }

    /// The operator whose key the request carries.
    pub fn operator(&self, headers: &HeaderMap) -> Result<&Operator, GatewayError> {
        if let Some(Ok(_)) = self.token_device(headers) {
            return Err(GatewayError::Forbidden(
                "this token is a partner device's, not an operator's",
            ));
        }
        match self.holder(headers)? {
            Holder::Operator(o) => Ok(o),
            Holder::Device(_) => Err(GatewayError::Forbidden(
                "this key is a partner device's, not an operator's",
            )),
        }
    }
}

/// The SHA-256 (hex) of an API key, for the keys file.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn header(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty() && value.len() <= MAX_CREDENTIAL_LEN).then_some(value)
}

/// The API key of a request: `X-Api-Key`, or HTTP Basic's password.
fn api_key(headers: &HeaderMap) -> Option<String> {
    if let Some(key) = header(headers, API_KEY_HEADER) {
        return Some(key.to_owned());
    }
    let (_, password) = basic(headers)?;
    (!password.is_empty()).then_some(password)
}

/// HTTP Basic's user and password, if the request carries them.
pub fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let basic = header(headers, AUTHORIZATION)?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The member's bearer token (`Authorization: Bearer <token>`), if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let token = header(headers, AUTHORIZATION)?
        .strip_prefix("Bearer ")?
        .trim();
    (!token.is_empty()
        && !token.starts_with(device_token::PREFIX)
        && token.bytes().all(|b| b.is_ascii_graphic()))
    .then_some(token)
}

/// The member's bearer token, required.
pub fn member_token(headers: &HeaderMap) -> Result<&str, GatewayError> {
    bearer(headers).ok_or(GatewayError::Unauthorized(
        "a member's token is required (Authorization: Bearer <token>)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "k3y-0123456789abcdef0123456789abcdef";

    const OPERATOR_KEY: &str = "op-0123456789abcdef0123456789abcdef";

    fn keys() -> ApiKeys {
        ApiKeys::parse(&format!(
            "[[device]]\nname = \"eshop\"\nkey_sha256 = \"{}\"\npartner_id = \"shop\"\n\
             [[operator]]\nname = \"office\"\nkey_sha256 = \"{}\"\n",
            key_hash(KEY),
            key_hash(OPERATOR_KEY)
        ))
        .unwrap()
    }

    #[test]
    fn a_device_key_opens_no_operator_endpoint_and_back() {
        let keys = keys();
        let mut h = HeaderMap::new();
        h.insert(API_KEY_HEADER, KEY.parse().unwrap());
        assert!(matches!(keys.operator(&h), Err(GatewayError::Forbidden(_))));
        h.insert(API_KEY_HEADER, OPERATOR_KEY.parse().unwrap());
        assert_eq!(keys.operator(&h).unwrap().name, "office");
        assert!(matches!(keys.device(&h), Err(GatewayError::Forbidden(_))));
    }

    #[test]
    fn a_device_is_found_by_its_key_in_either_header() {
        let keys = keys();
        let mut h = HeaderMap::new();
        h.insert(API_KEY_HEADER, KEY.parse().unwrap());
        assert_eq!(keys.device(&h).unwrap().partner_id, "shop");
        let mut h = HeaderMap::new();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("eshop:{KEY}"));
        h.insert(AUTHORIZATION, format!("Basic {basic}").parse().unwrap());
        assert_eq!(keys.device(&h).unwrap().name, "eshop");
    }

    #[test]
    fn a_device_trades_its_name_and_key_for_a_token_that_opens_only_its_endpoints() {
        let tokens = DeviceTokens::new(vec![3; 32], chrono::Duration::minutes(5)).unwrap();
        let with = keys().with_device_tokens(tokens);
        assert!(with.device_token("eshop", "wrong").is_none());
        assert!(with.device_token("other", KEY).is_none());
        assert!(with.device_token("office", OPERATOR_KEY).is_none());
        let issued = with.device_token("eshop", KEY).unwrap();
        let mut h = HeaderMap::new();
        let bearer_header = format!("Bearer {}", issued.token);
        h.insert(AUTHORIZATION, bearer_header.parse().unwrap());
        assert_eq!(with.device(&h).unwrap().partner_id, "shop");
        assert!(matches!(with.operator(&h), Err(GatewayError::Forbidden(_))));
        assert_eq!(bearer(&h), None, "a device token is no member's token");
        // Without the key file no token is issued and none is taken.
        assert!(keys().device_token("eshop", KEY).is_none());
        assert!(matches!(
            keys().device(&h),
            Err(GatewayError::Unauthorized(_))
        ));
    }

    #[test]
    fn no_key_or_a_wrong_key_is_unauthorized() {
        let keys = keys();
        assert!(matches!(
            keys.device(&HeaderMap::new()),
            Err(GatewayError::Unauthorized(_))
        ));
        let mut h = HeaderMap::new();
        h.insert(API_KEY_HEADER, "wrong".parse().unwrap());
        assert!(matches!(
            keys.device(&h),
            Err(GatewayError::Unauthorized(_))
        ));
    }

    #[test]
    fn a_bad_keys_file_is_refused() {
        assert!(ApiKeys::parse("[[device]]\nname='a'\nkey_sha256='zz'\npartner_id='p'").is_err());
        assert!(
            ApiKeys::parse("[[device]]\nname='a'\nkey_sha256='00'\npartner_id='p'\nextra=1")
                .is_err()
        );
    }

    #[test]
    fn bearer_tokens_are_read_and_bounded() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(
            AUTHORIZATION,
            format!("Bearer {}", "a".repeat(2000)).parse().unwrap(),
        );
        assert_eq!(bearer(&h), None);
    }
}
