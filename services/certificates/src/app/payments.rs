//! Paying with a certificate: the purchase's holds, captures, releases and
//! refunds, on the certificate any of its identifiers names.

use std::sync::Arc;

use kit::aggregate::{Repository, RepositoryError};
use kit::clock::Clock;
use kit::log::{EventLog, Metadata};

use crate::app::queries::Queries;
use crate::domain::certificate::{Certificate, CertificateError, Command};
use crate::domain::identifiers::IdKind;
use crate::domain::redemption::Use;
use crate::error::ApiError;

/// Payment steps on certificates.
pub struct Payments {
    certificates: Repository<Certificate>,
    queries: Queries,
    clock: Clock,
}

impl Payments {
    /// Payments over `log`, dated by `clock`.
    pub fn new(log: Arc<EventLog>, clock: Clock) -> Self {
        Self {
            certificates: Repository::new(Arc::clone(&log)),
            queries: Queries::new(log),
            clock,
        }
    }

    /// Runs the use `step` makes of today's date on the certificate whose
    /// `kind` identifier is `value`; the certificate after it.
    pub async fn run(
        &self,
        kind: IdKind,
        value: &str,
        step: impl FnOnce(chrono::NaiveDate) -> Use,
    ) -> Result<Certificate, ApiError> {
        let stream = self.queries.stream_of(kind, value)?;
        let command = Command::Use(step((self.clock)().date_naive()));
        self.certificates
            .execute(&stream, &command, None, Metadata::default(), |_, _| {
                Vec::new()
            })
            .await
            .map_err(|e| match e {
                RepositoryError::Domain(CertificateError::Use(e)) => ApiError::Use(e),
                RepositoryError::Domain(other) => ApiError::Unexpected(anyhow::Error::new(other)),
                RepositoryError::Log(e) => ApiError::Log(e),
                other => ApiError::Unexpected(anyhow::Error::new(other)),
            })?;
        self.queries.load(&stream)
    }
}
