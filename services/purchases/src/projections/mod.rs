//! Read models of the purchases service, rebuilt from its log.

pub mod open;
