//! Crash safety of the event log: a real process appends under load from many
//! tasks and is killed with SIGKILL at random moments; after every kill each
//! acknowledged event is in the log exactly once, versions are gapless per
//! stream and every checksum verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::HashMap;
use std::time::Duration;

use kit::log::EventLog;
use rand::Rng;
use tests_e2e::harness::{ServiceProcess, ServiceSpec, binary_path, free_port, recv_line};
use uuid::Uuid;

/// An acknowledged append as printed by the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    stream: String,
    version: u64,
    position: u64,
}

fn parse_ack(line: &str) -> Option<(Uuid, Ack)> {
    let mut parts = line.strip_prefix("ACK ")?.split(' ');
    let id = parts.next()?.parse().ok()?;
    let ack = Ack {
        stream: parts.next()?.to_owned(),
        version: parts.next()?.parse().ok()?,
        position: parts.next()?.parse().ok()?,
    };
    Some((id, ack))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill_at_random_moments() {
    survive_sigkills(&[]).await;
}

/// The same with journal segments of 64 KiB: checkpoints (sled flushed,
/// full segments deleted) run all the time, so kills land before, during and
/// after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill_during_journal_checkpoints() {
    survive_sigkills(&["--journal-segment-kb", "64"]).await;
}

/// Kills a probe appending under load at random moments, reopening the log
/// after each kill: every acknowledged event is there exactly once.
async fn survive_sigkills(extra_args: &[&str]) {
    tests_e2e::harness::init_test_logging();
    let data = tempfile::tempdir().unwrap();
    let mut acked: HashMap<Uuid, Ack> = HashMap::new();
    let mut rng = rand::rng();
    const ROUNDS: usize = 12;
    for round in 0..ROUNDS {
        let grpc = free_port();
        let spec = ServiceSpec::new("kit-probe", binary_path("kit-probe"))
            .args(["--data-dir", data.path().to_str().unwrap()])
            .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
            .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
            .args(["--writers", "16", "--streams", "8", "--count", "0"])
            .args(extra_args.iter().copied())
            .grpc_port(grpc);
        let (mut probe, mut lines) = ServiceProcess::start_with_stdout_lines(spec).await.unwrap();
        // Kill after a random number of acknowledgements, sometimes very early.
        let kill_after = if round % 4 == 0 {
            rng.random_range(1..20)
        } else {
            rng.random_range(20..3000)
        };
        let mut seen = 0;
        while seen < kill_after {
            let line = recv_line(&mut lines, Duration::from_secs(60))
                .await
                .unwrap();
            if let Some((id, ack)) = parse_ack(&line) {
                acked.insert(id, ack);
                seen += 1;
            }
        }
        probe.kill9();
        // Lines already written before the kill are acknowledgements too.
        while let Ok(line) = lines.try_recv() {
            if let Some((id, ack)) = parse_ack(&line) {
                acked.insert(id, ack);
            }
        }
        drop(probe);

        let log = EventLog::open(data.path().join("eventlog")).unwrap();
        let report = log
            .verify()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let mut ids: HashMap<Uuid, Ack> = HashMap::new();
        for event in log.iter_from(1) {
            let e = event.unwrap();
            let previous = ids.insert(
                e.id,
                Ack {
                    stream: e.stream.clone(),
                    version: e.version,
                    position: e.position,
                },
            );
            assert!(previous.is_none(), "event {} appears twice", e.id);
        }
        assert_eq!(ids.len() as u64, report.events);
        for (id, ack) in &acked {
            assert_eq!(
                ids.get(id),
                Some(ack),
                "round {round}: acknowledged event {id} lost or moved"
            );
        }
        log.close();
        drop(log);
        tests_e2e::log!(
            "round {round}: killed after {seen} acks; log holds {} events, {} acknowledged",
            report.events,
            acked.len()
        );
    }
    assert!(
        acked.len() > 1000,
        "the test exercised a real load ({} acks)",
        acked.len()
    );
}
