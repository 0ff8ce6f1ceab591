//! The program's rules in effect: read from the log's versions at start, a
//! `--rules-file` (TOML) recorded as the next version when it differs, and
//! changes through `RulesService.UpdateRules`. Every step asks
//! [`RulesHandle::at`] for the rules of its own date.

use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use kit::aggregate::{Executed, Idempotency, Repository};
use kit::clock::Clock;
use kit::log::{EventLog, Metadata};

use crate::domain::rules::Rules;
use crate::domain::versions::{Change, RulesError, RulesVersions, STREAM};
use crate::error::ApiError;
use crate::events::rules::rules_from;

/// One version as steps read it.
#[derive(Debug, Clone)]
struct InEffect {
    version: u64,
    from: DateTime<Utc>,
    rules: Arc<Rules>,
}

/// The versions of the rules, for reading.
#[derive(Debug)]
pub struct RulesHandle {
    versions: RwLock<Vec<InEffect>>,
    builtin: Arc<Rules>,
}

impl RulesHandle {
    fn of(v: &RulesVersions) -> Vec<InEffect> {
        v.versions()
            .iter()
            .map(|v| InEffect {
                version: v.version,
                from: v.changed_at,
                rules: Arc::new(v.rules.clone()),
            })
            .collect()
    }

    /// The built-in rules only (version 0).
    pub fn builtin() -> Self {
        Self {
            versions: RwLock::new(Vec::new()),
            builtin: Arc::new(Rules::default()),
        }
    }

    fn read(&self) -> Vec<InEffect> {
        match self.versions.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The version in effect now and its rules.
    pub fn current(&self) -> (u64, Arc<Rules>) {
        self.read()
            .last()
            .map_or((0, Arc::clone(&self.builtin)), |v| {
                (v.version, Arc::clone(&v.rules))
            })
    }

    /// The version in effect at `at` and its rules.
    pub fn at(&self, at: DateTime<Utc>) -> (u64, Arc<Rules>) {
        self.read()
            .iter()
            .rev()
            .find(|v| v.from <= at)
            .map_or((0, Arc::clone(&self.builtin)), |v| {
                (v.version, Arc::clone(&v.rules))
            })
    }

    fn replace(&self, v: &RulesVersions) {
        let fresh = Self::of(v);
        match self.versions.write() {
            Ok(mut w) => *w = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }
}

/// The rules' versions: reading and changing them.
pub struct RulesBook {
    repo: Repository<RulesVersions>,
    handle: Arc<RulesHandle>,
    clock: Clock,
}

/// A change asked for.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    /// The new rules, whole, checked.
    pub rules: Rules,
    /// Who.
    pub operator_id: String,
    /// Idempotency key.
    pub request_id: String,
    /// Refused unless this version is in effect.
    pub expected_version: Option<u64>,
    /// SHA-256 of the request.
    pub request_hash: [u8; 32],
}

impl RulesBook {
    /// The versions in `log`; with `file`, its rules recorded as the next
    /// version when they differ from the ones in effect (a bad file stops
    /// the start, naming every fault).
    pub async fn open(
        log: Arc<EventLog>,
        clock: Clock,
        file: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let book = Self {
            repo: Repository::new(log),
            handle: Arc::new(RulesHandle::builtin()),
            clock,
        };
        book.reload()?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the rules file {}", path.display()))?;
            let rules = parse_file(path, &text)?;
            let text = text.as_bytes();
            let change = ChangeRequest {
                rules,
                operator_id: "rules-file".into(),
                request_id: format!("file:{}", hex_digest(text)),
                expected_version: None,
                request_hash: kit::log::request_hash(text),
            };
            let version = book
                .change(change, &format!("file:{}", path.display()))
                .await
                .map_err(|e| anyhow::anyhow!("recording the rules file: {e}"))?;
            tracing::info!(version, file = %path.display(), "rules in effect");
        }
        Ok(book)
    }

    /// Reads steps use.
    pub fn handle(&self) -> Arc<RulesHandle> {
        Arc::clone(&self.handle)
    }

    fn reload(&self) -> anyhow::Result<()> {
        let (versions, _) = self.repo.load(STREAM)?;
        self.handle.replace(&versions);
        Ok(())
    }

    /// Records a change; the version in effect after it.
    pub async fn change(&self, c: ChangeRequest, source: &str) -> Result<u64, ApiError> {
        // The first version recorded before anything else (a rules file at
        // the first start) covers every date: the built-in rules never
        // decided a step. Later versions take effect when recorded.
        let at = if self.repo.log().head() == 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            (self.clock)()
        };
        let command = Change {
            rules: c.rules,
            operator_id: c.operator_id,
            source: source.to_owned(),
            at,
            request_id: c.request_id.clone(),
            expected_version: c.expected_version,
        };
        let idempotency = Idempotency {
            key: format!("rules/{}", c.request_id),
            request_hash: c.request_hash,
        };
        let executed = self
            .repo
            .execute(
                STREAM,
                &command,
                Some(idempotency),
                Metadata::default(),
                |state, _| state.current().0.to_be_bytes().to_vec(),
            )
            .await?;
        let reply = match executed {
            Executed::Applied { reply, .. } | Executed::Repeated { reply } => reply,
        };
        self.reload().map_err(ApiError::Unexpected)?;
        let version = <[u8; 8]>::try_from(reply.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| ApiError::Unexpected(anyhow::anyhow!("stored rules reply")))?;
        Ok(version)
    }
}

impl From<RulesError> for ApiError {
    fn from(e: RulesError) -> Self {
        ApiError::Rules(e)
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    hex::encode(&kit::log::request_hash(bytes)[..12])
}

/// Checks the text of the rules file at `path` (TOML with the fields of
/// `loyalty.purchases.v1.ProgramRules`, see `docs/rules.md`).
pub fn parse_file(path: &Path, text: &str) -> anyhow::Result<Rules> {
    let message: loyalty_proto::purchases::v1::ProgramRules = toml::from_str(text)
        .with_context(|| format!("the rules file {} is not valid", path.display()))?;
    rules_from(&message).map_err(|faults| {
        anyhow::anyhow!(
            "the rules file {} has faults: {}",
            path.display(),
            faults
                .iter()
                .map(|(f, r)| format!("{f}: {r}"))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}
