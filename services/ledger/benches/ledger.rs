//! Ledger benchmark (`scripts/bench.sh ledger`): prints figures, asserts nothing.
//!
//! 1. Durable accrue + withdraw operations per second over gRPC with
//!    `LEDGER_BENCH_CLIENTS` (64) concurrent clients, p50/p99 latency.
//! 2. The same workload, in the same run, against a baseline ledger in
//!    PostgreSQL built the usual way: one transaction per operation, an
//!    idempotency row, `SELECT … FOR UPDATE` on the balance row, an UPDATE
//!    and a history INSERT (`LEDGER_BENCH_PG`, default
//!    `host=127.0.0.1 user=postgres dbname=test`; `off` skips it).
//! 3. `rebuild-projections` speed over `LEDGER_BENCH_REBUILD_EVENTS` (1M) events.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

/// sled allocates heavily; mimalloc handles that far better than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use kit::bench::{Figures, env};
use kit::service::InProcess;
use ledger::config::LedgerArgs;
use loyalty_proto::common::v1::Money;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use rust_decimal::Decimal;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: LedgerArgs,
}

fn bench_root() -> PathBuf {
    kit::bench::root("ledger-bench")
}

fn money(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "BONUS".into(),
    })
}

/// A ledger served in-process on a fresh data dir on the target's disk.
struct Server {
    url: String,
    service: InProcess,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(prefix: &str) -> Self {
        std::fs::create_dir_all(bench_root()).unwrap();
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(bench_root())
            .unwrap();
        // Batch lines name member ids: no identity service in the bench.
        let args = Cli::parse_from([
            "ledger",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--member-directory",
            "member-id",
        ])
        .args;
        let service = InProcess::start(&ledger::SPEC, |grpc, metrics, shutdown| {
            ledger::run(args, grpc, metrics, shutdown, Arc::new(chrono::Utc::now))
        })
        .await
        .unwrap();
        Self {
            url: service.url.clone(),
            service,
            _dir: dir,
        }
    }

    async fn stop(self) {
        self.service.stop().await.unwrap();
    }
}

async fn grpc_workload(clients: usize, duration: Duration) -> Figures {
    let server = Server::start("grpc-").await;
    // Like a fleet of tills: several connections (one HTTP/2 connection is
    // served by one task), 4 clients per connection.
    let connections: Vec<_> = (0..clients.div_ceil(4))
        .map(|_| {
            let endpoint = tonic::transport::Endpoint::from_shared(server.url.clone()).unwrap();
            LedgerServiceClient::new(endpoint.connect_lazy())
        })
        .collect();
    let client_for = |c: usize| connections[c / 4].clone();
    for c in 0..clients {
        let mut cl = client_for(c);
        cl.accrue(pb::AccrueRequest {
            operation_id: format!("seed-{c}"),
            member_id: format!("bench-{c}"),
            amount: money("1000000"),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut cl = client_for(c);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while started.elapsed() < duration {
                let t = Instant::now();
                cl.accrue(pb::AccrueRequest {
                    operation_id: format!("a-{c}-{i}"),
                    member_id: format!("bench-{c}"),
                    amount: money("1.00"),
                    ..Default::default()
                })
                .await
                .unwrap();
                latencies.push(t.elapsed());
                let t = Instant::now();
                cl.withdraw(pb::WithdrawRequest {
                    operation_id: format!("w-{c}-{i}"),
                    member_id: format!("bench-{c}"),
                    amount: money("1.00"),
                    ..Default::default()
                })
                .await
                .unwrap();
                latencies.push(t.elapsed());
                i += 1;
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

const PG_SCHEMA: &str = "
DROP TABLE IF EXISTS bench_ledger_history, bench_ledger_ops, bench_ledger_accounts;
CREATE TABLE bench_ledger_accounts (member_id text, currency text, balance numeric NOT NULL,
    PRIMARY KEY (member_id, currency));
CREATE TABLE bench_ledger_ops (operation_id text PRIMARY KEY);
CREATE TABLE bench_ledger_history (id bigserial PRIMARY KEY, member_id text, currency text,
    operation_id text, amount numeric, balance_after numeric, at timestamptz DEFAULT now());
";

async fn pg_op(
    db: &mut tokio_postgres::Client,
    member: &str,
    op: &str,
    delta: Decimal,
) -> Result<(), tokio_postgres::Error> {
    let tx = db.transaction().await?;
    tx.execute(
        "INSERT INTO bench_ledger_ops (operation_id) VALUES ($1)",
        &[&op],
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT balance::text FROM bench_ledger_accounts WHERE member_id = $1 AND currency = 'BONUS' FOR UPDATE",
            &[&member],
        )
        .await?;
    let balance: Decimal = row.get::<_, String>(0).parse().expect("numeric");
    let after = balance + delta;
    assert!(after >= Decimal::ZERO, "baseline never overdraws");
    let after_s = after.to_string();
    let delta_s = delta.to_string();
    tx.execute(
        "UPDATE bench_ledger_accounts SET balance = $2::text::numeric WHERE member_id = $1 AND currency = 'BONUS'",
        &[&member, &after_s],
    )
    .await?;
    tx.execute(
        "INSERT INTO bench_ledger_history (member_id, currency, operation_id, amount, balance_after) VALUES ($1, 'BONUS', $2, $3::text::numeric, $4::text::numeric)",
        &[&member, &op, &delta_s, &after_s],
    )
    .await?;
    tx.commit().await
}

async fn pg_workload(
    conninfo: &str,
    clients: usize,
    duration: Duration,
) -> Result<Figures, tokio_postgres::Error> {
    let (admin, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    admin.batch_execute(PG_SCHEMA).await?;
    for c in 0..clients {
        let member = format!("bench-{c}");
        admin
            .execute(
                "INSERT INTO bench_ledger_accounts VALUES ($1, 'BONUS', 1000000)",
                &[&member],
            )
            .await?;
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (mut db, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        tasks.push(tokio::spawn(async move {
            let member = format!("bench-{c}");
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while started.elapsed() < duration {
                for (op, delta) in [
                    (format!("a-{c}-{i}"), Decimal::ONE),
                    (format!("w-{c}-{i}"), Decimal::NEGATIVE_ONE),
                ] {
                    let t = Instant::now();
                    pg_op(&mut db, &member, &op, delta).await.unwrap();
                    latencies.push(t.elapsed());
                }
                i += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    Ok(Figures::of(all, started.elapsed()))
}

async fn batch(lines: u64) -> (f64, pb::ApplyBatchResponse) {
    use pb::apply_batch_request::Part;
    let server = Server::start("batch-").await;
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
    let args = Cli::parse_from([
        "ledger",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--cache-mb",
        "1024",
    ])
    .args;
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
    let seconds: u64 = env("LEDGER_BENCH_SECONDS", 10);
    let rebuild_events: u64 = env("LEDGER_BENCH_REBUILD_EVENTS", 1_000_000);
    let pg: String = env(
        "LEDGER_BENCH_PG",
        "host=127.0.0.1 user=postgres dbname=test".to_owned(),
    );
    let duration = Duration::from_secs(seconds);
    println!(
        "ledger benchmark on {} cores; {clients} concurrent clients, {seconds} s per run; accrue + withdraw of 1.00 on the client's own account",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let ours = if seconds == 0 {
        None
    } else {
        Some(rt.block_on(grpc_workload(clients, duration)))
    };
    if let Some(ours) = &ours {
        println!(
            "  ledger over gRPC (sled event log, fsync per group commit): {:>8.0} ops/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
            ours.per_sec, ours.p50_ms, ours.p99_ms
        );
        if pg != "off" {
            match rt.block_on(pg_workload(&pg, clients, duration)) {
                Ok(base) => {
                    println!(
                        "  PostgreSQL baseline (tx, FOR UPDATE, history insert):        {:>8.0} ops/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
                        base.per_sec, base.p50_ms, base.p99_ms
                    );
                    println!(
                        "  ratio ledger / PostgreSQL: {:.2}x",
                        ours.per_sec / base.per_sec
                    );
                }
                Err(e) => println!("  PostgreSQL baseline skipped: {e}"),
            }
        }
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
