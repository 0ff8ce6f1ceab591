//! The real certificates binary expires a certificate past its
//! ExpirationDate (its sweep runs every second here), once, and leaves the
//! others as they are.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::certificates::v1 as pb;
use tests_e2e::certificates::{issue, start_with, upload};
use tests_e2e::harness::eventually;
use tests_e2e::identity::DEADLINE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_past_its_date_expires_and_the_others_stay() {
    let data = tempfile::tempdir().unwrap();
    let (_process, mut c) = start_with(data.path(), &["--expiry-interval-secs", "1"]).await;
    issue(&mut c, "gift", "issue-1").await;
    let file = "Number;Status;Amount;ActivationDate;ExpirationDate\n\
                OLD1;Activated;300;2019-01-01;2020-01-01\n\
                NEW1;Activated;300;2019-01-01;2999-01-01\n";
    let parts = upload("job-1", "issue-1", file, 1 << 20);
    let r = c
        .import_certificates(tokio_stream::iter(parts))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.created, 2);
    let get = |number: &str| pb::GetCertificateRequest {
        identifier: Some(pb::Identifier {
            kind: pb::IdentifierKind::Number as i32,
            value: number.into(),
        }),
    };
    let old = eventually(DEADLINE, "OLD1 expires", || {
        let mut c = c.clone();
        let request = get("OLD1");
        async move {
            let old = c.get_certificate(request).await.unwrap().into_inner();
            (old.status == pb::CertificateStatus::Expired as i32).then_some(old)
        }
    })
    .await;
    assert_eq!(old.amount, "300.00", "the balance it had stays on record");
    let new = c.get_certificate(get("NEW1")).await.unwrap().into_inner();
    assert_eq!(new.status, pb::CertificateStatus::Activated as i32);
}
