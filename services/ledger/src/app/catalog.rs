//! The catalog in effect: loaded from the log at start, changed by a
//! `--catalog-file` at start or by `UpdateCatalog`, each change a
//! `CatalogChanged` event in the ledger's log. Every use case reads the
//! version in effect from one [`CatalogHandle`].

use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use kit::aggregate::{Executed, Idempotency, Repository, RepositoryError};
use kit::log::{EventLog, Metadata};

use super::keys::IdempotencyKey;
use crate::domain::catalog::{
    Catalog, CatalogCommand, CatalogDraft, CatalogError, CatalogVersions, STREAM,
};
use kit::clock::Clock;

/// Operator id of a change made by `--catalog-file`.
pub const FILE_OPERATOR: &str = "catalog-file";
/// Longest catalog file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The catalog in effect, shared by every use case; swapped whole when a new
/// version is recorded (readers keep the version they took).
#[derive(Debug, Default)]
pub struct CatalogHandle {
    current: RwLock<(u64, Arc<Catalog>)>,
}

impl CatalogHandle {
    /// A handle on `catalog` at `version`.
    pub fn new(version: u64, catalog: Catalog) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new((version, Arc::new(catalog))),
        })
    }

    /// A handle on the built-in catalog (version 0), for tests and tools.
    pub fn builtin() -> Arc<Self> {
        Self::new(0, Catalog::builtin())
    }

    /// The catalog in effect.
    pub fn current(&self) -> Arc<Catalog> {
        Arc::clone(&self.versioned().1)
    }

    /// The catalog in effect and its version.
    pub fn versioned(&self) -> (u64, Arc<Catalog>) {
        let guard = self.current.read().unwrap_or_else(|p| p.into_inner());
        (guard.0, Arc::clone(&guard.1))
    }

    /// Moves to `state` unless the handle already holds it or a later one.
    fn advance(&self, state: CatalogVersions) {
        let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
        if state.version > guard.0 {
            *guard = (state.version, Arc::new(state.catalog));
        }
    }
}

/// Reads a catalog file (TOML: `default_currency`, `default_lifetime`,
/// `[[currency]]` tables with `id`, `precision`, `max_amount`, and
/// `[[lifetime]]` tables with `id`, `rule` = `never` | `days` |
/// `end_of_month_plus_days`, `days`), checked: every violation is named.
pub fn read_file(path: &Path) -> anyhow::Result<Catalog> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .with_context(|| format!("reading the catalog file {}", path.display()))?;
    anyhow::ensure!(
        text.len() as u64 <= MAX_FILE_BYTES,
        "the catalog file {} is over {MAX_FILE_BYTES} bytes",
        path.display()
    );
    let draft: CatalogDraft =
        toml::from_str(&text).with_context(|| format!("the catalog file {}", path.display()))?;
    Catalog::try_from(&draft).map_err(|violations| {
        let list: Vec<String> = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.message))
            .collect();
        anyhow::anyhow!("the catalog file {}: {}", path.display(), list.join("; "))
    })
}

/// A change of the catalog as a use case.
pub struct UpdateCatalog {
    /// The new catalog.
    pub catalog: Catalog,
    /// When set, the version the caller read.
    pub expected_version: Option<u64>,
    /// Who makes it.
    pub operator_id: String,
    /// The request id (the idempotency key).
    pub request_id: String,
    /// Hash of the request, for the idempotency check.
    pub request_hash: [u8; 32],
}

/// The catalog's use cases over the log.
pub struct Catalogs {
    repo: Repository<CatalogVersions>,
    handle: Arc<CatalogHandle>,
    clock: Clock,
}

impl Catalogs {
    /// Loads the catalog in effect from `log`; with `file`, records it as a
    /// new version first when it differs (refused, the start fails: a file
    /// may not remove a currency or lower a precision).
    pub async fn open(
        log: Arc<EventLog>,
        clock: Clock,
        file: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let repo = Repository::<CatalogVersions>::new(log);
        let (state, _) = repo.load(STREAM).context("loading the catalog")?;
        let catalogs = Self {
            repo,
            handle: CatalogHandle::new(state.version, state.catalog),
            clock,
        };
        if let Some(path) = file {
            let command = CatalogCommand {
                catalog: read_file(path)?,
                expected_version: None,
                operator_id: FILE_OPERATOR.to_owned(),
                source: format!("file:{}", path.display()),
                request_id: String::new(),
                at: (catalogs.clock)(),
            };
            catalogs
                .execute(&command, None, |_, _| Vec::new())
                .await
                .with_context(|| format!("applying the catalog file {}", path.display()))?;
            let (version, _) = catalogs.handle.versioned();
            tracing::info!(version, file = %path.display(), "catalog in effect");
        }
        Ok(catalogs)
    }

    /// The handle every use case reads the catalog from.
    pub fn handle(&self) -> Arc<CatalogHandle> {
        Arc::clone(&self.handle)
    }

    /// Records `update` as a new version (none when the catalog is the
    /// current one), idempotent by its request id; `reply` renders the
    /// answer stored under it from the state after the change and whether
    /// anything changed. Answers the stored reply of the first request with
    /// this id.
    pub async fn update(
        &self,
        update: UpdateCatalog,
        reply: impl Fn(&CatalogVersions, bool) -> Vec<u8>,
    ) -> Result<Vec<u8>, RepositoryError<CatalogError>> {
        let command = CatalogCommand {
            catalog: update.catalog,
            expected_version: update.expected_version,
            operator_id: update.operator_id,
            source: "api".to_owned(),
            request_id: update.request_id.clone(),
            at: (self.clock)(),
        };
        let idempotency = Idempotency {
            key: IdempotencyKey::Catalog(update.request_id.clone()).to_string(),
            request_hash: update.request_hash,
        };
        self.execute(&command, Some(idempotency), |state, events| {
            reply(state, !events.is_empty())
        })
        .await
    }

    async fn execute(
        &self,
        command: &CatalogCommand,
        idempotency: Option<Idempotency>,
        reply: impl Fn(&CatalogVersions, &[crate::domain::catalog::CatalogChanged]) -> Vec<u8>,
    ) -> Result<Vec<u8>, RepositoryError<CatalogError>> {
        let metadata = Metadata {
            correlation_id: Some(command.request_id.clone()).filter(|s| !s.is_empty()),
            causation_id: None,
            traceparent: kit::telemetry::current_traceparent(),
        };
        let executed = self
            .repo
            .execute(STREAM, command, idempotency, metadata, reply)
            .await?;
        // Durable now: every use case sees the new version from here on.
        let (state, _) = self.repo.load(STREAM)?;
        self.handle.advance(state);
        Ok(match executed {
            Executed::Applied { reply, .. } | Executed::Repeated { reply } => reply,
        })
    }
}
