//! Connectors: each speaks one network's real API over HTTP and answers
//! what a group looks like now, as an [`Observation`].

pub mod ok;
pub mod pace;
pub mod vk;

use futures::future::BoxFuture;

use crate::domain::group::{Observation, Settings};
use crate::secrets::Secret;

/// Why a poll failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The network asks to slow down (VK 6, 9 after the poll's own
    /// retries): retry later.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// The method's daily limit is spent (VK 29): retry the next day.
    #[error("daily limit reached: {0}")]
    DailyLimit(String),
    /// The network refused the credentials or the access (VK 5, 15, 203):
    /// the group is disabled until connected again.
    #[error("refused: {0}")]
    Refused(String),
    /// Unreachable, or an answer that makes no sense: retry later.
    #[error("failed: {0}")]
    Failed(String),
}

impl ConnectorError {
    /// The message without the kind.
    pub fn reason(&self) -> &str {
        match self {
            ConnectorError::RateLimited(r)
            | ConnectorError::DailyLimit(r)
            | ConnectorError::Refused(r)
            | ConnectorError::Failed(r) => r,
        }
    }
}

/// A network's API.
pub trait Connector: Send + Sync + 'static {
    /// Reads the group's members and its recent posts' likes, comments and
    /// reposts with `token`.
    fn observe<'a>(
        &'a self,
        settings: &'a Settings,
        token: &'a Secret,
    ) -> BoxFuture<'a, Result<Observation, ConnectorError>>;
}
