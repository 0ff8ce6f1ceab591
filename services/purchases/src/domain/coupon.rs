//! A single-use coupon (stream `coupon/<number>`): taken by one purchase at
//! its Calculate; another purchase may take it only once the holder was
//! cancelled or timed out, or never recorded a step within the confirm
//! timeout (its Calculate failed after taking the coupon) — the use case
//! looks the holder up and says so in the command. A multi-use coupon has
//! no stream.

use chrono::{DateTime, Utc};
use kit::aggregate::Aggregate;

/// The coupon was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    /// The coupon.
    pub number: String,
    /// The purchase holding it.
    pub purchase_id: String,
    /// When.
    pub reserved_at: DateTime<Utc>,
}

/// Take the coupon for a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserve {
    /// The coupon.
    pub number: String,
    /// The purchase.
    pub purchase_id: String,
    /// Now.
    pub at: DateTime<Utc>,
    /// True when the current holder (if any) was cancelled or timed out.
    pub holder_released: bool,
}

/// Why a coupon cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum CouponError {
    /// Another purchase holds it.
    #[error("coupon {number:?} is used by another purchase")]
    Taken {
        /// The coupon.
        number: String,
    },
}

/// Who holds a single-use coupon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CouponUse {
    /// The purchase holding it, if any.
    pub holder: Option<String>,
    /// Since when.
    pub reserved_at: Option<DateTime<Utc>>,
}

impl Aggregate for CouponUse {
    type Command = Reserve;
    type Event = Reserved;
    type Error = CouponError;

    fn decide(&self, c: &Reserve) -> Result<Vec<Reserved>, CouponError> {
        match &self.holder {
            Some(h) if *h == c.purchase_id => Ok(Vec::new()),
            Some(_) if !c.holder_released => Err(CouponError::Taken {
                number: c.number.clone(),
            }),
            _ => Ok(vec![Reserved {
                number: c.number.clone(),
                purchase_id: c.purchase_id.clone(),
                reserved_at: c.at,
            }]),
        }
    }

    fn apply(&mut self, e: &Reserved) {
        self.holder = Some(e.purchase_id.clone());
        self.reserved_at = Some(e.reserved_at);
    }
}

#[cfg(test)]
mod tests {
    use kit::aggregate::given_when;

    use super::*;

    fn reserve(purchase: &str, released: bool) -> Reserve {
        Reserve {
            number: "C1".into(),
            purchase_id: purchase.into(),
            at: DateTime::<Utc>::UNIX_EPOCH,
            holder_released: released,
        }
    }

    #[test]
    fn one_purchase_at_a_time() {
        let taken = given_when::<CouponUse>(&[], &reserve("P1", false)).unwrap_or_default();
        assert_eq!(taken.len(), 1);
        assert_eq!(
            given_when::<CouponUse>(&taken, &reserve("P1", false)),
            Ok(Vec::new())
        );
        assert_eq!(
            given_when::<CouponUse>(&taken, &reserve("P2", false)),
            Err(CouponError::Taken {
                number: "C1".into()
            })
        );
        assert_eq!(
            given_when::<CouponUse>(&taken, &reserve("P2", true))
                .map(|e| e.len())
                .unwrap_or_default(),
            1
        );
    }
}
