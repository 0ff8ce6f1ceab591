//! Expiry: due buckets expire exactly once, by the scheduler or lazily,
//! partly spent buckets expire only what is left, and what fell due while
//! the service was down is expired when it starts again.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use kit::aggregate::Repository;
use kit::log::{EventLog, Metadata};
use kit::projection::ProjectionRunner;
use ledger::domain::account::{Account, AccountKey, Command};
use ledger::expiry::ExpiryScheduler;
use ledger::grpc::Clock;
use ledger::projections::expiry::ExpirySchedule;
use loyalty_proto::ledger::v1 as pb;
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn key(member: &str) -> AccountKey {
    AccountKey {
        member_id: member.into(),
        currency: "BONUS".into(),
    }
}

/// A log, repository, projection runner and scheduler on `dir`, at the
/// time held by `now`.
struct Ledger {
    log: Arc<EventLog>,
    repo: Arc<Repository<Account>>,
    scheduler: ExpiryScheduler,
    shutdown: CancellationToken,
    runner: tokio::task::JoinHandle<()>,
}

impl Ledger {
    fn open(dir: &std::path::Path, now: &Arc<AtomicI64>) -> Self {
        let log = EventLog::open(dir).unwrap();
        let repo = Arc::new(Repository::<Account>::new(Arc::clone(&log)));
        let mut runner = ProjectionRunner::new(Arc::clone(&log));
        let schedule = runner.add(Arc::new(ExpirySchedule)).unwrap();
        let shutdown = CancellationToken::new();
        let runner = tokio::spawn(runner.run(shutdown.clone()));
        let now = Arc::clone(now);
        let clock: Clock =
            Arc::new(move || DateTime::from_timestamp_micros(now.load(Ordering::SeqCst)).unwrap());
        let scheduler = ExpiryScheduler::new(Arc::clone(&repo), schedule, clock);
        Self {
            log,
            repo,
            scheduler,
            shutdown,
            runner,
        }
    }

    /// Stops the runner and closes the log, releasing sled's file lock.
    async fn stop(self) -> u64 {
        self.shutdown.cancel();
        self.runner.await.unwrap();
        let head = self.log.head();
        self.log.close();
        head
    }

    async fn run(&self, command: Command) {
        let stream = command.key_and_time().0.stream();
        self.repo
            .execute(&stream, &command, None, Metadata::default(), |_, _| {
                Vec::new()
            })
            .await
            .unwrap();
    }

    fn expired(&self) -> Vec<(String, Decimal)> {
        self.log
            .iter_from(1)
            .map(Result::unwrap)
            .filter(|e| e.event_type == "loyalty.ledger.v1.PointsExpired")
            .map(|e| {
                let m: pb::PointsExpired = prost::Message::decode(e.payload.as_slice()).unwrap();
                (m.account.unwrap().member_id, m.amount.parse().unwrap())
            })
            .collect()
    }
}

fn accrue(member: &str, op: &str, amount: i64, days: Option<i64>) -> Command {
    Command::Accrue {
        key: key(member),
        operation_id: op.into(),
        amount: Decimal::from(amount),
        lifetime: "test".into(),
        expires_at: days.map(|d| t0() + Duration::days(d)),
        kind: pb::OperationKind::Regular,
        reward_type: pb::RewardType::Bonus,
        context: Default::default(),
        now: t0(),
    }
}

fn withdraw(member: &str, op: &str, amount: i64) -> Command {
    Command::Withdraw {
        key: key(member),
        operation_id: op.into(),
        amount: Decimal::from(amount),
        kind: pb::OperationKind::Regular,
        withdraw_type: pb::WithdrawType::Bonus,
        context: Default::default(),
        now: t0(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_buckets_expire_exactly_once_and_catch_up_after_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicI64::new(t0().timestamp_micros()));
    let set = |t: DateTime<Utc>| now.store(t.timestamp_micros(), Ordering::SeqCst);
    let l = Ledger::open(dir.path(), &now);
    l.run(accrue("early", "a1", 30, Some(10))).await;
    l.run(accrue("early", "a2", 5, None)).await;
    l.run(accrue("late", "a1", 40, Some(20))).await;
    l.run(accrue("partly", "a1", 10, Some(5))).await;
    l.run(withdraw("partly", "w1", 4)).await;
    l.run(accrue("spent", "a1", 10, Some(5))).await;
    l.run(withdraw("spent", "w1", 10)).await;

    assert_eq!(l.scheduler.run_once().await.unwrap(), 0, "nothing due yet");
    set(t0() + Duration::days(10));
    // "partly" (6 left) and "early" (30) are due; "spent" has nothing left.
    assert_eq!(l.scheduler.run_once().await.unwrap(), 2);
    let mut expired = l.expired();
    expired.sort();
    assert_eq!(
        expired,
        [
            ("early".to_owned(), Decimal::from(30)),
            ("partly".to_owned(), Decimal::from(6))
        ]
    );
    assert_eq!(l.scheduler.run_once().await.unwrap(), 0, "exactly once");
    assert_eq!(l.expired().len(), 2);
    assert_eq!(
        l.repo
            .load("account/early/BONUS")
            .unwrap()
            .0
            .available(t0() + Duration::days(10)),
        Decimal::from(5)
    );

    // Down from day 10 to day 30: "late" fell due meanwhile.
    l.stop().await;
    set(t0() + Duration::days(30));
    let l = Ledger::open(dir.path(), &now);
    assert_eq!(l.scheduler.run_once().await.unwrap(), 1);
    assert_eq!(l.scheduler.run_once().await.unwrap(), 0);
    let expired = l.expired();
    assert_eq!(expired.len(), 3);
    assert!(expired.contains(&("late".to_owned(), Decimal::from(40))));

    // A rebuild from the log equals the live schedule.
    let head = l.stop().await;
    let report =
        kit::projection::rebuild(&EventLog::open(dir.path()).unwrap(), &ExpirySchedule).unwrap();
    assert_eq!(report.events, head);
    assert_eq!(report.differences, 0);
}
