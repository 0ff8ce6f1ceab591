//! `identity verify` and `identity repair` on the real binary: a healthy
//! data dir verifies clean; after storage dropped an acknowledged event the
//! service cannot open its log (a clear error, no panic), `repair` cuts the
//! log after its last consistent position, `verify` is clean again, and the
//! service starts on the repaired data and rebuilds its projections.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use tests_e2e::identity::{Identity, random_card};
use tests_e2e::identity_ops::run_identity;

fn data_args(dir: &std::path::Path, command: &str) -> Vec<String> {
    vec![
        "--data-dir".into(),
        dir.to_str().unwrap().into(),
        command.into(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_lost_writes_and_repair_makes_the_data_dir_usable_again() {
    tests_e2e::harness::init_test_logging();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("identity");
    let mut id = Identity::start(&data, &[], &[]).await;
    for _ in 0..5 {
        let card = random_card();
        id.load_cards(&[&card]).await;
    }
    assert!(id.process.terminate().await.unwrap().success());

    let clean = run_identity(&data_args(&data, "verify"), &[], work.path()).await;
    assert_eq!(clean.code, Some(0), "{}{}", clean.stdout, clean.stderr);
    assert!(clean.stdout.contains("event log:") && clean.stdout.contains("consistent"));
    assert!(
        clean.stdout.contains("projection directory"),
        "{}",
        clean.stdout
    );

    // Storage drops an acknowledged write near the head (a lying disk).
    let log_dir = data.join("eventlog");
    let head = {
        let db = sled::open(&log_dir).unwrap();
        let tree = db.open_tree("eventlog").unwrap();
        let (last, _) = tree.scan_prefix([b'E']).next_back().unwrap().unwrap();
        let head = u64::from_be_bytes(last[1..].try_into().unwrap());
        let mut key = vec![b'E'];
        key.extend_from_slice(&(head - 1).to_be_bytes());
        tree.remove(key).unwrap().unwrap();
        db.flush().unwrap();
        head
    };
    let damaged = run_identity(&data_args(&data, "verify"), &[], work.path()).await;
    assert_ne!(damaged.code, Some(0));
    assert!(!damaged.stderr.contains("panicked"), "{}", damaged.stderr);
    assert!(damaged.stderr.contains("repair"), "{}", damaged.stderr);

    let repaired = run_identity(&data_args(&data, "repair"), &[], work.path()).await;
    assert_eq!(
        repaired.code,
        Some(0),
        "{}{}",
        repaired.stdout,
        repaired.stderr
    );
    assert!(
        repaired
            .stdout
            .contains(&format!("cut after position {}", head - 2)),
        "{}",
        repaired.stdout
    );
    let again = run_identity(&data_args(&data, "verify"), &[], work.path()).await;
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);

    // The service starts on the repaired data and serves.
    let id = Identity::start(&data, &[], &[]).await;
    let card = random_card();
    id.load_cards(&[&card]).await;
}
