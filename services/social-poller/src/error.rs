//! The social poller's gRPC error boundary: every failure becomes one
//! status.

use kit::aggregate::RepositoryError;
use kit::log::LogError;
use kit::status::Refusal;
use tonic::Code;
use tonic_types::FieldViolation;

use crate::domain::catalog::CatalogError;
use crate::domain::group::GroupError;

/// Error domain of the service's `ErrorInfo`.
pub const DOMAIN: &str = "loyalty.social";

/// Every way a call can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request broke rules (all of them listed).
    #[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// No such group.
    #[error("no group {0}: ConnectGroup first")]
    GroupNotFound(String),
    /// A group refused.
    #[error(transparent)]
    Group(#[from] GroupError),
    /// The promotions refused.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The event log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A stream kept changing under the command: try again.
    #[error("{0}")]
    Contended(String),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    /// An invalid request from (field, why) pairs.
    pub fn invalid(faults: Vec<(String, String)>) -> Self {
        ApiError::Invalid(
            faults
                .into_iter()
                .map(|(f, why)| FieldViolation::new(f, why))
                .collect(),
        )
    }
}

impl<E> From<RepositoryError<E>> for ApiError
where
    E: std::error::Error + Into<ApiError> + 'static,
{
    fn from(e: RepositoryError<E>) -> Self {
        match e {
            RepositoryError::Domain(d) => d.into(),
            RepositoryError::Log(l) => ApiError::Log(l),
            RepositoryError::Decode { position, source } => {
                ApiError::Unexpected(anyhow::anyhow!("event at position {position}: {source}"))
            }
            RepositoryError::TooManyConflicts { stream, attempts } => ApiError::Contended(format!(
                "stream {stream:?} kept changing; gave up after {attempts} attempts"
            )),
        }
    }
}

impl From<crate::domain::member::Never> for ApiError {
    fn from(_: crate::domain::member::Never) -> Self {
        ApiError::Unexpected(anyhow::anyhow!("a member refused"))
    }
}

impl Refusal for GroupError {
    fn code(&self) -> Code {
        match self {
            GroupError::NotConnected => Code::NotFound,
            GroupError::Disabled(_) => Code::FailedPrecondition,
            GroupError::TooLarge => Code::ResourceExhausted,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            GroupError::NotConnected => "GROUP_NOT_FOUND",
            GroupError::Disabled(_) => "GROUP_DISABLED",
            GroupError::TooLarge => "GROUP_TOO_LARGE",
        }
    }
}

impl Refusal for CatalogError {
    fn code(&self) -> Code {
        match self {
            CatalogError::Full => Code::ResourceExhausted,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            CatalogError::Full => "TOO_MANY_PROMOTIONS",
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid(v) => kit::status::invalid(v),
            ApiError::GroupNotFound(_) => kit::status::status(
                Code::NotFound,
                e.to_string(),
                "GROUP_NOT_FOUND",
                DOMAIN,
                Vec::new(),
            ),
            ApiError::Group(g) => kit::status::refused(&g, DOMAIN),
            ApiError::Catalog(c) => kit::status::refused(&c, DOMAIN),
            ApiError::Log(l) => kit::status::storage(&l, "", DOMAIN),
            ApiError::Contended(_) => kit::status::status(
                Code::Aborted,
                e.to_string(),
                "STREAM_CONTENDED",
                DOMAIN,
                Vec::new(),
            ),
            ApiError::Unexpected(u) => {
                kit::status::internal(AsRef::<dyn std::error::Error>::as_ref(&u), DOMAIN)
            }
        }
    }
}

impl From<crate::domain::held::Never> for ApiError {
    fn from(_: crate::domain::held::Never) -> Self {
        ApiError::Unexpected(anyhow::anyhow!("held activity refused"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_repository_failure_has_its_own_status() {
        let contended: ApiError = RepositoryError::<GroupError>::TooManyConflicts {
            stream: "group/vk/42".into(),
            attempts: 5,
        }
        .into();
        assert_eq!(tonic::Status::from(contended).code(), Code::Aborted);
        let refused: ApiError = RepositoryError::Domain(GroupError::TooLarge).into();
        assert_eq!(tonic::Status::from(refused).code(), Code::ResourceExhausted);
        let undecodable: ApiError = RepositoryError::<GroupError>::Decode {
            position: 7,
            source: kit::aggregate::DecodeError {
                event_type: "x".into(),
                reason: "y".into(),
            },
        }
        .into();
        assert_eq!(tonic::Status::from(undecodable).code(), Code::Internal);
    }
}
