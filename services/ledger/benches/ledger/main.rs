//! Ledger benchmark (`scripts/bench.sh ledger`): prints figures, asserts nothing.
//!
//! 1. Side by side, per scenario (`LEDGER_BENCH_SCENARIOS`, default
//!    `spread,hot,single`): durable accrue / withdraw operations (50/50,
//!    1.00 on a random account, unique idempotency keys) per second and
//!    p50/p99 latency — `spread`: `LEDGER_BENCH_CLIENTS` (64) clients over
//!    `LEDGER_BENCH_ACCOUNTS` (10 000) accounts; `hot`: the clients on one
//!    account; `single`: one client — for the ledger over gRPC (its outbox
//!    publishing to `LEDGER_BENCH_NATS`, default nats://127.0.0.1:4222;
//!    `off`: no NATS) and for a baseline ledger in PostgreSQL built the
//!    usual way (`pg.rs`; `LEDGER_BENCH_PG`, default
//!    `host=127.0.0.1 user=postgres dbname=test`; `off` skips it), in
//!    `LEDGER_BENCH_RUNS` (3) alternating runs of `LEDGER_BENCH_SECONDS`
//!    (10) each, then the medians.
//! 2. `rebuild-projections` speed over `LEDGER_BENCH_REBUILD_EVENTS` (1M) events.
//! 3. A batch of `LEDGER_BENCH_BATCH_LINES` (1M) lines.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

#[path = "../../tests/common/mod.rs"]
mod common;
mod pg;

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use common::Ledger;
use common::requests::{accrue, withdraw};
use kit::bench::{Figures, env};
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use rust_decimal::Decimal;

fn bench_root() -> PathBuf {
    kit::bench::root("ledger-bench")
}

/// A ledger served in-process (the tests' harness) on a fresh data dir on
/// the target's disk; batch lines name member ids (no identity service in
/// the bench).
async fn start_ledger(prefix: &str, nats: Option<&str>) -> Ledger {
    std::fs::create_dir_all(bench_root()).unwrap();
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(bench_root())
        .unwrap();
    let extra: Vec<&str> = nats.map(|url| vec!["--nats-url", url]).unwrap_or_default();
    Ledger::start_in(dir, &extra, Arc::new(chrono::Utc::now))
        .await
        .unwrap()
}

/// A workload: `clients` concurrent clients, each operation an accrue or a
/// withdrawal (50/50) of 1.00 on one of `accounts` accounts picked at
/// random, each under a unique idempotency key.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Its name in the output.
    pub name: &'static str,
    /// Concurrent clients.
    pub clients: usize,
    /// Accounts the operations spread over.
    pub accounts: usize,
}

/// One operation of a workload.
pub struct Op {
    /// Its idempotency key.
    pub id: String,
    /// The account's member.
    pub member: String,
    /// +1.00 (accrue) or -1.00 (withdraw).
    pub delta: Decimal,
}

/// The operations of one client, the same sequence for the ledger and for
/// PostgreSQL.
pub struct Ops {
    client: usize,
    run: usize,
    n: u64,
    state: u64,
    accounts: usize,
}

impl Ops {
    /// The next operation (xorshift: cheap, deterministic per client).
    pub fn next_op(&mut self) -> Op {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.n += 1;
        let account = (self.state >> 1) as usize % self.accounts;
        let accrue = self.state & 1 == 0;
        Op {
            id: format!("r{}-c{}-{}", self.run, self.client, self.n),
            member: format!("bench-{account}"),
            delta: if accrue {
                Decimal::ONE
            } else {
                Decimal::NEGATIVE_ONE
            },
        }
    }
}

impl Scenario {
    /// Client `client`'s operations in run `run`.
    pub fn ops(&self, client: usize, run: usize) -> Ops {
        Ops {
            client,
            run,
            n: 0,
            state: 0x9E37_79B9_7F4A_7C15 ^ ((client as u64 + 1) << 20) ^ run as u64,
            accounts: self.accounts.max(1),
        }
    }
}

async fn grpc_workload(
    scenario: Scenario,
    run: usize,
    duration: Duration,
    nats: Option<&str>,
) -> Figures {
    let server = start_ledger("grpc-", nats).await;
    // Like a fleet of tills: several connections (one HTTP/2 connection is
    // served by one task), 4 clients per connection.
    let connections: Vec<_> = (0..scenario.clients.div_ceil(4))
        .map(|_| {
            let endpoint = tonic::transport::Endpoint::from_shared(server.url.clone()).unwrap();
            LedgerServiceClient::new(endpoint.connect_lazy())
        })
        .collect();
    let client_for = |c: usize| connections[c / 4].clone();
    // Every account funded first, 64 at a time.
    let funding: Vec<_> = (0..scenario.accounts)
        .map(|a| {
            let mut cl = client_for(a % scenario.clients);
            async move {
                let seed = accrue(&format!("seed-{a}"), &format!("bench-{a}"), "1000000");
                cl.accrue(seed).await.unwrap();
            }
        })
        .collect();
    futures::stream::iter(funding)
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..scenario.clients {
        let mut cl = client_for(c);
        tasks.push(tokio::spawn(async move {
            let mut ops = scenario.ops(c, run);
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let op = ops.next_op();
                let t = Instant::now();
                if op.delta > Decimal::ZERO {
                    cl.accrue(accrue(&op.id, &op.member, "1.00")).await.unwrap();
                } else {
                    cl.withdraw(withdraw(&op.id, &op.member, "1.00"))
                        .await
                        .unwrap();
                }
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let figures = Figures::of(all, started.elapsed());
    server.stop().await;
    figures
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The scenarios side by side: each run of the ledger followed by one of
/// PostgreSQL (alternating, so drift hits both), then the medians.
fn side_by_side(
    rt: &tokio::runtime::Runtime,
    scenarios: &[Scenario],
    runs: usize,
    duration: Duration,
    pg: &str,
    nats: Option<&str>,
) {
    for &scenario in scenarios {
        println!(
            "  {}: {} clients over {} accounts, {runs} alternating runs of {} s",
            scenario.name,
            scenario.clients,
            scenario.accounts,
            duration.as_secs()
        );
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let o = rt.block_on(grpc_workload(scenario, run, duration, nats));
            println!("    run {run} ledger:     {}", o.line("ops"));
            ours.push(o);
            if pg == "off" {
                continue;
            }
            match rt.block_on(pg::workload(pg, scenario, run, duration)) {
                Ok(b) => {
                    println!("    run {run} PostgreSQL: {}", b.line("ops"));
                    base.push(b);
                }
                Err(e) => println!("    PostgreSQL baseline skipped: {e}"),
            }
        }
        let per_sec = |f: &[Figures]| median(f.iter().map(|x| x.per_sec).collect());
        let p99 = |f: &[Figures]| median(f.iter().map(|x| x.p99_ms).collect());
        let p50 = |f: &[Figures]| median(f.iter().map(|x| x.p50_ms).collect());
        print!(
            "    medians: ledger {:.0} ops/s (p50 {:.2} ms, p99 {:.2} ms)",
            per_sec(&ours),
            p50(&ours),
            p99(&ours)
        );
        if base.is_empty() {
            println!();
        } else {
            println!(
                "; PostgreSQL {:.0} ops/s (p50 {:.2} ms, p99 {:.2} ms); ledger / PostgreSQL {:.2}x",
                per_sec(&base),
                p50(&base),
                p99(&base),
                per_sec(&ours) / per_sec(&base)
            );
        }
    }
}

async fn batch(lines: u64) -> (f64, pb::ApplyBatchResponse) {
    use pb::apply_batch_request::Part;
    let server = start_ledger("batch-", None).await;
    let mut client = LedgerServiceClient::connect(server.url.clone())
        .await
        .unwrap();
    let batch_header = pb::BatchHeader {
        request_id: "bench-batch".into(),
        r#type: pb::BatchType::Accrue as i32,
        accrue_description: "bench".into(),
        ..Default::default()
    };
    let digest = std::sync::Arc::new(std::sync::Mutex::new(ledger::app::batch::BatchDigest::new(
        &batch_header,
    )));
    let header = pb::ApplyBatchRequest {
        part: Some(Part::Header(batch_header)),
    };
    // Generated on the fly: the client never holds the batch either.
    let summed = std::sync::Arc::clone(&digest);
    let chunks = (0..lines.div_ceil(1000)).map(move |c| {
        let lines: Vec<pb::BatchLine> = (c * 1000..((c + 1) * 1000).min(lines))
            .map(|i| pb::BatchLine {
                member_no: format!("m-{}", i % 10_000),
                description: "bench".into(),
                operation_date: "2026-01-01 10:00:00".into(),
                merchant_name: "shop".into(),
                transaction_amount: "150.00".into(),
                points_amount: "1.50".into(),
                ..Default::default()
            })
            .collect();
        let mut d = summed.lock().unwrap();
        lines.iter().for_each(|l| d.line(l));
        pb::ApplyBatchRequest {
            part: Some(Part::Lines(pb::BatchLines { lines })),
        }
    });
    let trailer = std::iter::once_with(move || pb::ApplyBatchRequest {
        part: Some(Part::Trailer(digest.lock().unwrap().trailer())),
    });
    let started = Instant::now();
    let report = client
        .apply_batch(futures::stream::iter(
            std::iter::once(header).chain(chunks).chain(trailer),
        ))
        .await
        .unwrap()
        .into_inner();
    let secs = started.elapsed().as_secs_f64();
    server.stop().await;
    (secs, report)
}

async fn rebuild(events: u64) -> (u64, f64, Vec<(String, u64, u64)>) {
    std::fs::create_dir_all(bench_root()).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("rebuild-")
        .tempdir_in(bench_root())
        .unwrap();
    let args = common::parse_args([
        "ledger",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--cache-mb",
        "1024",
    ]);
    let log =
        kit::log::EventLog::open_with(args.service.log_dir(), args.service.log_options()).unwrap();
    // Realistic events: accruals with expiry spread over 10 000 accounts.
    let fill = Instant::now();
    let per_batch = 1_000u64;
    for b in 0..events / per_batch {
        let member = format!("m-{}", b % 10_000);
        let key = ledger::domain::account::AccountKey {
            member_id: member,
            currency: "BONUS".into(),
        };
        let version = log.stream_version(&key.stream()).unwrap();
        let batch = (0..per_batch)
            .map(|i| {
                let n = version + i;
                let amount = Decimal::new(150, 2);
                let event = ledger::domain::account::Event::Accrued {
                    key: key.clone(),
                    operation_id: format!("op-{b}-{i}"),
                    amount,
                    bucket: ledger::domain::account::Bucket {
                        id: n,
                        amount,
                        expires_at: Some(chrono::Utc::now() + chrono::Duration::days(365)),
                        lifetime: "365d".into(),
                    },
                    kind: ledger::domain::model::Kind::Regular,
                    reward_type: ledger::domain::model::RewardType::Bonus,
                    context: ledger::domain::model::Context {
                        description: "bench".into(),
                        ..Default::default()
                    },
                    after: ledger::domain::account::Balances {
                        available: Decimal::from(n + 1) * amount,
                        held: Decimal::ZERO,
                    },
                    debt_repaid: Decimal::ZERO,
                };
                let (event_type, payload) = ledger::events::encode(&event);
                kit::log::NewEvent {
                    event_type: event_type.into(),
                    payload,
                    metadata: Default::default(),
                }
            })
            .collect();
        log.append(&key.stream(), kit::log::ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
    let fill_rate = events as f64 / fill.elapsed().as_secs_f64();
    log.close();
    drop(log);
    let reports = ledger::rebuild_projections(&args).unwrap();
    let head = reports.first().map_or(0, |r| r.events);
    (
        head,
        fill_rate,
        reports
            .into_iter()
            .map(|r| {
                (
                    r.projection.to_owned(),
                    r.events_per_second(),
                    r.differences,
                )
            })
            .collect(),
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let clients: usize = env("LEDGER_BENCH_CLIENTS", 64);
    let accounts: usize = env("LEDGER_BENCH_ACCOUNTS", 10_000);
    let seconds: u64 = env("LEDGER_BENCH_SECONDS", 10);
    let runs: usize = env("LEDGER_BENCH_RUNS", 3);
    let rebuild_events: u64 = env("LEDGER_BENCH_REBUILD_EVENTS", 1_000_000);
    let pg: String = env(
        "LEDGER_BENCH_PG",
        "host=127.0.0.1 user=postgres dbname=test".to_owned(),
    );
    let nats: String = env("LEDGER_BENCH_NATS", "nats://127.0.0.1:4222".to_owned());
    let nats = (nats != "off").then_some(nats.as_str());
    let wanted: String = env("LEDGER_BENCH_SCENARIOS", "spread,hot,single".to_owned());
    let scenarios: Vec<Scenario> = [
        Scenario {
            name: "spread",
            clients,
            accounts,
        },
        Scenario {
            name: "hot",
            clients,
            accounts: 1,
        },
        Scenario {
            name: "single",
            clients: 1,
            accounts,
        },
    ]
    .into_iter()
    .filter(|s| wanted.split(',').any(|w| w.trim() == s.name))
    .collect();
    println!(
        "ledger benchmark on {} cores: accrue / withdraw 50/50 of 1.00 on random accounts, unique idempotency keys; the ledger over gRPC (sled event log, fsync per group commit{}) beside PostgreSQL (transaction per operation, FOR UPDATE, history insert, statements prepared per connection)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        match nats {
            Some(url) => format!(", outbox publishing to {url}"),
            None => ", no NATS".to_owned(),
        }
    );
    if seconds > 0 {
        side_by_side(
            &rt,
            &scenarios,
            runs.max(1),
            Duration::from_secs(seconds),
            &pg,
            nats,
        );
    }
    if rebuild_events > 0 {
        let (events, fill, reports) = rt.block_on(rebuild(rebuild_events));
        println!(
            "rebuild-projections over {events} events (log filled at {fill:.0} events/s, sled cache 1024 MiB):"
        );
        for (name, rate, diff) in reports {
            println!(
                "  {name:<8} {rate:>10} events/s  ({diff} rows differed from the live projection)"
            );
        }
    }
    let batch_lines: u64 = env("LEDGER_BENCH_BATCH_LINES", 1_000_000);
    if batch_lines > 0 {
        let (secs, report) = rt.block_on(batch(batch_lines));
        println!(
            "batch of {batch_lines} lines over 10 000 accounts (client-streaming gRPC): {secs:.1} s ({:.0} lines/s), accepted {}, code {}",
            batch_lines as f64 / secs,
            report.accepted_count,
            report.code
        );
    }
}
