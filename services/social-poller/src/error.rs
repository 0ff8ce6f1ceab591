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
            other => ApiError::Unexpected(anyhow::anyhow!("{other}")),
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
