//! The side-by-side baseline: the same ledger workload against PostgreSQL,
//! built the way a team would: one transaction per operation, an
//! idempotency row, `SELECT … FOR UPDATE` on the balance row, an UPDATE and
//! a history INSERT — each statement prepared once per connection, as sqlx
//! or JDBC do (no parse round trip per statement).

use std::time::{Duration, Instant};

use kit::bench::Figures;
use rust_decimal::Decimal;
use tokio_postgres::{Client, Statement};

use super::{Op, Scenario};

const SCHEMA: &str = "
DROP TABLE IF EXISTS bench_ledger_history, bench_ledger_ops, bench_ledger_accounts;
CREATE TABLE bench_ledger_accounts (member_id text, currency text, balance numeric NOT NULL,
    PRIMARY KEY (member_id, currency));
CREATE TABLE bench_ledger_ops (operation_id text PRIMARY KEY);
CREATE TABLE bench_ledger_history (id bigserial PRIMARY KEY, member_id text, currency text,
    operation_id text, amount numeric, balance_after numeric, at timestamptz DEFAULT now());
";

/// One client's connection with its statements prepared.
struct Connection {
    db: Client,
    idempotency: Statement,
    lock: Statement,
    update: Statement,
    history: Statement,
}

impl Connection {
    async fn open(conninfo: &str) -> Result<Self, tokio_postgres::Error> {
        let (db, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        Ok(Self {
            idempotency: db
                .prepare("INSERT INTO bench_ledger_ops (operation_id) VALUES ($1)")
                .await?,
            lock: db
                .prepare("SELECT balance::text FROM bench_ledger_accounts WHERE member_id = $1 AND currency = 'BONUS' FOR UPDATE")
                .await?,
            update: db
                .prepare("UPDATE bench_ledger_accounts SET balance = $2::text::numeric WHERE member_id = $1 AND currency = 'BONUS'")
                .await?,
            history: db
                .prepare("INSERT INTO bench_ledger_history (member_id, currency, operation_id, amount, balance_after) VALUES ($1, 'BONUS', $2, $3::text::numeric, $4::text::numeric)")
                .await?,
            db,
        })
    }

    /// One operation, in its own transaction.
    async fn op(&mut self, op: &Op) -> Result<(), tokio_postgres::Error> {
        let tx = self.db.transaction().await?;
        tx.execute(&self.idempotency, &[&op.id]).await?;
        let row = tx.query_one(&self.lock, &[&op.member]).await?;
        let balance: Decimal = row.get::<_, String>(0).parse().expect("numeric");
        let after = balance + op.delta;
        assert!(after >= Decimal::ZERO, "baseline never overdraws");
        let (after_s, delta_s) = (after.to_string(), op.delta.to_string());
        tx.execute(&self.update, &[&op.member, &after_s]).await?;
        tx.execute(&self.history, &[&op.member, &op.id, &delta_s, &after_s])
            .await?;
        tx.commit().await
    }
}

/// Runs `scenario` for `duration` against PostgreSQL at `conninfo` (tables
/// created afresh, every account funded).
pub async fn workload(
    conninfo: &str,
    scenario: Scenario,
    run: usize,
    duration: Duration,
) -> Result<Figures, tokio_postgres::Error> {
    let (admin, conn) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    admin.batch_execute(SCHEMA).await?;
    admin
        .execute(
            "INSERT INTO bench_ledger_accounts SELECT 'bench-' || i, 'BONUS', 1000000 FROM generate_series(0, $1::int - 1) AS i",
            &[&(scenario.accounts as i32)],
        )
        .await?;
    let mut connections = Vec::with_capacity(scenario.clients);
    for _ in 0..scenario.clients {
        connections.push(Connection::open(conninfo).await?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(c, mut db)| {
            tokio::spawn(async move {
                let mut ops = scenario.ops(c, run);
                let mut latencies = Vec::new();
                while started.elapsed() < duration {
                    let op = ops.next_op();
                    let t = Instant::now();
                    db.op(&op).await.unwrap();
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    Ok(Figures::of(all, started.elapsed()))
}
