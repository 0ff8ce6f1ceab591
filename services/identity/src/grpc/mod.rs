//! The gRPC edge: requests in, use cases called, answers and statuses out.

pub mod check;
pub mod convert;
pub mod members;
pub mod messaging;
pub mod registration;
pub mod render;

use tonic::{Request, Response, Status};

use crate::app::{Identity, Session};
use crate::error::ApiError;

/// What a service method answers.
type Answer<T> = Result<Response<T>, Status>;

/// The answer `t`.
fn ok<T>(t: T) -> Answer<T> {
    Ok(Response::new(t))
}

/// The bearer token of a request (`authorization: Bearer <token>`).
pub fn bearer<T>(request: &Request<T>) -> Option<&str> {
    let value = request.metadata().get("authorization")?.to_str().ok()?;
    Some(
        value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value)
            .trim(),
    )
}

/// The caller's session, from the request's token.
pub fn session<T>(identity: &Identity, request: &Request<T>) -> Result<Session, ApiError> {
    let token = bearer(request).ok_or(ApiError::Unauthenticated("no token"))?;
    identity.authenticate(token)
}

/// A session with a full (not phone-reconfirmation-only) token.
pub fn full_session<T>(identity: &Identity, request: &Request<T>) -> Result<Session, ApiError> {
    let s = session(identity, request)?;
    if s.limited {
        return Err(ApiError::Unauthenticated("confirm the phone number first"));
    }
    Ok(s)
}

/// Refuses operator and service calls made with a member's token.
pub fn no_member_token<T>(request: &Request<T>) -> Result<(), ApiError> {
    match bearer(request) {
        Some(_) => Err(ApiError::Forbidden),
        None => Ok(()),
    }
}
