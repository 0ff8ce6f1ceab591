//! Reads: a certificate by any of its identifiers, or by its own id.

use std::fmt;
use std::sync::Arc;

use kit::aggregate::Repository;
use kit::log::EventLog;

use crate::domain::certificate::Certificate;
use crate::domain::claim::{self, IdentifierClaim};
use crate::domain::identifiers::IdKind;
use crate::error::ApiError;

/// How a request names a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One of its identifiers (printed on it, on its strip or its codes).
    Identifier(IdKind, String),
    /// Its own id (`certificate_id`).
    Id(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Identifier(kind, value) => write!(f, "{kind} {}", kit::status::quote(value)),
            Target::Id(id) => write!(f, "certificate {}", kit::status::quote(id)),
        }
    }
}

/// Finds certificates.
pub struct Queries {
    certificates: Repository<Certificate>,
    claims: Repository<IdentifierClaim>,
}

impl Queries {
    /// Queries over `log`.
    pub fn new(log: Arc<EventLog>) -> Self {
        Self {
            certificates: Repository::new(Arc::clone(&log)),
            claims: Repository::new(log),
        }
    }

    /// The stream of the certificate `target` names (it may not be
    /// recorded yet: see [`Queries::find`]).
    pub fn stream_of(&self, target: &Target) -> Result<String, ApiError> {
        let owner = match target {
            Target::Id(id) => id.clone(),
            Target::Identifier(kind, value) => self
                .claims
                .load(&claim::stream(*kind, value))
                .map_err(|e| ApiError::Unexpected(anyhow::Error::new(e)))?
                .0
                .owner
                .ok_or_else(|| ApiError::NotFound(target.to_string()))?,
        };
        Ok(format!("certificate/{owner}"))
    }

    /// The certificate in `stream`.
    pub fn load(&self, stream: &str) -> Result<Certificate, ApiError> {
        Ok(self
            .certificates
            .load(stream)
            .map_err(|e| ApiError::Unexpected(anyhow::Error::new(e)))?
            .0)
    }

    /// The certificate `target` names, and its stream.
    pub fn find(&self, target: &Target) -> Result<(String, Certificate), ApiError> {
        let stream = self.stream_of(target)?;
        let certificate = self.load(&stream)?;
        if certificate.id.is_empty() {
            // No such id, or claimed by a line whose certificate was not
            // recorded (yet).
            return Err(ApiError::NotFound(target.to_string()));
        }
        Ok((stream, certificate))
    }
}
