//! A purchase's life in the ledger over real gRPC: a hold and a pending
//! accrual, then one confirm (or cancel) that settles both; balances,
//! refunds and history after it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::Ledger;
use common::requests::*;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use tonic::transport::Channel;
use tonic_types::StatusExt;

fn of(purchase: &str) -> Option<pb::OperationContext> {
    Some(pb::OperationContext {
        description: "Cheque 7".into(),
        purchase_id: purchase.into(),
        cheque_number: "7".into(),
        card_id: "card-1".into(),
        ..Default::default()
    })
}

fn hold(id: &str, member: &str, amount: &str, purchase: &str) -> pb::HoldRequest {
    pb::HoldRequest {
        hold_id: id.into(),
        member_id: member.into(),
        amount: money(amount, ""),
        context: of(purchase),
        ttl_seconds: 0,
    }
}

fn pending(op: &str, member: &str, amount: &str, purchase: &str) -> pb::AccruePendingRequest {
    pb::AccruePendingRequest {
        operation_id: op.into(),
        member_id: member.into(),
        amount: money(amount, ""),
        context: of(purchase),
        ..Default::default()
    }
}

fn confirm(op: &str, member: &str, purchase: &str) -> pb::ConfirmPurchaseRequest {
    pb::ConfirmPurchaseRequest {
        operation_id: op.into(),
        member_id: member.into(),
        currency: String::new(),
        purchase_id: purchase.into(),
        context: of(purchase),
        cheque_items: vec![item("Товар100", "1", "76.5"), item("Пакет", "2", "0")],
        tenders: Vec::new(),
    }
}

fn tender(kind: pb::WithdrawType, amount: &str, currency: &str, description: &str) -> pb::Tender {
    pb::Tender {
        withdraw_type: kind as i32,
        amount: amount.into(),
        currency: currency.into(),
        description: description.into(),
        reference: "hold-1".into(),
    }
}

fn item(description: &str, count: &str, amount: &str) -> pb::ChequeItem {
    pb::ChequeItem {
        description: description.into(),
        count: count.into(),
        amount: amount.into(),
    }
}

fn cancel(op: &str, member: &str, purchase: &str) -> pb::CancelPurchaseRequest {
    pb::CancelPurchaseRequest {
        operation_id: op.into(),
        member_id: member.into(),
        currency: String::new(),
        purchase_id: purchase.into(),
        context: of(purchase),
    }
}

/// [available, held, pending] of the member's BONUS account.
async fn amounts(c: &mut LedgerServiceClient<Channel>, member: &str) -> [String; 3] {
    let b = account(c, member).await;
    [b.available, b.held, b.pending]
}

/// The settlement a confirm answers.
async fn confirmed(
    c: &mut LedgerServiceClient<Channel>,
    r: pb::ConfirmPurchaseRequest,
) -> pb::PurchaseSettlement {
    let answer = c.confirm_purchase(r).await.unwrap().into_inner();
    answer.settlement.unwrap()
}

fn reason(status: &tonic::Status) -> String {
    status.get_details_error_info().unwrap().reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_settles_the_hold_and_the_pending_accrual_together() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    c.accrue(accrue("a1", "m1", "100")).await.unwrap();
    c.hold(hold("h1", "m1", "36.5", "P1")).await.unwrap();
    let r = c
        .accrue_pending(pending("p1", "m1", "2", "P1"))
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert_eq!(r.balance_after.unwrap().available, "63.50");
    assert_eq!(amounts(c, "m1").await, ["63.50", "36.50", "2.00"]);

    let s = confirmed(c, confirm("c1", "m1", "P1")).await;
    assert_eq!(s.purchase_id, "P1");
    assert_eq!(s.holds.len(), 1);
    assert_eq!(
        (s.holds[0].operation_id.as_str(), s.holds[0].amount.as_str()),
        ("purchase/h1", "36.50")
    );
    assert_eq!(s.accruals.len(), 1);
    assert_eq!(
        (
            s.accruals[0].operation_id.as_str(),
            s.accruals[0].amount.as_str()
        ),
        ("p1", "2.00")
    );
    assert_eq!(s.balance_after.as_ref().unwrap().available, "65.50");
    assert_eq!(amounts(c, "m1").await, ["65.50", "0.00", "0.00"]);

    // The same confirm again answers the same; another one is refused.
    let again = confirmed(c, confirm("c1", "m1", "P1")).await;
    assert_eq!(again, s);
    let refused = c
        .confirm_purchase(confirm("c2", "m1", "P1"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(reason(&refused), "PURCHASE_CONFIRMED");
    let refused = c
        .cancel_purchase(cancel("x1", "m1", "P1"))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "PURCHASE_CONFIRMED");

    // Refundable under the ids the confirm reported.
    let mut r = refund_of("r1", "m1", "purchase/h1");
    r.amount = "10".into();
    c.refund(r).await.unwrap();
    c.refund(refund_of("r2", "m1", "p1")).await.unwrap();
    assert_eq!(account(c, "m1").await.available, "73.50");

    // The purchase is one history row with its withdrawal and its reward.
    let h = recent_history(c, "m1").await;
    let purchase_rows: Vec<&pb::HistoryRow> = h
        .rows
        .iter()
        .filter(|r| r.r#type == pb::HistoryRowType::Purchase as i32)
        .collect();
    assert_eq!(purchase_rows.len(), 1, "{:#?}", h.rows);
    let row = purchase_rows[0];
    assert_eq!(row.withdraws.len(), 1, "{row:#?}");
    assert_eq!(row.rewards.len(), 1, "{row:#?}");
    // With the cheque's items the confirm named.
    let items: Vec<(&str, &str, &str)> = row
        .cheque_items
        .iter()
        .map(|i| (i.description.as_str(), i.count.as_str(), i.amount.as_str()))
        .collect();
    assert_eq!(
        items,
        [("Товар100", "1", "76.50"), ("Пакет", "2", "0.00")],
        "{row:#?}"
    );
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirms_gift_cards_show_on_the_row_and_replace_only_their_own() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    c.accrue(accrue("a5", "m5", "100")).await.unwrap();
    // A withdrawal of GiftCard type made for the purchase by other means.
    c.withdraw(pb::WithdrawRequest {
        operation_id: "w5".into(),
        member_id: "m5".into(),
        amount: money("5", ""),
        withdraw_type: pb::WithdrawType::GiftCard as i32,
        context: of("P5"),
        ..Default::default()
    })
    .await
    .unwrap();
    c.hold(hold("h5", "m5", "1", "P5")).await.unwrap();
    let mut paid = confirm("c5", "m5", "P5");
    paid.tenders = vec![tender(
        pb::WithdrawType::GiftCard,
        "70",
        "RUB",
        "Gift certificate …1000",
    )];
    c.confirm_purchase(paid).await.unwrap();
    let rows = recent_history(c, "m5").await.rows;
    let row = rows
        .iter()
        .find(|r| r.r#type == pb::HistoryRowType::Purchase as i32)
        .expect("the purchase's row");
    let mut withdraws: Vec<(&str, &str, i32)> = row
        .withdraws
        .iter()
        .map(|w| (w.amount.as_str(), w.currency.as_str(), w.withdraw_type))
        .collect();
    withdraws.sort();
    let gift = pb::WithdrawType::GiftCard as i32;
    assert_eq!(
        withdraws,
        [
            ("-1.00", "BONUS", pb::WithdrawType::Bonus as i32),
            ("-5.00", "BONUS", gift),
            ("-70.00", "RUB", gift)
        ],
        "{row:#?}"
    );
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_restores_the_hold_and_drops_the_pending_accrual() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    c.accrue(accrue("a1", "m2", "50")).await.unwrap();
    c.hold(hold("h1", "m2", "20", "P2")).await.unwrap();
    c.accrue_pending(pending("p1", "m2", "1.5", "P2"))
        .await
        .unwrap();
    let s = c
        .cancel_purchase(cancel("x1", "m2", "P2"))
        .await
        .unwrap()
        .into_inner()
        .settlement
        .unwrap();
    assert_eq!(s.holds[0].amount, "20.00");
    assert_eq!(s.accruals[0].amount, "1.50");
    assert_eq!(amounts(c, "m2").await, ["50.00", "0.00", "0.00"]);
    // Nothing more can join a cancelled purchase.
    let refused = c.hold(hold("h2", "m2", "1", "P2")).await.unwrap_err();
    assert_eq!(reason(&refused), "PURCHASE_CANCELLED");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pending_and_settlement_requests_name_their_fields() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    let mut p = pending("purchase/x", "m3", "-1", "");
    p.kind = pb::OperationKind::Manual as i32;
    let status = c.accrue_pending(p).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let named = fields(&status);
    for f in [
        "operation_id",
        "amount.amount",
        "kind",
        "context.purchase_id",
    ] {
        assert!(named.iter().any(|x| x == f), "{f} not in {named:?}");
    }
    let mut bad = confirm("c1", "m3", "P3");
    bad.cheque_items = vec![
        item(&"x".repeat(129), "1", "1"),
        item("ok", "0", "-1"),
        item("ok", "1e3", "1"),
    ];
    let status = c.confirm_purchase(bad).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        fields(&status),
        [
            "cheque_items[0].description",
            "cheque_items[1].count",
            "cheque_items[1].amount",
            "cheque_items[2].count"
        ]
    );
    let mut many = confirm("c1", "m3", "P3");
    many.cheque_items = vec![item("x", "1", "1"); 101];
    let status = c.confirm_purchase(many).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    // Payments besides points: gift cards only, a positive amount in a
    // catalog currency, a short description; at most 5.
    let gift = pb::WithdrawType::GiftCard;
    let mut bad = confirm("c1", "m3", "P3");
    bad.tenders = vec![
        tender(pb::WithdrawType::Bonus, "1", "RUB", "ok"),
        tender(gift, "-1", "RUB", "ok"),
        tender(gift, "1", "NOPE", &"x".repeat(129)),
    ];
    let status = c.confirm_purchase(bad).await.unwrap_err();
    assert_eq!(
        fields(&status),
        [
            "tenders[0].withdraw_type",
            "tenders[1].amount",
            "tenders[2].currency",
            "tenders[2].description"
        ]
    );
    let mut many = confirm("c1", "m3", "P3");
    many.tenders = vec![tender(gift, "1", "RUB", "ok"); 6];
    let status = c.confirm_purchase(many).await.unwrap_err();
    assert_eq!(fields(&status), ["tenders"]);
    let status = c
        .confirm_purchase(confirm("c1", "m3", ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    l.stop().await;
}
