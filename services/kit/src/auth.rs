//! Service-to-service authentication with shared tokens.
//!
//! Every platform service's gRPC API is for other services (the gateway,
//! the purchases service, operators' tools), never for the open network.
//! When a service is given `--caller-tokens-file`, each call to its APIs
//! must carry one of the listed tokens in the [`SERVICE_TOKEN_HEADER`]
//! metadata; anything else is `UNAUTHENTICATED`. Health and reflection stay
//! open (orchestrators probe them). A service calling another sends its own
//! token from `--service-token-file`.
//!
//! The callers file has one caller per line, `name token` (name: letters,
//! digits, `-`, `_`; token: at least 32 characters); blank lines and `#`
//! comments are skipped. Tokens are kept only as SHA-256 hashes and compared
//! in constant time; the caller's name (never the token) goes to the logs.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

/// Metadata key carrying a service token.
pub const SERVICE_TOKEN_HEADER: &str = "x-loyalty-service-token";
/// Shortest accepted token.
pub const MIN_TOKEN_LEN: usize = 32;

/// The caller a request was authenticated as (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// The tokens a service accepts, by caller name.
#[derive(Debug, Clone, Default)]
pub struct CallerTokens {
    /// `None`: authentication is off (every call is accepted).
    callers: Option<Vec<(String, [u8; 32])>>,
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl CallerTokens {
    /// Accepts every call (no callers file configured).
    pub fn open() -> Self {
        Self { callers: None }
    }

    /// Parses a callers file's text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut callers = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, token) = line
                .split_once(char::is_whitespace)
                .with_context(|| format!("line {}: expected `name token`", i + 1))?;
            let token = token.trim();
            anyhow::ensure!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "line {}: a caller name has letters, digits, '-' and '_'",
                i + 1
            );
            anyhow::ensure!(
                token.len() >= MIN_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic()),
                "line {}: a token has at least {MIN_TOKEN_LEN} printable characters",
                i + 1
            );
            let hashed = hash(token);
            anyhow::ensure!(
                !callers.iter().any(|(n, h)| n == name || *h == hashed),
                "line {}: caller {name} or its token is listed twice",
                i + 1
            );
            callers.push((name.to_owned(), hashed));
        }
        anyhow::ensure!(!callers.is_empty(), "no callers listed");
        Ok(Self {
            callers: Some(callers),
        })
    }

    /// Reads a callers file; `None` → [`CallerTokens::open`].
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::open());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the callers file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("callers file {}", path.display()))
    }

    /// Whether calls are checked at all.
    pub fn enforced(&self) -> bool {
        self.callers.is_some()
    }

    /// The caller a token belongs to (`Some("")` when checks are off).
    pub fn caller(&self, token: Option<&str>) -> Option<&str> {
        let Some(callers) = &self.callers else {
            return Some("");
        };
        let presented = hash(token?);
        let mut found = None;
        // Look at every entry: the time taken does not depend on which matched.
        for (name, expected) in callers {
            let same: bool = subtle::ConstantTimeEq::ct_eq(&expected[..], &presented[..]).into();
            if same && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }

    /// A tonic interceptor admitting only listed callers; the caller's name
    /// is put in the request's extensions as [`Caller`].
    pub fn interceptor(
        self: Arc<Self>,
    ) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
        move |mut request: Request<()>| {
            let token = request
                .metadata()
                .get(SERVICE_TOKEN_HEADER)
                .and_then(|v| v.to_str().ok());
            match self.caller(token) {
                Some(name) => {
                    let name = name.to_owned();
                    request.extensions_mut().insert(Caller(name));
                    Ok(request)
                }
                None => {
                    tracing::warn!(
                        presented = token.is_some(),
                        "call refused: no valid service token"
                    );
                    Err(Status::unauthenticated(format!(
                        "a valid service token is required in `{SERVICE_TOKEN_HEADER}`"
                    )))
                }
            }
        }
    }
}

/// This service's own token for calls to other services.
#[derive(Clone, Default)]
pub struct ServiceToken(Option<Arc<MetadataValue<tonic::metadata::Ascii>>>);

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ServiceToken(<set>)"
        } else {
            "ServiceToken(<none>)"
        })
    }
}

impl ServiceToken {
    /// Reads the token file (first non-empty line); `None` → no token.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self(None));
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the service token file {}", path.display()))?;
        let token = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .with_context(|| format!("{} holds no token", path.display()))?;
        Self::from_token(token)
    }

    /// A token given directly (tests, tools).
    pub fn from_token(token: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            token.len() >= MIN_TOKEN_LEN,
            "a service token has at least {MIN_TOKEN_LEN} characters"
        );
        let value = MetadataValue::try_from(token).context("a service token is printable ASCII")?;
        Ok(Self(Some(Arc::new(value))))
    }

    /// Adds the token (if any) to an outgoing request.
    pub fn attach<T>(&self, request: &mut Request<T>) {
        if let Some(v) = &self.0 {
            request
                .metadata_mut()
                .insert(SERVICE_TOKEN_HEADER, v.as_ref().clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATEWAY: &str = "gateway-0123456789abcdef0123456789abcdef";
    const LEDGER: &str = "ledger-0123456789abcdef0123456789abcdef00";

    fn tokens() -> Arc<CallerTokens> {
        Arc::new(
            CallerTokens::parse(&format!(
                "# callers\ngateway {GATEWAY}\n\nledger   {LEDGER}\n"
            ))
            .unwrap(),
        )
    }

    fn call(tokens: &Arc<CallerTokens>, token: Option<&str>) -> Result<Request<()>, Status> {
        let mut r = Request::new(());
        if let Some(t) = token {
            r.metadata_mut()
                .insert(SERVICE_TOKEN_HEADER, t.parse().unwrap());
        }
        (Arc::clone(tokens).interceptor())(r)
    }

    #[test]
    fn listed_callers_pass_with_their_name_and_others_are_unauthenticated() {
        let t = tokens();
        let r = call(&t, Some(LEDGER)).unwrap();
        assert_eq!(
            r.extensions().get::<Caller>(),
            Some(&Caller("ledger".into()))
        );
        assert_eq!(
            call(&t, Some(GATEWAY))
                .unwrap()
                .extensions()
                .get::<Caller>(),
            Some(&Caller("gateway".into()))
        );
        for bad in [None, Some("nope"), Some(&GATEWAY[1..])] {
            let e = call(&t, bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated);
            assert!(e.message().contains(SERVICE_TOKEN_HEADER), "{e:?}");
        }
    }

    #[test]
    fn without_a_callers_file_every_call_passes() {
        let open = Arc::new(CallerTokens::open());
        assert!(!open.enforced());
        assert!(call(&open, None).is_ok());
    }

    #[test]
    fn bad_callers_files_are_refused() {
        for text in [
            "",
            "# only a comment\n",
            "gateway short",
            "gate/way 0123456789abcdef0123456789abcdef",
            "gateway",
            &format!("gateway {GATEWAY}\ngateway {LEDGER}"),
            &format!("gateway {GATEWAY}\nledger {GATEWAY}"),
        ] {
            assert!(CallerTokens::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn the_own_token_is_attached_and_never_printed() {
        let own = ServiceToken::from_token(GATEWAY).unwrap();
        assert!(!format!("{own:?}").contains(GATEWAY));
        let mut r = Request::new(());
        own.attach(&mut r);
        assert_eq!(r.metadata().get(SERVICE_TOKEN_HEADER).unwrap(), GATEWAY);
        assert!(ServiceToken::from_token("short").is_err());
        let mut none = Request::new(());
        ServiceToken::default().attach(&mut none);
        assert!(none.metadata().get(SERVICE_TOKEN_HEADER).is_none());
    }
}
