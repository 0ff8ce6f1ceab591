//! The payment calls' requests checked, and their answers.

use kit::status::Violations;
use loyalty_proto::certificates::v1 as pb;
use rust_decimal::Decimal;

use super::kind;
use crate::domain::certificate::Certificate;
use crate::domain::identifiers::{IdKind, MAX_IDENTIFIER};
use crate::domain::line::MAX_AMOUNT;
use crate::error::ApiError;
use crate::events::status_to_wire;

/// An identifier of a request: a known kind and 1-128 bytes.
pub(super) fn identifier(
    v: &mut Violations,
    i: Option<&pb::Identifier>,
) -> Option<(IdKind, String)> {
    let i = i.cloned().unwrap_or_default();
    let k = kind(i.kind);
    if k.is_none() {
        v.fail(
            "identifier.kind",
            format!("{} is not an identifier kind", i.kind),
        );
    }
    if i.value.is_empty() || i.value.len() > MAX_IDENTIFIER {
        v.fail(
            "identifier.value",
            format!("must be 1-{MAX_IDENTIFIER} bytes"),
        );
    }
    k.map(|k| (k, i.value))
}

/// An amount of a payment: positive, at most two decimals, at most the
/// largest certificate.
pub(super) fn amount(v: &mut Violations, value: &str) -> Option<Decimal> {
    match value.trim().parse::<Decimal>() {
        Ok(d)
            if d > Decimal::ZERO
                && d <= Decimal::from(MAX_AMOUNT)
                && d.normalize().scale() <= 2 =>
        {
            Some(d)
        }
        _ => {
            v.fail(
                "amount",
                format!(
                    "{} is not an amount of 0.01…{MAX_AMOUNT} with at most two decimals",
                    kit::status::quote(value)
                ),
            );
            None
        }
    }
}

/// A key of a request (hold, refund, purchase).
pub(super) fn key(v: &mut Violations, field: &str, value: &str) -> String {
    v.id(field, value)
}

/// The checks' end: the identifier, or every violation.
pub(super) fn done<T>(v: Violations, value: Option<T>) -> Result<T, ApiError> {
    v.finish_with(value).map_err(ApiError::Invalid)
}

/// A certificate's balance.
pub(super) fn balance(c: &Certificate) -> Option<pb::CertificateBalance> {
    Some(pb::CertificateBalance {
        certificate_id: c.id.clone(),
        status: status_to_wire(c.status) as i32,
        amount: format!("{:.2}", c.amount),
        available: format!("{:.2}", c.available()),
    })
}
