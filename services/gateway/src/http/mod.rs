//! The public HTTP API: the routes under both prefixes (`/api/v1/`, the
//! seeds', and `/publicapi/v1.2/`, the current public form), the body
//! extractor that turns bad JSON into the envelope's `validationErrors`,
//! health, `/openapi.json` and `/docs`.

pub mod account;
pub mod batch;
pub mod certificates;
pub mod cheque;
pub mod loyalty;
pub mod observe;
pub mod openapi;
pub mod processing;
pub mod profile;
pub mod questions;
pub mod registration;
pub mod token;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::auth::ApiKeys;
use crate::error::GatewayError;
use crate::limits::Limits;
use crate::upstream::Upstream;

/// The prefixes every route is served under.
pub const PREFIXES: [&str; 2] = ["/api/v1", "/publicapi/v1.2"];
/// Longest part of a parser's message quoted back.
const MAX_PARSE_MESSAGE: usize = 160;

/// What every handler shares.
#[derive(Debug)]
pub struct App {
    /// The services.
    pub upstream: Upstream,
    /// The API keys of partner devices and operators.
    pub keys: ApiKeys,
    /// Abuse limits of registration, login and codes.
    pub limits: Limits,
    /// The offset at which zone-less times in bodies are read.
    pub naive_offset: chrono::FixedOffset,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub proxies: crate::proxies::TrustedProxies,
    /// Set on a stop signal: `/health/ready` answers 503.
    pub draining: std::sync::atomic::AtomicBool,
}

impl App {
    /// The client of a request from `peer`: see [`crate::proxies`].
    pub fn client(&self, peer: SocketAddr, headers: &axum::http::HeaderMap) -> std::net::IpAddr {
        self.proxies.client(peer.ip(), headers)
    }
}

/// Ready unless stopping (load balancers then send no new requests).
async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.draining.load(std::sync::atomic::Ordering::SeqCst) {
        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
    } else {
        "ok".into_response()
    }
}

/// A generated enum's name (`USER_ACTION_TYPE_ACCEPT_TENDER_OFFER`) in the
/// seeds' spelling (`AcceptTenderOffer`), without `prefix`.
pub fn pascal(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A service's text, `None` when it is empty (the seeds write `null`).
pub fn some(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

/// A service's text as JSON, `null` when it is empty.
pub fn text_or_null(v: &str) -> serde_json::Value {
    some(v).map_or(serde_json::Value::Null, serde_json::Value::String)
}

/// Whether the client asks for a report as CSV: `?format=csv` or
/// `Accept: text/csv`.
pub fn wants_csv(headers: &axum::http::HeaderMap, format: Option<&str>) -> bool {
    format == Some("csv")
        || headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))
}

/// `message` cut to a bounded length (a parser may quote the bad value).
pub fn bounded(message: &str) -> String {
    let mut message = message.to_owned();
    if message.len() > MAX_PARSE_MESSAGE {
        let mut cut = MAX_PARSE_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// The abuse limits in front of registration and code endpoints: per client
/// address, and per member token when there is one.
async fn limited(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let client = app.client(peer, request.headers());
    let checked = app.limits.check_address(client).and_then(|()| {
        crate::auth::bearer(request.headers()).map_or(Ok(()), |t| app.limits.check_login(t))
    });
    match checked {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// A JSON body; a body that does not parse is a `ValidationError` answer
/// naming the problem, an empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = GatewayError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                GatewayError::TooLarge
            } else {
                GatewayError::invalid("body", e.body_text())
            }
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        parse_json(bytes).map(JsonBody)
    }
}

/// Parses a JSON body; a complaint names the field (`cheque.lines[0].amount`)
/// and never repeats the bad value (it may be a card number or a PIN).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if matches!(path.as_str(), "." | "?" | "") {
            "body".to_owned()
        } else {
            path
        };
        GatewayError::invalid(&field, without_values(&e.inner().to_string()))
    })
}

/// A parser's message without the values it quotes (serde quotes them in
/// backticks) and without its position suffix.
pub fn without_values(message: &str) -> String {
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    let mut out = String::with_capacity(message.len());
    for (i, part) in message.split('`').enumerate() {
        out.push_str(if i % 2 == 0 { part } else { "…" });
    }
    bounded(&out)
}

/// The routes of one prefix.
fn api(app: &Arc<App>) -> Router<Arc<App>> {
    let purchase = "/Processing/Purchases/{purchaseId}";
    // Seed paths are written with and without a trailing slash.
    let both =
        |router: Router<Arc<App>>, path: &str, route: axum::routing::MethodRouter<Arc<App>>| {
            router
                .route(path, route.clone())
                .route(&format!("{path}/"), route)
        };
    let mut limited_routes = Router::new()
        .route("/Registration/BeginRegistration", post(registration::begin))
        .route(
            "/User/PhoneNumber/Confirm",
            post(registration::confirm_phone),
        )
        .route(
            "/User/PhoneNumber/SendConfirmCode",
            post(registration::resend_phone_code),
        )
        .route("/User/Password/Set", post(registration::set_password))
        .route("/User/Email/Confirm", post(profile::confirm_email))
        .route(
            "/User/Email/SendConfirmCode",
            post(profile::resend_email_code),
        )
        .route("/Cards/Set", post(profile::set_card));
    limited_routes = both(
        limited_routes,
        "/User/PhoneNumber",
        get(registration::get_phone).post(registration::set_phone),
    );
    limited_routes = both(
        limited_routes,
        "/User/Email",
        get(profile::get_email).post(profile::set_email),
    );
    let limited_routes = limited_routes.route_layer(axum::middleware::from_fn_with_state(
        Arc::clone(app),
        limited,
    ));
    Router::new()
        .merge(limited_routes)
        .route(
            "/Registration/TryFinishRegistration",
            post(registration::try_finish),
        )
        .route("/user/actions", get(registration::actions))
        .route("/User/actions", get(registration::actions))
        .route(
            "/User/AcceptTenderOffer",
            post(registration::accept_tender_offer),
        )
        .route("/User/Questions", get(registration::questions))
        .route("/User/Answers", post(profile::answers))
        .route(
            "/Cards/EmitVirtual",
            get(profile::get_emit_virtual)
                .put(profile::emit_virtual)
                .post(profile::emit_virtual),
        )
        .route("/User/Balance", get(account::balance))
        .route("/User/DetailedBalance", get(account::detailed_balance))
        .route("/User", get(account::user))
        .route("/Cards", get(account::member_cards))
        .route("/History", get(account::history))
        .route("/authorizationService/token", post(token::token))
        .route(
            &format!("{purchase}/Calculate"),
            post(processing::calculate),
        )
        .route(
            &format!("{purchase}/Bonus/Available"),
            post(processing::available),
        )
        .route(
            &format!("{purchase}/Bonus/Payment"),
            post(processing::payment),
        )
        .route(&format!("{purchase}/Bonus"), post(processing::bonus))
        .route(&format!("{purchase}/Confirm"), post(processing::confirm))
        .route(&format!("{purchase}/Cancel"), post(processing::cancel))
        .route(
            &format!("{purchase}/Operations/{{operationId}}/Cancel"),
            post(processing::cancel_operation),
        )
        .route(&format!("{purchase}/Refund"), post(processing::refund))
        .route("/Batch/BalanceChanges", post(batch::balance_changes))
        .route("/Certificates/Types", post(certificates::define_type))
        .route(
            "/Certificates/Templates",
            post(certificates::define_template),
        )
        .route("/Certificates/Issues", post(certificates::create_issue))
        .route("/Certificates/Import", post(certificates::import))
        .route(
            "/Certificates/Imports/{importId}",
            get(certificates::get_import),
        )
        .route("/Certificates/Find", post(certificates::find))
        .route("/Processing/Balance", post(loyalty::balance))
        .route(
            "/Processing/getPossibleLoyalty",
            post(loyalty::possible_loyalty),
        )
}

/// The whole HTTP application.
pub fn router(app: Arc<App>, max_body_bytes: usize) -> Router {
    let mut router = Router::new();
    for prefix in PREFIXES {
        router = router.nest(prefix, api(&app));
    }
    router
        // The seed's History path of version 1.1.
        .route("/api/v1.1/History", get(account::history))
        // OAuth2's token endpoint at the root, where OAuth clients look.
        .route("/authorizationService/token", post(token::token))
        // The payment gateway's own path for its SOAP service (seed 003).
        .route(
            "/webservices/merchant/loyalty",
            post(loyalty::possible_loyalty),
        )
        .route("/openapi.json", get(openapi::json))
        .route("/docs", get(docs))
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .fallback(|| async { GatewayError::NotFound("no such path; see /openapi.json") })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(app)
}

/// A page rendering `/openapi.json` for people (Redoc from its CDN, loaded
/// by the reader's browser; the gateway serves only this page).
async fn docs() -> impl IntoResponse {
    Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Loyalty platform API</title></head>\
         <body><redoc spec-url=\"/openapi.json\"></redoc>\
         <script src=\"https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js\"></script>\
         </body></html>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_read_as_the_seeds() {
        assert_eq!(
            pascal("USER_ACTION_TYPE_ACCEPT_TENDER_OFFER", "USER_ACTION_TYPE_"),
            "AcceptTenderOffer"
        );
        assert_eq!(
            pascal("HISTORY_ROW_TYPE_REWARD_DATA", "HISTORY_ROW_TYPE_"),
            "RewardData"
        );
        assert_eq!(pascal("FIELD_TYPE_STRING", "FIELD_TYPE_"), "String");
    }

    #[test]
    fn parse_errors_name_the_field_and_not_the_value() {
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            #[allow(dead_code)]
            pan: String,
        }
        let Err(GatewayError::Invalid(errors)) =
            parse_json::<Body>(br#"{"pan": 4276010013866254}"#)
        else {
            panic!("refused")
        };
        assert_eq!(errors[0].field, "pan");
        assert!(!errors[0].error_messages[0].contains("4276"), "{errors:?}");
        let Err(GatewayError::Invalid(errors)) = parse_json::<Body>(b"{") else {
            panic!("refused")
        };
        assert_eq!(errors[0].field, "body");
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let cut = bounded(&"я".repeat(500));
        assert!(cut.len() <= MAX_PARSE_MESSAGE + 3, "{}", cut.len());
        assert!(cut.ends_with('…'));
    }
}
