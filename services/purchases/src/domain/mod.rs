//! The purchases service's pure domain: cheques, the program's rules, the
//! calculation of discounts, payable points, accruals and refund shares.
//! No I/O, no prost type.

pub mod amount;
pub mod calc;
pub mod cheque;
pub mod coupon;
pub mod giftcard;
pub mod ids;
pub mod purchase;
pub mod refund;
mod refusal;
pub mod rules;
pub mod versions;
