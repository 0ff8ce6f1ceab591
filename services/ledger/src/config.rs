//! The ledger's settings: the shared service flags (see
//! [`kit::bootstrap::ServiceArgs`]) and the ledger's own.

use kit::bootstrap::{ConfigError, ServiceArgs};

/// Env var: gRPC URL of the ledger, for operator commands that call it.
pub const ENV_LEDGER_URL: &str = "LEDGER_URL";
/// Env var: seconds between expiry runs.
pub const ENV_EXPIRY_INTERVAL: &str = "LEDGER_EXPIRY_INTERVAL_SECS";
/// Env var: default time-to-live of a hold, in seconds.
pub const ENV_HOLD_TTL: &str = "LEDGER_HOLD_TTL_SECS";
/// Env var: longest time-to-live a hold request may ask for, in seconds.
pub const ENV_HOLD_MAX_TTL: &str = "LEDGER_HOLD_MAX_TTL_SECS";
/// Longest hold time-to-live the settings accept: 30 days.
pub const HOLD_TTL_LIMIT_SECS: u32 = 30 * 24 * 3600;
/// Env var: gRPC URL of the identity service (member resolution).
pub const ENV_IDENTITY_URL: &str = "LEDGER_IDENTITY_URL";
/// Env var: how batch lines' `memberNo`s are resolved (`identity` or `member-id`).
pub const ENV_MEMBER_DIRECTORY: &str = "LEDGER_MEMBER_DIRECTORY";
/// Env var: how many `memberNo` → member id answers are cached.
pub const ENV_MEMBER_CACHE: &str = "LEDGER_MEMBER_CACHE_ENTRIES";
/// Env var: catalog file (currencies, lifetime definitions) applied at start.
pub const ENV_CATALOG_FILE: &str = "LEDGER_CATALOG_FILE";
/// Env var: the operator's id of `ledger batch apply` (manual batches).
pub const ENV_OPERATOR_ID: &str = "LEDGER_OPERATOR_ID";
/// Env var: currencies opened when identity issues a card (comma-separated).
pub const ENV_OPEN_CURRENCIES: &str = "LEDGER_OPEN_CURRENCIES";

/// Hold time-to-live settings (`--hold-ttl-secs`, `--hold-max-ttl-secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldTtl {
    /// Time-to-live of a hold whose request names none, in seconds.
    pub default_secs: u32,
    /// Longest time-to-live a request may name, in seconds.
    pub max_secs: u32,
}

impl Default for HoldTtl {
    /// The flags' defaults: 30 minutes, at most 7 days.
    fn default() -> Self {
        Self {
            default_secs: 1800,
            max_secs: 7 * 24 * 3600,
        }
    }
}

/// How batch lines' `memberNo`s (card numbers or member ids) become member ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MemberDirectoryKind {
    /// Ask the identity service (`MemberService.ResolveMembers`) at
    /// `--identity-url`, with a bounded cache of positive answers.
    Identity,
    /// Take `memberNo` as the member id itself, without any lookup.
    MemberId,
}

/// Command-line flags and environment of the ledger.
#[derive(Debug, Clone, clap::Args)]
pub struct LedgerArgs {
    /// Shared service settings.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Seconds between expiry runs, which expire due buckets and release
    /// lapsed holds (both are also expired lazily by the next operation on
    /// their account); the first run is at start.
    #[arg(long, env = ENV_EXPIRY_INTERVAL, default_value_t = 60, global = true)]
    pub expiry_interval_secs: u64,
    /// Time-to-live of a hold whose request names none, in seconds (1 s to
    /// 30 days): a hold neither captured nor released by then lapses and is
    /// released by the ledger (event `HoldExpired`), so an abandoned payment
    /// never locks points. Its amount counts as available again at once; the
    /// event is recorded by the next expiry run (or operation on the account).
    #[arg(long, env = ENV_HOLD_TTL, default_value_t = 1800, global = true)]
    pub hold_ttl_secs: u32,
    /// Longest time-to-live a hold request may ask for (`ttl_seconds`), in
    /// seconds (1 s to 30 days, at least `--hold-ttl-secs`); a longer one is
    /// refused with INVALID_ARGUMENT.
    #[arg(long, env = ENV_HOLD_MAX_TTL, default_value_t = 7 * 24 * 3600, global = true)]
    pub hold_max_ttl_secs: u32,
    /// How batch lines' `memberNo`s are resolved to member ids: `identity`
    /// asks the identity service; `member-id` takes `memberNo` as the member
    /// id itself (no identity service needed).
    #[arg(long, env = ENV_MEMBER_DIRECTORY, value_enum,
        default_value_t = MemberDirectoryKind::Identity, global = true)]
    pub member_directory: MemberDirectoryKind,
    /// gRPC URL of the identity service, for `--member-directory identity`.
    /// Connected lazily: the ledger starts while identity is down, and a
    /// batch that needs it then fails with UNAVAILABLE.
    #[arg(long, env = ENV_IDENTITY_URL, default_value = "http://127.0.0.1:50051", global = true)]
    pub identity_url: String,
    /// Entries of the `memberNo` → member id cache (only found members are
    /// cached; 0 disables it).
    #[arg(long, env = ENV_MEMBER_CACHE, default_value_t = 100_000, global = true)]
    pub member_cache_entries: usize,
    /// Currencies whose accounts are opened (empty, balance 0) when identity
    /// issues a card to a member, comma-separated; empty: the default bonus
    /// currency.
    #[arg(long, env = ENV_OPEN_CURRENCIES, value_delimiter = ',', global = true)]
    pub open_currencies: Vec<String>,
    /// Catalog of currencies and lifetime definitions (TOML; see
    /// `docs/catalog.md`), applied at start: when it differs from the
    /// version in effect it is recorded as the next version (event
    /// `CatalogChanged`, operator `catalog-file`); a file that removes a
    /// currency or lowers a precision stops the start. Without it (and
    /// without `UpdateCatalog` calls) the built-in catalog applies: BONUS,
    /// RUB, EUR (2 decimals); lifetimes `forever`, `365d`, `eom+30`.
    #[arg(long, env = ENV_CATALOG_FILE, global = true)]
    pub catalog_file: Option<std::path::PathBuf>,
}

impl LedgerArgs {
    /// The hold time-to-live settings.
    pub fn hold_ttl(&self) -> HoldTtl {
        HoldTtl {
            default_secs: self.hold_ttl_secs,
            max_secs: self.hold_max_ttl_secs,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.expiry_interval_secs == 0 {
            return Err(ConfigError::Invalid {
                flag: "expiry-interval-secs",
                reason: "must be at least 1".into(),
            });
        }
        for (flag, secs) in [
            ("hold-ttl-secs", self.hold_ttl_secs),
            ("hold-max-ttl-secs", self.hold_max_ttl_secs),
        ] {
            if !(1..=HOLD_TTL_LIMIT_SECS).contains(&secs) {
                return Err(ConfigError::Invalid {
                    flag,
                    reason: format!("{secs} is not between 1 and {HOLD_TTL_LIMIT_SECS} (30 days)"),
                });
            }
        }
        if self.hold_ttl_secs > self.hold_max_ttl_secs {
            return Err(ConfigError::Invalid {
                flag: "hold-ttl-secs",
                reason: format!(
                    "{} is above --hold-max-ttl-secs ({})",
                    self.hold_ttl_secs, self.hold_max_ttl_secs
                ),
            });
        }
        if self.member_directory == MemberDirectoryKind::Identity
            && !(self.identity_url.starts_with("http://")
                || self.identity_url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                flag: "identity-url",
                reason: format!("{:?} is not an http:// or https:// URL", self.identity_url),
            });
        }
        self.service.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LedgerArgs,
    }

    fn parse(args: &[&str]) -> LedgerArgs {
        Cli::try_parse_from(std::iter::once("ledger").chain(args.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn identity_is_the_default_directory() {
        let a = parse(&[]);
        a.validate().unwrap();
        assert_eq!(a.member_directory, MemberDirectoryKind::Identity);
        assert_eq!(a.identity_url, "http://127.0.0.1:50051");
        assert_eq!(a.member_cache_entries, 100_000);
        assert!(a.open_currencies.is_empty());
        assert_eq!(a.hold_ttl(), HoldTtl::default());
    }

    #[test]
    fn hold_ttls_are_bounded() {
        let ok = parse(&["--hold-ttl-secs", "1", "--hold-max-ttl-secs", "2592000"]);
        ok.validate().unwrap();
        for (args, flag) in [
            (&["--hold-ttl-secs", "0"][..], "hold-ttl-secs"),
            (&["--hold-max-ttl-secs", "2592001"][..], "hold-max-ttl-secs"),
            (
                &["--hold-ttl-secs", "600", "--hold-max-ttl-secs", "599"][..],
                "hold-ttl-secs",
            ),
        ] {
            let bad = parse(args);
            assert!(
                matches!(bad.validate(), Err(ConfigError::Invalid { flag: f, .. }) if f == flag),
                "{args:?}"
            );
        }
    }

    #[test]
    fn directory_flags_parse_and_validate() {
        let a = parse(&[
            "--member-directory",
            "member-id",
            "--identity-url",
            "nonsense",
            "--open-currencies",
            "BONUS,EUR",
        ]);
        assert_eq!(a.member_directory, MemberDirectoryKind::MemberId);
        assert_eq!(a.open_currencies, ["BONUS", "EUR"]);
        // The URL is not used without the identity directory.
        a.validate().unwrap();
        let bad = parse(&["--identity-url", "127.0.0.1:50051"]);
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::Invalid {
                flag: "identity-url",
                ..
            })
        ));
        assert!(
            Cli::try_parse_from(["ledger", "--member-directory", "ldap"]).is_err(),
            "only identity and member-id exist"
        );
    }
}
