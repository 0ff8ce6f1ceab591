//! The certificates binary under test: started on free ports with a data
//! dir of the test's, a client, an issue to import into, and the seed's
//! files (seed 000).

use loyalty_proto::certificates::v1 as pb;
use loyalty_proto::certificates::v1::certificates_service_client::CertificatesServiceClient;
use tonic::transport::Channel;

use crate::harness::{ServiceProcess, ServiceSpec, binary_path, free_port};

/// Starts `certificates` with `--data-dir data`; waits for gRPC health.
pub async fn start(data: &std::path::Path) -> (ServiceProcess, CertificatesServiceClient<Channel>) {
    start_with(data, &[]).await
}

/// [`start`] with `extra` flags.
pub async fn start_with(
    data: &std::path::Path,
    extra: &[&str],
) -> (ServiceProcess, CertificatesServiceClient<Channel>) {
    crate::harness::init_test_logging();
    let port = free_port();
    let spec = ServiceSpec::new("certificates", binary_path("certificates"))
        .args(["--data-dir", data.to_str().expect("utf-8 temp path")])
        .args(["--grpc-addr", &format!("127.0.0.1:{port}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        .args(extra.iter().copied())
        .grpc_port(port)
        .env("RUST_LIB_BACKTRACE", "0");
    let process = ServiceProcess::start(spec)
        .await
        .unwrap_or_else(|e| panic!("certificates starts and reports SERVING: {e:#}"));
    let channel = crate::service_auth::channel(port);
    (process, CertificatesServiceClient::new(channel))
}

/// The upload of `file` as job `import_id` into `issue_id`, in parts of
/// `part` bytes.
pub fn upload(
    import_id: &str,
    issue_id: &str,
    file: &str,
    part: usize,
) -> Vec<pb::ImportCertificatesRequest> {
    use pb::import_certificates_request::Part;
    let mut parts = vec![pb::ImportCertificatesRequest {
        part: Some(Part::Start(pb::ImportStart {
            import_id: import_id.into(),
            issue_id: issue_id.into(),
        })),
    }];
    parts.extend(
        file.as_bytes()
            .chunks(part.max(1))
            .map(|c| pb::ImportCertificatesRequest {
                part: Some(Part::Data(c.to_vec())),
            }),
    );
    parts
}

/// Defines a free-value, multi-use type `type_id` (RUB) and its template
/// `tpl-<type_id>`, and creates issue `issue_id` of it (no partner: see
/// `tests/certificates_issues.rs` for partners' accounts).
pub async fn issue(c: &mut CertificatesServiceClient<Channel>, type_id: &str, issue_id: &str) {
    issue_in(c, type_id, issue_id, "RUB").await;
}

/// [`issue`] with the type's balances in `currency`.
pub async fn issue_in(
    c: &mut CertificatesServiceClient<Channel>,
    type_id: &str,
    issue_id: &str,
    currency: &str,
) {
    c.define_certificate_type(pb::DefineCertificateTypeRequest {
        certificate_type: Some(pb::CertificateType {
            type_id: type_id.into(),
            name: "Gift certificate".into(),
            fixed_value: String::new(),
            one_time: false,
            currency: currency.into(),
        }),
    })
    .await
    .expect("the type is defined");
    c.define_certificate_template(pb::DefineCertificateTemplateRequest {
        template: Some(pb::CertificateTemplate {
            template_id: format!("tpl-{type_id}"),
            name: "Blue card".into(),
            type_id: type_id.into(),
            description: "100 × 70 mm, barcode on the back".into(),
        }),
    })
    .await
    .expect("the template is defined");
    c.create_issue(pb::CreateIssueRequest {
        issue: Some(pb::CertificateIssue {
            issue_id: issue_id.into(),
            type_id: type_id.into(),
            template_id: format!("tpl-{type_id}"),
            partner_id: String::new(),
        }),
    })
    .await
    .expect("the issue is created");
}

/// The seed's first import: four certificates.
pub const FIRST: &str = "\
Number;BarCode;Strip2;Status;Amount;ActivationDate;ExpirationDate
7770002105606220001;7770002105606220001;7770002105606227847=26067229740000001;Activated;555;2022-11-25;2023-11-25
7770002105606220002;7770002105606220002;7770002105606227848=26067229740000002;Activated;345;2022-11-25;2023-11-25
7770002105606220003;7770002105606220003;7770002105606227849=26067229740000003;Activated;100;2022-10-25;2024-10-25
7770002105606220004;7770002105606220004;7770002105606227850=26067229740000004;Prepared;1000;2022-10-25;2024-10-25
";

/// The seed's update file: …0002 redeemed on 2022-12-12, …0004 activated.
pub const UPDATE: &str = "\
Number;BarCode;Strip2;Status;Amount;ActivationDate;ExpirationDate;RedemptionDate
7770002105606220002;7770002105606220002;7770002105606227848=26067229740000002;Redeemed;0;2022-11-25;2023-11-25;2022-12-12
7770002105606220004;7770002105606220004;7770002105606227850=26067229740000004;Activated;1000;2022-10-25;2024-10-25
";
