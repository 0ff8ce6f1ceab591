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
//! authentication (SOAP clients). Only the key's hash is kept; the key never
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

/// The API keys, by their hash.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys(HashMap<[u8; 32], Holder>);

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
            }
            anyhow::ensure!(
                keys.insert(hash, holder).is_none(),
                "{name}: its key is listed twice"
            );
        }
        Ok(Self(keys))
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
        self.0.is_empty()
    }

    fn holder(&self, headers: &HeaderMap) -> Result<&Holder, GatewayError> {
        let key = api_key(headers).ok_or(GatewayError::Unauthorized(
            "an API key is required (X-Api-Key)",
        ))?;
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        self.0
            .get(&hash)
            .ok_or(GatewayError::Unauthorized("unknown API key"))
    }

    /// The partner device whose key the request carries.
    pub fn device(&self, headers: &HeaderMap) -> Result<&Device, GatewayError> {
        match self.holder(headers)? {
            Holder::Device(d) => Ok(d),
            Holder::Operator(_) => Err(GatewayError::Forbidden(
                "this key is an operator's, not a partner device's",
            )),
        }
    }

    /// The operator whose key the request carries.
    pub fn operator(&self, headers: &HeaderMap) -> Result<&Operator, GatewayError> {
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
    let basic = header(headers, AUTHORIZATION)?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

/// The member's bearer token (`Authorization: Bearer <token>`), if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let token = header(headers, AUTHORIZATION)?
        .strip_prefix("Bearer ")?
        .trim();
    (!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())).then_some(token)
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
