//! The real certificates binary over gRPC: the seed's files uploaded in
//! parts give the seed-004 reports, each certificate is found by any one of
//! its identifiers with the seed's states and balances, each job keeps its
//! report, a bad upload names its field, and after a restart everything is
//! still there.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::certificates::v1 as pb;
use loyalty_proto::certificates::v1::certificates_service_client::CertificatesServiceClient;
use pb::import_certificates_request::Part;
use tests_e2e::certificates::{FIRST, UPDATE, issue, start, upload};
use tests_e2e::identity::assert_names_field;
use tonic::Code;
use tonic::transport::Channel;

async fn by(
    c: &mut CertificatesServiceClient<Channel>,
    kind: pb::IdentifierKind,
    value: &str,
) -> pb::GetCertificateResponse {
    c.get_certificate(pb::GetCertificateRequest {
        identifier: Some(pb::Identifier {
            kind: kind as i32,
            value: value.into(),
        }),
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_files_over_grpc_and_any_identifier_finds_the_certificate() {
    let data = tempfile::tempdir().unwrap();
    let (mut process, mut c) = start(data.path()).await;
    // No issue yet: the upload names its field.
    let refused = c
        .import_certificates(tokio_stream::iter(upload("job-0", "issue-1", FIRST, 100)))
        .await
        .unwrap_err();
    assert_names_field(&refused, "start.issue_id");
    issue(&mut c, "gift", "issue-1").await;
    // The same definition again changes nothing; another one is refused.
    issue(&mut c, "gift", "issue-1").await;
    let other = c
        .define_certificate_type(pb::DefineCertificateTypeRequest {
            certificate_type: Some(pb::CertificateType {
                type_id: "gift".into(),
                one_time: true,
                currency: "RUB".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::AlreadyExists);
    let r = c
        .import_certificates(tokio_stream::iter(upload("job-1", "issue-1", FIRST, 100)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.code, r.lines, r.created, r.accepted_amount.as_str()),
        (0, 4, 4, "2000.00")
    );
    let r = c
        .import_certificates(tokio_stream::iter(upload(
            "job-2",
            "issue-1",
            &format!("{UPDATE}X;;;Refunding;1;;\n"),
            100,
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.code, r.updated, r.refused), (0, 2, 1));
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].line, 3);
    assert!(r.errors[0].comment.contains("unfinished process"), "{r:?}");

    let two = by(
        &mut c,
        pb::IdentifierKind::Strip2,
        "7770002105606227848=26067229740000002",
    )
    .await;
    assert_eq!(two.status, pb::CertificateStatus::Redeemed as i32);
    assert_eq!(two.amount, "0.00");
    assert_eq!(two.dates.unwrap().redemption_date, "2022-12-12");
    let four = by(&mut c, pb::IdentifierKind::BarCode, "7770002105606220004").await;
    assert_eq!(
        (four.status, four.amount.as_str()),
        (pb::CertificateStatus::Activated as i32, "1000.00")
    );

    // Not found, and a bad upload naming its field.
    let missing = c
        .get_certificate(pb::GetCertificateRequest {
            identifier: Some(pb::Identifier {
                kind: pb::IdentifierKind::Number as i32,
                value: "nope".into(),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let mut headless = upload("job-3", "issue-1", "", 100);
    headless.remove(0);
    headless.push(pb::ImportCertificatesRequest {
        part: Some(Part::Data(b"Number;Status\n".to_vec())),
    });
    let refused = c
        .import_certificates(tokio_stream::iter(headless))
        .await
        .unwrap_err();
    assert_names_field(&refused, "start");

    // The job's report, and none for a job never run.
    let job = c
        .get_import(pb::GetImportRequest {
            import_id: "job-2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(job.state, pb::ImportState::Finished as i32);
    let report = job.report.unwrap();
    assert_eq!((report.lines, report.updated, report.refused), (3, 2, 1));
    assert_eq!(report.errors[0].line, 3);
    let unknown = c
        .get_import(pb::GetImportRequest {
            import_id: "never".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // After a restart, everything is still there.
    process.restart().await.unwrap();
    let one = by(&mut c, pb::IdentifierKind::Number, "7770002105606220001").await;
    assert_eq!(one.amount, "555.00");
    let job = c
        .get_import(pb::GetImportRequest {
            import_id: "job-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(job.report.unwrap().created, 4);
}
