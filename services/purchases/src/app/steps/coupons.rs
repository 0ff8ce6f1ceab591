//! Single-use coupons: a Calculate takes each one for its purchase; another
//! purchase may take it once the holder was cancelled or timed out, or when
//! the holder never recorded a step within the confirm timeout (its
//! Calculate failed after taking the coupon, and nothing will sweep it).

use chrono::TimeDelta;
use kit::log::Metadata;

use super::{Step, Steps};
use crate::domain::coupon::{CouponError, Reserve};
use crate::domain::purchase::{PurchaseError, Status};
use crate::domain::rules::Rules;
use crate::error::ApiError;

impl Steps {
    /// Takes the single-use coupons among `numbers` for the step's purchase;
    /// the refusal when one is held by another purchase that is still open
    /// or confirmed.
    pub(super) async fn reserve_coupons(
        &self,
        rules: &Rules,
        step: &Step,
        numbers: &[String],
    ) -> Result<Option<PurchaseError>, ApiError> {
        for number in numbers {
            if rules.coupon(number).is_none_or(|c| c.multi_use) {
                continue;
            }
            let stream = format!("coupon/{number}");
            let (held, _) = self
                .coupons
                .load(&stream)
                .map_err(ApiError::from_repository)?;
            let now = (self.clock)();
            let abandoned = held
                .reserved_at
                .is_some_and(|at| at + TimeDelta::seconds(self.confirm_timeout_secs.into()) < now);
            let holder_released = match &held.holder {
                Some(h) if *h != step.purchase_id => match self.purchase(h)?.status {
                    Status::Cancelled | Status::TimedOut => true,
                    Status::New => abandoned,
                    Status::Open | Status::Confirmed => false,
                },
                _ => false,
            };
            let reserve = Reserve {
                number: number.clone(),
                purchase_id: step.purchase_id.clone(),
                at: now,
                holder_released,
            };
            match self
                .coupons
                .execute(&stream, &reserve, None, Metadata::default(), |_, _| {
                    Vec::new()
                })
                .await
            {
                Ok(_) => {}
                Err(kit::aggregate::RepositoryError::Domain(CouponError::Taken { number })) => {
                    return Ok(Some(PurchaseError::CouponNotValid(number)));
                }
                Err(e) => return Err(ApiError::from_repository(e)),
            }
        }
        Ok(None)
    }
}
