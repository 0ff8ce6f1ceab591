//! The payment calls' requests checked, and their answers.

use chrono::{DateTime, Utc};
use kit::status::Violations;
use loyalty_proto::certificates::v1 as pb;
use rust_decimal::Decimal;

use crate::app::queries::Target;
use crate::config::MAX_HOLD_TTL_SECS;
use crate::domain::certificate::Certificate;
use crate::domain::identifiers::MAX_IDENTIFIER;
use crate::domain::line::MAX_AMOUNT;
use crate::error::ApiError;
use crate::events::{kind_from_wire, status_to_wire};

/// The certificate a request names: an identifier of a known kind and
/// 1-128 bytes, or the certificate's own id.
pub(super) fn target(v: &mut Violations, i: Option<&pb::Identifier>) -> Option<Target> {
    let i = i.cloned().unwrap_or_default();
    if i.value.is_empty() || i.value.len() > MAX_IDENTIFIER {
        v.fail(
            "identifier.value",
            format!("must be 1-{MAX_IDENTIFIER} bytes"),
        );
    }
    if i.kind == pb::IdentifierKind::CertificateId as i32 {
        if i.value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            v.fail(
                "identifier.value",
                "a certificate id has no spaces or control characters",
            );
            return None;
        }
        return Some(Target::Id(i.value));
    }
    let Some(kind) = kind_from_wire(i.kind) else {
        v.fail(
            "identifier.kind",
            format!("{} is not an identifier kind", i.kind),
        );
        return None;
    };
    Some(Target::Identifier(kind, i.value))
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

/// The time-to-live of a hold: `secs` (1-30 days), or `default` for 0.
pub(super) fn ttl(v: &mut Violations, secs: u32, default: u32) -> chrono::Duration {
    let secs = match secs {
        0 => default,
        s if s > MAX_HOLD_TTL_SECS => {
            v.fail(
                "ttl_secs",
                format!("{s} is more than {MAX_HOLD_TTL_SECS} seconds"),
            );
            default
        }
        s => s,
    };
    chrono::Duration::seconds(i64::from(secs))
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
pub(super) fn balance(c: &Certificate, now: DateTime<Utc>) -> Option<pb::CertificateBalance> {
    Some(pb::CertificateBalance {
        certificate_id: c.id.clone(),
        status: status_to_wire(c.status) as i32,
        amount: format!("{:.2}", c.amount),
        available: format!("{:.2}", c.available(now)),
        currency: c.issue.currency.clone(),
    })
}
