//! Certificate types, templates and issues: defined once, read by imports.
//! An issue needs its type and template defined, and its partner's cash
//! account in the ledger (seed 000's prerequisites), checked when it is
//! created.

use std::sync::Arc;

use kit::aggregate::{Repository, RepositoryError};
use kit::log::{EventLog, Metadata};
use tonic_types::FieldViolation;

use crate::domain::issue::{
    CertificateTemplate, CertificateType, DefinitionError, IssueCreated, IssueRecord, IssueSpec,
    TemplateSpec, TypeSpec,
};
use crate::error::ApiError;
use crate::upstream::Ledger;

/// Types, templates and issues.
pub struct Catalog {
    types: Repository<CertificateType>,
    templates: Repository<CertificateTemplate>,
    issues: Repository<IssueRecord>,
    ledger: Option<Ledger>,
}

fn invalid(field: &str, why: String) -> ApiError {
    ApiError::Invalid(vec![FieldViolation::new(field, why)])
}

fn failed(e: RepositoryError<DefinitionError>) -> ApiError {
    match e {
        RepositoryError::Domain(DefinitionError::Exists(what)) => ApiError::Exists(what),
        RepositoryError::Log(e) => ApiError::Log(e),
        other => ApiError::Unexpected(anyhow::Error::new(other)),
    }
}

impl Catalog {
    /// The catalog in `log`.
    pub fn new(log: Arc<EventLog>) -> Self {
        Self {
            types: Repository::new(Arc::clone(&log)),
            templates: Repository::new(Arc::clone(&log)),
            issues: Repository::new(log),
            ledger: None,
        }
    }

    /// The same catalog, checking issues' partners' accounts in `ledger`
    /// (without one, issues naming a partner are refused: UNAVAILABLE).
    pub fn with_ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Defines a template (the same definition again changes nothing); the
    /// type it names must be defined.
    pub async fn define_template(&self, spec: TemplateSpec) -> Result<TemplateSpec, ApiError> {
        if !spec.type_id.is_empty() && self.certificate_type(&spec.type_id)?.is_none() {
            return Err(invalid(
                "template.type_id",
                format!(
                    "no certificate type {}: define it first",
                    kit::status::quote(&spec.type_id)
                ),
            ));
        }
        let stream = format!("template/{}", spec.template_id);
        self.templates
            .execute(&stream, &spec, None, Metadata::default(), |_, _| Vec::new())
            .await
            .map_err(failed)?;
        Ok(spec)
    }

    fn certificate_type(&self, type_id: &str) -> Result<Option<TypeSpec>, ApiError> {
        Ok(self
            .types
            .load(&format!("type/{type_id}"))
            .map_err(failed)?
            .0
            .spec)
    }

    /// Refuses an issue whose template is not defined, or made for another
    /// type.
    fn check_template(&self, spec: &IssueSpec) -> Result<(), ApiError> {
        if spec.template_id.is_empty() {
            return Ok(());
        }
        let (t, _) = self
            .templates
            .load(&format!("template/{}", spec.template_id))
            .map_err(failed)?;
        match t.spec {
            None => Err(invalid(
                "issue.template_id",
                format!(
                    "no template {}: define it first",
                    kit::status::quote(&spec.template_id)
                ),
            )),
            Some(t) if !t.fits(&spec.type_id) => Err(invalid(
                "issue.template_id",
                format!(
                    "template {} is made for type {}",
                    kit::status::quote(&spec.template_id),
                    kit::status::quote(&t.type_id)
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Refuses an issue whose partner has no account in `currency` in the
    /// ledger.
    async fn check_partner(&self, spec: &IssueSpec, currency: &str) -> Result<(), ApiError> {
        if spec.partner_id.is_empty() {
            return Ok(());
        }
        let Some(ledger) = &self.ledger else {
            return Err(ApiError::Unavailable(
                "no ledger to check the partner's account with".into(),
            ));
        };
        use tonic::Code;
        match ledger.partner_account(&spec.partner_id, currency).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ApiError::PartnerAccountMissing {
                partner_id: spec.partner_id.clone(),
                currency: currency.to_owned(),
            }),
            // An owner id or currency the ledger does not take: no account
            // can ever exist for it.
            Err(s) if s.code() == Code::InvalidArgument => Err(invalid(
                "issue.partner_id",
                format!(
                    "the ledger takes no account for this partner in {currency}: {}",
                    kit::status::quote(s.message())
                ),
            )),
            // This service's own credentials: a deployment fault, not the
            // caller's.
            Err(s) if matches!(s.code(), Code::PermissionDenied | Code::Unauthenticated) => {
                Err(ApiError::Unexpected(anyhow::anyhow!(
                    "the ledger refused this service: {:?}: {}",
                    s.code(),
                    s.message()
                )))
            }
            Err(s) => Err(ApiError::Unavailable(format!(
                "the ledger: {:?}: {}",
                s.code(),
                s.message()
            ))),
        }
    }

    /// Defines a type (the same definition again changes nothing).
    pub async fn define_type(&self, spec: TypeSpec) -> Result<TypeSpec, ApiError> {
        let stream = format!("type/{}", spec.type_id);
        self.types
            .execute(&stream, &spec, None, Metadata::default(), |_, _| Vec::new())
            .await
            .map_err(failed)?;
        Ok(spec)
    }

    /// Creates an issue of a defined type, with a defined template made
    /// for it, for a partner with an account in the type's currency (the
    /// same again changes nothing).
    pub async fn create_issue(&self, spec: IssueSpec) -> Result<IssueCreated, ApiError> {
        let Some(certificate_type) = self.certificate_type(&spec.type_id)? else {
            return Err(invalid(
                "issue.type_id",
                format!(
                    "no certificate type {}: define it first",
                    kit::status::quote(&spec.type_id)
                ),
            ));
        };
        if let Some(existing) = self.issue(&spec.issue_id)?
            && existing.issue == spec
        {
            return Ok(existing);
        }
        self.check_template(&spec)?;
        self.check_partner(&spec, &certificate_type.currency)
            .await?;
        let created = IssueCreated {
            issue: spec,
            certificate_type,
        };
        let stream = format!("issue/{}", created.issue.issue_id);
        self.issues
            .execute(&stream, &created, None, Metadata::default(), |_, _| {
                Vec::new()
            })
            .await
            .map_err(failed)?;
        // The issue as recorded (the same again keeps the first's type).
        Ok(self.issue(&created.issue.issue_id)?.unwrap_or(created))
    }

    /// The issue `issue_id`, once created.
    pub fn issue(&self, issue_id: &str) -> Result<Option<IssueCreated>, ApiError> {
        let (i, _) = self
            .issues
            .load(&format!("issue/{issue_id}"))
            .map_err(failed)?;
        Ok(i.created)
    }
}
