//! The ledger's pure domain: amounts, currencies and lifetimes, and the
//! account aggregate. No I/O here.

pub mod account;
pub mod catalog;
pub mod model;
pub mod money;
mod rules;

use kit::aggregate::Aggregate;

use account::{Account, Command, Event, LedgerError};

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
}
