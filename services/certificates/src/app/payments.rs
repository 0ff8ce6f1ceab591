//! Paying with a certificate: the purchase's holds, captures, releases and
//! refunds, on the certificate any of its identifiers names.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use kit::aggregate::{Repository, RepositoryError};
use kit::clock::Clock;
use kit::log::{EventLog, Metadata};

use crate::app::queries::{Queries, Target};
use crate::domain::certificate::{Certificate, CertificateError, Command};
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

    /// Runs the use `step` makes of the time now on the certificate
    /// `target` names; the certificate after it.
    pub async fn run(
        &self,
        target: &Target,
        step: impl FnOnce(DateTime<Utc>) -> Use,
    ) -> Result<Certificate, ApiError> {
        let (stream, _) = self.queries.find(target)?;
        let command = Command::Use(step((self.clock)()));
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

    /// Now, by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }
}
