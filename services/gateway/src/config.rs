//! The gateway's flags and environment: defaults → env → flags →
//! [`GatewayArgs::validate`].

use std::net::SocketAddr;
use std::path::PathBuf;

use kit::bootstrap::{ConfigError, ENV_LOG_FORMAT, ENV_METRICS_ADDR, ENV_SERVICE_TOKEN_FILE};
use kit::telemetry::LogFormat;

/// Env: address of the public HTTP API.
pub const ENV_HTTP_ADDR: &str = "GATEWAY_HTTP_ADDR";
/// Env: gRPC URL of identity.
pub const ENV_IDENTITY_URL: &str = "GATEWAY_IDENTITY_URL";
/// Env: gRPC URL of the ledger.
pub const ENV_LEDGER_URL: &str = "GATEWAY_LEDGER_URL";
/// Env: gRPC URL of purchases.
pub const ENV_PURCHASES_URL: &str = "GATEWAY_PURCHASES_URL";
/// Env: gRPC URL of certificates.
pub const ENV_CERTIFICATES_URL: &str = "GATEWAY_CERTIFICATES_URL";
/// Env: the API keys file (partner devices and operators).
pub const ENV_API_KEYS_FILE: &str = "GATEWAY_API_KEYS_FILE";
/// Env: longest time one request may take, in seconds.
pub const ENV_REQUEST_TIMEOUT: &str = "GATEWAY_REQUEST_TIMEOUT_SECS";
/// Env: longest time a file upload (a batch, a certificate import) may take.
pub const ENV_UPLOAD_TIMEOUT: &str = "GATEWAY_UPLOAD_TIMEOUT_SECS";
/// Env: the key signing partner devices' tokens (OAuth2 client credentials).
pub const ENV_DEVICE_TOKEN_KEY_FILE: &str = "GATEWAY_DEVICE_TOKEN_KEY_FILE";
/// Env: lifetime of a partner device's token, in seconds.
pub const ENV_DEVICE_TOKEN_TTL: &str = "GATEWAY_DEVICE_TOKEN_TTL_SECS";
/// Env: the offset at which zone-less times in bodies are read.
pub const ENV_NAIVE_TIME_OFFSET: &str = "GATEWAY_NAIVE_TIME_OFFSET";
/// Env: proxies whose `X-Forwarded-For` names the client.
pub const ENV_TRUSTED_PROXIES: &str = "GATEWAY_TRUSTED_PROXIES";
/// Env: seconds between a stop signal and closing the listener.
pub const ENV_DRAIN_SECS: &str = "GATEWAY_DRAIN_SECS";
/// Env: largest request body, in KiB.
pub const ENV_MAX_BODY_KIB: &str = "GATEWAY_MAX_BODY_KIB";

/// Longest request timeout accepted.
pub const MAX_REQUEST_TIMEOUT_SECS: u64 = 300;
/// Largest body limit accepted, in KiB (certificate files are uploaded in
/// parts by the operator tools, not through one request).
pub const MAX_BODY_KIB: usize = 64 * 1024;

/// Command-line flags and environment of the gateway.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Address the public HTTP API listens on.
    #[arg(long, env = ENV_HTTP_ADDR, default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Address the Prometheus `/metrics` endpoint listens on.
    #[arg(long, env = ENV_METRICS_ADDR, default_value = "127.0.0.1:9106")]
    pub metrics_addr: SocketAddr,
    /// gRPC URL of identity (registration, tokens, cards).
    #[arg(long, env = ENV_IDENTITY_URL, default_value = "http://127.0.0.1:50051")]
    pub identity_url: String,
    /// gRPC URL of the ledger (balances, history, batch balance changes).
    #[arg(long, env = ENV_LEDGER_URL, default_value = "http://127.0.0.1:50052")]
    pub ledger_url: String,
    /// gRPC URL of purchases (the processing methods, getPossibleLoyalty).
    #[arg(long, env = ENV_PURCHASES_URL, default_value = "http://127.0.0.1:50053")]
    pub purchases_url: String,
    /// gRPC URL of certificates.
    #[arg(long, env = ENV_CERTIFICATES_URL, default_value = "http://127.0.0.1:50054")]
    pub certificates_url: String,
    /// TOML file of the API keys: partner devices (the processing methods,
    /// getPossibleLoyalty) and operators (batch balance changes,
    /// certificates), each with the SHA-256 of its key (see
    /// `docs/gateway.md`). Without it those endpoints answer 401.
    #[arg(long, env = ENV_API_KEYS_FILE)]
    pub api_keys_file: Option<PathBuf>,
    /// File holding the gateway's own service token, sent on its calls to
    /// the services.
    #[arg(long, env = ENV_SERVICE_TOKEN_FILE)]
    pub service_token_file: Option<PathBuf>,
    /// File holding the key (at least 32 bytes; every replica the same)
    /// that signs partner devices' tokens: with it a device may trade its
    /// name and API key for a token (OAuth2's client credentials grant at
    /// `/authorizationService/token`); without it that grant is refused.
    #[arg(long, env = ENV_DEVICE_TOKEN_KEY_FILE)]
    pub device_token_key_file: Option<PathBuf>,
    /// Lifetime of a partner device's token, in seconds.
    #[arg(long, env = ENV_DEVICE_TOKEN_TTL, default_value_t = 3600)]
    pub device_token_ttl_secs: u64,
    /// Offset from UTC at which a time sent without a zone (an
    /// `operationDate` of `2019-04-09T10:24:26`) is read; the seeds' clients
    /// send Moscow time.
    #[arg(long, env = ENV_NAIVE_TIME_OFFSET, default_value = "+03:00", allow_hyphen_values = true)]
    pub naive_time_offset: String,
    /// Reverse proxies (addresses and CIDR ranges, comma-separated; an
    /// Ingress controller's pod network, say) whose `X-Forwarded-For` names
    /// the client for the per-address abuse limits and the access log.
    /// Empty: the TCP peer is the client.
    #[arg(long, env = ENV_TRUSTED_PROXIES, default_value = "")]
    pub trusted_proxies: String,
    /// On a stop signal, seconds during which `/health/ready` answers 503
    /// while requests are still served (so load balancers stop sending
    /// new ones) before the listener closes; in-flight requests then get
    /// at most `--request-timeout-secs` to finish.
    #[arg(long, env = ENV_DRAIN_SECS, default_value_t = 5)]
    pub drain_secs: u64,
    /// Longest time one request may take end to end, in seconds.
    #[arg(long, env = ENV_REQUEST_TIMEOUT, default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Longest time a file upload (batch balance changes, a certificate
    /// import) may take end to end, in seconds.
    #[arg(long, env = ENV_UPLOAD_TIMEOUT, default_value_t = 3600)]
    pub upload_timeout_secs: u64,
    /// Largest request body, in KiB (file uploads are streamed and have
    /// their own bound).
    #[arg(long, env = ENV_MAX_BODY_KIB, default_value_t = 256)]
    pub max_body_kib: usize,
    /// Log line format.
    #[arg(long, env = ENV_LOG_FORMAT, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint for traces; unset disables export.
    #[arg(long, env = kit::telemetry::ENV_OTLP_ENDPOINT)]
    pub otlp_endpoint: Option<String>,
}

impl GatewayArgs {
    /// The offset of zone-less times (UTC when the flag does not parse;
    /// [`GatewayArgs::validate`] refuses that first).
    pub fn naive_offset(&self) -> chrono::FixedOffset {
        use chrono::Offset as _;
        crate::when::parse_offset(&self.naive_time_offset).unwrap_or_else(|| chrono::Utc.fix())
    }

    /// Checks the settings together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.http_addr.port() != 0 && self.http_addr == self.metrics_addr {
            return Err(ConfigError::Invalid {
                flag: "metrics-addr",
                reason: "must differ from --http-addr".into(),
            });
        }
        for (flag, url) in [
            ("identity-url", &self.identity_url),
            ("ledger-url", &self.ledger_url),
            ("purchases-url", &self.purchases_url),
            ("certificates-url", &self.certificates_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    flag,
                    reason: format!("{} is not an http(s):// URL", kit::status::quote(url)),
                });
            }
        }
        if !(1..=MAX_REQUEST_TIMEOUT_SECS).contains(&self.request_timeout_secs) {
            return Err(ConfigError::Invalid {
                flag: "request-timeout-secs",
                reason: format!("must be between 1 and {MAX_REQUEST_TIMEOUT_SECS}"),
            });
        }
        if !(1..=86_400).contains(&self.upload_timeout_secs) {
            return Err(ConfigError::Invalid {
                flag: "upload-timeout-secs",
                reason: "must be between 1 and 86400".into(),
            });
        }
        if let Err(reason) = crate::proxies::TrustedProxies::parse(&self.trusted_proxies) {
            return Err(ConfigError::Invalid {
                flag: "trusted-proxies",
                reason,
            });
        }
        if self.drain_secs > 300 {
            return Err(ConfigError::Invalid {
                flag: "drain-secs",
                reason: "must be at most 300".into(),
            });
        }
        if crate::when::parse_offset(&self.naive_time_offset).is_none() {
            return Err(ConfigError::Invalid {
                flag: "naive-time-offset",
                reason: format!(
                    "{} is no offset such as +03:00 or Z",
                    kit::status::quote(&self.naive_time_offset)
                ),
            });
        }
        if !(60..=86_400).contains(&self.device_token_ttl_secs) {
            return Err(ConfigError::Invalid {
                flag: "device-token-ttl-secs",
                reason: "must be between 60 and 86400".into(),
            });
        }
        if !(1..=MAX_BODY_KIB).contains(&self.max_body_kib) {
            return Err(ConfigError::Invalid {
                flag: "max-body-kib",
                reason: format!("must be between 1 and {MAX_BODY_KIB}"),
            });
        }
        Ok(())
    }
}
