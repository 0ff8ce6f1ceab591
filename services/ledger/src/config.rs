//! The ledger's settings: the shared service flags (see
//! [`kit::bootstrap::ServiceArgs`]); ledger-specific ones join here.

use kit::bootstrap::{ConfigError, ServiceArgs};

/// Command-line flags and environment of the ledger.
#[derive(Debug, Clone, clap::Args)]
pub struct LedgerArgs {
    /// Shared service settings.
    #[command(flatten)]
    pub service: ServiceArgs,
}

impl LedgerArgs {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.service.validate()
    }
}
