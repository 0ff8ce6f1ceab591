//! The public HTTP API: the routes under both prefixes (`/api/v1/`, the
//! seeds', and `/publicapi/v1.2/`, the current public form), the body
//! extractor that turns bad JSON into the envelope's `validationErrors`,
//! health, `/openapi.json` and `/docs`.

pub mod cheque;
pub mod loyalty;
pub mod observe;
pub mod openapi;
pub mod processing;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

use crate::auth::PartnerKeys;
use crate::error::GatewayError;
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
    /// The partner devices.
    pub partners: PartnerKeys,
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
        serde_json::from_slice(bytes)
            .map(JsonBody)
            .map_err(|e| body_error(&e))
    }
}

/// A JSON parser's complaint as a validation error (bounded: a parser may
/// quote the bad value).
pub fn body_error(e: &serde_json::Error) -> GatewayError {
    let mut message = e.to_string();
    if message.len() > MAX_PARSE_MESSAGE {
        let mut cut = MAX_PARSE_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    GatewayError::invalid("body", message)
}

/// The routes of one prefix.
fn api() -> Router<Arc<App>> {
    let purchase = "/Processing/Purchases/{purchaseId}";
    Router::new()
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
        .route(&format!("{purchase}/Refund"), post(processing::refund))
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
        router = router.nest(prefix, api());
    }
    router
        // The payment gateway's own path for its SOAP service (seed 003).
        .route(
            "/webservices/merchant/loyalty",
            post(loyalty::possible_loyalty),
        )
        .route("/openapi.json", get(openapi::json))
        .route("/docs", get(docs))
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(|| async { "ok" }))
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
