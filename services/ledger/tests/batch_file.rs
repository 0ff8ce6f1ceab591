//! `ledger batch apply FILE`: the seed's JSON file (amounts as JSON numbers,
//! read exactly) and CSV, streamed to a running ledger.

mod common;

use std::io::Write;

use common::Ledger;
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
    assert_eq!(
        (
            report.code,
            report.accepted_count,
            report.accepted_sum.as_str()
        ),
        (0, 3, "4567.38")
    );
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
        ..Default::default()
    };
    let report = apply(&l.url, &path, header, &Default::default())
        .await
        .unwrap();
    assert_eq!(
        (
            report.code,
            report.accepted_count,
            report.accepted_sum.as_str()
        ),
        (0, 2, "12.50")
    );
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
