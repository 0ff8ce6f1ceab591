//! The real purchases binary killed with SIGKILL while tills run purchases
//! (Payment → Bonus → Confirm against the real ledger): after a restart,
//! retrying every step with its operation id completes every purchase
//! exactly once — no hold stuck or doubled, no accrual lost or doubled.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::time::Duration;

use loyalty_proto::purchases::v1 as pb;
use loyalty_proto::purchases::v1::purchases_service_client::PurchasesServiceClient;
use rust_decimal::Decimal;
use tests_e2e::harness::eventually;
use tests_e2e::identity::DEADLINE;
use tests_e2e::purchases::{bonus_balance, member_with_points, pay, seed_cheque, step, world};
use tonic::transport::Channel;

const PURCHASES: usize = 120;

/// Payment of 1 point, Bonus (Card 9 + Loymax 1: 0.90 earned), Confirm.
async fn purchase(
    c: &mut PurchasesServiceClient<Channel>,
    i: usize,
    card: &str,
) -> Result<(), tonic::Status> {
    let id = format!("crash-{i}");
    c.payment(pb::PaymentRequest {
        step: step(&id, &format!("{id}-pay"), card),
        cheque: seed_cheque("10", "0", "10"),
        amount: "1".into(),
        ..Default::default()
    })
    .await?;
    c.bonus(pb::BonusRequest {
        step: step(&id, &format!("{id}-bonus"), card),
        cheque: seed_cheque("10", "0", "10"),
        pays: vec![pay("Card", "9"), pay("Loymax", "1")],
        ..Default::default()
    })
    .await?;
    c.confirm(pb::ConfirmRequest {
        step: step(&id, &format!("{id}-confirm"), ""),
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchases_interrupted_by_sigkill_complete_exactly_once_on_retry() {
    let mut w = world(&[]).await;
    let (card, member) = member_with_points(&w, "1000").await;
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let done_tx = done_tx.clone();
        let mut c = w.purchases.client();
        let card = card.clone();
        tasks.push(tokio::spawn(async move {
            for i in (t..PURCHASES).step_by(8) {
                if purchase(&mut c, i, &card).await.is_err() {
                    return;
                }
                let _ = done_tx.send(i);
            }
        }));
    }
    drop(done_tx);
    let mut completed = 0;
    while completed < 30 {
        tokio::time::timeout(Duration::from_secs(60), done.recv())
            .await
            .expect("purchases progress")
            .expect("tills running");
        completed += 1;
    }
    w.purchases.process.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    w.purchases.process.restart().await.unwrap();

    // Every till retries every purchase it knows of with the same ids (and
    // again after an UNAVAILABLE, as the contract asks: an upstream that is
    // briefly out of reach records nothing).
    for i in 0..PURCHASES {
        let what = format!("purchase {i} completes on retry");
        eventually(DEADLINE, &what, || async {
            let mut c = w.purchases.client();
            match purchase(&mut c, i, &card).await {
                Ok(()) => Some(()),
                Err(e) if e.code() == tonic::Code::Unavailable => None,
                Err(e) => panic!("purchase {i} on retry: {e:?}"),
            }
        })
        .await;
    }
    let b = bonus_balance(&w, &member).await;
    let n = Decimal::from(PURCHASES as u64);
    let expected = Decimal::from(1000) - n + n * Decimal::new(90, 2);
    assert_eq!(b.available.parse::<Decimal>().unwrap(), expected, "{b:?}");
    assert_eq!((b.held.as_str(), b.pending.as_str()), ("0.00", "0.00"));
}
