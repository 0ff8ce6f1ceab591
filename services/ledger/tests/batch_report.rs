//! Seed 004 byte for byte: the batch report as CSV and JSON, compared with
//! the seed's own examples as text.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::sync::Arc;

use common::batch::upload;
use kit::aggregate::Repository;
use kit::log::EventLog;
use ledger::app::batch::BatchApplier;
use ledger::app::catalog::CatalogHandle;
use ledger::batch_file::{report_csv, report_json};
use ledger::domain::account::Account;
use ledger::domain::catalog::Catalog;
use ledger::members::MemberNoIsMemberId;
use loyalty_proto::ledger::v1 as pb;

/// The seed's 185 message.
const SEED_185: &str = "Ошибка импорта массового платежа. Сумма платежа равна нулю. Подробности в деталях платежа (см. также get_batch_info).";

/// A ledger knowing the seed's currencies, in another order than the seed's.
fn applier(dir: &tempfile::TempDir) -> BatchApplier {
    let log = EventLog::open(dir.path()).unwrap();
    let catalog = Catalog::default()
        .with_currencies(&[("BTC", 2), ("EUR", 2), ("RUR", 2), ("USD", 2)], "RUR");
    BatchApplier::new(
        Arc::new(Repository::<Account>::new(log)),
        CatalogHandle::new(0, catalog),
        Arc::new(MemberNoIsMemberId),
    )
}

fn line(member: &str, points: &str) -> pb::BatchLine {
    pb::BatchLine {
        member_no: member.into(),
        operation_date: "2026-01-01 10:00:00".into(),
        points_amount: points.into(),
        ..Default::default()
    }
}

fn header(id: &str, currency: &str) -> pb::BatchHeader {
    pb::BatchHeader {
        request_id: id.into(),
        r#type: pb::BatchType::Accrue as i32,
        currency_external_id: currency.into(),
        ..Default::default()
    }
}

/// The report of a batch of `lines` in `currency`, applied under `id`.
async fn run_batch(
    a: &BatchApplier,
    id: &str,
    currency: &str,
    lines: Vec<pb::BatchLine>,
) -> pb::ApplyBatchResponse {
    let h = header(id, currency);
    a.apply(h.clone(), upload(&h, lines)).await.unwrap()
}

/// The seed's error example: a 185 with one line error, under `id`.
fn seed_error(id: &str) -> pb::ApplyBatchResponse {
    pb::ApplyBatchResponse {
        request_id: id.into(),
        code: 185,
        status: 1,
        message: SEED_185.into(),
        error_count: 1,
        errors: vec![pb::BatchLineError {
            line: 1,
            comment: "Неверно задано значение поля Card number".into(),
        }],
        ..Default::default()
    }
}

/// The seed's JSON examples have no indentation: compare line by line
/// without it.
fn unindented(s: &str) -> String {
    s.lines()
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_report_is_the_seeds_example() {
    let dir = tempfile::tempdir().unwrap();
    let a = applier(&dir);
    let id = "938059f7-3680-4836-8c5c-53d5912556b9";
    let report = run_batch(&a, id, "RUR", vec![line("m1", "1.20")]).await;
    assert_eq!(
        report_csv(&report),
        "0;938059f7-3680-4836-8c5c-53d5912556b9;1.20;0.00;0.00;0.00\n\
         errors;938059f7-3680-4836-8c5c-53d5912556b9;0\n"
    );
    // Every line rejected: 185 with the seed's message.
    let report = run_batch(
        &a,
        "0839e09e-4651-4ccd-a222-e1975a93a33c",
        "RUR",
        vec![line("m1", "0"), line("", "1")],
    )
    .await;
    assert_eq!(report.code, 185);
    assert_eq!(report.message, SEED_185);
    assert_eq!(
        report_csv(&report).lines().take(2).collect::<Vec<_>>(),
        [
            "185;\"Ошибка импорта массового платежа. Сумма платежа равна нулю. Подробности в деталях платежа (см. также get_batch_info).\"",
            "errors;0839e09e-4651-4ccd-a222-e1975a93a33c;2",
        ]
    );
    // A single-line batch rejected: 188, the message gives the reason.
    let report = run_batch(&a, "one", "RUR", vec![line("m1", "-1")]).await;
    assert_eq!(report.code, 188);
    assert_eq!(
        report.message,
        format!(
            "Ошибка импорта массового платежа. {}",
            report.errors[0].comment
        )
    );
    // The seed's error example, rendered from its values.
    let seed = seed_error("0839e09e-4651-4ccd-a222-e1975a93a33c");
    assert_eq!(
        report_csv(&seed),
        "185;\"Ошибка импорта массового платежа. Сумма платежа равна нулю. Подробности в деталях платежа (см. также get_batch_info).\"\n\
         errors;0839e09e-4651-4ccd-a222-e1975a93a33c;1\n\
         errorAtLine;1;\"Неверно задано значение поля Card number\"\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_report_is_the_seeds_example() {
    let dir = tempfile::tempdir().unwrap();
    let a = applier(&dir);
    let report = run_batch(
        &a,
        "3e6131a6-f55e-4a54-92a8-198e114dc92a",
        "EUR",
        vec![line("m1", "7.29")],
    )
    .await;
    // The seed's example without `fee` and `nettoSummary`: the ledger
    // charges no fees.
    let seed_ok = r#"{
"code": 0,
"message": "",
"data": {
"id": "3e6131a6-f55e-4a54-92a8-198e114dc92a",
"summary": {
"RUR": "0.00",
"USD": "0.00",
"EUR": "7.29",
"BTC": "0.00"
},
"errors": []
}
}"#;
    assert_eq!(unindented(&report_json(&report)), seed_ok);
    let seed_json = r#"{
"code": 185,
"message": "Ошибка импорта массового платежа. Сумма платежа равна нулю. Подробности в деталях платежа (см. также get_batch_info).",
"data": {
"id": "1318ee26-cc74-4dd5-a875-6c69957261e0",
"errors": [
{
"line": 1,
"comment": "Неверно задано значение поля Card number"
}
]
}
}"#;
    let report = seed_error("1318ee26-cc74-4dd5-a875-6c69957261e0");
    assert_eq!(unindented(&report_json(&report)), seed_json);
}
