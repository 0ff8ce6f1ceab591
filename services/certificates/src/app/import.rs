//! The import of a certificate file (seed 000), streamed: one line is read,
//! decided and recorded at a time, so a file of a million lines never needs
//! a million lines in memory. Each line's outcome goes to the caller as it
//! happens (the report's error lines are written out as they come); the
//! [`Report`] keeps the counts.
//!
//! A line is resolved to its certificate by any of its identifiers (their
//! claims), decided on the certificate's state (a refusal records nothing),
//! then the identifiers it adds are claimed and the change is appended
//! under the key `import/<importId>/<line>` — so a job run again after a
//! crash repeats no line, and a file imported again under a new job skips
//! the lines it loaded before unchanged.
//!
//! Up to a window of lines (256) are in flight at once, so their appends
//! share the log's group commits; a line waits for any earlier line in
//! flight that touches one of its identifiers or its certificate, so the
//! lines of one certificate apply in file order. Outcomes are told in file
//! order.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kit::aggregate::{Aggregate, Executed, Idempotency, Repository, RepositoryError};
use kit::keylock::{KeyGuard, KeyLocks};
use kit::log::{EventLog, LogError, Metadata};
use rust_decimal::Decimal;
use tokio::task::JoinHandle;

use crate::domain::certificate::{Certificate, Command, Event, Issue, Source};
use crate::domain::claim::{self, Claim, IdentifierClaim};
use crate::domain::identifiers::certificate_id;
use crate::domain::issue::IssueCreated;
use crate::domain::job::{Finish, Finished, ImportJob, MAX_KEPT_ERRORS};
use crate::domain::line::{Header, ImportLine};

/// What one line did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It created a certificate.
    Created,
    /// It changed one.
    Updated,
    /// It was loaded before: nothing changed (skipped).
    Unchanged,
    /// It was refused, for this reason.
    Refused(String),
}

/// The counts of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The import job.
    pub import_id: String,
    /// Lines read (after the header).
    pub lines: u64,
    /// Certificates created.
    pub created: u64,
    /// Certificates changed.
    pub updated: u64,
    /// Lines loaded before, unchanged (skipped).
    pub unchanged: u64,
    /// Lines refused.
    pub refused: u64,
    /// Sum of the amounts of the lines accepted (created or changed).
    pub accepted_amount: Decimal,
}

impl Report {
    /// The seed-004 code ([`kit::report::code`]): 0 when any line was
    /// accepted or skipped, 188 for a one-line file whose line was refused,
    /// 185 when every line was.
    pub fn code(&self) -> i32 {
        kit::report::code(self.lines, self.refused)
    }

    /// The report as a finished run of its job into `issue_id`, with
    /// `errors` (line, reason) kept.
    pub fn finished(&self, issue_id: &str, errors: Vec<(u64, String)>) -> Finished {
        Finished {
            import_id: self.import_id.clone(),
            issue_id: issue_id.to_owned(),
            lines: self.lines,
            created: self.created,
            updated: self.updated,
            skipped: self.unchanged,
            refused: self.refused,
            accepted_amount: self.accepted_amount,
            errors,
        }
    }
}

/// Why an import stopped (the lines before were recorded).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is empty or its header is refused.
    #[error("header: {0}")]
    Header(String),
    /// The file cannot be read as `;`-separated text.
    #[error("line {line}: {reason}")]
    Unreadable {
        /// Where.
        line: u64,
        /// What.
        reason: String,
    },
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The log holds something that cannot be read, or a stream kept
    /// changing.
    #[error("storage: {0}")]
    Storage(String),
    /// The same job is running now.
    #[error("import {0} is running")]
    Running(String),
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Running: lines done so far.
    Running(u64),
    /// Its last run's outcome.
    Finished(Finished),
}

/// Forgets a running job's progress when its import ends, however it ends.
struct RunningGuard<'a> {
    inner: &'a Inner,
    import_id: String,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.import_id);
    }
}

/// Aggregates the importer keeps in memory, per repository.
const CACHE: usize = 4096;

/// Imports certificate files into the log.
#[derive(Clone)]
pub struct Importer {
    inner: Arc<Inner>,
    window: usize,
}

struct Inner {
    certificates: Repository<Certificate>,
    claims: Repository<IdentifierClaim>,
    jobs: Repository<ImportJob>,
    /// Jobs running now: lines done so far.
    running: Mutex<HashMap<String, Arc<AtomicU64>>>,
    /// Identifiers and certificates with a line in flight: a later line
    /// touching one waits for it, so lines of one certificate apply in
    /// file order while lines of different ones run together (their
    /// appends share the log's group commits).
    busy: KeyLocks,
}

fn job_stream(import_id: &str) -> String {
    format!("import/{import_id}")
}

fn certificate_stream(id: &str) -> String {
    format!("certificate/{id}")
}

/// A domain refusal as the line's reason; anything else (the log failed, a
/// stored event cannot be read, a stream kept changing) stops the import.
fn split<E: std::error::Error>(e: RepositoryError<E>) -> Result<String, ImportError> {
    match e {
        RepositoryError::Domain(e) => Ok(e.to_string()),
        RepositoryError::Log(e) => Err(ImportError::Log(e)),
        other @ (RepositoryError::Decode { .. } | RepositoryError::TooManyConflicts { .. }) => {
            Err(ImportError::Storage(other.to_string()))
        }
    }
}

/// A failed load (a load refuses nothing: every failure stops the import).
fn storage<E: std::error::Error>(e: RepositoryError<E>) -> ImportError {
    match split(e) {
        Ok(reason) | Err(ImportError::Storage(reason)) => ImportError::Storage(reason),
        Err(e) => e,
    }
}

/// What new certificates join: the issue, and its type's face value.
#[derive(Debug, Clone)]
struct Target {
    issue: Issue,
    fixed_value: Option<Decimal>,
}

/// A line on its way: its outcome known, or being recorded.
enum InFlight {
    Done(u64, Outcome, Option<Decimal>),
    Running(
        u64,
        JoinHandle<Result<Outcome, ImportError>>,
        Option<Decimal>,
    ),
}

/// A line resolved to its certificate, with the locks it holds until it
/// is recorded.
struct Resolved {
    certificate_id: String,
    line: ImportLine,
    source: Source,
    text: String,
    _held: Vec<KeyGuard>,
}

impl Importer {
    /// An importer over `log`, with up to 256 lines in flight.
    pub fn new(log: Arc<EventLog>) -> Self {
        Self {
            inner: Arc::new(Inner {
                // Lines come in file order: a few thousand recent
                // certificates and claims in memory serve them, and
                // memory stays flat however long the file.
                certificates: Repository::new(Arc::clone(&log)).with_cache_capacity(CACHE),
                claims: Repository::new(Arc::clone(&log)).with_cache_capacity(CACHE),
                jobs: Repository::new(log),
                running: Mutex::default(),
                busy: KeyLocks::default(),
            }),
            window: 256,
        }
    }

    /// The same importer with up to `window` lines in flight (1: one at a
    /// time).
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// Imports the `;`-separated file `input` as job `import_id` into
    /// `issue` (one-time and face value from its type), telling `each` every line's outcome in file order (line 1 =
    /// the first after the header).
    pub async fn import(
        &self,
        import_id: &str,
        issue: &IssueCreated,
        input: impl Read,
        mut each: impl FnMut(u64, &Outcome),
    ) -> Result<Report, ImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut record = csv::StringRecord::new();
        let unreadable = |line: u64, e: csv::Error| ImportError::Unreadable {
            line,
            reason: e.to_string(),
        };
        if !reader
            .read_record(&mut record)
            .map_err(|e| unreadable(0, e))?
        {
            return Err(ImportError::Header("the file is empty".into()));
        }
        let header =
            Header::parse(record.iter()).map_err(|e| ImportError::Header(e.to_string()))?;
        let target = Target {
            issue: Issue {
                issue_id: issue.issue.issue_id.clone(),
                one_time: issue.certificate_type.one_time,
                currency: issue.certificate_type.currency.clone(),
            },
            fixed_value: issue.certificate_type.fixed_value,
        };
        let done = Arc::new(AtomicU64::new(0));
        {
            let mut running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
            if running.contains_key(import_id) {
                return Err(ImportError::Running(kit::status::quote(import_id)));
            }
            running.insert(import_id.to_owned(), Arc::clone(&done));
        }
        let _running = RunningGuard {
            inner: &self.inner,
            import_id: import_id.to_owned(),
        };
        let mut kept = Vec::new();
        let mut each = |n: u64, o: &Outcome| {
            done.fetch_add(1, Ordering::Relaxed);
            if let Outcome::Refused(reason) = o
                && kept.len() < MAX_KEPT_ERRORS
            {
                kept.push((n, reason.clone()));
            }
            each(n, o);
        };
        let mut report = Report {
            import_id: import_id.to_owned(),
            ..Report::default()
        };
        let mut flight: VecDeque<InFlight> = VecDeque::with_capacity(self.window);
        let mut n = 0u64;
        while reader
            .read_record(&mut record)
            .map_err(|e| unreadable(n + 1, e))?
        {
            if record.iter().all(|f| f.trim().is_empty()) {
                continue; // blank lines are not lines of the file
            }
            n += 1;
            let source = Source {
                import_id: import_id.to_owned(),
                line: n,
            };
            let next = match ImportLine::parse(&header, record.iter()) {
                Err(e) => InFlight::Done(n, Outcome::Refused(e.to_string()), None),
                Ok(line) => {
                    let amount = line.amount;
                    let text = record.iter().collect::<Vec<_>>().join(";");
                    match self.resolve(line, source, text).await? {
                        Err(refused) => InFlight::Done(n, refused, amount),
                        Ok(resolved) => {
                            let inner = Arc::clone(&self.inner);
                            let target = target.clone();
                            let task =
                                tokio::spawn(async move { inner.apply(resolved, &target).await });
                            InFlight::Running(n, task, amount)
                        }
                    }
                }
            };
            flight.push_back(next);
            while flight.len() >= self.window {
                if let Some(first) = flight.pop_front() {
                    finish(first, &mut report, &mut each).await?;
                }
            }
        }
        while let Some(first) = flight.pop_front() {
            finish(first, &mut report, &mut each).await?;
        }
        let finished = report.finished(&target.issue.issue_id, kept);
        self.inner
            .jobs
            .execute(
                &job_stream(import_id),
                &Finish(finished),
                None,
                Metadata {
                    correlation_id: Some(import_id.to_owned()),
                    ..Metadata::default()
                },
                |_, _| Vec::new(),
            )
            .await
            .map_err(|e| match e {
                RepositoryError::Log(e) => ImportError::Log(e),
                other => ImportError::Storage(other.to_string()),
            })?;
        Ok(report)
    }

    /// Where job `import_id` stands; `None` for a job never run here.
    pub fn job(&self, import_id: &str) -> Result<Option<Job>, ImportError> {
        if let Some(done) = self
            .inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(import_id)
        {
            return Ok(Some(Job::Running(done.load(Ordering::Relaxed))));
        }
        let (job, _) = self
            .inner
            .jobs
            .load(&job_stream(import_id))
            .map_err(storage)?;
        Ok(job.last.map(Job::Finished))
    }

    /// Finds the certificate a line names, once no earlier line in flight
    /// touches its identifiers or that certificate (locks taken in file
    /// order, by this reader only).
    async fn resolve(
        &self,
        line: ImportLine,
        source: Source,
        text: String,
    ) -> Result<Result<Resolved, Outcome>, ImportError> {
        let mut held = Vec::new();
        for (kind, value) in line.ids.iter() {
            held.push(self.inner.busy.lock(&claim::stream(kind, value)).await);
        }
        let mut owners = BTreeSet::new();
        for (kind, value) in line.ids.iter() {
            let (claim, _) = self
                .inner
                .claims
                .load(&claim::stream(kind, value))
                .map_err(storage)?;
            if let Some(owner) = claim.owner {
                owners.insert(owner);
            }
        }
        if owners.len() > 1 {
            let named: Vec<&str> = owners.iter().map(String::as_str).collect();
            return Ok(Err(Outcome::Refused(format!(
                "the identifiers belong to different certificates ({})",
                named.join(", ")
            ))));
        }
        let Some(certificate_id) = owners
            .into_iter()
            .next()
            .or_else(|| certificate_id(&line.ids))
        else {
            return Ok(Err(Outcome::Refused("the line names no identifier".into())));
        };
        held.push(
            self.inner
                .busy
                .lock(&certificate_stream(&certificate_id))
                .await,
        );
        Ok(Ok(Resolved {
            certificate_id,
            line,
            source,
            text,
            _held: held,
        }))
    }
}

/// Waits for a line in flight and counts its outcome.
async fn finish(
    line: InFlight,
    report: &mut Report,
    each: &mut impl FnMut(u64, &Outcome),
) -> Result<(), ImportError> {
    let (n, outcome, amount) = match line {
        InFlight::Done(n, outcome, amount) => (n, outcome, amount),
        InFlight::Running(n, task, amount) => {
            let outcome = task
                .await
                .map_err(|e| ImportError::Storage(format!("line {n}: {e}")))??;
            (n, outcome, amount)
        }
    };
    report.lines += 1;
    match &outcome {
        Outcome::Created => report.created += 1,
        Outcome::Updated => report.updated += 1,
        Outcome::Unchanged => report.unchanged += 1,
        Outcome::Refused(_) => report.refused += 1,
    }
    if matches!(outcome, Outcome::Created | Outcome::Updated) {
        report.accepted_amount = report
            .accepted_amount
            .saturating_add(amount.unwrap_or_default());
    }
    each(n, &outcome);
    Ok(())
}

impl Inner {
    /// A resolved line: decided, its new identifiers claimed, recorded.
    async fn apply(&self, r: Resolved, target: &Target) -> Result<Outcome, ImportError> {
        let stream = certificate_stream(&r.certificate_id);
        let key = format!("import/{}/{}", r.source.import_id, r.source.line);
        let correlation = r.source.import_id.clone();
        let ids = r.line.ids.clone();
        let command = Command::Import {
            certificate_id: r.certificate_id.clone(),
            line: r.line,
            issue: target.issue.clone(),
            fixed_value: target.fixed_value,
            source: r.source,
        };
        // Decided first on the state as it is: a refused line claims
        // nothing, an unchanged one appends nothing.
        let (state, _) = self.certificates.load(&stream).map_err(storage)?;
        match state.decide(&command) {
            Err(e) => return Ok(Outcome::Refused(e.to_string())),
            Ok(events) if events.is_empty() => return Ok(Outcome::Unchanged),
            Ok(_) => {}
        }
        // The new identifiers are claimed together (their appends share a
        // group commit), before the certificate that names them.
        let claim = Claim {
            certificate_id: r.certificate_id.clone(),
        };
        let claims = ids
            .iter()
            .filter(|(kind, value)| state.ids.get(*kind) != Some(*value))
            .map(|(kind, value)| {
                let stream = claim::stream(kind, value);
                let claim = &claim;
                async move {
                    let done = self
                        .claims
                        .execute(&stream, claim, None, Metadata::default(), |_, _| Vec::new())
                        .await;
                    (kind, done)
                }
            });
        for (kind, claimed) in futures::future::join_all(claims).await {
            if let Err(e) = claimed {
                return Ok(Outcome::Refused(format!("{kind}: {}", split(e)?)));
            }
        }
        let idempotency = Idempotency {
            key,
            request_hash: kit::log::request_hash(r.text.as_bytes()),
        };
        let executed = self
            .certificates
            .execute(
                &stream,
                &command,
                Some(idempotency),
                Metadata {
                    correlation_id: Some(correlation),
                    ..Metadata::default()
                },
                |_, events| match events.first() {
                    Some(Event::Imported { .. }) => vec![1],
                    Some(Event::Updated { .. }) => vec![2],
                    Some(
                        Event::Expired { .. } | Event::Used { .. } | Event::Transitioned { .. },
                    )
                    | None => vec![0],
                },
            )
            .await;
        Ok(match executed {
            Ok(Executed::Applied { reply, .. } | Executed::Repeated { reply }) => {
                match reply.first() {
                    Some(1) => Outcome::Created,
                    Some(2) => Outcome::Updated,
                    _ => Outcome::Unchanged,
                }
            }
            Err(e) => Outcome::Refused(split(e)?),
        })
    }
}
