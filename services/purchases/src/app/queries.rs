//! Reads: what a cheque may be paid with, a card's balances.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::app::rules::RulesHandle;
use crate::app::steps::{Step, Who};
use crate::domain::calc::Calculation;
use crate::domain::cheque::Cheque;
use crate::domain::ids::mask_card;
use crate::domain::purchase::PurchaseError;
use crate::error::ApiError;
use crate::upstream::{Balance, Upstream};

/// The read use cases.
pub struct Queries {
    upstream: Upstream,
    rules: Arc<RulesHandle>,
}

/// What a cheque may be paid with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    /// Most points: the rules' share of the cheque, capped by the balance.
    pub most: Decimal,
    /// Fewest points one payment must use.
    pub least: Decimal,
}

impl Queries {
    /// Reads through `upstream` by `rules`.
    pub fn new(upstream: Upstream, rules: Arc<RulesHandle>) -> Self {
        Self { upstream, rules }
    }

    async fn member(&self, who: &Who) -> Result<String, ApiError> {
        match who {
            Who::Card(card) => self
                .upstream
                .member_by_card(card)
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?
                .ok_or_else(|| PurchaseError::CardNotFound(mask_card(card)).into()),
            Who::Member(id) => Ok(id.clone()),
            Who::Purchase => Err(PurchaseError::CardNotFound(String::new()).into()),
        }
    }

    /// Available: the most points the step's cheque may be paid with.
    pub async fn available(&self, step: &Step, cheque: &Cheque) -> Result<Available, ApiError> {
        let member = self.member(&step.who).await?;
        let rules = match step.operation_date {
            Some(at) => self.rules.at(at).1,
            None => self.rules.current().1,
        };
        let calc = Calculation::of(&rules, cheque)
            .map_err(|e| ApiError::Purchase(PurchaseError::DifferentCheque(e.to_string())))?;
        let balance = self
            .upstream
            .balance(&member, &rules.bonus_currency)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(Available {
            most: calc.payable.min(balance.available).max(Decimal::ZERO),
            least: rules.min_points_per_payment,
        })
    }

    /// The bonus and cash balances of a card (or member, `by_member`).
    pub async fn balance(
        &self,
        value: &str,
        by_member: bool,
    ) -> Result<(Balance, Balance), ApiError> {
        let who = if by_member {
            Who::Member(value.to_owned())
        } else {
            Who::Card(value.to_owned())
        };
        let member = self.member(&who).await?;
        let rules = self.rules.current().1;
        let unavailable = |e: crate::upstream::UpstreamError| ApiError::Unavailable(e.to_string());
        let bonus = self
            .upstream
            .balance(&member, &rules.bonus_currency)
            .await
            .map_err(unavailable)?;
        let cash = self
            .upstream
            .balance(&member, &rules.cash_currency)
            .await
            .map_err(unavailable)?;
        Ok((bonus, cash))
    }
}
