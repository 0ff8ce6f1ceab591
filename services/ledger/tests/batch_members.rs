//! Batch lines' `memberNo`s resolved through a member directory, a chunk at
//! a time: unknown numbers are line errors; a directory that cannot answer
//! fails the batch as UNAVAILABLE with nothing of that chunk recorded or
//! applied, and a retry under the same requestId completes exactly once.
//!
//! The directory here is an in-process [`MemberDirectory`] (cards `c<n>`
//! belong to member `m<n>`); the identity service itself is tested end to
//! end elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::batch::accruals;
use common::requests::counts;
use kit::aggregate::Repository;
use kit::log::EventLog;
use ledger::app::batch::{BATCH_CHUNK_ACCEPTED, BatchApplier, BatchPart};
use ledger::app::catalog::CatalogHandle;
use ledger::domain::account::Account;
use ledger::error::ApiError;
use ledger::members::MemberDirectory;
use loyalty_proto::ledger::v1 as pb;
use rust_decimal::Decimal;

/// Cards `c<n>` are member `m<n>`'s; anything else is unknown. Records
/// each call; calls after the first `works_for` fail (unreachable).
#[derive(Clone)]
struct Cards(Arc<CardsState>);

struct CardsState {
    calls: Mutex<Vec<Vec<String>>>,
    works_for: AtomicUsize,
}

impl Cards {
    fn new(works_for: usize) -> Self {
        Self(Arc::new(CardsState {
            calls: Mutex::default(),
            works_for: AtomicUsize::new(works_for),
        }))
    }

    fn calls(&self) -> Vec<Vec<String>> {
        std::mem::take(&mut *self.0.calls.lock().unwrap())
    }
}

#[tonic::async_trait]
impl MemberDirectory for Cards {
    async fn resolve_many(&self, nos: &[String]) -> anyhow::Result<Vec<Option<String>>> {
        let mut calls = self.0.calls.lock().unwrap();
        calls.push(nos.to_vec());
        anyhow::ensure!(
            calls.len() <= self.0.works_for.load(Ordering::SeqCst),
            "identity at http://127.0.0.1:1 did not resolve memberNos: Unavailable"
        );
        Ok(nos
            .iter()
            .map(|n| n.strip_prefix('c').map(|rest| format!("m{rest}")))
            .collect())
    }
}

fn line(member_no: &str, points: &str) -> pb::BatchLine {
    pb::BatchLine {
        member_no: member_no.into(),
        description: String::new(),
        operation_date: "2026-01-01 10:00:00".into(),
        merchant_name: "shop".into(),
        transaction_amount: String::new(),
        points_amount: points.into(),
        ..Default::default()
    }
}

fn header() -> pb::BatchHeader {
    pb::BatchHeader {
        request_id: "R-members".into(),
        r#type: pb::BatchType::Accrue as i32,
        ..Default::default()
    }
}

fn upload(
    lines: Vec<pb::BatchLine>,
) -> impl futures::Stream<Item = Result<BatchPart, ApiError>> + Unpin {
    common::batch::upload(&header(), lines)
}

/// Accrued amount per account stream, and the batch's chunk records.
fn written(log: &EventLog) -> (HashMap<String, Decimal>, usize) {
    let mut sums = HashMap::new();
    for (stream, amount) in accruals(log) {
        *sums.entry(stream).or_insert(Decimal::ZERO) += amount;
    }
    let chunks = log
        .iter_from(1)
        .filter(|e| e.as_ref().unwrap().event_type == BATCH_CHUNK_ACCEPTED)
        .count();
    (sums, chunks)
}

fn applier(log: &Arc<EventLog>, cards: &Cards, chunk: usize) -> BatchApplier {
    BatchApplier::new(
        Arc::new(Repository::<Account>::new(Arc::clone(log))),
        CatalogHandle::builtin(),
        Arc::new(cards.clone()),
    )
    .with_chunk_lines(chunk)
}

/// The batch of `lines` applied in chunks of `chunk` lines, with the
/// members `cards` resolves.
async fn send(
    log: &Arc<EventLog>,
    cards: &Cards,
    chunk: usize,
    lines: Vec<pb::BatchLine>,
) -> Result<pb::ApplyBatchResponse, ApiError> {
    applier(log, cards, chunk)
        .apply(header(), upload(lines))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_member_numbers_are_line_errors_resolved_once_per_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let cards = Cards::new(usize::MAX);
    let lines = vec![
        line("c1", "1"),
        line("nobody", "2"),
        line("c2", "3"),
        line("c1", "4"),
        line("  c2 ", "5"),
        line("x/y", "6"),
        line("ghost", "7"),
        line(&"9".repeat(129), "8"),
    ];
    let report = send(&log, &cards, 4, lines).await.unwrap();
    assert_eq!(counts(&report), (0, 4, 4));
    assert_eq!(report.accepted_sum, "13.00");
    // Item 12: a refused value is quoted by a short prefix only.
    let long = format!("memberNo \"{}…\" is missing or malformed", "9".repeat(32));
    let errors: Vec<(u64, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.comment.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            (2, "memberNo \"nobody\" is unknown"),
            (6, "memberNo \"x/y\" is missing or malformed"),
            (7, "memberNo \"ghost\" is unknown"),
            (8, long.as_str()),
        ]
    );
    // One call per chunk (lines 1-4, 5-7), each number once, malformed ones never.
    assert_eq!(
        cards.calls(),
        [vec!["c1", "nobody", "c2"], vec!["c2", "ghost"]]
    );
    let (sums, _) = written(&log);
    assert_eq!(sums["account/m1/BONUS"], Decimal::new(5, 0));
    assert_eq!(sums["account/m2/BONUS"], Decimal::new(8, 0));
    assert_eq!(sums.len(), 2, "nothing under the unresolved numbers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_that_cannot_answer_fails_the_batch_without_applying_the_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let lines = || {
        (1..=6)
            .map(|i| line(&format!("c{i}"), "10"))
            .collect::<Vec<_>>()
    };

    // Unreachable from the start: UNAVAILABLE, and nothing at all written.
    let down = Cards::new(0);
    let err = send(&log, &down, 3, lines()).await.unwrap_err();
    assert!(matches!(err, ApiError::Unavailable(_)), "{err}");
    let status = tonic::Status::from(err);
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(status.message().contains("retry"), "{}", status.message());
    assert_eq!(written(&log), (HashMap::new(), 0));

    // Down after the first chunk: that chunk stays applied, the second is
    // neither recorded nor applied.
    let flaky = Cards::new(1);
    let err = send(&log, &flaky, 3, lines()).await.unwrap_err();
    assert!(matches!(err, ApiError::Unavailable(_)), "{err}");
    let (sums, chunks) = written(&log);
    assert_eq!((sums.len(), chunks), (3, 1));

    // Back up: the retry under the same requestId completes, each line once.
    let up = Cards::new(usize::MAX);
    let report = send(&log, &up, 3, lines()).await.unwrap();
    assert_eq!(counts(&report), (0, 6, 0));
    let (sums, chunks) = written(&log);
    assert_eq!(chunks, 2);
    assert_eq!(sums.len(), 6);
    assert!(sums.values().all(|s| *s == Decimal::new(10, 0)), "{sums:?}");
}
