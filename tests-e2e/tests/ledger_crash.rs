//! The real ledger binary killed with SIGKILL during a stream of accruals:
//! after a restart every acknowledged operation is applied exactly once,
//! clients can safely retry everything, and the balance equals the log.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::HashSet;
use std::time::Duration;

use loyalty_proto::common::v1::Money;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use rust_decimal::Decimal;
use tests_e2e::harness::{ServiceProcess, ServiceSpec, binary_path, free_port};

const OPS: usize = 2000;

fn amount(i: usize) -> String {
    format!("{}.{:02}", i % 50 + 1, i % 100)
}

fn request(i: usize) -> pb::AccrueRequest {
    pb::AccrueRequest {
        operation_id: format!("op-{i}"),
        member_id: "crash-member".into(),
        amount: Some(Money {
            amount: amount(i),
            currency: "BONUS".into(),
        }),
        ..Default::default()
    }
}

async fn client(port: u16) -> LedgerServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    LedgerServiceClient::new(channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_accruals_survive_sigkill_exactly_once() {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let spec = ServiceSpec::new("ledger", binary_path("ledger"))
        .args(["--data-dir", data.path().to_str().unwrap()])
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .grpc_port(grpc);
    let mut ledger = ServiceProcess::start(spec).await.unwrap();

    // 8 clients stream accruals; the ledger is killed mid-stream.
    let (ack_tx, mut acks) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let ack_tx = ack_tx.clone();
        let mut c = client(grpc).await;
        tasks.push(tokio::spawn(async move {
            for i in (w..OPS).step_by(8) {
                match c.accrue(request(i)).await {
                    Ok(_) => {
                        let _ = ack_tx.send(i);
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    drop(ack_tx);
    let mut acked_before_kill = HashSet::new();
    while acked_before_kill.len() < 300 {
        let i = tokio::time::timeout(Duration::from_secs(60), acks.recv())
            .await
            .expect("accruals progress")
            .expect("clients running");
        acked_before_kill.insert(i);
    }
    ledger.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    while let Ok(i) = acks.try_recv() {
        acked_before_kill.insert(i);
    }
    assert!(acked_before_kill.len() >= 300 && acked_before_kill.len() < OPS);

    ledger.restart().await.unwrap();
    let mut c = client(grpc).await;
    // Retrying everything is safe: acknowledged operations answer from the
    // idempotency store with their original result.
    for i in 0..OPS {
        let r = c
            .accrue(request(i))
            .await
            .unwrap()
            .into_inner()
            .result
            .unwrap();
        assert_eq!(
            r.amount.parse::<Decimal>().unwrap(),
            amount(i).parse::<Decimal>().unwrap()
        );
    }
    let expected: Decimal = (0..OPS)
        .map(|i| amount(i).parse::<Decimal>().unwrap())
        .sum();
    let balance = c
        .get_balance(pb::GetBalanceRequest {
            member_id: "crash-member".into(),
            currency: "BONUS".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        balance.accounts[0].available.parse::<Decimal>().unwrap(),
        expected
    );
    assert!(ledger.terminate().await.unwrap().success());

    // The log holds each operation exactly once.
    let log = kit::log::EventLog::open(data.path().join("eventlog")).unwrap();
    log.verify().unwrap();
    let mut seen = HashSet::new();
    let mut sum = Decimal::ZERO;
    for e in log.iter_from(1) {
        let e = e.unwrap();
        assert_eq!(e.event_type, "loyalty.ledger.v1.PointsAccrued");
        let m: pb::PointsAccrued = prost::Message::decode(e.payload.as_slice()).unwrap();
        assert!(
            seen.insert(m.operation_id.clone()),
            "{} applied twice",
            m.operation_id
        );
        sum += m.amount.parse::<Decimal>().unwrap();
    }
    assert_eq!(seen.len(), OPS);
    assert_eq!(sum, expected);
    for i in acked_before_kill {
        assert!(seen.contains(&format!("op-{i}")));
    }
}
