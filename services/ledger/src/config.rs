//! The ledger's settings: the shared service flags (see
//! [`kit::bootstrap::ServiceArgs`]); ledger-specific ones join here.

use kit::bootstrap::{ConfigError, ServiceArgs};

/// Env var: gRPC URL of the ledger, for operator commands that call it.
pub const ENV_LEDGER_URL: &str = "LEDGER_URL";
/// Env var: seconds between expiry runs.
pub const ENV_EXPIRY_INTERVAL: &str = "LEDGER_EXPIRY_INTERVAL_SECS";

/// Command-line flags and environment of the ledger.
#[derive(Debug, Clone, clap::Args)]
pub struct LedgerArgs {
    /// Shared service settings.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Seconds between expiry runs (due buckets are also expired lazily by
    /// the next operation on their account).
    #[arg(long, env = ENV_EXPIRY_INTERVAL, default_value_t = 60, global = true)]
    pub expiry_interval_secs: u64,
}

impl LedgerArgs {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.expiry_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                flag: "expiry-interval-secs",
                reason: "must be at least 1".into(),
            });
        }
        self.service.validate()
    }
}
