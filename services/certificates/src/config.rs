//! The certificates service's flags and environment.

use kit::bootstrap::{ConfigError, ServiceArgs};

/// Env: seconds between expiry sweeps.
pub const ENV_EXPIRY_INTERVAL: &str = "CERTIFICATES_EXPIRY_INTERVAL_SECS";
/// Env: gRPC URL of the ledger.
pub const ENV_LEDGER_URL: &str = "CERTIFICATES_LEDGER_URL";
/// Env: seconds until a hold lapses when its request names none.
pub const ENV_HOLD_TTL: &str = "CERTIFICATES_HOLD_TTL_SECS";
/// Longest time-to-live of a hold, seconds (30 days).
pub const MAX_HOLD_TTL_SECS: u32 = 30 * 24 * 3600;
/// Env: largest upload of one import, in MiB.
pub const ENV_MAX_UPLOAD_MB: &str = "CERTIFICATES_MAX_UPLOAD_MB";

/// Command-line flags and environment of the certificates service.
#[derive(Debug, Clone, clap::Args)]
pub struct CertificatesArgs {
    /// Shared service settings.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// gRPC URL of the ledger: an issue naming a partner needs the
    /// partner's cash account there (owner `partner:<partner_id>`, the
    /// type's currency). Connected lazily.
    #[arg(long, env = ENV_LEDGER_URL, default_value = "http://127.0.0.1:50052", global = true)]
    pub ledger_url: String,
    /// Largest file one `ImportCertificates` call may upload, in MiB (the
    /// upload is spooled to a temporary file, never held in memory).
    #[arg(long, env = ENV_MAX_UPLOAD_MB, default_value_t = 1024, global = true)]
    pub max_upload_mb: u64,
    /// Seconds between sweeps that expire certificates past their
    /// ExpirationDate (the first runs at start, so what fell due while the
    /// service was down expires then).
    #[arg(long, env = ENV_EXPIRY_INTERVAL, default_value_t = 3600, global = true)]
    pub expiry_interval_secs: u64,
    /// Seconds until a hold lapses, neither captured nor released, when its
    /// request names no `ttl_secs` (a lapsed hold holds nothing and cannot
    /// be captured).
    #[arg(long, env = ENV_HOLD_TTL, default_value_t = 86_400, global = true)]
    pub hold_ttl_secs: u32,
}

impl CertificatesArgs {
    /// Checks the settings together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.service.validate()?;
        if !(1..=16 * 1024).contains(&self.max_upload_mb) {
            return Err(ConfigError::Invalid {
                flag: "max-upload-mb",
                reason: format!("{} is not in 1..=16384", self.max_upload_mb),
            });
        }
        if self.expiry_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                flag: "expiry-interval-secs",
                reason: "must be at least 1".into(),
            });
        }
        if !(1..=MAX_HOLD_TTL_SECS).contains(&self.hold_ttl_secs) {
            return Err(ConfigError::Invalid {
                flag: "hold-ttl-secs",
                reason: format!("{} is not in 1..={MAX_HOLD_TTL_SECS}", self.hold_ttl_secs),
            });
        }
        Ok(())
    }
}
