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

    /// The certificate whose `kind` identifier is `value`.
    pub fn by_identifier(&self, kind: IdKind, value: &str) -> Result<Certificate, ApiError> {
        let not_found = || ApiError::NotFound(format!("{kind} {}", kit::status::quote(value)));
        let (claim, _) = self
            .claims
            .load(&claim::stream(kind, value))
            .map_err(|e| ApiError::Unexpected(anyhow::Error::new(e)))?;
        let owner = claim.owner.ok_or_else(not_found)?;
        let (certificate, _) = self
            .certificates
            .load(&format!("certificate/{owner}"))
            .map_err(|e| ApiError::Unexpected(anyhow::Error::new(e)))?;
        if certificate.id.is_empty() {
            // Claimed by a line whose certificate was not recorded (yet).
            return Err(not_found());
        }
        Ok(certificate)
    }
}
