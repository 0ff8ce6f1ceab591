//! Idempotency under cancellation, refusals stored under their key, the
//! bounded map of key locks, and answers only from durable state.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::sync::Arc;
use std::task::Poll;

use common::*;
use futures::FutureExt;
use kit::aggregate::{Aggregate, Executed, Repository, RepositoryError};
use kit::log::{EventLog, Metadata};

/// The wallet without stored refusals (the trait's default): a repeat of a
/// refused request is decided again.
#[derive(Debug, Clone, Default)]
struct ForgetfulWallet(Wallet);

impl Aggregate for ForgetfulWallet {
    type Command = WalletCommand;
    type Event = WalletEvent;
    type Error = WalletError;

    fn decide(&self, command: &WalletCommand) -> Result<Vec<WalletEvent>, WalletError> {
        self.0.decide(command)
    }
    fn apply(&mut self, event: &WalletEvent) {
        self.0.apply(event);
    }
}

fn forgetful_reply(w: &ForgetfulWallet, events: &[WalletEvent]) -> Vec<u8> {
    balance_reply(&w.0, events)
}

async fn deposit(repo: &Repository<Wallet>, stream: &str, n: u64) {
    repo.execute(
        stream,
        &WalletCommand::Deposit(n),
        None,
        Metadata::default(),
        no_reply,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_cancelled_request_gets_the_first_outcome() {
    let (_dir, log, repo) = funded::<ForgetfulWallet>(10, forgetful_reply).await;
    let withdraw = |repo: Arc<Repository<ForgetfulWallet>>| async move {
        repo.execute(
            "w",
            &WalletCommand::Withdraw(10),
            idem("wd-1", "withdraw 10"),
            Metadata::default(),
            forgetful_reply,
        )
        .await
    };

    // The first request reaches the writer, then its client goes away.
    let hold = log.hold_writer().unwrap();
    {
        let mut first = Box::pin(withdraw(Arc::clone(&repo)));
        assert!(matches!(futures::poll!(first.as_mut()), Poll::Pending));
    }
    // The retry (same key) must not decide again on state that already
    // holds the first withdrawal (it would answer "insufficient funds" while
    // the first withdrawal commits): it waits for the first one's outcome.
    let retry = tokio::spawn(withdraw(Arc::clone(&repo)));
    drop(hold);
    match retry.await.unwrap() {
        Ok(Executed::Repeated { reply }) => assert_eq!(reply, 0u64.to_be_bytes()),
        other => panic!("the retry must get the first request's reply, got {other:?}"),
    }
    assert_eq!(repo.load("w").unwrap().0.0.balance, 0);
    assert_eq!(log.read_stream("w", 0).unwrap().len(), 2, "withdrawn once");
}

#[tokio::test]
async fn a_refusal_is_stored_under_its_key_and_repeated_after_the_state_changed() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let repo = Repository::<Wallet>::new(Arc::clone(&log));
    deposit(&repo, "w", 5).await;
    let withdraw = || {
        repo.execute(
            "w",
            &WalletCommand::Withdraw(8),
            idem("wd-8", "withdraw 8"),
            Metadata::default(),
            balance_reply,
        )
    };
    let refused = WalletError::Insufficient {
        available: 5,
        requested: 8,
    };
    assert!(matches!(withdraw().await, Err(RepositoryError::Domain(ref e)) if *e == refused));
    deposit(&repo, "w", 100).await;
    // Same key, same answer: the first refusal, not a withdrawal now.
    assert!(matches!(withdraw().await, Err(RepositoryError::Domain(ref e)) if *e == refused));
    assert_eq!(repo.load("w").unwrap().0.balance, 105);
    // Also from a fresh process on the same data.
    let fresh = Repository::<Wallet>::new(Arc::clone(&log));
    let again = fresh
        .execute(
            "w",
            &WalletCommand::Withdraw(8),
            idem("wd-8", "withdraw 8"),
            Metadata::default(),
            balance_reply,
        )
        .await;
    assert!(matches!(again, Err(RepositoryError::Domain(ref e)) if *e == refused));
}

#[tokio::test]
async fn the_map_of_key_locks_holds_only_keys_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let repo = Arc::new(Repository::<Wallet>::new(Arc::clone(&log)));
    let mut batch = Vec::new();
    for i in 0..100_000u32 {
        let repo = Arc::clone(&repo);
        batch.push(async move {
            repo.execute(
                &format!("w-{}", i % 64),
                &WalletCommand::Deposit(1),
                idem(&format!("dep-{i}"), "deposit 1"),
                Metadata::default(),
                no_reply,
            )
            .await
            .unwrap();
        });
        if batch.len() == 2_000 {
            futures::future::join_all(std::mem::take(&mut batch)).await;
        }
    }
    futures::future::join_all(batch).await;
    assert_eq!(repo.keys_in_use(), 0);
    // A waiter that gives up forgets its key too.
    let hold = log.hold_writer().unwrap();
    let mut first = Box::pin(repo.execute(
        "w-0",
        &WalletCommand::Deposit(1),
        idem("dep-x", "deposit 1"),
        Metadata::default(),
        no_reply,
    ));
    assert!(first.as_mut().now_or_never().is_none());
    let mut waiter = Box::pin(repo.execute(
        "w-0",
        &WalletCommand::Deposit(1),
        idem("dep-x", "deposit 1"),
        Metadata::default(),
        no_reply,
    ));
    assert!(waiter.as_mut().now_or_never().is_none());
    drop(waiter);
    drop(first);
    drop(hold);
    log.barrier().unwrap().outcome().await.unwrap();
    // The spawned completion of the first request releases its key.
    for _ in 0..1000 {
        if repo.keys_in_use() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(repo.keys_in_use(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_answers_only_durable_state() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let repo = Arc::new(Repository::<Wallet>::new(Arc::clone(&log)));
    deposit(&repo, "w", 3).await;
    let hold = log.hold_writer().unwrap();
    // An append whose cycle is applied but not yet durable: hold the writer
    // after it took the request. The writer applies the batch to sled and
    // only then flushes; reads in between must not see it.
    let pending = tokio::spawn({
        let repo = Arc::clone(&repo);
        async move { deposit(&repo, "w", 4).await }
    });
    drop(hold);
    // Whatever moment this read hits, it sees 3 (before) or 7 (durable),
    // and 7 only once the log says position 2 is durable.
    loop {
        let (wallet, version) = repo.load("w").unwrap();
        if wallet.balance == 7 {
            assert!(log.head() >= 2, "answered a state not yet durable");
            assert_eq!(version, 2);
            break;
        }
        assert_eq!((wallet.balance, version), (3, 1));
        tokio::task::yield_now().await;
    }
    pending.await.unwrap();
}
