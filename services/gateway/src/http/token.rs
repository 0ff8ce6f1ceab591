//! `authorizationService/token`: OAuth2's token endpoint (RFC 6749).
//!
//! - `grant_type=password` (§4.3), for members: `username` is the member's
//!   login (phone or card number); identity checks the password and issues
//!   the token and a refresh token.
//! - `grant_type=refresh_token` (§6): a refresh token for a new pair; the
//!   old pair stops working, and a refresh token traded twice ends the
//!   session (identity's `RefreshToken`).
//! - `grant_type=client_credentials` (§4.4), for partner devices: the
//!   device's name as `client_id` and its API key as `client_secret` (HTTP
//!   Basic or the form) for a short-lived device token
//!   ([`crate::device_token`]).
//!
//! Answers are OAuth2's, not the envelope: `access_token`, `token_type`,
//! `expires_in`, `refresh_token`; errors `{"error", "error_description"}`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loyalty_proto::identity::v1 as pb;
use serde::{Deserialize, Serialize};
use tonic::Code;
use utoipa::ToSchema;

use super::App;
use crate::error::GatewayError;

/// The token request (form-encoded).
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct TokenRequest {
    /// `password`, `refresh_token` or `client_credentials`.
    pub grant_type: String,
    /// password: the member's login, phone or card number.
    pub username: String,
    /// password: the member's password.
    pub password: String,
    /// refresh_token: the refresh token.
    pub refresh_token: String,
    /// client_credentials: the device's name (or in HTTP Basic).
    pub client_id: String,
    /// client_credentials: the device's API key (or in HTTP Basic).
    pub client_secret: String,
    /// Ignored (every token has the scope of its holder).
    pub scope: String,
}

/// The token.
#[derive(Clone, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The member's token: `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// `bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// A member's refresh token (`grant_type=refresh_token`); none for a
    /// device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// An OAuth2 error answer.
#[derive(Clone, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`, `slow_down`, `temporarily_unavailable`.
    pub error: &'static str,
    /// What went wrong.
    pub error_description: String,
}

fn oauth(status: StatusCode, error: &'static str, description: impl Into<String>) -> Response {
    let mut r = (
        status,
        Json(OAuthError {
            error,
            error_description: description.into(),
        }),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

const WRONG: &str = "wrong login or password, or the registration is not finished";

/// A service failing: OAuth2's `temporarily_unavailable`, the cause logged
/// under an error id.
fn unavailable(status: tonic::Status) -> Response {
    let error_id = uuid::Uuid::now_v7();
    tracing::error!(%error_id, code = ?status.code(), error = %status.message(), "token endpoint failed");
    oauth(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        format!("retry later; error id {error_id}"),
    )
}

/// Whether `login` is a card bound to a member or a member's confirmed
/// phone.
async fn known_login(app: &App, login: &str) -> Result<bool, tonic::Status> {
    let up = &app.upstream;
    let quiet = |s: &tonic::Status| {
        matches!(
            s.code(),
            Code::NotFound | Code::InvalidArgument | Code::FailedPrecondition
        )
    };
    if login.bytes().all(|b| b.is_ascii_digit()) {
        match up
            .cards()
            .lookup_card(up.request(pb::LookupCardRequest {
                card_number: login.to_owned(),
            }))
            .await
        {
            Ok(r) if !r.get_ref().member_id.is_empty() => return Ok(true),
            Ok(_) => {}
            Err(s) if quiet(&s) => {}
            Err(s) => return Err(s),
        }
    }
    match up
        .members()
        .find_member(up.request(pb::FindMemberRequest {
            key: Some(pb::find_member_request::Key::Phone(login.to_owned())),
        }))
        .await
    {
        Ok(_) => Ok(true),
        Err(s) if quiet(&s) => Ok(false),
        Err(s) => Err(s),
    }
}

/// Seconds from now until `at` (0 when past or unknown).
fn seconds_until(at: Option<chrono::DateTime<chrono::Utc>>) -> i64 {
    at.map_or(0, |t| (t - chrono::Utc::now()).num_seconds().max(0))
}

/// The token answer, not to be cached.
fn issued(
    access_token: String,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    refresh_token: Option<String>,
) -> Response {
    let mut r = Json(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: seconds_until(expires_at),
        refresh_token: refresh_token.filter(|t| !t.is_empty()),
    })
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn too_many(retry_after_secs: u64) -> Response {
    let mut r = oauth(
        StatusCode::TOO_MANY_REQUESTS,
        "slow_down",
        format!("retry in {retry_after_secs} s"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    r
}

fn timestamp(t: Option<loyalty_proto::wkt::Timestamp>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| t.try_into().ok())
}

/// Issues a token: to a member (password, refresh_token) or to a partner
/// device (client_credentials).
#[utoipa::path(post, path = "/authorizationService/token", tag = "User",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant (wrong login or password; unknown, expired or reused refresh token), unsupported_grant_type", body = OAuthError),
        (status = 401, description = "invalid_client (client_credentials: unknown device or wrong key)", body = OAuthError),
        (status = 429, description = "Too many attempts (slow_down)", body = OAuthError),
        (status = 503, description = "A service is unavailable (temporarily_unavailable, with an error id that is in the log)", body = OAuthError),
        (status = 504, description = "No answer in time (the envelope, messageCode Timeout)", body = crate::envelope::Envelope<serde_json::Value>),
    ))]
pub async fn token(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a form-encoded body with grant_type and its parameters is expected",
        );
    };
    let limited = match form.grant_type.as_str() {
        "password" => form.username.as_str(),
        "refresh_token" => form.refresh_token.as_str(),
        _ => form.client_id.as_str(),
    };
    if let Err(GatewayError::RateLimited { retry_after_secs }) = app
        .limits
        .check_address(app.client(peer, &headers))
        .and_then(|()| app.limits.check_login(limited))
    {
        return too_many(retry_after_secs);
    }
    match form.grant_type.as_str() {
        "password" => password_grant(&app, form).await,
        "refresh_token" => refresh_grant(&app, &form.refresh_token).await,
        "client_credentials" => client_credentials(&app, &headers, form),
        _ => oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type is password, refresh_token or client_credentials",
        ),
    }
}

/// A member logs in with login and password.
async fn password_grant(app: &App, form: TokenRequest) -> Response {
    if form.username.is_empty() || form.password.is_empty() {
        return oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username and password are required",
        );
    }
    let up = &app.upstream;
    // Only a known member logs in here: an unknown login must not open a
    // registration (nor send it a code) as BeginRegistration would.
    match known_login(app, &form.username).await {
        Ok(true) => {}
        Ok(false) => return oauth(StatusCode::BAD_REQUEST, "invalid_grant", WRONG),
        Err(s) => return unavailable(s),
    }
    let begun = up
        .registration()
        .begin_registration(up.request(pb::BeginRegistrationRequest {
            login: form.username,
            password: form.password,
        }))
        .await;
    let begun = match begun {
        Ok(b) => b.into_inner(),
        Err(s) if s.code() == Code::ResourceExhausted => {
            return oauth(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "too many failed attempts; retry later",
            );
        }
        Err(s)
            if matches!(
                s.code(),
                Code::Unauthenticated
                    | Code::NotFound
                    | Code::InvalidArgument
                    | Code::PermissionDenied
                    | Code::FailedPrecondition
            ) =>
        {
            return oauth(StatusCode::BAD_REQUEST, "invalid_grant", WRONG);
        }
        Err(s) => return unavailable(s),
    };
    if begun.auth_token.is_empty() || !begun.registration_completed {
        return oauth(StatusCode::BAD_REQUEST, "invalid_grant", WRONG);
    }
    issued(
        begun.auth_token,
        timestamp(begun.auth_token_expires_at),
        Some(begun.refresh_token),
    )
}

/// A member's refresh token for a new pair.
async fn refresh_grant(app: &App, refresh_token: &str) -> Response {
    if refresh_token.is_empty() || refresh_token.len() > crate::auth::MAX_CREDENTIAL_LEN {
        return oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is required (at most 1024 characters)",
        );
    }
    let up = &app.upstream;
    let answer = up
        .auth()
        .refresh_token(up.request(pb::RefreshTokenRequest {
            refresh_token: refresh_token.to_owned(),
        }))
        .await;
    match answer {
        Ok(r) => {
            let r = r.into_inner();
            issued(
                r.auth_token,
                timestamp(r.auth_token_expires_at),
                Some(r.refresh_token),
            )
        }
        Err(s) if matches!(s.code(), Code::Unauthenticated | Code::InvalidArgument) => oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the refresh token is unknown, expired or already used; log in again",
        ),
        Err(s) => unavailable(s),
    }
}

/// A partner device's name and key (HTTP Basic, else the form) for a
/// device token.
fn client_credentials(app: &App, headers: &HeaderMap, form: TokenRequest) -> Response {
    if !app.keys.issues_device_tokens() {
        return oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "client_credentials is not enabled on this gateway (--device-token-key-file)",
        );
    }
    let (id, secret) = crate::auth::basic(headers).unwrap_or((form.client_id, form.client_secret));
    if id.is_empty() || secret.is_empty() {
        return oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and client_secret are required (HTTP Basic or the form)",
        );
    }
    match app.keys.device_token(&id, &secret) {
        Some(t) => issued(t.token, Some(t.expires_at), None),
        None => {
            let mut r = oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client or wrong secret",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"loyalty\""),
            );
            r
        }
    }
}
