//! The timeout sweep: a purchase left unconfirmed longer than the confirm
//! timeout is cancelled in the ledger and recorded as timed out, exactly
//! once (its own key), also after downtime (what fell due while the service
//! was down is swept at start).

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use kit::clock::Clock;
use kit::projection::ProjectionHandle;
use tokio_util::sync::CancellationToken;

use crate::app::steps::Steps;
use crate::projections::open::opened_before;

/// Cancels purchases that stayed open too long.
pub struct Sweep {
    steps: Arc<Steps>,
    open: ProjectionHandle,
    clock: Clock,
    timeout: TimeDelta,
}

impl Sweep {
    /// A sweep over the `open` purchases projection, timing out purchases
    /// open longer than `timeout_secs`.
    pub fn new(steps: Arc<Steps>, open: ProjectionHandle, clock: Clock, timeout_secs: u32) -> Self {
        Self {
            steps,
            open,
            clock,
            timeout: TimeDelta::seconds(i64::from(timeout_secs)),
        }
    }

    /// Times out every purchase due now; returns how many.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let head = self.steps.head();
        anyhow::ensure!(
            self.open.wait_for(head, Duration::from_secs(30)).await,
            "the open-purchases projection is behind the log"
        );
        let now = (self.clock)();
        let Some(cutoff) = now.checked_sub_signed(self.timeout) else {
            return Ok(0);
        };
        let due = opened_before(self.open.tree(), cutoff)?;
        for (purchase_id, opened) in &due {
            let deadline = *opened + self.timeout;
            // One failing purchase must not keep the others open.
            if let Err(error) = self.steps.time_out(purchase_id, deadline).await {
                tracing::error!(%purchase_id, %error, "timing out a purchase failed");
            }
        }
        Ok(due.len())
    }

    /// Runs [`Sweep::run_once`] every `interval` until `shutdown`.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            match self.run_once().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purchases = n, "timed out unconfirmed purchases"),
                Err(error) => tracing::error!(error = format!("{error:#}"), "timeout sweep failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
