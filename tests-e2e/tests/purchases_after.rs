//! After and around the purchase: refunds (partial, full, repeated, beyond
//! the purchase), two tills paying with one card at once, the timeout of an
//! unconfirmed purchase, and seed 003's PossibleLoyalty — over gRPC with the
//! real identity, ledger and purchases binaries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::identity::v1 as ipb;
use loyalty_proto::purchases::v1 as pb;
use tests_e2e::harness::eventually;
use tests_e2e::identity::{DEADLINE, assert_reason};
use tests_e2e::purchases::{
    bonus_balance, bought, cheque, line, member_with_points, pay, refund, step, world,
};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_restore_and_take_back_exactly_once_and_never_beyond() {
    let w = world(&[]).await;
    let (card, member) = member_with_points(&w, "100").await;
    // 30 points over payables 30 and 20 → 18 and 12; 10 % of the 70 paid in
    // money → 4.20 and 2.80.
    bought(&w, "refund-1", &card, "30", "70").await;
    assert_eq!(bonus_balance(&w, &member).await.available, "77.00");
    let mut p = w.purchases.client();

    // One of the three units of line 1: a third of its money and points.
    let first = refund("refund-1", "r1", &[(1, "1")]);
    let r = p.refund(first.clone()).await.unwrap().into_inner();
    assert_eq!(
        (
            r.money_amount.as_str(),
            r.returned_points.as_str(),
            r.taken_back_points.as_str()
        ),
        ("20.00", "6.00", "1.40")
    );
    assert_eq!(bonus_balance(&w, &member).await.available, "81.60");
    // The same refund again changes nothing.
    assert_eq!(p.refund(first).await.unwrap().into_inner(), r);
    assert_eq!(bonus_balance(&w, &member).await.available, "81.60");

    // Everything left: the rest of each line, to the kopeck.
    let r = p
        .refund(refund("refund-1", "r2", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            r.money_amount.as_str(),
            r.returned_points.as_str(),
            r.taken_back_points.as_str()
        ),
        ("80.00", "24.00", "5.60")
    );
    assert_eq!(bonus_balance(&w, &member).await.available, "100.00");

    // Nothing is left to refund.
    let refused = p
        .refund(refund("refund-1", "r3", &[(2, "1")]))
        .await
        .unwrap_err();
    assert_reason(&refused, Code::FailedPrecondition, "RefundExceedsPurchase");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tills_paying_with_one_card_at_once_cannot_overspend() {
    let w = world(&[]).await;
    let (card, member) = member_with_points(&w, "50").await;
    let pay_40 = |purchase: &str| pb::PaymentRequest {
        step: step(purchase, &format!("{purchase}-pay"), &card),
        cheque: cheque(vec![line(1, "100", "1", "100")]),
        amount: "40".into(),
        ..Default::default()
    };
    let (mut a, mut b) = (w.purchases.client(), w.purchases.client());
    let (ra, rb) = tokio::join!(a.payment(pay_40("till-a")), b.payment(pay_40("till-b")));
    let outcomes = [ra.is_ok(), rb.is_ok()];
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "exactly one till pays: {ra:?} {rb:?}"
    );
    let refused = ra.err().or(rb.err()).unwrap();
    assert_reason(&refused, Code::FailedPrecondition, "NotEnoughMoney");
    let balance = bonus_balance(&w, &member).await;
    assert_eq!(
        (balance.available.as_str(), balance.held.as_str()),
        ("10.00", "40.00")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_purchase_times_out_and_releases_its_hold() {
    let w = world(&["--confirm-timeout-secs", "1", "--sweep-interval-secs", "1"]).await;
    let (card, member) = member_with_points(&w, "50").await;
    let mut p = w.purchases.client();
    p.payment(pb::PaymentRequest {
        step: step("late-1", "late-1-pay", &card),
        cheque: cheque(vec![line(1, "100", "1", "100")]),
        amount: "30".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(bonus_balance(&w, &member).await.held, "30.00");
    eventually(DEADLINE, "the sweep releases the hold", || async {
        let b = bonus_balance(&w, &member).await;
        (b.held == "0.00").then_some(b)
    })
    .await;
    assert_eq!(bonus_balance(&w, &member).await.available, "50.00");
    let refused = p
        .confirm(pb::ConfirmRequest {
            step: step("late-1", "late-1-confirm", ""),
        })
        .await
        .unwrap_err();
    assert_reason(&refused, Code::FailedPrecondition, "OperationTimedOut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn possible_loyalty_answers_the_seeds_codes() {
    let mut w = world(&[]).await;
    let (card, member) = member_with_points(&w, "20").await;
    let (_, other) = member_with_points(&w, "5").await;
    let (mine, theirs) = (
        tests_e2e::purchases::pan("427601001386625"),
        tests_e2e::purchases::pan("427601001386626"),
    );
    for (who, pan) in [(&member, &mine), (&other, &theirs)] {
        w.identity
            .members()
            .bind_bank_card(ipb::BindBankCardRequest {
                member_id: who.clone(),
                pan: pan.clone(),
            })
            .await
            .unwrap();
    }
    let mut p = w.purchases.client();
    // The e-shop's order: Calculate registers it (38.25 payable).
    p.calculate(pb::CalculateRequest {
        step: step("order-1", "order-1-calc", &card),
        cheque: tests_e2e::purchases::seed_cheque("85", "15", "100"),
        coupons: vec![],
    })
    .await
    .unwrap();
    let ask = |order: &str, pan: &str, language: &str| pb::GetPossibleLoyaltyRequest {
        order_id: order.into(),
        language: language.into(),
        binding_id: String::new(),
        pan: pan.into(),
    };
    let ok = p
        .get_possible_loyalty(ask("order-1", &mine, "en"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.error_code, "0");
    // The cheque allows 38.25; the member has 20.
    assert_eq!(
        (ok.min_amount.as_str(), ok.max_amount.as_str()),
        ("0.00", "20.00")
    );
    let denied = p
        .get_possible_loyalty(ask("order-1", &theirs, "en"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (denied.error_code.as_str(), denied.error_message.as_str()),
        ("5", "Access denied")
    );
    let missing = p
        .get_possible_loyalty(ask("order-none", &mine, "ru"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (missing.error_code.as_str(), missing.error_message.as_str()),
        ("6", "Заказ не найден")
    );
    // identity down: a system error, not a wrong answer.
    w.identity.process.terminate().await.unwrap();
    let down = p
        .get_possible_loyalty(ask("order-1", &mine, "en"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(down.error_code, "7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_of_points_already_spent_leaves_a_debt_later_accruals_pay() {
    use loyalty_proto::ledger::v1 as lpb;
    let w = world(&[]).await;
    let (card, member) = member_with_points(&w, "5").await;
    let mut p = w.purchases.client();
    let lines = vec![line(1, "100", "1", "100")];
    p.bonus(pb::BonusRequest {
        step: step("debt-1", "debt-1-bonus", &card),
        cheque: cheque(lines),
        pays: vec![pay("Card", "100")],
        ..Default::default()
    })
    .await
    .unwrap();
    p.confirm(pb::ConfirmRequest {
        step: step("debt-1", "debt-1-confirm", ""),
    })
    .await
    .unwrap();
    assert_eq!(bonus_balance(&w, &member).await.available, "15.00");
    // The member spends everything, the purchase's 10 points too.
    let money = |a: &str| {
        Some(loyalty_proto::common::v1::Money {
            amount: a.into(),
            currency: String::new(),
        })
    };
    w.ledger
        .client()
        .withdraw(lpb::WithdrawRequest {
            operation_id: "spend-all".into(),
            member_id: member.clone(),
            amount: money("15"),
            ..Default::default()
        })
        .await
        .unwrap();
    let r = p
        .refund(refund("debt-1", "debt-1-refund", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.taken_back_points.as_str(), r.debt_points.as_str()),
        ("0.00", "10.00")
    );
    let b = bonus_balance(&w, &member).await;
    assert_eq!((b.available.as_str(), b.debt.as_str()), ("0.00", "10.00"));
    // A later accrual pays the debt first.
    w.ledger
        .client()
        .accrue(lpb::AccrueRequest {
            operation_id: "later".into(),
            member_id: member.clone(),
            amount: money("4"),
            ..Default::default()
        })
        .await
        .unwrap();
    let b = bonus_balance(&w, &member).await;
    assert_eq!((b.available.as_str(), b.debt.as_str()), ("0.00", "6.00"));
}
