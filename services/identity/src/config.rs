//! The identity service's settings: the shared service flags, the seed's
//! registration flags, secrets, limits, card ranges and message delivery.
//! Each flag has an env var (names below); flags win over env, env over defaults.

use std::path::PathBuf;

use chrono::Duration;
use kit::bootstrap::{ConfigError, ServiceArgs};

use crate::domain::member::Limits;
use crate::domain::steps::{Policy, StepMode};

/// Env var: `EmitVirtualCard` (0/1/2).
pub const ENV_EMIT_VIRTUAL_CARD: &str = "IDENTITY_EMIT_VIRTUAL_CARD";
/// Env var: `MainCardAssigningRequired` (0/1/2).
pub const ENV_MAIN_CARD_ASSIGNING_REQUIRED: &str = "IDENTITY_MAIN_CARD_ASSIGNING_REQUIRED";
/// Env var: `RegistrationProviderPhone` (0/1).
pub const ENV_PROVIDER_PHONE: &str = "IDENTITY_REGISTRATION_PROVIDER_PHONE";
/// Env var: `RegistrationProviderCard` (0/1).
pub const ENV_PROVIDER_CARD: &str = "IDENTITY_REGISTRATION_PROVIDER_CARD";
/// Env var: `RegistrationProviderAnonymous` (0/1).
pub const ENV_PROVIDER_ANONYMOUS: &str = "IDENTITY_REGISTRATION_PROVIDER_ANONYMOUS";
/// Env var: e-mail step (`off`, `optional`, `required`).
pub const ENV_EMAIL_STEP: &str = "IDENTITY_EMAIL_STEP";
/// Env var: questionnaire JSON file.
pub const ENV_QUESTIONNAIRE: &str = "IDENTITY_QUESTIONNAIRE";
/// Env var: server key file.
pub const ENV_SECRET_FILE: &str = "IDENTITY_SECRET_FILE";
/// Env var: token lifetime in seconds.
pub const ENV_TOKEN_TTL: &str = "IDENTITY_TOKEN_TTL_SECS";
/// Env for `--refresh-token-ttl-secs`.
pub const ENV_REFRESH_TTL: &str = "IDENTITY_REFRESH_TOKEN_TTL_SECS";
/// Env var: confirm code lifetime in seconds.
pub const ENV_CODE_TTL: &str = "IDENTITY_CODE_TTL_SECS";
/// Env var: seconds between two codes to one contact.
pub const ENV_RESEND_COOLDOWN: &str = "IDENTITY_RESEND_COOLDOWN_SECS";
/// Env var: codes per channel (SMS, e-mail) per day.
pub const ENV_DAILY_CODES: &str = "IDENTITY_DAILY_CODES";
/// Env var: first virtual card number.
pub const ENV_VIRTUAL_FIRST: &str = "IDENTITY_VIRTUAL_CARD_FIRST";
/// Env var: last virtual card number.
pub const ENV_VIRTUAL_LAST: &str = "IDENTITY_VIRTUAL_CARD_LAST";
/// Env var: JSON file of message templates defined at start-up.
pub const ENV_TEMPLATES_FILE: &str = "IDENTITY_TEMPLATES_FILE";
/// Env var: gRPC URL of the identity service (operator commands).
pub const ENV_IDENTITY_URL: &str = "IDENTITY_URL";

/// Command-line flags and environment of the identity service.
#[derive(Debug, Clone, clap::Args)]
pub struct IdentityArgs {
    /// Shared service settings.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Message delivery (SMS and e-mail).
    #[command(flatten)]
    pub notify: notify::NotifyArgs,
    /// `EmitVirtualCard`: 0 no virtual cards; 1 on request, and automatically
    /// after AcceptTenderOffer when registering by card; 2 automatically
    /// after AcceptTenderOffer in every flow.
    #[arg(long, env = ENV_EMIT_VIRTUAL_CARD, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2), global = true)]
    pub emit_virtual_card: u8,
    /// `MainCardAssigningRequired`: 0 no AssignCard step; 1 required; 2 optional.
    #[arg(long, env = ENV_MAIN_CARD_ASSIGNING_REQUIRED, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2), global = true)]
    pub main_card_assigning_required: u8,
    /// `RegistrationProviderPhone`: 1 allows registration by phone number.
    #[arg(long, env = ENV_PROVIDER_PHONE, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2), global = true)]
    pub registration_provider_phone: u8,
    /// `RegistrationProviderCard`: 1 allows registration by card number.
    #[arg(long, env = ENV_PROVIDER_CARD, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2), global = true)]
    pub registration_provider_card: u8,
    /// `RegistrationProviderAnonymous`: accepted for compatibility with the
    /// seed's configuration; registrations always start anonymous (no
    /// profile) and become members at TryFinishRegistration.
    #[arg(long, env = ENV_PROVIDER_ANONYMOUS, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1), global = true)]
    pub registration_provider_anonymous: u8,
    /// The ChangeEmail step: `off`, `optional` or `required`.
    #[arg(long, env = ENV_EMAIL_STEP, default_value = "optional", value_parser = ["off", "optional", "required"], global = true)]
    pub email_step: String,
    /// Questionnaire (JSON: `{"nodes": [...]}`); default: personal data with
    /// the 18+ rule on BirthDate.
    #[arg(long, env = ENV_QUESTIONNAIRE, global = true)]
    pub questionnaire: Option<PathBuf>,
    /// Server key file (64 hex digits) for confirm-code and PAN HMACs;
    /// created with a random key if missing. Default: `<data-dir>/secret.key`.
    #[arg(long, env = ENV_SECRET_FILE, global = true)]
    pub secret_file: Option<PathBuf>,
    /// Token lifetime in seconds.
    #[arg(long, env = ENV_TOKEN_TTL, default_value_t = 30 * 86_400, global = true)]
    pub token_ttl_secs: u64,
    /// Refresh token lifetime in seconds, counted from its last trade (a
    /// password login's refresh token; OAuth2's refresh grant).
    #[arg(long, env = ENV_REFRESH_TTL, default_value_t = 90 * 86_400, global = true)]
    pub refresh_token_ttl_secs: u64,
    /// Confirm code lifetime in seconds.
    #[arg(long, env = ENV_CODE_TTL, default_value_t = 600, global = true)]
    pub code_ttl_secs: u64,
    /// Minimum seconds between two codes to one contact.
    #[arg(long, env = ENV_RESEND_COOLDOWN, default_value_t = 60, global = true)]
    pub resend_cooldown_secs: u64,
    /// Codes per channel (SMS, e-mail) per 24 hours, whatever the contact.
    #[arg(long, env = ENV_DAILY_CODES, default_value_t = 10, global = true)]
    pub daily_codes: u32,
    /// First number of the virtual card range.
    #[arg(long, env = ENV_VIRTUAL_FIRST, default_value = "7770000000000000", global = true)]
    pub virtual_card_first: String,
    /// Last number of the virtual card range (same length as the first).
    #[arg(long, env = ENV_VIRTUAL_LAST, default_value = "7779999999999999", global = true)]
    pub virtual_card_last: String,
    /// JSON file of message templates to define at start-up (e.g. from a
    /// ConfigMap): an array of `{"templateId", "channel": "CHANNEL_EMAIL" |
    /// "CHANNEL_SMS", "subject", "body"}`. Defining is idempotent; a bad
    /// template stops the start with its reason.
    #[arg(long, env = ENV_TEMPLATES_FILE, global = true)]
    pub templates_file: Option<std::path::PathBuf>,
}

fn invalid(flag: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        flag,
        reason: reason.into(),
    }
}

impl IdentityArgs {
    /// Checks the settings together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.service.validate()?;
        self.notify
            .validate()
            .map_err(|e| invalid("notify", e.to_string()))?;
        self.virtual_range()?;
        if self.token_ttl_secs < 60 || self.token_ttl_secs > 3650 * 86_400 {
            return Err(invalid(
                "token-ttl-secs",
                "must be at least 60 and at most 10 years",
            ));
        }
        if self.refresh_token_ttl_secs < self.token_ttl_secs
            || self.refresh_token_ttl_secs > 3650 * 86_400
        {
            return Err(invalid(
                "refresh-token-ttl-secs",
                "must be at least --token-ttl-secs and at most 10 years",
            ));
        }
        if self.code_ttl_secs < 30 {
            return Err(invalid("code-ttl-secs", "must be at least 30"));
        }
        if self.daily_codes == 0 {
            return Err(invalid("daily-codes", "must be at least 1"));
        }
        Ok(())
    }

    /// The virtual range as (first, last, width).
    pub fn virtual_range(&self) -> Result<(u64, u64, usize), ConfigError> {
        let parse = |flag, s: &str| {
            crate::domain::values::CardNumber::parse(s)
                .map(|c| c.value())
                .map_err(|e| invalid(flag, e.description))
        };
        let first = parse("virtual-card-first", &self.virtual_card_first)?;
        let last = parse("virtual-card-last", &self.virtual_card_last)?;
        if self.virtual_card_first.len() != self.virtual_card_last.len() || last < first {
            return Err(invalid(
                "virtual-card-last",
                "must have the first number's length and not be smaller",
            ));
        }
        Ok((first, last, self.virtual_card_first.len()))
    }

    /// The registration policy.
    pub fn policy(&self, questions_required: bool) -> Policy {
        Policy {
            emit_virtual_card: self.emit_virtual_card,
            main_card_assigning_required: self.main_card_assigning_required,
            provider_phone: self.registration_provider_phone != 0,
            provider_card: self.registration_provider_card != 0,
            email: match self.email_step.as_str() {
                "off" => StepMode::Off,
                "required" => StepMode::Required,
                _ => StepMode::Optional,
            },
            questions: if questions_required {
                StepMode::Required
            } else {
                StepMode::Optional
            },
        }
    }

    /// The send and login limits.
    pub fn limits(&self) -> Limits {
        Limits {
            resend_cooldown: Duration::seconds(self.resend_cooldown_secs as i64),
            daily_codes: self.daily_codes as usize,
            ..Limits::default()
        }
    }

    /// The server key file.
    pub fn secret_path(&self) -> PathBuf {
        self.secret_file
            .clone()
            .unwrap_or_else(|| self.service.data_dir.join("secret.key"))
    }
}
