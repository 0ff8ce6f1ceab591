//! `authorizationService/token`: OAuth2's token endpoint for members
//! (RFC 6749 §4.3, the password grant). The form's `username` is the
//! member's login (phone or card number); identity checks the password and
//! issues the token. Answers are OAuth2's, not the envelope: `access_token`,
//! `token_type`, `expires_in`; errors `{"error", "error_description"}`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderValue, StatusCode, header};
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
    /// `password`.
    pub grant_type: String,
    /// The member's login: phone or card number.
    pub username: String,
    /// The member's password.
    pub password: String,
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
}

/// An OAuth2 error answer.
#[derive(Clone, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `slow_down`, `temporarily_unavailable`.
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

/// A member logs in with login and password.
#[utoipa::path(post, path = "/authorizationService/token", tag = "User",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant (wrong login or password), unsupported_grant_type", body = OAuthError),
        (status = 429, description = "Too many attempts (slow_down)", body = OAuthError),
        (status = 503, description = "A service is unavailable (temporarily_unavailable, with an error id that is in the log)", body = OAuthError),
        (status = 504, description = "No answer in time (the envelope, messageCode Timeout)", body = crate::envelope::Envelope<serde_json::Value>),
    ))]
pub async fn token(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: Result<Form<TokenRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a form-encoded body with grant_type, username and password is expected",
        );
    };
    if let Err(GatewayError::RateLimited { retry_after_secs }) = app
        .limits
        .check_address(peer.ip())
        .and_then(|()| app.limits.check_login(&form.username))
    {
        let mut r = oauth(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            format!("retry in {retry_after_secs} s"),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        return r;
    }
    if form.grant_type != "password" {
        return oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=password is supported",
        );
    }
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
    match known_login(&app, &form.username).await {
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
    let expires_in = match up
        .auth()
        .authenticate(up.request(pb::AuthenticateRequest {
            token: begun.auth_token.clone(),
        }))
        .await
    {
        Ok(a) => a
            .into_inner()
            .expires_at
            .map(|t| t.seconds - chrono::Utc::now().timestamp())
            .unwrap_or(0)
            .max(0),
        Err(s) => return unavailable(s),
    };
    let mut r = Json(TokenResponse {
        access_token: begun.auth_token,
        token_type: "bearer",
        expires_in,
    })
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
