//! The expiry sweep: a Prepared or Activated certificate whose expiration
//! date has passed becomes Expired, exactly once (the certificate decides:
//! an expired one expires no more), also after downtime (what fell due
//! while the service was down is expired at start).

use std::sync::Arc;
use std::time::Duration;

use kit::aggregate::{Executed, Repository};
use kit::clock::Clock;
use kit::log::{EventLog, Metadata};
use kit::projection::ProjectionHandle;
use tokio_util::sync::CancellationToken;

use crate::domain::certificate::{Certificate, Command};
use crate::projections::expiring::due;

/// Expires certificates past their date.
pub struct Expiry {
    certificates: Repository<Certificate>,
    log: Arc<EventLog>,
    expiring: ProjectionHandle,
    clock: Clock,
}

impl Expiry {
    /// A sweep over the `expiring` projection of `log`.
    pub fn new(log: Arc<EventLog>, expiring: ProjectionHandle, clock: Clock) -> Self {
        Self {
            certificates: Repository::new(Arc::clone(&log)),
            log,
            expiring,
            clock,
        }
    }

    /// Expires every certificate due today; returns how many expired.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let head = self.log.head();
        anyhow::ensure!(
            self.expiring.wait_for(head, Duration::from_secs(30)).await,
            "the expiring projection is behind the log"
        );
        let today = (self.clock)().date_naive();
        let mut expired = 0;
        for id in due(self.expiring.tree(), today)? {
            let done = self
                .certificates
                .execute(
                    &format!("certificate/{id}"),
                    &Command::Expire { today },
                    None,
                    Metadata::default(),
                    |_, events| vec![u8::from(!events.is_empty())],
                )
                .await;
            match done {
                Ok(Executed::Applied { reply, .. } | Executed::Repeated { reply }) => {
                    expired += usize::from(reply.first() == Some(&1));
                }
                // One failing certificate must not keep the others alive.
                Err(error) => tracing::error!(certificate = %id, %error, "expiring failed"),
            }
        }
        Ok(expired)
    }

    /// Runs [`Expiry::run_once`] every `interval` until `shutdown`.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            match self.run_once().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(certificates = n, "expired certificates"),
                Err(error) => tracing::error!(error = format!("{error:#}"), "expiry sweep failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
