//! Seed 003's getPossibleLoyalty: the points an e-shop order (a purchase the
//! shop calculated) may be paid with, for the member a bank card (PAN or
//! binding id) belongs to. The PAN goes to identity's keyed-hash lookup and
//! nowhere else.

use rust_decimal::Decimal;

use super::Steps;
use crate::domain::purchase::Status;
use crate::upstream::BankCard;

/// The seed's answer codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PossibleCode {
    /// 0: processed.
    Ok,
    /// 5: access denied (the card is not the order's member's, or unknown).
    AccessDenied,
    /// 6: order not found (or no longer open).
    OrderNotFound,
    /// 7: system error.
    SystemError,
}

/// What an order may be paid with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Possible {
    /// The answer's code.
    pub code: PossibleCode,
    /// Fewest points.
    pub min: Decimal,
    /// Most points.
    pub max: Decimal,
    /// The program's code.
    pub service_name: String,
}

impl Steps {
    /// The points order `order_id` may be paid with, for `card`'s member.
    pub async fn possible_loyalty(&self, order_id: &str, card: &BankCard) -> Possible {
        let answer = |code| Possible {
            code,
            min: Decimal::ZERO,
            max: Decimal::ZERO,
            service_name: String::new(),
        };
        let state = match self.purchase(order_id) {
            Ok(s) => s,
            Err(error) => {
                tracing::error!(%error, "PossibleLoyalty could not read the order");
                return answer(PossibleCode::SystemError);
            }
        };
        if state.status != Status::Open {
            return answer(PossibleCode::OrderNotFound);
        }
        let rules = self.rules_at(state.opened_at);
        let member = match self.upstream.member_by_bank_card(card).await {
            Ok(Some(m)) => m,
            Ok(None) => return answer(PossibleCode::AccessDenied),
            Err(error) => {
                tracing::warn!(%error, "PossibleLoyalty: identity did not answer");
                return answer(PossibleCode::SystemError);
            }
        };
        if member != state.member_id {
            return answer(PossibleCode::AccessDenied);
        }
        let balance = match self.upstream.balance(&member, &rules.bonus_currency).await {
            Ok(b) => b,
            Err(error) => {
                tracing::warn!(%error, "PossibleLoyalty: the ledger did not answer");
                return answer(PossibleCode::SystemError);
            }
        };
        let max = state
            .available
            .saturating_sub(state.paid())
            .min(balance.available)
            .max(Decimal::ZERO);
        Possible {
            code: PossibleCode::Ok,
            min: rules.min_points_per_payment.min(max),
            max,
            service_name: rules.service_name.clone(),
        }
    }
}
