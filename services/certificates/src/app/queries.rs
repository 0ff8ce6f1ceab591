//! Reads: a certificate by any of its identifiers.

use std::sync::Arc;

use kit::aggregate::Repository;
use kit::log::EventLog;

use crate::domain::certificate::Certificate;
use crate::domain::claim::{self, IdentifierClaim};
use crate::domain::identifiers::IdKind;
use crate::error::ApiError;

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

    /// The stream of the certificate whose `kind` identifier is `value`.
    pub fn stream_of(&self, kind: IdKind, value: &str) -> Result<String, ApiError> {
        let (claim, _) = self
            .claims
            .load(&claim::stream(kind, value))
            .map_err(|e| ApiError::Unexpected(anyhow::Error::new(e)))?;
        let owner = claim
            .owner
            .ok_or_else(|| ApiError::NotFound(format!("{kind} {}", kit::status::quote(value))))?;
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

    /// The certificate whose `kind` identifier is `value`.
    pub fn by_identifier(&self, kind: IdKind, value: &str) -> Result<Certificate, ApiError> {
        let not_found = || ApiError::NotFound(format!("{kind} {}", kit::status::quote(value)));
        let certificate = self.load(&self.stream_of(kind, value)?)?;
        if certificate.id.is_empty() {
            // Claimed by a line whose certificate was not recorded (yet).
            return Err(not_found());
        }
        Ok(certificate)
    }
}
