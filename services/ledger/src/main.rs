//! `ledger`: the ledger service binary.
#![forbid(unsafe_code)]

fn main() {}
