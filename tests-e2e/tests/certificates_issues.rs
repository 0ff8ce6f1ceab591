//! An issue's prerequisites (seed 000), the real binaries: its type and
//! template must be defined (the template made for its type), and its
//! partner must have a cash account in the type's currency in the ledger —
//! refused with the reason until the ledger's `OpenAccount` opens one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use loyalty_proto::certificates::v1 as pb;
use loyalty_proto::ledger::v1 as lpb;
use tests_e2e::certificates::start_with;
use tests_e2e::harness::NatsServer;
use tests_e2e::identity::{assert_names_field, assert_reason};
use tests_e2e::ledger::Ledger;
use tonic::Code;

fn certificate_type(type_id: &str) -> pb::DefineCertificateTypeRequest {
    pb::DefineCertificateTypeRequest {
        certificate_type: Some(pb::CertificateType {
            type_id: type_id.into(),
            name: "Gift certificate".into(),
            fixed_value: String::new(),
            one_time: false,
            currency: "RUB".into(),
        }),
    }
}

fn template(template_id: &str, type_id: &str) -> pb::DefineCertificateTemplateRequest {
    pb::DefineCertificateTemplateRequest {
        template: Some(pb::CertificateTemplate {
            template_id: template_id.into(),
            name: "Blue card".into(),
            type_id: type_id.into(),
            description: String::new(),
        }),
    }
}

fn issue(template_id: &str, partner_id: &str) -> pb::CreateIssueRequest {
    pb::CreateIssueRequest {
        issue: Some(pb::CertificateIssue {
            issue_id: "issue-1".into(),
            type_id: "gift".into(),
            template_id: template_id.into(),
            partner_id: partner_id.into(),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_needs_its_template_and_its_partners_account_in_the_ledger() {
    let nats = NatsServer::start().await.unwrap();
    let ledger_dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::start(ledger_dir.path(), &["--nats-url", &nats.url()], &[]).await;
    let data = tempfile::tempdir().unwrap();
    let (_process, mut c) = start_with(data.path(), &["--ledger-url", &ledger.url()]).await;

    c.define_certificate_type(certificate_type("gift"))
        .await
        .unwrap();
    c.define_certificate_type(certificate_type("other"))
        .await
        .unwrap();
    c.define_certificate_template(template("tpl", "gift"))
        .await
        .unwrap();
    c.define_certificate_template(template("tpl-other", "other"))
        .await
        .unwrap();
    // The same template again changes nothing; another one under its id is
    // refused; one for a type nobody defined names its field.
    c.define_certificate_template(template("tpl", "gift"))
        .await
        .unwrap();
    let other = c
        .define_certificate_template(template("tpl", "other"))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::AlreadyExists, "{other:?}");
    let no_type = c
        .define_certificate_template(template("tpl-x", "nope"))
        .await
        .unwrap_err();
    assert_names_field(&no_type, "template.type_id");

    // An unknown template, or one made for another type.
    let unknown = c.create_issue(issue("nope", "")).await.unwrap_err();
    assert_names_field(&unknown, "issue.template_id");
    let wrong = c.create_issue(issue("tpl-other", "")).await.unwrap_err();
    assert_names_field(&wrong, "issue.template_id");

    // A partner id the ledger cannot hold an account for names its field.
    let bad = c.create_issue(issue("tpl", "a/b")).await.unwrap_err();
    assert_names_field(&bad, "issue.partner_id");

    // The partner has no RUB account yet.
    let missing = c.create_issue(issue("tpl", "acme")).await.unwrap_err();
    assert_reason(
        &missing,
        Code::FailedPrecondition,
        "PARTNER_ACCOUNT_MISSING",
    );
    assert!(
        missing.message().contains("partner:acme"),
        "{}",
        missing.message()
    );

    let open = lpb::OpenAccountRequest {
        member_id: "partner:acme".into(),
        currency: "RUB".into(),
    };
    let opened = ledger
        .client()
        .open_account(open.clone())
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap();
    assert!(opened.opened);
    assert_eq!(
        opened.available.parse::<rust_decimal::Decimal>().ok(),
        Some(rust_decimal::Decimal::ZERO)
    );
    // Opening again keeps it as it is.
    let again = ledger
        .client()
        .open_account(open)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.account.unwrap(), opened);

    let created = c
        .create_issue(issue("tpl", "acme"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.issue.unwrap().partner_id, "acme");
    // The same issue again: as it was.
    c.create_issue(issue("tpl", "acme")).await.unwrap();
}
