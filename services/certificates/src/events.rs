//! Certificate events ⇄ `loyalty.certificates.v1` messages: the payloads
//! stored in the log and published on NATS (see docs/events.md).

use std::str::FromStr;

use chrono::NaiveDate;
use kit::aggregate::{DecodeError, DomainEvent};
use kit::outbox::ProtoJsonCodec;
use loyalty_proto::certificates::v1 as pb;
use prost::Message;
use rust_decimal::Decimal;

use crate::domain::certificate::{Dates, Event, Issue, Source};
use crate::domain::claim::Claimed;
use crate::domain::identifiers::{IdKind, Identifiers};
use crate::domain::job::Finished;
use crate::domain::status::Status;

/// Event type names (the full names of their messages).
pub mod types {
    /// `CertificateImported`.
    pub const IMPORTED: &str = "loyalty.certificates.v1.CertificateImported";
    /// `CertificateUpdated`.
    pub const UPDATED: &str = "loyalty.certificates.v1.CertificateUpdated";
    /// `IdentifierClaimed`.
    pub const CLAIMED: &str = "loyalty.certificates.v1.IdentifierClaimed";
    /// `ImportFinished`.
    pub const IMPORT_FINISHED: &str = "loyalty.certificates.v1.ImportFinished";
    /// `CertificateHeld`.
    pub const HELD: &str = "loyalty.certificates.v1.CertificateHeld";
    /// `CertificateCaptured`.
    pub const CAPTURED: &str = "loyalty.certificates.v1.CertificateCaptured";
    /// `CertificateReleased`.
    pub const RELEASED: &str = "loyalty.certificates.v1.CertificateReleased";
    /// `CertificateRestored`.
    pub const RESTORED: &str = "loyalty.certificates.v1.CertificateRestored";
    /// `CertificateExpired`.
    pub const EXPIRED: &str = "loyalty.certificates.v1.CertificateExpired";
    /// `CertificateTypeDefined`.
    pub const TYPE_DEFINED: &str = "loyalty.certificates.v1.CertificateTypeDefined";
    /// `CertificateIssueCreated`.
    pub const ISSUE_CREATED: &str = "loyalty.certificates.v1.CertificateIssueCreated";
    /// `CertificateTemplateDefined`.
    pub const TEMPLATE_DEFINED: &str = "loyalty.certificates.v1.CertificateTemplateDefined";
    /// `CertificateActivated`.
    pub const ACTIVATED: &str = "loyalty.certificates.v1.CertificateActivated";
    /// `CertificateRedeemed`.
    pub const REDEEMED: &str = "loyalty.certificates.v1.CertificateRedeemed";
    /// `CertificateCanceled`.
    pub const CANCELED: &str = "loyalty.certificates.v1.CertificateCanceled";
    /// `CertificateRefunded`.
    pub const REFUNDED: &str = "loyalty.certificates.v1.CertificateRefunded";
}

pub mod catalog;
pub mod redemption;
pub mod transition;

impl DomainEvent for Finished {
    fn event_type(&self) -> &'static str {
        types::IMPORT_FINISHED
    }

    fn encode(&self) -> Vec<u8> {
        pb::ImportFinished {
            import_id: self.import_id.clone(),
            issue_id: self.issue_id.clone(),
            lines: self.lines,
            created: self.created,
            updated: self.updated,
            skipped: self.skipped,
            refused: self.refused,
            accepted_amount: self.accepted_amount.to_string(),
            errors: self
                .errors
                .iter()
                .map(|(line, comment)| pb::ImportLineError {
                    line: *line,
                    comment: comment.clone(),
                })
                .collect(),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        if event_type != types::IMPORT_FINISHED {
            return Err(d.err(format!("unknown event type {event_type}")));
        }
        let m: pb::ImportFinished = d.message(payload)?;
        Ok(Finished {
            accepted_amount: d.decimal("accepted_amount", &m.accepted_amount)?,
            import_id: m.import_id,
            issue_id: m.issue_id,
            lines: m.lines,
            created: m.created,
            updated: m.updated,
            skipped: m.skipped,
            refused: m.refused,
            errors: m.errors.into_iter().map(|e| (e.line, e.comment)).collect(),
        })
    }
}

impl DomainEvent for Claimed {
    fn event_type(&self) -> &'static str {
        types::CLAIMED
    }

    fn encode(&self) -> Vec<u8> {
        pb::IdentifierClaimed {
            certificate_id: self.certificate_id.clone(),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        if event_type != types::CLAIMED {
            return Err(d.err(format!("unknown event type {event_type}")));
        }
        let m: pb::IdentifierClaimed = d.message(payload)?;
        Ok(Claimed {
            certificate_id: m.certificate_id,
        })
    }
}

/// The JSON codec the outbox publishes the events with.
pub fn json_codec() -> ProtoJsonCodec {
    ProtoJsonCodec::new()
        .register::<pb::CertificateImported>(types::IMPORTED)
        .register::<pb::CertificateUpdated>(types::UPDATED)
        .register::<pb::CertificateExpired>(types::EXPIRED)
        .register::<pb::CertificateHeld>(types::HELD)
        .register::<pb::CertificateCaptured>(types::CAPTURED)
        .register::<pb::CertificateReleased>(types::RELEASED)
        .register::<pb::CertificateRestored>(types::RESTORED)
        .register::<pb::IdentifierClaimed>(types::CLAIMED)
        .register::<pb::ImportFinished>(types::IMPORT_FINISHED)
        .register::<pb::CertificateTypeDefined>(types::TYPE_DEFINED)
        .register::<pb::CertificateIssueCreated>(types::ISSUE_CREATED)
        .register::<pb::CertificateTemplateDefined>(types::TEMPLATE_DEFINED)
        .register::<pb::CertificateActivated>(types::ACTIVATED)
        .register::<pb::CertificateRedeemed>(types::REDEEMED)
        .register::<pb::CertificateCanceled>(types::CANCELED)
        .register::<pb::CertificateRefunded>(types::REFUNDED)
}

fn kind_to_wire(k: IdKind) -> pb::IdentifierKind {
    match k {
        IdKind::Number => pb::IdentifierKind::Number,
        IdKind::BarCode => pb::IdentifierKind::BarCode,
        IdKind::Strip1 => pb::IdentifierKind::Strip1,
        IdKind::Strip2 => pb::IdentifierKind::Strip2,
        IdKind::Strip3 => pb::IdentifierKind::Strip3,
        IdKind::QrCode => pb::IdentifierKind::QrCode,
    }
}

/// A status on the wire.
pub fn status_to_wire(s: Status) -> pb::CertificateStatus {
    match s {
        Status::Prepared => pb::CertificateStatus::Prepared,
        Status::Activated => pb::CertificateStatus::Activated,
        Status::Redeemed => pb::CertificateStatus::Redeemed,
        Status::Canceled => pb::CertificateStatus::Canceled,
        Status::Refunded => pb::CertificateStatus::Refunded,
        Status::Expired => pb::CertificateStatus::Expired,
    }
}

/// Identifiers on the wire.
pub fn ids_to_wire(ids: &Identifiers) -> Vec<pb::Identifier> {
    ids.iter()
        .map(|(k, v)| pb::Identifier {
            kind: kind_to_wire(k) as i32,
            value: v.to_owned(),
        })
        .collect()
}

fn date_to_wire(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A printed (importable) identifier kind from the wire; `None` for none
/// or the certificate's own id.
pub fn kind_from_wire(kind: i32) -> Option<IdKind> {
    Some(match pb::IdentifierKind::try_from(kind).ok()? {
        pb::IdentifierKind::Number => IdKind::Number,
        pb::IdentifierKind::BarCode => IdKind::BarCode,
        pb::IdentifierKind::Strip1 => IdKind::Strip1,
        pb::IdentifierKind::Strip2 => IdKind::Strip2,
        pb::IdentifierKind::Strip3 => IdKind::Strip3,
        pb::IdentifierKind::QrCode => IdKind::QrCode,
        pb::IdentifierKind::Unspecified | pb::IdentifierKind::CertificateId => return None,
    })
}

/// Dates on the wire.
pub fn dates_to_wire(d: &Dates) -> pb::CertificateDates {
    pb::CertificateDates {
        activation_date: date_to_wire(d.activation),
        expiration_date: date_to_wire(d.expiration),
        redemption_date: date_to_wire(d.redemption),
    }
}

fn source_to_wire(s: &Source) -> pb::ImportSource {
    pb::ImportSource {
        import_id: s.import_id.clone(),
        line: s.line,
    }
}

/// Decodes one payload of type `event_type`.
struct Decoder<'a> {
    event_type: &'a str,
}

impl Decoder<'_> {
    fn err(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            event_type: self.event_type.to_owned(),
            reason: reason.into(),
        }
    }

    fn message<M: Message + Default>(&self, payload: &[u8]) -> Result<M, DecodeError> {
        M::decode(payload).map_err(|e| self.err(e.to_string()))
    }

    fn status(&self, field: &str, value: i32) -> Result<Status, DecodeError> {
        Ok(match pb::CertificateStatus::try_from(value) {
            Ok(pb::CertificateStatus::Prepared) => Status::Prepared,
            Ok(pb::CertificateStatus::Activated) => Status::Activated,
            Ok(pb::CertificateStatus::Redeemed) => Status::Redeemed,
            Ok(pb::CertificateStatus::Canceled) => Status::Canceled,
            Ok(pb::CertificateStatus::Refunded) => Status::Refunded,
            Ok(pb::CertificateStatus::Expired) => Status::Expired,
            Ok(pb::CertificateStatus::Unspecified) | Err(_) => {
                return Err(self.err(format!("{field}: no status {value}")));
            }
        })
    }

    fn ids(&self, wire: Vec<pb::Identifier>) -> Result<Identifiers, DecodeError> {
        let mut ids = Identifiers::new();
        for i in wire {
            let kind = kind_from_wire(i.kind)
                .ok_or_else(|| self.err(format!("no identifier kind {}", i.kind)))?;
            ids.insert(kind, &i.value);
        }
        Ok(ids)
    }

    fn decimal(&self, field: &str, value: &str) -> Result<Decimal, DecodeError> {
        Decimal::from_str(value).map_err(|e| self.err(format!("{field}: {e}")))
    }

    fn date(&self, field: &str, value: &str) -> Result<Option<NaiveDate>, DecodeError> {
        if value.is_empty() {
            return Ok(None);
        }
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(Some)
            .map_err(|e| self.err(format!("{field}: {e}")))
    }

    fn dates(&self, d: Option<pb::CertificateDates>) -> Result<Dates, DecodeError> {
        let d = d.unwrap_or_default();
        Ok(Dates {
            activation: self.date("activation_date", &d.activation_date)?,
            expiration: self.date("expiration_date", &d.expiration_date)?,
            redemption: self.date("redemption_date", &d.redemption_date)?,
        })
    }
}

fn source(s: Option<pb::ImportSource>) -> Source {
    let s = s.unwrap_or_default();
    Source {
        import_id: s.import_id,
        line: s.line,
    }
}

impl DomainEvent for Event {
    fn event_type(&self) -> &'static str {
        match self {
            Event::Imported { .. } => types::IMPORTED,
            Event::Updated { .. } => types::UPDATED,
            Event::Expired { .. } => types::EXPIRED,
            Event::Used { used, .. } => redemption::event_type(used),
            Event::Transitioned { to, .. } => transition::event_type(*to),
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Event::Imported {
                certificate_id,
                issue,
                ids,
                status,
                amount,
                dates,
                source,
            } => pb::CertificateImported {
                certificate_id: certificate_id.clone(),
                issue_id: issue.issue_id.clone(),
                one_time: issue.one_time,
                identifiers: ids_to_wire(ids),
                status: status_to_wire(*status) as i32,
                amount: amount.to_string(),
                dates: Some(dates_to_wire(dates)),
                source: Some(source_to_wire(source)),
                currency: issue.currency.clone(),
            }
            .encode_to_vec(),
            Event::Updated {
                certificate_id,
                from,
                status,
                amount,
                dates,
                added,
                source,
            } => pb::CertificateUpdated {
                certificate_id: certificate_id.clone(),
                from: status_to_wire(*from) as i32,
                status: status_to_wire(*status) as i32,
                amount: amount.to_string(),
                dates: Some(dates_to_wire(dates)),
                added_identifiers: ids_to_wire(added),
                source: Some(source_to_wire(source)),
            }
            .encode_to_vec(),
            Event::Used {
                certificate_id,
                used,
            } => redemption::encode(certificate_id, used),
            Event::Expired {
                certificate_id,
                from,
                amount,
                expiration_date,
            } => pb::CertificateExpired {
                certificate_id: certificate_id.clone(),
                from: status_to_wire(*from) as i32,
                amount: amount.to_string(),
                expiration_date: date_to_wire(*expiration_date),
            }
            .encode_to_vec(),
            Event::Transitioned {
                certificate_id,
                from,
                to,
                amount,
                cause,
            } => transition::encode(certificate_id, *from, *to, *amount, cause),
        }
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let d = Decoder { event_type };
        if let Some(used) = redemption::decode(&d, payload) {
            return used;
        }
        if let Some(moved) = transition::decode(&d, payload) {
            return moved;
        }
        Ok(match event_type {
            types::IMPORTED => {
                let m: pb::CertificateImported = d.message(payload)?;
                Event::Imported {
                    certificate_id: m.certificate_id,
                    issue: Issue {
                        issue_id: m.issue_id,
                        one_time: m.one_time,
                        currency: m.currency,
                    },
                    ids: d.ids(m.identifiers)?,
                    status: d.status("status", m.status)?,
                    amount: d.decimal("amount", &m.amount)?,
                    dates: d.dates(m.dates)?,
                    source: source(m.source),
                }
            }
            types::UPDATED => {
                let m: pb::CertificateUpdated = d.message(payload)?;
                Event::Updated {
                    certificate_id: m.certificate_id,
                    from: d.status("from", m.from)?,
                    status: d.status("status", m.status)?,
                    amount: d.decimal("amount", &m.amount)?,
                    dates: d.dates(m.dates)?,
                    added: d.ids(m.added_identifiers)?,
                    source: source(m.source),
                }
            }
            types::EXPIRED => {
                let m: pb::CertificateExpired = d.message(payload)?;
                Event::Expired {
                    certificate_id: m.certificate_id,
                    from: d.status("from", m.from)?,
                    amount: d.decimal("amount", &m.amount)?,
                    expiration_date: d.date("expiration_date", &m.expiration_date)?,
                }
            }
            other => return Err(d.err(format!("unknown event type {other}"))),
        })
    }
}
