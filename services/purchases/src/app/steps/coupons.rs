//! Single-use coupons: a Calculate takes each one for its purchase; another
//! purchase may take it once the holder was cancelled or timed out.

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
            let holder_released = match &held.holder {
                Some(h) if *h != step.purchase_id => matches!(
                    self.purchase(h)?.status,
                    Status::Cancelled | Status::TimedOut
                ),
                _ => false,
            };
            let reserve = Reserve {
                number: number.clone(),
                purchase_id: step.purchase_id.clone(),
                at: (self.clock)(),
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
