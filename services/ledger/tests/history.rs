//! History over real gRPC: the seed's filters, signs and rows.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::Ledger;
use common::requests::*;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use tonic::transport::Channel;

fn context(description: &str, card: &str, purchase: &str) -> Option<pb::OperationContext> {
    Some(pb::OperationContext {
        description: description.into(),
        reason: "test".into(),
        card_id: card.into(),
        purchase_id: purchase.into(),
        operator_id: "emp-1".into(),
        ..Default::default()
    })
}

async fn history(
    c: &mut LedgerServiceClient<Channel>,
    to: Option<loyalty_proto::wkt::Timestamp>,
    count: u32,
    tweak: impl FnOnce(&mut pb::GetHistoryRequest),
) -> (u64, Vec<String>) {
    let mut r = history_request("m1", to, count);
    tweak(&mut r);
    let h = history_of(c, r).await;
    (h.all_count, h.rows.into_iter().map(|r| r.id).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_follows_the_seed_filters() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    let mut a1 = accrue("a1", "m1", "100");
    a1.context = context("Welcome bonus", "card-1", "");
    c.accrue(a1).await.unwrap();
    let mut w1 = withdraw("w1", "m1", "10");
    w1.kind = pb::OperationKind::Manual as i32;
    w1.context = context("Correction", "card-2", "");
    c.withdraw(w1).await.unwrap();
    let mut a2 = accrue("a2", "m1", "5");
    a2.context = context("Cheque 42", "card-1", "P-42");
    c.accrue(a2).await.unwrap();
    let mut w2 = withdraw("w2", "m1", "3");
    w2.context = context("Cheque 42", "card-1", "P-42");
    c.withdraw(w2).await.unwrap();

    let now: Option<loyalty_proto::wkt::Timestamp> = Some(chrono::Utc::now().into());
    // Neither required filter, or only `count`: nothing.
    assert_eq!(history(c, None, 0, |_| {}).await, (0, vec![]));
    assert_eq!(history(c, None, 10, |_| {}).await, (0, vec![]));
    // Only `toDate`: the count without rows.
    assert_eq!(history(c, now, 0, |_| {}).await, (3, vec![]));
    // Both: newest first; a purchase is one row with its reward and withdrawal.
    let (all, ids) = history(c, now, 2, |_| {}).await;
    assert_eq!(all, 3);
    assert_eq!(ids[0], "P-42");
    let full = history_of(c, history_request("m1", now, 10)).await;
    let types: Vec<i32> = full.rows.iter().map(|r| r.r#type).collect();
    assert_eq!(
        types,
        [
            pb::HistoryRowType::Purchase as i32,
            pb::HistoryRowType::WithdrawData as i32,
            pb::HistoryRowType::RewardData as i32
        ]
    );
    let purchase = &full.rows[0];
    assert_eq!((purchase.rewards.len(), purchase.withdraws.len()), (1, 1));
    assert_eq!(purchase.rewards[0].amount, "5.00");
    assert_eq!(purchase.withdraws[0].amount, "-3.00");
    assert_eq!(full.rows[1].description, "Correction");
    assert_eq!(full.rows[1].kind, pb::OperationKind::Manual as i32);
    assert_eq!(full.rows[2].description, "Welcome bonus");
    // `from` skips rows; `cardId` filters; `fromDate` bounds from below.
    assert_eq!(history(c, now, 5, |r| r.from = 1).await.1.len(), 2);
    assert_eq!(
        history(c, now, 5, |r| r.card_id = "card-2".into()).await,
        (1, vec![full.rows[1].id.clone()])
    );
    let since_w1 = full.rows[1].date_time;
    assert_eq!(history(c, now, 5, |r| r.from_date = since_w1).await.0, 2);
    // `toDate` before everything: nothing.
    let before = Some(loyalty_proto::wkt::Timestamp {
        seconds: 1,
        nanos: 0,
    });
    assert_eq!(history(c, before, 5, |_| {}).await, (0, vec![]));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_rows_look_like_the_seed_and_refunds_are_rows_of_their_own() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    let purchase = |description: &str| {
        Some(pb::OperationContext {
            description: description.into(),
            card_id: "card-1".into(),
            purchase_id: "P-7".into(),
            cheque_number: "000123".into(),
            purchase_amount: money("150.00", "RUB"),
            ..Default::default()
        })
    };
    let mut a1 = accrue("a1", "m1", "100");
    a1.context = purchase("Cheque 123");
    c.accrue(a1).await.unwrap();
    let mut w1 = withdraw("w1", "m1", "10");
    w1.context = purchase("Cheque 123");
    c.withdraw(w1).await.unwrap();
    let mut w2 = withdraw("w2", "m1", "4");
    w2.kind = pb::OperationKind::Manual as i32;
    w2.context = Some(pb::OperationContext {
        operator_id: "emp-1".into(),
        ..Default::default()
    });
    c.withdraw(w2).await.unwrap();
    let mut r1 = refund_of("r1", "m1", "w1");
    r1.amount = "10".into();
    r1.context = purchase("Refund of cheque 123");
    c.refund(r1).await.unwrap();
    let now = Some(chrono::Utc::now().into());
    let h = history_of(c, history_request("m1", now, 10)).await;
    assert_eq!(h.all_count, 3, "{h:?}");
    // Newest first: the refund, the manual withdrawal, the purchase.
    let (refund, manual, bought) = (&h.rows[0], &h.rows[1], &h.rows[2]);
    assert_eq!(bought.r#type, pb::HistoryRowType::Purchase as i32);
    assert!(!bought.is_refund);
    assert_eq!(bought.cheque_number, "000123");
    assert_eq!(bought.amount, money("150.00", "RUB"));
    assert_eq!(bought.rewards[0].amount, "100.00", "rewards are positive");
    assert_eq!(
        bought.withdraws[0].amount, "-10.00",
        "withdrawals are negative"
    );
    assert_eq!(manual.r#type, pb::HistoryRowType::WithdrawData as i32);
    assert_eq!(manual.withdraws[0].amount, "-4.00");
    assert_eq!(refund.r#type, pb::HistoryRowType::Purchase as i32);
    assert!(refund.is_refund);
    assert_eq!(refund.cheque_number, "000123");
    assert_eq!(refund.rewards[0].amount, "10.00");
    assert!(refund.date_time > manual.date_time);
    // A date filter finds the refund at its own date.
    let mut since = history_request("m1", now, 10);
    since.from_date = refund.date_time;
    let since_refund = history_of(c, since).await;
    assert_eq!(since_refund.all_count, 1);
    assert!(since_refund.rows[0].is_refund);
    // `count` is capped.
    for i in 0..120 {
        c.accrue(accrue(&format!("bulk-{i}"), "m1", "1"))
            .await
            .unwrap();
    }
    let all = Some(chrono::Utc::now().into());
    let page = history_of(c, history_request("m1", all, 1_000_000)).await;
    assert_eq!(page.all_count, 123);
    assert_eq!(page.rows.len(), 100);
    l.stop().await;
}
