//! The expiry scheduler: expires due buckets and releases lapsed holds,
//! exactly once, also after downtime (what fell due while the service was
//! down is expired on start).

use std::sync::Arc;
use std::time::Duration;

use kit::aggregate::Repository;
use kit::log::Metadata;
use kit::projection::ProjectionHandle;
use tokio_util::sync::CancellationToken;

use crate::domain::account::{Account, AccountKey, Command};
use crate::grpc::Clock;
use crate::projections::expiry::{DUE, due_until, parse_due_key};

/// Finds accounts with due buckets or lapsed holds and expires them: one
/// [`Command::Expire`] per account, which the account decides (it records
/// what is due and nothing else, so a repeat, a restart or a race with an
/// operation on the account never expires anything twice).
pub struct ExpiryScheduler {
    repo: Arc<Repository<Account>>,
    schedule: ProjectionHandle,
    clock: Clock,
}

impl ExpiryScheduler {
    /// A scheduler over the accounts in `repo`, using the expiry `schedule`.
    pub fn new(repo: Arc<Repository<Account>>, schedule: ProjectionHandle, clock: Clock) -> Self {
        Self {
            repo,
            schedule,
            clock,
        }
    }

    /// Expires everything due now (buckets and holds); returns how many
    /// accounts had something due.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let now = (self.clock)();
        // The schedule must have seen every event durable so far.
        let head = self.repo.log().head();
        anyhow::ensure!(
            self.schedule.wait_for(head, Duration::from_secs(30)).await,
            "expiry schedule is behind the log"
        );
        let mut streams = std::collections::BTreeSet::new();
        for prefix in DUE {
            for row in self
                .schedule
                .tree()
                .range(vec![prefix]..due_until(prefix, now))
            {
                let (key, _) = row?;
                if let Some((_, stream)) = parse_due_key(&key) {
                    streams.insert(stream);
                }
            }
        }
        for stream in &streams {
            let Some(key) = AccountKey::from_stream(stream) else {
                tracing::error!(%stream, "unexpected stream in the expiry schedule");
                continue;
            };
            let expire = Command::Expire { key, now };
            // One failing account must not keep the others from expiring.
            if let Err(error) = self
                .repo
                .execute(stream, &expire, None, Metadata::default(), |_, _| {
                    Vec::new()
                })
                .await
            {
                tracing::error!(%stream, %error, "expiry failed for an account");
            }
        }
        Ok(streams.len())
    }

    /// Runs [`ExpiryScheduler::run_once`] every `interval` until `shutdown`.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            match self.run_once().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(accounts = n, "expired due buckets and holds"),
                Err(error) => tracing::error!(error = format!("{error:#}"), "expiry run failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
