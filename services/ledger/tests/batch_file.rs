//! `ledger batch apply FILE`: the seed's JSON file (amounts as JSON numbers,
//! read exactly) and CSV, streamed to a running ledger.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use std::io::Write;

use common::Ledger;
use common::requests::accepted;
use ledger::batch_file::{CsvHeader, apply, count_lines};
use loyalty_proto::ledger::v1 as pb;

const SEED_JSON: &str = r#"{
 "requestId": "123",
 "type": 2,
 "accrueDescription": "string",
 "currencyExternalId": "BONUS",
 "lifeTimeDefinitionExternalId": "",
 "accrue": [
 {"memberNo": "012345", "Description": "string", "operationDate": "2013-08-14 12:26:14",
  "merchantName": " merchantName", "transactionAmount": 152246.54, "pointsAmount": 1522.46},
 {"memberNo": "012345", "Description": "string", "operationDate": "2013-08-14 12:26:14",
  "merchantName": " merchantName", "transactionAmount": 152246.54, "pointsAmount": 1522.46},
 {"memberNo": "012345", "Description": "string", "operationDate": "2013-08-14 12:26:14",
  "merchantName": " merchantName", "transactionAmount": 152246.54, "pointsAmount": "1522.46"}
 ]
}"#;

fn file(dir: &tempfile::TempDir, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(content.as_bytes())
        .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_json_file_is_streamed_and_reported() {
    let l = Ledger::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "batch.json", SEED_JSON);
    assert_eq!(count_lines(&path).unwrap(), 3);
    let report = apply(&l.url, &path, CsvHeader::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(accepted(&report), (0, 3, "4567.38"));
    assert_eq!(report.request_id, "123");
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_files_take_the_header_from_flags_and_report_bad_lines() {
    let l = Ledger::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "batch.csv",
        "memberNo,Description,operationDate,merchantName,transactionAmount,pointsAmount\n\
         m1,Bonus,2026-01-01 10:00:00,Shop,100.00,10.5\n\
         m1,Bonus,not a date,Shop,100.00,1\n\
         m2,Bonus,2026-01-01 10:00:00,Shop,,2\n",
    );
    assert_eq!(count_lines(&path).unwrap(), 3);
    let header = CsvHeader {
        request_id: "csv-1".into(),
        r#type: pb::BatchType::ManualAccrue as i32,
        operator_id: "emp-7".into(),
        ..Default::default()
    };
    let report = apply(&l.url, &path, header, &Default::default())
        .await
        .unwrap();
    assert_eq!(accepted(&report), (0, 2, "12.50"));
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 2);
    l.stop().await;
}

#[test]
fn header_fields_must_precede_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "bad.json",
        r#"{"accrue": [], "requestId": "x", "type": 2}"#,
    );
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let err = ledger::batch_file::read(&path, &CsvHeader::default(), &tx).unwrap_err();
    assert!(err.to_string().contains("must come before accrue"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_line_is_a_line_error_not_the_end_of_the_file() {
    let l = Ledger::start().await;
    let dir = tempfile::tempdir().unwrap();
    let json = file(
        &dir,
        "bad-line.json",
        r#"{"requestId": "bad-line", "type": 2, "accrue": [
 {"memberNo": "m1", "operationDate": "2026-01-01 10:00:00", "pointsAmount": 1},
 {"memberNo": 5, "operationDate": "2026-01-01 10:00:00", "pointsAmount": 2},
 "not a line",
 {"memberNo": "m1", "operationDate": "2026-01-01 10:00:00", "pointsAmount": 4}
]}"#,
    );
    let report = apply(&l.url, &json, CsvHeader::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(accepted(&report), (0, 2, "5.00"), "{report:?}");
    let at: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
    assert_eq!(at, [2, 3]);
    let csv = file(
        &dir,
        "bad-row.csv",
        "memberNo,Description,operationDate,merchantName,transactionAmount,pointsAmount\n\
         m2,Bonus,2026-01-01 10:00:00,Shop,,1\n\
         m2,Bonus,2026-01-01 10:00:00,Shop,,2,extra,fields\n\
         m2,Bonus,2026-01-01 10:00:00,Shop,,4\n",
    );
    let header = CsvHeader {
        request_id: "bad-row".into(),
        r#type: pb::BatchType::Accrue as i32,
        ..Default::default()
    };
    let report = apply(&l.url, &csv, header, &Default::default())
        .await
        .unwrap();
    assert_eq!(
        (report.accepted_count, report.error_count),
        (2, 1),
        "{report:?}"
    );
    assert_eq!(report.errors[0].line, 2);
    l.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_file_records_nothing_and_the_fixed_file_applies_in_full() {
    let l = Ledger::start().await;
    let dir = tempfile::tempdir().unwrap();
    let body = |second: &str| {
        format!(
            r#"{{"requestId": "broken", "type": 2, "accrue": [
 {{"memberNo": "m1", "operationDate": "2026-01-01 10:00:00", "pointsAmount": 1}},
 {second}
 {{"memberNo": "m1", "operationDate": "2026-01-01 10:00:00", "pointsAmount": 4}}
]}}"#
        )
    };
    // A JSON syntax error in line 2: the CLI fails and the ledger records nothing.
    let broken = file(
        &dir,
        "broken.json",
        &body("{\"memberNo\": \"m1\" \"pointsAmount\": 2},"),
    );
    assert!(
        apply(&l.url, &broken, CsvHeader::default(), &Default::default())
            .await
            .is_err()
    );
    let fixed = file(
        &dir,
        "fixed.json",
        &body(r#"{"memberNo": "m1", "operationDate": "2026-01-01 10:00:00", "pointsAmount": 2},"#),
    );
    let report = apply(&l.url, &fixed, CsvHeader::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(accepted(&report), (0, 3, "7.00"), "{report:?}");
    l.stop().await;
}
