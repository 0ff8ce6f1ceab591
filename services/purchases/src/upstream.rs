//! The services a purchase needs: identity (card → member), the ledger
//! (holds, pending accruals, confirm, cancel, refunds, balances) and the
//! certificates service (gift certificates paying part of it), over gRPC
//! with this service's token and the caller's trace context. The outbound
//! edge: requests are built from domain values here, answers come back as
//! domain values, refusals as [`UpstreamError::Refused`] with their reason.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use loyalty_proto::certificates::v1::certificates_service_client::CertificatesServiceClient;
use loyalty_proto::identity::v1 as identity;
use loyalty_proto::identity::v1::card_service_client::CardServiceClient;
use loyalty_proto::identity::v1::member_service_client::MemberServiceClient;
use loyalty_proto::ledger::v1 as ledger;
use loyalty_proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use rust_decimal::Decimal;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::domain::purchase::StepRef;

mod certificates;

pub use certificates::{CertificateBalance, CertificateRef};

/// A bank card, by what the payment gateway knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankCard {
    /// The full PAN (never stored or logged).
    Pan(String),
    /// A binding id.
    Binding(String),
}

/// Where a ledger operation of a purchase comes from (its history row).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    /// The step.
    pub step: StepRef,
    /// The cheque number.
    pub cheque_number: String,
    /// The cheque total and its currency.
    pub purchase_amount: Option<(Decimal, String)>,
    /// The cheque's items (a confirm's: the ledger shows them on the
    /// purchase's history row).
    pub items: Vec<Item>,
    /// Its payments besides points (a confirm's: gift certificates, shown
    /// on the history row as GiftCard withdrawals).
    pub tenders: Vec<HistoryPayment>,
}

/// A gift certificate that paid part of the purchase, as the member's
/// history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryPayment {
    /// How much.
    pub amount: Decimal,
    /// Its currency (the program's cash currency).
    pub currency: String,
    /// What paid ("Gift certificate ****0001").
    pub description: String,
    /// The hold on it.
    pub reference: String,
}

/// A cheque item as the member's history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    /// Article name.
    pub name: String,
    /// Quantity.
    pub count: Decimal,
    /// Paid for the line after discounts.
    pub amount: Decimal,
}

/// Most items the ledger's confirm takes (its contract): a longer cheque's
/// history row shows its first ones.
const MAX_HISTORY_ITEMS: usize = 100;

/// Longest item name the ledger takes, in bytes (longer ones are cut at a
/// character boundary).
const MAX_ITEM_NAME: usize = 128;

impl Item {
    fn message(&self) -> ledger::ChequeItem {
        let mut end = self.name.len().min(MAX_ITEM_NAME);
        while !self.name.is_char_boundary(end) {
            end -= 1;
        }
        ledger::ChequeItem {
            description: self.name[..end].to_owned(),
            count: self.count.normalize().to_string(),
            amount: self.amount.to_string(),
        }
    }
}

impl Context {
    fn message(&self) -> ledger::OperationContext {
        let s = &self.step;
        ledger::OperationContext {
            description: format!("Purchase {}", self.cheque_number).trim().to_owned(),
            reason: "purchase".into(),
            card_id: s.card_masked.clone(),
            partner_id: s.device.partner_id.clone(),
            location_id: s.device.location_id.clone(),
            purchase_id: s.purchase_id.clone(),
            operation_time: s.operation_date.map(Into::into),
            cheque_number: self.cheque_number.clone(),
            purchase_amount: self.purchase_amount.as_ref().map(|(a, c)| {
                loyalty_proto::common::v1::Money {
                    amount: a.to_string(),
                    currency: c.clone(),
                }
            }),
            ..Default::default()
        }
    }
}

/// Kind of a pending accrual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    /// Points earned.
    Points,
    /// Cash loaded onto the card.
    Charge,
}

/// How long one upstream call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// An upstream call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The service refused the request (a business answer, not an outage).
    #[error("{service} refused: {reason}: {message}")]
    Refused {
        /// "identity", "ledger" or "certificates".
        service: &'static str,
        /// The refusal's reason (google.rpc.ErrorInfo), e.g. INSUFFICIENT_FUNDS.
        reason: String,
        /// Its message.
        message: String,
        /// Its metadata (e.g. `available`, `requested`).
        metadata: HashMap<String, String>,
    },
    /// The service could not be reached or failed.
    #[error("{0}")]
    Unavailable(String),
}

impl UpstreamError {
    fn from_status(service: &'static str, status: tonic::Status) -> Self {
        use tonic::Code;
        match status.code() {
            Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::NotFound
            | Code::AlreadyExists
            | Code::OutOfRange => {
                let info = status.get_details_error_info();
                let (reason, metadata) = match info {
                    Some(i) => (i.reason, i.metadata),
                    None => (format!("{:?}", status.code()), HashMap::new()),
                };
                UpstreamError::Refused {
                    service,
                    reason,
                    message: status.message().to_owned(),
                    metadata,
                }
            }
            _ => UpstreamError::Unavailable(format!(
                "{service}: {:?}: {}",
                status.code(),
                status.message()
            )),
        }
    }

    /// The refusal's reason, if it is one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            UpstreamError::Refused { reason, .. } => Some(reason),
            UpstreamError::Unavailable(_) => None,
        }
    }

    /// A decimal of the refusal's metadata.
    pub fn decimal(&self, key: &str) -> Option<Decimal> {
        match self {
            UpstreamError::Refused { metadata, .. } => {
                metadata.get(key).and_then(|v| Decimal::from_str(v).ok())
            }
            UpstreamError::Unavailable(_) => None,
        }
    }
}

/// One account's balance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Balance {
    /// Currency.
    pub currency: String,
    /// Spendable.
    pub available: Decimal,
    /// Held.
    pub held: Decimal,
    /// Pending.
    pub pending: Decimal,
    /// Next expiring amount.
    pub next_expiring: Decimal,
    /// When.
    pub next_expiry: Option<DateTime<Utc>>,
}

/// What a confirm or cancel moved on one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settled {
    /// Held points captured (released).
    pub holds: Decimal,
    /// Pending accruals committed (dropped).
    pub accruals: Decimal,
}

/// What a ledger refund moved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refunded {
    /// Moved.
    pub amount: Decimal,
    /// Not taken back (spent already).
    pub uncollected: Decimal,
    /// Recorded as the member's debt.
    pub debt: Decimal,
}

/// What a refund of an accrual does when the points are spent already (the
/// ledger's `RefundShortfall`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Shortfall {
    /// Take what is left of the accrual, then the member's other points, and
    /// record the rest as debt that later accruals pay first.
    #[default]
    Debt,
    /// Take what is left of the accrual and report the rest.
    Uncollected,
    /// Refuse the refund (`NotEnoughMoney`) unless the points are all there.
    Refuse,
}

/// Clients of identity, the ledger and the certificates service.
#[derive(Clone)]
pub struct Upstream {
    members: MemberServiceClient<Channel>,
    cards: CardServiceClient<Channel>,
    ledger: LedgerServiceClient<Channel>,
    certificates: CertificatesServiceClient<Channel>,
    token: kit::auth::ServiceToken,
}

fn channel(url: &str) -> anyhow::Result<Channel> {
    kit::service::lazy_channel(url, CALL_TIMEOUT)
}

/// Where the upstream services listen (gRPC URLs).
#[derive(Debug, Clone, Copy)]
pub struct Urls<'a> {
    /// identity.
    pub identity: &'a str,
    /// The ledger.
    pub ledger: &'a str,
    /// The certificates service.
    pub certificates: &'a str,
}

fn dec(service: &'static str, field: &str, s: &str) -> Result<Decimal, UpstreamError> {
    if s.is_empty() {
        return Ok(Decimal::ZERO);
    }
    Decimal::from_str(s)
        .map_err(|_| UpstreamError::Unavailable(format!("{service} answered a bad {field}")))
}

impl Upstream {
    /// Clients of identity, the ledger and the certificates service at
    /// their URLs, connecting lazily.
    pub fn connect_lazy(urls: &Urls<'_>, token: kit::auth::ServiceToken) -> anyhow::Result<Self> {
        let identity = channel(urls.identity)?;
        Ok(Self {
            members: MemberServiceClient::new(identity.clone()),
            cards: CardServiceClient::new(identity),
            ledger: LedgerServiceClient::new(channel(urls.ledger)?),
            certificates: CertificatesServiceClient::new(channel(urls.certificates)?),
            token,
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        self.token.request(message)
    }

    /// The member a card is bound to; `None` for an unknown, unbound or
    /// blocked card.
    pub async fn member_by_card(&self, card: &str) -> Result<Option<String>, UpstreamError> {
        let answer = self
            .cards
            .clone()
            .lookup_card(self.request(identity::LookupCardRequest {
                card_number: card.to_owned(),
            }))
            .await;
        match answer {
            Ok(a) => {
                let a = a.into_inner();
                let bound = a.state == identity::CardState::Bound as i32;
                Ok((bound && !a.member_id.is_empty()).then_some(a.member_id))
            }
            // Unknown, or not a card number identity could hold: no member.
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) =>
            {
                Ok(None)
            }
            Err(s) => Err(UpstreamError::from_status("identity", s)),
        }
    }

    /// The member of a bank card, by PAN or binding id; `None` when none.
    pub async fn member_by_bank_card(
        &self,
        card: &BankCard,
    ) -> Result<Option<String>, UpstreamError> {
        use identity::find_by_bank_card_request::Key;
        let key = match card {
            BankCard::Pan(p) => Key::Pan(p.clone()),
            BankCard::Binding(b) => Key::BindingId(b.clone()),
        };
        let answer = self
            .members
            .clone()
            .find_by_bank_card(self.request(identity::FindByBankCardRequest { key: Some(key) }))
            .await;
        match answer {
            Ok(a) => Ok(Some(a.into_inner().member_id)),
            // Unknown, or not a PAN identity could hold (Luhn, length): no member.
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) =>
            {
                Ok(None)
            }
            Err(s) => Err(UpstreamError::from_status("identity", s)),
        }
    }

    /// The member's balance in `currency`.
    pub async fn balance(&self, member: &str, currency: &str) -> Result<Balance, UpstreamError> {
        let answer = self
            .ledger
            .clone()
            .get_balance(self.request(ledger::GetBalanceRequest {
                member_id: member.to_owned(),
                currency: currency.to_owned(),
            }))
            .await
            .map_err(|s| UpstreamError::from_status("ledger", s))?
            .into_inner();
        let Some(a) = answer.accounts.into_iter().next() else {
            return Ok(Balance {
                currency: currency.to_owned(),
                ..Balance::default()
            });
        };
        Ok(Balance {
            available: dec("ledger", "available", &a.available)?,
            held: dec("ledger", "held", &a.held)?,
            pending: dec("ledger", "pending", &a.pending)?,
            next_expiring: dec("ledger", "next_expiring_amount", &a.next_expiring_amount)?,
            next_expiry: a
                .next_expiry
                .and_then(|t| DateTime::<Utc>::try_from(t).ok()),
            currency: a.currency,
        })
    }

    /// Places hold `hold_id` of `points` for the purchase.
    pub async fn hold(
        &self,
        hold_id: &str,
        member: &str,
        currency: &str,
        points: Decimal,
        ttl_seconds: u32,
        context: &Context,
    ) -> Result<(), UpstreamError> {
        self.ledger
            .clone()
            .hold(self.request(ledger::HoldRequest {
                hold_id: hold_id.to_owned(),
                member_id: member.to_owned(),
                amount: Some(loyalty_proto::common::v1::Money {
                    amount: points.to_string(),
                    currency: currency.to_owned(),
                }),
                context: Some(context.message()),
                ttl_seconds,
            }))
            .await
            .map_err(|s| UpstreamError::from_status("ledger", s))?;
        Ok(())
    }

    /// Records `amount` as pending for the purchase (`kind` REGULAR for
    /// points, CHARGING for a card load).
    #[allow(clippy::too_many_arguments)] // one ledger request's fields
    pub async fn accrue_pending(
        &self,
        operation_id: &str,
        member: &str,
        currency: &str,
        amount: Decimal,
        lifetime: &str,
        kind: PendingKind,
        ttl_seconds: u32,
        context: &Context,
    ) -> Result<(), UpstreamError> {
        let (kind, reward_type) = match kind {
            PendingKind::Charge => (
                ledger::OperationKind::Charging,
                ledger::RewardType::Charging,
            ),
            PendingKind::Points => (ledger::OperationKind::Regular, ledger::RewardType::Bonus),
        };
        self.ledger
            .clone()
            .accrue_pending(self.request(ledger::AccruePendingRequest {
                operation_id: operation_id.to_owned(),
                member_id: member.to_owned(),
                amount: Some(loyalty_proto::common::v1::Money {
                    amount: amount.to_string(),
                    currency: currency.to_owned(),
                }),
                lifetime: lifetime.to_owned(),
                kind: kind as i32,
                reward_type: reward_type as i32,
                context: Some(context.message()),
                ttl_seconds,
            }))
            .await
            .map_err(|s| UpstreamError::from_status("ledger", s))?;
        Ok(())
    }

    /// Confirms (`confirm`) or cancels the purchase on one account.
    pub async fn settle(
        &self,
        confirm: bool,
        operation_id: &str,
        member: &str,
        currency: &str,
        context: &Context,
    ) -> Result<Settled, UpstreamError> {
        let mut client = self.ledger.clone();
        let purchase_id = context.step.purchase_id.clone();
        let items = context
            .items
            .iter()
            .take(MAX_HISTORY_ITEMS)
            .map(Item::message)
            .collect();
        let tenders = context
            .tenders
            .iter()
            .map(|t| ledger::Tender {
                withdraw_type: ledger::WithdrawType::GiftCard as i32,
                amount: t.amount.to_string(),
                currency: t.currency.clone(),
                description: t.description.clone(),
                reference: t.reference.clone(),
            })
            .collect();
        let context = context.message();
        let settlement = if confirm {
            client
                .confirm_purchase(self.request(ledger::ConfirmPurchaseRequest {
                    operation_id: operation_id.to_owned(),
                    member_id: member.to_owned(),
                    currency: currency.to_owned(),
                    purchase_id,
                    context: Some(context),
                    cheque_items: items,
                    tenders,
                }))
                .await
                .map(|r| r.into_inner().settlement)
        } else {
            client
                .cancel_purchase(self.request(ledger::CancelPurchaseRequest {
                    operation_id: operation_id.to_owned(),
                    member_id: member.to_owned(),
                    currency: currency.to_owned(),
                    purchase_id,
                    context: Some(context),
                }))
                .await
                .map(|r| r.into_inner().settlement)
        }
        .map_err(|s| UpstreamError::from_status("ledger", s))?
        .unwrap_or_default();
        let mut out = Settled::default();
        for h in &settlement.holds {
            out.holds += dec("ledger", "holds.amount", &h.amount)?;
        }
        for a in &settlement.accruals {
            out.accruals += dec("ledger", "accruals.amount", &a.amount)?;
        }
        Ok(out)
    }

    /// Refunds `amount` of the ledger operation `original` (a capture gives
    /// points back; an accrual takes them back, what is spent uncollected).
    #[allow(clippy::too_many_arguments)] // one ledger request's fields
    pub async fn refund(
        &self,
        operation_id: &str,
        member: &str,
        currency: &str,
        original: &str,
        amount: Decimal,
        shortfall: Shortfall,
        context: &Context,
    ) -> Result<Refunded, UpstreamError> {
        let shortfall = match shortfall {
            Shortfall::Debt => ledger::RefundShortfall::Debt,
            Shortfall::Uncollected => ledger::RefundShortfall::Uncollected,
            Shortfall::Refuse => ledger::RefundShortfall::Refuse,
        };
        let r = self
            .ledger
            .clone()
            .refund(self.request(ledger::RefundRequest {
                operation_id: operation_id.to_owned(),
                member_id: member.to_owned(),
                currency: currency.to_owned(),
                original_operation_id: original.to_owned(),
                amount: amount.to_string(),
                context: Some(context.message()),
                shortfall: shortfall as i32,
            }))
            .await
            .map_err(|s| UpstreamError::from_status("ledger", s))?
            .into_inner()
            .result
            .unwrap_or_default();
        Ok(Refunded {
            amount: dec("ledger", "amount", &r.amount)?,
            uncollected: dec("ledger", "uncollected", &r.uncollected)?,
            debt: dec("ledger", "debt", &r.debt)?,
        })
    }
}
