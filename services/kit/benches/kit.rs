//! Kit benchmark (`scripts/bench.sh kit`): prints figures, asserts nothing.
//!
//! 1. Durable appends/s (each append = 1 event, acknowledged only after
//!    flush + fsync) with 1, 16 and 64 concurrent writers, with p50/p99
//!    latency and events per group-commit flush.
//! 2. Full-log replay (read, checksum-verify and decode every record) over
//!    1M events, in events/s.
//!
//! Data goes to `$KIT_BENCH_DIR` (default: a temp dir on the target dir's
//! disk, not tmpfs, so fsync costs what it costs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kit::log::{EventLog, ExpectedVersion, Metadata, NewEvent};

fn bench_root() -> PathBuf {
    std::env::var_os("KIT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("target"));
            target.join("kit-bench")
        })
}

/// sled cache size for the replay run (`KIT_BENCH_CACHE_MB`, default 256 as in services).
fn cache_mb() -> u64 {
    std::env::var("KIT_BENCH_CACHE_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

fn event(payload_len: usize) -> NewEvent {
    NewEvent {
        event_type: "loyalty.ledger.v1.PointsAccrued".into(),
        payload: vec![7u8; payload_len],
        metadata: Metadata {
            correlation_id: Some("0194f5c2-7d1e-7000-8000-000000000000".into()),
            causation_id: None,
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        },
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn durable_appends(writers: usize, duration: Duration) -> (f64, Duration, Duration, u64) {
    let dir = tempfile::Builder::new()
        .prefix("appends-")
        .tempdir_in(bench_root())
        .unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    log.register_metrics(&mut registry);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let stream = format!("account-{w}");
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let t = Instant::now();
                log.append(&stream, ExpectedVersion::Any, vec![event(120)])
                    .await
                    .unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let flushes = text
        .lines()
        .find_map(|l| l.strip_prefix("eventlog_flushes_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    (
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        (latencies.len() as u64).checked_div(flushes).unwrap_or(0),
    )
}

async fn replay(events: u64) -> (f64, f64) {
    let dir = tempfile::Builder::new()
        .prefix("replay-")
        .tempdir_in(bench_root())
        .unwrap();
    let cache_mb = cache_mb();
    let log = EventLog::open_with(
        dir.path(),
        kit::log::LogOptions {
            cache_capacity: cache_mb * 1024 * 1024,
            ..Default::default()
        },
    )
    .unwrap();
    let batch = 1_000;
    let fill = Instant::now();
    for i in 0..events / batch {
        let stream = format!("account-{}", i % 5_000);
        log.append(
            &stream,
            ExpectedVersion::Any,
            (0..batch).map(|_| event(120)).collect(),
        )
        .await
        .unwrap();
    }
    let fill_rate = events as f64 / fill.elapsed().as_secs_f64();
    // Warm pass (page cache), then the measured pass.
    let _ = log.iter_from(1).count();
    let started = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0usize;
    for e in log.iter_from(1) {
        let e = e.unwrap();
        bytes += e.payload.len();
        n += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let raw_started = Instant::now();
    let raw = log
        .db()
        .open_tree("eventlog")
        .unwrap()
        .scan_prefix(b"E")
        .count();
    println!(
        "  (sled alone iterates the same records at {:.0}/s)",
        raw as f64 / raw_started.elapsed().as_secs_f64()
    );
    assert_eq!(n, events);
    assert!(bytes > 0);
    (n as f64 / secs, fill_rate)
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    std::fs::create_dir_all(bench_root()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let seconds: u64 = std::env::var("KIT_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let replay_events: u64 = std::env::var("KIT_BENCH_REPLAY_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "kit benchmark on {} cores, data in {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        bench_root().display()
    );
    println!(
        "durable appends (1 event of 120 B each, acknowledged after flush + fsync), {seconds} s per run:"
    );
    let mut single = 0.0;
    for writers in [1, 16, 64].into_iter().filter(|_| seconds > 0) {
        let (rate, p50, p99, per_flush) =
            rt.block_on(durable_appends(writers, Duration::from_secs(seconds)));
        if writers == 1 {
            single = rate;
        }
        println!(
            "  {writers:>3} writers: {rate:>9.0} appends/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {per_flush:>4} appends/flush  ({:.1}x of 1 writer)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            rate / single
        );
    }
    let cache_mb = cache_mb();
    let (replay_rate, fill_rate) = rt.block_on(replay(replay_events));
    println!(
        "replay of {replay_events} events (read + checksum + decode, sled cache {cache_mb} MiB): {replay_rate:.0} events/s"
    );
    println!("  (filled with 1000-event appends at {fill_rate:.0} events/s)");
}
