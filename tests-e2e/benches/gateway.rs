//! Gateway benchmark (`scripts/bench.sh gateway`): prints figures, asserts
//! nothing.
//!
//! The release binaries of identity, the ledger and purchases on a
//! `nats-server -js`, and the gateway in front of them, as in production.
//! `GATEWAY_BENCH_MEMBERS` (200) members are registered by card (each with
//! a token) and given points. Then, for `GATEWAY_BENCH_SECONDS` (10) each,
//! with `GATEWAY_BENCH_CLIENTS` (32) clients, in alternating runs
//! (`GATEWAY_BENCH_RUNS`, 3; medians printed):
//! - History: `GET /api/v1.1/History` over HTTP, beside the same calls made
//!   directly over gRPC (identity's Authenticate, then the ledger's
//!   GetHistory — what the gateway does);
//! - a whole purchase: Calculate → Payment → Bonus → Confirm over HTTP,
//!   beside the same four PurchasesService calls over gRPC.
//!
//! The gateway's cost is the difference of the p50s; its throughput is given
//! as a share of the direct one.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kit::bench::{Figures, env};
use loyalty_proto::identity::v1 as ipb;
use loyalty_proto::ledger::v1 as lpb;
use loyalty_proto::purchases::v1 as pb;
use rand::Rng;
use serde_json::json;
use tests_e2e::gateway::{DEVICE_KEY, Gateway, seed_cheque};
use tests_e2e::purchases::{World, world};

/// The first card number of the loaded range.
const FIRST_CARD: u64 = 6_100_000_000_000_000;

struct Member {
    card: String,
    member_id: String,
    token: String,
}

async fn members(w: &World, n: u64) -> Vec<Member> {
    let first = FIRST_CARD.to_string();
    let last = (FIRST_CARD + n - 1).to_string();
    w.identity
        .cards()
        .load_cards(ipb::LoadCardsRequest {
            card_numbers: vec![],
            ranges: vec![ipb::CardRange { first, last }],
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let card = (FIRST_CARD + i).to_string();
        let begun = w
            .identity
            .registration()
            .begin_registration(ipb::BeginRegistrationRequest {
                login: card.clone(),
                password: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        // A few history rows each.
        for k in 0..3 {
            tests_e2e::purchases::accrue(w, &format!("bench-{i}-{k}"), &begun.member_id, "10000")
                .await;
        }
        out.push(Member {
            card,
            member_id: begun.member_id,
            token: begun.auth_token,
        });
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Http,
    Grpc,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    History,
    Purchase,
}

const TO_DATE: &str = "2100-01-01T00:00:00Z";

async fn history(via: Via, g: &Gateway, w: &World, http: &reqwest::Client, m: &Member) {
    match via {
        Via::Http => {
            let r = http
                .get(format!(
                    "{}/api/v1.1/History?filter.toDate={TO_DATE}&filter.count=20",
                    g.base
                ))
                .header("authorization", format!("Bearer {}", m.token))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            r.bytes().await.unwrap();
        }
        Via::Grpc => {
            let member = w
                .identity
                .auth()
                .authenticate(ipb::AuthenticateRequest {
                    token: m.token.clone(),
                })
                .await
                .unwrap()
                .into_inner()
                .member_id;
            w.ledger
                .client()
                .get_history(lpb::GetHistoryRequest {
                    member_id: member,
                    to_date: Some(
                        chrono::DateTime::parse_from_rfc3339(TO_DATE)
                            .unwrap()
                            .with_timezone(&chrono::Utc)
                            .into(),
                    ),
                    count: 20,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
    }
}

fn http_step(op: &str, card: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut body = json!({"operationId": op, "identifier": {"type": "Card", "value": card}});
    if let (Some(b), serde_json::Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    body
}

fn grpc_step(purchase: &str, op: &str, card: &str) -> Option<pb::Step> {
    Some(pb::Step {
        purchase_id: purchase.into(),
        operation_id: op.into(),
        identifier: (!card.is_empty()).then(|| pb::Identifier {
            r#type: pb::IdentifierType::Card as i32,
            value: card.into(),
        }),
        ..Default::default()
    })
}

async fn purchase(via: Via, g: &Gateway, w: &World, http: &reqwest::Client, m: &Member, id: &str) {
    match via {
        Via::Http => {
            let base = format!("{}/api/v1/Processing/Purchases/{id}", g.base);
            let steps = [
                (
                    "Calculate",
                    http_step(
                        &format!("{id}-c"),
                        &m.card,
                        json!({"cheque": seed_cheque("85", "15", "100")}),
                    ),
                ),
                (
                    "Bonus/Payment",
                    http_step(
                        &format!("{id}-p"),
                        &m.card,
                        json!({"cheque": seed_cheque("76.5", "23.5", "100"), "amount": 1}),
                    ),
                ),
                (
                    "Bonus",
                    http_step(
                        &format!("{id}-b"),
                        &m.card,
                        json!({"cheque": seed_cheque("76.5", "0", "0"), "pays": [{"type": "Card", "amount": 75.5}, {"type": "Loymax", "amount": 1}]}),
                    ),
                ),
                ("Confirm", json!({"operationId": format!("{id}-f")})),
            ];
            for (path, body) in steps {
                let r = http
                    .post(format!("{base}/{path}"))
                    .header("x-api-key", DEVICE_KEY)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let text = r.text().await.unwrap();
                assert!(
                    status.is_success() && text.contains("\"Success\""),
                    "{path}: {text}"
                );
            }
        }
        Via::Grpc => {
            let mut p = w.purchases.client();
            let cheque = |amount: &str, discount: &str, price: &str| {
                tests_e2e::purchases::seed_cheque(amount, discount, price)
            };
            p.calculate(pb::CalculateRequest {
                step: grpc_step(id, &format!("{id}-c"), &m.card),
                cheque: cheque("85", "15", "100"),
                coupons: vec![],
            })
            .await
            .unwrap();
            p.payment(pb::PaymentRequest {
                step: grpc_step(id, &format!("{id}-p"), &m.card),
                cheque: cheque("76.5", "23.5", "100"),
                amount: "1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
            p.bonus(pb::BonusRequest {
                step: grpc_step(id, &format!("{id}-b"), &m.card),
                cheque: cheque("76.5", "0", "0"),
                pays: vec![
                    tests_e2e::purchases::pay("Card", "75.5"),
                    tests_e2e::purchases::pay("Loymax", "1"),
                ],
                ..Default::default()
            })
            .await
            .unwrap();
            p.confirm(pb::ConfirmRequest {
                step: grpc_step(id, &format!("{id}-f"), ""),
            })
            .await
            .unwrap();
        }
    }
}

async fn measure(
    work: Work,
    via: Via,
    g: &Arc<Gateway>,
    w: &Arc<World>,
    members: &Arc<Vec<Member>>,
    run: usize,
) -> Figures {
    let clients: usize = env("GATEWAY_BENCH_CLIENTS", 32);
    let seconds: u64 = env("GATEWAY_BENCH_SECONDS", 10);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (g, w, members, http, next) = (
            Arc::clone(g),
            Arc::clone(w),
            Arc::clone(members),
            http.clone(),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < stop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let m = &members[rand::rng().random_range(0..members.len())];
                let t = Instant::now();
                match work {
                    Work::History => history(via, &g, &w, &http, m).await,
                    Work::Purchase => {
                        let tag = if via == Via::Http { "h" } else { "g" };
                        purchase(via, &g, &w, &http, m, &format!("bench-{run}-{tag}-{i}")).await;
                    }
                }
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    Figures::of(latencies, started.elapsed())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run() {
    let n: u64 = env("GATEWAY_BENCH_MEMBERS", 200);
    let runs: usize = env("GATEWAY_BENCH_RUNS", 3).max(1);
    let w = Arc::new(world(&[]).await);
    let g = Arc::new(Gateway::start(&w).await);
    let setup = Instant::now();
    let members = Arc::new(members(&w, n).await);
    println!(
        "gateway benchmark on {} cores: release binaries of identity, ledger, purchases and the gateway over loopback; {} clients, {} s a run, {runs} alternating runs (medians)",
        std::thread::available_parallelism().map_or(0, |c| c.get()),
        env("GATEWAY_BENCH_CLIENTS", 32),
        env("GATEWAY_BENCH_SECONDS", 10u64),
    );
    println!(
        "  setup: {n} members with tokens and history in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let _ = &members[0].member_id;
    for (work, name) in [
        (Work::History, "History"),
        (Work::Purchase, "whole purchase"),
    ] {
        let mut figures: Vec<(Figures, Figures)> = Vec::new();
        for run in 0..runs {
            let direct = measure(work, Via::Grpc, &g, &w, &members, run).await;
            let gateway = measure(work, Via::Http, &g, &w, &members, run).await;
            println!(
                "  {name} run {}: gRPC {} | HTTP {}",
                run + 1,
                direct.line("req"),
                gateway.line("req")
            );
            figures.push((direct, gateway));
        }
        let pick = |f: fn(&(Figures, Figures)) -> f64| median(figures.iter().map(f).collect());
        let (d_rate, h_rate) = (pick(|f| f.0.per_sec), pick(|f| f.1.per_sec));
        let (d_p50, h_p50) = (pick(|f| f.0.p50_ms), pick(|f| f.1.p50_ms));
        let (d_p99, h_p99) = (pick(|f| f.0.p99_ms), pick(|f| f.1.p99_ms));
        println!(
            "  {name}: direct gRPC {d_rate:.0}/s p50 {d_p50:.2} ms p99 {d_p99:.2} ms; through the gateway {h_rate:.0}/s p50 {h_p50:.2} ms p99 {h_p99:.2} ms; gateway cost at p50 {:.2} ms, throughput {:.0}% of direct",
            h_p50 - d_p50,
            100.0 * h_rate / d_rate
        );
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
