//! A certificate (stream `certificate/<id>`, the id being its first
//! identifier: `number/7770002105606220001`) and what an import line does to
//! it: creates it, moves it along the state machine of [`super::status`],
//! or changes nothing (a line loaded before, unchanged: the seed's restart
//! rule). A line that cannot apply is refused with the reason its report
//! line shows.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use kit::aggregate::Aggregate;
use rust_decimal::Decimal;

use super::identifiers::{IdKind, Identifiers};
use super::line::ImportLine;
use super::redemption::{Hold, Refunds, Use, UseError, Used};
use super::status::Status;

/// The issue (and its certificate type) an import loads certificates into.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Issue {
    /// The issue's id.
    pub issue_id: String,
    /// True when the type's certificates are spent at once (one-time).
    pub one_time: bool,
    /// The type's currency ("" for certificates imported before it was
    /// recorded).
    pub currency: String,
}

/// Where a change came from: an import job and its line (1 = the first
/// line after the header).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Source {
    /// The import job.
    pub import_id: String,
    /// The line of its file.
    pub line: u64,
}

/// Commands on a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Apply one import line to the certificate `certificate_id`.
    Import {
        /// The certificate the line names (found by any of its
        /// identifiers, or the new one's id).
        certificate_id: String,
        /// The line.
        line: ImportLine,
        /// The issue a new certificate joins.
        issue: Issue,
        /// The face value of the issue's type, when fixed: no balance above it.
        fixed_value: Option<Decimal>,
        /// Where the line came from.
        source: Source,
    },
    /// A payment in a purchase: hold, capture, release, restore.
    Use(Use),
    /// Expire the certificate if its expiration date is before `today`
    /// (nothing when it is not due, or not Prepared or Activated).
    Expire {
        /// Today's date.
        today: NaiveDate,
    },
}

/// The dates of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dates {
    /// `ActivationDate`.
    pub activation: Option<NaiveDate>,
    /// `ExpirationDate`.
    pub expiration: Option<NaiveDate>,
    /// `RedemptionDate`.
    pub redemption: Option<NaiveDate>,
}

/// Facts about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A line created it.
    Imported {
        /// Its id.
        certificate_id: String,
        /// Its issue.
        issue: Issue,
        /// Its identifiers.
        ids: Identifiers,
        /// Its state.
        status: Status,
        /// Its balance.
        amount: Decimal,
        /// Its dates.
        dates: Dates,
        /// The line.
        source: Source,
    },
    /// A line changed it.
    Updated {
        /// Its id.
        certificate_id: String,
        /// The state before.
        from: Status,
        /// The state now.
        status: Status,
        /// The balance now.
        amount: Decimal,
        /// The dates now.
        dates: Dates,
        /// Identifiers the line added.
        added: Identifiers,
        /// The line.
        source: Source,
    },
    /// A payment in a purchase moved its balance.
    Used {
        /// Its id.
        certificate_id: String,
        /// What happened.
        used: Used,
    },
    /// It passed its expiration date (once).
    Expired {
        /// Its id.
        certificate_id: String,
        /// The state before.
        from: Status,
        /// The balance it had.
        amount: Decimal,
        /// Its expiration date (`None`: an import line made it Expired
        /// without one).
        expiration_date: Option<NaiveDate>,
    },
    /// It became Activated, Redeemed, Canceled or Refunded (published as
    /// `CertificateActivated`, ...), recorded right after the event that
    /// moved it; moves nothing itself.
    Transitioned {
        /// Its id.
        certificate_id: String,
        /// The state before.
        from: Status,
        /// The state now.
        to: Status,
        /// The balance now.
        amount: Decimal,
        /// What moved it.
        cause: Cause,
    },
}

/// What moved a certificate to another state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// An import line.
    Import(Source),
    /// A payment in a purchase: the capture or refund of this hold.
    Payment {
        /// The hold.
        hold_id: String,
    },
}

/// Why a line cannot apply to the certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// A new certificate needs its balance.
    #[error("a new certificate needs its Amount")]
    AmountRequired,
    /// Redeemed is imported only for one-time certificates or amount 0.
    #[error(
        "Redeemed is imported only for a one-time certificate or with Amount 0 (Amount is {0})"
    )]
    RedeemedWithBalance(Decimal),
    /// The state machine has no such move.
    #[error("the certificate is {from}: it cannot become {to}")]
    Transition {
        /// State now.
        from: Status,
        /// State the line asks for.
        to: Status,
    },
    /// Activation after expiry.
    #[error("ActivationDate {activation} is after ExpirationDate {expiration}")]
    ActivationAfterExpiry {
        /// Activation date.
        activation: NaiveDate,
        /// Expiration date.
        expiration: NaiveDate,
    },
    /// A balance above the type's fixed face value.
    #[error("Amount {amount} is above the face value {fixed_value} of the certificate's type")]
    AboveFaceValue {
        /// The line's amount.
        amount: Decimal,
        /// The face value.
        fixed_value: Decimal,
    },
    /// A payment with it is refused.
    #[error(transparent)]
    Use(UseError),
    /// A final state's balance or dates cannot change.
    #[error("the certificate is {0}: its amount and dates no longer change")]
    Final(Status),
    /// The line gives an identifier another value than the certificate's.
    #[error("{kind} differs from that of the certificate the line's other identifiers name")]
    IdentifierDiffers {
        /// Which.
        kind: IdKind,
    },
}

/// One certificate's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Certificate {
    /// Its id ("" before it exists).
    pub id: String,
    /// Its issue.
    pub issue: Issue,
    /// Its identifiers.
    pub ids: Identifiers,
    /// Where it stands.
    pub status: Status,
    /// Its balance.
    pub amount: Decimal,
    /// Its dates.
    pub dates: Dates,
    /// Its holds by hold id (payments in purchases).
    pub holds: BTreeMap<String, Hold>,
    /// Refunds put back onto it.
    pub refunds: Refunds,
}

fn check_dates(d: &Dates) -> Result<(), CertificateError> {
    match (d.activation, d.expiration) {
        (Some(activation), Some(expiration)) if activation > expiration => {
            Err(CertificateError::ActivationAfterExpiry {
                activation,
                expiration,
            })
        }
        _ => Ok(()),
    }
}

fn check_face_value(amount: Decimal, fixed_value: Option<Decimal>) -> Result<(), CertificateError> {
    match fixed_value {
        Some(fixed_value) if amount > fixed_value => Err(CertificateError::AboveFaceValue {
            amount,
            fixed_value,
        }),
        _ => Ok(()),
    }
}

fn check_redeemed(status: Status, one_time: bool, amount: Decimal) -> Result<(), CertificateError> {
    if status == Status::Redeemed && !one_time && !amount.is_zero() {
        return Err(CertificateError::RedeemedWithBalance(amount));
    }
    Ok(())
}

impl Certificate {
    fn create(
        certificate_id: &str,
        line: &ImportLine,
        issue: &Issue,
        fixed_value: Option<Decimal>,
        source: &Source,
    ) -> Result<Vec<Event>, CertificateError> {
        let amount = line.amount.ok_or(CertificateError::AmountRequired)?;
        check_face_value(amount, fixed_value)?;
        check_redeemed(line.status, issue.one_time, amount)?;
        let dates = Dates {
            activation: line.activation_date,
            expiration: line.expiration_date,
            redemption: line.redemption_date,
        };
        check_dates(&dates)?;
        Ok(vec![Event::Imported {
            certificate_id: certificate_id.to_owned(),
            issue: issue.clone(),
            ids: line.ids.clone(),
            status: line.status,
            amount,
            dates,
            source: source.clone(),
        }])
    }

    fn update(
        &self,
        line: &ImportLine,
        fixed_value: Option<Decimal>,
        source: &Source,
    ) -> Result<Vec<Event>, CertificateError> {
        if let Some(kind) = line
            .ids
            .iter()
            .find(|(k, v)| self.ids.get(*k).is_some_and(|mine| mine != *v))
            .map(|(k, _)| k)
        {
            return Err(CertificateError::IdentifierDiffers { kind });
        }
        let mut added = Identifiers::new();
        for kind in self.ids.differences(&line.ids) {
            if let Some(v) = line.ids.get(kind) {
                added.insert(kind, v);
            }
        }
        let amount = line.amount.unwrap_or(self.amount);
        let dates = Dates {
            activation: line.activation_date.or(self.dates.activation),
            expiration: line.expiration_date.or(self.dates.expiration),
            redemption: line.redemption_date.or(self.dates.redemption),
        };
        let unchanged = line.status == self.status
            && amount == self.amount
            && dates == self.dates
            && added.is_empty();
        if unchanged {
            return Ok(Vec::new());
        }
        if !self.status.may_become(line.status) {
            return Err(CertificateError::Transition {
                from: self.status,
                to: line.status,
            });
        }
        if self.status.is_final() && (amount != self.amount || dates != self.dates) {
            return Err(CertificateError::Final(self.status));
        }
        check_face_value(amount, fixed_value)?;
        check_redeemed(line.status, self.issue.one_time, amount)?;
        check_dates(&dates)?;
        Ok(vec![Event::Updated {
            certificate_id: self.id.clone(),
            from: self.status,
            status: line.status,
            amount,
            dates,
            added,
            source: source.clone(),
        }])
    }
}

impl Certificate {
    /// The expiry due by `today`: a Prepared or Activated certificate whose
    /// expiration date is before it.
    fn expiry_due(&self, today: NaiveDate) -> Option<Event> {
        let expiration_date = self.dates.expiration?;
        let live = matches!(self.status, Status::Prepared | Status::Activated);
        (live && !self.id.is_empty() && expiration_date < today).then(|| Event::Expired {
            certificate_id: self.id.clone(),
            from: self.status,
            amount: self.amount,
            expiration_date: Some(expiration_date),
        })
    }

    /// `events` followed by the notice of the state they move an existing
    /// certificate to: `Transitioned` (Activated, Redeemed, Canceled,
    /// Refunded) or, for an import line that expires it, `Expired`.
    fn with_transition(&self, mut events: Vec<Event>, command: &Command) -> Vec<Event> {
        if self.id.is_empty() || events.is_empty() {
            return events;
        }
        let mut after = self.clone();
        for e in &events {
            after.apply(e);
        }
        let expired_already = events.iter().any(|e| matches!(e, Event::Expired { .. }));
        let cause = match command {
            Command::Import { source, .. } => Cause::Import(source.clone()),
            Command::Use(Use::Restore { hold_id, .. } | Use::Capture { hold_id, .. }) => {
                Cause::Payment {
                    hold_id: hold_id.clone(),
                }
            }
            Command::Use(_) | Command::Expire { .. } => return events,
        };
        match after.status {
            to if to == self.status => {}
            Status::Expired if expired_already => {}
            Status::Expired => events.push(Event::Expired {
                certificate_id: self.id.clone(),
                from: self.status,
                amount: after.amount,
                expiration_date: after.dates.expiration,
            }),
            Status::Prepared => {}
            to => events.push(Event::Transitioned {
                certificate_id: self.id.clone(),
                from: self.status,
                to,
                amount: after.amount,
                cause,
            }),
        }
        events
    }

    /// When the certificate expires, if it still can: its expiration date
    /// while it is Prepared or Activated.
    pub fn expires_on(&self) -> Option<NaiveDate> {
        matches!(self.status, Status::Prepared | Status::Activated)
            .then_some(self.dates.expiration)
            .flatten()
    }
}

impl Aggregate for Certificate {
    type Command = Command;
    type Event = Event;
    type Error = CertificateError;

    fn decide(&self, command: &Command) -> Result<Vec<Event>, CertificateError> {
        let events = match command {
            Command::Import {
                certificate_id,
                line,
                issue,
                fixed_value,
                source,
            } => {
                if self.id.is_empty() {
                    Self::create(certificate_id, line, issue, *fixed_value, source)
                } else {
                    self.update(line, *fixed_value, source)
                }
            }
            Command::Expire { today } => Ok(self.expiry_due(*today).into_iter().collect()),
            Command::Use(_) if self.id.is_empty() => {
                Err(UseError::NotActive("not imported".into()).into())
            }
            Command::Use(u) => Ok(self.decide_use(u)?),
        }?;
        Ok(self.with_transition(events, command))
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::Imported {
                certificate_id,
                issue,
                ids,
                status,
                amount,
                dates,
                ..
            } => {
                self.id = certificate_id.clone();
                self.issue = issue.clone();
                self.ids = ids.clone();
                self.status = *status;
                self.amount = *amount;
                self.dates = *dates;
            }
            Event::Updated {
                status,
                amount,
                dates,
                added,
                ..
            } => {
                for (k, v) in added.iter() {
                    self.ids.insert(k, v);
                }
                self.status = *status;
                self.amount = *amount;
                self.dates = *dates;
            }
            Event::Expired { .. } => self.status = Status::Expired,
            // The event before it moved the state.
            Event::Transitioned { .. } => {}
            Event::Used { used, .. } => self.apply_use(used),
        }
    }
}
