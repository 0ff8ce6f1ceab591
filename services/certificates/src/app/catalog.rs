//! Certificate types and issues: defined once, read by imports.

use std::sync::Arc;

use kit::aggregate::{Repository, RepositoryError};
use kit::log::{EventLog, Metadata};
use tonic_types::FieldViolation;

use crate::domain::issue::{
    CertificateType, DefinitionError, IssueCreated, IssueRecord, IssueSpec, TypeSpec,
};
use crate::error::ApiError;

/// Types and issues.
pub struct Catalog {
    types: Repository<CertificateType>,
    issues: Repository<IssueRecord>,
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
            issues: Repository::new(log),
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

    /// Creates an issue of a defined type (the same again changes nothing).
    pub async fn create_issue(&self, spec: IssueSpec) -> Result<IssueCreated, ApiError> {
        let (t, _) = self
            .types
            .load(&format!("type/{}", spec.type_id))
            .map_err(failed)?;
        let Some(certificate_type) = t.spec else {
            return Err(ApiError::Invalid(vec![FieldViolation::new(
                "issue.type_id",
                format!(
                    "no certificate type {}: define it first",
                    kit::status::quote(&spec.type_id)
                ),
            )]));
        };
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
