//! `kit-probe`: a real service binary built only from the kit, used to prove
//! the kit's guarantees end to end (crash safety, exactly-once to NATS).
//!
//! It serves gRPC health and reflection and `/metrics` like every service,
//! runs the outbox relay when `--nats-url` is given, and runs `--writers`
//! tasks that append `loyalty.kit.v1.ProbeRecorded` events to `--streams`
//! shared streams. After each acknowledged append it prints
//! `ACK <event-id> <stream> <version> <position>` on stdout; when every
//! writer is done it prints `DONE` and keeps serving until SIGTERM.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is its job

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use kit::bootstrap::{Runtime, ServiceArgs, shutdown_on_signals};
use kit::log::{ExpectedVersion, Metadata, NewEvent};
use kit::outbox::ProtoJsonCodec;
use loyalty_proto::kit::v1::ProbeRecorded;
use prost::Message;
use tracing::Instrument;

const EVENT_TYPE: &str = "loyalty.kit.v1.ProbeRecorded";

/// Load and fault-injection probe of the event-sourcing kit.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
    /// Concurrent writer tasks.
    #[arg(long, default_value_t = 8)]
    writers: u32,
    /// Streams the writers share (events go to stream `probe-<seq % streams>`).
    #[arg(long, default_value_t = 4)]
    streams: u64,
    /// Events each writer appends; 0 appends until shutdown.
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Pause between one writer's appends, in milliseconds.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.service.validate()?;
    tokio::runtime::Runtime::new()?.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let _telemetry = cli.service.init_telemetry("kit-probe")?;
    let grpc = tokio::net::TcpListener::bind(cli.service.grpc_addr).await?;
    let metrics = tokio::net::TcpListener::bind(cli.service.metrics_addr).await?;
    let shutdown = shutdown_on_signals();
    let mut runtime = Runtime::open("kit", cli.service.clone(), shutdown.clone())?;
    runtime.start_outbox(Arc::new(
        ProtoJsonCodec::new().register::<ProbeRecorded>(EVENT_TYPE),
    ))?;
    let log = Arc::clone(runtime.log());
    let stop = runtime.tasks_token();
    let (writers, streams, count, interval) =
        (cli.writers, cli.streams.max(1), cli.count, cli.interval_ms);
    runtime.spawn(async move {
        let mut handles = Vec::new();
        for writer in 0..writers {
            let log = Arc::clone(&log);
            let stop = stop.clone();
            handles.push(tokio::spawn(async move {
                let mut seq = 0u64;
                while (count == 0 || seq < count) && !stop.is_cancelled() {
                    let stream = format!("probe-{}", (u64::from(writer) * 7919 + seq) % streams);
                    let event = ProbeRecorded {
                        writer,
                        seq,
                        created_at: Some(loyalty_proto::wkt::Timestamp::from(chrono::Utc::now())),
                        note: "x".repeat((seq % 64) as usize),
                    };
                    let span = tracing::info_span!("probe_append", writer, seq);
                    let appended = log
                        .append(
                            &stream,
                            ExpectedVersion::Any,
                            vec![NewEvent {
                                event_type: EVENT_TYPE.to_owned(),
                                payload: event.encode_to_vec(),
                                metadata: Metadata {
                                    correlation_id: Some(format!("probe-{writer}-{seq}")),
                                    causation_id: None,
                                    traceparent: span.in_scope(kit::telemetry::current_traceparent),
                                },
                            }],
                        )
                        .instrument(span)
                        .await;
                    match appended {
                        Ok(a) => {
                            let e = &a.events[0];
                            let mut out = std::io::stdout().lock();
                            let _ = writeln!(
                                out,
                                "ACK {} {} {} {}",
                                e.id, e.stream, e.version, e.position
                            );
                        }
                        Err(error) => {
                            tracing::error!(%error, "append failed");
                            return;
                        }
                    }
                    seq += 1;
                    if interval > 0 {
                        tokio::time::sleep(Duration::from_millis(interval)).await;
                    }
                }
            }));
        }
        for h in handles {
            let _ = h.await;
        }
        if !stop.is_cancelled() {
            println!("DONE");
        }
        // A background task runs until the service stops.
        stop.cancelled().await;
    });
    runtime
        .serve(grpc, metrics, tonic::service::Routes::default(), &[])
        .await
}
