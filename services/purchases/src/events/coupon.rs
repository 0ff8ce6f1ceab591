//! A single-use coupon's reservation on the wire: `CouponReserved`.

use chrono::{DateTime, Utc};
use kit::aggregate::{DecodeError, DomainEvent};
use loyalty_proto::purchases::v1 as pb;
use prost::Message;

use crate::domain::coupon::Reserved;

/// `CouponReserved`.
pub const COUPON_RESERVED: &str = "loyalty.purchases.v1.CouponReserved";

impl DomainEvent for Reserved {
    fn event_type(&self) -> &'static str {
        COUPON_RESERVED
    }

    fn encode(&self) -> Vec<u8> {
        pb::CouponReserved {
            number: self.number.clone(),
            purchase_id: self.purchase_id.clone(),
            reserved_at: Some(self.reserved_at.into()),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let err = |reason: String| DecodeError {
            event_type: event_type.to_owned(),
            reason,
        };
        if event_type != COUPON_RESERVED {
            return Err(err(format!("unknown event type {event_type}")));
        }
        let m = pb::CouponReserved::decode(payload).map_err(|e| err(e.to_string()))?;
        let reserved_at = m
            .reserved_at
            .map(DateTime::<Utc>::try_from)
            .transpose()
            .map_err(|e| err(e.to_string()))?
            .ok_or_else(|| err("reserved_at is missing".into()))?;
        Ok(Reserved {
            number: m.number,
            purchase_id: m.purchase_id,
            reserved_at,
        })
    }
}
