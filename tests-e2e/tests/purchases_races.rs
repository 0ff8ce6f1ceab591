//! Steps of one purchase that race: each decides on what the one before it
//! recorded — concurrent refunds of the same lines refund them once, and a
//! Payment racing a Confirm either is captured by it or refused, never
//! withdrawn behind the purchase's back; and a Confirm the ledger did but
//! purchases never recorded is finished by the sweep, not timed out. Real
//! identity, ledger and purchases binaries over gRPC.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::ledger::v1 as lpb;
use loyalty_proto::purchases::v1 as pb;
use tests_e2e::harness::eventually;
use tests_e2e::identity::{DEADLINE, assert_reason};
use tests_e2e::purchases::{
    bonus_balance, bought, cheque, line, member_with_points, refund, step, world,
};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refunds_of_the_same_lines_refund_them_once() {
    let w = world(&[]).await;
    let (card, member) = member_with_points(&w, "100").await;
    // 30 points paid over payables 30 and 20 → 18 and 12; 10 % of the 70
    // paid in money → 4.20 and 2.80 earned.
    bought(&w, "race-1", &card, "30", "70").await;
    assert_eq!(bonus_balance(&w, &member).await.available, "77.00");

    // Eight tills each return one of the three units of line 1 at once,
    // under their own operation ids: three can be refunded, no more. (The
    // ledger's limits alone would let five through: 5 × 6.00 returned fit
    // into the 30 paid, 5 × 1.40 taken back into the 7.00 earned.)
    let calls = (0..8).map(|i| {
        let mut p = w.purchases.client();
        async move {
            p.refund(refund("race-1", &format!("r{i}"), &[(1, "1")]))
                .await
        }
    });
    let outcomes = futures::future::join_all(calls).await;
    let (done, refused): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(Result::is_ok);
    assert_eq!(done.len(), 3, "three units of line 1: {done:?}");
    for r in done {
        let r = r.unwrap().into_inner();
        assert_eq!(
            (
                r.money_amount.as_str(),
                r.returned_points.as_str(),
                r.taken_back_points.as_str()
            ),
            ("20.00", "6.00", "1.40")
        );
    }
    for e in refused {
        assert_reason(
            &e.unwrap_err(),
            Code::FailedPrecondition,
            "RefundExceedsPurchase",
        );
    }
    assert_eq!(bonus_balance(&w, &member).await.available, "90.80");

    // Line 2 is still there to refund, and only line 2.
    let mut p = w.purchases.client();
    let r = p
        .refund(refund("race-1", "rest", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.money_amount.as_str(), r.returned_points.as_str()),
        ("40.00", "12.00")
    );
    assert_eq!(bonus_balance(&w, &member).await.available, "100.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_racing_a_confirm_is_captured_by_it_or_refused() {
    let w = world(&[]).await;
    let (card, member) = member_with_points(&w, "1000").await;
    let mut withdrawn = 0u32;
    for i in 0..16 {
        let purchase = format!("pc-{i}");
        let mut p = w.purchases.client();
        p.calculate(pb::CalculateRequest {
            step: step(&purchase, &format!("{purchase}-calc"), &card),
            cheque: cheque(vec![line(1, "100", "1", "100")]),
            ..Default::default()
        })
        .await
        .unwrap();
        let mut q = w.purchases.client();
        // The Confirm starts a little later each round, so the rounds cover
        // the Payment's whole way (identity, then the ledger's hold, then
        // the record); the assertions hold whatever the order.
        let offset = std::time::Duration::from_micros(400 * i);
        let (paid, confirmed) = tokio::join!(
            p.payment(pb::PaymentRequest {
                step: step(&purchase, &format!("{purchase}-pay"), &card),
                cheque: cheque(vec![line(1, "100", "1", "100")]),
                amount: "10".into(),
                ..Default::default()
            }),
            async {
                tokio::time::sleep(offset).await;
                q.confirm(pb::ConfirmRequest {
                    step: step(&purchase, &format!("{purchase}-confirm"), ""),
                })
                .await
            }
        );
        let confirmed = confirmed.unwrap().into_inner();
        match paid {
            Ok(_) => {
                withdrawn += 10;
                assert_eq!(confirmed.paid_amount, "10.00", "{purchase}: {confirmed:?}");
            }
            Err(e) => {
                assert_reason(&e, Code::FailedPrecondition, "OperationIsConfirmed");
                assert_eq!(confirmed.paid_amount, "0.00", "{purchase}: {confirmed:?}");
            }
        }
        let b = bonus_balance(&w, &member).await;
        assert_eq!(b.held, "0.00", "{purchase}: nothing stays held");
        assert_eq!(
            b.available,
            format!("{}.00", 1000 - withdrawn),
            "{purchase}: only a payment the purchase recorded is withdrawn"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_the_ledger_did_but_purchases_never_recorded_is_finished_by_the_sweep() {
    let w = world(&["--confirm-timeout-secs", "1", "--sweep-interval-secs", "1"]).await;
    let (card, member) = member_with_points(&w, "100").await;
    let mut p = w.purchases.client();
    p.payment(pb::PaymentRequest {
        step: step("lost-1", "lost-1-pay", &card),
        cheque: cheque(vec![line(1, "100", "1", "100")]),
        amount: "30".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // The Confirm's ledger call, as purchases makes it, with no record
    // after it (purchases died in between): the hold is captured.
    w.ledger
        .client()
        .confirm_purchase(lpb::ConfirmPurchaseRequest {
            operation_id: "lost-1-confirm-on-ledger".into(),
            member_id: member.clone(),
            currency: "BONUS".into(),
            purchase_id: "lost-1".into(),
            context: None,
            cheque_items: Vec::new(),
            tenders: Vec::new(),
        })
        .await
        .unwrap();
    let b = bonus_balance(&w, &member).await;
    assert_eq!((b.available.as_str(), b.held.as_str()), ("70.00", "0.00"));
    // The sweep finds the purchase open past its timeout, learns from the
    // ledger that it was confirmed, and records it confirmed: then it can
    // be refunded (each probe before that is refused NotConfirmed, under
    // its own operation id).
    let attempt = std::sync::atomic::AtomicU32::new(0);
    let r = eventually(
        DEADLINE,
        "the sweep records the purchase confirmed",
        || async {
            let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut p = w.purchases.client();
            match p
                .refund(refund("lost-1", &format!("lost-1-refund-{n}"), &[]))
                .await
            {
                Ok(r) => Some(r.into_inner()),
                Err(e) => {
                    assert_reason(&e, Code::NotFound, "PurchaseNotFound");
                    None
                }
            }
        },
    )
    .await;
    assert_eq!(r.returned_points, "30.00");
    let b = bonus_balance(&w, &member).await;
    assert_eq!(
        (b.available.as_str(), b.held.as_str()),
        ("100.00", "0.00"),
        "confirmed, then refunded: never timed out (which would have released the hold)"
    );
    let refused = p
        .cancel(pb::CancelRequest {
            step: step("lost-1", "lost-1-cancel", ""),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_reason(&refused, Code::FailedPrecondition, "OperationIsConfirmed");
}
