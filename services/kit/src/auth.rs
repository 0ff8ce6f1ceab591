//! Service-to-service authentication and authorization with shared tokens.
//!
//! Every platform service's gRPC API is for other services (the gateway,
//! the purchases service, operators' tools), never for the open network.
//! When a service is given `--caller-tokens-file`, each call must carry one
//! of the listed tokens in the [`SERVICE_TOKEN_HEADER`] metadata (else
//! `UNAUTHENTICATED`), and the token's caller must be allowed the method
//! (else `PERMISSION_DENIED`). Health and reflection stay open
//! (orchestrators probe them). A service calling another sends its own
//! token from `--service-token-file`. The check is a tower layer
//! ([`AuthLayer`]) the kit's bootstrap puts in front of every service.
//!
//! The callers file has one caller per line: `name token [methods]`.
//! - name: letters, digits, `-`, `_`; token: at least 32 printable
//!   characters; names and tokens are unique;
//! - methods (optional; default `*`, everything): comma-separated gRPC
//!   methods the caller may call: `pkg.Service/Method`, `pkg.Service/*` or
//!   `pkg.Service` (the whole service), or `*`;
//! - blank lines and `#` comments are skipped.
//!
//! Example: `ledger <token> loyalty.identity.v1.MemberService/ResolveMembers`.
//! Tokens are kept only as SHA-256 hashes and compared in constant time; the
//! caller's name (never the token) goes to the logs.

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

/// One caller: its name, its token's hash and the methods it may call.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    hash: [u8; 32],
    /// Normalised patterns (no leading `/`): `*`, `pkg.Svc/*`, `pkg.Svc/M`.
    methods: Vec<String>,
}

impl Entry {
    /// Whether the caller may call `path` (`/pkg.Service/Method`).
    fn allows(&self, path: &str) -> bool {
        let path = path.trim_start_matches('/');
        self.methods.iter().any(|m| {
            m == "*"
                || m == path
                || m.strip_suffix('*')
                    .is_some_and(|prefix| prefix.ends_with('/') && path.starts_with(prefix))
        })
    }
}

/// Normalises one method pattern of a callers file.
fn method_pattern(raw: &str) -> Option<String> {
    let m = raw.trim().trim_start_matches('/');
    if m == "*" {
        return Some(m.to_owned());
    }
    let (service, method) = m.split_once('/').unwrap_or((m, "*"));
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
    };
    (ok(service) && service.contains('.') && (method == "*" || ok(method)))
        .then(|| format!("{service}/{method}"))
}

/// The tokens a service accepts, by caller name.
#[derive(Debug, Clone, Default)]
pub struct CallerTokens {
    /// `None`: authentication is off (every call is accepted).
    callers: Option<Vec<Entry>>,
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
            let mut fields = line.split_whitespace();
            let (Some(name), Some(token)) = (fields.next(), fields.next()) else {
                anyhow::bail!("line {}: expected `name token [methods]`", i + 1);
            };
            let methods = match fields.next() {
                None => vec!["*".to_owned()],
                Some(list) => list
                    .split(',')
                    .map(|m| {
                        method_pattern(m).with_context(|| {
                            format!("line {}: {m:?} is not `pkg.Service/Method`", i + 1)
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
            };
            anyhow::ensure!(fields.next().is_none(), "line {}: too many fields", i + 1);
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
                !callers
                    .iter()
                    .any(|e: &Entry| e.name == name || e.hash == hashed),
                "line {}: caller {name} or its token is listed twice",
                i + 1
            );
            callers.push(Entry {
                name: name.to_owned(),
                hash: hashed,
                methods,
            });
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

    /// The caller a token belongs to.
    fn entry(&self, callers: &[Entry], token: Option<&str>) -> Option<usize> {
        let presented = hash(token?);
        let mut found = None;
        // Look at every entry: the time taken does not depend on which matched.
        for (i, e) in callers.iter().enumerate() {
            let same: bool = subtle::ConstantTimeEq::ct_eq(&e.hash[..], &presented[..]).into();
            if same && found.is_none() {
                found = Some(i);
            }
        }
        found
    }

    /// Decides a call to `path` (`/pkg.Service/Method`) made with `token`:
    /// the caller's name (empty when checks are off), or the refusal.
    pub fn authorize(&self, token: Option<&str>, path: &str) -> Result<String, Status> {
        let Some(callers) = &self.callers else {
            return Ok(String::new());
        };
        let Some(i) = self.entry(callers, token) else {
            tracing::warn!(%path, presented = token.is_some(), "call refused: no valid service token");
            return Err(Status::unauthenticated(format!(
                "a valid service token is required in `{SERVICE_TOKEN_HEADER}`"
            )));
        };
        let caller = &callers[i];
        if !caller.allows(path) {
            tracing::warn!(caller = %caller.name, %path, "call refused: method not allowed");
            return Err(Status::permission_denied(format!(
                "caller {} may not call {path}",
                caller.name
            )));
        }
        Ok(caller.name.clone())
    }
}

/// gRPC paths open to anyone: health and reflection.
fn open_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// A tower layer checking every call against [`CallerTokens`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    tokens: Arc<CallerTokens>,
}

impl AuthLayer {
    /// Checks calls against `tokens`.
    pub fn new(tokens: Arc<CallerTokens>) -> Self {
        Self { tokens }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authorized<S>;

    fn layer(&self, inner: S) -> Authorized<S> {
        Authorized {
            inner,
            tokens: Arc::clone(&self.tokens),
        }
    }
}

/// The service [`AuthLayer`] wraps: refused calls never reach `inner`.
#[derive(Debug, Clone)]
pub struct Authorized<S> {
    inner: S,
    tokens: Arc<CallerTokens>,
}

type HttpRequest = tonic::codegen::http::Request<tonic::body::Body>;
type HttpResponse = tonic::codegen::http::Response<tonic::body::Body>;

impl<S> tower::Service<HttpRequest> for Authorized<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse>,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future =
        futures::future::Either<S::Future, std::future::Ready<Result<HttpResponse, S::Error>>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: HttpRequest) -> Self::Future {
        use futures::future::Either;
        let path = request.uri().path().to_owned();
        if open_path(&path) {
            return Either::Left(self.inner.call(request));
        }
        let token = request
            .headers()
            .get(SERVICE_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok());
        match self.tokens.authorize(token, &path) {
            Ok(name) => {
                request.extensions_mut().insert(Caller(name));
                Either::Left(self.inner.call(request))
            }
            Err(status) => Either::Right(std::future::ready(Ok(status.into_http()))),
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

    /// An outgoing request of `message` with the token (if any) and the
    /// current trace context.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut r = Request::new(message);
        self.attach(&mut r);
        crate::telemetry::inject_grpc(r.metadata_mut());
        r
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

    const RESOLVE: &str = "/loyalty.identity.v1.MemberService/ResolveMembers";
    const BLOCK: &str = "/loyalty.identity.v1.CardService/BlockCard";

    fn tokens() -> CallerTokens {
        CallerTokens::parse(&format!(
            "# callers\ngateway {GATEWAY}\n\nledger   {LEDGER} loyalty.identity.v1.MemberService/ResolveMembers,loyalty.ledger.v1.LedgerService\n"
        ))
        .unwrap()
    }

    #[test]
    fn listed_callers_pass_with_their_name_and_others_are_unauthenticated() {
        let t = tokens();
        assert_eq!(t.authorize(Some(LEDGER), RESOLVE).unwrap(), "ledger");
        assert_eq!(t.authorize(Some(GATEWAY), BLOCK).unwrap(), "gateway");
        for bad in [None, Some("nope"), Some(&GATEWAY[1..])] {
            let e = t.authorize(bad, RESOLVE).unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated);
            assert!(e.message().contains(SERVICE_TOKEN_HEADER), "{e:?}");
        }
    }

    #[test]
    fn a_caller_may_call_only_the_methods_it_is_listed_for() {
        let t = tokens();
        let denied = t.authorize(Some(LEDGER), BLOCK).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert!(denied.message().contains("ledger"), "{denied:?}");
        let other = "/loyalty.identity.v1.MemberService/BindBankCard";
        assert!(t.authorize(Some(LEDGER), other).is_err());
        // A whole service.
        let ledger = "/loyalty.ledger.v1.LedgerService/GetBalance";
        assert!(t.authorize(Some(LEDGER), ledger).is_ok());
        // A service whose name merely starts alike is another service.
        let alike = "/loyalty.ledger.v1.LedgerServiceX/GetBalance";
        assert!(t.authorize(Some(LEDGER), alike).is_err());
    }

    #[test]
    fn without_a_callers_file_every_call_passes() {
        let open = CallerTokens::open();
        assert!(!open.enforced());
        assert_eq!(open.authorize(None, BLOCK).unwrap(), "");
    }

    #[tokio::test]
    async fn the_layer_answers_refused_calls_itself_and_lets_health_through() {
        use tower::{Layer, ServiceExt};
        let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&reached);
        let inner = tower::service_fn(move |_r: HttpRequest| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, std::convert::Infallible>(HttpResponse::default()) }
        });
        let svc = AuthLayer::new(Arc::new(tokens())).layer(inner);
        let request = |path: &str, token: Option<&str>| {
            let mut b = tonic::codegen::http::Request::builder().uri(path);
            if let Some(t) = token {
                b = b.header(SERVICE_TOKEN_HEADER, t);
            }
            b.body(tonic::body::Body::default()).unwrap()
        };
        let refused = svc.clone().oneshot(request(BLOCK, None)).await.unwrap();
        // gRPC status 16 = UNAUTHENTICATED, in the headers of the answer.
        assert_eq!(refused.headers()["grpc-status"], "16");
        let denied = svc
            .clone()
            .oneshot(request(BLOCK, Some(LEDGER)))
            .await
            .unwrap();
        assert_eq!(denied.headers()["grpc-status"], "7");
        assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 0);
        let health = "/grpc.health.v1.Health/Check";
        svc.clone().oneshot(request(health, None)).await.unwrap();
        svc.clone()
            .oneshot(request(RESOLVE, Some(LEDGER)))
            .await
            .unwrap();
        assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 2);
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
            &format!("gateway {GATEWAY} not-a-method"),
            &format!("gateway {GATEWAY} * extra"),
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
