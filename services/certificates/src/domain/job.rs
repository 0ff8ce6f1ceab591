//! An import job (stream `import/<import_id>`): each run of the job ends
//! with an `ImportFinished` holding its counts and its first refused lines;
//! the last one is the job's report.

use kit::aggregate::Aggregate;
use rust_decimal::Decimal;

/// Most refused lines a finished job keeps (all are counted).
pub const MAX_KEPT_ERRORS: usize = 100;

/// The outcome of one run of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finished {
    /// The job.
    pub import_id: String,
    /// The issue it loaded into.
    pub issue_id: String,
    /// Lines read.
    pub lines: u64,
    /// Certificates created.
    pub created: u64,
    /// Certificates changed.
    pub updated: u64,
    /// Lines skipped (loaded before, unchanged).
    pub skipped: u64,
    /// Lines refused.
    pub refused: u64,
    /// Sum of the amounts accepted.
    pub accepted_amount: Decimal,
    /// The first [`MAX_KEPT_ERRORS`] refused lines: (line, reason).
    pub errors: Vec<(u64, String)>,
}

/// Record a run's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish(pub Finished);

/// Records nothing it could refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never")]
pub enum Never {}

/// An import job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportJob {
    /// Its last run, once one finished.
    pub last: Option<Finished>,
}

impl Aggregate for ImportJob {
    type Command = Finish;
    type Event = Finished;
    type Error = Never;

    fn decide(&self, c: &Finish) -> Result<Vec<Finished>, Never> {
        let mut f = c.0.clone();
        f.errors.truncate(MAX_KEPT_ERRORS);
        Ok(vec![f])
    }

    fn apply(&mut self, e: &Finished) {
        self.last = Some(e.clone());
    }
}
