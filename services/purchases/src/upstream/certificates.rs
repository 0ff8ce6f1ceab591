//! The certificates service's part of a purchase: gift certificates held at
//! Bonus, captured at Confirm, released at Cancel or timeout, refunded onto
//! at Refund. Every call is keyed (hold id, refund id): a retried step
//! repeats it and the certificates service answers as the first time.

use loyalty_proto::certificates::v1 as pb;
use rust_decimal::Decimal;

use super::{Upstream, UpstreamError, dec};
use crate::domain::giftcard::CertificateKey;

/// A certificate as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRef {
    /// How `value` names it.
    pub key: CertificateKey,
    /// The identifier.
    pub value: String,
}

impl CertificateRef {
    /// The certificate with the certificates service's id `id`.
    pub fn id(id: &str) -> Self {
        Self {
            key: CertificateKey::Id,
            value: id.to_owned(),
        }
    }

    fn message(&self) -> Option<pb::Identifier> {
        let kind = match self.key {
            CertificateKey::Number => pb::IdentifierKind::Number,
            CertificateKey::BarCode => pb::IdentifierKind::BarCode,
            CertificateKey::Strip1 => pb::IdentifierKind::Strip1,
            CertificateKey::Strip2 => pb::IdentifierKind::Strip2,
            CertificateKey::Strip3 => pb::IdentifierKind::Strip3,
            CertificateKey::QrCode => pb::IdentifierKind::QrCode,
            CertificateKey::Id => pb::IdentifierKind::CertificateId,
        };
        Some(pb::Identifier {
            kind: kind as i32,
            value: self.value.clone(),
        })
    }
}

/// A certificate's money after a call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertificateBalance {
    /// Its id at the certificates service.
    pub certificate_id: String,
    /// Its balance.
    pub amount: Decimal,
    /// Its balance not held.
    pub available: Decimal,
    /// When the hold lapses (a hold's answer; `None` otherwise).
    pub lapses_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its currency ("" when the certificates service does not know it).
    pub currency: String,
}

fn balance(b: Option<pb::CertificateBalance>) -> Result<CertificateBalance, UpstreamError> {
    let b = b.unwrap_or_default();
    Ok(CertificateBalance {
        amount: dec("certificates", "amount", &b.amount)?,
        available: dec("certificates", "available", &b.available)?,
        certificate_id: b.certificate_id,
        lapses_at: None,
        currency: b.currency,
    })
}

fn refused(s: tonic::Status) -> UpstreamError {
    UpstreamError::from_status("certificates", s)
}

impl Upstream {
    /// Holds `amount` of the certificate for `purchase_id` as `hold_id`,
    /// lapsing after `ttl_secs` unless captured or released.
    pub async fn hold_certificate(
        &self,
        certificate: &CertificateRef,
        hold_id: &str,
        purchase_id: &str,
        amount: Decimal,
        ttl_secs: u32,
    ) -> Result<CertificateBalance, UpstreamError> {
        let answer = self
            .certificates
            .clone()
            .hold_certificate(self.request(pb::HoldCertificateRequest {
                identifier: certificate.message(),
                hold_id: hold_id.to_owned(),
                purchase_id: purchase_id.to_owned(),
                amount: amount.to_string(),
                ttl_secs,
            }))
            .await
            .map_err(refused)?
            .into_inner();
        let lapses_at = answer
            .lapses_at
            .map(chrono::DateTime::<chrono::Utc>::try_from)
            .transpose()
            .map_err(|_| {
                UpstreamError::Unavailable("certificates answered a bad lapses_at".into())
            })?;
        Ok(CertificateBalance {
            lapses_at,
            ..balance(answer.balance)?
        })
    }

    /// Captures (`capture`) or releases hold `hold_id` of the certificate.
    pub async fn settle_certificate(
        &self,
        capture: bool,
        certificate: &CertificateRef,
        hold_id: &str,
    ) -> Result<CertificateBalance, UpstreamError> {
        let mut client = self.certificates.clone();
        let identifier = certificate.message();
        let hold_id = hold_id.to_owned();
        let b = if capture {
            client
                .capture_certificate_hold(self.request(pb::CaptureCertificateHoldRequest {
                    identifier,
                    hold_id,
                }))
                .await
                .map(|r| r.into_inner().balance)
        } else {
            client
                .release_certificate_hold(self.request(pb::ReleaseCertificateHoldRequest {
                    identifier,
                    hold_id,
                }))
                .await
                .map(|r| r.into_inner().balance)
        }
        .map_err(refused)?;
        balance(b)
    }

    /// Puts `amount` of captured hold `hold_id` back onto the certificate
    /// as refund `refund_id`.
    pub async fn restore_certificate(
        &self,
        certificate: &CertificateRef,
        refund_id: &str,
        hold_id: &str,
        amount: Decimal,
    ) -> Result<CertificateBalance, UpstreamError> {
        let answer = self
            .certificates
            .clone()
            .restore_certificate(self.request(pb::RestoreCertificateRequest {
                identifier: certificate.message(),
                refund_id: refund_id.to_owned(),
                hold_id: hold_id.to_owned(),
                amount: amount.to_string(),
            }))
            .await
            .map_err(refused)?;
        balance(answer.into_inner().balance)
    }
}
