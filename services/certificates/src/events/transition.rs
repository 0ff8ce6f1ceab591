//! A certificate's move to Activated, Redeemed, Canceled or Refunded ⇄
//! `loyalty.certificates.v1.Certificate{Activated, Redeemed, Canceled,
//! Refunded}`: one subject per state, so a subscriber picks the moves it
//! cares about.

use kit::aggregate::DecodeError;
use loyalty_proto::certificates::v1 as pb;
use prost::Message;
use rust_decimal::Decimal;

use super::{Decoder, source, source_to_wire, status_to_wire, types};
use crate::domain::certificate::{Cause, Event};
use crate::domain::status::Status;

/// The type name of a move to `to` (Prepared and Expired have none: no
/// move leads to Prepared, and Expired has its own event).
pub fn event_type(to: Status) -> &'static str {
    match to {
        Status::Activated | Status::Prepared | Status::Expired => types::ACTIVATED,
        Status::Redeemed => types::REDEEMED,
        Status::Canceled => types::CANCELED,
        Status::Refunded => types::REFUNDED,
    }
}

/// The payload of a move.
pub fn encode(
    certificate_id: &str,
    from: Status,
    to: Status,
    amount: Decimal,
    cause: &Cause,
) -> Vec<u8> {
    let (source, hold_id) = match cause {
        Cause::Import(s) => (Some(source_to_wire(s)), String::new()),
        Cause::Payment { hold_id } => (None, hold_id.clone()),
    };
    let transition = Some(pb::CertificateTransition {
        certificate_id: certificate_id.to_owned(),
        from: status_to_wire(from) as i32,
        amount: amount.to_string(),
        source,
        hold_id,
    });
    match to {
        Status::Redeemed => pb::CertificateRedeemed { transition }.encode_to_vec(),
        Status::Canceled => pb::CertificateCanceled { transition }.encode_to_vec(),
        Status::Refunded => pb::CertificateRefunded { transition }.encode_to_vec(),
        Status::Activated | Status::Prepared | Status::Expired => {
            pb::CertificateActivated { transition }.encode_to_vec()
        }
    }
}

/// Decodes a move; `None` for another type.
pub(super) fn decode(d: &Decoder<'_>, payload: &[u8]) -> Option<Result<Event, DecodeError>> {
    let (to, transition) = match d.event_type {
        types::ACTIVATED => (
            Status::Activated,
            d.message(payload)
                .map(|m: pb::CertificateActivated| m.transition),
        ),
        types::REDEEMED => (
            Status::Redeemed,
            d.message(payload)
                .map(|m: pb::CertificateRedeemed| m.transition),
        ),
        types::CANCELED => (
            Status::Canceled,
            d.message(payload)
                .map(|m: pb::CertificateCanceled| m.transition),
        ),
        types::REFUNDED => (
            Status::Refunded,
            d.message(payload)
                .map(|m: pb::CertificateRefunded| m.transition),
        ),
        _ => return None,
    };
    Some(transition.and_then(|t| {
        let t = t.ok_or_else(|| d.err("transition is missing"))?;
        Ok(Event::Transitioned {
            from: d.status("from", t.from)?,
            to,
            amount: d.decimal("amount", &t.amount)?,
            cause: match t.source {
                Some(s) => Cause::Import(source(Some(s))),
                None => Cause::Payment { hold_id: t.hold_id },
            },
            certificate_id: t.certificate_id,
        })
    }))
}
