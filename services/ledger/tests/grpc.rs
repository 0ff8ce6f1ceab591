//! The ledger over real gRPC on a real socket, with its event log on disk.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::Ledger;
use common::requests::*;
use loyalty_proto::ledger::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accrue_withdraw_and_balance() {
    let mut l = Ledger::start().await;
    let result = accrued(&mut l.client, accrue("a1", "m1", "100.50")).await;
    assert_eq!(result.amount, "100.50");
    assert_eq!(result.balance_after.unwrap().available, "100.50");
    l.client
        .withdraw(withdraw("w1", "m1", "0.50"))
        .await
        .unwrap();
    assert_eq!(balance(&mut l.client, "m1").await, pair("100.00", "0.00"));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_fields_and_changes_nothing() {
    let mut l = Ledger::start().await;
    let mut bad = accrue("", "m1", "1.234");
    bad.lifetime = "nope".into();
    let status = l.client.accrue(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        fields(&status),
        ["operation_id", "amount.amount", "lifetime"]
    );
    for (amount, currency, field) in [
        ("-5", "BONUS", "amount.amount"),
        ("0", "BONUS", "amount.amount"),
        ("5", "XYZ", "amount.currency"),
    ] {
        let mut r = accrue("a1", "m1", amount);
        r.amount = money(amount, currency);
        let status = l.client.accrue(r).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{amount} {currency}");
        assert_eq!(
            status.get_details_bad_request().unwrap().field_violations[0].field,
            field
        );
    }
    let empty = l
        .client
        .get_balance(pb::GetBalanceRequest {
            member_id: "m1".into(),
            currency: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(empty.accounts.is_empty(), "nothing was applied");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_above_the_bound_are_refused_and_later_accruals_still_work() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    for (op, amount) in [
        ("huge", "79228162514264337593543950335"),
        ("over", "1000000000000.01"),
    ] {
        let status = c.accrue(accrue(op, "m1", amount)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{amount}: {status:?}");
        let v = &status.get_details_bad_request().unwrap().field_violations[0];
        assert_eq!(v.field, "amount.amount");
        assert!(v.description.contains("1000000000000"), "{}", v.description);
    }
    // The bound itself is accepted, and so is every later accrual.
    c.accrue(accrue("max", "m1", "1000000000000"))
        .await
        .unwrap();
    c.accrue(accrue("a1", "m1", "1")).await.unwrap();
    c.accrue(accrue("a2", "m1", "1000000000000")).await.unwrap();
    assert_eq!(balance(c, "m1").await, pair("2000000000001.00", "0.00"));
    // Refund and capture amounts are bounded too.
    let mut huge = refund_of("r1", "m1", "a1");
    huge.amount = "79228162514264337593543950335".into();
    let status = c.refund(huge).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdraw_is_failed_precondition_with_amounts() {
    let mut l = Ledger::start().await;
    l.client.accrue(accrue("a1", "m1", "10")).await.unwrap();
    let status = l
        .client
        .withdraw(withdraw("w1", "m1", "10.01"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "INSUFFICIENT_FUNDS");
    assert_eq!(info.metadata["available"], "10");
    assert_eq!(info.metadata["requested"], "10.01");
    // Same key, same answer: the refusal is stored, so a repeat after the
    // balance grew is refused the same way, and withdraws nothing.
    l.client.accrue(accrue("a2", "m1", "100")).await.unwrap();
    let again = l
        .client
        .withdraw(withdraw("w1", "m1", "10.01"))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(
        again.get_details_error_info().unwrap().metadata["available"],
        "10"
    );
    assert_eq!(balance(&mut l.client, "m1").await.0, "110.00");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_call_is_idempotent_by_its_key() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    let accrual = accrue("a1", "m1", "100");
    let first = c.accrue(accrual.clone()).await.unwrap().into_inner();
    assert_eq!(c.accrue(accrual).await.unwrap().into_inner(), first);
    let withdrawal = withdraw("w1", "m1", "30");
    let w = c.withdraw(withdrawal.clone()).await.unwrap().into_inner();
    assert_eq!(c.withdraw(withdrawal).await.unwrap().into_inner(), w);
    let hold = hold("h1", "m1", "20");
    let h = c.hold(hold.clone()).await.unwrap().into_inner();
    assert_eq!(c.hold(hold).await.unwrap().into_inner(), h);
    let capture = capture("c1", "m1", "h1", "15");
    let cap = c.capture_hold(capture.clone()).await.unwrap().into_inner();
    assert_eq!(c.capture_hold(capture).await.unwrap().into_inner(), cap);
    let mut refund = refund_of("r1", "m1", "w1");
    refund.amount = "10".into();
    let rf = c.refund(refund.clone()).await.unwrap().into_inner();
    assert_eq!(c.refund(refund).await.unwrap().into_inner(), rf);
    // 100 - 30 - 15 (captured) + 10 (refund) = 65.
    assert_eq!(balance(c, "m1").await, pair("65.00", "0.00"));
    // The same key with another request is refused, never a second effect.
    let status = c.withdraw(withdraw("w1", "m1", "31")).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(info.metadata["operation_id"], "w1");
    assert_eq!(balance(c, "m1").await, pair("65.00", "0.00"));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_withdrawals_never_overdraw() {
    let mut l = Ledger::start().await;
    l.client.accrue(accrue("seed", "hot", "500")).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let mut c = l.client.clone();
        tasks.push(tokio::spawn(async move {
            c.withdraw(withdraw(&format!("w{i}"), "hot", "1")).await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(s) if s.code() == Code::FailedPrecondition => refused += 1,
            Err(s) => panic!("unexpected {s:?}"),
        }
    }
    assert_eq!((ok, refused), (500, 500));
    assert_eq!(balance(&mut l.client, "hot").await, pair("0.00", "0.00"));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunding_a_fully_refunded_operation_is_already_refunded() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    c.accrue(accrue("a1", "m1", "30")).await.unwrap();
    c.accrue(accrue("a2", "m1", "40")).await.unwrap();
    c.withdraw(withdraw("w1", "m1", "35")).await.unwrap(); // 30 from a1's bucket, 5 from a2's
    let refund = |op: &str, original: &str| refund_of(op, "m1", original);
    // a1's bucket is empty: the refund takes nothing and reports 30.
    let r = c.refund(refund("r1", "a1")).await.unwrap().into_inner();
    let result = r.result.unwrap();
    assert_eq!(
        (result.amount.as_str(), result.uncollected.as_str()),
        ("0.00", "30.00")
    );
    assert_eq!(balance(c, "m1").await, pair("35.00", "0.00"));
    for (op, original) in [("r2", "a1"), ("r3", "r1")] {
        let status = c.refund(refund(op, original)).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        let reason = status.get_details_error_info().unwrap().reason;
        let expected = if original == "a1" {
            "ALREADY_REFUNDED"
        } else {
            "NOT_REFUNDABLE"
        };
        assert_eq!(reason, expected);
    }
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_id_is_unique_across_the_ledger() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    c.accrue(accrue("op-1", "m1", "10")).await.unwrap();
    // The same id for another member, another currency or another method.
    let mut other_currency = accrue("op-1", "m1", "10");
    other_currency.amount = money("10", "EUR");
    let refused = [
        c.accrue(accrue("op-1", "m2", "10")).await.unwrap_err(),
        c.accrue(other_currency).await.unwrap_err(),
        c.withdraw(withdraw("op-1", "m1", "10")).await.unwrap_err(),
        c.release_hold(release("op-1", "m1", "h-none"))
            .await
            .unwrap_err(),
    ];
    for status in refused {
        assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(info.metadata["operation_id"], "op-1");
    }
    // A hold id is unique across the ledger too.
    let hold = |member: &str| hold("h-1", member, "1");
    c.accrue(accrue("a-m2", "m2", "10")).await.unwrap();
    c.hold(hold("m1")).await.unwrap();
    assert_eq!(
        c.hold(hold("m2")).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    // The repeat of the first request is still its stored answer.
    c.accrue(accrue("op-1", "m1", "10")).await.unwrap();
    assert_eq!(balance(c, "m1").await, pair("9.00", "1.00"));
    assert!(available(c, "m2").await == "10.00");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_enum_values_and_discounts_are_invalid_arguments() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    c.accrue(accrue("seed", "m1", "100")).await.unwrap();
    let field = |s: tonic::Status| {
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        s.get_details_bad_request().unwrap().field_violations[0]
            .field
            .clone()
    };
    let mut w = withdraw("w1", "m1", "1");
    w.kind = 99;
    assert_eq!(field(c.withdraw(w).await.unwrap_err()), "kind");
    let mut w = withdraw("w2", "m1", "1");
    w.kind = pb::OperationKind::Charging as i32;
    assert_eq!(field(c.withdraw(w).await.unwrap_err()), "kind");
    let mut w = withdraw("w3", "m1", "1");
    w.withdraw_type = 42;
    assert_eq!(field(c.withdraw(w).await.unwrap_err()), "withdraw_type");
    let mut a = accrue("a1", "m1", "1");
    a.reward_type = 7;
    assert_eq!(field(c.accrue(a).await.unwrap_err()), "reward_type");
    let mut a = accrue("a2", "m1", "1");
    a.reward_type = pb::RewardType::Discount as i32;
    assert_eq!(field(c.accrue(a).await.unwrap_err()), "reward_type");
    let mut a = accrue("a3", "m1", "1");
    a.kind = -1;
    assert_eq!(field(c.accrue(a).await.unwrap_err()), "kind");
    // Nothing was applied.
    assert_eq!(balance(c, "m1").await, pair("100.00", "0.00"));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_long_free_text_is_invalid_argument_quoting_a_short_prefix() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    let mut r = accrue("a1", "m1", "1");
    r.amount = money("1", &"X".repeat(10_000));
    let status = c.accrue(r).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let v = &status.get_details_bad_request().unwrap().field_violations[0];
    assert_eq!(v.field, "amount.currency");
    assert!(v.description.len() < 120, "{}", v.description);
    assert!(status.message().len() < 200, "{}", status.message());
    let mut r = accrue("a2", "m1", "1");
    r.context = Some(pb::OperationContext {
        description: "d".repeat(1_000_000),
        ..Default::default()
    });
    let status = c.accrue(r).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "context.description"
    );
    let mut r = withdraw("w1", "m1", "1");
    r.context = Some(pb::OperationContext {
        card_id: "c".repeat(200),
        ..Default::default()
    });
    assert_eq!(
        c.withdraw(r).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    l.stop().await;
}
