//! The identity domain: pure aggregates and rules, no I/O.

pub mod card;
pub mod member;
pub mod message;
pub mod questionnaire;
pub mod steps;
pub mod values;
