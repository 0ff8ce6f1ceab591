//! Payments with a certificate ⇄ their `loyalty.certificates.v1` messages.

use kit::aggregate::DecodeError;
use loyalty_proto::certificates::v1 as pb;
use prost::Message;

use super::{Decoder, types};
use crate::domain::certificate::Event;
use crate::domain::redemption::Used;

/// The type name of a use.
pub fn event_type(used: &Used) -> &'static str {
    match used {
        Used::Held { .. } => types::HELD,
        Used::Captured { .. } => types::CAPTURED,
        Used::Released { .. } => types::RELEASED,
        Used::Restored { .. } => types::RESTORED,
    }
}

/// The payload of a use of `certificate_id`.
pub fn encode(certificate_id: &str, used: &Used) -> Vec<u8> {
    let id = certificate_id.to_owned();
    match used {
        Used::Held {
            hold_id,
            purchase_id,
            amount,
            lapses_at,
        } => pb::CertificateHeld {
            certificate_id: id,
            hold_id: hold_id.clone(),
            purchase_id: purchase_id.clone(),
            amount: amount.to_string(),
            lapses_at: lapses_at.map(loyalty_proto::wkt::Timestamp::from),
        }
        .encode_to_vec(),
        Used::Captured {
            hold_id,
            amount,
            amount_after,
        } => pb::CertificateCaptured {
            certificate_id: id,
            hold_id: hold_id.clone(),
            amount: amount.to_string(),
            amount_after: amount_after.to_string(),
        }
        .encode_to_vec(),
        Used::Released { hold_id } => pb::CertificateReleased {
            certificate_id: id,
            hold_id: hold_id.clone(),
        }
        .encode_to_vec(),
        Used::Restored {
            refund_id,
            hold_id,
            amount,
            amount_after,
        } => pb::CertificateRestored {
            certificate_id: id,
            refund_id: refund_id.clone(),
            hold_id: hold_id.clone(),
            amount: amount.to_string(),
            amount_after: amount_after.to_string(),
        }
        .encode_to_vec(),
    }
}

/// Decodes a use; `None` for another type.
pub(super) fn decode(d: &Decoder<'_>, payload: &[u8]) -> Option<Result<Event, DecodeError>> {
    let used = |certificate_id: String, used: Used| Event::Used {
        certificate_id,
        used,
    };
    Some(match d.event_type {
        types::HELD => d.message(payload).and_then(|m: pb::CertificateHeld| {
            Ok(used(
                m.certificate_id,
                Used::Held {
                    hold_id: m.hold_id,
                    purchase_id: m.purchase_id,
                    amount: d.decimal("amount", &m.amount)?,
                    lapses_at: m
                        .lapses_at
                        .map(chrono::DateTime::<chrono::Utc>::try_from)
                        .transpose()
                        .map_err(|e| d.err(format!("lapses_at: {e}")))?,
                },
            ))
        }),
        types::CAPTURED => d.message(payload).and_then(|m: pb::CertificateCaptured| {
            Ok(used(
                m.certificate_id,
                Used::Captured {
                    hold_id: m.hold_id,
                    amount: d.decimal("amount", &m.amount)?,
                    amount_after: d.decimal("amount_after", &m.amount_after)?,
                },
            ))
        }),
        types::RELEASED => d.message(payload).map(|m: pb::CertificateReleased| {
            used(m.certificate_id, Used::Released { hold_id: m.hold_id })
        }),
        types::RESTORED => d.message(payload).and_then(|m: pb::CertificateRestored| {
            Ok(used(
                m.certificate_id,
                Used::Restored {
                    refund_id: m.refund_id,
                    hold_id: m.hold_id,
                    amount: d.decimal("amount", &m.amount)?,
                    amount_after: d.decimal("amount_after", &m.amount_after)?,
                },
            ))
        }),
        _ => return None,
    })
}
