//! The certificates service's gRPC edge: requests checked into domain
//! values, the use cases run, answers rendered.

use std::io::{BufReader, Seek, Write};

use chrono::{DateTime, Utc};
use kit::status::Violations;
use loyalty_proto::certificates::v1 as pb;
use loyalty_proto::certificates::v1::certificates_service_server::CertificatesService;
use pb::import_certificates_request::Part;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status, Streaming};
use tonic_types::FieldViolation;

use crate::app::catalog::Catalog;
use crate::app::import::{Importer, Job, Outcome};
use crate::app::payments::Payments;
use crate::app::queries::Queries;
use crate::domain::certificate::Certificate;
use crate::domain::issue::{IssueSpec, TemplateSpec, TypeSpec};
use crate::domain::job::Finished;
use crate::domain::line::MAX_AMOUNT;
use crate::domain::redemption::Use;
use crate::error::ApiError;
use crate::events::catalog::{issue_to_wire, template_from_wire, template_to_wire, type_to_wire};
use crate::events::{dates_to_wire, ids_to_wire, status_to_wire};

mod payments;

/// Most refused lines an import's answer lists (all are counted).
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// Largest `data` part of an upload.
pub const MAX_PART: usize = 1024 * 1024;

/// The gRPC service.
pub struct CertificatesApi {
    importer: Importer,
    queries: Queries,
    catalog: Catalog,
    payments: Payments,
    max_upload: u64,
    hold_ttl_secs: u32,
}

impl CertificatesApi {
    /// The service over the use cases; uploads up to `max_upload` bytes;
    /// holds lapse after `hold_ttl_secs` unless their request says.
    pub fn new(
        importer: Importer,
        queries: Queries,
        catalog: Catalog,
        payments: Payments,
        max_upload: u64,
        hold_ttl_secs: u32,
    ) -> Self {
        Self {
            importer,
            queries,
            catalog,
            payments,
            max_upload,
            hold_ttl_secs,
        }
    }
}

fn invalid(field: &str, why: impl Into<String>) -> ApiError {
    ApiError::Invalid(vec![FieldViolation::new(field, why)])
}

fn certificate(c: &Certificate, now: DateTime<Utc>) -> pb::GetCertificateResponse {
    pb::GetCertificateResponse {
        certificate_id: c.id.clone(),
        issue_id: c.issue.issue_id.clone(),
        one_time: c.issue.one_time,
        identifiers: ids_to_wire(&c.ids),
        status: status_to_wire(c.status) as i32,
        amount: format!("{:.2}", c.amount),
        dates: Some(dates_to_wire(&c.dates)),
        available: format!("{:.2}", c.available(now)),
    }
}

impl CertificatesApi {
    async fn import(
        &self,
        mut upload: Streaming<pb::ImportCertificatesRequest>,
    ) -> Result<pb::ImportCertificatesResponse, ApiError> {
        let first = upload
            .message()
            .await
            .map_err(|s| invalid("start", s.message().to_owned()))?;
        let Some(pb::ImportCertificatesRequest {
            part: Some(Part::Start(start)),
        }) = first
        else {
            return Err(invalid("start", "the first part must be start"));
        };
        let mut violations = Violations::new();
        violations.id("start.import_id", &start.import_id);
        violations.id("start.issue_id", &start.issue_id);
        violations.finish().map_err(ApiError::Invalid)?;
        let Some(issue) = self.catalog.issue(&start.issue_id)? else {
            return Err(invalid(
                "start.issue_id",
                format!(
                    "no issue {}: create it first (CreateIssue)",
                    kit::status::quote(&start.issue_id)
                ),
            ));
        };
        // Spooled to a temporary file: memory stays flat however large.
        let mut spool = std::io::BufWriter::new(
            tempfile::tempfile().map_err(|e| ApiError::Unexpected(e.into()))?,
        );
        let mut total = 0u64;
        while let Some(part) = upload
            .message()
            .await
            .map_err(|s| invalid("data", s.message().to_owned()))?
        {
            match part.part {
                Some(Part::Data(bytes)) => {
                    if bytes.len() > MAX_PART {
                        return Err(invalid(
                            "data",
                            format!("a part of {} bytes; at most {MAX_PART}", bytes.len()),
                        ));
                    }
                    total += bytes.len() as u64;
                    if total > self.max_upload {
                        return Err(invalid(
                            "data",
                            format!("the file is larger than {} bytes", self.max_upload),
                        ));
                    }
                    spool
                        .write_all(&bytes)
                        .map_err(|e| ApiError::Unexpected(e.into()))?;
                }
                Some(Part::Start(_)) => {
                    return Err(invalid("start", "only the first part may be start"));
                }
                None => {}
            }
        }
        let mut file = spool
            .into_inner()
            .map_err(|e| ApiError::Unexpected(e.into_error().into()))?;
        file.rewind().map_err(|e| ApiError::Unexpected(e.into()))?;
        let mut errors = Vec::new();
        let report = self
            .importer
            .import(&start.import_id, &issue, BufReader::new(file), |line, o| {
                if let Outcome::Refused(comment) = o
                    && errors.len() < MAX_REPORTED_ERRORS
                {
                    errors.push((line, comment.clone()));
                }
            })
            .await?;
        Ok(render_report(
            &report.finished(&issue.issue.issue_id, errors),
        ))
    }
}

impl CertificatesApi {
    /// Captures (`capture`) or releases hold `hold_id` of the certificate
    /// `identifier` names; its balance after.
    async fn settle(
        &self,
        identifier: Option<&pb::Identifier>,
        hold_id: &str,
        capture: bool,
    ) -> Result<Option<pb::CertificateBalance>, ApiError> {
        let mut v = Violations::new();
        let who = payments::target(&mut v, identifier);
        let hold_id = payments::key(&mut v, "hold_id", hold_id);
        let target = payments::done(v, who)?;
        let c = self
            .payments
            .run(&target, |now| {
                if capture {
                    Use::Capture { hold_id, now }
                } else {
                    Use::Release { hold_id }
                }
            })
            .await?;
        Ok(payments::balance(&c, self.payments.now()))
    }
}

/// A report as the contract shows it.
fn render_report(f: &Finished) -> pb::ImportCertificatesResponse {
    let code = kit::report::code(f.lines, f.refused);
    pb::ImportCertificatesResponse {
        code,
        message: if code == kit::report::CODE_OK {
            String::new()
        } else {
            "every line of the file was refused".into()
        },
        import_id: f.import_id.clone(),
        lines: f.lines,
        created: f.created,
        updated: f.updated,
        skipped: f.skipped,
        refused: f.refused,
        accepted_amount: format!("{:.2}", f.accepted_amount),
        errors: f
            .errors
            .iter()
            .map(|(line, comment)| pb::LineError {
                line: *line,
                comment: comment.clone(),
            })
            .collect(),
    }
}

/// A type of a request, checked.
fn template_spec(t: Option<pb::CertificateTemplate>) -> Result<TemplateSpec, ApiError> {
    let t = t.unwrap_or_default();
    let mut violations = Violations::new();
    violations.id("template.template_id", &t.template_id);
    if t.name.is_empty() || t.name.len() > 256 {
        violations.fail("template.name", "1-256 bytes");
    }
    if !t.type_id.is_empty() {
        violations.id("template.type_id", &t.type_id);
    }
    if t.description.len() > 4096 {
        violations.fail("template.description", "at most 4096 bytes");
    }
    violations.finish().map_err(ApiError::Invalid)?;
    Ok(template_from_wire(t))
}

fn type_spec(t: Option<pb::CertificateType>) -> Result<TypeSpec, ApiError> {
    let t = t.unwrap_or_default();
    let mut violations = Violations::new();
    violations.id("certificate_type.type_id", &t.type_id);
    if t.name.len() > 256 {
        violations.fail("certificate_type.name", "at most 256 bytes");
    }
    if t.currency.is_empty()
        || t.currency.len() > 16
        || !t.currency.chars().all(|c| c.is_ascii_alphanumeric())
    {
        violations.fail(
            "certificate_type.currency",
            "1-16 letters or digits (e.g. RUB)",
        );
    }
    let fixed_value = if t.fixed_value.is_empty() {
        None
    } else {
        match t.fixed_value.parse::<Decimal>() {
            Ok(v)
                if v > Decimal::ZERO
                    && v <= Decimal::from(MAX_AMOUNT)
                    && v.normalize().scale() <= 2 =>
            {
                Some(v)
            }
            _ => {
                violations.fail("certificate_type.fixed_value", format!(
                        "{} is not an amount of 0.01…{MAX_AMOUNT} with at most two decimals (empty: any amount)",
                        kit::status::quote(&t.fixed_value)
                    ),
                );
                None
            }
        }
    };
    violations.finish().map_err(ApiError::Invalid)?;
    Ok(TypeSpec {
        type_id: t.type_id,
        name: t.name,
        fixed_value,
        one_time: t.one_time,
        currency: t.currency,
    })
}

/// An issue of a request, checked.
fn issue_spec(i: Option<pb::CertificateIssue>) -> Result<IssueSpec, ApiError> {
    let i = i.unwrap_or_default();
    let mut violations = Violations::new();
    violations.id("issue.issue_id", &i.issue_id);
    violations.id("issue.type_id", &i.type_id);
    for (field, value) in [
        ("issue.template_id", &i.template_id),
        ("issue.partner_id", &i.partner_id),
    ] {
        if !value.is_empty() {
            violations.id(field, value);
        }
    }
    violations.finish().map_err(ApiError::Invalid)?;
    Ok(IssueSpec {
        issue_id: i.issue_id,
        type_id: i.type_id,
        template_id: i.template_id,
        partner_id: i.partner_id,
    })
}

#[tonic::async_trait]
impl CertificatesService for CertificatesApi {
    async fn hold_certificate(
        &self,
        request: Request<pb::HoldCertificateRequest>,
    ) -> Result<Response<pb::HoldCertificateResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let who = payments::target(&mut v, r.identifier.as_ref());
        let hold_id = payments::key(&mut v, "hold_id", &r.hold_id);
        let purchase_id = payments::key(&mut v, "purchase_id", &r.purchase_id);
        let amount = payments::amount(&mut v, &r.amount);
        let ttl = payments::ttl(&mut v, r.ttl_secs, self.hold_ttl_secs);
        let (target, amount) = payments::done(v, who.zip(amount))?;
        let c = self
            .payments
            .run(&target, |now| Use::Hold {
                hold_id: hold_id.clone(),
                purchase_id,
                amount,
                now,
                lapses_at: Some(now + ttl),
            })
            .await?;
        let lapses_at = c
            .holds
            .get(&hold_id)
            .and_then(|h| h.lapses_at)
            .map(loyalty_proto::wkt::Timestamp::from);
        Ok(Response::new(pb::HoldCertificateResponse {
            balance: payments::balance(&c, self.payments.now()),
            lapses_at,
        }))
    }

    async fn capture_certificate_hold(
        &self,
        request: Request<pb::CaptureCertificateHoldRequest>,
    ) -> Result<Response<pb::CaptureCertificateHoldResponse>, Status> {
        let r = request.into_inner();
        let balance = self.settle(r.identifier.as_ref(), &r.hold_id, true).await?;
        Ok(Response::new(pb::CaptureCertificateHoldResponse {
            balance,
        }))
    }

    async fn release_certificate_hold(
        &self,
        request: Request<pb::ReleaseCertificateHoldRequest>,
    ) -> Result<Response<pb::ReleaseCertificateHoldResponse>, Status> {
        let r = request.into_inner();
        let balance = self
            .settle(r.identifier.as_ref(), &r.hold_id, false)
            .await?;
        Ok(Response::new(pb::ReleaseCertificateHoldResponse {
            balance,
        }))
    }

    async fn restore_certificate(
        &self,
        request: Request<pb::RestoreCertificateRequest>,
    ) -> Result<Response<pb::RestoreCertificateResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let who = payments::target(&mut v, r.identifier.as_ref());
        let refund_id = payments::key(&mut v, "refund_id", &r.refund_id);
        let hold_id = payments::key(&mut v, "hold_id", &r.hold_id);
        let amount = payments::amount(&mut v, &r.amount);
        let (target, amount) = payments::done(v, who.zip(amount))?;
        let c = self
            .payments
            .run(&target, |_| Use::Restore {
                refund_id,
                hold_id,
                amount,
            })
            .await?;
        Ok(Response::new(pb::RestoreCertificateResponse {
            balance: payments::balance(&c, self.payments.now()),
        }))
    }

    async fn define_certificate_type(
        &self,
        request: Request<pb::DefineCertificateTypeRequest>,
    ) -> Result<Response<pb::DefineCertificateTypeResponse>, Status> {
        let spec = type_spec(request.into_inner().certificate_type)?;
        let t = self.catalog.define_type(spec).await?;
        Ok(Response::new(pb::DefineCertificateTypeResponse {
            certificate_type: Some(type_to_wire(&t)),
        }))
    }

    async fn define_certificate_template(
        &self,
        request: Request<pb::DefineCertificateTemplateRequest>,
    ) -> Result<Response<pb::DefineCertificateTemplateResponse>, Status> {
        let spec = template_spec(request.into_inner().template)?;
        let t = self.catalog.define_template(spec).await?;
        Ok(Response::new(pb::DefineCertificateTemplateResponse {
            template: Some(template_to_wire(&t)),
        }))
    }

    async fn create_issue(
        &self,
        request: Request<pb::CreateIssueRequest>,
    ) -> Result<Response<pb::CreateIssueResponse>, Status> {
        let spec = issue_spec(request.into_inner().issue)?;
        let created = self.catalog.create_issue(spec).await?;
        Ok(Response::new(pb::CreateIssueResponse {
            issue: Some(issue_to_wire(&created.issue)),
            certificate_type: Some(type_to_wire(&created.certificate_type)),
        }))
    }

    async fn import_certificates(
        &self,
        request: Request<Streaming<pb::ImportCertificatesRequest>>,
    ) -> Result<Response<pb::ImportCertificatesResponse>, Status> {
        Ok(Response::new(self.import(request.into_inner()).await?))
    }

    async fn get_certificate(
        &self,
        request: Request<pb::GetCertificateRequest>,
    ) -> Result<Response<pb::GetCertificateResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let who = payments::target(&mut v, r.identifier.as_ref());
        let target = payments::done(v, who)?;
        let (_, c) = self.queries.find(&target)?;
        Ok(Response::new(certificate(&c, self.payments.now())))
    }

    async fn get_import(
        &self,
        request: Request<pb::GetImportRequest>,
    ) -> Result<Response<pb::GetImportResponse>, Status> {
        let r = request.into_inner();
        let mut violations = Violations::new();
        violations.id("import_id", &r.import_id);
        violations.finish().map_err(ApiError::Invalid)?;
        let job = self
            .importer
            .job(&r.import_id)
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::ImportNotFound(kit::status::quote(&r.import_id)))?;
        Ok(Response::new(match job {
            Job::Running(done) => pb::GetImportResponse {
                state: pb::ImportState::Running as i32,
                lines_done: done,
                report: None,
            },
            Job::Finished(f) => pb::GetImportResponse {
                state: pb::ImportState::Finished as i32,
                lines_done: f.lines,
                report: Some(render_report(&f)),
            },
        }))
    }
}
