//! The seed's purchase through the public processing methods, over gRPC
//! with the real identity, ledger and purchases binaries on a real
//! nats-server: Calculate, Payment, Bonus and Confirm give the seed's
//! numbers and move the member's points; a repeated step answers its first
//! answer; Cancel after Payment gives the points back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::ledger::v1 as lpb;
use loyalty_proto::purchases::v1 as pb;
use tests_e2e::identity::{assert_names_field, assert_reason, random_card};
use tests_e2e::purchases::{bonus_balance, member_with_points, pay, seed_cheque, step, world};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_purchase_gives_the_seeds_numbers_and_moves_the_points() {
    let w = world(&[]).await;
    let (card, member) = member_with_points(&w, "100").await;
    let mut p = w.purchases.client();
    let purchase = "purchase-seed-1";

    // Calculate: price 100, till discount 15, amount 85.
    let calc = p
        .calculate(pb::CalculateRequest {
            step: step(purchase, "ef59dc2ada294aa285fdbc1e1e05d377", &card),
            cheque: seed_cheque("85", "15", "100"),
            coupons: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let answer = calc.answer.as_ref().unwrap();
    assert_eq!(answer.code, pb::ProcessingCode::Ok as i32);
    let cheque = answer.cheque.as_ref().unwrap();
    assert_eq!(
        (cheque.total_amount.as_str(), cheque.total_discount.as_str()),
        ("76.50", "23.50")
    );
    assert_eq!(cheque.lines[0].amount, "76.50");
    assert_eq!(cheque.lines[0].discount, "23.50");
    assert_eq!(calc.available_bonus_amount, "38.25");
    assert_eq!(calc.available_amount, "38.25");

    // Payment of 36.5 points: held.
    let payment_request = pb::PaymentRequest {
        step: step(purchase, "ef59dc2ada294aa285fdb1e1e05d378", &card),
        cheque: seed_cheque("76.5", "23.5", "100"),
        coupons: vec![],
        amount: "36.5".into(),
        pin_code: String::new(),
    };
    let paid = p
        .payment(payment_request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (paid.amount.as_str(), paid.bonus_amount.as_str()),
        ("36.50", "36.50")
    );
    let paid_line = &paid.answer.as_ref().unwrap().cheque.as_ref().unwrap().lines[0];
    assert_eq!(paid_line.pay_amount, "36.50");
    let b = bonus_balance(&w, &member).await;
    assert_eq!((b.available.as_str(), b.held.as_str()), ("63.50", "36.50"));
    // The same step again: the first answer, nothing held twice.
    let again = p
        .payment(payment_request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, paid);
    assert_eq!(bonus_balance(&w, &member).await.held, "36.50");
    // The same operation id with another request is refused.
    let mut other = payment_request;
    other.amount = "1".into();
    let refused = p.payment(other).await.unwrap_err();
    assert_reason(&refused, Code::AlreadyExists, "NotUniqueOperationID");

    // Bonus: pays Card 40 + Loymax 36.5; 10 points per 100 paid in money.
    let bonus = p
        .bonus(pb::BonusRequest {
            step: step(purchase, "ef59dc2ada294aa285fdb1e1e05d379", &card),
            cheque: seed_cheque("76.5", "", "0"),
            coupons: vec![],
            pays: vec![pay("Card", "40"), pay("Loymax", "36.5")],
            communications: None,
            language: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bonus.bonus_amount, "4.00");
    // What the till prints on the cheque (ru by default).
    assert_eq!(
        bonus.answer.as_ref().unwrap().cheque_message,
        "Оплачено баллами: 36,50; Начислено баллов: 4,00"
    );
    let b = bonus_balance(&w, &member).await;
    assert_eq!(b.pending, "4.00", "{b:?}");

    // Confirm: the hold is spent and the points accrued, in one ledger step.
    let confirmed = p
        .confirm(pb::ConfirmRequest {
            step: step(purchase, "ef59dc2ada294aa285fdb1e1e05d380", ""),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            confirmed.paid_amount.as_str(),
            confirmed.bonus_amount.as_str()
        ),
        ("36.50", "4.00")
    );
    let b = bonus_balance(&w, &member).await;
    assert_eq!(
        (b.available.as_str(), b.held.as_str(), b.pending.as_str()),
        ("67.50", "0.00", "0.00")
    );

    // A confirmed purchase is not cancelled.
    let refused = p
        .cancel(pb::CancelRequest {
            step: step(purchase, "cancel-after-confirm", ""),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_reason(&refused, Code::FailedPrecondition, "OperationIsConfirmed");

    // History: the purchase is one row with its withdrawal, its reward and
    // its items.
    let history = w.ledger.history(&member).await;
    let rows: Vec<&lpb::HistoryRow> = history
        .iter()
        .filter(|r| r.r#type == lpb::HistoryRowType::Purchase as i32)
        .collect();
    assert_eq!(rows.len(), 1, "{history:#?}");
    assert_eq!(rows[0].withdraws.len(), 1);
    assert_eq!(rows[0].rewards.len(), 1);
    assert_eq!(rows[0].id, purchase);
    // The seed's `chequeItems`: what was bought, from the confirm.
    let items: Vec<(&str, &str, &str)> = rows[0]
        .cheque_items
        .iter()
        .map(|i| (i.description.as_str(), i.count.as_str(), i.amount.as_str()))
        .collect();
    assert_eq!(items, [("Товар100", "1", "76.50")], "{:#?}", rows[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_payment_gives_the_points_back_and_unknown_cards_are_refused() {
    let w = world(&[]).await;
    let (card, member) = member_with_points(&w, "50").await;
    let mut p = w.purchases.client();
    p.payment(pb::PaymentRequest {
        step: step("purchase-cancel-1", "pay-1", &card),
        cheque: seed_cheque("76.5", "23.5", "100"),
        coupons: vec![],
        amount: "30".into(),
        pin_code: String::new(),
    })
    .await
    .unwrap();
    assert_eq!(bonus_balance(&w, &member).await.held, "30.00");
    // One payment per purchase, and no recalculation once it is paid.
    let second = p
        .payment(pb::PaymentRequest {
            step: step("purchase-cancel-1", "pay-1b", &card),
            cheque: seed_cheque("76.5", "23.5", "100"),
            coupons: vec![],
            amount: "5".into(),
            pin_code: String::new(),
        })
        .await
        .unwrap_err();
    assert_reason(&second, Code::FailedPrecondition, "DifferentCheque");
    let recalculated = p
        .calculate(pb::CalculateRequest {
            step: step("purchase-cancel-1", "calc-1b", &card),
            cheque: seed_cheque("85", "15", "100"),
            coupons: vec![],
        })
        .await
        .unwrap_err();
    assert_reason(&recalculated, Code::FailedPrecondition, "DifferentCheque");
    // Bonus earns on the cheque that was paid, not on a dearer one.
    let dearer = p
        .bonus(pb::BonusRequest {
            step: step("purchase-cancel-1", "bonus-1", &card),
            cheque: seed_cheque("96.5", "", "0"),
            pays: vec![pay("Card", "66.5"), pay("Loymax", "30")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    let info = assert_reason(&dearer, Code::FailedPrecondition, "DifferentCheque");
    assert!(info["errorMessage"].contains("line 1"), "{info:?}");
    let b = bonus_balance(&w, &member).await;
    assert_eq!((b.held.as_str(), b.pending.as_str()), ("30.00", "0.00"));
    // Cancelling one operation: one the purchase has not recorded (a
    // refused one included) is refused and holds stay; one it has cancels
    // the purchase, and the same step again answers the same.
    let cancel_op = |op: &str, target: &str| pb::CancelRequest {
        step: step("purchase-cancel-1", op, ""),
        target_operation_id: target.to_owned(),
    };
    for (op, target) in [("cancel-x1", "no-such-op"), ("cancel-x2", "pay-1b")] {
        let unknown = p.cancel(cancel_op(op, target)).await.unwrap_err();
        assert_reason(&unknown, Code::NotFound, "OperationNotFound");
    }
    assert_eq!(bonus_balance(&w, &member).await.held, "30.00");
    let by_op = p
        .cancel(cancel_op("cancel-1", "pay-1"))
        .await
        .unwrap()
        .into_inner();
    let again = p
        .cancel(cancel_op("cancel-1", "pay-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_op, again);
    let whole = p.cancel(cancel_op("cancel-1b", "")).await.unwrap_err();
    assert_reason(&whole, Code::FailedPrecondition, "OperationIsCanceled");
    let b = bonus_balance(&w, &member).await;
    assert_eq!((b.available.as_str(), b.held.as_str()), ("50.00", "0.00"));

    // More than the balance: NotEnoughMoney, and the same answer again.
    let too_much = pb::PaymentRequest {
        step: step("purchase-cancel-2", "pay-2", &card),
        cheque: seed_cheque("200", "0", "200"),
        coupons: vec![],
        amount: "60".into(),
        pin_code: String::new(),
    };
    let refused = p.payment(too_much.clone()).await.unwrap_err();
    let info = assert_reason(&refused, Code::FailedPrecondition, "NotEnoughMoney");
    assert_eq!(info["available"], "50.00");
    let again = p.payment(too_much).await.unwrap_err();
    assert_reason(&again, Code::FailedPrecondition, "NotEnoughMoney");

    // Points beyond the cheque's share: PaymentLimitExceeded.
    let refused = p
        .payment(pb::PaymentRequest {
            step: step("purchase-cancel-3", "pay-3", &card),
            cheque: seed_cheque("20", "0", "20"),
            coupons: vec![],
            amount: "10.01".into(),
            pin_code: String::new(),
        })
        .await
        .unwrap_err();
    assert_reason(&refused, Code::FailedPrecondition, "PaymentLimitExceeded");

    // An unknown card.
    let refused = p
        .calculate(pb::CalculateRequest {
            step: step("purchase-cancel-4", "calc-4", &random_card()),
            cheque: seed_cheque("85", "15", "100"),
            coupons: vec![],
        })
        .await
        .unwrap_err();
    assert_reason(&refused, Code::NotFound, "CardNotFound");

    // An amount that is not price × quantity − discount names its field.
    let refused = p
        .calculate(pb::CalculateRequest {
            step: step("purchase-cancel-5", "calc-5", &card),
            cheque: seed_cheque("80", "15", "100"),
            coupons: vec![],
        })
        .await
        .unwrap_err();
    assert_names_field(&refused, "cheque.lines[0].amount");

    // An operation date days ahead of the service's clock would pick rules
    // and coupons not in force yet: refused, naming the field.
    let mut ahead = step("purchase-cancel-6", "calc-6", &card);
    if let Some(s) = ahead.as_mut() {
        s.operation_date = Some((chrono::Utc::now() + chrono::TimeDelta::days(3)).into());
    }
    let refused = p
        .calculate(pb::CalculateRequest {
            step: ahead,
            cheque: seed_cheque("85", "15", "100"),
            coupons: vec![],
        })
        .await
        .unwrap_err();
    assert_names_field(&refused, "step.operation_date");
}
