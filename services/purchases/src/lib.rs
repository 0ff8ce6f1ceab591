//! The purchases service: processing of purchases at the till and online
//! (the seed's Calculate, Available, Payment, Bonus, Confirm, Cancel,
//! Refund, Balance), the program's rules, card loads and the payment
//! gateway's PossibleLoyalty.
//!
//! Layout as `services/README.md` describes; built up in steps: the pure
//! domain (rules, cheque calculation, exact splits) comes first.

pub mod domain;
pub mod events;
