//! Aggregates, the repository and projections, on a small wallet domain.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::sync::Arc;
use std::time::Duration;

mod common;

use common::*;
use kit::aggregate::{DomainEvent, Executed, Repository, RepositoryError, given_when};
use kit::log::{EventLog, LogError, Metadata, RecordedEvent};
use kit::projection::{self, Projection, ProjectionRunner, Rows};
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;

/// Balances per wallet and a history row per event.
struct Balances;

impl Projection for Balances {
    fn name(&self) -> &'static str {
        "balances"
    }
    fn apply(&self, rows: &mut Rows<'_>, event: &RecordedEvent) -> anyhow::Result<()> {
        let e = WalletEvent::decode(&event.event_type, &event.payload)?;
        let key = format!("b/{}", event.stream).into_bytes();
        let current = rows
            .get(&key)?
            .map(|v| i64::from_be_bytes(v.try_into().unwrap()))
            .unwrap_or(0);
        let delta = match e {
            WalletEvent::Deposited(n) => n as i64,
            WalletEvent::Withdrawn(n) => -(n as i64),
        };
        rows.insert(key, (current + delta).to_be_bytes().to_vec());
        let mut hkey = format!("h/{}/", event.stream).into_bytes();
        hkey.extend_from_slice(&event.version.to_be_bytes());
        rows.insert(hkey, delta.to_be_bytes().to_vec());
        Ok(())
    }
}

#[test]
fn given_when_then() {
    use WalletCommand::*;
    use WalletEvent::*;
    assert_eq!(
        given_when::<Wallet>(&[Deposited(10)], &Withdraw(4)),
        Ok(vec![Withdrawn(4)])
    );
    assert_eq!(
        given_when::<Wallet>(&[Deposited(10), Withdrawn(4)], &Withdraw(7)),
        Err(WalletError::Insufficient {
            available: 6,
            requested: 7
        })
    );
    assert_eq!(
        given_when::<Wallet>(&[], &Deposit(0)),
        Err(WalletError::Zero)
    );
}

#[tokio::test]
async fn repeated_command_returns_the_stored_reply_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let repo = Repository::<Wallet>::new(Arc::clone(&log));
    let cmd = WalletCommand::Deposit(10);
    let first = repo
        .execute(
            "w-1",
            &cmd,
            idem("op-1", "deposit 10"),
            Metadata::default(),
            balance_reply,
        )
        .await
        .unwrap();
    assert!(matches!(first, Executed::Applied { ref events, .. } if events.len() == 1));
    repo.execute(
        "w-1",
        &WalletCommand::Deposit(5),
        None,
        Metadata::default(),
        no_reply,
    )
    .await
    .unwrap();
    let again = repo
        .execute(
            "w-1",
            &cmd,
            idem("op-1", "deposit 10"),
            Metadata::default(),
            balance_reply,
        )
        .await
        .unwrap();
    assert!(matches!(again, Executed::Repeated { .. }));
    assert_eq!(
        again.reply(),
        10u64.to_be_bytes(),
        "the first reply, not today's balance"
    );
    assert_eq!(repo.load("w-1").unwrap().0.balance, 15);
    let other = repo
        .execute(
            "w-1",
            &WalletCommand::Deposit(99),
            idem("op-1", "deposit 99"),
            Metadata::default(),
            no_reply,
        )
        .await;
    assert!(matches!(
        other,
        Err(RepositoryError::Log(LogError::IdempotencyConflict { .. }))
    ));
    assert_eq!(log.head(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_withdrawals_never_overdraw() {
    let (_dir, log, repo) = funded::<Wallet>(100, no_reply).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let repo = Arc::clone(&repo);
        tasks.push(tokio::spawn(async move {
            repo.execute(
                "w",
                &WalletCommand::Withdraw(3),
                idem(&format!("wd-{i}"), &format!("withdraw 3 #{i}")),
                Metadata::default(),
                no_reply,
            )
            .await
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(RepositoryError::Domain(WalletError::Insufficient { .. })) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((ok, refused), (33, 31));
    let fresh = Repository::<Wallet>::new(Arc::clone(&log)).with_cache_capacity(0);
    assert_eq!(fresh.load("w").unwrap().0.balance, 1);
}

#[tokio::test]
async fn runner_keeps_projection_live_and_supports_read_your_writes() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let repo = Repository::<Wallet>::new(Arc::clone(&log));
    let mut runner = ProjectionRunner::new(Arc::clone(&log));
    let handle = runner.add(Arc::new(Balances)).unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    let done = repo
        .execute(
            "w-9",
            &WalletCommand::Deposit(7),
            None,
            Metadata::default(),
            no_reply,
        )
        .await
        .unwrap();
    let Executed::Applied { events, .. } = done else {
        panic!()
    };
    assert!(
        handle
            .wait_for(events[0].position, Duration::from_secs(10))
            .await
    );
    let v = handle.tree().get(b"b/w-9").unwrap().unwrap();
    assert_eq!(i64::from_be_bytes(v.as_ref().try_into().unwrap()), 7);
    shutdown.cancel();
    task.await.unwrap();
}

#[derive(Debug, Clone)]
enum Step {
    Command(u8, WalletCommand),
    CatchUp,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..5, 1u64..50).prop_map(|(w, n)| Step::Command(w, WalletCommand::Deposit(n))),
        4 => (0u8..5, 1u64..80).prop_map(|(w, n)| Step::Command(w, WalletCommand::Withdraw(n))),
        1 => Just(Step::CatchUp),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Over random command sequences (with the live projection catching up at
    /// random points), the rebuilt projection equals the live one byte for
    /// byte, and each balance equals the sum of its history rows and the
    /// aggregate's own state.
    #[test]
    fn rebuilt_projection_equals_live(steps in proptest::collection::vec(step(), 1..120)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let log = EventLog::open(dir.path()).unwrap();
            let repo = Repository::<Wallet>::new(Arc::clone(&log));
            let live = log.db().open_tree(projection::tree_name("balances")).unwrap();
            for s in &steps {
                match s {
                    Step::Command(w, cmd) => {
                        let _ = repo.execute(&format!("w-{w}"), cmd, None, Metadata::default(), no_reply).await;
                    }
                    Step::CatchUp => {
                        projection::catch_up(&log, &Balances, &live, |_| {}).unwrap();
                    }
                }
            }
            let report = projection::rebuild(&log, &Balances).unwrap();
            prop_assert_eq!(report.differences, 0);
            prop_assert_eq!(report.events, log.head());
            for w in 0..5u8 {
                let stream = format!("w-{w}");
                let balance = live
                    .get(format!("b/{stream}"))
                    .unwrap()
                    .map(|v| i64::from_be_bytes(v.as_ref().try_into().unwrap()))
                    .unwrap_or(0);
                let history: i64 = live
                    .scan_prefix(format!("h/{stream}/"))
                    .map(|r| i64::from_be_bytes(r.unwrap().1.as_ref().try_into().unwrap()))
                    .sum();
                prop_assert_eq!(balance, history);
                prop_assert_eq!(balance as u64, repo.load(&stream).unwrap().0.balance);
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn rebuild_reports_a_live_projection_that_drifted() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let repo = Repository::<Wallet>::new(Arc::clone(&log));
    for n in 1..=3 {
        repo.execute(
            "w",
            &WalletCommand::Deposit(n),
            None,
            Metadata::default(),
            no_reply,
        )
        .await
        .unwrap();
    }
    let live = log
        .db()
        .open_tree(projection::tree_name("balances"))
        .unwrap();
    projection::catch_up(&log, &Balances, &live, |_| {}).unwrap();
    live.insert(b"b/w", 999i64.to_be_bytes().to_vec()).unwrap();
    let report = projection::rebuild(&log, &Balances).unwrap();
    assert_eq!(report.differences, 1);
    let fixed = live.get(b"b/w").unwrap().unwrap();
    assert_eq!(i64::from_be_bytes(fixed.as_ref().try_into().unwrap()), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_racing_its_original_gets_the_original_reply() {
    let (_dir, log, repo) = funded::<Wallet>(50, no_reply).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        for _copy in 0..2 {
            let repo = Arc::clone(&repo);
            tasks.push(tokio::spawn(async move {
                repo.execute(
                    "w",
                    &WalletCommand::Withdraw(1),
                    idem(&format!("wd-{i}"), &format!("withdraw 1 #{i}")),
                    Metadata::default(),
                    balance_reply,
                )
                .await
            }));
        }
    }
    let mut applied = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Executed::Applied { .. }) => applied += 1,
            Ok(Executed::Repeated { .. }) => {}
            Err(e) => panic!("a retry must get the original's reply, got {e}"),
        }
    }
    assert_eq!(applied, 50);
    assert_eq!(repo.load("w").unwrap().0.balance, 0);
    assert_eq!(log.read_stream("w", 0).unwrap().len(), 51);
}

#[tokio::test]
async fn load_follows_every_append_whoever_made_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let repo = Repository::<Wallet>::new(Arc::clone(&log));
    let other = Repository::<Wallet>::new(Arc::clone(&log));
    assert_eq!(repo.load("wallet/c").unwrap(), (Wallet::default(), 0));
    let deposit = |n| WalletCommand::Deposit(n);
    repo.execute("wallet/c", &deposit(5), None, Metadata::default(), no_reply)
        .await
        .unwrap();
    assert_eq!(repo.load("wallet/c").unwrap().0.balance, 5);
    // Read twice (the second from memory), then changed by another writer:
    // the next read sees the change.
    assert_eq!(repo.load("wallet/c").unwrap(), (Wallet { balance: 5 }, 1));
    other
        .execute("wallet/c", &deposit(7), None, Metadata::default(), no_reply)
        .await
        .unwrap();
    assert_eq!(repo.load("wallet/c").unwrap(), (Wallet { balance: 12 }, 2));
    // A capacity of one still answers right for two streams.
    let small = Repository::<Wallet>::new(Arc::clone(&log)).with_cache_capacity(1);
    other
        .execute("wallet/d", &deposit(1), None, Metadata::default(), no_reply)
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(small.load("wallet/c").unwrap().0.balance, 12);
        assert_eq!(small.load("wallet/d").unwrap().0.balance, 1);
    }
}
