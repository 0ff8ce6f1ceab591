//! Checking a request field by field: every bad field is named in one
//! answer, and what passed comes out typed (no re-parsing, no `expect`).

use std::fmt::Display;

use tonic_types::FieldViolation;

use crate::error::ApiError;

/// The violations of one request, gathered before any is answered.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is bad, and why.
    pub fn bad(&mut self, field: &str, why: impl Into<String>) {
        self.0.push(FieldViolation::new(field, why));
    }

    /// The value a check of `field` gave, or `None` with its error recorded.
    pub fn check<T, E: Display>(&mut self, field: &str, checked: Result<T, E>) -> Option<T> {
        checked.map_err(|e| self.bad(field, e.to_string())).ok()
    }

    /// `value` when no field was bad; else every violation, as
    /// INVALID_ARGUMENT. (`value` is `None` only when a check failed.)
    pub fn done<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            Some(_) | None => Err(ApiError::Invalid(self.0)),
        }
    }
}
