//! Analysts' view: the real ledger publishes its events to a real
//! nats-server, and every balance can be recomputed from the stream alone.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use loyalty_proto::common::v1::Money;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use rust_decimal::Decimal;
use tests_e2e::harness::{
    NatsServer, ServiceProcess, ServiceSpec, binary_path, free_port, metrics,
};

fn money(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "BONUS".into(),
    })
}

fn dec(v: &serde_json::Value) -> Decimal {
    v.as_str().unwrap_or("0").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_can_be_recomputed_from_the_event_stream() {
    tests_e2e::harness::init_test_logging();
    let nats = NatsServer::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let spec = ServiceSpec::new("ledger", binary_path("ledger"))
        .args(["--data-dir", data.path().to_str().unwrap()])
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--metrics-addr", &metrics_addr])
        .args(["--nats-url", &nats.url()])
        .grpc_port(grpc);
    let mut ledger = ServiceProcess::start(spec).await.unwrap();
    let mut c = LedgerServiceClient::connect(format!("http://127.0.0.1:{grpc}"))
        .await
        .unwrap();

    for m in ["alice", "bob"] {
        c.accrue(pb::AccrueRequest {
            operation_id: format!("{m}-a1"),
            member_id: m.into(),
            amount: money("100.00"),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    c.withdraw(pb::WithdrawRequest {
        operation_id: "alice-w1".into(),
        member_id: "alice".into(),
        amount: money("30.50"),
        ..Default::default()
    })
    .await
    .unwrap();
    c.hold(pb::HoldRequest {
        hold_id: "bob-h1".into(),
        member_id: "bob".into(),
        amount: money("40"),
        context: None,
        ..Default::default()
    })
    .await
    .unwrap();
    c.capture_hold(pb::CaptureHoldRequest {
        operation_id: "bob-c1".into(),
        member_id: "bob".into(),
        hold_id: "bob-h1".into(),
        amount: "25".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.refund(pb::RefundRequest {
        operation_id: "alice-r1".into(),
        member_id: "alice".into(),
        original_operation_id: "alice-w1".into(),
        amount: "10.25".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    // Wait until the outbox has published everything.
    let head = tests_e2e::harness::eventually(
        Duration::from_secs(60),
        "the outbox catches up with the log",
        || async {
            let body = metrics::scrape(&metrics_addr).await.unwrap();
            let head = metrics::value(&body, "loyalty_eventlog_head_position").unwrap_or(0);
            (head > 0 && metrics::value(&body, "loyalty_outbox_checkpoint") == Some(head))
                .then_some(head)
        },
    )
    .await;

    // An analyst's consumer: sum the amounts per account from the stream alone.
    let js = jetstream::new(nats.client().await.unwrap());
    let consumer = js
        .get_stream("LOYALTY")
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: "loyalty.ledger.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut balance: HashMap<String, Decimal> = HashMap::new();
    let mut last_after: HashMap<String, Decimal> = HashMap::new();
    for _ in 0..head {
        let m = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let e: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        let member = e["account"]["memberId"].as_str().unwrap().to_owned();
        let amount = dec(&e["amount"]);
        let delta = match m.subject.as_str() {
            "loyalty.ledger.points_accrued" => amount,
            "loyalty.ledger.points_withdrawn"
            | "loyalty.ledger.hold_captured"
            | "loyalty.ledger.points_expired" => -amount,
            "loyalty.ledger.points_refunded" if e["credit"] == true => amount,
            "loyalty.ledger.points_refunded" => -amount,
            "loyalty.ledger.points_held" | "loyalty.ledger.hold_released" => Decimal::ZERO,
            other => panic!("unexpected subject {other}"),
        };
        *balance.entry(member.clone()).or_default() += delta;
        let after = &e["balanceAfter"];
        last_after.insert(member, dec(&after["available"]) + dec(&after["held"]));
    }
    for (member, total) in &balance {
        assert_eq!(
            last_after[member], *total,
            "{member}: balanceAfter agrees with the running sum"
        );
        let b = c
            .get_balance(pb::GetBalanceRequest {
                member_id: member.clone(),
                currency: "BONUS".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let live: Decimal = b.accounts[0].available.parse::<Decimal>().unwrap()
            + b.accounts[0].held.parse::<Decimal>().unwrap();
        assert_eq!(
            live, *total,
            "{member}: the stream's sum equals the ledger's balance"
        );
    }
    assert_eq!(balance["alice"], "79.75".parse::<Decimal>().unwrap());
    assert_eq!(balance["bob"], "75".parse::<Decimal>().unwrap());
    assert!(ledger.terminate().await.unwrap().success());
}
