//! The identity domain: pure aggregates and rules, no I/O, no wire types.

pub mod card;
pub mod event;
pub mod member;
pub mod message;
pub mod model;
pub mod questionnaire;
pub mod steps;
pub mod values;
