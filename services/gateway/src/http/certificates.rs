//! Gift certificates for operators (seed 000): types, templates and issues;
//! a CSV import streamed to the certificates service, answered with seed
//! 004's report (JSON in the envelope, or CSV); an import's progress and
//! report by its id; a certificate found by any of its identifiers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use loyalty_proto::certificates::v1 as pb;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tonic::transport::Channel;
use utoipa::ToSchema;

use super::{App, JsonBody, pascal};
use crate::amount::Amount;
use crate::envelope::{Envelope, ErrorAnswer};
use crate::error::GatewayError;

type Client = pb::certificates_service_client::CertificatesServiceClient<Channel>;

fn client(app: &App) -> Client {
    Client::new(app.upstream.certificates.clone())
}

/// A certificate type.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TypeIn {
    /// Its id.
    pub type_id: String,
    /// Its name.
    pub name: String,
    /// The fixed value of its certificates (none: each has its own amount).
    pub fixed_value: Option<Amount>,
    /// Spent in one go (Redeemed after one payment).
    pub one_time: bool,
    /// Currency (`RUB`, ...).
    pub currency: String,
}

/// A template of printed certificates.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TemplateIn {
    /// Its id.
    pub template_id: String,
    /// Its name.
    pub name: String,
    /// The type it is made for (empty: any).
    pub type_id: String,
    /// Description.
    pub description: String,
}

/// An issue (a batch of certificates of one type by one partner).
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct IssueIn {
    /// Its id.
    pub issue_id: String,
    /// The certificates' type.
    pub type_id: String,
    /// The template printed.
    pub template_id: String,
    /// The partner selling them (needs a cash account in the ledger).
    pub partner_id: String,
}

fn operator(app: &App, headers: &HeaderMap) -> Result<(), GatewayError> {
    app.keys.operator(headers).map(|_| ())
}

/// Defines (or redefines) a certificate type.
#[utoipa::path(post, path = "/api/v1/Certificates/Types", tag = "Operators", request_body = TypeIn,
    responses((status = 200, body = Envelope<Value>), (status = 400, body = Envelope<Value>), ErrorAnswer),
    security(("api_key" = [])))]
pub async fn define_type(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(t): JsonBody<TypeIn>,
) -> Result<Envelope<Value>, GatewayError> {
    operator(&app, &headers)?;
    let r = client(&app)
        .define_certificate_type(app.upstream.request(pb::DefineCertificateTypeRequest {
            certificate_type: Some(pb::CertificateType {
                type_id: t.type_id,
                name: t.name,
                fixed_value: t.fixed_value.map(Amount::to_wire).unwrap_or_default(),
                one_time: t.one_time,
                currency: t.currency,
            }),
        }))
        .await?
        .into_inner();
    let t = r.certificate_type.unwrap_or_default();
    Ok(Envelope::ok(json!({
        "typeId": t.type_id, "name": t.name, "fixedValue": Amount::from_wire(&t.fixed_value),
        "oneTime": t.one_time, "currency": t.currency,
    })))
}

/// Defines a template.
#[utoipa::path(post, path = "/api/v1/Certificates/Templates", tag = "Operators", request_body = TemplateIn,
    responses((status = 200, body = Envelope<Value>), (status = 400, body = Envelope<Value>), ErrorAnswer),
    security(("api_key" = [])))]
pub async fn define_template(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(t): JsonBody<TemplateIn>,
) -> Result<Envelope<Value>, GatewayError> {
    operator(&app, &headers)?;
    let r = client(&app)
        .define_certificate_template(app.upstream.request(pb::DefineCertificateTemplateRequest {
            template: Some(pb::CertificateTemplate {
                template_id: t.template_id,
                name: t.name,
                type_id: t.type_id,
                description: t.description,
            }),
        }))
        .await?
        .into_inner();
    let t = r.template.unwrap_or_default();
    Ok(Envelope::ok(json!({
        "templateId": t.template_id, "name": t.name, "typeId": t.type_id, "description": t.description,
    })))
}

/// Creates an issue.
#[utoipa::path(post, path = "/api/v1/Certificates/Issues", tag = "Operators", request_body = IssueIn,
    responses((status = 200, body = Envelope<Value>), (status = 400, body = Envelope<Value>),
        (status = 422, description = "The partner has no cash account in the type's currency", body = Envelope<Value>), ErrorAnswer),
    security(("api_key" = [])))]
pub async fn create_issue(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(i): JsonBody<IssueIn>,
) -> Result<Envelope<Value>, GatewayError> {
    operator(&app, &headers)?;
    let r = client(&app)
        .create_issue(app.upstream.request(pb::CreateIssueRequest {
            issue: Some(pb::CertificateIssue {
                issue_id: i.issue_id,
                type_id: i.type_id,
                template_id: i.template_id,
                partner_id: i.partner_id,
            }),
        }))
        .await?
        .into_inner();
    let i = r.issue.unwrap_or_default();
    Ok(Envelope::ok(json!({
        "issueId": i.issue_id, "typeId": i.type_id, "templateId": i.template_id, "partnerId": i.partner_id,
    })))
}

/// The import's query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImportQuery {
    /// The issue the certificates belong to.
    pub issue_id: String,
    /// The import's id (the job id): repeating it repeats the import.
    pub import_id: String,
    /// `csv` for seed 004's CSV report.
    pub format: Option<String>,
}

/// Seed 004's report of an import, JSON in the envelope or CSV.
fn report(r: &pb::ImportCertificatesResponse, csv: bool) -> Response {
    let head = kit::report::Head {
        code: r.code,
        message: &r.message,
        id: &r.import_id,
        sums: vec![("RUR", r.accepted_amount.as_str())],
        error_count: r.refused,
    };
    let errors = r.errors.iter().map(|e| (e.line, e.comment.as_str()));
    if csv {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            kit::report::csv(&head, errors),
        )
            .into_response();
    }
    let mut seed: Value =
        serde_json::from_str(&kit::report::json(&head, errors)).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut seed {
        m.insert(
            "import".into(),
            json!({
                "importId": r.import_id, "lines": r.lines, "created": r.created, "updated": r.updated,
                "skipped": r.skipped, "refused": r.refused, "errorCount": r.refused,
            }),
        );
    }
    Envelope::ok(seed).into_response()
}

/// Imports a certificate file (seed 000's `;`-separated CSV) into an issue;
/// answers seed 004's report when the whole file is done.
#[utoipa::path(post, path = "/api/v1/Certificates/Import", tag = "Operators",
    params(
        ("issueId" = String, Query, description = "The issue"),
        ("importId" = String, Query, description = "The import's (job's) id; the same id again answers the first report"),
        ("format" = Option<String>, Query, description = "`csv` for seed 004's CSV report"),
    ),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "Seed 004's report, with the import's counts", body = Envelope<Value>),
        (status = 400, body = Envelope<Value>), (status = 413, body = Envelope<Value>), ErrorAnswer),
    security(("api_key" = [])))]
pub async fn import(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<ImportQuery>,
    body: Body,
) -> Response {
    if let Err(e) = operator(&app, &headers) {
        return e.into_response();
    }
    let start = pb::ImportCertificatesRequest {
        part: Some(pb::import_certificates_request::Part::Start(
            pb::ImportStart {
                import_id: q.import_id.clone(),
                issue_id: q.issue_id.clone(),
            },
        )),
    };
    // A body that breaks off or grows too large must not import the part
    // before: the upload is then held open (never ended cleanly) and the
    // call dropped, which cancels it.
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let (broken_tx, broken_rx) = tokio::sync::oneshot::channel::<GatewayError>();
    let forward = tokio::spawn(async move {
        let mut seen = 0u64;
        let mut data = body.into_data_stream();
        if tx.send(start).await.is_err() {
            return;
        }
        while let Some(chunk) = data.next().await {
            let failure = match chunk {
                Ok(c) => {
                    seen += c.len() as u64;
                    if seen <= super::batch::MAX_BATCH_BYTES {
                        let part = pb::import_certificates_request::Part::Data(c.to_vec());
                        let message = pb::ImportCertificatesRequest { part: Some(part) };
                        if tx.send(message).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    GatewayError::TooLarge
                }
                Err(_) => {
                    GatewayError::invalid("body", "the upload broke off; nothing was imported")
                }
            };
            let _ = broken_tx.send(failure);
            tx.closed().await;
            return;
        }
    });
    let mut certificates = client(&app);
    let call = certificates.import_certificates(
        app.upstream
            .request(tokio_stream::wrappers::ReceiverStream::new(rx)),
    );
    let answer = tokio::select! {
        r = call => match r {
            Ok(r) => report(r.get_ref(), super::wants_csv(&headers, q.format.as_deref())),
            Err(s) => GatewayError::from(s).into_response(),
        },
        Ok(failure) = broken_rx => failure.into_response(),
    };
    forward.abort();
    answer
}

/// `?format=csv`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FormatQuery {
    /// `csv` for seed 004's CSV report.
    pub format: Option<String>,
}

/// An import's progress, and its report once done.
#[utoipa::path(get, path = "/api/v1/Certificates/Imports/{importId}", tag = "Operators",
    params(("importId" = String, Path, description = "The import's id"),
        ("format" = Option<String>, Query, description = "`csv` for the report as seed 004's CSV")),
    responses((status = 200, body = Envelope<Value>), (status = 404, body = Envelope<Value>), ErrorAnswer),
    security(("api_key" = [])))]
pub async fn get_import(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(import_id): Path<String>,
    Query(q): Query<FormatQuery>,
) -> Response {
    if let Err(e) = operator(&app, &headers) {
        return e.into_response();
    }
    let r = match client(&app)
        .get_import(app.upstream.request(pb::GetImportRequest { import_id }))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => return GatewayError::from(s).into_response(),
    };
    match (r.state(), r.report) {
        (pb::ImportState::Finished, Some(report_of)) => {
            report(&report_of, super::wants_csv(&headers, q.format.as_deref()))
        }
        (state, _) => Envelope::ok(json!({
            "state": pascal(state.as_str_name(), "IMPORT_STATE_"),
            "linesDone": r.lines_done,
        }))
        .into_response(),
    }
}

/// Which certificate.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct FindIn {
    /// `Number`, `BarCode`, `Strip1`, `Strip2`, `Strip3`, `QrCode` or
    /// `CertificateId`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The identifier (in the body, not the URL: a certificate's number
    /// pays like cash).
    pub value: String,
}

/// A certificate found by any of its identifiers.
#[utoipa::path(post, path = "/api/v1/Certificates/Find", tag = "Operators", request_body = FindIn,
    responses((status = 200, body = Envelope<Value>), (status = 404, body = Envelope<Value>), ErrorAnswer),
    security(("api_key" = [])))]
pub async fn find(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    JsonBody(f): JsonBody<FindIn>,
) -> Result<Envelope<Value>, GatewayError> {
    operator(&app, &headers)?;
    let kind = [
        pb::IdentifierKind::Number,
        pb::IdentifierKind::BarCode,
        pb::IdentifierKind::Strip1,
        pb::IdentifierKind::Strip2,
        pb::IdentifierKind::Strip3,
        pb::IdentifierKind::QrCode,
        pb::IdentifierKind::CertificateId,
    ]
    .into_iter()
    .find(|k| pascal(k.as_str_name(), "IDENTIFIER_KIND_") == f.kind)
    .ok_or_else(|| {
        GatewayError::invalid(
            "type",
            "Number, BarCode, Strip1, Strip2, Strip3, QrCode or CertificateId",
        )
    })?;
    let r = client(&app)
        .get_certificate(app.upstream.request(pb::GetCertificateRequest {
            identifier: Some(pb::Identifier {
                kind: kind as i32,
                value: f.value,
            }),
        }))
        .await?
        .into_inner();
    let dates = r.dates.clone().unwrap_or_default();
    Ok(Envelope::ok(json!({
        "certificateId": r.certificate_id,
        "issueId": r.issue_id,
        "oneTime": r.one_time,
        "status": pascal(r.status().as_str_name(), "CERTIFICATE_STATUS_"),
        "amount": Amount::from_wire(&r.amount),
        "available": Amount::from_wire(&r.available),
        "activationDate": dates.activation_date,
        "expirationDate": dates.expiration_date,
        "redemptionDate": dates.redemption_date,
        "identifiers": r.identifiers.iter().map(|i| json!({
            "type": pascal(i.kind().as_str_name(), "IDENTIFIER_KIND_"),
            "value": i.value,
        })).collect::<Vec<_>>(),
    })))
}
