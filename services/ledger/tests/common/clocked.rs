//! The ledger's parts on a data dir, in process, at a time the test sets:
//! the event log, the account repository, the projections, the expiry
//! scheduler (run by hand with [`Ledger::expire`]) and the gRPC API (called
//! without a socket). Reopening the same dir is a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use kit::aggregate::Repository;
use kit::log::{EventLog, Metadata, RecordedEvent};
use kit::projection::ProjectionRunner;
use ledger::app::batch::BatchApplier;
use ledger::app::catalog::CatalogHandle;
use ledger::app::expiry::ExpiryScheduler;
use ledger::config::HoldTtl;
use ledger::domain::account::{Account, Command};
use ledger::grpc::{Clock, LedgerApi};
use ledger::members::MemberNoIsMemberId;
use ledger::projections::expiry::ExpirySchedule;
use ledger::projections::history::History;
use tokio_util::sync::CancellationToken;

/// The time every part reads, settable by the test.
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    /// A clock standing at `t`.
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Arc::new(AtomicI64::new(t.timestamp_micros())))
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        self.0.store(t.timestamp_micros(), Ordering::SeqCst);
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0.load(Ordering::SeqCst)).unwrap()
    }

    /// The ledger's [`Clock`] reading this one.
    pub fn clock(&self) -> Clock {
        let me = self.clone();
        Arc::new(move || me.now())
    }
}

/// The ledger on one data dir.
pub struct Ledger {
    pub log: Arc<EventLog>,
    pub repo: Arc<Repository<Account>>,
    pub scheduler: ExpiryScheduler,
    pub api: LedgerApi,
    shutdown: CancellationToken,
    runners: Vec<tokio::task::JoinHandle<()>>,
}

impl Ledger {
    /// Opens (or reopens) the ledger on `dir` with the default hold TTLs.
    pub fn open(dir: &std::path::Path, clock: &TestClock) -> Self {
        Self::open_with(dir, clock, HoldTtl::default())
    }

    /// [`Ledger::open`] with hold TTL settings.
    pub fn open_with(dir: &std::path::Path, clock: &TestClock, hold_ttl: HoldTtl) -> Self {
        let log = open_log(dir);
        let repo = Arc::new(Repository::<Account>::new(Arc::clone(&log)));
        let catalog = CatalogHandle::builtin();
        // One runner per projection: a runner returns once its projections'
        // tasks are done, so after `stop` nothing holds the data dir's lock.
        let mut expiry = ProjectionRunner::new(Arc::clone(&log));
        let schedule = expiry.add(Arc::new(ExpirySchedule)).unwrap();
        let mut histories = ProjectionRunner::new(Arc::clone(&log));
        let history = histories.add(Arc::new(History)).unwrap();
        let shutdown = CancellationToken::new();
        let runners = vec![
            tokio::spawn(expiry.run(shutdown.clone())),
            tokio::spawn(histories.run(shutdown.clone())),
        ];
        let scheduler = ExpiryScheduler::new(Arc::clone(&repo), schedule, clock.clock());
        let batch = Arc::new(
            BatchApplier::new(
                Arc::clone(&repo),
                Arc::clone(&catalog),
                Arc::new(MemberNoIsMemberId),
            )
            .with_clock(clock.clock()),
        );
        let api = LedgerApi::new(Arc::clone(&repo), catalog, clock.clock(), history, batch)
            .with_hold_ttl(hold_ttl);
        Self {
            log,
            repo,
            scheduler,
            api,
            shutdown,
            runners,
        }
    }

    /// Stops the runner and closes the log, releasing sled's file lock;
    /// returns the log's head.
    pub async fn stop(self) -> u64 {
        self.shutdown.cancel();
        for runner in self.runners {
            runner.await.unwrap();
        }
        drop(self.api);
        let head = self.log.head();
        self.log.close();
        head
    }

    /// Runs a domain command without an idempotency key.
    pub async fn run(&self, command: Command) {
        let stream = command.key_and_time().0.stream();
        self.repo
            .execute(&stream, &command, None, Metadata::default(), |_, _| {
                Vec::new()
            })
            .await
            .unwrap();
    }

    /// One expiry run at the clock's time; how many accounts had something due.
    pub async fn expire(&self) -> usize {
        self.scheduler.run_once().await.unwrap()
    }

    /// Every recorded event of type `event_type` (full proto name), decoded.
    pub fn events<M: prost::Message + Default>(&self, event_type: &str) -> Vec<M> {
        self.log
            .iter_from(1)
            .map(Result::unwrap)
            .filter(|e: &RecordedEvent| e.event_type == event_type)
            .map(|e| M::decode(e.payload.as_slice()).unwrap())
            .collect()
    }
}

/// Opens the log on `dir`. sled lets go of a data dir's file lock from its
/// own background threads, shortly after the last handle of the previous
/// session is dropped: a reopen waits for that lock (and only for it), up to
/// a deadline.
pub fn open_log(dir: &std::path::Path) -> Arc<EventLog> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match EventLog::open(dir) {
            Ok(log) => return log,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                assert!(std::time::Instant::now() < deadline, "{e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
}
