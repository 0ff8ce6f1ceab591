//! The ledger's pure domain: amounts, currencies and lifetimes, and the
//! account aggregate. No I/O here.

pub mod account;
pub mod catalog;
pub mod model;
pub mod money;
mod rules;

use kit::aggregate::Aggregate;

use account::{Account, Command, Event, LedgerError};
use catalog::{CatalogChanged, CatalogCommand, CatalogError, CatalogVersions};

impl Aggregate for Account {
    type Command = Command;
    type Event = Event;
    type Error = LedgerError;

    fn decide(&self, command: &Command) -> Result<Vec<Event>, LedgerError> {
        self.handle(command)
    }

    fn apply(&mut self, event: &Event) {
        self.fold(event);
    }

    /// Refusals are stored under the request's key (same key, same answer,
    /// even after the balance changed), as JSON.
    fn encode_refusal(error: &LedgerError) -> Option<Vec<u8>> {
        serde_json::to_vec(error).ok()
    }

    fn decode_refusal(bytes: &[u8]) -> Option<LedgerError> {
        serde_json::from_slice(bytes).ok()
    }
}

impl Aggregate for CatalogVersions {
    type Command = CatalogCommand;
    type Event = CatalogChanged;
    type Error = CatalogError;

    fn decide(&self, command: &CatalogCommand) -> Result<Vec<CatalogChanged>, CatalogError> {
        CatalogVersions::decide(self, command)
    }

    fn apply(&mut self, event: &CatalogChanged) {
        CatalogVersions::apply(self, event);
    }

    /// Refusals are stored under the request id, as JSON.
    fn encode_refusal(error: &CatalogError) -> Option<Vec<u8>> {
        serde_json::to_vec(error).ok()
    }

    fn decode_refusal(bytes: &[u8]) -> Option<CatalogError> {
        serde_json::from_slice(bytes).ok()
    }
}
