//! A batch interrupted mid-upload and sent again under the same requestId:
//! the same content completes without doubling anything; different content
//! (shifted lines, another type) is refused before anything more is applied.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::sync::Arc;

use common::batch::accruals;
use common::requests::counts;
use kit::aggregate::Repository;
use kit::log::EventLog;
use ledger::app::batch::{BatchApplier, BatchDigest, BatchPart};
use ledger::app::catalog::CatalogHandle;
use ledger::domain::account::Account;
use ledger::error::ApiError;
use ledger::members::MemberNoIsMemberId;
use loyalty_proto::ledger::v1 as pb;
use rust_decimal::Decimal;

fn lines(n: u64) -> Vec<pb::BatchLine> {
    (1..=n)
        .map(|i| pb::BatchLine {
            member_no: format!("m{}", i % 7),
            description: format!("line {i}"),
            operation_date: "2026-01-01 10:00:00".into(),
            merchant_name: "shop".into(),
            transaction_amount: String::new(),
            points_amount: format!("{i}.25"),
            ..Default::default()
        })
        .collect()
}

fn header(kind: pb::BatchType) -> pb::BatchHeader {
    pb::BatchHeader {
        request_id: "R".into(),
        r#type: kind as i32,
        operator_id: "emp-1".into(),
        ..Default::default()
    }
}

/// The lines of a `kind` batch in chunks of 3 per message, then the
/// trailer, optionally failing after `fail_after` messages.
fn upload(
    kind: pb::BatchType,
    lines: Vec<pb::BatchLine>,
    fail_after: Option<usize>,
) -> impl futures::Stream<Item = Result<BatchPart, ApiError>> + Unpin {
    let mut digest = BatchDigest::new(&header(kind));
    lines.iter().for_each(|l| digest.line(l));
    let mut messages: Vec<Result<BatchPart, ApiError>> = lines
        .chunks(3)
        .map(|c| Ok(BatchPart::Lines(c.to_vec())))
        .collect();
    messages.push(Ok(BatchPart::End(digest.trailer())));
    if let Some(n) = fail_after {
        messages.truncate(n);
        messages.push(Err(ApiError::Unexpected(anyhow::anyhow!(
            "connection reset"
        ))));
    }
    futures::stream::iter(messages)
}

/// The upload of [`upload`], applied under [`header`].
async fn send(
    applier: &BatchApplier,
    kind: pb::BatchType,
    lines: Vec<pb::BatchLine>,
    fail_after: Option<usize>,
) -> Result<pb::ApplyBatchResponse, ApiError> {
    applier
        .apply(header(kind), upload(kind, lines, fail_after))
        .await
}

fn total(log: &EventLog) -> (usize, Decimal) {
    let accrued = accruals(log);
    (accrued.len(), accrued.iter().map(|(_, a)| *a).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_batch_resent_completes_exactly_once_and_other_content_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let repo = Arc::new(Repository::<Account>::new(Arc::clone(&log)));
    let applier = BatchApplier::new(repo, CatalogHandle::builtin(), Arc::new(MemberNoIsMemberId))
        .with_chunk_lines(10);

    // 30 lines; the upload breaks after 5 messages (15 lines): chunk 1 (lines 1-10) is applied.
    let err = send(&applier, pb::BatchType::Accrue, lines(30), Some(5))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Unexpected(_)));
    let (applied, _) = total(&log);
    assert_eq!(applied, 10);

    // Shifted content (line 1 removed) under the same requestId: refused, nothing more applied.
    let shifted: Vec<_> = lines(30).into_iter().skip(1).collect();
    let err = send(&applier, pb::BatchType::Accrue, shifted, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::IdempotencyConflict(_)), "{err}");
    // Same lines as another type: refused too.
    let err = send(&applier, pb::BatchType::ManualWithdraw, lines(30), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::IdempotencyConflict(_)), "{err}");
    assert_eq!(total(&log).0, 10);

    // The same content again: completes; every line exactly once.
    let report = send(&applier, pb::BatchType::Accrue, lines(30), None)
        .await
        .unwrap();
    assert_eq!(counts(&report), (0, 30, 0));
    let expected: Decimal = (1..=30)
        .map(|i| format!("{i}.25").parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(report.accepted_sum.parse::<Decimal>().unwrap(), expected);
    assert_eq!(total(&log), (30, expected));
    // And once more: the stored report, nothing applied.
    let again = send(&applier, pb::BatchType::Accrue, lines(30), None)
        .await
        .unwrap();
    assert_eq!(again, report);
    assert_eq!(total(&log), (30, expected));
}
