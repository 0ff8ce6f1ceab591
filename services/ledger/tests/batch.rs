//! Batch balance changes over gRPC: the seed's example, per-line reports
//! (seed 004 codes 0 / 185 / 188), and idempotency by requestId.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::Ledger;
use common::requests::{accepted, account, available, counts, recent_history};
use ledger::app::batch::BatchDigest;
use loyalty_proto::ledger::v1 as pb;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

fn line(member: &str, points: &str, date: &str) -> pb::BatchLine {
    pb::BatchLine {
        member_no: member.into(),
        description: "string".into(),
        operation_date: date.into(),
        merchant_name: " merchantName".into(),
        transaction_amount: "152246.54".into(),
        points_amount: points.into(),
        ..Default::default()
    }
}

/// Lines of (member, points), all at `date`.
fn lines_at(date: &str, lines: &[(&str, &str)]) -> Vec<pb::BatchLine> {
    lines.iter().map(|(m, p)| line(m, p, date)).collect()
}

fn seed_line() -> pb::BatchLine {
    line("012345", "1522.46", "2013-08-14 12:26:14")
}

async fn apply(
    c: &mut LedgerServiceClient<Channel>,
    request_id: &str,
    kind: pb::BatchType,
    lines: Vec<pb::BatchLine>,
) -> Result<pb::ApplyBatchResponse, tonic::Status> {
    use pb::apply_batch_request::Part;
    let header = Part::Header(pb::BatchHeader {
        request_id: request_id.into(),
        r#type: kind as i32,
        accrue_description: "string".into(),
        operator_id: "emp-1".into(),
        ..Default::default()
    });
    c.apply_batch(futures::stream::iter(with_trailer(header, lines)))
        .await
        .map(|r| r.into_inner())
}

/// The messages of a complete upload: the header, the lines two per
/// message (to exercise chunking), and the end of the upload.
fn with_trailer(
    header: pb::apply_batch_request::Part,
    lines: Vec<pb::BatchLine>,
) -> Vec<pb::ApplyBatchRequest> {
    use pb::apply_batch_request::Part;
    let mut digest = match &header {
        Part::Header(h) => BatchDigest::new(h),
        _ => BatchDigest::new(&pb::BatchHeader::default()),
    };
    let mut messages = vec![pb::ApplyBatchRequest { part: Some(header) }];
    for chunk in lines.chunks(2) {
        chunk.iter().for_each(|l| digest.line(l));
        messages.push(pb::ApplyBatchRequest {
            part: Some(Part::Lines(pb::BatchLines {
                lines: chunk.to_vec(),
            })),
        });
    }
    messages.push(pb::ApplyBatchRequest {
        part: Some(Part::Trailer(digest.trailer())),
    });
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_example_is_applied_and_reported() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    let report = apply(
        c,
        "123",
        pb::BatchType::Accrue,
        vec![seed_line(), seed_line(), seed_line()],
    )
    .await
    .unwrap();
    assert_eq!(
        (
            report.request_id.as_str(),
            report.r#type,
            report.status,
            report.code
        ),
        ("123", 2, 0, 0)
    );
    assert_eq!(
        (
            report.accepted_count,
            report.accepted_sum.as_str(),
            report.error_count
        ),
        (3, "4567.38", 0)
    );
    assert!(report.errors.is_empty());
    assert_eq!(available(c, "012345").await, "4567.38");
    // The same requestId again: the same report, nothing applied twice.
    let again = apply(
        c,
        "123",
        pb::BatchType::Accrue,
        vec![seed_line(), seed_line(), seed_line()],
    )
    .await
    .unwrap();
    assert_eq!(again, report);
    assert_eq!(available(c, "012345").await, "4567.38");
    // The same requestId with other content: a clear error.
    let other = apply(
        c,
        "123",
        pb::BatchType::Accrue,
        vec![seed_line(), seed_line()],
    )
    .await
    .unwrap_err();
    assert_eq!(other.code(), Code::AlreadyExists);
    assert_eq!(available(c, "012345").await, "4567.38");
    // History shows the lines with their description.
    let h = recent_history(c, "012345").await;
    assert_eq!(h.all_count, 3);
    assert!(h.rows.iter().all(|r| r.r#type == pb::HistoryRowType::RewardData as i32 && r.description == "string"));
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_batch_names_its_operator_and_every_line_event_keeps_it() {
    use pb::apply_batch_request::Part;
    let mut l = Ledger::start().await;
    let lines = vec![line("m1", "3", "2026-01-01 10:00:00")];
    for kind in [pb::BatchType::ManualAccrue, pb::BatchType::ManualWithdraw] {
        let anonymous = Part::Header(pb::BatchHeader {
            request_id: format!("anon-{}", kind as i32),
            r#type: kind as i32,
            ..Default::default()
        });
        let status = l
            .client
            .apply_batch(futures::stream::iter(with_trailer(
                anonymous,
                lines.clone(),
            )))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{kind:?}");
        assert_eq!(
            status.get_details_bad_request().unwrap().field_violations[0].field,
            "header.operator_id"
        );
    }
    let r = apply(&mut l.client, "b-op", pb::BatchType::ManualAccrue, lines)
        .await
        .unwrap();
    assert_eq!(r.accepted_count, 1);
    let dir = l.stop_keeping_data().await;
    let log = kit::log::EventLog::open(dir.path().join("eventlog")).unwrap();
    let events = log.read_stream("account/m1/BONUS", 0).unwrap();
    log.close();
    let accrued = ledger::events::decode(&events[0].event_type, &events[0].payload).unwrap();
    let ledger::domain::account::Event::Accrued { context, kind, .. } = accrued else {
        panic!("not an accrual: {accrued:?}")
    };
    assert_eq!(kind, ledger::domain::model::Kind::Manual);
    assert_eq!(context.operator_id, "emp-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_reported_by_line_and_good_lines_applied() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    let lines = vec![
        line("m1", "10.00", "2026-01-01 10:00:00"),
        line("m1", "1.234", "2026-01-01 10:00:00"),
        line("m1", "5", "2026-01-01"),
        line("", "5", "2026-01-01 10:00:00"),
        line("m2", "7.5", "2026-01-01 10:00:00"),
    ];
    let r = apply(c, "b-1", pb::BatchType::ManualAccrue, lines)
        .await
        .unwrap();
    assert_eq!(
        (
            r.code,
            r.status,
            r.accepted_count,
            r.accepted_sum.as_str(),
            r.error_count
        ),
        (0, 0, 2, "17.50", 3)
    );
    let at: Vec<u64> = r.errors.iter().map(|e| e.line).collect();
    assert_eq!(at, [2, 3, 4]);
    assert!(
        r.errors[0].comment.contains("pointsAmount"),
        "{}",
        r.errors[0].comment
    );
    assert!(r.errors[1].comment.contains("operationDate"));
    assert!(r.errors[2].comment.contains("memberNo"));
    assert_eq!(available(c, "m1").await, "10.00");
    assert_eq!(available(c, "m2").await, "7.50");

    // Type 3 (return of bonuses): an overdrawn line is a line error.
    let r = apply(
        c,
        "b-2",
        pb::BatchType::Withdraw,
        lines_at("2026-01-02 10:00:00", &[("m1", "4"), ("m2", "8")]),
    )
    .await
    .unwrap();
    assert_eq!(counts(&r), (0, 1, 1));
    assert!(
        r.errors[0].comment.contains("insufficient funds"),
        "{}",
        r.errors[0].comment
    );
    assert_eq!(available(c, "m1").await, "6.00");

    // Every line rejected: 185; a single-line batch rejected: 188 with the reason.
    let r = apply(
        c,
        "b-3",
        pb::BatchType::Accrue,
        lines_at("2026-01-01 10:00:00", &[("m1", "0"), ("m1", "x")]),
    )
    .await
    .unwrap();
    assert_eq!(
        (r.code, r.status, r.accepted_count, r.error_count),
        (185, 1, 0, 2)
    );
    let r = apply(
        c,
        "b-4",
        pb::BatchType::Accrue,
        vec![line("m1", "-1", "2026-01-01 10:00:00")],
    )
    .await
    .unwrap();
    assert_eq!((r.code, r.status), (188, 1));
    assert!(r.message.contains("pointsAmount"), "{}", r.message);

    // A bad header is a request error, nothing applied.
    let status = apply(c, "", pb::BatchType::Unspecified, vec![])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_above_the_amount_bound_are_line_errors_on_every_retry() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    let lines = || {
        lines_at(
            "2026-01-01 10:00:00",
            &[
                ("m1", "79228162514264337593543950335"),
                ("m1", "79228162514264337593543950335"),
                ("m1", "5"),
            ],
        )
    };
    for _ in 0..2 {
        let r = apply(c, "huge-1", pb::BatchType::Accrue, lines())
            .await
            .unwrap();
        assert_eq!(counts(&r), (0, 1, 2));
        assert_eq!(r.errors[0].line, 1);
        assert!(
            r.errors[0].comment.contains("pointsAmount"),
            "{}",
            r.errors[0].comment
        );
    }
    assert_eq!(available(c, "m1").await, "5.00");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_use_the_ledgers_clock_and_read_operation_dates_with_their_zone() {
    use chrono::TimeZone;
    let at = chrono::Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let mut l = Ledger::start_with_clock(&[], std::sync::Arc::new(move || at)).await;
    let c = &mut l.client;
    use pb::apply_batch_request::Part;
    let header = pb::BatchHeader {
        request_id: "clock-1".into(),
        r#type: pb::BatchType::Accrue as i32,
        life_time_definition_external_id: "365d".into(),
        ..Default::default()
    };
    let lines = vec![
        line("m1", "10", "2013-08-14 12:26:14+03:00"),
        line("m1", "5", "2013-08-14T12:26:14Z"),
        line("m1", "1", "2013-08-14 12:26:14 +0300"),
    ];
    let r = c
        .apply_batch(futures::stream::iter(with_trailer(
            Part::Header(header),
            lines,
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counts(&r), (0, 2, 1), "{r:?}");
    assert!(r.errors[0].comment.contains("operationDate"), "{r:?}");
    let b = account(c, "m1").await;
    // 365 days after the ledger's clock, not after the wall clock.
    assert_eq!(
        b.next_expiry,
        Some((at + chrono::Duration::days(365)).into())
    );
    let h = recent_history(c, "m1").await;
    let mut times: Vec<_> = h
        .rows
        .iter()
        .map(|r| r.context.as_ref().unwrap().operation_time.unwrap())
        .collect();
    times.sort_by_key(|t| t.seconds);
    let utc = chrono::Utc
        .with_ymd_and_hms(2013, 8, 14, 9, 26, 14)
        .unwrap();
    assert_eq!(times[0], utc.into(), "+03:00 is read with its zone");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_without_its_trailer_records_nothing_under_its_request_id() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    let header = || {
        pb::apply_batch_request::Part::Header(pb::BatchHeader {
            request_id: "cut-1".into(),
            r#type: pb::BatchType::Accrue as i32,
            ..Default::default()
        })
    };
    let lines = || {
        lines_at(
            "2026-01-01 10:00:00",
            &[("m1", "1"), ("m1", "2"), ("m1", "4")],
        )
    };
    // The stream ends after the first lines, without the trailer.
    let mut cut = with_trailer(header(), lines());
    cut.truncate(2);
    let status = c.apply_batch(futures::stream::iter(cut)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "trailer"
    );
    // A trailer that does not match what was sent: nothing recorded either.
    let mut wrong = with_trailer(header(), lines());
    wrong.remove(2);
    assert_eq!(
        c.apply_batch(futures::stream::iter(wrong))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    // The whole batch under the same requestId: complete, every line once.
    let r = c
        .apply_batch(futures::stream::iter(with_trailer(header(), lines())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted(&r), (0, 3, "7.00"));
    assert_eq!(available(c, "m1").await, "7.00");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_long_line_fields_are_line_errors() {
    let mut l = Ledger::start().await;
    let c = &mut l.client;
    let mut long = line("m1", "1", "2026-01-01 10:00:00");
    long.description = "d".repeat(1_100_000);
    let r = apply(
        c,
        "long-1",
        pb::BatchType::Accrue,
        vec![long, line("m1", "2", "2026-01-01 10:00:00")],
    )
    .await
    .unwrap();
    assert_eq!((r.accepted_count, r.error_count), (1, 1), "{:?}", r.errors);
    assert!(
        r.errors[0].comment.contains("Description"),
        "{}",
        r.errors[0].comment
    );
    assert!(r.errors[0].comment.len() < 200);
    l.stop().await;
}
