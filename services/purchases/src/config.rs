//! The purchases service's flags and environment.

use kit::bootstrap::{ConfigError, ServiceArgs};

use crate::upstream::Shortfall;

/// Env: gRPC URL of the identity service.
pub const ENV_IDENTITY_URL: &str = "PURCHASES_IDENTITY_URL";
/// Env: gRPC URL of the ledger.
pub const ENV_LEDGER_URL: &str = "PURCHASES_LEDGER_URL";
/// Env: gRPC URL of the certificates service.
pub const ENV_CERTIFICATES_URL: &str = "PURCHASES_CERTIFICATES_URL";
/// Env: seconds a purchase may stay unconfirmed.
pub const ENV_CONFIRM_TIMEOUT: &str = "PURCHASES_CONFIRM_TIMEOUT_SECS";
/// Env: the program's rules file (TOML).
pub const ENV_RULES_FILE: &str = "PURCHASES_RULES_FILE";
/// Env: the refund shortfall policy.
pub const ENV_REFUND_SHORTFALL: &str = "PURCHASES_REFUND_SHORTFALL";
/// Env: seconds between runs of the timeout sweep.
pub const ENV_SWEEP_INTERVAL: &str = "PURCHASES_SWEEP_INTERVAL_SECS";

/// Longest confirm timeout: the ledger keeps a hold at most 7 days by default.
pub const MAX_CONFIRM_TIMEOUT_SECS: u32 = 6 * 24 * 3600;

/// Command-line flags and environment of the purchases service.
#[derive(Debug, Clone, clap::Args)]
pub struct PurchasesArgs {
    /// Shared service settings.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// gRPC URL of the identity service (cards → members). Connected
    /// lazily: the service starts while identity is down; steps that need a
    /// card then fail with UNAVAILABLE.
    #[arg(long, env = ENV_IDENTITY_URL, default_value = "http://127.0.0.1:50051", global = true)]
    pub identity_url: String,
    /// gRPC URL of the ledger (holds, pending accruals, confirms, refunds).
    #[arg(long, env = ENV_LEDGER_URL, default_value = "http://127.0.0.1:50052", global = true)]
    pub ledger_url: String,
    /// gRPC URL of the certificates service (gift certificates paying part
    /// of a purchase: `pays` of type "GiftCard"). Connected lazily: only
    /// purchases paid with a gift certificate need it.
    #[arg(long, env = ENV_CERTIFICATES_URL, default_value = "http://127.0.0.1:50054", global = true)]
    pub certificates_url: String,
    /// Seconds a purchase may stay unconfirmed after its first step; then
    /// the service cancels it (event `PurchaseTimedOut`) and its hold and
    /// pending points go. The ledger's own time-to-live of the hold is this
    /// plus 10 minutes, so no hold outlives a purchase even when this
    /// service is down.
    #[arg(long, env = ENV_CONFIRM_TIMEOUT, default_value_t = 1800, global = true)]
    pub confirm_timeout_secs: u32,
    /// Seconds between sweeps that cancel timed-out purchases (the first
    /// runs at start).
    #[arg(long, env = ENV_SWEEP_INTERVAL, default_value_t = 30, global = true)]
    pub sweep_interval_secs: u64,
    /// The program's rules (TOML with the fields of
    /// `loyalty.purchases.v1.ProgramRules`; see `docs/rules.md`), applied at
    /// start: when they differ from the version in effect they are recorded
    /// as the next version (event `RulesChanged`, operator `rules-file`); a
    /// bad file stops the start. Without it (and without `UpdateRules`
    /// calls) the built-in rules apply, which reproduce the seed's example.
    #[arg(long, env = ENV_RULES_FILE, global = true)]
    pub rules_file: Option<std::path::PathBuf>,
    /// What a refund does when the member already spent the points the
    /// purchase earned: `debt` takes what is left of them, then the member's
    /// other points, and records the rest as debt in the ledger (later
    /// accruals pay it first); `uncollected` takes only what is left and
    /// reports the rest; `refuse` refuses the refund (`NotEnoughMoney`).
    /// Never a negative balance.
    #[arg(long, env = ENV_REFUND_SHORTFALL, value_enum, default_value_t = Shortfall::Debt, global = true)]
    pub refund_shortfall: Shortfall,
}

impl PurchasesArgs {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.service.validate()?;
        if !(1..=MAX_CONFIRM_TIMEOUT_SECS).contains(&self.confirm_timeout_secs) {
            return Err(ConfigError::Invalid {
                flag: "confirm-timeout-secs",
                reason: format!(
                    "{} is not between 1 and {MAX_CONFIRM_TIMEOUT_SECS} (6 days)",
                    self.confirm_timeout_secs
                ),
            });
        }
        if self.sweep_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                flag: "sweep-interval-secs",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// The ledger's time-to-live of a purchase's holds and pending points.
    pub fn ledger_ttl_secs(&self) -> u32 {
        self.confirm_timeout_secs.saturating_add(600)
    }
}
