//! Projections: read models written from the log by position.
//!
//! Each projection owns one sled tree (`proj/<name>`) for its rows; its
//! checkpoint (the last position applied) lives in the `proj-checkpoints`
//! tree and is written in the same sled transaction as the rows, so after a
//! crash a projection resumes exactly where its data stops. Row keys are the
//! projection's own: nothing is reserved. Because
//! the log only exposes durable events, a projection never shows an event a
//! crash could take back. [`rebuild`] replays the whole log into a fresh tree,
//! compares it with the live one and replaces it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::log::{EventLog, LogError, RecordedEvent};
use crate::progress::Progress;

/// Tree holding every projection's checkpoint, keyed by tree name.
const CHECKPOINTS_TREE: &str = "proj-checkpoints";
/// Events applied per atomic batch.
const CHUNK: usize = 2_000;

/// Errors of projections.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// Reading the log failed (including a corrupt record).
    #[error(transparent)]
    Log(#[from] LogError),
    /// sled failed.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// The projection's code panicked.
    #[error("projection {0} panicked")]
    Panicked(&'static str),
    /// The projection's own code failed on an event.
    #[error("projection {projection} failed at position {position}: {source:#}")]
    Apply {
        /// Projection name.
        projection: &'static str,
        /// Position of the event.
        position: u64,
        /// The error.
        source: anyhow::Error,
    },
}

/// A read model fed from the log.
pub trait Projection: Send + Sync + 'static {
    /// Unique name; the tree is `proj/<name>`.
    fn name(&self) -> &'static str;
    /// Applies one event, reading and writing rows through `rows`.
    /// Must be deterministic: the same events give the same rows.
    fn apply(&self, rows: &mut Rows<'_>, event: &RecordedEvent) -> anyhow::Result<()>;
}

/// Read-your-writes access to a projection's rows within one batch.
pub struct Rows<'a> {
    tree: &'a sled::Tree,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Rows<'a> {
    fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            pending: BTreeMap::new(),
        }
    }

    /// Reads a row, seeing writes made earlier in this batch.
    pub fn get(&self, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        if let Some(v) = self.pending.get(key) {
            return Ok(v.clone());
        }
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    /// Writes a row.
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.pending.insert(key.into(), Some(value.into()));
    }

    /// Removes a row.
    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.pending.insert(key.into(), None);
    }

    /// Writes the rows and the checkpoint in one transaction.
    fn commit(
        self,
        checkpoints: &sled::Tree,
        name: &str,
        checkpoint: u64,
    ) -> Result<(), sled::Error> {
        use sled::Transactional;
        (self.tree, checkpoints)
            .transaction(|(rows, cps)| {
                for (k, v) in &self.pending {
                    match v {
                        Some(v) => rows.insert(k.as_slice(), v.as_slice())?,
                        None => rows.remove(k.as_slice())?,
                    };
                }
                cps.insert(name.as_bytes(), &checkpoint.to_be_bytes()[..])?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(e) => e,
                sled::transaction::TransactionError::Abort(()) => {
                    sled::Error::ReportableBug("projection commit aborted".into())
                }
            })
    }
}

/// The tree name of projection `name`.
pub fn tree_name(name: &str) -> String {
    format!("proj/{name}")
}

fn checkpoints(db: &sled::Db) -> Result<sled::Tree, sled::Error> {
    db.open_tree(CHECKPOINTS_TREE)
}

/// Last position applied to the projection whose rows are in `tree` (0: none).
pub fn checkpoint(db: &sled::Db, tree: &sled::Tree) -> Result<u64, sled::Error> {
    Ok(checkpoints(db)?
        .get(tree.name())?
        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0))
}

/// Applies every durable event after the tree's checkpoint; returns how many.
/// `on_chunk` is told the number of events of each committed chunk.
pub fn catch_up(
    log: &EventLog,
    projection: &dyn Projection,
    tree: &sled::Tree,
    mut on_chunk: impl FnMut(u64),
) -> Result<u64, ProjectionError> {
    let cps = checkpoints(log.db())?;
    let name = String::from_utf8_lossy(&tree.name()).into_owned();
    let mut applied = 0;
    let mut from = checkpoint(log.db(), tree)? + 1;
    loop {
        let mut rows = Rows::new(tree);
        let mut last = None;
        for event in log.iter_from(from).take(CHUNK) {
            let event = event?;
            projection
                .apply(&mut rows, &event)
                .map_err(|source| ProjectionError::Apply {
                    projection: projection.name(),
                    position: event.position,
                    source,
                })?;
            last = Some(event.position);
        }
        let Some(last) = last else {
            return Ok(applied);
        };
        rows.commit(&cps, &name, last)?;
        let n = last + 1 - from;
        applied += n;
        on_chunk(n);
        from = last + 1;
    }
}

/// Drops a projection's rows and checkpoint.
fn clear(db: &sled::Db, tree_name: &str) -> Result<(), sled::Error> {
    db.drop_tree(tree_name)?;
    checkpoints(db)?.remove(tree_name)?;
    Ok(())
}

/// A projection registered with a [`ProjectionRunner`]: its tree, and its
/// checkpoint to wait on for read-your-writes.
#[derive(Clone)]
pub struct ProjectionHandle {
    name: &'static str,
    tree: sled::Tree,
    checkpoint: watch::Receiver<u64>,
}

impl ProjectionHandle {
    /// The projection's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The projection's rows (read-only use by queries).
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Waits until the projection has applied `position` (e.g. the position a
    /// command just appended), or `timeout` passes. Returns whether it did.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut rx = self.checkpoint.clone();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= position))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Keeps projections up to date with the log while a service runs.
pub struct ProjectionRunner {
    log: Arc<EventLog>,
    entries: Vec<(Arc<dyn Projection>, sled::Tree, watch::Sender<u64>)>,
    lag: Family<Vec<(String, String)>, Gauge>,
    errors: Family<Vec<(String, String)>, Counter>,
}

impl ProjectionRunner {
    /// A runner over `log` with no projections yet.
    pub fn new(log: Arc<EventLog>) -> Self {
        Self {
            log,
            entries: Vec::new(),
            lag: Family::default(),
            errors: Family::default(),
        }
    }

    /// Registers a projection; returns its handle.
    pub fn add(
        &mut self,
        projection: Arc<dyn Projection>,
    ) -> Result<ProjectionHandle, ProjectionError> {
        let tree = self.log.db().open_tree(tree_name(projection.name()))?;
        let (tx, rx) = watch::channel(checkpoint(self.log.db(), &tree)?);
        let handle = ProjectionHandle {
            name: projection.name(),
            tree: tree.clone(),
            checkpoint: rx,
        };
        self.entries.push((projection, tree, tx));
        Ok(handle)
    }

    /// Registers `projection_lag_events` and `projection_errors` metrics.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "projection_lag_events",
            "Durable events not yet applied to a projection",
            self.lag.clone(),
        );
        registry.register(
            "projection_errors",
            "Failures applying events to a projection",
            self.errors.clone(),
        );
    }

    /// Runs every projection until `shutdown`: catch up, then follow the log.
    /// A failing projection is logged loudly, counted and retried with
    /// backoff; it never skips an event.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = Vec::new();
        for (projection, tree, tx) in self.entries {
            let log = Arc::clone(&self.log);
            let shutdown = shutdown.clone();
            let labels = vec![("projection".to_owned(), projection.name().to_owned())];
            let lag = self.lag.get_or_create(&labels).clone();
            let errors = self.errors.get_or_create(&labels).clone();
            tasks.push(tokio::spawn(async move {
                let mut durable = log.subscribe();
                let mut backoff = Duration::from_millis(100);
                loop {
                    let (log2, p2, t2) = (Arc::clone(&log), Arc::clone(&projection), tree.clone());
                    let name = projection.name();
                    let result = match tokio::task::spawn_blocking(move || {
                        catch_up(&log2, p2.as_ref(), &t2, |_| {})
                    })
                    .await
                    {
                        Ok(result) => result,
                        Err(_) => {
                            // A bug, not a transient failure: stop, and let
                            // the service fail rather than hide it.
                            tracing::error!(
                                projection = name,
                                error = %ProjectionError::Panicked(name),
                                "projection panicked; stopping"
                            );
                            return;
                        }
                    };
                    let cp = checkpoint(log.db(), &tree).unwrap_or(0);
                    tx.send_replace(cp);
                    lag.set(log.head().saturating_sub(cp) as i64);
                    let wait = match result {
                        Ok(_) => {
                            backoff = Duration::from_millis(100);
                            None
                        }
                        Err(error) => {
                            errors.inc();
                            tracing::error!(projection = projection.name(), %error, "projection failed; retrying");
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                            Some(backoff)
                        }
                    };
                    let closed = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        closed = async {
                            match wait {
                                Some(d) => { tokio::time::sleep(d).await; false }
                                // Err: the log's writer is gone (closed or dead).
                                None => durable.changed().await.is_err(),
                            }
                        } => closed,
                    };
                    if closed {
                        tracing::warn!(projection = name, "event log closed; projection stops");
                        return;
                    }
                }
            }));
        }
        // Ends as soon as one projection stops (shutdown, a closed log or a
        // panic): the runtime tells them apart and fails the service.
        if tasks.is_empty() {
            shutdown.cancelled().await;
            return;
        }
        let (_, _, rest) = futures::future::select_all(tasks).await;
        for t in rest {
            t.abort();
        }
    }
}

/// What a [`rebuild`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Projection name.
    pub projection: &'static str,
    /// Events replayed.
    pub events: u64,
    /// Time taken by the replay.
    pub elapsed: Duration,
    /// Rows in the rebuilt projection.
    pub rows: u64,
    /// Rows that differed between the live and the rebuilt projection
    /// (missing on either side or with other values); 0 when identical.
    pub differences: u64,
}

impl std::fmt::Display for RebuildReport {
    /// One line for operators: events, time, speed, rows, and whether the
    /// rebuilt rows equal those they replaced.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} events in {:.2} s ({} events/s), {} rows; ",
            self.projection,
            self.events,
            self.elapsed.as_secs_f64(),
            self.events_per_second(),
            self.rows
        )?;
        if self.differences == 0 {
            f.write_str("identical to the projection it replaced")
        } else {
            write!(
                f,
                "{} rows differed from the projection it replaced",
                self.differences
            )
        }
    }
}

impl RebuildReport {
    /// Replay speed.
    pub fn events_per_second(&self) -> u64 {
        let micros = self.elapsed.as_micros().max(1);
        u64::try_from(u128::from(self.events) * 1_000_000 / micros).unwrap_or(u64::MAX)
    }
}

/// Counts rows that differ between two trees (0: byte-for-byte identical).
pub fn differences(a: &sled::Tree, b: &sled::Tree) -> Result<u64, sled::Error> {
    let mut ia = a.iter();
    let mut ib = b.iter();
    let (mut x, mut y) = (ia.next().transpose()?, ib.next().transpose()?);
    let mut diff = 0;
    loop {
        match (&x, &y) {
            (None, None) => return Ok(diff),
            (Some((ka, va)), Some((kb, vb))) if ka == kb => {
                if va != vb {
                    diff += 1;
                }
                x = ia.next().transpose()?;
                y = ib.next().transpose()?;
            }
            (Some((ka, _)), Some((kb, _))) if ka < kb => {
                diff += 1;
                x = ia.next().transpose()?;
            }
            (Some(_), Some(_)) | (None, Some(_)) => {
                diff += 1;
                y = ib.next().transpose()?;
            }
            (Some(_), None) => {
                diff += 1;
                x = ia.next().transpose()?;
            }
        }
    }
}

/// Replays the whole log into a fresh scratch tree `<live>.<suffix>` of
/// `projection`; returns the tree, the events replayed and the time taken.
fn replay_into_scratch(
    log: &EventLog,
    projection: &dyn Projection,
    suffix: &str,
    on_chunk: impl FnMut(u64),
) -> Result<(sled::Tree, u64, Duration), ProjectionError> {
    let db = log.db();
    let scratch_name = format!("{}.{suffix}", tree_name(projection.name()));
    clear(db, &scratch_name)?;
    let scratch = db.open_tree(&scratch_name)?;
    let started = Instant::now();
    let events = catch_up(log, projection, &scratch, on_chunk)?;
    Ok((scratch, events, started.elapsed()))
}

/// Replays the whole log into a scratch copy of `projection` and counts how
/// many rows differ from the live one (brought up to the log's head first);
/// the live rows are left as they are. For `<service> verify`.
pub fn compare(
    log: &EventLog,
    projection: &dyn Projection,
) -> Result<RebuildReport, ProjectionError> {
    let db = log.db();
    let live = db.open_tree(tree_name(projection.name()))?;
    catch_up(log, projection, &live, |_| {})?;
    let (scratch, events, elapsed) = replay_into_scratch(log, projection, "verify", |_| {})?;
    let differences = differences(&live, &scratch)?;
    let rows = scratch.len() as u64;
    clear(db, &String::from_utf8_lossy(&scratch.name()))?;
    Ok(RebuildReport {
        projection: projection.name(),
        events,
        elapsed,
        rows,
        differences,
    })
}

/// Drops and rebuilds `projection` by replaying the whole log, with progress
/// reporting. The live projection is first brought up to the log's head, the
/// replay goes into a scratch tree, the two are compared (the report's
/// `differences`), and the rebuilt rows replace the live ones.
/// Run it while nothing else writes the projection (an operator command).
pub fn rebuild(
    log: &EventLog,
    projection: &dyn Projection,
) -> Result<RebuildReport, ProjectionError> {
    let db = log.db();
    let live_name = tree_name(projection.name());
    let live = db.open_tree(&live_name)?;
    // Bring the live rows up to the head for a fair comparison; a live
    // projection that cannot catch up is exactly what a rebuild repairs.
    if let Err(error) = catch_up(log, projection, &live, |_| {}) {
        tracing::warn!(%error, "live projection could not catch up; rebuilding anyway");
    }
    let scratch_name = format!("{live_name}.rebuild");
    let progress = Progress::new(log.head(), &format!("rebuild {}", projection.name()));
    let (scratch, events, elapsed) =
        replay_into_scratch(log, projection, "rebuild", |n| progress.inc(n))?;
    progress.finish();
    let differences = differences(&live, &scratch)?;
    // Replace the live rows and checkpoint by the rebuilt ones, atomically.
    let rebuilt_checkpoint = checkpoint(db, &scratch)?;
    let mut rows = Rows::new(&live);
    for entry in live.iter() {
        rows.remove(entry?.0.to_vec());
    }
    let mut count = 0;
    for entry in scratch.iter() {
        let (k, v) = entry?;
        rows.insert(k.to_vec(), v.to_vec());
        count += 1;
    }
    rows.commit(&checkpoints(db)?, &live_name, rebuilt_checkpoint)?;
    clear(db, &scratch_name)?;
    Ok(RebuildReport {
        projection: projection.name(),
        events,
        elapsed,
        rows: count,
        differences,
    })
}
