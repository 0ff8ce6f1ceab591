//! Checking a request field by field: every bad field is named in one
//! answer, and what passed comes out typed (no re-parsing, no `expect`).
//! The accumulator is the kit's ([`kit::status::Violations`]); this adds
//! the identity service's error.

pub use kit::status::Violations;

use crate::error::ApiError;

/// The end of a check, as the service's error.
pub trait Done {
    /// `value` when no field was bad; else every violation, as
    /// INVALID_ARGUMENT.
    fn done<T>(self, value: Option<T>) -> Result<T, ApiError>;
}

impl Done for Violations {
    fn done<T>(self, value: Option<T>) -> Result<T, ApiError> {
        self.finish_with(value).map_err(ApiError::Invalid)
    }
}
