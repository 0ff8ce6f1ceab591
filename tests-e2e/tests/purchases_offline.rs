//! A till that was offline replays its cheques later: Bonus and Confirm of
//! each purchase under their own operation ids, in any order, possibly more
//! than once — every purchase accrues exactly once. And bad input names its
//! field and applies nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::purchases::v1 as pb;
use tests_e2e::identity::{assert_reason, violations};
use tests_e2e::purchases::{bonus_balance, member_with_points, pay, seed_cheque, step, world};
use tonic::Code;

fn bonus(purchase: &str, card: &str, amount: &str) -> pb::BonusRequest {
    pb::BonusRequest {
        step: step(purchase, &format!("{purchase}-bonus"), card),
        cheque: seed_cheque(amount, "", ""),
        pays: vec![pay("Cash", amount)],
        ..Default::default()
    }
}

fn confirm(purchase: &str) -> pb::ConfirmRequest {
    pb::ConfirmRequest {
        step: step(purchase, &format!("{purchase}-confirm"), ""),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_offline_cheques_accrue_exactly_once_in_any_order() {
    let w = world(&[]).await;
    let (card, member) = member_with_points(&w, "1").await;
    let mut p = w.purchases.client();
    // Three cheques of the offline day, replayed out of order and twice.
    let cheques = [
        ("offline-1", "100"),
        ("offline-2", "50"),
        ("offline-3", "20"),
    ];
    for round in 0..2 {
        for (purchase, amount) in cheques.iter().rev() {
            let b = p
                .bonus(bonus(purchase, &card, amount))
                .await
                .unwrap()
                .into_inner();
            assert!(!b.bonus_amount.is_empty(), "round {round}");
        }
        for (purchase, _) in cheques {
            p.confirm(confirm(purchase)).await.unwrap();
        }
    }
    // 10 % of 100 + 50 + 20, once: 17 points, plus the 1 the member had.
    let b = bonus_balance(&w, &member).await;
    assert_eq!(
        (b.available.as_str(), b.pending.as_str()),
        ("18.00", "0.00")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_its_field_and_applies_nothing() {
    let w = world(&[]).await;
    let (card, member) = member_with_points(&w, "100").await;
    let mut p = w.purchases.client();
    let mut negative = seed_cheque("85", "15", "100");
    negative.as_mut().unwrap().lines[0].quantity = "-1".into();
    let refused = p
        .payment(pb::PaymentRequest {
            step: step("bad-1", "bad-1-pay", &card),
            cheque: negative,
            amount: "10".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields: Vec<String> = violations(&refused).into_iter().map(|(f, _)| f).collect();
    assert!(
        fields.iter().any(|f| f == "cheque.lines[0].quantity"),
        "{fields:?}"
    );
    let refused = p
        .calculate(pb::CalculateRequest {
            step: step("bad-2", "bad-2-calc", &card),
            cheque: seed_cheque("85", "15", "100"),
            coupons: vec![pb::Coupon {
                number: "NO-SUCH-COUPON".into(),
            }],
        })
        .await
        .unwrap_err();
    assert_reason(&refused, Code::FailedPrecondition, "CouponNotValid");
    // Not a card number identity could hold: the card is not found.
    let refused = p
        .calculate(pb::CalculateRequest {
            step: step("bad-3", "bad-3-calc", "ABC123"),
            cheque: seed_cheque("85", "15", "100"),
            coupons: vec![],
        })
        .await
        .unwrap_err();
    assert_reason(&refused, Code::NotFound, "CardNotFound");
    let b = bonus_balance(&w, &member).await;
    assert_eq!((b.available.as_str(), b.held.as_str()), ("100.00", "0.00"));
}
