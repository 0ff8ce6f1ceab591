//! Purchases benchmark (`scripts/bench.sh purchases`): prints figures,
//! asserts nothing.
//!
//! identity, the ledger and purchases run in-process on fresh data dirs
//! under the target dir, talking gRPC over loopback as in production, with
//! their outboxes publishing to a `nats-server -js` from `NATS_SERVER_BIN`
//! (without one the events stay in the logs). `PURCHASES_BENCH_MEMBERS`
//! (1 000) members are registered by card and given 100 000 points each.
//! Then `PURCHASES_BENCH_CLIENTS` (64) clients run whole purchases for
//! `PURCHASES_BENCH_SECONDS` (10): Calculate (the seed's cheque) → Payment
//! (1 point) → Bonus → Confirm, each purchase with a random member's card;
//! purchases/s, p50/p99 of a whole purchase. Clients share
//! `PURCHASES_BENCH_CHANNELS` (16) gRPC connections.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use kit::bench::{Figures, env};
use kit::service::InProcess;
use loyalty_proto::identity::v1 as ipb;
use loyalty_proto::identity::v1::card_service_client::CardServiceClient;
use loyalty_proto::identity::v1::registration_service_client::RegistrationServiceClient;
use loyalty_proto::ledger::v1 as lpb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use loyalty_proto::purchases::v1 as pb;
use loyalty_proto::purchases::v1::purchases_service_client::PurchasesServiceClient;
use rand::Rng;
use tonic::transport::Channel;

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The first card number of the loaded range.
const FIRST_CARD: u64 = 6_000_000_000_000_000;

#[derive(Parser)]
struct IdentityCli {
    #[command(flatten)]
    args: identity::config::IdentityArgs,
}

#[derive(Parser)]
struct LedgerCli {
    #[command(flatten)]
    args: ledger::config::LedgerArgs,
}

#[derive(Parser)]
struct PurchasesCli {
    #[command(flatten)]
    args: purchases::config::PurchasesArgs,
}

fn dir(root: &Path, name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(root)
        .unwrap()
}

fn with_nats<'a>(mut flags: Vec<&'a str>, nats: Option<&'a str>) -> Vec<&'a str> {
    if let Some(url) = nats {
        flags.extend(["--nats-url", url]);
    }
    flags
}

struct Services {
    identity: InProcess,
    ledger: InProcess,
    purchases: InProcess,
    _dirs: Vec<tempfile::TempDir>,
}

async fn start(root: &Path, nats: Option<&str>) -> Services {
    let dirs = vec![
        dir(root, "identity-"),
        dir(root, "ledger-"),
        dir(root, "purchases-"),
    ];
    let path = |i: usize| dirs[i].path().to_str().unwrap().to_owned();
    let (ip, lp, pp) = (path(0), path(1), path(2));
    let args = IdentityCli::parse_from(with_nats(vec!["identity", "--data-dir", &ip], nats)).args;
    let identity = InProcess::start(&identity::SPEC, |grpc, metrics, shutdown| {
        identity::run(args, grpc, metrics, shutdown, Arc::new(chrono::Utc::now))
    })
    .await
    .unwrap();
    let flags = vec!["ledger", "--data-dir", &lp, "--identity-url", &identity.url];
    let args = LedgerCli::parse_from(with_nats(flags, nats)).args;
    let ledger = InProcess::start(&ledger::SPEC, |grpc, metrics, shutdown| {
        ledger::run(args, grpc, metrics, shutdown, Arc::new(chrono::Utc::now))
    })
    .await
    .unwrap();
    let flags = vec![
        "purchases",
        "--data-dir",
        &pp,
        "--identity-url",
        &identity.url,
        "--ledger-url",
        &ledger.url,
    ];
    let args = PurchasesCli::parse_from(with_nats(flags, nats)).args;
    let purchases = InProcess::start(&purchases::SPEC, |grpc, metrics, shutdown| {
        purchases::run(args, grpc, metrics, shutdown, kit::clock::system())
    })
    .await
    .unwrap();
    Services {
        identity,
        ledger,
        purchases,
        _dirs: dirs,
    }
}

/// Registers `n` members by card and gives each `points`; their cards.
async fn members(s: &Services, n: u64, points: &str) -> Vec<String> {
    let first = FIRST_CARD.to_string();
    let last = (FIRST_CARD + n - 1).to_string();
    CardServiceClient::new(s.identity.channel.clone())
        .load_cards(ipb::LoadCardsRequest {
            card_numbers: vec![],
            ranges: vec![ipb::CardRange { first, last }],
        })
        .await
        .unwrap();
    let mut cards = Vec::new();
    for i in 0..n {
        let card = (FIRST_CARD + i).to_string();
        let member = RegistrationServiceClient::new(s.identity.channel.clone())
            .begin_registration(ipb::BeginRegistrationRequest {
                login: card.clone(),
                password: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .member_id;
        LedgerServiceClient::new(s.ledger.channel.clone())
            .accrue(lpb::AccrueRequest {
                operation_id: format!("bench-welcome-{i}"),
                member_id: member,
                amount: Some(loyalty_proto::common::v1::Money {
                    amount: points.into(),
                    currency: String::new(),
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        cards.push(card);
    }
    cards
}

fn step(purchase: &str, op: &str, card: &str) -> Option<pb::Step> {
    Some(pb::Step {
        purchase_id: purchase.into(),
        operation_id: op.into(),
        operation_date: None,
        identifier: (!card.is_empty()).then(|| pb::Identifier {
            r#type: pb::IdentifierType::Card as i32,
            value: card.into(),
        }),
        device: None,
    })
}

fn cheque(amount: &str, discount: &str, price: &str) -> Option<pb::Cheque> {
    Some(pb::Cheque {
        number: "1".into(),
        date: None,
        lines: vec![pb::ChequeLine {
            position: 1,
            amount: amount.into(),
            goods_id: "0036961".into(),
            barcode: "8765653477".into(),
            quantity: "1".into(),
            discount: discount.into(),
            price: price.into(),
            ..Default::default()
        }],
    })
}

/// One whole purchase: Calculate → Payment → Bonus → Confirm.
async fn purchase(client: &mut PurchasesServiceClient<Channel>, id: &str, card: &str) {
    client
        .calculate(pb::CalculateRequest {
            step: step(id, &format!("{id}-c"), card),
            cheque: cheque("85", "15", "100"),
            coupons: vec![],
        })
        .await
        .unwrap();
    client
        .payment(pb::PaymentRequest {
            step: step(id, &format!("{id}-p"), card),
            cheque: cheque("76.5", "23.5", "100"),
            amount: "1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .bonus(pb::BonusRequest {
            step: step(id, &format!("{id}-b"), card),
            cheque: cheque("76.5", "", ""),
            pays: vec![
                pb::Pay {
                    r#type: "Card".into(),
                    amount: "75.5".into(),
                    ..Default::default()
                },
                pb::Pay {
                    r#type: "Loymax".into(),
                    amount: "1".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .confirm(pb::ConfirmRequest {
            step: step(id, &format!("{id}-f"), ""),
        })
        .await
        .unwrap();
}

async fn run() {
    let clients: usize = env("PURCHASES_BENCH_CLIENTS", 64);
    let seconds: u64 = env("PURCHASES_BENCH_SECONDS", 10);
    let n: u64 = env("PURCHASES_BENCH_MEMBERS", 1000);
    let connections: usize = env("PURCHASES_BENCH_CHANNELS", 16).max(1);
    let root = kit::bench::root("purchases-bench");
    std::fs::create_dir_all(&root).unwrap();
    let nats = tests_e2e::harness::NatsServer::start().await.ok();
    let nats_url = nats.as_ref().map(|n| n.url());
    let s = start(&root, nats_url.as_deref()).await;
    let setup = Instant::now();
    let cards = Arc::new(members(&s, n, "100000").await);
    println!(
        "purchases benchmark on {} cores: identity, ledger and purchases in one process over loopback gRPC; {clients} clients on {connections} connections; events to {}",
        std::thread::available_parallelism().map_or(0, |c| c.get()),
        nats_url.as_deref().unwrap_or("nowhere (no nats-server)")
    );
    println!(
        "  setup: {n} members registered by card with points in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let endpoint = tonic::transport::Endpoint::from_shared(s.purchases.url.clone()).unwrap();
    let channels: Vec<Channel> = (0..connections).map(|_| endpoint.connect_lazy()).collect();
    let next = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client = PurchasesServiceClient::new(channels[c % channels.len()].clone());
        let cards = Arc::clone(&cards);
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < stop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let card = &cards[rand::rng().random_range(0..cards.len())];
                let t = Instant::now();
                purchase(&mut client, &format!("bench-{i}"), card).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let figures = Figures::of(latencies, started.elapsed());
    println!(
        "  whole purchases (Calculate → Payment → Bonus → Confirm), {clients} clients, {seconds} s: {}",
        figures.line("purchases")
    );
    println!(
        "  gRPC steps: {:.0} steps/s to purchases (each step also calls identity and/or the ledger)",
        figures.per_sec * 4.0
    );
    drop(s.identity);
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
