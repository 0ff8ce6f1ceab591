//! What a step may do to a purchase in the state it is in.

use super::{Purchase, PurchaseError, Record, Status};

impl Purchase {
    /// Refuses a step that may not happen now.
    pub fn check(&self, record: &Record, member_id: &str) -> Result<(), PurchaseError> {
        if let Record::Refused(e) = record {
            return Err(e.clone());
        }
        let id = || self.purchase_id.clone();
        let refund = matches!(record, Record::Refunded { .. });
        match self.status {
            Status::Confirmed if refund => return Ok(()),
            Status::Confirmed => return Err(PurchaseError::Confirmed(id())),
            Status::Cancelled => return Err(PurchaseError::Cancelled(id())),
            Status::TimedOut => return Err(PurchaseError::TimedOut(id())),
            Status::New | Status::Open if refund => {
                return Err(PurchaseError::NotConfirmed(id()));
            }
            Status::New | Status::Open => {}
        }
        let settles = matches!(
            record,
            Record::Confirmed { .. } | Record::Cancelled { .. } | Record::TimedOut { .. }
        );
        if self.status == Status::New && settles {
            return Err(PurchaseError::NotFound(id()));
        }
        if !self.member_id.is_empty() && !member_id.is_empty() && self.member_id != member_id {
            return Err(PurchaseError::OtherMember(id()));
        }
        if matches!(record, Record::BonusCalculated { .. }) && self.pending.is_some() {
            return Err(PurchaseError::BonusExists(id()));
        }
        Ok(())
    }

    /// A cancel of one operation (`…/Operations/{operationId}/Cancel`):
    /// an open purchase must have recorded it. Its payments and accrual are
    /// one unit until Confirm, so cancelling any of its operations cancels
    /// the purchase; a settled purchase is refused by [`Purchase::check`]
    /// as a whole cancel would be.
    pub fn check_cancel_target(&self, operation: &str) -> Result<(), PurchaseError> {
        if self.status != Status::Open || self.operations.contains(operation) {
            return Ok(());
        }
        Err(PurchaseError::OperationNotFound {
            purchase: self.purchase_id.clone(),
            operation: operation.to_owned(),
        })
    }
}
