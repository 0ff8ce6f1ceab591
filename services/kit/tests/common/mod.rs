//! A small wallet domain shared by the kit's integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use kit::aggregate::{Aggregate, DecodeError, DomainEvent, Idempotency, Repository};
use kit::log::{EventLog, Metadata, request_hash};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletEvent {
    Deposited(u64),
    Withdrawn(u64),
}

impl DomainEvent for WalletEvent {
    fn event_type(&self) -> &'static str {
        match self {
            WalletEvent::Deposited(_) => "test.wallet.v1.Deposited",
            WalletEvent::Withdrawn(_) => "test.wallet.v1.Withdrawn",
        }
    }
    fn encode(&self) -> Vec<u8> {
        let (WalletEvent::Deposited(n) | WalletEvent::Withdrawn(n)) = self;
        n.to_be_bytes().to_vec()
    }
    fn decode(event_type: &str, payload: &[u8]) -> Result<Self, DecodeError> {
        let err = |reason: &str| DecodeError {
            event_type: event_type.to_owned(),
            reason: reason.to_owned(),
        };
        let n = u64::from_be_bytes(payload.try_into().map_err(|_| err("bad length"))?);
        match event_type {
            "test.wallet.v1.Deposited" => Ok(WalletEvent::Deposited(n)),
            "test.wallet.v1.Withdrawn" => Ok(WalletEvent::Withdrawn(n)),
            _ => Err(err("unknown type")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletCommand {
    Deposit(u64),
    Withdraw(u64),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WalletError {
    #[error("insufficient funds: available {available}, requested {requested}")]
    Insufficient { available: u64, requested: u64 },
    #[error("amount must be positive")]
    Zero,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wallet {
    pub balance: u64,
}

impl Aggregate for Wallet {
    type Command = WalletCommand;
    type Event = WalletEvent;
    type Error = WalletError;

    fn decide(&self, command: &WalletCommand) -> Result<Vec<WalletEvent>, WalletError> {
        match *command {
            WalletCommand::Deposit(0) | WalletCommand::Withdraw(0) => Err(WalletError::Zero),
            WalletCommand::Deposit(n) => Ok(vec![WalletEvent::Deposited(n)]),
            WalletCommand::Withdraw(n) if n > self.balance => Err(WalletError::Insufficient {
                available: self.balance,
                requested: n,
            }),
            WalletCommand::Withdraw(n) => Ok(vec![WalletEvent::Withdrawn(n)]),
        }
    }

    fn apply(&mut self, event: &WalletEvent) {
        match event {
            WalletEvent::Deposited(n) => self.balance += n,
            WalletEvent::Withdrawn(n) => self.balance -= n,
        }
    }

    fn encode_refusal(error: &WalletError) -> Option<Vec<u8>> {
        Some(match *error {
            WalletError::Insufficient {
                available,
                requested,
            } => [
                &[1u8][..],
                &available.to_be_bytes(),
                &requested.to_be_bytes(),
            ]
            .concat(),
            WalletError::Zero => vec![0],
        })
    }

    fn decode_refusal(bytes: &[u8]) -> Option<WalletError> {
        match bytes {
            [0] => Some(WalletError::Zero),
            [1, rest @ ..] if rest.len() == 16 => Some(WalletError::Insufficient {
                available: u64::from_be_bytes(rest[..8].try_into().ok()?),
                requested: u64::from_be_bytes(rest[8..].try_into().ok()?),
            }),
            _ => None,
        }
    }
}

pub fn no_reply(_: &Wallet, _: &[WalletEvent]) -> Vec<u8> {
    Vec::new()
}

pub fn balance_reply(w: &Wallet, _: &[WalletEvent]) -> Vec<u8> {
    w.balance.to_be_bytes().to_vec()
}

pub fn idem(key: &str, request: &str) -> Option<Idempotency> {
    Some(Idempotency {
        key: key.into(),
        request_hash: request_hash(request.as_bytes()),
    })
}

/// A repository of `A` over a fresh log in a temp dir (dropped with the
/// returned guard), with `deposit` already on stream `w`.
pub async fn funded<A>(
    deposit: u64,
    reply: impl Fn(&A, &[WalletEvent]) -> Vec<u8>,
) -> (tempfile::TempDir, Arc<EventLog>, Arc<Repository<A>>)
where
    A: Aggregate<Command = WalletCommand, Event = WalletEvent>,
    A::Error: std::fmt::Debug,
{
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path()).unwrap();
    let repo = Arc::new(Repository::<A>::new(Arc::clone(&log)));
    repo.execute(
        "w",
        &WalletCommand::Deposit(deposit),
        None,
        Metadata::default(),
        reply,
    )
    .await
    .unwrap();
    (dir, log, repo)
}
